"""Experiment specs: every bad spec exits 2 with its key path and leaves the store untouched."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cloudmarket.experiments.cli import main
from cloudmarket.experiments.spec import SpecError, load_spec, parse_spec

GOOD = """
[experiment]
name = "t"
steps = 3
replications = 2
seed = 5
[parameters]
n_customers = 100
[sweep]
design = "grid"
[sweep.values]
export_control_severity = [0.0, 0.6]
switching_cost = [0.5, 1.5]
"""


def _sweep_exit(tmp_path: Path, text: str, capsys, out: Path | None = None) -> tuple[int, str, Path]:
    spec = tmp_path / "spec.toml"
    spec.write_text(textwrap.dedent(text))
    out = out or tmp_path / "store"
    code = main(["sweep", str(spec), "--out", str(out), "--backend", "serial", "--quiet"])
    return code, capsys.readouterr().err, out


BAD_SPECS = [
    # (what is wrong, spec text, text the message must contain)
    ("toml syntax", GOOD.replace("seed = 5", "seed = = 5"), "not valid TOML"),
    ("unknown table", GOOD + "\n[extras]\nx = 1\n", "extras: unknown key"),
    ("unknown experiment key", GOOD.replace("seed = 5", "seed = 5\nseeds = 3"), "experiment.seeds: unknown key"),
    ("unknown sweep key", GOOD.replace('design = "grid"', 'design = "grid"\nsample = 3'), "sweep.sample: unknown key"),
    ("unknown fixed parameter", GOOD.replace("n_customers = 100", "n_customer = 100"),
     "parameters.n_customer = 100: unknown parameter; did you mean n_customers"),
    ("unknown swept parameter", GOOD.replace("switching_cost = [", "switch_cost = ["),
     "sweep.values.switch_cost: unknown parameter"),
    ("wrong type", GOOD.replace("n_customers = 100", 'n_customers = "many"'),
     "parameters.n_customers = 'many': must be a number in [10, 2e+06]"),
    ("wrong type in sweep", GOOD.replace("[0.5, 1.5]", '[0.5, "high"]'), "sweep.values.switching_cost[1] = 'high'"),
    ("out of range value", GOOD.replace("[0.0, 0.6]", "[0.0, 1.6]"),
     "sweep.values.export_control_severity[1] = 1.6: must be <= 1"),
    ("replications", GOOD.replace("replications = 2", "replications = 0"),
     "experiment.replications = 0: must be a whole number in [1,"),
    ("collect", GOOD.replace("seed = 5", 'seed = 5\ncollect = "sometimes"'), "experiment.collect = 'sometimes'"),
    ("empty sweep list", GOOD.replace("[0.5, 1.5]", "[]"), "sweep.values.switching_cost = []: empty sweep"),
    ("empty sweep table", GOOD.split("[sweep.values]")[0] + "[sweep.values]\n", "sweep.values = {}: empty sweep"),
    ("no sweep", GOOD.split("[sweep]")[0], "sweep: missing table [sweep]"),
    ("unknown design", GOOD.replace('"grid"', '"random"'), "sweep.design = 'random': unknown design; allowed: grid | lhs | sobol"),
    ("fixed and swept", GOOD.replace("n_customers = 100", "n_customers = 100\nswitching_cost = 1.0"),
     "sweep.values.switching_cost = [0.5, 1.5]: also fixed at parameters.switching_cost"),
    ("range out of bounds", """
        [experiment]
        [sweep]
        design = "lhs"
        samples = 4
        [sweep.ranges]
        switching_cost = [0.0, 25.0]
        """, "sweep.ranges.switching_cost[1] = 25.0: must be <= 20"),
    ("range reversed", """
        [experiment]
        [sweep]
        design = "lhs"
        samples = 4
        [sweep.ranges]
        switching_cost = [2.0, 1.0]
        """, "sweep.ranges.switching_cost = [2.0, 1.0]: low must be below high"),
    ("range of a string parameter", """
        [experiment]
        [sweep]
        design = "sobol"
        samples = 4
        [sweep.ranges]
        learning_rule = [0, 1]
        """, "sweep.ranges.learning_rule = [0, 1]: learning_rule is a str"),
    ("sobol samples not a power of two", """
        [experiment]
        [sweep]
        design = "sobol"
        samples = 6
        [sweep.ranges]
        switching_cost = [0.0, 2.0]
        """, "sweep.samples = 6: must be a power of 2"),
    ("vendor not in the swept scenario", GOOD.replace("n_customers = 100", 'n_customers = 100\nsanctioned_vendors = ["google"]'),
     "parameters.sanctioned_vendors = ['google']: unknown vendor ['google'] in scenario china-2020"),
]


@pytest.mark.parametrize("what,text,expected", BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_bad_spec_exits_2_names_key_path_and_writes_nothing(tmp_path, capsys, what, text, expected):
    code, err, out = _sweep_exit(tmp_path, text, capsys)
    assert code == 2, err
    assert expected in err, err
    assert err.startswith("error: ") and str(tmp_path / "spec.toml") in err
    assert not out.exists(), "a bad spec must not create the store"


def test_bad_spec_leaves_existing_store_byte_identical(tmp_path, capsys):
    code, err, out = _sweep_exit(tmp_path, GOOD, capsys)
    assert code == 0, err
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, err, _ = _sweep_exit(tmp_path, GOOD.replace("[0.0, 0.6]", "[0.0, 7.0]"), capsys, out=out)
    assert code == 2 and "sweep.values.export_control_severity[1] = 7.0" in err
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_missing_spec_file_exits_2(tmp_path, capsys):
    code = main(["sweep", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and "no such file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_out_that_is_not_a_store_is_refused(tmp_path, capsys):
    out = tmp_path / "somewhere"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    code, err, _ = _sweep_exit(tmp_path, GOOD, capsys, out=out)
    assert code == 2 and "not empty" in err
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]


def test_bad_workers_and_scheduler_flags_exit_2(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text(GOOD)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert "--workers = '0'" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--backend", "local",
                 "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "only used with --backend dask" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_params_file_is_read_relative_to_the_spec(tmp_path):
    (tmp_path / "fixed").mkdir()
    (tmp_path / "fixed" / "base.toml").write_text("n_customers = 150\npeer_weight = 2.0\n")
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(GOOD.replace('seed = 5', 'seed = 5\nparams = "fixed/base.toml"')
                         .replace("n_customers = 100\n", ""))
    spec = load_spec(spec_path)
    assert spec.fixed["n_customers"] == 150 and spec.fixed["peer_weight"] == 2.0
    assert spec.params_file["path"] == "fixed/base.toml"
    # [parameters] overrides the file; a bad value in the file names the file and the key.
    (tmp_path / "fixed" / "base.toml").write_text("peer_weight = -3\n")
    with pytest.raises(SpecError, match=r"experiment.params \(fixed/base.toml\): peer_weight = -3: must be >= 0"):
        load_spec(spec_path)
    spec_path.write_text(GOOD.replace('seed = 5', 'seed = 5\nparams = "nothere.toml"'))
    with pytest.raises(SpecError, match="experiment.params = 'nothere.toml': cannot read"):
        load_spec(spec_path)


def test_good_spec_values_are_coerced_and_ordered():
    spec = parse_spec(GOOD)
    assert spec.swept == ("export_control_severity", "switching_cost")
    assert spec.values["export_control_severity"] == [0.0, 0.6]
    assert spec.fixed == {"steps": 3, "n_customers": 100}
    assert spec.to_dict() == type(spec).from_dict(spec.to_dict()).to_dict()


def test_shipped_specs_are_valid():
    root = Path(__file__).resolve().parents[1] / "experiments" / "specs"
    for name in ("quick.toml", "sanctions.toml", "sensitivity.toml"):
        load_spec(root / name)
    assert load_spec(root / "sensitivity.toml").design == "sobol"

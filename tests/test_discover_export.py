"""Scenario discovery (PRIM, CART on EMA Workbench), CSV export, and the CLI around them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cloudmarket.experiments import load_results
from cloudmarket.experiments.cli import _parser, main
from cloudmarket.experiments.discover import discover, discovery_data

LHS = """
[experiment]
name = "lhs"
steps = 16
replications = 1
seed = 8
[parameters]
n_customers = 200
ban_regions = ["CN"]
[sweep]
design = "lhs"
samples = 60
[sweep.ranges]
export_control_severity = [0.0, 1.0]
switching_cost = [0.5, 5.0]
"""


@pytest.fixture(scope="module")
def lhs_store(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("lhs")
    spec = tmp / "lhs.toml"
    spec.write_text(textwrap.dedent(LHS))
    assert main(["sweep", str(spec), "--out", str(tmp / "store"), "--backend", "serial", "--quiet"]) == 0
    return tmp / "store"


def _median(store: Path, metric: str = "spend_share:huawei") -> float:
    return float(np.median(load_results(store).final(metric).value))


def _inside(x: pd.DataFrame, limits: pd.DataFrame) -> np.ndarray:
    keep = np.ones(len(x), dtype=bool)
    for _, r in limits.iterrows():
        if isinstance(r["values"], str) and r["values"]:  # a category box: value in the listed set
            keep &= x[r.parameter].astype(str).isin(r["values"].split(", ")).to_numpy()
        else:
            keep &= ((x[r.parameter] >= r.low) & (x[r.parameter] <= r.high)).to_numpy()
    return keep


def test_fixed_parameters_come_from_the_manifest_when_runs_lack_them(lhs_store):
    params = load_results(lhs_store).parameters()
    assert (params.n_customers == 200).all()  # fixed by the spec
    assert all(list(v) == ["CN"] for v in params.ban_regions)  # a fixed list
    assert (params.peer_weight == 1.0).all()  # a model default the spec left alone
    assert params.export_control_severity.nunique() == 60  # swept, one value per run


@pytest.mark.parametrize("method", ["prim", "cart"])
def test_discover_finds_export_controls_and_its_statistics_are_right(lhs_store, method):
    r = load_results(lhs_store)
    threshold = _median(lhs_store)
    found = discover(r, "spend_share:huawei", below=threshold, method=method)
    x, values, fixed = discovery_data(r, "spend_share:huawei")
    assert list(x.columns) == ["export_control_severity", "switching_cost"] and "n_customers" in fixed
    y = values < threshold
    assert found.cases == int(y.sum()) and found.runs == 60
    box = found.boxes[0]
    # Severe export controls are what pushes Huawei below its median share.
    assert "export_control_severity" in box.limits.parameter.tolist()
    severity = box.limits.set_index("parameter").loc["export_control_severity"]
    # the box cuts off the mildest controls and keeps the most severe ones
    assert severity.low > 0.15 and severity.high == pytest.approx(x.export_control_severity.max())
    # Coverage and density recomputed from the printed limits match what was reported.
    inside = _inside(x, box.limits)
    assert box.runs == inside.sum()
    assert box.density == pytest.approx(y[inside].mean())
    assert box.coverage == pytest.approx(y[inside].sum() / y.sum())
    assert box.density > y.mean()  # the box is richer in cases than the whole sample
    # both levers move Huawei's share in this model, so both carry part of the explanation
    assert set(found.scores.parameter) == {"export_control_severity", "switching_cost"}
    assert (found.scores.score > 0.1).all() and found.scores.score.sum() == pytest.approx(1.0)


CATEGORIES = """
[experiment]
name = "categories"
scenario = "global-2020"
steps = 4
replications = 3
seed = 5
[parameters]
n_customers = 150
[sweep]
design = "grid"
[sweep.values]
export_control_severity = [0.0, 0.5, 1.0]
ban_regions = [[], ["UK", "EU"]]
data_localization = [false, true]
"""


@pytest.mark.parametrize("method", ["prim", "cart"])
def test_discover_handles_list_and_boolean_parameters_as_categories(tmp_path_factory, method):
    tmp = tmp_path_factory.mktemp(f"cat_{method}")
    (tmp / "spec.toml").write_text(textwrap.dedent(CATEGORIES))
    assert main(["sweep", str(tmp / "spec.toml"), "--out", str(tmp / "s"), "--backend", "serial", "--quiet"]) == 0
    r = load_results(tmp / "s")
    x, values, _ = discovery_data(r, "spend_share:huawei")
    assert set(x.ban_regions) == {"(none)", "UK,EU"} and set(x.data_localization) == {"true", "false"}
    threshold = float(np.median(values))
    found = discover(r, "spend_share:huawei", below=threshold, method=method)
    y = values < threshold
    for box in found.boxes:  # every reported box: its statistics follow from its printed limits
        inside = _inside(x, box.limits)
        assert box.runs == inside.sum() > 0
        assert box.density == pytest.approx(y[inside].mean())
    assert set(found.scores.parameter) == {"export_control_severity", "ban_regions", "data_localization"}


def test_discover_command_prints_boxes_and_writes_pngs(lhs_store, tmp_path, capsys, artifacts_dir):
    out = artifacts_dir / "discover"
    threshold = _median(lhs_store)
    assert main(["discover", str(lhs_store), "--metric", "spend_share:huawei", "--below", f"{threshold:.6f}",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "box 1: coverage" in text and "density" in text and "export_control_severity" in text
    assert "feature scores" in text
    from PIL import Image

    for name in ("tradeoff.png", "box_1.png", "feature_scores.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert "spend_share:huawei <" in Image.open(out / name).info["Description"], name  # alt text
    boxes = pd.read_csv(out / "boxes.csv")
    assert {"parameter", "low", "high", "coverage", "density"} <= set(boxes.columns)
    scores = pd.read_csv(out / "feature_scores.csv")
    assert set(scores.parameter) == {"export_control_severity", "switching_cost"}
    assert main(["discover", str(lhs_store), "--metric", "hhi", "--above", str(_median(lhs_store, "hhi")),
                 "--method", "cart", "--out", str(artifacts_dir / "discover_cart")]) == 0
    assert (artifacts_dir / "discover_cart" / "boxes.png").exists()


@pytest.mark.parametrize("args,message", [
    (["--metric", "spend_share:huawei", "--below", "5"], "is a share, a fraction in [0, 1]"),
    (["--metric", "spend_share:huawei", "--below", "0.99"], "60 of 60 runs are cases of interest"),
    (["--metric", "spend_share:nobody", "--below", "0.1"], "no vendor 'nobody'"),
    (["--metric", "hhi", "--above", "lots"], "--above = 'lots': must be a number"),
    (["--metric", "hhi", "--above", "10", "--step", "99"], "--step = 99: not a collected step"),
    (["--metric", "hhi", "--above", "10", "--min-density", "2"], "--min-density = '2'"),
])
def test_discover_bad_input_exits_2_and_writes_nothing(lhs_store, tmp_path, capsys, args, message):
    out = tmp_path / "d"
    assert main(["discover", str(lhs_store), *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_discover_needs_one_threshold(lhs_store, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["discover", str(lhs_store), "--metric", "hhi", "--below", "1", "--above", "2"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_export_writes_tidy_csvs_with_every_parameter(lhs_store, tmp_path, capsys):
    out = tmp_path / "csv"
    assert main(["export", str(lhs_store), "--csv", str(out)]) == 0
    r = load_results(lhs_store)
    runs = pd.read_csv(out / "runs.csv")
    vendors = pd.read_csv(out / "vendors.csv")
    market = pd.read_csv(out / "market.csv")
    assert len(runs) == 60 and len(market) == 60 * 17 and len(vendors) == len(r.vendors)
    for table in (runs, vendors, market):
        assert (table.n_customers == 200).all() and (table.peer_weight == 1.0).all()
        assert set(table.ban_regions) == {"CN"} and set(table.ban_segments) == {"government;critical"}
    # each vendor row carries its own run's swept values and its own numbers
    merged = vendors.merge(r.runs[["run_id", "export_control_severity"]], on="run_id", suffixes=("", "_store"))
    assert np.allclose(merged.export_control_severity, merged.export_control_severity_store)
    store_rows = r.vendors.sort_values(["run_id", "step", "vendor"]).reset_index(drop=True)
    assert np.allclose(vendors.spend_share, store_rows.spend_share)
    assert "wrote" in capsys.readouterr().out
    import json

    assert json.loads((out / "manifest.json").read_text())["spec"] == r.manifest["spec"]  # how it was made
    (tmp_path / "file").write_text("x")
    assert main(["export", str(lhs_store), "--csv", str(tmp_path / "file")]) == 2


def test_every_subcommand_and_argument_has_help():
    import argparse

    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert {"discover", "export", "status", "summary", "compare", "plot", "viz"} <= set(sub.choices)
    for name, command in sub.choices.items():
        assert helps.get(name), f"{name}: no summary in `cloudmarket --help`"
        assert command.description and len(command.description) > 40, f"{name}: no description"
        for action in command._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"{name} {action.option_strings or action.dest}: no help"
    for name in ("compare", "sensitivity", "discover", "summary", "plot"):
        text = " ".join(sub.choices[name].format_help().split())  # wrapped lines joined
        assert "spend_share" in text and "hhi" in text and "share of customers" in text


def test_piping_into_head_ends_quietly(lhs_store):
    cli = Path(sys.executable).with_name("cloudmarket")
    done = subprocess.run(f"'{cli}' export '{lhs_store}' --csv '{lhs_store.parent / 'pipe'}' >/dev/null; "
                          f"for i in 1 2 3; do '{cli}' params; done | head -2",
                          shell=True, capture_output=True, text=True, timeout=120)
    assert done.stdout.count("\n") == 2
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    # a long table, so the reader leaves while we still write
    big = subprocess.run(f"'{cli}' summary '{lhs_store}' | head -1", shell=True, capture_output=True,
                         text=True, timeout=120)
    assert big.stdout.startswith("final spend_share") and big.stderr == "", big.stderr

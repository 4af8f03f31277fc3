"""Parameters are validated where they enter: Python API, --set, --params, and the CLI."""

import subprocess
import sys

import pandas as pd
import pytest

from cloudmarket.experiments.cli import main
from cloudmarket.model import CloudMarket, ParameterError
from cloudmarket.model.params import SCHEMA, parse_assignment, resolve


@pytest.mark.parametrize("kwargs, name, fragment", [
    ({"swtiching_cost": 1.0}, "swtiching_cost", "did you mean switching_cost"),
    ({"switching_cost": "high"}, "switching_cost", "must be a number"),
    ({"switching_cost": -0.5}, "switching_cost", "must be >= 0"),
    ({"export_control_severity": 1.5}, "export_control_severity", "must be <= 1"),
    ({"n_customers": 12.5}, "n_customers", "whole number"),
    ({"data_localization": "maybe"}, "data_localization", "true or false"),
    ({"learning_rule": "genetic"}, "learning_rule", "roth-erev | imitate | fixed"),
    ({"sanctioned_vendors": ["oracle"]}, "sanctioned_vendors", "allowed: alibaba, huawei"),
    ({"sanctioned_vendors": ["others"]}, "sanctioned_vendors", "unknown vendor"),
    ({"ban_regions": ["UK"]}, "ban_regions", "allowed: CN"),
    ({"ban_segments": ["military"]}, "ban_segments", "government, telecom, finance, critical, all"),
    ({"scenario": "mars-2030"}, "scenario", "china-2020 | global-2020"),
])
def test_python_api_rejects_bad_values_with_name_value_and_allowed(kwargs, name, fragment):
    with pytest.raises(ParameterError) as err:
        CloudMarket(rng=1, **{"n_customers": 50, **kwargs})
    assert err.value.name == name
    assert name in str(err.value) and fragment in str(err.value)
    assert repr(next(iter(kwargs.values())))[:6] in str(err.value)  # the value is echoed


def test_steps_is_not_a_model_parameter():
    with pytest.raises(ParameterError, match="steps"):
        CloudMarket(rng=1, steps=5)


def test_every_parameter_has_a_default_that_validates_and_a_doc():
    p = resolve({})
    assert set(p) == set(SCHEMA)
    assert all(spec.doc for spec in SCHEMA.values())
    for required in ("scenario", "n_customers", "steps", "export_control_severity", "sanctioned_vendors",
                     "ban_regions", "ban_segments", "data_localization", "switching_cost", "peer_weight",
                     "domestic_subsidy", "policy_start", "learning_rule"):
        assert required in SCHEMA


def test_set_values_are_toml():
    assert parse_assignment('ban_regions=["UK","SE"]') == ("ban_regions", ["UK", "SE"])
    assert parse_assignment("switching_cost=1.5") == ("switching_cost", 1.5)
    assert parse_assignment("data_localization=true") == ("data_localization", True)
    assert parse_assignment("scenario=global-2020") == ("scenario", "global-2020")


def test_cli_run_writes_tables_and_plot(tmp_path, capsys):
    out, plot = tmp_path / "one.parquet", tmp_path / "one.png"
    code = main(["run", "--scenario", "china-2020", "--steps", "6", "--seed", "7",
                 "--set", "export_control_severity=0.6", "--set", "switching_cost=1.5",
                 "--n-customers", "300", "--out", str(out), "--plot", str(plot)])
    assert code == 0
    text = capsys.readouterr().out
    assert "huawei" in text and "HHI" in text and "churn" in text and "2020Q3" in text
    vendors = pd.read_parquet(out)
    market = pd.read_parquet(tmp_path / "one.market.parquet")
    assert {"step", "vendor", "share", "spend_share"} <= set(vendors.columns)
    assert {"step", "hhi", "cr3", "churn"} <= set(market.columns)
    assert vendors.step.min() == 0 and vendors.step.max() == 6
    assert vendors.groupby("step").spend_share.sum().round(9).eq(1).all()
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:4] == b"\x89PNG"


def test_cli_params_file_and_set_override(tmp_path, capsys):
    f = tmp_path / "p.toml"
    f.write_text('n_customers = 120\nswitching_cost = 2.0\nsanctioned_vendors = ["huawei", "tencent"]\n')
    assert main(["run", "--steps", "2", "--params", str(f), "--set", "switching_cost=0.5"]) == 0
    assert "120 customers" in capsys.readouterr().out


@pytest.mark.parametrize("args, fragment", [
    (["--set", "switching_cost=-1"], "switching_cost = -1"),
    (["--set", "bogus=1"], "bogus"),
    (["--set", 'ban_regions=["UK"]'], "ban_regions"),
    (["--scenario", "atlantis"], "scenario = 'atlantis'"),
    (["--steps", "-3"], "steps = -3"),
    (["--seed", "x"], "seed = 'x'"),
    (["--out", "result.csv"], "--out"),
])
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, args, fragment):
    out = tmp_path / "sub" / "one.parquet"
    extra = [] if "--out" in args else ["--out", str(out)]
    proc = subprocess.run([sys.executable, "-m", "cloudmarket", "run", "--n-customers", "50",
                           "--steps", "2", *args, *extra, "--plot", str(tmp_path / "p.png")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # no output, no half-written file


def test_cli_existing_output_survives_a_failed_run(tmp_path):
    out = tmp_path / "one.parquet"
    assert main(["run", "--n-customers", "60", "--steps", "1", "--out", str(out)]) == 0
    before = out.read_bytes()
    assert main(["run", "--n-customers", "60", "--steps", "1", "--set", "peer_weight=-2", "--out", str(out)]) == 2
    assert out.read_bytes() == before


def test_cli_params_lists_every_parameter(capsys):
    assert main(["params"]) == 0
    text = capsys.readouterr().out
    for name, spec in SCHEMA.items():
        assert name in text and spec.doc[:30] in text


def test_cli_viz_rejects_a_bad_port(capsys):
    assert main(["viz", "--port", "http"]) == 2
    assert "--port = 'http'" in capsys.readouterr().err


def test_cli_viz_serves_the_page_on_loopback(tmp_path):
    """`cloudmarket viz` starts the Solara server on 127.0.0.1 and is stopped by its PID."""
    import os
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = os.path.join(os.path.dirname(sys.executable), "cloudmarket")
    log = open(tmp_path / "viz.log", "wb")
    proc = subprocess.Popen([exe, "viz", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "viz.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "viz.log").read_text()
                time.sleep(0.5)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert f"http://127.0.0.1:{port}/" in (tmp_path / "viz.log").read_text()

"""Calibration of china-2020 to Canalys shares: spec checks, outputs, determinism, resume."""

import json
import tomllib

import pandas as pd
import pytest

from cloudmarket.experiments.calibration import (CalibrationSpec, baseline_means, calibrate, held_in_and_out,
                                     observed_table, parse_calibration)
from cloudmarket.experiments.spec import SpecError
from cloudmarket.model.run import simulate

SMALL = """
[experiment]
name = "cal-test"
replications = 2
seed = 5
[parameters]
n_customers = 300
cloud_push_vendors = ["huawei"]
[calibration]
samples = 6
refine_samples = 4
accept = 0.34
final_replications = 3
[calibration.ranges]
switching_cost = [1.0, 4.0]
cloud_push = [0.0, 1.5]
"""


@pytest.fixture(scope="module")
def small_fit(tmp_path_factory):
    out = tmp_path_factory.mktemp("calib") / "fit"
    spec = parse_calibration(SMALL, holdout=1)
    return spec, out, calibrate(spec, out, backend="serial", quiet=True)


def test_outputs_and_fit_are_written(small_fit):
    spec, out, report = small_fit
    for name in ("fitted.toml", "fit.json", "fit_by_quarter.csv", "points.csv", "calibration.png"):
        assert (out / name).stat().st_size > 0, name
    fitted = tomllib.loads((out / "fitted.toml").read_text())
    for name, (lo, hi) in spec.ranges.items():
        assert lo <= fitted[name] <= hi
    assert fitted["n_customers"] == 300 and fitted["cloud_push_vendors"] == ["huawei"]
    summary = json.loads((out / "fit.json").read_text())
    assert summary["objective_rmse_pp"] == pytest.approx(report.objective)
    assert 0 < report.objective < 20
    assert summary["held_out_steps"] == [4] and summary["held_in_steps"] == [1, 2, 3]
    assert summary["points_evaluated"] == 10
    by_q = pd.read_csv(out / "fit_by_quarter.csv")
    assert set(by_q.vendor) == {"alibaba", "huawei", "tencent", "baidu", "others"}
    assert by_q[by_q.held_out].step.unique().tolist() == [4]
    assert (by_q.p05 <= by_q["mean"] + 1e-12).all() and (by_q["mean"] <= by_q.p95 + 1e-12).all()
    mae = report.mae.set_index(["forecast", "quarters"])
    assert {("model", "held-in"), ("frozen", "held-in"), ("trend", "held-in"),
            ("model", "held-out"), ("frozen", "held-out"), ("trend", "held-out")} <= set(mae.index)
    assert (out / "calibration.png").read_bytes()[:4] == b"\x89PNG"


def test_fitted_parameters_are_reusable_by_run(small_fit):
    _, out, report = small_fit
    params = tomllib.loads((out / "fitted.toml").read_text())
    result = simulate(params, seed=1, steps=2)
    assert len(result.market) == 3


def test_same_seed_gives_the_same_fit_and_rerun_resumes(small_fit, tmp_path):
    spec, out, report = small_fit
    again = calibrate(spec, tmp_path / "again", backend="serial", quiet=True)
    assert again.fitted == report.fitted and again.objective == report.objective
    before = (out / "search" / "runs.parquet").read_bytes()
    resumed = calibrate(spec, out, backend="serial", quiet=True)  # all stages done: nothing reruns
    assert resumed.fitted == report.fitted
    assert (out / "search" / "runs.parquet").read_bytes() == before
    manifest = json.loads((out / "search" / "manifest.json").read_text())
    assert manifest["sweeps"][-1]["ran"] == 0


def test_baselines_and_splits():
    obs = observed_table()
    frozen = baseline_means([1, 2])["frozen"]
    assert (frozen.loc[2] == obs.loc[0]).all()
    assert held_in_and_out(0) == ([1, 2, 3, 4], [])
    assert held_in_and_out(2) == ([1, 2], [3, 4])


@pytest.mark.parametrize("edit, path", [
    (lambda s: s.replace("[calibration]\n", "[calibration]\nbogus = 1\n"), "calibration.bogus"),
    (lambda s: s.replace("samples = 6", "samples = 0"), "calibration.samples = 0"),
    (lambda s: s.replace("accept = 0.34", "accept = 1.5"), "calibration.accept"),
    (lambda s: s.replace("cloud_push = [0.0, 1.5]", "cloud_push = [0.0, 9.0]"), "calibration.ranges.cloud_push[1]"),
    (lambda s: s.replace("switching_cost = [1.0, 4.0]", "swiching_cost = [1.0, 4.0]"), "calibration.ranges.swiching_cost"),
    (lambda s: s.replace('name = "cal-test"', 'name = "cal-test"\nsteps = 9'), "experiment.steps"),
    (lambda s: s.split("[calibration]")[0], "calibration"),
])
def test_bad_calibration_specs_name_the_key(edit, path):
    with pytest.raises(SpecError) as err:
        parse_calibration(edit(SMALL))
    assert path in str(err.value)


def test_holdout_must_leave_quarters_to_fit():
    with pytest.raises(SpecError, match="holdout"):
        parse_calibration(SMALL, holdout=4)
    assert isinstance(parse_calibration(SMALL, holdout=3), CalibrationSpec)

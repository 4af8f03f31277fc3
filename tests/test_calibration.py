"""Pattern-oriented calibration: spec checks, each pattern's score, the method, recovery, outputs."""

import dataclasses
import json
import tomllib

import numpy as np
import pandas as pd
import pytest

from cloudmarket.experiments.abc import apmc
from cloudmarket.experiments.calibration import CalibrationSpec, calibrate, parse_calibration, report_text
from cloudmarket.experiments.cli import main
from cloudmarket.experiments.patterns import Patterns, change_rms, hhi_path
from cloudmarket.experiments.spec import SpecError
from cloudmarket.experiments.targets import china_target, global_target, synthetic_target
from cloudmarket.experiments.validation import naive_forecasts
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
samples = 8
accept = 0.5
refine_samples = 8
final_replications = 4
horizon = 8
origins = ["2021Q1"]
[calibration.ranges]
switching_cost = [1.0, 4.0]
cloud_push = [0.0, 1.5]
"""


@pytest.fixture(scope="module")
def small_fit(tmp_path_factory):
    out = tmp_path_factory.mktemp("calib") / "fit"
    spec = parse_calibration(SMALL, holdout=1)
    return spec, out, calibrate(spec, out, backend="serial")


# ------------------------------------------------------------------ outputs
def test_outputs_hold_every_item_the_report_promises(small_fit):
    spec, out, report = small_fit
    for name in ("fitted.toml", "fit.json", "fit_by_period.csv", "points.csv", "calibration.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "calibration.png").read_bytes()[:4] == b"\x89PNG"
    fitted = tomllib.loads((out / "fitted.toml").read_text())
    for name, (lo, hi) in spec.ranges.items():
        assert lo <= fitted[name] <= hi
    assert fitted["n_customers"] == 300 and fitted["cloud_push_vendors"] == ["huawei"]
    s = json.loads((out / "fit.json").read_text())
    assert s["fit_through"] == "2021Q2"  # holdout 1 keeps 2021Q3 out
    assert set(s["patterns"]["posterior_predictive"]) == {"shares", "changes", "hhi", "switching"}
    for name in spec.ranges:
        post = s["posterior"][name]
        assert post["q05"] <= post["q50"] <= post["q95"] and post["fitted"] == fitted[name]
    check = s["horizon_check"]["posterior_predictive"]
    assert check["steps"] == 8 and len(check["hhi"]["path"]) == 9
    assert set(check["largest_4q_change_pp"]) == {"alibaba", "huawei", "tencent", "baidu", "others"}
    pooled = s["rolling_origin"]["pooled_mae_pp"]
    assert set(pooled) == {"model", "model-anchored", "frozen", "trend"}
    assert set(pooled["frozen"]) == {"alibaba", "huawei", "tencent", "baidu", "others", "all"}
    (origin,) = s["rolling_origin"]["by_origin"]
    assert origin["origin"] == "2021Q1" and origin["scored"] == ["2021Q2", "2021Q3"]
    # the frozen forecast from 2021Q1 is scored by hand: |observed - share at 2021Q1|
    obs = china_target().observed
    expected = 100 * (obs.loc[["2021Q2", "2021Q3"], "alibaba"] - obs.loc["2021Q1", "alibaba"]).abs().mean()
    assert pooled["frozen"]["alibaba"] == pytest.approx(expected, abs=1e-3)
    by_period = pd.read_csv(out / "fit_by_period.csv")
    assert by_period.period.nunique() == 9 and by_period[by_period.held_out].period.unique().tolist() == ["2021Q3"]
    assert (by_period.p05 <= by_period["mean"] + 1e-12).all() and (by_period["mean"] <= by_period.p95 + 1e-12).all()
    points = pd.read_csv(out / "points.csv")
    assert set(points.stage) == {"fit", "origin 2021Q1"}
    assert s["method"]["particles_simulated"] == len(points[points.stage == "fit"])
    text = report_text(report)
    for words in ("objective per pattern", "8-quarter check", "rolling origin", "frozen", "trend", "held-in quarters"):
        assert words in text


def test_fitted_parameters_are_reusable_by_run(small_fit):
    _, out, _ = small_fit
    result = simulate(tomllib.loads((out / "fitted.toml").read_text()), seed=1, steps=2)
    assert len(result.market) == 3


def test_same_seed_gives_the_same_fit_on_either_backend(small_fit, tmp_path):
    spec, out, report = small_fit
    again = calibrate(spec, tmp_path / "again", backend="local", workers=2)
    assert again.fitted == report.fitted
    a, b = (json.loads((d / "fit.json").read_text()) for d in (out, tmp_path / "again"))
    for s in (a, b):
        s["method"].pop("wall_s")
    assert a == b
    other = calibrate(dataclasses.replace(spec, seed=6), tmp_path / "other", backend="serial")
    assert other.summary["posterior"] != report.summary["posterior"]


# ------------------------------------------------------------------ patterns
def _china_like(offsets_pp=None, drift_pp=0.0, steps=8, runs=3):
    """Runs holding the 2020Q3 shares, plus fixed offsets and a linear drift (points per quarter)."""
    t = china_target()
    base = t.observed.loc["2020Q3"].to_numpy()
    shares = np.tile(base, (runs, steps + 1, 1)).astype(float)
    if offsets_pp is not None:
        shares[:, 1:, :] += np.array(offsets_pp) / 100
    shares[:, :, 0] += drift_pp / 100 * np.arange(steps + 1)
    shares[:, :, 4] -= drift_pp / 100 * np.arange(steps + 1)
    return t, shares


def test_shares_score_is_each_runs_rmse_in_points_averaged():
    t, shares = _china_like(offsets_pp=[1, 0, 0, 0, -1])
    p = Patterns.from_target(t, "2021Q3", 8)
    switching = np.full(shares.shape[:2], 0.001)
    observed = t.observed.loc[["2020Q4", "2021Q1", "2021Q2", "2021Q3"]].to_numpy()
    model = np.tile(t.observed.loc["2020Q3"].to_numpy() + np.array([1, 0, 0, 0, -1]) / 100, (4, 1))
    expected = np.sqrt(np.mean(np.square(100 * (model - observed))))
    assert p.scores(shares, switching)["shares"] == pytest.approx(expected)
    # each run is compared with the data on its own (the data are one realisation too)
    clean = shares.mean(axis=0)
    synthetic = synthetic_target(t, clean, t.columns, 4)
    e = np.random.default_rng(0).normal(0, 0.01, clean.shape)
    noisy = np.stack([clean + e, clean - e, clean])
    per_run = [np.sqrt(np.mean(np.square(100 * x[1:5]))) for x in (e, -e, 0 * e)]
    assert Patterns.from_target(synthetic, None, 8).scores(noisy, switching)["shares"] == pytest.approx(np.mean(per_run))


def test_change_score_compares_one_year_changes_with_the_data():
    t, shares = _china_like(drift_pp=0.5)  # alibaba +0.5 pp a quarter, others -0.5: 2 pp a year each
    p = Patterns.from_target(t, "2021Q3", 8)
    model_rms = np.sqrt(2 * 2.0 ** 2 / 5)  # two of five columns move 2 points in every window
    assert change_rms(shares[0], 4) == pytest.approx(model_rms)
    obs = t.observed
    diffs = obs.loc[["2021Q1", "2021Q2", "2021Q3"]].to_numpy() - obs.loc[["2020Q1", "2020Q2", "2020Q3"]].to_numpy()
    observed_rms = np.sqrt(np.mean(np.square(100 * diffs)))  # 3.01 points
    assert p.change_rms_observed == pytest.approx(observed_rms)
    assert p.scores(shares, np.zeros(shares.shape[:2]))["changes"] == pytest.approx(abs(model_rms - observed_rms))
    # yearly data: changes between calendar-year means of quarterly shares
    g = global_target()
    pg = Patterns.from_target(g, None, 9)
    obs = g.observed.to_numpy()
    assert pg.change_rms_observed == pytest.approx(np.sqrt(np.mean(np.square(100 * np.diff(obs, axis=0)))))


def test_hhi_and_switching_scores_measure_distance_outside_their_bands():
    t, shares = _china_like()
    p = Patterns.from_target(t, None, 8)
    assert p.hhi_band == pytest.approx((t.observed_hhi().min(), t.observed_hhi().max()))
    inside = p.scores(shares, np.full(shares.shape[:2], 0.001))  # 0.4% of customers a year
    assert inside["hhi"] == 0.0 and inside["switching"] == 0.0
    # push the leader up until the HHI is 150 points above the band's top at every step
    hhi0 = hhi_path(shares, t)[0, 0]
    a0 = shares[0, 0, 0]
    a1 = np.sqrt(a0 ** 2 + (p.hhi_band[1] + 150 - hhi0) / 10_000)
    high = shares.copy()
    high[:, :, 0] = a1
    high[:, :, 4] -= a1 - a0
    s = p.scores(high, np.full(shares.shape[:2], 0.01))
    assert s["hhi"] == pytest.approx(1.5)  # 150 HHI points = 1.5 units of 100
    assert s["switching"] == pytest.approx(3.0)  # 1% a quarter is 4% a year: 3 points above the CMA's 1%


def test_the_distance_is_the_weighted_sum_of_scores_with_data():
    p = Patterns.from_target(china_target(), "2020Q3", 8, weights={"shares": 1, "changes": 2, "hhi": 1, "switching": 0.5})
    assert p.fit_labels == [] and p.change_rms_observed is None  # no later quarter, no full year yet
    assert p.distance({"shares": None, "changes": None, "hhi": 0.4, "switching": 2.0}) == pytest.approx(1.4)


def test_a_rolling_origin_sees_only_data_up_to_it():
    t = china_target()
    p = Patterns.from_target(t, "2021Q1", 22)
    assert p.fit_labels == ["2020Q4", "2021Q1"]
    seen = t.observed_hhi().loc[["2020Q1", "2020Q2", "2020Q3", "2020Q4", "2021Q1"]]
    assert p.hhi_band == (seen.min(), seen.max())
    obs = t.observed
    assert p.change_rms_observed == pytest.approx(100 * np.sqrt(np.mean(np.square(obs.loc["2021Q1"] - obs.loc["2020Q1"]))))
    f = naive_forecasts(t, "2021Q1", ["2021Q3"])
    assert (f["frozen"].loc["2021Q3"] == obs.loc["2021Q1"]).all()


# ------------------------------------------------------------------ method
def test_abc_smc_beats_a_hypercube_at_the_same_number_of_simulations():
    """Known posterior: y ~ N(theta, 0.05^2) observed at 0.3, uniform prior; ABC with |y - 0.3|."""
    def distance(thetas, generation, rng=np.random.default_rng(3)):
        return np.abs(thetas[:, 0] + rng.normal(0, 0.05, len(thetas)) - 0.3)

    r = apmc(distance, np.array([0.0]), np.array([1.0]), particles=100, keep=0.2, min_acceptance=0.0,
             max_generations=6, rng=np.random.default_rng(1))
    assert r.simulations == 100 + 5 * 80
    thetas = np.random.default_rng(2).uniform(0, 1, (r.simulations, 1))
    d = distance(thetas, 0)
    kept = thetas[np.argsort(d)[:20], 0]  # rejection: best 20 of the same budget
    assert r.epsilons[-1] < np.sort(d)[19]  # a smaller tolerance for the same cost
    # and a posterior close to the true one, N(0.3, 0.05^2) (truncation is negligible)
    assert abs(r.mean()[0] - 0.3) < 0.02 and 0.03 < r.sd()[0] < 0.08
    assert abs(kept.mean() - 0.3) < 0.05


DATA_SEED = 100


def test_synthetic_truth_is_recovered_within_the_stated_uncertainty(tmp_path):
    """Data made by the model at known parameters: the 5-95% posterior interval holds them."""
    # new workloads move shares, so how strongly customers stay with the vendors they use
    # (multicloud_cost) shows in the data; the rare migrations that switching_cost governs do not
    truth = {"cloud_push": 1.6, "multicloud_cost": 1.0}
    fixed = {"n_customers": 1000, "cloud_push_vendors": ["huawei"], "sanctioned_vendors": ["huawei"]}
    # one realisation, as the real data are one: per-run patterns (size of changes) compare like with like
    run = simulate({**fixed, **truth}, seed=DATA_SEED, steps=8).vendors
    table = run.pivot_table(index="step", columns="vendor", values="spend_share")
    vendors = ["alibaba", "huawei", "tencent", "baidu", "aws", "others"]
    target = synthetic_target(china_target(), table[vendors].to_numpy(), vendors, 8)
    spec = parse_calibration(SMALL.replace('cloud_push_vendors = ["huawei"]',
                                           'cloud_push_vendors = ["huawei"]\nsanctioned_vendors = ["huawei"]')
                             .replace("n_customers = 300", "n_customers = 1000")
                             .replace("switching_cost = [1.0, 4.0]", "multicloud_cost = [0.0, 5.0]")
                             .replace("cloud_push = [0.0, 1.5]", "cloud_push = [0.0, 2.0]"))
    spec = dataclasses.replace(spec, target=target, origins=[], samples=24, refine_samples=48, replications=3)
    report = calibrate(spec, tmp_path / "synthetic", backend="local", workers=2)
    post = report.posterior
    for name, value in truth.items():
        assert post.loc[name, "q05"] <= value <= post.loc[name, "q95"], (name, post.loc[name].to_dict())
    # and the data taught it something: the interval is narrower than the prior's 5-95%
    for name in truth:
        width = post.loc[name, "q95"] - post.loc[name, "q05"]
        assert width < 0.9 * (post.loc[name, "prior_high"] - post.loc[name, "prior_low"]), name


# ------------------------------------------------------------------ specs
@pytest.mark.parametrize("edit, path", [
    (lambda s: s.replace("[calibration]\n", "[calibration]\nbogus = 1\n"), "calibration.bogus"),
    (lambda s: s.replace("samples = 8\n", "samples = 0\n"), "calibration.samples"),
    (lambda s: s.replace("accept = 0.5", "accept = 1.5"), "calibration.accept"),
    (lambda s: s.replace("accept = 0.5", "accept = 0"), "calibration.accept"),
    (lambda s: s.replace("refine_samples = 8", "refine_samples = -1"), "calibration.refine_samples"),
    (lambda s: s.replace("cloud_push = [0.0, 1.5]", "cloud_push = [0.0, 9.0]"), "calibration.ranges.cloud_push[1]"),
    (lambda s: s.replace("cloud_push = [0.0, 1.5]", "cloud_push = [1.5, 0.0]"), "calibration.ranges.cloud_push"),
    (lambda s: s.replace("switching_cost = [1.0, 4.0]", "swiching_cost = [1.0, 4.0]"), "calibration.ranges.swiching_cost"),
    (lambda s: s.replace("switching_cost = [1.0, 4.0]", "learning_rule = [1, 2]"), "calibration.ranges.learning_rule"),
    (lambda s: s.replace("n_customers = 300", "n_customers = 300\nswitching_cost = 2.0"), "calibration.ranges.switching_cost"),
    (lambda s: s.replace('name = "cal-test"', 'name = "cal-test"\nsteps = 9'), "experiment.steps"),
    (lambda s: s.replace('name = "cal-test"', 'name = "cal-test"\nscenario = "mars"'), "experiment.scenario"),
    (lambda s: s.replace("n_customers = 300", "n_customers = -3"), "parameters.n_customers"),
    (lambda s: s.replace('origins = ["2021Q1"]', 'origins = ["2021Q3"]'), "calibration.origins[0]"),
    (lambda s: s.replace('horizon = 8', 'horizon = 2'), "calibration.horizon"),
    (lambda s: s.replace("[calibration.ranges]", "switching_band = [0.1, 0.05]\n[calibration.ranges]"), "calibration.switching_band"),
    (lambda s: s.replace("[calibration.ranges]", "[calibration.weights]\nshare = 1\n[calibration.ranges]"),
     "calibration.weights.share"),
    (lambda s: s.split("[calibration.ranges]")[0], "calibration.ranges"),
    (lambda s: s.split("[calibration]")[0], "calibration"),
])
def test_bad_calibration_specs_name_the_key(edit, path):
    with pytest.raises(SpecError) as err:
        parse_calibration(edit(SMALL))
    assert f" {path} " in f" {str(err.value).split(': ')[1].split(' = ')[0]} ", str(err.value)


def test_bad_spec_exits_2_and_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text(SMALL.replace("accept = 0.5", "accept = 2"))
    assert main(["calibrate", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "calibration.accept = 2" in err and "Traceback" not in err and not (tmp_path / "out").exists()
    (tmp_path / "file").write_text("x")
    spec.write_text(SMALL)
    assert main(["calibrate", str(spec), "--out", str(tmp_path / "file"), "--backend", "serial"]) == 2
    assert "is a file" in capsys.readouterr().err and (tmp_path / "file").read_text() == "x"


def test_holdout_must_leave_periods_to_fit_and_shipped_specs_parse():
    with pytest.raises(SpecError, match="holdout"):
        parse_calibration(SMALL, holdout=4)
    assert isinstance(parse_calibration(SMALL, holdout=3), CalibrationSpec)
    from cloudmarket.experiments.calibration import load_calibration

    china, world = load_calibration("calibrate_china"), load_calibration("calibrate_global")
    assert china.target.scenario == "china-2020" and world.target.scenario == "global-2020"
    assert world.origins == ["2020"] and world.fit_through == "2021" and china.fit_through == "2021Q3"
    assert china.ranges.keys() == world.ranges.keys()

"""Analysis of a store: load_results, DuckDB views, summary CIs, paired compare, Sobol' indices."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cloudmarket.experiments import load_results
from cloudmarket.experiments.analysis import (AnalysisError, SobolWarning, paired_differences, sobol_indices,
                                              sobol_warnings, summarise)
from cloudmarket.experiments.cli import main
from cloudmarket.experiments.runner import plan
from cloudmarket.experiments.sampling import sobol_points
from cloudmarket.experiments.spec import parse_spec

GRID = """
[experiment]
name = "grid"
steps = 6
replications = 4
seed = 21
[parameters]
n_customers = 250
[sweep]
design = "grid"
[sweep.values]
export_control_severity = [0.0, 0.9]
switching_cost = [0.5, 2.0]
"""

SOBOL = """
[experiment]
name = "sobol"
steps = 6
replications = 1
seed = 4
collect = "end"
[parameters]
n_customers = 150
learning_rule = "roth-erev"
[sweep]
design = "sobol"
samples = {samples}
[sweep.ranges]
export_control_severity = [0.0, 1.0]
imitation_rate = [0.0, 1.0]
switching_cost = [0.0, 4.0]
"""


def _sweep(tmp_path: Path, text: str, name: str) -> Path:
    spec = tmp_path / f"{name}.toml"
    spec.write_text(textwrap.dedent(text))
    out = tmp_path / name
    assert main(["sweep", str(spec), "--out", str(out), "--backend", "serial", "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def grid_store(tmp_path_factory) -> Path:
    return _sweep(tmp_path_factory.mktemp("grid"), GRID, "grid")


def test_load_results_tables_and_sql_views(grid_store):
    r = load_results(grid_store)
    assert len(r.runs) == 16 and r.swept == ["export_control_severity", "switching_cost"]
    assert len(r.market) == 16 * 7 and len(r.vendors) == 16 * 7 * 6
    assert list(r.market.columns[:2]) == ["run_id", "step"]
    n = r.sql("SELECT count(DISTINCT run_id) AS n FROM vendors").n.iloc[0]
    assert n == 16
    joined = r.sql("SELECT r.export_control_severity, avg(v.spend_share) AS s FROM vendors v "
                   "JOIN runs r USING (run_id) WHERE v.vendor = 'huawei' AND v.step = 6 "
                   "GROUP BY 1 ORDER BY 1")
    assert joined.export_control_severity.tolist() == [0.0, 0.9]
    with pytest.raises(Exception, match="not an experiment store"):
        load_results(grid_store / "market")


def test_summary_means_and_t_intervals_match_a_direct_computation(grid_store):
    r = load_results(grid_store)
    table = summarise(r)
    assert len(table) == 4 * 6 and (table.runs == 4).all()
    assert (table.ci_low >= 0).all() and (table.ci_high <= 1).all()  # shares: intervals within [0, 1]
    finals = r.vendors[r.vendors.step == 6].merge(r.runs, on="run_id")
    row = table[(table.vendor == "huawei") & (table.export_control_severity == 0.9) & (table.switching_cost == 0.5)].iloc[0]
    x = finals[(finals.vendor == "huawei") & (finals.export_control_severity == 0.9)
               & (finals.switching_cost == 0.5)].spend_share.to_numpy()
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    assert row["mean"] == pytest.approx(x.mean()) and row.ci_low == pytest.approx(max(0.0, x.mean() - half))
    # Shares at each design point sum to one across vendors.
    assert table.groupby("point")["mean"].sum().to_numpy() == pytest.approx(1.0)


def test_summary_command_prints_a_row_per_design_point(grid_store, capsys):
    assert main(["summary", str(grid_store)]) == 0
    out = capsys.readouterr().out
    assert "huawei" in out and "95% CI" in out
    assert len([line for line in out.splitlines() if line.strip().startswith(("0 ", "0.9 "))]) == 4


def test_compare_pairs_by_replication_and_bootstraps_the_difference(grid_store, capsys):
    r = load_results(grid_store)
    table = paired_differences(r, "share:huawei", by="export_control_severity")
    assert len(table) == 1 and table.pairs.iloc[0] == 8  # 4 replications x 2 switching costs
    finals = r.vendors[(r.vendors.step == 6) & (r.vendors.vendor == "huawei")].merge(r.runs, on="run_id")
    wide = finals.pivot_table(index=["replication", "switching_cost"], columns="export_control_severity",
                              values="share")
    diff = (wide[0.9] - wide[0.0]).to_numpy()
    assert table.difference.iloc[0] == pytest.approx(diff.mean())
    assert table.ci_low.iloc[0] <= diff.mean() <= table.ci_high.iloc[0]
    # Severe export controls lower Huawei's customer share in every pair.
    assert (diff < 0).all() and table.ci_high.iloc[0] < 0
    assert main(["compare", str(grid_store), "--metric", "share:huawei", "--by", "switching_cost",
                 "--baseline", "2.0"]) == 0
    out = capsys.readouterr().out
    assert "vs switching_cost = 2" in out and "0.5" in out


@pytest.mark.parametrize("args,message", [
    (["--metric", "share:nobody", "--by", "switching_cost"], "no vendor 'nobody'"),
    (["--metric", "shares:huawei", "--by", "switching_cost"], "vendor column must be one of"),
    (["--by", "switching_cost", "--metric", "nonsense"], "give a market column"),
    (["--metric", "share:huawei", "--by", "peer_weight"], "--by = 'peer_weight': not a swept parameter"),
    (["--metric", "share:huawei", "--by", "switching_cost", "--baseline", "9"], "--baseline = 9.0: not a value"),
])
def test_compare_bad_input_exits_2(grid_store, capsys, args, message):
    assert main(["compare", str(grid_store), *args]) == 2
    assert message in capsys.readouterr().err


def test_sobol_design_extends_and_indices_find_the_inert_parameter(tmp_path, capsys):
    # Doubling samples keeps the first design rows, so a Sobol' store extends.
    small = plan(parse_spec(SOBOL.format(samples=8)))
    big = plan(parse_spec(SOBOL.format(samples=16)))
    assert [t.run_id for t in small] == [t.run_id for t in big[:len(small)]]
    kinds = {"a": "float", "b": "int"}
    pts = sobol_points({"a": (0.0, 1.0), "b": (1, 9)}, kinds, samples=8, seed=1)
    assert len(pts) == 8 * 4 and all(isinstance(p["b"], int) and 1 <= p["b"] <= 9 for p in pts)

    out = _sweep(tmp_path, SOBOL.format(samples=32), "sobol")
    with pytest.warns(SobolWarning, match="only 32 base samples"):
        indices = sobol_indices(load_results(out), "spend_share:huawei").set_index("parameter")
    # imitation_rate is read only by the "imitate" rule: with Roth-Erev it cannot matter.
    assert indices.loc["imitation_rate", "ST"] == pytest.approx(0.0, abs=1e-9)
    assert indices.loc["imitation_rate", "S1"] == pytest.approx(0.0, abs=1e-9)
    # Export controls move Huawei's share; how much depends on the calibration, so only
    # ask that they clearly matter and matter more than the inert parameter.
    assert indices.loc["export_control_severity", "ST"] > 0.1
    assert indices.loc["export_control_severity", "ST_ci_low"] > indices.loc["imitation_rate", "ST_ci_high"]
    assert (indices.ST_ci_low <= indices.ST).all() and (indices.ST <= indices.ST_ci_high).all()
    # the bootstrap CIs are seeded: the same call gives the same intervals (seed 0 included)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SobolWarning)
        pd.testing.assert_frame_equal(sobol_indices(load_results(out), "spend_share:huawei", seed=0),
                                      sobol_indices(load_results(out), "spend_share:huawei", seed=0))
    assert main(["sensitivity", str(out), "--metric", "spend_share:huawei"]) == 0
    printed = capsys.readouterr()
    assert "export_control_severity" in printed.out
    assert "warning: only 32 base samples (fewer than 64)" in printed.err


def test_sobol_warnings_flag_implausible_indices():
    table = pd.DataFrame({"parameter": ["a", "b"], "S1": [0.7, 0.2], "ST": [0.4, 0.3],
                          "S1_ci_low": [0.2, 0.1], "S1_ci_high": [1.3, 0.3],
                          "ST_ci_low": [0.1, -0.2], "ST_ci_high": [0.7, 0.8]})
    found = sobol_warnings(table, samples=128)
    assert not any("base samples" in w for w in found)  # enough samples: no size warning
    assert any(w.startswith("a: first-order index above total") for w in found)
    assert any(w.startswith("a: 95% CI of S1 reaches beyond [0, 1]") for w in found)
    assert any(w.startswith("b: 95% CI of ST reaches beyond [0, 1]") for w in found)
    assert not any(w.startswith("b: first-order") for w in found)  # 0.2 <= 0.3 is plausible


def test_summary_intervals_stay_within_0_1_and_small_samples_are_flagged(tmp_path, capsys):
    from cloudmarket.experiments.analysis import mean_ci

    # a share near zero with a spread: a plain t interval would go below 0
    mean, low, high = mean_ci(np.array([0.001, 0.002, 0.09]), bounds=(0.0, 1.0))
    assert low == 0.0 and 0 < mean < high <= 1.0
    assert np.isnan(mean_ci(np.array([0.2, 0.3]))[1])  # n = 2: no interval
    store = _sweep(tmp_path, GRID.replace("replications = 4", "replications = 2"), "two")
    table = summarise(load_results(store))
    assert table.ci_low.isna().all()
    assert main(["summary", str(store)]) == 0
    out = capsys.readouterr().out
    assert "(n<3)" in out and "too few for an interval" in out
    assert "[" not in out.split("\n", 2)[2]  # no interval printed for any point


def test_sensitivity_needs_a_sobol_store(grid_store, capsys):
    assert main(["sensitivity", str(grid_store)]) == 2
    assert "sensitivity needs design = \"sobol\"" in capsys.readouterr().err


def test_status_of_a_missing_store_exits_2(tmp_path, capsys):
    assert main(["status", str(tmp_path / "nothing")]) == 2
    assert "not an experiment store" in capsys.readouterr().err


def test_store_is_readable_without_our_code(grid_store):
    import duckdb

    con = duckdb.connect()
    n = con.execute(f"SELECT count(*) FROM read_parquet('{grid_store}/vendors/*.parquet')").fetchone()[0]
    assert n == 16 * 7 * 6
    runs = pd.read_parquet(grid_store / "runs.parquet")
    assert set(runs.status) == {"done"} and runs.run_id.is_unique


def test_plot_command_writes_a_png_and_rejects_unknown_vendor(grid_store, tmp_path, capsys, artifacts_dir):
    png = artifacts_dir / "experiments_huawei_share.png"
    assert main(["plot", str(grid_store), "--vendor", "huawei", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert main(["plot", str(grid_store), "--vendor", "nobody", "--out", str(tmp_path / "x.png")]) == 2
    assert "no such vendor" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


def test_calibrate_command_runs_the_calibration_and_validates_flags(tmp_path, capsys):
    spec = tmp_path / "cal.toml"
    spec.write_text(textwrap.dedent("""
        [experiment]
        name = "cal"
        scenario = "china-2020"
        replications = 1
        seed = 3
        [parameters]
        n_customers = 120
        [calibration]
        samples = 4
        refine_samples = 2
        accept = 0.5
        final_replications = 2
        [calibration.ranges]
        switching_cost = [0.5, 5.0]
        """))
    assert main(["calibrate", str(spec), "--out", str(tmp_path / "cal"), "--holdout", "x"]) == 2
    assert "--holdout = 'x'" in capsys.readouterr().err and not (tmp_path / "cal").exists()
    assert main(["calibrate", str(spec), "--out", str(tmp_path / "cal"), "--backend", "serial", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "fitted parameters" in out and "switching_cost" in out
    assert "held-in quarters: model MAE" in out and "frozen" in out and "trend" in out
    assert (tmp_path / "cal" / "fitted.toml").exists()


def test_compare_with_too_few_pairs_flags_instead_of_an_interval(tmp_path, capsys):
    store = _sweep(tmp_path, GRID.replace("replications = 4", "replications = 1"), "one")
    assert main(["compare", str(store), "--by", "export_control_severity"]) == 0  # default metric
    out = capsys.readouterr().out
    assert "spend_share:huawei" in out and "(n<3)" in out and "nan" not in out

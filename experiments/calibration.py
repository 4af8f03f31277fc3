"""Calibrate the China scenario to observed quarterly shares (simulated method of moments).

Method (also stated in ``model/ODD.md``, section 5):

1. **Search**: a Latin hypercube over ``[calibration.ranges]`` (``samples`` points, each run
   ``replications`` times with common random numbers) through the experiment runner.
2. **Refine**: a second Latin hypercube (``refine_samples`` points) in the box spanned by
   the best ``accept`` share of the first stage's points.
3. **Accept**: the best ``accept`` share of all evaluated points is the approximate
   posterior (rejection ABC with a quantile threshold); it gives each parameter's mean,
   standard deviation and 5-95% interval. The best point is the fit.
4. **Check**: the fit is run ``final_replications`` times; the ensemble mean and its 5-95%
   band are compared with the data quarter by quarter.

The objective is the root mean squared error, in percentage points, between the ensemble
mean spend share and the Canalys share of Alibaba, Huawei, Tencent, Baidu and the rest
("others" + AWS), over the held-in quarters after 2020Q3 (step 0 is fitted by
construction). ``--holdout k`` keeps the last k observed quarters out of the objective
and reports their error separately. Two naive baselines are scored on the same quarters:
shares frozen at 2020Q3, and the linear trend of 2020Q1-2020Q3 extended forward.

Every stage is an ordinary experiment store under ``OUT/`` (``search``, ``refine``,
``check``), so calibration runs on every backend and resumes where it stopped.

Example
-------
>>> obs = observed_table()
>>> obs.loc[0].round(3).to_dict()
{'alibaba': 0.409, 'huawei': 0.162, 'tencent': 0.158, 'baidu': 0.071, 'others': 0.2}
>>> sorted(obs.index.tolist())
[-2, -1, 0, 1, 2, 3, 4]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cloudmarket.experiments.spec import MISSING, SpecError, canonical_json, parse_spec, read_toml, spec_path
from cloudmarket.model.params import SCHEMA
from cloudmarket.model.scenarios import START_QUARTER, START_YEAR, china_shares

FIT_VENDORS = ("alibaba", "huawei", "tencent", "baidu", "others")
_CAL_KEYS = {"samples", "refine_samples", "accept", "final_replications", "holdout", "ranges"}


@dataclass(frozen=True)
class CalibrationSpec:
    """A validated calibration: the experiment part, the ranges and the search sizes."""

    name: str
    seed: int
    replications: int
    fixed: dict[str, Any]
    ranges: dict[str, tuple[float, float]]
    samples: int = 64
    refine_samples: int = 32
    accept: float = 0.1
    final_replications: int = 20
    holdout: int = 0
    source: str = "<spec>"
    text: str = field(default="", repr=False)


def observed_table() -> pd.DataFrame:
    """Canalys shares as fractions, indexed by model step (2020Q3 = 0), the 'others' incl. AWS."""
    rows = {}
    for period, shares in china_shares().items():
        year, quarter = int(period[:4]), int(period[-1])
        step = (year - START_YEAR) * 4 + quarter - START_QUARTER
        rows[step] = {v: shares[v] / 100.0 for v in FIT_VENDORS}
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def observed_steps() -> list[int]:
    """Steps after the start with data: 1..4 (2020Q4-2021Q3)."""
    return [s for s in observed_table().index if s > 0]


def load_calibration(path: str | Path, holdout: int | None = None) -> CalibrationSpec:
    """Read and validate a calibration spec (TOML file, or a shipped spec's name); ``holdout`` overrides the file's."""
    path = spec_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(str(path), "(file)", MISSING, "no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(str(path), "(file)", MISSING, f"cannot be read ({err})") from None
    return parse_calibration(text, source=str(path), base_dir=path.parent, holdout=holdout)


def parse_calibration(text: str, source: str = "<spec>", base_dir: str | Path = ".",
                      holdout: int | None = None) -> CalibrationSpec:
    """Validate calibration spec text: [experiment], [parameters], [calibration] (+ ranges)."""
    doc = read_toml(text, source)
    cal = doc.pop("calibration", None)
    if not isinstance(cal, dict):
        raise SpecError(source, "calibration", MISSING, "missing: a [calibration] table with [calibration.ranges]")
    unknown = sorted(set(cal) - _CAL_KEYS)
    if unknown:
        raise SpecError(source, f"calibration.{unknown[0]}", MISSING, f"unknown key; allowed: {', '.join(sorted(_CAL_KEYS))}")
    experiment = doc.get("experiment", {})
    if "steps" in experiment:
        raise SpecError(source, "experiment.steps", experiment["steps"],
                        "set by the data (the last observed quarter); remove it")
    if experiment.get("scenario", "china-2020") != "china-2020":
        raise SpecError(source, "experiment.scenario", experiment["scenario"],
                        "calibration data exist for china-2020 only")
    # The search stage is an ordinary LHS experiment: let the experiment spec check it.
    doc["sweep"] = {"design": "lhs", "samples": cal.get("samples", 64), "ranges": cal.get("ranges", {})}
    doc.setdefault("experiment", {})["steps"] = max(observed_steps())
    try:
        search = parse_spec(_to_toml(doc), source=source, base_dir=base_dir)
    except SpecError as err:
        # The search stage is checked as a sweep; its keys are written in [calibration].
        raise SpecError(err.source, _calibration_key(err.path), err.value, _calibration_key(err.allowed)) from None
    n_obs = len(observed_steps())
    k = cal.get("holdout", 0) if holdout is None else holdout
    return CalibrationSpec(
        name=search.name, seed=search.seed, replications=search.replications,
        fixed=search.fixed, ranges=dict(search.ranges), samples=search.samples,
        refine_samples=_whole(source, "calibration.refine_samples", cal.get("refine_samples", 32), 2, 100_000),
        accept=_fraction(source, "calibration.accept", cal.get("accept", 0.1)),
        final_replications=_whole(source, "calibration.final_replications", cal.get("final_replications", 20), 2, 100_000),
        holdout=_whole(source, "holdout" if holdout is not None else "calibration.holdout", k, 0, n_obs - 1),
        source=source, text=text)


def _calibration_key(text: str) -> str:
    """A sweep key path as the calibration spec spells it: sweep.ranges -> calibration.ranges.

    >>> _calibration_key("sweep.ranges.switching_cost[1]"), _calibration_key("sweep.samples")
    ('calibration.ranges.switching_cost[1]', 'calibration.samples')
    """
    return text.replace("sweep.ranges", "calibration.ranges").replace("sweep.samples", "calibration.samples")


def _whole(source: str, path: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(source, path, value, f"must be a whole number in [{low}, {high}]")
    return value


def _fraction(source: str, path: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise SpecError(source, path, value, "must be a number in (0, 1]")
    return float(value)


def _to_toml(doc: dict[str, Any]) -> str:
    """Write a spec dict (tables of scalars, lists and sub-tables) back to TOML text."""
    lines: list[str] = []

    def emit(prefix: str, table: dict[str, Any]) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        lines.append(f"[{prefix}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
        for k, v in table.items():
            if isinstance(v, dict):
                emit(f"{prefix}.{k}", v)

    for name, table in doc.items():
        emit(name, table if isinstance(table, dict) else {})
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (int, str)):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    raise SpecError("<calibration>", "(value)", v, "must be a string, number, boolean or list")


# --------------------------------------------------------------------- scoring
def simulated_table(vendors: pd.DataFrame) -> pd.DataFrame:
    """Spend shares per run and step with AWS folded into 'others': columns FIT_VENDORS."""
    v = vendors.assign(vendor=vendors.vendor.replace({"aws": "others"}))
    table = v.pivot_table(index=["run_id", "step"], columns="vendor", values="spend_share", aggfunc="sum")
    return table[list(FIT_VENDORS)]


def point_errors(mean: pd.DataFrame, steps: list[int]) -> pd.DataFrame:
    """Absolute errors in percentage points of an ensemble mean (index step) vs the data."""
    obs = observed_table().loc[steps]
    return (100 * (mean.loc[steps] - obs)).abs()


def rmse(mean: pd.DataFrame, steps: list[int]) -> float:
    """Root mean squared error in percentage points over vendors and ``steps``.

    >>> rmse(observed_table(), [1, 2])
    0.0
    """
    err = point_errors(mean, steps)
    return float(np.sqrt(np.mean(np.square(err.to_numpy()))))


def baseline_means(steps: list[int]) -> dict[str, pd.DataFrame]:
    """Naive forecasts for ``steps``: frozen at 2020Q3, and the 2020Q1-Q3 linear trend.

    >>> b = baseline_means([1])
    >>> round(float(b["frozen"].loc[1, "alibaba"]), 3), round(float(b["trend"].loc[1, "huawei"]), 4)
    (0.409, 0.1737)
    """
    obs = observed_table()
    pre = obs.loc[[-2, -1, 0]]
    frozen = pd.DataFrame([obs.loc[0]] * len(steps), index=steps)
    slope = np.polyfit(pre.index.to_numpy(), pre.to_numpy(), 1)
    trend = pd.DataFrame(np.array(steps)[:, None] * slope[0] + slope[1], index=steps, columns=pre.columns)
    return {"frozen": frozen, "trend": trend}


def held_in_and_out(holdout: int) -> tuple[list[int], list[int]]:
    """(held-in, held-out) observed steps for ``holdout`` quarters kept out.

    >>> held_in_and_out(1)
    ([1, 2, 3], [4])
    """
    steps = observed_steps()
    cut = len(steps) - holdout
    return steps[:cut], steps[cut:]


# --------------------------------------------------------------------- stages
def _stage_spec(cspec: CalibrationSpec, name: str, design: dict[str, Any], replications: int, seed: int):
    doc = {"experiment": {"name": f"{cspec.name}-{name}", "replications": replications, "seed": seed,
                          "collect": "step"},
           "parameters": dict(cspec.fixed), "sweep": design}
    doc["parameters"].setdefault("steps", max(observed_steps()))
    return parse_spec(_to_toml(doc), source=f"{cspec.source} ({name} stage)")


def score_points(store: Path, cspec: CalibrationSpec, held_in: list[int]) -> pd.DataFrame:
    """One row per design point of a stage store: its parameters and objective."""
    from cloudmarket.experiments.analysis import load_results

    results = load_results(store)
    runs = results.runs[results.runs.status == "done"]
    table = simulated_table(results.vendors).reset_index()
    table = table.merge(runs[["run_id", "point"]], on="run_id")
    rows = []
    for point, group in table.groupby("point"):
        mean = group.groupby("step")[list(FIT_VENDORS)].mean()
        params = runs[runs.point == point].iloc[0][list(cspec.ranges)].to_dict()
        rows.append({**params, "point": int(point), "objective": rmse(mean, held_in)})
    return pd.DataFrame(rows)


def _box(accepted: pd.DataFrame, cspec: CalibrationSpec) -> dict[str, list[float]]:
    box = {}
    for name, (lo, hi) in cspec.ranges.items():
        a, b = float(accepted[name].min()), float(accepted[name].max())
        pad = 0.05 * (hi - lo)  # never collapse to a point: keep a little room around
        box[name] = [max(lo, a - pad), min(hi, b + pad)]
    return box


@dataclass
class CalibrationReport:
    fitted: dict[str, Any]
    objective: float
    posterior: pd.DataFrame
    by_quarter: pd.DataFrame
    mae: pd.DataFrame
    failed_runs: int
    files: list[Path]


def calibrate(cspec: CalibrationSpec, out: str | Path, backend: str = "local", workers: int | None = None,
              scheduler: str | None = None, quiet: bool = False) -> CalibrationReport:
    """Run the search, refine and check stages into ``out`` and write the fit (see module doc)."""
    from cloudmarket.experiments.runner import sweep

    out = Path(out)
    held_in, held_out = held_in_and_out(cspec.holdout)
    run = dict(backend=backend, workers=workers, scheduler=scheduler, quiet=quiet)
    failed = 0
    ranges = {k: list(v) for k, v in cspec.ranges.items()}
    search = _stage_spec(cspec, "search", {"design": "lhs", "samples": cspec.samples, "ranges": ranges},
                         cspec.replications, cspec.seed)
    failed += sweep(search, out / "search", **run).failed
    scored = score_points(out / "search", cspec, held_in)
    n_keep = max(2, int(np.ceil(cspec.accept * len(scored))))
    box = _box(scored.nsmallest(n_keep, "objective"), cspec)
    refine = _stage_spec(cspec, "refine", {"design": "lhs", "samples": cspec.refine_samples, "ranges": box},
                         cspec.replications, cspec.seed)
    failed += sweep(refine, out / "refine", **run).failed
    scored = pd.concat([scored.assign(stage="search"),
                        score_points(out / "refine", cspec, held_in).assign(stage="refine")], ignore_index=True)
    accepted = scored.nsmallest(max(2, int(np.ceil(cspec.accept * len(scored)))), "objective")
    best = scored.loc[scored.objective.idxmin()]
    fitted = {k: _typed(k, best[k]) for k in cspec.ranges}
    check = _stage_spec(cspec, "check", {"design": "grid", "values": {k: [v] for k, v in fitted.items()}},
                        cspec.final_replications, cspec.seed + 1)
    failed += sweep(check, out / "check", **run).failed
    by_quarter, mae = _check_fit(out / "check", held_in, held_out)
    posterior = accepted[list(cspec.ranges)].agg(["mean", "std", lambda s: s.quantile(0.05),
                                                   lambda s: s.quantile(0.95)]).T
    posterior.columns = ["mean", "sd", "q05", "q95"]
    posterior.insert(0, "fitted", [fitted[k] for k in posterior.index])
    files = _write_outputs(out, cspec, fitted, float(best.objective), posterior, by_quarter, mae, scored, held_in, held_out)
    return CalibrationReport(fitted, float(best.objective), posterior, by_quarter, mae, failed, files)


def baseline_verdicts(mae: pd.DataFrame) -> list[str]:
    """One honest sentence per set of quarters: does the model beat each naive forecast?

    >>> mae = pd.DataFrame([{"forecast": "model", "quarters": "held-in", "all": 1.5},
    ...                     {"forecast": "frozen", "quarters": "held-in", "all": 1.2},
    ...                     {"forecast": "trend", "quarters": "held-in", "all": 2.0}])
    >>> baseline_verdicts(mae)
    ['held-in quarters: model MAE 1.50 pp; frozen 1.20 pp (model does NOT beat it); trend 2.00 pp (model beats it)']
    """
    lines = []
    for quarters, rows in mae.groupby("quarters", sort=False):
        by = rows.set_index("forecast")["all"]
        parts = [f"{name} {by[name]:.2f} pp (model {'beats it' if by['model'] < by[name] else 'does NOT beat it'})"
                 for name in ("frozen", "trend") if name in by]
        lines.append(f"{quarters} quarters: model MAE {by['model']:.2f} pp; " + "; ".join(parts))
    return lines


def _typed(name: str, value: Any) -> Any:
    return int(round(value)) if SCHEMA[name].kind == "int" else round(float(value), 6)


def _check_fit(store: Path, held_in: list[int], held_out: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    from cloudmarket.experiments.analysis import load_results

    sim = simulated_table(load_results(store).vendors)
    grouped = sim.groupby(level="step")
    mean, q05, q95 = grouped.mean(), grouped.quantile(0.05), grouped.quantile(0.95)
    obs = observed_table()
    steps = held_in + held_out
    rows = []
    for step in [0, *steps]:
        for v in FIT_VENDORS:
            rows.append({"step": step, "vendor": v, "observed": obs.loc[step, v], "mean": mean.loc[step, v],
                         "p05": q05.loc[step, v], "p95": q95.loc[step, v],
                         "held_out": step in held_out, "abs_error_pp": 100 * abs(mean.loc[step, v] - obs.loc[step, v])})
    by_quarter = pd.DataFrame(rows)
    baselines = baseline_means(steps)
    mae_rows = []
    for label, table, which in [("model", mean, held_in), ("frozen", baselines["frozen"], held_in),
                                ("trend", baselines["trend"], held_in), ("model", mean, held_out),
                                ("frozen", baselines["frozen"], held_out), ("trend", baselines["trend"], held_out)]:
        if not which:
            continue
        err = point_errors(table, which)
        mae_rows.append({"forecast": label, "quarters": "held-in" if which is held_in else "held-out",
                         **err.mean().round(3).to_dict(), "all": round(float(err.to_numpy().mean()), 3)})
    return by_quarter, pd.DataFrame(mae_rows)


def _write_outputs(out: Path, cspec: CalibrationSpec, fitted: dict[str, Any], objective: float,
                   posterior: pd.DataFrame, by_quarter: pd.DataFrame, mae: pd.DataFrame, scored: pd.DataFrame,
                   held_in: list[int], held_out: list[int]) -> list[Path]:
    from cloudmarket.experiments.store import atomic_write

    params = {**{k: v for k, v in cspec.fixed.items() if k != "steps"}, **fitted}
    fitted_toml = ("# Fitted by `cloudmarket calibrate` (objective: RMSE of spend shares, percentage points)\n"
                   f"# spec: {cspec.source}; held-in steps {held_in}, held-out steps {held_out}\n"
                   + "\n".join(f"{k} = {_toml_value(v)}" for k, v in params.items()) + "\n")
    summary = {"method": "LHS search + LHS refine + rejection-ABC acceptance (see experiments/calibration.py)",
               "objective_rmse_pp": objective, "fitted": fitted, "held_in_steps": held_in,
               "held_out_steps": held_out, "posterior": posterior.round(6).to_dict(orient="index"),
               "mae_pp": mae.to_dict(orient="records"), "points_evaluated": len(scored)}
    files = [out / "fitted.toml", out / "fit.json", out / "fit_by_quarter.csv", out / "points.csv", out / "calibration.png"]
    atomic_write(files[0], lambda p: p.write_text(fitted_toml, encoding="utf-8"))
    atomic_write(files[1], lambda p: p.write_text(json.dumps(json.loads(canonical_json(summary)), indent=2), encoding="utf-8"))
    atomic_write(files[2], lambda p: by_quarter.to_csv(p, index=False))
    atomic_write(files[3], lambda p: scored.to_csv(p, index=False))
    fig = plot_fit(by_quarter)
    atomic_write(files[4], lambda p: fig.savefig(p, dpi=110, format="png"))
    return files


def plot_fit(by_quarter: pd.DataFrame):
    """Observed Canalys points against the simulated mean with its 90% band, per vendor."""
    from cloudmarket.model.charts import plt, vendor_colour
    from cloudmarket.model.scenarios import period_label

    fig, ax = plt.subplots(figsize=(9, 4.8))
    for vendor, rows in by_quarter.groupby("vendor", sort=False):
        c = vendor_colour(vendor)
        ax.fill_between(rows.step, 100 * rows.p05, 100 * rows.p95, color=c, alpha=0.18, lw=0)
        ax.plot(rows.step, 100 * rows["mean"], color=c, lw=2, label=f"{vendor} (model mean, 90% band)")
        ax.plot(rows.step, 100 * rows.observed, "o", color=c, mec="black", ms=6)
    out = by_quarter[by_quarter.held_out]
    if len(out):
        ax.axvspan(out.step.min() - 0.5, out.step.max() + 0.5, color="grey", alpha=0.12, label="held-out quarters")
    steps = sorted(by_quarter.step.unique())
    ax.set_xticks(steps, [period_label(s) for s in steps])
    ax.plot([], [], "o", color="white", mec="black", label="Canalys observed")
    ax.set_xlabel("quarter")
    ax.set_ylabel("share of China cloud spend (%)")
    ax.set_title("china-2020 calibrated: observed vs simulated spend shares")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig

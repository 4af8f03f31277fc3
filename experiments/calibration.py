"""Pattern-oriented calibration of a scenario to its observed shares, checked out of sample.

``cloudmarket calibrate SPEC --out DIR`` (method also in ``model/ODD.md``, section 5):

1. **Patterns** (:mod:`~cloudmarket.experiments.patterns`): observed shares after the
   start, the size of one-year share changes, the HHI band and rare switching, all scored at
   once; the size of changes, the HHI and switching are scored over the whole ``horizon``
   (22 quarters), so a parameter set that tips the market is rejected by the fit itself.
2. **Search** (:mod:`~cloudmarket.experiments.abc`): ABC-SMC (adaptive population Monte
   Carlo) over uniform priors ``[calibration.ranges]``: a Latin hypercube of ``samples``
   particles, then generations of kernel moves from the best ``accept`` share until
   ``refine_samples`` more particles have been tried or the acceptance rate falls below
   ``min_acceptance``. Each particle is run ``replications`` times.
3. **Posterior**: the kept particles with their importance weights: mean, sd, 5/50/95%
   per parameter; ``fitted.toml`` holds the posterior medians.
4. **Checks**: ``final_replications`` posterior-predictive runs (particles drawn by
   weight, fresh seeds) over the horizon: each pattern's score, the largest 4-quarter
   change per vendor, the top share, the HHI path; the same for the ``fitted.toml`` point.
5. **Rolling origin** (:mod:`~cloudmarket.experiments.validation`): for each origin in
   ``origins`` the whole search is redone on the data up to that period only, and the
   later periods are forecast by the model, the model anchored at the origin, frozen
   shares and a trend; mean absolute errors per vendor.

Every random draw derives from ``[experiment] seed`` (``numpy.random.SeedSequence``), so
the same spec gives the same fit on the serial and the local backend.

Example
-------
>>> spec = parse_calibration('''
... [experiment]
... scenario = "global-2020"
... [parameters]
... n_customers = 200
... [calibration]
... samples = 8
... refine_samples = 16
... [calibration.ranges]
... switching_cost = [0.5, 6.0]
... ''')
>>> spec.origins, spec.target.after_start(), spec.max_generations
(['2020'], ['2021'], 5)
>>> parse_calibration(spec.text.replace("samples = 8", "samples = 1"))
Traceback (most recent call last):
...
cloudmarket.experiments.spec.SpecError: <spec>: calibration.samples = 1: must be a whole number in [4, 100000]
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cloudmarket.experiments.abc import ApmcResult, apmc
from cloudmarket.experiments.patterns import DEFAULT_SWITCHING_BAND, PATTERNS, Patterns
from cloudmarket.experiments.spec import MISSING, SpecError, canonical_json, parse_spec, read_toml, spec_path
from cloudmarket.experiments.targets import TARGET_SCENARIOS, Target, fold_shares, get_target
from cloudmarket.experiments.validation import (horizon_check, mae_table, model_forecasts, naive_forecasts,
                                                naive_forecasts_walk, period_means)
from cloudmarket.model.params import SCHEMA, ParameterError, current_name, resolve

_CAL_KEYS = {"samples", "refine_samples", "accept", "min_acceptance", "final_replications", "holdout",
             "horizon", "origins", "switching_band", "weights", "ranges"}
FORECASTS = ("model", "model-anchored", "frozen", "trend")


@dataclass(frozen=True)
class CalibrationSpec:
    """A validated calibration: scenario data, fixed parameters, priors, method sizes."""

    name: str
    seed: int
    replications: int
    fixed: dict[str, Any]
    ranges: dict[str, tuple[float, float]]
    target: Target
    samples: int = 100
    refine_samples: int = 200
    accept: float = 0.5
    min_acceptance: float = 0.05
    final_replications: int = 40
    holdout: int = 0
    horizon: int = 22
    origins: list[str] = field(default_factory=list)
    switching_band: tuple[float, float] = DEFAULT_SWITCHING_BAND
    weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PATTERNS, 1.0))
    source: str = "<spec>"
    text: str = field(default="", repr=False)

    @property
    def kept(self) -> int:
        return max(2, int(math.floor(self.accept * self.samples)))

    @property
    def max_generations(self) -> int:
        """The Latin hypercube plus as many kernel generations as ``refine_samples`` pays for."""
        return 1 + math.ceil(self.refine_samples / (self.samples - self.kept))

    @property
    def fit_through(self) -> str:
        """The last period the main fit sees (``holdout`` periods before the last)."""
        after = self.target.after_start()
        return after[len(after) - 1 - self.holdout] if self.holdout < len(after) else self.target.start


# --------------------------------------------------------------------- spec
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
    """Validate calibration spec text: [experiment], [parameters], [calibration] with [calibration.ranges]."""
    doc = read_toml(text, source)
    cal = doc.pop("calibration", None)
    if not isinstance(cal, dict):
        raise SpecError(source, "calibration", MISSING, "missing: a [calibration] table with [calibration.ranges]")
    unknown = sorted(set(cal) - _CAL_KEYS)
    if unknown:
        raise SpecError(source, f"calibration.{unknown[0]}", MISSING, f"unknown key; allowed: {', '.join(sorted(_CAL_KEYS))}")
    experiment = doc.get("experiment", {})
    if not isinstance(experiment, dict):
        raise SpecError(source, "experiment", experiment, "must be a table [experiment]")
    for key in ("steps", "collect"):
        if key in experiment:
            raise SpecError(source, f"experiment.{key}", experiment[key],
                            "set by the calibration (calibration.horizon); remove it")
    scenario = experiment.get("scenario", "china-2020")
    if scenario not in TARGET_SCENARIOS:
        raise SpecError(source, "experiment.scenario", scenario,
                        f"calibration data exist for {' | '.join(TARGET_SCENARIOS)}")
    target = get_target(scenario)
    ranges = _ranges(source, cal.get("ranges"), doc.get("parameters", {}))
    # [experiment] and [parameters] are those of an ordinary experiment: let its parser check
    # them, with a one-point sweep of the first calibrated parameter (already checked above).
    first = next(iter(ranges))
    doc["sweep"] = {"design": "grid", "values": {first: [_typed(first, ranges[first][0])]}}
    base = parse_spec(_to_toml(doc), source=source, base_dir=base_dir)
    fixed = dict(base.fixed)
    for corner in (0, 1):  # values valid alone may clash with the scenario (vendor names)
        try:
            resolve({**fixed, **{k: _typed(k, v[corner]) for k, v in ranges.items()}})
        except ParameterError as err:
            where = f"calibration.ranges.{err.name}" if err.name in ranges else f"parameters.{err.name}"
            raise SpecError(source, where, err.value, err.allowed) from None
    samples = _whole(source, "calibration.samples", cal.get("samples", 100), 4, 100_000)
    accept = _fraction(source, "calibration.accept", cal.get("accept", 0.5))
    if not 2 <= max(2, int(math.floor(accept * samples))) < samples:
        raise SpecError(source, "calibration.accept", accept,
                        f"must keep at least 2 and fewer than all {samples} samples (accept * samples)")
    after = target.after_start()
    k = cal.get("holdout", 0) if holdout is None else holdout
    horizon = _whole(source, "calibration.horizon", cal.get("horizon", 22), target.last_step(), 400)
    spec = CalibrationSpec(
        name=base.name, seed=base.seed, replications=base.replications, fixed=fixed, ranges=ranges, target=target,
        samples=samples,
        refine_samples=_whole(source, "calibration.refine_samples", cal.get("refine_samples", 200), 0, 1_000_000),
        accept=accept,
        min_acceptance=_fraction(source, "calibration.min_acceptance", cal.get("min_acceptance", 0.05)),
        final_replications=_whole(source, "calibration.final_replications", cal.get("final_replications", 40), 2, 100_000),
        holdout=_whole(source, "holdout" if holdout is not None else "calibration.holdout", k, 0, len(after) - 1),
        horizon=horizon,
        origins=_origins(source, cal.get("origins"), target),
        switching_band=_band(source, "calibration.switching_band", cal.get("switching_band", list(DEFAULT_SWITCHING_BAND))),
        weights=_weights(source, cal.get("weights", {})),
        source=source, text=text)
    return spec


def _ranges(source: str, table: Any, parameters: Any) -> dict[str, tuple[float, float]]:
    if not isinstance(table, dict) or not table:
        raise SpecError(source, "calibration.ranges", table if table is not None else MISSING,
                        "missing: give each calibrated parameter a uniform prior, name = [low, high]")
    fixed = {current_name(k): k for k in parameters} if isinstance(parameters, dict) else {}
    out = {}
    for name, given in table.items():
        path = f"calibration.ranges.{name}"
        name = current_name(name)  # an old name (model.params.RENAMED) calibrates its new one
        if name not in SCHEMA:
            import difflib

            near = difflib.get_close_matches(name, SCHEMA, n=3)
            raise SpecError(source, path, MISSING, "unknown parameter; "
                            + (f"did you mean {', '.join(near)}? " if near else "") + "run `cloudmarket params`")
        p = SCHEMA[name]
        if p.kind not in ("float", "int") or p.group == "run":
            raise SpecError(source, path, given, f"{name} cannot be calibrated; give a number parameter")
        if name in fixed:
            raise SpecError(source, path, given, f"also fixed at parameters.{fixed[name]}; a parameter is fixed or "
                            "calibrated")
        if not isinstance(given, list) or len(given) != 2:
            raise SpecError(source, path, given, f"must be [low, high] within {p.range_text()}")
        bounds = []
        for i, v in enumerate(given):
            try:
                bounds.append(float(p.coerce(v)))
            except ParameterError as err:
                raise SpecError(source, f"{path}[{i}]", v, err.allowed) from None
        if not bounds[0] < bounds[1]:
            raise SpecError(source, path, given, "low must be below high")
        out[name] = (bounds[0], bounds[1])
    return out


def _origins(source: str, given: Any, target: Target) -> list[str]:
    """Rolling origins: default every period from the start to the one before the last."""
    allowed = [target.start, *target.after_start()[:-1]]
    if given is None:
        return allowed
    if not isinstance(given, list) or not all(isinstance(o, str) for o in given):
        raise SpecError(source, "calibration.origins", given, f"must be a list of periods from: {', '.join(allowed)}")
    for i, origin in enumerate(given):
        if origin not in allowed:
            raise SpecError(source, f"calibration.origins[{i}]", origin,
                            f"must be a period with later data to forecast: {', '.join(allowed)}")
    return list(dict.fromkeys(given))


def _band(source: str, path: str, given: Any) -> tuple[float, float]:
    ok = (isinstance(given, list) and len(given) == 2
          and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in given)
          and 0 <= given[0] < given[1] <= 1)
    if not ok:
        raise SpecError(source, path, given, "must be [low, high] with 0 <= low < high <= 1 (annual full-switch rate)")
    return float(given[0]), float(given[1])


def _weights(source: str, given: Any) -> dict[str, float]:
    if not isinstance(given, dict):
        raise SpecError(source, "calibration.weights", given, f"must be a table of weights for {', '.join(PATTERNS)}")
    weights = dict.fromkeys(PATTERNS, 1.0)
    for name, w in given.items():
        if name not in PATTERNS:
            raise SpecError(source, f"calibration.weights.{name}", MISSING, f"unknown pattern; allowed: {', '.join(PATTERNS)}")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= 100:
            raise SpecError(source, f"calibration.weights.{name}", w, "must be a number in [0, 100]")
        weights[name] = float(w)
    if not any(weights.values()):
        raise SpecError(source, "calibration.weights", given, "at least one pattern must have a weight above 0")
    return weights


def _whole(source: str, path: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(source, path, value, f"must be a whole number in [{low}, {high}]")
    return value


def _fraction(source: str, path: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise SpecError(source, path, value, "must be a number in (0, 1)")
    return float(value)


def _to_toml(doc: dict[str, Any]) -> str:
    """Write a spec dict (tables of scalars, lists and sub-tables) back to TOML text."""
    lines: list[str] = []

    def emit(prefix: str, table: dict[str, Any]) -> None:
        lines.append(f"[{prefix}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items() if not isinstance(v, dict))
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


def _typed(name: str, value: Any) -> Any:
    return int(round(float(value))) if SCHEMA[name].kind == "int" else round(float(value), 6)


# --------------------------------------------------------------------- runs
def _simulate_task(task: tuple[dict[str, Any], int, int]) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """One run in a worker: (spend shares [step, vendor], full-switch rate [step], vendor names); None if it failed."""
    from cloudmarket.model.run import simulate_columns

    params, seed, steps = task
    try:
        vendors, market = simulate_columns(params, seed=seed, steps=steps)
    except Exception:  # noqa: BLE001 - a failed run is counted and never accepted, not a crash
        return None
    names = list(dict.fromkeys(vendors["vendor"].tolist()))
    shares = vendors["spend_share"].reshape(steps + 1, len(names))
    return shares, np.asarray(market["switch_rate"], float), names


class Runner:
    """Runs batches of (params, seed, steps) in order on the serial or local backend."""

    def __init__(self, backend: str = "local", workers: int | None = None):
        import os

        if backend not in ("serial", "local"):
            raise ValueError(f"backend = {backend!r}: calibration runs on serial | local")
        self.backend, self.workers = backend, workers or os.cpu_count() or 1
        self.pool = None
        self.failed = 0
        self.runs = 0

    def __enter__(self) -> Runner:
        if self.backend == "local" and self.workers > 1:
            from concurrent.futures import ProcessPoolExecutor

            from cloudmarket.experiments.script_guard import check_main_guard

            check_main_guard("calibrate")  # its workers import the main script again

            from cloudmarket.experiments.runner import die_with_parent, pool_context

            context = pool_context()
            parent = __import__("os").getpid() if context.get_start_method() == "fork" else None
            self.pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=die_with_parent,
                                            initargs=(parent,))
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def map(self, tasks: list[tuple[dict[str, Any], int, int]]) -> list:
        """Results in the order of ``tasks`` (so the backend never changes a fit)."""
        if self.pool is None:
            results = [_simulate_task(t) for t in tasks]
        else:
            results = list(self.pool.map(_simulate_task, tasks, chunksize=max(1, len(tasks) // (4 * self.workers))))
        self.runs += len(results)
        self.failed += sum(r is None for r in results)
        return results


def _seed(*path: int) -> int:
    return int(np.random.SeedSequence(list(path)).generate_state(1, dtype=np.uint32)[0])


def _ensemble(results: list, target: Target, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack run results into folded shares [run, step, column] and switching [run, step]; failed runs are NaN."""
    cols = len(target.columns)
    shares = np.full((len(results), horizon + 1, cols), np.nan)
    switching = np.full((len(results), horizon + 1), np.nan)
    for i, r in enumerate(results):
        if r is not None:
            shares[i] = fold_shares(r[0], r[2], target)
            switching[i] = r[1]
    return shares, switching


@dataclass
class Stage:
    """One calibration (the main fit or a rolling origin): its search, posterior and predictive runs."""

    name: str
    through: str
    patterns: Patterns
    result: ApmcResult
    evaluated: pd.DataFrame
    posterior: pd.DataFrame
    shares: np.ndarray  # posterior-predictive runs [run, step, column]
    switching: np.ndarray
    scores: dict[str, float | None]


def fit_stage(cspec: CalibrationSpec, runner: Runner, index: int, name: str, through: str) -> Stage:
    """ABC-SMC on the data up to ``through``, then posterior-predictive runs over the horizon."""
    names = list(cspec.ranges)
    lows = np.array([cspec.ranges[n][0] for n in names])
    highs = np.array([cspec.ranges[n][1] for n in names])
    patterns = Patterns.from_target(cspec.target, through, cspec.horizon, cspec.switching_band, cspec.weights)
    rows: list[dict[str, Any]] = []
    R = cspec.replications

    def distance(thetas: np.ndarray, generation: int) -> np.ndarray:
        points = [{n: _typed(n, x) for n, x in zip(names, theta, strict=True)} for theta in thetas]
        tasks = [({**cspec.fixed, **p}, _seed(cspec.seed, index, generation, i, r), cspec.horizon)
                 for i, p in enumerate(points) for r in range(R)]
        shares, switching = _ensemble(runner.map(tasks), cspec.target, cspec.horizon)
        out = np.empty(len(points))
        for i, p in enumerate(points):
            s, c = shares[i * R:(i + 1) * R], switching[i * R:(i + 1) * R]
            ok = ~np.isnan(c).any(axis=1)
            scores = patterns.scores(s[ok], c[ok]) if ok.all() else dict.fromkeys(PATTERNS)
            out[i] = patterns.distance(scores) if ok.all() else np.inf
            rows.append({"stage": name, "generation": generation, **p,
                         **{f"score_{k}": v for k, v in scores.items()}, "distance": out[i]})
        return out

    rng = np.random.default_rng(np.random.SeedSequence([cspec.seed, index, 9_999]))
    result = apmc(distance, lows, highs, cspec.samples, cspec.accept, cspec.min_acceptance,
                  cspec.max_generations, rng)
    posterior = posterior_table(result, cspec)
    draws = result.resample(cspec.final_replications, rng)
    tasks = [({**cspec.fixed, **{n: _typed(n, x) for n, x in zip(names, theta, strict=True)}},
              _seed(cspec.seed, index, 77_777, i), cspec.horizon) for i, theta in enumerate(draws)]
    shares, switching = _ensemble(runner.map(tasks), cspec.target, cspec.horizon)
    ok = ~np.isnan(switching).any(axis=1)
    shares, switching = shares[ok], switching[ok]
    return Stage(name, through, patterns, result, pd.DataFrame(rows), posterior, shares, switching,
                 patterns.scores(shares, switching))


def posterior_table(result: ApmcResult, cspec: CalibrationSpec) -> pd.DataFrame:
    """Per parameter: uniform prior bounds, weighted mean, sd, 5/50/95% and the fitted value (the median)."""
    names = list(cspec.ranges)
    q05, q50, q95 = result.quantile(0.05), result.quantile(0.5), result.quantile(0.95)
    table = pd.DataFrame({"prior_low": [cspec.ranges[n][0] for n in names],
                          "prior_high": [cspec.ranges[n][1] for n in names],
                          "mean": result.mean(), "sd": result.sd(), "q05": q05, "q50": q50, "q95": q95},
                         index=names)
    table.insert(0, "fitted", [_typed(n, v) for n, v in zip(names, q50, strict=True)])
    return table


# --------------------------------------------------------------------- calibrate
@dataclass
class CalibrationReport:
    """What :func:`calibrate` found: the fitted point, the stages, and the summary written to fit.json."""

    fitted: dict[str, Any]
    objective: float
    posterior: pd.DataFrame
    by_period: pd.DataFrame
    mae: pd.DataFrame
    rolling: pd.DataFrame
    summary: dict[str, Any]
    failed_runs: int
    files: list[Path]


def calibrate(cspec: CalibrationSpec, out: str | Path, backend: str = "local", workers: int | None = None,
              quiet: bool = True) -> CalibrationReport:
    """Fit, check and validate (see the module doc); write fitted.toml, fit.json, CSVs and calibration.png."""
    from cloudmarket.experiments.outputs import check_folder

    start = time.perf_counter()
    # every output place is checked before the fit, which may take hours (experiments/outputs.py)
    out = check_folder("--out", out, OUTPUT_FILES)
    target = cspec.target
    log = (lambda msg: None) if quiet else (lambda msg: print(msg, flush=True))
    with Runner(backend, workers) as runner:
        log(f"[{cspec.name}] fit through {cspec.fit_through}")
        main = fit_stage(cspec, runner, 0, "fit", cspec.fit_through)
        fitted = {n: _typed(n, main.posterior.loc[n, "q50"]) for n in cspec.ranges}
        point_tasks = [({**cspec.fixed, **fitted}, _seed(cspec.seed, 0, 88_888, i), cspec.horizon)
                       for i in range(cspec.final_replications)]
        point_shares, point_switching = _ensemble(runner.map(point_tasks), target, cspec.horizon)
        ok = ~np.isnan(point_switching).any(axis=1)
        point_shares, point_switching = point_shares[ok], point_switching[ok]
        stages = []
        for k, origin in enumerate(cspec.origins, start=1):
            log(f"[{cspec.name}] rolling origin {origin}")
            stages.append(fit_stage(cspec, runner, k, f"origin {origin}", origin))
        failed, runs = runner.failed, runner.runs
    by_period = by_period_table(target, main, cspec)
    mae = in_sample_mae(target, main, cspec)
    rolling, rolling_rows = rolling_scores(target, stages)
    summary = _summary(cspec, main, fitted, point_shares, point_switching, mae, rolling, rolling_rows, stages,
                       runs, failed, time.perf_counter() - start)
    files = _write_outputs(out, cspec, fitted, summary, main, stages, by_period, rolling)
    return CalibrationReport(fitted, float(main.patterns.distance(main.scores)), main.posterior, by_period, mae,
                             rolling, summary, failed, files)


def by_period_table(target: Target, stage: Stage, cspec: CalibrationSpec) -> pd.DataFrame:
    """Observed and posterior-predictive mean / 5% / 95% per period of the horizon and column."""
    labels = target.model_labels(cspec.horizon)
    vals = stage.patterns.period_values(stage.shares, labels)
    held_out = set(target.after_start()) - set(target.after_start(stage.through))
    rows = []
    for j, lab in enumerate(labels):
        for k, col in enumerate(target.columns):
            obs = float(target.observed.loc[lab, col]) if lab in target.observed.index else np.nan
            rows.append({"period": lab, "steps": "-".join(map(str, target.steps_of(lab))), "vendor": col,
                         "observed": obs, "mean": float(vals[:, j, k].mean()),
                         "p05": float(np.quantile(vals[:, j, k], 0.05)), "p95": float(np.quantile(vals[:, j, k], 0.95)),
                         "held_out": lab in held_out})
    return pd.DataFrame(rows)


def in_sample_mae(target: Target, stage: Stage, cspec: CalibrationSpec) -> pd.DataFrame:
    """MAE per vendor of the fitted model and of naive forecasts from the last observed period, held in and out.

    The naive forecasts carry forward the last observed shares (frozen) or their trend:
    for a held-in period, from the observed period just before it; for held-out periods,
    from the last period the fit saw. That is what a forecaster holding the same data
    would have done, so it is the bar the model must clear (not shares frozen at the start).
    """
    rows = []
    means = period_means(target, stage.shares, target.model_labels(cspec.horizon))
    held_in = target.after_start(stage.through)
    held_out = [lab for lab in target.after_start() if lab not in held_in]
    for quarters, labels in (("held-in", held_in), ("held-out", held_out)):
        if not labels:
            continue
        naive = (naive_forecasts_walk(target, labels) if quarters == "held-in"
                 else naive_forecasts(target, stage.through or target.observed.index[-1], labels))
        forecasts = {"model": means.loc[labels], **naive}
        table = mae_table(forecasts, target.observed.loc[labels])
        for name, row in table.iterrows():
            rows.append({"forecast": name, "quarters": quarters, **row.to_dict()})
    return pd.DataFrame(rows)


def rolling_scores(target: Target, stages: list[Stage]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Pooled MAE per forecast and vendor over every (origin, later period); and one row per origin."""
    errors = []
    per_origin = []
    for stage in stages:
        later = [lab for lab in target.after_start() if target.index_of(lab) > target.index_of(stage.through)]
        means = period_means(target, stage.shares, [stage.through, *later])
        forecasts = {**model_forecasts(target, means, stage.through, later),
                     **naive_forecasts(target, stage.through, later)}
        obs = target.observed.loc[later]
        for name in FORECASTS:
            err = (100 * (forecasts[name].loc[later, target.columns] - obs)).abs()
            errors.append(err.assign(forecast=name, origin=stage.through))
        table = mae_table({n: forecasts[n] for n in FORECASTS}, obs)
        per_origin.append({"origin": stage.through, "scored": later, "patterns": _round(stage.scores),
                           "posterior": stage.posterior.round(4).to_dict(orient="index"),
                           "mae_pp": table.to_dict(orient="index")})
    if not errors:
        return pd.DataFrame(), per_origin
    pooled = pd.concat(errors)
    table = pooled.groupby("forecast")[target.columns].mean()
    table["all"] = pooled.groupby("forecast")[target.columns].apply(lambda e: float(e.to_numpy().mean()))
    return table.loc[list(FORECASTS)].round(3), per_origin


def _round(d: dict[str, float | None]) -> dict[str, float | None]:
    return {k: (None if v is None else round(float(v), 4)) for k, v in d.items()}


def _summary(cspec: CalibrationSpec, main: Stage, fitted: dict[str, Any], point_shares: np.ndarray,
             point_switching: np.ndarray, mae: pd.DataFrame, rolling: pd.DataFrame, rolling_rows: list,
             stages: list[Stage], runs: int, failed: int, wall_s: float) -> dict[str, Any]:
    target = cspec.target
    p = main.patterns
    result = main.result
    return {
        "scenario": target.scenario,
        "data": {"source": target.source, "unit": target.unit, "start": target.start,
                 "periods": {lab: list(target.steps_of(lab)) for lab in target.labels},
                 "mapping": "a period's model value is the mean spend share over the steps listed; [] = before the start"},
        "method": {"name": "ABC-SMC: adaptive population Monte Carlo (Lenormand et al. 2013), uniform priors",
                   "samples": cspec.samples, "accept": cspec.accept, "refine_samples": cspec.refine_samples,
                   "min_acceptance": cspec.min_acceptance, "replications_per_particle": cspec.replications,
                   "generations": result.generations, "particles_simulated": result.simulations,
                   "epsilons": [round(e, 4) for e in result.epsilons],
                   "acceptance": [round(a, 4) for a in result.acceptance], "stopped": result.stopped,
                   "runs_total": runs, "runs_failed": failed, "wall_s": round(wall_s, 1)},
        "fit_through": main.through,
        "patterns": {
            "weights": cspec.weights, "horizon_steps": cspec.horizon,
            "observed": {"shares_periods": p.fit_labels, "change_rms_pp": p.change_rms_observed,
                         "hhi_band": [round(x, 1) for x in p.hhi_band], "switching_band": list(p.switching_band)},
            "posterior_predictive": _round(main.scores),
            "posterior_predictive_distance": round(p.distance(main.scores), 4),
            "fitted_point": _round(p.scores(point_shares, point_switching)),
            "kept_particles_distance": {"min": round(float(result.distances.min()), 4),
                                        "max": round(float(result.distances.max()), 4)},
        },
        "posterior": main.posterior.round(6).to_dict(orient="index"),
        "fitted": fitted,
        "horizon_check": {"posterior_predictive": horizon_check(target, main.shares),
                          "fitted_point": horizon_check(target, point_shares),
                          "annual_switch_rate": round(float(4 * main.switching[:, 1:].mean()), 5)},
        "in_sample_mae_pp": mae.to_dict(orient="records"),
        "rolling_origin": {"origins": [s.through for s in stages],
                           "pooled_mae_pp": rolling.to_dict(orient="index") if len(rolling) else {},
                           "by_origin": rolling_rows},
    }


def baseline_verdicts(mae: pd.DataFrame) -> list[str]:
    """One honest sentence per set of periods: does the model beat each naive forecast?

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


def report_text(report: CalibrationReport) -> str:
    """The printed report: patterns, posterior, 22-quarter checks, rolling-origin scores."""
    s = report.summary
    m = s["method"]
    lines = [f"{s['scenario']}: {m['name']}",
             f"  {m['generations']} generations, {m['particles_simulated']} particles x {m['replications_per_particle']} runs; "
             f"{m['runs_total']} runs in all ({m['runs_failed']} failed), {m['wall_s']:.0f} s; stopped: {m['stopped']}",
             f"  tolerance by generation: {', '.join(f'{e:.2f}' for e in m['epsilons'])}",
             "", f"objective per pattern (posterior predictive, fit through {s['fit_through']}; "
             f"distance {s['patterns']['posterior_predictive_distance']:.2f}):"]
    obs = s["patterns"]["observed"]
    notes = {"shares": f"RMSE pp over {', '.join(obs['shares_periods']) or 'no periods'}",
             "changes": f"|model - observed| RMS one-year change, pp (observed {obs['change_rms_pp']:.2f})"
             if obs["change_rms_pp"] is not None else "no observed one-year change",
             "hhi": f"mean distance outside HHI band {obs['hhi_band']}, per 100 HHI points",
             "switching": f"pp outside the annual full-switch band {obs['switching_band']}"}
    for k, v in s["patterns"]["posterior_predictive"].items():
        lines.append(f"  {k:8s} {'-' if v is None else f'{v:.3f}':>8s}   {notes[k]}")
    lines += ["", "fitted parameters (posterior; fitted = median, in fitted.toml):",
              report.posterior.to_string(float_format=lambda x: f"{x:.4g}")]
    for label, key in (("posterior predictive", "posterior_predictive"), ("fitted point", "fitted_point")):
        c = s["horizon_check"][key]
        swing = max(c["largest_4q_change_pp"].items(), key=lambda kv: kv[1])
        lines += ["", f"{c['steps']}-quarter check, {label} (ensemble mean):",
                  "  largest 4-quarter change, pp: " + ", ".join(f"{v} {x:.1f}" for v, x in c["largest_4q_change_pp"].items()),
                  f"  largest swing {swing[0]} {swing[1]:.1f} pp; top share {c['top_share']['vendor']} "
                  f"{c['top_share']['share_pct']:.1f}% (step {c['top_share']['step']}); "
                  f"HHI {c['hhi']['min']:.0f}-{c['hhi']['max']:.0f} (runs 5-95%: {c['hhi']['p05_runs']:.0f}-{c['hhi']['p95_runs']:.0f})",
                  "  final shares %: " + ", ".join(f"{v} {x:.1f}" for v, x in c["final_share_pct"].items())]
    lines += ["", "mean absolute error per vendor (percentage points), fitted model vs naive forecasts carrying the last observed shares forward:",
              report.mae.to_string(index=False), *baseline_verdicts(report.mae)]
    if len(report.rolling):
        origins = s["rolling_origin"]["origins"]
        lines += ["", f"rolling origin (refit on data up to {', '.join(origins)}; later periods scored), "
                  "MAE pp pooled over origins:", report.rolling.to_string()]
        best = report.rolling["all"].idxmin()
        lines.append(f"  lowest pooled MAE: {best}")
    return "\n".join(lines)


OUTPUT_FILES = ("fitted.toml", "fit.json", "fit_by_period.csv", "points.csv", "calibration.png")


def _write_outputs(out: Path, cspec: CalibrationSpec, fitted: dict[str, Any], summary: dict[str, Any], main: Stage,
                   stages: list[Stage], by_period: pd.DataFrame, rolling: pd.DataFrame) -> list[Path]:
    from cloudmarket.experiments.calibration_plot import plot_calibration
    from cloudmarket.experiments.outputs import publish

    params = {**cspec.fixed, **fitted}
    fitted_toml = ("# Fitted by `cloudmarket calibrate` (posterior medians; method in experiments/calibration.py)\n"
                   f"# spec: {cspec.source}; data through {main.through}\n"
                   + "\n".join(f"{k} = {_toml_value(v)}" for k, v in params.items()) + "\n")
    points = pd.concat([main.evaluated, *[s.evaluated for s in stages]], ignore_index=True)
    fig = plot_calibration(cspec.target, main.shares, main.patterns, summary, rolling)
    files = [out / name for name in OUTPUT_FILES]
    # all five or none: a failed write (full disk) leaves the earlier fit's files as they were
    publish([(files[0], lambda p: p.write_text(fitted_toml, encoding="utf-8")),
             (files[1], lambda p: p.write_text(json.dumps(json.loads(canonical_json(summary)), indent=2),
                                               encoding="utf-8")),
             (files[2], lambda p: by_period.to_csv(p, index=False)),
             (files[3], lambda p: points.to_csv(p, index=False)),
             (files[4], lambda p: fig.savefig(p, dpi=110, format="png"))])
    return files

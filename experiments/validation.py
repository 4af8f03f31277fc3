"""Checks of a fitted ensemble: naive forecasts, rolling-origin scores, the long-horizon check.

* **Naive forecasts** made at an origin period o from the data up to o: *frozen* (every
  later share equals the share at o) and *trend* (a least-squares line through the last
  three observed periods up to o, pre-start ones included, extended; with a single
  observed period it is the frozen forecast).
* **Rolling origin**: a calibration fitted to the periods up to o forecasts the later
  observed periods; the mean absolute error in percentage points, per vendor, is set
  against the frozen and trend forecasts from the same origin. *model* is the fitted
  ensemble's mean (it starts at 2020Q3, as every run does); *model-anchored* adds the
  model's change from o to the observed share at o, using the same information as the
  naive forecasts.
* **Horizon check**: over the full run (22 quarters by default), the largest 4-quarter
  change per vendor, the top share and the HHI path.

Example
-------
>>> from cloudmarket.experiments.targets import china_target
>>> t = china_target()
>>> f = naive_forecasts(t, "2021Q1", ["2021Q2", "2021Q3"])
>>> round(float(f["frozen"].loc["2021Q3", "alibaba"]), 3), round(float(f["trend"].loc["2021Q2", "huawei"]), 4)
(0.398, 0.2127)
>>> float(mae_table(f, t.observed.loc[["2021Q2", "2021Q3"]]).loc["frozen", "alibaba"])
3.75
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cloudmarket.experiments.patterns import hhi_path
from cloudmarket.experiments.targets import Target

TREND_PERIODS = 3


def naive_forecasts(target: Target, origin: str, labels: list[str]) -> dict[str, pd.DataFrame]:
    """Frozen and trend forecasts of ``labels`` made from the data up to ``origin``."""
    seen = target.up_to(origin)
    obs = target.observed
    frozen = pd.DataFrame([obs.loc[origin].to_numpy()] * len(labels), index=labels, columns=target.columns)
    last = seen[-TREND_PERIODS:]
    if len(last) < 2:  # one observed period: no trend to extend, the trend is the frozen share
        return {"frozen": frozen, "trend": frozen.copy()}
    x = np.array([target.index_of(lab) for lab in last])
    slope, intercept = np.polyfit(x, obs.loc[last].to_numpy(), 1)
    xs = np.array([target.index_of(lab) for lab in labels])
    trend = pd.DataFrame(xs[:, None] * slope + intercept, index=labels, columns=target.columns)
    return {"frozen": frozen, "trend": trend}


def naive_forecasts_walk(target: Target, labels: list[str]) -> dict[str, pd.DataFrame]:
    """Frozen and trend forecasts of each of ``labels`` from the observed period just before it.

    >>> from cloudmarket.experiments.targets import china_target
    >>> f = naive_forecasts_walk(china_target(), ["2021Q2", "2021Q3"])
    >>> round(float(f["frozen"].loc["2021Q3", "alibaba"]), 3) == round(float(china_target().observed.loc["2021Q2", "alibaba"]), 3)
    True
    """
    observed = list(target.observed.index)
    frozen, trend = [], []
    for lab in labels:
        before = observed[observed.index(lab) - 1]
        one = naive_forecasts(target, before, [lab])
        frozen.append(one["frozen"])
        trend.append(one["trend"])
    return {"frozen": pd.concat(frozen), "trend": pd.concat(trend)}


def model_forecasts(target: Target, period_means: pd.DataFrame, origin: str, labels: list[str]) -> dict[str, pd.DataFrame]:
    """The ensemble mean for ``labels`` and its anchored version (observed at origin + model change).

    ``period_means`` is the ensemble mean share per period (index: labels incl. ``origin``).
    """
    model = period_means.loc[labels]
    anchored = model - period_means.loc[origin] + target.observed.loc[origin]
    return {"model": model, "model-anchored": anchored}


def mae_table(forecasts: dict[str, pd.DataFrame], observed: pd.DataFrame) -> pd.DataFrame:
    """Mean absolute error in percentage points per forecast (rows) and vendor (columns, + 'all')."""
    rows = {}
    for name, table in forecasts.items():
        err = (100 * (table.loc[observed.index, observed.columns] - observed)).abs()
        rows[name] = {**err.mean().to_dict(), "all": float(err.to_numpy().mean())}
    return pd.DataFrame.from_dict(rows, orient="index").round(3)


def period_means(target: Target, shares: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """Ensemble-mean share per period (rows) and column, from ``shares[run, step, column]``."""
    rows = [shares[:, list(target.steps_of(lab)), :].mean(axis=(0, 1)) for lab in labels]
    return pd.DataFrame(rows, index=labels, columns=target.columns)


def horizon_check(target: Target, shares: np.ndarray) -> dict:
    """Long-run behaviour of an ensemble ``shares[run, step, column]`` (steps 0..horizon).

    The largest 4-quarter change is taken on the ensemble-mean path (the mean of seeds, as
    the issue that asked for it measured) and, per run, as the median over runs of each
    run's largest change; the HHI is that of the named vendors, as observed.

    >>> from cloudmarket.experiments.targets import china_target
    >>> s = np.tile(np.array([0.40, 0.16, 0.16, 0.08, 0.20]), (2, 9, 1))
    >>> s[:, 8, :2] = [0.36, 0.20]
    >>> c = horizon_check(china_target(), s)
    >>> c["largest_4q_change_pp"]["alibaba"], c["top_share"]["vendor"], c["hhi"]["min"]
    (4.0, 'alibaba', 2016.0)
    """
    mean = shares.mean(axis=0)
    steps = shares.shape[1] - 1
    lag = min(4, steps)
    swings = np.abs(mean[lag:] - mean[:-lag]) if lag else np.zeros((1, mean.shape[1]))
    per_run = np.abs(shares[:, lag:] - shares[:, :-lag]).max(axis=1) if lag else np.zeros(shares.shape[::2])
    hhi = hhi_path(shares, target)
    hhi_mean = hhi.mean(axis=0)
    top = np.unravel_index(np.argmax(mean), mean.shape)
    return {
        "steps": int(steps),
        "largest_4q_change_pp": {c: round(float(100 * swings[:, k].max()), 2) for k, c in enumerate(target.columns)},
        "largest_4q_change_pp_median_run": {c: round(float(100 * np.median(per_run[:, k])), 2)
                                           for k, c in enumerate(target.columns)},
        "top_share": {"vendor": target.columns[top[1]], "share_pct": round(float(100 * mean[top]), 2),
                      "step": int(top[0])},
        "final_share_pct": {c: round(float(100 * mean[-1, k]), 2) for k, c in enumerate(target.columns)},
        "hhi": {"min": round(float(hhi_mean.min()), 1), "max": round(float(hhi_mean.max()), 1),
                "p05_runs": round(float(np.quantile(hhi[:, 1:], 0.05)), 1) if steps else None,
                "p95_runs": round(float(np.quantile(hhi[:, 1:], 0.95)), 1) if steps else None,
                "path": [round(float(h), 1) for h in hhi_mean]},
    }

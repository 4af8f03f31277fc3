"""The calibration figure: observed shares, the fitted ensemble over the horizon, HHI, forecast scores.

Three panels, to be read at a glance:

1. Shares per vendor against model step (0 = 2020Q3): observed points (hollow before
   the start), the posterior-predictive mean and 90% band for every quarter of the
   horizon, with the span beyond the last observation shaded as the continuation.
2. The HHI of the named vendors: ensemble mean, 90% band over runs, the observed points
   and the band the calibration scores against.
3. Rolling-origin mean absolute errors per vendor for the model, the model anchored at
   the origin, frozen shares and the trend (when origins were run).

Example
-------
>>> from cloudmarket.experiments.patterns import Patterns
>>> from cloudmarket.experiments.targets import china_target
>>> t = china_target()
>>> shares = np.tile(t.observed.loc["2020Q3"].to_numpy(), (3, 9, 1))
>>> fig = plot_calibration(t, shares, Patterns.from_target(t, None, 8), {"fit_through": "2021Q3"}, pd.DataFrame())
>>> len(fig.axes)
2
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cloudmarket.experiments.patterns import Patterns, hhi_path
from cloudmarket.experiments.targets import Target


def _x(target: Target, label: str) -> float:
    """Where a period sits on the step axis: the middle of its steps (pre-start: by its time)."""
    steps = target.steps_of(label)
    if steps:
        return float(np.mean(steps))
    return target.index_of(label) * (4 if target.unit == "year" else 1)


def plot_calibration(target: Target, shares: np.ndarray, patterns: Patterns, summary: dict, rolling: pd.DataFrame):
    """The figure for ``shares[run, step, column]`` (posterior-predictive runs over the horizon)."""
    from cloudmarket.model.charts import plt, vendor_colour
    from cloudmarket.model.scenarios import period_label

    has_rolling = len(rolling) > 0
    fig = plt.figure(figsize=(13, 8.2 if has_rolling else 5.2))
    grid = fig.add_gridspec(2 if has_rolling else 1, 3, height_ratios=[1.25, 1] if has_rolling else [1])
    ax = fig.add_subplot(grid[0, :2])
    ax_h = fig.add_subplot(grid[0, 2])
    steps = np.arange(shares.shape[1])
    last_obs = max(_x(target, lab) for lab in target.after_start()) if target.after_start() else 0
    first_x = min(_x(target, lab) for lab in target.labels)
    for k, col in enumerate(target.columns):
        c = vendor_colour("aws" if col == "amazon" else col)
        mean = 100 * shares[:, :, k].mean(axis=0)
        lo, hi = (100 * np.quantile(shares[:, :, k], q, axis=0) for q in (0.05, 0.95))
        ax.fill_between(steps, lo, hi, color=c, alpha=0.15, lw=0)
        ax.plot(steps, mean, color=c, lw=2, label=col)
        xs = [_x(target, lab) for lab in target.labels]
        ys = 100 * target.observed[col].to_numpy()
        pre = np.array([not target.steps_of(lab) for lab in target.labels])
        ax.plot(np.array(xs)[~pre], ys[~pre], "o", color=c, mec="black", ms=6, zorder=5)
        ax.plot(np.array(xs)[pre], ys[pre], "o", mfc="white", mec=c, mew=1.5, ms=6, zorder=5)
    for a in (ax, ax_h):
        a.axvspan(last_obs + 0.5, steps[-1] + 0.3, color="grey", alpha=0.08)
        a.axvline(0, color="black", lw=0.8, ls=":")
        a.set_xlim(first_x - 0.7, steps[-1] + 0.3)
        a.grid(alpha=0.3)
    ticks = list(range(int(np.ceil(first_x)), int(steps[-1]) + 1, 2))
    ax.set_xticks(ticks, [period_label(s) for s in ticks], rotation=45, ha="right", fontsize=8)
    ax.text(last_obs + 0.8, ax.get_ylim()[1] * 0.97, "continuation: no data", va="top", fontsize=8, color="dimgrey")
    ax.plot([], [], "o", color="white", mec="black", label=f"observed ({target.source.split(',')[0]})")
    ax.plot([], [], "o", mfc="white", mec="grey", label="observed before the start")
    ax.fill_between([], [], [], color="grey", alpha=0.3, label="model 90% band")
    ax.set_ylabel("share (%)")
    ax.set_title(f"{target.scenario}: fitted ensemble (posterior predictive, {shares.shape[0]} runs), "
                 f"fit through {summary.get('fit_through', '?')}", fontsize=10)
    ax.legend(fontsize=7.5, ncol=5, loc="upper left", bbox_to_anchor=(0.0, -0.17))

    hhi = hhi_path(shares, target)
    ax_h.fill_between(steps, np.quantile(hhi, 0.05, axis=0), np.quantile(hhi, 0.95, axis=0), color="tab:purple",
                      alpha=0.18, lw=0, label="model 90% of runs")
    ax_h.plot(steps, hhi.mean(axis=0), color="tab:purple", lw=2, label="model mean")
    lo, hi = patterns.hhi_band
    ax_h.axhspan(lo, hi, color="tab:green", alpha=0.12, label=f"scored band {lo:.0f}-{hi:.0f}")
    obs_hhi = target.observed_hhi()
    ax_h.plot([_x(target, lab) for lab in obs_hhi.index], obs_hhi.to_numpy(), "o", color="black", ms=5,
              label="observed")
    ax_h.set_xticks(ticks[::2], [period_label(s) for s in ticks[::2]], rotation=45, ha="right",
                    fontsize=8)
    ax_h.set_title("HHI of the named vendors", fontsize=10)
    ax_h.legend(fontsize=7.5, loc="lower left")

    if has_rolling:
        ax_r = fig.add_subplot(grid[1, :])
        cols = [c for c in rolling.columns]
        width = 0.8 / len(rolling.index)
        palette = {"model": "tab:blue", "model-anchored": "tab:cyan", "frozen": "grey", "trend": "tab:orange"}
        for i, name in enumerate(rolling.index):
            ax_r.bar(np.arange(len(cols)) + (i - (len(rolling.index) - 1) / 2) * width, rolling.loc[name, cols],
                     width, label=name, color=palette.get(name))
        ax_r.set_xticks(np.arange(len(cols)), cols)
        origins = summary.get("rolling_origin", {}).get("origins", [])
        ax_r.set_ylabel("mean absolute error (pp)")
        ax_r.set_title(f"out of sample: rolling origins {', '.join(origins)}, each refitted on data up to its "
                       "origin; later observed periods scored", fontsize=10)
        ax_r.legend(fontsize=8)
        ax_r.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig

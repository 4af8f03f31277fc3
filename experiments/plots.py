"""Charts of an experiment store: a vendor's share over time at every design point.

Colours come from model.charts.vendor_colour, so a vendor looks the same as in the
single-run charts and the browser; design points are told apart by shade and line style.

Example
-------
    from cloudmarket.experiments import load_results
    from cloudmarket.experiments.plots import plot_vendor_share
    fig = plot_vendor_share(load_results("results/quick"), "huawei")
    fig.savefig("results/quick/huawei_share.png")
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cloudmarket.experiments.analysis import AnalysisError, Results, mean_ci


def share_paths(results: Results, vendor: str, column: str = "spend_share") -> pd.DataFrame:
    """Per design point and step: mean ``column`` of ``vendor`` over replications, with 95% CI."""
    rows = results.sql(
        f"SELECT r.point, v.step, v.{column} AS value FROM vendors v JOIN runs r USING (run_id) "
        f"WHERE v.vendor = '{vendor.replace(chr(39), '')}' ORDER BY r.point, v.step")
    if rows.empty:
        known = results.sql("SELECT DISTINCT vendor FROM vendors ORDER BY 1").vendor.tolist()
        raise AnalysisError(f"--vendor = {vendor!r}: no such vendor in the store; vendors: {', '.join(known)}")
    out = []
    for (point, step), group in rows.groupby(["point", "step"], sort=True):
        mean, low, high = mean_ci(group.value.to_numpy())
        out.append({"point": point, "step": step, "mean": mean, "ci_low": low, "ci_high": high, "runs": len(group)})
    return pd.DataFrame(out)


def plot_vendor_share(results: Results, vendor: str, column: str = "spend_share"):
    """Line per design point of ``vendor``'s mean share (percent) by quarter, 95% CI bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb

    from cloudmarket.model.charts import vendor_colour

    paths = share_paths(results, vendor, column)
    labels = _point_labels(results)
    base = np.array(to_rgb(vendor_colour(vendor)))
    points = sorted(paths.point.unique())
    styles = ["-", "--", ":", "-."]
    fig, ax = plt.subplots(figsize=(9.5, 4.8))
    for i, point in enumerate(points):
        # Later design points darker: mix the vendor colour with white, then with black.
        t = i / max(len(points) - 1, 1)
        colour = base * (1 - 0.55 * t) + (1 - base) * 0.45 * (1 - t)
        line = paths[paths.point == point]
        ax.plot(line.step, 100 * line["mean"], color=colour, ls=styles[i % len(styles)], lw=2,
                label=f"{labels.get(point, point)} (n={int(line.runs.iloc[-1])})")
        if line.ci_low.notna().any():
            ax.fill_between(line.step, 100 * line.ci_low, 100 * line.ci_high, color=colour, alpha=0.15, lw=0)
    label = "spend" if column == "spend_share" else "customers" if column == "share" else column
    ax.set_ylabel(f"{vendor} share of {label} (%)")
    ax.set_xlabel("quarter (step 0 = 2020Q3)")
    ax.set_title(f"{results.manifest['name']}: {vendor} share of {label}, mean and 95% CI over replications")
    if len(points) <= 12:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="design point")
    else:  # a sampled design has too many points to name; the shade runs with the point index
        ax.text(1.01, 1.0, f"{len(points)} design points\n(lighter = earlier)", transform=ax.transAxes,
                va="top", fontsize=8)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _point_labels(results: Results) -> dict[int, str]:
    runs = results.runs.drop_duplicates("point")
    return {int(r.point): ", ".join(f"{k}={_short(r[k])}" for k in results.swept) for _, r in runs.iterrows()}


def _short(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)

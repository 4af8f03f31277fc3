"""Charts of an experiment store, shaped by its design, and a helper to show figures with alt text.

* A grid store: a vendor's share over time, one colour per value of the first swept
  parameter and one line style per value of the second, both in the legend (further
  swept parameters are pooled, as the title says), with 95% bands when every line has
  at least three runs.
* An LHS or Sobol' store: the final value over the parameter space (a scatter of the first
  two swept parameters coloured by the outcome) and partial-dependence lines (the mean
  outcome in bins of each parameter, averaged over the others), one panel per parameter.

Titles name the store and the parameters the spec set (the levers that were set). Vendor
colours come from ``model.charts.vendor_colour``; lever values use a colour map of their
own, so they are never mistaken for vendors.

Example
-------
    from cloudmarket.experiments import load_results
    from cloudmarket.experiments.plots import plot_vendor_share
    fig = plot_vendor_share(load_results("results/quick"), "huawei")
    fig.savefig("results/quick/huawei_share.png")
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import pandas as pd

from cloudmarket.experiments.analysis import (AnalysisError, Metric, MIN_CI_RUNS, Results, SHARE_COLUMNS,
                                              mean_ci)

LINE_STYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)), (0, (8, 3))]
MAX_PD_PANELS = 6  # partial-dependence panels shown; the title says when more were swept
PD_BINS = 8


def share_paths(results: Results, vendor: str, column: str = "spend_share",
                by: list[str] | None = None) -> pd.DataFrame:
    """Per design point (or per value of ``by``) and step: mean ``column`` of ``vendor``, 95% CI, runs."""
    rows = results.sql(
        f"SELECT r.point, v.run_id, v.step, v.{column} AS value FROM vendors v JOIN runs r USING (run_id) "
        f"WHERE v.vendor = '{vendor.replace(chr(39), '')}' ORDER BY r.point, v.step")
    if rows.empty:
        known = results.sql("SELECT DISTINCT vendor FROM vendors ORDER BY 1").vendor.tolist()
        if not known:
            raise AnalysisError(f"{results.root}: no finished runs to plot yet (see `cloudmarket status`)")
        raise AnalysisError(f"--vendor = {vendor!r}: no such vendor in the store; vendors: {', '.join(known)}")
    keys = ["point"] if by is None else list(by)
    if by is not None:
        params = _hashable_params(results, by)
        rows = rows.merge(params, on="run_id")
    bounds = (0.0, 1.0) if column in SHARE_COLUMNS else None
    out = []
    for key, group in rows.groupby([*keys, "step"], sort=True):
        mean, low, high = mean_ci(group.value.to_numpy(), bounds=bounds)
        out.append({**dict(zip([*keys, "step"], key, strict=True)), "mean": mean, "ci_low": low,
                    "ci_high": high, "runs": len(group)})
    return pd.DataFrame(out)


def _hashable_params(results: Results, names: list[str]) -> pd.DataFrame:
    runs = results.parameters()[["run_id", *names]].copy()
    for n in names:
        runs[n] = runs[n].map(lambda v: ",".join(map(str, v)) or "(none)" if isinstance(v, (list, np.ndarray)) else v)
    return runs


def settings_line(results: Results, width: int = 120) -> str:
    """The parameters the spec set (not swept), as ``name=value`` text wrapped to ``width``."""
    fixed = results.fixed_parameters()
    if not fixed:
        return "all other parameters at their defaults"
    text = ", ".join(f"{k}={_short(v)}" for k, v in fixed.items())
    return textwrap.fill("set: " + text + "; others at defaults", width)


def _metric_label(column: str, vendor: str) -> str:
    return Metric(column, vendor).describe()


def plot_vendor_share(results: Results, vendor: str, column: str = "spend_share"):
    """The chart that fits the store's design: lines for a grid, parameter space for LHS / Sobol'."""
    design = results.manifest["design"]["design"]
    if design in ("lhs", "sobol") and results.swept:
        return plot_parameter_space(results, Metric(column, vendor))
    return plot_grid_lines(results, vendor, column)


def _pyplot():
    from cloudmarket.model.plot_backend import pyplot

    return pyplot


def level_colours(n: int) -> list[Any]:
    """n clearly different colours for ordered values of a lever (viridis, without its pale end).

    >>> len(level_colours(4)), level_colours(1)[0] == level_colours(3)[0]
    (4, True)
    """
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(x) for x in (np.linspace(0.0, 0.85, n) if n > 1 else [0.0])]


def plot_grid_lines(results: Results, vendor: str, column: str = "spend_share"):
    """``vendor``'s mean ``column`` by quarter: colour = first swept parameter, style = second."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    swept = results.swept
    by = swept[:2]
    pooled = swept[2:]
    paths = share_paths(results, vendor, column, by=by or None)
    colour_key, style_key = (by + [None, None])[:2]
    colour_values = _ordered(paths[colour_key]) if colour_key else [None]
    style_values = _ordered(paths[style_key]) if style_key else [None]
    if len(style_values) > len(LINE_STYLES):
        raise AnalysisError(f"{results.root}: {style_key} has {len(style_values)} values; a line chart tells "
                            f"at most {len(LINE_STYLES)} apart by style (use discover or compare instead)")
    colours = dict(zip(colour_values, level_colours(len(colour_values)), strict=True))
    styles = dict(zip(style_values, LINE_STYLES, strict=False))
    fig, ax = plt.subplots(figsize=(10, 5.2))
    scale = 100.0 if column in SHARE_COLUMNS else 1.0
    no_band = False
    groups = [((), paths)] if not by else paths.groupby(by, sort=False)
    for key, line in groups:
        key = key if isinstance(key, tuple) else (key,)
        c = colours[key[0]] if colour_key else "black"
        ls = styles[key[1]] if style_key else "-"
        line = line.sort_values("step")
        ax.plot(line.step, scale * line["mean"], color=c, ls=ls, lw=2)
        if line.ci_low.notna().all():
            ax.fill_between(line.step, scale * line.ci_low, scale * line.ci_high, color=c, alpha=0.12, lw=0)
        else:
            no_band = True
    handles = []
    if colour_key:
        handles.append(Line2D([], [], ls="", label=f"colour: {colour_key}"))
        handles += [Line2D([], [], color=colours[v], lw=3, label=f"  {_short(v)}") for v in colour_values]
    if style_key:
        handles.append(Line2D([], [], ls="", label=f"line style: {style_key}"))
        handles += [Line2D([], [], color="black", ls=styles[v], lw=2, label=f"  {_short(v)}") for v in style_values]
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), handlelength=3)
    runs = int(paths.runs.min()), int(paths.runs.max())
    n_text = f"n = {runs[0]} runs per line" if runs[0] == runs[1] else f"n = {runs[0]}-{runs[1]} runs per line"
    band = (f"no 95% bands: fewer than {MIN_CI_RUNS} runs per line" if no_band
            else "bands: 95% CI of the mean")
    pool = f"; pooled over {', '.join(pooled)}" if pooled else ""
    label = _metric_label(column, vendor)
    ax.set_ylabel(f"{label} ({'%' if scale == 100 else column})")
    ax.set_xlabel("quarter (step 0 = 2020Q3)")
    head = textwrap.fill(f"{results.manifest['name']}: {label}, mean over replications ({n_text}; {band}{pool})", 110)
    ax.set_title(f"{head}\n{settings_line(results)}", fontsize=9)
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # quarters are whole steps
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.alt_text = (f"Line chart of {label} by quarter for each combination of "
                    f"{' and '.join(by) or 'the single design point'}; colour shows {colour_key or 'nothing'}, "
                    f"line style shows {style_key or 'nothing'}.")
    return fig


def _ordered(values: pd.Series) -> list[Any]:
    unique = list(dict.fromkeys(values))
    try:
        return sorted(unique)
    except TypeError:
        return unique


def final_by_point(results: Results, metric: Metric) -> pd.DataFrame:
    """One row per design point: swept parameters, mean final value over replications, runs."""
    finals = results.final(metric)
    keys = results.swept
    return (finals.groupby("point", sort=True)
            .agg(**{k: (k, "first") for k in keys}, value=("value", "mean"), runs=("value", "size"))
            .reset_index())


def partial_dependence(points: pd.DataFrame, name: str, bins: int = PD_BINS, bounds=None) -> pd.DataFrame:
    """Mean outcome in quantile bins of ``name`` (averaged over the other parameters), 95% CI.

    In a Latin hypercube or Sobol' sample the other parameters are spread evenly within
    every bin, so the bin means trace the parameter's average effect.

    >>> pts = pd.DataFrame({"a": np.linspace(0, 1, 40), "value": np.linspace(0, 1, 40)})
    >>> pd_ = partial_dependence(pts, "a", bins=4)
    >>> pd_["mean"].round(2).tolist(), int(pd_.runs.sum())
    ([0.12, 0.37, 0.63, 0.88], 40)
    """
    x = points[name].astype(float)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, min(bins, x.nunique()) + 1)))
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    rows = []
    for b in range(len(edges) - 1):
        values = points.value.to_numpy()[which == b]
        if not len(values):
            continue
        mean, low, high = mean_ci(values, bounds=bounds)
        rows.append({"x": float(x[which == b].mean()), "mean": mean, "ci_low": low, "ci_high": high,
                     "runs": len(values)})
    return pd.DataFrame(rows)


def plot_parameter_space(results: Results, metric: Metric | str):
    """Final value over the sampled parameter space, and partial dependence on each parameter."""
    from cloudmarket.experiments.analysis import parse_metric

    plt = _pyplot()
    metric = parse_metric(metric) if isinstance(metric, str) else metric
    points = final_by_point(results, metric)
    numeric = [n for n in results.swept if pd.api.types.is_numeric_dtype(points[n])]
    shown = numeric[:MAX_PD_PANELS]
    scale = 100.0 if metric.is_share else 1.0
    unit = "%" if scale == 100 else metric.column
    label = metric.describe()
    n_pd = max(len(shown), 1)
    fig = plt.figure(figsize=(max(10.0, 3.1 * n_pd), 8.6))
    grid = fig.add_gridspec(2, n_pd, height_ratios=[1.25, 1.0])
    ax = fig.add_subplot(grid[0, :])
    values = scale * points.value
    if len(shown) >= 2:
        sc = ax.scatter(points[shown[0]], points[shown[1]], c=values, cmap="viridis", s=36,
                        edgecolor="white", linewidth=0.4)
        ax.set_xlabel(shown[0])
        ax.set_ylabel(shown[1])
        bar = fig.colorbar(sc, ax=ax, pad=0.01)
        bar.set_label(f"{label} at the final step ({unit})")
        space = f"each dot a design point at its {shown[0]} and {shown[1]}, coloured by the outcome"
    else:
        ax.scatter(points[shown[0]], values, color="#444444", s=20)
        ax.set_xlabel(shown[0])
        ax.set_ylabel(f"{label} ({unit})")
        space = f"each dot a design point"
    ax.grid(alpha=0.3)
    reps = int(points.runs.max())
    left_out = [n for n in results.swept if n not in shown]
    note = f"; not drawn: {', '.join(left_out)}" if left_out else ""
    ax.set_title(f"{results.manifest['name']} ({results.manifest['design']['design']} design, {len(points)} points, "
                 f"mean of {reps} replication{'s' if reps > 1 else ''}): {label} at the final step\n"
                 f"{space}{note}\n{settings_line(results)}", fontsize=9)
    bounds = (0.0, 1.0) if metric.is_share else None
    for k, name in enumerate(shown):
        pax = fig.add_subplot(grid[1, k], sharey=None)
        pd_ = partial_dependence(points, name, bounds=bounds)
        pax.scatter(points[name], values, s=6, color="#bbbbbb", label="design point")
        pax.plot(pd_.x, scale * pd_["mean"], color="black", lw=2, marker="o", ms=3, label="bin mean")
        if pd_.ci_low.notna().all():
            pax.fill_between(pd_.x, scale * pd_.ci_low, scale * pd_.ci_high, color="black", alpha=0.12, lw=0,
                             label="95% CI")
        pax.set_xlabel(name, fontsize=8)
        if k == 0:
            pax.set_ylabel(f"{label} ({unit})", fontsize=8)
            pax.legend(fontsize=7, loc="best")
        pax.tick_params(labelsize=7)
        pax.grid(alpha=0.3)
    fig.text(0.5, 0.005, f"partial dependence: mean final outcome in {PD_BINS} equal-count bins of each parameter, "
             "averaged over the others", ha="center", fontsize=8, color="#444444")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    fig.alt_text = (f"Scatter of the sampled {' and '.join(shown[:2])} coloured by {label} at the final step, "
                    f"and partial-dependence lines of {label} on {', '.join(shown)}.")
    return fig


def show_figure(fig, alt: str, name: str | None = None, fig_dir: str | None = None, dpi: int = 110):
    """Show ``fig`` in a notebook as a PNG carrying ``alt`` text, save it under ``fig_dir``, close it.

    The PNG also carries ``alt`` as its Description, so the saved file describes itself.
    """
    import io
    from pathlib import Path

    from IPython.display import Image, display

    plt = _pyplot()
    metadata = {"Description": alt}
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata=metadata)
    if fig_dir and name:
        Path(fig_dir).mkdir(parents=True, exist_ok=True)
        (Path(fig_dir) / f"{name}.png").write_bytes(buffer.getvalue())
    plt.close(fig)
    display(Image(data=buffer.getvalue(), format="png", alt=alt))


def _short(value) -> str:
    if isinstance(value, (list, tuple, np.ndarray)):
        return ",".join(map(str, value)) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)

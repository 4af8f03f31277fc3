"""Scenario discovery on a store: which parameter ranges lead to an outcome of interest.

A run is a *case of interest* when its metric is below (or above) a threshold, e.g.
Huawei's final share of spend below 5%. PRIM (patient rule induction) or CART, both from
EMA Workbench's analysis package, then look for boxes in the space of the swept
parameters that hold many cases of interest (*density*: share of the runs in the box
that are cases) and much of them (*coverage*: share of all cases that fall in the box).
Extra-trees feature scores rank every varied parameter by how much it tells about the
outcome.

The box kept from PRIM's peeling trajectory is the one with the highest coverage among
those with a density of at least ``min_density`` (0.8 by default), so the printed box is a
reading of the trade-off curve that is written beside it, not a hidden choice.

Example
-------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> x = pd.DataFrame({"severity": rng.random(400), "switching_cost": 4 * rng.random(400)})
>>> found = find_boxes(x, (x.severity > 0.6).to_numpy(), method="prim")
>>> box = found.boxes[0]
>>> round(box.coverage, 2), box.density > 0.9, box.limits.parameter.tolist()
(1.0, True, ['severity'])
>>> bool(0.5 < box.limits.low.iloc[0] < 0.65), bool(box.limits.high.iloc[0] == x.severity.max())
(True, True)
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cloudmarket.experiments.analysis import AnalysisError, Metric, Results, parse_metric

METHODS = ("prim", "cart")
MIN_DENSITY = 0.8  # a box must hold at least this share of cases of interest to be reported as one
MAX_BOXES = 3  # PRIM's covering stops after this many boxes
MIN_CASES = 3  # fewer cases of interest (or fewer other runs) than this: nothing to discover


@dataclass
class Box:
    """One box: its statistics and the limits of each parameter it restricts."""

    number: int
    coverage: float  # share of all cases of interest inside the box
    density: float  # share of the runs inside the box that are cases of interest
    mass: float  # share of all runs inside the box
    runs: int  # runs inside the box
    limits: pd.DataFrame  # parameter, low, high (numbers) or values (categories), qp (PRIM)
    trajectory_index: int | None = None  # PRIM: the chosen point on the peeling trajectory

    def describe(self) -> list[str]:
        """Lines of text: the statistics, then one line per restricted parameter."""
        head = (f"box {self.number}: coverage {self.coverage:.2f}, density {self.density:.2f}, "
                f"mass {self.mass:.2f} ({self.runs} runs)")
        if self.density < MIN_DENSITY:
            head += f"  [below the density target {MIN_DENSITY:.2f}: a weak box]"
        lines = [head]
        if self.limits.empty:
            lines.append("    (no parameter restricted: the box is the whole sampled space)")
        for _, r in self.limits.iterrows():
            if isinstance(r.get("values"), str) and r["values"]:
                text = f"in {{{r['values']}}}"
            else:
                text = f"{_num(r.low)} <= value <= {_num(r.high)}"
            qp = r.get("qp")
            note = f"   (quasi-p {qp:.2g})" if isinstance(qp, float) and qp == qp else ""
            lines.append(f"    {r.parameter:<26} {text}{note}")
        return lines


@dataclass
class Discovery:
    """What ``discover`` found, with what it needs to draw its figures."""

    metric: Metric
    condition: str  # e.g. "spend_share:huawei < 0.05 at the final step"
    cases: int
    runs: int
    method: str
    boxes: list[Box]
    scores: pd.DataFrame  # parameter, score (extra-trees feature importance), sorted
    fixed: list[str]  # parameters constant in the store, left out of the analysis
    x: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    y: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, dtype=bool))
    engine: Any = field(repr=False, default=None)  # the Prim or CART object
    prim_boxes: list[Any] = field(repr=False, default_factory=list)

    def report(self) -> str:
        """The text ``cloudmarket discover`` prints."""
        lines = [f"scenario discovery ({self.method.upper()}, EMA Workbench): {self.condition}",
                 f"cases of interest: {self.cases} of {self.runs} runs ({self.cases / self.runs:.0%})"]
        if self.fixed:
            lines.append(f"not analysed: {len(self.fixed)} parameters constant in this store "
                         "(fixed by the spec or at their defaults)")
        lines.append("")
        for box in self.boxes:
            lines += box.describe()
        if not self.boxes:
            lines.append("no box found")
        lines.append("")
        lines.append("feature scores (extra trees; share of the explanation, sums to 1):")
        lines += [f"    {r.parameter:<26} {r.score:.3f}" for _, r in self.scores.iterrows()]
        return "\n".join(lines)


def _num(x: float) -> str:
    return f"{x:.4g}"


# ---------------------------------------------------------------------- data
def discovery_data(results: Results, metric: Metric | str,
                   step: int | None = None) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """(x, values, fixed): varied parameters of each done run, the metric per run, constant names.

    Lists become text ("UK,EU"; "(none)" when empty) and booleans "true"/"false", so PRIM and
    CART treat them as categories.
    """
    metric = parse_metric(metric) if isinstance(metric, str) else metric
    finals = results.final(metric, step=step)
    if finals.empty:
        raise AnalysisError(f"{results.root}: no finished runs to analyse")
    params = results.parameters().set_index("run_id").loc[finals.run_id]
    from cloudmarket.model.params import SCHEMA

    x = pd.DataFrame(index=range(len(finals)))
    fixed = []
    for name, p in SCHEMA.items():
        column = params[name].to_numpy()
        if p.kind == "list":
            column = np.array([",".join(map(str, v)) if len(v) else "(none)" for v in column], dtype=object)
        elif p.kind == "bool":
            column = np.array(["true" if v else "false" for v in column], dtype=object)
        elif p.kind == "int":
            column = column.astype(np.int64)
        elif p.kind == "float":
            column = column.astype(np.float64)
        if len(pd.unique(column)) < 2:
            fixed.append(name)
            continue
        x[name] = column
    if x.shape[1] == 0:
        raise AnalysisError(f"{results.root}: no parameter varies between runs; scenario discovery needs a sweep")
    return x, finals.value.to_numpy(dtype=float), fixed


def cases_of_interest(values: np.ndarray, metric: Metric, below: float | None, above: float | None) -> np.ndarray:
    """Boolean array: which runs meet the condition. Exactly one of ``below``/``above`` is given.

    >>> cases_of_interest(np.array([0.01, 0.2]), parse_metric("spend_share:huawei"), 0.05, None).tolist()
    [True, False]
    """
    if (below is None) == (above is None):
        raise AnalysisError("give exactly one of --below X or --above X")
    flag, bound = ("--below", below) if below is not None else ("--above", above)
    if not np.isfinite(bound):
        raise AnalysisError(f"{flag} = {bound!r}: must be a finite number")
    if metric.is_share and not 0.0 <= bound <= 1.0:
        raise AnalysisError(f"{flag} = {bound!r}: {metric} is a share, a fraction in [0, 1] "
                            f"(5% is 0.05)")
    return values < bound if below is not None else values > bound


# ---------------------------------------------------------------------- analysis
def _ema():
    """Import EMA Workbench's analysis modules, or explain how to install them."""
    try:
        with warnings.catch_warnings():
            # EMA announces optional parallel back-ends it cannot find; irrelevant to analysis
            warnings.simplefilter("ignore", UserWarning)
            from ema_workbench.analysis import cart, feature_scoring, prim
            from ema_workbench.analysis import scenario_discovery_util as sdutil
    except ImportError:
        raise AnalysisError("scenario discovery needs EMA Workbench: pip install 'cloudmarket[analysis]' "
                            "(make test installs it)") from None
    return prim, cart, feature_scoring, sdutil


def find_boxes(x: pd.DataFrame, y: np.ndarray, method: str = "prim", min_density: float = MIN_DENSITY,
               max_boxes: int = MAX_BOXES, mass_min: float = 0.05) -> Discovery:
    """Boxes of ``x`` (parameters per run) holding the runs where ``y`` is True."""
    if method not in METHODS:
        raise AnalysisError(f"--method = {method!r}: must be one of {', '.join(METHODS)}")
    y = np.asarray(y, dtype=bool)
    cases, runs = int(y.sum()), len(y)
    if cases < MIN_CASES or runs - cases < MIN_CASES:
        raise AnalysisError(f"{cases} of {runs} runs are cases of interest: scenario discovery needs at least "
                            f"{MIN_CASES} runs on each side of the threshold; choose another threshold")
    with _quiet():
        return _find_boxes(x, y, method, min_density, max_boxes, mass_min, cases, runs)


@contextmanager
def _quiet():
    """Silence pandas' and sklearn's deprecation notes about EMA's own code (not ours to fix)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="ema_workbench")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="sklearn")
        yield


def _find_boxes(x, y, method, min_density, max_boxes, mass_min, cases, runs) -> Discovery:
    prim, cart, _, sdutil = _ema()
    x = x.reset_index(drop=True)
    # EMA's box tests read categories through pandas' category dtype (CART needs it given)
    x = x.astype({c: "category" for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])})
    found = Discovery(Metric("?"), "", cases, runs, method, [], pd.DataFrame(), [], x, y)
    box_init = sdutil._make_box(x)
    if method == "prim":
        engine = prim.Prim(x, y, mass_min=mass_min)
        remaining = np.ones(runs, dtype=bool)
        for number in range(1, max_boxes + 1):
            if int(y[remaining].sum()) < MIN_CASES:
                break  # the boxes so far hold (nearly) every case of interest
            pbox = engine.find_box()
            if pbox is None:
                break
            index = _pick(pbox.peeling_trajectory, min_density)
            pbox.select(index)
            stats, limits = _inspect_data(pbox, index, sdutil)
            box = Box(number, float(stats.coverage), float(stats.density), float(stats.mass), int(stats.n),
                      _limits(limits, box_init), index)
            if number > 1 and box.density < min_density:
                break  # covering went on past the cases one box can describe
            found.boxes.append(box)
            found.prim_boxes.append(pbox)
            remaining[pbox.yi] = False  # PRIM looks for the next box among the runs left
            if box.density < min_density:
                break
    else:
        # EMA 3.0's CART reads categorical splits back into boxes wrongly (empty category
        # sets), so categories go in as 0/1 columns "name=value" and come out as such
        x_cart = pd.get_dummies(x, prefix_sep=DUMMY, dtype=float)
        x_cart = x_cart.astype({c: float for c in x_cart.columns})  # split points such as 0.5 must fit
        cart_init = sdutil._make_box(x_cart)
        engine = cart.CART(x_cart, y.astype(int), mass_min=mass_min)
        engine.build_tree()
        leaves = []
        for lims, stats in zip(engine.boxes, engine.stats, strict=True):
            restricted = sdutil._determine_restricted_dims(lims, cart_init)
            limits = pd.DataFrame({"min": lims.loc[0, restricted], "max": lims.loc[1, restricted]})
            inside = sdutil._in_box(x_cart, lims)
            leaves.append(Box(0, float(stats["coverage"]), float(stats["density"]), float(stats["mass"]),
                              int(inside.sum()), _categories_back(_limits(limits, cart_init), x)))
        dense = sorted((b for b in leaves if b.density >= min_density), key=lambda b: -b.coverage)
        chosen = dense[:max_boxes] or sorted(leaves, key=lambda b: -b.density)[:1]
        for number, box in enumerate(chosen, 1):
            box.number = number
        found.boxes = chosen
        found.prim_boxes = leaves  # every leaf, for the coverage-density picture
    found.engine = engine
    found.scores = feature_scores(x, y)
    return found


def _inspect_data(pbox, index: int, sdutil) -> tuple[pd.Series, pd.DataFrame]:
    """PRIM box ``index``: its statistics and, per restricted parameter, min, max and quasi-p values.

    What EMA's ``PrimBox.inspect(style="data")`` returns, built in an object table: EMA
    3.0 writes the limits into a float table, which fails (TypeError "Invalid value
    '{'false'}' for dtype 'float64'") as soon as a box restricts a boolean or categorical
    parameter, whose limits are sets of values.
    """
    lims = pbox.box_lims[index]
    restricted = sdutil._determine_restricted_dims(lims, pbox.box_lims[0])
    rows = []
    for name in restricted:
        qp = [np.nan if v == -1 else v for v in pbox.p_values[index][name]]
        rows.append([lims[name].iloc[0], lims[name].iloc[1], *qp])
    table = pd.DataFrame(rows, index=list(restricted), columns=["min", "max", "qp value", "qp value"], dtype=object)
    return pbox.peeling_trajectory.iloc[index], table


DUMMY = "="  # CART's 0/1 column for category v of parameter p is named "p=v"


def _categories_back(limits: pd.DataFrame, x: pd.DataFrame) -> pd.DataFrame:
    """CART limits on 0/1 columns "p=v" as category rows: p in {v} (1..1) or p not v (0..0)."""
    rows = []
    for _, r in limits.iterrows():
        name, _, value = r.parameter.partition(DUMMY)
        if value and name in x.columns and not pd.api.types.is_numeric_dtype(x[name]):
            others = [str(c) for c in pd.unique(x[name]) if str(c) != value]
            chosen = [value] if r.low >= 0.5 else others  # 1..1: is v; 0..0: any other value
            rows.append({**r.to_dict(), "parameter": name, "low": np.nan, "high": np.nan,
                         "values": ", ".join(sorted(chosen))})
        else:
            rows.append(r.to_dict())
    return pd.DataFrame(rows, columns=limits.columns)


def _pick(trajectory: pd.DataFrame, min_density: float) -> int:
    """Point of the peeling trajectory to report: most coverage with density >= min_density."""
    dense = trajectory[trajectory.density >= min_density]
    if dense.empty:
        return int(trajectory.density.idxmax())
    # ties in coverage (common: whole peels of non-cases) go to the denser, tighter box
    best = dense[dense.coverage >= dense.coverage.max() - 1e-12]
    return int(best.density.idxmax())


def _limits(limits: pd.DataFrame, box_init: pd.DataFrame) -> pd.DataFrame:
    """EMA's box limits (restricted parameters) as rows: parameter, low, high, values, qp."""
    rows = []
    flat = limits.copy()
    if isinstance(flat.columns, pd.MultiIndex):
        flat.columns = [c[1] for c in flat.columns]
    for name, r in flat.iterrows():
        low = r.iloc[0] if "min" not in flat.columns else r["min"]
        high = r.iloc[1] if "max" not in flat.columns else r["max"]
        qp = [v for k, v in zip(flat.columns, r.tolist()) if k == "qp value"]
        qp = [float(v) for v in qp if isinstance(v, (int, float)) and v == v]
        if isinstance(low, (set, frozenset)):
            values = ", ".join(sorted(map(str, low)))
            rows.append({"parameter": name, "low": np.nan, "high": np.nan, "values": values,
                         "qp": max(qp) if qp else np.nan})
        else:
            rows.append({"parameter": name, "low": float(low), "high": float(high), "values": "",
                         "qp": max(qp) if qp else np.nan})
    return pd.DataFrame(rows, columns=["parameter", "low", "high", "values", "qp"])


def feature_scores(x: pd.DataFrame, y: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Extra-trees importance of each parameter for telling cases of interest from the rest."""
    _, _, fs, sdutil = _ema()
    n = x.shape[1]
    scores, _ = fs.get_ex_feature_scores(x, np.asarray(y, dtype=int), mode=sdutil.RuleInductionType.CLASSIFICATION,
                                         max_features=max(1, round(n / 3)), random_state=seed)
    out = scores.reset_index()
    out.columns = ["parameter", "score"]
    return out.sort_values("score", ascending=False, ignore_index=True)


def discover(results: Results, metric: Metric | str, below: float | None = None, above: float | None = None,
             step: int | None = None, method: str = "prim", min_density: float = MIN_DENSITY,
             max_boxes: int = MAX_BOXES) -> Discovery:
    """Scenario discovery on a store: which ranges of the swept parameters give the outcome.

    ``metric`` is taken at the final step (or at ``step``); a run is a case of interest when
    it is below ``below`` or above ``above`` (give one).
    """
    metric = parse_metric(metric) if isinstance(metric, str) else metric
    if method not in METHODS:
        raise AnalysisError(f"--method = {method!r}: must be one of {', '.join(METHODS)}")
    x, values, fixed = discovery_data(results, metric, step)
    y = cases_of_interest(values, metric, below, above)
    if min(int(y.sum()), int((~y).sum())) < MIN_CASES:
        raise AnalysisError(f"{int(y.sum())} of {len(y)} runs are cases of interest: scenario discovery needs at "
                            f"least {MIN_CASES} runs on each side of the threshold; {metric} ranges from "
                            f"{values.min():.4g} to {values.max():.4g} here (median {np.median(values):.4g})")
    found = find_boxes(x, y, method, min_density, max_boxes)
    sign, bound = ("<", below) if below is not None else (">", above)
    at = "the final step" if step is None else f"step {step}"
    found.metric, found.fixed = metric, fixed
    found.condition = f"{metric} {sign} {bound:g} at {at}"
    return found


# ---------------------------------------------------------------------- figures
def figures(found: Discovery, title: str = "") -> dict[str, Any]:
    """Matplotlib figures by file stem: tradeoff, box_1.., feature_scores."""
    from cloudmarket.model.plot_backend import pyplot as plt

    _, _, _, sdutil = _ema()
    with _quiet():
        return _figures(found, title, plt, sdutil)


def _figures(found: Discovery, title: str, plt, sdutil) -> dict[str, Any]:
    figs: dict[str, Any] = {}
    prefix = f"{title}: " if title else ""
    if found.method == "prim" and found.prim_boxes:
        for k, (box, pbox) in enumerate(zip(found.boxes, found.prim_boxes, strict=True), 1):
            trajectory = pbox.peeling_trajectory
            fig = sdutil.plot_tradeoff(trajectory)
            ax = fig.axes[0]
            chosen = trajectory.loc[box.trajectory_index]
            ax.scatter([chosen.coverage], [chosen.density], s=160, facecolors="none", edgecolors="red", lw=2,
                       label=f"box {k} reported (coverage {chosen.coverage:.2f}, density {chosen.density:.2f})")
            ax.axhline(MIN_DENSITY, color="grey", ls=":", lw=1, label=f"density target {MIN_DENSITY:g}")
            ax.legend(fontsize=7, loc="lower left")
            ax.set_title(f"{prefix}PRIM peeling trajectory, box {k}\n({found.condition})", fontsize=9)
            fig.alt_text = (f"PRIM trade-off curve for {found.condition}: density against coverage of each "
                            f"peeling step of box {k}, coloured by restricted parameters, the reported box circled.")
            figs[f"tradeoff_{k}" if k > 1 else "tradeoff"] = fig
            if box.limits.empty:
                continue
            fig = pbox.inspect(box.trajectory_index, style="graph")[0]
            fig = fig if hasattr(fig, "savefig") else plt.gcf()
            fig.set_size_inches(9, 1.8 + 0.7 * len(box.limits))
            fig.axes[0].set_title(f"{prefix}box {k}: limits within the sampled ranges\n({found.condition})",
                                  fontsize=9)
            fig.axes[0].set_xlabel("grey: sampled range (its ends in black); blue: the box's limits; "
                                   "(brackets): quasi-p of each limit", fontsize=8)
            fig.alt_text = (f"Limits of PRIM box {k} for {found.condition} on "
                            f"{', '.join(box.limits.parameter)}, within each parameter's sampled range.")
            figs[f"box_{k}"] = fig
    elif found.method == "cart":
        fig, ax = plt.subplots(figsize=(6, 5))
        leaves = found.prim_boxes
        ax.scatter([b.coverage for b in leaves], [b.density for b in leaves], s=30, color="#777777",
                   label="CART leaf")
        for b in found.boxes:
            ax.scatter([b.coverage], [b.density], s=160, facecolors="none", edgecolors="red", lw=2)
            ax.annotate(f"box {b.number}", (b.coverage, b.density), xytext=(6, 6), textcoords="offset points")
        ax.axhline(MIN_DENSITY, color="grey", ls=":", lw=1, label=f"density target {MIN_DENSITY:g}")
        ax.set_xlim(0, 1.05)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("coverage (share of all cases of interest in the leaf)")
        ax.set_ylabel("density (share of the leaf's runs that are cases)")
        ax.legend(fontsize=8, loc="lower left")
        ax.set_title(f"{prefix}CART leaves, reported boxes circled\n({found.condition})", fontsize=9)
        fig.alt_text = (f"Scatter of CART's leaves for {found.condition}: density against coverage, "
                        "the reported boxes circled.")
        figs["tradeoff"] = fig
        chosen = [b for b in found.boxes if not b.limits.empty]
        if chosen:
            figs["boxes"] = _cart_boxes_figure(found, chosen, prefix)
            figs["boxes"].alt_text = (f"Bars showing each CART box's limits for {found.condition} within the sampled "
                                      "range of each restricted parameter.")
    figs["feature_scores"] = _scores_figure(found, prefix)
    figs["feature_scores"].alt_text = (f"Horizontal bars: the extra-trees feature score of each varied parameter "
                                       f"for telling apart runs with {found.condition}.")
    for fig in figs.values():
        fig.tight_layout()
    return figs


def _cart_boxes_figure(found: Discovery, boxes: list[Box], prefix: str):
    """Each CART box as bars over the sampled range of each restricted numeric parameter."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(n for b in boxes for n in b.limits.parameter))
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.6 * len(names) * len(boxes)))
    colours = plt.get_cmap("tab10")
    y = 0
    ticks, labels = [], []
    for name in names:
        col = found.x[name]
        numeric = pd.api.types.is_numeric_dtype(col)
        lo, hi = (float(col.min()), float(col.max())) if numeric else (0.0, 1.0)
        for b in boxes:
            row = b.limits[b.limits.parameter == name]
            if row.empty:
                continue
            r = row.iloc[0]
            ax.barh(y, 1.0, color="#eeeeee", height=0.6)
            if numeric:
                a, c = (r.low - lo) / (hi - lo or 1), (r.high - lo) / (hi - lo or 1)
                ax.barh(y, c - a, left=a, color=colours(b.number - 1), height=0.6, label=f"box {b.number}")
                ax.text(1.02, y, f"{_num(r.low)} .. {_num(r.high)}  (sampled {_num(lo)} .. {_num(hi)})",
                        va="center", fontsize=8)
            else:
                ax.barh(y, 1.0, color=colours(b.number - 1), height=0.6, alpha=0.5, label=f"box {b.number}")
                ax.text(1.02, y, f"in {{{r['values']}}}", va="center", fontsize=8)
            ticks.append(y)
            labels.append(f"{name} (box {b.number})")
            y += 1
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("position within the sampled range (0 = lowest sampled, 1 = highest)")
    ax.set_title(f"{prefix}CART boxes ({found.condition})", fontsize=9)
    return fig


def _scores_figure(found: Discovery, prefix: str):
    import matplotlib.pyplot as plt

    scores = found.scores.iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 1.0 + 0.35 * len(scores)))
    ax.barh(scores.parameter, scores.score, color="#4c72b0")
    for y, v in enumerate(scores.score):
        ax.text(v, y, f" {v:.2f}", va="center", fontsize=8)
    ax.set_xlabel("feature score (extra trees; scores sum to 1)")
    ax.set_xlim(0, max(0.1, float(scores.score.max()) * 1.2))
    left_out = (f"; {len(found.fixed)} parameters constant in this store are not scored" if found.fixed else "")
    ax.set_title(f"{prefix}what tells the cases apart\n({found.condition}{left_out})", fontsize=9)
    return fig


def output_names(max_boxes: int = MAX_BOXES) -> list[str]:
    """Every file :func:`write_outputs` may write: those a run does not write are stale and removed.

    >>> output_names(2)
    ['tradeoff.png', 'tradeoff_2.png', 'box_1.png', 'box_2.png', 'boxes.png', 'feature_scores.png', 'boxes.csv', 'feature_scores.csv']
    """
    return (["tradeoff.png"] + [f"tradeoff_{k}.png" for k in range(2, max_boxes + 1)]
            + [f"box_{k}.png" for k in range(1, max_boxes + 1)]
            + ["boxes.png", "feature_scores.png", "boxes.csv", "feature_scores.csv"])


def write_outputs(found: Discovery, out: str | Path, title: str = "") -> list[Path]:
    """Write the PNGs, boxes.csv and feature_scores.csv under ``out``, all or none; return the paths.

    Files of an earlier discovery that this one does not write (a CART ``boxes.png``
    beside PRIM's output, a third box's figures) are removed with the same all-or-none
    publish, so the folder never mixes two analyses.
    """
    from cloudmarket.experiments.outputs import publish

    import matplotlib.pyplot as plt

    out = Path(out)
    writes = []
    figs = figures(found, title)
    for stem, fig in figs.items():
        # the PNG describes itself: its alt text goes into the file's Description
        writes.append((out / f"{stem}.png", lambda p, fig=fig: fig.savefig(
            p, dpi=110, format="png", bbox_inches="tight", metadata={"Description": fig.alt_text})))
    boxes = pd.concat([b.limits.assign(box=b.number, coverage=b.coverage, density=b.density, mass=b.mass)
                       for b in found.boxes] or [pd.DataFrame()], ignore_index=True)
    writes.append((out / "boxes.csv", lambda p: boxes.to_csv(p, index=False, float_format="%.6g")))
    writes.append((out / "feature_scores.csv", lambda p: found.scores.to_csv(p, index=False, float_format="%.6g")))
    names = output_names(max(MAX_BOXES, len(found.boxes)))
    try:
        publish(writes, remove=[out / n for n in names])
    finally:
        for fig in figs.values():
            plt.close(fig)  # pyplot keeps every figure until closed
    return [path for path, _ in writes]

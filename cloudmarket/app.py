"""SolaraViz page: watch one cloud market run in the browser, with the policy levers as controls.

Run with ``cloudmarket viz`` or::

    SOLARA_TELEMETRY_MIXPANEL_ENABLE=False solara run app.py --host 127.0.0.1 --no-open

Offline, ``cloudmarket viz --seed-assets`` seeds Solara's front-end files into the environment once.
This module only presents: the market is ``model.CloudMarket`` unchanged; the controls are
built from ``model/params.py`` and every value is checked by ``model.params.resolve``; the
colours come from ``model/charts.py``. Charts are matplotlib PNGs drawn on the server.

Example
-------
>>> m = PageMarket(**{**initial_controls(), "n_customers": "200"})
>>> m.run_for(2)
>>> [f.__class__.__name__ for f in (graph_figure(m), shares_figure(m))]
['Figure', 'Figure']
"""

from __future__ import annotations

import html
import warnings
import weakref
from typing import Any

import cloudmarket.model.plot_backend  # noqa: F401  (headless backend, chosen before any figure: PNGs)

import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import solara  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from mesa.visualization import Slider, SolaraViz  # noqa: E402

from cloudmarket.agents import SEGMENTS  # noqa: E402
from cloudmarket.model import CloudMarket, ParameterError, resolve  # noqa: E402
from cloudmarket.model.run import check_memory  # noqa: E402
from cloudmarket.model.charts import (CHURN_COLOUR, LABEL_COLOUR, LINK_COLOUR, MARKET_COLOUR,  # noqa: E402
                                      PROSPECT_COLOUR, vendor_colour)
from cloudmarket.model.params import MODEL_PARAMS, SCHEMA, parse_assignment  # noqa: E402

DEFAULT_SEED = 0  # as `cloudmarket run`
GRAPH_MAX_NODES = 300  # above this the graph shows a seeded sample of customers
HORIZON = SCHEMA["steps"].default  # x axes span at least the default run
MAX_SLIDER_STOPS = 1000  # wider numeric ranges get a text box instead of a slider
SCENARIO_KEY = "scenario_name"  # SolaraViz's Reset passes Mesa's own Scenario as `scenario`
# the levers the schema declares, and the behaviour most worth moving by hand beside them
PAGE_BEHAVIOUR = ("switching_cost", "multicloud_cost", "peer_weight")
PAGE_CONTROLS = ("scenario", "n_customers", *(n for n in MODEL_PARAMS if SCHEMA[n].role == "lever"), *PAGE_BEHAVIOUR)
# Vuetify shows a slider's value only while it is dragged: keep it visible, as small text
# under the slider's knob instead of a bubble that would cover the control above
SLIDER_VALUES_CSS = """
.v-slider__thumb-label-container { display: block !important; }
.v-application .v-slider__thumb-label.primary { transform: translateX(-50%) !important; top: 9px !important;
  bottom: auto !important; height: auto !important; width: auto !important; min-width: 32px;
  background-color: transparent !important; color: LABEL !important; font-size: 11px; line-height: 1.2; }
.v-application .v-slider__thumb-label > * { transform: none !important; }
""".replace("LABEL", LABEL_COLOUR)
FIGSIZE = (5.2, 3.5)  # inches at 100 dpi: about the width of a grid cell, so text is not shrunk

# The tab is titled by solara.Title in Page; SolaraViz always draws a tab bar, which for
# our one page of components is a lone "PAGE 0" tab: hide the bar when it holds one tab.
SINGLE_TAB_CSS = ".v-tabs:not(:has(.v-tab + .v-tab)) { display: none !important; }"
PAGE_TITLE = "Cloud market"

# Served on 127.0.0.1 over http, Solara cannot set its SameSite=None cookie and warns in
# 12 lines on every page load; the Lax cookie it falls back to is what a local page needs.
warnings.filterwarnings("ignore", message="Cookies with samesite=none require https", category=UserWarning)

# Reactive values are kept per browser session (per kernel) by Solara.
build_error = solara.reactive("")  # message of the last failed Reset, shown on the page
last_model = solara.reactive(None)  # last model built in this session: the one on the page


# ---------------------------------------------------------------------- controls
def control_key(name: str) -> str:
    """Key of parameter ``name`` among the page controls (SolaraViz model_params)."""
    return SCENARIO_KEY if name == "scenario" else name


def control_for(name: str) -> Slider | dict[str, Any]:
    """The SolaraViz control of one schema parameter, with the schema's default and range.

    Bounded numbers with a step become sliders, strings with choices a select, booleans a
    checkbox; other numbers and lists are typed (lists comma-separated), so a bad value
    reaches ``resolve`` and comes back as a readable error.

    >>> control_for("switching_cost").max
    20.0
    >>> control_for("ban_segments")["value"]
    'government, critical'
    """
    p = SCHEMA[name]
    if p.kind in ("int", "float") and p.step and p.low is not None and p.high is not None \
            and (p.high - p.low) / p.step <= MAX_SLIDER_STOPS:
        cast = float if p.kind == "float" else int
        return Slider(name, value=cast(p.default), min=cast(p.low), max=cast(p.high),
                      step=cast(p.step), dtype=cast)
    if p.kind == "str" and p.choices:
        return {"type": "Select", "value": p.default, "values": list(p.choices), "label": name}
    if p.kind == "bool":
        return {"type": "Checkbox", "value": p.default, "label": name}
    if p.kind == "list":
        return {"type": "InputText", "value": ", ".join(p.default), "label": f"{name} (comma-separated)"}
    return {"type": "InputText", "value": str(p.default), "label": name}


def model_params() -> dict[str, Any]:
    """Every page control: the seed, the scenario, the market size and each policy lever."""
    controls = {control_key(n): control_for(n) for n in PAGE_CONTROLS}
    controls["rng"] = {"type": "InputText", "value": str(DEFAULT_SEED), "label": "seed"}
    return controls


def initial_controls() -> dict[str, Any]:
    """The controls' starting values, as SolaraViz passes them to the model."""
    return {k: (c.value if isinstance(c, Slider) else c["value"]) for k, c in model_params().items()}


def parse_seed(text: Any) -> int:
    """The seed typed into the page, as a whole number >= 0 (as `cloudmarket run --seed`)."""
    try:
        seed = int(str(text).strip())
    except ValueError:
        raise ParameterError("seed", text, "must be a whole number >= 0") from None
    if seed < 0:
        raise ParameterError("seed", seed, "must be a whole number >= 0")
    return seed


def parse_value(name: str, value: Any) -> Any:
    """A control's value as the schema expects it: typed text is read as TOML, lists by commas.

    >>> parse_value("ban_regions", "UK, EU"), parse_value("policy_start", "4")
    (['UK', 'EU'], 4)
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if SCHEMA[name].kind == "str":
        return text
    if SCHEMA[name].kind == "list" and not text.startswith("["):
        return [v.strip() for v in text.split(",") if v.strip()]
    return parse_assignment(f"{name}={text}")[1] if text else text


def parse_controls(controls: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Model parameters (checked by ``resolve``) and seed from the page's control values.

    Raises ParameterError with a readable message on any bad value, and on a market whose
    estimated memory exceeds what the machine has (``model.run.check_memory``).
    """
    given = {n: parse_value(n, controls[control_key(n)]) for n in PAGE_CONTROLS if control_key(n) in controls}
    unknown = set(controls) - {control_key(n) for n in PAGE_CONTROLS} - {"rng"}
    if unknown:
        raise ParameterError(sorted(unknown)[0], controls[sorted(unknown)[0]], "is not a page control")
    params = resolve(given, allow=MODEL_PARAMS)
    check_memory([params])  # as `cloudmarket run` does: a market too big is refused with the estimate
    return {n: params[n] for n in given}, parse_seed(controls.get("rng", DEFAULT_SEED))


class _KeepLastOnError(type):
    """Metaclass of PageMarket: a build with bad values keeps the last good model.

    SolaraViz's Reset calls ``type(model)(**controls)`` without catching errors, so a
    typed mistake would end as a server traceback. Here the message goes to
    ``build_error`` (shown on the page) and Reset hands back the model already shown.
    """

    def __call__(cls, *args: Any, **kwargs: Any):
        try:
            model = super().__call__(*args, **kwargs)
        except ParameterError as err:
            if last_model.value is None:
                raise
            build_error.set(f"Not rebuilt: {err}")
            return last_model.value
        build_error.set("")
        last_model.set(model)
        return model


class PageMarket(CloudMarket, metaclass=_KeepLastOnError):
    """CloudMarket built from the page's control values; the model itself is unchanged.

    >>> m = PageMarket(scenario_name="global-2020", n_customers="120", rng="3")
    >>> m.params["scenario"], m.n_customers
    ('global-2020', 120)
    """

    def __init__(self, scenario: Any = None, **controls: Any) -> None:
        # `scenario` is Mesa's experiment Scenario that SolaraViz's Reset adds; the
        # market's scenario arrives as SCENARIO_KEY.
        params, seed = parse_controls(controls)
        super().__init__(rng=seed, **params)


# ---------------------------------------------------------------------- figures
_layouts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def graph_sample(model: CloudMarket) -> tuple[np.ndarray, dict[int, np.ndarray], np.ndarray]:
    """Customers drawn in the graph, their positions and the links among them; cached per model.

    All customers up to GRAPH_MAX_NODES, else a sample seeded by the model's seed (so
    the same run shows the same sample). Customers sit in one cluster per industry,
    clusters on a circle.
    """
    if model not in _layouts:
        rng = np.random.default_rng(model._seed)
        n = model.customer_base.n  # every firm: customers and prospects not on the cloud yet
        nodes = np.arange(n) if n <= GRAPH_MAX_NODES else np.sort(rng.choice(n, GRAPH_MAX_NODES, replace=False))
        keep = np.zeros(n, dtype=bool)
        keep[nodes] = True
        edges = model.edges[keep[model.edges[:, 0]] & keep[model.edges[:, 1]]]
        k = len(model.industry_names)
        industry = model.industry[nodes]
        angle = 2 * np.pi * industry / k
        centre = np.c_[np.cos(angle), np.sin(angle)]
        # cluster area grows with the industry's number of customers
        size = np.bincount(industry, minlength=k)[industry] / len(nodes)
        radius = np.clip(0.9 * np.sqrt(size), 0.08, 0.4) * np.sqrt(rng.random(len(nodes)))
        theta = 2 * np.pi * rng.random(len(nodes))
        xy = centre + np.c_[radius * np.cos(theta), radius * np.sin(theta)]
        _layouts[model] = (nodes, dict(zip(nodes.tolist(), xy, strict=True)), edges)
    return _layouts[model]


def graph_figure(model: CloudMarket) -> Figure:
    """The industry graph: customers coloured by provider, sized by spend, grouped by industry."""
    nodes, pos, edges = graph_sample(model)
    fig = Figure(figsize=(5.2, 3.7))
    ax = fig.subplots()
    graph = nx.Graph()
    graph.add_nodes_from(nodes.tolist())
    graph.add_edges_from(edges.tolist())
    names = model.vendor_names
    colours = [vendor_colour(names[model.provider[i]]) if model.provider[i] >= 0 else PROSPECT_COLOUR
               for i in nodes]
    size = np.maximum(model.spend, model.customer_base.size)  # a prospect drawn at the size it will adopt with
    sizes = 8 + 120 * np.sqrt(size[nodes] / size.max())
    nx.draw_networkx_edges(graph, pos, ax=ax, edge_color=LINK_COLOUR, alpha=0.35, width=0.5)
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_color=colours, node_size=sizes,
                           edgecolors="white", linewidths=0.3)
    k = len(model.industry_names)
    for j, name in enumerate(model.industry_names):
        a = 2 * np.pi * j / k
        r = 1.55 + 0.2 * (j % 2)  # alternate radii: neighbouring names do not overlap
        ax.text(r * np.cos(a), r * np.sin(a), name.split(",")[0].split()[0],
                ha="center", va="center", fontsize=8, color=LABEL_COLOUR)
    n = model.customer_base.n
    shown = f"all {n:,} firms" if len(nodes) == n else f"seeded sample of {len(nodes):,} of {n:,} firms"
    ax.set_title(f"Industry graph, {model.period}: {shown}\ncolour = main vendor (grey: not on the cloud yet), "
                 "size = spend, clusters = industries", fontsize=10)
    ax.legend(handles=[Line2D([], [], marker="o", ls="", color=vendor_colour(v), label=v) for v in names]
              + [Line2D([], [], marker="o", ls="", color=PROSPECT_COLOUR, label="not yet")],
              fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="provider", frameon=False)
    ax.set_xlim(-2.05, 2.05)
    ax.set_ylim(-1.9, 1.9)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    return fig


def _time_axis(ax, model: CloudMarket) -> None:
    ax.set_xlim(0, max(HORIZON, model.steps))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("quarter (step 0 = 2020Q3)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)


def _vendor_lines(model: CloudMarket, column: str, title: str, ylabel: str) -> Figure:
    fig = Figure(figsize=FIGSIZE)
    ax = fig.subplots()
    for vendor, rows in model.vendor_frame().groupby("vendor", sort=False):
        ax.plot(rows.step, 100 * rows[column], color=vendor_colour(vendor), lw=2, marker="o",
                ms=3, label=vendor)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.set_ylim(0, None if column.endswith("share") else 100)
    _time_axis(ax, model)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def shares_figure(model: CloudMarket) -> Figure:
    """Each vendor's share of customer spend by quarter."""
    return _vendor_lines(model, "spend_share", "Share of spend by vendor", "share of spend (%)")


def new_business_figure(model: CloudMarket) -> Figure:
    """Each vendor's share of the quarter's new spend (new workloads and new adopters): where share moves."""
    return _vendor_lines(model, "new_business_share", "Share of new spend by vendor (where share moves)",
                         "share of the quarter's new spend (%)")


def groups_figure(model: CloudMarket) -> Figure:
    """Each vendor's share of spend within each customer segment and region this quarter: where policy bites.

    Segments are the ones bans, data localisation and sales focus aim at; regions are the
    scenario's own (the columns ``spend_share_<group>`` of the vendor table).
    """
    groups = [*SEGMENTS, *(r.lower() for r in model.regions)]
    labels = [*SEGMENTS, *(f"{r} customers" for r in model.regions)]
    fig = Figure(figsize=FIGSIZE)
    ax = fig.subplots()
    left = np.zeros(len(groups))
    for vendor in model.vendors:  # this quarter's shares are the vendors' own attributes
        values = 100 * np.nan_to_num([getattr(vendor, f"spend_share_{g}") for g in groups])
        ax.barh(np.arange(len(groups)), values, left=left, color=vendor_colour(vendor.name), label=vendor.name)
        left += values
    ax.set_yticks(np.arange(len(groups)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the group's spend (%)", fontsize=9)
    ax.set_title(f"Shares within segments and regions, {model.period}", fontsize=10)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return fig


STRATEGY_PANELS = (  # column, title, scale to the axis unit
    ("price", "Price: new business (solid), renewal (dashed)", 1.0),
    ("investment_rate", "R&D investment (% of revenue)", 100.0),
    ("iaas_investment_share", "IaaS share of R&D (%, rest PaaS)", 100.0),
    ("focus_large", "Sales effort on large enterprises (%)", 100.0),
)


def strategy_figure(model: CloudMarket) -> Figure:
    """Each vendor's decisions by quarter: price, R&D rate, IaaS/PaaS split, focus on large firms."""
    frame = model.vendor_frame()
    fig = Figure(figsize=(FIGSIZE[0], FIGSIZE[1] * 1.35))
    axes = fig.subplots(2, 2, sharex=True).ravel()
    for ax, (column, title, scale) in zip(axes, STRATEGY_PANELS):
        for vendor, rows in frame.groupby("vendor", sort=False):
            ax.plot(rows.step, scale * rows[column], color=vendor_colour(vendor), lw=1.6, label=vendor)
            if column == "price":
                ax.plot(rows.step, rows.renewal_price, color=vendor_colour(vendor), lw=1.2, ls="--")
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.set_xlim(0, max(HORIZON, model.steps))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    for ax in axes[2:]:
        ax.set_xlabel("quarter (step 0 = 2020Q3)", fontsize=7)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle("Vendor strategies", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def concentration_figure(model: CloudMarket) -> Figure:
    """HHI, multi-homing, and switching and migration (a year's worth) by quarter, one panel each."""
    market = model.market_frame()
    fig = Figure(figsize=(FIGSIZE[0], FIGSIZE[1] * 1.3))
    ax_hhi, ax_multi, ax_moves = fig.subplots(3, 1, sharex=True)
    ax_hhi.plot(market.step, market.hhi, color=MARKET_COLOUR, lw=2, marker="o", ms=3)
    ax_hhi.set_ylabel("HHI", fontsize=8)
    ax_hhi.set_title("Concentration (HHI by spend), multi-homing, switching and migration", fontsize=10)
    # a floor on the visible range, so that sampling noise does not look like a trend
    mid = (market.hhi.max() + market.hhi.min()) / 2
    half = max(250.0, 0.6 * (market.hhi.max() - market.hhi.min()))
    ax_hhi.set_ylim(max(0.0, mid - half), mid + half)
    ax_multi.plot(market.step, 100 * market.multihoming, color=MARKET_COLOUR, lw=2, marker="o", ms=3)
    ax_multi.set_ylabel("multi-homing\n(% of customers)", fontsize=8)
    ax_multi.set_ylim(0, 100)
    ax_moves.plot(market.step, 400 * market.switch_rate, color=CHURN_COLOUR, lw=2, marker="o", ms=3,
                  label="customers moving all their spend")
    ax_moves.plot(market.step, 400 * market.migration_rate, color=CHURN_COLOUR, lw=1.5, ls="--",
                  label="installed spend migrating")
    ax_moves.set_ylabel("% a year", fontsize=8)
    top = 400 * max(market.switch_rate.max(), market.migration_rate.max())
    ax_moves.set_ylim(0, max(2.0, 1.1 * top))
    ax_moves.legend(fontsize=7, loc="upper left", frameon=False)
    for ax in (ax_hhi, ax_multi, ax_moves):
        _time_axis(ax, model)
    for ax in (ax_hhi, ax_multi):
        ax.set_xlabel("")
    fig.tight_layout()
    return fig


def settings_text(model: CloudMarket) -> str:
    """The run's scenario, size, seed and policy levers, as one line per group."""
    p = model.params

    def show(v: Any) -> str:
        if isinstance(v, (list, tuple)):
            return ", ".join(v) or "none"
        if isinstance(v, bool):
            return "on" if v else "off"
        return f"{v:g}" if isinstance(v, float) else str(v)

    levers = "; ".join(f"{n} {show(p[n])}" for n in PAGE_CONTROLS if SCHEMA[n].role == "lever")
    return (f"scenario {p['scenario']}, {model.n_customers:,} customers, seed {model._seed}\n"
            f"policy: {levers}")


def shares_table_html(model: CloudMarket) -> str:
    """Current shares per vendor (spend, customers, change in spend share since step 0) as HTML."""
    start = model.vendor_frame().query("step == 0").set_index("vendor").spend_share
    cell = "style='padding:2px 10px;text-align:right'"
    left = "style='padding:2px 10px;text-align:left'"
    rows = []
    for v in sorted(model.vendors, key=lambda v: -v.spend_share):
        change = 100 * (v.spend_share - start[v.name])
        rows.append(
            f"<tr><td {left}><span style='color:{vendor_colour(v.name)}'>&#9632;</span> {html.escape(v.name)}</td>"
            f"<td {cell}>{100 * v.spend_share:.1f}</td><td {cell}>{100 * v.customer_share:.1f}</td>"
            f"<td {cell}>{change:+.1f}</td></tr>")
    head = "".join(f"<th {cell}>{h}</th>" for h in ("spend %", "customers %", "change (pts)"))
    return (f"<table style='border-collapse:collapse;font-size:14px'><tr><th {left}>vendor</th>{head}</tr>"
            f"{''.join(rows)}</table>")


# ---------------------------------------------------------------------- components
def _figure(fig: Figure, model: CloudMarket):
    return solara.FigureMatplotlib(fig, format="png", bbox_inches="tight", dpi=100,
                                   dependencies=[id(model), model.steps])


def MarketNow(model: CloudMarket):
    """Current quarter, settings, shares table, and the error of a failed Reset if any."""
    with solara.Column() as main:
        if build_error.value:
            solara.Error(build_error.value)
        # solara.Markdown would pull mermaid from a CDN: plain HTML stays offline
        solara.HTML(tag="h3", unsafe_innerHTML=f"{model.period} (step {model.steps}): HHI {model.hhi:,.0f}, "
                    f"multi-homing {100 * model.multihoming:.0f}%, "
                    f"switching {400 * model.switch_rate:.1f}% a year")
        solara.Text(settings_text(model), style={"white-space": "pre-wrap", "font-size": "13px"})
        solara.HTML(tag="div", unsafe_innerHTML=shares_table_html(model))
    return main


def IndustryGraph(model: CloudMarket):
    """The industry graph component."""
    return _figure(graph_figure(model), model)


def SharesChart(model: CloudMarket):
    """Share of spend over time component."""
    return _figure(shares_figure(model), model)


def NewBusinessChart(model: CloudMarket):
    """Share of new spend over time component."""
    return _figure(new_business_figure(model), model)


def ConcentrationChart(model: CloudMarket):
    """HHI, multi-homing, switching and migration over time component."""
    return _figure(concentration_figure(model), model)


def GroupsChart(model: CloudMarket):
    """Shares within segments and regions component."""
    return _figure(groups_figure(model), model)


def StrategyChart(model: CloudMarket):
    """Vendors' decisions over time component: price, R&D rate, IaaS split, focus."""
    return _figure(strategy_figure(model), model)


COMPONENTS = [MarketNow, IndustryGraph, SharesChart, NewBusinessChart, GroupsChart, ConcentrationChart, StrategyChart]


@solara.component
def Page():
    """The page: one model per browser session, built from the controls' starting values."""
    model = solara.use_memo(lambda: PageMarket(**initial_controls()), [])
    solara.Title(PAGE_TITLE)
    solara.Style(SLIDER_VALUES_CSS + SINGLE_TAB_CSS)
    SolaraViz(model, components=COMPONENTS, model_params=model_params(), name=PAGE_TITLE)

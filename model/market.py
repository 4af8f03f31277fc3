"""CloudMarket: the Mesa model that builds the world and orders a quarter.

Example
-------
>>> from cloudmarket.model import CloudMarket
>>> m = CloudMarket(scenario="china-2020", n_customers=300, rng=7)
>>> m.run_for(4)
>>> df = m.vendor_frame()
>>> sorted(df.step.unique().tolist())
[0, 1, 2, 3, 4]
>>> bool(abs(df[df.step == 4].spend_share.sum() - 1) < 1e-9)
True
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from contextlib import contextmanager
from operator import attrgetter
from typing import Any

import mesa
import numpy as np
import pandas as pd
from mesa.discrete_space import Network
from mesa.experimental.scenarios import Scenario

from cloudmarket.agents import CloudVendor, EnterpriseCustomer, make_rule
from cloudmarket.model import choice, industry_graph, metrics, policy
from cloudmarket.model.params import MODEL_PARAMS, SEGMENTS, resolve
from cloudmarket.model.scenarios import ANY_REGION, get_scenario, period_label

CALIBRATION_SAMPLE = 20_000  # customers used for the intercept inversion at large sizes
LARGE_QUANTILE = 0.9  # customers above this spend quantile form the "large" segment
VENDOR_REPORTS = {
    "vendor": "name",
    "share": "share",
    "spend_share": "spend_share",
    "iaas_investment_share": "iaas_investment_share",
    "capacity": "capacity",
    "demand": "demand",
    "congestion": "congestion",
    "iaas_quality": "iaas_quality",
    "paas_quality": "paas_quality",
    "price": "price",
    "revenue": "revenue",
    "cost": "cost",
    "investment": "investment",
    "profit": "profit",
    "cash": "cash",
}
VENDOR_NUMBERS = tuple(name for name in VENDOR_REPORTS if name != "vendor")  # the numeric columns
MARKET_REPORTS = ("hhi", "cr3", "churn", "instability", "within_industry_hhi", "count_hhi")


@contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector while building millions of objects, none garbage.

    With the collector on, allocating the graph's dicts, the cells and the agents keeps
    triggering full collections that traverse everything built so far (about 25 s of a
    1M-customer build).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            if gc.get_count()[0] > 500_000:
                # one full pass now moves the new objects to the oldest generation; left
                # young, they would be traversed by several collections in the first quarters
                gc.collect()


class IndustryNetwork(Network):
    """Mesa's Network, with every cell's connections set in one pass.

    ``Network._connect_cells`` calls ``Cell.connect`` once per edge end, and each call
    clears Mesa's (class-wide) neighbourhood caches; here each cell gets its connections
    dict directly, in the graph's neighbour order, and the caches are cleared once.
    """

    def _connect_cells(self) -> None:
        cells = self._cells
        for node, neighbours in self.G.adjacency():
            cells[node].connections = {other: cells[other] for other in neighbours}
        if cells:
            next(iter(cells.values()))._clear_cache()


def review_cohorts(review_phase: np.ndarray, period: int) -> list[np.ndarray]:
    """Rows of each review phase, ascending: cohort r reviews in quarters q with (q + r) % period == 0.

    >>> [c.tolist() for c in review_cohorts(np.array([1, 0, 1, 2]), 3)]
    [[1], [0, 2], [3]]
    """
    order = np.argsort(review_phase, kind="stable")
    bounds = np.searchsorted(review_phase[order], np.arange(period + 1))
    return [order[bounds[r]:bounds[r + 1]] for r in range(period)]


class RunScenario(Scenario):
    """Mesa's Scenario for one market run: the seed and every validated parameter.

    >>> RunScenario(rng=3, switching_cost=2.0).switching_cost
    2.0
    """


class CloudMarket(mesa.Model):
    """Cloud vendors competing for enterprise customers on an industry graph.

    Parameters
    ----------
    scenario : str
        Starting market, "china-2020" or "global-2020" (see ``model/scenarios.py``); the
        market built from it is ``self.starting_market``. ``self.scenario`` is Mesa's
        :class:`RunScenario` holding the seed and every parameter of the run.
    rng : int or numpy Generator, optional
        Seed of every random draw (graph, customers, choices, learning).
    progress : callable, optional
        Called with the name of each build phase as it starts (for progress on long builds).
    **params
        Any parameter of ``model/params.py`` except ``steps``; validated there.
    """

    def __init__(self, scenario: str = "china-2020", rng: Any = None,
                 progress: Callable[[str], None] | None = None, **params: Any) -> None:
        self.params = resolve({"scenario": scenario, **params}, allow=MODEL_PARAMS)
        report = progress or (lambda phase: None)
        # Mesa 3.5 keeps a run's parameters in `model.scenario` (a mesa Scenario): ours go
        # there, validated, so `m.scenario.switching_cost` reads as a Mesa user expects and
        # `m.scenario.rng` is the seed. The starting market itself is `m.starting_market`.
        super().__init__(scenario=RunScenario(rng=rng, **self.params))
        p = self.params
        self.starting_market = get_scenario(p["scenario"])
        self.vendor_names = self.starting_market.vendors
        self.regions = self.starting_market.regions
        self.industry_names = industry_graph.industry_names()
        self.n_vendors = len(self.vendor_names)
        report("drawing customers")
        self._draw_customers(p["n_customers"])
        report("building the industry graph")
        self._build_graph()
        report("placing customers on the graph")
        with gc_paused():
            self._place_customers()
        report("calibrating starting shares")
        self._assign_initial_providers()
        self.vendors = [
            CloudVendor(self, name, k, home, self.starting_market.focus.get(name, ()),
                        demand=float(self.demand[k]), headroom=p["capacity_headroom"],
                        rule=make_rule(p["learning_rule"], recency=p["learning_recency"],
                                       experimentation=p["learning_experimentation"],
                                       imitation_rate=p["imitation_rate"]))
            for k, (name, home) in enumerate(zip(self.vendor_names, self.starting_market.home_regions, strict=True))
        ]
        for v in self.vendors:
            v.iaas_investment_share = v.iaas_share
        self._allowed_cache: dict[bool, np.ndarray] = {}
        # The graph and review phases never change: each cohort's rows and its slice of the
        # adjacency are found once here, not every time the cohort reviews.
        self._cohorts = review_cohorts(self.review_phase, p["review_period"])
        self._cohort_peers = [choice.peer_slice(self.adjacency, rows, self.n_vendors) for rows in self._cohorts]
        self._cohort_need = [self.iaas_need[rows] for rows in self._cohorts]
        self._cohort_static = [self._static_utility[rows] for rows in self._cohorts]
        self._cohort_allowed: dict[tuple[bool, int], np.ndarray | None] = {}
        self._factors: dict[bool, tuple[np.ndarray, np.ndarray]] = {}
        self._vendor_numbers = attrgetter(*VENDOR_NUMBERS)
        # the "others" aggregate is many small firms: left out of concentration measures
        self._fragmented = np.array([name == "others" for name in self.vendor_names])
        self.churn = 0.0
        self._spend_shares = metrics.spend_shares(self.provider, self.spend, self.n_vendors)
        self._record_metrics(previous_spend_shares=self._spend_shares)
        # Vendors are collected as one (vendor x VENDOR_NUMBERS) array per step by a model
        # reporter, not by agenttype_reporters: that calls one reporter per vendor and field
        # (about 6x slower per step) and its DataFrame is slow to build for every run of a batch.
        self.datacollector = mesa.DataCollector(
            model_reporters={"step": "steps", "period": "period", **{k: k for k in MARKET_REPORTS},
                             "vendors": self.vendor_state},
        )
        self.datacollector.collect(self)  # step 0: the calibrated start, before any quarter

    # ------------------------------------------------------------------ build
    def _draw_customers(self, n: int) -> None:
        p, rng = self.params, self.rng
        self.n_customers = n
        self.region = rng.choice(len(self.regions), size=n, p=np.asarray(self.starting_market.region_weights))
        self.industry = rng.choice(industry_graph.N_INDUSTRIES, size=n, p=industry_graph.industry_weights())
        # annual cloud spend in USD millions: lognormal, median 1
        self.spend = rng.lognormal(mean=0.0, sigma=p["spend_sigma"], size=n)
        m = self.starting_market.iaas_need_mean
        self.iaas_need = rng.beta(6.0 * m, 6.0 * (1.0 - m), size=n)
        names = self.industry_names
        code = {name: k for k, name in enumerate(names)}
        info = self.industry == code["Information"]
        self.segments: dict[str, np.ndarray] = {
            "large": self.spend >= np.quantile(self.spend, LARGE_QUANTILE),
            "government": self.industry == code["Government"],
            "telecom": info & (rng.random(n) < 0.5),  # about half of "Information" is telecoms
            "finance": self.industry == code[names[9]],  # Finance, insurance, real estate, ...
            "critical": np.isin(self.industry, [code["Utilities"], code["Mining"],
                                                code["Transportation and warehousing"]]),
        }
        assert set(SEGMENTS) <= set(self.segments)
        self.review_phase = rng.integers(0, p["review_period"], size=n)
        self.tenure = rng.integers(0, p["review_period"], size=n)
        home = np.array(self.starting_market.home_regions)
        region_names = np.array(self.regions)[self.region]
        home_match = (home[None, :] == region_names[:, None]) | (home[None, :] == ANY_REGION)
        focus = np.zeros((n, self.n_vendors), dtype=bool)
        for k, vendor in enumerate(self.vendor_names):
            for seg in self.starting_market.focus.get(vendor, ()):
                focus[:, k] |= self.segments[seg]
        self._static_utility = p["home_preference"] * home_match + p["focus_weight"] * focus

    def _build_graph(self) -> None:
        p = self.params
        self.edges = industry_graph.sample_edges(
            self.industry, industry_graph.io_link_weights(), p["avg_degree"], p["within_industry"], self.rng)
        self.adjacency = industry_graph.adjacency_matrix(self.edges, self.n_customers)

    def _place_customers(self) -> None:
        graph = industry_graph.to_networkx(self.edges, self.n_customers, self.industry)
        # layout=None: spring layout costs seconds at 1,000 nodes and minutes beyond
        self.grid = IndustryNetwork(graph, layout=None, random=self.random)
        cells = self.grid._cells  # node id -> cell; ids are the customers' row numbers
        self.customers = [EnterpriseCustomer(self, i, cells[i]) for i in range(self.n_customers)]

    def _assign_initial_providers(self) -> None:
        """Draw providers so that spend shares match the scenario, then calibrate intercepts.

        1. Intercepts that reproduce the target shares from the static utility terms;
           draw each customer's provider from that logit; repair sampling noise.
        2. Berry inversion again on the full utility (peer shares of this assignment,
           switching cost from it) so that, with no policy change, the expected shares
           after a review equal today's: the market starts at a steady state.
        """
        rng = self.rng
        target = np.asarray(self.starting_market.target_shares)
        sample = self._calibration_sample()
        w = self.spend[sample]
        first = choice.berry_intercepts(target, w, self._static_utility[sample])
        self.provider = choice.draw_choices(self._static_utility + first, rng)
        self.provider = choice.rebalance(self.provider, self.spend, target)
        realised = metrics.spend_shares(self.provider, self.spend, self.n_vendors)
        full = self._static_utility[sample] + self._interaction_terms(sample)
        self.intercepts = choice.berry_intercepts(realised, w, full)
        self.demand = np.bincount(self.provider, weights=self.spend, minlength=self.n_vendors)

    def _calibration_sample(self) -> np.ndarray:
        if self.n_customers <= CALIBRATION_SAMPLE:
            return np.arange(self.n_customers)
        return np.sort(self.rng.choice(self.n_customers, CALIBRATION_SAMPLE, replace=False))

    def _interaction_terms(self, rows: np.ndarray, peers: choice.PeerSlice | None = None) -> np.ndarray:
        """Peer influence and switching cost for customers ``rows``: they depend on providers.

        ``peers`` is the adjacency slice of ``rows`` when the caller has it already.
        """
        p = self.params
        if peers is None:
            peers = choice.peer_slice(self.adjacency, rows, self.n_vendors)
        terms = choice.peer_shares_of(peers, self.provider, self.spend, self.n_vendors)
        terms *= p["peer_weight"]
        terms += choice.switching_penalty(np.take(self.provider, rows), self.n_vendors, p["switching_cost"])
        return terms

    # ------------------------------------------------------------------ quarter
    def step(self) -> None:
        """One quarter: spend grows, due customers review, vendors settle and learn."""
        p = self.params
        quarter = self.steps  # Mesa has already advanced the counter: 1 in the first quarter
        active = policy.policy_active(quarter, p["policy_start"])
        self.spend *= 1.0 + p["market_growth"]
        switched = self._review(-quarter % p["review_period"], active)
        self.tenure += 1
        self.tenure[switched] = 0
        self.churn = len(switched) / self.n_customers
        self.demand = np.bincount(self.provider, weights=self.spend, minlength=self.n_vendors)
        self._settle_vendors(active)
        previous = self._spend_shares
        total = self.demand.sum()  # = metrics.spend_shares(...), without a second bincount
        self._spend_shares = self.demand / total if total > 0 else self.demand
        self._record_metrics(previous_spend_shares=previous)
        self.datacollector.collect(self)

    def _review(self, cohort: int, active: bool) -> np.ndarray:
        """Review cohort ``cohort``'s customers choose a vendor; returns the rows that switched."""
        due = self._cohorts[cohort]
        if len(due) == 0:
            return due
        utility = self._utility(due, self._cohort_need[cohort], self._cohort_static[cohort],
                                self._cohort_peers[cohort])
        chosen = choice.draw_choices(utility, self.rng, self._allowed_in_cohort(active, cohort))
        moved = chosen != np.take(self.provider, due)
        self.provider[due] = chosen  # synchronous: all chose against last quarter's peers
        return due[moved]

    def utility(self, rows: np.ndarray, peers: choice.PeerSlice | None = None) -> np.ndarray:
        """Utility (len(rows), J) of every vendor for customers ``rows`` (see model/choice.py)."""
        return self._utility(rows, self.iaas_need[rows], self._static_utility[rows], peers)

    def _utility(self, rows: np.ndarray, need: np.ndarray, static: np.ndarray,
                 peers: choice.PeerSlice | None) -> np.ndarray:
        # need and static are the rows' IaaS need and static utility: a review cohort's are
        # kept from the build, since they never change
        p = self.params
        v = self.vendors
        vendor_terms = choice.vendor_quality_terms(
            need,
            np.log([x.iaas_quality for x in v]), np.log([x.paas_quality for x in v]),
            np.log([x.congestion for x in v]), np.log([x.price for x in v]),
            p["quality_weight"], p["congestion_elasticity"], p["price_weight"])
        # in place, in the order of intercepts + vendor terms + static + interaction (the same sums)
        vendor_terms += self.intercepts
        vendor_terms += static
        vendor_terms += self._interaction_terms(rows, peers)
        return vendor_terms

    def _allowed_in_cohort(self, active: bool, cohort: int) -> np.ndarray | None:
        """The allowed-vendor rows of a review cohort, or None when it may buy from every vendor."""
        key = (active, cohort)
        if key not in self._cohort_allowed:
            rows = self.allowed_vendors(active)[self._cohorts[cohort]]
            self._cohort_allowed[key] = None if rows.all() else rows
        return self._cohort_allowed[key]

    def allowed_vendors(self, active: bool) -> np.ndarray:
        """Bool (customers, vendors): who may buy from whom, with policy on or off."""
        if active not in self._allowed_cache:
            p = self.params
            if active:
                self._allowed_cache[active] = policy.allowed_vendors(
                    self.vendor_names, self.starting_market.home_regions, self.regions, self.region,
                    self.segments, sanctioned=p["sanctioned_vendors"], ban_regions=p["ban_regions"],
                    ban_segments=p["ban_segments"], data_localization=p["data_localization"])
            else:
                self._allowed_cache[active] = np.ones((self.n_customers, self.n_vendors), dtype=bool)
        return self._allowed_cache[active]

    def _settle_vendors(self, active: bool) -> None:
        p = self.params
        if active not in self._factors:
            self._factors[active] = policy.export_control_factors(
                self.vendor_names, p["sanctioned_vendors"], p["export_control_severity"],
                p["export_cost_markup"], active)
        supply, cost = self._factors[active]
        for v in self.vendors:
            subsidy = p["domestic_subsidy"] if active and v.home_region == "CN" else 0.0
            push = p["cloud_push"] if active and v.name in p["cloud_push_vendors"] else 0.0
            v.iaas_investment_share = v.iaas_share
            v.settle(float(self.demand[v.index]), p, float(supply[v.index]), float(cost[v.index]), subsidy, push)
        best = max(self.vendors, key=lambda v: v.margin).iaas_share
        for v in self.vendors:
            v.learn(best)

    # ------------------------------------------------------------------ outputs
    def _record_metrics(self, previous_spend_shares: np.ndarray) -> None:
        counts = metrics.count_shares(self.provider, self.n_vendors)
        spend = self._spend_shares
        for v in self.vendors:
            v.share, v.spend_share = float(counts[v.index]), float(spend[v.index])
        named = metrics.named_only(spend, self._fragmented)
        self.hhi = metrics.hhi(named)
        self.count_hhi = metrics.hhi(metrics.named_only(counts, self._fragmented))
        self.cr3 = metrics.cr3(named)
        self.instability = metrics.instability(previous_spend_shares, spend)
        self.within_industry_hhi = metrics.within_group_hhi(
            self.provider, self.spend, self.industry, industry_graph.N_INDUSTRIES, self.n_vendors,
            self._fragmented)

    @property
    def period(self) -> str:
        """Calendar quarter of the current step (step 0 = 2020Q3)."""
        return period_label(self.steps)

    def vendor_state(self) -> np.ndarray:
        """This step's vendor numbers, (vendors, VENDOR_NUMBERS) floats: what is collected."""
        return np.array([self._vendor_numbers(v) for v in self.vendors], dtype=float)

    def vendor_columns(self) -> dict[str, np.ndarray]:
        """Vendor time series as columns: one entry per step and vendor (step, period, vendor, share, ...)."""
        records = self.datacollector.model_vars
        state = np.stack(records["vendors"])  # (steps collected, vendors, numbers)
        n_steps, n_vendors = state.shape[:2]
        steps = np.repeat(np.asarray(records["step"], dtype=np.int64), n_vendors)
        columns = {"step": steps, "period": np.repeat(np.asarray(records["period"], dtype=object), n_vendors),
                   "vendor": np.tile(np.asarray(self.vendor_names, dtype=object), n_steps)}
        flat = state.reshape(n_steps * n_vendors, -1)
        columns.update((name, flat[:, k].copy()) for k, name in enumerate(VENDOR_NUMBERS))
        return columns

    def market_columns(self) -> dict[str, np.ndarray]:
        """Market time series as columns: one entry per step (step, period, hhi, cr3, churn, ...)."""
        records = self.datacollector.model_vars
        columns = {"step": np.asarray(records["step"], dtype=np.int64),
                   "period": np.asarray(records["period"], dtype=object)}
        columns.update((name, np.asarray(records[name], dtype=float)) for name in MARKET_REPORTS)
        return columns

    def vendor_frame(self) -> pd.DataFrame:
        """Vendor time series: one row per step and vendor (step, period, vendor, share, ...)."""
        return pd.DataFrame(self.vendor_columns())

    def market_frame(self) -> pd.DataFrame:
        """Market time series: one row per step (step, period, hhi, cr3, churn, ...)."""
        return pd.DataFrame(self.market_columns())

    def shares_by(self, by: str) -> pd.DataFrame:
        """Current spend shares within each region or industry: rows groups, columns vendors.

        >>> m = CloudMarket(scenario="global-2020", n_customers=400, rng=1)
        >>> m.shares_by("region").index.tolist()
        ['CN', 'US', 'EU', 'UK', 'ROW']
        """
        groups = {"region": (self.region, self.regions), "industry": (self.industry, self.industry_names)}
        if by not in groups:
            raise ValueError(f"by = {by!r}: must be region | industry")
        code, names = groups[by]
        table = metrics.group_spend_shares(self.provider, self.spend, code, len(names), self.n_vendors)
        return pd.DataFrame(table, index=list(names), columns=list(self.vendor_names))

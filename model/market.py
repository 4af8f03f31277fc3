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

from cloudmarket.agents import SEGMENTS, SPLITS, CloudVendor, EnterpriseCustomer, economics, make_rule, starting_focus
from cloudmarket.model import choice, industry_graph, metrics, policy
from cloudmarket.model.customers import CustomerBase, Offer
from cloudmarket.model.params import MODEL_PARAMS, Params, validated
from cloudmarket.model.population import Population, Populations
from cloudmarket.model.scenarios import ANY_REGION, SCENARIOS, get_scenario, period_label

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
    "unit_cost": "unit_cost",
    "investment_rate": "investment_rate",
    "focus_large": "focus_large",
    "focus_government": "focus_government",
    "focus_telecom": "focus_telecom",
    "focus_finance": "focus_finance",
    "focus_critical": "focus_critical",
    "revenue": "revenue",
    "cost": "cost",
    "capex": "capex",
    "investment": "investment",
    "grant": "grant",
    "profit": "profit",
    "cash": "cash",
}
# Each vendor's spend share within customer groups, per step: the segments policy and
# focus aim at, and every region of any scenario (NaN where the run's scenario has no such
# region, or the group no spend). Set on the vendors by the market (_record_metrics).
REGIONS = tuple(dict.fromkeys(r for name in SCENARIOS for r in get_scenario(name).regions))
GROUP_SHARES = (tuple(f"spend_share_{s}" for s in SEGMENTS)
                + tuple(f"spend_share_{r.lower()}" for r in REGIONS))
VENDOR_REPORTS.update((name, name) for name in GROUP_SHARES)
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
    customer_agents : bool
        Give each customer a Mesa face (an ``EnterpriseCustomer`` on a cell of a Mesa
        ``Network``; ``self.customers``, ``self.grid``), built on first access to either:
        the market's rules work on the customer arrays and never read them. False means
        never (``grid`` is None, ``customers`` empty); results are identical either way.
    populations : Populations, optional
        Populations kept from earlier markets in this process (``model/population.py``):
        a market whose seed and population parameters match one takes it instead of
        drawing it again. Results are identical either way.
    **params
        Any parameter of ``model/params.py`` except ``steps``; validated there.
    """

    def __init__(self, scenario: str = "china-2020", rng: Any = None,
                 progress: Callable[[str], None] | None = None, params: Params | None = None,
                 customer_agents: bool = True, populations: Populations | None = None, **overrides: Any) -> None:
        # validated once, into a frozen object; `params` is one already validated (simulate's)
        if params is not None and overrides:
            raise TypeError("give either params= (validated Params) or parameters by name, not both")
        self.params = params if params is not None else validated({"scenario": scenario, **overrides},
                                                                  allow=MODEL_PARAMS)
        report = progress or (lambda phase: None)
        # Mesa 3.5 keeps a run's parameters in `model.scenario` (a mesa Scenario): ours go
        # there, validated, so `m.scenario.switching_cost` reads as a Mesa user expects and
        # `m.scenario.rng` is the seed. The starting market itself is `m.starting_market`.
        super().__init__(scenario=RunScenario(rng=rng, **self.params))
        p = self.params
        self.starting_market = get_scenario(p.scenario)
        self.vendor_names = self.starting_market.vendors
        self.regions = self.starting_market.regions
        self.industry_names = industry_graph.industry_names()
        self.n_vendors = len(self.vendor_names)
        self.n_customers = p.n_customers
        if populations is not None and not isinstance(populations, Populations):
            raise TypeError(f"populations = {populations!r}: must be a Populations "
                            "(cloudmarket.model.population) or None")
        key = kept = None
        if populations is not None:
            key = populations.key(rng, p)
            kept = populations.get(key)
        if kept is None:
            self._build_population(report)
            if populations is not None:
                populations.put(key, self._population())
        else:  # the same seed and population parameters: the same draws (model/population.py)
            self._take_population(kept)
        # The rules never read the Mesa faces (`grid`, `customers`): they are built on first
        # access, with the agent ids reserved here, so they come out as an eager build's.
        self._grid, self._customers, self._faces_pending = None, [], customer_agents
        self._first_customer_id = self.agent_id_counter
        if customer_agents:
            self.agent_id_counter += self.n_customers
        report("calibrating starting shares")
        self.vendors = self._make_vendors()
        self._calibrate_intercepts()
        self._allowed_cache: dict[bool, np.ndarray] = {}
        self._cohort_allowed: dict[tuple[bool, int], np.ndarray | None] = {}
        self._factors: dict[bool, tuple[np.ndarray, np.ndarray]] = {}
        self._push_started: dict[str, tuple[int, float]] = {}
        self._vendor_numbers = attrgetter(*VENDOR_NUMBERS)
        # the "others" aggregate is many small firms: left out of concentration measures
        self._fragmented = np.array([name == "others" for name in self.vendor_names])
        self.churn = 0.0
        # rows of each segment and of each region of this scenario (a lone region is the whole
        # market: its shares are the overall ones); a region the scenario lacks stays NaN
        groups = [np.flatnonzero(self.segments[s]) for s in SEGMENTS]
        if len(self.regions) > 1:
            groups += [np.flatnonzero(self.region == k) for k in range(len(self.regions))]
        self._group_shares = metrics.GroupShares(groups, self.n_vendors)
        self._region_rows = len(SEGMENTS) + np.array([REGIONS.index(r) for r in self.regions])
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

    # ------------------------------------------------------------------ the quarter
    def step(self) -> None:
        """One quarter: spend grows, due customers review, vendors book the quarter, then decide."""
        quarter = self.steps  # Mesa has already advanced the counter: 1 in the first quarter
        active = policy.policy_active(quarter, self.params.policy_start)
        self.grow_spend()
        self.customers_review(quarter, active)
        self.vendors_settle(active, quarter)
        self.record_quarter()
        self.vendors_decide()
        self.datacollector.collect(self)

    def grow_spend(self) -> None:
        """Every customer's cloud spend grows by ``market_growth``."""
        self.customer_base.spend *= 1.0 + self.params.market_growth

    def customers_review(self, quarter: int, active: bool) -> None:
        """The review cohort due this quarter chooses among the vendors it may use (model/customers.py)."""
        cohort = -quarter % self.params.review_period
        switched = self.customer_base.review(cohort, self.offer(), self._allowed_in_cohort(active, cohort), self.rng)
        self.churn = len(switched) / self.n_customers

    def vendors_settle(self, active: bool, quarter: int) -> None:
        """Each vendor books the quarter: revenue, costs, capacity, R&D, quality (agents/vendor.py)."""
        p = self.params
        self.demand = np.bincount(self.provider, weights=self.spend, minlength=self.n_vendors)
        supply, cost = self.export_control_factors(active)
        for v in self.vendors:
            subsidy = p.domestic_subsidy if active and v.home_region == "CN" else 0.0
            v.settle(float(self.demand[v.index]), p, float(supply[v.index]), float(cost[v.index]), subsidy,
                     self.push_grant(v, active, quarter))

    def vendors_decide(self) -> None:
        """Each vendor sets next quarter's price and moves its strategy (agents/vendor.py, agents/learning.py)."""
        learners = [v for v in self.vendors if v.learns]
        published = [(v.margin, v.targets) for v in learners]
        for v in self.vendors:
            rivals = [seen for w, seen in zip(learners, published) if w is not v]
            v.decide(self.params, rivals, self.rng)

    def record_quarter(self) -> None:
        """Shares, concentration, churn and instability after the quarter's choices."""
        previous = self._spend_shares
        total = self.demand.sum()  # = metrics.spend_shares(...), without a second bincount
        self._spend_shares = self.demand / total if total > 0 else self.demand
        self._record_metrics(previous_spend_shares=previous)

    # ------------------------------------------------------------------ what vendors offer
    def offer(self) -> Offer:
        """Every vendor's current offer to customers, as arrays (see model/customers.py)."""
        v = self.vendors
        return Offer(
            intercepts=self.intercepts,
            iaas_gap=np.array([x.iaas_gap for x in v]),
            paas_gap=np.array([x.paas_gap for x in v]),
            log_congestion=np.log([x.congestion for x in v]),
            log_price=np.log([x.price for x in v]),
            focus_reach=np.sqrt(np.column_stack([x.focus for x in v])),
        )

    def utility(self, rows: np.ndarray, peers: choice.PeerSlice | None = None) -> np.ndarray:
        """Utility (len(rows), J) of every vendor for customers ``rows`` (model/customers.py)."""
        return self.customer_base.utility_of(rows, self.offer(), peers=peers)

    def push_grant(self, vendor: CloudVendor, active: bool, quarter: int) -> float:
        """The parent group's grant to ``vendor`` this quarter: a fixed budget for cloud_push_quarters.

        The budget per quarter is ``cloud_push`` times the vendor's revenue in the quarter
        before the push starts; it does not grow with the vendor, and it stops.
        """
        p = self.params
        if not active or vendor.name not in p.cloud_push_vendors or p.cloud_push <= 0:
            return 0.0
        if vendor.name not in self._push_started:
            self._push_started[vendor.name] = (quarter, p.cloud_push * vendor.revenue)
        start, budget = self._push_started[vendor.name]
        return economics.push_grant(quarter - start + 1, budget, p.cloud_push_quarters)

    def export_control_factors(self, active: bool) -> tuple[np.ndarray, np.ndarray]:
        """Per-vendor (supply, cost) factors of export controls (model/policy.py), cached per policy state."""
        if active not in self._factors:
            p = self.params
            self._factors[active] = policy.export_control_factors(
                self.vendor_names, p.sanctioned_vendors, p.export_control_severity, p.export_cost_markup, active)
        return self._factors[active]

    # ------------------------------------------------------------------ build
    def _draw_customers(self, n: int) -> dict[str, Any]:
        """Each customer's attributes, drawn from the seed (ODD 3.1): arrays by name."""
        p, rng = self.params, self.rng
        market = self.starting_market
        region = rng.choice(len(self.regions), size=n, p=np.asarray(market.region_weights))
        industry = rng.choice(industry_graph.N_INDUSTRIES, size=n, p=industry_graph.industry_weights())
        # annual cloud spend in USD millions: lognormal, median 1
        spend = rng.lognormal(mean=0.0, sigma=p.spend_sigma, size=n)
        m = market.iaas_need_mean
        iaas_need = rng.beta(6.0 * m, 6.0 * (1.0 - m), size=n)
        names = self.industry_names
        code = {name: k for k, name in enumerate(names)}
        info = industry == code["Information"]
        segments: dict[str, np.ndarray] = {
            "large": spend >= np.quantile(spend, LARGE_QUANTILE),
            "government": industry == code["Government"],
            "telecom": info & (rng.random(n) < 0.5),  # about half of "Information" is telecoms
            "finance": industry == code[names[9]],  # Finance, insurance, real estate, ...
            "critical": np.isin(industry, [code["Utilities"], code["Mining"],
                                           code["Transportation and warehousing"]]),
        }
        review_phase = rng.integers(0, p.review_period, size=n)
        tenure = rng.integers(0, p.review_period, size=n)
        home = np.array(market.home_regions)
        region_names = np.array(self.regions)[region]
        home_match = (home[None, :] == region_names[:, None]) | (home[None, :] == ANY_REGION)
        return dict(spend=spend, iaas_need=iaas_need, region=region, industry=industry, segments=segments,
                    review_phase=review_phase, tenure=tenure, home_match=home_match)

    def _build_population(self, report: Callable[[str], None]) -> None:
        """Customers, their industry graph and starting providers: what the seed and
        ``population.POPULATION_PARAMS`` alone decide."""
        report("drawing customers")
        drawn = self._draw_customers(self.params.n_customers)
        report("building the industry graph")
        self._build_graph(drawn["industry"])
        self.customer_base = CustomerBase(self.params, adjacency=self.adjacency, **drawn)
        report("choosing starting providers")
        self._assign_initial_providers()

    def _population(self) -> Population:
        """This market's population as built, before any quarter, for the next run with its seed."""
        return Population(customer_base=self.customer_base.copy(), edges=self.edges, adjacency=self.adjacency,
                          demand=self.demand.copy(), sample=getattr(self, "_sample", None),
                          rng_state=self.rng.bit_generator.state)

    def _take_population(self, kept: Population) -> None:
        """Start from a kept population, and from the random generator's state right after it."""
        self.customer_base = kept.customer_base.copy(params=self.params)
        self.edges, self.adjacency = kept.edges, kept.adjacency
        self.demand = kept.demand.copy()
        if kept.sample is not None:
            self._sample = kept.sample
        self.rng.bit_generator.state = kept.rng_state

    def _build_graph(self, industry: np.ndarray) -> None:
        p = self.params
        self.edges = industry_graph.sample_edges(
            industry, industry_graph.io_link_weights(), p.avg_degree, p.within_industry, self.rng)
        self.adjacency = industry_graph.adjacency_matrix(self.edges, self.n_customers)

    customer_class = EnterpriseCustomer  # each customer's Mesa agent: a subclass may give its own

    @property
    def grid(self) -> Network | None:
        """The customers' Mesa ``Network`` (cell i = customer i, its ``G`` the networkx graph); built on first access.

        >>> m = CloudMarket(n_customers=50, rng=3)
        >>> m.grid.G.number_of_edges() == len(m.edges)
        True
        """
        self._build_faces()
        return self._grid

    @grid.setter
    def grid(self, network: Network | None) -> None:
        self._grid = network

    @property
    def customers(self) -> list[EnterpriseCustomer]:
        """Every customer's ``EnterpriseCustomer`` agent, in row order; built on first access."""
        self._build_faces()
        return self._customers

    @customers.setter
    def customers(self, agents: list[EnterpriseCustomer]) -> None:
        self._customers = agents

    def _build_faces(self) -> None:
        """Build the Mesa faces once, under the agent ids reserved at construction.

        Nothing here draws from the model's random generators (Mesa's Network and Cell only
        keep a reference to ``self.random``), so building them late changes no result.
        """
        if not self._faces_pending:
            return
        self._faces_pending = False
        after, self.agent_id_counter = self.agent_id_counter, self._first_customer_id
        try:
            with gc_paused():
                self._place_customers()
        finally:
            self.agent_id_counter = after

    def _place_customers(self) -> None:
        graph = industry_graph.to_networkx(self.edges, self.n_customers, self.industry)
        # layout=None: spring layout costs seconds at 1,000 nodes and minutes beyond
        self.grid = IndustryNetwork(graph, layout=None, random=self.random)
        cells = self.grid._cells  # node id -> cell; ids are the customers' row numbers
        self.customers = [self.customer_class(self, i, cells[i]) for i in range(self.n_customers)]

    def _assign_initial_providers(self) -> None:
        """Draw providers so that spend shares match the scenario's (sampling noise repaired).

        Intercepts that reproduce the target shares from the home-region term give each
        customer's starting provider a logit draw, so providers cluster by region as
        they would in a market that has been running.
        """
        target = np.asarray(self.starting_market.target_shares)
        sample = self._calibration_sample()
        home = self.params.home_preference * self.customer_base.home_match[sample]
        first = choice.berry_intercepts(target, self.spend[sample], home)
        self.provider[:] = choice.draw_choices(self.params.home_preference * self.customer_base.home_match + first,
                                               self.rng)
        self.provider[:] = choice.rebalance(self.provider, self.spend, target)
        self.demand = np.bincount(self.provider, weights=self.spend, minlength=self.n_vendors)

    def _make_vendors(self) -> list[CloudVendor]:
        """One CloudVendor per scenario vendor, each at its starting best-response price and strategy.

        Starting IaaS/PaaS splits differ between vendors (drawn from the seed), so that
        rules which compare vendors (imitation) have something to compare; the quality
        ladder measures R&D against each vendor's own start, so any start is a steady state.
        """
        p, market = self.params, self.starting_market
        shares = self.demand / self.demand.sum()
        vendors = []
        for k, (name, home) in enumerate(zip(self.vendor_names, market.home_regions, strict=True)):
            fringe = home == ANY_REGION  # "others": many small firms, priced competitively, no strategy
            split = SPLITS[int(self.rng.integers(len(SPLITS)))] if not fringe else 0.5
            rule = make_rule(p.learning_rule, recency=p.learning_recency,
                             experimentation=p.learning_experimentation, imitation_rate=p.imitation_rate)
            vendors.append(CloudVendor(
                self, name, k, home, demand=float(self.demand[k]), share=0.0 if fringe else float(shares[k]),
                params=p, rule=rule, focus=(0.0,) * len(SEGMENTS) if fringe else starting_focus(market.focus.get(name, ())),
                split=split,
                learns=not fringe, price_rule="cost-plus" if fringe else p.price_rule))
        return vendors

    def _calibrate_intercepts(self) -> None:
        """Berry inversion on the full utility: with no policy change, step 0 is a steady state.

        Given today's providers, peers, prices, focus and switching costs, the intercepts
        make the expected spend shares after a review equal today's shares.
        """
        sample = self._calibration_sample()
        realised = metrics.spend_shares(self.provider, self.spend, self.n_vendors)
        self.intercepts = np.zeros(self.n_vendors)
        rest = self.customer_base.utility_of(sample, self.offer())  # every term but the intercepts
        self.intercepts = choice.berry_intercepts(realised, self.spend[sample], rest)

    def _calibration_sample(self) -> np.ndarray:
        if self.n_customers <= CALIBRATION_SAMPLE:
            return np.arange(self.n_customers)
        if not hasattr(self, "_sample"):
            self._sample = np.sort(self.rng.choice(self.n_customers, CALIBRATION_SAMPLE, replace=False))
        return self._sample

    # ------------------------------------------------------------------ policy
    def _allowed_in_cohort(self, active: bool, cohort: int) -> np.ndarray | None:
        """The allowed-vendor rows of a review cohort, or None when it may buy from every vendor."""
        key = (active, cohort)
        if key not in self._cohort_allowed:
            rows = self.allowed_vendors(active)[self.customer_base.cohorts[cohort]]
            self._cohort_allowed[key] = None if rows.all() else rows
        return self._cohort_allowed[key]

    def allowed_vendors(self, active: bool) -> np.ndarray:
        """Bool (customers, vendors): who may buy from whom, with policy on or off."""
        if active not in self._allowed_cache:
            p = self.params
            if active:
                self._allowed_cache[active] = policy.allowed_vendors(
                    self.vendor_names, self.starting_market.home_regions, self.regions, self.region,
                    self.segments, sanctioned=p.sanctioned_vendors, ban_regions=p.ban_regions,
                    ban_segments=p.ban_segments, data_localization=p.data_localization)
            else:
                self._allowed_cache[active] = np.ones((self.n_customers, self.n_vendors), dtype=bool)
        return self._allowed_cache[active]

    # ------------------------------------------------------------------ customer arrays
    # The customers' state lives in the customer base; these read it under the usual names.
    provider = property(lambda self: self.customer_base.provider, doc="Each customer's vendor index (n,).")
    spend = property(lambda self: self.customer_base.spend, doc="Each customer's annual cloud spend (n,).")
    tenure = property(lambda self: self.customer_base.tenure, doc="Quarters with the current provider (n,).")
    region = property(lambda self: self.customer_base.region, doc="Each customer's region index (n,).")
    industry = property(lambda self: self.customer_base.industry, doc="Each customer's industry index (n,).")
    iaas_need = property(lambda self: self.customer_base.iaas_need, doc="IaaS share of each customer's needs (n,).")
    segments = property(lambda self: self.customer_base.segments, doc="Segment name -> bool array (n,).")
    review_phase = property(lambda self: self.customer_base.review_phase, doc="Each customer's review phase (n,).")

    # ------------------------------------------------------------------ outputs
    def _record_metrics(self, previous_spend_shares: np.ndarray) -> None:
        counts = metrics.count_shares(self.provider, self.n_vendors)
        spend = self._spend_shares
        within = np.full((len(GROUP_SHARES), self.n_vendors), np.nan)
        found = self._group_shares(self.provider, self.spend)
        within[:len(SEGMENTS)] = found[:len(SEGMENTS)]
        within[self._region_rows] = found[len(SEGMENTS):] if len(self.regions) > 1 else spend
        within = within.T.tolist()  # (vendors, groups)
        for v in self.vendors:
            v.share, v.spend_share = float(counts[v.index]), float(spend[v.index])
            v.__dict__.update(zip(GROUP_SHARES, within[v.index]))
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

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
from dataclasses import fields
from operator import attrgetter
from typing import Any

import mesa
import numpy as np
import pandas as pd
from mesa.discrete_space import Network
from mesa.experimental.scenarios import Scenario

from cloudmarket.agents import SEGMENTS, SPLITS, CloudVendor, EnterpriseCustomer, make_rule, starting_focus
from cloudmarket.model import choice, industry_graph, metrics
from cloudmarket.model.customers import CustomerBase, Offer, commitment_take_up
from cloudmarket.model.policy import Policy
from cloudmarket.model.params import MODEL_PARAMS, Params, validated
from cloudmarket.model.population import Population, Populations
from cloudmarket.model.metrics import GROUP_SHARES, REGIONS, MarketRecorder
from cloudmarket.model.scenarios import ANY_REGION, get_scenario, period_label

CALIBRATION_SAMPLE = 20_000  # customers used for the intercept inversion at large sizes
LARGE_QUANTILE = 0.9  # customers above this spend quantile form the "large" segment
MIGRATION_ROUNDS = 4  # fixed-point rounds of the steady-state inversion (the correction is small)
# The parameters the steady-state inversion reads (with the offer, holdings and commitments):
# the key of its kept result (tests/test_population.py records the reads).
START_PARAMS = ("n_customers", "adopter_share", "market_growth", "review_period", "quality_weight",
                "congestion_elasticity", "focus_weight", "peer_weight", "home_preference", "price_weight",
                "multicloud_cost", "switching_cost")
FRINGE_EGRESS = 0.5  # the fringe charges half a named vendor's egress fee (Ofcom: hyperscalers charge more)
VENDOR_REPORTS = {
    "vendor": "name",
    "share": "share",
    "spend_share": "spend_share",
    "iaas_investment_share": "iaas_investment_share",
    "capacity": "capacity",
    "demand": "demand",
    "congestion": "capacity_ratio",  # old name, kept for one release
    "capacity_ratio": "capacity_ratio",
    "iaas_quality": "iaas_quality",
    "paas_quality": "paas_quality",
    "price": "price",  # the price of new business
    "renewal_price": "renewal_price",
    "commitment_discount": "commitment_discount",
    "egress_fee": "egress_fee",
    "new_business_share": "new_business_share",
    "committed_share": "committed_share",
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
    "investment": "rd_investment",  # old name, kept for one release
    "rd_investment": "rd_investment",  # the quarter's R&D spend: own R&D with the subsidy, and the parent's grant
    "grant": "grant",
    "profit": "profit",
    "cash": "cash",
}
# Each vendor's spend share within customer groups, per step (segments, and every region of
# any scenario): GROUP_SHARES and REGIONS in model/metrics.py, set on the vendors by its MarketRecorder.
VENDOR_REPORTS.update((name, name) for name in GROUP_SHARES)
VENDOR_NUMBERS = tuple(name for name in VENDOR_REPORTS if name != "vendor")  # the numeric columns
# churn: share of firms on the cloud whose main vendor (largest holding) changed this quarter;
# switch_rate: share that moved ALL their installed spend; migration_rate: share of installed
# spend that moved; multihoming: share holding spend with two or more vendors; adoption: share
# of all firms (customers and prospects) on the cloud.
MARKET_REPORTS = ("hhi", "cr3", "churn", "instability", "within_industry_hhi", "count_hhi", "switch_rate",
                  "migration_rate", "multihoming", "adoption")


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
        self.starting_market = market = get_scenario(p.scenario)
        # scheduled entrants join the vendor columns; they are closed until their quarter
        self.entrants = tuple(market.entrant(name) for name in market.entrants if name in p.entrants)
        self.vendor_names = market.vendors + tuple(e.name for e in self.entrants)
        self.home_regions = market.home_regions + tuple(e.home_region for e in self.entrants)
        self.entry_quarter = np.array([0] * len(market.vendors) + [e.quarter for e in self.entrants])
        self.regions = market.regions
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
            self.agent_id_counter += self.customer_base.n  # one per firm: customers and prospects
        report("calibrating starting shares")
        self.policy = Policy(p, self.vendor_names, self.home_regions, self.regions, self.region, self.segments)
        self._draw_starting_commitments()
        self.vendors = self._make_vendors()
        self._calibrate_intercepts()
        self._vendor_numbers = attrgetter(*VENDOR_NUMBERS)
        self.churn = self.switch_rate = self.migration_rate = 0.0
        # the measures after each quarter; the fringe ("others", many small firms) is left out
        # of concentration measures
        self.recorder = MarketRecorder(self.customer_base, np.array([home == ANY_REGION for home in self.home_regions]),
                                       self.regions)
        self.demand = self.customer_base.vendor_spend()
        self._spend_shares = self.demand / self.demand.sum()
        for v in self.vendors:  # at the calibrated start new business goes as spend does
            v.new_business_share = float(self._spend_shares[v.index])
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
        """One quarter: entrants open, customers place new spend and review installed workloads,
        vendors book the quarter, the market is measured, then vendors decide."""
        quarter = self.steps  # Mesa has already advanced the counter: 1 in the first quarter
        self.vendors_enter(quarter)
        self.customers_look(quarter)
        self.customers_place_new_spend()
        self.customers_review(quarter)
        self.vendors_settle(quarter)
        self.record_quarter()
        self.vendors_decide(quarter)
        self.datacollector.collect(self)

    def vendors_enter(self, quarter: int) -> None:
        """Scheduled entrants open this quarter with their capacity, quality and some cash."""
        total = float(self.demand.sum())
        for entrant in self.entrants:
            if entrant.quarter == quarter:
                self.vendor(entrant.name).enter(entrant.capacity * total, entrant.quality_gap)

    def customers_look(self, quarter: int) -> None:
        """What customers see this quarter, from last quarter's state (synchronous update):
        the offer, the policy in force, their peers' holdings, and each firm's value of each vendor."""
        base = self.customer_base
        self._offer = self.offer()
        self._technical = self.policy.technical_factor(quarter)
        self._allowed = self.policy.allowed(quarter, self.entry_quarter <= quarter)
        self._installed = self.demand.sum()
        self._n_before = base.n_adopted
        self._quarter = quarter

    def customers_place_new_spend(self) -> None:
        """New adopters enter and every customer's growth is placed as new workloads (model/customers.py)."""
        p = self.params
        self.new_business, self._values = self.customer_base.place_growth(
            p.market_growth, p.adopter_share, self._offer, self._technical, self._allowed, self.rng)

    def customers_review(self, quarter: int) -> None:
        """The cohort whose contracts come up reviews its installed workloads: rare migration (model/customers.py)."""
        base = self.customer_base
        rows = base.due_for_review(quarter, self._n_before)
        self.review = base.review(rows, self._values[rows], self._offer, self._technical, self._allowed,
                                  self.rng, quarter)
        self.churn = base.finish_review()
        self.switch_rate, self.migration_rate = self.review.rates(self._n_before, self._installed)

    def vendors_settle(self, quarter: int) -> None:
        """Each vendor books the quarter: revenue, costs, capacity, R&D, quality (agents/vendor.py)."""
        p, policy, review = self.params, self.policy, self.review
        self.demand = self.customer_base.vendor_spend()
        committed = self.customer_base.committed_spend(quarter)
        supply, cost = policy.export_controls(quarter)
        for v in self.vendors:
            k = v.index
            v.settle(float(self.demand[k]), p, float(supply[k]), float(cost[k]), policy.subsidy(v.home_region, quarter),
                     policy.push_grant(v.name, v.revenue, quarter), new_business=float(self.new_business[k]),
                     committed=float(committed[k]), egress_income=float(review.egress_income[k]),
                     retention=review.retention(k))

    def vendors_decide(self, quarter: int) -> None:
        """Each vendor sets next quarter's prices, fee and discount and moves its strategy (agents/vendor.py)."""
        learners = [v for v in self.vendors if v.learns]
        published = [(v.margin, v.targets) for v in learners]
        egress_cap, discount_cap = self.policy.egress_cap(quarter + 1), self.policy.discount_cap(quarter + 1)
        for v in self.vendors:
            rivals = [seen for w, seen in zip(learners, published) if w is not v]
            v.decide(self.params, rivals, self.rng, egress_cap, discount_cap)

    def record_quarter(self) -> None:
        """Shares, concentration, switching, migration and multi-homing after the quarter's choices."""
        self._spend_shares, measures = self.recorder.record_quarter(self.vendors, self.demand, self.new_business,
                                                                   self._spend_shares)
        self._set_measures(measures)

    # ------------------------------------------------------------------ what vendors offer
    def offer(self) -> Offer:
        """Every vendor's current offer to customers, as arrays (see model/customers.py)."""
        return Offer.from_vendors(self.vendors, self.intercepts, self.params.flexibility_premium)

    def utility(self, rows: np.ndarray) -> np.ndarray:
        """Utility (len(rows), J) of a new workload of firms ``rows`` (model/customers.py)."""
        return self.customer_base.utility_of(rows, self.offer())

    def allowed_vendors(self, quarter: int) -> np.ndarray:
        """Bool (firms, vendors): who may buy from whom in ``quarter`` (policy and entry; model/policy.py)."""
        mask = self.policy.allowed(quarter, self.entry_quarter <= quarter)
        return np.ones((self.customer_base.n, self.n_vendors), dtype=bool) if mask is None else mask

    def vendor(self, name: str) -> CloudVendor:
        """The vendor called ``name``."""
        return self.vendors[self.vendor_names.index(name)]

    # ------------------------------------------------------------------ build
    def _draw_customers(self, n: int) -> dict[str, Any]:
        """Each firm's attributes, drawn from the seed (ODD 3.1): arrays by name."""
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
        home = np.array(self.home_regions)
        region_names = np.array(self.regions)[region]
        home_match = (home[None, :] == region_names[:, None]) | (home[None, :] == ANY_REGION)
        return dict(spend=spend, iaas_need=iaas_need, region=region, industry=industry, segments=segments,
                    review_phase=review_phase, tenure=tenure, home_match=home_match)

    def _build_population(self, report: Callable[[str], None]) -> None:
        """Customers, prospects, their industry graph and starting providers: what the seed and
        ``population.POPULATION_PARAMS`` alone decide."""
        p = self.params
        report("drawing customers")
        n_rows = p.n_customers + int(round(p.prospects * p.n_customers))
        drawn = self._draw_customers(n_rows)
        report("building the industry graph")
        self._build_graph(drawn["industry"], n_rows)
        self.customer_base = CustomerBase(p, adjacency=self.adjacency, n_customers=p.n_customers, **drawn)
        report("choosing starting providers")
        self._assign_initial_providers()

    def _population(self) -> Population:
        """This market's population as built, before any quarter, for the next run with its seed."""
        return Population(customer_base=self.customer_base.copy(), edges=self.edges, adjacency=self.adjacency,
                          demand=self.customer_base.vendor_spend(), sample=getattr(self, "_sample", None),
                          rng_state=self.rng.bit_generator.state)

    def _take_population(self, kept: Population) -> None:
        """Start from a kept population, and from the random generator's state right after it."""
        self.customer_base = kept.customer_base.copy(params=self.params)
        self.edges, self.adjacency = kept.edges, kept.adjacency
        if kept.sample is not None:
            self._sample = kept.sample
        self.rng.bit_generator.state = kept.rng_state

    def _build_graph(self, industry: np.ndarray, n_rows: int) -> None:
        p = self.params
        self.edges = industry_graph.sample_edges(
            industry, industry_graph.io_link_weights(), p.avg_degree, p.within_industry, self.rng)
        self.adjacency = industry_graph.adjacency_matrix(self.edges, n_rows)

    customer_class = EnterpriseCustomer  # each customer's Mesa agent: a subclass may give its own

    @property
    def grid(self) -> Network | None:
        """The firms' Mesa ``Network`` (cell i = firm i, its ``G`` the networkx graph); built on first access.

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
        """Every firm's ``EnterpriseCustomer`` agent (customers and prospects), in row order; built on first access."""
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
        n_rows = self.customer_base.n
        graph = industry_graph.to_networkx(self.edges, n_rows, self.industry)
        # layout=None: spring layout costs seconds at 1,000 nodes and minutes beyond
        self.grid = IndustryNetwork(graph, layout=None, random=self.random)
        cells = self.grid._cells  # node id -> cell; ids are the firms' row numbers
        self.customers = [self.customer_class(self, i, cells[i]) for i in range(n_rows)]

    def _assign_initial_providers(self) -> None:
        """Draw the starting customers' workloads so that spend shares match the scenario's (sampling noise repaired).

        Each customer's spend is the sum of ``review_period`` workloads it placed in the past,
        one a quarter (each grown with the market since), by the new-workload logit on the home-region term and
        intercepts that reproduce the target shares, with the multi-cloud cost on vendors
        it did not use yet: so providers cluster by region, and the market starts with the
        multi-homing its own rule produces, not with every customer at one vendor. A greedy
        repair then moves single workloads until the shares are the scenario's, first those
        of firms that already use the vendor they move to, so the repair adds as little
        multi-homing as it can.
        """
        p, base, n = self.params, self.customer_base, self.params.n_customers
        n_open = len(self.starting_market.vendors)  # entrants hold nothing at the start
        target = np.asarray(self.starting_market.target_shares)
        sample = self._calibration_sample()
        sample = sample[sample < n]
        home = base.home_term[:n, :n_open]
        first = choice.berry_intercepts(target, base.size[sample], home[sample])
        pieces = p.review_period
        held = np.zeros((n, n_open), dtype=bool)
        vendor = np.empty((pieces, n), dtype=np.int64)
        for k in range(pieces):
            vendor[k] = choice.draw_choices(home + first - p.multicloud_cost * ~held, self.rng)
            held[np.arange(n), vendor[k]] = True
        # a workload placed k quarters before another has grown with the market since: the
        # older, the smaller (and no two pieces tie for the largest holding)
        vintage = (1.0 + max(p.market_growth, 0.01)) ** np.arange(pieces)
        amount = np.outer(vintage / vintage.sum(), base.size[:n]).ravel()
        firm = np.tile(np.arange(n), pieces)
        vendor = choice.rebalance(vendor.ravel(), amount, target, owner=firm)
        J = base.n_vendors  # each piece added to its firm's holding with its vendor (np.add.at's sums, faster)
        base.holdings[:n] += np.bincount(firm * J + vendor, weights=amount, minlength=n * J).reshape(n, J)
        base.provider[:n] = base.holdings[:n].argmax(axis=1)

    def _draw_starting_commitments(self) -> None:
        """Starting workloads are committed as the starting discount's take-up says, with terms
        that end at random quarters (a market that has been signing contracts all along)."""
        p, base = self.params, self.customer_base
        rows = np.arange(p.n_customers)
        vendor = base.provider[rows]
        take_up = float(commitment_take_up(p.commitment_discount, p.flexibility_premium))
        commits = self.rng.random(len(rows)) < take_up
        ends = self.rng.integers(1, p.commitment_term + 1, size=len(rows))
        base.locked_until[rows[commits], vendor[commits]] = ends[commits]

    def _make_vendors(self) -> list[CloudVendor]:
        """One CloudVendor per vendor column, each at its starting best-response prices and strategy.

        Starting IaaS/PaaS splits differ between vendors (drawn from the seed), so that
        rules which compare vendors (imitation) have something to compare; the quality
        ladder measures R&D against each vendor's own start, so any start is a steady state.
        New business still at its first contract starts as the book's steady-state share
        ``g / (g + 1 / review_period)``.
        """
        p, market, base = self.params, self.starting_market, self.customer_base
        demand = base.vendor_spend()
        shares = demand / demand.sum()
        committed = base.committed_spend(0)
        growth = max(p.market_growth, 0.0)
        new_share = growth / (growth + 1.0 / p.review_period)
        vendors = []
        for k, (name, home) in enumerate(zip(self.vendor_names, self.home_regions, strict=True)):
            fringe = home == ANY_REGION  # "others": many small firms, priced competitively, no strategy
            split = SPLITS[int(self.rng.integers(len(SPLITS)))] if not fringe else 0.5
            rule = make_rule(p.learning_rule, recency=p.learning_recency,
                             experimentation=p.learning_experimentation, imitation_rate=p.imitation_rate)
            vendors.append(CloudVendor(
                self, name, k, home, demand=float(demand[k]), spend_share=0.0 if fringe else float(shares[k]),
                params=p, rule=rule, focus=(0.0,) * len(SEGMENTS) if fringe else starting_focus(market.focus.get(name, ())),
                split=split, learns=not fringe, price_rule="cost-plus" if fringe else p.price_rule,
                book_new=new_share * float(demand[k]), committed=float(committed[k]),
                egress_share=FRINGE_EGRESS if fringe else 1.0))
        return vendors

    def _calibrate_intercepts(self) -> None:
        """Berry inversion on the full quarter: with no policy change, step 0 is a steady state.

        Given today's holdings, peers, prices, focus, commitments and costs, the intercepts
        make the expected first quarter keep every vendor's spend share (:meth:`_steady_state`).
        Scheduled entrants take the lowest intercept of the named starting vendors: a new brand.

        The inversion is a pure function of the starting offer, the customer base's
        holdings and commitments, and the parameters in ``START_PARAMS``; its result is kept
        with the population under exactly those inputs, so the runs of a sweep that share a
        seed and differ only in levers that act from the first quarter on (export controls,
        bans, caps) take the same intercepts, bit for bit, without the work.
        (tests/test_population.py records what the inversion reads.)
        """
        p, base = self.params, self.customer_base
        n_open = len(self.starting_market.vendors)
        self.intercepts = np.zeros(self.n_vendors)
        offer = self.offer()
        sample = self._calibration_sample()
        key = ("steady-state intercepts", n_open, *(p[name] for name in START_PARAMS),
               choice.digest(*(getattr(offer, f.name) for f in fields(offer)), base.holdings, base.locked_until,
                             sample))
        if key not in base.derived:
            base.derived[key] = self._steady_state(offer, sample, n_open)
        self.intercepts[:n_open] = base.derived[key]
        if self.n_vendors > n_open:
            self.intercepts[n_open:] = self.intercepts[:n_open][~self._is_fringe(n_open)].min()

    def _steady_state(self, offer: Offer, sample: np.ndarray, n_open: int) -> np.ndarray:
        """The starting vendors' intercepts (n_open,) under which the expected first quarter keeps their shares.

        The shares of new spend (customers' growth and adopters' first spend, each weighted
        by its expected amount) are today's shares, corrected for the expected net migration
        of the workloads that come up for review (a fixed point, found in a few rounds).
        """
        p, base = self.params, self.customer_base
        n = p.n_customers
        installed = base.vendor_spend()
        realised = installed[:n_open] / installed.sum()
        existing, prospects = sample[sample < n], sample[sample >= n]
        pool = base.size[n:].sum()
        adopters = p.adopter_share if pool > 0 else 0.0
        weights = np.concatenate([(1.0 - adopters) * base.size[existing] / base.size[existing].sum(),
                                  adopters * base.size[prospects] / max(base.size[prospects].sum(), 1e-300)])
        rows = np.concatenate([existing, prospects])
        peers = base.peer_shares()
        rest = base.new_workload_utility(rows, base.value_of(rows, offer, peers[rows]), offer, 1.0)[:, :n_open]
        growth = p.market_growth * installed.sum() * len(sample) / base.n  # the sample's share of it
        # workloads due for review in the first quarter: the unlocked ones, one cohort's worth on average
        held = base.holdings[existing, :n_open]
        firm, current = np.nonzero((held > 0) & (base.locked_until[existing, :n_open] <= 1))
        migration = None
        if growth > 1e-9 * installed.sum() and len(firm):
            due = existing[firm]
            stay_or_move = base.migration_utility(due, current, base.value_of(due, offer, peers[due]),
                                                  offer, 1.0)[:, :n_open]
            migration = (stay_or_move, held[firm, current] / p.review_period, current, growth)
        return choice.steady_state_intercepts(realised, weights, rest, migration, MIGRATION_ROUNDS)

    def _is_fringe(self, n: int) -> np.ndarray:
        return np.array([home == ANY_REGION for home in self.home_regions[:n]])

    def _calibration_sample(self) -> np.ndarray:
        n_rows = self.customer_base.n
        if n_rows <= CALIBRATION_SAMPLE:
            return np.arange(n_rows)
        if not hasattr(self, "_sample"):
            self._sample = np.sort(self.rng.choice(n_rows, CALIBRATION_SAMPLE, replace=False))
        return self._sample

    # ------------------------------------------------------------------ customer arrays
    # The firms' state lives in the customer base; these read it under the usual names.
    provider = property(lambda self: self.customer_base.provider, doc="Each firm's main vendor index (N,); -1 before adopting.")
    spend = property(lambda self: self.customer_base.spend, doc="Each firm's annual cloud spend, all vendors (N,).")
    holdings = property(lambda self: self.customer_base.holdings, doc="Annual spend of each firm with each vendor (N, J).")
    tenure = property(lambda self: self.customer_base.tenure, doc="Quarters with the current main vendor (N,).")
    region = property(lambda self: self.customer_base.region, doc="Each firm's region index (N,).")
    industry = property(lambda self: self.customer_base.industry, doc="Each firm's industry index (N,).")
    iaas_need = property(lambda self: self.customer_base.iaas_need, doc="IaaS share of each firm's needs (N,).")
    segments = property(lambda self: self.customer_base.segments, doc="Segment name -> bool array (N,).")
    review_phase = property(lambda self: self.customer_base.review_phase, doc="Each firm's review phase (N,).")

    # ------------------------------------------------------------------ outputs
    def _record_metrics(self, previous_spend_shares: np.ndarray) -> None:
        """Measure the market at this step's spend shares (model/metrics.py MarketRecorder)."""
        self._set_measures(self.recorder.record(self.vendors, self._spend_shares, previous_spend_shares))

    def _set_measures(self, measures: dict[str, float]) -> None:
        """The recorder's measures as the market's attributes (hhi, cr3, ...), which the DataCollector reads."""
        for name, value in measures.items():
            setattr(self, name, value)

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
        indicator = metrics.group_indicator([np.flatnonzero(code == k) for k in range(len(names))], len(code))
        table = metrics.spend_table(indicator, self.holdings)
        totals = table.sum(axis=1, keepdims=True)
        totals[totals == 0] = 1.0
        return pd.DataFrame(table / totals, index=list(names), columns=list(self.vendor_names))

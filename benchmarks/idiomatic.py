"""The idiomatic Mesa baseline: every customer is a Mesa agent that makes its own choices.

``IdiomaticMarket`` is a CloudMarket whose customers act one agent at a time, the way
Mesa's examples are written: each quarter every customer agent is asked, in its own
methods and in a random order (``shuffle_do``), to look at its neighbours on the graph,
place its new spend and, when its contracts come up, review its installed workloads.
Each agent does that for its own row only, by calling the model's own rule functions in
``model/customers.py`` with a one-row ``rows`` array (``value_of``,
``new_workload_utility``, ``place_new_spend``, ``review``), so the rules are the model's;
what differs is the loop (one Python call chain per agent instead of one array call per
quarter) and where the peers come from (the agent walks its Mesa cell's neighbourhood and
adds up its neighbours' holdings, instead of one sparse product for everyone).

Everything else is CloudMarket's own: the world (customers, graph, calibration), the
policy, the vendors and the data collection. All agents look before any places its new
spend, so every customer chooses against last quarter's peers, as in the vectorised
model. The random draws come from the model's generator but in another order (agent by
agent, shuffled), so the two agree in distribution, not draw for draw
(``tests/test_bench_equivalence.py``).

Example
-------
>>> m = IdiomaticMarket(n_customers=300, rng=7)
>>> m.run_for(2)
>>> bool(abs(m.vendor_frame().query("step == 2").spend_share.sum() - 1) < 1e-9)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cloudmarket.agents import EnterpriseCustomer
from cloudmarket.model import CloudMarket
from cloudmarket.model.customers import Offer, Review


@dataclass
class QuarterView:
    """What every customer sees this quarter (set by the market before the agents act)."""

    quarter: int
    offer: Offer
    technical: float  # share of technical switching and multi-cloud costs left after policy
    allowed: np.ndarray | None  # (firms, vendors) who may buy from whom; None: anyone anything
    installed: float  # the market's installed spend at the start of the quarter
    existing_growth: float = 0.0  # new spend of the firms already on the cloud, in all


class IdiomaticCustomer(EnterpriseCustomer):
    """A customer that looks, places its new spend and reviews its workloads itself, for its own row."""

    def __init__(self, model, index: int, cell) -> None:
        super().__init__(model, index, cell)
        self.row = np.array([index])  # this customer's row, as the model's rule functions take rows
        # its contracts come up in the quarters q with (q + review_phase) % review_period == 0
        self.review_phase = int(model.customer_base.review_phase[index])
        self.value = None  # its value of each vendor this quarter, (1, J)
        self.spend_before = 0.0  # its installed spend at the start of the quarter
        self.on_cloud = False  # on the cloud before this quarter (this quarter's adopters are not)

    def start_quarter(self) -> None:
        """Note what it holds before anyone acts."""
        base = self.model.customer_base
        self.on_cloud = bool(base.adopted[self.index])
        self.spend_before = float(base.holdings[self.index].sum())

    def peer_shares(self) -> np.ndarray:
        """Share of its neighbours' spend held with each vendor, (1, J), from the agents on its cell's neighbourhood."""
        holdings = self.model.customer_base.holdings
        totals = np.zeros((1, holdings.shape[1]))
        for peer in self.cell.neighborhood.agents:
            totals += holdings[peer.index]
        norm = totals.sum()
        return totals / norm if norm > 0 else totals

    def look(self) -> None:
        """Its value of every vendor this quarter, from its neighbours' holdings (``CustomerBase.value_of``)."""
        if self.model.customer_base.adopted[self.index]:
            self.value = self.model.customer_base.value_of(self.row, self.model.view.offer, self.peer_shares())

    def new_workload_utility(self) -> np.ndarray:
        """Utility (1, J) of a new workload with each vendor (``CustomerBase.new_workload_utility``)."""
        view = self.model.view
        return self.model.customer_base.new_workload_utility(self.row, self.value, view.offer, view.technical)

    def place_workload(self, amount: float) -> np.ndarray:
        """Place ``amount`` of new spend by one logit draw (``CustomerBase.place_new_spend``); returns it by vendor."""
        m, view = self.model, self.model.view
        allowed = None if view.allowed is None else view.allowed[self.row]
        return m.customer_base.place_new_spend(self.row, np.array([amount]), self.new_workload_utility(), allowed,
                                               m.rng)

    def place_new_spend(self) -> None:
        """Its growth (its share of the existing customers' new spend), or its first spend if it adopted now."""
        m, view = self.model, self.model.view
        base = m.customer_base
        if not base.adopted[self.index]:
            return
        if view.installed * m.params.market_growth <= 0:  # a shrinking market: its workloads shrink in place
            if self.on_cloud:
                base.holdings[self.index] *= 1.0 + m.params.market_growth
            return
        if self.on_cloud:
            amount = view.existing_growth * self.spend_before / view.installed
        else:
            amount = float(base.size[self.index])
        m.new_business += self.place_workload(amount)

    def review(self) -> None:
        """When its contracts come up, review its installed workloads (``CustomerBase.review``)."""
        m, view = self.model, self.model.view
        if not self.on_cloud or (view.quarter + self.review_phase) % m.params.review_period != 0:
            return
        m.reviews.append(m.customer_base.review(self.row, self.value, view.offer, view.technical, view.allowed,
                                                m.rng, view.quarter))


class IdiomaticMarket(CloudMarket):
    """CloudMarket whose customers place new spend and review workloads agent by agent."""

    customer_class = IdiomaticCustomer  # placed on the graph's cells by CloudMarket

    def __init__(self, scenario: str = "china-2020", rng=None, **params) -> None:
        super().__init__(scenario=scenario, rng=rng, **params)
        # CloudMarket builds the customers' Mesa agents on first access; these act every
        # quarter, so they are built now, as part of this market's build
        if len(self.customers) != self.customer_base.n:  # (the first access builds them)
            raise RuntimeError("IdiomaticMarket needs one customer agent per firm")
        self.customer_agents = self.agents_by_type[IdiomaticCustomer]
        self.view: QuarterView | None = None
        self.reviews: list[Review] = []

    def customers_look(self, quarter: int) -> None:
        """The offer and policy this quarter (as CloudMarket's), then every customer notes what it holds."""
        self.view = QuarterView(quarter=quarter, offer=self.offer(), technical=self.policy.technical_factor(quarter),
                                allowed=self.policy.allowed(quarter, self.entry_quarter <= quarter),
                                installed=float(self.demand.sum()))
        self.customer_agents.do("start_quarter")

    def customers_place_new_spend(self) -> None:
        """Prospects adopt (``CustomerBase.adopt``), every customer looks, then each places its new spend."""
        p, base, view = self.params, self.customer_base, self.view
        growth = p.market_growth * view.installed
        adopters = base.adopt(p.adopter_share * growth) if growth > 0 else np.arange(0)
        view.existing_growth = max(growth - float(base.size[adopters].sum()), 0.0)
        self.new_business = np.zeros(self.n_vendors)
        self.customer_agents.do("look")
        self.customer_agents.shuffle_do("place_new_spend")

    def customers_review(self, quarter: int) -> None:
        """The customers whose contracts come up review their workloads, each on its own; then the market's rates."""
        base = self.customer_base
        n_before = int(sum(agent.on_cloud for agent in self.customers))
        self.reviews = []
        self.customer_agents.shuffle_do("review")
        self.review = combined(self.reviews, self.n_vendors)
        base.tenure[:base.n_adopted] += 1
        self.churn = base.main_vendor_changes() / max(base.n_adopted, 1)
        self.switch_rate = self.review.full_switchers / max(n_before, 1)
        self.migration_rate = self.review.moved / self.view.installed if self.view.installed > 0 else 0.0


def combined(reviews: list[Review], n_vendors: int) -> Review:
    """One Review of the quarter from the customers' own reviews (sums).

    >>> r = Review(np.ones(2), np.zeros(2), np.zeros(2), 0.5, 1)
    >>> c = combined([r, r], 2)
    >>> c.reviewed.tolist(), c.moved, c.full_switchers
    ([2.0, 2.0], 1.0, 2)
    """
    zero = np.zeros(n_vendors)
    return Review(sum((r.reviewed for r in reviews), zero), sum((r.moved_out for r in reviews), zero),
                  sum((r.egress_income for r in reviews), zero), float(sum(r.moved for r in reviews)),
                  int(sum(r.full_switchers for r in reviews)))

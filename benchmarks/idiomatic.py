"""The idiomatic Mesa baseline: the customers' review written agent by agent.

``IdiomaticMarket`` is a CloudMarket whose customers keep their own state as plain Python
attributes and choose in their own ``step()``, driven by ``shuffle_do("step")`` the way
Mesa's examples are written: each due customer loops over the agents on its cell's
neighbourhood (peer spend per vendor) and over the vendor agents (quality, congestion,
price, home region, segment focus, switching cost), forms the logit probabilities of
``model/customers.py``'s utility and draws one vendor with the model's RNG. Choices are
applied in ``advance()`` after everyone has chosen, so all customers choose against last
quarter's peers, as in the vectorised model. Only the review is replaced: the world
(graph, customers, calibration), the vendors, the policy levers and the data collection
are CloudMarket's own.

Example
-------
>>> m = IdiomaticMarket(n_customers=300, rng=7)
>>> m.run_for(2)
>>> bool(abs(m.vendor_frame().query("step == 2").spend_share.sum() - 1) < 1e-9)
True
"""

from __future__ import annotations

import math

import numpy as np

from cloudmarket.agents import EnterpriseCustomer
from cloudmarket.model import CloudMarket, policy
from cloudmarket.model.scenarios import ANY_REGION


class IdiomaticCustomer(EnterpriseCustomer):
    """A customer that holds its own state and reviews its provider in ``step()``."""

    def load(self) -> None:
        """Copy this customer's row of the market's arrays into plain attributes."""
        m = self.model
        self.vendor = int(m.provider[self.index])  # index of the current provider
        self.next_vendor = self.vendor
        self.annual_spend = float(m.spend[self.index])
        self.need = float(m.iaas_need[self.index])
        self.phase = int(m.review_phase[self.index])
        self.region_name = self.region
        self.segment_set = frozenset(self.segments)

    def utilities(self) -> list[float]:
        """Utility of every vendor for this customer (the formula of model/customers.py)."""
        m = self.model
        p = m.params
        totals = [0.0] * m.n_vendors
        for peer in self.cell.neighborhood.agents:
            totals[peer.vendor] += peer.annual_spend
        norm = sum(totals)
        utilities = []
        for k, vendor in enumerate(m.vendors):
            quality = (self.need * vendor.iaas_gap + (1.0 - self.need) * vendor.paas_gap
                       + p.congestion_elasticity * math.log(vendor.congestion))
            home = vendor.home_region == self.region_name or vendor.home_region == ANY_REGION
            focus = sum(math.sqrt(vendor.focus_on(segment)) for segment in self.segment_set)
            peer_share = totals[k] / norm if norm > 0 else 0.0
            switching = 0.0 if k == self.vendor else -p.switching_cost
            utilities.append(m.intercept_list[k] + p.quality_weight * quality - p.price_weight * math.log(vendor.price)
                             + p.home_preference * home + p.focus_weight * focus
                             + p.peer_weight * peer_share + switching)
        return utilities

    def choose(self, allowed: list[bool]) -> int:
        """One draw from the logit over the allowed vendors, with the model's RNG."""
        utilities = self.utilities()
        top = max(u for u, ok in zip(utilities, allowed) if ok)
        weights = [math.exp(u - top) if ok else 0.0 for u, ok in zip(utilities, allowed)]
        return self.random.choices(range(len(weights)), weights=weights)[0]

    def step(self) -> None:
        m = self.model
        if (m.steps + self.phase) % m.params.review_period != 0:
            self.next_vendor = self.vendor
            return
        self.next_vendor = self.choose(m.allowed_lists(m.policy_on)[self.index])

    def advance(self) -> None:
        m = self.model
        self.annual_spend *= 1.0 + m.params.market_growth
        if self.next_vendor != self.vendor:
            self.vendor = self.next_vendor
            m.provider[self.index] = self.vendor  # the vendors and metrics read the market's array
            m.switched_now.append(self.index)


class IdiomaticMarket(CloudMarket):
    """CloudMarket with the customers' review done by ``shuffle_do("step")`` on agents."""

    customer_class = IdiomaticCustomer  # placed on the graph's cells by CloudMarket

    def __init__(self, scenario: str = "china-2020", rng=None, **params) -> None:
        super().__init__(scenario=scenario, rng=rng, **params)
        self.intercept_list = self.intercepts.tolist()
        self._allowed_lists: dict[bool, list[list[bool]]] = {}
        self.customers  # noqa: B018  (CloudMarket builds its Mesa agents on first access: build them now)
        self.customer_agents = self.agents_by_type[IdiomaticCustomer]
        self.policy_on = False
        self.switched_now: list[int] = []
        self.customer_agents.do("load")

    def allowed_lists(self, active: bool) -> list[list[bool]]:
        """The policy's allowed-vendor rows as Python lists (policy itself is unchanged)."""
        if active not in self._allowed_lists:
            self._allowed_lists[active] = self.allowed_vendors(active).tolist()
        return self._allowed_lists[active]

    def customers_review(self, quarter: int, active: bool) -> None:
        """Every customer steps (the due ones choose), then all advance.

        The vectorised model reviews the due cohort from cached arrays; here each agent
        works out for itself whether it is due, what it may buy and what its neighbours use.
        """
        self.policy_on = policy.policy_active(self.steps, self.params.policy_start)
        self.switched_now = []
        self.customer_agents.shuffle_do("step")
        self.customer_agents.do("advance")
        switched = np.array(sorted(self.switched_now), dtype=np.int64)
        self.customer_base.tenure += 1
        self.customer_base.tenure[switched] = 0
        self.churn = len(switched) / self.n_customers

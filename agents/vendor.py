"""CloudVendor: a cloud provider that prices, builds capacity, invests in R&D, targets segments and learns.

Money is in units of customer spend at list price 1 (customers' annual spend; a quarter's
revenue is ``price * spend / 4``). A vendor's book has three parts: workloads won as new
business and not yet renewed (``book_new``, at the new-business ``price``), renewed
workloads under a commitment (``committed``, at ``renewal_price * (1 - discount)``, locked
in for the commitment term) and other renewed workloads (at ``renewal_price``). Each
quarter, after customers have placed new spend and reviewed installed workloads, the
market calls ``settle`` (book the quarter) and then ``decide`` (next quarter's terms and
strategy):

``settle`` (formulas in ``agents/economics.py``)::

    revenue     = (price * book_new + renewal_price * ((1 - discount) * committed + rest)) / 4
                  + egress fees paid by workloads that left
    unit_cost   = unit_cost_base * cost_factor * (1 + congestion_cost * overload)
    capex       = capacity_order(...) * capex_per_capacity * cost_factor    (capacity for next quarter)
    capacity   <- (1 - depreciation) * capacity + supply * order           (export controls: chips scarce)
    own R&D     = investment_rate * revenue, bounded by cash, surplus and a credit line
    rd_investment = own R&D * (1 + subsidy) + parent grant                 (the grant is a bounded budget)
    quality gap <- quality ladder toward the moving frontier (IaaS uses supply too)
    profit      = revenue - opex - capex - own R&D;   cash += profit
    payoff      = (revenue - opex - capex) / last quarter's revenue          (what learning reinforces)

``decide``: the new-business price moves toward the myopic Bertrand best response to the
vendor's share of new business (its recent average: a quarter's deals are lumpy), the renewal price toward the best response to the
retention of its reviewed workloads (installed customers are less price-elastic: they pay
to leave), both by ``price_adjustment`` (cost-plus vendors keep their starting markup on
both); the egress fee is the vendor's list fee within the policy cap; the learning rule
picks targets for the IaaS share of R&D, the investment rate, the sales focus and the
committed-spend discount, and the realised strategy moves ``strategy_inertia`` of the way
toward them (toward its start until a rule picks a new target, so a vendor that never
changes its mind keeps its starting strategy); the discount offered is at most the cap.

Example
-------
>>> import mesa
>>> from types import SimpleNamespace
>>> from cloudmarket.agents.learning import Fixed
>>> p = SimpleNamespace(capacity_headroom=0.2, unit_cost=0.7, price_weight=6.0, investment_rate=0.12,
...                     market_growth=0.08, commitment_discount=0.1, egress_fee=0.1, review_period=8)
>>> v = CloudVendor(mesa.Model(rng=1), "acme", 0, "US", demand=100.0, spend_share=0.4, params=p, rule=Fixed())
>>> v.capacity, round(v.price, 4), round(v.renewal_price, 4), v.investment_rate
(120.0, 0.9692, 1.75, 0.12)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import mesa
import numpy as np

from cloudmarket.agents import economics
from cloudmarket.agents.learning import (DISCOUNTS, FOCUS_NAMES, FOCUS_PROFILES, MENUS, RATES, SPLITS, LearningRule,
                                         nearest)
from cloudmarket.agents.price_rules import PRICE_RULES
from cloudmarket.agents.segments import SEGMENTS

NEW_BUSINESS_MEMORY = 0.25  # weight of the latest quarter in the new-business share a vendor prices on


class VendorBooks:
    """A vendor's state and rules without Mesa: what ``CloudVendor`` is, minus the agent.

    The numpy floor in ``benchmarks/floor.py`` runs vendors as plain VendorBooks, so the
    model and the floor share one copy of every vendor rule.
    """

    def __init__(self, name: str, index: int, home_region: str, *, demand: float,
                 spend_share: float, params: Any, rule: LearningRule, focus: Sequence[float] = (0.0,) * len(SEGMENTS),
                 split: float = 0.5, learns: bool = True, price_rule: str = "best-response",
                 book_new: float = 0.0, committed: float = 0.0, egress_share: float = 1.0) -> None:
        self.name = name
        self.index = index  # column of this vendor in the model's (customer, vendor) arrays
        self.home_region = home_region
        if not isinstance(rule, LearningRule):
            raise TypeError(f"rule = {rule!r}: must have next_targets(targets, payoff, rivals, rng) (LearningRule)")
        self.rule = rule
        self.learns = learns
        if price_rule not in PRICE_RULES:
            raise ValueError(f"price_rule = {price_rule!r}: must be one of {' | '.join(PRICE_RULES)}")
        self.price_rule = price_rule
        # strategy: realised values, and the menu targets they move toward
        self.iaas_investment_share = float(split)
        self.investment_rate = float(params.investment_rate)
        self.focus = np.array(focus, dtype=float)
        self.commitment_discount = float(params.commitment_discount)
        self.targets = {"iaas_investment_share": nearest(SPLITS, split),
                        "investment_rate": nearest(RATES, self.investment_rate), "focus": _nearest_profile(self.focus),
                        "commitment_discount": nearest(DISCOUNTS, self.commitment_discount)}
        if hasattr(rule, "anchor"):
            rule.anchor(self.targets)
        # what the realised strategy moves toward: its start, until the rule picks a new target
        self.aim = {"iaas_investment_share": self.iaas_investment_share, "investment_rate": self.investment_rate,
                    "focus": self.focus.copy(), "commitment_discount": self.commitment_discount}
        # R&D intensities that keep this vendor where it is against the frontier: the
        # quality ladder measures R&D against them, so any starting strategy is a steady state
        self.reference = {"iaas": self.iaas_investment_share * self.investment_rate,
                          "paas": (1.0 - self.iaas_investment_share) * self.investment_rate}
        self.iaas_gap = 0.0  # log quality relative to the technology frontier
        self.paas_gap = 0.0
        self.demand = demand
        self.capacity = demand * (1.0 + params.capacity_headroom)
        self.unit_cost = params.unit_cost
        self.price = economics.best_response_price(self.unit_cost, spend_share, params.price_weight)
        self.markup = self.price / self.unit_cost - 1.0  # what cost-plus pricing keeps
        # installed workloads start as loyal as the evidence says (almost none leave a year):
        # the renewal price starts at its own best response, so step 0 is a steady state
        self.retention = 1.0
        self.renewal_price = self._renewal_target(params)
        self.list_egress_fee = egress_share * params.egress_fee  # what it charges when policy allows
        self.egress_fee = self.list_egress_fee
        self.book_new, self.committed = book_new, committed
        self.new_business, self.new_business_share = 0.0, spend_share
        self.recent_new_business_share = spend_share
        self.egress_income = 0.0
        self.revenue = self.book_revenue(demand)
        self.expected_growth = params.market_growth
        self.cost = self.capex = self.rd_investment = self.profit = self.grant = 0.0
        self.cash = self.revenue  # a quarter's revenue in hand
        self.payoff = 0.0
        self.customer_share = 0.0  # share of customers using it, set by the market after each quarter
        self.spend_share = spend_share

    # ------------------------------------------------------------------ observed
    @property
    def iaas_quality(self) -> float:
        """IaaS quality relative to the technology frontier (1 = where it started)."""
        return float(np.exp(self.iaas_gap))

    @property
    def paas_quality(self) -> float:
        """PaaS quality relative to the technology frontier (1 = where it started)."""
        return float(np.exp(self.paas_gap))

    @property
    def capacity_ratio(self) -> float:
        """Capacity / demand, capped at 1: 1 is uncongested, below 1 the service degrades."""
        return 1.0 if self.demand <= 0 else min(1.0, self.capacity / self.demand)

    congestion = property(lambda self: self.capacity_ratio,
                          doc="Old name of ``capacity_ratio`` (1 = uncongested), kept for one release.")

    @property
    def margin(self) -> float:
        """Profit as a share of revenue (0 when there is no revenue)."""
        return self.profit / self.revenue if self.revenue > 0 else 0.0

    iaas_share = property(lambda self: self.iaas_investment_share,
                          doc="Old name of ``iaas_investment_share`` (IaaS share of R&D), kept for one release.")
    investment = property(lambda self: self.rd_investment,
                          doc="Old name of ``rd_investment`` (the quarter's R&D spend), kept for one release.")

    @property
    def share(self) -> float:
        """Share of customers using this vendor (old name of ``customer_share``, kept for one release)."""
        return self.customer_share

    @property
    def committed_share(self) -> float:
        """Share of its installed spend locked in by commitments."""
        return self.committed / self.demand if self.demand > 0 else 0.0

    def book_revenue(self, demand: float) -> float:
        """A quarter's revenue from a book of ``demand`` annual spend (module doc), before egress fees."""
        new = min(self.book_new, demand)
        committed = min(self.committed, demand - new)
        rest = demand - new - committed
        annual = self.price * new + self.renewal_price * ((1.0 - self.commitment_discount) * committed + rest)
        return annual / 4.0

    def _renewal_target(self, p: Any) -> float:
        """Renewal price the vendor aims at: its best response to its installed workloads' retention."""
        if self.price_rule != "best-response":
            return self.unit_cost * (1.0 + self.markup)
        return economics.best_response_price(self.unit_cost, self.retention, p.price_weight)

    focus_large = property(lambda self: float(self.focus[0]), doc="Share of sales effort on large enterprises.")
    focus_government = property(lambda self: float(self.focus[1]), doc="Share of sales effort on government.")
    focus_telecom = property(lambda self: float(self.focus[2]), doc="Share of sales effort on telecoms.")
    focus_finance = property(lambda self: float(self.focus[3]), doc="Share of sales effort on finance.")
    focus_critical = property(lambda self: float(self.focus[4]), doc="Share of sales effort on critical industries.")

    def focus_on(self, segment: str) -> float:
        """Share of sales effort on ``segment`` (large, government, telecom, finance, critical)."""
        return float(self.focus[SEGMENTS.index(segment)])

    # ------------------------------------------------------------------ the quarter
    def enter(self, capacity: float, quality_gap: float) -> None:
        """Open for business (a scheduled entrant): its capacity and quality, and cash to run a quarter at capacity."""
        self.capacity = capacity
        self.iaas_gap = self.paas_gap = quality_gap
        self.cash = self.price * capacity / 4.0

    def settle(self, demand: float, p: Any, supply: float = 1.0, cost_factor: float = 1.0,
               subsidy: float = 0.0, grant: float = 0.0, *, new_business: float = 0.0, committed: float = 0.0,
               egress_income: float = 0.0, retention: float | None = None) -> None:
        """Book the quarter (see the module doc): revenue, costs, capacity, R&D and quality.

        ``supply`` and ``cost_factor`` are the export-control factors, ``subsidy`` scales
        the vendor's own R&D (state money), ``grant`` is the parent group's push this quarter.
        ``new_business`` is the spend it won this quarter, ``committed`` its committed spend,
        ``egress_income`` the egress fees paid by workloads that left, ``retention`` the share
        of its reviewed workloads that stayed (None: none was reviewed).
        """
        previous_revenue = self.revenue
        if self.demand > 0:
            self.expected_growth = min(max(demand / self.demand - 1.0, -0.5), 0.5)  # naive: as last quarter
        self.demand = demand
        # new business stays at the new-business price until its first renewal: on average
        # 1 / review_period of it comes up each quarter
        self.book_new = min(demand, self.book_new * (1.0 - 1.0 / p.review_period) + new_business)
        self.new_business, self.committed, self.egress_income = new_business, committed, egress_income
        if retention is not None:
            self.retention = retention
        self.revenue = self.book_revenue(demand) + egress_income
        self.unit_cost = economics.unit_cost(p.unit_cost, cost_factor, demand, self.capacity, p.congestion_cost)
        opex = self.unit_cost * demand / 4.0
        order = economics.capacity_order(demand, self.capacity, self.expected_growth, p.capacity_headroom,
                                         p.depreciation)
        self.capex = order * p.capex_per_capacity * cost_factor
        self.capacity = (1.0 - p.depreciation) * self.capacity + supply * order
        surplus = self.revenue - opex - self.capex
        own = economics.affordable_rd(self.investment_rate * self.revenue, self.cash, surplus, credit=self.revenue)
        self.grant = grant
        self.rd_investment = own * (1.0 + subsidy) + grant  # the quarter's R&D spend, all sources
        intensity = self.rd_investment / self.revenue if self.revenue > 0 else 0.0
        ladder = (p.frontier_growth, p.catch_up, p.rd_returns)
        self.iaas_gap = economics.quality_gap_step(self.iaas_gap, self.iaas_investment_share * intensity,
                                                   self.reference["iaas"], *ladder, supply=supply)
        self.paas_gap = economics.quality_gap_step(self.paas_gap, (1.0 - self.iaas_investment_share) * intensity,
                                                   self.reference["paas"], *ladder)
        self.cost = opex + self.capex
        self.profit = surplus - own
        self.cash += self.profit
        self.payoff = surplus / previous_revenue if previous_revenue > 0 else 0.0

    def decide(self, p: Any, rivals: Sequence[tuple[float, Mapping[str, int]]], rng: np.random.Generator,
               egress_cap: float = 1.0, discount_cap: float = 0.5) -> None:
        """Set next quarter's prices, fee and discount, and move the strategy toward the learning rule's targets.

        ``rivals`` is (profit margin, targets) of the other learning vendors (what imitation
        sees); ``egress_cap`` and ``discount_cap`` are what policy allows.
        """
        # a year's average of its new-business share: one quarter's deals are too lumpy to price on
        self.recent_new_business_share += NEW_BUSINESS_MEMORY * (self.new_business_share - self.recent_new_business_share)
        if self.price_rule == "best-response":
            target = economics.best_response_price(self.unit_cost, self.recent_new_business_share, p.price_weight)
        else:
            target = self.unit_cost * (1.0 + self.markup)
        self.price = economics.adjust(self.price, target, p.price_adjustment)
        self.renewal_price = economics.adjust(self.renewal_price, self._renewal_target(p), p.price_adjustment)
        self.egress_fee = min(self.list_egress_fee, egress_cap)
        if not self.learns:
            self.commitment_discount = min(self.commitment_discount, discount_cap)
            return
        chosen = self.rule.next_targets(self.targets, self.payoff, rivals, rng)
        for name, k in chosen.items():
            if k != self.targets[name]:  # a new target; an unchanged one keeps the current aim
                self.aim[name] = np.asarray(FOCUS_PROFILES[FOCUS_NAMES[k]]) if name == "focus" else MENUS[name][k]
        self.targets = chosen
        speed = p.strategy_inertia
        self.iaas_investment_share = economics.adjust(self.iaas_investment_share, self.aim["iaas_investment_share"],
                                                      speed)
        self.investment_rate = economics.adjust(self.investment_rate, self.aim["investment_rate"], speed)
        self.focus = self.focus + speed * (self.aim["focus"] - self.focus)
        discount = economics.adjust(self.commitment_discount, self.aim["commitment_discount"], speed)
        self.commitment_discount = min(discount, discount_cap)


class CloudVendor(mesa.Agent, VendorBooks):
    """A cloud vendor as a Mesa agent: capacity, quality, price, money, and a strategy it learns.

    Arguments after ``model`` are those of :class:`VendorBooks`.
    """

    def __init__(self, model: mesa.Model, *args: Any, **kwargs: Any) -> None:
        super().__init__(model, *args, **kwargs)  # mesa.Agent passes the rest on to VendorBooks

    def decide(self, p: Any, rivals: Sequence[tuple[float, Mapping[str, int]]],
               rng: np.random.Generator | None = None, egress_cap: float = 1.0, discount_cap: float = 0.5) -> None:
        """:meth:`VendorBooks.decide` with the model's random generator."""
        VendorBooks.decide(self, p, rivals, self.model.rng if rng is None else rng, egress_cap, discount_cap)


def _nearest_profile(focus: np.ndarray) -> int:
    """Index of the focus profile closest to ``focus`` (Euclidean)."""
    # every vendor of every run starts from one of a scenario's few focus vectors: kept by value
    return _nearest_profile_of(tuple(np.asarray(focus, dtype=float).tolist()))


@lru_cache(maxsize=256)
def _nearest_profile_of(focus: tuple[float, ...]) -> int:
    values = np.array(focus)
    distances = [sum((a - b) ** 2 for a, b in zip(profile, values, strict=True)) for profile in FOCUS_PROFILES.values()]
    return distances.index(min(distances))


def starting_focus(segments: Sequence[str]) -> tuple[float, ...]:
    """A scenario's named focus segments as a focus vector: 0.3 each, at most 0.9 in all.

    A vendor with no named segments starts with the "broad" profile: some effort on every
    segment, as any enterprise sales force has.

    >>> starting_focus(("large", "government", "telecom"))
    (0.3, 0.3, 0.3, 0.0, 0.0)
    >>> starting_focus(()) == FOCUS_PROFILES["broad"]
    True
    """
    if not segments:
        return FOCUS_PROFILES["broad"]
    each = min(0.3, 0.9 / len(segments))
    return tuple(each if s in segments else 0.0 for s in SEGMENTS)

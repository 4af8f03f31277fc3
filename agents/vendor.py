"""CloudVendor: a cloud provider that earns revenue, invests in IaaS and PaaS, and learns.

Money is in the units of customer spend (annual spend, so a quarter's revenue is
demand / 4). Quality levels start at 1 (their log, which enters utility, at 0) and
capacity at demand x (1 + capacity_headroom), so an unsanctioned vendor investing half in
IaaS keeps pace with market growth: the model starts near a steady state.

Each quarter, after customers have chosen (``settle``):

    revenue    = demand / 4
    cost       = opex_per_capacity * capacity * cost_factor
    investment = reinvestment_rate * revenue * (1 + subsidy) + push * revenue
    capacity  <- (1 - depreciation) * capacity
                 + supply * iaas_share * investment / (capex_per_capacity * cost_factor)
    q_iaas    <- (1 - depreciation) * q_iaas + iaas_productivity * supply * iaas_share * investment / revenue
    q_paas    <- (1 - depreciation) * q_paas + paas_productivity * sqrt((1 - iaas_share) * investment / revenue)
    price      = 1 + price_pass_through * (cost_factor - 1)
    profit     = revenue - cost - reinvestment_rate * revenue      (the subsidy is not the vendor's money)
    payoff     = (revenue - cost) / previous revenue               (rewards growth and margin)

then the learning rule picks next quarter's ``iaas_share`` from the payoff.

Example
-------
>>> import mesa
>>> from cloudmarket.agents.learning import Fixed
>>> m = mesa.Model(rng=1)
>>> v = CloudVendor(m, "acme", 0, "US", (), demand=100.0, headroom=0.2, rule=Fixed())
>>> v.capacity, v.revenue
(120.0, 25.0)
"""

from __future__ import annotations

import math

import mesa


class CloudVendor(mesa.Agent):
    """A cloud vendor: capacity, quality, price, money, and an IaaS/PaaS strategy."""

    def __init__(self, model: mesa.Model, name: str, index: int, home_region: str,
                 focus: tuple[str, ...], demand: float, headroom: float, rule) -> None:
        super().__init__(model)
        self.name = name
        self.index = index  # column of this vendor in the model's (customer, vendor) arrays
        self.home_region = home_region
        self.focus = tuple(focus)
        self.rule = rule
        self.iaas_share = rule.split
        self.demand = demand
        self.capacity = demand * (1.0 + headroom)
        self.iaas_quality = 1.0
        self.paas_quality = 1.0
        self.price = 1.0
        self.revenue = demand / 4.0
        self.cost = 0.0
        self.investment = 0.0
        self.profit = 0.0
        self.cash = 0.0
        self.payoff = 0.0
        self.share = 0.0  # count share, set by the market after each quarter
        self.spend_share = 0.0

    @property
    def congestion(self) -> float:
        """Capacity / demand, capped at 1: below 1 the service degrades."""
        return 1.0 if self.demand <= 0 else min(1.0, self.capacity / self.demand)

    def settle(self, demand: float, p: dict, supply: float, cost_factor: float, subsidy: float,
               push: float = 0.0) -> None:
        """Book the quarter: revenue, costs, investment, capacity and quality (see module doc).

        ``subsidy`` scales the vendor's own investment (state money); ``push`` is extra
        investment from a parent group as a share of revenue. Neither is the vendor's profit.
        """
        previous_revenue = self.revenue
        self.demand = demand
        self.revenue = demand / 4.0
        self.cost = p["opex_per_capacity"] * self.capacity * cost_factor
        own_investment = p["reinvestment_rate"] * self.revenue
        self.investment = own_investment * (1.0 + subsidy) + push * self.revenue
        iaas_money = self.iaas_share * self.investment
        paas_money = (1.0 - self.iaas_share) * self.investment
        keep = 1.0 - p["depreciation"]
        self.capacity = keep * self.capacity + supply * iaas_money / (p["capex_per_capacity"] * cost_factor)
        intensity = 1.0 / self.revenue if self.revenue > 0 else 0.0
        self.iaas_quality = keep * self.iaas_quality + p["iaas_productivity"] * supply * iaas_money * intensity
        self.paas_quality = keep * self.paas_quality + p["paas_productivity"] * math.sqrt(paas_money * intensity)
        self.price = 1.0 + p["price_pass_through"] * (cost_factor - 1.0)
        self.profit = self.revenue - self.cost - own_investment
        self.cash += self.profit
        self.payoff = (self.revenue - self.cost) / previous_revenue if previous_revenue > 0 else 0.0

    @property
    def margin(self) -> float:
        """Profit as a share of revenue (0 when there is no revenue)."""
        return self.profit / self.revenue if self.revenue > 0 else 0.0

    def learn(self, best_split: float) -> None:
        """Let the learning rule choose next quarter's IaaS share of investment."""
        self.iaas_share = self.rule.next_split(self.payoff, best_split, self.model.rng)

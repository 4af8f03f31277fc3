"""The numpy floor: one CloudMarket quarter on plain arrays and plain objects, with no Mesa.

The same step as ``CloudMarket.step`` (same state, same rules, same order of random
draws) without any Mesa machinery, so it measures what the model's own rules cost with
Mesa's overhead taken away. It runs the model's own rule code, so the two can never
disagree about a rule: the customers' utility and review are ``CustomerBase``'s
(``model/customers.py``, on a copy of the model's arrays) and the vendors are plain
``VendorBooks`` (``agents/vendor.py``) instead of Mesa agents. What it leaves out:

* no Model step wrapper, no Mesa agents, no DataCollector ("data collection" appends one
  tuple per vendor and one per market);
* count shares are updated from the switches instead of counted again, and the
  (industry, vendor) key of the within-industry HHI is precomputed.

Given a built model's state and RNG (``FloorMarket.from_model``) it reproduces the model's
trajectory exactly (``tests/test_bench_equivalence.py`` checks it).

Example
-------
>>> from cloudmarket.model import CloudMarket
>>> m = CloudMarket(n_customers=500, rng=3)
>>> f = FloorMarket.from_model(m)
>>> f.step(); f.step()
>>> round(float(f.spend_shares.sum()), 9)
1.0
"""

from __future__ import annotations

import copy

import numpy as np

from cloudmarket.agents import economics
from cloudmarket.agents.vendor import VendorBooks
from cloudmarket.model import policy
from cloudmarket.model.customers import Offer


def plain_vendor(agent) -> VendorBooks:
    """A VendorBooks copy of a CloudVendor agent's state (no model, no Mesa)."""
    books = VendorBooks.__new__(VendorBooks)
    for name in ("name", "index", "home_region", "learns", "price_rule", "iaas_share", "investment_rate",
                 "targets", "reference", "iaas_gap", "paas_gap", "demand", "capacity", "unit_cost", "price",
                 "markup", "revenue", "expected_growth", "cost", "capex", "investment", "profit", "grant",
                 "cash", "payoff", "share", "spend_share"):
        setattr(books, name, copy.deepcopy(getattr(agent, name)))
    books.focus = agent.focus.copy()
    books.aim = copy.deepcopy(agent.aim)
    books.rule = copy.deepcopy(agent.rule)
    return books


class FloorMarket:
    """CloudMarket's state as arrays and its quarter as array operations."""

    @classmethod
    def from_model(cls, model) -> FloorMarket:
        """Copy a CloudMarket's state (arrays, vendors, RNG) into a floor market."""
        return cls(model)

    def __init__(self, model) -> None:
        self.params = model.params
        self.steps = int(model.steps)
        self.rng = copy.deepcopy(model.rng)
        self.n = model.n_customers
        self.J = model.n_vendors
        self.base = copy.deepcopy(model.customer_base)
        self.intercepts = model.intercepts.copy()
        self.vendors = [plain_vendor(v) for v in model.vendors]
        self.vendor_names = model.vendor_names
        self.allowed = {a: model.allowed_vendors(a).copy() for a in (False, True)}
        # per review phase and policy state: the cohort's allowed rows, None when all are allowed
        self.cohort_allowed = []
        for rows in self.base.cohorts:
            masks = {active: self.allowed[active][rows] for active in (False, True)}
            self.cohort_allowed.append({active: None if m.all() else m for active, m in masks.items()})
        self.factors = {a: policy.export_control_factors(
            model.vendor_names, self.params.sanctioned_vendors, self.params.export_control_severity,
            self.params.export_cost_markup, a) for a in (False, True)}
        self.push_started: dict[str, tuple[int, float]] = dict(model._push_started)
        self.industry_key = self.base.industry.astype(np.int64) * self.J
        self.industry_n = len(model.industry_names)
        self.counts = np.bincount(self.base.provider, minlength=self.J)
        # aggregates of many small firms ("others") are left out of concentration measures
        self.named = np.where(model._fragmented, 0.0, 1.0)
        self.spend_shares = np.asarray(model._spend_shares).copy()
        self.vendor_records: list[tuple] = []
        self.market_records: list[tuple] = []

    @property
    def provider(self) -> np.ndarray:
        return self.base.provider

    @property
    def spend(self) -> np.ndarray:
        return self.base.spend

    @property
    def tenure(self) -> np.ndarray:
        return self.base.tenure

    def offer(self) -> Offer:
        """What every vendor offers, as CloudMarket.offer builds it."""
        v = self.vendors
        return Offer(self.intercepts, np.array([x.iaas_gap for x in v]), np.array([x.paas_gap for x in v]),
                     np.log([x.congestion for x in v]), np.log([x.price for x in v]),
                     np.sqrt(np.column_stack([x.focus for x in v])))

    def step(self) -> None:
        """One quarter, in the order of CloudMarket.step."""
        p, J = self.params, self.J
        self.steps += 1
        quarter = self.steps
        active = quarter > p.policy_start
        self.base.spend *= 1.0 + p.market_growth
        cohort = (-quarter) % p.review_period
        old = self.base.provider.copy()
        switched = self.base.review(cohort, self.offer(), self.cohort_allowed[cohort][active], self.rng)
        np.subtract.at(self.counts, old[switched], 1)
        np.add.at(self.counts, self.base.provider[switched], 1)
        churn = len(switched) / self.n
        demand = np.bincount(self.base.provider, weights=self.base.spend, minlength=J)
        self._settle(demand, active, quarter)
        previous = self.spend_shares
        total = demand.sum()
        spend = demand / total if total > 0 else demand
        self.spend_shares = spend
        counts = self.counts / max(self.counts.sum(), 1.0)
        for v in self.vendors:
            v.share, v.spend_share = float(counts[v.index]), float(spend[v.index])
        named = spend * self.named
        hhi = 10_000.0 * np.sum(np.square(named))
        table = np.bincount(self.industry_key + self.base.provider, weights=self.base.spend,
                            minlength=self.industry_n * J).reshape(self.industry_n, J)
        totals = table.sum(axis=1, keepdims=True)
        table = np.divide(table, totals, out=np.zeros_like(table), where=totals > 0) * self.named
        weight = totals.ravel()
        within = float(np.average(10_000.0 * np.square(table).sum(axis=1), weights=weight))
        self.market_records.append((quarter, float(hhi), float(np.sort(named)[::-1][:3].sum()), churn,
                                    float(0.5 * np.abs(spend - previous).sum()), within,
                                    float(10_000.0 * np.sum(np.square(counts * self.named)))))
        published = [(v.margin, v.targets) for v in self.vendors if v.learns]
        learners = [v for v in self.vendors if v.learns]
        for v in self.vendors:
            v.decide(p, [r for r, w in zip(published, learners) if w is not v], self.rng)
        for v in self.vendors:
            self.vendor_records.append((quarter, v.index, v.share, v.spend_share, v.iaas_share, v.capacity,
                                        v.demand, v.price, v.investment_rate, v.revenue, v.profit, v.cash))

    def _settle(self, demand: np.ndarray, active: bool, quarter: int) -> None:
        """Every vendor books the quarter (VendorBooks.settle), with CloudMarket's policy inputs."""
        p = self.params
        supply, cost = self.factors[active]
        for v in self.vendors:
            subsidy = p.domestic_subsidy if active and v.home_region == "CN" else 0.0
            grant = 0.0
            if active and v.name in p.cloud_push_vendors and p.cloud_push > 0:
                start, budget = self.push_started.setdefault(v.name, (quarter, p.cloud_push * v.revenue))
                grant = economics.push_grant(quarter - start + 1, budget, p.cloud_push_quarters)
            v.settle(float(demand[v.index]), p, float(supply[v.index]), float(cost[v.index]), subsidy, grant)

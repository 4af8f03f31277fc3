"""The numpy floor: one CloudMarket quarter on plain arrays and plain objects, with no Mesa.

The same quarter as ``CloudMarket.step`` (same state, same rules, same random draws in the
same order) without any of Mesa's machinery, so it measures what the model's own rules
cost with Mesa's overhead taken away. It calls the model's own rule code and holds no
rule of its own:

* customers: ``CustomerBase`` (``model/customers.py``, on a copy of the model's arrays):
  ``place_growth`` (adoption, values, new workloads), ``due_for_review``, ``review``,
  ``finish_review``; the review's ``Review.rates``;
* the offer: ``Offer.from_vendors``;
* policy: the model's ``Policy`` (``model/policy.py``, copied with its state);
* vendors: plain ``VendorBooks`` (``agents/vendor.py``) instead of Mesa agents: ``enter``,
  ``settle``, ``decide``;
* measures: ``model/metrics.py``'s ``MarketRecorder`` (built as the model builds its own,
  on this copy of the customer base): shares, concentration, multi-homing, adoption and
  each vendor's shares within segments and regions.

What it keeps is the order of those calls (``step`` below follows ``CloudMarket.step``
phase by phase) and the passing of one call's result to the next; no arithmetic of the
model's is repeated here. ``tests/test_bench_equivalence.py`` fails if it ever drifts
from the model's. What it leaves out: the Mesa ``Model`` step wrapper, the Mesa
agents and the ``DataCollector``: "data collection" appends this quarter's market tuple
and vendor array (the same numbers the model collects) to two lists.

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
>>> len(f.market_records), f.vendor_records[-1].shape == (m.n_vendors, len(VENDOR_NUMBERS))
(2, True)
"""

from __future__ import annotations

import copy
from functools import cache
from operator import attrgetter

import mesa
import numpy as np

from cloudmarket.agents.vendor import VendorBooks
from cloudmarket.model import metrics
from cloudmarket.model.customers import Offer
from cloudmarket.model.market import MARKET_REPORTS, VENDOR_NUMBERS


@cache
def mesa_agent_fields() -> frozenset[str]:
    """Attributes a bare ``mesa.Agent`` sets on itself (model, unique_id, pos): not a vendor's state."""
    return frozenset(vars(mesa.Agent(mesa.Model(rng=0))))


def plain_vendor(agent) -> VendorBooks:
    """A VendorBooks copy of a CloudVendor agent's whole state (no model, no Mesa)."""
    books = VendorBooks.__new__(VendorBooks)
    state = {name: value for name, value in vars(agent).items() if name not in mesa_agent_fields()}
    vars(books).update(copy.deepcopy(state))
    return books


class FloorMarket:
    """CloudMarket's state as plain arrays and objects, and its quarter as the model's own calls.

    Attributes read like the model's: ``customer_base``, ``policy``, ``vendors``
    (VendorBooks), ``demand``, ``spend_shares``, ``steps``; ``market_records`` holds one
    tuple per quarter (step, then ``MARKET_REPORTS``) and ``vendor_records`` one
    (vendors, ``VENDOR_NUMBERS``) array per quarter.
    """

    @classmethod
    def from_model(cls, model) -> FloorMarket:
        """Copy a CloudMarket's state (customer arrays, policy, vendors, RNG) into a floor market."""
        return cls(model)

    def __init__(self, model) -> None:
        p = self.params = model.params
        self.steps = int(model.steps)
        self.rng = copy.deepcopy(model.rng)
        self.customer_base = model.customer_base.copy()  # what a run changes is copied; the rest shared
        self.policy = copy.deepcopy(model.policy)  # with its state (the parent push's budget)
        self.vendors = [plain_vendor(v) for v in model.vendors]
        self.vendor_names = model.vendor_names
        self.entrants = model.entrants
        self.entry_quarter = model.entry_quarter.copy()
        self.intercepts = model.intercepts.copy()
        self.flexibility_premium = p.flexibility_premium
        self.demand = model.demand.copy()
        self.spend_shares = np.array([v.spend_share for v in model.vendors])
        # the model's measures, on this copy of the customer base
        self.recorder = metrics.MarketRecorder(self.customer_base, model.recorder.fringe, model.regions)
        self.vendor_numbers = attrgetter(*VENDOR_NUMBERS)
        self.market_records: list[tuple] = []
        self.vendor_records: list[np.ndarray] = []

    @property
    def provider(self) -> np.ndarray:
        return self.customer_base.provider

    @property
    def holdings(self) -> np.ndarray:
        return self.customer_base.holdings

    @property
    def tenure(self) -> np.ndarray:
        return self.customer_base.tenure

    def step(self) -> None:
        """One quarter, phase by phase as ``CloudMarket.step``."""
        p, base, policy, rng = self.params, self.customer_base, self.policy, self.rng
        self.steps += 1
        quarter = self.steps
        # vendors_enter
        total = float(self.demand.sum())
        for entrant in self.entrants:
            if entrant.quarter == quarter:
                self.vendors[self.vendor_names.index(entrant.name)].enter(entrant.capacity * total,
                                                                          entrant.quality_gap)
        # customers_look
        offer = Offer.from_vendors(self.vendors, self.intercepts, self.flexibility_premium)
        technical = policy.technical_factor(quarter)
        allowed = policy.allowed(quarter, self.entry_quarter <= quarter)
        installed = self.demand.sum()
        n_before = base.n_adopted
        # customers_place_new_spend
        new_business, values = base.place_growth(p.market_growth, p.adopter_share, offer, technical, allowed, rng)
        # customers_review
        due = base.due_for_review(quarter, n_before)
        review = base.review(due, values[due], offer, technical, allowed, rng, quarter)
        churn = base.finish_review()
        switch_rate, migration_rate = review.rates(n_before, installed)
        # vendors_settle
        self.demand = demand = base.vendor_spend()
        committed = base.committed_spend(quarter)
        supply, cost = policy.export_controls(quarter)
        for v in self.vendors:
            k = v.index
            v.settle(float(demand[k]), p, float(supply[k]), float(cost[k]), policy.subsidy(v.home_region, quarter),
                     policy.push_grant(v.name, v.revenue, quarter), new_business=float(new_business[k]),
                     committed=float(committed[k]), egress_income=float(review.egress_income[k]),
                     retention=review.retention(k))
        # record_quarter
        self.spend_shares, measures = self.recorder.record_quarter(self.vendors, demand, new_business,
                                                                   self.spend_shares)
        measures.update(churn=churn, switch_rate=switch_rate, migration_rate=migration_rate)
        self.market_records.append((quarter, *(measures[name] for name in MARKET_REPORTS)))
        # vendors_decide (before the model's collection, which reads the vendors after it)
        learners = [v for v in self.vendors if v.learns]
        published = [(v.margin, v.targets) for v in learners]
        egress_cap, discount_cap = policy.egress_cap(quarter + 1), policy.discount_cap(quarter + 1)
        for v in self.vendors:
            rivals = [seen for w, seen in zip(learners, published, strict=True) if w is not v]
            v.decide(p, rivals, rng, egress_cap, discount_cap)
        self.vendor_records.append(np.array([self.vendor_numbers(v) for v in self.vendors], dtype=float))

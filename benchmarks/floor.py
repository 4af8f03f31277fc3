"""The numpy floor: one CloudMarket quarter on plain arrays, with no Mesa objects.

This is the same step as ``CloudMarket.step`` (same state, same formulas, same order of
random draws) written as tightly as numpy allows, so it measures the best this algorithm
can do in Python. It starts from a built model's state (``FloorMarket.from_model``) and,
given the model's RNG state, reproduces the model's trajectory to round-off
(``tests/test_bench_equivalence.py`` checks it). What it does differently from the model:

* no Mesa: no Model step wrapper, no vendor agents (their state is lists of floats), no
  DataCollector ("data collection" appends one tuple per vendor and one per market);
* count shares are updated from the switches instead of counted again, and the
  (industry, vendor) key of the within-industry HHI is precomputed.

It takes each review cohort's rows and slice of the adjacency from the model's build, as
the model does, and computes peer shares with one ``np.bincount`` on (row, neighbour's provider).

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
import math

import numpy as np


class FloorMarket:
    """CloudMarket's state as arrays and its quarter as array operations."""

    @classmethod
    def from_model(cls, model) -> FloorMarket:
        """Copy a CloudMarket's state (arrays, vendors, RNG) into a floor market."""
        return cls(model)

    def __init__(self, model) -> None:
        p = self.params = dict(model.params)
        self.steps = int(model.steps)
        self.rng = copy.deepcopy(model.rng)
        self.n = model.n_customers
        self.J = model.n_vendors
        self.provider = model.provider.copy()
        self.spend = model.spend.copy()
        self.tenure = model.tenure.copy()
        self.iaas_need = model.iaas_need.copy()
        self.static = model._static_utility.copy()
        self.intercepts = model.intercepts.copy()
        self.allowed = {a: model.allowed_vendors(a).copy() for a in (False, True)}
        self.home_cn = [v.home_region == "CN" for v in model.vendors]
        self.pushing = [name in p.get("cloud_push_vendors", ()) for name in model.vendor_names]
        self.sanctioned = np.array([name in p["sanctioned_vendors"] for name in model.vendor_names])
        # per review phase r: due rows and their neighbours as (row in due x J, neighbour id),
        # taken from the model's build (model.review_cohorts, model.choice.peer_slice)
        self.due = list(model._cohorts)
        self.neighbours = [(peers.keys, peers.neighbours) for peers in model._cohort_peers]
        self.cohort_need = [self.iaas_need[rows][:, None] for rows in self.due]
        self.cohort_static = [self.static[rows] for rows in self.due]
        # per policy state: the cohort's allowed rows, None when every vendor is allowed
        self.cohort_allowed = []
        for rows in self.due:
            masks = {active: self.allowed[active][rows] for active in (False, True)}
            self.cohort_allowed.append({active: None if m.all() else m for active, m in masks.items()})
        self.industry_key = model.industry.astype(np.int64) * self.J
        self.industry_n = len(model.industry_names)
        self.counts = np.bincount(self.provider, minlength=self.J)
        # aggregates of many small firms ("others") are left out of concentration measures
        fragmented = getattr(model, "_fragmented", None)
        self.named = np.ones(self.J) if fragmented is None else np.where(fragmented, 0.0, 1.0)
        # vendors: plain floats, the same fields CloudVendor settles
        fields = ("capacity", "iaas_quality", "paas_quality", "price", "revenue", "demand",
                  "cost", "investment", "profit", "cash", "payoff", "iaas_share")
        self.vendor = {f: [float(getattr(v, f)) for v in model.vendors] for f in fields}
        self.rules = [copy.deepcopy(v.rule) for v in model.vendors]
        self.spend_shares = np.asarray(model._spend_shares).copy()
        self.vendor_records: list[tuple] = []
        self.market_records: list[tuple] = []

    def step(self) -> None:
        """One quarter, in the order of CloudMarket.step."""
        p, J = self.params, self.J
        self.steps += 1
        quarter = self.steps
        active = quarter > p["policy_start"]
        self.spend *= 1.0 + p["market_growth"]
        phase = (-quarter) % p["review_period"]
        due = self.due[phase]
        switched = self._review(due, phase, active)
        self.tenure += 1
        self.tenure[switched] = 0
        churn = len(switched) / self.n
        demand = np.bincount(self.provider, weights=self.spend, minlength=J)
        self._settle(demand, active)
        previous = self.spend_shares
        total = demand.sum()
        spend = demand / total if total > 0 else demand
        self.spend_shares = spend
        counts = self.counts / max(self.counts.sum(), 1.0)
        named = spend * self.named
        hhi = 10_000.0 * np.sum(np.square(named))
        table = np.bincount(self.industry_key + self.provider, weights=self.spend,
                            minlength=self.industry_n * J).reshape(self.industry_n, J)
        totals = table.sum(axis=1, keepdims=True)
        table = np.divide(table, totals, out=np.zeros_like(table), where=totals > 0) * self.named
        weight = totals.ravel()
        within = float(np.average(10_000.0 * np.square(table).sum(axis=1), weights=weight))
        self.market_records.append((quarter, float(hhi), float(np.sort(named)[::-1][:3].sum()), churn,
                                    float(0.5 * np.abs(spend - previous).sum()), within,
                                    float(10_000.0 * np.sum(np.square(counts * self.named)))))
        v = self.vendor
        for k in range(J):
            self.vendor_records.append((quarter, k, counts[k], spend[k], v["iaas_share"][k],
                                        v["capacity"][k], v["demand"][k], v["iaas_quality"][k],
                                        v["paas_quality"][k], v["price"][k], v["revenue"][k],
                                        v["cost"][k], v["profit"][k], v["cash"][k]))

    def utility(self, due: np.ndarray, phase: int) -> np.ndarray:
        """Utility (len(due), J), the terms and arithmetic order of CloudMarket.utility."""
        p, J, v = self.params, self.J, self.vendor
        congestion = [1.0 if d <= 0 else min(1.0, c / d) for c, d in zip(v["capacity"], v["demand"])]
        need = self.cohort_need[phase]
        quality = need * np.log(v["iaas_quality"])[None, :] + (1.0 - need) * np.log(v["paas_quality"])[None, :]
        vendor_level = (p["quality_weight"] * p["congestion_elasticity"] * np.log(congestion)
                        - p["price_weight"] * np.log(v["price"]))
        vendor_terms = p["quality_weight"] * quality + vendor_level[None, :]
        # peer shares: spend of neighbours per (due row, vendor), one bincount
        seg_j, cols = self.neighbours[phase]
        totals = np.bincount(seg_j + np.take(self.provider, cols), weights=np.take(self.spend, cols),
                             minlength=len(due) * J).reshape(len(due), J).astype(float, copy=False)
        norm = totals.sum(axis=1, keepdims=True)
        norm[norm == 0] = 1.0  # rows with no neighbour spend are all zeros
        peers = totals / norm
        penalty = np.full((len(due), J), -float(p["switching_cost"]))
        penalty[np.arange(len(due)), np.take(self.provider, due)] = 0.0
        peers *= p["peer_weight"]
        peers += penalty
        vendor_terms += self.intercepts
        vendor_terms += self.cohort_static[phase]
        vendor_terms += peers
        return vendor_terms

    def _review(self, due: np.ndarray, phase: int, active: bool) -> np.ndarray:
        if len(due) == 0:
            return due
        u = self.utility(due, phase)
        scores = self.rng.gumbel(size=u.shape)
        scores += u
        allowed = self.cohort_allowed[phase][active]
        if allowed is not None:
            np.putmask(scores, ~allowed, -np.inf)
        chosen = np.argmax(scores, axis=1)
        old = np.take(self.provider, due)
        moved = chosen != old
        self.provider[due] = chosen
        np.subtract.at(self.counts, old[moved], 1)
        np.add.at(self.counts, chosen[moved], 1)
        return due[moved]

    def _settle(self, demand: np.ndarray, active: bool) -> None:
        """CloudVendor.settle and learn for every vendor, on plain floats."""
        p, v = self.params, self.vendor
        severity = p["export_control_severity"]
        keep = 1.0 - p["depreciation"]
        margins = []
        for k in range(self.J):
            hit = bool(self.sanctioned[k]) and active
            supply = 1.0 - severity if hit else 1.0
            cost_factor = 1.0 + p["export_cost_markup"] * severity if hit else 1.0
            subsidy = p["domestic_subsidy"] if active and self.home_cn[k] else 0.0
            push = p.get("cloud_push", 0.0) if active and self.pushing[k] else 0.0
            share = v["iaas_share"][k]
            previous_revenue = v["revenue"][k]
            d = float(demand[k])
            revenue = d / 4.0
            cost = p["opex_per_capacity"] * v["capacity"][k] * cost_factor
            own = p["reinvestment_rate"] * revenue
            investment = own * (1.0 + subsidy) + push * revenue
            iaas_money, paas_money = share * investment, (1.0 - share) * investment
            v["capacity"][k] = keep * v["capacity"][k] + supply * iaas_money / (p["capex_per_capacity"] * cost_factor)
            intensity = 1.0 / revenue if revenue > 0 else 0.0
            v["iaas_quality"][k] = keep * v["iaas_quality"][k] + p["iaas_productivity"] * supply * iaas_money * intensity
            v["paas_quality"][k] = keep * v["paas_quality"][k] + p["paas_productivity"] * math.sqrt(paas_money * intensity)
            v["price"][k] = 1.0 + p["price_pass_through"] * (cost_factor - 1.0)
            profit = revenue - cost - own
            v["demand"][k], v["revenue"][k], v["cost"][k] = d, revenue, cost
            v["investment"][k], v["profit"][k] = investment, profit
            v["cash"][k] += profit
            v["payoff"][k] = (revenue - cost) / previous_revenue if previous_revenue > 0 else 0.0
            margins.append(profit / revenue if revenue > 0 else 0.0)
        best = v["iaas_share"][int(np.argmax(margins))]
        for k in range(self.J):
            v["iaas_share"][k] = self.rules[k].next_split(v["payoff"][k], best, self.rng)

"""Market metrics: shares, HHI, CR3, instability, shares within groups, and the quarter's record.

Shares are fractions summing to 1; HHI is on the 0-10,000 scale used by competition
authorities (10,000 x the sum of squared shares). The functions are pure numpy;
:class:`MarketRecorder` applies them to a market's customer base once a quarter (the
model and the numpy floor both record through it).

Example
-------
>>> import numpy as np
>>> s = spend_shares(np.array([0, 0, 1]), np.array([1.0, 1.0, 2.0]), n_vendors=3)
>>> s.tolist()
[0.5, 0.5, 0.0]
>>> hhi(s), cr3(s)
(5000.0, 1.0)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cloudmarket.agents.segments import SEGMENTS
from cloudmarket.model.industry_graph import N_INDUSTRIES
from cloudmarket.model.scenarios import SCENARIOS, get_scenario

# Each vendor's spend share within customer groups, per step: the segments policy and
# focus aim at, and every region of any scenario (NaN where the run's scenario has no such
# region, or the group no spend). Set on the vendors by MarketRecorder.record.
REGIONS = tuple(dict.fromkeys(r for name in SCENARIOS for r in get_scenario(name).regions))
GROUP_SHARES = (tuple(f"spend_share_{s}" for s in SEGMENTS)
                + tuple(f"spend_share_{r.lower()}" for r in REGIONS))


def count_shares(provider: np.ndarray, n_vendors: int) -> np.ndarray:
    """Share of customers on each vendor.

    >>> count_shares(np.array([0, 1, 1, 1]), 3).tolist()
    [0.25, 0.75, 0.0]
    """
    counts = np.bincount(provider, minlength=n_vendors).astype(float)
    return counts / max(counts.sum(), 1.0)


def spend_shares(provider: np.ndarray, spend: np.ndarray, n_vendors: int) -> np.ndarray:
    """Share of total customer spend going to each vendor."""
    totals = np.bincount(provider, weights=spend, minlength=n_vendors)
    total = totals.sum()
    return totals / total if total > 0 else totals


def named_only(shares: np.ndarray, fringe: np.ndarray | None) -> np.ndarray:
    """Shares with the fringe (``fringe`` True: "others", an aggregate of many small firms) set to 0.

    "others" is hundreds of small providers, not one firm: counting it as one would add
    its whole share squared to the HHI (about 290 points in China 2020) and put it among
    the three largest "firms". Each of its members is tiny, so it contributes ~0.

    >>> named_only(np.array([0.6, 0.4]), np.array([False, True])).tolist()
    [0.6, 0.0]
    """
    if fringe is None:
        return shares
    return np.where(fringe, 0.0, shares)


def hhi(shares: np.ndarray) -> float:
    """Herfindahl-Hirschman index on 0-10,000 from fractional shares.

    >>> round(hhi(np.array([0.409, 0.162, 0.158, 0.071])), 1)
    2235.3
    """
    return float(10_000.0 * np.sum(np.square(shares)))


def cr3(shares: np.ndarray) -> float:
    """Combined share of the three largest vendors."""
    return float(np.sort(shares)[::-1][:3].sum())


def instability(previous_shares: np.ndarray, shares: np.ndarray) -> float:
    """Share instability: total share that moved between vendors, 0.5 * sum |s_t - s_{t-1}|.

    >>> round(instability(np.array([0.5, 0.5]), np.array([0.6, 0.4])), 6)
    0.1
    """
    return float(0.5 * np.abs(np.asarray(shares) - np.asarray(previous_shares)).sum())


def spend_table(indicator: sp.csr_matrix, holdings: np.ndarray) -> np.ndarray:
    """Spend held with each vendor within each group: ``indicator`` (groups, N) @ ``holdings`` (N, J).

    >>> spend_table(group_indicator([np.array([0, 1]), np.array([2])], 3), np.eye(3)[:, :2]).tolist()
    [[1.0, 1.0], [0.0, 0.0]]
    """
    return np.asarray(indicator @ holdings, dtype=float)


def group_indicator(rows: list[np.ndarray], n: int) -> sp.csr_matrix:
    """Sparse (groups, n) indicator of which rows belong to each group; groups may overlap."""
    sizes = [len(r) for r in rows]
    columns = np.concatenate([np.asarray(r, dtype=np.int64) for r in rows]) if rows else np.zeros(0, np.int64)
    return sp.csr_matrix((np.ones(len(columns)), (np.repeat(np.arange(len(rows)), sizes), columns)),
                         shape=(len(rows), n))


def within_table_hhi(table: np.ndarray, fringe: np.ndarray | None = None) -> float:
    """Spend-weighted mean HHI inside the groups of a (groups, J) spend table.

    >>> within_table_hhi(np.array([[2.0, 0.0], [0.0, 2.0]]))
    10000.0
    """
    weight = table.sum(axis=1)
    norm = np.where(weight > 0, weight, 1.0)[:, None]
    shares = named_only(table / norm, fringe)
    per_group = 10_000.0 * np.square(shares).sum(axis=1)
    total = weight.sum()
    return float(np.multiply(per_group, weight).sum() / total) if total > 0 else 0.0


def shares_within(table: np.ndarray) -> np.ndarray:
    """Each vendor's share of each group's spend, from a (groups, J) spend table (``spend_table``).

    Groups may overlap (a customer can be large and in government). A group whose customers
    spend nothing (or that has none) gets NaN: no share to speak of.

    >>> table = spend_table(group_indicator([np.array([0, 1]), np.array([1, 2]), np.array([], dtype=int)], 3),
    ...                     np.array([[1.0, 0.0], [0.0, 3.0], [0.0, 4.0]]))
    >>> shares_within(table).tolist()
    [[0.25, 0.75], [0.0, 1.0], [nan, nan]]
    """
    group_total = table.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(group_total > 0, table / group_total, np.nan)


def shares_of(amounts: np.ndarray) -> np.ndarray:
    """``amounts`` as shares of their total (all zero stays all zero).

    >>> shares_of(np.array([1.0, 3.0])).tolist(), shares_of(np.zeros(2)).tolist()
    ([0.25, 0.75], [0.0, 0.0])
    """
    total = amounts.sum()
    return amounts / total if total > 0 else amounts


class MarketRecorder:
    """The measures of a market after each quarter, from its customer base.

    Built once per market from its customer base (``model/customers.py``), which vendor
    columns are the fringe (left out of concentration measures: many small firms, not one)
    and the scenario's regions; it finds the groups shares are measured in once (segments,
    regions, industries) and each quarter :meth:`record` measures the base as it is then.

    >>> from cloudmarket.model import CloudMarket
    >>> m = CloudMarket(n_customers=300, rng=1)
    >>> recorder = MarketRecorder(m.customer_base, m.recorder.fringe, m.regions)
    >>> spend = shares_of(m.demand)
    >>> measures = recorder.record(m.vendors, spend, spend)
    >>> sorted(measures) == sorted(MarketRecorder.MEASURES), measures["hhi"] == m.hhi, measures["instability"]
    (True, True, 0.0)
    """

    MEASURES = ("hhi", "cr3", "instability", "within_industry_hhi", "count_hhi", "multihoming", "adoption")

    def __init__(self, base, fringe: np.ndarray, regions: tuple[str, ...]):
        self.base = base
        self.fringe = np.asarray(fringe, dtype=bool)
        self.one_region = len(regions) == 1
        self.region_rows = len(SEGMENTS) + np.array([REGIONS.index(r) for r in regions])
        key = ("market groups", tuple(regions))
        if key not in base.derived:  # once per population: runs that share one share these
            # rows of each segment and of each region of this scenario (a lone region is the whole
            # market: its shares are the overall ones; a region the scenario lacks stays NaN), then
            # of each industry: one sparse product a quarter gives all their spend tables
            groups = [np.flatnonzero(base.segments[s]) for s in SEGMENTS]
            if not self.one_region:
                groups += [np.flatnonzero(base.region == k) for k in range(len(regions))]
            industries = [np.flatnonzero(base.industry == k) for k in range(N_INDUSTRIES)]
            base.derived[key] = (group_indicator(groups + industries, base.n), len(groups))
        self.indicator, self.n_groups = base.derived[key]

    def record(self, vendors, spend: np.ndarray, previous: np.ndarray) -> dict[str, float]:
        """Measure the market now, with spend shares ``spend`` and last quarter's ``previous``.

        Sets each vendor's ``customer_share``, ``spend_share`` and ``GROUP_SHARES`` (vendor
        ``v`` is column ``v.index``) and returns the market measures by name (``MEASURES``).
        """
        base = self.base
        adopted = base.n_adopted
        n_vendors = len(spend)
        counts = count_shares(base.provider[:adopted], n_vendors)
        holdings = base.holdings
        tables = spend_table(self.indicator, holdings)
        within = np.full((len(GROUP_SHARES), n_vendors), np.nan)
        found = shares_within(tables[:self.n_groups])
        within[:len(SEGMENTS)] = found[:len(SEGMENTS)]
        within[self.region_rows] = spend if self.one_region else found[len(SEGMENTS):]
        within = within.T.tolist()  # (vendors, groups)
        for v in vendors:
            v.customer_share, v.spend_share = float(counts[v.index]), float(spend[v.index])
            vars(v).update(zip(GROUP_SHARES, within[v.index]))
        named = named_only(spend, self.fringe)
        return {"hhi": hhi(named), "cr3": cr3(named), "instability": instability(previous, spend),
                "within_industry_hhi": within_table_hhi(tables[self.n_groups:], self.fringe),
                "count_hhi": hhi(named_only(counts, self.fringe)), "multihoming": base.multihoming(),
                "adoption": adopted / base.n}

    def record_quarter(self, vendors, demand: np.ndarray, new_business: np.ndarray,
                       previous: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """After a quarter: each vendor's ``new_business_share`` of ``new_business``, then :meth:`record`
        with the spend shares of ``demand``; returns (spend shares, measures)."""
        spend = shares_of(demand)
        won = new_business.sum()
        for v in vendors:
            v.new_business_share = float(new_business[v.index] / won) if won > 0 else 0.0
        return spend, self.record(vendors, spend, previous)

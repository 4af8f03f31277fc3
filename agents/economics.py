"""A cloud vendor's economics as pure functions: price, capacity, R&D, quality, parent push.

Every rule a vendor follows when it books a quarter or sets next quarter's price is here,
in plain floats, so it can be read, tested and reused without Mesa (``CloudVendor`` and
the numpy floor in ``benchmarks/floor.py`` both call these). Sources for each rule are
in ``model/ODD.md`` (section 3.3).

Example
-------
>>> round(best_response_price(unit_cost=0.7, share=0.4, price_weight=6.0), 4)   # Lerner 1/(6 x 0.6)
0.9692
>>> round(quality_gap_step(0.0, intensity=0.06, reference=0.06, frontier_growth=0.03,
...                        catch_up=0.1, returns=0.5), 12)                        # steady at the start
0.0
"""

from __future__ import annotations

import math

MAX_LERNER = 0.6  # a ceiling on the markup (p - c) / p when demand is nearly inelastic


def lerner_index(share: float, price_weight: float) -> float:
    """Myopic Bertrand-Nash markup (p - c) / p of a vendor with logit share ``share``.

    With utility ``-price_weight * ln p``, a vendor's own-price elasticity is
    ``-price_weight * (1 - share)``, so the first-order condition gives
    ``(p - c) / p = 1 / (price_weight * (1 - share))`` (Berry 1994; Anderson, de Palma and
    Thisse 1992). A larger share means less elastic demand and a higher markup.

    >>> lerner_index(0.0, 5.0), lerner_index(0.5, 5.0), lerner_index(0.9, 5.0)
    (0.2, 0.4, 0.6)
    """
    elasticity = price_weight * (1.0 - min(max(share, 0.0), 1.0))
    if elasticity <= 1.0 / MAX_LERNER:
        return MAX_LERNER
    return 1.0 / elasticity


def best_response_price(unit_cost: float, share: float, price_weight: float) -> float:
    """Price that maximises this quarter's margin given rivals' prices: c / (1 - Lerner).

    >>> best_response_price(1.0, 0.0, 5.0)
    1.25
    """
    return unit_cost / (1.0 - lerner_index(share, price_weight))


def adjust(current: float, target: float, speed: float) -> float:
    """Partial adjustment: move ``speed`` of the way from ``current`` to ``target``.

    Budgets, list prices and sales plans move with inertia (Nelson and Winter 1982):
    a vendor closes part of the gap to its new target each quarter.

    >>> adjust(0.2, 1.0, 0.25)
    0.4
    """
    return current + speed * (target - current)


def unit_cost(base: float, cost_factor: float, demand: float, capacity: float, congestion_cost: float) -> float:
    """Cost of serving one unit of spend: the base cost, export-control markup, overload.

    Demand above capacity is served with bought-in or overcommitted capacity, which costs
    ``congestion_cost`` more per unit of overload (convex capacity costs: a vendor that
    grows faster than it can build pays for it).

    >>> unit_cost(0.7, 1.0, demand=120.0, capacity=100.0, congestion_cost=1.0)
    0.84
    """
    overload = max(0.0, demand / capacity - 1.0) if capacity > 0 else 0.0
    return base * cost_factor * (1.0 + congestion_cost * overload)


def capacity_order(demand: float, capacity: float, expected_growth: float, headroom: float,
                   depreciation: float) -> float:
    """Capacity to order this quarter so next quarter's demand fits with ``headroom`` to spare.

    >>> round(capacity_order(100.0, 120.0, 0.08, 0.2, 0.03), 6)
    13.2
    """
    target = demand * (1.0 + expected_growth) * (1.0 + headroom)
    return max(0.0, target - (1.0 - depreciation) * capacity)


def affordable_rd(wanted: float, cash: float, operating_surplus: float, credit: float) -> float:
    """R&D a vendor can pay for: what it wants, bounded by cash, this quarter's surplus and credit.

    >>> affordable_rd(10.0, cash=-5.0, operating_surplus=8.0, credit=3.0)
    6.0
    """
    return min(wanted, max(0.0, cash + operating_surplus + credit))


def quality_gap_step(gap: float, intensity: float, reference: float, frontier_growth: float,
                     catch_up: float, returns: float, supply: float = 1.0) -> float:
    """Next quarter's log quality relative to the technology frontier (0 = at the frontier).

    A quality ladder in the spirit of Ericson and Pakes (1995): the frontier moves up by
    ``frontier_growth`` a quarter; a vendor climbs by ``frontier_growth * supply *
    (intensity / reference) ** returns``, so the R&D intensity it started with keeps it
    where it is, and ``returns < 1`` makes each extra unit of R&D worth less (diminishing
    returns); knowledge spills over, so a share ``catch_up`` of any gap closes each
    quarter (laggards catch up, leaders' leads erode). The steady state is
    ``frontier_growth * (supply * (intensity / reference) ** returns - 1) / catch_up``:
    a lasting R&D advantage buys a bounded lead, not a lead that compounds.

    >>> round(quality_gap_step(0.0, 0.24, 0.06, 0.03, 0.1, 0.5), 4)   # 4x the R&D: +3 points
    0.03
    >>> round(quality_gap_step(-0.5, 0.06, 0.06, 0.03, 0.1, 0.5), 4)  # a laggard catches up
    -0.45
    """
    climb = frontier_growth * supply * (max(intensity, 0.0) / reference) ** returns if reference > 0 else 0.0
    return gap + climb - frontier_growth - catch_up * gap


def push_grant(quarters_in: int, budget_per_quarter: float, quarters: int) -> float:
    """A parent group's grant this quarter: a fixed budget for a fixed number of quarters.

    >>> [push_grant(q, 5.0, 2) for q in (1, 2, 3)]
    [5.0, 5.0, 0.0]
    """
    return budget_per_quarter if 1 <= quarters_in <= quarters else 0.0


def focus_reach(effort: float) -> float:
    """How much a segment feels a vendor's sales effort: sqrt, so spreading effort has diminishing returns.

    >>> focus_reach(0.25), focus_reach(0.0)
    (0.5, 0.0)
    """
    return math.sqrt(max(effort, 0.0))

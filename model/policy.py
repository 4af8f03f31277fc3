"""Policy levers as pure functions: who may buy from whom, and what sanctions cost.

* Bans: customers in ``ban_regions`` that belong to a segment in ``ban_segments``
  ("all" = every customer) may not use any of the ``sanctioned_vendors``.
* Data localisation: vendors whose home region is not CN may not serve CN customers in
  government or finance.
* Export controls: a sanctioned vendor's IaaS capacity growth and IaaS quality gains are
  multiplied by ``1 - export_control_severity`` (chips are scarce) and its unit costs by
  ``1 + export_cost_markup * export_control_severity``.

The 'others' aggregate (home region "*", local providers everywhere) can be neither
sanctioned nor localised away, so every customer always has at least one allowed vendor.

Example
-------
>>> import numpy as np
>>> seg = {"government": np.array([True, False]), "finance": np.array([False, False]),
...        "telecom": np.array([False, False]), "critical": np.array([False, False])}
>>> allowed_vendors(("huawei", "aws", "others"), ("CN", "US", "*"), ("UK", "CN"),
...                 np.array([0, 0]), seg, sanctioned=["huawei"], ban_regions=["UK"],
...                 ban_segments=["government"], data_localization=False).tolist()
[[False, True, True], [True, True, True]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

LOCALISED_SEGMENTS = ("government", "finance")


def allowed_vendors(vendors: Sequence[str], home_regions: Sequence[str], regions: Sequence[str],
                    region: np.ndarray, segments: Mapping[str, np.ndarray], *,
                    sanctioned: Sequence[str], ban_regions: Sequence[str],
                    ban_segments: Sequence[str], data_localization: bool) -> np.ndarray:
    """Bool array (n customers, J vendors): True where the customer may use the vendor."""
    n, j = len(region), len(vendors)
    allowed = np.ones((n, j), dtype=bool)
    banned_here = np.isin(region, [regions.index(r) for r in ban_regions if r in regions])
    if "all" not in ban_segments:
        in_segment = np.zeros(n, dtype=bool)
        for s in ban_segments:
            in_segment |= segments[s]
        banned_here &= in_segment
    for v in sanctioned:
        allowed[banned_here, vendors.index(v)] = False
    if data_localization and "CN" in regions:
        local = region == regions.index("CN")
        for s in LOCALISED_SEGMENTS:
            local_seg = local & segments[s]
            for k, home in enumerate(home_regions):
                if home not in ("CN", "*"):
                    allowed[local_seg, k] = False
    return allowed


def export_control_factors(vendors: Sequence[str], sanctioned: Sequence[str], severity: float,
                           cost_markup: float, active: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-vendor (supply factor, cost factor): growth multiplier and unit-cost multiplier.

    >>> export_control_factors(("a", "b"), ["b"], 0.5, 1.0, True)
    (array([1. , 0.5]), array([1. , 1.5]))
    """
    hit = np.array([v in sanctioned for v in vendors]) & bool(active)
    supply = np.where(hit, 1.0 - severity, 1.0)
    cost = np.where(hit, 1.0 + cost_markup * severity, 1.0)
    return supply, cost


def policy_active(step: int, policy_start: int) -> bool:
    """Policy is in force in quarter ``step`` (1, 2, ...) once ``step > policy_start``.

    >>> policy_active(1, 0), policy_active(4, 4), policy_active(5, 4)
    (True, False, True)
    """
    return step > policy_start

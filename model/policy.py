"""Every policy lever of the model, and its state, in one place.

Levers as pure functions (testable alone) and the :class:`Policy` object a market builds
from its parameters, which answers, each quarter, what is allowed and what each vendor
faces (sources for each lever: ``model/ODD.md`` section 3.4):

* Bans: customers in ``ban_regions`` that belong to a segment in ``ban_segments``
  ("all" = every customer) may not use any of the ``sanctioned_vendors``.
* Data localisation: vendors whose home region is not CN may not serve CN customers in
  government or finance.
* Export controls: a sanctioned vendor's IaaS capacity growth and IaaS quality gains are
  multiplied by ``1 - export_control_severity`` (chips are scarce) and its unit costs by
  ``1 + export_cost_markup * export_control_severity``.
* Domestic subsidy: state money scales CN-home vendors' own R&D by ``1 + domestic_subsidy``.
* Parent push: the parent group of each of ``cloud_push_vendors`` grants ``cloud_push``
  times the vendor's revenue in the quarter before the push, for ``cloud_push_quarters``.
* Switching charges: a vendor's egress fee is capped by ``egress_fee_cap`` and, by date,
  by ``egress_schedule`` (the EU Data Act: charges at cost from 11 January 2024, none from
  12 January 2027).
* Committed-spend discounts are capped by ``commitment_discount_cap``.
* Interoperability: ``interoperability`` removes that share of the technical switching
  cost and of the cost of adding a cloud (multi-cloud).

Every lever but ``egress_schedule`` (which has its own dates) is in force in the quarters
after ``policy_start``. The 'others' aggregate (home region "*", local providers
everywhere) can be neither sanctioned nor localised away, so every customer always has at
least one allowed vendor.

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
from typing import Any

import numpy as np

from cloudmarket.agents import economics

LOCALISED_SEGMENTS = ("government", "finance")
SUBSIDISED_HOME = "CN"  # domestic_subsidy is Chinese state money for Chinese vendors
# The EU Data Act (Regulation (EU) 2023/2854, Art. 29): from 11 January 2024 switching
# charges may not exceed the provider's costs; from 12 January 2027 none may be charged.
# Steps count quarters from 2020Q3: 2024Q1 is step 14, 2027Q1 step 26.
EGRESS_AT_COST = 0.02  # egress at the cost of transit: a fifth of the default fee (ODD 3.4)
EGRESS_SCHEDULES: dict[str, tuple[tuple[int, float], ...]] = {
    "none": (),
    "eu-data-act": ((14, EGRESS_AT_COST), (26, 0.0)),
}


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


def scheduled_egress_cap(schedule: str, step: int) -> float:
    """The cap a dated switching-charge rule puts on egress fees in quarter ``step`` (1.0: none).

    >>> [scheduled_egress_cap("eu-data-act", q) for q in (13, 14, 26)]
    [1.0, 0.02, 0.0]
    """
    cap = 1.0
    for start, value in EGRESS_SCHEDULES[schedule]:
        if step >= start:
            cap = value
    return cap


class Policy:
    """Every lever of a run and its state; asked each quarter what is allowed and what vendors face.

    Built once per market from its parameters and customers. The allowed-vendor masks
    are cached per state of the policy (they only change when policy starts or a vendor
    enters); the parent push keeps its budget (fixed when the push starts).

    >>> import numpy as np
    >>> from cloudmarket.model.params import validated
    >>> p = validated({"sanctioned_vendors": ["huawei"], "export_control_severity": 0.5, "policy_start": 2})
    >>> seg = {s: np.zeros(1, bool) for s in ("government", "finance", "telecom", "critical")}
    >>> pol = Policy(p, ("huawei", "others"), ("CN", "*"), ("CN",), np.zeros(1, int), seg)
    >>> pol.export_controls(2)[0].tolist(), pol.export_controls(3)[0].tolist()
    ([1.0, 1.0], [0.5, 1.0])
    """

    def __init__(self, params: Any, vendors: Sequence[str], home_regions: Sequence[str], regions: Sequence[str],
                 region: np.ndarray, segments: Mapping[str, np.ndarray]) -> None:
        self.params = params
        self.vendors, self.home_regions, self.regions = tuple(vendors), tuple(home_regions), tuple(regions)
        self.region, self.segments = region, segments
        self._masks: dict[tuple, np.ndarray | None] = {}
        self._controls: dict[bool, tuple[np.ndarray, np.ndarray]] = {}
        self._push: dict[str, tuple[int, float]] = {}  # vendor -> (first quarter, budget per quarter)

    def in_force(self, quarter: int) -> bool:
        """The levers (all but the dated egress schedule) apply in ``quarter``."""
        return policy_active(quarter, self.params.policy_start)

    def allowed(self, quarter: int, open_vendors: np.ndarray) -> np.ndarray | None:
        """Bool (customers, vendors): who may buy from whom this quarter; None when anyone may buy anything.

        ``open_vendors`` (J,) marks the vendors in the market (scheduled entrants are closed
        until they enter).
        """
        active = self.in_force(quarter)
        key = (active, np.asarray(open_vendors, dtype=bool).tobytes())  # a quarter's lookup: cheap to hash
        if key not in self._masks:
            p = self.params
            mask = np.ones((len(self.region), len(self.vendors)), dtype=bool)
            if active:
                mask = allowed_vendors(self.vendors, self.home_regions, self.regions, self.region, self.segments,
                                       sanctioned=p.sanctioned_vendors, ban_regions=p.ban_regions,
                                       ban_segments=p.ban_segments, data_localization=p.data_localization)
            mask &= np.asarray(open_vendors, dtype=bool)[None, :]
            self._masks[key] = None if mask.all() else mask
        return self._masks[key]

    def export_controls(self, quarter: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-vendor (supply factor, cost factor) of export controls this quarter."""
        active = self.in_force(quarter)
        if active not in self._controls:
            p = self.params
            self._controls[active] = export_control_factors(self.vendors, p.sanctioned_vendors,
                                                            p.export_control_severity, p.export_cost_markup, active)
        return self._controls[active]

    def subsidy(self, home_region: str, quarter: int) -> float:
        """State money per unit of a vendor's own R&D this quarter (domestic vendors only)."""
        return self.params.domestic_subsidy if self.in_force(quarter) and home_region == SUBSIDISED_HOME else 0.0

    def push_grant(self, vendor: str, revenue: float, quarter: int) -> float:
        """The parent group's grant to ``vendor`` this quarter: a fixed budget for cloud_push_quarters.

        The budget per quarter is ``cloud_push`` times the vendor's revenue in the quarter
        before the push starts; it does not grow with the vendor, and it stops.
        """
        p = self.params
        if not self.in_force(quarter) or vendor not in p.cloud_push_vendors or p.cloud_push <= 0:
            return 0.0
        if vendor not in self._push:
            self._push[vendor] = (quarter, p.cloud_push * revenue)
        start, budget = self._push[vendor]
        return economics.push_grant(quarter - start + 1, budget, p.cloud_push_quarters)

    def egress_cap(self, quarter: int) -> float:
        """The most a vendor may charge a leaving workload this quarter (share of its annual spend)."""
        p = self.params
        cap = p.egress_fee_cap if self.in_force(quarter) else 1.0
        return min(cap, scheduled_egress_cap(p.egress_schedule, quarter))

    def discount_cap(self, quarter: int) -> float:
        """The largest committed-spend discount a vendor may offer this quarter."""
        return self.params.commitment_discount_cap if self.in_force(quarter) else 0.5

    def technical_factor(self, quarter: int) -> float:
        """Share of the technical switching and multi-cloud costs left after interoperability rules."""
        return 1.0 - self.params.interoperability if self.in_force(quarter) else 1.0

"""Calibrated starting markets: which vendors, where customers are, the shares to match.

Shares come from the shipped data (``model/data``, sources in ``SOURCES.md``):
``china-2020`` from Canalys 2020Q3 (mainland China cloud infrastructure services) and
``global-2020`` from Gartner's 2020 worldwide IaaS shares. Step 0 is 2020Q3 in both.

Example
-------
>>> s = get_scenario("china-2020")
>>> s.vendors
('alibaba', 'huawei', 'tencent', 'baidu', 'aws', 'others')
>>> round(sum(s.target_shares), 6)
1.0
>>> period_label(21), period_label(22)
('2025Q4', '2026Q1')
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from cloudmarket.model.errors import ParameterError

ANY_REGION = "*"  # home region of the 'others' aggregate: local providers everywhere
START_YEAR, START_QUARTER = 2020, 3


@dataclass(frozen=True)
class Entrant:
    """A vendor a scenario can schedule to enter: when, where from, how big and how good.

    ``capacity`` is its starting capacity as a share of the market's spend when it enters;
    ``quality_gap`` its log quality against the technology frontier (0 = at the frontier).
    """

    name: str
    home_region: str
    quarter: int  # the step in which it first takes new business
    capacity: float
    quality_gap: float
    note: str


@dataclass(frozen=True)
class Scenario:
    """A starting market: vendors with home regions and target spend shares, regions."""

    name: str
    vendors: tuple[str, ...]
    home_regions: tuple[str, ...]  # one per vendor; ANY_REGION for 'others'
    target_shares: tuple[float, ...]  # spend shares at step 0, fractions summing to 1
    regions: tuple[str, ...]
    region_weights: tuple[float, ...]  # share of customers in each region
    iaas_need_mean: float  # mean IaaS share of a customer's needs (rest is PaaS)
    focus: dict  # vendor -> customer segments it targets ("large", "government", ...)
    source: str
    others_firms: str = ""  # which real firms the 'others' fringe stands for
    entrant_list: tuple[Entrant, ...] = ()  # vendors this scenario can schedule to enter

    @property
    def entrants(self) -> tuple[str, ...]:
        """Names of the vendors this scenario can schedule to enter (parameter ``entrants``)."""
        return tuple(e.name for e in self.entrant_list)

    def entrant(self, name: str) -> Entrant:
        """The scheduled entrant called ``name``."""
        return next(e for e in self.entrant_list if e.name == name)

    @property
    def named_vendors(self) -> tuple[str, ...]:
        """Vendors that can be sanctioned or banned (all but the 'others' aggregate)."""
        return tuple(v for v in self.vendors if v != "others")


def _read_csv(name: str) -> list[dict[str, str]]:
    with resources.files("cloudmarket.model.data").joinpath(name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@cache
def china_shares() -> dict[str, dict[str, float]]:
    """Canalys quarterly China cloud shares in percent, by period then vendor.

    >>> china_shares()["2020Q3"]["alibaba"]
    40.9
    """
    rows = _read_csv("china_cloud_shares.csv")
    return {r["period"]: {k: float(v) for k, v in r.items() if k != "period"} for r in rows}


@cache
def global_shares() -> dict[str, dict[str, float]]:
    """Gartner worldwide IaaS shares in percent, by year (as str) then vendor."""
    rows = _read_csv("global_iaas_shares.csv")
    return {r["year"]: {k: float(v) for k, v in r.items() if k != "year"} for r in rows}


def _china_2020() -> Scenario:
    q = china_shares()["2020Q3"]
    # Canalys lumps AWS into "others" for 2020Q3; we carve out 3 points for AWS China
    # (an assumption, stated in SOURCES.md) so a foreign vendor exists for localisation.
    aws = 3.0
    shares = {"alibaba": q["alibaba"], "huawei": q["huawei"], "tencent": q["tencent"],
              "baidu": q["baidu"], "aws": aws, "others": q["others"] - aws}
    return Scenario(
        name="china-2020",
        vendors=tuple(shares),
        home_regions=("CN", "CN", "CN", "CN", "US", ANY_REGION),
        target_shares=_normalise(shares.values()),
        regions=("CN",),
        region_weights=(1.0,),
        iaas_need_mean=0.77,  # China is IaaS-heavy: PaaS ~23% of spend (Canalys 2022)
        focus={"huawei": ("large", "government", "telecom")},
        source="Canalys 2020Q3 mainland China cloud infrastructure services",
        others_firms=("Kingsoft Cloud, China Telecom (Tianyi Cloud), China Mobile Cloud, China Unicom, "
                      "UCloud, JD Cloud, Inspur Cloud and other local providers"),
        # ByteDance's Volcano Engine opened its public cloud in 2021 (2021Q4 here) on the
        # infrastructure built for Douyin/TikTok: frontier technology, little capacity for sale.
        entrant_list=(Entrant("volcengine", "CN", quarter=5, capacity=0.02, quality_gap=0.0,
                              note="ByteDance Volcano Engine, public cloud from 2021"),),
    )


def _global_2020() -> Scenario:
    g = global_shares()["2020"]
    # Gartner names five vendors; Tencent (about 2 points, assumed) is carved out of "others".
    tencent = 2.0
    shares = {"aws": g["amazon"], "microsoft": g["microsoft"], "google": g["google"],
              "alibaba": g["alibaba"], "huawei": g["huawei"], "tencent": tencent}
    shares["others"] = 100.0 - sum(shares.values())
    return Scenario(
        name="global-2020",
        vendors=tuple(shares),
        home_regions=("US", "US", "US", "CN", "CN", "CN", ANY_REGION),
        target_shares=_normalise(shares.values()),
        regions=("CN", "US", "EU", "UK", "ROW"),
        # customers by region, roughly 2020 public-cloud spend by region (assumption)
        region_weights=(0.15, 0.42, 0.18, 0.05, 0.20),
        iaas_need_mean=0.55,
        focus={"huawei": ("large", "government", "telecom")},
        source="Gartner worldwide IaaS public cloud services 2020",
        others_firms="Oracle, IBM, Tencent outside China's carve-out, OVHcloud, DigitalOcean, regional and telco clouds",
        # GPU clouds grew from 2023 on AI demand; CoreWeave is the largest (2023Q1 here).
        entrant_list=(Entrant("coreweave", "US", quarter=10, capacity=0.01, quality_gap=0.0,
                              note="CoreWeave, GPU cloud grown on AI demand from 2023"),),
    )


def _normalise(values) -> tuple[float, ...]:
    v = [float(x) for x in values]
    total = sum(v)
    return tuple(x / total for x in v)


_BUILDERS = {"china-2020": _china_2020, "global-2020": _global_2020}
SCENARIOS = tuple(_BUILDERS)


@cache
def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``; a ParameterError lists the known ones otherwise."""
    try:
        return _BUILDERS[name]()
    except KeyError:
        raise ParameterError("scenario", name, f"must be one of {' | '.join(SCENARIOS)}") from None


def period_label(step: int) -> str:
    """Calendar quarter of a step: step 0 is 2020Q3.

    >>> period_label(0), period_label(2)
    ('2020Q3', '2021Q1')
    """
    q = START_QUARTER - 1 + int(step)
    return f"{START_YEAR + q // 4}Q{q % 4 + 1}"

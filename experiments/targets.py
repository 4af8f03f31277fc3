"""What a calibration is fitted to: a scenario's observed shares, mapped onto model steps.

A :class:`Target` holds one data series (fractions, one column per observed vendor) and
says which model steps each observed period stands for. Both scenarios start at step 0 =
2020Q3, and the mapping is stated, not hidden:

* ``china-2020`` (Canalys, quarterly 2020Q1-2021Q3): quarter q is step
  ``4 * (year - 2020) + q - 3``; 2020Q1 and 2020Q2 come before the start and enter only
  through the size of share changes, the HHI band and the trend forecast. The model's AWS
  is folded into Canalys' "others", which counts AWS there.
* ``global-2020`` (Gartner, yearly 2019-2021): a year's share is a share of that year's
  revenue, so the model's value for year Y is the mean of its quarterly spend shares over
  Y's four quarters (2021 = steps 2-5, 2022 = steps 6-9, ...). The scenario starts from
  Gartner's 2020 shares, so 2020 is step 0 (an approximation: the 2020 average is placed
  at 2020Q3). 2019 precedes the start. The model's Tencent is folded into "others",
  where Gartner counts it.

Example
-------
>>> t = get_target("china-2020")
>>> t.labels[0], t.start, t.steps_of("2021Q3"), t.steps_of("2020Q1")
('2020Q1', '2020Q3', (4,), ())
>>> g = get_target("global-2020")
>>> g.steps_of("2021"), g.steps_of("2020"), g.model_labels(9)
((2, 3, 4, 5), (0,), ['2020', '2021', '2022'])
>>> round(float(g.observed.loc["2021", "aws"]), 3)
0.389
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cloudmarket.model.scenarios import START_QUARTER, START_YEAR, china_shares, global_shares, period_label

TARGET_SCENARIOS = ("china-2020", "global-2020")


@dataclass(frozen=True)
class Target:
    """Observed shares of one scenario and how its periods map onto model steps.

    ``observed`` is indexed by period label in time order, columns are the observed
    vendors (fractions summing to about 1); ``fold`` maps a model vendor onto the column
    it is counted in (others by default); ``unit`` is "quarter" or "year";
    ``per_year`` periods make one year (the lag of a one-year share change).
    """

    scenario: str
    source: str
    unit: str
    observed: pd.DataFrame
    start: str
    fold: dict[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return list(self.observed.index)

    @property
    def columns(self) -> list[str]:
        return list(self.observed.columns)

    @property
    def per_year(self) -> int:
        return 4 if self.unit == "quarter" else 1

    @property
    def hhi_columns(self) -> list[str]:
        """Vendors that count in the HHI: every named one ('others' is many small firms)."""
        return [c for c in self.columns if c != "others"]

    def column_of(self, vendor: str) -> str:
        """The observed column a model vendor is counted in."""
        return self.fold.get(vendor, vendor if vendor in self.columns else "others")

    def steps_of(self, label: str) -> tuple[int, ...]:
        """Model steps whose mean is the model's value for period ``label``; () before the start."""
        if self.unit == "quarter":
            year, quarter = int(label[:4]), int(label[-1])
            step = 4 * (year - START_YEAR) + quarter - START_QUARTER
            return (step,) if step >= 0 else ()
        year = int(label)
        if year < START_YEAR:
            return ()
        if year == START_YEAR:
            return (0,)  # the scenario starts from this year's shares
        first = 4 * (year - START_YEAR) - START_QUARTER + 1  # the year's Q1
        return tuple(range(first, first + 4))

    def index_of(self, label: str) -> float:
        """Time of a period in its own unit (quarters or years since the start), for trends."""
        if self.unit == "quarter":
            year, quarter = int(label[:4]), int(label[-1])
            return float(4 * (year - START_YEAR) + quarter - START_QUARTER)
        return float(int(label) - START_YEAR)

    def model_labels(self, horizon: int) -> list[str]:
        """Periods the model covers completely in steps 0..horizon, in time order."""
        if self.unit == "quarter":
            return [period_label(s) for s in range(horizon + 1)]
        labels, year = [], START_YEAR
        while True:
            steps = self.steps_of(str(year))
            if not steps or max(steps) > horizon:
                return labels
            labels.append(str(year))
            year += 1

    def after_start(self, through: str | None = None) -> list[str]:
        """Observed periods after the start (the ones a run can be scored on), up to ``through``."""
        labels = [lab for lab in self.labels if self.steps_of(lab) and lab != self.start]
        return labels if through is None else [lab for lab in labels if self.index_of(lab) <= self.index_of(through)]

    def up_to(self, through: str | None) -> list[str]:
        """Every observed period up to ``through`` (all when None), pre-start ones included."""
        if through is None:
            return self.labels
        return [lab for lab in self.labels if self.index_of(lab) <= self.index_of(through)]

    def last_step(self) -> int:
        """The last model step that has data."""
        return max(max(self.steps_of(lab)) for lab in self.after_start() or [self.start])

    def observed_hhi(self) -> pd.Series:
        """HHI (0-10,000) of the observed named vendors per period.

        >>> get_target("china-2020").observed_hhi().round(0).astype(int).tolist()
        [2446, 2140, 2235, 2211, 2212, 1929, 2109]
        """
        return 10_000 * (self.observed[self.hhi_columns] ** 2).sum(axis=1)


def china_target() -> Target:
    """Canalys mainland China cloud infrastructure shares 2020Q1-2021Q3."""
    rows = {period: {v: shares[v] / 100.0 for v in ("alibaba", "huawei", "tencent", "baidu", "others")}
            for period, shares in china_shares().items()}
    observed = pd.DataFrame.from_dict(rows, orient="index")
    return Target("china-2020", "Canalys, mainland China cloud infrastructure services, quarterly",
                  "quarter", observed, start="2020Q3", fold={"aws": "others"})


def global_target() -> Target:
    """Gartner worldwide IaaS shares 2019-2021 (Gartner's 'amazon' is the model's 'aws')."""
    rows = {year: {("aws" if k == "amazon" else k): v / 100.0 for k, v in shares.items() if k != "total_usd_bn"}
            for year, shares in global_shares().items()}
    observed = pd.DataFrame.from_dict(rows, orient="index")
    return Target("global-2020", "Gartner, worldwide IaaS public cloud services, yearly",
                  "year", observed, start="2020", fold={"tencent": "others"})


def get_target(scenario: str) -> Target:
    """The observed target of a calibrated scenario."""
    if scenario == "china-2020":
        return china_target()
    if scenario == "global-2020":
        return global_target()
    raise ValueError(f"scenario = {scenario!r}: calibration data exist for {' | '.join(TARGET_SCENARIOS)}")


def synthetic_target(base: Target, shares: np.ndarray, vendors: list[str], through_step: int) -> Target:
    """A quarterly target made from a simulated series (steps x model vendors), for recovery tests.

    The synthetic data cover steps 0..``through_step`` of ``shares``, folded onto the
    base target's columns, with the base's pre-start periods dropped (a model run has
    none).

    >>> t = synthetic_target(china_target(), np.full((3, 6), 1 / 6),
    ...                      ["alibaba", "huawei", "tencent", "baidu", "aws", "others"], 2)
    >>> t.labels, round(float(t.observed.loc["2020Q4", "others"]), 4)
    (['2020Q3', '2020Q4', '2021Q1'], 0.3333)
    """
    if base.unit != "quarter":
        raise ValueError("synthetic targets are quarterly")
    folded = fold_shares(shares[: through_step + 1], vendors, base)
    observed = pd.DataFrame(folded, index=[period_label(s) for s in range(through_step + 1)], columns=base.columns)
    return Target(base.scenario, "synthetic: simulated by the model itself", "quarter", observed,
                  start=period_label(0), fold=dict(base.fold))


def fold_shares(shares: np.ndarray, vendors: list[str], target: Target) -> np.ndarray:
    """Sum model vendors' shares (last axis) into the target's columns.

    >>> fold_shares(np.array([[0.5, 0.2, 0.3]]), ["aws", "google", "tencent"], global_target())
    array([[0.5, 0. , 0. , 0.2, 0. , 0.3]])
    """
    columns = target.columns
    out = np.zeros(shares.shape[:-1] + (len(columns),))
    for j, vendor in enumerate(vendors):
        out[..., columns.index(target.column_of(vendor))] += shares[..., j]
    return out

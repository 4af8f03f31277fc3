"""The patterns a calibration fits at once (pattern-oriented modelling, Grimm et al. 2005).

A particle (one parameter vector) is run several times; its runs are summarised as
``shares[run, step, column]`` (spend shares folded onto the target's columns, steps
0..horizon) and ``switching[run, step]`` (the quarterly full-switch rate). Each pattern scores that ensemble against the data
observed up to a cut-off period, in a unit a reader can check by hand:

``shares``
    RMSE, in percentage points, between a run's share and the observed share, over
    every column and every observed period after the start up to the cut-off (the
    model's value for a period is the mean over the steps it covers, see
    :mod:`cloudmarket.experiments.targets`), averaged over the particle's runs. Each run
    is compared with the data on its own because the data are one realisation too: an
    ensemble mean is a smoother statistic than the observed one, and comparing the two
    biases the fit (a synthetic-truth test showed it).
``changes``
    Size of one-year share changes. Observed: the root mean square, in points, of
    ``s(p + 1 year) - s(p)`` over every column and every pair of observed periods up to
    the cut-off. Model: the same statistic per run over the whole horizon (so a model
    that tips the market over 22 quarters fails it). Score: ``|model - observed|`` in
    points, averaged over runs (too calm fails as well as too wild).
``hhi``
    The HHI band: observed HHI of the named vendors, min to max over the periods up to
    the cut-off. Score: the mean over steps 1..horizon of the distance of the ensemble's
    mean HHI outside the band, in units of 100 HHI points. The mean path is scored, not
    each run: a band seen in one short series is narrower than one run's noise, and
    scoring runs would reward parameters that make the market sluggish (a synthetic-truth
    test found exactly that bias); what the band must catch is drift, such as tipping.
``switching``
    Rare switching: the annual full-switch rate (4 x the mean quarterly share of customers
    that moved all their spend, over runs and steps 1..horizon) must lie in
    ``switching_band`` (default 0-1% a year: the UK CMA found that fewer than 1% of cloud
    customers switch provider in a year, final decision of 31 July 2025). Score: the
    distance outside the band in percentage points.

The distance of a particle is ``sum_k weight_k * score_k`` over the patterns that have
data; all four scores are of the size of a percentage point, so weights of 1 give each
pattern a like say.

Example
-------
>>> from cloudmarket.experiments.targets import china_target
>>> t = china_target()
>>> p = Patterns.from_target(t, through="2021Q3", horizon=4)
>>> round(p.change_rms_observed, 2), [round(x) for x in p.hhi_band]
(3.01, [1929, 2446])
>>> obs = t.observed.loc[[lab for lab in t.labels if t.steps_of(lab)]].to_numpy()
>>> s = p.scores(obs[None, :, :], np.full((1, 5), 0.001))
>>> s["shares"], s["switching"], round(s["hhi"], 3)
(0.0, 0.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from cloudmarket.experiments.targets import Target

PATTERNS = ("shares", "changes", "hhi", "switching")
DEFAULT_SWITCHING_BAND = (0.0, 0.01)  # annual full-switch rate: CMA (2025), fewer than 1% a year


@dataclass(frozen=True)
class Patterns:
    """The observed side of every pattern, computed once from the data up to ``through``."""

    target: Target
    through: str | None
    horizon: int
    fit_labels: list[str]  # periods after the start scored by the shares pattern
    observed_fit: np.ndarray  # (len(fit_labels), columns)
    change_rms_observed: float | None  # points; None when no one-year pair is observed
    hhi_band: tuple[float, float]
    switching_band: tuple[float, float] = DEFAULT_SWITCHING_BAND
    weights: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(PATTERNS, 1.0))

    @classmethod
    def from_target(cls, target: Target, through: str | None, horizon: int,
                    switching_band: tuple[float, float] = DEFAULT_SWITCHING_BAND,
                    weights: Mapping[str, float] | None = None) -> Patterns:
        """Observed patterns from the periods up to ``through`` (None: all of them)."""
        fit_labels = target.after_start(through)
        seen = target.up_to(through)
        observed_fit = target.observed.loc[fit_labels].to_numpy() if fit_labels else np.zeros((0, len(target.columns)))
        hhi = target.observed_hhi().loc[seen]
        return cls(target, through, horizon, fit_labels, observed_fit,
                   change_rms(target.observed.loc[seen].to_numpy(), target.per_year, target, seen),
                   (float(hhi.min()), float(hhi.max())), tuple(switching_band),
                   dict(weights) if weights is not None else dict.fromkeys(PATTERNS, 1.0))

    def period_values(self, shares: np.ndarray, labels: list[str]) -> np.ndarray:
        """The model's value per run for each period: mean share over the period's steps."""
        return np.stack([shares[:, list(self.target.steps_of(lab)), :].mean(axis=1) for lab in labels], axis=1)

    def scores(self, shares: np.ndarray, switching: np.ndarray) -> dict[str, float | None]:
        """Each pattern's score for one particle's runs (``shares[run, step, column]``, ``switching[run, step]``)."""
        out: dict[str, float | None] = dict.fromkeys(PATTERNS)
        if self.fit_labels:
            values = self.period_values(shares, self.fit_labels)
            per_run = np.sqrt(np.mean(np.square(100 * (values - self.observed_fit)), axis=(1, 2)))
            out["shares"] = float(per_run.mean())
        if self.change_rms_observed is not None:
            values = self.period_values(shares, self.target.model_labels(shares.shape[1] - 1))
            per_run = [change_rms(run, self.target.per_year) for run in values]
            out["changes"] = float(np.mean([abs((x or 0.0) - self.change_rms_observed) for x in per_run]))
        hhi = hhi_path(shares, self.target)[:, 1:].mean(axis=0)  # the expected path: drift, not noise
        lo, hi = self.hhi_band
        out["hhi"] = float(np.mean(np.maximum(0.0, np.maximum(lo - hhi, hhi - hi)))) / 100.0
        annual = 4.0 * float(np.mean(switching[:, 1:]))
        lo, hi = self.switching_band
        out["switching"] = 100.0 * max(0.0, lo - annual, annual - hi)
        return out

    def distance(self, scores: Mapping[str, float | None]) -> float:
        """Weighted sum of the scores that have data.

        >>> p = Patterns.from_target(__import__("cloudmarket.experiments.targets", fromlist=["x"]).china_target(),
        ...                          None, 4, weights={"shares": 1, "changes": 0.5, "hhi": 1, "switching": 1})
        >>> p.distance({"shares": 2.0, "changes": 1.0, "hhi": 0.0, "switching": None})
        2.5
        """
        return float(sum(self.weights.get(k, 1.0) * v for k, v in scores.items() if v is not None))


def change_rms(series: np.ndarray, lag: int, target: Target | None = None,
               labels: list[str] | None = None) -> float | None:
    """Root mean square, in points, of one-year changes ``s[t + lag] - s[t]`` (rows = periods).

    With ``target`` and ``labels`` the rows are observed periods and only pairs exactly
    one year apart count (the data may have gaps); None when there is no pair.

    >>> round(change_rms(np.array([[0.40], [0.41], [0.42], [0.43], [0.44]]), 4), 6)
    4.0
    >>> change_rms(np.array([[0.4], [0.5]]), 4) is None
    True
    """
    if target is None or labels is None:
        if len(series) <= lag:
            return None
        diffs = series[lag:] - series[:-lag]
    else:
        where = {target.index_of(lab): i for i, lab in enumerate(labels)}
        pairs = [(i, where[t + lag]) for t, i in where.items() if t + lag in where]
        if not pairs:
            return None
        diffs = np.array([series[j] - series[i] for i, j in pairs])
    return float(np.sqrt(np.mean(np.square(100 * diffs))))


def hhi_path(shares: np.ndarray, target: Target) -> np.ndarray:
    """HHI (0-10,000) per run and step of the named columns, as the observed HHI is computed."""
    named = [target.columns.index(c) for c in target.hhi_columns]
    return 10_000 * np.square(shares[..., named]).sum(axis=-1)

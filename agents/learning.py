"""Vendor strategy rules: how a vendor picks next quarter's strategy targets.

A vendor's learned strategy has three dimensions, each a choice from a small menu:

* ``iaas_investment_share``: IaaS share of R&D investment (``SPLITS``; the rest goes to PaaS);
* ``investment_rate``: R&D investment as a share of revenue (``RATES``);
* ``focus``: how sales effort is spread over customer segments (``FOCUS_PROFILES``);
* ``commitment_discount``: the discount offered on committed spend (``DISCOUNTS``; the
  vendor offers at most what policy allows).

A rule returns new *targets* (menu indices); the vendor then moves its realised strategy
part of the way toward them each quarter (``strategy_inertia``), so a budget never swings
from 20% to 80% IaaS in one quarter. Every rule has the same call,
``next_targets(targets, payoff, rivals, rng) -> dict``, made once a quarter:

* ``RothErev`` (default): Roth-Erev (1995) reinforcement, one propensity vector per
  dimension. Propensities decay by ``recency``; the target just played is reinforced by
  the payoff, with a share ``experimentation`` spilled to the neighbouring menu items;
  the next target is drawn with probability proportional to propensity.
* ``Imitate``: with probability ``rate`` copy every target of the rival with the highest
  profit margin last quarter (the rule picks whom to imitate from what it observes),
  else keep one's own.
* ``Fixed``: never change.

Example
-------
>>> import numpy as np
>>> rule = RothErev(recency=0.1, experimentation=0.1)
>>> rng = np.random.default_rng(0)
>>> targets = {"iaas_investment_share": 2, "investment_rate": 2, "focus": 0}
>>> for _ in range(200):
...     targets = rule.next_targets(targets, payoff=2.0 if targets["iaas_investment_share"] == 4 else 0.1,
...                                 rivals=[], rng=rng)
>>> int(rule.probabilities("iaas_investment_share").argmax()) == 4
True
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import Protocol, runtime_checkable

import numpy as np

from cloudmarket.agents.segments import SEGMENTS

SPLITS = (0.2, 0.35, 0.5, 0.65, 0.8)
RATES = (0.06, 0.09, 0.12, 0.15, 0.18)
# Committed-spend discounts: realised discounts on multi-year commitments run 8-14%, with
# deeper headline tiers to 25% and more (ODD 3.3); the menu spans none to 20%.
DISCOUNTS = (0.0, 0.05, 0.1, 0.15, 0.2)
# Sales effort per segment (large, government, telecom, finance, critical); the rest of the
# sales force works the general market. Huawei's 2020 plan was "large-enterprise" plus
# "key-industries": large enterprises in large industries.
FOCUS_PROFILES: dict[str, tuple[float, ...]] = {
    "general": (0.0, 0.0, 0.0, 0.0, 0.0),
    "broad": (0.15, 0.15, 0.15, 0.15, 0.15),
    "large-enterprise": (0.6, 0.0, 0.1, 0.1, 0.0),
    "public-sector": (0.2, 0.5, 0.0, 0.0, 0.3),
    "key-industries": (0.3, 0.0, 0.3, 0.2, 0.2),
}
FOCUS_NAMES = tuple(FOCUS_PROFILES)
MENUS: dict[str, tuple] = {"iaas_investment_share": SPLITS, "investment_rate": RATES, "focus": FOCUS_NAMES,
                           "commitment_discount": DISCOUNTS}
assert all(len(v) == len(SEGMENTS) for v in FOCUS_PROFILES.values())


@runtime_checkable
class LearningRule(Protocol):
    """What every strategy rule is to a vendor: one call a quarter that returns new targets.

    ``targets`` are the current menu indices by dimension (``MENUS``), ``payoff`` the
    vendor's last payoff, ``rivals`` (profit margin, targets) of the other learning vendors,
    ``rng`` the model's generator (every draw comes from it). A vendor calls nothing else.

    >>> isinstance(Fixed(), LearningRule) and isinstance(RothErev(0.1, 0.1), LearningRule)
    True
    """

    def next_targets(self, targets: Mapping[str, int], payoff: float,
                     rivals: Sequence[tuple[float, Mapping[str, int]]], rng: np.random.Generator) -> dict[str, int]:
        ...


class Fixed:
    """Keep the starting targets for ever."""

    def next_targets(self, targets: Mapping[str, int], payoff: float,
                     rivals: Sequence[tuple[float, Mapping[str, int]]], rng: np.random.Generator) -> dict[str, int]:
        return dict(targets)


class Imitate(Fixed):
    """Copy the targets of the rival with the highest profit margin, with probability ``rate`` a quarter.

    ``rivals`` holds (profit margin, targets) of every other vendor that uses a learned
    strategy, as published last quarter.

    >>> rule = Imitate(rate=1.0)
    >>> rivals = [(0.1, {"iaas_investment_share": 3}), (0.3, {"iaas_investment_share": 4})]
    >>> rule.next_targets({"iaas_investment_share": 0}, 0.0, rivals,
    ...                   np.random.default_rng(0))
    {'iaas_investment_share': 4}
    """

    def __init__(self, rate: float):
        self.rate = rate

    def next_targets(self, targets, payoff, rivals, rng):
        if rivals and rng.random() < self.rate:
            margin, best = max(rivals, key=lambda r: r[0])
            return dict(best)
        return dict(targets)


class RothErev(Fixed):
    """Roth-Erev reinforcement learning over each menu, with local experimentation.

    Propensities are short Python lists (one per menu, five items each): at this size
    plain float arithmetic is several times faster than numpy's per-call overhead, and it
    performs the same operations in the same order, so the draws are numpy's
    (tests/test_fast_paths.py checks this bit for bit).
    """

    def __init__(self, recency: float, experimentation: float, initial_propensity: float = 1.0):
        self.recency = recency
        self.experimentation = experimentation
        self.propensity = {name: [float(initial_propensity)] * len(menu) for name, menu in MENUS.items()}

    def anchor(self, targets: Mapping[str, int]) -> None:
        """Start from the vendor's current strategy: as much propensity on it as on the rest together.

        A firm does not begin by redrawing its plan at random; it starts from what it does
        and explores from there.
        """
        for name, k in targets.items():
            propensity = self.propensity[name]
            propensity[k] = _total(propensity) - propensity[k]

    def probabilities(self, dimension: str) -> np.ndarray:
        """Current choice probabilities over ``MENUS[dimension]``."""
        return np.array(self._probabilities(self.propensity[dimension]))

    @staticmethod
    def _probabilities(propensity: list[float]) -> list[float]:
        total = _total(propensity)
        return [1.0 / len(propensity)] * len(propensity) if total <= 0 else [x / total for x in propensity]

    def next_targets(self, targets, payoff, rivals, rng):
        reward = max(float(payoff), 0.0)  # reinforcement must be non-negative
        keep, explore = reward * (1.0 - self.experimentation), reward * self.experimentation
        decay = 1.0 - self.recency
        chosen = {}
        for name, k in targets.items():
            # decay, then reinforce the target played and spill to its menu neighbours
            propensity = [decay * x for x in self.propensity[name]]
            last = len(propensity) - 1
            propensity[k] += keep
            if 0 < k < last:
                propensity[k - 1] += explore / 2
                propensity[k + 1] += explore / 2
            elif last > 0:
                propensity[1 if k == 0 else last - 1] += explore
            self.propensity[name] = propensity
            chosen[name] = draw_weighted(propensity, rng)
        return chosen


def _total(values: Sequence[float]) -> float:
    """Left-to-right float sum: numpy's ``sum`` of fewer than 8 items, bit for bit (``sum()``
    compensates rounding since Python 3.12, so it can differ in the last bit)."""
    total = 0.0
    for x in values:
        total += x
    return total


def draw_index(probabilities: Sequence[float], rng: np.random.Generator) -> int:
    """One index drawn with the given probabilities: ``rng.choice(len(p), p=p)``, several times faster.

    It is numpy's own algorithm for that call (cumulative sum, normalised, then one
    uniform draw located by binary search), without its argument checks, so it takes
    the same draw from ``rng`` and returns the same index.

    >>> p = np.array([0.1, 0.6, 0.3])
    >>> draw_index(p, np.random.default_rng(4)) == np.random.default_rng(4).choice(3, p=p)
    True
    """
    return _locate(list(accumulate(probabilities)), rng)  # numpy's cumsum: left to right


def _locate(cdf: list[float], rng: np.random.Generator) -> int:
    """numpy's last step of ``choice``: the cumulative weights normalised, one uniform located by binary search."""
    last = cdf[-1]
    return bisect_right([c / last for c in cdf], rng.random())


def draw_weighted(weights: Sequence[float], rng: np.random.Generator) -> int:
    """One index drawn with probabilities proportional to ``weights`` (uniform when they sum to 0).

    ``draw_index`` of the normalised weights (``RothErev.probabilities``) in one pass: the
    same floats, the same draw, without the intermediate list (a vendor draws four targets
    a quarter, so this is on every run's path).

    >>> w = [1.0, 3.0, 0.0]
    >>> draw_weighted(w, np.random.default_rng(4)) == draw_index(np.divide(w, 4.0), np.random.default_rng(4))
    True
    """
    total = _total(weights)
    if total <= 0:
        return draw_index(RothErev._probabilities(weights), rng)  # uniform
    cdf, running = [], 0.0
    for x in weights:  # the cumulative probabilities, left to right as numpy's cumsum
        running += x / total
        cdf.append(running)
    return _locate(cdf, rng)


def nearest(menu: Sequence[float], value: float) -> int:
    """Index of the menu item closest to ``value``.

    >>> nearest(RATES, 0.1)
    1
    """
    return min(range(len(menu)), key=lambda i: abs(menu[i] - value))  # the first of equals, as argmin


def make_rule(name: str, *, recency: float, experimentation: float, imitation_rate: float) -> LearningRule:
    """The rule called ``name`` ("roth-erev", "imitate" or "fixed") with its parameters.

    >>> type(make_rule("fixed", recency=0.1, experimentation=0.1, imitation_rate=0.2)).__name__
    'Fixed'
    """
    if name == "roth-erev":
        return RothErev(recency, experimentation)
    if name == "imitate":
        return Imitate(imitation_rate)
    if name == "fixed":
        return Fixed()
    raise ValueError(f"learning_rule = {name!r}: must be one of roth-erev | imitate | fixed")

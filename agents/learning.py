"""Vendor strategy rules: how a vendor picks next quarter's IaaS share of investment.

A strategy is one split from ``SPLITS`` (IaaS share of investment; the rest goes to PaaS).
Every rule has the same call, ``next_split(payoff, best_split, rng) -> float``, made once
a quarter after the vendor's payoff is known:

* ``RothErev`` (default): Roth-Erev reinforcement. Propensities decay by ``recency``; the
  split just played is reinforced by the payoff, with a share ``experimentation`` of the
  reinforcement spilled to the neighbouring splits; the next split is drawn with
  probability proportional to propensity.
* ``Imitate``: with probability ``rate`` copy the split of last quarter's most profitable
  vendor, else keep one's own.
* ``Fixed``: never change.

Example
-------
>>> import numpy as np
>>> rule = RothErev(recency=0.1, experimentation=0.1)
>>> rng = np.random.default_rng(0)
>>> for _ in range(200):
...     split = rule.next_split(payoff=2.0 if rule.split == 0.8 else 0.1, best_split=0.5, rng=rng)
>>> int(rule.probabilities().argmax()) == SPLITS.index(0.8)
True
"""

from __future__ import annotations

import numpy as np

SPLITS = (0.2, 0.35, 0.5, 0.65, 0.8)
START_SPLIT = 0.5


class Fixed:
    """Keep the starting split for ever."""

    def __init__(self, split: float = START_SPLIT):
        self.split = split

    def next_split(self, payoff: float, best_split: float, rng: np.random.Generator) -> float:
        return self.split


class Imitate(Fixed):
    """Copy the most profitable vendor's split with probability ``rate`` each quarter."""

    def __init__(self, rate: float, split: float = START_SPLIT):
        super().__init__(split)
        self.rate = rate

    def next_split(self, payoff: float, best_split: float, rng: np.random.Generator) -> float:
        if rng.random() < self.rate:
            self.split = best_split
        return self.split


class RothErev(Fixed):
    """Roth-Erev reinforcement learning over ``SPLITS`` with local experimentation."""

    def __init__(self, recency: float, experimentation: float, split: float = START_SPLIT,
                 initial_propensity: float = 1.0):
        super().__init__(split)
        self.recency = recency
        self.experimentation = experimentation
        self.propensity = np.full(len(SPLITS), float(initial_propensity))

    def probabilities(self) -> np.ndarray:
        total = self.propensity.sum()
        if total <= 0:
            return np.full(len(SPLITS), 1.0 / len(SPLITS))
        return self.propensity / total

    def next_split(self, payoff: float, best_split: float, rng: np.random.Generator) -> float:
        k = SPLITS.index(self.split)
        reward = max(float(payoff), 0.0)  # reinforcement must be non-negative
        # decay, then reinforce the split played and spill to its neighbours (adding the
        # zero gain of the other splits would change nothing, so it is not done)
        propensity = (1.0 - self.recency) * self.propensity
        neighbours = [i for i in (k - 1, k + 1) if 0 <= i < len(SPLITS)]
        propensity[k] += reward * (1.0 - self.experimentation)
        for i in neighbours:
            propensity[i] += reward * self.experimentation / len(neighbours)
        self.propensity = propensity
        self.split = SPLITS[draw_index(self.probabilities(), rng)]
        return self.split


def draw_index(probabilities: np.ndarray, rng: np.random.Generator) -> int:
    """One index drawn with the given probabilities: ``rng.choice(len(p), p=p)``, three times faster.

    It is numpy's own algorithm for that call (cumulative sum, normalised, then one
    uniform draw located by binary search), without its argument checks, so it takes
    the same draw from ``rng`` and returns the same index (tests/test_learning.py).

    >>> p = np.array([0.1, 0.6, 0.3])
    >>> draw_index(p, np.random.default_rng(4)) == np.random.default_rng(4).choice(3, p=p)
    True
    """
    cdf = probabilities.cumsum()
    cdf /= cdf[-1]
    return int(cdf.searchsorted(rng.random(), side="right"))


def make_rule(name: str, *, recency: float, experimentation: float, imitation_rate: float):
    """The rule called ``name`` ("roth-erev", "imitate" or "fixed") with its parameters.

    >>> make_rule("fixed", recency=0.1, experimentation=0.1, imitation_rate=0.2).split
    0.5
    """
    if name == "roth-erev":
        return RothErev(recency, experimentation)
    if name == "imitate":
        return Imitate(imitation_rate)
    if name == "fixed":
        return Fixed()
    raise ValueError(f"learning_rule = {name!r}: must be one of roth-erev | imitate | fixed")

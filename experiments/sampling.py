"""Design points (grid, Latin hypercube, Sobol') and replication seeds: pure functions.

A design point is a dict of swept parameter values. Every sampler is seeded from the
spec's seed, so the same spec always gives the same points. Samplers are extensible the
way the runner needs: a grid does not grow; a Sobol' design with more samples keeps the
old points as its prefix (scipy's Sobol' sequence is a sequence); a Latin hypercube is
extended by a further, independently seeded hypercube block (``lhs_blocks``).

Replications use common random numbers: replication r has the same seed at every design
point, so two policy arms differ only by policy.

Example
-------
>>> grid_points({"a": [1, 2], "b": ["x", "y"]})
[{'a': 1, 'b': 'x'}, {'a': 1, 'b': 'y'}, {'a': 2, 'b': 'x'}, {'a': 2, 'b': 'y'}]
>>> replication_seed(2020, 0) == replication_seed(2020, 0) != replication_seed(2020, 1)
True
>>> len(sobol_points({"x": (0.0, 1.0)}, {"x": "float"}, samples=4, seed=1))
12
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def replication_seed(seed: int, replication: int) -> int:
    """Seed of replication ``replication``: the same at every design point (CRN).

    Derived with numpy's SeedSequence so seeds of neighbouring replications are
    statistically independent, and adding replications never changes earlier ones.
    """
    state = np.random.SeedSequence([seed, replication]).generate_state(1, dtype=np.uint32)
    return int(state[0])


def grid_points(values: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the listed values, first parameter varying slowest."""
    names = list(values)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values.values())]


def lhs_points(ranges: Mapping[str, tuple[float, float]], kinds: Mapping[str, str],
               blocks: Sequence[int], seed: int) -> list[dict[str, Any]]:
    """Latin hypercube points: one hypercube of ``blocks[k]`` points per block k.

    A fresh experiment has one block (``[samples]``); raising ``samples`` appends a block
    of the extra points, seeded by (seed, k), so the earlier points stay as they were.
    """
    from scipy.stats import qmc

    points: list[dict[str, Any]] = []
    for k, size in enumerate(blocks):
        sampler = qmc.LatinHypercube(d=len(ranges), rng=np.random.default_rng([seed, k]))
        points += _scale(sampler.random(size), ranges, kinds)
    return points


def sobol_problem(ranges: Mapping[str, tuple[float, float]]) -> dict[str, Any]:
    """The SALib problem dict for ``ranges`` (names and bounds in spec order)."""
    return {"num_vars": len(ranges), "names": list(ranges), "bounds": [list(b) for b in ranges.values()]}


def sobol_points(ranges: Mapping[str, tuple[float, float]], kinds: Mapping[str, str],
                 samples: int, seed: int) -> list[dict[str, Any]]:
    """Saltelli's scheme for first- and total-order Sobol' indices: samples x (D + 2) points.

    The rows are in SALib's order, which ``SALib.analyze.sobol`` needs; doubling
    ``samples`` keeps the first rows unchanged, so a Sobol' experiment extends.
    """
    from SALib.sample import sobol

    unit = {name: (0.0, 1.0) for name in ranges}
    rows = sobol.sample(sobol_problem(unit), samples, calc_second_order=False, seed=seed)
    return _scale(rows, ranges, kinds)


def _scale(unit_rows: np.ndarray, ranges: Mapping[str, tuple[float, float]],
           kinds: Mapping[str, str]) -> list[dict[str, Any]]:
    """Map points of the unit cube onto the ranges; whole-number parameters are rounded."""
    points = []
    for row in np.asarray(unit_rows, dtype=float):
        point: dict[str, Any] = {}
        for u, (name, (low, high)) in zip(row, ranges.items(), strict=True):
            x = low + u * (high - low)
            point[name] = int(round(x)) if kinds[name] == "int" else float(x)
        points.append(point)
    return points


def design_points(spec, lhs_blocks: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The design points of a Spec (see experiments.spec), in their canonical order."""
    from cloudmarket.model.params import SCHEMA

    kinds = {name: SCHEMA[name].kind for name in spec.swept}
    if spec.design == "grid":
        return grid_points(spec.values)
    if spec.design == "lhs":
        return lhs_points(spec.ranges, kinds, lhs_blocks or [spec.samples], spec.seed)
    if spec.design == "sobol":
        return sobol_points(spec.ranges, kinds, spec.samples, spec.seed)
    raise ValueError(f"unknown design {spec.design!r}")


def sobol_warnings(table, samples: int | None = None, min_samples: int = 64) -> list[str]:
    """Why Sobol' indices (columns parameter, S1, ST and their CI bounds) may mean little.

    Indices are fractions of variance: an estimate well outside [0, 1], a first-order
    index well above the total one, or intervals wider than the range itself say that the
    sample is too small (or the output too noisy) to tell parameters apart.

    >>> import pandas as pd
    >>> t = pd.DataFrame({"parameter": ["a"], "S1": [1.33], "S1_ci_low": [0.2], "S1_ci_high": [2.4],
    ...                   "ST": [2.0], "ST_ci_low": [0.5], "ST_ci_high": [3.5]})
    >>> for w in sobol_warnings(t, samples=8): print(w)
    only 8 base samples: Sobol' estimates are unreliable below about 64; raise samples (it extends the store)
    a: S1 = 1.33, ST = 2.00 lie outside [0, 1]: the indices are noise at this sample size
    a: 95% intervals wider than 1: the indices are not determined by this sample
    """
    warnings = []
    if samples is not None and samples < min_samples:
        warnings.append(f"only {samples} base samples: Sobol' estimates are unreliable below about {min_samples}; "
                        "raise samples (it extends the store)")
    tolerance = 0.1
    for _, r in table.iterrows():
        if not (-tolerance <= r.S1 <= 1 + tolerance and -tolerance <= r.ST <= 1 + tolerance):
            warnings.append(f"{r.parameter}: S1 = {r.S1:.2f}, ST = {r.ST:.2f} lie outside [0, 1]: "
                            "the indices are noise at this sample size")
        elif r.S1 > r.ST + tolerance:
            warnings.append(f"{r.parameter}: S1 = {r.S1:.2f} above ST = {r.ST:.2f} (impossible in theory): "
                            "the indices are noise at this sample size")
        if r.S1_ci_high - r.S1_ci_low > 1 or r.ST_ci_high - r.ST_ci_low > 1:
            warnings.append(f"{r.parameter}: 95% intervals wider than 1: the indices are not determined by this sample")
    return warnings

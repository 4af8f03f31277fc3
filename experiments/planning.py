"""Plan an experiment: the runs of a spec, each with its full parameters, seed and identity.

The plan is the design points x replications of a spec, replication-major. Each run is
identified by a hash of its full parameters and seed (:func:`run_id`), so re-running a
spec into the same store runs only what is missing or failed.

Example
-------
>>> from cloudmarket.experiments.spec import parse_spec
>>> spec = parse_spec('[experiment]\\nreplications = 2\\n[parameters]\\nn_customers = 100\\n'
...                   'steps = 2\\n[sweep]\\n[sweep.values]\\nswitching_cost = [0.5, 1.5]')
>>> tasks = plan(spec)
>>> len(tasks), tasks[0].seed == tasks[1].seed   # replication 0 at both design points
(4, True)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cloudmarket.experiments.sampling import design_points, replication_seed
from cloudmarket.experiments.spec import Spec, SpecError, canonical_json, origin_of


@dataclass(frozen=True)
class RunTask:
    """One run to do: full parameters, seed, and where it sits in the design."""

    run_id: str
    point: int
    replication: int
    seed: int
    params: dict[str, Any]  # every parameter, resolved (steps included)
    swept: dict[str, Any]  # the swept subset, for the run table
    collect: str | int


def run_id(params: dict[str, Any], seed: int) -> str:
    """The identity of a run: 16 hex digits of SHA-256 over its parameters and seed.

    >>> run_id({"a": 1.0}, 3) == run_id({"a": 1.0}, 3) != run_id({"a": 1.0}, 4)
    True
    """
    return hashlib.sha256(canonical_json({"params": params, "seed": seed}).encode()).hexdigest()[:16]


def plan(spec: Spec, lhs_blocks: list[int] | None = None, unique: bool = True) -> list[RunTask]:
    """Every run of ``spec``: replication-major, so early results cover every design point.

    Parameters are resolved through model.params here, so a value that is only invalid in
    combination (e.g. a vendor missing from a swept scenario) is reported with its key
    path before anything runs. Identical runs (same parameters and seed, e.g. two sampled
    points that round to the same whole numbers) appear once unless ``unique`` is False.
    """
    from cloudmarket.model.params import ParameterError, resolve

    points = design_points(spec, lhs_blocks)
    resolved = []
    for point in points:
        try:
            resolved.append(resolve({**spec.fixed, **point}))
        except ParameterError as err:
            raise SpecError(spec.source, origin_of(spec, err.name), err.value, err.allowed) from None
    tasks, seen = [], set()
    for r in range(spec.replications):
        seed = replication_seed(spec.seed, r)
        for index, (point, params) in enumerate(zip(points, resolved, strict=True)):
            rid = run_id(params, seed)
            if rid not in seen or not unique:
                seen.add(rid)
                tasks.append(RunTask(rid, index, r, seed, params, point, spec.collect))
    return tasks

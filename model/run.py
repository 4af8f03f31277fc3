"""Run one market to the end and return its tables: the unit of work of every batch.

Example
-------
>>> out = simulate({"n_customers": 200}, seed=1, steps=3)
>>> out.vendors.columns[:4].tolist(), len(out.market)
(['step', 'period', 'vendor', 'share'], 4)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cloudmarket.model.host_memory import available_memory
from cloudmarket.model.market import CloudMarket
from cloudmarket.model.params import SCHEMA, ParameterError, validated
from cloudmarket.model.population import Populations

# Runs in this process share populations: the design points of a sweep's replication have
# one seed, hence one population (model/population.py); results are the same either way.
POPULATIONS = Populations()


Columns = dict[str, np.ndarray]


@dataclass
class RunOutput:
    """The tables of one run: vendor rows (step x vendor) and market rows (one per step)."""

    vendors: pd.DataFrame
    market: pd.DataFrame
    model: CloudMarket | None = None


def simulate(params: Mapping[str, Any], seed: int, steps: int | None = None,
             collect: str | int = "step", keep_model: bool = False,
             progress: Callable[[str], None] | None = None) -> RunOutput:
    """Build ``CloudMarket(**params, rng=seed)``, run ``steps`` quarters, return its tables.

    ``params`` may include ``steps`` (used when the argument is None); either way steps is
    checked as the CLI checks it (a whole number in 0..400, else ParameterError naming
    steps). ``collect`` thins
    the returned rows: "step" keeps every step, "end" the first and last, an integer k
    every k-th step plus the last. ``progress`` is called with the name of each build
    phase, then "quarter k/N" after each quarter. A run whose estimated memory exceeds
    what the machine has available is refused (ParameterError, see :func:`check_memory`).
    """
    params = validated(params)  # once; _run and the model take the frozen Params as they are
    if steps is not None:
        steps = SCHEMA["steps"].coerce(steps)  # before the memory check and the build: names steps
    check_memory([params])
    model, vendors, market = _run(params, seed, steps, collect, progress, customer_agents=keep_model)
    return RunOutput(pd.DataFrame(vendors), pd.DataFrame(market), model if keep_model else None)


def simulate_columns(params: Mapping[str, Any], seed: int, steps: int | None = None,
                     collect: str | int = "step") -> tuple[Columns, Columns]:
    """:func:`simulate` for batch workers: the vendor and market tables as numpy columns.

    The same rows as ``simulate``, without building DataFrames (a run's fixed cost that
    matters when a batch has thousands of small runs).

    >>> vendors, market = simulate_columns({"n_customers": 200}, seed=1, steps=3, collect="end")
    >>> vendors["step"].tolist()[::8], market["step"].tolist()
    ([0, 3], [0, 3])
    """
    _, vendors, market = _run(params, seed, steps, collect)
    return vendors, market


def _run(params: Mapping[str, Any], seed: int, steps: int | None, collect: str | int,
         progress: Callable[[str], None] | None = None,
         customer_agents: bool = False) -> tuple[CloudMarket, Columns, Columns]:
    # Tables only need the customer arrays: the Mesa objects of each customer are built only
    # for a model handed back to the caller (identical results either way, tested).
    full = validated(params)  # once: the model takes the frozen Params as they are
    # the argument is checked as `--steps` and a spec's steps are: a whole number in 0..400
    steps = full["steps"] if steps is None else SCHEMA["steps"].coerce(steps)
    keep = collected_steps(steps, collect)
    model = CloudMarket(rng=seed, progress=progress, params=full, customer_agents=customer_agents,
                        populations=POPULATIONS)
    if steps == 0:
        pass  # the start only: Mesa warns when asked to advance by no time at all
    elif progress is None:
        model.run_for(steps)
    else:  # quarter by quarter, to report each; the same steps as run_for(steps)
        for k in range(1, steps + 1):
            model.run_for(1)
            progress(f"quarter {k}/{steps}")
    vendors, market = model.vendor_columns(), model.market_columns()
    if collect != "step":  # every step is the common case: no filtering copy then
        vendors, market = _rows_at(vendors, keep), _rows_at(market, keep)
    return model, vendors, market


def _rows_at(columns: Columns, steps: list[int]) -> Columns:
    rows = np.isin(columns["step"], steps)
    return {name: values[rows] for name, values in columns.items()}


def collected_steps(steps: int, collect: str | int) -> list[int]:
    """Which steps a run keeps under a ``collect`` setting ("step", "end" or every k).

    >>> collected_steps(5, "step"), collected_steps(5, "end"), collected_steps(5, 2)
    ([0, 1, 2, 3, 4, 5], [0, 5], [0, 2, 4, 5])
    """
    if collect == "step":
        return list(range(steps + 1))
    if collect == "end":
        return sorted({0, steps})
    if isinstance(collect, int) and not isinstance(collect, bool) and collect >= 1:
        return sorted(set(range(0, steps + 1, collect)) | {steps})
    raise ValueError(f"collect = {collect!r}: must be \"step\", \"end\" or a whole number >= 1")


# Peak memory of one run, fitted on this model (model/market.py at 20k-100k customers, degree
# 10-100, resident set size after the build and two quarters): a fixed ~200 MB for the
# interpreter and libraries, ~1.1 kB per customer and ~220 bytes per customer and unit of
# average degree (the graph's adjacency, twice: sparse matrix and Mesa's network).
BASE_BYTES = 200 * 2**20
BYTES_PER_CUSTOMER = 1100
BYTES_PER_LINK_END = 220


def estimate_memory(params: Mapping[str, Any]) -> int:
    """Estimated peak bytes of one run with these (resolved) parameters.

    >>> round(estimate_memory({"n_customers": 1_000_000, "avg_degree": 10.0}) / 2**30, 1)
    3.3
    """
    n, degree = float(params["n_customers"]), float(params["avg_degree"])
    return int(BASE_BYTES + n * (BYTES_PER_CUSTOMER + BYTES_PER_LINK_END * degree))


def check_memory(runs: Iterable[Mapping[str, Any]], parallel: int = 1) -> None:
    """Refuse runs whose estimated memory, ``parallel`` at a time, exceeds what is available.

    Raises ParameterError naming n_customers and avg_degree, the estimate and what the
    machine has. ``CLOUDMARKET_SKIP_MEMORY_CHECK=1`` turns the check off (the estimate is
    a fit, not a guarantee).

    >>> check_memory([{"n_customers": 200, "avg_degree": 10.0}])
    >>> check_memory([{"n_customers": 10**9, "avg_degree": 200.0}])
    Traceback (most recent call last):
    ...
    cloudmarket.model.errors.ParameterError: n_customers = 1000000000: with avg_degree = 200.0 one run needs about 42,002.8 GB ...
    """
    if os.environ.get("CLOUDMARKET_SKIP_MEMORY_CHECK") == "1":
        return
    biggest = max(runs, key=estimate_memory, default=None)
    if biggest is None:
        return
    need = estimate_memory(biggest)
    have = available_memory()
    if have is None:
        return
    total = need * max(1, parallel)
    if total > have:
        at_once = f"; {parallel} at once need {total / 2**30:,.1f} GB" if parallel > 1 else ""
        raise ParameterError("n_customers", biggest["n_customers"],
                             f"with avg_degree = {biggest['avg_degree']} one run needs about {need / 2**30:,.1f} GB "
                             f"(estimate){at_once}, and this machine has {have / 2**30:,.1f} GB available; "
                             "use fewer customers, a lower avg_degree or fewer --workers")

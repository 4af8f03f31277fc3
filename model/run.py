"""Run one market to the end and return its tables: the unit of work of every batch.

Example
-------
>>> out = simulate({"n_customers": 200}, seed=1, steps=3)
>>> out.vendors.columns[:4].tolist(), len(out.market)
(['step', 'period', 'vendor', 'share'], 4)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cloudmarket.model.market import CloudMarket
from cloudmarket.model.params import validated


Columns = dict[str, np.ndarray]


@dataclass
class RunOutput:
    """The tables of one run: vendor rows (step x vendor) and market rows (one per step)."""

    vendors: pd.DataFrame
    market: pd.DataFrame
    model: CloudMarket | None = None


def simulate(params: Mapping[str, Any], seed: int, steps: int | None = None,
             collect: str | int = "step", keep_model: bool = False) -> RunOutput:
    """Build ``CloudMarket(**params, rng=seed)``, run ``steps`` quarters, return its tables.

    ``params`` may include ``steps`` (used when the argument is None). ``collect`` thins
    the returned rows: "step" keeps every step, "end" the first and last, an integer k
    every k-th step plus the last.
    """
    model, vendors, market = _run(params, seed, steps, collect)
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


def _run(params: Mapping[str, Any], seed: int, steps: int | None,
         collect: str | int) -> tuple[CloudMarket, Columns, Columns]:
    full = validated(params)  # once: the model takes the frozen Params as they are
    steps = full["steps"] if steps is None else steps
    keep = collected_steps(steps, collect)
    model = CloudMarket(rng=seed, params=full)
    model.run_for(steps)
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

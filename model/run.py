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

import pandas as pd

from model.market import CloudMarket
from model.params import MODEL_PARAMS, resolve


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
    full = resolve(dict(params))
    steps = full["steps"] if steps is None else steps
    model = CloudMarket(rng=seed, **{k: full[k] for k in MODEL_PARAMS})
    model.run_for(steps)
    vendors, market = model.vendor_frame(), model.market_frame()
    keep = collected_steps(steps, collect)
    if collect != "step":  # every step is the common case: no filtering copy then
        vendors = vendors[vendors.step.isin(keep)].reset_index(drop=True)
        market = market[market.step.isin(keep)].reset_index(drop=True)
    return RunOutput(vendors, market, model if keep_model else None)


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

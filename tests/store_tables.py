"""Shared by the store tests: a store's tables in a comparable form.

>>> callable(assert_same_tables)
True
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd

from cloudmarket.experiments import load_results
from cloudmarket.experiments.cli import main


def tables(out: Path) -> dict[str, pd.DataFrame]:
    """The store's three tables, sorted and without timings, for equality checks."""
    r = load_results(out)
    runs = r.runs.drop(columns=["wall_s"]).sort_values("run_id", ignore_index=True)
    return {"runs": runs,
            "market": r.market.sort_values(["run_id", "step"], ignore_index=True),
            "vendors": r.vendors.sort_values(["run_id", "step", "vendor"], ignore_index=True)}


def assert_same_tables(a: Path, b: Path) -> None:
    """Both stores hold exactly the same runs and rows."""
    ta, tb = tables(a), tables(b)
    for name in ta:
        pd.testing.assert_frame_equal(ta[name], tb[name], check_exact=True, obj=name)


def finished_store(root: Path, spec: str) -> Path:
    """Write ``spec`` to root/spec.toml and sweep it serially into root/store; returns ``root``."""
    (root / "spec.toml").write_text(textwrap.dedent(spec))
    assert main(["sweep", str(root / "spec.toml"), "--out", str(root / "store"), "--backend", "serial", "--quiet"]) == 0
    return root

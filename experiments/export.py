"""Export a store as tidy CSV files, each row carrying its run's parameters.

``cloudmarket export STORE --csv DIR`` writes, for R, BehaviorSpace or spreadsheet users:

* ``runs.csv``: one row per run: run_id, point, replication, seed, status, error, wall_s
  and every model parameter (fixed ones too);
* ``market.csv``: one row per run and collected step: run_id, step, period, the market
  columns (hhi, cr3, churn, ...), then the run's parameters;
* ``vendors.csv``: one row per run, step and vendor: run_id, step, period, vendor, the
  vendor columns (share, spend_share, ...), then the run's parameters;
* ``manifest.json``: the store's manifest (the spec as given, software versions, git
  commit), so the folder says how its numbers were made.

Shares are fractions in [0, 1]. List parameters are written as text joined by ``;``
(``UK;EU``; empty for an empty list), booleans as ``true``/``false``. ``market.csv`` and
``vendors.csv`` hold the runs recorded as done. DuckDB writes the big tables straight
from the Parquet files, so a large store never sits in memory; DIR is checked before
anything is read, and the four files are published together (experiments/outputs.py), so
DIR never holds half a file nor a mix of two exports.

Example
-------
    from cloudmarket.experiments import load_results
    from cloudmarket.experiments.export import export_csv
    export_csv(load_results("results/quick"), "results/quick_csv")
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from cloudmarket.experiments.analysis import Results
from cloudmarket.experiments.outputs import check_folder, publish
from cloudmarket.experiments.store import MANIFEST

OUTPUT_FILES = ("runs.csv", "market.csv", "vendors.csv", "manifest.json")

RUN_FIRST = ("run_id", "point", "replication", "seed", "status", "error", "wall_s")


def flat_parameters(results: Results) -> pd.DataFrame:
    """The run table with every parameter, lists as ``a;b`` text and booleans as true/false.

    >>> flat_value(["UK", "EU"]), flat_value([]), flat_value(True), flat_value(0.5)
    ('UK;EU', '', 'true', 0.5)
    """
    from cloudmarket.model.params import SCHEMA

    runs = results.parameters()
    for name in SCHEMA:
        runs[name] = runs[name].map(flat_value)
    first = [c for c in RUN_FIRST if c in runs.columns]
    return runs[first + [c for c in runs.columns if c not in first]]


def flat_value(value):
    """One parameter value as a CSV cell: lists joined by ';', booleans as true/false."""
    if isinstance(value, (list, tuple, np.ndarray)):  # Arrow hands list columns over as arrays
        return ";".join(map(str, list(value)))
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def export_csv(results: Results, out: str | Path) -> list[Path]:
    """Write runs.csv, market.csv, vendors.csv and manifest.json under ``out``; return their paths."""
    out = check_folder("--csv", out, OUTPUT_FILES)
    runs = flat_parameters(results)
    params = runs.drop(columns=[c for c in ("point", "replication", "seed", "status", "error", "wall_s")
                                if c in runs.columns])
    con = results._db

    def copy(table: str):
        order = "m.run_id, m.step" + (", m.vendor" if table == "vendors" else "")
        query = (f"SELECT m.*, p.* EXCLUDE (run_id) FROM {table} m JOIN export_params p USING (run_id) "
                 f"ORDER BY {order}")

        def write(p: Path) -> None:
            import duckdb

            try:
                con.execute(f"COPY ({query}) TO '{str(p).replace(chr(39), chr(39) * 2)}' (FORMAT csv, HEADER)")
            except duckdb.IOException as err:  # DuckDB's own writer: a full disk is not an OSError there
                raise OSError(errno.ENOSPC if "space" in str(err).lower() else errno.EIO,
                              str(err).splitlines()[0], str(p)) from None
        return write

    con.register("export_params", params)
    try:
        # all four or none: a failure (full disk) leaves an earlier export as it was
        writes = [(out / "runs.csv", lambda p: runs.to_csv(p, index=False)),
                  (out / "market.csv", copy("market")), (out / "vendors.csv", copy("vendors")),
                  (out / "manifest.json", lambda p: shutil.copyfile(results.root / MANIFEST, p))]
        publish(writes)
    finally:
        con.unregister("export_params")
    return [path for path, _ in writes]

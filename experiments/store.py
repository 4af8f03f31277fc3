"""The Parquet store of an experiment: manifest, run table, one part file per run.

Layout of a store directory (readable by DuckDB or pandas without this package)::

    manifest.json         spec, its hash, software versions, git commit, times
    runs.parquet          one row per run: run_id, swept parameters, replication, seed,
                          status (done | failed), error, wall_s
    runs.journal          (only while a sweep runs or after a kill) JSON lines of runs
                          finished since runs.parquet was last rewritten
    market/<run_id>.parquet    run_id, step, period, hhi, cr3, churn, ...
    vendors/<run_id>.parquet   run_id, step, period, vendor, share, spend_share, ...

Every file is written to a hidden temporary name and renamed into place (``os.replace``
is atomic), so a reader, or a resume after SIGKILL, never sees half a file. A run counts
as done only once the run record says so: its part files are written first, then a line
is appended to ``runs.journal``; about once a second, and at the end of a sweep,
``runs.parquet`` is rewritten with every row and the journal removed. Appending a line
costs the same at run 10 and run 100,000, where rewriting the table after every run
would not. Readers of this package see both (:meth:`Store.read_run_rows`); a reader
without it sees runs.parquet, complete once the sweep has ended. Part files of runs the
record does not list as done (a kill between the two writes) are removed by
:meth:`Store.clean` before runs resume.

Example
-------
>>> import tempfile, pandas as pd
>>> store = Store(tempfile.mkdtemp())
>>> store.write_part("market", "abc", encode_part("abc", {"step": np.array([0]), "hhi": np.array([2000.0])}))
>>> pd.read_parquet(store.root / "market").columns.tolist()
['run_id', 'step', 'hhi']
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST = "manifest.json"
RUNS = "runs.parquet"
JOURNAL = "runs.journal"
TABLES = ("market", "vendors")
RUN_COLUMNS = ("run_id", "point", "replication", "seed", "status", "error", "wall_s")
LOCK = ".lock"


class StoreError(Exception):
    """A store that cannot be used as asked (not a store, or busy)."""


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a hidden temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class Store:
    """One experiment's directory: read and write its manifest, run table and part files."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # ---------------------------------------------------------------- reading
    def exists(self) -> bool:
        """True when the directory holds a manifest (an experiment was started here)."""
        return (self.root / MANIFEST).is_file()

    def check_usable(self) -> None:
        """Refuse a path that is a file, or a non-empty directory that is not a store."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"--out = {str(self.root)!r}: is a file, not a directory")
        if self.root.is_dir() and not self.exists() and any(self.root.iterdir()):
            raise StoreError(f"--out = {str(self.root)!r}: directory is not empty and holds no "
                             f"{MANIFEST}; choose a new or empty directory")

    def read_manifest(self) -> dict[str, Any]:
        """The manifest as a dict (StoreError if there is none)."""
        try:
            return json.loads((self.root / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(f"{self.root}: no {MANIFEST}; not an experiment store") from None

    def read_runs(self) -> pd.DataFrame:
        """The run table with journal rows applied (empty, with its columns, before any run ends)."""
        return self.read_runs_arrow().to_pandas()

    def read_runs_arrow(self) -> pa.Table:
        """The run table with journal rows applied, as an Arrow table."""
        swept = self.read_manifest()["design"]["swept"] if self.exists() else []
        return runs_table(self.read_run_rows(), swept)

    def read_run_rows(self) -> list[dict[str, Any]]:
        """Run records as plain dicts, runs.parquet updated by the journal (later rows win)."""
        path = self.root / RUNS
        # No Arrow threads (read pool, pre-buffering I/O pool) for this small table: they would
        # outlive the read, and a driver with threads starts its pool the slow way (runner.pool_context)
        rows = ({r["run_id"]: r for r in pq.ParquetFile(path, pre_buffer=False).read(use_threads=False).to_pylist()}
                if path.exists() else {})
        for row in self._journal_rows():
            rows[row["run_id"]] = row
        return list(rows.values())

    def _journal_rows(self) -> list[dict[str, Any]]:
        try:
            lines = (self.root / JOURNAL).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        rows = []
        for line in lines:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a kill: that run is redone
        return rows

    def part_path(self, table: str, run_id: str) -> Path:
        """Where one run's rows of ``table`` ("market" or "vendors") live."""
        return self.root / table / f"{run_id}.parquet"

    # ---------------------------------------------------------------- writing
    @contextmanager
    def locked(self):
        """Hold an exclusive lock on the store: two sweeps must not write one directory.

        ``flock`` is released by the kernel when the process dies, even by SIGKILL.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK, "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(f"{self.root}: another sweep is writing this store") from None
            try:
                yield self
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write manifest.json atomically."""
        text = json.dumps(manifest, indent=2, sort_keys=False, default=str)
        atomic_write(self.root / MANIFEST, lambda p: p.write_text(text + "\n", encoding="utf-8"))

    def write_part(self, table: str, run_id: str, data: bytes) -> None:
        """Write one run's rows of ``table`` (Parquet bytes from :func:`encode_part`) atomically."""
        atomic_write(self.part_path(table, run_id), lambda p: p.write_bytes(data))

    def append_journal(self, rows: Iterable[dict[str, Any]]) -> None:
        """Record finished runs by appending JSON lines to runs.journal (cheap, O(1) per run)."""
        text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
        with open(self.root / JOURNAL, "a", encoding="utf-8") as fh:
            fh.write(text)

    def write_runs(self, rows: Iterable[dict[str, Any]], swept: Iterable[str]) -> None:
        """Rewrite runs.parquet from every row, atomically, then drop the journal it includes."""
        table = runs_table(rows, swept)
        atomic_write(self.root / RUNS, lambda p: pq.write_table(table, p))
        # Killed here, the journal repeats rows runs.parquet already has: replay is idempotent.
        (self.root / JOURNAL).unlink(missing_ok=True)

    def clean(self, done: set[str]) -> int:
        """Remove temp files and part files of runs not recorded as done; return how many."""
        removed = 0
        if not self.root.is_dir():
            return 0
        for folder in (self.root, *(self.root / t for t in TABLES)):
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                stale_tmp = path.name.startswith(".") and path.name.endswith(".tmp")
                orphan = folder != self.root and path.suffix == ".parquet" and path.stem not in done
                if stale_tmp or orphan:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed


def encode_part(run_id: str, columns: dict[str, np.ndarray]) -> bytes:
    """One run's rows as a Parquet file in memory, with a leading ``run_id`` column.

    Batch workers call this, so encoding runs in parallel and the driver only writes
    bytes. Text columns (numpy object arrays) become Arrow strings, numbers keep their dtype.

    >>> data = encode_part("abc", {"step": np.array([0, 1]), "period": np.array(["2020Q3", "2020Q4"], dtype=object)})
    >>> pq.read_table(pa.BufferReader(data)).to_pylist()[1]
    {'run_id': 'abc', 'step': 1, 'period': '2020Q4'}
    """
    n = len(next(iter(columns.values()))) if columns else 0
    arrays = {"run_id": pa.array([run_id] * n, type=pa.string())}
    for name, values in columns.items():
        arrays[name] = pa.array(values.tolist(), type=pa.string()) if values.dtype == object else pa.array(values)
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(arrays), sink)
    return sink.getvalue().to_pybytes()


def runs_table(rows: Iterable[dict[str, Any]], swept: Iterable[str]) -> pa.Table:
    """Arrow table of run records, sorted by run_id, columns in the store's order."""
    columns = ["run_id", *swept, *RUN_COLUMNS[1:]]
    ordered = sorted(rows, key=lambda r: r["run_id"])
    # A swept column with no rows yet has no values to infer a type from: use null.
    return pa.table({c: pa.array([r.get(c) for r in ordered], type=_RUN_TYPES.get(c, pa.null() if not ordered else None))
                     for c in columns})


_RUN_TYPES = {"run_id": pa.string(), "point": pa.int64(), "replication": pa.int64(), "seed": pa.int64(),
              "status": pa.string(), "error": pa.string(), "wall_s": pa.float64()}

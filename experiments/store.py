"""The Parquet store of an experiment: manifest, run table, part files holding many runs each.

Layout of a store directory (readable by DuckDB or pandas without this package)::

    manifest.json         spec, its hash, software versions, git commit, times
    runs.parquet          one row per run: run_id, swept parameters, point, replication,
                          seed, status (done | failed), error, wall_s, part, then every
                          other parameter of model/params.py (lists as list<string>)
    runs.journal          (only while a sweep runs or after a kill) JSON lines of runs
                          finished since runs.parquet was last rewritten
    market/<part>.parquet    rows of several runs: run_id, step, period, hhi, cr3, ...
    vendors/<part>.parquet   rows of several runs: run_id, step, period, vendor, share, ...

A part file holds the rows of every run that one task of a sweep completed (a few
seconds of work), so a store of thousands of small runs holds few files. Its footer
lists those run ids (key ``cloudmarket.run_ids``) and the run table names each done
run's part (column ``part``), so a footer read checks that a run's rows are there
(:meth:`Store.check`). Stores written before parts held several runs have one file per
run, named by the run id, and no ``part`` column; they read the same way.

Every file is written to a hidden temporary name and renamed into place (``os.replace``
is atomic), so a reader, or a resume after SIGKILL, never sees half a file. A run counts
as done only once the run record says so: its part files are written first, then a line
is appended to ``runs.journal``; every second or so, and at the end of a sweep,
``runs.parquet`` is rewritten with every row and the journal removed. Readers of this
package see both, a journal line winning over the row of runs.parquet
(:meth:`Store.read_run_rows`); a reader without it sees runs.parquet, complete once the
sweep has ended. Part files that no done run names (a kill between the two writes) are
removed by :meth:`Store.clean` before runs resume.

Example
-------
>>> import tempfile, pandas as pd
>>> store = Store(tempfile.mkdtemp())
>>> store.write_part("market", "p1", encode_runs([("abc", {"step": np.array([0]), "hhi": np.array([2000.0])}),
...                                               ("def", {"step": np.array([0]), "hhi": np.array([3000.0])})]))
>>> pd.read_parquet(store.root / "market").run_id.tolist()
['abc', 'def']
>>> part_run_ids(store.root / "market" / "p1.parquet")
['abc', 'def']
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
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
RUN_COLUMNS = ("run_id", "point", "replication", "seed", "status", "error", "wall_s", "part")
RUN_IDS_KEY = b"cloudmarket.run_ids"
LOCK = ".lock"
STATUSES = ("done", "failed")


class StoreError(Exception):
    """A store that cannot be used as asked: not a store, busy, damaged, or not writable."""


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a hidden temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def os_error_text(err: OSError) -> str:
    """``err`` in words a user can act on: what failed, on which file.

    >>> os_error_text(PermissionError(13, "Permission denied", "/x"))
    '/x: Permission denied (a read-only place? choose a writable one)'
    """
    hint = {28: "the disk is full; free space", 30: "a read-only file system; choose a writable place",
            13: "a read-only place? choose a writable one", 21: "it is a directory", 20: "a parent is a file"}
    where = f"{err.filename}: " if err.filename else ""
    extra = f" ({hint[err.errno]})" if err.errno in hint else ""
    return f"{where}{err.strerror or err}{extra}"


@dataclass
class Integrity:
    """What :meth:`Store.check` found: done runs whose rows are missing or unreadable, bad files."""

    damaged: dict[str, str] = field(default_factory=dict)  # run_id -> why
    bad_parts: dict[Path, str] = field(default_factory=dict)  # part file -> why

    @property
    def ok(self) -> bool:
        return not self.damaged and not self.bad_parts

    def describe(self, limit: int = 10) -> str:
        """One line per problem (at most ``limit`` of each kind)."""
        lines = [f"{path}: {why}" for path, why in list(self.bad_parts.items())[:limit]]
        if len(self.bad_parts) > limit:
            lines.append(f"... and {len(self.bad_parts) - limit} more damaged files")
        ids = sorted(self.damaged)
        if ids:
            lines.append(f"{len(ids)} done runs have missing or unreadable rows: {', '.join(ids[:limit])}"
                         + (" ..." if len(ids) > limit else ""))
        return "\n".join(lines)


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

    def check_writable(self) -> None:
        """Refuse a store (or the folder it would be made in) that this process cannot write.

        Probed by creating and removing a hidden file: file modes do not stop root, and a
        read-only mount or an immutable folder stops everyone.
        """
        from cloudmarket.experiments.outputs import OutputError, probe_writable

        place = self.root
        while not place.exists() and place.parent != place:
            place = place.parent
        if not place.is_dir():
            raise StoreError(f"--out = {str(self.root)!r}: {place} is a file, not a directory")
        try:
            for folder in (place, *(self.root / t for t in TABLES if (self.root / t).is_dir())):
                probe_writable("--out", self.root, folder)
        except OutputError as err:
            raise StoreError(f"{err}; choose a writable directory") from None

    def read_manifest(self) -> dict[str, Any]:
        """The manifest as a dict; StoreError naming the file if there is none or it is damaged."""
        path = self.root / MANIFEST
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise StoreError(f"{self.root}: no {MANIFEST}; not an experiment store") from None
        except (OSError, UnicodeDecodeError) as err:
            raise StoreError(f"{path}: cannot be read ({err})") from None
        try:
            manifest = json.loads(text)
        except json.JSONDecodeError as err:
            raise StoreError(f"{path}: damaged (not valid JSON: {err}); restore it from a copy, "
                             "or run the experiment into a new --out directory") from None
        problem = _manifest_problem(manifest)
        if problem:
            raise StoreError(f"{path}: damaged ({problem}); restore it from a copy, "
                             "or run the experiment into a new --out directory")
        return manifest

    def read_runs(self) -> pd.DataFrame:
        """The run table with journal rows applied (empty, with its columns, before any run ends)."""
        return self.read_runs_arrow().to_pandas()

    def read_runs_arrow(self, check: bool = True) -> pa.Table:
        """The run table with journal rows applied, as an Arrow table.

        With ``check`` (the default) the part files of every done run are checked first
        (:meth:`check`, a footer read each): a store with missing or unreadable rows raises
        StoreError naming them, rather than giving tables that are silently short. The
        ``part`` column is left out: it says how the store is laid out, which depends on
        how runs were grouped, not on what they computed.
        """
        swept = self.read_manifest()["design"]["swept"] if self.exists() else []
        rows = self.read_run_rows()
        if check:
            found = self.check(rows)
            if not found.ok:
                raise StoreError(f"{self.root}: damaged store:\n{found.describe()}\n"
                                 "run the same `cloudmarket sweep SPEC --out DIR` again to re-run these runs")
        return runs_table(rows, swept).drop_columns(["part"])

    def read_run_rows(self) -> list[dict[str, Any]]:
        """Run records as plain dicts, runs.parquet updated by the journal (later rows win)."""
        path = self.root / RUNS
        rows: dict[str, dict[str, Any]] = {}
        if path.exists():
            try:
                # No Arrow threads (read pool, pre-buffering I/O pool) for this small table: they would
                # outlive the read, and a driver with threads starts its pool the slow way (runner.pool_context)
                table = pq.ParquetFile(path, pre_buffer=False).read(use_threads=False)
            except (pa.ArrowException, OSError) as err:
                raise StoreError(f"{path}: damaged (cannot be read as Parquet: {err}); move it away and run "
                                 "the same sweep again to redo the runs, or restore it from a copy") from None
            missing = [c for c in ("run_id", "status") if c not in table.column_names]
            if missing:
                raise StoreError(f"{path}: damaged (no column {', '.join(missing)}); move it away and run "
                                 "the same sweep again to redo the runs, or restore it from a copy")
            rows = {r["run_id"]: r for r in table.to_pylist()}
        for row in self._journal_rows():
            rows[row["run_id"]] = row
        return list(rows.values())

    def _journal_rows(self) -> list[dict[str, Any]]:
        path = self.root / JOURNAL
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as err:
            raise StoreError(f"{path}: cannot be read ({err})") from None
        lines = text.split("\n")
        rows = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):  # the last line, without its newline: cut short by a kill
                    continue
                row = None
            if not (isinstance(row, dict) and isinstance(row.get("run_id"), str) and row.get("status") in STATUSES):
                raise StoreError(f"{path}: line {number} is damaged (not a run record: {line[:80]!r}); "
                                 "remove that line and run the same command again")
            rows.append(row)
        return rows

    def part_path(self, table: str, part: str) -> Path:
        """Where part ``part`` of ``table`` ("market" or "vendors") lives."""
        return self.root / table / f"{part}.parquet"

    def check(self, rows: list[dict[str, Any]] | None = None, strict: bool = False) -> Integrity:
        """Check that every done run's rows are in a readable part file (footer reads only).

        A part is damaged when it is missing, cannot be read, lacks a run the run table puts
        there, or holds a run the run table records as done in another part (a reader of
        the folder would count it twice). ``strict`` (for a sweep about to run what is not
        done) also counts a part holding runs not recorded as done, which a resume would
        otherwise run a second time. Every run of a damaged part is damaged. Part files no
        run names are only checked to be readable: a reader of the folder (DuckDB, pandas)
        would fail on them.
        """
        rows = self.read_run_rows() if rows is None else rows
        found = Integrity()
        parts: dict[str, list[str]] = {}
        home: dict[str, str] = {}
        for row in rows:
            if row.get("status") == "done":
                part = part_of(row)
                parts.setdefault(part, []).append(row["run_id"])
                home[row["run_id"]] = part
        for table in TABLES:
            folder = self.root / table
            present = {p.stem: p for p in folder.glob("*.parquet")} if folder.is_dir() else {}
            for part, run_ids in parts.items():
                path = self.part_path(table, part)
                why = None
                if part not in present:
                    why = "missing"
                else:
                    try:
                        held = part_run_ids(path)
                    except (pa.ArrowException, OSError, ValueError) as err:
                        why = f"unreadable ({err})"
                    else:
                        if held is not None and not set(run_ids) <= set(held):
                            why = "does not hold every run the run table puts there"
                        elif held is not None and any(home.get(r, part) != part for r in held):
                            why = "also holds runs recorded in another part"
                        elif held is not None and strict and not set(held) <= set(run_ids):
                            why = "holds runs not recorded as done"
                if why:
                    found.bad_parts[path] = why
                    found.damaged.update((rid, f"{table} rows {why}") for rid in run_ids)
            for stem, path in present.items():
                if stem not in parts:
                    try:
                        pq.read_metadata(path)
                    except (pa.ArrowException, OSError) as err:
                        found.bad_parts[path] = f"unreadable ({err})"
        return found

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

    def write_part(self, table: str, part: str, data: bytes) -> None:
        """Write one part of ``table`` (Parquet bytes from :func:`encode_runs`) atomically."""
        atomic_write(self.part_path(table, part), lambda p: p.write_bytes(data))

    def append_journal(self, rows: Iterable[dict[str, Any]]) -> None:
        """Record finished runs by appending JSON lines to runs.journal (cheap, O(1) per run)."""
        text = "".join(json.dumps(r, separators=(",", ":"), default=_json_default) + "\n" for r in rows)
        with open(self.root / JOURNAL, "a+b") as fh:
            # A line cut short by a kill or a full disk must not swallow the next record.
            if fh.tell() > 0:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    text = "\n" + text
            fh.write(text.encode("utf-8"))

    def write_runs(self, rows: Iterable[dict[str, Any]], swept: Iterable[str]) -> None:
        """Rewrite runs.parquet from every row, atomically, then drop the journal it includes."""
        table = runs_table(rows, swept)
        atomic_write(self.root / RUNS, lambda p: pq.write_table(table, p))
        # Killed here, the journal repeats rows runs.parquet already has: replay is idempotent.
        (self.root / JOURNAL).unlink(missing_ok=True)

    def clean(self, keep: set[str]) -> int:
        """Remove temp files and part files not in ``keep`` (names of parts of done runs); return how many."""
        removed = 0
        if not self.root.is_dir():
            return 0
        for folder in (self.root, *(self.root / t for t in TABLES)):
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                stale_tmp = path.name.startswith(".") and path.name.endswith(".tmp")
                orphan = folder != self.root and path.suffix == ".parquet" and path.stem not in keep
                if stale_tmp or orphan:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed


def part_of(row: dict[str, Any]) -> str:
    """Name of the part file holding a done run's rows (older stores: one file per run, its id)."""
    return row.get("part") or row["run_id"]


def part_run_ids(path: Path) -> list[str] | None:
    """Run ids a part file's footer lists (None for files written before footers listed them)."""
    metadata = pq.read_metadata(path).metadata or {}
    return json.loads(metadata[RUN_IDS_KEY]) if RUN_IDS_KEY in metadata else None


def _manifest_problem(manifest: Any) -> str | None:
    if not isinstance(manifest, dict):
        return "not a JSON object"
    for path in (("name",), ("design", "swept"), ("design", "runs"), ("design", "points"), ("spec", "canonical")):
        node = manifest
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return f"no {'.'.join(path)}"
            node = node[key]
    if not isinstance(manifest["design"]["swept"], list) or not isinstance(manifest["spec"]["canonical"], dict):
        return "design.swept or spec.canonical has the wrong type"
    return None


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def encode_runs(runs: list[tuple[str, dict[str, np.ndarray]]]) -> bytes:
    """Rows of several runs as one Parquet file in memory, with a leading ``run_id`` column.

    Batch workers call this, so encoding runs in parallel and the driver only writes
    bytes. Text columns (numpy object arrays) become Arrow strings, numbers keep their
    dtype. The footer lists the run ids (key ``cloudmarket.run_ids``).

    >>> data = encode_runs([("abc", {"step": np.array([0, 1]), "period": np.array(["2020Q3", "2020Q4"], dtype=object)})])
    >>> pq.read_table(pa.BufferReader(data)).to_pylist()[1]
    {'run_id': 'abc', 'step': 1, 'period': '2020Q4'}
    """
    names = [list(columns) for _, columns in runs]
    if names and all(n == names[0] for n in names):
        counts = [len(next(iter(c.values()))) if c else 0 for _, c in runs]
        arrays = {"run_id": pa.array(np.repeat(np.array([rid for rid, _ in runs], dtype=object), counts).tolist(),
                                     type=pa.string())}
        for name in names[0]:
            values = np.concatenate([c[name] for _, c in runs])
            arrays[name] = pa.array(values.tolist(), type=pa.string()) if values.dtype == object else pa.array(values)
        table = pa.table(arrays) if runs else pa.table({"run_id": pa.array([], type=pa.string())})
    else:  # runs with different columns (not seen in practice): let Arrow unify them
        table = pa.concat_tables([_one_run(rid, c) for rid, c in runs], promote_options="default")
    ids = json.dumps([rid for rid, _ in runs]).encode()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), RUN_IDS_KEY: ids})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _one_run(run_id: str, columns: dict[str, np.ndarray]) -> pa.Table:
    n = len(next(iter(columns.values()))) if columns else 0
    arrays = {"run_id": pa.array([run_id] * n, type=pa.string())}
    for name, values in columns.items():
        arrays[name] = pa.array(values.tolist(), type=pa.string()) if values.dtype == object else pa.array(values)
    return pa.table(arrays)


def encode_part(run_id: str, columns: dict[str, np.ndarray]) -> bytes:
    """One run's rows as a Parquet file in memory (:func:`encode_runs` of one run)."""
    return encode_runs([(run_id, columns)])


def runs_table(rows: Iterable[dict[str, Any]], swept: Iterable[str]) -> pa.Table:
    """Arrow table of run records, sorted by run_id, columns in the store's order.

    Columns: run_id, the swept parameters, point, replication, seed, status, error,
    wall_s, part, then every other parameter of model/params.py in its order (a record
    made before a parameter existed has null there). Types follow the schema: numbers,
    booleans, strings, and list parameters as list<string>.
    """
    from cloudmarket.model.params import SCHEMA

    swept = list(swept)
    fixed = [name for name in SCHEMA if name not in swept]
    columns = ["run_id", *swept, *RUN_COLUMNS[1:], *fixed]
    ordered = sorted(rows, key=lambda r: r["run_id"])
    arrays = {}
    for c in columns:
        values = [r.get(c) for r in ordered]
        kind = _RUN_TYPES.get(c) or (_PARAM_TYPES[SCHEMA[c].kind] if c in SCHEMA else None)
        if kind is None and not ordered:
            kind = pa.null()  # a column with no rows yet has no values to infer a type from
        arrays[c] = pa.array(values, type=kind)
    return pa.table(arrays)


_RUN_TYPES = {"run_id": pa.string(), "point": pa.int64(), "replication": pa.int64(), "seed": pa.int64(),
              "status": pa.string(), "error": pa.string(), "wall_s": pa.float64(), "part": pa.string()}
_PARAM_TYPES = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "str": pa.string(),
                "list": pa.list_(pa.string())}

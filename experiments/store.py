"""The Parquet store of an experiment: manifest, run table, part files holding many runs each.

Layout of a store directory (readable by DuckDB or pandas without this package)::

    manifest.json         spec, its hash, software versions, git commit, times
    runs.parquet          one row per run: run_id, swept parameters, point, replication,
                          seed, status (done | failed), error, wall_s, part, market_sha256,
                          vendors_sha256, then every other parameter of model/params.py
                          (lists as list<string>)
    runs.journal          (only while a sweep runs or after a kill) JSON lines of runs
                          finished since runs.parquet was last rewritten
    market/<part>.parquet    rows of several runs: run_id, step, period, hhi, cr3, ...
    vendors/<part>.parquet   rows of several runs: run_id, step, period, vendor, share, ...

A part file holds the rows of every run that one task of a sweep completed (a few
seconds of work), so a store of thousands of small runs holds few files. Its footer
lists those run ids (key ``cloudmarket.run_ids``) and the run table names each done
run's part (column ``part``), so a footer read checks that a run's rows are there
(:meth:`Store.check`). The run table also records the SHA-256 of each part's bytes
(``market_sha256``, ``vendors_sha256``), so a part whose content changed after it was
written (a flipped byte, a page overwritten) is found, not read; parts are also written
with Parquet page checksums (CRC), which is what vouches for them when the run table is
lost and :func:`cloudmarket.experiments.runner.sweep` rebuilds it from the part footers.
Readers read only the part files that done runs name, given to DuckDB as an Arrow dataset
over the literal list of files (never a glob: a store path may hold ``*`` or ``[``); a part no done run names (left by a
kill, or copied in by hand) is ignored, reported by ``status`` and removed by ``sweep``.
Stores written before parts held several runs have one file per run, named by the run id,
and no ``part`` column; stores written before the hashes have none; they read the same way.

Every file is written to a hidden temporary name and renamed into place (``os.replace``
is atomic), so a reader, or a resume after SIGKILL, never sees half a file. A run counts
as done only once the run record says so: its part files are written first, then a line
is appended to ``runs.journal``; every second or so, and at the end of a sweep,
``runs.parquet`` is rewritten with every row and the journal removed. Readers of this
package see both, a journal line winning over the row of runs.parquet
(:meth:`Store.read_run_rows`); a reader without it sees runs.parquet, complete once the
sweep has ended. Part files that no done run names (a kill between the two writes) are
removed by :meth:`Store.clean` before runs resume. Every record read (manifest, journal
line, run table row) is checked before use (experiments/records.py): a bad one is named.

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
import hashlib
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

from cloudmarket.experiments.records import (PARAM_TYPES, RUN_TYPES, STATUSES, TABLES, design_problem,
                                             manifest_problem, record_problem, schema_problem)

MANIFEST = "manifest.json"
RUNS = "runs.parquet"
JOURNAL = "runs.journal"
RUN_COLUMNS = ("run_id", "point", "replication", "seed", "status", "error", "wall_s", "part", "market_sha256",
               "vendors_sha256")
LAYOUT_COLUMNS = ("part", "market_sha256", "vendors_sha256")  # where a run's rows are, not what it computed
RUN_IDS_KEY = b"cloudmarket.run_ids"


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
    """What :meth:`Store.check` found.

    ``damaged``: done runs whose rows are missing, unreadable or changed (run_id -> why);
    ``bad_parts``: the part files at fault (path -> why); ``orphans``: part files no done
    run names (ignored by readers, removed by a sweep); ``lost``: part files found while
    the run table is gone (runs.parquet and the journal both missing), which a sweep
    rebuilds it from.
    """

    damaged: dict[str, str] = field(default_factory=dict)  # run_id -> why
    bad_parts: dict[Path, str] = field(default_factory=dict)  # part file -> why
    orphans: list[Path] = field(default_factory=list)
    lost: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing damaged and the run table present (orphans are left out of every read)."""
        return not self.damaged and not self.bad_parts and not self.lost

    def describe(self, limit: int = 10) -> str:
        """One line per problem (at most ``limit`` of each kind)."""
        lines = []
        if self.lost:
            lines.append(f"the run table is lost: no {RUNS} and no {JOURNAL}, but {len(self.lost)} part files hold "
                         "runs; `cloudmarket sweep SPEC --out DIR` with the store's spec rebuilds it from the "
                         "part files (nothing is re-run)")
        lines += [f"{path}: {why}" for path, why in list(self.bad_parts.items())[:limit]]
        if len(self.bad_parts) > limit:
            lines.append(f"... and {len(self.bad_parts) - limit} more damaged files")
        ids = sorted(self.damaged)
        if ids:
            lines.append(f"{len(ids)} done runs have missing or unreadable rows, or rows changed since written: "
                         f"{', '.join(ids[:limit])}" + (" ..." if len(ids) > limit else ""))
        return "\n".join(lines)

    def describe_orphans(self, limit: int = 10) -> str:
        """The part files no done run names, in one line ('' when there are none)."""
        if not self.orphans:
            return ""
        names = ", ".join(str(p) for p in self.orphans[:limit]) + (" ..." if len(self.orphans) > limit else "")
        return (f"{len(self.orphans)} part files hold no run recorded as done (left by a killed sweep, or copied "
                f"in): readers ignore them, `cloudmarket sweep` removes them: {names}")


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
        """The manifest as a dict; StoreError naming the file and the field if there is none or it is damaged."""
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
        problem = manifest_problem(manifest)
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
        (:meth:`check`: footers and content hashes): a store with missing, unreadable or
        changed rows, or whose run table is lost, raises StoreError naming them, rather
        than giving tables that are silently short or wrong. The layout columns (``part``
        and the hashes) are left out: they say how runs were grouped into files, not what
        they computed.
        """
        manifest = self.read_manifest() if self.exists() else None
        swept = manifest["design"]["swept"] if manifest else []
        rows = self.read_run_rows()
        if check:
            self.refuse_damage(self.check(rows))
            if manifest:
                self.refuse_mislabelled(rows, manifest)
        table = runs_table(rows, swept)
        return table.drop_columns([c for c in LAYOUT_COLUMNS if c in table.column_names])

    def refuse_mislabelled(self, rows: list[dict[str, Any]], manifest: dict[str, Any]) -> None:
        """Raise StoreError when run records disagree with the design (:func:`design_problem`)."""
        problem = design_problem(rows, manifest)
        if problem:
            raise StoreError(f"{self.root / RUNS}: damaged ({problem}): a record was edited, or the store was "
                             "extended by a version that numbered points by the order of the spec's keys; run the "
                             "same `cloudmarket sweep SPEC --out DIR` again to renumber them from their parameters")

    def refuse_damage(self, found: Integrity) -> None:
        """Raise StoreError describing ``found`` unless the store reads whole and right."""
        if not found.ok:
            repair = ("" if found.lost and not found.damaged and not found.bad_parts else
                      "\nrun the same `cloudmarket sweep SPEC --out DIR` again to re-run these runs")
            raise StoreError(f"{self.root}: damaged store:\n{found.describe()}{repair}")

    def read_run_rows(self) -> list[dict[str, Any]]:
        """Run records as plain dicts, runs.parquet updated by the journal (later rows win).

        Every record is checked (:func:`record_problem`); a bad one raises StoreError naming
        the file and the row or line.
        """
        path = self.root / RUNS
        rows: dict[str, dict[str, Any]] = {}
        if path.exists():
            redo = ("move it away and run the same sweep again to rebuild it from the part files, "
                    "or restore it from a copy")
            try:
                # No Arrow threads (read pool, pre-buffering I/O pool) for this small table: they would
                # outlive the read, and a driver with threads starts its pool the slow way (runner.pool_context)
                # Page checksums verified: bytes changed inside the file are damage, not values.
                table = pq.ParquetFile(path, pre_buffer=False, page_checksum_verification=True).read(use_threads=False)
            except (pa.ArrowException, OSError) as err:
                raise StoreError(f"{path}: damaged (cannot be read as Parquet: {err}); {redo}") from None
            problem = schema_problem(table.schema)
            if problem:
                raise StoreError(f"{path}: damaged ({problem}); {redo}")
            for index, row in enumerate(table.to_pylist()):
                problem = record_problem(row, parameters=False)
                if problem:
                    raise StoreError(f"{path}: damaged (row {index + 1}: {problem}); {redo}")
                rows[row["run_id"]] = row
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
            problem = "not a run record" if not isinstance(row, dict) else record_problem(row)
            if problem:
                raise StoreError(f"{path}: line {number} is damaged ({problem}: {line[:80]!r}); "
                                 "remove that line and run the same command again")
            rows.append(row)
        return rows

    def part_path(self, table: str, part: str) -> Path:
        """Where part ``part`` of ``table`` ("market" or "vendors") lives."""
        return self.root / table / f"{part}.parquet"

    def done_parts(self, table: str, rows: list[dict[str, Any]] | None = None) -> list[Path]:
        """The part files of ``table`` that done runs name, sorted: what readers read (and nothing else)."""
        rows = self.read_run_rows() if rows is None else rows
        return sorted({self.part_path(table, part_of(r)) for r in rows if r.get("status") == "done"})

    def check(self, rows: list[dict[str, Any]] | None = None) -> Integrity:
        """Check that every done run's rows are in an intact part file, and nothing else is.

        A part that done runs name is damaged when it is missing, cannot be read, lacks a
        run the run table puts there, holds a run not recorded as done there (recorded in
        another part, recorded as failed, or not recorded at all: a run table edited or cut
        short), or its bytes no longer have the SHA-256 the run table recorded. Every run
        of a damaged part is damaged. Part files no done run names are orphans; when the
        run table is lost (no runs.parquet, no journal) they are listed as ``lost``.
        """
        rows = self.read_run_rows() if rows is None else rows
        found = Integrity()
        parts: dict[str, list[str]] = {}
        digests: dict[tuple[str, str], set[str]] = {}
        home: dict[str, str] = {}
        for row in rows:
            if row.get("status") == "done":
                part = part_of(row)
                parts.setdefault(part, []).append(row["run_id"])
                home[row["run_id"]] = part
                for table in TABLES:
                    if row.get(f"{table}_sha256"):
                        digests.setdefault((table, part), set()).add(row[f"{table}_sha256"])
        table_lost = not rows and not (self.root / RUNS).exists() and not (self.root / JOURNAL).exists()
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
                        why = _holding_problem(held, run_ids, part, home)
                    if why is None and (table, part) in digests:
                        why = _digest_problem(path, digests[(table, part)])
                if why:
                    found.bad_parts[path] = why
                    found.damaged.update((rid, f"{table} part {path.name}: {why}") for rid in run_ids)
            strays = sorted(path for stem, path in present.items() if stem not in parts)
            (found.lost if table_lost else found.orphans).extend(strays)
        return found

    def verified_part(self, part: str) -> tuple[list[str], dict[str, str]] | None:
        """Run ids and SHA-256 of part ``part``, when both tables' files hold the same runs and read whole.

        Reading whole checks every page's CRC (Parquet page checksums, written by
        :func:`encode_runs`): a part whose content changed, or that was cut short, gives None.
        """
        ids, digests = None, {}
        for table in TABLES:
            path = self.part_path(table, part)
            try:
                held = part_run_ids(path)
                pq.ParquetFile(path, page_checksum_verification=True).read(use_threads=False)
                digests[f"{table}_sha256"] = file_sha256(path)
            except (pa.ArrowException, OSError, ValueError):
                return None
            if held is None or (ids is not None and held != ids):
                return None
            ids = held
        return ids, digests

    # ---------------------------------------------------------------- writing
    @contextmanager
    def locked(self):
        """Hold an exclusive lock on the store: two sweeps must not write one directory.

        The lock is on the store directory itself, not on a file in it: a lock file can be
        deleted while a sweep holds it, and the next sweep would then lock a new one and
        write beside the first. ``flock`` is released by the kernel when the process dies,
        even by SIGKILL.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(f"{self.root}: another sweep is writing this store") from None
            try:
                yield self
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)  # now, not at close: forked workers share the descriptor
        finally:
            os.close(fd)

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
        atomic_write(self.root / RUNS, lambda p: pq.write_table(table, p, write_page_checksum=True))
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
    if RUN_IDS_KEY not in metadata:
        return None
    ids = json.loads(metadata[RUN_IDS_KEY])
    if not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        raise ValueError(f"its footer's {RUN_IDS_KEY.decode()} is not a list of run ids")
    return ids


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, in hex (read in blocks: a part may be large)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _holding_problem(held: list[str] | None, run_ids: list[str], part: str, home: dict[str, str]) -> str | None:
    """Why a part's footer does not match the runs the run table puts in it (None: it does)."""
    if held is None:  # written before footers listed run ids
        return None
    if not set(run_ids) <= set(held):
        lost = sorted(set(run_ids) - set(held))
        return (f"does not hold every run the run table puts there ({len(lost)} missing: "
                f"{', '.join(lost[:3])}{' ...' if len(lost) > 3 else ''})")
    if any(home.get(r, part) != part for r in held):
        return "also holds runs recorded in another part"
    unrecorded = [r for r in held if r not in home]
    if unrecorded:
        return (f"holds {len(unrecorded)} runs the run table does not record as done ({', '.join(unrecorded[:3])}"
                f"{' ...' if len(unrecorded) > 3 else ''}): {RUNS} or {JOURNAL} was edited or cut short")
    return None


def _digest_problem(path: Path, recorded: set[str]) -> str | None:
    """Why a part's bytes do not match the SHA-256 the run table recorded for them (None: they do)."""
    if len(recorded) > 1:
        return "the run table records different SHA-256 hashes for it (a damaged record)"
    if file_sha256(path) not in recorded:
        return "content changed since it was written (its SHA-256 differs from the one the run table recorded)"
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
    pq.write_table(table, sink, write_page_checksum=True)  # a CRC per page: see Store.verified_part
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
        kind = RUN_TYPES.get(c) or (PARAM_TYPES[SCHEMA[c].kind] if c in SCHEMA else None)
        if kind is None and not ordered:
            kind = pa.null()  # a column with no rows yet has no values to infer a type from
        arrays[c] = pa.array(values, type=kind)
    return pa.table(arrays)

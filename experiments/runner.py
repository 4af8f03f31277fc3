"""Run an experiment: plan its runs, execute them on a backend, stream results to a store.

The plan is the design points x replications of a spec. Each run is identified by a hash
of its full parameters and seed, so re-running a spec into the same store runs only what
is missing or failed, and a spec with more replications or samples extends the store.
Backends are swappable and give identical tables: ``serial`` (this process), ``local``
(a process pool, the default) and ``dask`` (a distributed cluster, via ``--scheduler``).

Each part has a module of its own, its names importable from here too: the plan
(``planning.py``), a worker's chunk of runs (``chunks.py``), the backends
(``backends.py``: interface and serial; ``pool.py``: local; ``dask_backend.py``) and the
git commit (``checkout.py``). Here: sizing chunks, the sweep, its store and its records.

Runs go to workers in chunks of about CHUNK_SECONDS of work (:class:`Chunker`); a
chunk's done runs come back as one Parquet part per table, which the driver writes as
soon as the chunk ends, then records the runs in the journal. The driver keeps at most
two chunks per worker in flight, so its memory does not grow with the number of runs, and
a kill loses at most those chunks. A backend connects before the store is touched.

Example
-------
>>> import tempfile
>>> from cloudmarket.experiments.spec import parse_spec
>>> spec = parse_spec('[experiment]\\nreplications = 1\\n[parameters]\\nn_customers = 60\\n'
...                   'steps = 1\\n[sweep]\\n[sweep.values]\\nswitching_cost = [2.0, 4.0]')
>>> with tempfile.TemporaryDirectory() as out:
...     report = sweep(spec, out, backend="serial", quiet=True)
>>> report.done, report.failed
(2, 0)
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from cloudmarket.experiments.backends import Backend, SerialBackend
from cloudmarket.experiments.checkout import ROOT, git_state  # noqa: F401  (ROOT: importable here as before)
from cloudmarket.experiments.chunks import (Chunk, ChunkResult, RunResult, chunk_failed,  # noqa: F401  (importable here)
                                            execute, execute_chunk)
from cloudmarket.experiments.dask_backend import SCHEDULER_TIMEOUT_S, DaskBackend  # noqa: F401
from cloudmarket.experiments.planning import RunTask, plan, run_id
from cloudmarket.experiments.pool import LocalBackend, die_with_parent, os_threads, pool_context  # noqa: F401
from cloudmarket.experiments.sampling import design_points
from cloudmarket.experiments.spec import MISSING, Spec, SpecError, canonical_json
from cloudmarket.experiments.store import JOURNAL, RUNS, Store, StoreError, os_error_text, part_of

BACKENDS = ("serial", "local", "dask")
FLUSH_SECONDS = 1.0  # how often runs.parquet is rewritten during a sweep (the journal is per chunk)
CHUNK_SECONDS = 3.0  # CPU seconds of work per chunk of runs: one part file per table each, lost at most on a kill
MAX_PARTS = 20  # a sweep aims at no more part files per table than this (or 4 per worker), runs permitting
# CPU seconds of work in the last chunks of a sweep: the worker that finishes first waits
# for the others about this long at most. A quarter of the size (the rule before) left one
# of two workers idle 0.3-0.7 s at the end of a 2,000-run sweep of 8 s (now 0.01-0.15 s).
# It makes a few more part files: 32 against 24 files in all at 2,000 runs of 200 customers
# x 8 quarters, 48 against 40 at 5,000 (benchmarks/bench_batch.py).
TAIL_SECONDS = 0.25


class SpecChangedError(SpecError):
    """The spec differs from the one a store was made with in more than its size."""


@dataclass
class SweepReport:
    """Counts after a sweep: runs planned, done, failed, and what this invocation ran."""

    total: int
    done: int
    failed: int
    ran: int
    wall_s: float
    failures: list[tuple[str, str]] = field(default_factory=list)  # (run_id, last error line)
    repaired: list[str] = field(default_factory=list)  # done runs whose rows were damaged: re-run
    why: dict[str, str] = field(default_factory=dict)  # run_id of a repaired run -> what was wrong with its rows
    rebuilt: int = 0  # runs whose records were rebuilt from the part files (the run table was lost)
    removed: int = 0  # part files no done run named, removed
    renumbered: int = 0  # records whose point, replication or seed did not follow from their parameters

    def notes(self) -> list[str]:
        """What this sweep repaired, one line each, naming the cause (for stderr)."""
        lines = []
        if self.rebuilt:
            lines.append(f"rebuilt the lost run table ({RUNS}) from the part files: {self.rebuilt} done runs "
                         "recovered, none re-run")
        if self.renumbered:
            lines.append(f"renumbered {self.renumbered} run records whose point, replication or seed did not follow "
                         "from their parameters (an edited record, or points numbered by key order)")
        if self.removed:
            lines.append(f"removed {self.removed} part files that no done run named (left by a kill, or copied in)")
        if self.repaired:
            causes: dict[str, list[str]] = {}
            for rid in self.repaired:
                causes.setdefault(self.why.get(rid, "damaged rows"), []).append(rid)
            for cause, ids in causes.items():
                lines.append(f"re-ran {len(ids)} runs of a damaged part ({cause}): {', '.join(ids[:10])}"
                             f"{' ...' if len(ids) > 10 else ''}")
        return lines


class Chunker:
    """Hands out chunks of runs, each about ``target_s`` seconds of a worker's CPU time.

    A chunk of a few seconds keeps the driver's work per run small, and a kill loses only
    the chunks in flight. The size follows the measured CPU seconds per run (a first guess
    from the number of customers and steps until runs end; CPU time, unlike wall time,
    does not grow when other programs load the machine), is at least enough for the
    sweep to make about ``max_parts`` part files per table (more with many workers, so
    each gets work), shrinks near the end so that no worker idles while another finishes
    a big chunk, and never exceeds ``max_runs``. Results do not depend on it.

    >>> from cloudmarket.experiments.spec import parse_spec
    >>> tasks = plan(parse_spec('[experiment]\\nreplications = 50\\n[parameters]\\nn_customers = 100\\n'
    ...                         'steps = 2\\n[sweep]\\n[sweep.values]\\nswitching_cost = [0.5, 1.5]'))
    >>> chunker = Chunker(tasks, workers=2)
    >>> sizes = []
    >>> while (chunk := chunker.next()) is not None:
    ...     sizes.append(len(chunk.tasks))
    >>> sum(sizes), sizes[0] > 1, len(sizes) <= 20
    (100, True, True)
    """

    def __init__(self, tasks: list[RunTask], workers: int, target_s: float | None = None, max_runs: int = 1000,
                 max_parts: int = MAX_PARTS):
        self.pending = list(reversed(tasks))  # popped from the end: plan order
        self.workers = max(1, workers)
        self.target_s = CHUNK_SECONDS if target_s is None else target_s
        self.max_runs = max_runs
        self.floor = -(-len(tasks) // max(max_parts, 4 * self.workers))  # ceil: runs per chunk for the file budget
        self.run_s: float | None = None
        self._seen_s = 0.0
        self._seen_runs = 0

    def guess(self) -> float:
        """Seconds per run before any has ended: generous, so the first chunks are not too big."""
        p = self.pending[-1].params
        return 3e-3 + 4e-6 * float(p.get("n_customers", 2000)) * float(p.get("steps", 22) + 2)

    def observe(self, results: Iterable[RunResult]) -> None:
        """Learn the CPU seconds per run from finished runs."""
        for r in results:
            spent = r.cpu_s or r.wall_s
            if r.status == "done" and spent > 0:
                self._seen_s += spent
                self._seen_runs += 1
        if self._seen_runs:
            self.run_s = self._seen_s / self._seen_runs

    def next(self) -> Chunk | None:
        """The next chunk in plan order, or None when every run has been handed out."""
        if not self.pending:
            return None
        run_s = self.run_s or self.guess()
        size = max(self.target_s / run_s, self.floor)
        # Near the end: about a share of what is left per worker, down to TAIL_SECONDS of work
        # (or an eighth of the file budget's size, so a sweep of many runs adds only a few files).
        size = min(size, max(len(self.pending) / (2 * self.workers), TAIL_SECONDS / run_s, self.floor / 8))
        size = int(min(max(size, 1), self.max_runs, len(self.pending)))
        return Chunk(tuple(self.pending.pop() for _ in range(size)))


_BACKENDS = {"serial": SerialBackend, "local": LocalBackend, "dask": DaskBackend}


# ---------------------------------------------------------------------- sweep
def prepare(spec: Spec, store: Store) -> tuple[list[RunTask], dict[str, Any]]:
    """Check ``spec`` against the store's manifest and plan its runs; writes nothing.

    Returns the tasks and the manifest to write. Raises SpecChangedError if the spec
    differs from the store's in anything but more replications or samples.
    """
    store.check_usable()
    previous = store.read_manifest() if store.exists() else None
    lhs_blocks = [spec.samples] if spec.design == "lhs" else None
    if previous is not None:
        old = Spec.from_dict(previous["spec"]["canonical"])
        spec = in_stored_order(spec, old)
        _check_same_experiment(spec, old, store)
        if spec.design == "lhs":
            lhs_blocks = list(previous["design"]["lhs_blocks"])
            if spec.samples > old.samples:
                lhs_blocks.append(spec.samples - old.samples)
    tasks = plan(spec, lhs_blocks)
    now = _now()
    manifest = {
        "format": 1,
        "name": spec.name,
        "spec": {"file": spec.source, "text": spec.text, "params_file": spec.params_file,
                 "canonical": spec.to_dict()},
        "spec_hash": spec.digest(),
        "design": {"design": spec.design, "swept": list(spec.swept), "points": len(design_points(spec, lhs_blocks)),
                   "replications": spec.replications, "runs": len(tasks), "lhs_blocks": lhs_blocks},
        "software": software_versions(),
        "git": git_state(),
        "created_at": previous["created_at"] if previous else now,
        "updated_at": now,
        "sweeps": previous.get("sweeps", []) if previous else [],
    }
    return tasks, manifest


def in_stored_order(spec: Spec, stored: Spec) -> Spec:
    """``spec`` with its swept parameters in the order of the store's spec, when they are the same ones.

    A design point is its parameter values: the order of the keys in ``[sweep.values]`` or
    ``[sweep.ranges]`` is how the file was typed, not the experiment. Points are numbered,
    and a Latin hypercube or Sobol' design is sampled, in the stored order, so a spec
    with its keys reordered extends the same experiment rather than renumbering its points
    (or, for a sampled design, drawing other points).

    >>> from cloudmarket.experiments.spec import parse_spec
    >>> a = parse_spec('[experiment]\\n[sweep]\\n[sweep.values]\\nswitching_cost = [1.0]\\nprice_weight = [1.0]')
    >>> b = parse_spec('[experiment]\\n[sweep]\\n[sweep.values]\\nprice_weight = [1.0]\\nswitching_cost = [1.0]')
    >>> in_stored_order(b, a).swept
    ('switching_cost', 'price_weight')
    """
    if set(spec.values) == set(stored.values) and set(spec.ranges) == set(stored.ranges):
        return dataclasses.replace(spec, values={k: spec.values[k] for k in stored.values},
                                   ranges={k: spec.ranges[k] for k in stored.ranges})
    return spec


def planned_run_ids(manifest: dict[str, Any]) -> set[str] | None:
    """Run ids of the experiment a store's manifest describes (None if it cannot be planned any more)."""
    try:
        spec = Spec.from_dict(manifest["spec"]["canonical"])
        return {t.run_id for t in plan(spec, manifest["design"].get("lhs_blocks"))}
    except (SpecError, KeyError, TypeError, ValueError):
        return None


def _check_same_experiment(new: Spec, old: Spec, store: Store) -> None:
    changes = []
    a, b = old.identity(), new.identity()
    for key in a:
        if a[key] != b[key]:
            if isinstance(a[key], dict) and isinstance(b[key], dict):
                for sub in sorted(set(a[key]) | set(b[key])):
                    if a[key].get(sub, "(absent)") != b[key].get(sub, "(absent)"):
                        changes.append(f"{key}.{sub}: {a[key].get(sub, '(absent)')!r} -> {b[key].get(sub, '(absent)')!r}")
            else:
                changes.append(f"{key}: {a[key]!r} -> {b[key]!r}")
    for key in ("replications", "samples"):
        was, now = getattr(old, key), getattr(new, key)
        if was is not None and now is not None and now < was:
            changes.append(f"{key}: {was} -> {now} (may only grow: raising it extends the experiment)")
    if changes:
        raise SpecChangedError(new.source, f"differs from the spec in {store.root / 'manifest.json'}", MISSING,
                               "changed " + "; ".join(changes) + ". Only replications and samples may grow; "
                               "use a new --out directory for a different experiment")


def sweep(spec: Spec, out: str | Path, backend: str = "local", workers: int | None = None,
          scheduler: str | None = None, quiet: bool = False) -> SweepReport:
    """Run every missing, failed or damaged run of ``spec`` into the store at ``out``.

    Validation happens before the store is touched: a bad or changed spec, a store that
    cannot be written, a run too big for this machine's memory or a scheduler that cannot
    be reached raises (SpecError, StoreError, ParameterError) and leaves ``out`` as it was.
    Done runs whose rows are missing or unreadable (:meth:`Store.check`) are run again.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend = {backend!r}: allowed: {' | '.join(BACKENDS)}")
    if backend == "local" or (backend == "dask" and scheduler is None):  # workers that import __main__
        from cloudmarket.experiments.script_guard import check_main_guard

        check_main_guard("cloudmarket.sweep")
    workers = workers or os.cpu_count() or 1
    store = Store(out)
    tasks, manifest = prepare(spec, store)
    spec = in_stored_order(spec, Spec.from_dict(manifest["spec"]["canonical"]))  # as prepare planned it
    store.check_writable()
    if backend != "dask" or scheduler is None:  # a cluster's memory is not this machine's
        from cloudmarket.model.run import check_memory

        check_memory((t.params for t in tasks), parallel=1 if backend == "serial" else min(workers, len(tasks)))
    start = time.perf_counter()
    with _BACKENDS[backend](workers, scheduler) as runner:
        try:
            return _sweep_into(spec, store, tasks, manifest, runner, backend, workers, scheduler, quiet, start)
        except OSError as err:
            raise StoreError(f"cannot write the store {store.root}: {os_error_text(err)}; runs finished "
                             "before are kept: fix it and run the same command again to go on") from None


def _sweep_into(spec: Spec, store: Store, tasks: list[RunTask], manifest: dict[str, Any], runner: "Backend",
                backend: str, workers: int, scheduler: str | None, quiet: bool, start: float) -> SweepReport:
    with store.locked():
        rows = {r["run_id"]: r for r in store.read_run_rows()}
        rebuilt = 0
        if not rows:
            lost = store.check([]).lost
            if lost:  # runs.parquet and the journal are gone, the parts are not: rebuild, do not re-run
                rows = {r["run_id"]: r for r in rebuild_rows(store, tasks, lost)}
                rebuilt = len(rows)
        planned = {t.run_id for t in tasks}
        strangers = sorted(rid for rid in rows if rid not in planned)
        if strangers:
            # Same spec, other run ids: the model's parameter defaults or schema changed
            # since these runs were made (or a record was damaged by hand), so old and
            # new runs would not be comparable.
            raise SpecChangedError(spec.source, f"does not reproduce the runs in {store.root}", MISSING,
                                   f"{len(strangers)} stored runs are not runs this spec gives (first: "
                                   f"{', '.join(strangers[:3])}); {stranger_cause(rows[strangers[0]], tasks)}")
        # A run's place in the design follows from its parameters (its id): records numbered
        # otherwise (edited, or written by a version that numbered points by key order) are renumbered.
        planned_task = {t.run_id: t for t in tasks}
        renumbered = 0
        for rid, row in rows.items():
            task = planned_task[rid]
            if (row["point"], row["replication"], row["seed"]) != (task.point, task.replication, task.seed):
                rows[rid] = {**row, "point": task.point, "replication": task.replication, "seed": task.seed}
                renumbered += 1
        integrity = store.check(list(rows.values()))
        done = {rid for rid, r in rows.items() if r["status"] == "done" and rid not in integrity.damaged}
        removed = len({p.stem for p in integrity.orphans})
        store.clean({part_of(rows[rid]) for rid in done})
        if integrity.damaged or rebuilt or renumbered or (store.root / JOURNAL).exists():
            # Fold the journal (and any line cut short by a kill) into runs.parquet before appending.
            store.write_runs(rows.values(), spec.swept)
        started = _now()
        manifest["sweeps"].append({"started_at": started, "backend": backend, "workers": workers,
                                   "scheduler": scheduler, "finished_at": None,
                                   "repaired": sorted(integrity.damaged)})
        store.write_manifest(manifest)
        todo = [t for t in tasks if t.run_id not in done]
        failed_now: list[tuple[str, str]] = []
        progress = _progress(len(tasks), len(done), spec.name, quiet)
        chunker = Chunker(todo, max(1, runner.slots // 2))  # a cluster's cores, not this machine's
        flush = Flusher()
        try:
            for batch in runner.run(chunker.next):
                records = []
                for chunk, result in batch:
                    chunker.observe(result.results)
                    part = chunk.part if result.vendors is not None else None
                    digests = None
                    if part is not None:
                        store.write_part("market", part, result.market)
                        store.write_part("vendors", part, result.vendors)
                        digests = {"market_sha256": hashlib.sha256(result.market).hexdigest(),
                                   "vendors_sha256": hashlib.sha256(result.vendors).hexdigest()}
                    by_id = {t.run_id: t for t in chunk.tasks}
                    for r in result.results:
                        task = by_id[r.run_id]
                        if r.status != "done":
                            failed_now.append((task.run_id, r.error))
                        done_here = r.status == "done"
                        records.append(run_record(task, r, part if done_here else None, digests if done_here else None))
                # The run record is the commit: written after the part files it vouches for.
                store.append_journal(records)
                rows.update((r["run_id"], r) for r in records)
                if flush.due():
                    flush.timed(lambda: store.write_runs(rows.values(), spec.swept))
                progress.update(len(records))
                progress.set_postfix(failed=len(failed_now), refresh=False)
        finally:
            progress.close()
            try:
                store.write_runs(rows.values(), spec.swept)
                unfolded = None
            except OSError as err:  # out of disk or not writable: the journal still holds every record
                unfolded = err
        if unfolded is not None:
            # Readers of this package see every run (runs.parquet + journal); plain pandas and
            # DuckDB see only runs.parquet, which is now stale: that is a failed sweep.
            raise StoreError(f"{store.root / RUNS} could not be rewritten ({os_error_text(unfolded)}): the runs of "
                             f"this sweep are recorded only in {JOURNAL}, which plain pandas and DuckDB do not read; "
                             "fix it and run the same command again to fold them in (nothing is re-run)")
        manifest["sweeps"][-1]["finished_at"] = _now()
        manifest["updated_at"] = manifest["sweeps"][-1]["finished_at"]
        manifest["sweeps"][-1]["ran"] = len(todo)
        manifest["sweeps"][-1]["failed"] = len(failed_now)
        store.write_manifest(manifest)
    statuses = [rows[t.run_id]["status"] for t in tasks if t.run_id in rows]
    return SweepReport(total=len(tasks), done=statuses.count("done"), failed=statuses.count("failed"),
                       ran=len(todo), wall_s=time.perf_counter() - start,
                       failures=[(rid, _last_line(err)) for rid, err in failed_now],
                       repaired=sorted(integrity.damaged), why=dict(integrity.damaged), rebuilt=rebuilt,
                       removed=removed, renumbered=renumbered)


def stranger_cause(row: dict[str, Any], tasks: list[RunTask]) -> str:
    """Why a stored run is not one of ``tasks``: the parameters that differ from its design point's now.

    The run at the same point and replication is compared value by value, so the message
    names what changed (a parameter default of model/params.py, or a damaged record).
    """
    twin = next((t for t in tasks if t.point == row.get("point") and t.replication == row.get("replication")), None)
    if twin is None:
        return (f"its point {row.get('point')!r} / replication {row.get('replication')!r} is not in this design: "
                f"a damaged record in {RUNS} / {JOURNAL}; restore it from a copy, or use a new --out directory")
    differ = [name for name, value in twin.params.items() if canonical_json(row.get(name)) != canonical_json(value)]
    if row.get("seed") != twin.seed:
        differ.append("seed")
    if not differ:
        return f"its record is damaged ({RUNS} / {JOURNAL}); restore it from a copy, or use a new --out directory"
    shown = "; ".join(f"{n}: stored {row.get(n)!r}, now {twin.params.get(n, twin.seed)!r}" for n in differ[:4])
    return (f"at the same point and replication the stored run has {shown} (a default of model/params.py "
            f"changed since, or the record was edited); use a new --out directory")


def run_record(task: RunTask, result: RunResult | None, part: str | None,
               digests: dict[str, str] | None = None) -> dict[str, Any]:
    """The run table's row for one finished run: its id, every parameter, where it sits, how it went.

    ``digests`` are the SHA-256 of its part's files (``market_sha256``, ``vendors_sha256``);
    ``result`` None is a done run rebuilt from its part file (its wall time is not known).
    """
    status, error, wall = ("done", None, None) if result is None else (result.status, result.error, result.wall_s)
    return {"run_id": task.run_id, **task.params, "point": task.point, "replication": task.replication,
            "seed": task.seed, "status": status, "error": error, "wall_s": wall, "part": part,
            **(digests or {"market_sha256": None, "vendors_sha256": None})}


def rebuild_rows(store: Store, tasks: list[RunTask], parts: list[Path]) -> list[dict[str, Any]]:
    """Run records of the done runs a store's part files hold, for a store whose run table is lost.

    A part counts only when both its files read whole (page checksums) and list the same
    runs, every one a run of ``tasks``; the others are left out (and removed by the sweep).
    """
    by_id = {t.run_id: t for t in tasks}
    rows = []
    for part in sorted({p.stem for p in parts}):
        verified = store.verified_part(part)
        if verified is None or not verified[0] or not all(rid in by_id for rid in verified[0]):
            continue
        ids, digests = verified
        rows += [run_record(by_id[rid], None, part, digests) for rid in ids]
    return rows


class Flusher:
    """When to rewrite runs.parquet during a sweep: every FLUSH_SECONDS, but never spending
    more than about 5% of the driver's time on it (the rewrite grows with the runs)."""

    def __init__(self):
        self.last = time.monotonic()
        self.cost = 0.0

    def due(self) -> bool:
        return time.monotonic() - self.last > max(FLUSH_SECONDS, 20 * self.cost)

    def timed(self, write: Callable[[], None]) -> None:
        begin = time.monotonic()
        write()
        self.last = time.monotonic()
        self.cost = self.last - begin


def _progress(total: int, initial: int, name: str, quiet: bool):
    # tqdm.auto: a widget in Jupyter (where stderr is no terminal), text on a terminal
    from tqdm.auto import tqdm

    class Bar(tqdm):
        # No monitor thread (tqdm reads this per class): it would make the driver
        # multi-threaded, and the local pool would then start its workers the slow way
        # (pool_context). The bar still refreshes on every finished run.
        monitor_interval = 0

    # A bar on a terminal or in a notebook; logs and pipes get the final summary alone.
    disable = quiet or not (sys.stderr.isatty() or "ipykernel" in sys.modules)
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError):
        size = os.terminal_size((0, 0))
    # A terminal that reports no size (0 x 0, e.g. a fresh pty) would hide the bar.
    return Bar(total=total, initial=initial, desc=name, unit="run", disable=disable, file=sys.stderr,
                ncols=size.columns if size.columns >= 40 else 100, nrows=size.lines or 24)


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def software_versions() -> dict[str, str]:
    """Versions of Python, this package and the libraries that shape results."""
    import mesa
    import numpy

    from cloudmarket.model.version import __version__

    return {"cloudmarket": __version__, "python": platform.python_version(), "mesa": mesa.__version__,
            "numpy": numpy.__version__, "pandas": pd.__version__, "platform": platform.platform()}


__all__ = ["BACKENDS", "Chunk", "Chunker", "RunResult", "RunTask", "SpecChangedError", "StoreError", "SweepReport",
           "execute", "execute_chunk", "plan", "prepare", "run_id", "sweep"]

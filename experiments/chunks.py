"""Execute runs in a worker: one chunk of runs in, their results and table rows out.

A chunk is several runs done by one worker in one go; a run that raises is failed (its
traceback kept) and the others go on. The done runs' rows come back as one Parquet part
per table, encoded in the worker. Every backend (``backends.py``, ``pool.py``,
``dask_backend.py``) sends chunks here.

Example
-------
>>> from cloudmarket.experiments.planning import plan
>>> from cloudmarket.experiments.spec import parse_spec
>>> tasks = plan(parse_spec('[experiment]\\nreplications = 1\\n[parameters]\\nn_customers = 100\\n'
...                         'steps = 2\\n[sweep]\\n[sweep.values]\\nswitching_cost = [0.5, 1.5]'))
>>> done = execute_chunk(Chunk(tuple(tasks)))
>>> [r.status for r in done.results], done.vendors[:4]
(['done', 'done'], b'PAR1')
"""

from __future__ import annotations

import hashlib
import time
import traceback
from dataclasses import dataclass

from cloudmarket.experiments.planning import RunTask
from cloudmarket.experiments.store import encode_runs


@dataclass
class RunResult:
    """What a worker sends back: status, traceback if failed, wall time and the tables (Parquet bytes)."""

    run_id: str
    status: str
    error: str | None
    wall_s: float
    vendors: bytes | None = None
    market: bytes | None = None
    cpu_s: float = 0.0  # CPU time of the run in its worker (sizes chunks; not stored)


def execute(task: RunTask) -> RunResult:
    """Run one task; an exception becomes a failed result carrying its traceback.

    The tables come back as Parquet bytes of this run alone (:func:`execute_chunk` runs many).
    """
    chunk = execute_chunk(Chunk((task,)))
    result = chunk.results[0]
    result.vendors, result.market = chunk.vendors, chunk.market
    return result


@dataclass(frozen=True)
class Chunk:
    """Several runs done by one worker in one go; their rows share one part file per table."""

    tasks: tuple[RunTask, ...]

    @property
    def part(self) -> str:
        """The part file's name: a hash of its run ids (the same runs always give the same name)."""
        return "p-" + hashlib.sha256(",".join(t.run_id for t in self.tasks).encode()).hexdigest()[:16]


@dataclass
class ChunkResult:
    """A chunk's results, one per run, and the Parquet bytes of its done runs' rows."""

    results: list[RunResult]
    vendors: bytes | None = None
    market: bytes | None = None


def execute_chunk(chunk: Chunk) -> ChunkResult:
    """Run every task of ``chunk``; a run that raises is failed, the others go on.

    The done runs' rows come back encoded as one Parquet file per table: encoding happens
    in the worker, in parallel, and the driver only writes a few files.
    """
    from cloudmarket.model.run import simulate_columns

    results, vendors, market = [], [], []
    for task in chunk.tasks:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            v, m = simulate_columns(task.params, seed=task.seed, collect=task.collect)
        except Exception:  # noqa: BLE001 - any failure of a run is data, not a crash of the batch
            results.append(RunResult(task.run_id, "failed", traceback.format_exc(), time.perf_counter() - start))
            continue
        results.append(RunResult(task.run_id, "done", None, time.perf_counter() - start,
                                 cpu_s=time.process_time() - cpu))
        vendors.append((task.run_id, v))
        market.append((task.run_id, m))
    if not vendors:
        return ChunkResult(results)
    try:
        return ChunkResult(results, encode_runs(vendors), encode_runs(market))
    except Exception:  # noqa: BLE001 - rows that cannot be encoded fail their runs
        error = "the run's tables could not be encoded:\n" + traceback.format_exc()
        return ChunkResult([r if r.status == "failed" else RunResult(r.run_id, "failed", error, r.wall_s)
                            for r in results])


def chunk_failed(chunk: Chunk, error: str) -> ChunkResult:
    """Every run of ``chunk`` failed with ``error`` (its worker died or could not answer)."""
    return ChunkResult([RunResult(t.run_id, "failed", error, 0.0) for t in chunk.tasks])

"""Backends: what runs chunks of runs and yields their results as they finish.

``Backend`` is the interface every backend has (``run``, ``slots``, ``close``, a context
manager); ``SerialBackend`` runs chunks in this process. The process pool is in
``pool.py``, the Dask cluster in ``dask_backend.py``; all give identical tables.

Example
-------
>>> from cloudmarket.experiments.planning import plan
>>> from cloudmarket.experiments.spec import parse_spec
>>> tasks = plan(parse_spec('[experiment]\\nreplications = 1\\n[parameters]\\nn_customers = 100\\n'
...                         'steps = 2\\n[sweep]\\n[sweep.values]\\nswitching_cost = [0.5, 1.5]'))
>>> chunks = iter([Chunk(tuple(tasks))])
>>> with SerialBackend(workers=1) as backend:
...     batches = list(backend.run(lambda: next(chunks, None)))
>>> [[r.status for r in result.results] for batch in batches for _, result in batch]
[['done', 'done']]
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator

from cloudmarket.experiments.chunks import Chunk, ChunkResult, chunk_failed, execute_chunk


class Backend:
    """Runs chunks and yields their results as they finish; ``slots`` chunks are kept in flight.

    A backend connects (to a cluster) when it is made, before the store is touched, so a
    backend that cannot start leaves the store as it was.
    """

    def __init__(self, workers: int, scheduler: str | None = None):
        self.workers, self.scheduler = workers, scheduler

    @property
    def slots(self) -> int:
        return 2 * self.workers

    def run(self, next_chunk: Callable[[], Chunk | None]) -> Iterator[list[tuple[Chunk, ChunkResult]]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the backend holds (pools, cluster connections)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SerialBackend(Backend):
    """This process, one chunk after another."""

    def run(self, next_chunk):
        while (chunk := next_chunk()) is not None:
            yield [(chunk, execute_chunk(chunk))]


def _result_of(chunk: Chunk, get: Callable[[], ChunkResult]) -> ChunkResult:
    """The worker's result, or failed runs if the worker itself died or could not answer."""
    try:
        return get()
    except Exception:  # noqa: BLE001 - a lost worker fails its runs, not the batch
        return chunk_failed(chunk, "the worker did not return a result:\n" + traceback.format_exc())

"""The Dask backend: chunks of runs on a Dask cluster, or on a local one on 127.0.0.1.

Connects when made, so an unreachable scheduler is reported (``StoreError``, naming
``--scheduler``) before the store is touched. Tables are identical to the other backends'.

Example
-------
>>> SCHEDULER_TIMEOUT_S > 0   # seconds to reach a given scheduler before giving up
True
"""

from __future__ import annotations

from typing import Any

from cloudmarket.experiments.backends import Backend, _result_of
from cloudmarket.experiments.chunks import Chunk, execute_chunk
from cloudmarket.experiments.store import StoreError

SCHEDULER_TIMEOUT_S = 30


class DaskBackend(Backend):
    """A Dask cluster at ``scheduler``, or a local one on 127.0.0.1 when none is given.

    Connects when made: an unreachable scheduler is reported before the store is touched.
    """

    def __init__(self, workers: int, scheduler: str | None = None):
        super().__init__(workers, scheduler)
        from distributed import Client, LocalCluster

        self.cluster = None
        if scheduler is None:
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, host="127.0.0.1")
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError) as err:
                raise StoreError(f"--scheduler = {scheduler!r}: cannot reach a Dask scheduler there ({err}); "
                                 "nothing was written; run again when it is up") from None

    @property
    def slots(self) -> int:
        return 2 * max(1, sum(self.client.nthreads().values()))

    def run(self, next_chunk):
        from distributed import wait as dask_wait

        slots = self.slots
        in_flight: dict[Any, Chunk] = {}
        while True:
            while len(in_flight) < slots and (chunk := next_chunk()) is not None:
                in_flight[self.client.submit(execute_chunk, chunk, key=f"chunk-{chunk.part}", pure=False)] = chunk
            if not in_flight:
                return
            finished = dask_wait(list(in_flight), return_when="FIRST_COMPLETED").done
            batch = []
            for future in finished:
                chunk = in_flight.pop(future)
                batch.append((chunk, _result_of(chunk, future.result)))
                future.release()
            yield batch

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

"""The local backend: a process pool on this machine, and how its workers start.

Workers fork from the driver when that is safe (Linux, a driver with one OS thread), else
start from a forkserver (:func:`pool_context`); each dies with the driver
(:func:`die_with_parent`). A worker that dies fails the runs it held, and the sweep goes
on with a fresh pool.

Example
-------
>>> pool_context().get_start_method() in ("fork", "forkserver")
True
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from cloudmarket.experiments.backends import Backend, _result_of
from cloudmarket.experiments.chunks import Chunk, execute_chunk


def pool_context():
    """The multiprocessing start method for the local pool: fork when it is safe, else forkserver.

    Forked workers start at once with the driver's modules already imported; a forkserver
    must first import the model (numpy, scipy, pandas, Mesa: about a second here), which
    is most of the wall time of a batch of small runs. Forking a process that runs other
    threads can deadlock the child (a lock held by a thread that does not exist there), so
    fork is used only on Linux while the driver has a single OS thread (BLAS and Arrow
    pools count; the ``cloudmarket`` command starts without them, see experiments/cli.py).
    ProcessPoolExecutor forks all its workers before it starts its own management thread.
    """
    import multiprocessing

    if sys.platform.startswith("linux") and os_threads() == 1:
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["cloudmarket.experiments.runner", "cloudmarket.model.run"])
    return context


def os_threads() -> int:
    """Threads of this process as the OS counts them (Python's and native libraries'); 0 if unknown."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def _new_pool(workers: int) -> ProcessPoolExecutor:
    context = pool_context()
    parent = os.getpid() if context.get_start_method() == "fork" else None
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_start,
                               initargs=(parent,))


def _worker_start(parent: int | None) -> None:
    """Start a pool worker: tie its life to the driver's, and move what it inherited out of the GC's way.

    ``gc.freeze`` puts every object the worker starts with (the driver's imported
    modules, when forked) in a generation the collector never scans again: the full
    collections a run triggers then walk only the run's own objects (about 5-10% less CPU
    per small run here) and inherited pages are not copied just to be scanned.
    """
    import gc

    die_with_parent(parent)
    gc.freeze()


def die_with_parent(parent: int | None = None) -> None:
    """In a pool worker: ask the kernel to SIGKILL this process when its parent dies (Linux).

    A driver killed with SIGKILL cannot stop its workers; left running they would waste
    the cores and, forked from the driver, hold its lock on the store (flock is shared
    with every process that inherited the descriptor), so the resume would be refused.
    ``parent`` is the pid that forked this worker, to catch a parent that died before
    the request was made; None when it is not known (forkserver workers, whose server
    exits with the driver).
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1  # from <linux/prctl.h>
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


class LocalBackend(Backend):
    """A process pool (see :func:`pool_context` for how its workers start)."""

    def run(self, next_chunk):
        from concurrent.futures.process import BrokenProcessPool

        pool = _new_pool(self.workers)
        try:
            in_flight: dict[Any, Chunk] = {}
            while True:
                while len(in_flight) < self.slots and (chunk := next_chunk()) is not None:
                    try:
                        future = pool.submit(execute_chunk, chunk)
                    except BrokenProcessPool:
                        # A worker died after the last chunk came back (between chunks): the pool
                        # broke with nothing of ours finished. Fail what it still held, and hand
                        # this chunk to a fresh pool.
                        lost = [(held, _result_of(held, f.result)) for f, held in in_flight.items()]
                        in_flight.clear()
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = _new_pool(self.workers)
                        future = pool.submit(execute_chunk, chunk)
                        if lost:
                            yield lost
                    in_flight[future] = chunk
                if not in_flight:
                    return
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                batch, broken = [], False
                for future in finished:
                    chunk = in_flight.pop(future)
                    broken |= isinstance(future.exception(), BrokenProcessPool)
                    batch.append((chunk, _result_of(chunk, future.result)))
                if broken:
                    # A worker died (killed, out of memory, crashed in C): its pool is unusable
                    # and every run it held is failed; carry on with a fresh pool.
                    for future, chunk in in_flight.items():
                        batch.append((chunk, _result_of(chunk, future.result)))
                    in_flight.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = _new_pool(self.workers)
                yield batch
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

"""The kept local pool of worker processes, and what a worker that dies costs.

One pool of worker processes is kept between runs (as joblib's loky does): starting spawned
workers costs about a second each, which a notebook would otherwise pay on every call. Workers
are started with the "spawn" method (safe in a Jupyter kernel, the same on every OS), with one
BLAS/OpenMP thread each, and without re-importing the user's ``__main__``.

:func:`run_batches` sends batches to the pool. If a worker dies (a segfaulting decoder), every
item of the batches that were in flight becomes a suspect and is retried alone, one at a time on
a fresh pool: an item that kills a worker again is handed to ``lost`` (which marks it with an
error), and the run goes on.
"""
from __future__ import annotations

import atexit
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS")
IN_FLIGHT_PER_WORKER = 3   # batches queued per worker: enough to keep it busy, few to retry

_POOL: dict = {}


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def local_pool(n_workers: int) -> ProcessPoolExecutor:
    """The kept pool of ``n_workers`` processes (a new one if the size changed or it broke)."""
    pool = _POOL.get("pool")
    if pool is not None and _POOL.get("n") == n_workers and not getattr(pool, "_broken", False):
        return pool
    shutdown_workers()
    pool = ProcessPoolExecutor(max_workers=n_workers,
                               mp_context=multiprocessing.get_context("spawn"))
    _POOL.update(pool=pool, n=n_workers)
    return pool


def shutdown_workers() -> None:
    """Stop the kept worker processes (they also stop with the Python process)."""
    pool = _POOL.pop("pool", None)
    _POOL.pop("n", None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


atexit.register(shutdown_workers)


@contextmanager
def worker_environment():
    """While workers may be spawned: one BLAS/OpenMP thread each (n workers use n cores, not
    n x cores threads fighting over them), and no re-import of the user's __main__."""
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: "1" for k in THREAD_VARS})
    try:
        with _workers_skip_main():
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _workers_skip_main():
    """Spawned workers normally re-import the parent's __main__ (the user's script) before
    running anything: a script without an ``if __name__ == "__main__":`` guard would then run
    again in every worker. Our workers need nothing from __main__ (metric functions travel by
    value with cloudpickle), so the main module is left out of what they prepare."""
    from multiprocessing import spawn
    original = spawn.get_preparation_data

    def preparation_data(name):
        data = original(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    spawn.get_preparation_data = preparation_data
    try:
        yield
    finally:
        spawn.get_preparation_data = original


def run_batches(batches: Sequence[list], fn: Callable[[list], list], n_workers: int,
                collect: Callable[[list], None], lost: Callable[[list], list]) -> None:
    """Run ``fn(batch)`` for every batch on the kept pool, at most a few batches per worker in
    flight, and pass each batch's results to ``collect`` as it finishes.

    ``fn`` must be picklable (a module-level function, or a ``functools.partial`` of one).
    A batch whose worker died is retried item by item; ``lost([item])`` gives the results of
    an item that killed its worker twice. Ctrl-C stops the work in flight, keeping what was
    collected.
    """
    queue = list(batches)
    suspects: list = []
    with worker_environment():
        while queue or suspects:
            pool = local_pool(n_workers)
            try:
                if suspects:
                    _retry_alone(pool, fn, suspects.pop(0), collect, lost)
                else:
                    suspects = _run_until_a_worker_dies(pool, fn, queue, n_workers, collect)
            except BaseException:
                shutdown_workers()
                raise


def _retry_alone(pool, fn, item, collect, lost) -> None:
    try:
        collect(pool.submit(fn, [item]).result())
    except BrokenProcessPool:
        shutdown_workers()
        collect(lost([item]))


def _run_until_a_worker_dies(pool, fn, queue: list, n_workers: int, collect) -> list:
    """Submit from ``queue`` until it is empty; returns the items of the batches that were in
    flight when a worker died (empty when none did)."""
    running: dict = {}
    while queue or running:
        while queue and len(running) < n_workers * IN_FLIGHT_PER_WORKER:
            batch = queue.pop(0)
            running[pool.submit(fn, batch)] = batch
        done, _ = wait(list(running), return_when=FIRST_COMPLETED)
        suspects = []
        for fut in done:
            batch = running.pop(fut)
            try:
                collect(fut.result())
            except BrokenProcessPool:
                suspects.extend(batch)
        if suspects:
            for batch in running.values():
                suspects.extend(batch)
            shutdown_workers()
            return suspects
    return []

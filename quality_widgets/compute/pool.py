"""Where parallel work runs: batches on a kept pool or a cluster (and what a worker that dies
costs), and tasks on forked workers that inherit a shared state.

:func:`run_batches` sends batches to an executor and hands each batch's results to the caller
as it finishes. The executor is any :class:`concurrent.futures.Executor`, or a Dask
``distributed.Client`` (its executor is used); by default, the kept local pool.

**The kept local pool.** One pool of worker processes is kept between runs: starting a worker
costs about a second, which a notebook would otherwise pay on every call. It is loky's reusable
executor (see :func:`local_pool`): processes started afresh (safe in a Jupyter kernel, the same
on every OS), one BLAS/OpenMP thread each, the user's ``__main__`` not re-imported.

**A worker that dies** (a segfaulting decoder, a killed machine) costs only the images of the
batches it was running: each of them is retried once, alone, and an image that kills its worker
again is handed to ``lost`` (which marks it with an error), and the run goes on. A process pool
breaks as a whole when one of its workers dies, so there the retries run one at a time on a
fresh pool; a Dask cluster loses only the tasks of that worker (and retries them itself before
reporting ``KilledWorker``), so there retries run side by side with the other batches.

**Forked workers that inherit a state.** :func:`run_forked` serves the other kind of parallel
work: many small tasks (a chunk of permutations, one metric of a sweep) that all read one large
state built in this process (an evaluator's matching tables, large on a big dataset).
Pickling that state to a kept pool would cost more than the tasks; a pool forked for the run
inherits it for free, copy-on-write. Where fork is unavailable (Windows), or with one worker,
the tasks run here, one after the other, with the same results.
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

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


# ---- the kept local pool -----------------------------------------------------------------------
def local_pool(n_workers: int):
    """The kept pool of ``n_workers`` processes: loky's reusable executor (the one joblib
    uses), resized rather than restarted when ``n_workers`` changes, replaced when broken.

    Measured against the hand-written pool it replaces (a ``ProcessPoolExecutor`` with the
    "spawn" method, a patch of ``multiprocessing.spawn`` and our own crash detection) by
    ``bench/local_pool_vs_loky.py``: as fast within the machine's noise, so the code we do not
    have to maintain wins. Its workers keep running between calls (no idle timeout), run one
    BLAS/OpenMP thread each, and do not re-import the user's ``__main__`` (a script without
    an ``if __name__ == "__main__":`` guard is not run again in every worker)."""
    from loky import get_reusable_executor
    executor = get_reusable_executor(max_workers=n_workers, timeout=None,
                                     env={k: "1" for k in THREAD_VARS})
    _POOL["pool"] = executor
    return executor


def shutdown_workers(wait: bool = False) -> None:
    """Stop the kept worker processes (they also stop with the Python process): killed at once,
    or with ``wait`` asked to finish and exit normally (their exit handlers run)."""
    executor = _POOL.pop("pool", None)
    if executor is not None:
        executor.shutdown(wait=wait, kill_workers=not wait)


# ---- executors ---------------------------------------------------------------------------------
@dataclass
class Workers:
    """Where batches run. ``get()`` returns the executor (``renew()`` replaces it after a
    worker death broke it, when that is possible), ``slots`` how many batches run at once,
    ``breaks_whole`` whether one dead worker fails every task in flight (process pools),
    ``share(value)`` makes a value every task needs travel once (a Dask cluster scatters it)."""

    get: Callable[[], Executor]
    slots: int
    breaks_whole: bool = True
    renew: Callable[[], None] = lambda: None
    abort: Callable[[], None] = lambda: None     # Ctrl-C: stop what is in flight
    close: Callable[[], None] = lambda: None     # the run is over
    share: Callable = lambda value: value


def local_workers(n_workers: int) -> Workers:
    """The kept local pool of ``n_workers`` processes."""
    return Workers(get=lambda: local_pool(n_workers), slots=n_workers, renew=shutdown_workers,
                   abort=shutdown_workers)


def as_workers(executor) -> Workers:
    """:class:`Workers` for a user's executor: a :class:`concurrent.futures.Executor`, or a Dask
    ``distributed.Client`` (batches go to the whole cluster through its executor), or a
    :class:`concurrent.futures.Future` of either (waited for here, when the batches are
    ready: a cluster starts while the dataset is read and planned)."""
    if isinstance(executor, Future):   # one still starting (the CLI's --scheduler local:N)
        executor = executor.result()
    if _is_dask_client(executor):
        return _dask_workers(executor)
    if _is_dask_client(getattr(executor, "_client", None)):   # client.get_executor() itself
        return _dask_workers(executor._client)
    if not isinstance(executor, Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor or a "
                        f"dask.distributed.Client, got {type(executor).__name__}")
    slots = getattr(executor, "_max_workers", None) or default_workers()
    return Workers(get=lambda: executor, slots=int(slots), renew=_cannot_renew)


def _is_dask_client(obj) -> bool:
    return (type(obj).__module__.startswith("distributed")
            and hasattr(obj, "get_executor") and hasattr(obj, "scatter"))


def _dask_workers(client) -> Workers:
    # pure=False: a task's key is a fresh id. Dask's default (pure=True) hashes every argument
    # of every submit to name the task, here each batch's jobs with their boxes and rows: on
    # coco128 x 8 that took the client 5 s of CPU, taken from the workers on a small machine.
    # Batches are never shared between calls, so there is nothing to deduplicate.
    executor = client.get_executor(pure=False)
    slots = max(1, sum(client.nthreads().values()))

    def share(value):   # sent to every worker once, not with every batch
        return client.scatter([value], broadcast=True)[0]

    return Workers(get=lambda: executor, slots=slots, breaks_whole=False,
                   close=lambda: executor.shutdown(wait=False), share=share)


def _cannot_renew():
    raise RuntimeError(
        "a worker process of the executor passed to compute_metrics died and broke it (a "
        "process pool cannot run anything after that). The images finished so far are in the "
        "cache: run again with a new executor, or without executor= (the default pool "
        "replaces itself)")


def worker_died(exc: BaseException) -> bool:
    """True for the errors that mean "the process running this task died": a broken process
    pool (the standard library's, loky's), or Dask's ``KilledWorker``."""
    return isinstance(exc, BrokenProcessPool) or type(exc).__name__ == "KilledWorker"


# ---- running batches ---------------------------------------------------------------------------
def run_batches(batches: Sequence[list], fn: Callable, args: tuple, workers: Workers,
                collect: Callable[[list], None], lost: Callable[[list], list]) -> None:
    """Run ``fn(*args, batch)`` for every batch on ``workers``, a few batches per slot in
    flight, and pass each batch's results to ``collect`` as it finishes.

    ``fn`` and ``args`` must be picklable (``fn`` a module-level function). The items of a
    batch whose worker died are retried alone, once; ``lost([item])`` gives the results of an
    item whose retry died too. Ctrl-C cancels the work in flight, keeping what was collected.
    """
    fresh, retries = deque(batches), deque()
    running: dict = {}
    try:
        args = tuple(workers.share(a) for a in args)
        while fresh or retries or running:
            if retries and workers.breaks_whole:
                _retry_alone(workers, fn, args, retries.popleft(), collect, lost)
                continue
            executor = workers.get()
            while (fresh or retries) and len(running) < workers.slots * IN_FLIGHT_PER_WORKER:
                batch, retry = (retries.popleft(), True) if retries else (fresh.popleft(), False)
                running[executor.submit(fn, *args, batch)] = (batch, retry)
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            if _collect_done(done, running, retries, collect, lost) and workers.breaks_whole:
                for batch, _ in running.values():   # they died with the pool
                    retries.extend([item] for item in batch)
                running.clear()
                workers.renew()
    except BaseException:
        for fut in running:
            fut.cancel()
        workers.abort()   # Ctrl-C: stop the work in flight, keep what finished
        raise
    finally:
        workers.close()


def _collect_done(done, running: dict, retries: deque, collect, lost) -> bool:
    """Collect finished batches; queue the items of batches whose worker died. Returns
    whether a worker died."""
    died = False
    for fut in done:
        batch, retry = running.pop(fut)
        try:
            results = fut.result()
        except BaseException as e:
            if not worker_died(e):
                raise
            died = True
            if retry:
                collect(lost(batch))
            else:
                retries.extend([item] for item in batch)
            continue
        collect(results)
    return died


def _retry_alone(workers: Workers, fn, args, batch: list, collect, lost) -> None:
    """One item, alone on the executor, so that a death names the item that caused it."""
    try:
        results = workers.get().submit(fn, *args, batch).result()
    except BaseException as e:
        if not worker_died(e):
            raise
        workers.renew()
        collect(lost(batch))
        return
    collect(results)


# ---- forked workers that inherit a shared state ------------------------------------------------
# What the forked workers of a run inherit, by run: set before the fork, read by the children.
# Keyed so that runs from two threads do not take each other's state.
_INHERITED: dict = {}
_RUN_KEYS = itertools.count()


def can_fork(workers: int | None) -> bool:
    """Whether :func:`run_forked` would fork: more than one worker, and an OS that forks."""
    return bool(workers and workers > 1 and
                "fork" in multiprocessing.get_all_start_methods())


def run_forked(fn: Callable, shared, tasks: Sequence, workers: int | None = 1,
               report: Callable[[int], None] | None = None,
               stop: Callable[[list], bool] | None = None) -> list:
    """``[fn(shared, task) for task in tasks]``, in ``workers`` forked processes that inherit
    ``shared`` instead of receiving it pickled (see the module doc).

    Only each ``task`` and its result travel between processes (they must pickle); ``fn`` and
    ``shared`` are inherited. Results come back in the order of ``tasks``, whatever the order
    the workers finish in. ``report(done)``: called as each task finishes (``done`` tasks so
    far). ``stop(results)``: called each time the results in task order grow by one; when it
    returns True the run ends there and returns those results (the tasks still running are
    killed). The tasks after the stop are not used even if they ran, so the results are those
    of one process running the tasks in order and checking ``stop`` after each: they do not
    depend on ``workers``. One process or no fork (:func:`can_fork`): the tasks run in this
    process, in order.
    """
    tasks = list(tasks)
    report = report or (lambda done: None)
    n_processes = min(int(workers or 1), len(tasks))
    if not (n_processes > 1 and can_fork(n_processes)):
        results = []
        for task in tasks:
            results.append(fn(shared, task))
            report(len(results))
            if stop is not None and stop(results):
                break
        return results
    key = next(_RUN_KEYS)
    _INHERITED[key] = (fn, shared)
    results, finished = [], {}
    try:
        # Leaving the block terminates the pool: the workers still running after a stop (or
        # an error, or Ctrl-C) are killed, not waited for.
        with multiprocessing.get_context("fork").Pool(n_processes) as pool:
            items = [(key, i, task) for i, task in enumerate(tasks)]
            for done, (i, result) in enumerate(pool.imap_unordered(_run_inherited, items), 1):
                finished[i] = result
                report(done)
                while len(results) in finished:
                    results.append(finished.pop(len(results)))
                    if stop is not None and stop(results):
                        return results
    finally:
        del _INHERITED[key]
    return results


def _run_inherited(item):
    """In a forked worker: one task, with the function and state inherited from the parent."""
    key, index, task = item
    fn, shared = _INHERITED[key]
    return index, fn(shared, task)

"""The kept worker pool: batches run in other processes, a dying worker costs only its items;
forked workers inherit a shared state and give the results of one process."""
import os
import pickle
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from quality_widgets.compute import pool


def square_or_die(batch):
    """Squares; the item 13 kills its process, as a segfaulting decoder would."""
    if 13 in batch:
        os._exit(139)
    return [(x, x * x, os.getpid()) for x in batch]


def lost_marker(batch):
    return [(x, None, None) for x in batch]


@pytest.fixture(autouse=True)
def _fresh_pool():
    pool.shutdown_workers()
    yield
    pool.shutdown_workers()


def test_batches_run_in_worker_processes_and_every_result_is_collected():
    got = []
    pool.run_batches([[1, 2], [3], [4, 5, 6]], square_or_die, (), pool.local_workers(2), got.extend,
                     lost_marker)
    assert sorted((x, y) for x, y, _ in got) == [(x, x * x) for x in range(1, 7)]
    assert os.getpid() not in {pid for _, _, pid in got}


def test_a_worker_that_dies_costs_only_the_item_that_kills_it():
    batches = [[1, 2, 3], [12, 13, 14], [20, 21], [30]]
    got = []
    pool.run_batches(batches, square_or_die, (), pool.local_workers(2), got.extend, lost_marker)
    by_item = {x: y for x, y, _ in got}
    assert sorted(by_item) == [1, 2, 3, 12, 13, 14, 20, 21, 30] and len(got) == 9
    assert by_item[13] is None                      # handed to `lost` after killing twice
    assert all(by_item[x] == x * x for x in by_item if x != 13)


def worker_threads(batch):
    return [(os.environ.get(v), os.getpid()) for v in pool.THREAD_VARS for _ in batch]


def test_the_pool_is_kept_between_runs_and_its_workers_run_one_thread_each():
    first = pool.local_pool(2)
    assert pool.local_pool(2) is first
    got = []
    pool.run_batches([[1], [2]], worker_threads, (), pool.local_workers(2), got.extend,
                     lost_marker)
    assert {threads for threads, _ in got} == {"1"}
    pool.shutdown_workers()
    assert pool.local_pool(2) is not first


def test_any_executor_runs_the_batches_with_its_own_number_of_slots():
    got = []
    with ThreadPoolExecutor(3) as threads:
        workers = pool.as_workers(threads)
        assert workers.slots == 3
        pool.run_batches([[1], [2, 3]], square_or_die, (), workers, got.extend, lost_marker)
    assert sorted((x, y) for x, y, _ in got) == [(1, 1), (2, 4), (3, 9)]
    with pytest.raises(TypeError, match="concurrent.futures.Executor or a dask"):
        pool.as_workers("tcp://127.0.0.1:8786")


def test_an_executor_still_starting_is_waited_for_when_the_batches_are_ready():
    """The CLI starts its LocalCluster in the background: a Future of the executor is used once
    it resolves, and its start-up error is raised where the executor is needed."""
    from concurrent.futures import Future
    starting = Future()
    with ThreadPoolExecutor(2) as threads:
        starting.set_result(threads)
        got = []
        pool.run_batches([[1], [2, 3]], square_or_die, (), pool.as_workers(starting), got.extend,
                         lost_marker)
    assert sorted((x, y) for x, y, _ in got) == [(1, 1), (2, 4), (3, 9)]
    failed = Future()
    failed.set_exception(RuntimeError("Nanny failed to start."))
    with pytest.raises(RuntimeError, match="Nanny failed"):
        pool.as_workers(failed)


def test_a_broken_executor_of_the_user_is_a_clear_error_after_the_finished_batches():
    """A process pool cannot run anything once a worker died, and one passed by the user
    cannot be replaced by us: the run stops with an error saying so, after collecting what
    finished."""
    got = []
    with ProcessPoolExecutor(1) as own, pytest.raises(RuntimeError, match="died and broke it"):
        pool.run_batches([[1], [13], [2]], square_or_die, (), pool.as_workers(own), got.extend,
                         lost_marker)
    assert all(y == x * x for x, y, _ in got)


# ---- run_forked: tasks in forked workers that inherit a shared state --------------------------
needs_fork = pytest.mark.skipif(not pool.can_fork(2), reason="no fork on this OS")


def slow_square(shared, x):
    """x * x, later for small x (so workers finish out of order), with the worker's pid;
    ``shared`` holds a lock, which cannot be pickled: it must be inherited."""
    lock, delay = shared
    with lock:
        pass
    time.sleep(delay * (5 - x % 5))
    return x * x, os.getpid()


@needs_fork
def test_forked_workers_inherit_the_shared_state_and_results_keep_the_task_order():
    shared = (threading.Lock(), 0.02)
    with pytest.raises(TypeError):
        pickle.dumps(shared)
    done = []
    got = pool.run_forked(slow_square, shared, range(10), workers=3, report=done.append)
    assert [y for y, _ in got] == [x * x for x in range(10)]
    assert os.getpid() not in {pid for _, pid in got}
    assert done == list(range(1, 11))
    assert pool._INHERITED == {}


def running_total(shared, x):
    return shared + x


def reaches(total):
    return lambda results: results[-1] >= total


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_the_stop_rule_gives_the_results_of_one_process_checking_after_each_task(workers):
    """Stop at the first running total >= 25 of 10 + 0, 10 + 1, ...: the ordered prefix up to
    that task (10, 11, ..., 25: 16 tasks), whatever the number of workers."""
    expected = [10 + x for x in range(16)]
    assert pool.run_forked(running_total, 10, range(100), 1, stop=reaches(25)) == expected
    assert pool.run_forked(running_total, 10, range(100), workers, stop=reaches(25)) == expected
    assert pool.run_forked(running_total, 10, range(5), workers, stop=reaches(99)) == \
        [10, 11, 12, 13, 14]


def pid_of(shared, x):
    return os.getpid()


def test_one_worker_or_no_fork_runs_the_tasks_in_this_process(monkeypatch):
    assert set(pool.run_forked(pid_of, None, range(4), workers=1)) == {os.getpid()}
    monkeypatch.setattr(pool.multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    assert not pool.can_fork(2)
    assert set(pool.run_forked(pid_of, None, range(4), workers=2)) == {os.getpid()}


def fails_on_three(shared, x):
    if x == 3:
        raise ValueError("task 3 failed")
    return x


@needs_fork
def test_a_failing_task_raises_in_the_caller_and_leaves_no_state_behind():
    with pytest.raises(ValueError, match="task 3 failed"):
        pool.run_forked(fails_on_three, None, range(8), workers=2)
    assert pool._INHERITED == {}

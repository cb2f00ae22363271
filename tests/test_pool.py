"""The kept worker pool: batches run in other processes, a dying worker costs only its items."""
import os

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
    pool.run_batches([[1, 2], [3], [4, 5, 6]], square_or_die, 2, got.extend, lost_marker)
    assert sorted((x, y) for x, y, _ in got) == [(x, x * x) for x in range(1, 7)]
    assert os.getpid() not in {pid for _, _, pid in got}


def test_a_worker_that_dies_costs_only_the_item_that_kills_it():
    batches = [[1, 2, 3], [12, 13, 14], [20, 21], [30]]
    got = []
    pool.run_batches(batches, square_or_die, 2, got.extend, lost_marker)
    by_item = {x: y for x, y, _ in got}
    assert sorted(by_item) == [1, 2, 3, 12, 13, 14, 20, 21, 30] and len(got) == 9
    assert by_item[13] is None                      # handed to `lost` after killing twice
    assert all(by_item[x] == x * x for x in by_item if x != 13)


def test_the_pool_is_kept_between_runs_and_replaced_when_resized():
    first = pool.local_pool(2)
    assert pool.local_pool(2) is first
    assert pool.local_pool(1) is not first


def test_worker_environment_sets_one_thread_and_restores_the_variables(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    with pool.worker_environment():
        assert all(os.environ[v] == "1" for v in pool.THREAD_VARS)
    assert os.environ["OMP_NUM_THREADS"] == "7" and "MKL_NUM_THREADS" not in os.environ

"""The kept local pool: loky's reusable executor (the default since it was measured here)
against the hand-written pool it replaced (a ProcessPoolExecutor with the "spawn" method, one
BLAS thread per worker and a patch of ``multiprocessing.spawn`` so that workers do not re-import
the user's ``__main__``; reproduced below as it was).

Both run the same batches of compute_metrics (every built-in metric, coco128 x N with its
annotations and real predictions, no cache, 2 workers) in one process: a first run that starts
the workers ("cold"), then warm runs on the kept workers, in pairs of alternating order so that
both see the same machine load. Prints seconds and loky / hand-written ratios (< 1: loky is
faster) and the load average (the machine is shared). Left out: loading the dataset, the same
for both.

Usage: python bench/local_pool_vs_loky.py [COCO128_DIR] [--copies 2] [--repeats 4]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from metrics_throughput import replicate  # noqa: E402

import quality_widgets as qw  # noqa: E402
from quality_widgets.compute import pool  # noqa: E402


@contextmanager
def hand_written_environment():
    """What the hand-written pool did while its workers could be spawned."""
    from multiprocessing import spawn
    saved = {k: os.environ.get(k) for k in pool.THREAD_VARS}
    os.environ.update({k: "1" for k in pool.THREAD_VARS})
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
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run(ds, executor=None) -> float:
    t = time.perf_counter()
    if executor is None:
        f = qw.compute_metrics(ds, workers=2, cache_dir=False, progress=False)
    else:
        with hand_written_environment():
            f = qw.compute_metrics(ds, cache_dir=False, progress=False, executor=executor)
    elapsed = time.perf_counter() - t
    assert f.images["error"].isna().all()
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", default=str(ROOT.parent / "shared" / "coco128"))
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        images, ann, pred = replicate(Path(args.source), args.copies, Path(tmp))
        ds = qw.Dataset.from_coco(images, ann, pred)
        print(f"{len(ds.images)} images, {len(ds.annotations)} annotations, "
              f"{len(ds.predictions)} predictions; load {os.getloadavg()[0]:.2f}", flush=True)
        qw.compute_metrics(ds.subset(ds.images.index[:2]), workers=1, cache_dir=False,
                           progress=False)   # built-in metrics loaded, kernels compiled
        pool.shutdown_workers()
        hand = ProcessPoolExecutor(max_workers=2,
                                   mp_context=multiprocessing.get_context("spawn"))
        try:
            hand_cold = run(ds, hand)
            loky_cold = run(ds)
            hands, lokys, ratios = [], [], []
            for i in range(args.repeats):
                if i % 2:
                    lokys.append(run(ds))
                    hands.append(run(ds, hand))
                else:
                    hands.append(run(ds, hand))
                    lokys.append(run(ds))
                ratios.append(lokys[-1] / hands[-1])
                print(f"  pair {i + 1}: hand-written {hands[-1]:6.2f} s  loky {lokys[-1]:6.2f} s"
                      f"  loky/hand-written {ratios[-1]:.3f}  (load "
                      f"{os.getloadavg()[0]:.2f})", flush=True)
        finally:
            hand.shutdown()
        print(f"cold (starting 2 workers): hand-written {hand_cold:6.2f} s   loky "
              f"{loky_cold:6.2f} s   loky/hand-written {loky_cold / hand_cold:.3f}")
        print(f"warm (kept workers): best hand-written {min(hands):6.2f} s   best loky "
              f"{min(lokys):6.2f} s   median of the pairs' loky/hand-written "
              f"{statistics.median(ratios):.3f}")
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

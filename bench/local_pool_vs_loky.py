"""The kept local pool (hand-written on ProcessPoolExecutor) against loky's reusable executor.

Both run the same batches of compute_metrics (every built-in metric, coco128 x N with its
annotations and real predictions, no cache, 2 workers), in one process, interleaved so that
both see the same machine load: a first run that starts the workers ("cold"), then warm runs
on the kept workers. Prints seconds and loky / ours ratios (> 1: ours is faster), and the
load average beside them (the machine is shared). Left out: nothing a user pays for in a run
except loading the dataset, which is the same for both.

Usage: python bench/local_pool_vs_loky.py [COCO128_DIR] [--copies 8] [--repeats 4]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import quality_widgets as qw  # noqa: E402
from metrics_throughput import replicate  # noqa: E402
from quality_widgets.compute import pool  # noqa: E402


def run(ds, executor=None) -> float:
    t = time.perf_counter()
    f = qw.compute_metrics(ds, workers=2, cache_dir=False, progress=False, executor=executor)
    elapsed = time.perf_counter() - t
    assert f.images["error"].isna().all()
    return elapsed


def loky_executor():
    from loky import get_reusable_executor
    return get_reusable_executor(max_workers=2, timeout=3600,
                                 env={k: "1" for k in pool.THREAD_VARS})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", default=str(ROOT.parent / "shared" / "coco128"))
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        images, ann, pred = replicate(Path(args.source), args.copies, Path(tmp))
        ds = qw.Dataset.from_coco(images, ann, pred)
        print(f"{len(ds.images)} images, {len(ds.annotations)} annotations, "
              f"{len(ds.predictions)} predictions; load {os.getloadavg()[0]:.2f}")
        qw.compute_metrics(ds.subset(ds.images.index[:2]), workers=1, cache_dir=False,
                           progress=False)   # built-in metrics loaded, kernels compiled
        pool.shutdown_workers()
        ours_cold = run(ds)
        loky_cold = run(ds, loky_executor())
        ours, loky, ratios = [], [], []
        for i in range(args.repeats):   # pairs in alternating order: load drifts cancel out
            if i % 2:
                loky.append(run(ds, loky_executor()))
                ours.append(run(ds))
            else:
                ours.append(run(ds))
                loky.append(run(ds, loky_executor()))
            ratios.append(loky[-1] / ours[-1])
            print(f"  pair {i + 1}: ours {ours[-1]:6.2f} s  loky {loky[-1]:6.2f} s  "
                  f"loky/ours {ratios[-1]:.3f}  (load {os.getloadavg()[0]:.2f})", flush=True)
        print(f"cold (starting 2 workers): ours {ours_cold:6.2f} s   loky {loky_cold:6.2f} s   "
              f"loky/ours {loky_cold / ours_cold:.3f}")
        print(f"warm (kept workers): best ours {min(ours):6.2f} s   best loky {min(loky):6.2f} s"
              f"   median of the pairs' loky/ours {statistics.median(ratios):.3f}")
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

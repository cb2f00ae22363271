"""The cost of computing on a Dask cluster instead of the kept local pool, on one machine.

coco128 x N (default 8: 1,024 images, their annotations and real predictions; symlinked copies
with new ids), every built-in metric, no cache, the whole command a user runs (reading the
annotation and prediction files, computing, writing the Parquet output):

(a) ``quality-widgets metrics ... --workers 2``: the local pool, its 2 workers started by the run;
(b) ``quality-widgets metrics ... --scheduler local:2``: a LocalCluster of 2 one-thread worker
    processes started for the run, the batches sent through its
    scheduler, the cluster closed at the end.

Both in one process, (a) (b), then (b) (a), ..., each run paying its own start-up (the kept
pool is stopped before every run). Prints the seconds, the ratio b / a (goal: within 15%), the
ratio for the compute alone on workers already started, and the load average (the machine is
shared). Left out: the Python start-up of the command itself, the same for both.

Usage: python bench/cluster_overhead.py [COCO128_DIR] [--copies 8] [--repeats 1]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from metrics_throughput import replicate  # noqa: E402

import quality_widgets as qw  # noqa: E402
from quality_widgets.cli.main import main as cli  # noqa: E402
from quality_widgets.cli.metrics import dask_client  # noqa: E402
from quality_widgets.compute import pool  # noqa: E402


def timed_cli(args) -> float:
    pool.shutdown_workers()   # every run starts its own workers, as a new command would
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):   # the summary table
        assert cli(args) == 0
    return time.perf_counter() - t


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", default=str(ROOT.parent / "shared" / "coco128"))
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        images, ann, pred = replicate(Path(args.source), args.copies, Path(tmp))
        base = ["metrics", "--images", str(images), "--annotations", str(ann), "--predictions",
                str(pred), "--no-cache", "--quiet", "--out", str(Path(tmp) / "out")]
        ds = qw.Dataset.from_coco(images, ann, pred)
        print(f"{len(ds.images)} images, {len(ds.annotations)} annotations, "
              f"{len(ds.predictions)} predictions; load {os.getloadavg()[0]:.2f}", flush=True)
        qw.compute_metrics(ds.subset(ds.images.index[:2]), workers=1, cache_dir=False,
                           progress=False)   # metrics loaded, kernels compiled: not timed
        ratios = []
        for i in range(args.repeats):   # alternating order: a drift of the load cancels out
            order = ("local", "dask") if i % 2 == 0 else ("dask", "local")
            times = {kind: timed_cli(base + (["--workers", "2"] if kind == "local"
                                             else ["--scheduler", "local:2"]))
                     for kind in order}
            ratios.append(times["dask"] / times["local"])
            print(f"run {i + 1}: (a) --workers 2 {times['local']:7.2f} s   (b) --scheduler "
                  f"local:2 {times['dask']:7.2f} s   b/a {ratios[-1]:.3f}   (load "
                  f"{os.getloadavg()[0]:.2f})", flush=True)
        # for information: the compute alone, workers already started on both sides
        with dask_client(("local", 2)) as client:
            qw.compute_metrics(ds.subset(ds.images.index[:8]), executor=client,
                               cache_dir=False, progress=False)
            t = time.perf_counter()
            qw.compute_metrics(ds, executor=client, cache_dir=False, progress=False)
            dask_warm = time.perf_counter() - t
        qw.compute_metrics(ds.subset(ds.images.index[:8]), workers=2, cache_dir=False,
                           progress=False)
        t = time.perf_counter()
        qw.compute_metrics(ds, workers=2, cache_dir=False, progress=False)
        local_warm = time.perf_counter() - t
        print(f"b/a, the whole command (start-up included): median {statistics.median(ratios):.3f}"
              f"  (goal <= 1.15)")
        print(f"info, workers already running: local {local_warm:.2f} s, dask "
              f"{dask_warm:.2f} s, ratio {dask_warm / local_warm:.3f}; load "
              f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

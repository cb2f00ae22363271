"""The cost of computing on a Dask cluster instead of the kept local pool, on one machine.

coco128 x N (default 8: 1,024 images, their annotations and real predictions; symlinked copies
with new ids), every built-in metric, no cache, what the command a user runs does after
loading the dataset (the same calls as ``cli/metrics.py``):

(a) ``quality-widgets metrics ... --workers 2``: the local pool, its 2 workers started by the run;
(b) ``quality-widgets metrics ... --scheduler local:2``: a LocalCluster of 2 one-thread worker
    processes started for the run, the batches sent through its scheduler, the cluster closed.

Both in one process, (a) (b), then (b) (a), ..., each run paying its own start-up (the kept
pool is stopped before every run), and writing its Parquet output. Prints the seconds,
the ratio b / a (goal: within 15%), the CPU seconds both spent (the workers' and this process's,
which hosts the scheduler: a figure a loaded machine distorts less than the wall clock), the
wall-clock ratio for the compute alone on an already started cluster, and the load average (the
machine is shared). Left out: nothing a CLI user pays, except
loading the dataset, which is the same for both and done once here.

Usage: python bench/cluster_overhead.py [COCO128_DIR] [--copies 8] [--repeats 1]
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
from quality_widgets.cli.metrics import dask_client  # noqa: E402
from quality_widgets.compute import pool  # noqa: E402
from quality_widgets.frames import write_metrics  # noqa: E402


def cpu_seconds(pids) -> float:
    """User + system CPU seconds used so far by these (freshly started) processes."""
    import psutil   # installed with distributed
    return sum(sum(psutil.Process(p).cpu_times()[:2]) for p in pids)


def run_local(ds, out) -> dict:
    """What ``metrics --workers 2`` does after loading the dataset: start the pool, compute,
    write the Parquet output."""
    pool.shutdown_workers()
    c, t = time.process_time(), time.perf_counter()
    frames = qw.compute_metrics(ds, workers=2, cache_dir=False, progress=False)
    write_metrics(frames, out)
    workers = [p.pid for p in pool._POOL["pool"]._processes.values()]
    return {"total": time.perf_counter() - t,
            "cpu": cpu_seconds(workers) + time.process_time() - c}


def run_dask(ds, out) -> dict:
    """What ``metrics --scheduler local:2`` does after loading the dataset: start a
    LocalCluster, compute on it, write the output, close the cluster (timed apart)."""
    pool.shutdown_workers()
    c, t0 = time.process_time(), time.perf_counter()
    with dask_client(("local", 2)) as client:
        t1 = time.perf_counter()
        frames = qw.compute_metrics(ds, executor=client, cache_dir=False, progress=False)
        write_metrics(frames, out)
        t2 = time.perf_counter()
        cpu = cpu_seconds(client.run(os.getpid).values())   # the scheduler runs in this process
    t3 = time.perf_counter()
    return {"total": t3 - t0, "start": t1 - t0, "compute": t2 - t1, "close": t3 - t2,
            "cpu": cpu + time.process_time() - c}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", default=str(ROOT.parent / "shared" / "coco128"))
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        images, ann, pred = replicate(Path(args.source), args.copies, Path(tmp))
        out = Path(tmp) / "out"
        ds = qw.Dataset.from_coco(images, ann, pred)
        print(f"{len(ds.images)} images, {len(ds.annotations)} annotations, "
              f"{len(ds.predictions)} predictions; load {os.getloadavg()[0]:.2f}", flush=True)
        qw.compute_metrics(ds.subset(ds.images.index[:2]), workers=1, cache_dir=False,
                           progress=False)   # metrics loaded, kernels compiled: not timed
        ratios, cpu_ratios = [], []
        for i in range(args.repeats):   # alternating order: a drift of the load cancels out
            order = ("local", "dask") if i % 2 == 0 else ("dask", "local")
            times = {kind: (run_local if kind == "local" else run_dask)(ds, out)
                     for kind in order}
            local, dask = times["local"], times["dask"]
            ratios.append(dask["total"] / local["total"])
            cpu_ratios.append(dask["cpu"] / local["cpu"])
            print(f"run {i + 1}: (a) local pool, 2 workers {local['total']:7.2f} s   (b) "
                  f"--scheduler local:2 {dask['total']:7.2f} s (cluster start "
                  f"{dask['start']:.1f}, compute + write {dask['compute']:.1f}, close "
                  f"{dask['close']:.1f})   b/a {ratios[-1]:.3f}   CPU seconds (workers + "
                  f"this process) {local['cpu']:.1f} vs {dask['cpu']:.1f}: "
                  f"{cpu_ratios[-1]:.3f}   (load {os.getloadavg()[0]:.2f})", flush=True)
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
        print(f"b/a, start-up included (what a CLI run pays): median wall-clock ratio "
              f"{statistics.median(ratios):.3f}, median CPU ratio "
              f"{statistics.median(cpu_ratios):.3f}  (goal <= 1.15)")
        print(f"info, workers already running: local {local_warm:.2f} s, dask "
              f"{dask_warm:.2f} s, ratio {dask_warm / local_warm:.3f}; load "
              f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

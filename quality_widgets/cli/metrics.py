"""``quality-widgets metrics``: compute the metric frames of a dataset and write them as Parquet
(locally, or on a Dask cluster with ``--scheduler``)."""
from __future__ import annotations

import contextlib
import importlib.util
import threading

from ._shared import (
    EXIT_OK,
    add_dataset_arguments,
    check_images_usable,
    error,
    load_dataset,
    metrics_to_compute,
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "metrics", help="compute metric frames and write them as Parquet",
        description="Compute the quality metrics of a dataset (all built-in ones by default) and "
                    "write images.parquet, objects.parquet and predictions.parquet into --out "
                    "(read them back with qw.read_metrics(DIR) or qw.Explorer(DIR)). The "
                    "dataset is COCO (--annotations), YOLO (--yolo-labels, or a labels/ folder "
                    "beside an images/ folder) or a plain folder of images. --images, "
                    "--annotations, --predictions and --out may be fsspec URLs (s3://, gs://, "
                    "http(s)://...; needs the [dask] extra). Exit code 0, or 2 for unusable "
                    "input (see --max-unusable).")
    add_dataset_arguments(p)
    p.add_argument("--out", required=True, help="output folder (or URL) for images/objects/"
                                                "predictions.parquet (created)")
    p.add_argument("--metrics", help="comma-separated metric names to compute (functions or "
                                     "the columns they write, e.g. brightness,margin; default: "
                                     "all)")
    p.add_argument("--metric-file", action="append", help="a .py file of @metric functions "
                                                           "(repeatable)")
    p.add_argument("--workers", type=int, help="worker processes (default: the cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="compute on a Dask cluster: the address of its scheduler (e.g. "
                        "tcp://10.0.0.5:8786), or local:N to start a local cluster of N worker "
                        "processes for this run (needs the [dask] extra)")
    p.add_argument("--cache-dir", help="metric cache folder (default ~/.cache/quality-widgets)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..compute.engine import compute_metrics
    from ..data.storage import path_or_url
    try:
        target = scheduler_target(args.scheduler)
    except ValueError as e:
        return error("metrics", e)
    if target is not None and importlib.util.find_spec("distributed") is None:
        return error("metrics", "--scheduler needs Dask: pip install 'quality-widgets[dask]'")
    out = path_or_url(args.out)
    if not isinstance(out, str) and out.exists() and not out.is_dir():   # before the work
        return error("metrics", f"{out}: --out must be a folder, and this is an existing file")
    cache = False if args.no_cache else args.cache_dir
    with contextlib.ExitStack() as stack:
        if target is not None and target[0] == "local":   # starts while the files are read
            client = stack.enter_context(started_in_background(dask_client(target)))
        else:
            try:
                client = stack.enter_context(dask_client(target))
            except OSError as e:   # no scheduler there (Dask's timeout is an OSError)
                return error("metrics", f"cannot reach the Dask scheduler at {args.scheduler}: "
                                        f"{e}")
        dataset = load_dataset(args)
        metrics = None
        from_files = []
        if args.metric_file:                         # loaded first: valid --metrics names too
            from ..compute.registry import load_metric_file
            from_files = [m for file in args.metric_file for m in load_metric_file(file)]
        if args.metrics or args.metric_file:
            names = [m.strip() for m in (args.metrics or "").split(",") if m.strip()]
            metrics = metrics_to_compute(names) + from_files
        frames = compute_metrics(dataset, metrics=metrics, workers=args.workers,
                                 cache_dir=cache, progress=not args.quiet, executor=client)
        done_with_cluster = stack.pop_all()
    # the cluster (local:N: 1 to 2 s to stop its processes) closes while the output is written
    closing = threading.Thread(target=done_with_cluster.close, daemon=True,
                               name="quality-widgets: closing the cluster")
    closing.start()
    try:
        return _write(frames, dataset, out, args)
    finally:
        closing.join()


def _write(frames, dataset, out, args) -> int:
    from ..frames import write_metrics
    check_images_usable(frames, args)
    write_metrics(frames, out)
    print(f"{dataset!r}")
    print(f"computed {frames.stats['computed']} images, {frames.stats['from_cache']} from the "
          f"cache, {frames.stats['errors']} with errors; wrote {out}/images.parquet "
          f"({len(frames.images)} rows), objects.parquet ({len(frames.objects)} rows), "
          f"predictions.parquet ({len(frames.predictions)} rows)")
    for level in ("image", "object", "prediction"):
        cols = frames.metric_columns(level)
        frame = frames.frame(level)
        if not cols or frame.empty:
            continue
        desc = frame[cols].astype(float).describe().T[["mean", "min", "50%", "max"]]
        print(f"\n{level} metrics:\n{desc.to_string(float_format=lambda v: f'{v:.4g}')}")
    return EXIT_OK


def _local_cluster_config() -> dict:
    """Dask settings for the workers of ``--scheduler local:N``, for CPU-bound Python tasks.

    Measured on coco128 (worker CPU time, local pool vs Dask, same batches): Dask's default
    ``MALLOC_TRIM_THRESHOLD_`` (it fixes glibc's mmap threshold, so every decoded image is
    mapped and unmapped afresh) cost the workers six times the local pool's system time; the
    statistical profiler (a stack sample every 10 ms), the 20 ms event-loop tick and the
    monitors (every 100 and 500 ms) interrupt the task thread for the GIL and cost another 20
    to 25% of user time. Without them, 7 to 10%."""
    import dask
    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    return {"distributed.nanny.pre-spawn-environ": env,
            "distributed.worker.profile.enabled": False,
            "distributed.admin.tick.interval": "500ms",
            "distributed.admin.system-monitor.interval": "5s",
            "distributed.worker.memory.monitor-interval": "1s"}


def scheduler_target(scheduler: str | None):
    """None, ``("local", N)`` for ``local:N``, or ``("address", ADDRESS)``; ValueError for a
    malformed ``local:N``."""
    if not scheduler:
        return None
    if scheduler.startswith("local:"):
        n = scheduler.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise ValueError(f"--scheduler {scheduler}: expected local:N with N >= 1 worker "
                             "processes")
        return "local", int(n)
    return "address", scheduler


@contextlib.contextmanager
def started_in_background(context):
    """Enter ``context`` in a thread and yield a :class:`concurrent.futures.Future` of its value
    (``compute_metrics(executor=...)`` waits for it only when its batches are ready to go);
    exit it at the end, once the thread is done.

    For ``--scheduler local:N``: starting the worker processes (a process each, importing
    Dask, NumPy, pandas and the metrics) took 3.5 to 5 s on coco128 x 8 on a loaded 2-core
    machine, mostly waiting on the new processes; meanwhile this process reads the annotation
    and prediction files and plans the batches."""
    from concurrent.futures import Future
    stack = contextlib.ExitStack()
    future: Future = Future()

    def enter():
        try:
            future.set_result(stack.enter_context(context))
        except BaseException as e:   # raised where the value is wanted
            future.set_exception(e)

    thread = threading.Thread(target=enter, name="quality-widgets: starting the cluster",
                              daemon=True)
    thread.start()
    try:
        yield future
    finally:
        thread.join()
        stack.close()


@contextlib.contextmanager
def dask_client(target):
    """None without a target; otherwise a Dask client of the scheduler at an address, or of a
    LocalCluster of N one-thread worker processes (``("local", N)``) that lives for the run."""
    if target is None:
        yield None
        return
    import dask
    from distributed import Client, LocalCluster
    kind, value = target
    if kind == "local":
        with dask.config.set(_local_cluster_config()), LocalCluster(
                n_workers=value, threads_per_worker=1, processes=True,
                dashboard_address=None) as cluster:
            # not `with Client(...)`: that makes it the current client of this thread's
            # context, which another thread cannot undo (the client is made in one thread
            # and closed in another, see started_in_background and run)
            client = Client(cluster, set_as_default=False)
            try:
                yield client
            finally:
                client.close()
        return
    client = Client(value, timeout="30s", set_as_default=False)
    try:
        yield client
    finally:
        client.close()

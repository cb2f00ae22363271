"""compute_metrics: run metric functions over a dataset into the three metric frames.

Work is split by image: a worker decodes each image once and computes every image, object and
prediction metric of that image from that one decode. One call goes through four named steps,
one module each:

1. **keys** (:mod:`._keys`): what each cached value depends on: the image file's identity
   (path, size, mtime) and each box's geometry, category and id or score;
2. **plan** (:mod:`._plan`): which values the cache already holds, and one :class:`ImageJob`
   per image with something missing;
3. **run** (:mod:`._run`): batches of jobs on the kept worker pool (:mod:`.pool`) or in this
   process, each job computed by :func:`compute_image` (:mod:`._worker`); finished images go
   to the Parquet cache as they arrive, so an interrupted run keeps its work;
4. **assemble** (:mod:`._assemble`): cached and new values into the frames, then the
   ``scope="dataset"`` metrics over whole columns, then one warning summing up the errors.

Metric functions travel to the workers pickled by value with cloudpickle, so functions defined
in a notebook cell work too.
"""
from __future__ import annotations

from pathlib import Path

from ..data.dataset import Dataset
from ..frames import MetricFrames
from ._assemble import _apply_dataset_metric, _assemble, _check_sizes, _warn_errors
from ._keys import Keys, _keys, image_keys, item_keys
from ._plan import Plan, _plan
from ._run import _run, _workers
from ._worker import ImageJob, compute_image, run_batch
from .cache import MetricCache, default_cache_dir
from .pool import shutdown_workers
from .registry import resolve_metrics

# The steps' public names stay importable from here, where they were before the split.
__all__ = ["compute_metrics", "ImageJob", "Keys", "Plan", "compute_image", "image_keys",
           "item_keys", "run_batch", "shutdown_workers", "FLUSH_EVERY_IMAGES",
           "FLUSH_EVERY_SECONDS", "MIN_IMAGES_FOR_POOL"]

# Finished images are written to the cache at least this often, so an interrupted run loses at
# most this much work.
FLUSH_EVERY_IMAGES = 2000
FLUSH_EVERY_SECONDS = 20.0
# Below this many images, a run without an explicit ``workers=`` stays in this process: starting
# worker processes would cost more than it saves.
MIN_IMAGES_FOR_POOL = 64


def compute_metrics(dataset: Dataset, metrics=None, workers: int | None = None,
                    cache_dir=None, progress: bool = True, chunk_size: int | None = None,
                    executor=None) -> MetricFrames:
    """Compute quality metrics of ``dataset`` into :class:`MetricFrames`.

    ``metrics``: None (every built-in and decorated metric), or names / decorated functions /
    metric files. ``workers``: processes of the kept local pool (default: the cores; 1
    computes in this process). ``executor``: run the batches elsewhere instead: any
    :class:`concurrent.futures.Executor`, or a Dask ``distributed.Client`` (the whole
    cluster); images are then read by the workers, from paths they can see or from fsspec
    URLs. ``cache_dir``: where results persist as Parquet (default
    ``~/.cache/quality-widgets``, or ``$QUALITY_WIDGETS_CACHE``); ``False`` disables caching. A
    second run recomputes nothing, a new metric computes only itself, an interrupted run
    resumes. ``progress``: a tqdm bar of batches (a widget in Jupyter). ``chunk_size``: images
    per batch, one task each (default: about eight batches per worker, at most 32 images
    each). Bad images and metrics that raise mark the row's ``error`` column; the run always
    finishes, and one :class:`~quality_widgets.DataWarning` sums up the errors.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"compute_metrics needs a quality_widgets.Dataset, got "
                        f"{type(dataset).__name__}")
    specs = resolve_metrics(metrics)
    item_specs = [m for m in specs if m.scope == "item"]
    cache = _open_cache(cache_dir, dataset)
    keys = _keys(dataset)
    plan = _plan(dataset, item_specs, keys, cache)

    n_total = len(dataset.images)
    stats = {"images": n_total, "computed": len(plan.jobs),
             "from_cache": n_total - len(plan.jobs), "errors": 0, "workers": 1}
    results = []
    if plan.jobs:
        where = _workers(executor, workers, len(plan.jobs), MIN_IMAGES_FOR_POOL)
        stats["workers"] = where.slots if where is not None else 1
        results = _run(plan.jobs, {(m.level, m.key): m for m in item_specs}, where, cache,
                       chunk_size, progress, (FLUSH_EVERY_IMAGES, FLUSH_EVERY_SECONDS))

    out = _assemble(dataset, plan, keys, results)
    frames = MetricFrames(images=out["image"], objects=out["object"],
                          predictions=out["prediction"], dataset=dataset,
                          metrics={m.name: m for m in specs},
                          cache_dir=Path(cache.dir) if cache is not None else None, stats=stats)
    _check_sizes(frames.images, dataset.images)
    for m in specs:
        if m.scope == "dataset":
            _apply_dataset_metric(frames, m)
    stats["errors"] = int(frames.images["error"].notna().sum())
    _warn_errors(frames)
    return frames


def _open_cache(cache_dir, dataset: Dataset) -> MetricCache | None:
    if cache_dir is False:
        return None
    return MetricCache(default_cache_dir() if cache_dir is None else cache_dir,
                       dataset.images_dir)

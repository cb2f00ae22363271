"""Step 3 of :func:`~quality_widgets.compute.engine.compute_metrics`, run: batches of jobs
on the kept worker pool, any executor or a Dask cluster (:mod:`.pool`), or in this process;
finished images go to the Parquet cache as they arrive, so an interrupted run keeps its work.

How often the cache is written and from how many images a pool pays for itself are the
engine's settings (``engine.FLUSH_EVERY_IMAGES``, ``FLUSH_EVERY_SECONDS``,
``MIN_IMAGES_FOR_POOL``), passed in by the engine.
"""
from __future__ import annotations

import contextlib
import math
import time
import uuid
import warnings

from ._assemble import _cache_frame
from ._worker import _dead_worker_results, compute_image, run_batch
from .cache import MetricCache
from .pool import Workers, as_workers, default_workers, local_workers, run_batches


class _Collector:
    """Receives finished batches: keeps their results, moves the progress bar (batches, and
    images in its label) and writes complete images to the cache every ``flush_images``
    images or ``flush_seconds`` (the engine's FLUSH_EVERY_IMAGES, FLUSH_EVERY_SECONDS)."""

    def __init__(self, cache: MetricCache | None, bar, n_images: int, flush_images: int,
                 flush_seconds: float):
        self.cache, self.bar, self.n_images = cache, bar, n_images
        self.flush_images, self.flush_seconds = flush_images, flush_seconds
        self.results: list = []
        self.pending: list = []
        self.last_write = time.monotonic()

    def __call__(self, batch_results: list) -> None:
        self.results.extend(batch_results)
        self.pending.extend(r for r in batch_results if not r["decode_error"])
        self.bar.update(1)
        self.bar.set_postfix_str(f"{len(self.results)}/{self.n_images} images", refresh=False)
        if (len(self.pending) >= self.flush_images
                or time.monotonic() - self.last_write > self.flush_seconds):
            self.flush()

    def flush(self) -> None:
        if self.cache is not None and self.pending:
            frame, covered = _cache_frame(self.pending)
            try:
                self.cache.write(frame, covered)
            except OSError as e:
                warnings.warn(f"could not write the metric cache in {self.cache.dir}: {e}",
                              RuntimeWarning, stacklevel=4)
        self.pending, self.last_write = [], time.monotonic()


def _workers(executor, workers, n_jobs: int, min_images: int) -> Workers | None:
    """Where the batches run: the user's executor; the kept local pool; or None (this
    process: one worker asked for, or fewer than ``min_images`` images to compute, too few to
    pay for starting processes)."""
    if executor is not None:
        return as_workers(executor)
    n = default_workers() if workers is None else max(1, int(workers))
    if n > 1 and (workers is not None or n_jobs >= min_images):
        return local_workers(n)
    return None


def _run(jobs: list, spec_map: dict, workers: Workers | None, cache, batch_size,
         progress: bool, flush_every: tuple) -> list:
    """Results of every job, batch by batch on ``workers`` (None: in this process);
    ``flush_every``: (images, seconds) between cache writes."""
    from tqdm.auto import tqdm
    slots = workers.slots if workers is not None else 1
    if batch_size is None:
        batch_size = max(1, min(32, math.ceil(len(jobs) / (slots * 8))))
    batches = [jobs[i:i + batch_size] for i in range(0, len(jobs), batch_size)]
    bar = tqdm(total=len(batches), desc="quality metrics", unit="batch", disable=not progress,
               leave=True)
    collect = _Collector(cache, bar, len(jobs), *flush_every)
    try:
        if workers is None:
            for batch in batches:
                collect([compute_image(job, spec_map) for job in batch])
        else:
            import cloudpickle
            payload = (uuid.uuid4().hex, cloudpickle.dumps(spec_map))
            run_batches(batches, run_batch, (payload,), workers, collect,
                        lost=_dead_worker_results)
    finally:
        collect.flush()   # an interrupted run keeps every finished image
        bar.close()
    if cache is not None:
        with contextlib.suppress(OSError):
            cache.compact()
    return collect.results

"""How the resampling is drawn and run: permutations, bootstrap resamples, random halves.

Draws come in chunks of :data:`CHUNK`, each with its own child seed
(``SeedSequence(seed).spawn``), so that a run's numbers do not depend on how many processes
drew them. The chunks run in forked workers that inherit the split (its matching tables are
large): :func:`~quality_widgets.compute.pool.run_forked`. The permutations stop by Besag and
Clifford's sequential rule (:func:`~quality_widgets.analysis.statistics.sequential_stop`) when
the test asks for it. What a chunk measures is the split's (:class:`._split._Split`).
"""
from __future__ import annotations

import numpy as np

from ...compute.pool import can_fork, run_forked
from ..statistics import sequential_stop

CHUNK = 25          # permutations / resamples per task: the unit of progress and of work


def seed64(seed) -> int:
    """A 64-bit integer seed from a seed or SeedSequence (for the compiled generators)."""
    if not isinstance(seed, np.random.SeedSequence):
        seed = np.random.SeedSequence(seed)
    return int(seed.generate_state(1, np.uint64)[0])


def half_weights(rng, images: np.ndarray, n_images: int, n: int, clusters=None) -> np.ndarray:
    """[2n, n_images] 0/1 rows: for each of n random splits of ``images`` in two halves, the
    first half then the second. ``clusters`` (a code per entry of ``images``, e.g. the video
    of each frame, :func:`~quality_widgets.analysis.statistics.cluster_labels`): halves of the
    clusters, each image with its cluster."""
    w = np.zeros((2 * n, n_images), dtype=np.int64)
    if clusters is None:
        half = len(images) // 2
        for i in range(n):
            perm = rng.permutation(images)
            w[2 * i, perm[:half]] = 1
            w[2 * i + 1, perm[half:]] = 1
        return w
    clusters = np.asarray(clusters, dtype=np.int64)
    codes = np.unique(clusters)
    for i in range(n):
        first = np.isin(clusters, rng.permutation(codes)[:len(codes) // 2])
        w[2 * i, images[first]] = 1
        w[2 * i + 1, images[~first]] = 1
    return w


def chunks(n: int) -> list:
    """The sizes of the chunks of ``n`` draws: :data:`CHUNK` each, the last one smaller."""
    return [min(CHUNK, n - i) for i in range(0, n, CHUNK)]


def _seeded_chunks(seed, n: int) -> list:
    """``(child seed, size)`` of each chunk of ``n`` draws."""
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    sizes = chunks(n)
    return list(zip(root.spawn(len(sizes)), sizes, strict=True))


def progress_reporter(progress, total: int):
    """``report(done)`` for ``progress``: a ``callable(done, total)``, True for a tqdm bar (a
    widget in Jupyter, a line on stderr elsewhere, as the engine's), or False for none."""
    if callable(progress):
        return lambda done: progress(done, total)
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, desc="resampling", unit="draw", leave=False)

        def report(done):
            bar.update(done - bar.n)
            if done >= total:
                bar.close()
        return report
    return lambda done: None


# ---- the chunks of draws, as tasks of run_forked: (split, edges, state, side_weights) shared --
def _permutation_task(shared, chunk) -> np.ndarray:
    split, edges, _, _ = shared
    seed, n = chunk
    return split.permutations(edges, seed, n)


def _bootstrap_task(shared, chunk) -> np.ndarray:
    split, edges, state, side_weights = shared
    seed, n = chunk
    return split.bootstrap(edges, state, side_weights, seed, n)


def _halves_task(shared, chunk) -> np.ndarray:
    split, edges, state, side_weights = shared
    seed, n = chunk
    return split.half_differences(edges, state, side_weights, seed, n)


def _stack(results: list, n_sides: int) -> np.ndarray:
    return np.concatenate(results) if results else np.zeros((0, n_sides))


def permute(split, edges, state, side_weights, observed, n_max, h, seed, workers,
            progress) -> np.ndarray:
    """[n, sides] permutation measures: ``n_max`` of them, or fewer when Besag and
    Clifford's rule (``h`` exceedances of ``|observed|``) stops the stream. Chunks get their
    own child seeds: results do not depend on ``workers``."""
    n_sides = len(edges) - 1
    tasks = _seeded_chunks(seed, n_max)
    stop = None
    if h:
        def stop(results):
            perm = _stack(results, n_sides)
            return sequential_stop(observed, perm[:, 1] - perm[:, 0], h) is not None
    if split.level == "object" and can_fork(workers) and len(tasks) > 1:
        split.permutations(edges, 0, 1)      # tables and compiled code, before forking
    results = run_forked(_permutation_task, (split, edges, state, side_weights), tasks,
                         workers, progress_reporter(progress, len(tasks)), stop)
    return _stack(results, n_sides)


def bootstrap(split, edges, state, side_weights, n, seed, workers) -> np.ndarray:
    """[n, sides] measures on ``n`` bootstrap resamples of the images."""
    results = run_forked(_bootstrap_task, (split, edges, state, side_weights),
                         _seeded_chunks(seed, n), workers)
    return _stack(results, len(edges) - 1)


def halves(split, edges, state, side_weights, n, seed, progress) -> np.ndarray:
    """[n, sides] ``m(H) - m(H')`` of each side for ``n`` random halves (this process)."""
    tasks = _seeded_chunks(seed, n)
    results = run_forked(_halves_task, (split, edges, state, side_weights), tasks, 1,
                         progress_reporter(progress, len(tasks)))
    return _stack(results, len(edges) - 1)

"""Does a quality metric affect model performance? Split, measure, permute.

The question "does object redness influence the mAP of my detector" is answered by splitting
the dataset at a threshold T of the metric and comparing a COCO measure on the two sides:

- an **image-level** metric (a column of ``metrics.images``) splits images: ``below`` = images
  with ``metric < T``, ``above`` = ``metric >= T``. Each side is evaluated on its images (image
  weights 0/1: the same as pycocotools with ``params.imgIds`` = the side's images).
- an **object-level** metric (a column of ``metrics.objects`` *and* ``metrics.predictions``)
  splits objects the way :meth:`Evaluator.evaluate` applies ``object_range`` and pycocotools
  an area range: ``below`` = [min, T), ``above`` = [T, +inf). GT outside the side is ignored
  (and so is a detection matched to it); unmatched detections whose own value is outside are
  ignored. Equivalent to pycocotools with each annotation's and prediction's ``area`` replaced
  by the metric value and ``areaRng = [[lo, nextafter(hi, -inf)]]``. A column that exists only
  for annotations is refused (:class:`ValueError`): without a value per prediction, false
  positives could not be assigned to a side, and dropping them would inflate precision.

A name that is a column at both levels (``metrics.images["x"]`` and ``metrics.objects["x"]``)
needs ``level="image"`` or ``level="object"``: it is never resolved silently.
Objects (or images) whose value is NaN belong to neither side.

The statistic is ``d = measure(above) - measure(below)``.

- **p-value**: permutation test of the null "performance does not depend on the metric".
  Image metrics: the metric values are shuffled across images (the images, their boxes and
  predictions stay). Object metrics: the values are shuffled across all annotation rows and,
  independently, across all prediction rows (every box stays in its image with its category
  and score; only which value belongs to which box changes), and each side is matched again
  (:meth:`Evaluator.measure_labelled`, which reuses every part of the matching the labels do
  not change). ``p = (1 + #{|d*| >= |d|}) / (1 + N)``, two-sided; with a ``resolution``, the
  permutations stop by Besag and Clifford's sequential rule (see
  :func:`~quality_widgets.analysis.statistics.permutation_test`).
- **95% interval** (``ci_method="permutation"``, the default): the inversion of the same
  test, ``d +- c`` with c a quantile of ``|d*|``: the shifts of the difference that the
  permutation test would not reject. It excludes 0 exactly when ``p < 0.05``. On
  ``../shared/coco128`` with the shared detector, over pure-noise metrics split at the 25th,
  50th and 75th percentiles, it covered 0 as often as the test is calibrated (README,
  "Hypothesis tests"); the image bootstrap (``ci_method="basic"`` or ``"percentile"``,
  images resampled with replacement, each side re-accumulated with the counts as image
  weights) covered 0 in only about 80% there: duplicated images are not new images, and mAP
  averages over categories with a handful of boxes each. The bootstrap methods stay
  available; their interval and the p-value can then disagree, and the result says the
  p-value decides.

In a video dataset (a ``video`` column in ``dataset.images``), frames are not independent: an
image split permutes whole videos (:func:`~.statistics.cluster_permutation`, a video-level
split then gets the same p-value whatever the number of frames per video), and the curve's
intervals split whole videos in halves; an object split still shuffles boxes one by one
(:data:`VIDEO_OBJECT_NOTE` in the result).

A side with fewer than :data:`MIN_ANNOTATIONS` counted annotations is flagged ``too_small``:
no interval or p-value is computed and the summary says so. Permutations where a side has no
counted ground truth (the measure is pycocotools' -1, here NaN) are dropped and counted.

Every measure comes from the evaluation engine's public measure API
(:meth:`Evaluator.measure_many` for image weightings, :meth:`Evaluator.measure_labelled` for
object labellings): the same doubles as ``evaluate_masks(...).stats``.
"""
from __future__ import annotations

import json
import math
import multiprocessing
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataWarning
from ..evaluation import MEASURES as _MEASURE_SPECS
from ..evaluation import Evaluator
from ..evaluation.measures import measure_spec, measures_for
from ..frames import MetricFrames, numeric_metric_columns
from ..jsonsafe import json_safe
from ..slicing import bin_masks, column_values
from .statistics import (
    SEQUENTIAL_H,
    benjamini_hochberg,
    bootstrap_ci,
    cluster_labels,
    cluster_permutation,
    finite,
    half_sample_interval,
    holm,
    permutation_test,
)

#: A side needs at least this many counted annotations to be tested.
MIN_ANNOTATIONS = 20
#: Below this many counted annotations on a side, the result carries :data:`SMALL_SIDE_NOTE`.
SMALL_SIDE = 100
#: What the interval promises on a small side (measured on coco128, see the README).
SMALL_SIDE_NOTE = (
    "few boxes on a side: the p-value and the interval are exact when the metric has no "
    "effect, whatever the size; with an effect, the interval assumes the spread of the "
    "difference does not change, which holds less well with a handful of boxes per category")

#: What an object split of a video dataset promises (image splits permute whole videos).
VIDEO_OBJECT_NOTE = (
    "video frames are not independent, and an object split shuffles boxes one by one across "
    "frames: read the p-value and the interval as optimistic")

#: The measures by name: the 12 COCO numbers, and precision / recall at IoU .5 and a score
#: (``iou_type`` "bbox" and "segm"; :func:`measure_names` gives those of an iou_type).
MEASURES = tuple(_MEASURE_SPECS)
#: How each ``iou_type`` matches a prediction to a label.
IOU_TYPES = ("bbox", "segm", "keypoints")


def measure_names(iou_type: str = "bbox") -> tuple:
    """The measure names of ``iou_type``: :data:`MEASURES` for "bbox" and "segm", and for
    "keypoints" pycocotools' 10 keypoint numbers (AP, AP50, AP75, APm, APl, AR, AR50, AR75,
    ARm, ARl) and precision / recall."""
    return tuple(measures_for(iou_type))


def evaluator_for(dataset, evaluator=None, iou_type: str | None = None) -> Evaluator:
    """The :class:`Evaluator` an analysis uses: ``evaluator`` when given (its ``iou_type``
    must be ``iou_type`` when both are given: ValueError otherwise), else a new one of
    ``dataset`` with ``iou_type`` (default "bbox")."""
    if iou_type is not None and iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {', '.join(IOU_TYPES)}, got {iou_type!r}")
    if evaluator is None:
        return Evaluator(dataset, iou_type=iou_type or "bbox")
    if iou_type is not None and evaluator.iou_type != iou_type:
        raise ValueError(f"the evaluator given evaluates iou_type={evaluator.iou_type!r}, not "
                         f"iou_type={iou_type!r}: pass one of the same iou_type, or leave "
                         "iou_type out to use the evaluator's")
    return evaluator
#: Interval methods of :func:`test_hypothesis`.
CI_METHODS = ("permutation", "basic", "percentile")
CORRECTIONS = ("holm", "bh")
_CHUNK = 25          # permutations / resamples per task: the unit of progress and of work


@dataclass
class Side:
    """One side of the split: counts and the measure (NaN when undefined).

    ``n_images``: images of the side (image split), or images holding at least one of the
    side's counted annotations (object split). ``n_annotations``: counted GT (not crowd, in
    the side, in the measure's area range and category). ``n_categories``: categories with
    counted GT, the ones the measure averages over. ``n_predictions``: predictions in the
    side's images (image split) or whose own value is in the side's range (object split), of
    the measure's category if one is chosen.
    """

    n_images: int
    n_annotations: int
    n_predictions: int
    value: float
    n_categories: int = 0


@dataclass
class HypothesisResult:
    """Outcome of :func:`test_hypothesis` (see the module doc for the method).

    ``permutations``: permutations drawn (``permutations_dropped`` of them undefined);
    ``min_p``: the smallest p-value they (or the cap, with a ``resolution``) can give;
    ``stopped_early``: Besag-Clifford stop. ``resamples``: bootstrap resamples (0 for the
    permutation interval). ``decides``: "both" (the interval inverts the test: they agree),
    or "p_value" (a bootstrap interval, which may disagree with it). ``note``: the small-side
    note (:data:`SMALL_SIDE_NOTE`) or a disagreement, else None. ``iou_type``: the matching
    the measure used ("bbox", "segm" masks, "keypoints" OKS).
    """

    metric: str
    level: str                  # "image" or "object"
    threshold: float
    measure: str
    category: object            # category id or None
    below: Side
    above: Side
    difference: float           # above.value - below.value
    ci95: tuple                 # (low, high) of the difference; NaN when too small
    p_value: float
    summary: str
    too_small: bool
    too_small_message: str | None
    resamples: int
    permutations: int
    bootstrap_dropped: int = 0
    permutations_dropped: int = 0
    ci_method: str = "permutation"
    n_excluded: int = 0          # NaN-valued annotations (object) or images (image split)
    min_p: float = math.nan
    stopped_early: bool = False
    decides: str = "both"
    note: str | None = None
    iou_type: str = "bbox"       # how predictions matched labels: "bbox", "segm", "keypoints"
    bootstrap_differences: np.ndarray = field(default=None, repr=False)
    permutation_differences: np.ndarray = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """A JSON-safe dict (NaN and inf as None), without the replicate arrays."""
        out = {k: v for k, v in asdict(self).items()
               if k not in ("bootstrap_differences", "permutation_differences")}
        return json_safe(out)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def table(self) -> pd.DataFrame:
        """Two rows (below, above): images, annotations, categories, predictions, measure."""
        index = [f"{self.metric} < {self.threshold:.4g}", f"{self.metric} >= {self.threshold:.4g}"]
        columns = ["n_images", "n_annotations", "n_categories", "n_predictions", "value"]
        return pd.DataFrame([asdict(self.below), asdict(self.above)], index=index)[
            columns].rename(columns={"value": self.measure})


# ---- measures from a matching ----------------------------------------------------------------
class _Measure:
    """One named measure (:data:`MEASURES`) of an evaluator's matchings, for any image
    weights: :meth:`Evaluator.measure_many`, whose numbers are pycocotools' (the same doubles
    as ``evaluate_masks(...).stats``). Weights here are per image *position* (sorted ids)."""

    def __init__(self, evaluator: Evaluator, name: str, category=None,
                 score_threshold: float = 0.5):
        self.spec = measure_spec(name, iou_type=evaluator.iou_type)   # ValueError naming all
        self.ev, self.inputs = evaluator, evaluator.inputs
        self.name = self.spec.name
        self.area = self.spec.area          # area range label
        self.score_threshold = float(score_threshold)
        self.k = None if category is None else evaluator.category_index(category)
        self.category = None if category is None else int(self.inputs.category_ids[self.k])

    def rows(self, weights: np.ndarray) -> np.ndarray:
        """Weights per image position -> per ``dataset.images`` row (the evaluator's input)."""
        return weights[..., self.inputs.image_pos_of_row]

    def many(self, state, weights, slice_index: int = 0) -> np.ndarray:
        """[B] the measure under each row of ``weights`` [B, n_images] (positions), NaN where
        pycocotools gives -1 (no counted GT)."""
        return self.ev.measure_many(state, self.rows(weights), self.name, self.category,
                                    self.score_threshold, slice_index)

    def counted_gt(self, state, slice_index: int, weights=None) -> np.ndarray:
        """[K] counted (non-ignored) GT per category, with image multiplicities (positions)."""
        return self.ev.counted_gt(state, None if weights is None else self.rows(weights),
                                  self.area, slice_index)


def _labels(values: np.ndarray, edges) -> np.ndarray:
    """The range index of each value (see :func:`~quality_widgets.slicing.bin_masks`), -1 for
    none."""
    out = np.full(len(values), -1, dtype=np.int64)
    for i, mask in enumerate(bin_masks(values, edges)):
        out[mask] = i
    return out


def _seed64(seed) -> int:
    """A 64-bit integer seed from a seed or SeedSequence (for the compiled generators)."""
    if not isinstance(seed, np.random.SeedSequence):
        seed = np.random.SeedSequence(seed)
    return int(seed.generate_state(1, np.uint64)[0])


class _Split:
    """The two (or more) sides of a split, evaluable for any permutation / resample.

    Image split: one matching (every object counted), sides are image weights 0/1.
    Object split: one matching whose slices are the sides (:meth:`Evaluator.slices_state`);
    permutations relabel objects (:meth:`Evaluator.measure_labelled`).
    """

    def __init__(self, evaluator: Evaluator, measure: _Measure, level: str, values,
                 pred_values=None, clusters=None):
        self.ev, self.measure, self.level = evaluator, measure, level
        self.clusters = clusters      # video of each image position (None: all independent)
        self.inputs = evaluator.inputs
        self.values = np.asarray(values, dtype=float)     # per image position / annotation row
        self.pred_values = None if pred_values is None else np.asarray(pred_values, float)
        if level == "image":
            self._image_state = evaluator.state()

    # -- one split ----------------------------------------------------------------------
    def state(self, edges, values=None, pred_values=None):
        """(state, side image masks) for the ranges ``edges`` of the given values."""
        values = self.values if values is None else values
        if self.level == "image":
            return self._image_state, [m.astype(np.int64) for m in bin_masks(values, edges)]
        pred_values = self.pred_values if pred_values is None else pred_values
        state = self.ev.slices_state(bin_masks(values, edges),
                                     bin_masks(pred_values, edges), self.measure.area)
        return state, None

    def values_many(self, state, side_weights, weights) -> np.ndarray:
        """[B, sides] the measure on every side, with image multiplicities ``weights``
        [B, n_images] (positions)."""
        if self.level == "image":
            return np.stack([self.measure.many(state, weights * sw) for sw in side_weights],
                            axis=1)
        return np.stack([self.measure.many(state, weights, i)
                         for i in range(len(state.rows))], axis=1)

    def values_of(self, state, side_weights, weights=None) -> np.ndarray:
        """The measure on every side, with image multiplicities ``weights`` (None = 1)."""
        if weights is None:
            weights = np.ones(len(self.inputs.image_ids), dtype=np.int64)
        return self.values_many(state, side_weights, np.asarray(weights)[None])[0]

    def sides(self, edges, state, side_weights) -> list:
        """:class:`Side` counts and values of the observed split."""
        inputs, measure = self.inputs, self.measure
        values = self.values_of(state, side_weights)
        out = []
        for r, value in enumerate(values):
            if self.level == "image":
                slice_index, w = 0, side_weights[r]
                n_images = int(w.sum())
                dt_in = w[inputs.dt_image].astype(bool)
            else:
                slice_index, w = r, None
                dt_in = bin_masks(self.pred_values[inputs.dt_row], edges)[r]
            npig = measure.counted_gt(state, slice_index, w)
            counted = state.gt_counted[state.row_of(measure.area, slice_index)] & (
                True if w is None else w[inputs.gt_image].astype(bool))
            if measure.k is not None:
                counted &= inputs.gt_cat == measure.k
                dt_in = dt_in & (inputs.dt_cat == measure.k)
                npig = npig[measure.k:measure.k + 1]
            if self.level == "object":
                n_images = len(np.unique(inputs.gt_image[counted]))
            out.append(Side(n_images=n_images, n_annotations=int(npig.sum()),
                            n_predictions=int(dt_in.sum()), value=float(value),
                            n_categories=int(np.count_nonzero(npig))))
        return out

    # -- resampling ---------------------------------------------------------------------
    def bootstrap(self, edges, state, side_weights, seed, n) -> np.ndarray:
        """[n, sides] measures on ``n`` bootstrap resamples of the images (one batched
        measure per side)."""
        if n == 0:
            return np.empty((0, len(edges) - 1))
        rng = np.random.default_rng(seed)
        n_img = len(self.inputs.image_ids)
        weights = np.stack([rng.multinomial(n_img, np.full(n_img, 1.0 / n_img))
                            for _ in range(n)])
        return self.values_many(state, side_weights, weights)

    def permutations(self, edges, seed, n) -> np.ndarray:
        """[n, sides] measures with the metric values shuffled (see the module doc)."""
        n_sides = len(edges) - 1
        if n == 0:
            return np.empty((0, n_sides))
        if self.level == "image":
            # The matching does not change: only which images are on which side. All n
            # permutations are one batched measure per side.
            rng = np.random.default_rng(seed)
            if self.clusters is None:
                sides = [bin_masks(rng.permutation(self.values), edges) for _ in range(n)]
            else:
                sides = [bin_masks(cluster_permutation(self.values, self.clusters, rng), edges)
                         for _ in range(n)]
            return np.stack([self.measure.many(self._image_state,
                                               np.array([p[s] for p in sides], dtype=np.int64))
                             for s in range(n_sides)], axis=1).reshape(n, -1)
        measure = self.measure
        pred_values = self.pred_values if self.pred_values is not None else \
            np.zeros(self.inputs.n_predictions)
        return self.ev.measure_labelled(_labels(self.values, edges), _labels(pred_values, edges),
                                        n_sides, measure.name, measure.category,
                                        measure.score_threshold, permutations=n,
                                        seed=_seed64(seed))

    def half_differences(self, edges, state, side_weights, seed, n) -> np.ndarray:
        """[n, sides] ``m(H) - m(H')`` for random halves H, H' of each side's images (image
        split) or of all images (object split): see :func:`slice_interval`."""
        rng = np.random.default_rng(seed)
        n_img = len(self.inputs.image_ids)
        n_sides = len(edges) - 1
        out = np.empty((n, n_sides))
        for s in range(n_sides):
            images = np.flatnonzero(side_weights[s]) if self.level == "image" else \
                np.arange(n_img)
            clusters = None if self.clusters is None else self.clusters[images]
            halves = _half_weights(rng, images, n_img, n, clusters)
            if self.level == "image":
                v = self.measure.many(state, halves)
            else:
                v = self.measure.many(state, halves, s)
            out[:, s] = v[0::2] - v[1::2]
        return out


def _half_weights(rng, images: np.ndarray, n_images: int, n: int, clusters=None
                  ) -> np.ndarray:
    """[2n, n_images] 0/1 rows: for each of n random splits of ``images`` in two halves, the
    first half then the second. ``clusters`` (a code per entry of ``images``, e.g. the video
    of each frame, :func:`~.statistics.cluster_labels`): halves of the clusters, each image
    with its cluster."""
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


def slice_interval(evaluator: Evaluator, state, measure: str = "AP", images=None,
                   slice_index: int = 0, resamples: int = 200, seed: int = 0,
                   level: float = 0.95, category=None, score_threshold: float = 0.5,
                   iou: float | None = None, clusters=None) -> tuple[float, float, int]:
    """Interval of one slice's measure: ``(low, high, dropped)``.

    ``state``: the slice's matching (:meth:`Evaluator.state` / :meth:`slices_state`, with
    ``slice_index``); ``images``: bool per ``dataset.images`` row, the slice's images (None:
    all); ``measure``, ``category``, ``score_threshold``, ``iou``: as
    :meth:`Evaluator.measure_many`. The images are split ``resamples`` times into two random
    halves H, H' (``clusters``, one code per image of the slice: halves of the clusters, the
    frames of a video staying together) and the measure taken on each (0/1 image weights);
    the interval is :func:`~quality_widgets.analysis.statistics.half_sample_interval` of the
    estimate and the differences ``m(H) - m(H')`` (undefined ones dropped and counted). Like
    the permutation interval of a difference, it draws without replacement: no image is
    duplicated, as the image bootstrap does, which made the bootstrap's interval too narrow
    on coco128 (README, "Hypothesis tests").
    """
    ev = evaluator
    n_rows = ev.inputs.n_images
    if images is None:
        rows = np.arange(n_rows)
    else:
        images = np.asarray(images, dtype=bool)
        if images.shape != (n_rows,):
            raise ValueError(f"images must be a mask with one entry per image ({n_rows})")
        rows = np.flatnonzero(images)
    if clusters is not None and len(clusters) != len(rows):
        raise ValueError(f"clusters must hold one code per image of the slice ({len(rows)})")
    weights = np.zeros(n_rows, dtype=np.int64)
    weights[rows] = 1

    def many(w):
        return ev.measure_many(state, w, measure, category, score_threshold, slice_index,
                               iou=iou)

    estimate = float(many(weights[None])[0])
    n_units = len(rows) if clusters is None else len(np.unique(clusters))
    if resamples <= 0 or n_units < 2:
        return math.nan, math.nan, 0
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, resamples, _CHUNK):
        n = min(_CHUNK, resamples - start)
        v = many(_half_weights(rng, rows, n_rows, n, clusters))
        values.append(v[0::2] - v[1::2])
    differences, dropped = finite(np.concatenate(values))
    lo, hi = half_sample_interval(estimate, differences, level)
    return lo, hi, dropped


# Set in the parent before forking: workers inherit the split instead of pickling it.
_ACTIVE = {}


def _run_task(task):
    # The split's state (matching, cached records) is inherited, never pickled per task.
    kind, seed, n = task
    split, edges, state, side_weights = _ACTIVE["split"]
    if kind == "bootstrap":
        return kind, split.bootstrap(edges, state, side_weights, seed, n)
    if kind == "halves":
        return kind, split.half_differences(edges, state, side_weights, seed, n)
    return kind, split.permutations(edges, seed, n)


def _can_fork(workers) -> bool:
    return bool(workers and workers > 1 and
                "fork" in multiprocessing.get_all_start_methods())


def _run_tasks(split, tasks, workers, progress, stop=None):
    """Run (kind, seed, n) tasks in order, in ``workers`` forked processes when > 1.

    ``split`` = (split, edges, state, side_weights). ``stop(results)``: checked after each
    wave of ``workers`` tasks; True ends the run (the remaining tasks are not run)."""
    total = len(tasks)
    report = _progress_reporter(progress, total)
    results = []
    _ACTIVE["split"] = split
    try:
        if _can_fork(workers) and total > 1:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                if stop is None:
                    for done, result in enumerate(pool.imap(_run_task, tasks), 1):
                        results.append(result)
                        report(done)
                    return results
                for start in range(0, total, workers):
                    results += pool.map(_run_task, tasks[start:start + workers])
                    report(len(results))
                    if stop(results):
                        break
            return results
        for task in tasks:
            results.append(_run_task(task))
            report(len(results))
            if stop is not None and stop(results):
                break
    finally:
        _ACTIVE.clear()
    return results


def _progress_reporter(progress, total):
    if callable(progress):
        return lambda done: progress(done, total)
    if progress:        # tqdm: a widget in Jupyter, a line on stderr elsewhere (as the engine)
        from tqdm.auto import tqdm
        bar = tqdm(total=total, desc="resampling", unit="draw", leave=False)

        def report(done):
            bar.update(done - bar.n)
            if done >= total:
                bar.close()
        return report
    return lambda done: None


def _chunks(n: int) -> list:
    return [min(_CHUNK, n - i) for i in range(0, n, _CHUNK)]


def _stack(results, kind, n_sides) -> np.ndarray:
    parts = [r for k, r in results if k == kind]
    return np.concatenate(parts) if parts else np.zeros((0, n_sides))


def _permute(split, edges, state, side_weights, observed, n_max, h, seed, workers,
             progress) -> np.ndarray:
    """[n, sides] permutation measures: ``n_max`` of them, or fewer when Besag and
    Clifford's rule (``h`` exceedances of ``|observed|``) stops the stream. Chunks get their
    own child seeds (``SeedSequence(seed).spawn``): results do not depend on ``workers``."""
    n_sides = len(edges) - 1
    sizes = _chunks(n_max)
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    seqs = root.spawn(len(sizes))
    tasks = [("permutation", s, n) for s, n in zip(seqs, sizes, strict=True)]
    stop = None
    if h:
        def stop(results):
            perm = _stack(results, "permutation", n_sides)
            d, _ = finite(perm[:, 1] - perm[:, 0])
            return int(np.sum(np.abs(d) >= abs(observed) * (1 - 1e-12))) >= h
    if split.level == "object" and _can_fork(workers) and len(tasks) > 1:
        split.permutations(edges, 0, 1)      # tables and compiled code, before forking
    results = _run_tasks((split, edges, state, side_weights), tasks, workers, progress, stop)
    return _stack(results, "permutation", n_sides)


# ---- inputs ----------------------------------------------------------------------------------
def _dataset_and_metrics(dataset, metrics, needed=None):
    from ..data.dataset import Dataset
    if isinstance(dataset, MetricFrames):
        dataset, metrics = metrics if isinstance(metrics, Dataset) else dataset.dataset, dataset
    if not isinstance(dataset, Dataset):
        raise TypeError(f"expected a quality_widgets.Dataset, got {type(dataset).__name__}")
    if metrics is None:
        from ..compute.engine import compute_metrics
        metrics = compute_metrics(dataset, metrics=needed, progress=False)
    if not isinstance(metrics, MetricFrames):
        raise TypeError(f"metrics must be MetricFrames (from compute_metrics), got "
                        f"{type(metrics).__name__}")
    return dataset, metrics


LEVELS = ("image", "object")


def metric_levels(metrics: MetricFrames, metric: str) -> list:
    """The levels ("image", "object") at which ``metric`` is a column that could split (a
    column of ``metrics.images``; of ``metrics.objects``), whether or not it can."""
    out = []
    if metric in metrics.images.columns:
        out.append("image")
    if metric in metrics.objects.columns:
        out.append("object")
    return out


def metric_level(metrics: MetricFrames, metric: str, level: str | None = None) -> str:
    """"image" or "object": how ``metric`` splits the data (see the module doc).

    ``level``: "image" or "object" (required when ``metric`` is a column of both
    ``metrics.images`` and ``metrics.objects``; None otherwise picks the only one). Raises
    KeyError for an unknown column, ValueError for an ambiguous name without ``level``, a
    non-numeric column, one that exists only on predictions, or only on annotations (a split
    needs a value per prediction too).
    """
    if level is not None and level not in LEVELS:
        raise ValueError(f"level must be 'image' or 'object', got {level!r}")
    levels = metric_levels(metrics, metric)
    if level is None and len(levels) > 1:
        raise ValueError(
            f"{metric!r} is a column at image level (metrics.images) and at object level "
            f"(metrics.objects): say which one to split on with level='image' or "
            f"level='object'")
    if level == "image" or (level is None and levels == ["image"]):
        if metric not in metrics.images.columns:
            raise KeyError(f"no image-level metric column {metric!r}")
        frame, chosen = metrics.images, "image"
    elif metric in metrics.objects.columns or metric in metrics.predictions.columns:
        if metric not in metrics.objects.columns:
            raise ValueError(
                f"{metric!r} exists only for predictions: splitting ground truth needs its "
                "value on every annotation (metrics.objects)")
        if metric not in metrics.predictions.columns and len(metrics.predictions):
            raise ValueError(
                f"{metric!r} exists for annotations but not for predictions: an object split "
                "needs the value of every prediction too (an unmatched prediction, a false "
                "positive, must be assigned to a side). Compute it at level "
                "('object', 'prediction'), or set metrics.predictions[" f"{metric!r}] by hand")
        frame, chosen = metrics.objects, "object"
    elif level == "object":
        raise KeyError(f"no object-level metric column {metric!r}")
    else:
        metrics.level_of(metric)            # raises KeyError listing the known columns
        raise KeyError(metric)
    if metric not in numeric_metric_columns(frame):
        raise ValueError(f"{metric!r} is not a numeric metric column")
    return chosen


class _Problem:
    """Everything about one (dataset, metric, measure) that does not depend on T."""

    def __init__(self, dataset, metrics, metric, measure, category, score_threshold,
                 evaluator=None, level=None):
        self.level = metric_level(metrics, metric, level)
        self.metric = metric
        self.ev = evaluator if evaluator is not None else Evaluator(dataset)
        self.iou_type = self.ev.iou_type
        self.measure = _Measure(self.ev, measure, category, score_threshold)
        inputs = self.ev.inputs
        if self.level == "image":
            self.values = column_values(metrics, dataset, "image", metric,
                                        pd.Index(inputs.image_ids))
            self.pred_values = None
            self.reference = self.values                  # what the default T is the median of
        else:
            self.values = column_values(metrics, dataset, "object", metric)
            self.pred_values = (column_values(metrics, dataset, "prediction", metric)
                                if metric in metrics.predictions.columns
                                else np.zeros(len(dataset.predictions)))
            self.reference = self.values[inputs.gt_row[~inputs.gt_crowd]]
        # Frames of one video are not independent: image splits permute whole videos.
        clusters = cluster_labels(dataset.images, inputs.image_ids)
        self.clusters = clusters if len(np.unique(clusters)) < len(clusters) else None
        self.split = _Split(self.ev, self.measure, self.level, self.values, self.pred_values,
                            self.clusters)

    def default_threshold(self) -> float:
        ref = self.reference[np.isfinite(self.reference)]
        if len(ref) == 0:
            raise ValueError(f"{self.metric!r} has no finite value to split at")
        return float(np.median(ref))

    def lowest(self) -> float:
        v = [self.values[np.isfinite(self.values)]]
        if self.pred_values is not None:
            v.append(self.pred_values[np.isfinite(self.pred_values)])
        v = np.concatenate(v)
        return float(v.min()) if len(v) else -np.inf

    def n_excluded(self) -> int:
        return int(np.isnan(self.values).sum())


# ---- the test --------------------------------------------------------------------------------
def test_hypothesis(dataset, metrics=None, metric: str = "object_redness", threshold=None,
                    measure: str = "AP", resamples: int = 1000, seed: int = 0, category=None,
                    score_threshold: float = 0.5, progress=False, permutations=None,
                    ci_method: str = "permutation", workers: int = 1, evaluator=None,
                    level: str | None = None, resolution: float | None = None,
                    iou_type: str | None = None) -> HypothesisResult:
    """Test whether ``measure`` differs between ``metric < threshold`` and ``>= threshold``.

    ``dataset``: a Dataset (with annotations and predictions); ``metrics``: its MetricFrames
    (computed with ``compute_metrics(dataset, metrics=[metric])`` when None). ``metric``: any
    numeric column of ``metrics.images`` (splits images) or of ``metrics.objects`` and
    ``metrics.predictions`` (splits objects), built-in, custom or added by hand; ``level``:
    "image" or "object", required when the name is a column at both levels.
    ``threshold``: T (default: the median of the images' values for an image metric, of the
    non-crowd annotations' values for an object metric). ``measure``: one of
    :data:`MEASURES`; with ``category`` (id or name) the measure of that category alone
    (``precision`` / ``recall`` use ``score_threshold``). ``permutations``: permutations of
    the test (default ``resamples``). ``resolution``: instead, the smallest p-value wanted
    (e.g. 1e-3): up to ``ceil(1 / resolution) - 1`` permutations, stopped by Besag and
    Clifford's rule once :data:`~.statistics.SEQUENTIAL_H` of them reach the observed
    difference (a clear null then costs a few dozen). ``ci_method``: "permutation" (the
    inverted test, default), or "basic" / "percentile" (image bootstrap with ``resamples``
    resamples; see the module doc). ``seed``: all randomness. ``progress``: True for a line
    on stderr, or ``callable(done, total)``. ``workers``: processes (fork; 1 = this
    process). ``evaluator``: an :class:`Evaluator` of ``dataset`` to reuse.
    ``iou_type``: how predictions match labels, "bbox" (box IoU, the default), "segm" (mask
    IoU of the ``segmentation`` columns) or "keypoints" (OKS; the measures are then COCO's 10
    keypoint numbers, :func:`measure_names`); default: the ``evaluator``'s, else "bbox". Each
    side is then pycocotools' ``COCOeval(..., iouType)`` on that side.

    Returns a :class:`HypothesisResult`: ``d = value(above) - value(below)``, its 95% interval
    and the two-sided permutation p-value.
    """
    if ci_method not in CI_METHODS:
        raise ValueError(f"unknown ci_method {ci_method!r}: expected one of "
                         f"{', '.join(CI_METHODS)}")
    dataset, metrics = _dataset_and_metrics(dataset, metrics, [metric])
    _require_inputs(dataset, metrics, metric, threshold, level)
    evaluator = evaluator_for(dataset, evaluator, iou_type)
    problem = _Problem(dataset, metrics, metric, measure, category, score_threshold, evaluator,
                       level)
    h = None
    if resolution is not None:
        if permutations is not None:
            raise ValueError("give permutations or resolution, not both")
        if not 0 < resolution < 1:
            raise ValueError(f"resolution must be in (0, 1), got {resolution}")
        permutations, h = max(math.ceil(1 / resolution - 1e-9) - 1, 1), SEQUENTIAL_H
    return _test(problem, threshold, resamples, permutations, seed, progress, ci_method,
                 workers, h)


test_hypothesis.__test__ = False     # not a pytest test, whatever module imports it


def _require_inputs(dataset, metrics, metric, threshold, level=None) -> None:
    """Refuse, before any work, what would make a number out of nothing: no labels, no
    predictions (DatasetError), a threshold outside the metric's values, which leaves a side
    empty (ValueError)."""
    from ..data.checks import require_labels, require_predictions
    require_labels(dataset, "the hypothesis test")
    require_predictions(dataset, "the hypothesis test")
    if threshold is None:
        return
    level = metric_level(metrics, metric, level)
    frame = metrics.images if level == "image" else metrics.objects
    values = pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if len(values) and not values.min() < float(threshold) <= values.max():
        raise ValueError(
            f"threshold {threshold:g} is outside the values of {metric} ({values.min():.4g} to "
            f"{values.max():.4g} over the {'images' if level == 'image' else 'annotations'}): "
            f"one side would be empty; choose a threshold above the smallest value and at most "
            f"the largest (default: the median)")


def _test(problem: _Problem, threshold, resamples, permutations, seed, progress, ci_method,
          workers, h=None) -> HypothesisResult:
    threshold = problem.default_threshold() if threshold is None else float(threshold)
    permutations = int(resamples if permutations is None else permutations)
    resamples = int(resamples) if ci_method != "permutation" else 0
    edges = [min(problem.lowest(), threshold), threshold, np.inf]
    split = problem.split
    state, side_weights = split.state(edges)
    below, above = split.sides(edges, state, side_weights)
    difference = above.value - below.value
    small = [(name, s) for name, s in (("below", below), ("above", above))
             if s.n_annotations < MIN_ANNOTATIONS]
    too_small_message = note = None
    boot = perm = np.zeros((0, 2))
    n_boot_drop = n_perm_drop = 0
    stopped, min_p, decides = False, 1.0 / (permutations + 1), "both"
    if small or not np.isfinite(difference):
        too_small_message = "; ".join(
            f"{s.n_annotations} annotation{'s' if s.n_annotations != 1 else ''} with "
            f"{problem.metric} {'<' if name == 'below' else '>='} {threshold:.4g}"
            for name, s in small) or "the measure is undefined on a side"
        too_small_message += f" (at least {MIN_ANNOTATIONS} counted annotations needed per side)"
        ci, p_value = (math.nan, math.nan), math.nan
    else:
        boot_seed, perm_seed = np.random.SeedSequence(seed).spawn(2)
        perm = _permute(split, edges, state, side_weights, difference, permutations, h,
                        perm_seed, workers, progress)
        d_perm = perm[:, 1] - perm[:, 0]
        _, n_perm_drop = finite(d_perm)
        outcome = permutation_test(difference, d_perm, 0.95, h, permutations)
        p_value, ci, stopped, min_p = (outcome.p_value, outcome.interval,
                                       outcome.stopped_early, outcome.min_p)
        if outcome.stopped_early:       # the permutations after the stop are not used
            used = np.flatnonzero(np.isfinite(d_perm))[outcome.permutations - 1] + 1
            perm = perm[:used]
            n_perm_drop = int((~np.isfinite(d_perm[:used])).sum())
        if ci_method != "permutation":
            tasks = [("bootstrap", s, n) for s, n in
                     zip(boot_seed.spawn(len(_chunks(resamples))), _chunks(resamples), strict=True)]
            boot = _stack(_run_tasks((split, edges, state, side_weights), tasks, workers,
                                     False), "bootstrap", 2)
            d_boot, n_boot_drop = finite(boot[:, 1] - boot[:, 0])
            ci = bootstrap_ci(difference, d_boot, 0.95, ci_method)
            decides = "p_value"
            if (ci[0] > 0 or ci[1] < 0) != (p_value < 0.05):
                note = ("the bootstrap interval and the p-value disagree: the p-value "
                        "decides (the bootstrap interval is too narrow on real data, see "
                        "ci_method='permutation')")
        if note is None and min(below.n_annotations, above.n_annotations) < SMALL_SIDE:
            note = SMALL_SIDE_NOTE
        if problem.level == "object" and problem.clusters is not None:
            note = "; ".join(filter(None, [note, VIDEO_OBJECT_NOTE]))
    result = HypothesisResult(
        metric=problem.metric, level=problem.level, threshold=threshold,
        measure=problem.measure.name, category=problem.measure.category, below=below,
        above=above, difference=float(difference), ci95=tuple(float(c) for c in ci),
        p_value=float(p_value), summary="", too_small=too_small_message is not None,
        too_small_message=too_small_message, resamples=resamples,
        permutations=len(perm), bootstrap_dropped=n_boot_drop,
        permutations_dropped=n_perm_drop, ci_method=ci_method, n_excluded=problem.n_excluded(),
        min_p=float(min_p), stopped_early=bool(stopped), decides=decides, note=note,
        iou_type=problem.iou_type,
        bootstrap_differences=boot[:, 1] - boot[:, 0] if len(boot) else np.zeros(0),
        permutation_differences=perm[:, 1] - perm[:, 0] if len(perm) else np.zeros(0))
    result.summary = summary_sentence(result, problem.ev.category_names[problem.measure.k]
                                      if problem.measure.k is not None else None)
    return result


def _p_text(p: float) -> str:
    return f"p = {p:.3f}" if p >= 0.001 else f"p = {p:.1e}"


def summary_sentence(result: HypothesisResult, category_name=None) -> str:
    """One sentence, e.g. "Objects with object_redness >= 0.12 have AP 0.310 vs 0.220
    (difference +0.090, 95% CI +0.030 to +0.150, p = 0.004, 1000 permutations)"."""
    what = "Objects" if result.level == "object" else "Images"
    measure = result.measure if result.iou_type == "bbox" else \
        f"{result.iou_type} {result.measure}"             # "segm AP", "keypoints AR"
    if category_name is not None:
        measure = f"{measure} of category {category_name!r}"
    t = f"{result.threshold:.4g}"
    values = f"{result.above.value:.3f} vs {result.below.value:.3f}"
    if result.too_small:
        return (f"Too small to test: {result.too_small_message}. {what} with {result.metric} "
                f">= {t} have {measure} {values} (below {t}); no confidence interval or "
                "p-value is reported.")
    lo, hi = result.ci95
    dropped = result.bootstrap_dropped + result.permutations_dropped
    note = ""
    if dropped:
        note = (f"; {result.bootstrap_dropped} resamples and {result.permutations_dropped} "
                "permutations undefined, dropped")
    n_perm = result.permutations - result.permutations_dropped
    stop = " (stopped early: clearly not significant)" if result.stopped_early else ""
    method = "" if result.ci_method == "permutation" else f" ({result.ci_method} bootstrap)"
    text = (f"{what} with {result.metric} >= {t} have {measure} {values} (difference "
            f"{result.difference:+.3f}, 95% CI{method} {lo:+.3f} to {hi:+.3f}, "
            f"{_p_text(result.p_value)}, {n_perm} permutations{stop}{note})")
    if result.note and result.decides != "both":
        text += f"; {result.note}"
    return text


# ---- curve and sweep -------------------------------------------------------------------------
def performance_curve(dataset, metrics=None, metric: str = "object_redness",
                      measure: str = "AP", bins: int = 5, resamples: int = 200, seed: int = 0,
                      category=None, score_threshold: float = 0.5, evaluator=None,
                      progress=False, level: str | None = None,
                      iou_type: str | None = None) -> pd.DataFrame:
    """The measure in each quantile bin of ``metric``, with 95% intervals.

    Bin edges are the 0, 1/bins, ..., 1 quantiles of the reference values (images for an image
    metric, non-crowd annotations for an object metric), duplicates merged; bin i is
    [edge_i, edge_i+1), the last one closed at +inf. Intervals: :func:`slice_interval` of
    each bin (``resamples`` random halves of its images; of all images for an object
    metric). Returns one row per bin: ``low``, ``high``, ``n_images``, ``n_annotations``,
    ``n_predictions``, ``n_categories``, ``value``, ``ci_low``, ``ci_high``,
    ``resamples_dropped``. ``iou_type``: "bbox", "segm" or "keypoints", as
    :func:`test_hypothesis`.
    """
    dataset, metrics = _dataset_and_metrics(dataset, metrics, [metric])
    problem = _Problem(dataset, metrics, metric, measure, category, score_threshold,
                       evaluator_for(dataset, evaluator, iou_type), level)
    ref = problem.reference[np.isfinite(problem.reference)]
    if len(ref) == 0:
        raise ValueError(f"{metric!r} has no finite value")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[:-1]))
    edges = [min(problem.lowest(), edges[0]), *edges[1:], np.inf]
    split = problem.split
    state, side_weights = split.state(edges)
    sides = split.sides(edges, state, side_weights)
    sizes = _chunks(resamples)
    tasks = [("halves", s, n) for s, n in zip(np.random.SeedSequence(seed).spawn(len(sizes)),
                                              sizes, strict=True)]
    halves = _stack(_run_tasks((split, edges, state, side_weights), tasks, 1, progress),
                    "halves", len(sides))
    rows = []
    for i, side in enumerate(sides):
        values, dropped = finite(halves[:, i])
        lo, hi = half_sample_interval(side.value, values)
        rows.append({"low": edges[i], "high": edges[i + 1], **asdict(side),
                     "ci_low": lo, "ci_high": hi, "resamples_dropped": dropped})
    frame = pd.DataFrame(rows).rename_axis("bin")
    frame.attrs.update(metric=metric, measure=problem.measure.name, level=problem.level,
                       iou_type=problem.iou_type)
    return frame


def _columns_to_test(metrics: MetricFrames, columns) -> list:
    """(column, level) pairs: every level at which each column exists (images first)."""
    if columns is None:
        columns = list(numeric_metric_columns(metrics.images))
        columns += [c for c in numeric_metric_columns(metrics.objects) if c not in columns]
        columns += [c for c in numeric_metric_columns(metrics.predictions)
                    if c not in columns]
    out = []
    for column in columns:
        levels = metric_levels(metrics, column)
        out += [(column, lv) for lv in levels] if levels else [(column, None)]
    return out


_SWEEP = {}


def _sweep_one(task):
    index, seed = task
    problem = _SWEEP["problems"][index]
    cap, h = _SWEEP["cap"], _SWEEP["h"]
    return index, _test(problem, None, cap, cap, seed, False, "permutation", 1, h)


def rank_metrics(dataset, metrics=None, measure: str = "AP", resamples: int | None = None,
                 seed: int = 0, category=None, score_threshold: float = 0.5, columns=None,
                 workers: int = 1, progress=False, correction: str = "holm",
                 alpha: float = 0.05, evaluator=None, iou_type: str | None = None
                 ) -> pd.DataFrame:
    """Test every numeric metric at its median and rank them by effect size.

    ``columns``: the metrics to test (default: every numeric column of ``metrics.images``, and
    of ``metrics.objects`` that also exists on ``metrics.predictions``); a name that is a
    column at both levels is tested at both (two rows). Constant metrics, and those that
    cannot split (annotation-only / prediction-only columns), are skipped and listed in
    ``frame.attrs["skipped"]`` ({name: reason}).

    Permutations: each metric's test draws up to ``resamples`` permutations (default
    ``ceil(2 m / alpha) - 1`` for the m metrics that can be tested, so that the strongest
    effect can reach an adjusted p-value of ``alpha / 2``), stopped by Besag & Clifford's
    sequential rule (see :func:`~quality_widgets.analysis.statistics.permutation_test`) once
    :data:`~.statistics.SEQUENTIAL_H` of them reach the observed difference: a clearly null
    metric costs a few dozen permutations, a strong one gets the resolution its corrected
    p-value needs. The sequential p-values are exact, so the correction keeps its guarantee.
    ``correction``: "holm" (Holm's step-down, family-wise error rate <= alpha) or "bh"
    (Benjamini-Hochberg q-values, false discovery rate <= alpha). ``workers``: processes, one
    metric each (fork). ``evaluator``: an :class:`Evaluator` of ``dataset`` to reuse.
    ``iou_type``: "bbox", "segm" or "keypoints", as :func:`test_hypothesis`.

    Returns one row per tested metric, sorted by ``|difference|`` descending (too-small tests
    last): ``metric``, ``level``, ``threshold``, ``below``, ``above``, ``difference``,
    ``ci_low``, ``ci_high`` (the inverted permutation test), ``p_value``, ``p_holm`` (or
    ``q_bh``), ``permutations`` (used), ``min_p`` (the smallest p-value the cap allows),
    ``too_small``, ``summary``. ``frame.attrs``: ``skipped``, ``measure``, ``correction``,
    ``adjusted_column``, ``alpha``, ``warning`` (also issued as a :class:`DataWarning`) when
    even the smallest attainable p-value, corrected, is above ``alpha``.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}: expected 'holm' or 'bh'")
    dataset, metrics = _dataset_and_metrics(dataset, metrics)
    evaluator = evaluator_for(dataset, evaluator, iou_type)
    measure_spec(measure, iou_type=evaluator.iou_type)     # a wrong measure: not a skip
    problems, skipped = [], {}
    for column, level in _columns_to_test(metrics, columns):
        name = column if level is None or len(metric_levels(metrics, column)) < 2 else \
            f"{column} ({level})"
        try:
            problem = _Problem(dataset, metrics, column, measure, category, score_threshold,
                               evaluator, level)
        except (ValueError, KeyError) as error:
            skipped[name] = str(error).strip("'\"")
            continue
        ref = problem.reference[np.isfinite(problem.reference)]
        if len(ref) == 0 or ref.min() == ref.max():
            skipped[name] = "constant" if len(ref) else "no finite value"
            continue
        problems.append(problem)
    m = max(len(problems), 1)
    cap = int(resamples) if resamples is not None else math.ceil(2 * m / alpha) - 1
    _SWEEP.update(problems=problems, cap=cap, h=SEQUENTIAL_H)
    tasks = [(i, seed) for i in range(len(problems))]
    report = _progress_reporter(progress, len(tasks))
    outcomes = []
    try:
        if _can_fork(workers) and len(tasks) > 1:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for done, out in enumerate(pool.imap_unordered(_sweep_one, tasks), 1):
                    outcomes.append(out)
                    report(done)
        else:
            for done, task in enumerate(tasks, 1):
                outcomes.append(_sweep_one(task))
                report(done)
    finally:
        _SWEEP.clear()
    outcomes.sort(key=lambda o: o[0])
    rows = []
    for _, result in outcomes:
        rows.append({"metric": result.metric, "level": result.level, "threshold": result.threshold,
                     "below": result.below.value, "above": result.above.value,
                     "difference": result.difference, "ci_low": result.ci95[0],
                     "ci_high": result.ci95[1], "p_value": result.p_value,
                     "permutations": result.permutations - result.permutations_dropped,
                     "min_p": result.min_p, "too_small": result.too_small,
                     "summary": result.summary})
    adjusted = "p_holm" if correction == "holm" else "q_bh"
    columns_out = ["metric", "level", "threshold", "below", "above", "difference", "ci_low",
                   "ci_high", "p_value", adjusted, "permutations", "min_p", "too_small",
                   "summary"]
    frame = pd.DataFrame(rows, columns=[c for c in columns_out if c != adjusted])
    tested = ~frame["too_small"].astype(bool)
    frame[adjusted] = np.nan
    p = frame.loc[tested, "p_value"].to_numpy(dtype=float)
    frame.loc[tested, adjusted] = holm(p) if correction == "holm" else benjamini_hochberg(p)
    frame["_order"] = np.where(tested, -frame["difference"].abs().fillna(0), np.inf)
    frame = frame.sort_values("_order", kind="stable").drop(columns="_order")
    frame = frame[columns_out].reset_index(drop=True)
    n_tested = int(tested.sum())
    warning = None
    if n_tested:
        floor = n_tested / (cap + 1)
        if floor > alpha:
            what = "Holm-adjusted p-value" if correction == "holm" else \
                "BH q-value (when a single metric is significant)"
            warning = (f"{cap} permutations per metric over {n_tested} tested metrics: the "
                       f"smallest {what} attainable is {min(floor, 1.0):.3g} > alpha = "
                       f"{alpha:g}, so no metric can be declared significant; use at least "
                       f"{math.ceil(n_tested / alpha)} permutations (the default adapts)")
            warnings.warn(warning, DataWarning, stacklevel=2)
    frame.attrs.update(skipped=skipped, measure=measure, iou_type=evaluator.iou_type,
                       correction=correction,
                       adjusted_column=adjusted, alpha=alpha, warning=warning,
                       max_permutations=cap)
    return frame


# ---- for displays: what to split on, where the default threshold comes from -----------------
def dataset_and_metrics(dataset, metrics=None, needed=None):
    """``(Dataset, MetricFrames)`` from what a user passes to :func:`test_hypothesis`: a
    Dataset and its MetricFrames, MetricFrames alone (their ``dataset``), or a Dataset alone
    (its ``needed`` metrics computed, all when None). Raises TypeError for anything else."""
    return _dataset_and_metrics(dataset, metrics, needed)


def testable_metrics(metrics: MetricFrames) -> list[tuple[str, str]]:
    """``(column, level)`` of every column :func:`test_hypothesis` can split on, image columns
    first: the numeric image columns, then the numeric object columns that predictions have
    too (see :func:`metric_level`; an annotation-only column cannot split false positives).
    A name that is a column at both levels has level ``"image, object"``."""
    out = []
    for column in [*numeric_metric_columns(metrics.images),
                   *numeric_metric_columns(metrics.objects)]:
        if any(c == column for c, _ in out):
            continue
        levels = []
        for level in ("image", "object"):
            try:
                levels.append(metric_level(metrics, column, level))
            except (KeyError, ValueError):
                continue
        if levels:      # a name at both levels: "image, object" (the test then needs level=)
            out.append((column, ", ".join(levels)))
    return out


def reference_values(metrics: MetricFrames, metric: str, dataset=None, level=None
                     ) -> np.ndarray:
    """The finite values of ``metric`` whose median is :func:`test_hypothesis`'s default
    threshold (and whose quantiles are :func:`performance_curve`'s bin edges): the images'
    values for an image metric, the non-crowd annotations' values for an object metric
    (crowd flags from ``metrics.objects["iscrowd"]``, else from ``dataset.annotations``)."""
    if metric_level(metrics, metric, level) == "image":
        values = metrics.images[metric]
    else:
        objects = metrics.objects
        values = objects[metric]
        crowd = None
        if "iscrowd" in objects:
            crowd = objects["iscrowd"]
        elif dataset is not None and "iscrowd" in dataset.annotations:
            crowd = dataset.annotations["iscrowd"].reindex(objects.index)
        if crowd is not None:
            values = values[~crowd.fillna(False).astype(bool).to_numpy()]
    values = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return values[np.isfinite(values)]


def default_threshold(metrics: MetricFrames, metric: str, dataset=None, level=None) -> float:
    """The median of :func:`reference_values`: the threshold :func:`test_hypothesis` splits at
    when none is given. Raises ValueError when ``metric`` has no finite value."""
    values = reference_values(metrics, metric, dataset, level)
    if len(values) == 0:
        raise ValueError(f"{metric!r} has no finite value to split at")
    return float(np.median(values))

"""Does a quality metric affect model performance? Split, measure, bootstrap, permute.

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

Objects (or images) whose value is NaN belong to neither side.

The statistic is ``d = measure(above) - measure(below)``. Its uncertainty:

- **bootstrap CI**: images are resampled with replacement (multinomial counts, the split
  fixed); both sides are re-accumulated from the cached matching with the counts as image
  weights (image i drawn c times counts as c copies, as :meth:`Evaluator.evaluate_masks`); the
  95% interval of the replicates ``d*``: the basic (reverse percentile) interval
  ``[2d - q97.5, 2d - q2.5]`` by default (``ci_method="percentile"`` for ``[q2.5, q97.5]``);
  in the calibration test (300 pure-noise metrics) basic covered 0 in 94.7% of them,
  percentile in 93.0%. See :func:`~quality_widgets.statistics.bootstrap_ci`.
- **permutation p-value** of the null "performance does not depend on the metric": image
  metrics: the metric values are shuffled across images (the images, their boxes and
  predictions stay); object metrics: the values are shuffled across all annotation rows and,
  independently, across all prediction rows (every box stays in its image with its category
  and score; only which value belongs to which box changes), then each side is re-matched.
  ``p = (1 + #{|d_perm| >= |d_obs|}) / (1 + N)``, two-sided.

Resamples where a side has no counted ground truth (the measure is pycocotools' -1, here NaN)
are dropped and counted (``bootstrap_dropped``, ``permutations_dropped``). A side with fewer
than :data:`MIN_ANNOTATIONS` counted annotations is flagged ``too_small``: no CI or p-value is
computed and the summary says so.

Every measure comes from the evaluation engine's public measure API
(:meth:`Evaluator.measure_many`, a batch of image weightings at once; a permutation of an
object metric is a new :meth:`Evaluator.slices_state`): the same doubles as
``evaluate_masks(...).stats``, without a full accumulation per resample.
"""
from __future__ import annotations

import json
import math
import multiprocessing
import sys
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..evaluation import MEASURES as _MEASURE_SPECS
from ..evaluation import Evaluator
from ..frames import MetricFrames, numeric_metric_columns
from ..jsonsafe import json_safe
from ..slicing import bin_masks, column_values
from .statistics import bootstrap_ci, finite, holm, permutation_p_value

#: A side needs at least this many counted annotations to be tested.
MIN_ANNOTATIONS = 20

#: The measures by name: the 12 COCO numbers, and precision / recall at IoU .5 and a score.
MEASURES = tuple(_MEASURE_SPECS)
_CHUNK = 25          # resamples per task: the unit of progress and of parallel work


@dataclass
class Side:
    """One side of the split: counts and the measure (NaN when undefined).

    ``n_images``: images of the side (image split), or images holding at least one of the
    side's counted annotations (object split). ``n_annotations``: counted GT (not crowd, in
    the side, in the measure's area range and category). ``n_predictions``: predictions in the
    side's images (image split) or whose own value is in the side's range (object split), of
    the measure's category if one is chosen.
    """

    n_images: int
    n_annotations: int
    n_predictions: int
    value: float


@dataclass
class HypothesisResult:
    """Outcome of :func:`test_hypothesis` (see the module doc for the method)."""

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
    ci_method: str = "basic"
    n_excluded: int = 0          # NaN-valued annotations (object) or images (image split)
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
        """Two rows (below, above): images, annotations, predictions, the measure."""
        op_below, op_above = "<", ">="
        index = [f"{self.metric} {op_below} {self.threshold:.4g}",
                 f"{self.metric} {op_above} {self.threshold:.4g}"]
        return pd.DataFrame([asdict(self.below), asdict(self.above)], index=index).rename(
            columns={"value": self.measure})


# ---- measures from a matching ----------------------------------------------------------------
class _Measure:
    """One named measure (:data:`MEASURES`) of an evaluator's matchings, for any image
    weights: :meth:`Evaluator.measure_many`, whose numbers are pycocotools' (the same doubles
    as ``evaluate_masks(...).stats``). Weights here are per image *position* (sorted ids)."""

    def __init__(self, evaluator: Evaluator, name: str, category=None,
                 score_threshold: float = 0.5):
        if name not in _MEASURE_SPECS:
            raise ValueError(f"unknown measure {name!r}: expected one of {', '.join(MEASURES)}")
        self.ev, self.inputs = evaluator, evaluator.inputs
        self.name = name
        self.area = _MEASURE_SPECS[name].area          # area range label
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


class _Split:
    """The two (or more) sides of a split, evaluable for any resample / permutation.

    Image split: one matching (every object counted), sides are image weights 0/1.
    Object split: one matching whose slices are the sides (:meth:`Evaluator.slices_state`, a
    single vectorised greedy matching for all sides at once), image weights shared.
    """

    def __init__(self, evaluator: Evaluator, measure: _Measure, level: str, values,
                 pred_values=None):
        self.ev, self.measure, self.level = evaluator, measure, level
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
            if self.level == "object":
                n_images = len(np.unique(inputs.gt_image[counted]))
            n_gt = int(npig.sum() if measure.k is None else npig[measure.k])
            out.append(Side(n_images=n_images, n_annotations=n_gt,
                            n_predictions=int(dt_in.sum()), value=float(value)))
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
        if n == 0:
            return np.empty((0, len(edges) - 1))
        rng = np.random.default_rng(seed)
        if self.level == "image":
            # The matching does not change: only which images are on which side. All n
            # permutations are one batched measure per side.
            sides = [bin_masks(rng.permutation(self.values), edges) for _ in range(n)]
            return np.stack([self.measure.many(self._image_state,
                                               np.array([p[s] for p in sides], dtype=np.int64))
                             for s in range(len(edges) - 1)], axis=1).reshape(n, -1)
        out = np.empty((n, len(edges) - 1))
        for i in range(n):
            values = rng.permutation(self.values)
            pred_values = None if self.pred_values is None else rng.permutation(
                self.pred_values)
            state, side_weights = self.state(edges, values, pred_values)
            out[i] = self.values_of(state, side_weights)
        return out


# Set in the parent before forking: workers inherit the split instead of pickling it.
_ACTIVE = {}


def _run_task(task):
    # The split's state (matching, cached records) is inherited, never pickled per task.
    kind, seed, n = task
    split, edges, state, side_weights = _ACTIVE["split"]
    if kind == "bootstrap":
        return kind, split.bootstrap(edges, state, side_weights, seed, n)
    return kind, split.permutations(edges, seed, n)


def _run_tasks(split, tasks, workers, progress):
    """``split`` = (split, edges, state, side_weights); ``tasks`` = (kind, seed, n)."""
    """Run (kind, args) tasks, in ``workers`` forked processes when > 1; results in order."""
    total = len(tasks)
    report = _progress_reporter(progress, total)
    results = []
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    if workers and workers > 1 and can_fork and total > 1:
        _ACTIVE["split"] = split
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for done, result in enumerate(pool.imap(_run_task, tasks), 1):
                    results.append(result)
                    report(done)
        finally:
            _ACTIVE.clear()
        return results
    _ACTIVE["split"] = split
    try:
        for done, task in enumerate(tasks, 1):
            results.append(_run_task(task))
            report(done)
    finally:
        _ACTIVE.clear()
    return results


def _progress_reporter(progress, total):
    if callable(progress):
        return lambda done: progress(done, total)
    if progress:
        def report(done):
            print(f"\rresampling {done}/{total}", end="\n" if done == total else "",
                  file=sys.stderr, flush=True)
        return report
    return lambda done: None


def _chunks(n: int) -> list:
    return [min(_CHUNK, n - i) for i in range(0, n, _CHUNK)]


def _resample(split, edges, state, side_weights, resamples, permutations, seed, workers,
              progress) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap and permutation measures, [n, sides] each. Chunks get their own child seeds
    (``SeedSequence(seed).spawn``): results do not depend on ``workers``."""
    boot_seq, perm_seq = np.random.SeedSequence(seed).spawn(2)
    boot_sizes, perm_sizes = _chunks(resamples), _chunks(permutations)
    tasks = [("bootstrap", s, n) for s, n in zip(boot_seq.spawn(len(boot_sizes)), boot_sizes)]
    tasks += [("permutation", s, n)
              for s, n in zip(perm_seq.spawn(len(perm_sizes)), perm_sizes)]
    results = _run_tasks((split, edges, state, side_weights), tasks, workers, progress)
    n_sides = len(edges) - 1
    boot = [r for kind, r in results if kind == "bootstrap"]
    perm = [r for kind, r in results if kind == "permutation"]
    return (np.concatenate(boot) if boot else np.zeros((0, n_sides)),
            np.concatenate(perm) if perm else np.zeros((0, n_sides)))


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


def metric_level(metrics: MetricFrames, metric: str) -> str:
    """"image" or "object": how ``metric`` splits the data (see the module doc).

    Raises KeyError for an unknown column, ValueError for a non-numeric one, one that exists
    only on predictions, or only on annotations (a split needs a value per prediction too).
    """
    if metric in metrics.images.columns:
        frame, level = metrics.images, "image"
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
        frame, level = metrics.objects, "object"
    else:
        metrics.level_of(metric)            # raises KeyError listing the known columns
        raise KeyError(metric)
    if metric not in numeric_metric_columns(frame):
        raise ValueError(f"{metric!r} is not a numeric metric column")
    return level


class _Problem:
    """Everything about one (dataset, metric, measure) that does not depend on T."""

    def __init__(self, dataset, metrics, metric, measure, category, score_threshold,
                 evaluator=None):
        self.level = metric_level(metrics, metric)
        self.metric = metric
        self.ev = evaluator if evaluator is not None else Evaluator(dataset)
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
        self.split = _Split(self.ev, self.measure, self.level, self.values, self.pred_values)

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
        if self.level == "image":
            return int(np.isnan(self.values).sum())
        return int(np.isnan(self.values).sum())


# ---- the test --------------------------------------------------------------------------------
def test_hypothesis(dataset, metrics=None, metric: str = "object_redness", threshold=None,
                    measure: str = "AP", resamples: int = 1000, seed: int = 0, category=None,
                    score_threshold: float = 0.5, progress=False, permutations=None,
                    ci_method: str = "basic", workers: int = 1, evaluator=None
                    ) -> HypothesisResult:
    """Test whether ``measure`` differs between ``metric < threshold`` and ``>= threshold``.

    ``dataset``: a Dataset (with annotations and predictions); ``metrics``: its MetricFrames
    (computed with ``compute_metrics(dataset, metrics=[metric])`` when None). ``metric``: any
    numeric column of ``metrics.images`` (splits images) or of ``metrics.objects`` and
    ``metrics.predictions`` (splits objects), built-in, custom or added by hand.
    ``threshold``: T (default: the median of the images' values for an image metric, of the
    non-crowd annotations' values for an object metric). ``measure``: one of
    :data:`MEASURES`; with ``category`` (id or name) the measure of that category alone
    (``precision`` / ``recall`` use ``score_threshold``). ``resamples``: bootstrap resamples
    and, unless ``permutations`` is given, permutations. ``seed``: all randomness.
    ``progress``: True for a line on stderr, or ``callable(done, total)``. ``workers``:
    processes for the resampling (fork; 1 = this process). ``evaluator``: an
    :class:`Evaluator` of ``dataset`` to reuse (IoUs and matching caches).

    Returns a :class:`HypothesisResult`: ``d = value(above) - value(below)``, its 95% bootstrap
    CI and the two-sided permutation p-value (see the module doc for what is resampled).
    """
    dataset, metrics = _dataset_and_metrics(dataset, metrics, [metric])
    _require_inputs(dataset, metrics, metric, threshold)
    problem = _Problem(dataset, metrics, metric, measure, category, score_threshold, evaluator)
    return _test(problem, threshold, resamples, permutations, seed, progress, ci_method,
                 workers)


test_hypothesis.__test__ = False     # not a pytest test, whatever module imports it


def _require_inputs(dataset, metrics, metric, threshold) -> None:
    """Refuse, before any work, what would make a number out of nothing: no labels, no
    predictions (DatasetError), a threshold outside the metric's values, which leaves a side
    empty (ValueError)."""
    from ..data.checks import require_labels, require_predictions
    require_labels(dataset, "the hypothesis test")
    require_predictions(dataset, "the hypothesis test")
    if threshold is None:
        return
    level = metric_level(metrics, metric)
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
          workers) -> HypothesisResult:
    threshold = problem.default_threshold() if threshold is None else float(threshold)
    permutations = resamples if permutations is None else int(permutations)
    edges = [min(problem.lowest(), threshold), threshold, np.inf]
    split = problem.split
    state, side_weights = split.state(edges)
    below, above = split.sides(edges, state, side_weights)
    difference = above.value - below.value
    small = [(name, s) for name, s in (("below", below), ("above", above))
             if s.n_annotations < MIN_ANNOTATIONS]
    too_small_message = None
    boot = perm = np.zeros((0, 2))
    if small or not np.isfinite(difference):
        too_small_message = "; ".join(
            f"{s.n_annotations} annotation{'s' if s.n_annotations != 1 else ''} with "
            f"{problem.metric} {'<' if name == 'below' else '>='} {threshold:.4g}"
            for name, s in small) or "the measure is undefined on a side"
        too_small_message += f" (at least {MIN_ANNOTATIONS} counted annotations needed per side)"
        ci, p_value, n_boot_drop, n_perm_drop = (math.nan, math.nan), math.nan, 0, 0
    else:
        boot, perm = _resample(split, edges, state, side_weights, resamples, permutations,
                               seed, workers, progress)
        d_boot, n_boot_drop = finite(boot[:, 1] - boot[:, 0])
        d_perm, n_perm_drop = finite(perm[:, 1] - perm[:, 0])
        ci = bootstrap_ci(difference, d_boot, 0.95, ci_method)
        p_value = permutation_p_value(difference, d_perm)
    result = HypothesisResult(
        metric=problem.metric, level=problem.level, threshold=threshold,
        measure=problem.measure.name, category=problem.measure.category, below=below,
        above=above, difference=float(difference), ci95=tuple(float(c) for c in ci),
        p_value=float(p_value), summary="", too_small=too_small_message is not None,
        too_small_message=too_small_message, resamples=int(resamples),
        permutations=int(permutations), bootstrap_dropped=n_boot_drop,
        permutations_dropped=n_perm_drop, ci_method=ci_method, n_excluded=problem.n_excluded(),
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
    measure = result.measure if category_name is None else \
        f"{result.measure} of category {category_name!r}"
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
    return (f"{what} with {result.metric} >= {t} have {measure} {values} (difference "
            f"{result.difference:+.3f}, 95% CI {lo:+.3f} to {hi:+.3f}, {_p_text(result.p_value)}, "
            f"{n_perm} permutations{note})")


# ---- curve and sweep -------------------------------------------------------------------------
def performance_curve(dataset, metrics=None, metric: str = "object_redness",
                      measure: str = "AP", bins: int = 5, resamples: int = 200, seed: int = 0,
                      category=None, score_threshold: float = 0.5, evaluator=None,
                      progress=False) -> pd.DataFrame:
    """The measure in each quantile bin of ``metric``, with 95% percentile bootstrap intervals.

    Bin edges are the 0, 1/bins, ..., 1 quantiles of the reference values (images for an image
    metric, non-crowd annotations for an object metric), duplicates merged; bin i is
    [edge_i, edge_i+1), the last one closed at +inf. Returns one row per bin: ``low``,
    ``high``, ``n_images``, ``n_annotations``, ``n_predictions``, ``value``, ``ci_low``,
    ``ci_high``, ``bootstrap_dropped``.
    """
    dataset, metrics = _dataset_and_metrics(dataset, metrics, [metric])
    problem = _Problem(dataset, metrics, metric, measure, category, score_threshold, evaluator)
    ref = problem.reference[np.isfinite(problem.reference)]
    if len(ref) == 0:
        raise ValueError(f"{metric!r} has no finite value")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[:-1]))
    edges = [min(problem.lowest(), edges[0]), *edges[1:], np.inf]
    split = problem.split
    state, side_weights = split.state(edges)
    sides = split.sides(edges, state, side_weights)
    boot_seq = np.random.SeedSequence(seed)
    sizes = _chunks(resamples)
    tasks = [("bootstrap", s, n) for s, n in zip(boot_seq.spawn(len(sizes)), sizes)]
    results = _run_tasks((split, edges, state, side_weights), tasks, 1, progress)
    boot = np.concatenate([r for _, r in results]) if results else np.zeros((0, len(sides)))
    rows = []
    for i, side in enumerate(sides):
        values, dropped = finite(boot[:, i])
        lo, hi = bootstrap_ci(side.value, values)
        rows.append({"low": edges[i], "high": edges[i + 1], **asdict(side),
                     "ci_low": lo, "ci_high": hi, "bootstrap_dropped": dropped})
    frame = pd.DataFrame(rows).rename_axis("bin")
    frame.attrs.update(metric=metric, measure=measure, level=problem.level)
    return frame


def rank_metrics(dataset, metrics=None, measure: str = "AP", resamples: int = 200,
                 seed: int = 0, category=None, score_threshold: float = 0.5, columns=None,
                 workers: int = 1, progress=False) -> pd.DataFrame:
    """Test every numeric metric at its median and rank them by effect size.

    ``columns``: the metrics to test (default: every numeric column of ``metrics.images``, and
    of ``metrics.objects`` that also exists on ``metrics.predictions``). Constant metrics, and
    those that cannot split (annotation-only / prediction-only columns), are skipped and listed
    in ``frame.attrs["skipped"]`` ({name: reason}). Returns one row per tested metric, sorted
    by ``|difference|`` descending (too-small tests last): ``metric``, ``level``,
    ``threshold``, ``below``, ``above``, ``difference``, ``ci_low``, ``ci_high``, ``p_value``,
    ``p_holm`` (Holm-adjusted over the tests that were not too small), ``too_small``,
    ``summary``.
    """
    dataset, metrics = _dataset_and_metrics(dataset, metrics)
    evaluator = Evaluator(dataset)
    if columns is None:
        columns = list(numeric_metric_columns(metrics.images))
        columns += [c for c in numeric_metric_columns(metrics.objects) if c not in columns]
        columns += [c for c in numeric_metric_columns(metrics.predictions)
                    if c not in columns]
    rows, skipped = [], {}
    for i, column in enumerate(columns):
        try:
            problem = _Problem(dataset, metrics, column, measure, category, score_threshold,
                               evaluator)
        except (ValueError, KeyError) as error:
            skipped[column] = str(error).strip("'\"")
            continue
        ref = problem.reference[np.isfinite(problem.reference)]
        if len(ref) == 0 or ref.min() == ref.max():
            skipped[column] = "constant" if len(ref) else "no finite value"
            continue
        result = _test(problem, None, resamples, None, seed, False, "basic", workers)
        if progress:
            _progress_reporter(progress, len(columns))(i + 1)
        rows.append({"metric": column, "level": result.level, "threshold": result.threshold,
                     "below": result.below.value, "above": result.above.value,
                     "difference": result.difference, "ci_low": result.ci95[0],
                     "ci_high": result.ci95[1], "p_value": result.p_value,
                     "too_small": result.too_small, "summary": result.summary})
    frame = pd.DataFrame(rows, columns=["metric", "level", "threshold", "below", "above",
                                        "difference", "ci_low", "ci_high", "p_value",
                                        "too_small", "summary"])
    tested = ~frame["too_small"].astype(bool)
    frame["p_holm"] = np.nan
    frame.loc[tested, "p_holm"] = holm(frame.loc[tested, "p_value"].to_numpy(dtype=float))
    frame["_order"] = np.where(tested, -frame["difference"].abs().fillna(0), np.inf)
    frame = frame.sort_values("_order", kind="stable").drop(columns="_order")
    frame = frame[["metric", "level", "threshold", "below", "above", "difference", "ci_low",
                   "ci_high", "p_value", "p_holm", "too_small", "summary"]].reset_index(
        drop=True)
    frame.attrs["skipped"] = skipped
    frame.attrs["measure"] = measure
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
    too (see :func:`metric_level`; an annotation-only column cannot split false positives)."""
    out = []
    for column in [*numeric_metric_columns(metrics.images),
                   *numeric_metric_columns(metrics.objects)]:
        if any(c == column for c, _ in out):
            continue
        try:
            out.append((column, metric_level(metrics, column)))
        except (KeyError, ValueError):
            continue
    return out


def reference_values(metrics: MetricFrames, metric: str, dataset=None) -> np.ndarray:
    """The finite values of ``metric`` whose median is :func:`test_hypothesis`'s default
    threshold (and whose quantiles are :func:`performance_curve`'s bin edges): the images'
    values for an image metric, the non-crowd annotations' values for an object metric
    (crowd flags from ``metrics.objects["iscrowd"]``, else from ``dataset.annotations``)."""
    if metric_level(metrics, metric) == "image":
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


def default_threshold(metrics: MetricFrames, metric: str, dataset=None) -> float:
    """The median of :func:`reference_values`: the threshold :func:`test_hypothesis` splits at
    when none is given. Raises ValueError when ``metric`` has no finite value."""
    values = reference_values(metrics, metric, dataset)
    if len(values) == 0:
        raise ValueError(f"{metric!r} has no finite value to split at")
    return float(np.median(values))

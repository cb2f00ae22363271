"""The test: the difference of a measure between the two sides of a threshold, its p-value and
interval, the result and the sentence that reads it."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ...data.checks import require_labels, require_predictions
from ...jsonsafe import json_safe
from ..statistics import SEQUENTIAL_H, bootstrap_ci, finite, permutation_test
from ._inputs import _Problem, dataset_and_metrics
from ._resampling import bootstrap, permute
from ._split import Side

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

#: Interval methods of :func:`test_hypothesis`.
CI_METHODS = ("permutation", "basic", "percentile")

#: What a bootstrap interval that disagrees with the p-value is told.
DISAGREEMENT_NOTE = (
    "the bootstrap interval and the p-value disagree: the p-value decides (the bootstrap "
    "interval is too narrow on real data, see ci_method='permutation')")


@dataclass
class HypothesisResult:
    """Outcome of :func:`test_hypothesis` (see the package doc for the method).

    ``permutations``: permutations drawn (``permutations_dropped`` of them undefined);
    ``min_p``: the smallest p-value they (or the cap, with a ``resolution``) can give;
    ``stopped_early``: Besag-Clifford stop. ``resamples``: bootstrap resamples (0 for the
    permutation interval). ``decides``: "both" (the interval inverts the test: they agree),
    or "p_value" (a bootstrap interval, which may disagree with it). ``note``: the small-side
    note (:data:`SMALL_SIDE_NOTE`) or a disagreement, else None. ``iou_type``: the matching
    the measure used ("bbox", "segm" masks, "keypoints" OKS). ``slice``: the text of the
    :class:`~quality_widgets.slicing.Slice` the split ran within, None for the whole dataset.
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
    slice: str | None = None     # str() of the Slice the split ran within; None: everything
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


def test_hypothesis(dataset, metrics=None, metric: str = "object_redness", threshold=None,
                    measure: str = "AP", resamples: int = 1000, seed: int = 0, category=None,
                    score_threshold: float = 0.5, progress=False, permutations=None,
                    ci_method: str = "permutation", workers: int = 1, evaluator=None,
                    level: str | None = None, resolution: float | None = None,
                    iou_type: str | None = None, slice=None) -> HypothesisResult:
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
    Clifford's rule once :data:`~quality_widgets.analysis.statistics.SEQUENTIAL_H` of them
    reach the observed difference (a clear null then costs a few dozen). ``ci_method``:
    "permutation" (the inverted test, default), or "basic" / "percentile" (image bootstrap
    with ``resamples`` resamples; see the package doc). ``seed``: all randomness.
    ``progress``: True for a line on stderr, or ``callable(done, total)``. ``workers``:
    processes (forked, :func:`~quality_widgets.compute.pool.run_forked`; 1 = this process;
    the numbers do not depend on it). ``evaluator``: an :class:`Evaluator` of ``dataset`` to
    reuse. ``iou_type``: how predictions match labels, "bbox" (box IoU, the default), "segm"
    (mask IoU of the ``segmentation`` columns) or "keypoints" (OKS; the measures are then
    COCO's 10 keypoint numbers, :func:`measure_names`); default: the ``evaluator``'s, else
    "bbox". Each side is then pycocotools' ``COCOeval(..., iouType)`` on that side.
    ``slice``: a :class:`~quality_widgets.slicing.Slice` (e.g. ``explorer.slice``) to test
    within: each side is the side within the slice (its images, labels and predictions, by the
    rule of the Slice's doc, as ``evaluate(slice=...)`` takes them), the default threshold is
    the median within it, and every permutation (and bootstrap resample) is drawn within it:
    image values shuffled among the slice's images (whole videos in a video dataset), object
    values among the slice's annotations and, apart, its predictions; rows outside the slice
    are in neither side.

    Returns a :class:`HypothesisResult`: ``d = value(above) - value(below)``, its 95% interval
    and the two-sided permutation p-value.

    Notes
    -----
    The permutation test's null hypothesis is that the metric's values are exchangeable among
    the rows it shuffles: among all images (or boxes) without a slice, among the slice's rows
    with one. Within a slice it says nothing about the rows outside: "within the dogs,
    redness does not change AP" is tested, not "redness does not change AP".
    """
    if ci_method not in CI_METHODS:
        raise ValueError(f"unknown ci_method {ci_method!r}: expected one of "
                         f"{', '.join(CI_METHODS)}")
    dataset, metrics = dataset_and_metrics(dataset, metrics, [metric])
    # Refuse, before any work, what would make a number out of nothing: no labels, no
    # predictions (DatasetError), a threshold that leaves a side empty (ValueError, _Problem).
    require_labels(dataset, "the hypothesis test")
    require_predictions(dataset, "the hypothesis test")
    permutations, h = _permutation_budget(permutations, resolution)
    problem = _Problem(dataset, metrics, metric, measure, category, score_threshold, evaluator,
                       level, iou_type, threshold, slice)
    return _test(problem, threshold, resamples, permutations, seed, progress, ci_method,
                 workers, h)


test_hypothesis.__test__ = False     # not a pytest test, whatever module imports it


def _permutation_budget(permutations, resolution) -> tuple:
    """(permutations, h): the cap and Besag and Clifford's h for a ``resolution`` (the
    smallest p-value wanted), else ``permutations`` as given and no sequential stop."""
    if resolution is None:
        return permutations, None
    if permutations is not None:
        raise ValueError("give permutations or resolution, not both")
    if not 0 < resolution < 1:
        raise ValueError(f"resolution must be in (0, 1), got {resolution}")
    return max(math.ceil(1 / resolution - 1e-9) - 1, 1), SEQUENTIAL_H


def _test(problem: _Problem, threshold, resamples, permutations, seed, progress, ci_method,
          workers, h=None) -> HypothesisResult:
    """:func:`test_hypothesis` of ``problem`` at ``threshold`` (None: its median)."""
    threshold = problem.default_threshold() if threshold is None else float(threshold)
    permutations = int(resamples if permutations is None else permutations)
    resamples = int(resamples) if ci_method != "permutation" else 0
    edges = [min(problem.lowest(), threshold), threshold, np.inf]
    state, side_weights = problem.split.state(edges)
    below, above = problem.split.sides(edges, state, side_weights)
    difference = above.value - below.value
    small = [(name, s) for name, s in (("below", below), ("above", above))
             if s.n_annotations < MIN_ANNOTATIONS]
    if small or not np.isfinite(difference):
        inference = _untested(problem.metric, threshold, small, permutations)
    else:
        boot_seed, perm_seed = np.random.SeedSequence(seed).spawn(2)
        split = (problem.split, edges, state, side_weights)
        inference = _permutation_inference(split, difference, permutations, h, perm_seed,
                                           workers, progress)
        if ci_method != "permutation":
            inference.update(_bootstrap_interval(split, difference, inference["p_value"],
                                                 resamples, boot_seed, ci_method, workers))
        inference["note"] = _note(problem, inference["note"], below, above)
    result = HypothesisResult(
        metric=problem.metric, level=problem.level, threshold=threshold,
        measure=problem.measure.name, category=problem.measure.category, below=below,
        above=above, difference=float(difference), summary="", resamples=resamples,
        ci_method=ci_method, n_excluded=problem.n_excluded(), iou_type=problem.iou_type,
        slice=None if problem.slice is None else str(problem.slice), **inference)
    result.summary = summary_sentence(result, problem.ev.category_names[problem.measure.k]
                                      if problem.measure.k is not None else None)
    return result


def _untested(metric, threshold, small, permutations) -> dict:
    """The result's fields when a side is too small (or the measure undefined on one)."""
    message = "; ".join(
        f"{s.n_annotations} annotation{'s' if s.n_annotations != 1 else ''} with "
        f"{metric} {'<' if name == 'below' else '>='} {threshold:.4g}"
        for name, s in small) or "the measure is undefined on a side"
    message += f" (at least {MIN_ANNOTATIONS} counted annotations needed per side)"
    return dict(ci95=(math.nan, math.nan), p_value=math.nan, too_small=True,
                too_small_message=message, permutations=0, min_p=1.0 / (permutations + 1),
                note=None, bootstrap_differences=np.zeros(0),
                permutation_differences=np.zeros(0))


def _permutation_inference(split, difference, permutations, h, seed, workers,
                           progress) -> dict:
    """The result's fields from the permutation test: p-value, the interval inverting it,
    the permutations used (those after a sequential stop are not)."""
    perm = permute(*split, difference, permutations, h, seed, workers, progress)
    d_perm = perm[:, 1] - perm[:, 0]
    outcome = permutation_test(difference, d_perm, 0.95, h, permutations)
    if outcome.stopped_early:
        d_perm = d_perm[:np.flatnonzero(np.isfinite(d_perm))[outcome.permutations - 1] + 1]
    return dict(ci95=tuple(float(c) for c in outcome.interval),
                p_value=float(outcome.p_value), too_small=False, too_small_message=None,
                permutations=len(d_perm), permutations_dropped=finite(d_perm)[1],
                min_p=float(outcome.min_p), stopped_early=bool(outcome.stopped_early),
                decides="both", note=None, bootstrap_differences=np.zeros(0),
                permutation_differences=d_perm)


def _bootstrap_interval(split, difference, p_value, resamples, seed, ci_method,
                        workers) -> dict:
    """The result's fields from the image bootstrap (``ci_method`` "basic" / "percentile"):
    its interval, which may disagree with the p-value (which then decides)."""
    boot = bootstrap(*split, resamples, seed, workers)
    d_boot = boot[:, 1] - boot[:, 0]
    finite_boot, dropped = finite(d_boot)
    ci = bootstrap_ci(difference, finite_boot, 0.95, ci_method)
    disagree = (ci[0] > 0 or ci[1] < 0) != (p_value < 0.05)
    return dict(ci95=tuple(float(c) for c in ci), bootstrap_differences=d_boot,
                bootstrap_dropped=dropped, decides="p_value",
                note=DISAGREEMENT_NOTE if disagree else None)


def _note(problem: _Problem, note, below: Side, above: Side):
    """The result's note: a disagreement, else the small-side note; the video note added."""
    if note is None and min(below.n_annotations, above.n_annotations) < SMALL_SIDE:
        note = SMALL_SIDE_NOTE
    if problem.level == "object" and problem.clusters is not None:
        note = "; ".join(filter(None, [note, VIDEO_OBJECT_NOTE]))
    return note


def _p_text(p: float) -> str:
    return f"p = {p:.3f}" if p >= 0.001 else f"p = {p:.1e}"


def summary_sentence(result: HypothesisResult, category_name=None) -> str:
    """One sentence, e.g. "Objects with object_redness >= 0.12 have AP 0.310 vs 0.220
    (difference +0.090, 95% CI +0.030 to +0.150, p = 0.004, 1000 permutations)"; within a
    slice, "Within category: dog: objects with ..."."""
    what = "Objects" if result.level == "object" else "Images"
    if result.slice is not None:
        what = f"Within {result.slice}: {what.lower()}"
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

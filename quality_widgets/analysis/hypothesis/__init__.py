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
image split permutes whole videos
(:func:`~quality_widgets.analysis.statistics.cluster_permutation`, a video-level split then
gets the same p-value whatever the number of frames per video), and the curve's intervals
split whole videos in halves; an object split still shuffles boxes one by one
(:data:`VIDEO_OBJECT_NOTE` in the result).

**Within a slice** (``slice=``, a :class:`~quality_widgets.slicing.Slice` such as
``explorer.slice``; the three functions take it): each side is the side within the slice,
its images, labels and predictions by the Slice's one rule (``evaluate(slice=...)`` on the
side gives the same number); the default threshold and the curve's bins come from the values
in the slice; permutations, random halves and bootstrap resamples are drawn within the slice
(image values among its images, whole videos together; object values among its annotations
and, apart, its predictions; rows outside the slice stay in neither side). The null
hypothesis is exchangeability within the slice: it says nothing about the rows outside.

A side with fewer than :data:`MIN_ANNOTATIONS` counted annotations is flagged ``too_small``:
no interval or p-value is computed and the summary says so. Permutations where a side has no
counted ground truth (the measure is pycocotools' -1, here NaN) are dropped and counted.

Every measure comes from the evaluation engine's public measure API
(:meth:`Evaluator.measure_many` for image weightings, :meth:`Evaluator.measure_labelled` for
object labellings): the same doubles as ``evaluate_masks(...).stats``.

The package, one question per private module (the public names are re-exported here):

- ``_inputs``: what the test is asked about: the dataset and its metrics
  (:func:`dataset_and_metrics`), the metric's level (:func:`metric_level`), its reference
  values and default threshold, the evaluator and the measure names; ``_Problem`` holds them
  for one metric;
- ``_split``: the sides of a split (:class:`Side`) and the measure on each, for any image
  weights or object labelling;
- ``_resampling``: how the permutations, bootstrap resamples and random halves are drawn,
  seeded, chunked and run (forked workers, :func:`~quality_widgets.compute.pool.run_forked`);
- ``_test``: :func:`test_hypothesis`, :class:`HypothesisResult`, :func:`summary_sentence`;
- ``_curve``: :func:`performance_curve` and :func:`slice_interval`;
- ``_sweep``: :func:`rank_metrics` and :func:`testable_metrics`.
"""
from ...evaluation.measures import MEASURES
from ...evaluation.params import IOU_TYPES
from ._curve import performance_curve, slice_interval
from ._inputs import (
    SPLIT_LEVELS,
    _Problem,  # noqa: F401  (not public: for the tests and benchmarks that split by hand)
    dataset_and_metrics,
    default_threshold,
    evaluator_for,
    measure_names,
    metric_level,
    metric_levels,
    reference_values,
)
from ._split import Side
from ._sweep import CORRECTIONS, rank_metrics, testable_metrics
from ._test import (
    CI_METHODS,
    MIN_ANNOTATIONS,
    SMALL_SIDE,
    SMALL_SIDE_NOTE,
    VIDEO_OBJECT_NOTE,
    HypothesisResult,
    summary_sentence,
    test_hypothesis,
)

__all__ = ["test_hypothesis", "HypothesisResult", "Side", "summary_sentence",
           "performance_curve", "slice_interval", "rank_metrics", "testable_metrics",
           "dataset_and_metrics", "metric_level", "metric_levels", "reference_values",
           "default_threshold", "evaluator_for", "measure_names", "MEASURES", "IOU_TYPES",
           "SPLIT_LEVELS", "CI_METHODS", "CORRECTIONS", "MIN_ANNOTATIONS", "SMALL_SIDE",
           "SMALL_SIDE_NOTE", "VIDEO_OBJECT_NOTE"]

"""The measure along a metric: one slice's interval from random halves, and the curve of the
measure over a metric's quantile bins."""
from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import pandas as pd

from ...evaluation import Evaluator
from ..statistics import finite, half_sample_interval
from ._inputs import _Problem, dataset_and_metrics
from ._resampling import CHUNK, half_weights, halves


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
    for start in range(0, resamples, CHUNK):
        n = min(CHUNK, resamples - start)
        v = many(half_weights(rng, rows, n_rows, n, clusters))
        values.append(v[0::2] - v[1::2])
    differences, dropped = finite(np.concatenate(values))
    lo, hi = half_sample_interval(estimate, differences, level)
    return lo, hi, dropped


def performance_curve(dataset, metrics=None, metric: str = "object_redness",
                      measure: str = "AP", bins: int = 5, resamples: int = 200, seed: int = 0,
                      category=None, score_threshold: float = 0.5, evaluator=None,
                      progress=False, level: str | None = None,
                      iou_type: str | None = None, slice=None) -> pd.DataFrame:
    """The measure in each quantile bin of ``metric``, with 95% intervals.

    Bin edges are the 0, 1/bins, ..., 1 quantiles of the reference values (images for an image
    metric, non-crowd annotations for an object metric), duplicates merged; bin i is
    [edge_i, edge_i+1), the last one closed at +inf. Intervals: :func:`slice_interval` of
    each bin (``resamples`` random halves of its images; of all images for an object
    metric). Returns one row per bin: ``low``, ``high``, ``n_images``, ``n_annotations``,
    ``n_predictions``, ``n_categories``, ``value``, ``ci_low``, ``ci_high``,
    ``resamples_dropped``. ``iou_type``: "bbox", "segm" or "keypoints", as
    :func:`test_hypothesis`. ``slice``: a :class:`~quality_widgets.slicing.Slice` to measure
    within, as :func:`test_hypothesis` (the bins are quantiles of the values in the slice,
    each bin is the bin within the slice, and the halves are drawn from its images);
    ``frame.attrs["slice"]`` holds its text (None without one).
    """
    dataset, metrics = dataset_and_metrics(dataset, metrics, [metric])
    problem = _Problem(dataset, metrics, metric, measure, category, score_threshold,
                       evaluator, level, iou_type, slice=slice)
    ref = problem.reference
    if len(ref) == 0:
        raise ValueError(f"{metric!r} has no finite value")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[:-1]))
    edges = [min(problem.lowest(), edges[0]), *edges[1:], np.inf]
    split = problem.split
    state, side_weights = split.state(edges)
    sides = split.sides(edges, state, side_weights)
    differences = halves(split, edges, state, side_weights, resamples, seed, progress)
    rows = []
    for i, side in enumerate(sides):
        values, dropped = finite(differences[:, i])
        lo, hi = half_sample_interval(side.value, values)
        rows.append({"low": edges[i], "high": edges[i + 1], **asdict(side),
                     "ci_low": lo, "ci_high": hi, "resamples_dropped": dropped})
    frame = pd.DataFrame(rows).rename_axis("bin")
    frame.attrs.update(metric=metric, measure=problem.measure.name, level=problem.level,
                       iou_type=problem.iou_type,
                       slice=None if problem.slice is None else str(problem.slice))
    return frame

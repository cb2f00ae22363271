"""COCO detection evaluation, pycocotools-exact, vectorised, with cached matching.

- :func:`evaluate` / :class:`Evaluator`: the 12 COCO numbers, precision/recall arrays,
  per-category AP, on image subsets, metric slices and bootstrap resamples.
- :meth:`Evaluator.measure` / :meth:`Evaluator.measure_many`: one of :data:`MEASURES` for a
  batch of image weightings of a matching (a bootstrap or permutation test's inner loop).
- :func:`add_outcomes`: TP / FP / ignored per prediction and detected per object.
"""
from .evaluator import Evaluator, evaluate
from .measures import KEYPOINT_MEASURES, MEASURE_ALIASES, MEASURES, measures_for
from .outcomes import add_outcomes
from .params import AREA_LABELS, AREA_RANGES, IOU_THRESHOLDS, MAX_DETS, RECALL_THRESHOLDS
from .result import EvaluationResult

__all__ = ["evaluate", "Evaluator", "EvaluationResult", "add_outcomes", "MEASURES",
           "MEASURE_ALIASES", "KEYPOINT_MEASURES", "measures_for", "IOU_THRESHOLDS",
           "RECALL_THRESHOLDS", "MAX_DETS", "AREA_RANGES", "AREA_LABELS"]

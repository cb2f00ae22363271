"""COCO detection evaluation, pycocotools-exact, vectorised, with cached matching.

- :func:`evaluate` / :class:`Evaluator`: the 12 COCO numbers, precision/recall arrays,
  per-category AP, on image subsets, metric slices and bootstrap resamples.
- :func:`add_outcomes`: TP / FP / ignored per prediction and detected per object.
"""
from .evaluator import Evaluator, evaluate
from .outcomes import add_outcomes
from .params import AREA_LABELS, AREA_RANGES, IOU_THRESHOLDS, MAX_DETS, RECALL_THRESHOLDS
from .result import EvaluationResult

__all__ = ["evaluate", "Evaluator", "EvaluationResult", "add_outcomes", "IOU_THRESHOLDS",
           "RECALL_THRESHOLDS", "MAX_DETS", "AREA_RANGES", "AREA_LABELS"]

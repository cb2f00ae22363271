"""The result of one evaluation: pycocotools' arrays, the 12 numbers, and views of them."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .accumulate import format_summary
from .params import (
    AREA_LABELS,
    AREA_RANGES,
    IOU_THRESHOLDS,
    MAX_DETS,
    RECALL_THRESHOLDS,
    area_index,
    iou_index,
    max_dets_index,
)


class EvaluationResult:
    """COCO detection evaluation of a dataset (or a slice / resample of it).

    ``stats``: the 12 summary numbers in pycocotools order — AP, AP50, AP75, AP small / medium /
    large, AR1, AR10, AR100, AR small / medium / large (-1 where nothing is defined); for
    ``iou_type="keypoints"`` pycocotools' 10 — AP, AP50, AP75, AP medium / large, AR, AR50,
    AR75, AR medium / large (maxDets 20, which is the arrays' maxDets=100 column there).
    ``precision`` [T, R, K, A, M] and ``recall`` [T, K, A, M]: pycocotools' ``eval`` arrays
    (T = :data:`IOU_THRESHOLDS`, R = :data:`RECALL_THRESHOLDS`, K = ``category_ids``,
    A = :data:`AREA_LABELS`, M = :data:`MAX_DETS`), -1 for categories without counted GT.
    They are computed on first access when the result came from the Evaluator's fast path
    (which only accumulates what ``stats`` needs).
    ``n_gt`` [K, A]: counted (non-ignored) GT per category and area range, with multiplicities.
    """

    iou_thresholds = IOU_THRESHOLDS
    recall_thresholds = RECALL_THRESHOLDS
    max_dets = MAX_DETS
    area_ranges = AREA_RANGES
    area_labels = AREA_LABELS

    def __init__(self, stats, n_gt, category_ids, category_names, precision=None, recall=None,
                 full_arrays=None, evaluator=None, state=None, weights=None,
                 iou_type: str = "bbox"):
        self.iou_type = iou_type
        self.stats = stats
        self.n_gt = n_gt
        self.category_ids = category_ids
        self.category_names = category_names
        self._precision, self._recall = precision, recall
        self._full_arrays = full_arrays      # () -> (precision, recall)
        self._evaluator, self._state, self._weights = evaluator, state, weights

    def _arrays(self):
        if self._precision is None:
            self._precision, self._recall = self._full_arrays()
        return self._precision, self._recall

    @property
    def precision(self) -> np.ndarray:
        return self._arrays()[0]

    @property
    def recall(self) -> np.ndarray:
        return self._arrays()[1]

    def __repr__(self) -> str:
        ar = ("AR", self.stats[5]) if self.iou_type == "keypoints" else ("AR100", self.stats[8])
        kind = "" if self.iou_type == "bbox" else f" {self.iou_type}"
        return (f"<EvaluationResult{kind} AP={self.stats[0]:.4f} AP50={self.stats[1]:.4f} "
                f"{ar[0]}={ar[1]:.4f}, {len(self.category_ids)} categories>")

    @property
    def ap(self) -> float:
        return float(self.stats[0])

    @property
    def ap50(self) -> float:
        return float(self.stats[1])

    def summary(self) -> str:
        """The lines pycocotools' ``COCOeval.summarize()`` prints (12; 10 for keypoints)."""
        return format_summary(self.stats, self.iou_type)

    def _m(self, max_dets: int) -> int:
        """Index of ``max_dets`` in the arrays (keypoints: 20 is the maxDets=100 column)."""
        if self.iou_type == "keypoints" and max_dets == 20:
            max_dets = 100
        return max_dets_index(max_dets)

    def _k(self, category_id) -> int:
        k = np.searchsorted(self.category_ids, category_id)
        if k >= len(self.category_ids) or self.category_ids[k] != category_id:
            raise KeyError(f"unknown category id {category_id}")
        return int(k)

    def category_ap(self, category_id, iou: float | None = None, area: str = "all",
                    max_dets: int = 100) -> float:
        """AP of one category: mean precision over recall thresholds (and IoU thresholds when
        ``iou`` is None); NaN when the category has no counted GT."""
        s = self.precision[:, :, self._k(category_id), area_index(area),
                           self._m(max_dets)]
        if iou is not None:
            s = s[iou_index(iou)]
        s = s[s > -1]
        return float(np.mean(s)) if len(s) else float("nan")

    def pr_curve(self, category_id=None, iou: float = 0.5, area: str = "all",
                 max_dets: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """(recall thresholds, interpolated precision) for plotting. With ``category_id`` None,
        the precision is averaged over categories with counted GT (as AP averages them)."""
        s = self.precision[iou_index(iou), :, :, area_index(area), self._m(max_dets)]
        if category_id is not None:
            return RECALL_THRESHOLDS.copy(), s[:, self._k(category_id)].copy()
        valid = s[0] > -1
        curve = s[:, valid].mean(axis=1) if valid.any() else np.full(len(RECALL_THRESHOLDS),
                                                                      np.nan)
        return RECALL_THRESHOLDS.copy(), curve

    @property
    def per_category(self) -> pd.DataFrame:
        """One row per category (index ``category_id``): name, AP, AP50, AP75, AR100,
        n_annotations (counted GT, area 'all'), n_predictions (kept detections that are not
        ignored for lying outside the slice). AP is NaN for a category without counted GT."""
        rows = {"name": self.category_names,
                "AP": [self.category_ap(c) for c in self.category_ids],
                "AP50": [self.category_ap(c, iou=0.5) for c in self.category_ids],
                "AP75": [self.category_ap(c, iou=0.75) for c in self.category_ids]}
        r = self.recall[:, :, 0, 2]
        with np.errstate(invalid="ignore"):
            rows["AR100"] = np.where((r > -1).all(axis=0), r.mean(axis=0), np.nan)
        rows["n_annotations"] = self.n_gt[:, 0]
        if self._evaluator is not None:
            rows["n_predictions"] = self._evaluator.count_predictions(self._state, self._weights)
        return pd.DataFrame(rows, index=pd.Index(self.category_ids, name="category_id"))

    def precision_recall_at(self, score_threshold: float = 0.5, iou: float = 0.5
                            ) -> tuple[float, float]:
        """(precision, recall) of the detections with ``score >= score_threshold`` at one IoU
        threshold, area 'all', maxDets 100, pooled over categories: ``TP / (TP + FP)`` and
        ``TP / counted GT``; ignored detections and GT count in neither. NaN when undefined."""
        if self._evaluator is None:
            raise ValueError("this result carries no matching (built without an Evaluator)")
        return self._evaluator.precision_recall_at(self._state, self._weights,
                                                   score_threshold, iou)

"""The evidence of one (label, prediction) pair and its reductions per label or prediction.

``A(IoU)``: the two boxes are one object, aligned (0 below IoU 0.3, 1 from 0.6); ``N(IoU)``:
they overlap (0 at 0, 1 from 0.05); ``B(IoU)``: they are misaligned (1 at 0, 0 from 0.5);
``T``: something is there (any prediction at IoU 0.1..0.4). The per-group maxima and arg-maxima
reduce pair values to one value per label or per prediction.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...data.boxes import box_iou
from ...evaluation.matching import pairs_by_key

ALIGNED = (0.3, 0.6)      # A(IoU): 0 below 0.3, 1 from 0.6
CROSS_CLASS_ALIGNED = (0.4, 0.7)  # a label of another class covers a prediction
NEAR = 0.05               # N(IoU): 1 from IoU 0.05
MISALIGNED = 0.5          # B(IoU) = 1 - IoU / 0.5
PRESENT = (0.1, 0.4)      # T: any prediction within IoU 0.1..0.4 says "something is there"
CROWD_IOA = 0.5


def _ramp(x, lo, hi):
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def aligned(iou):
    """A(IoU) = clip((IoU - 0.3) / 0.3, 0, 1): the two boxes are the same object, aligned."""
    return _ramp(np.asarray(iou, dtype=float), *ALIGNED)


def _near(iou):
    """N(IoU) = clip(IoU / 0.05, 0, 1): the two boxes overlap at all."""
    return np.clip(np.asarray(iou, dtype=float) / NEAR, 0.0, 1.0)


def _misaligned(iou):
    """B(IoU) = clip(1 - IoU / 0.5, 0, 1): the two boxes are not aligned."""
    return np.clip(1.0 - np.asarray(iou, dtype=float) / MISALIGNED, 0.0, 1.0)


def _max_at(n: int, index: np.ndarray, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """The largest of ``values`` per group ``index`` (0..n-1); ``fill`` where a group is empty."""
    out = np.full(n, fill, dtype=float)
    if len(index):
        np.maximum.at(out, index, values)
    return out


def _argmax_at(n: int, index: np.ndarray, values: np.ndarray, other: np.ndarray):
    """(max value, ``other`` at the max) per group ``index``; -1 / 0 where a group is empty."""
    best = np.zeros(n)
    arg = np.full(n, -1, dtype=np.int64)
    if len(index):
        order = np.lexsort((-values, index))
        first = np.r_[True, index[order][1:] != index[order][:-1]]
        pick = order[first]
        best[index[pick]] = values[pick]
        arg[index[pick]] = other[pick]
    return best, arg


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of the xywh boxes ``a[i]`` and ``b[i]``, row by row."""
    return box_iou(a, b, np.zeros(len(a), dtype=bool))


def _box_ioa(dt: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Intersection / area(dt): pycocotools' IoU of a detection with a crowd region."""
    return box_iou(dt, region, np.ones(len(dt), dtype=bool))


def _best_other(a, li, pj, n_p: int, mask) -> np.ndarray:
    """For each pair (label ``li``, prediction ``pj``): the best alignment ``a`` of its
    prediction with a label other than this pair's, among the pairs in ``mask`` (for a pair
    outside ``mask``: the best over ``mask``). The best and second-best alignment per prediction
    give "best among the others" in O(pairs)."""
    vals = np.where(mask, a, -1.0)
    order = np.lexsort((-vals, pj))
    sorted_p = pj[order]
    first = np.r_[True, sorted_p[1:] != sorted_p[:-1]] if len(order) else np.zeros(0, bool)
    best = np.zeros(n_p)
    best_label = np.full(n_p, -1, dtype=np.int64)
    second = np.zeros(n_p)
    best[sorted_p[first]] = np.maximum(vals[order][first], 0)
    best_label[sorted_p[first]] = li[order][first]
    second_pos = np.flatnonzero(~first & np.r_[False, first[:-1]]) if len(order) else \
        np.zeros(0, dtype=np.int64)
    second[sorted_p[second_pos]] = np.maximum(vals[order][second_pos], 0)
    other = np.where(best_label[pj] == li, second[pj], best[pj])
    return np.where(mask, other, best[pj])


def _expected_recall(present, label_cat, label_box, label_crowd, pseudo: float = 5.0):
    """R = mean of ``present`` over the labels of the same category and COCO size range
    (small < 32^2 <= medium < 96^2 <= large), shrunk towards the size range's mean over all
    categories with ``pseudo`` labels' weight; the share of such labels the detector sees."""
    real = ~label_crowd
    area = label_box[:, 2] * label_box[:, 3]
    size = np.digitize(area, [32 ** 2, 96 ** 2])
    out = np.zeros(len(present))
    if not real.any():
        return out
    size_mean = np.array([present[real & (size == s)].mean() if (real & (size == s)).any()
                          else present[real].mean() for s in range(3)])
    key = pd.MultiIndex.from_arrays([label_cat[real], size[real]])
    stats = pd.DataFrame({"p": present[real]}, index=key).groupby(level=[0, 1])["p"].agg(
        ["sum", "count"])
    lookup = stats.reindex(pd.MultiIndex.from_arrays([label_cat, size]))
    s_sum = lookup["sum"].fillna(0).to_numpy()
    s_n = lookup["count"].fillna(0).to_numpy()
    return (s_sum + pseudo * size_mean[size]) / (s_n + pseudo)


def _duplicates(pred_unit, pred_box, raw, floor: float = 1e-3) -> np.ndarray:
    """D_j = max A(IoU) with a prediction of the same unit (any class) of higher raw overlooked
    score: the second box on one unlabelled object is not a second error."""
    n = len(raw)
    out = np.zeros(n)
    keep = np.flatnonzero(raw >= floor)
    if len(keep) < 2:
        return out
    a, b = pairs_by_key(pred_unit[keep], pred_unit[keep])
    a, b = keep[a], keep[b]
    higher = (raw[b] > raw[a]) | ((raw[b] == raw[a]) & (b < a))
    a, b = a[higher], b[higher]
    if len(a):
        np.maximum.at(out, a, aligned(_box_iou(pred_box[a], pred_box[b])))
    return out

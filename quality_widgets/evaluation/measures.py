"""Single COCO measures (AP, AP50, AR100, precision at a score, ...) for many image weightings.

A bootstrap or permutation test needs one number, many times: the same matching with other
image multiplicities (a resample), or a new matching (a permutation). :func:`measure_many`
computes just that number for a batch of weight vectors, from tables built once per matching
row (:class:`CurveTable`, :class:`ImageGroups`), never the full accumulation.

Semantics are pycocotools' ``accumulate`` + ``summarize`` (see :mod:`.accumulate`): for
category k and IoU threshold t, the kept detections (maxDets 100) of all images in score order
(ties: image-id order, then rank; image i with weight w is w adjacent copies) give the n-th
true positive ``rc = n / npig`` and ``pr = n / (N + eps)`` (N: non-ignored detections so far).
Only true positives are needed (see :mod:`.accumulate`): ``precision[t, r, k]`` is the
maximum ``pr`` over the true positives from the first one with ``rc >= recThrs[r]`` on (0 if
none), -1 when ``npig == 0``; AP is ``mean(precision[precision > -1])`` over the [T, R, K]
array in that order (the same ``np.mean``, so the same double). Recall is ``n_total / npig``.

The precision curves come from a compiled kernel over tables built once per matching row
(:mod:`._curve_kernel`; without numba the same numbers come from the numpy accumulation of
:mod:`.accumulate`). Recall and precision/recall at a score are weighted counts
(:class:`ImageGroups`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ._curve_kernel import (
    HAVE_NUMBA,
    CurveTable,
    ImageGroups,
    curve_kernel,
    curve_table,
    gt_groups,
    table_kernel,
    tp_groups,
)
from .accumulate import EPS, block_maxima, first_reaching
from .params import IOU_THRESHOLDS, MAX_DETS, RECALL_THRESHOLDS, iou_index

# The kernels' names stay importable from here (labelled.py reads curve_kernel and HAVE_NUMBA);
# measure_many looks curve_kernel up here, so setting it to None selects the numpy path.
__all__ = ["MeasureSpec", "MEASURES", "KEYPOINT_MEASURES", "ALL_MEASURE_NAMES",
           "MEASURE_ALIASES", "measures_for", "unknown_measure_message", "measure_spec",
           "threshold_indices", "measure_many", "HAVE_NUMBA", "CurveTable", "ImageGroups",
           "curve_kernel", "curve_table", "gt_groups", "table_kernel", "tp_groups"]


@dataclass(frozen=True)
class MeasureSpec:
    """What one named measure reads: ``kind`` "precision" (AP: mean interpolated precision),
    "recall" (AR: mean final recall) or "at_score" (precision / recall of the detections with
    ``score >= score_threshold``); ``iou`` (None: the 10 thresholds .50:.95), ``area`` label,
    ``max_dets``; ``stat``: its index in the 12 COCO stats, or None."""

    name: str
    kind: str
    iou: float | None
    area: str
    max_dets: int
    stat: int | None


#: The measures by name: the 12 COCO numbers, and precision / recall at IoU .5 and a score.
MEASURES = {s.name: s for s in (
    MeasureSpec("AP", "precision", None, "all", 100, 0),
    MeasureSpec("AP50", "precision", 0.5, "all", 100, 1),
    MeasureSpec("AP75", "precision", 0.75, "all", 100, 2),
    MeasureSpec("APs", "precision", None, "small", 100, 3),
    MeasureSpec("APm", "precision", None, "medium", 100, 4),
    MeasureSpec("APl", "precision", None, "large", 100, 5),
    MeasureSpec("AR1", "recall", None, "all", 1, 6),
    MeasureSpec("AR10", "recall", None, "all", 10, 7),
    MeasureSpec("AR100", "recall", None, "all", 100, 8),
    MeasureSpec("ARs", "recall", None, "small", 100, 9),
    MeasureSpec("ARm", "recall", None, "medium", 100, 10),
    MeasureSpec("ARl", "recall", None, "large", 100, 11),
    MeasureSpec("precision", "at_score", 0.5, "all", 100, None),
    MeasureSpec("recall", "at_score", 0.5, "all", 100, None),
)}


#: The measures of ``iou_type="keypoints"`` by name: pycocotools' 10 keypoint numbers (AP,
#: AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl; ``stat`` is the index in those 10), and
#: precision / recall at a score. Keypoint evaluation keeps 20 detections per image and
#: category, the arrays' maxDets=100 column (see :class:`~.evaluator.Evaluator`); it has no
#: small area range and no AR1 / AR10.
KEYPOINT_MEASURES = {s.name: s for s in (
    MeasureSpec("AP", "precision", None, "all", 100, 0),
    MeasureSpec("AP50", "precision", 0.5, "all", 100, 1),
    MeasureSpec("AP75", "precision", 0.75, "all", 100, 2),
    MeasureSpec("APm", "precision", None, "medium", 100, 3),
    MeasureSpec("APl", "precision", None, "large", 100, 4),
    MeasureSpec("AR", "recall", None, "all", 100, 5),
    MeasureSpec("AR50", "recall", 0.5, "all", 100, 6),
    MeasureSpec("AR75", "recall", 0.75, "all", 100, 7),
    MeasureSpec("ARm", "recall", None, "medium", 100, 8),
    MeasureSpec("ARl", "recall", None, "large", 100, 9),
    MeasureSpec("precision", "at_score", 0.5, "all", 100, None),
    MeasureSpec("recall", "at_score", 0.5, "all", 100, None),
)}


#: Every measure name of some ``iou_type`` (bbox / segm first, then the keypoint-only ones).
ALL_MEASURE_NAMES = tuple(dict.fromkeys([*MEASURES, *KEYPOINT_MEASURES]))


#: Earlier names of measures (test-case files written before one vocabulary), still accepted.
MEASURE_ALIASES = {"AP_small": "APs", "AP_medium": "APm", "AP_large": "APl",
                   "AR_small": "ARs", "AR_medium": "ARm", "AR_large": "ARl"}


def measures_for(iou_type: str = "bbox") -> dict:
    """The measures by name of an ``iou_type``: :data:`MEASURES` for "bbox" and "segm" (the
    12 COCO numbers), :data:`KEYPOINT_MEASURES` for "keypoints" (pycocotools' 10)."""
    if iou_type == "keypoints":
        return KEYPOINT_MEASURES
    if iou_type in ("bbox", "segm"):
        return MEASURES
    raise ValueError(f"iou_type must be one of bbox, segm, keypoints, got {iou_type!r}")


def unknown_measure_message(name: str, iou_type: str = "bbox") -> str:
    """Why ``name`` is not a measure of ``iou_type``, naming the valid ones."""
    valid = ", ".join(measures_for(iou_type))
    if iou_type == "keypoints" and name in MEASURES:
        return (f"{name!r} is not a keypoint measure: COCO's keypoint evaluation reports AP, "
                f"AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl (20 detections per image, no "
                f"small area range, no AR1 / AR10 / AR100: its AR is 'AR'); expected one of "
                f"{valid}")
    if iou_type != "keypoints" and name in KEYPOINT_MEASURES:
        return (f"{name!r} is a keypoint measure (iou_type='keypoints'); for iou_type="
                f"{iou_type!r} expected one of {valid}")
    return f"unknown measure {name!r}: expected one of {valid}"


def measure_spec(name: str, iou: float | None = None, iou_type: str = "bbox") -> MeasureSpec:
    """The measure called ``name`` (or one of its :data:`MEASURE_ALIASES`) of ``iou_type``
    (:func:`measures_for`: the keypoint measures for "keypoints"). ``iou``: the IoU
    threshold of "precision" / "recall" (one of .50:.05:.95; default .5); ValueError for the
    other measures, whose thresholds are part of their names (AP50, AP75), and for a name
    that is not a measure of ``iou_type`` (the message names the valid ones)."""
    name = MEASURE_ALIASES.get(name, name)
    specs = measures_for(iou_type)
    if name not in specs:
        raise ValueError(unknown_measure_message(name, iou_type))
    spec = specs[name]
    if iou is None or (spec.iou is not None and float(iou) == spec.iou):
        return spec
    if spec.kind != "at_score":
        raise ValueError(f"an IoU threshold applies to precision and recall only, not "
                         f"{name!r} (AP50 / AP75 are the IoU-specific APs)")
    iou_index(float(iou))                 # ValueError unless one of .50:.05:.95
    return replace(spec, iou=float(iou))


def threshold_indices(spec: MeasureSpec) -> np.ndarray:
    """IoU threshold indices the measure averages over."""
    if spec.iou is None:
        return np.arange(len(IOU_THRESHOLDS))
    return np.array([iou_index(spec.iou)])


# ---- measures ------------------------------------------------------------------------------
def _mean_defined(values: np.ndarray) -> float:
    """pycocotools' ``mean(s[s > -1])``, NaN (instead of -1) when nothing is defined."""
    s = values[values > -1]
    return float(np.mean(s)) if len(s) else float("nan")


def measure_many(state, weights: np.ndarray, spec: MeasureSpec, row: int,
                 category: int | None = None, score_threshold: float = 0.5) -> np.ndarray:
    """[B] the measure ``spec`` of state row ``row`` under each weight vector (rows of
    ``weights`` [B, n_images], image positions); ``category``: a category index or None (mean
    over categories with counted GT). NaN where pycocotools gives -1."""
    m = MAX_DETS.index(spec.max_dets)
    npig = state.table(("gt", row), lambda: gt_groups(state, row)).weighted_counts(weights)
    n_cat = npig.shape[1]
    k_lo, k_hi = (0, n_cat) if category is None else (category, category + 1)
    t_index = threshold_indices(spec)
    if spec.kind == "at_score":
        return _at_score(state, weights, spec, row, category, score_threshold,
                         npig[:, k_lo:k_hi].sum(axis=1))
    if spec.kind == "recall":
        groups = state.table(("tp", row, m), lambda: tp_groups(state, row, m))
        tp = groups.weighted_counts(weights).reshape(len(weights), -1, n_cat)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = tp[:, t_index, k_lo:k_hi] / npig[:, None, k_lo:k_hi]       # [B, T', K']
        s[np.broadcast_to((npig[:, None, k_lo:k_hi] == 0), s.shape)] = -1.0
        return np.array([_mean_defined(x) for x in s])
    if curve_kernel is None:
        return _precision_numpy(state, weights, spec, row, category, npig)
    table = state.table(("curve", row, m), lambda: curve_table(state, row, m))
    # [B, K', T', R] for the kernel (each curve contiguous), read as pycocotools' [T, R, K]
    q = np.empty((len(weights), k_hi - k_lo, len(t_index), len(RECALL_THRESHOLDS)))
    weights = np.ascontiguousarray(weights, dtype=np.int64)
    unit = (weights == 1).all(axis=1)
    free_image = table.free_image() if not unit.all() else np.zeros(0, dtype=np.int32)
    curve_kernel(weights, unit, npig, t_index, k_lo, k_hi, table.image,
                 table.block_start, table.block_end, table.default, free_image,
                 table.free_at_cat, table.free_at_rec, table.free_at_block,
                 table.free_after_block, table.rec_pos, table.rec_tp, table.rec_ok,
                 table.rec_cat_start, RECALL_THRESHOLDS, EPS, q)
    return np.array([_mean_defined(x) for x in q.transpose(0, 2, 3, 1)])


def _precision_numpy(state, weights, spec, row, category, npig) -> np.ndarray:
    """The AP measures through the numpy accumulation of :mod:`.accumulate` (used without
    numba): the same numbers, slower (records are built once per matching row)."""
    n_thr, n_cat = len(IOU_THRESHOLDS), npig.shape[1]
    rec = state.records(row, MAX_DETS.index(spec.max_dets))
    out = np.empty(len(weights))
    for i, w in enumerate(weights):
        q = np.zeros((n_thr * n_cat, len(RECALL_THRESHOLDS)))
        total = np.zeros(n_thr * n_cat, dtype=np.int64)
        block_maxima(rec, np.asarray(w, dtype=np.int64), first_reaching(npig[i]), q, total)
        backwards = q[:, ::-1]              # interpolated precision: suffix max over recall
        np.maximum.accumulate(backwards, axis=1, out=backwards)
        s = q.reshape(n_thr, n_cat, -1).transpose(0, 2, 1)          # [T, R, K], as pycocotools
        s[:, :, npig[i] == 0] = -1.0
        s = s[threshold_indices(spec)]
        if category is not None:
            s = s[..., category]
        out[i] = _mean_defined(s)
    return out


def _at_score(state, weights, spec, row, category, score_threshold, n_gt):
    """Precision ``TP / (TP + FP)`` or recall ``TP / counted GT`` of the kept detections with
    ``score >= score_threshold`` at IoU ``spec.iou``, pooled over categories (or of
    ``category``); ignored detections count in neither."""
    key = ("at_score", row, spec.iou, float(score_threshold), category)
    groups = state.table(key, lambda: _at_score_groups(state, row, spec, category,
                                                       score_threshold))
    tp, counted = groups.weighted_counts(weights).T
    with np.errstate(divide="ignore", invalid="ignore"):
        if spec.name == "precision":
            out = np.where(counted > 0, tp / counted, np.nan)
        else:
            out = np.where(n_gt > 0, tp / n_gt, np.nan)
    return out


def _at_score_groups(state, row, spec, category, score_threshold) -> ImageGroups:
    """Two groups of the kept detections (maxDets 100) with ``score >= score_threshold`` (of
    ``category`` when given): the true positives, and the non-ignored ones."""
    inputs = state.inputs
    order = state.orders[MAX_DETS.index(spec.max_dets)]
    t = iou_index(spec.iou)
    above = order.score >= score_threshold
    if category is not None:
        above &= inputs.dt_cat[order.dt] == category
    ok = ~state.dt_outside[row][order.dt]
    tp = np.zeros(len(order.dt), dtype=bool)
    tp_flags, ok_flags = state.flags(row)
    position = order.position_of_dt[state.matched_dt]
    kept = position >= 0
    ok[position[kept]] = ok_flags[kept, t]
    tp[position[kept]] = tp_flags[kept, t]
    image = order.image
    return ImageGroups(image=np.concatenate([image[above & tp], image[above & ok]]),
                       start=np.array([0, int((above & tp).sum()),
                                       int((above & tp).sum() + (above & ok).sum())]))

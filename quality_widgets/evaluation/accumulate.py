"""Precision/recall accumulation and the 12 COCO summary numbers, with image multiplicities.

What pycocotools' ``accumulate`` computes, for a category k, area range a, max detections m and
IoU threshold t: the kept detections of all images, sorted by score (stable, ties in image-id
then rank order), give cumulative ``tp`` and ``fp`` counts (ignored detections count as
neither); ``rc = tp / npig`` (npig: non-ignored GT), ``pr = tp / (tp + fp + eps)`` made
non-increasing from the right, and ``precision[t, r, k, a, m] = pr[first i with rc[i] >=
recThrs[r]]`` (0 past the last), ``recall[t, k, a, m] = rc[-1]``; both are -1 when npig == 0.

Only true positives matter for those numbers: the first index reaching a recall is always a
true positive (or index 0, whose interpolated value is the maximum over true positives too),
and a false positive's precision never exceeds the one before it. So for the n-th true
positive it suffices to know N, the count of non-ignored detections up to and including it:
``pr = n / (N + eps)`` — the same doubles as pycocotools, since ``fp + tp`` is exactly N.

N is a count of non-ignored detections in score order. Most detections never match anything
and are non-ignored exactly when inside the area range ("default" flag ``d``); only matched
detections ("records") deviate, by ``delta = non-ignored - d``. So N = cumsum of ``d`` over all
detections (one cumsum per area range and maxDets, independent of t) + cumsum of ``delta`` over
the records (small). Image multiplicities w (a bootstrap resample) enter as weights in those
cumsums: image i drawn w times is w adjacent copies in image order, which pycocotools would
sort as (score, image, copy, rank); detections tied in score in one image and category (a
"block") interleave across copies, which the closed form ``F(j, c) = G(j) + c * B(j) - (w - 1)
* P(j)`` accounts for (G: weighted inclusive cumsum, P: unweighted prefix within the block,
B: block total, c: copy number).

Then the precision at the 101 recall thresholds is a suffix maximum: each true positive's
``pr`` goes to slot ``offset(t, k) + n - 1`` of one flat array, ``maximum.reduceat`` takes the
max of each block of slots between consecutive recall thresholds, and a running max over the
101 blocks (from the right) gives pycocotools' interpolated precision. No per-category or
per-threshold Python loop: the loops are over the 4 area ranges x 3 maxDets only (and only the
6 pairs the summary reads when ``stats_only``).
"""
from __future__ import annotations

import numpy as np

from ._match_state import (
    DetectionOrder,
    MatchState,
    Records,
    block_prefix,
    detection_orders,
    match_state,
)
from .params import AREA_RANGES, IOU_THRESHOLDS, MAX_DETS, RECALL_THRESHOLDS
from .summary import KEYPOINT_SUMMARY_ROWS, SUMMARY_ROWS, format_summary, summarize, summary_rows

# The matching's state and the summary stage stay importable from here, where they were.
__all__ = ["EPS", "accumulate", "block_maxima", "count_gt", "first_reaching", "STATS_FULL",
           "STATS_RECALL_ONLY", "DetectionOrder", "MatchState", "Records", "block_prefix",
           "detection_orders", "match_state", "SUMMARY_ROWS", "KEYPOINT_SUMMARY_ROWS",
           "format_summary", "summarize", "summary_rows"]

EPS = np.spacing(1)


def first_reaching(npig: np.ndarray, thresholds: np.ndarray = RECALL_THRESHOLDS) -> np.ndarray:
    """[len(npig), R]: the smallest n >= 1 with ``n / npig >= threshold`` in float64, i.e. the
    true-positive count at which pycocotools' ``searchsorted(rc, recThrs, 'left')`` lands."""
    npig = np.asarray(npig, dtype=float)[:, None]
    safe = np.where(npig > 0, npig, 1.0)
    n = np.maximum(np.ceil(thresholds[None, :] * safe), 1.0)
    for _ in range(2):   # correct the ceil for rounding, both ways, with the exact comparison
        n = np.where((n > 1) & ((n - 1) / safe >= thresholds), n - 1, n)
        n = np.where(n / safe < thresholds, n + 1, n)
    return n.astype(np.int64)


def count_gt(inputs, state: MatchState, weights: np.ndarray | None) -> np.ndarray:
    """[K, A] weighted count of non-ignored GT (pycocotools' ``npig``)."""
    n_cat = len(inputs.category_ids)
    w = None if weights is None else weights[inputs.gt_image]
    out = np.empty((n_cat, state.gt_counted.shape[0]), dtype=np.int64)
    for a in range(state.gt_counted.shape[0]):
        counted = state.gt_counted[a]
        out[:, a] = np.bincount(inputs.gt_cat[counted], weights=None if w is None else w[counted],
                                minlength=n_cat)[:n_cat].astype(np.int64)
    return out


def _padded_cumsum(values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(values, out=out[1:])
    return out


#: The (area, maxDets) pairs the 12 summary numbers read: precision and recall at maxDets 100
#: for every area range, recall only at maxDets 1 and 10 for 'all'.
STATS_FULL = ((0, 2), (1, 2), (2, 2), (3, 2))


STATS_RECALL_ONLY = ((0, 0), (0, 1))


def accumulate(inputs, orders, state: MatchState, weights: np.ndarray | None = None,
               stats_only: bool = False):
    """precision [T, R, K, A, M], recall [T, K, A, M] and npig [K, A].

    ``weights`` [n_images in ``inputs.image_ids`` order]: integer multiplicity of each image
    (None = every image once). ``stats_only`` computes only the (area, maxDets) pairs the 12
    summary numbers read (:data:`STATS_FULL`, :data:`STATS_RECALL_ONLY`); the others stay -1.
    """
    n_thr, n_rec, n_cat = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), len(inputs.category_ids)
    n_area, n_max = len(AREA_RANGES), len(MAX_DETS)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.int64)
    npig = count_gt(inputs, state, weights)
    if stats_only:
        full, recall_only = STATS_FULL, STATS_RECALL_ONLY
    else:
        full, recall_only = [(a, m) for m in range(n_max) for a in range(n_area)], ()
    reach = {a: first_reaching(npig[:, a]) for a in {a for a, _ in full}}   # [K, R] per area
    # Filled as [A, M, T*K, R] (contiguous per (a, m)); returned as [T, R, K, A, M] views.
    precision = np.full((n_area, n_max, n_thr * n_cat, n_rec), -1.0)
    tp_total = np.zeros((n_area, n_max, n_thr * n_cat), dtype=np.int64)
    computed = np.zeros((n_area, n_max), dtype=bool)
    no_gt = npig.T == 0                                           # [A, K]
    for a, m in full:
        q = np.zeros((n_thr * n_cat, n_rec))
        block_maxima(state.records(a, m), weights, reach[a], q, tp_total[a, m])
        # Suffix maximum over recall thresholds = interpolated precision.
        backwards = q[:, ::-1]
        np.maximum.accumulate(backwards, axis=1, out=backwards)
        q.reshape(n_thr, n_cat, n_rec)[:, no_gt[a]] = -1.0
        precision[a, m] = q
        computed[a, m] = True
    for a, m in recall_only:
        tp_total[a, m] = _tp_totals(state.tp_entries(a, m), weights, n_thr * n_cat)
    precision = precision.reshape(n_area, n_max, n_thr, n_cat, n_rec)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tp_total.reshape(n_area, n_max, n_thr, n_cat) / npig.T[:, None, None, :]
    recall[np.broadcast_to(no_gt[:, None, None, :], recall.shape)] = -1.0
    for a, m in zip(*np.nonzero(~computed), strict=True):
        if (a, m) not in recall_only:
            recall[a, m] = -1.0
    # pycocotools' layouts, as views: [T, R, K, A, M] and [T, K, A, M].
    return precision.transpose(2, 4, 3, 0, 1), recall.transpose(2, 3, 0, 1), npig


def _tp_totals(entries: tuple[np.ndarray, np.ndarray], weights, n_seg: int) -> np.ndarray:
    """[T*K] (weighted) true-positive count of each (t, k) segment."""
    segment, image = entries
    if weights is None:
        return np.bincount(segment, minlength=n_seg)
    return np.bincount(segment, weights=weights[image], minlength=n_seg).astype(np.int64)


def block_maxima(rec: Records, weights, reach, q_out, total_out) -> None:
    """Fill ``q_out`` [T*K, R] with the max precision over the true positives of each block
    [n_r, n_r+1) of recall thresholds, and ``total_out`` [T*K] with the true-positive totals.

    The n-th true positive, with N non-ignored detections up to it, has ``pr = n / (N + eps)``
    and is placed at ``offset(t, k) + n - 1`` of a flat array. Copies of a detection alone in
    its block are consecutive, each a true positive one behind the next, so
    ``(n - i) / (N - i) <= n / N``: the last copy dominates every suffix that holds any copy,
    and only it is placed (the other slots stay 0). Tied blocks interleave copies; all of
    those are placed.
    """
    n_seg, n_rec = q_out.shape
    n_cat = len(reach)
    if len(rec.entry_t) == 0:
        return
    if weights is None:
        n_total = len(rec.entry_t)
        cs_delta = _padded_cumsum(rec.delta_value)
        n = np.arange(1, n_total + 1) - rec.entry_first
        big_n = (rec.default_hi - rec.default_lo[rec.entry_cat]) + (
            cs_delta[rec.delta_hi] - cs_delta[rec.delta_lo][rec.entry_segment])
        total = np.diff(rec.segment_bounds)
        slot = np.arange(n_total)
        flat = np.empty(n_total + 1)
    else:
        cs_default = _padded_cumsum(weights[rec.default_image])
        cs_delta = _padded_cumsum(weights[rec.delta_image] * rec.delta_value)
        w = weights[rec.entry_image]
        cs_entry = _padded_cumsum(w)
        n_total = int(cs_entry[-1])
        # Entries are in (t, k) segment order, so the slot offset(t, k) + n - 1 of the last
        # copy is just the running weighted count minus one.
        n = cs_entry[1:] - cs_entry[rec.entry_first]
        big_n = (cs_default[rec.default_hi] - cs_default[rec.default_lo][rec.entry_cat]) + \
            (cs_delta[rec.delta_hi] - cs_delta[rec.delta_lo][rec.entry_segment])
        total = np.diff(cs_entry[rec.segment_bounds])
        slot = np.where(w > 0, cs_entry[1:] - 1, n_total)     # absent: to a spare slot
        flat = np.zeros(n_total + 1)
        if len(rec.tied):
            slot[rec.tied] = n_total
    flat[slot] = n / (big_n + EPS)
    if weights is not None and len(rec.tied):
        # Copy c of tied entry j: F = G + c * B - (w - 1) * P (see module doc).
        wt = w[rec.tied]
        rep = np.repeat(np.arange(len(rec.tied)), wt)
        c = np.arange(len(rep)) - np.repeat(np.cumsum(wt) - wt, wt)
        back = wt[rep] - 1
        j = rec.tied[rep]
        copy_n = n[j] + c * rec.tied_b_tp[rep] - back * rec.tied_p_tp[rep]
        copy_big_n = big_n[j] + c * rec.tied_b_n[rep] - back * rec.tied_p_n[rep]
        flat[cs_entry[rec.entry_first[j]] + copy_n - 1] = copy_n / (copy_big_n + EPS)
    total_out[:] = total
    if n_total == 0:
        return
    offset = np.zeros(n_seg, dtype=np.int64)
    np.cumsum(total[:-1], out=offset[1:])
    # Start of each recall threshold's block, for the (t, k, r) reached at all.
    first = np.broadcast_to(reach[None, :, :], (n_seg // n_cat, n_cat, n_rec)).reshape(n_seg,
                                                                                     n_rec)
    valid = first <= total[:, None]
    q_out[valid] = np.maximum.reduceat(flat[:n_total], (offset[:, None] + first - 1)[valid])

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
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import AREA_LABELS, AREA_RANGES, IOU_THRESHOLDS, MAX_DETS, RECALL_THRESHOLDS

EPS = np.spacing(1)


@dataclass
class DetectionOrder:
    """Detections kept for one maxDets value (rank < m), in accumulation order:
    sorted by (category, -score, image, rank)."""

    dt: np.ndarray              # evaluated-detection index of each position
    image: np.ndarray           # image position of each position
    score: np.ndarray
    cat_start: np.ndarray       # [K + 1]: first position of each category
    block_id: np.ndarray        # runs of equal (category, score, image)
    has_ties: bool              # some block holds more than one detection
    position_of_dt: np.ndarray  # evaluated-detection index -> position, or -1


def detection_orders(inputs) -> list[DetectionOrder]:
    """The accumulation order for each of :data:`MAX_DETS` (independent of slices)."""
    n_cat = len(inputs.category_ids)
    keep = np.flatnonzero(inputs.dt_rank < MAX_DETS[-1])
    order = keep[np.lexsort((inputs.dt_rank[keep], inputs.dt_image[keep],
                             -inputs.dt_score[keep], inputs.dt_cat[keep]))]
    orders = []
    for m in MAX_DETS:
        dt = order[inputs.dt_rank[order] < m]
        cat, score, image = inputs.dt_cat[dt], inputs.dt_score[dt], inputs.dt_image[dt]
        new = np.ones(len(dt), dtype=bool)
        new[1:] = (cat[1:] != cat[:-1]) | (score[1:] != score[:-1]) | (image[1:] != image[:-1])
        position = np.full(len(inputs.dt_row), -1, dtype=np.int64)
        position[dt] = np.arange(len(dt))
        orders.append(DetectionOrder(
            dt=dt, image=image, score=score,
            cat_start=np.searchsorted(cat, np.arange(n_cat + 1)),
            block_id=np.cumsum(new) - 1, has_ties=bool(len(dt) and not new.all()),
            position_of_dt=position))
    return orders


def block_prefix(values: np.ndarray, block_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive prefix sum of ``values`` within each run of equal ``block_id`` (P), and the
    run's total (B), along axis 0."""
    n = len(block_id)
    if n == 0:
        return values.copy(), values.copy()
    starts = np.flatnonzero(np.r_[True, block_id[1:] != block_id[:-1]])
    run = np.diff(np.r_[starts, n])
    padded = np.concatenate([np.zeros((1,) + values.shape[1:], dtype=np.int64),
                             np.cumsum(values, axis=0, dtype=np.int64)])
    lo = np.repeat(starts, run)
    hi = np.repeat(starts + run, run)
    return padded[1:] - padded[lo], padded[hi] - padded[lo]


@dataclass
class Records:
    """Matched detections of one (area range, maxDets) whose counts deviate from default."""

    position: np.ndarray        # position in the DetectionOrder
    cat: np.ndarray
    cat_start: np.ndarray       # [K + 1]
    tp: np.ndarray              # [R, T] bool
    delta: np.ndarray           # [R, T] int8: non-ignored - default
    default: np.ndarray         # [N_m] int8: default flag of every ordered detection
    # Within-block prefix / total of default, delta and tp (only when the order has ties).
    p_default: np.ndarray | None = None
    b_default: np.ndarray | None = None
    p_delta: np.ndarray | None = None
    b_delta: np.ndarray | None = None
    p_tp: np.ndarray | None = None
    b_tp: np.ndarray | None = None


@dataclass
class MatchState:
    """Matching and ignore flags for one pair of slice masks (cached by the Evaluator)."""

    match: np.ndarray           # [A, T, n_candidates] GT index or -1
    gt_counted: np.ndarray      # [A, n_gt] bool: not ignored
    records: list               # records[a][m]
    dt_outside: np.ndarray      # [A, n_dt] bool: outside the area range or the slice


def match_state(inputs, cands, orders, match, gt_ignore, dt_outside) -> MatchState:
    """Build the per-(area range, maxDets) records from a matching.

    ``gt_ignore`` [A, n_gt] and ``dt_outside`` [A, n_dt] are the ignore flags of GT and the
    out-of-range flags of detections. A detection's flags (pycocotools ``evaluateImg``):
    ``dtIg = gtIg[matched GT] or (unmatched and outside)``, ``tp = matched and not dtIg``,
    where "matched" is pycocotools' ``dtm != 0``: a match to a GT whose id is 0 counts as
    unmatched there, which is reproduced.
    """
    n_area, n_thr, _ = match.shape
    n_cat = len(inputs.category_ids)
    matched_any = np.flatnonzero((match >= 0).any(axis=(0, 1)))
    cand_dt = cands.cand_dt[matched_any]
    records = []
    for a in range(n_area):
        g = match[a][:, matched_any]                          # [T, U]
        hit = g >= 0
        gi = np.where(hit, g, 0)
        hit_nonzero = hit & (inputs.gt_id[gi] != 0)
        dt_ignored = (hit & gt_ignore[a][gi]) | (~hit_nonzero & dt_outside[a][cand_dt])
        tp = (hit_nonzero & ~dt_ignored).T                    # [U, T]
        nonignored = ~dt_ignored.T
        per_m = []
        for order in orders:
            default = ~dt_outside[a][order.dt]
            position = order.position_of_dt[cand_dt]
            delta = nonignored.astype(np.int8) - default[np.maximum(position, 0)][:, None]
            keep = (position >= 0) & (tp.any(axis=1) | (delta != 0).any(axis=1))
            sel = np.flatnonzero(keep)
            sel = sel[np.argsort(position[sel], kind="stable")]
            pos = position[sel]
            cat = inputs.dt_cat[order.dt[pos]]
            rec = Records(position=pos, cat=cat,
                          cat_start=np.searchsorted(cat, np.arange(n_cat + 1)),
                          tp=tp[sel], delta=delta[sel], default=default.astype(np.int8))
            if order.has_ties:
                p_d, b_d = block_prefix(rec.default, order.block_id)
                rec.p_default, rec.b_default = p_d[pos], b_d[pos]
                block = order.block_id[pos]
                rec.p_delta, rec.b_delta = block_prefix(rec.delta, block)
                rec.p_tp, rec.b_tp = block_prefix(rec.tp, block)
            per_m.append(rec)
        records.append(per_m)
    return MatchState(match=match, gt_counted=~gt_ignore, records=records,
                      dt_outside=dt_outside)


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


def count_gt(inputs, state: MatchState, weights: np.ndarray) -> np.ndarray:
    """[K, A] weighted count of non-ignored GT (pycocotools' ``npig``)."""
    n_cat = len(inputs.category_ids)
    w = weights[inputs.gt_image]
    out = np.empty((n_cat, state.gt_counted.shape[0]), dtype=np.int64)
    for a in range(state.gt_counted.shape[0]):
        out[:, a] = np.bincount(inputs.gt_cat, weights=w * state.gt_counted[a],
                                minlength=n_cat)[:n_cat].astype(np.int64)
    return out


def accumulate(inputs, orders, state: MatchState, weights: np.ndarray | None = None):
    """precision [T, R, K, A, M], recall [T, K, A, M] and npig [K, A].

    ``weights`` [n_images in ``inputs.image_ids`` order]: integer multiplicity of each image
    (None = every image once).
    """
    n_thr, n_rec, n_cat = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), len(inputs.category_ids)
    n_area, n_max = len(AREA_RANGES), len(MAX_DETS)
    unit = weights is None
    if unit:
        weights = np.ones(len(inputs.image_ids), dtype=np.int64)
    weights = np.asarray(weights, dtype=np.int64)
    precision = -np.ones((n_thr, n_rec, n_cat, n_area, n_max))
    recall = -np.ones((n_thr, n_cat, n_area, n_max))
    npig = count_gt(inputs, state, weights)
    reach = [first_reaching(npig[:, a]) for a in range(n_area)]    # [K, R] per area
    for m, order in enumerate(orders):
        w_order = weights[order.image]
        for a in range(n_area):
            rec = state.records[a][m]
            has_gt = npig[:, a] > 0
            counts = _tp_counts(rec, order, w_order, unit)
            if counts is None:
                tp_total = np.zeros((n_thr, n_cat), dtype=np.int64)
                q = np.zeros((n_thr, n_cat, n_rec))
            else:
                t_idx, cat, n, n_incl, tp_total = counts
                q = _interpolated_precision(t_idx, cat, n, n_incl, tp_total, reach[a])
            with np.errstate(divide="ignore", invalid="ignore"):
                rc = tp_total / npig[:, a][None, :]
            precision[:, :, has_gt, a, m] = q.transpose(0, 2, 1)[:, :, has_gt]
            recall[:, has_gt, a, m] = rc[:, has_gt]
    return precision, recall, npig


def _segmented_cumsum(values: np.ndarray, cat_start: np.ndarray, cat: np.ndarray) -> np.ndarray:
    """Inclusive cumsum along axis 0, restarting at each category."""
    padded = np.concatenate([np.zeros((1,) + values.shape[1:], dtype=np.int64),
                             np.cumsum(values, axis=0, dtype=np.int64)])
    return padded[1:] - padded[cat_start[cat]]


def _tp_counts(rec: Records, order: DetectionOrder, w_order: np.ndarray, unit: bool):
    """For every (weighted) true positive: threshold index, category, n (its rank among the
    category's true positives) and N (non-ignored detections up to it); and the [T, K] totals.
    """
    n_cat = len(rec.cat_start) - 1
    n_thr = rec.tp.shape[1]
    if len(rec.position) == 0:
        return None
    # Default-flag counts: a weighted cumsum over all ordered detections, read at records.
    if unit:
        running = np.cumsum(rec.default, dtype=np.int64)
    else:
        running = np.cumsum(w_order * rec.default, dtype=np.int64)
    padded = np.r_[0, running]
    g_default = padded[rec.position + 1] - padded[order.cat_start[rec.cat]]
    w_rec = w_order[rec.position]
    weighted = rec.tp if unit else rec.tp * w_rec[:, None]
    g_tp = _segmented_cumsum(weighted, rec.cat_start, rec.cat)
    tp_total = np.zeros((n_thr, n_cat), dtype=np.int64)
    padded_tp = np.concatenate([np.zeros((1, n_thr), dtype=np.int64),
                                np.cumsum(weighted, axis=0, dtype=np.int64)])
    tp_total[:] = (padded_tp[rec.cat_start[1:]] - padded_tp[rec.cat_start[:-1]]).T
    g_delta = _segmented_cumsum(rec.delta if unit else rec.delta * w_rec[:, None],
                                rec.cat_start, rec.cat)
    if unit or (w_rec == 1).all():
        n_incl = g_default[:, None] + g_delta
        tp_mask, n, cat = rec.tp, g_tp, rec.cat
    else:
        # Expand records into copies: element e is copy c of record rep[e].
        rep = np.repeat(np.arange(len(w_rec)), w_rec)
        c = np.arange(len(rep)) - np.repeat(np.cumsum(w_rec) - w_rec, w_rec)
        tp_mask, cat = rec.tp[rep], rec.cat[rep]
        if order.has_ties:
            extra = (w_rec[rep] - 1)
            n_incl = (g_default[rep] + c * rec.b_default[rep] - extra * rec.p_default[rep])[:, None] \
                + g_delta[rep] + c[:, None] * rec.b_delta[rep] - extra[:, None] * rec.p_delta[rep]
            n = g_tp[rep] + c[:, None] * rec.b_tp[rep] - extra[:, None] * rec.p_tp[rep]
        else:
            # Blocks of one detection: P = B = the flag itself, so F = G - (w - 1 - c) * flag.
            back = (w_rec[rep] - 1 - c)
            n_incl = (g_default[rep] - back * rec.default[rec.position[rep]])[:, None] \
                + g_delta[rep] - back[:, None] * rec.delta[rep]
            n = g_tp[rep] - back[:, None] * tp_mask
    e_idx, t_idx = np.nonzero(tp_mask)
    return t_idx, cat[e_idx], n[e_idx, t_idx], n_incl[e_idx, t_idx], tp_total


def _interpolated_precision(t_idx, cat, n, n_incl, tp_total, reach) -> np.ndarray:
    """[T, K, R] precision at the recall thresholds from the true positives' (n, N)."""
    n_thr, n_cat = tp_total.shape
    n_rec = reach.shape[1]
    q = np.zeros((n_thr, n_cat, n_rec))
    length = tp_total.ravel()
    offset = np.r_[0, np.cumsum(length)[:-1]]
    flat = np.zeros(int(length.sum()))
    if len(flat) == 0:
        return q
    seg = t_idx * n_cat + cat
    flat[offset[seg] + n - 1] = n / (n_incl + EPS)
    # Starts of each recall threshold's suffix, for the (t, k, r) reached at all.
    first = np.broadcast_to(reach[None, :, :], (n_thr, n_cat, n_rec)).reshape(-1, n_rec)
    valid = first <= length[:, None]
    starts = (offset[:, None] + first - 1)[valid]
    block_max = np.maximum.reduceat(flat, starts)
    q_flat = np.zeros((n_thr * n_cat, n_rec))
    q_flat[valid] = block_max
    # Suffix maximum over recall thresholds = interpolated precision.
    q_flat = np.maximum.accumulate(q_flat[:, ::-1], axis=1)[:, ::-1]
    return q_flat.reshape(n_thr, n_cat, n_rec)


def summarize(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """The 12 numbers of pycocotools' ``summarize()`` for detections (same arithmetic)."""
    def one(ap, iou=None, area="all", max_dets=100):
        aind = [i for i, label in enumerate(AREA_LABELS) if label == area]
        mind = [i for i, m in enumerate(MAX_DETS) if m == max_dets]
        if ap:
            s = precision
            if iou is not None:
                s = s[np.where(iou == IOU_THRESHOLDS)[0]]
            s = s[:, :, :, aind, mind]
        else:
            s = recall
            if iou is not None:
                s = s[np.where(iou == IOU_THRESHOLDS)[0]]
            s = s[:, :, aind, mind]
        return -1 if len(s[s > -1]) == 0 else np.mean(s[s > -1])

    stats = np.zeros((12,))
    stats[0] = one(1)
    stats[1] = one(1, iou=.5)
    stats[2] = one(1, iou=.75)
    stats[3] = one(1, area="small")
    stats[4] = one(1, area="medium")
    stats[5] = one(1, area="large")
    stats[6] = one(0, max_dets=1)
    stats[7] = one(0, max_dets=10)
    stats[8] = one(0)
    stats[9] = one(0, area="small")
    stats[10] = one(0, area="medium")
    stats[11] = one(0, area="large")
    return stats


SUMMARY_ROWS = [(1, None, "all", 100), (1, .5, "all", 100), (1, .75, "all", 100),
                (1, None, "small", 100), (1, None, "medium", 100), (1, None, "large", 100),
                (0, None, "all", 1), (0, None, "all", 10), (0, None, "all", 100),
                (0, None, "small", 100), (0, None, "medium", 100), (0, None, "large", 100)]


def format_summary(stats: np.ndarray) -> str:
    """The table pycocotools' ``summarize()`` prints, line for line."""
    line = ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'
    out = []
    for value, (ap, iou, area, max_dets) in zip(stats, SUMMARY_ROWS):
        iou_str = '{:0.2f}:{:0.2f}'.format(IOU_THRESHOLDS[0], IOU_THRESHOLDS[-1]) \
            if iou is None else '{:0.2f}'.format(iou)
        out.append(line.format('Average Precision' if ap else 'Average Recall',
                               '(AP)' if ap else '(AR)', iou_str, area, max_dets, value))
    return "\n".join(out)

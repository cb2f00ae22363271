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
    block_start: np.ndarray     # first position of each position's block
    block_end: np.ndarray       # one past its last position
    has_ties: bool              # some block holds more than one detection
    position_of_dt: np.ndarray  # evaluated-detection index -> position, or -1
    scratch: np.ndarray | None = None   # [N] work array of measures.curve_table (all -1)


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
        starts = np.flatnonzero(new)
        run = np.diff(np.r_[starts, len(dt)])
        orders.append(DetectionOrder(
            dt=dt, image=image, score=score,
            cat_start=np.searchsorted(cat, np.arange(n_cat + 1)),
            block_id=np.cumsum(new) - 1, block_start=np.repeat(starts, run),
            block_end=np.repeat(starts + run, run), has_ties=bool(len(dt) and not new.all()),
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
    """What accumulation needs for one (area range, maxDets), for one matching.

    Records are the matched detections whose flags deviate from the default (non-ignored iff
    inside the range); entries are their (record, t) true positives, t-major then in order.
    Everything here is independent of image weights; :func:`accumulate` only adds weighted
    cumsums on top.
    """

    position: np.ndarray        # [R] position in the DetectionOrder
    cat: np.ndarray             # [R]
    tp: np.ndarray              # [R, T] bool
    delta: np.ndarray           # [R, T] int8: non-ignored - default
    default: np.ndarray         # [N_m] bool: default flag of every ordered detection
    default_image: np.ndarray   # images of the default-counted detections, in order
    delta_image: np.ndarray     # images of the nonzero deltas, t-major then in order
    delta_value: np.ndarray
    # Per true-positive entry (t-major, then order):
    entry_t: np.ndarray
    entry_cat: np.ndarray
    entry_segment: np.ndarray   # t * K + k
    entry_image: np.ndarray
    entry_first: np.ndarray     # index of the first entry of its (t, k) segment
    default_hi: np.ndarray      # count of default detections up to it (index in cumsum)
    default_lo: np.ndarray      # [K] ... before each category
    delta_hi: np.ndarray        # same for the deltas at its t
    delta_lo: np.ndarray        # [T * K] ... before each (t, k)
    segment_bounds: np.ndarray  # [T * K + 1] entry index where each (t, k) segment starts
    # Entries in blocks of tied detections: within-block prefix (P) and total (B) of the true
    # positives and of the non-ignored detections at their t.
    tied: np.ndarray            # indices of tied entries
    tied_p_tp: np.ndarray
    tied_b_tp: np.ndarray
    tied_p_n: np.ndarray
    tied_b_n: np.ndarray


class MatchState:
    """Matching and ignore flags for one pair of slice masks (cached by the Evaluator).

    ``match`` [A, T, n_candidates]: GT index matched by each candidate detection, or -1.
    ``gt_counted`` [A, n_gt]: GT not ignored. ``dt_outside`` [A, n_dt]: detection outside the
    area range or the slice. :meth:`records` builds (and keeps) the accumulation records of
    one (area range, maxDets) on first use.

    A detection's flags (pycocotools ``evaluateImg``): ``dtIg = gtIg[matched GT] or
    (unmatched and outside)``, ``tp = matched and not dtIg``, where "matched" is pycocotools'
    ``dtm != 0``: a match to a GT whose id is 0 counts as unmatched there, which is reproduced.
    """

    def __init__(self, inputs, cands, orders, match, gt_ignore, dt_outside, rows=None):
        self.inputs, self.orders = inputs, orders
        self.match = match
        self.gt_counted = ~gt_ignore
        self.dt_outside = dt_outside
        self._gt_ignore = gt_ignore
        self._matched = np.flatnonzero((match >= 0).any(axis=(0, 1)))
        self._cand_dt = cands.cand_dt[self._matched]
        self._flags = {}
        self._records = {}
        self._tables = {}
        self.unit_summary = None      # (stats, n_gt) with every image once, once computed
        #: (area label, slice index) of each row: the 4 area ranges of one slice by default.
        self.rows = list(rows) if rows is not None else [(label, 0) for label in AREA_LABELS]

    @property
    def gt_ignore(self) -> np.ndarray:
        """[rows, n_gt] GT ignored (crowd, or outside the row's area range / slice)."""
        return self._gt_ignore

    @property
    def matched_candidates(self) -> np.ndarray:
        """Candidate index (columns of ``match``) of the rows of :meth:`flags`."""
        return self._matched

    @property
    def matched_dt(self) -> np.ndarray:
        """Evaluated-detection index of the detections matched at some (row, t), the rows of
        :meth:`flags`."""
        return self._cand_dt

    def row_of(self, area: str, slice_index: int = 0) -> int:
        """The row holding ``slice_index`` within area range ``area``."""
        try:
            return self.rows.index((area, slice_index))
        except ValueError:
            raise ValueError(f"this matching has no row for area {area!r} and slice "
                             f"{slice_index} (rows: {self.rows})") from None

    def table(self, key, build):
        """A table derived from this matching (built by ``build()`` once, then kept)."""
        if key not in self._tables:
            self._tables[key] = build()
        return self._tables[key]

    def flags(self, a: int) -> tuple[np.ndarray, np.ndarray]:
        """(tp, non-ignored), each [U, T], of the detections matched at some (a, t)."""
        if a not in self._flags:
            g = self.match[a][:, self._matched]                # [T, U]
            hit = g >= 0
            gi = np.where(hit, g, 0)
            hit_nonzero = hit & (self.inputs.gt_id[gi] != 0)
            dt_ignored = (hit & self._gt_ignore[a][gi]) | \
                (~hit_nonzero & self.dt_outside[a][self._cand_dt])
            self._flags[a] = ((hit_nonzero & ~dt_ignored).T, ~dt_ignored.T)
        return self._flags[a]

    def tp_entries(self, a: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        """(segment t * K + k, image) of each true-positive entry, segment-sorted: all that
        recall needs (cheaper than :meth:`records` when precision is not wanted)."""
        if (a, m) in self._records:
            rec = self._records[a, m]
            return rec.entry_segment, rec.entry_image
        tp, _ = self.flags(a)
        order = self.orders[m]
        position = order.position_of_dt[self._cand_dt]
        kept = position >= 0
        t_i, r_i = np.nonzero(np.ascontiguousarray(tp[kept].T))
        pos = position[kept][r_i]
        segment = t_i * len(self.inputs.category_ids) + self.inputs.dt_cat[order.dt[pos]]
        by_segment = np.argsort(segment, kind="stable")
        return segment[by_segment], order.image[pos[by_segment]]

    def records(self, a: int, m: int) -> Records:
        if (a, m) not in self._records:
            tp, nonignored = self.flags(a)
            order = self.orders[m]
            self._records[a, m] = _records(self.inputs, order, self._cand_dt, tp, nonignored,
                                           ~self.dt_outside[a][order.dt])
        return self._records[a, m]


def match_state(inputs, cands, orders, match, gt_ignore, dt_outside, rows=None) -> MatchState:
    """The :class:`MatchState` of a matching (records are built lazily)."""
    return MatchState(inputs, cands, orders, match, gt_ignore, dt_outside, rows)


def _records(inputs, order: DetectionOrder, cand_dt, tp, nonignored, default) -> Records:
    n_cat = len(inputs.category_ids)
    n_thr = tp.shape[1]
    position = order.position_of_dt[cand_dt]
    delta = nonignored.astype(np.int8) - default[np.maximum(position, 0)][:, None]
    keep = (position >= 0) & (tp.any(axis=1) | (delta != 0).any(axis=1))
    sel = np.flatnonzero(keep)
    sel = sel[np.argsort(position[sel], kind="stable")]
    pos, tp, delta = position[sel], tp[sel], delta[sel]
    cat = inputs.dt_cat[order.dt[pos]]
    n_pos = len(order.dt)

    e_t, e_r = np.nonzero(np.ascontiguousarray(tp.T))        # t-major, then order
    e_pos, e_cat = pos[e_r], cat[e_r]
    segment = e_t * n_cat + e_cat
    bounds = np.searchsorted(segment, np.arange(n_thr * n_cat + 1))
    # Default-counted detections, up to the last true positive of their category (later ones
    # are never counted before a true positive).
    last_tp = np.full(n_cat + 1, -1, dtype=np.int64)
    np.maximum.at(last_tp, e_cat, e_pos)
    limit = np.repeat(last_tp[:n_cat], np.diff(order.cat_start))
    default_pos = np.flatnonzero(default & (np.arange(n_pos) <= limit))
    # Deltas, t-major then in order; a record's count of deltas up to it, per t, is a cumsum
    # over records (records are in order).
    nonzero = np.ascontiguousarray((delta != 0).T)             # [T, R]
    d_t, d_r = np.nonzero(nonzero)
    t_offset = np.r_[0, np.cumsum(nonzero.sum(axis=1))]
    upto = np.cumsum(nonzero, axis=1)                          # [T, R] inclusive
    first_rec = np.searchsorted(pos, order.cat_start[:-1])     # first record of each category
    before = np.concatenate([np.zeros((n_thr, 1), dtype=np.int64), upto], axis=1)[:, first_rec]
    rec = Records(
        position=pos, cat=cat, tp=tp, delta=delta, default=default,
        default_image=order.image[default_pos],
        delta_image=order.image[pos[d_r]], delta_value=delta[d_r, d_t].astype(np.int64),
        entry_t=e_t, entry_cat=e_cat, entry_segment=segment, entry_image=order.image[e_pos],
        entry_first=bounds[segment],
        default_hi=np.searchsorted(default_pos, pos, side="right")[e_r],
        default_lo=np.searchsorted(default_pos, order.cat_start[:-1]),
        delta_hi=t_offset[e_t] + upto[e_t, e_r],
        delta_lo=(t_offset[:-1, None] + before).ravel(),
        segment_bounds=bounds,
        tied=np.zeros(0, dtype=np.int64), tied_p_tp=np.zeros(0, dtype=np.int64),
        tied_b_tp=np.zeros(0, dtype=np.int64), tied_p_n=np.zeros(0, dtype=np.int64),
        tied_b_n=np.zeros(0, dtype=np.int64))
    if order.has_ties:
        _tie_prefixes(rec, order, e_r, e_t, e_pos)
    return rec


def _tie_prefixes(rec: Records, order: DetectionOrder, e_r, e_t, e_pos) -> None:
    """Within-block prefix / total of true positives and non-ignored detections, for the
    entries in blocks of tied detections (see the module doc's F(j, c))."""
    size = order.block_end - order.block_start
    tied = np.flatnonzero(size[e_pos] > 1)
    if len(tied) == 0:
        return
    # Default flags of the tied blocks, as a small [n_tied, block length] table.
    p = e_pos[tied]
    lo, hi = order.block_start[p], order.block_end[p]
    at = lo[:, None] + np.arange(int((hi - lo).max()))[None, :]
    inside = at < hi[:, None]
    flag = rec.default[np.minimum(at, len(order.dt) - 1)] & inside
    p_default = (flag & (at <= p[:, None])).sum(axis=1)
    b_default = flag.sum(axis=1)
    # Records in tied blocks are contiguous per block: prefix sums over that subset.
    in_tied = size[rec.position] > 1
    sub = np.flatnonzero(in_tied)
    block = order.block_id[rec.position[sub]]
    p_delta, b_delta = block_prefix(rec.delta[sub], block)
    p_tp, b_tp = block_prefix(rec.tp[sub], block)
    r = np.searchsorted(sub, e_r[tied])
    t = e_t[tied]
    rec.tied = tied
    rec.tied_p_tp, rec.tied_b_tp = p_tp[r, t], b_tp[r, t]
    rec.tied_p_n = p_default + p_delta[r, t]
    rec.tied_b_n = b_default + b_delta[r, t]


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


SUMMARY_ROWS = [(1, None, "all", 100), (1, .5, "all", 100), (1, .75, "all", 100),
                (1, None, "small", 100), (1, None, "medium", 100), (1, None, "large", 100),
                (0, None, "all", 1), (0, None, "all", 10), (0, None, "all", 100),
                (0, None, "small", 100), (0, None, "medium", 100), (0, None, "large", 100)]
#: pycocotools' ``_summarizeKps`` rows (maxDets 20: the arrays' maxDets=100 column, see
#: :class:`~.evaluator.Evaluator`).
KEYPOINT_SUMMARY_ROWS = [(1, None, "all", 20), (1, .5, "all", 20), (1, .75, "all", 20),
                         (1, None, "medium", 20), (1, None, "large", 20),
                         (0, None, "all", 20), (0, .5, "all", 20), (0, .75, "all", 20),
                         (0, None, "medium", 20), (0, None, "large", 20)]


def summary_rows(iou_type: str = "bbox") -> list:
    return KEYPOINT_SUMMARY_ROWS if iou_type == "keypoints" else SUMMARY_ROWS


def summarize(precision: np.ndarray, recall: np.ndarray, iou_type: str = "bbox") -> np.ndarray:
    """The numbers of pycocotools' ``summarize()`` (same arithmetic): 12 for detections (bbox,
    segm), 10 for keypoints."""
    def one(ap, iou=None, area="all", max_dets=100):
        aind = [i for i, label in enumerate(AREA_LABELS) if label == area]
        mind = [i for i, m in enumerate(MAX_DETS) if m == (100 if max_dets == 20 else max_dets)]
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

    rows = summary_rows(iou_type)
    stats = np.zeros((len(rows),))
    for i, (ap, iou, area, max_dets) in enumerate(rows):
        stats[i] = one(ap, iou, area, max_dets)
    return stats


def format_summary(stats: np.ndarray, iou_type: str = "bbox") -> str:
    """The table pycocotools' ``summarize()`` prints, line for line."""
    line = ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'
    out = []
    for value, (ap, iou, area, max_dets) in zip(stats, summary_rows(iou_type), strict=True):
        iou_str = f'{IOU_THRESHOLDS[0]:0.2f}:{IOU_THRESHOLDS[-1]:0.2f}' \
            if iou is None else f'{iou:0.2f}'
        out.append(line.format('Average Precision' if ap else 'Average Recall',
                               '(AP)' if ap else '(AR)', iou_str, area, max_dets, value))
    return "\n".join(out)

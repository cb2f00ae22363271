"""What one matching holds for accumulation, independent of image weights: the detections in
accumulation order for each maxDets (:class:`DetectionOrder`), the matching's flags
(:class:`MatchState`, cached by the Evaluator) and the records built from them once per area
range and maxDets (:class:`Records`). The formulas that read them are in :mod:`.accumulate`'s
docstring."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import AREA_LABELS, MAX_DETS


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

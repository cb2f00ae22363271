"""The tables and compiled kernels behind :func:`~.measures.measure_many`: the detections of a
matching row in accumulation order (:class:`CurveTable`, built by one pass of
:func:`table_kernel`), the counted items of each image by group (:class:`ImageGroups`), and
the curve kernel (:func:`curve_kernel`) that walks them once per weight vector.

The curve kernel walks each category's matched detections ("records") in score order, once
per weight vector, up to the last one (later detections are false positives after the last
true positive: they change no sampled precision); the unmatched detections in between only add
their weights to N. Copies of a detection alone in its tie block are consecutive, and only the
last copy can set a suffix maximum, so a weight w is one step of w; detections tied in score
within an image interleave across copies and are walked copy by copy. Compiled with numba when
available; otherwise the same numbers come from the numpy accumulation (:mod:`.accumulate`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import IOU_THRESHOLDS

try:  # pragma: no cover - exercised where numba is installed (the default)
    from numba import njit
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False


@dataclass
class CurveTable:
    """The detections of one (matching row, maxDets) in accumulation order, for the curve
    kernel. "Records" are the matched detections (sorted by position), with their
    true-positive and non-ignored flags per IoU threshold; every other detection is "free":
    counted (non-ignored, a false positive) iff inside the range (``default``). The kernel
    needs the free detections only through their count (unit weights) or their images."""

    cat_start: np.ndarray       # [K + 1] first position of each category
    image: np.ndarray           # [N] image position
    block_start: np.ndarray     # [N] first position of its tie block
    block_end: np.ndarray       # [N] one past the last position of its tie block
    default: np.ndarray         # [N] uint8
    rec_pos: np.ndarray         # [R] position, ascending
    rec_tp: np.ndarray          # [R, T] uint8
    rec_ok: np.ndarray          # [R, T] uint8: not ignored
    rec_cat_start: np.ndarray   # [K + 1] first record of each category
    free_at_cat: np.ndarray     # [K + 1] free detections before each category
    free_at_rec: np.ndarray     # [R] free detections before the record
    free_at_block: np.ndarray   # [R] ... before the start of the record's tie block
    free_after_block: np.ndarray  # [R] ... before the end of the record's tie block
    _free_image: np.ndarray | None = None

    def free_image(self) -> np.ndarray:
        """[F] image of each free detection, in order (built on first use: only weighted
        rows need it)."""
        if self._free_image is None:
            free = self.default.astype(bool)
            free[self.rec_pos] = False
            self._free_image = self.image[free].astype(np.int32)
        return self._free_image


def curve_table(state, row: int, m: int) -> CurveTable:
    """The :class:`CurveTable` of ``state`` row ``row`` and maxDets index ``m`` (numba)."""
    order, inputs = state.orders[m], state.inputs
    # Records: the detections matched in this row (at some threshold). One matched only in
    # another row has the default flags here (no true positive, ignored iff outside).
    hit_here = (state.match[row][:, state.matched_candidates] >= 0).any(axis=0)
    position = np.where(hit_here, order.position_of_dt[state.matched_dt], -1)
    n_pos, n_rec = len(order.dt), int(np.count_nonzero(position >= 0))
    n_thr = state.match.shape[1]
    if order.scratch is None:    # reused by every table: no fresh [N] index array per matching
        order.scratch = np.full(n_pos, -1, dtype=np.int32)
    default = np.empty(n_pos, dtype=np.uint8)
    rec_pos = np.empty(n_rec, dtype=np.int64)
    rec_tp = np.empty((n_rec, n_thr), dtype=np.uint8)
    rec_ok = np.empty((n_rec, n_thr), dtype=np.uint8)
    free_at_rec = np.empty(n_rec, dtype=np.int64)
    free_at_block = np.empty(n_rec, dtype=np.int64)
    free_after_block = np.empty(n_rec, dtype=np.int64)
    free_at_cat = np.empty(len(order.cat_start), dtype=np.int64)
    table_kernel(order.dt, order.block_start, order.block_end, order.cat_start,
                 state.dt_outside[row].view(np.uint8), position, state.matched_candidates,
                 state.matched_dt, state.match[row], state.gt_ignore[row].view(np.uint8),
                 inputs.gt_id, order.scratch, default, rec_pos, rec_tp, rec_ok, free_at_rec,
                 free_at_block, free_after_block, free_at_cat)
    return CurveTable(
        cat_start=order.cat_start, image=order.image, block_start=order.block_start,
        block_end=order.block_end, default=default, rec_pos=rec_pos, rec_tp=rec_tp,
        rec_ok=rec_ok, rec_cat_start=np.searchsorted(rec_pos, order.cat_start),
        free_at_cat=free_at_cat, free_at_rec=free_at_rec, free_at_block=free_at_block,
        free_after_block=free_after_block)


def _table_kernel(order_dt, block_start, block_end, cat_start, outside, position, matched,
                  matched_dt, match, gt_ignore, gt_id, scratch, default, rec_pos, rec_tp,
                  rec_ok, free_at_rec, free_at_block, free_after_block, free_at_cat):
    """One pass over the ordered detections: ``default[p]`` = not outside; the matched ones
    (``position[u]`` >= 0) become records in position order with their flags, and the
    running count of free detections is noted at each record, its tie block's ends and each
    category start. ``scratch`` ([N], all -1) maps positions to matched detections for the
    pass and is left all -1 again.

    A record's flags at threshold t are :meth:`MatchState.flags`' (pycocotools'
    ``evaluateImg``): g = matched GT or -1; "matched" is ``g >= 0 and gt_id[g] != 0``;
    ignored = ``(g >= 0 and gt_ignore[g]) or (not matched and outside)``; tp = matched and
    not ignored; ok = not ignored."""
    n_pos = len(order_dt)
    n_thr = match.shape[0]
    # Flags in candidate order first: the reads of ``match`` then run along its rows.
    tp = np.empty((len(position), n_thr), np.uint8)
    ok = np.empty((len(position), n_thr), np.uint8)
    for u in range(len(position)):
        if position[u] < 0:
            continue
        scratch[position[u]] = u
        out = np.uint8(outside[matched_dt[u]] != 0)
        for t in range(n_thr):
            # Bitwise, without branches: with permuted slices these flags are unpredictable.
            g = match[t, matched[u]]
            hit = np.uint8(g >= 0)
            gi = max(g, 0)
            matched_gt = hit & np.uint8(gt_id[gi] != 0)
            ignored = (hit & np.uint8(gt_ignore[gi] != 0)) | ((1 - matched_gt) & out)
            tp[u, t] = matched_gt & (1 - ignored)
            ok[u, t] = 1 - ignored
    k = 0
    free = 0
    r = 0
    block_free = 0
    for p in range(n_pos):
        while k < len(cat_start) and cat_start[k] == p:
            free_at_cat[k] = free
            k += 1
        if block_start[p] == p:
            block_free = free
        d = 1 - outside[order_dt[p]]
        default[p] = d
        u = scratch[p]
        if u >= 0:
            scratch[p] = -1
            rec_pos[r] = p
            for t in range(n_thr):         # element by element: a slice copy allocates
                rec_tp[r, t] = tp[u, t]
                rec_ok[r, t] = ok[u, t]
            free_at_rec[r] = free
            free_at_block[r] = block_free
            r += 1
        else:
            free += d                  # branch-free: the flags are unpredictable
    while k < len(cat_start):
        free_at_cat[k] = free
        k += 1
    # Free detections up to the end of each record's tie block: the block's start count plus
    # its free members (tie blocks are short).
    for i in range(r):
        count = free_at_block[i]
        for q in range(block_start[rec_pos[i]], block_end[rec_pos[i]]):
            if default[q] and not _is_record(rec_pos, i, q):
                count += 1
        free_after_block[i] = count


def _is_record(rec_pos, i, q) -> bool:
    """Whether position q (in the tie block of record i) is a record: records of one block
    are consecutive around i."""
    j = i
    while j >= 0 and rec_pos[j] >= q:
        if rec_pos[j] == q:
            return True
        j -= 1
    j = i + 1
    while j < len(rec_pos) and rec_pos[j] <= q:
        if rec_pos[j] == q:
            return True
        j += 1
    return False


@dataclass
class ImageGroups:
    """Images of counted items (GT, true positives, ...) sorted by group: group g holds
    ``image[start[g]:start[g + 1]]``, one entry per item."""

    image: np.ndarray
    start: np.ndarray

    @classmethod
    def of(cls, image: np.ndarray, group: np.ndarray, n_groups: int) -> ImageGroups:
        order = np.argsort(group, kind="stable")
        return cls(image=image[order], start=np.searchsorted(group[order],
                                                             np.arange(n_groups + 1)))

    def weighted_counts(self, weights: np.ndarray) -> np.ndarray:
        """[B, G] ``sum(weights[b, image])`` over each group's items, in exact integers (a
        cumsum of the gathered weights; no BLAS, whose threads stall on a loaded machine)."""
        cs = np.zeros((len(weights), len(self.image) + 1), dtype=np.int64)
        np.cumsum(weights[:, self.image], axis=1, out=cs[:, 1:])
        return cs[:, self.start[1:]] - cs[:, self.start[:-1]]


def gt_groups(state, row: int) -> ImageGroups:
    """Counted (non-ignored) GT by category (from the GT sorted by category once: a filter,
    not a sort, per matching row)."""
    inputs = state.inputs
    by_cat = inputs.gt_by_category
    counted = state.gt_counted[row][by_cat]
    n_cat = len(inputs.category_ids)
    start = np.zeros(n_cat + 1, dtype=np.int64)
    np.cumsum(np.bincount(inputs.gt_cat[by_cat][counted], minlength=n_cat), out=start[1:])
    return ImageGroups(image=inputs.gt_image[by_cat][counted], start=start)


def tp_groups(state, row: int, m: int) -> ImageGroups:
    """True positives of the kept detections (maxDets index ``m``) by (IoU threshold,
    category) segment ``t * K + k``."""
    inputs, order = state.inputs, state.orders[m]
    n_cat, n_thr = len(inputs.category_ids), len(IOU_THRESHOLDS)
    tp_flags, _ = state.flags(row)
    kept = order.position_of_dt[state.matched_dt] >= 0
    r_i, t_i = np.nonzero(tp_flags[kept])
    dt = state.matched_dt[kept][r_i]
    return ImageGroups.of(inputs.dt_image[dt], t_i * n_cat + inputs.dt_cat[dt],
                          n_thr * n_cat)


def _beats(n, big_n, best_n, best_big_n) -> bool:
    """Whether ``n / (N + eps)`` > ``best_n / (best_N + eps)`` as float64 (best_n 0: empty).

    For N >= 2, ``N + eps`` rounds to N, so the doubles are the correctly rounded n / N and
    compare as the exact fractions (integer cross products). N = 1 (then n = 1) gives
    ``1 / (1 + 2**-52) < 1``: it loses only to a ratio of exactly 1 with N >= 2.
    """
    if best_n == 0:
        return True
    lhs = n * best_big_n
    rhs = best_n * big_n
    if lhs != rhs:
        return lhs > rhs
    return best_big_n == 1 and big_n != 1


def _curve_kernel(weights, unit, npig, t_index, k_lo, k_hi, image,
                  block_start, block_end, default, free_image, free_at_cat, free_at_rec,
                  free_at_block, free_after_block, rec_pos, rec_tp, rec_ok, rec_cat_start,
                  thresholds, eps, q_out):
    """For every weight vector b, category k in [k_lo, k_hi), threshold t_index[j]: the
    sampled interpolated precision ``q_out[b, k - k_lo, j, r]`` (-1 when npig is 0; see
    :mod:`.measures`).

    ``precision[r]`` is the largest ``pr`` over the true positives with ``n >= need[r]`` (the
    first index where ``rc >= recThrs[r]`` and all after it). Each true positive falls in the
    block ``[need[r], need[r+1])`` of its n: only the best (n, N) of each of the 101 blocks is
    kept while walking (integer comparisons, :func:`_beats`), then a suffix maximum over the
    blocks and one division per block.

    The walk goes from record to record; the free detections in between only add their
    weights to N (``free_image``), or their count for a row of unit weights
    (``unit[b]``: the counts ``free_at_*``). A tie block holding a record, in an image
    of weight w > 1, is walked copy by copy (its copies interleave).
    """
    n_b = weights.shape[0]
    n_t = len(t_index)
    n_r = len(thresholds)
    n = np.zeros(n_t, np.int64)
    n_rec = np.zeros(n_t, np.int64)
    block = np.zeros(n_t, np.int64)
    best_n = np.zeros((n_t, n_r), np.int64)
    best_big_n = np.zeros((n_t, n_r), np.int64)
    need = np.ones(n_r + 1, np.int64)
    for b in range(n_b):
        for k in range(k_lo, k_hi):
            kk = k - k_lo
            npk = npig[b, k]
            track = npk > 0
            if track:
                # need[r]: the smallest n >= 1 with n / npk >= recThrs[r] in float64 (where
                # searchsorted(rc, recThrs, 'left') lands); need[n_r] is past every n.
                for ri in range(n_r):
                    c = max(int(np.ceil(thresholds[ri] * npk)), 1)
                    while c > 1 and (c - 1) / npk >= thresholds[ri]:
                        c -= 1
                    while c / npk < thresholds[ri]:
                        c += 1
                    need[ri] = c
                need[n_r] = np.iinfo(np.int64).max
                for j in range(n_t):           # explicit loops: slice assignment is slow
                    for ri in range(n_r):
                        best_n[j, ri] = 0
                        best_big_n[j, ri] = 0
            for j in range(n_t):
                n[j] = 0
                n_rec[j] = 0
                block[j] = -1
            n_default = 0
            r = rec_cat_start[k]
            r_end = rec_cat_start[k + 1]
            f = free_at_cat[k]
            while r < r_end:           # after the last record: false positives only
                p = rec_pos[r]
                w = weights[b, image[p]]
                copies = w > 1 and block_end[p] - block_start[p] > 1
                stop = free_at_block[r] if copies else free_at_rec[r]
                if unit[b]:
                    n_default += stop - f
                else:
                    for i in range(f, stop):
                        n_default += weights[b, free_image[i]]
                f = stop
                if w == 0:
                    r += 1
                    continue
                # One pass of weight w over record r, or (tied block, several copies) w
                # passes of weight 1 over the whole block.
                lo, hi, passes, step = (p, p + 1, 1, w) if not copies else \
                    (block_start[p], block_end[p], w, 1)
                r0 = r
                after_block = free_after_block[r]
                for _ in range(passes):
                    r = r0
                    for q in range(lo, hi):
                        if r < r_end and rec_pos[r] == q:
                            for j in range(n_t):
                                t = t_index[j]
                                n_rec[j] += step * rec_ok[r, t]
                                if rec_tp[r, t]:
                                    n[j] += step
                                    if track:
                                        i = block[j]
                                        while need[i + 1] <= n[j]:
                                            i += 1
                                        block[j] = i
                                        big_n = n_default + n_rec[j]
                                        if _beats(n[j], big_n, best_n[j, i], best_big_n[j, i]):
                                            best_n[j, i] = n[j]
                                            best_big_n[j, i] = big_n
                            r += 1
                        elif default[q]:
                            n_default += step
                if copies:
                    f = after_block
            for j in range(n_t):
                if npk == 0:
                    for ri in range(n_r):
                        q_out[b, kk, j, ri] = -1.0
                    continue
                top_n = 0                       # suffix maximum over the blocks
                top_big_n = 0
                value = 0.0
                for ri in range(n_r - 1, -1, -1):
                    if best_n[j, ri] > 0 and _beats(best_n[j, ri], best_big_n[j, ri],
                                                    top_n, top_big_n):
                        top_n = best_n[j, ri]
                        top_big_n = best_big_n[j, ri]
                        value = top_n / (top_big_n + eps)
                    q_out[b, kk, j, ri] = value


if HAVE_NUMBA:
    _beats = njit(cache=True, nogil=True, inline="always")(_beats)
    _is_record = njit(cache=True, nogil=True)(_is_record)
    table_kernel = njit(cache=True, nogil=True)(_table_kernel)
    curve_kernel = njit(cache=True, nogil=True)(_curve_kernel)
else:  # pragma: no cover
    curve_kernel = table_kernel = None

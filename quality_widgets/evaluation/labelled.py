"""A measure on every slice of an object labelling, and on many random relabellings of it.

An object split gives each annotation and each prediction a label: the slice it belongs to
(``0 .. n_slices - 1``) or none (-1). Slice s is evaluated as :meth:`Evaluator.slices_state`
does (pycocotools with an area range): GT labelled otherwise is ignored, a detection matched
to it is ignored, an unmatched detection labelled otherwise is ignored. A permutation test
shuffles the labels (annotations among annotations, predictions among predictions) and
measures every slice again, hundreds of times. This module does that without building a
:class:`~.accumulate.MatchState` per relabelling:

- the matching of the "simple" components of the candidate-pair graph does not depend on the
  ignore flags (:func:`~.matching.candidate_pairs`): it is reused as is; the "complex"
  components are matched again per slice by the same greedy rule
  (:func:`~.matching.greedy_match`, compiled here as one loop over their few pairs);
- every candidate detection (IoU >= .5 with some GT, rank < 100) is a record of the curve
  kernel whatever it matched; the other detections are "free" and enter AP only through
  their count per slice before each record (one pass over the ordered detections);
- the precision curves then come from :func:`~.measures.curve_kernel` (the code the
  bootstrap uses), so AP, AR and the per-category measures are the same doubles as
  ``evaluate_masks(...).stats`` for the same slices (tested).

Random labels are drawn in the compiled loop (:mod:`._label_draws`): the annotation labels of
the evaluated GT and the prediction labels of the ordered detections, each a uniform draw
without replacement from its multiset, which is the distribution of a uniform permutation of
the labels over all rows, restricted to the rows the evaluation reads. With ``permutable``
rows, only their labels are shuffled, among themselves; the other rows keep theirs (a slice's
object split: the rows outside the slice stay in no side).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._label_draws import (
    _sample_fixed,
    _sample_free_counts,
    _sample_labels,  # noqa: F401  (the sampler, for its tests)
    fixed_labels,
    permutable_counts,
)
from .accumulate import EPS
from .measures import HAVE_NUMBA, curve_kernel, threshold_indices
from .params import AREA_LABELS, MATCH_THRESHOLDS, MAX_DETS, RECALL_THRESHOLDS

if HAVE_NUMBA:  # pragma: no branch
    from numba import njit


@dataclass
class LabelTable:
    """The slice-independent arrays of one (area range, maxDets) for labelled measures."""

    area: int
    m: int
    rec_pos: np.ndarray         # [R] position (accumulation order m) of each candidate
    rec_cand: np.ndarray        # [R] its candidate index
    is_rec: np.ndarray          # [N] uint8: position holds a record
    rec_cat_start: np.ndarray   # [K + 1]
    cat_start: np.ndarray       # [K + 1]
    pos_inside: np.ndarray      # [N] uint8: inside the area range
    pos_image: np.ndarray       # [N]
    gt_base_ignore: np.ndarray  # [n_gt] uint8: ignored (crowd; keypoints: none labelled) or
    #                            outside the area range
    cplx_of_cand: np.ndarray    # [n_cand] index among the complex candidates, or -1
    c_cand_start: np.ndarray    # [n_complex + 1] first pair of each complex candidate
    c_pair_gt: np.ndarray
    c_pair_iou: np.ndarray
    rec_gt: np.ndarray          # [R] the one candidate GT of a simple record (else -1)
    rec_hit: np.ndarray         # [R, T] uint8: a simple record matches it at threshold t
    rec_cplx: np.ndarray        # [R] index among the complex candidates, or -1
    rec_inside: np.ndarray      # [R] uint8: the record is inside the area range
    cat_stop: np.ndarray        # [K] one past the last record's position of each category


def label_table(evaluator, area: int, m: int) -> LabelTable:
    inputs, cands, order = evaluator.inputs, evaluator.candidates, evaluator.orders[m]
    pos = order.position_of_dt[cands.cand_dt]
    rec = np.flatnonzero(pos >= 0)
    rec = rec[np.argsort(pos[rec], kind="stable")]
    rec_pos = pos[rec]
    is_rec = np.zeros(len(order.dt), dtype=np.uint8)
    is_rec[rec_pos] = 1
    cplx = np.full(len(cands.cand_dt), -1, dtype=np.int64)
    cplx[cands.complex_cands] = np.arange(len(cands.complex_cands))
    cp = cands.complex_pairs
    rec_cat_start = np.searchsorted(rec_pos, order.cat_start).astype(np.int64)
    has = rec_cat_start[1:] > rec_cat_start[:-1]
    cat_stop = np.where(has, rec_pos[np.maximum(rec_cat_start[1:] - 1, 0)] + 1,
                        order.cat_start[:-1]).astype(np.int64)
    return LabelTable(
        area=area, m=m, rec_pos=rec_pos.astype(np.int64), rec_cand=rec.astype(np.int64),
        is_rec=is_rec, rec_cat_start=np.searchsorted(rec_pos, order.cat_start).astype(np.int64),
        cat_start=order.cat_start.astype(np.int64),
        pos_inside=(~evaluator._dt_outside[area][order.dt]).astype(np.uint8),
        pos_image=order.image.astype(np.int64),
        gt_base_ignore=(inputs.gt_ignored | evaluator._gt_outside[area]).astype(np.uint8),
        cplx_of_cand=cplx,
        c_cand_start=np.asarray(cp.cand_start, dtype=np.int64),
        c_pair_gt=np.asarray(cp.pair_gt, dtype=np.int64),
        c_pair_iou=np.asarray(cp.pair_iou, dtype=float),
        rec_gt=np.where(cplx[rec] < 0, cands.pair_gt[cands.cand_start[rec]], -1).astype(
            np.int64),
        rec_hit=np.ascontiguousarray((cands.simple_match[:, rec] >= 0).T, dtype=np.uint8),
        rec_cplx=cplx[rec].astype(np.int64),
        rec_inside=(~evaluator._dt_outside[area][order.dt])[rec_pos].astype(np.uint8),
        cat_stop=cat_stop)


# ---- compiled kernels ------------------------------------------------------------------------
def _free_counts(pos_label, pos_inside, is_rec, cat_start, free_at_rec, free_at_cat,
                 rec_label):
    """One pass over the ordered detections: each record's label, and the free detections
    counted on each side (labelled so, inside the area range) before each record and each
    category start."""
    n_sides = free_at_rec.shape[0]
    free = np.zeros(n_sides, np.int64)
    k = 0
    r = 0
    for p in range(len(pos_label)):
        while k < len(cat_start) and cat_start[k] == p:
            for s in range(n_sides):
                free_at_cat[s, k] = free[s]
            k += 1
        lab = pos_label[p]
        if is_rec[p]:
            rec_label[r] = lab
            for s in range(n_sides):
                free_at_rec[s, r] = free[s]
            r += 1
        elif lab >= 0 and pos_inside[p]:
            free[lab] += 1
    while k < len(cat_start):
        for s in range(n_sides):
            free_at_cat[s, k] = free[s]
        k += 1


def _measure_labels(gt_label, rec_label, free_at_rec, free_at_cat, n_sides, recall,
                    t_index, k_lo, k_hi, gt_base_ignore, gt_cat, gt_id, gt_crowd, pos_inside,
                    pos_image, is_rec, rec_pos, rec_cand, rec_cat_start, cat_start, rec_gt,
                    rec_hit, rec_cplx, rec_inside, cplx_of_cand, c_cand_start, c_pair_gt,
                    c_pair_iou, match_thr, n_cat, n_img, rec_thr, eps, q_out, r_out,
                    scratch):
    """Every side's curves (``q_out[s]``, [K', T', R]) or recalls (``r_out[s]``, [T', K'])
    for one labelling: GT labels, record labels and free counts (:func:`_free_counts`).
    ``scratch``: :func:`_scratch` arrays, reused from one labelling to the next (fresh large
    arrays would cost a page fault per page touched).

    GT labelled s (not crowd, inside the area range) is counted on side s and ignored on the
    others. Each side's records are compacted to the active ones (non-ignored at some
    threshold: an ignored record changes no count, so the curve walk skips it). A simple
    record (one candidate GT g, matched to it at the thresholds of ``rec_hit``) can only be
    active on g's side and on its own, so it is visited once; a complex one is matched again
    per side by pycocotools' greedy rule."""
    n_gt = len(gt_label)
    n_thr = rec_hit.shape[1]
    n_c = len(c_cand_start) - 1
    npig = np.zeros((n_sides, n_cat), np.int64)
    for g in range(n_gt):
        lab = gt_label[g]
        if lab >= 0 and not gt_base_ignore[g]:
            npig[lab, gt_cat[g]] += 1
    # Complex components, per side: the best free GT with IoU >= t by (not ignored, IoU,
    # file position), candidates in (rank, detection) order.
    taken, a_pos, a_free, a_tp, a_ok, weights = scratch
    cmatch = np.full((n_sides, n_thr, n_c), -1, np.int64)
    for s in range(n_sides):
        for c in range(n_c):
            for t in range(n_thr):
                best = -1
                best_ignored = np.uint8(1)
                for p in range(c_cand_start[c], c_cand_start[c + 1]):
                    g = c_pair_gt[p]
                    if taken[t, g] and not gt_crowd[g]:
                        continue
                    iou = c_pair_iou[p]
                    if iou < match_thr[t]:
                        continue
                    ig = gt_base_ignore[g] | np.uint8(gt_label[g] != s)
                    if best < 0:
                        best, best_ignored = p, ig
                        continue
                    if ig != best_ignored:
                        if best_ignored:
                            best, best_ignored = p, ig
                    elif iou != c_pair_iou[best]:
                        if iou > c_pair_iou[best]:
                            best, best_ignored = p, ig
                    elif g > c_pair_gt[best]:
                        best, best_ignored = p, ig
                if best >= 0:
                    g = c_pair_gt[best]
                    cmatch[s, t, c] = g
                    taken[t, g] = 1
        for c in range(n_c):                       # reset what was taken
            for t in range(n_thr):
                g = cmatch[s, t, c]
                if g >= 0:
                    taken[t, g] = 0
    # Flags (MatchState.flags) of the records of categories k_lo..k_hi - 1, per side.
    a_cat_start = np.zeros((n_sides, len(rec_cat_start)), np.int64)
    n_act = np.zeros(n_sides, np.int64)
    kc = k_lo + 1
    for r in range(rec_cat_start[k_lo], rec_cat_start[k_hi]):
        while kc < len(rec_cat_start) and rec_cat_start[kc] == r:
            for s in range(n_sides):
                a_cat_start[s, kc] = n_act[s]
            kc += 1
        own = rec_label[r] if rec_inside[r] else -1
        ci = rec_cplx[r]
        if ci < 0:
            g = rec_gt[r]
            side_g = gt_label[g] if not gt_base_ignore[g] else -1
            matched = np.uint8(gt_id[g] != 0)
            for s in (side_g, own):
                if s < 0:
                    continue
                out = np.uint8(own != s)
                ignored_hit = np.uint8(side_g != s) | ((1 - matched) & out)
                if ignored_hit and out:
                    continue                        # ignored at every threshold
                tp_hit = matched & (1 - ignored_hit)
                i = n_act[s]
                for t in range(n_thr):
                    if rec_hit[r, t]:
                        a_tp[s, i, t] = tp_hit
                        a_ok[s, i, t] = 1 - ignored_hit
                    else:
                        a_tp[s, i, t] = 0
                        a_ok[s, i, t] = 1 - out
                a_pos[s, i] = rec_pos[r]
                a_free[s, i] = free_at_rec[s, r]
                n_act[s] = i + 1
                if side_g == own:
                    break                           # one side: visited once
        else:
            for s in range(n_sides):
                out = np.uint8(own != s)
                i = n_act[s]
                active = np.uint8(0)
                for t in range(n_thr):
                    g = cmatch[s, t, ci]
                    hit = np.uint8(g >= 0)
                    gi = max(g, 0)
                    matched = hit & np.uint8(gt_id[gi] != 0)
                    ig = gt_base_ignore[gi] | np.uint8(gt_label[gi] != s)
                    ignored = (hit & ig) | ((1 - matched) & out)
                    a_tp[s, i, t] = matched & (1 - ignored)
                    a_ok[s, i, t] = 1 - ignored
                    active |= 1 - ignored
                if active:
                    a_pos[s, i] = rec_pos[r]
                    a_free[s, i] = free_at_rec[s, r]
                    n_act[s] = i + 1
    while kc < len(rec_cat_start):
        for s in range(n_sides):
            a_cat_start[s, kc] = n_act[s]
        kc += 1
    unit = np.ones(1, np.bool_)
    dummy = np.zeros(1, np.uint8)           # arrays the kernel reads only for weights > 1
    no_block = np.zeros(1, np.int64)
    dummy_image = np.zeros(1, np.int32)
    tp_count = np.zeros((n_thr, n_cat), np.int64)
    for s in range(n_sides):
        m = n_act[s]
        if recall:
            for t in range(n_thr):
                for k in range(n_cat):
                    tp_count[t, k] = 0
            for k in range(k_lo, k_hi):
                for i in range(a_cat_start[s, k], a_cat_start[s, k + 1]):
                    for t in range(n_thr):
                        tp_count[t, k] += a_tp[s, i, t]
            for j in range(len(t_index)):
                for k in range(k_lo, k_hi):
                    if npig[s, k] == 0:
                        r_out[s, j, k - k_lo] = -1.0
                    else:
                        r_out[s, j, k - k_lo] = tp_count[t_index[j], k] / npig[s, k]
        else:
            fr = a_free[s, :m]
            curve_kernel(weights, unit, npig[s:s + 1], t_index, k_lo, k_hi, pos_image,
                         no_block, no_block, dummy, dummy_image, free_at_cat[s], fr, fr, fr,
                         a_pos[s, :m], a_tp[s, :m], a_ok[s, :m], a_cat_start[s], rec_thr, eps,
                         q_out[s:s + 1])


def _scratch(n_sides, n_gt, n_rec, n_thr, n_img):
    """Work arrays of :func:`_measure_labels`: taken [T, n_gt] (all 0 between calls), the
    compacted records a_pos, a_free [S, R], a_tp, a_ok [S, R, T], unit weights [1, n_img]."""
    return (np.zeros((n_thr, n_gt), np.uint8), np.empty((n_sides, n_rec), np.int64),
            np.empty((n_sides, n_rec), np.int64), np.empty((n_sides, n_rec, n_thr), np.uint8),
            np.empty((n_sides, n_rec, n_thr), np.uint8), np.ones((1, n_img), np.int64))


def _mean_of(q, r, recall, out):
    """``out[s]``: pycocotools' ``mean(s[s > -1])`` of side s, in its [T, R, K] order (curves
    ``q`` [S, K', T', R], or recalls ``r`` [S, T', K']), NaN when nothing is defined. A plain
    sum: numpy's value up to the last bits (its summation order differs)."""
    for s in range(out.shape[0]):
        total = 0.0
        count = 0
        if recall:
            for j in range(r.shape[1]):
                for k in range(r.shape[2]):
                    v = r[s, j, k]
                    if v > -1:
                        total += v
                        count += 1
        else:
            for j in range(q.shape[2]):
                for ri in range(q.shape[3]):
                    for k in range(q.shape[1]):
                        v = q[s, k, j, ri]
                        if v > -1:
                            total += v
                            count += 1
        out[s] = total / count if count else np.nan


def _permuted(seed, n_perm, ann_counts, pred_counts, gt_fixed, slot_fixed, n_sides, recall,
              t_index, k_lo, k_hi, gt_base_ignore, gt_cat, gt_id, gt_crowd, pos_inside, pos_image,
              is_rec, rec_pos, rec_cand, rec_cat_start, cat_start, rec_gt, rec_hit,
              rec_cplx, rec_inside, cplx_of_cand, c_cand_start, c_pair_gt, c_pair_iou,
              match_thr, n_cat, n_img, rec_thr, eps, cat_stop, q_out, r_out, means):
    """``means[b]``: every side's measure under ``n_perm`` random relabellings drawn from
    the 64-bit ``seed`` (``gt_fixed`` per evaluated GT, ``slot_fixed`` per drawn detection
    slot: :data:`._label_draws.DRAW` or the label kept)."""
    state = np.empty(1, np.uint64)
    state[0] = seed
    n_gt = len(gt_fixed)
    gt_label = np.empty(n_gt, np.int64)
    n_rec = len(rec_pos)
    rec_label = np.empty(n_rec, np.int64)
    free_at_rec = np.empty((n_sides, n_rec), np.int64)
    free_at_cat = np.empty((n_sides, len(cat_start)), np.int64)
    scratch = _scratch(n_sides, n_gt, n_rec, rec_hit.shape[1], n_img)
    for b in range(n_perm):
        _sample_fixed(ann_counts, state, gt_fixed, gt_label)
        _sample_free_counts(pred_counts, state, slot_fixed, pos_inside, is_rec, cat_start,
                            cat_stop, rec_pos, rec_cat_start, k_lo, k_hi, recall, free_at_rec,
                            free_at_cat, rec_label)
        _measure_labels(gt_label, rec_label, free_at_rec, free_at_cat, n_sides, recall,
                        t_index, k_lo, k_hi, gt_base_ignore, gt_cat, gt_id, gt_crowd,
                        pos_inside, pos_image, is_rec, rec_pos, rec_cand, rec_cat_start,
                        cat_start, rec_gt, rec_hit, rec_cplx, rec_inside, cplx_of_cand,
                        c_cand_start, c_pair_gt, c_pair_iou, match_thr, n_cat, n_img, rec_thr,
                        eps, q_out, r_out, scratch)
        _mean_of(q_out, r_out, recall, means[b])


if HAVE_NUMBA:
    _free_counts = njit(cache=True, nogil=True)(_free_counts)
    _measure_labels = njit(cache=True, nogil=True)(_measure_labels)
    _mean_of = njit(cache=True, nogil=True)(_mean_of)
    _scratch = njit(cache=True, nogil=True)(_scratch)
    _permuted = njit(cache=True, nogil=True)(_permuted)


# ---- the measure ------------------------------------------------------------------------------
def _mean_defined(values: np.ndarray) -> float:
    s = values[values > -1]
    return float(np.mean(s)) if len(s) else float("nan")


def labelled_measures(evaluator, spec, ann_labels, pred_labels, n_slices: int,
                      category: int | None = None, permutations: int = 0,
                      seed: int = 0, permutable=None) -> np.ndarray:
    """The measure ``spec`` (kind "precision" or "recall") of every slice of a labelling.

    ``ann_labels`` / ``pred_labels``: int per ``dataset.annotations`` / ``dataset.predictions``
    row, the slice (``0 .. n_slices - 1``) or -1. ``permutations`` = 0: [n_slices] for these
    labels; n > 0: [n, n_slices] for n random relabellings drawn with ``seed`` (the given
    labels only fix the multisets). ``permutable``: None (every row's label is shuffled), or
    ``(annotation rows, prediction rows)``, two bool masks: only the labels of those rows are
    shuffled, among themselves; the other rows keep theirs. NaN where a slice has no counted
    GT.
    """
    if not HAVE_NUMBA:  # pragma: no cover
        raise RuntimeError("labelled_measures needs numba")
    if spec.kind not in ("precision", "recall"):
        raise ValueError(f"labelled_measures computes AP and AR measures, not {spec.name!r}")
    inputs = evaluator.inputs
    a = AREA_LABELS.index(spec.area)
    m = MAX_DETS.index(spec.max_dets)
    key = ("label_table", a, m)
    table = evaluator.tables.get(key)
    if table is None:
        table = evaluator.tables[key] = label_table(evaluator, a, m)
    order = evaluator.orders[m]
    n_cat = len(inputs.category_ids)
    k_lo, k_hi = (0, n_cat) if category is None else (category, category + 1)
    t_index = threshold_indices(spec).astype(np.int64)
    recall = spec.kind == "recall"
    n_perm = max(int(permutations), 1)
    q = np.empty((n_slices, k_hi - k_lo, len(t_index), len(RECALL_THRESHOLDS)) if not
                 recall else (n_slices, 1, 1, 1))
    rr = np.empty((n_slices, len(t_index), k_hi - k_lo) if recall else (n_slices, 1, 1))
    ann_labels = np.asarray(ann_labels, dtype=np.int64)
    pred_labels = np.asarray(pred_labels, dtype=np.int64)
    fixed = (t_index, k_lo, k_hi, table.gt_base_ignore, inputs.gt_cat.astype(np.int64),
             inputs.gt_id.astype(np.int64), inputs.gt_crowd.astype(np.uint8), table.pos_inside,
             table.pos_image, table.is_rec, table.rec_pos, table.rec_cand,
             table.rec_cat_start, table.cat_start, table.rec_gt, table.rec_hit,
             table.rec_cplx, table.rec_inside, table.cplx_of_cand,
             table.c_cand_start, table.c_pair_gt, table.c_pair_iou, MATCH_THRESHOLDS, n_cat,
             len(inputs.image_ids), RECALL_THRESHOLDS, EPS)
    if permutations:
        ann_rows, pred_rows = (None, None) if permutable is None else permutable
        # The drawn slots: the evaluated GT; the ordered detections (a recall: the records).
        slot_fixed = fixed_labels(pred_labels, pred_rows)[inputs.dt_row[order.dt]]
        out = np.empty((n_perm, n_slices))
        _permuted(np.uint64(int(seed) % 2**64), n_perm,
                  permutable_counts(ann_labels, ann_rows, n_slices),
                  permutable_counts(pred_labels, pred_rows, n_slices),
                  fixed_labels(ann_labels, ann_rows)[inputs.gt_row],
                  slot_fixed[table.rec_pos] if recall else slot_fixed, n_slices, recall,
                  *fixed, table.cat_stop, q, rr, out)
        return out
    gt_label = ann_labels[inputs.gt_row]
    pos_label = pred_labels[inputs.dt_row[order.dt]]
    n_rec = len(table.rec_pos)
    rec_label = np.empty(n_rec, np.int64)
    free_at_rec = np.empty((n_slices, n_rec), np.int64)
    free_at_cat = np.empty((n_slices, len(table.cat_start)), np.int64)
    _free_counts(pos_label, table.pos_inside, table.is_rec, table.cat_start, free_at_rec,
                 free_at_cat, rec_label)
    scratch = _scratch(n_slices, len(inputs.gt_row), n_rec, table.rec_hit.shape[1],
                       len(inputs.image_ids))
    _measure_labels(gt_label, rec_label, free_at_rec, free_at_cat, n_slices, recall, *fixed,
                    q, rr, scratch)
    # numpy's mean: the same doubles as measure_many on a slices_state
    if recall:
        return np.array([_mean_defined(rr[s]) for s in range(n_slices)])
    return np.array([_mean_defined(q[s].transpose(1, 2, 0)) for s in range(n_slices)])

"""Box IoUs and pycocotools' greedy matching, vectorised across images and categories.

The pair IoUs are box IoUs here; mask IoUs (``iou_type="segm"``) come from :mod:`.mask_iou`
and keypoint similarities (``"keypoints"``) from :mod:`.oks`; the matching is the same.

pycocotools evaluates one (image, category) group at a time: detections sorted by score
(stable ``mergesort`` on ``-score``, so ties keep file order) are cut to the best 100, and each,
in turn, takes the still-free ground truth (GT) of best IoU. This module does the same work for
all groups at once: it walks the detection *rank within its group* (0..99) and, at each rank,
decides the match of every group's detection of that rank with array operations. Groups never
share GT, so the detections of one rank cannot compete with each other.

The selection rule of ``COCOeval.evaluateImg``, restated without its loop: GT is sorted with
ignored GT last (stable); a detection skips GT already matched (unless crowd), and keeps the
last GT whose IoU is >= the best so far (starting at ``min(t, 1 - 1e-10)``), stopping at the
first ignored GT once it holds a non-ignored one. So it takes, among the free GT with
``IoU >= t``, the one of largest key ``(not ignored, IoU, position in file order)``. Each
candidate pair gets that key's rank within its detection, and a ``maximum.reduceat`` over the
detections of one rank picks every match of that rank for all IoU thresholds and area ranges.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.boxes import box_iou  # noqa: F401 (the one box IoU; imported from here too)
from .params import IOU_TYPES, MATCH_THRESHOLDS, MAX_DETS


def rank_in_group(group: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order of detections by (group, -score, row) and each detection's rank in its group.

    ``np.lexsort`` is stable, so equal scores keep row (= file) order, as pycocotools'
    ``argsort(-score, kind='mergesort')`` does.
    """
    order = np.lexsort((-score, group))
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    run = np.diff(np.r_[starts, len(order)])
    rank_sorted = np.arange(len(order)) - np.repeat(starts, run)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = rank_sorted
    return order, rank


@dataclass
class EvaluationInputs:
    """The dataset as flat arrays, in the order and with the fields pycocotools uses.

    Images are ``image_ids`` (sorted, pycocotools' ``params.imgIds``), categories
    ``category_ids`` (sorted ``params.catIds``); GT and detections refer to them by position.
    ``gt_*`` arrays hold the evaluated annotations in row (= file) order, ``dt_*`` the
    evaluated predictions in row order (``dt_rank`` < 100 are the ones pycocotools keeps).
    ``pair_*`` hold every same-image, same-category (detection, GT) pair with its IoU.
    """

    image_ids: np.ndarray
    image_pos_of_row: np.ndarray    # dataset.images row -> position in image_ids
    category_ids: np.ndarray
    gt_row: np.ndarray              # row in dataset.annotations
    gt_image: np.ndarray
    gt_cat: np.ndarray
    gt_area: np.ndarray
    gt_crowd: np.ndarray
    gt_id: np.ndarray
    dt_row: np.ndarray              # row in dataset.predictions
    dt_image: np.ndarray
    dt_cat: np.ndarray
    dt_score: np.ndarray
    dt_area: np.ndarray             # w * h, as loadRes sets it
    dt_rank: np.ndarray
    pair_dt: np.ndarray
    pair_gt: np.ndarray
    pair_iou: np.ndarray
    n_annotations: int              # rows of dataset.annotations
    n_predictions: int              # rows of dataset.predictions
    n_images: int                   # rows of dataset.images
    gt_by_category: np.ndarray      # GT indices sorted by category (stable)
    #: GT ignored whatever the slice (pycocotools' ``gt['ignore']``): crowd, and for keypoints
    #: also GT with ``num_keypoints == 0``. None: ``gt_crowd``.
    gt_ignore_base: np.ndarray | None = None
    iou_type: str = "bbox"

    @property
    def gt_ignored(self) -> np.ndarray:
        return self.gt_crowd if self.gt_ignore_base is None else self.gt_ignore_base




def pairs_by_key(key_a: np.ndarray, key_b: np.ndarray,
                 order_b: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every (i, j) with ``key_a[i] == key_b[j]``, grouped by i, j in ``order_b`` within a key
    (default: index order). A sort and two binary searches: O((n_a + n_b) log n_b + pairs)."""
    if order_b is None:
        order_b = np.argsort(key_b, kind="stable")
    sorted_b = key_b[order_b]
    lo = np.searchsorted(sorted_b, key_a, side="left")
    hi = np.searchsorted(sorted_b, key_a, side="right")
    count = hi - lo
    a = np.repeat(np.arange(len(key_a)), count)
    offset = np.arange(len(a)) - np.repeat(np.cumsum(count) - count, count)
    return a, order_b[np.repeat(lo, count) + offset]


def build_inputs(dataset, iou_type: str = "bbox", kpt_oks_sigmas=None) -> EvaluationInputs:
    """Flatten ``dataset`` into :class:`EvaluationInputs` and compute all pair IoUs.

    ``iou_type``: "bbox" (box IoU), "segm" (mask IoU, :mod:`.mask_iou`) or "keypoints" (OKS,
    :mod:`.oks`, with ``kpt_oks_sigmas``; only the 20 best detections of each image and
    category take part, pycocotools' keypoint ``maxDets``: the others get a rank past every
    maxDets). A prediction's area for the area ranges is its ``area`` column when the frame
    has one (masks and keypoints results, as loadRes sets it), else w * h."""
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {', '.join(IOU_TYPES)}, got {iou_type!r}")
    images = dataset.images
    image_ids = np.unique(images.index.to_numpy(dtype=np.int64))
    image_pos_of_row = np.searchsorted(image_ids, images.index.to_numpy(dtype=np.int64))
    category_ids = np.unique(dataset.categories.index.to_numpy(dtype=np.int64))

    def locate(frame):
        img = frame["image_id"].to_numpy(dtype=np.int64)
        cat = frame["category_id"].to_numpy(dtype=np.int64)
        ipos = np.clip(np.searchsorted(image_ids, img), 0, max(len(image_ids) - 1, 0))
        kpos = np.clip(np.searchsorted(category_ids, cat), 0, max(len(category_ids) - 1, 0))
        known = np.zeros(len(frame), dtype=bool)
        if len(image_ids) and len(category_ids):
            known = (image_ids[ipos] == img) & (category_ids[kpos] == cat)
        return ipos, kpos, known

    anns = dataset.annotations
    a_img, a_cat, a_ok = locate(anns)
    gt_row = np.flatnonzero(a_ok)
    gt_box = anns[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(dtype=float)[gt_row]
    gt_crowd = anns["iscrowd"].to_numpy(dtype=bool)[gt_row] if len(anns) else \
        np.zeros(0, dtype=bool)

    preds = dataset.predictions
    p_img, p_cat, p_ok = locate(preds)
    dt_row = np.flatnonzero(p_ok)
    dt_box = preds[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(dtype=float)[dt_row]
    dt_score = preds["score"].to_numpy(dtype=float)[dt_row]
    n_cat = max(len(category_ids), 1)
    dt_group = p_img[dt_row] * n_cat + p_cat[dt_row]
    _, dt_rank = rank_in_group(dt_group, dt_score)
    if iou_type == "keypoints":
        from .oks import KEYPOINT_MAX_DETS
        dt_rank = np.where(dt_rank < KEYPOINT_MAX_DETS, dt_rank, dt_rank + MAX_DETS[-1])

    # Every (detection, GT) pair of the same group: GT sorted by (group, row) gives each group
    # a contiguous range, and each detection is paired with its group's range.
    gt_group = a_img[gt_row] * n_cat + a_cat[gt_row]
    pair_dt, pair_gt = pairs_by_key(dt_group, gt_group, np.lexsort((gt_row, gt_group)))
    gt_ignore_base = None
    if iou_type == "bbox":
        pair_iou = box_iou(dt_box[pair_dt], gt_box[pair_gt], gt_crowd[pair_gt])
    elif iou_type == "segm":
        from .mask_iou import mask_pair_iou
        pair_iou = mask_pair_iou(dataset, gt_row, dt_row, pair_gt, pair_dt, gt_crowd)
    else:
        from .oks import keypoint_pair_oks
        kept = dt_rank[pair_dt] < MAX_DETS[-1]      # pycocotools computes OKS for these only
        pair_dt, pair_gt = pair_dt[kept], pair_gt[kept]
        pair_iou = keypoint_pair_oks(dataset, gt_row, dt_row, pair_gt, pair_dt, kpt_oks_sigmas)
        n_kp = anns["num_keypoints"].to_numpy()[gt_row] if "num_keypoints" in anns else \
            np.zeros(len(gt_row))
        gt_ignore_base = gt_crowd | (n_kp == 0)
    if "area" in preds:
        dt_area = preds["area"].to_numpy(dtype=float)[dt_row]
    else:
        dt_area = dt_box[:, 2] * dt_box[:, 3]

    return EvaluationInputs(
        image_ids=image_ids, image_pos_of_row=image_pos_of_row, category_ids=category_ids,
        gt_row=gt_row, gt_image=a_img[gt_row], gt_cat=a_cat[gt_row],
        gt_area=anns["area"].to_numpy(dtype=float)[gt_row] if len(anns) else np.zeros(0),
        gt_crowd=gt_crowd, gt_id=anns.index.to_numpy(dtype=np.int64)[gt_row],
        dt_row=dt_row, dt_image=p_img[dt_row], dt_cat=p_cat[dt_row], dt_score=dt_score,
        dt_area=dt_area, dt_rank=dt_rank,
        pair_dt=pair_dt, pair_gt=pair_gt, pair_iou=pair_iou,
        n_annotations=len(anns), n_predictions=len(preds), n_images=len(images),
        gt_by_category=np.argsort(a_cat[gt_row], kind="stable"),
        gt_ignore_base=gt_ignore_base, iou_type=iou_type)


def best_iou(inputs: EvaluationInputs) -> np.ndarray:
    """Per evaluated detection: max IoU with a same-category non-crowd GT of its image, else 0."""
    out = np.zeros(len(inputs.dt_row))
    keep = ~inputs.gt_crowd[inputs.pair_gt]
    np.maximum.at(out, inputs.pair_dt[keep], inputs.pair_iou[keep])
    return out


@dataclass
class CandidatePairs:
    """The pairs that can match at all: detection rank < 100 and IoU >= 0.5 (the lowest
    threshold), sorted by (detection rank, detection); ``cand_*`` are their detections."""

    pair_cand: np.ndarray           # candidate index of each pair
    pair_gt: np.ndarray
    pair_iou: np.ndarray
    cand_dt: np.ndarray             # evaluated-detection index of each candidate
    cand_start: np.ndarray          # first pair of each candidate (plus a final end)
    rank_start: np.ndarray          # first candidate of each rank 0..100 (plus end)
    # Split of the pair graph (see :func:`greedy_match`), set by candidate_pairs:
    simple_match: np.ndarray | None = None   # [T, n_cand] match of the simple candidates
    complex_cands: np.ndarray | None = None  # candidates of the complex components
    complex_pairs: CandidatePairs | None = None


def _structure(dt, gt, iou, dt_rank, max_det) -> CandidatePairs:
    """CandidatePairs of pairs already sorted by (detection rank, detection)."""
    new = np.r_[True, dt[1:] != dt[:-1]] if len(dt) else np.zeros(0, dtype=bool)
    cand_start = np.r_[np.flatnonzero(new), len(dt)]
    cand_dt = dt[cand_start[:-1]]
    return CandidatePairs(pair_cand=np.cumsum(new) - 1, pair_gt=gt, pair_iou=iou,
                          cand_dt=cand_dt, cand_start=cand_start,
                          rank_start=np.searchsorted(dt_rank[cand_dt], np.arange(max_det + 1)))


def candidate_pairs(inputs: EvaluationInputs, max_det: int = MAX_DETS[-1],
                    thresholds: np.ndarray = MATCH_THRESHOLDS) -> CandidatePairs:
    """The candidate pairs, with the slice-independent part of the matching done.

    In the graph of candidate pairs, a component whose detections each have a single
    candidate GT is "simple": each GT is taken, at threshold t, by its first detection in
    rank order with IoU >= t (every such detection, for a crowd GT) — whatever the ignore
    flags, which only order the choice between several GT. Those matches are computed here,
    once; only the other ("complex") components go through the greedy loop per slice.
    """
    keep = (inputs.dt_rank[inputs.pair_dt] < max_det) & (inputs.pair_iou >= thresholds[0])
    dt = inputs.pair_dt[keep]
    order = np.lexsort((dt, inputs.dt_rank[dt]))     # pairs of a detection stay contiguous
    dt, gt, iou = dt[order], inputs.pair_gt[keep][order], inputs.pair_iou[keep][order]
    cands = _structure(dt, gt, iou, inputs.dt_rank, max_det)
    n_gt = len(inputs.gt_row)
    # Complex components: closure from the detections with several candidate GT.
    multi = np.diff(cands.cand_start) > 1
    in_gt = np.zeros(n_gt, dtype=bool)
    in_gt[gt[multi[cands.pair_cand]]] = True
    while True:
        in_cand = np.zeros(len(cands.cand_dt), dtype=bool)
        in_cand[cands.pair_cand[in_gt[gt]]] = True
        grown = np.zeros(n_gt, dtype=bool)
        grown[gt[in_cand[cands.pair_cand]]] = True
        if grown.sum() == in_gt.sum():
            break
        in_gt = grown
    complex_pair = in_cand[cands.pair_cand]
    cands.complex_cands = np.flatnonzero(in_cand)
    cands.complex_pairs = _structure(dt[complex_pair], gt[complex_pair], iou[complex_pair],
                                     inputs.dt_rank, max_det)
    # Simple components: first detection in rank order reaching t takes the GT.
    simple = np.flatnonzero(~complex_pair)           # one pair per candidate here
    g, c = gt[simple], cands.pair_cand[simple]
    by_gt = np.lexsort((inputs.dt_rank[dt[simple]], g))
    g, c, iou_s = g[by_gt], c[by_gt], iou[simple][by_gt]
    reach = iou_s[:, None] >= thresholds[None, :]                 # [P, T]
    seg_start = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if len(g) else np.zeros(0, int)
    run = np.diff(np.r_[seg_start, len(g)])
    count = np.cumsum(reach, axis=0)
    before = np.zeros((1, len(thresholds)), dtype=np.int64)
    base = np.concatenate([before, count])[np.repeat(seg_start, run)]
    first = reach & (count - base == 1)
    took = np.where(inputs.gt_crowd[g][:, None], reach, first)
    simple_match = np.full((len(thresholds), len(cands.cand_dt)), -1, dtype=np.int64)
    p_i, t_i = np.nonzero(took)
    simple_match[t_i, c[p_i]] = g[p_i]
    cands.simple_match = simple_match
    return cands


def greedy_match(cands: CandidatePairs, gt_ignore: np.ndarray, gt_crowd: np.ndarray,
                 thresholds: np.ndarray = MATCH_THRESHOLDS) -> np.ndarray:
    """pycocotools' greedy matching for every area range and IoU threshold at once.

    ``gt_ignore`` is [A, n_gt] (crowd, or outside area range / slice). Returns ``match``
    [A, T, n_candidates]: the GT index each candidate detection matched, or -1. Simple
    components come precomputed (:func:`candidate_pairs`); complex ones are matched here.
    """
    n_area = gt_ignore.shape[0]
    match = np.repeat(cands.simple_match[None], n_area, axis=0)
    if cands.complex_pairs is not None and len(cands.complex_cands):
        match[:, :, cands.complex_cands] = _greedy_loop(cands.complex_pairs, gt_ignore,
                                                        gt_crowd, thresholds)
    return match


def _greedy_loop(cands: CandidatePairs, gt_ignore: np.ndarray, gt_crowd: np.ndarray,
                 thresholds: np.ndarray) -> np.ndarray:
    """The greedy matching by detection rank, for all groups at once (see module doc)."""
    n_area, n_gt = gt_ignore.shape
    n_thr, n_cand, n_pair = len(thresholds), len(cands.cand_dt), len(cands.pair_gt)
    match = np.full((n_area, n_thr, n_cand), -1, dtype=np.int64)
    if n_pair == 0:
        return match
    # Rank of each pair's key (not ignored, IoU, GT file position) within its detection;
    # key_order[a, cand_start + r] is the pair of rank r.
    key_rank = np.empty((n_area, n_pair), dtype=np.int64)
    key_order = np.empty((n_area, n_pair), dtype=np.int64)
    for a in range(n_area):
        order = np.lexsort((cands.pair_gt, cands.pair_iou, ~gt_ignore[a, cands.pair_gt],
                            cands.pair_cand))
        key_order[a] = order
        key_rank[a, order] = np.arange(n_pair) - cands.cand_start[cands.pair_cand[order]]
    taken = np.zeros((n_area, n_thr, n_gt), dtype=bool)
    thr = thresholds[None, :, None]
    for r in range(len(cands.rank_start) - 1):
        c0, c1 = cands.rank_start[r], cands.rank_start[r + 1]
        if c0 == c1:
            continue
        p0, p1 = cands.cand_start[c0], cands.cand_start[c1]
        gt = cands.pair_gt[p0:p1]
        free = ~taken[:, :, gt] | gt_crowd[gt]
        ok = free & (cands.pair_iou[p0:p1] >= thr)
        key = np.where(ok, key_rank[:, None, p0:p1], -1)
        best = np.maximum.reduceat(key, cands.cand_start[c0:c1] - p0, axis=2)
        a_i, t_i, c_i = np.nonzero(best >= 0)
        if len(a_i) == 0:
            continue
        pair = key_order[a_i, cands.cand_start[c0 + c_i] + best[a_i, t_i, c_i]]
        g = cands.pair_gt[pair]
        match[a_i, t_i, c0 + c_i] = g
        taken[a_i, t_i, g] = True
    return match

"""Label errors: overlooked, swapped, badly located and spurious boxes, scored from a detector's
predictions (and, optionally, from embeddings of the labelled objects).

:func:`find_label_errors` gives one row per (item, kind): every non-crowd annotation is scored
for ``"swapped"``, ``"badly_located"`` and ``"spurious"``, every prediction for
``"overlooked"``; ``score`` is in [0, 1], higher = more likely an error. :func:`add_label_scores`
joins the same scores to the metric frames (``swap_score``, ``location_score``,
``spurious_score``, ``label_agreement`` on objects, ``overlooked_score`` on predictions,
``label_quality`` per image). The formulas are in the README ("Label errors") and in
:func:`find_label_errors`'s Notes; in short:

* **Calibration.** A detector's scores are not probabilities. ``q`` = P(a label of the
  prediction's class lies at IoU >= 0.5 | score, class), estimated on the dataset itself: an
  isotonic fit of that outcome on the score (all classes), then one logit offset per class
  (shrunk to 0 by a N(0, 1) prior), so a class whose scores run low is not under-trusted.
* **Context** (overlooked only). ``q`` times the likelihood ratio of "another label of its
  class is in the image" between true objects and false positives, measured per quartile of
  ``q`` on the dataset itself (:func:`context_odds`).
* **Evidence.** Per (label, prediction) pair of one image: ``A(IoU)`` (aligned: 0 below IoU 0.3,
  1 from 0.6), ``N(IoU)`` (they overlap: 0 at 0, 1 from 0.05), ``B(IoU)`` (misaligned: 1 at 0,
  0 from 0.5), ``Z`` (size agreement sqrt(min area / max area)). A prediction already explained
  by another label (aligned with it) is not evidence against this one.

Crowd regions get no rows; a prediction inside a crowd region of its class (box IoU by the
crowd rule, intersection / prediction area, >= 0.5) is ignored, as pycocotools ignores it.
"""
from __future__ import annotations

import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..compute.similarity import knn
from ..data.schema import BOX_COLUMNS
from ..errors import DatasetError, DataWarning, ExportError
from ..evaluation.matching import box_iou, pairs_by_key

KINDS = ("overlooked", "swapped", "badly_located", "spurious")
LABEL_KINDS = ("swapped", "badly_located", "spurious")
# Frame column of each kind's score.
SCORE_COLUMNS = {"swapped": "swap_score", "badly_located": "location_score",
                 "spurious": "spurious_score", "overlooked": "overlooked_score"}
CANDIDATE_COLUMNS = ["kind", "score", "image_id", "annotation_id", "prediction_id",
                     "category_id", "category", "suggested_category_id", "suggested_category",
                     "bbox", "suggested_bbox", "reason"]
ANNOTATOR_FIELDS = ("annotator", "created_by", "annotator_id")

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
    return np.clip(np.asarray(iou, dtype=float) / NEAR, 0.0, 1.0)


def _misaligned(iou):
    return np.clip(1.0 - np.asarray(iou, dtype=float) / MISALIGNED, 0.0, 1.0)


# ---- calibration ------------------------------------------------------------------------------
def calibrate_scores(scores, categories, correct, use=None, per_class: bool = True,
                     prior_sd: float = 0.5) -> np.ndarray:
    """Calibrated precision ``q`` in (0, 1) of each detection: P(correct | score, category).

    ``correct`` (bool per detection) is the outcome the scores are calibrated against (here: a
    label of the detection's class at IoU >= 0.5); ``use`` masks the detections to fit on.
    ``g(s)`` is the isotonic (non-decreasing) regression of ``correct`` on the score over all
    categories, each block's rate shrunk as (hits + 0.5) / (n + 1) so it never reaches 0 or 1,
    interpolated linearly between block mean scores (and pooled again where the shrinkage
    broke the order). Then ``q = sigmoid(logit g(s) + d_c)``
    with one offset ``d_c`` per category, the maximum a posteriori estimate under a
    N(0, ``prior_sd``^2) prior (10 Newton steps): a category with few detections stays near the
    pooled curve.
    """
    from scipy.optimize import isotonic_regression
    s = np.asarray(scores, dtype=float)
    c = np.asarray(categories)
    t = np.asarray(correct, dtype=float)
    use = np.ones(len(s), dtype=bool) if use is None else np.asarray(use, dtype=bool)
    if not use.any():
        return np.full(len(s), 0.5)
    fs, ft = s[use], t[use]
    values, inverse = np.unique(fs, return_inverse=True)
    hits = np.bincount(inverse, weights=ft)
    counts = np.bincount(inverse).astype(float)
    fit = isotonic_regression(hits / counts, weights=counts, increasing=True)
    starts = np.asarray(fit.blocks[:-1])
    block_n = np.add.reduceat(counts, starts)
    block_hits = np.add.reduceat(hits, starts)
    block_s = np.add.reduceat(values * counts, starts) / block_n
    rate = (block_hits + 0.5) / (block_n + 1.0)
    rate = isotonic_regression(rate, weights=block_n, increasing=True).x   # shrinking can
    # undo the order between a small block and a large one: pool them again
    g = np.interp(s, block_s, rate)
    z = np.log(g) - np.log1p(-g)
    if not per_class:
        return g
    codes, cat_index = np.unique(c, return_inverse=True)
    delta = np.zeros(len(codes))
    zi, ci, ti = z[use], cat_index[use], t[use]
    precision = 1.0 / prior_sd ** 2
    for _ in range(10):
        p = 1.0 / (1.0 + np.exp(-(zi + delta[ci])))
        grad = np.bincount(ci, weights=ti - p, minlength=len(codes)) - precision * delta
        hess = np.bincount(ci, weights=p * (1 - p), minlength=len(codes)) + precision
        delta += grad / hess
    # Leave-one-out: a detection's own outcome does not move its class's offset (one Newton
    # step without it), so a rare class's only unmatched detection is not judged by itself.
    p = 1.0 / (1.0 + np.exp(-(z + delta[cat_index])))
    hess = np.bincount(ci, weights=p[use] * (1 - p[use]), minlength=len(codes)) + precision
    loo = delta[cat_index] - np.where(use, (t - p) / hess[cat_index], 0.0)
    return 1.0 / (1.0 + np.exp(-(z + loo)))


def context_odds(q, context, correct, use=None, strata: int = 4) -> np.ndarray:
    """``q`` updated by a binary context (naive Bayes): the odds q / (1 - q) times the
    likelihood ratio P(context | true object) / P(context | false positive) of the detection's
    value of ``context``, estimated within ``strata`` quantile bins of ``q`` (over the ``use``d
    detections), so the context is only assumed independent of the score within a bin.

    P(. | true) is the share among the bin's ``correct`` detections, P(. | false) the share
    among its other detections weighted by 1 - q (a confident unmatched detection is as likely
    an unlabelled object as a false positive); both with add-one smoothing. Returns values in
    (0, 1)."""
    q = np.clip(np.asarray(q, dtype=float), 1e-9, 1 - 1e-9)
    b = np.asarray(context, dtype=bool).astype(np.int64)
    t = np.asarray(correct, dtype=bool)
    use = np.ones(len(q), dtype=bool) if use is None else np.asarray(use, dtype=bool)
    if not use.any():
        return q.copy()
    edges = np.quantile(q[use], np.linspace(0, 1, strata + 1)[1:-1])
    stratum = np.digitize(q, edges)
    ratio = np.ones(len(q))
    for k in range(strata):
        m = stratum == k
        w_true = (use & t & m).astype(float)
        w_false = np.where(use & ~t & m, 1.0 - q, 0.0)
        p_true = (np.bincount(b, weights=w_true, minlength=2) + 1.0) / (w_true.sum() + 2.0)
        p_false = (np.bincount(b, weights=w_false, minlength=2) + 1.0) / (w_false.sum() + 2.0)
        ratio[m] = (p_true / p_false)[b[m]]
    odds = q / (1 - q) * ratio
    return odds / (1 + odds)


# ---- pairs ------------------------------------------------------------------------------------
def _max_at(n: int, index: np.ndarray, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
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
    return box_iou(a, b, np.zeros(len(a), dtype=bool))


def _box_ioa(dt: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Intersection / area(dt): pycocotools' IoU of a detection with a crowd region."""
    return box_iou(dt, region, np.ones(len(dt), dtype=bool))


# ---- the scores -------------------------------------------------------------------------------
class _Scores:
    """Arrays of one scoring run (see :func:`score_arrays`)."""


def score_arrays(label_unit, label_cat, label_box, label_crowd, pred_unit, pred_cat, pred_box,
                 pred_score, per_class: bool = True, prior_sd: float = 0.5) -> _Scores:
    """The scores of every label and prediction; a "unit" is an image (or an image seen by one
    annotator). Labels and predictions interact only within a unit. Returns an object with, per
    label: ``swap``, ``swap_pred``, ``location``, ``location_pred``, ``spurious``,
    ``support``, ``support_pred``, ``present``, ``recall``; per prediction: ``q``,
    ``q_over``, ``context``, ``overlooked``, ``ignored``, ``covered``, ``covered_label``,
    ``claimed``, ``duplicate``."""
    label_unit = np.asarray(label_unit, dtype=np.int64)
    pred_unit = np.asarray(pred_unit, dtype=np.int64)
    label_cat = np.asarray(label_cat, dtype=np.int64)
    pred_cat = np.asarray(pred_cat, dtype=np.int64)
    label_box = np.asarray(label_box, dtype=float).reshape(-1, 4)
    pred_box = np.asarray(pred_box, dtype=float).reshape(-1, 4)
    label_crowd = np.asarray(label_crowd, dtype=bool)
    pred_score = np.asarray(pred_score, dtype=float)
    n_l, n_p = len(label_unit), len(pred_unit)
    out = _Scores()

    li, pj = pairs_by_key(label_unit, pred_unit)
    crowd_pair = label_crowd[li]
    iou = np.zeros(len(li))
    iou[~crowd_pair] = _box_iou(pred_box[pj[~crowd_pair]], label_box[li[~crowd_pair]])
    ioa = np.zeros(len(li))
    ioa[crowd_pair] = _box_ioa(pred_box[pj[crowd_pair]], label_box[li[crowd_pair]])
    same = label_cat[li] == pred_cat[pj]
    real = ~crowd_pair

    # Calibration target: a label of the prediction's class at IoU >= 0.5.
    correct = _max_at(n_p, pj[real & same], iou[real & same]) >= 0.5
    in_crowd = _max_at(n_p, pj[crowd_pair & same], ioa[crowd_pair & same]) >= CROWD_IOA
    ignored = in_crowd & ~correct
    q = calibrate_scores(pred_score, pred_cat, correct, use=~ignored, per_class=per_class,
                         prior_sd=prior_sd) \
        if n_p else np.zeros(0)
    out.q, out.ignored = q, ignored
    # Context: does the unit hold another label of the prediction's class, one it does not
    # match (IoU < 0.5)? Objects come in groups, and a missing label is one of a group more
    # often than a false positive is; how much more is measured on the dataset itself.
    ctx = np.bincount(pj[real & same & (iou < 0.5)], minlength=n_p) > 0
    q_over = context_odds(q, ctx, correct, use=~ignored) if n_p else np.zeros(0)
    out.context, out.q_over = ctx, q_over

    # Restrict to real (non-crowd) labels from here on.
    li, pj, iou, same = li[real], pj[real], iou[real], same[real]
    a = aligned(iou)
    qp = q[pj]

    # "Explained by another label": for each pair, the best alignment of its prediction with a
    # label other than this pair's one (of the prediction's class, and of any class). The best
    # and second-best alignment per prediction give "best among the others" in O(pairs).
    def best_other(mask):
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

    crowd_explains = in_crowd[pj].astype(float)
    explained_same_class = np.maximum(best_other(same), crowd_explains)   # E^{c_j}
    explained_any = np.maximum(best_other(np.ones(len(li), bool)), crowd_explains)

    support, support_pred = _argmax_at(n_l, li[same], qp[same] * a[same], pj[same])
    out.support, out.support_pred = support, support_pred

    # Swapped: another class's confident, aligned, unexplained prediction; none of its own.
    other = ~same
    swap_ev = qp * a * (1 - np.where(other, explained_same_class, 0.0))
    swap_best, swap_pred = _argmax_at(n_l, li[other], swap_ev[other], pj[other])
    out.swap = (1 - support) * swap_best
    out.swap_pred = np.where(out.swap > 0, swap_pred, -1)
    out.swap_evidence = swap_best

    # Badly located: a same-class, confident prediction that overlaps but is misaligned, is of
    # the same size and is not explained by any other label.
    area_l = label_box[li, 2] * label_box[li, 3]
    area_p = pred_box[pj, 2] * pred_box[pj, 3]
    size = np.sqrt(np.minimum(area_l, area_p) / np.maximum(np.maximum(area_l, area_p), 1e-12))
    loc_ev = qp * _near(iou) * _misaligned(iou) * size * (1 - explained_any)
    loc_best, loc_pred = _argmax_at(n_l, li[same], loc_ev[same], pj[same])
    out.location = (1 - support) * loc_best
    out.location_pred = np.where(out.location > 0, loc_pred, -1)
    out.location_evidence = loc_best

    # Spurious: nothing of any class there, where the detector usually finds such labels.
    present = _max_at(n_l, li, qp * _ramp(iou, *PRESENT))
    recall = _expected_recall(present, label_cat, label_box, label_crowd)
    out.present, out.recall = present, recall
    out.spurious = np.where(label_crowd, 0.0, recall * (1 - present) * (1 - loc_best))

    # Overlooked: a confident prediction no label covers and no badly placed label claims.
    # A label of another class covers a prediction only when the boxes nearly coincide (a
    # person on a bench overlaps it at IoU 0.5 and is not the bench's label).
    cover = np.where(same, a, _ramp(iou, *CROSS_CLASS_ALIGNED))
    # ... and a label already taken by a better aligned prediction that is not a duplicate of
    # this one (IoU between the two predictions under 0.3) belongs to that other object:
    # neighbours in a herd overlap at IoU 0.3-0.6 without covering each other.
    best = support_pred[li]
    has_best = (best >= 0) & (best != pj) & same
    taken = np.zeros(len(li))
    if has_best.any():
        hb = np.flatnonzero(has_best)
        best_iou_label = _box_iou(pred_box[best[hb]], label_box[li[hb]])
        between = _box_iou(pred_box[best[hb]], pred_box[pj[hb]])
        taken[hb] = np.where(best_iou_label > iou[hb], q[best[hb]] * aligned(best_iou_label)
                             * (1 - aligned(between)), 0.0)
    cover = cover * (1 - taken)
    covered, covered_label = _argmax_at(n_p, pj, cover, li)
    claim = np.where(same, _near(iou) * _misaligned(iou) * size * (1 - support[li]), 0.0)
    claimed = _max_at(n_p, pj, claim)
    raw = np.where(ignored, 0.0, q_over * (1 - covered) * (1 - claimed))
    duplicate = _duplicates(pred_unit, pred_box, raw)
    out.covered, out.covered_label, out.claimed, out.duplicate = (covered, covered_label,
                                                                 claimed, duplicate)
    out.overlooked = raw * (1 - duplicate)
    for name in ("swap", "location", "spurious"):
        setattr(out, name, np.where(label_crowd, 0.0, getattr(out, name)))
    return out


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


# ---- embeddings -------------------------------------------------------------------------------
def cosine_knn(embeddings, k: int = 10, block: int = 4096) -> np.ndarray:
    """Indices (n, k) of each row's ``k`` nearest other rows by cosine similarity, exact, most
    similar first (ties: the lower index first); ``min(k, n - 1)`` columns. The indices of
    :func:`quality_widgets.compute.similarity.knn` (its Notes: how, how fast); rows of zeros
    are at cosine distance 1 from every row."""
    n = len(np.asarray(embeddings))
    if n < 2 or int(k) < 1:
        return np.zeros((n, 0), dtype=np.int64)
    return knn(embeddings, int(k), metric="cosine", block=block)[0]


def label_agreement(embeddings, categories, k: int = 10) -> tuple[np.ndarray, np.ndarray,
                                                                    np.ndarray]:
    """(agreement, majority, majority_share) per object from one embedding per object.

    ``agreement`` = share of its ``k`` nearest neighbours (cosine) with the same category, in
    [0, 1]; ``majority`` = the most frequent category among them (ties: the smallest id) and
    ``majority_share`` its share. Encord Active's annotation quality; exact kNN.
    """
    cats = np.asarray(categories, dtype=np.int64)
    x = np.asarray(embeddings, dtype=float)
    if len(x) != len(cats):
        raise ValueError(f"{len(x)} embeddings for {len(cats)} objects: need one per object")
    nn = cosine_knn(x, k)
    if nn.shape[1] == 0:
        nan = np.full(len(cats), np.nan)
        return nan, cats.copy(), nan
    neighbour_cats = cats[nn]
    agreement = (neighbour_cats == cats[:, None]).mean(axis=1)
    values, codes = np.unique(neighbour_cats, return_inverse=True)
    codes = codes.reshape(neighbour_cats.shape)
    counts = np.zeros((len(cats), len(values)), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(len(cats)), nn.shape[1]), codes.ravel()), 1)
    majority = values[counts.argmax(axis=1)]
    return agreement, majority, counts.max(axis=1) / nn.shape[1]


def _embedding_array(ds, metrics, embeddings, anns: pd.DataFrame) -> np.ndarray | None:
    if embeddings is None:
        return None
    if isinstance(embeddings, str):
        frame = getattr(metrics, "objects", None)
        source = None
        if frame is not None and embeddings in frame:
            source = frame[embeddings]
        elif embeddings in ds.annotations:
            source = ds.annotations[embeddings]
        if source is None:
            raise KeyError(f"no column {embeddings!r} of embeddings on the objects or "
                           f"annotations")
        source = source.reindex(anns.index)
        if source.isna().any():
            raise ValueError(f"embeddings column {embeddings!r}: {int(source.isna().sum())} "
                             f"annotation(s) have none (first id "
                             f"{source.index[source.isna()][0]})")
        return np.stack([np.asarray(v, dtype=float) for v in source])
    if isinstance(embeddings, pd.DataFrame):
        return embeddings.reindex(anns.index).to_numpy(dtype=float)
    x = np.asarray(embeddings, dtype=float)
    if x.ndim != 2 or len(x) != len(ds.annotations):
        raise ValueError(f"embeddings must be an array (n_annotations={len(ds.annotations)}, d)"
                         f" in the order of ds.annotations, got shape {x.shape}")
    return x[ds.annotations.index.get_indexer(anns.index)]


# ---- the public function ----------------------------------------------------------------------
def empty_candidates() -> pd.DataFrame:
    """The candidates frame with no rows (the columns of :func:`find_label_errors`)."""
    return pd.DataFrame({
        "kind": pd.Series(dtype=object), "score": pd.Series(dtype=float),
        "image_id": pd.Series(dtype="int64"), "annotation_id": pd.Series(dtype="Int64"),
        "prediction_id": pd.Series(dtype="Int64"), "category_id": pd.Series(dtype="Int64"),
        "category": pd.Series(dtype=object), "suggested_category_id": pd.Series(dtype="Int64"),
        "suggested_category": pd.Series(dtype=object), "bbox": pd.Series(dtype=object),
        "suggested_bbox": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})


def annotator_column(ds) -> str | None:
    """The first of ``annotator``, ``created_by``, ``annotator_id`` that the annotations (or,
    failing that, the images) carry, or None."""
    for frame in (ds.annotations, ds.images):
        for name in ANNOTATOR_FIELDS:
            if name in frame.columns and frame[name].notna().any():
                return name
    return None


def annotators_of(ds, column: str | None = None) -> pd.Series:
    """The annotator of every annotation (from its own field, else its image's), as strings;
    None where unknown."""
    column = column or annotator_column(ds)
    anns = ds.annotations
    out = pd.Series([None] * len(anns), index=anns.index, dtype=object)
    if column is None:
        return out
    if column in ds.images.columns:
        by_image = ds.images[column].reindex(anns["image_id"].to_numpy()).to_numpy(dtype=object)
        out[:] = by_image
    if column in anns.columns:
        own = anns[column].to_numpy(dtype=object)
        has = pd.notna(own)
        out[has] = own[has]
    return out.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v))
                   else str(v))


def find_label_errors(ds, metrics=None, *, embeddings=None, k: int = 10,
                      separate_by: str | None = None, per_class_calibration: bool = True,
                      kinds=KINDS) -> pd.DataFrame:
    """Candidate label errors of ``ds``, most likely first: one row per scored item and kind.

    Every non-crowd annotation gets a row for each of ``"swapped"``, ``"badly_located"`` and
    ``"spurious"``, every prediction one for ``"overlooked"`` (so ``.head(k)`` of one kind is
    its ranking). Columns: ``kind``, ``score`` in [0, 1] (higher = more likely an error),
    ``image_id``, ``annotation_id`` (label kinds), ``prediction_id`` (the evidence; the item
    itself for overlooked), ``category_id`` / ``category`` (of the item), the fix the evidence
    points to (``suggested_category_id``, ``suggested_category``, ``suggested_bbox`` as
    [x, y, w, h]; for spurious: remove, both empty), ``bbox`` (the item's box) and ``reason``.

    Parameters
    ----------
    ds : Dataset
        Labels and a detector's predictions (``Dataset.with_predictions``).
    metrics : MetricFrames, optional
        When given, the scores are also added to its frames (:func:`add_label_scores`).
    embeddings : array (n_annotations, d), DataFrame, or column name, optional
        One embedding per annotation (rows in ``ds.annotations`` order, or a column of vectors
        in ``metrics.objects`` / ``ds.annotations``): adds ``label_agreement`` and its evidence
        to the swap score (``1 - (1 - swap)(1 - share of the k neighbours' majority class)``
        when that class is not the label's).
    k : int
        Neighbours for ``label_agreement``.
    separate_by : str, optional
        A column of the annotations (``"annotator"``): each group's labels are judged apart
        against the same predictions (for images labelled twice); rows get a ``group`` column.

    Notes
    -----
    With ``q`` the calibrated precision (module doc), for a label ``i`` and the predictions
    ``j`` of its image (``E_j``: the best ``A(IoU)`` of ``j`` with another label, of ``j``'s
    class for swaps, of any class otherwise; 1 inside a crowd region of its class):

    * support ``S = max_{same class} q A(IoU)``;
    * ``swapped = (1 - S) max_{other class} q A(IoU) (1 - E_j)``;
    * ``badly_located = (1 - S) max_{same class} q N(IoU) B(IoU) Z (1 - E_j)``;
    * ``spurious = R (1 - T) (1 - L)`` with ``T = max_{any class} q clip((IoU - 0.1) / 0.3)``,
      ``L`` the unweighted max of the badly-located evidence and ``R`` the mean ``T`` of labels
      of the same category and COCO size range (shrunk to the size range's mean): how often
      the detector sees such labels at all;
    * ``overlooked = q' (1 - C) (1 - K) (1 - D)`` for a prediction, with ``q'`` = ``q``
      updated by the image's context (:func:`context_odds`: is there another label of its
      class, one it does not match at IoU >= 0.5?), ``C`` the best ``A(IoU)`` with any label,
      ``K = max_{same class} N B Z (1 - S_i)`` (the prediction is where a poorly supported
      label should be), ``D`` the best ``A(IoU)`` with a prediction of higher such score
      (duplicates); 0 inside a crowd region of its class.
    """
    kinds = tuple(kinds)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; expected some of {KINDS}")
    anns_all = ds.annotations
    if not getattr(ds, "has_annotations", True) and len(anns_all) == 0:
        warnings.warn("the dataset has no labels (annotations): there is nothing to judge; "
                      "load an annotations file with Dataset.from_coco(..., annotations)",
                      DataWarning, stacklevel=2)
        return empty_candidates()
    preds = ds.predictions
    has_preds = bool(getattr(ds, "has_predictions", len(preds) > 0)) or len(preds) > 0
    if not has_preds and embeddings is None:
        warnings.warn("the dataset has no predictions: find_label_errors needs a detector's "
                      "predictions (ds.with_predictions('predictions.json')) or embeddings= of "
                      "the labelled objects; returning no candidates", DataWarning, stacklevel=2)
        return empty_candidates()
    names = ds.categories["name"]

    # Units: images, or (image, group) when each group's labels are judged apart.
    groups = None
    if separate_by is not None:
        if separate_by in ANNOTATOR_FIELDS or separate_by == "annotator":
            groups = annotators_of(ds, None if separate_by == "annotator" else separate_by)
        elif separate_by in anns_all.columns:
            groups = anns_all[separate_by].astype(object).where(anns_all[separate_by].notna())
        else:
            raise KeyError(f"separate_by={separate_by!r} is not a column of the annotations")
        groups = groups.fillna("(unknown)").astype(str)
    anns = anns_all
    label_img = anns["image_id"].to_numpy(dtype=np.int64)
    if groups is not None:
        # images an annotator saw (an image-level field) are theirs even without any label
        field = separate_by if separate_by in ds.images.columns else annotator_column(ds)
        seen = ds.images[field].dropna().astype(str) if field in ds.images.columns else \
            pd.Series(dtype=object)
        group_names = pd.Index(sorted(set(groups) | set(seen)))
        group_codes = group_names.get_indexer(groups)
        n_groups = max(len(group_names), 1)
        label_unit = label_img * n_groups + group_codes
        units = pd.concat([
            pd.DataFrame({"image_id": label_img, "code": group_codes}),
            pd.DataFrame({"image_id": seen.index.to_numpy(dtype=np.int64),
                          "code": group_names.get_indexer(seen)})]).drop_duplicates()
        # each prediction is seen once per group that labelled its image
        pairs = units.merge(pd.DataFrame({"image_id": preds["image_id"].to_numpy(),
                                          "row": np.arange(len(preds))}), on="image_id")
        pred_rows = pairs["row"].to_numpy(dtype=np.int64)
        pred_unit = pairs["image_id"].to_numpy(dtype=np.int64) * n_groups + \
            pairs["code"].to_numpy(dtype=np.int64)
        pred_group = np.asarray(group_names, dtype=object)[pairs["code"].to_numpy()]
        label_group = groups.to_numpy(dtype=object)
    else:
        label_unit = label_img
        pred_rows = np.arange(len(preds))
        pred_unit = preds["image_id"].to_numpy(dtype=np.int64)
        pred_group = label_group = None

    label_box = anns[BOX_COLUMNS].to_numpy(dtype=float) if len(anns) else np.zeros((0, 4))
    crowd = anns["iscrowd"].to_numpy(dtype=bool) if len(anns) else np.zeros(0, dtype=bool)
    label_cat = anns["category_id"].to_numpy(dtype=np.int64)
    p_box = preds[BOX_COLUMNS].to_numpy(dtype=float)[pred_rows] if len(preds) else \
        np.zeros((0, 4))
    p_cat = preds["category_id"].to_numpy(dtype=np.int64)[pred_rows]
    p_score = preds["score"].to_numpy(dtype=float)[pred_rows]
    sc = score_arrays(label_unit, label_cat, label_box, crowd, pred_unit, p_cat, p_box, p_score,
                      per_class=per_class_calibration)

    ann_ids = anns.index.to_numpy(dtype=np.int64)
    pred_ids = preds.index.to_numpy(dtype=np.int64)[pred_rows]
    real = ~crowd
    parts = []

    def cat_name(ids):
        return names.reindex(np.asarray(ids)).to_numpy(dtype=object)

    def evidence_id(index):
        return np.where(index >= 0, pred_ids[np.maximum(index, 0)] if len(pred_ids) else -1, -1)

    # Embedding agreement (optional).
    agreement = majority = share = None
    x = _embedding_array(ds, metrics, embeddings, anns[real])
    if x is not None:
        agreement_r, majority_r, share_r = label_agreement(x, label_cat[real], k=k)
        agreement = np.full(len(anns), np.nan)
        majority = label_cat.copy()
        share = np.zeros(len(anns))
        agreement[real], majority[real], share[real] = agreement_r, majority_r, share_r

    label_base = {"image_id": label_img[real], "annotation_id": ann_ids[real],
                  "category_id": label_cat[real], "category": cat_name(label_cat[real]),
                  "bbox": [list(map(float, b)) for b in label_box[real]]}
    if label_group is not None:
        label_base["group"] = label_group[real]
    cats_l = label_base["category"]

    if "swapped" in kinds:
        score = sc.swap[real]
        ev = evidence_id(sc.swap_pred[real])
        sug = np.where(sc.swap_pred[real] >= 0, p_cat[np.maximum(sc.swap_pred[real], 0)]
                       if len(p_cat) else -1, -1)
        emb_part = None
        if agreement is not None:
            emb = np.where(majority[real] != label_cat[real], share[real], 0.0)
            combined = 1 - (1 - score) * (1 - emb)
            use_emb = emb > score
            sug = np.where(use_emb, majority[real], sug)
            ev = np.where(use_emb, -1, ev)
            emb_part = (emb, agreement[real], majority[real])
            score = combined
        reasons = _swap_reasons(sc, real, p_score[np.maximum(sc.swap_pred, 0)] if len(p_score)
                                else np.zeros(len(anns)), cats_l, cat_name(sug), emb_part,
                                label_box, p_box)
        parts.append(_rows("swapped", score, label_base, ev, sug, cat_name(sug),
                           [None] * int(real.sum()), reasons))
    if "badly_located" in kinds:
        idx = sc.location_pred[real]
        ev = evidence_id(idx)
        boxes = [list(map(float, p_box[j])) if j >= 0 else None for j in idx]
        reasons = _location_reasons(sc, real, idx, p_score, label_box, p_box, cats_l)
        parts.append(_rows("badly_located", sc.location[real], label_base, ev,
                           np.where(idx >= 0, label_cat[real], -1),
                           np.where(idx >= 0, cats_l, None), boxes, reasons))
    if "spurious" in kinds:
        reasons = [
            f"no prediction of any class is there (best evidence {t:.2f}); the detector sees "
            f"{100 * r:.0f}% of {c} labels of this size" if s > 0.05 else
            f"something is there (evidence {t:.2f})"
            for s, t, r, c in zip(sc.spurious[real], sc.present[real], sc.recall[real], cats_l,
                                   strict=True)]
        parts.append(_rows("spurious", sc.spurious[real], label_base,
                           np.full(int(real.sum()), -1), np.full(int(real.sum()), -1),
                           [None] * int(real.sum()), [None] * int(real.sum()), reasons))
    if "overlooked" in kinds and len(pred_rows):
        base = {"image_id": preds["image_id"].to_numpy(dtype=np.int64)[pred_rows],
                "annotation_id": np.full(len(pred_rows), -1), "category_id": p_cat,
                "category": cat_name(p_cat), "bbox": [list(map(float, b)) for b in p_box]}
        if pred_group is not None:
            base["group"] = pred_group
        reasons = _overlooked_reasons(sc, base["category"], p_score, label_cat, ann_ids, names)
        parts.append(_rows("overlooked", sc.overlooked, base, pred_ids, p_cat, base["category"],
                           base["bbox"], reasons))
    if not parts:
        out = empty_candidates()
    else:
        out = pd.concat(parts, ignore_index=True)
        rank = out["kind"].map({k_: i for i, k_ in enumerate(KINDS)})
        order = np.lexsort((out["prediction_id"].fillna(-1).to_numpy(),
                            out["annotation_id"].fillna(-1).to_numpy(), rank.to_numpy(),
                            -out["score"].to_numpy()))
        out = out.iloc[order].reset_index(drop=True)
    out.attrs["has_predictions"] = has_preds
    if agreement is not None:
        out.attrs["label_agreement"] = pd.Series(agreement, index=anns.index)
    if metrics is not None:
        add_label_scores(metrics, out)
    return out


def _rows(kind, score, base, evidence, suggested_cat, suggested_name, suggested_box, reasons):
    n = len(score)
    frame = pd.DataFrame({
        "kind": [kind] * n, "score": np.clip(np.asarray(score, dtype=float), 0.0, 1.0),
        "image_id": np.asarray(base["image_id"], dtype=np.int64),
        "annotation_id": pd.array(np.where(np.asarray(base["annotation_id"]) >= 0,
                                           base["annotation_id"], -1), dtype="Int64"),
        "prediction_id": pd.array(np.asarray(evidence, dtype=np.int64), dtype="Int64"),
        "category_id": pd.array(np.asarray(base["category_id"], dtype=np.int64), dtype="Int64"),
        "category": base["category"],
        "suggested_category_id": pd.array(np.asarray(suggested_cat, dtype=np.int64),
                                          dtype="Int64"),
        "suggested_category": suggested_name,
        "bbox": base["bbox"], "suggested_bbox": list(suggested_box), "reason": reasons})
    for col in ("annotation_id", "prediction_id", "suggested_category_id"):
        frame.loc[frame[col] < 0, col] = pd.NA
    frame.loc[frame["suggested_category_id"].isna(), "suggested_category"] = None
    if "group" in base:
        frame["group"] = base["group"]
    return frame


def _fmt(x) -> str:
    return f"{x:.2f}"


def _swap_reasons(sc, real, ev_scores, cats, sug_names, emb_part, label_box, p_box):
    out = []
    idx = np.flatnonzero(real)
    for n, i in enumerate(idx):
        j = sc.swap_pred[i]
        parts = []
        if j >= 0 and sc.swap[i] > 0.01:
            iou = float(_box_iou(p_box[j:j + 1], label_box[i:i + 1])[0])
            parts.append(f"labelled {cats[n]}, but the detector sees {sug_names[n]} here "
                         f"(score {_fmt(ev_scores[i])}, precision {_fmt(sc.q[j])}, IoU "
                         f"{_fmt(iou)}) and no confident {cats[n]} (support "
                         f"{_fmt(sc.support[i])})")
        if emb_part is not None:
            emb, agree, _maj = emb_part
            if emb[n] > 0:
                parts.append(f"only {100 * agree[n]:.0f}% of its nearest neighbours by "
                             f"embedding are {cats[n]}")
        if not parts:
            parts.append(f"the class {cats[n]} is supported (support {_fmt(sc.support[i])}) "
                         f"or no other class is seen here")
        out.append("; ".join(parts))
    return out


def _location_reasons(sc, real, idx, p_score, label_box, p_box, cats):
    out = []
    rows = np.flatnonzero(real)
    for n, i in enumerate(rows):
        j = idx[n]
        if j >= 0 and sc.location[i] > 0.01:
            iou = float(_box_iou(p_box[j:j + 1], label_box[i:i + 1])[0])
            out.append(f"the detector's {cats[n]} (score {_fmt(p_score[j])}, precision "
                       f"{_fmt(sc.q[j])}) overlaps this box only at IoU {_fmt(iou)}, and no "
                       f"other label explains it")
        else:
            out.append(f"no misaligned {cats[n]} prediction, or the box is supported "
                       f"(support {_fmt(sc.support[i])})")
    return out


def _overlooked_reasons(sc, cats, p_score, label_cat, ann_ids, names):
    out = []
    for j in range(len(cats)):
        if sc.ignored[j]:
            out.append(f"inside a crowd region of {cats[j]} (ignored, as pycocotools does)")
        elif sc.covered[j] >= 0.5 and sc.covered_label[j] >= 0:
            i = sc.covered_label[j]
            out.append(f"covered by label {ann_ids[i]} ({names.get(label_cat[i], '?')})")
        elif sc.claimed[j] >= 0.5:
            out.append(f"{cats[j]} predicted where a poorly supported {cats[j]} label should be "
                       f"(see badly located)")
        elif sc.duplicate[j] >= 0.5:
            out.append("a second box on an object already flagged")
        else:
            where = (f"other {cats[j]} labels in the image" if sc.context[j] else
                     f"no other {cats[j]} label in the image")
            out.append(f"{cats[j]} predicted with score {_fmt(p_score[j])} (precision "
                       f"{_fmt(sc.q[j])} at this score, {_fmt(sc.q_over[j])} with {where}) "
                       f"and no label covers it")
    return out


# ---- frame columns ----------------------------------------------------------------------------
def add_label_scores(metrics, candidates: pd.DataFrame):
    """Add the scores of ``candidates`` (from :func:`find_label_errors`) to ``metrics``:
    ``swap_score``, ``location_score``, ``spurious_score`` (and ``label_agreement`` when
    embeddings were given) on ``metrics.objects``, ``overlooked_score`` on
    ``metrics.predictions`` and ``label_quality`` = 1 - the largest score of any of the image's
    rows on ``metrics.images`` (1 for an image with nothing suspicious). Rows not scored
    (crowd regions, ids unknown to the candidates) get NaN; every column is NaN when the
    candidates are empty. With ``separate_by`` groups the largest score per item is kept.
    Returns ``metrics``."""
    scored = len(candidates) > 0
    for kind, column in SCORE_COLUMNS.items():
        level_frame = metrics.predictions if kind == "overlooked" else metrics.objects
        key = "prediction_id" if kind == "overlooked" else "annotation_id"
        rows = candidates[candidates["kind"] == kind] if scored else candidates
        values = rows.groupby(rows[key].astype("int64"))["score"].max() if len(rows) else \
            pd.Series(dtype=float)
        level_frame[column] = values.reindex(level_frame.index).to_numpy(dtype=float)
    agreement = candidates.attrs.get("label_agreement")
    if agreement is not None:
        metrics.objects["label_agreement"] = agreement.reindex(metrics.objects.index).to_numpy()
    images = metrics.images
    if scored:
        worst = candidates.groupby("image_id")["score"].max()
        quality = 1.0 - worst.reindex(images.index).fillna(0.0)
        images["label_quality"] = quality.to_numpy(dtype=float)
    else:
        images["label_quality"] = np.nan
    return metrics


# ---- applying fixes ---------------------------------------------------------------------------
def apply_fixes(ds, accepted: pd.DataFrame, out, changes=None, overwrite: bool = False
                ) -> tuple[Path, Path]:
    """Write a corrected COCO instances file ``out`` and a CSV of the changes; returns both paths.

    ``accepted``: rows of :func:`find_label_errors` to apply. ``swapped`` sets the label's
    category to ``suggested_category_id``; ``badly_located`` moves its box to
    ``suggested_bbox`` (a polygon segmentation follows the box's move and scaling, an RLE mask
    is replaced by the box's polygon; ``area`` becomes the new polygon's area); ``spurious``
    removes the label; ``overlooked`` adds a label with the prediction's box and category (new
    ids after the largest existing one, ``"source": "prediction <id>"``). The rest of the source
    file (info, licenses, extra fields) is kept when ``ds`` was read from a file.

    The file is written atomically (a temporary file renamed into place); ``out`` may never be
    the input annotations file, and an existing ``out`` needs ``overwrite=True``. ``changes``
    defaults to ``<out stem>.changes.csv`` beside ``out``.
    """
    from ..data._io import read_json
    from ..data.coco import to_coco_dict
    from ..jsonsafe import dumps
    out = Path(out).absolute()
    source = ds.sources.get("annotations") if getattr(ds, "sources", None) else None
    if source and Path(source).exists() and out.resolve() == Path(source).resolve():
        raise ExportError(f"{out} is the input annotations file: apply_fixes never writes over "
                          f"its input; choose another out")
    changes = Path(changes).absolute() if changes is not None else \
        out.with_name(out.stem + ".changes.csv")
    for target in (out, changes):
        if target.exists() and not overwrite:
            raise ExportError(f"{target} already exists; pass overwrite=True to replace it")
    if source and Path(source).exists():
        data = read_json(Path(source), "annotations")
    else:
        data = to_coco_dict(ds)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise DatasetError(source, "not a COCO instances file with an 'annotations' list")
    accepted = accepted if accepted is not None else empty_candidates()
    missing = {"kind"} - set(accepted.columns)
    if missing:
        raise ValueError("accepted must be rows of find_label_errors (a 'kind' column)")
    by_id = {}
    for entry in data["annotations"]:
        if isinstance(entry, dict) and "id" in entry:
            try:
                by_id[int(entry["id"])] = entry
            except (TypeError, ValueError):
                continue
    names = ds.category_names()
    log = []
    remove = set()
    next_id = max(by_id, default=0) + 1
    added = []
    for row in accepted.itertuples(index=False):
        kind = row.kind
        ann_id = None if pd.isna(row.annotation_id) else int(row.annotation_id)
        pred_id = None if pd.isna(row.prediction_id) else int(row.prediction_id)
        entry = by_id.get(ann_id) if ann_id is not None else None
        if kind in LABEL_KINDS and entry is None:
            warnings.warn(f"apply_fixes: annotation {ann_id} is not in the file; {kind} fix "
                          f"skipped", DataWarning, stacklevel=2)
            continue
        if kind == "swapped":
            if pd.isna(row.suggested_category_id):
                continue
            old = entry.get("category_id")
            entry["category_id"] = int(row.suggested_category_id)
            log.append(_change("recategorise", kind, row, ann_id, old, entry["category_id"],
                               entry.get("bbox"), entry.get("bbox"), names))
        elif kind == "badly_located":
            if not isinstance(row.suggested_bbox, (list, tuple, np.ndarray)):
                continue
            old_box = [float(v) for v in entry["bbox"]]
            new_box = [float(v) for v in row.suggested_bbox]
            entry["bbox"] = new_box
            entry["segmentation"], entry["area"] = _moved_segmentation(
                entry.get("segmentation"), old_box, new_box)
            log.append(_change("move", kind, row, ann_id, entry.get("category_id"),
                               entry.get("category_id"), old_box, new_box, names))
        elif kind == "spurious":
            remove.add(ann_id)
            log.append(_change("remove", kind, row, ann_id, entry.get("category_id"), None,
                               entry.get("bbox"), None, names))
        elif kind == "overlooked":
            box = [float(v) for v in row.suggested_bbox]
            new = {"id": next_id, "image_id": int(row.image_id),
                   "category_id": int(row.suggested_category_id), "bbox": box,
                   "area": box[2] * box[3], "iscrowd": 0,
                   "segmentation": [_box_polygon(box)], "source": f"prediction {pred_id}"}
            added.append(new)
            log.append(_change("add", kind, row, next_id, None, new["category_id"], None, box,
                               names))
            next_id += 1
    data["annotations"] = [e for e in data["annotations"]
                           if not (isinstance(e, dict) and _int_or_none(e.get("id")) in remove)]
    data["annotations"].extend(added)
    table = pd.DataFrame(log, columns=["action", "kind", "annotation_id", "image_id",
                                       "prediction_id", "score", "old_category_id",
                                       "old_category", "new_category_id", "new_category",
                                       "old_bbox", "new_bbox", "reason"])
    _write_atomic(out, dumps(data).encode("utf-8"), overwrite)
    _write_atomic(changes, table.to_csv(index=False).encode("utf-8"), overwrite)
    return out, changes


def _int_or_none(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _change(action, kind, row, ann_id, old_cat, new_cat, old_box, new_box, names):
    def box_text(b):
        return None if b is None else "[" + ", ".join(f"{float(v):.2f}" for v in b) + "]"
    return {"action": action, "kind": kind, "annotation_id": ann_id,
            "image_id": int(row.image_id),
            "prediction_id": None if pd.isna(row.prediction_id) else int(row.prediction_id),
            "score": float(row.score), "old_category_id": old_cat,
            "old_category": names.get(old_cat) if old_cat is not None else None,
            "new_category_id": new_cat,
            "new_category": names.get(new_cat) if new_cat is not None else None,
            "old_bbox": box_text(old_box), "new_bbox": box_text(new_box),
            "reason": getattr(row, "reason", "")}


def _box_polygon(box):
    x, y, w, h = box
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def _moved_segmentation(seg, old_box, new_box):
    """The segmentation mapped by the affine move of ``old_box`` onto ``new_box``, and its
    area (shoelace); an RLE or missing segmentation becomes the box's polygon."""
    ox, oy, ow, oh = old_box
    nx, ny, nw, nh = new_box
    sx, sy = nw / ow if ow else 1.0, nh / oh if oh else 1.0
    if isinstance(seg, list) and seg and all(isinstance(p, list) for p in seg):
        polys = []
        for p in seg:
            xy = np.asarray(p, dtype=float).reshape(-1, 2)
            xy[:, 0] = nx + (xy[:, 0] - ox) * sx
            xy[:, 1] = ny + (xy[:, 1] - oy) * sy
            polys.append([float(v) for v in xy.ravel()])
    else:
        polys = [_box_polygon(new_box)]
    area = 0.0
    for p in polys:
        xy = np.asarray(p).reshape(-1, 2)
        area += 0.5 * abs(np.dot(xy[:, 0], np.roll(xy[:, 1], 1))
                          - np.dot(xy[:, 1], np.roll(xy[:, 0], 1)))
    return polys, float(area)


def _write_atomic(path: Path, payload: bytes, overwrite: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        if not overwrite:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise ExportError(f"{path} appeared meanwhile; nothing replaced") from None
            except OSError:
                os.replace(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

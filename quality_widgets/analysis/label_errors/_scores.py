"""The scores of every label and prediction, from the pairs of one unit (an image, or an image
seen by one annotator): matching -> calibrated precision -> evidence per pair -> per label
(swapped, badly located, spurious) and per prediction (overlooked). The formulas are in
:func:`~quality_widgets.analysis.label_errors.find_label_errors`'s Notes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...evaluation.matching import pairs_by_key
from ._calibration import calibrate_scores, context_odds
from ._evidence import (
    CROSS_CLASS_ALIGNED,
    CROWD_IOA,
    PRESENT,
    _argmax_at,
    _best_other,
    _box_ioa,
    _box_iou,
    _duplicates,
    _expected_recall,
    _max_at,
    _misaligned,
    _near,
    _ramp,
    aligned,
)


@dataclass(frozen=True)
class Scores:
    """The arrays of one scoring run (:func:`score_arrays`), aligned with its inputs.

    Per label: ``swap``, ``location``, ``spurious`` (the scores, in [0, 1]; 0 for crowd
    regions), ``swap_pred`` / ``location_pred`` (the prediction the score rests on, -1 when the
    score is 0), ``swap_evidence`` / ``location_evidence`` (the evidence before the support
    discount), ``support`` / ``support_pred`` (S and its prediction), ``present`` (T),
    ``recall`` (R). Per prediction: ``q`` (calibrated precision), ``q_over`` (``q`` with the
    image's context), ``context`` (another label of its class is in the unit), ``ignored``
    (inside a crowd region of its class), ``covered`` / ``covered_label`` (C and its label),
    ``claimed`` (K), ``duplicate`` (D), ``overlooked`` (the score)."""

    swap: np.ndarray
    swap_pred: np.ndarray
    swap_evidence: np.ndarray
    location: np.ndarray
    location_pred: np.ndarray
    location_evidence: np.ndarray
    spurious: np.ndarray
    support: np.ndarray
    support_pred: np.ndarray
    present: np.ndarray
    recall: np.ndarray
    q: np.ndarray
    q_over: np.ndarray
    context: np.ndarray
    ignored: np.ndarray
    covered: np.ndarray
    covered_label: np.ndarray
    claimed: np.ndarray
    duplicate: np.ndarray
    overlooked: np.ndarray


@dataclass(frozen=True)
class _Precision:
    """Per prediction: calibrated precision ``q``, ``q_over`` with the context, the context
    itself, ``in_crowd`` (inside a crowd region of its class) and ``ignored`` (in a crowd
    region and matching no label)."""

    q: np.ndarray
    q_over: np.ndarray
    context: np.ndarray
    in_crowd: np.ndarray
    ignored: np.ndarray


@dataclass(frozen=True)
class _Pairs:
    """The (label ``li``, prediction ``pj``) pairs of the units, non-crowd labels only, with
    their ``iou``, ``same`` class, ``a`` = A(IoU), ``qp`` = q of the prediction and ``size`` =
    Z = sqrt(min area / max area)."""

    li: np.ndarray
    pj: np.ndarray
    iou: np.ndarray
    same: np.ndarray
    a: np.ndarray
    qp: np.ndarray
    size: np.ndarray


def score_arrays(label_unit, label_cat, label_box, label_crowd, pred_unit, pred_cat, pred_box,
                 pred_score, per_class: bool = True, prior_sd: float = 0.5) -> Scores:
    """The scores of every label and prediction (a :class:`Scores`); a "unit" is an image (or
    an image seen by one annotator). Labels and predictions interact only within a unit.

    Steps: the pairs of each unit and their IoU (crowd regions by intersection over the
    prediction's area), the calibrated precision of each prediction (:func:`calibrate_scores`,
    :func:`context_odds`), then the label scores and the prediction scores from the pairs."""
    label_unit = np.asarray(label_unit, dtype=np.int64)
    pred_unit = np.asarray(pred_unit, dtype=np.int64)
    label_cat = np.asarray(label_cat, dtype=np.int64)
    pred_cat = np.asarray(pred_cat, dtype=np.int64)
    label_box = np.asarray(label_box, dtype=float).reshape(-1, 4)
    pred_box = np.asarray(pred_box, dtype=float).reshape(-1, 4)
    label_crowd = np.asarray(label_crowd, dtype=bool)
    pred_score = np.asarray(pred_score, dtype=float)
    n_l = len(label_unit)

    li, pj = pairs_by_key(label_unit, pred_unit)
    crowd_pair = label_crowd[li]
    iou = np.zeros(len(li))
    iou[~crowd_pair] = _box_iou(pred_box[pj[~crowd_pair]], label_box[li[~crowd_pair]])
    ioa = np.zeros(len(li))
    ioa[crowd_pair] = _box_ioa(pred_box[pj[crowd_pair]], label_box[li[crowd_pair]])
    same = label_cat[li] == pred_cat[pj]
    precision = _precision(li, pj, iou, ioa, same, crowd_pair, pred_score, pred_cat, per_class,
                           prior_sd)
    real = ~crowd_pair
    pairs = _real_pairs(li[real], pj[real], iou[real], same[real], precision.q, label_box,
                        pred_box)
    labels = _label_scores(pairs, n_l, precision, label_cat, label_box, label_crowd)
    predictions = _prediction_scores(pairs, precision, labels, label_box, pred_box, pred_unit)
    for name in ("swap", "location", "spurious"):
        labels[name] = np.where(label_crowd, 0.0, labels[name])
    return Scores(**labels, **predictions, q=precision.q, q_over=precision.q_over,
                  context=precision.context, ignored=precision.ignored)


def _precision(li, pj, iou, ioa, same, crowd_pair, pred_score, pred_cat, per_class,
               prior_sd) -> _Precision:
    """Calibrate each prediction against "a label of its class at IoU >= 0.5", leaving out the
    ones inside a crowd region of their class (pycocotools ignores them); then update by the
    context: does the unit hold another label of the prediction's class, one it does not match
    (IoU < 0.5)? Objects come in groups, and a missing label is one of a group more often than a
    false positive is; how much more is measured on the dataset itself."""
    n_p = len(pred_score)
    real = ~crowd_pair
    correct = _max_at(n_p, pj[real & same], iou[real & same]) >= 0.5
    in_crowd = _max_at(n_p, pj[crowd_pair & same], ioa[crowd_pair & same]) >= CROWD_IOA
    ignored = in_crowd & ~correct
    q = calibrate_scores(pred_score, pred_cat, correct, use=~ignored, per_class=per_class,
                         prior_sd=prior_sd) if n_p else np.zeros(0)
    context = np.bincount(pj[real & same & (iou < 0.5)], minlength=n_p) > 0
    q_over = context_odds(q, context, correct, use=~ignored) if n_p else np.zeros(0)
    return _Precision(q, q_over, context, in_crowd, ignored)


def _real_pairs(li, pj, iou, same, q, label_box, pred_box) -> _Pairs:
    """The pairs of non-crowd labels with the values every score reads."""
    area_l = label_box[li, 2] * label_box[li, 3]
    area_p = pred_box[pj, 2] * pred_box[pj, 3]
    size = np.sqrt(np.minimum(area_l, area_p) / np.maximum(np.maximum(area_l, area_p), 1e-12))
    return _Pairs(li, pj, iou, same, aligned(iou), q[pj], size)


def _label_scores(p: _Pairs, n_l: int, precision: _Precision, label_cat, label_box,
                  label_crowd) -> dict:
    """Support, swapped, badly located and spurious per label (before crowd regions are set to
    0). "Explained by another label": a prediction aligned with another label (of its class for
    swaps, of any class otherwise; or inside a crowd region of its class) is no evidence against
    this one."""
    n_p = len(precision.q)
    crowd_explains = precision.in_crowd[p.pj].astype(float)
    explained_same_class = np.maximum(_best_other(p.a, p.li, p.pj, n_p, p.same), crowd_explains)
    explained_any = np.maximum(_best_other(p.a, p.li, p.pj, n_p, np.ones(len(p.li), bool)),
                               crowd_explains)
    same, qp = p.same, p.qp
    support, support_pred = _argmax_at(n_l, p.li[same], qp[same] * p.a[same], p.pj[same])

    # Swapped: another class's confident, aligned, unexplained prediction; none of its own.
    other = ~same
    swap_ev = qp * p.a * (1 - np.where(other, explained_same_class, 0.0))
    swap_best, swap_pred = _argmax_at(n_l, p.li[other], swap_ev[other], p.pj[other])
    swap = (1 - support) * swap_best

    # Badly located: a same-class, confident prediction that overlaps but is misaligned, is of
    # the same size and is not explained by any other label.
    loc_ev = qp * _near(p.iou) * _misaligned(p.iou) * p.size * (1 - explained_any)
    loc_best, loc_pred = _argmax_at(n_l, p.li[same], loc_ev[same], p.pj[same])
    location = (1 - support) * loc_best

    # Spurious: nothing of any class there, where the detector usually finds such labels.
    present = _max_at(n_l, p.li, qp * _ramp(p.iou, *PRESENT))
    recall = _expected_recall(present, label_cat, label_box, label_crowd)
    spurious = np.where(label_crowd, 0.0, recall * (1 - present) * (1 - loc_best))
    return {"swap": swap, "swap_pred": np.where(swap > 0, swap_pred, -1),
            "swap_evidence": swap_best, "location": location,
            "location_pred": np.where(location > 0, loc_pred, -1),
            "location_evidence": loc_best, "spurious": spurious, "support": support,
            "support_pred": support_pred, "present": present, "recall": recall}


def _prediction_scores(p: _Pairs, precision: _Precision, labels: dict, label_box, pred_box,
                       pred_unit) -> dict:
    """Overlooked per prediction: a confident prediction no label covers and no badly placed
    label claims, and not a second box on an object already flagged.

    A label of another class covers a prediction only when the boxes nearly coincide (a person
    on a bench overlaps it at IoU 0.5 and is not the bench's label); a label already taken by a
    better aligned prediction that is not a duplicate of this one (IoU between the two
    predictions under 0.3) belongs to that other object: neighbours in a herd overlap at IoU
    0.3-0.6 without covering each other."""
    n_p = len(precision.q)
    support, support_pred = labels["support"], labels["support_pred"]
    cover = np.where(p.same, p.a, _ramp(p.iou, *CROSS_CLASS_ALIGNED))
    best = support_pred[p.li]
    has_best = (best >= 0) & (best != p.pj) & p.same
    taken = np.zeros(len(p.li))
    if has_best.any():
        hb = np.flatnonzero(has_best)
        best_iou_label = _box_iou(pred_box[best[hb]], label_box[p.li[hb]])
        between = _box_iou(pred_box[best[hb]], pred_box[p.pj[hb]])
        taken[hb] = np.where(best_iou_label > p.iou[hb],
                             precision.q[best[hb]] * aligned(best_iou_label)
                             * (1 - aligned(between)), 0.0)
    cover = cover * (1 - taken)
    covered, covered_label = _argmax_at(n_p, p.pj, cover, p.li)
    claim = np.where(p.same, _near(p.iou) * _misaligned(p.iou) * p.size * (1 - support[p.li]),
                     0.0)
    claimed = _max_at(n_p, p.pj, claim)
    raw = np.where(precision.ignored, 0.0, precision.q_over * (1 - covered) * (1 - claimed))
    duplicate = _duplicates(pred_unit, pred_box, raw)
    return {"covered": covered, "covered_label": covered_label, "claimed": claimed,
            "duplicate": duplicate, "overlooked": raw * (1 - duplicate)}

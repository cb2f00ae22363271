"""Per-prediction and per-object outcomes of the evaluation, as metric columns."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .params import IOU_THRESHOLDS

OUTCOME_IOU = 0.5


def prediction_outcomes(evaluator) -> tuple[np.ndarray, np.ndarray]:
    """(outcome, best_iou) for every ``dataset.predictions`` row at IoU 0.5, area 'all',
    maxDets 100, no slice.

    ``outcome`` is "TP" (matched to a counted GT), "ignored" (matched to a crowd region, beyond
    the 100 best of its image and category, or not evaluated: unknown image or category) or
    "FP". ``best_iou`` is the largest IoU with a same-category non-crowd GT of the image, 0 if
    there is none.
    """
    from .matching import best_iou
    inputs = evaluator.inputs
    state = evaluator.state()
    t = int(np.flatnonzero(IOU_THRESHOLDS == OUTCOME_IOU)[0])
    n = len(inputs.dt_row)
    ignored = inputs.dt_rank >= 100
    ignored |= state.dt_outside[0]
    tp = np.zeros(n, dtype=bool)
    cand = evaluator.candidates.cand_dt
    g = state.match[0, t]
    hit = g >= 0
    gi = np.where(hit, g, 0)
    hit_nonzero = hit & (inputs.gt_id[gi] != 0)
    cand_ignored = (hit & ~state.gt_counted[0][gi]) | (~hit_nonzero & state.dt_outside[0][cand])
    ignored[cand] = cand_ignored
    tp[cand] = hit_nonzero & ~cand_ignored
    outcome = np.full(inputs.n_predictions, "ignored", dtype=object)
    outcome[inputs.dt_row] = np.where(tp, "TP", np.where(ignored, "ignored", "FP"))
    best = np.zeros(inputs.n_predictions)
    best[inputs.dt_row] = best_iou(inputs)
    return outcome, best


def object_detected(evaluator) -> np.ndarray:
    """For every ``dataset.annotations`` row: matched by a detection at IoU 0.5, area 'all',
    maxDets 100 (a crowd region counts as detected when any detection fell in it)."""
    inputs = evaluator.inputs
    state = evaluator.state()
    t = int(np.flatnonzero(IOU_THRESHOLDS == OUTCOME_IOU)[0])
    matched = state.match[0, t]
    detected_gt = np.zeros(len(inputs.gt_row), dtype=bool)
    detected_gt[matched[matched >= 0]] = True
    out = np.zeros(inputs.n_annotations, dtype=bool)
    out[inputs.gt_row] = detected_gt
    return out


def add_outcomes(metric_frames, dataset_or_evaluator):
    """Add ``outcome``, ``best_iou`` to ``metric_frames.predictions`` and ``detected`` to
    ``metric_frames.objects`` (aligned by prediction_id / annotation_id; rows unknown to the
    dataset get None / NaN / False). Returns ``metric_frames``."""
    from .evaluator import Evaluator
    evaluator = dataset_or_evaluator if isinstance(dataset_or_evaluator, Evaluator) \
        else Evaluator(dataset_or_evaluator)
    dataset = evaluator.dataset
    outcome, best = prediction_outcomes(evaluator)
    preds = metric_frames.predictions
    index = dataset.predictions.index
    preds["outcome"] = pd.Series(outcome, index=index, dtype=object).reindex(preds.index)
    preds["best_iou"] = pd.Series(best, index=index).reindex(preds.index)
    objects = metric_frames.objects
    detected = pd.Series(object_detected(evaluator), index=dataset.annotations.index)
    objects["detected"] = detected.reindex(objects.index, fill_value=False).astype(bool)
    return metric_frames

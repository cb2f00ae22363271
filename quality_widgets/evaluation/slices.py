"""Slices of an evaluation: image subsets (as weights) and metric ranges (as object masks).

A metric range [lo, hi) is applied the way pycocotools applies an area range: GT whose value
is outside is ignored (a detection matched to it is ignored too), and unmatched detections
whose own value is outside are ignored. ``hi = inf`` closes the top (inf is inside); NaN is
outside every range.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def range_mask(values, lo: float, hi: float) -> np.ndarray:
    """``lo <= v < hi`` (``lo <= v`` when ``hi`` is +inf); False for NaN."""
    v = np.asarray(values, dtype=float)
    if hi == np.inf:
        return v >= lo
    return (v >= lo) & (v < hi)


def _column(frame, column: str, index: pd.Index):
    if frame is None or column not in frame.columns:
        return None
    series = frame[column]
    if not series.index.equals(index):
        series = series.reindex(index)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def metric_values(dataset, column: str, metrics=None) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``column`` for every annotation row and every prediction row of ``dataset``.

    Looked up in ``metrics.objects`` / ``metrics.predictions`` (aligned by annotation_id /
    prediction_id, missing rows are NaN) when ``metrics`` is given and holds the column, else in
    ``dataset.annotations`` / ``dataset.predictions``.
    """
    ann_index, pred_index = dataset.annotations.index, dataset.predictions.index
    ann = _column(getattr(metrics, "objects", None), column, ann_index)
    if ann is None:
        ann = _column(dataset.annotations, column, ann_index)
    pred = _column(getattr(metrics, "predictions", None), column, pred_index)
    if pred is None:
        pred = _column(dataset.predictions, column, pred_index)
    if ann is None:
        raise KeyError(f"no column {column!r} for annotations (looked in "
                       f"{'metrics.objects and ' if metrics is not None else ''}"
                       "dataset.annotations)")
    if pred is None:
        if len(pred_index) == 0:
            pred = np.zeros(0)
        else:
            raise KeyError(
                f"no column {column!r} for predictions (looked in "
                f"{'metrics.predictions and ' if metrics is not None else ''}"
                "dataset.predictions): a slice needs the value for unmatched predictions too; "
                "compute it for predictions or pass explicit masks to "
                "Evaluator.evaluate_masks")
    return ann, pred


def object_range_masks(dataset, object_range, metrics=None) -> tuple[np.ndarray, np.ndarray]:
    """(annotation mask, prediction mask) of ``object_range = (column, lo, hi)``."""
    try:
        column, lo, hi = object_range
    except (TypeError, ValueError):
        raise ValueError("object_range must be (column, lo, hi)") from None
    if not lo <= hi:
        raise ValueError(f"object_range needs lo <= hi, got [{lo}, {hi})")
    ann, pred = metric_values(dataset, column, metrics)
    return range_mask(ann, lo, hi), range_mask(pred, lo, hi)


def image_weights_from_ids(dataset, image_ids) -> np.ndarray:
    """0/1 weights over ``dataset.images`` rows: 1 for the images in ``image_ids``
    (duplicates count once, as pycocotools' ``np.unique(params.imgIds)``)."""
    ids = pd.Index(np.unique(np.asarray(list(image_ids), dtype=np.int64)))
    known = dataset.images.index
    unknown = ids.difference(known)
    if len(unknown):
        raise KeyError(f"{len(unknown)} image id(s) not in the dataset, e.g. "
                       f"{', '.join(map(str, unknown[:5]))}")
    return known.isin(ids).astype(np.int64)

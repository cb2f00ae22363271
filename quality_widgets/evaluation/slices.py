"""Slices of an evaluation: image subsets (as weights), metric ranges and
:class:`~quality_widgets.slicing.Slice` values (as object masks).

Which rows a slice holds is decided by :mod:`quality_widgets.slicing` (one rule for the
Explorer, test cases, the hypothesis test and here); this module turns them into what the
:class:`~.evaluator.Evaluator` takes. A metric range [lo, hi) is applied the way pycocotools
applies an area range: GT whose value is outside is ignored (a detection matched to it is
ignored too), and unmatched detections whose own value is outside are ignored. ``hi = inf``
closes the top (inf is inside); NaN is outside every range.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import DataWarning
from ..slicing import Range, Slice, column_values


def metric_values(dataset, column: str, metrics=None) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``column`` for every annotation row and every prediction row of ``dataset``.

    Looked up in ``metrics.objects`` / ``metrics.predictions`` (aligned by annotation_id /
    prediction_id, missing rows are NaN) when ``metrics`` is given and holds the column, else in
    ``dataset.annotations`` / ``dataset.predictions``.
    """
    pred_index = dataset.predictions.index
    ann = column_values(metrics, dataset, "object", column)
    pred = column_values(metrics, dataset, "prediction", column)
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
    metric_values(dataset, column, metrics)     # a KeyError unless both levels hold it
    masks = Slice(Range(column, lo, hi, "left", "object")).evaluation_masks(dataset, metrics)
    return masks.annotations, masks.predictions


def slice_masks(dataset, slice, metrics=None) -> tuple:
    """``(annotation mask, prediction mask, image weights or None)`` of a
    :class:`~quality_widgets.slicing.Slice` (:meth:`Slice.evaluation_masks`; None: every image
    once). What the slice leaves out without a value to decide by (unmatched detections of an
    object column that predictions lack, a tag no prediction carries) is said in a
    :class:`DataWarning`."""
    if not isinstance(slice, Slice):
        raise TypeError(f"slice must be a quality_widgets.slicing.Slice, got "
                        f"{type(slice).__name__}")
    masks = slice.evaluation_masks(dataset, metrics)
    for note in masks.notes:
        warnings.warn(f"slice {slice}: {note}", DataWarning, stacklevel=3)
    weights = None if masks.images.all() else masks.images.astype(np.int64)
    return masks.annotations, masks.predictions, weights


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

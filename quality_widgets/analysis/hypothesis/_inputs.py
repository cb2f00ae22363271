"""What a test is asked about: the dataset and its metrics, the metric's level, its reference
values and default threshold, the evaluator and the measure; :class:`_Problem` holds all of
it for one metric, resolved once."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...evaluation import Evaluator
from ...evaluation.measures import measures_for
from ...evaluation.params import IOU_TYPES
from ...evaluation.slices import slice_masks
from ...frames import LEVELS, MetricFrames, numeric_metric_columns
from ...slicing import Slice, SliceMasks, column_values
from ..statistics import cluster_labels
from ._split import _Measure, _Split, _Within

#: The levels a metric can split at: images, or objects (the annotations, and with them the
#: predictions, which are split by their own value of the same column).
SPLIT_LEVELS = tuple(level for level in LEVELS if level != "prediction")


def measure_names(iou_type: str = "bbox") -> tuple:
    """The measure names of ``iou_type``: the 12 COCO numbers and precision / recall
    (:data:`~quality_widgets.evaluation.measures.MEASURES`) for "bbox" and "segm", and for
    "keypoints" pycocotools' 10 keypoint numbers (AP, AP50, AP75, APm, APl, AR, AR50, AR75,
    ARm, ARl) and precision / recall."""
    return tuple(measures_for(iou_type))


def evaluator_for(dataset, evaluator=None, iou_type: str | None = None) -> Evaluator:
    """The :class:`Evaluator` an analysis uses: ``evaluator`` when given (its ``iou_type``
    must be ``iou_type`` when both are given: ValueError otherwise), else a new one of
    ``dataset`` with ``iou_type`` (default "bbox")."""
    if iou_type is not None and iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {', '.join(IOU_TYPES)}, got {iou_type!r}")
    if evaluator is None:
        return Evaluator(dataset, iou_type=iou_type or "bbox")
    if iou_type is not None and evaluator.iou_type != iou_type:
        raise ValueError(f"the evaluator given evaluates iou_type={evaluator.iou_type!r}, not "
                         f"iou_type={iou_type!r}: pass one of the same iou_type, or leave "
                         "iou_type out to use the evaluator's")
    return evaluator


def dataset_and_metrics(dataset, metrics=None, needed=None):
    """``(Dataset, MetricFrames)`` from what a user passes to :func:`test_hypothesis`: a
    Dataset and its MetricFrames, MetricFrames alone (their ``dataset``), or a Dataset alone
    (its ``needed`` metrics computed, all when None). Raises TypeError for anything else."""
    from ...data.dataset import Dataset
    if isinstance(dataset, MetricFrames):
        dataset, metrics = metrics if isinstance(metrics, Dataset) else dataset.dataset, dataset
    if not isinstance(dataset, Dataset):
        raise TypeError(f"expected a quality_widgets.Dataset, got {type(dataset).__name__}")
    if metrics is None:
        from ...compute.engine import compute_metrics
        metrics = compute_metrics(dataset, metrics=needed, progress=False)
    if not isinstance(metrics, MetricFrames):
        raise TypeError(f"metrics must be MetricFrames (from compute_metrics), got "
                        f"{type(metrics).__name__}")
    return dataset, metrics


# ---- the metric's level ------------------------------------------------------------------------
def metric_levels(metrics: MetricFrames, metric: str) -> list:
    """The levels ("image", "object") at which ``metric`` is a column that could split (a
    column of ``metrics.images``; of ``metrics.objects``), whether or not it can."""
    out = []
    if metric in metrics.images.columns:
        out.append("image")
    if metric in metrics.objects.columns:
        out.append("object")
    return out


def metric_level(metrics: MetricFrames, metric: str, level: str | None = None) -> str:
    """"image" or "object": how ``metric`` splits the data (see the package doc).

    ``level``: "image" or "object" (required when ``metric`` is a column of both
    ``metrics.images`` and ``metrics.objects``; None otherwise picks the only one). Raises
    KeyError for an unknown column, ValueError for an ambiguous name without ``level``, a
    non-numeric column, one that exists only on predictions, or only on annotations (a split
    needs a value per prediction too).
    """
    if level is not None and level not in SPLIT_LEVELS:
        raise ValueError(f"level must be 'image' or 'object', got {level!r}")
    levels = metric_levels(metrics, metric)
    if level is None and len(levels) > 1:
        raise ValueError(
            f"{metric!r} is a column at image level (metrics.images) and at object level "
            f"(metrics.objects): say which one to split on with level='image' or "
            f"level='object'")
    if level == "image" or (level is None and levels == ["image"]):
        if metric not in metrics.images.columns:
            raise KeyError(f"no image-level metric column {metric!r}")
        frame, chosen = metrics.images, "image"
    elif metric in metrics.objects.columns or metric in metrics.predictions.columns:
        if metric not in metrics.objects.columns:
            raise ValueError(
                f"{metric!r} exists only for predictions: splitting ground truth needs its "
                "value on every annotation (metrics.objects)")
        if metric not in metrics.predictions.columns and len(metrics.predictions):
            raise ValueError(
                f"{metric!r} exists for annotations but not for predictions: an object split "
                "needs the value of every prediction too (an unmatched prediction, a false "
                "positive, must be assigned to a side). Compute it at level "
                "('object', 'prediction'), or set metrics.predictions[" f"{metric!r}] by hand")
        frame, chosen = metrics.objects, "object"
    elif level == "object":
        raise KeyError(f"no object-level metric column {metric!r}")
    else:
        metrics.level_of(metric)            # raises KeyError listing the known columns
        raise KeyError(metric)
    if metric not in numeric_metric_columns(frame):
        raise ValueError(f"{metric!r} is not a numeric metric column")
    return chosen


# ---- the slice ---------------------------------------------------------------------------------
def slice_rows(dataset, metrics, slice) -> SliceMasks | None:
    """The rows of ``slice`` (a :class:`~quality_widgets.slicing.Slice`, or None: every row)
    as COCO evaluation applies them, per row of ``dataset``'s frames, its columns read from
    ``metrics`` then ``dataset`` (:meth:`Slice.evaluation_masks`; what it cannot place is
    said in a DataWarning, as ``evaluate(slice=...)`` says it). None for None, and for a
    slice without conditions. TypeError for anything but a Slice; ValueError when the slice
    holds no image."""
    if slice is None:
        return None
    ann, pred, weights = slice_masks(dataset, slice, metrics)
    if slice.everything:
        return None
    images = np.ones(len(dataset.images), dtype=bool) if weights is None else weights > 0
    if not images.any():
        raise ValueError(f"the slice {slice} holds no image: nothing to split")
    return SliceMasks(images, ann, pred)


def _ids_within(dataset, rows: SliceMasks | None, level: str):
    """The ids of ``level`` ("image", "object") in the slice's ``rows`` (None: all)."""
    if rows is None or dataset is None:
        return None
    if level == "image":
        return dataset.images.index[rows.images]
    return dataset.annotations.index[rows.annotations]


# ---- where the default threshold comes from ----------------------------------------------------
def reference_values(metrics: MetricFrames, metric: str, dataset=None, level=None,
                     slice: Slice | None = None) -> np.ndarray:
    """The finite values of ``metric`` whose median is :func:`test_hypothesis`'s default
    threshold (and whose quantiles are :func:`performance_curve`'s bin edges): the images'
    values for an image metric, the non-crowd annotations' values for an object metric
    (crowd flags from ``metrics.objects["iscrowd"]``, else from ``dataset.annotations``);
    with a ``slice`` (it needs ``dataset``, else ``metrics.dataset``), those in the slice."""
    level = metric_level(metrics, metric, level)
    dataset = metrics.dataset if dataset is None and slice is not None else dataset
    within = _ids_within(dataset, slice_rows(dataset, metrics, slice), level)
    return _reference_values(metrics, metric, level, dataset, within)


def _reference_values(metrics: MetricFrames, metric: str, level: str, dataset=None,
                      within=None) -> np.ndarray:
    """:func:`reference_values` at a ``level`` that :func:`metric_level` resolved, of the
    rows whose id is ``within`` (None: all)."""
    if level == "image":
        values = metrics.images[metric]
    else:
        objects = metrics.objects
        values = objects[metric]
        crowd = None
        if "iscrowd" in objects:
            crowd = objects["iscrowd"]
        elif dataset is not None and "iscrowd" in dataset.annotations:
            crowd = dataset.annotations["iscrowd"].reindex(objects.index)
        if crowd is not None:
            values = values[~crowd.fillna(False).astype(bool).to_numpy()]
    if within is not None:
        values = values[values.index.isin(within)]
    values = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return values[np.isfinite(values)]


def default_threshold(metrics: MetricFrames, metric: str, dataset=None, level=None,
                      slice: Slice | None = None) -> float:
    """The median of :func:`reference_values`: the threshold :func:`test_hypothesis` splits at
    when none is given (within ``slice``, when given). Raises ValueError when ``metric`` has
    no finite value."""
    return _median(reference_values(metrics, metric, dataset, level, slice), metric)


def _median(reference: np.ndarray, metric: str) -> float:
    if len(reference) == 0:
        raise ValueError(f"{metric!r} has no finite value to split at")
    return float(np.median(reference))


def _require_inside(metrics: MetricFrames, metric: str, level: str, threshold,
                    within=None) -> None:
    """ValueError unless ``threshold`` (None: any) leaves values of ``metric`` on both sides
    of the rows whose id is ``within`` (a slice's, which must hold a value; None: all)."""
    frame = metrics.images if level == "image" else metrics.objects
    column = frame[metric] if within is None else frame[metric][frame.index.isin(within)]
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    where = "the images" if level == "image" else "the annotations"
    if within is not None:
        where += " in the slice"
        if not len(values):
            raise ValueError(f"{metric} has no value on {where}: nothing to split")
    if threshold is not None and len(values) and \
            not values.min() < float(threshold) <= values.max():
        raise ValueError(
            f"threshold {threshold:g} is outside the values of {metric} ({values.min():.4g} to "
            f"{values.max():.4g} over {where}): one side would be empty; choose a threshold "
            f"above the smallest value and at most the largest (default: the median)")


# ---- one metric, resolved once -----------------------------------------------------------------
class _Problem:
    """Everything about one (dataset, metric, measure) that does not depend on T.

    The metric's level is resolved here, once (:func:`metric_level`), before the evaluator is
    built (the costly part, skipped when ``evaluator`` is given): an unknown column, or a
    ``threshold`` that would leave a side empty (checked when given), costs nothing.
    ``reference``: :func:`reference_values`; ``values`` / ``pred_values``: the metric per
    image position (image split) or per annotation / prediction row (object split).
    ``slice``: the :class:`~quality_widgets.slicing.Slice` the split runs within (None: the
    whole dataset); ``rows``: its :func:`slice_rows` (given: not computed again).
    """

    def __init__(self, dataset, metrics, metric, measure, category, score_threshold,
                 evaluator=None, level=None, iou_type=None, threshold=None, slice=None,
                 rows=None):
        self.level = metric_level(metrics, metric, level)
        self.metric = metric
        rows = rows if rows is not None else slice_rows(dataset, metrics, slice)
        self.slice = None if rows is None else slice
        within = _ids_within(dataset, rows, self.level)
        if threshold is not None or within is not None:
            _require_inside(metrics, metric, self.level, threshold, within)
        self.ev = evaluator_for(dataset, evaluator, iou_type)
        self.iou_type = self.ev.iou_type
        self.measure = _Measure(self.ev, measure, category, score_threshold)
        inputs = self.ev.inputs
        if self.level == "image":
            self.values = column_values(metrics, dataset, "image", metric,
                                        pd.Index(inputs.image_ids))
            self.pred_values = None
        else:
            self.values = column_values(metrics, dataset, "object", metric)
            self.pred_values = (column_values(metrics, dataset, "prediction", metric)
                                if metric in metrics.predictions.columns
                                else np.zeros(len(dataset.predictions)))
        self.reference = _reference_values(metrics, metric, self.level, dataset, within)
        # Frames of one video are not independent: image splits permute whole videos.
        clusters = cluster_labels(dataset.images, inputs.image_ids)
        self.clusters = clusters if len(np.unique(clusters)) < len(clusters) else None
        self.within = None if rows is None else _Within.of(self.ev, rows)
        self.split = _Split(self.ev, self.measure, self.level, self.values, self.pred_values,
                            self.clusters, self.within)

    def default_threshold(self) -> float:
        """:func:`default_threshold` of this metric."""
        return _median(self.reference, self.metric)

    def _inside(self, level: str) -> np.ndarray:
        """Bool per value of ``level`` ("image": positions, "object", "prediction": rows):
        in the slice (all True without one)."""
        n = len(self.values if level != "prediction" else self.pred_values)
        if self.within is None:
            return np.ones(n, dtype=bool)
        return {"image": self.within.images, "object": self.within.annotations,
                "prediction": self.within.predictions}[level]

    def lowest(self) -> float:
        """The smallest value in the split (the bottom edge of the lowest side)."""
        v = [self.values[np.isfinite(self.values) & self._inside(self.level)]]
        if self.pred_values is not None:
            v.append(self.pred_values[np.isfinite(self.pred_values) &
                                      self._inside("prediction")])
        v = np.concatenate(v)
        return float(v.min()) if len(v) else -np.inf

    def n_excluded(self) -> int:
        """Images (image split) or annotations (object split) in the slice without a value:
        in neither side."""
        return int((np.isnan(self.values) & self._inside(self.level)).sum())

"""Values of a slice's columns: the one range mask, column lookup, tag test and value format."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..frames import FRAME_OF_LEVEL, LEVELS, MetricFrames

CLOSURES = ("both", "left", "right", "neither")
TAG_COLUMN = "tags"
TAG_SEPARATOR = ","
_DATASET_FRAME = {"image": "images", "object": "annotations", "prediction": "predictions"}


def check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: expected one of {', '.join(LEVELS)}")


def split_level(name: str) -> tuple[str | None, str]:
    """``("object", "x")`` for ``"object.x"``; ``(None, name)`` for a bare name."""
    level, dot, bare = str(name).partition(".")
    return (level, bare) if dot and bare and level in LEVELS else (None, str(name))


# ---- values ------------------------------------------------------------------------------------
def as_float(values) -> np.ndarray:
    """``values`` (Series, array, list; numbers, booleans, nullable ints) as float64, NA -> NaN."""
    if isinstance(values, pd.Series):
        if pd.api.types.is_bool_dtype(values.dtype) or \
                not pd.api.types.is_numeric_dtype(values.dtype):     # object, text: coerced
            values = pd.to_numeric(values, errors="coerce")
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return np.asarray(values, dtype="float64")


class Source:
    """Where a slice reads its columns: the metric frame of a level (``metrics``, a
    :class:`MetricFrames` or None), then the dataset's own frame of that level.

    The rows of a level are the metric frame's (``rows="frames"``, when it has rows: what the
    Explorer shows) or the dataset's (``rows="dataset"``: what evaluation counts); a column
    found in the other frame is aligned to them by id (missing rows are NaN).
    """

    def __init__(self, metrics, dataset, rows: str = "dataset"):
        self.metrics, self.dataset, self.rows = metrics, dataset, rows
        self._index: dict = {}

    @classmethod
    def of(cls, data) -> Source:
        """The source of a :class:`MetricFrames` (its rows) or of a Dataset (its rows)."""
        if isinstance(data, MetricFrames):
            return cls(data, data.dataset, "frames")
        if data is None or not hasattr(data, "images"):
            raise TypeError(f"expected MetricFrames or a Dataset, got {type(data).__name__}")
        return cls(None, data, "dataset")

    def _metric_frame(self, level: str) -> pd.DataFrame | None:
        return getattr(self.metrics, FRAME_OF_LEVEL[level], None)     # any frames-like object

    def _own_frame(self, level: str) -> pd.DataFrame | None:
        return getattr(self.dataset, _DATASET_FRAME[level], None)

    def frames(self, level: str) -> list[pd.DataFrame]:
        return [f for f in (self._metric_frame(level), self._own_frame(level)) if f is not None]

    def index(self, level: str) -> pd.Index:
        """The ids of the rows of ``level`` (masks are aligned to them)."""
        if level not in self._index:
            metric, own = self._metric_frame(level), self._own_frame(level)
            if metric is not None and (own is None or (self.rows == "frames" and len(metric))):
                self._index[level] = metric.index
            elif own is not None:
                self._index[level] = own.index
            else:
                self._index[level] = pd.Index([], dtype="int64")
        return self._index[level]

    def series(self, level: str, column: str, index=None) -> pd.Series | None:
        """``column`` at ``level`` aligned to ``index`` (default :meth:`index`); None when no
        frame of the level holds it."""
        index = self.index(level) if index is None else index
        for frame in self.frames(level):
            if column in frame.columns:
                series = frame[column]
                return series if series.index.equals(index) else series.reindex(index)
        return None

    def has(self, level: str, column: str) -> bool:
        return any(column in frame.columns for frame in self.frames(level))

    def level_of(self, column: str, levels=LEVELS) -> str | None:
        """The first of ``levels`` holding ``column``."""
        return next((lv for lv in levels if self.has(lv, column)), None)

    def image_ids(self, level: str) -> np.ndarray:
        """The ``image_id`` of each row of ``level`` (an object or prediction level)."""
        ids = self.series(level, "image_id")
        if ids is None:
            if len(self.index(level)):
                raise KeyError(f"the {level} rows have no image_id column: a slice cannot "
                               f"tell which image holds them")
            return np.zeros(0, dtype=np.int64)
        return ids.to_numpy()


def column_values(metrics, dataset, level: str, column: str, index=None) -> np.ndarray | None:
    """The values of ``column`` at ``level`` ("image", "object", "prediction") as float64,
    aligned to ``index`` (default: the dataset's rows of that level; missing rows are NaN).

    Looked up in the metric frame of the level (``metrics``: :class:`MetricFrames` or None),
    then in the dataset's own frame (``area``, ``score``, an ``annotator`` attribute...).
    None when neither holds the column. Non-numeric values become NaN.
    """
    check_level(level)
    own = getattr(dataset, _DATASET_FRAME[level], None) if dataset is not None else None
    if index is None:
        if own is None:
            raise ValueError("column_values needs an index or a dataset")
        index = own.index
    series = Source(metrics, dataset).series(level, column, index)
    return None if series is None else as_float(series)


def format_value(value) -> str:
    """Compact display of a metric value (4 significant digits; integers as integers)."""
    if value is None:
        return "–"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if np.isnan(v):
        return "NaN"
    if np.isinf(v):
        return "∞" if v > 0 else "-∞"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4g}"


# ---- masks -------------------------------------------------------------------------------------
def range_mask(values, lo=None, hi=None, closed: str = "both") -> np.ndarray:
    """Bool per value: is it in the range from ``lo`` to ``hi``?

    ``closed``: "both" ``[lo, hi]`` (the Explorer's brush), "left" ``[lo, hi)`` (an area range,
    a side of a split), "right" ``(lo, hi]``, "neither" ``(lo, hi)``. ``None`` or an infinite
    bound is no bound (infinite values are then inside); NaN is in no range; reversed bounds are
    put in order. About 1 ms per million values.
    """
    if closed not in CLOSURES:
        raise ValueError(f"closed must be one of {', '.join(CLOSURES)}, got {closed!r}")
    values = as_float(values)
    lo = -np.inf if lo is None else float(lo)
    hi = np.inf if hi is None else float(hi)
    if hi < lo:
        lo, hi = hi, lo
    mask = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        if lo != -np.inf:
            mask &= values >= lo if closed in ("both", "left") else values > lo
        if hi != np.inf:
            mask &= values <= hi if closed in ("both", "right") else values < hi
    return mask


def bin_masks(values, edges) -> list[np.ndarray]:
    """One mask per bin ``[edges[i], edges[i + 1])`` of ``values`` (a split's sides, a curve's
    bins); an infinite last edge closes the top."""
    return [range_mask(values, lo, hi, closed="left")
            for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def combine(masks, n: int) -> np.ndarray:
    """AND of ``masks`` (None entries ignored); all True for ``n`` rows when there are none."""
    out = None
    for m in masks:
        if m is None:
            continue
        out = np.array(m, dtype=bool, copy=True) if out is None else np.logical_and(out, m,
                                                                                   out=out)
    return np.ones(n, dtype=bool) if out is None else out


def isin_mask(values, allowed) -> np.ndarray:
    """Rows whose value is one of ``allowed`` (categories, outcomes...)."""
    return pd.Series(values).isin(list(allowed)).to_numpy()


def images_with_mask(image_ids, rows_image_ids, rows_mask) -> np.ndarray:
    """For the image ids ``image_ids``: does the image hold at least one row of another level
    (objects, predictions; their ``image_id`` column ``rows_image_ids``) in ``rows_mask``
    (None: any row)?"""
    rows_image_ids = np.asarray(rows_image_ids)
    if rows_mask is not None:
        rows_image_ids = rows_image_ids[np.asarray(rows_mask, dtype=bool)]
    return np.isin(np.asarray(image_ids), np.unique(rows_image_ids))


# ---- tags --------------------------------------------------------------------------------------
def split_tags(text) -> tuple:
    """The tag names of one ``tags`` cell (comma-separated; "" or a missing value: none)."""
    if not isinstance(text, str) or not text:
        return ()
    return tuple(t for t in text.split(TAG_SEPARATOR) if t)


def tag_mask(tags, tag: str) -> np.ndarray:
    """Bool per row: does its ``tags`` cell hold ``tag``?"""
    tags = list(tags)
    return np.fromiter((tag in split_tags(t) for t in tags), dtype=bool, count=len(tags))

"""Which rows are in a slice: the one range mask, the one column lookup, the one tag test.

Every part of the project that asks "which rows fall in [lo, hi) of this column?" asks here:
the Explorer's brush (closed ``[lo, hi]``), ``evaluate(object_range=...)`` and the hypothesis
test's sides (``[lo, hi)``, as pycocotools' area ranges), and model test cases (any of the four
closures). The rules are the same everywhere:

- ``None`` or an infinite bound is no bound on that side, and then infinite values are inside
  (``[0, inf)`` holds ``inf``, as pycocotools' area range ``[0, 1e5 ** 2]`` holds every box);
- NaN (and a missing value) is in no range;
- reversed bounds are put in order.

It sits just above the frames (it reads :class:`MetricFrames` and the :class:`Dataset`'s own
columns) and below evaluation, analysis and widgets, which all use it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .frames import FRAME_OF_LEVEL, LEVELS

CLOSURES = ("both", "left", "right", "neither")
TAG_COLUMN = "tags"
TAG_SEPARATOR = ","
_DATASET_FRAME = {"image": "images", "object": "annotations", "prediction": "predictions"}


# ---- values ------------------------------------------------------------------------------------
def as_float(values) -> np.ndarray:
    """``values`` (Series, array, list; numbers, booleans, nullable ints) as float64, NA -> NaN."""
    if isinstance(values, pd.Series):
        if pd.api.types.is_bool_dtype(values.dtype) or \
                not pd.api.types.is_numeric_dtype(values.dtype):     # object, text: coerced
            values = pd.to_numeric(values, errors="coerce")
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return np.asarray(values, dtype="float64")


def column_values(metrics, dataset, level: str, column: str, index=None) -> np.ndarray | None:
    """The values of ``column`` at ``level`` ("image", "object", "prediction") as float64,
    aligned to ``index`` (default: the dataset's rows of that level; missing rows are NaN).

    Looked up in the metric frame of the level (``metrics``: :class:`MetricFrames` or None),
    then in the dataset's own frame (``area``, ``score``, an ``annotator`` attribute...).
    None when neither holds the column. Non-numeric values become NaN.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: expected one of {', '.join(LEVELS)}")
    own = getattr(dataset, _DATASET_FRAME[level], None) if dataset is not None else None
    if index is None:
        if own is None:
            raise ValueError("column_values needs an index or a dataset")
        index = own.index
    sources = [getattr(metrics, FRAME_OF_LEVEL[level], None), own]
    for frame in sources:
        if frame is not None and column in frame.columns:
            series = frame[column]
            if not series.index.equals(index):
                series = series.reindex(index)
            return as_float(series)
    return None


# ---- ranges ------------------------------------------------------------------------------------
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

"""The explorer's computations as plain functions: bins, range masks, filters, IQR band, paging.

The widgets in :mod:`quality_widgets.widgets` only display and link; everything they show is
computed here, so tests (and scripts) call these without any widget.

Conventions
-----------
* A brushed interval ``[lo, hi]`` (data units, as bqplot's interval selector reports it) selects
  the rows with ``lo <= value <= hi`` (both ends inclusive). NaN never falls in a range.
  ``lo``/``hi`` of None mean unbounded on that side; a reversed interval is put in order.
* A histogram bin is highlighted when it *overlaps* the interval: bin ``[left, right)`` (the last
  bin closed) shares at least one value with ``[lo, hi]``. So every selected row lies in a
  highlighted bin, and a highlighted bin holds at least part of the interval.
* Sorting for the gallery is stable: ties keep frame order, NaN values go last in both
  directions, so page ``p`` of a selection is always the same rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

PER_PAGE = 24


# ---- values ------------------------------------------------------------------------------------
def as_float(values) -> np.ndarray:
    """``values`` (Series, array, list; numbers, booleans, nullable ints) as float64, NA -> NaN."""
    if isinstance(values, pd.Series):
        if pd.api.types.is_bool_dtype(values.dtype) or values.dtype == object:
            values = values.astype("float64")
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return np.asarray(values, dtype="float64")


# ---- histogram ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Histogram:
    """Bin ``counts`` of the finite values between ``edges`` (len(counts) + 1), ``heights`` as
    drawn (counts, or log10(1 + count) when ``log``), and how many values were not finite."""

    counts: np.ndarray
    edges: np.ndarray
    heights: np.ndarray
    log: bool = False
    n_missing: int = 0

    @property
    def centers(self) -> np.ndarray:
        return (self.edges[:-1] + self.edges[1:]) / 2.0


def histogram(values, bins: int = 30, log: bool = False) -> Histogram:
    """Counts of ``values`` in ``bins`` equal-width bins over their finite range.

    NaN/inf values are left out (counted in ``n_missing``). With ``log``, the drawn heights are
    ``log10(1 + count)``: a log scale that keeps empty bins at zero height (a log axis cannot
    draw a zero). A constant column gets one bin of width 1 centred on the value, so a brush
    can still select it.
    """
    values = as_float(values)
    bins = max(int(bins), 1)
    finite = np.isfinite(values)
    n_missing = int(values.size - np.count_nonzero(finite))
    vals = values if n_missing == 0 else values[finite]
    if vals.size == 0:
        counts, edges = np.zeros(bins, dtype=np.int64), np.linspace(0.0, 1.0, bins + 1)
    else:
        lo, hi = float(vals.min()), float(vals.max())
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        counts, edges = np.histogram(vals, bins=bins, range=(lo, hi))
    heights = np.log10(1.0 + counts) if log else counts.astype(np.float64)
    return Histogram(counts=counts, edges=edges, heights=heights, log=bool(log),
                     n_missing=n_missing)


def ordered_interval(lo, hi) -> tuple[float, float]:
    """``(lo, hi)`` as floats in increasing order, None -> -inf / +inf."""
    lo = -np.inf if lo is None else float(lo)
    hi = np.inf if hi is None else float(hi)
    return (hi, lo) if hi < lo else (lo, hi)


def overlapping_bins(edges, lo, hi) -> np.ndarray:
    """Boolean flag per bin: does bin ``[left, right)`` (last bin closed) overlap ``[lo, hi]``?"""
    edges = np.asarray(edges, dtype=np.float64)
    lo, hi = ordered_interval(lo, hi)
    left, right = edges[:-1], edges[1:]
    flags = (left <= hi) & (right > lo)
    if flags.size:
        flags[-1] = (left[-1] <= hi) and (right[-1] >= lo)
    return flags


# ---- masks -------------------------------------------------------------------------------------
def range_mask(values, lo=None, hi=None) -> np.ndarray:
    """Rows with ``lo <= value <= hi`` (NaN excluded; None = unbounded; reversed bounds ordered)."""
    values = as_float(values)
    lo, hi = ordered_interval(lo, hi)
    if lo == -np.inf and hi == np.inf:
        return ~np.isnan(values)
    if lo == -np.inf:
        return values <= hi
    if hi == np.inf:
        return values >= lo
    # Two comparisons and an in-place AND: about 1 ms per million rows.
    mask = values >= lo
    mask &= values <= hi
    return mask


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
    """For the image frame ids ``image_ids``: does the image hold at least one row of another
    level (objects, predictions; their ``image_id`` column ``rows_image_ids``) in ``rows_mask``?
    Used for the category filter at image level: an image matches when it shows the category."""
    keep = np.unique(np.asarray(rows_image_ids)[np.asarray(rows_mask, dtype=bool)])
    return np.isin(np.asarray(image_ids), keep)


def tag_mask(tags, tag: str) -> np.ndarray:
    """Rows whose comma-separated ``tags`` string holds ``tag``."""
    from .tags import split_tags
    return np.fromiter((tag in split_tags(t) for t in tags), dtype=bool, count=len(tags))


# ---- outliers ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class IQRBand:
    """Quartiles and Tukey fences: values outside ``[low, high]`` are outliers."""

    q1: float
    q3: float
    low: float
    high: float


def iqr_band(values, k: float = 1.5) -> IQRBand | None:
    """Tukey's band ``[q1 - k*IQR, q3 + k*IQR]`` of the finite values (None when there are none)."""
    values = as_float(values)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    q1, q3 = np.quantile(values, [0.25, 0.75])
    iqr = q3 - q1
    return IQRBand(q1=float(q1), q3=float(q3), low=float(q1 - k * iqr), high=float(q3 + k * iqr))


# ---- sorting and paging ------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    """One gallery page: row ``positions`` in the frame, their ``ids`` and metric ``values``."""

    positions: np.ndarray
    ids: list
    values: np.ndarray
    page: int
    n_pages: int
    total: int
    per_page: int = PER_PAGE
    first_rank: int = field(default=0)  # rank (0-based) of the first row in the sorted selection


def n_pages(total: int, per_page: int = PER_PAGE) -> int:
    return max(1, -(-int(total) // int(per_page)))


def sorted_positions(values, mask=None, ascending: bool = True, stop: int | None = None
                     ) -> np.ndarray:
    """Frame positions of the rows in ``mask``, sorted by ``values`` (stable; NaN last), the first
    ``stop`` of them (all when None).

    For a first page of a large selection only the ``stop`` smallest are needed: np.argpartition
    finds them in O(n), then only those (plus ties at the boundary, so the result equals a full
    stable sort) are sorted.
    """
    values = as_float(values)
    positions = np.flatnonzero(mask) if mask is not None else np.arange(values.size)
    vals = values[positions]
    # Sort key: ascending values, or negated for descending; NaN -> +inf key placed after +inf
    # via a secondary "is nan" key.
    key = vals if ascending else -vals
    nan = np.isnan(key)
    has_nan = bool(nan.any())
    if has_nan:
        key = np.where(nan, np.inf, key)
    n = positions.size
    if stop is not None and stop < n // 4:
        # argpartition at stop-1: key[:stop] holds the stop smallest (unordered).
        part = np.argpartition(key, stop - 1)
        kth = key[part[stop - 1]]
        # Every row with key < kth is in; rows equal to kth compete on position (stability).
        cand = np.flatnonzero(key <= kth)
        order = np.lexsort((positions[cand], nan[cand], key[cand]))
        chosen = cand[order][:stop]
        return positions[chosen]
    order = np.lexsort((positions, nan, key)) if has_nan else np.argsort(key, kind="stable")
    out = positions[order]
    return out if stop is None else out[:stop]


def sort_page(frame: pd.DataFrame, metric: str, ascending: bool = True, page: int = 0,
              per_page: int = PER_PAGE, mask=None, values=None) -> Page:
    """Page ``page`` (0-based, clamped to the valid range) of the rows of ``frame`` in ``mask``
    sorted by ``metric`` (stable; NaN last). ``values`` may pass the metric column as a
    precomputed float array (the explorer keeps one per metric to avoid pandas conversions)."""
    vals = as_float(frame[metric]) if values is None else values
    total = int(np.count_nonzero(mask)) if mask is not None else len(frame)
    pages = n_pages(total, per_page)
    page = min(max(int(page), 0), pages - 1)
    start = page * per_page
    stop = min(start + per_page, total)
    positions = sorted_positions(vals, mask, ascending, stop=stop)[start:stop]
    return Page(positions=positions, ids=frame.index[positions].tolist(),
                values=vals[positions], page=page, n_pages=pages, total=total,
                per_page=per_page, first_rank=start)


# ---- summary -----------------------------------------------------------------------------------
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


def summary_text(n_selected: int, n_total: int, level: str, ranges=(), extra=()) -> str:
    """One line: ``12 / 300 images selected; brightness in [0.1, 0.3]; category: dog``.

    ``ranges`` is a sequence of ``(metric, lo, hi)``; ``extra`` of already formatted filters.
    Plain text: the widget HTML-escapes it.
    """
    noun = {"image": "images", "object": "objects", "prediction": "predictions"}.get(level, level)
    pct = f" ({100.0 * n_selected / n_total:.1f}%)" if n_total else ""
    parts = [f"{n_selected:,} / {n_total:,} {noun} selected{pct}"]
    for metric, lo, hi in ranges:
        parts.append(f"{metric} in [{format_value(lo)}, {format_value(hi)}]")
    parts.extend(extra)
    return "; ".join(parts)

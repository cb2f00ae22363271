"""The explorer's computations as plain functions: bins, IQR band, paging, groups, summary.

The widgets in :mod:`quality_widgets.widgets` only display and link; everything they show is
computed here, so tests (and scripts) call these without any widget. Which rows are selected is
:mod:`quality_widgets.slicing`'s question (the :class:`~quality_widgets.slicing.Slice`); its
range mask, value conversion, tag test and value format are re-exported here.

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

# Which rows are in a selection is quality_widgets.slicing's question (the Slice and its range
# mask, value conversion, tag test and value format); re-exported here, the widgets' one import.
from ..slicing import (  # noqa: F401
    as_float,
    combine,
    format_value,
    images_with_mask,
    isin_mask,
    range_mask,
    tag_mask,
)

PER_PAGE = 24


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


# ---- groups ------------------------------------------------------------------------------------
MAX_GROUPS = 8
OTHER_GROUP = "(other)"
MISSING_GROUP = "(none)"
# Text columns that identify or describe a row rather than group it.
NOT_GROUP_COLUMNS = frozenset({"file_name", "path", "error", "segmentation", "scores",
                               "flickr_url", "coco_url", "outcome_reason", "shape_skip_reason"})


def group_labels(values) -> np.ndarray:
    """One text label per row of a categorical column: ``str(value)``; missing values (None,
    NaN, NA, and ``""`` such as an untagged row's ``tags``) become ``"(none)"``. A ``tags`` cell
    groups by its whole sorted combination (``"blurry,dark"`` is its own group)."""
    series = pd.Series(values)
    missing = series.isna().to_numpy()
    labels = series.astype(object).where(~missing, "").astype(str).to_numpy(dtype=object)
    labels[missing | (labels == "")] = MISSING_GROUP
    return labels


def categorical_columns(frame: pd.DataFrame, max_distinct: int = 50) -> list[str]:
    """Columns of ``frame`` to group rows by: text, categorical and boolean columns (category,
    tags, outcome, an ``annotator`` or ``split`` attribute of the annotation file...) with at most
    ``max_distinct`` distinct values, minus file names, paths and error texts. Numeric columns are
    metrics and are not offered (pass one to :func:`grouped_histogram` explicitly if needed)."""
    out = []
    for col in frame.columns:
        if col in NOT_GROUP_COLUMNS or str(col).startswith("_"):
            continue
        dtype = frame[col].dtype
        if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
                or isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype)):
            continue
        series = frame[col]
        if pd.api.types.is_object_dtype(dtype) and len(series) and not series.map(
                lambda v: v is None or isinstance(v, (str, bool, int, float, np.generic))).all():
            continue   # lists, dicts (segmentation-like values) are not groups
        n = series.nunique(dropna=True)
        if 1 <= n <= max_distinct:
            out.append(col)
    return out


def top_groups(labels, max_groups: int = MAX_GROUPS) -> tuple[np.ndarray, list[str]]:
    """Labels limited to ``max_groups`` groups: the ``max_groups - 1`` most frequent keep their
    name (ties by name), the rest are merged into ``"(other)"``. Returns (labels, group order:
    most frequent first, ``"(other)"`` last)."""
    labels = np.asarray(labels, dtype=object)
    names, counts = np.unique(labels.astype(str), return_counts=True)
    order = sorted(range(len(names)), key=lambda i: (-counts[i], names[i]))
    if len(names) <= max_groups:
        return labels.astype(str).astype(object), [str(names[i]) for i in order]
    keep = [str(names[i]) for i in order[:max_groups - 1]]
    merged = np.where(np.isin(labels.astype(str), keep), labels.astype(str), OTHER_GROUP)
    return merged.astype(object), [*keep, OTHER_GROUP]


@dataclass(frozen=True)
class GroupedHistogram:
    """Bin ``counts[g, b]`` of group ``groups[g]`` over shared ``edges``; ``heights`` as drawn
    (counts, per-group fractions when ``normalize``, or log10(1 + count) when ``log``)."""

    counts: np.ndarray
    edges: np.ndarray
    groups: list
    heights: np.ndarray
    normalize: bool = False
    log: bool = False
    n_missing: np.ndarray = field(default=None)  # non-finite values per group

    @property
    def centers(self) -> np.ndarray:
        return (self.edges[:-1] + self.edges[1:]) / 2.0

    @property
    def totals(self) -> np.ndarray:
        return self.counts.sum(axis=1)


def grouped_histogram(values, groups, bins=30, normalize: bool = False, log: bool = False,
                      max_groups: int = MAX_GROUPS, order=None) -> GroupedHistogram:
    """Histogram of ``values`` per group, all groups on the same bins.

    ``groups``: one value per row, labelled by :func:`group_labels` (missing -> "(none)"; more
    than ``max_groups`` groups are merged into ``"(other)"`` by :func:`top_groups`). ``bins``:
    a number of equal-width bins over the finite range of all values (as :func:`histogram`), or
    explicit edges (to draw on an existing histogram's bins). ``normalize``: heights are each
    group's fraction of its finite
    values per bin (each group sums to 1), so groups of different sizes compare by shape.
    ``order``: the group names to use, in order (others dropped); default most frequent first.
    Counting is one ``np.histogram`` per group, with the bin conventions of :func:`histogram`
    (bins ``[left, right)``, the last closed).
    """
    values = as_float(values)
    labels = group_labels(groups)
    if labels.shape != values.shape:
        raise ValueError(f"groups must have one label per value ({values.size}), got "
                         f"{labels.size}")
    if order is None:
        labels, names = top_groups(labels, max_groups)
    else:
        names = [str(g) for g in order]
        labels = labels.astype(str).astype(object)
    finite = np.isfinite(values)
    if np.ndim(bins) == 0:
        edges = histogram(values, bins).edges
    else:
        edges = np.asarray(bins, dtype=np.float64)
    counts = np.zeros((len(names), len(edges) - 1), dtype=np.int64)
    missing = np.zeros(len(names), dtype=np.int64)
    for g, name in enumerate(names):
        in_group = labels == name
        counts[g], _ = np.histogram(values[in_group & finite], bins=edges)
        missing[g] = int(np.count_nonzero(in_group & ~finite))
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        heights = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=np.float64),
                            where=totals > 0)
    elif log:
        heights = np.log10(1.0 + counts)
    else:
        heights = counts.astype(np.float64)
    return GroupedHistogram(counts=counts, edges=edges, groups=names, heights=heights,
                            normalize=bool(normalize), log=bool(log and not normalize),
                            n_missing=missing)


def group_codes(groups, max_groups: int | None = MAX_GROUPS) -> tuple[np.ndarray, list[str]]:
    """(code per row, group names): rows labelled by :func:`group_labels`, limited to
    ``max_groups`` by :func:`top_groups` (None: no limit); ``names[code]`` is a row's group.
    Compute once per column, then count selections with :func:`count_by_group`."""
    labels = group_labels(groups)
    limit = max_groups if max_groups is not None else max(1, len(pd.unique(labels)))
    labels, names = top_groups(labels, limit)
    position = {name: i for i, name in enumerate(names)}
    codes = pd.Series(labels.astype(str)).map(position).to_numpy(dtype=np.int64)
    return codes, names


def count_by_group(codes, names, mask=None) -> pd.DataFrame:
    """Per group: ``n`` rows, ``selected`` rows (in ``mask``; all when None) and ``fraction``
    selected / n, from :func:`group_codes` (two bincounts: cheap on every brush)."""
    codes = np.asarray(codes, dtype=np.int64)
    n = np.bincount(codes, minlength=len(names)).astype(np.int64)
    if mask is None:
        selected = n.copy()
    else:
        selected = np.bincount(codes[np.asarray(mask, dtype=bool)],
                               minlength=len(names)).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(n > 0, selected / np.maximum(n, 1), np.nan)
    return pd.DataFrame({"n": n, "selected": selected, "fraction": fraction},
                        index=pd.Index(list(names), name="group"))


def group_counts(groups, mask=None, max_groups: int | None = None) -> pd.DataFrame:
    """Per group (labels as :func:`group_labels`): ``n`` rows, ``selected`` rows (in ``mask``;
    all when None) and ``fraction`` selected / n. Index: the group label, most frequent group
    first (merged into ``"(other)"`` beyond ``max_groups`` when given)."""
    codes, names = group_codes(groups, max_groups)
    return count_by_group(codes, names, mask)


# ---- a threshold on a histogram ------------------------------------------------------------------
def threshold_split(hist: Histogram, threshold) -> tuple[np.ndarray, np.ndarray]:
    """``(below, above)``: the heights of ``hist``'s bins drawn on each side of ``threshold``.

    A bin goes to ``above`` when its centre is ``>= threshold`` and to ``below`` otherwise (the
    hypothesis test's sides are ``value < T`` and ``value >= T``, here at bin resolution), so
    every bin is on exactly one side and ``below + above == hist.heights``.
    """
    above = hist.centers >= float(threshold)
    return np.where(above, 0.0, hist.heights), np.where(above, hist.heights, 0.0)


def interval_medians(values, lows, highs) -> np.ndarray:
    """Median of the finite ``values`` in each interval ``[lows[i], highs[i])`` (a high of +inf
    closes it at the top); the interval's low where no value falls in it. Places a bin's point
    on a curve at its typical value rather than at an edge."""
    values = as_float(values)
    values = values[np.isfinite(values)]
    out = np.empty(len(lows), dtype=np.float64)
    for i, (lo, hi) in enumerate(zip(lows, highs, strict=True)):
        inside = values[(values >= lo) & (values < hi)]
        out[i] = float(np.median(inside)) if inside.size else float(lo)
    return out


# ---- a grid of rows per group ------------------------------------------------------------------
def group_membership(frame: pd.DataFrame, column: str, rows_of_images: pd.DataFrame | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``(positions, labels)``: row ``positions[i]`` of ``frame`` is in group ``labels[i]``.

    When ``column`` is a column of ``frame``, each row is in the group of its value. Otherwise,
    for an image frame, ``rows_of_images`` (objects or annotations: an ``image_id`` column and
    ``column``) puts an image in the group of each of its rows, e.g. ``column="category"``: an
    image is in every category it shows (once per category). Raises KeyError when neither has
    the column.
    """
    if column in frame.columns:
        return np.arange(len(frame)), frame[column].to_numpy(dtype=object)
    if rows_of_images is not None and column in rows_of_images and \
            "image_id" in rows_of_images:
        positions = frame.index.get_indexer(rows_of_images["image_id"])
        found = positions >= 0
        return positions[found], rows_of_images[column].to_numpy(dtype=object)[found]
    raise KeyError(f"no column {column!r} to group by; columns: {', '.join(map(str, frame))}")


def first_per_group(order, positions, labels, n: int = PER_PAGE,
                    max_groups: int | None = MAX_GROUPS) -> list[tuple[str, np.ndarray]]:
    """The first ``n`` rows of each group, in display order.

    ``order``: the frame positions of the rows to show, in display order (e.g.
    :func:`sorted_positions` of a selection). ``positions``, ``labels``: row ``positions[i]``
    is in group ``labels[i]`` (:func:`group_membership`; labelled by :func:`group_labels`, so a
    missing value is the group ``"(none)"``); a row may be in several groups, and rows not in
    ``order`` are left out. Groups are ordered most frequent first among the rows shown (ties
    by name); beyond ``max_groups`` the rest merge into ``"(other)"`` (None: no limit).
    Returns ``[(group, frame positions)]``, each at most ``n`` rows, in ``order``'s order,
    without repeats; groups with no row shown are left out.
    """
    order = np.asarray(order, dtype=np.int64)
    positions = np.asarray(positions, dtype=np.int64)
    size = int(max(order.max(initial=-1), positions.max(initial=-1))) + 1
    rank = np.full(size, -1, dtype=np.int64)
    rank[order] = np.arange(order.size)
    ranks = rank[positions] if positions.size else positions
    shown = ranks >= 0
    pairs = pd.DataFrame({"rank": ranks[shown],
                          "label": group_labels(np.asarray(labels, dtype=object)[shown])})
    pairs = pairs.drop_duplicates()      # an image with two dogs counts once for "dog"
    if pairs.empty:
        return []
    ranks, labels = pairs["rank"].to_numpy(), pairs["label"].to_numpy(dtype=object)
    limit = max_groups if max_groups is not None else max(1, len(pd.unique(labels)))
    labels, names = top_groups(labels, limit)
    out = []
    for name in names:
        in_group = np.unique(ranks[labels == name])[:n]      # sorted ranks, repeats dropped
        if in_group.size:
            out.append((name, order[in_group]))
    return out

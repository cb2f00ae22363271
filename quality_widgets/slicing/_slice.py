"""The :class:`Slice` value: ranges, categories, tags and ``where`` -> the rows of each level."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..frames import LEVELS, numeric_metric_columns, unknown_name_message
from ._range import Range, SliceError
from ._values import TAG_COLUMN, Source, check_level, isin_mask, split_level, tag_mask

#: The key of a membership condition in a test case's ``where``: ``{"annotator": {"in": [...]}}``.
IN = "in"
_ROW_LEVELS = ("object", "prediction")


@dataclass(frozen=True)
class SliceMasks:
    """A slice as COCO evaluation applies it: bool per row of ``dataset.images``,
    ``dataset.annotations`` and ``dataset.predictions``, and ``notes`` on what it left out."""

    images: np.ndarray
    annotations: np.ndarray
    predictions: np.ndarray
    notes: tuple = ()


class _Rows:
    """Per level, the rows the conditions applied so far keep (None: every row)."""

    def __init__(self, src: Source):
        self.src = src
        self.masks: dict = dict.fromkeys(LEVELS)
        self.on_boxes = False      # a condition on labels or predictions was applied
        self.notes: list = []

    def restrict(self, level: str, mask) -> None:
        mask = np.asarray(mask, dtype=bool)
        old = self.masks[level]
        self.masks[level] = mask if old is None else old & mask

    def nothing(self, level: str) -> None:
        self.restrict(level, np.zeros(len(self.src.index(level)), dtype=bool))

    def object_condition(self, column: str, test) -> None:
        """An object condition also holds for predictions with their own value of ``column``;
        without one, an unmatched detection cannot be placed, so none is in the slice."""
        self.on_boxes = True
        values = self.src.series("prediction", column)
        if values is not None:
            self.restrict("prediction", test(values))
        elif len(self.src.index("prediction")):
            self.nothing("prediction")
            self.notes.append(f"{column} has no prediction values: unmatched detections "
                              f"ignored")

    def within_images(self, level: str) -> np.ndarray | None:
        """The rows of ``level`` kept by its own conditions and in a kept image."""
        mask, images = self.masks[level], self.masks["image"]
        if images is None:
            return mask
        positions = self.src.index("image").get_indexer(self.src.image_ids(level))
        inside = np.zeros(len(positions), dtype=bool)
        found = positions >= 0
        inside[found] = images[positions[found]]
        return inside if mask is None else mask & inside

    def images(self) -> np.ndarray | None:
        """The images kept: by the image conditions and, when there are conditions on labels
        or predictions, holding at least one label or prediction kept by them."""
        images = self.masks["image"]
        if not self.on_boxes:
            return images
        index = self.src.index("image")
        holding = np.zeros(len(index), dtype=bool)
        for level in _ROW_LEVELS:
            mask = self.masks[level]
            ids = self.src.image_ids(level)
            positions = index.get_indexer(ids if mask is None else ids[mask])
            holding[positions[positions >= 0]] = True
        return holding if images is None else images & holding


def _names(value, field: str) -> tuple:
    items = [value] if isinstance(value, str) else value
    try:
        items = list(items)
    except TypeError:
        raise SliceError(f"expected a list of names, got {value!r}", field) from None
    if not all(isinstance(v, (str, int, np.integer)) and str(v) for v in items):
        raise SliceError(f"expected a list of names, got {value!r}", field)
    return tuple(dict.fromkeys(str(v) for v in items))


def _where(where) -> tuple:
    if where is None:
        return ()
    if not isinstance(where, dict):
        raise SliceError(f"where must be a mapping of column -> values, got {where!r}", "where")
    out = []
    for column, values in where.items():
        if not isinstance(column, str) or not column:
            raise SliceError(f"a where column must be text, got {column!r}", "where")
        values = [values] if isinstance(values, str) or np.ndim(values) == 0 else values
        out.append((column, tuple(dict.fromkeys(str(v) for v in values))))
    return tuple(out)


def category_names(data, level: str | None = None) -> list[str]:
    """The category names a slice can choose among: of the labels and predictions at
    ``level`` (the image level: both), or the dataset's categories (``level=None``)."""
    src = Source.of(data) if not isinstance(data, Source) else data
    if level is None and src.dataset is not None and \
            len(getattr(src.dataset, "categories", ())):
        return sorted({str(n) for n in src.dataset.categories["name"]})
    names = set()
    for lv in _ROW_LEVELS if level in (None, "image") else (level,):
        values = src.series(lv, "category")
        if values is not None:
            names.update(str(c) for c in values.dropna().unique())
    return sorted(names)


class Slice:
    """Which rows are in a slice of a dataset: ranges of metric (or dataset) columns,
    categories, tags and ``where`` membership conditions, all ANDed. Immutable.

    >>> s = Slice(ranges=[("object_redness", 0.1, None)], categories=["dog"], tags=["review"],
    ...           where={"annotator": ["ann2"]})
    >>> str(s)
    'object_redness in [0.1, inf); category: dog; tag: review; annotator: ann2'
    >>> s.mask(metrics, "object")              # bool per row of metrics.objects
    >>> s.evaluation_masks(dataset, metrics)   # images, annotations, predictions
    >>> s & Slice(ranges=[("image.brightness", 0, 0.3)])

    ``ranges``: :class:`Range` objects or ``(column, lo, hi[, closed])`` tuples (default
    closure ``[lo, hi]``). ``where``: ``{column: [values]}``, a row is in when its value (as
    text) is one of them. ``categories``: category names. ``tags``: each required. A column
    may name its level (``"object.x"``, ``"image.x"``; a tag too: ``"image.review"``); a bare
    column is found at image, then object, then prediction level, and a bare tag holds at
    every level where some row carries it.

    Notes
    -----
    One rule gives the rows of every level:

    - an image condition (a range, ``where`` or tag of an image column) keeps images, and the
      labels and predictions in them;
    - a label condition (a category; an object range, ``where`` or tag) keeps labels, and
      predictions by their own value of the same column (a category, like pycocotools'
      ``catIds``; an object metric computed for predictions too, like an area range).
      Predictions that have no such value are not in the slice: an unmatched detection cannot
      be placed, so COCO evaluation ignores it (``notes`` says so);
    - a prediction condition (``score``, a prediction metric or tag) keeps predictions;
    - **images in the slice** are those kept by the image conditions that, when there are
      label or prediction conditions, hold a label or a prediction in the slice ("images
      showing a dog" are images with a dog label *or* a dog prediction, so an image with only
      a false positive dog is in). For any COCO measure of the slice this is the same as
      every image: an image with neither contributes nothing (tests/test_slice.py checks it
      against pycocotools), and no false positive is dropped.
    """

    __slots__ = ("ranges", "categories", "tags", "_where")

    def __init__(self, ranges=(), categories=(), tags=(), where=None):
        if isinstance(ranges, Range) or (isinstance(ranges, tuple) and ranges and
                                         isinstance(ranges[0], str)):
            ranges = [ranges]
        object.__setattr__(self, "ranges", tuple(Range.of(r) for r in ranges))
        object.__setattr__(self, "categories", _names(categories, "categories"))
        object.__setattr__(self, "tags", _names(tags, "tags"))
        object.__setattr__(self, "_where", _where(where))

    def __setattr__(self, name, value):
        raise AttributeError("a Slice is immutable: build another (s & Slice(...))")

    @property
    def where(self) -> dict:
        """``{column: [values]}`` (a copy)."""
        return {column: list(values) for column, values in self._where}

    @property
    def everything(self) -> bool:
        """True when the slice has no condition (every row is in)."""
        return not (self.ranges or self.categories or self.tags or self._where)

    def _key(self) -> tuple:
        # Conditions AND, so their order does not change the rows: equal regardless of it.
        return (tuple(sorted(self.ranges, key=repr)), tuple(sorted(self.categories)),
                tuple(sorted(self.tags)),
                tuple(sorted((c, tuple(sorted(v))) for c, v in self._where)))

    def __eq__(self, other) -> bool:
        return isinstance(other, Slice) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        parts = []
        if self.ranges:
            parts.append("ranges=[" + ", ".join(
                repr((r.key, *(None if np.isinf(b) else b for b in (r.lo, r.hi))) +
                     ((r.closed,) if r.closed != "both" else ())) for r in self.ranges) + "]")
        for name in ("categories", "tags"):
            if getattr(self, name):
                parts.append(f"{name}={list(getattr(self, name))!r}")
        if self._where:
            parts.append(f"where={self.where!r}")
        return f"Slice({', '.join(parts)})"

    def parts(self, level: str | None = None) -> list[str]:
        """One text per condition; level prefixes are left out at ``level``."""
        def bare(name):
            lv, column = split_level(name)
            return column if lv == level else name
        out = [r.describe(level) for r in self.ranges]
        if self.categories:
            out.append("category: " + ", ".join(self.categories))
        out.extend(f"tag: {bare(t)}" for t in self.tags)
        out.extend(f"{bare(c)}: {', '.join(v)}" for c, v in self._where)
        return out

    def describe(self, level: str | None = None) -> str:
        """``"object_redness in [0.1, inf); category: dog; tag: review"`` ("everything" for
        a slice without conditions); level prefixes are left out at ``level``."""
        return "; ".join(self.parts(level)) or "everything"

    def __str__(self) -> str:
        return self.describe()

    def __and__(self, other: Slice) -> Slice:
        """Rows in both slices. Categories and ``where`` values of one column intersect (a
        :class:`SliceError` when nothing is left); ranges and tags add up."""
        if not isinstance(other, Slice):
            return NotImplemented
        categories = self.categories or other.categories
        if self.categories and other.categories:
            categories = [c for c in self.categories if c in other.categories]
            if not categories:
                raise SliceError("the slices' categories do not meet", "categories")
        where = dict(self._where)
        for column, values in other._where:
            if column in where:
                values = tuple(v for v in where[column] if v in values)
                if not values:
                    raise SliceError(f"the slices' values of {column!r} do not meet",
                                     f"where.{column}")
            where[column] = values
        return Slice(self.ranges + other.ranges, categories, self.tags + other.tags,
                     {c: list(v) for c, v in where.items()})

    # ---- rows --------------------------------------------------------------------------------
    def _level_of(self, src: Source, key: str, numeric: bool) -> tuple[str, str]:
        level, column = split_level(key)
        levels = (level,) if level else LEVELS
        found = src.level_of(column, levels)
        if found is None:
            known = [c for lv in levels for frame in src.frames(lv)
                     for c in (numeric_metric_columns(frame) if numeric else frame.columns)]
            raise SliceError(unknown_name_message(
                column, known, f"column at level(s) {', '.join(levels)}",
                "Compute the metric first, or check the name."), f"where.{key}")
        return found, column

    def qualified(self, data) -> Slice:
        """The same slice with every range and ``where`` column naming its level (as found
        in ``data``: MetricFrames or a Dataset)."""
        src = Source.of(data)
        ranges = [Range(r.column, r.lo, r.hi, r.closed, self._level_of(src, r.key, True)[0])
                  for r in self.ranges]
        where = {"{}.{}".format(*self._level_of(src, c, False)): list(v)
                 for c, v in self._where}
        return Slice(ranges, self.categories, self.tags, where)

    def at(self, level: str, data=None) -> Slice:
        """The slice as the rows of ``level`` read it (the Explorer's reading): a bare range
        or tag is ``level``'s, a bare ``where`` column too when ``level``'s rows have it, else
        it is found as :meth:`qualified` finds it (in ``data``, MetricFrames or a Dataset)."""
        check_level(level)
        src = Source.of(data) if data is not None else None

        def own(name):
            return split_level(name)[0] is not None or src is None or src.has(level, name)
        ranges = [r if r.level else Range(r.column, r.lo, r.hi, r.closed, level)
                  for r in self.ranges]
        tags = [t if split_level(t)[0] else f"{level}.{t}" for t in self.tags]
        where = {c if split_level(c)[0] else f"{level}.{c}": list(v)
                 for c, v in self._where if own(c)}
        others = Slice(where={c: list(v) for c, v in self._where if not own(c)})
        where.update(others.qualified(data).where if not others.everything else {})
        return Slice(ranges, self.categories, tags, where)

    def _apply(self, src: Source) -> _Rows:
        rows = _Rows(src)
        for r in self.ranges:
            level = self._level_of(src, r.key, True)[0]
            rows.restrict(level, r.mask(src.series(level, r.column)))
            if level == "object":
                rows.object_condition(r.column, r.mask)
            rows.on_boxes |= level == "prediction"
        for key, values in self._where:
            level, column = self._level_of(src, key, False)

            def test(series, values=values):
                return isin_mask(series.astype(str), values)
            rows.restrict(level, test(src.series(level, column)))
            if level == "object":
                rows.object_condition(column, test)
            rows.on_boxes |= level == "prediction"
        if self.categories:
            self._apply_categories(src, rows)
        for tag in self.tags:
            self._apply_tag(src, rows, tag)
        return rows

    def _apply_categories(self, src: Source, rows: _Rows) -> None:
        known = category_names(src)
        for name in self.categories:
            if name not in known:
                raise SliceError(unknown_name_message(name, known, "category"), "categories")
        rows.on_boxes = True
        for level in _ROW_LEVELS:
            values = src.series(level, "category")
            if values is not None:
                rows.restrict(level, isin_mask(values.astype(str), self.categories))
            else:
                rows.nothing(level)

    @staticmethod
    def _apply_tag(src: Source, rows: _Rows, tag: str) -> None:
        level, name = split_level(tag)
        tagged = {}
        for lv in (level,) if level else LEVELS:
            cells = src.series(lv, TAG_COLUMN)
            mask = tag_mask(cells.tolist(), name) if cells is not None else None
            if mask is not None and mask.any():
                tagged[lv] = mask
        if not tagged:
            rows.notes.append(f"no row is tagged {name!r}")
            rows.nothing("image")
        for lv, mask in tagged.items():
            rows.restrict(lv, mask)
        rows.on_boxes |= "object" in tagged or "prediction" in tagged
        if "object" in tagged and "prediction" not in tagged and len(src.index("prediction")):
            rows.nothing("prediction")
            rows.notes.append(f"no prediction is tagged {name!r}: unmatched detections ignored")

    def mask(self, data, level: str) -> np.ndarray:
        """Bool per row of ``level`` ("image", "object", "prediction"): is it in the slice?

        ``data``: :class:`MetricFrames` (its frame of that level; columns it lacks are read
        from its dataset) or a Dataset (its images, annotations or predictions). The rule is
        in the class doc. A :class:`SliceError` names an unknown column or category.
        """
        check_level(level)
        src = Source.of(data)
        rows = self._apply(src)
        mask = rows.images() if level == "image" else rows.within_images(level)
        return np.ones(len(src.index(level)), dtype=bool) if mask is None else mask

    def evaluation_masks(self, dataset, metrics=None) -> SliceMasks:
        """The slice as COCO evaluation applies it (images as 0/1 weights, labels outside
        ignored, unmatched detections outside ignored), per row of the dataset's frames;
        columns are read from ``metrics`` (MetricFrames), then from the dataset."""
        src = Source(metrics, dataset, "dataset")
        rows = self._apply(src)
        masks = [rows.images(), rows.within_images("object"), rows.within_images("prediction")]
        masks = [np.ones(len(src.index(lv)), dtype=bool) if m is None else m
                 for lv, m in zip(LEVELS, masks, strict=True)]
        return SliceMasks(*masks, notes=tuple(rows.notes))

    # ---- the test-case schema ----------------------------------------------------------------
    def to_dict(self) -> dict:
        """The slice in the test-case file schema: ``where`` (ranges of one column
        intersected; ``{"in": [...]}`` for membership), ``categories``, ``tags``; empty parts
        left out. JSON- and YAML-safe; :meth:`from_dict` reads it back."""
        where: dict = {}
        merged: dict = {}
        for r in self.ranges:
            merged[r.key] = merged[r.key] & r if r.key in merged else r
        for key, r in merged.items():
            where[key] = r.spec()
        for column, values in self._where:
            bounds = merged[column].spec(mapping=True) if column in merged else {}
            where[column] = {**bounds, IN: list(values)}
        out: dict = {}
        if where:
            out["where"] = where
        if self.categories:
            out["categories"] = list(self.categories)
        if self.tags:
            out["tags"] = list(self.tags)
        return out

    @classmethod
    def from_dict(cls, mapping) -> Slice:
        """The slice of a mapping in the test-case file schema (a test case: its ``where``,
        ``categories`` and ``tags``; other fields are not read). A :class:`SliceError` names
        the field of a malformed entry."""
        if not isinstance(mapping, dict):
            raise SliceError(f"expected a mapping, got {type(mapping).__name__}")
        where = mapping.get("where") or {}
        if not isinstance(where, dict):
            raise SliceError("expected a mapping of column -> range", "where")
        ranges, members = [], {}
        for key, spec in where.items():
            if not isinstance(key, str) or not key:
                raise SliceError(f"a column name must be text, got {key!r}", "where")
            if isinstance(spec, dict) and IN in spec:
                values = spec[IN]
                if not isinstance(values, list) or not values:
                    raise SliceError(f"'in' needs a non-empty list of values, got {values!r}",
                                     f"where.{key}.in")
                members[key] = values
                spec = {k: v for k, v in spec.items() if k != IN}
                if not spec:
                    continue
            ranges.append(Range.from_spec(key, spec))
        return cls(ranges, mapping.get("categories") or (), mapping.get("tags") or (), members)

    from_test_case = from_dict

    def to_test_case(self, name: str, measure: str = "AP", min_value=None, max_value=None,
                     description: str = "") -> dict:
        """A test case (the file schema) of this slice with the requirement
        ``min_value <= measure <= max_value`` (at least one). Not validated here:
        :func:`~quality_widgets.analysis.testcases.test_case_from_slice` validates it."""
        if min_value is None and max_value is None:
            raise ValueError("a test case needs a requirement: min_value and/or max_value")
        case: dict = {"name": name}
        if description:
            case["description"] = description
        case.update(self.to_dict())
        case["measure"] = measure
        if min_value is not None:
            case["min"] = float(min_value)
        if max_value is not None:
            case["max"] = float(max_value)
        return case

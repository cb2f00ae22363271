"""Which rows are in a slice: the :class:`Slice` value, and the one range mask, column lookup and
tag test it is built from.

Every part of the project that asks "which rows are in this slice?" asks here: the Explorer
(``explorer.slice``: its brush, pinned ranges, scatter rectangle, category, tag and ``where``
filters), ``evaluate(slice=...)`` and ``evaluate(object_range=...)``, the hypothesis test's
sides and model test cases (a test case is a Slice plus a requirement). The rules are the
same everywhere:

- ``None`` or an infinite bound is no bound on that side, and then infinite values are inside
  (``[0, inf)`` holds ``inf``, as pycocotools' area range ``[0, 1e5 ** 2]`` holds every box);
- NaN (and a missing value) is in no range;
- reversed bounds are put in order;
- a column is read from the metric frame of its level, then from the dataset's own frame
  (``area``, ``score``, an ``annotator`` attribute...); ``"level.column"`` names the level, a
  bare name is looked for at image, then object, then prediction level;
- which images, labels and predictions a slice holds: :class:`Slice` (its Notes).

It sits just above the frames (it reads :class:`MetricFrames` and the :class:`Dataset`'s own
columns) and below evaluation, analysis and widgets, which all use it. The implementation is
in private modules: ``_values`` (masks, column lookup, tags), ``_range`` (:class:`Range`),
``_slice`` (:class:`Slice`).
"""
from ._range import BOUNDS, Range, SliceError, parse_bounds
from ._slice import IN, Slice, SliceMasks, category_names
from ._values import (
    CLOSURES,
    TAG_COLUMN,
    TAG_SEPARATOR,
    as_float,
    bin_masks,
    column_values,
    combine,
    format_value,
    images_with_mask,
    isin_mask,
    range_mask,
    split_level,
    split_tags,
    tag_mask,
)

__all__ = ["BOUNDS", "CLOSURES", "IN", "TAG_COLUMN", "TAG_SEPARATOR", "Range", "Slice",
           "SliceError", "SliceMasks", "as_float", "bin_masks", "category_names",
           "column_values", "combine", "format_value", "images_with_mask", "isin_mask",
           "parse_bounds", "range_mask", "split_level", "split_tags", "tag_mask"]

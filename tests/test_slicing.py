"""quality_widgets.slicing: the one range mask, column lookup and tag test, by hand."""
import numpy as np
import pandas as pd
import pytest

from quality_widgets.frames import MetricFrames
from quality_widgets.slicing import (
    as_float,
    bin_masks,
    column_values,
    range_mask,
    split_tags,
    tag_mask,
)

VALUES = np.array([0.0, 1.0, 2.0, np.nan, np.inf, -np.inf, 3.0])


@pytest.mark.parametrize("closed, expected", [
    ("both", [0, 1, 1, 0, 0, 0, 0]),
    ("left", [0, 1, 0, 0, 0, 0, 0]),
    ("right", [0, 0, 1, 0, 0, 0, 0]),
    ("neither", [0, 0, 0, 0, 0, 0, 0]),
])
def test_range_mask_closures(closed, expected):
    assert range_mask(VALUES, 1.0, 2.0, closed).astype(int).tolist() == expected


def test_open_and_infinite_bounds_hold_the_infinities_but_never_nan():
    assert range_mask(VALUES, 1.0, None).astype(int).tolist() == [0, 1, 1, 0, 1, 0, 1]
    assert range_mask(VALUES, 1.0, np.inf, "left").astype(int).tolist() == [0, 1, 1, 0, 1, 0, 1]
    assert range_mask(VALUES).astype(int).tolist() == [1, 1, 1, 0, 1, 1, 1]
    assert range_mask(VALUES, None, 0.0, "right").astype(int).tolist() == [1, 0, 0, 0, 0, 1, 0]


def test_reversed_bounds_are_ordered_and_bad_closure_refused():
    assert range_mask(VALUES, 2.0, 1.0).tolist() == range_mask(VALUES, 1.0, 2.0).tolist()
    with pytest.raises(ValueError, match="closed"):
        range_mask(VALUES, 0, 1, closed="open")


def test_bin_masks_partition_the_finite_values():
    masks = bin_masks(np.array([0.0, 0.5, 1.0, 2.0, np.nan]), [0.0, 1.0, np.inf])
    assert [m.astype(int).tolist() for m in masks] == [[1, 1, 0, 0, 0], [0, 0, 1, 1, 0]]


def test_as_float_of_nullable_booleans_and_text():
    series = pd.Series([True, None, False], dtype=object)
    np.testing.assert_array_equal(as_float(series), [1.0, np.nan, 0.0])
    np.testing.assert_array_equal(as_float(pd.Series(["1.5", "x"])), [1.5, np.nan])
    np.testing.assert_array_equal(as_float(pd.array([1, None], dtype="Int64")), [1.0, np.nan])
    np.testing.assert_array_equal(as_float(pd.Series(pd.array([True, None], dtype="boolean"))),
                                  [1.0, np.nan])


def test_column_values_prefers_the_metric_frame_then_the_dataset_and_aligns_ids():
    class Data:
        images = pd.DataFrame({"width": [10, 20, 30]}, index=pd.Index([1, 2, 3], name="image_id"))
        annotations = pd.DataFrame({"area": [5.0]}, index=pd.Index([7], name="annotation_id"))
        predictions = pd.DataFrame(index=pd.Index([], name="prediction_id", dtype="int64"))

    frames = MetricFrames(images=pd.DataFrame({"width": [99.0, 98.0]}, index=[3, 1]),
                          objects=pd.DataFrame(index=[7]), predictions=pd.DataFrame())
    np.testing.assert_array_equal(column_values(frames, Data, "image", "width"), [98, np.nan, 99])
    np.testing.assert_array_equal(column_values(None, Data, "image", "width"), [10, 20, 30])
    np.testing.assert_array_equal(column_values(frames, Data, "object", "area"), [5.0])
    assert column_values(frames, Data, "object", "no_such") is None
    with pytest.raises(ValueError, match="level"):
        column_values(frames, Data, "objects", "area")


def test_tags_are_whole_names():
    tags = ["blurry,relabel", "", None, "blurry-ish"]
    assert tag_mask(tags, "blurry").tolist() == [True, False, False, False]
    assert split_tags("a,,b") == ("a", "b") and split_tags(None) == ()

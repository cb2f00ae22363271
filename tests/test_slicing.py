"""quality_widgets.slicing: the one range mask, column lookup and tag test, by hand; the Slice
value's rows at every level by hand, its text and schema, and its image rule against
pycocotools."""
import json

import numpy as np
import pandas as pd
import pytest

from quality_widgets.frames import MetricFrames
from quality_widgets.slicing import (
    Range,
    Slice,
    SliceError,
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


# ---- the Slice value ---------------------------------------------------------------------------
def _toy_frames() -> MetricFrames:
    """4 images, 4 labels, 3 predictions; image 2 holds a cat label and a false-positive dog
    prediction, image 4 only a cat prediction."""
    from quality_widgets.data.dataset import Dataset
    images = pd.DataFrame({"brightness": [0.1, 0.5, 0.9, np.nan], "split": list("abab"),
                           "tags": ["", "review", "", ""]},
                          index=pd.Index([1, 2, 3, 4], name="image_id"))
    labels = pd.DataFrame({"image_id": [1, 1, 2, 3], "category": ["dog", "cat", "cat", "dog"],
                           "annotator": ["ann1", "ann2", "ann2", "ann1"]},
                          index=pd.Index([10, 11, 20, 30], name="annotation_id"))
    predictions = pd.DataFrame({"image_id": [1, 2, 4], "category": ["dog", "dog", "cat"],
                                "score": [0.9, 0.3, 0.7]},
                               index=pd.Index([100, 101, 102], name="prediction_id"))
    categories = pd.DataFrame({"name": ["cat", "dog", "bird"]},
                              index=pd.Index([1, 2, 3], name="category_id"))
    dataset = Dataset(images=images[["split"]], annotations=labels, predictions=predictions,
                      categories=categories, has_annotations=True, has_predictions=True)
    objects = labels[["image_id", "category"]].assign(redness=[0.2, 0.8, 0.5, 0.05],
                                                      tags=["x", "", "", ""])
    preds = predictions[["image_id", "category"]].assign(redness=[0.25, 0.6, 0.9])
    return MetricFrames(images=images[["brightness", "tags"]], objects=objects,
                        predictions=preds, dataset=dataset)


def _rows(s, frames):
    return {lv: s.mask(frames, lv).astype(int).tolist()
            for lv in ("image", "object", "prediction")}


@pytest.mark.parametrize("make, image, objects, predictions", [
    # a category: labels and predictions of it; images holding either (image 2: only a
    # false-positive dog, which must not be dropped)
    (lambda: Slice(categories=["dog"]), [1, 1, 1, 0], [1, 0, 0, 1], [1, 1, 0]),
    # an object range, with the predictions' own values; image 3's only label is outside
    (lambda: Slice(ranges=[("object.redness", 0.1, None)]), [1, 1, 0, 1], [1, 1, 1, 0],
     [1, 1, 1]),
    # an image range keeps the labels and predictions of its images
    (lambda: Slice(ranges=[("brightness", 0, 0.6)]), [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 0]),
    # a where on a column only labels have: no prediction can be placed
    (lambda: Slice(where={"annotator": ["ann2"]}), [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0]),
    (lambda: Slice(where={"image.split": "a"}), [1, 0, 1, 0], [1, 1, 0, 1], [1, 0, 0]),
    # tags: at every level where a row carries them; "x" is on a label only
    (lambda: Slice(tags=["review"]), [0, 1, 0, 0], [0, 0, 1, 0], [0, 1, 0]),
    (lambda: Slice(tags=["x"]), [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0]),
    (lambda: Slice(tags=["image.x"]), [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0]),
    (lambda: Slice(categories=["dog"]) & Slice(ranges=[("image.brightness", None, 0.6)]),
     [1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0]),
    (lambda: Slice(), [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1]),
])
def test_slice_rows_at_every_level_by_hand(make, image, objects, predictions):
    frames = _toy_frames()
    s = make()
    assert _rows(s, frames) == {"image": image, "object": objects, "prediction": predictions}
    masks = s.evaluation_masks(frames.dataset, frames)      # the dataset's rows: the same here
    assert [masks.images.astype(int).tolist(), masks.annotations.astype(int).tolist(),
            masks.predictions.astype(int).tolist()] == [image, objects, predictions]
    assert _rows(s.qualified(frames), frames) == _rows(s, frames)


def test_slice_notes_say_what_could_not_be_placed():
    frames = _toy_frames()
    notes = Slice(where={"annotator": ["ann2"]}).evaluation_masks(frames.dataset, frames).notes
    assert notes == ("annotator has no prediction values: unmatched detections ignored",)
    assert "no row is tagged 'nope'" in Slice(tags=["nope"]).evaluation_masks(
        frames.dataset, frames).notes


def test_slice_names_unknown_columns_and_categories():
    frames = _toy_frames()
    with pytest.raises(SliceError) as info:
        Slice(ranges=[("redness_", 0, 1)]).mask(frames, "object")
    assert info.value.field == "where.redness_" and "did you mean 'redness'" in str(info.value)
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    with pytest.raises(SliceError, match="column at level.s. prediction") as info:
        Slice(ranges=[("prediction.annotator", 0, 1)]).mask(frames, "image")
    assert info.value.field == "where.prediction.annotator"
    with pytest.raises(SliceError, match="unknown category 'unicorn'") as info:
        Slice(categories=["unicorn"]).mask(frames, "image")
    assert info.value.field == "categories"
    with pytest.raises(ValueError, match="level"):
        Slice(ranges=[("x", 0, 1)]).mask(frames, "images")


def test_slice_text_equality_immutability_and_and():
    s = Slice(ranges=[("object_redness", 0.1, None)], categories=["dog"], tags=["review"],
              where={"annotator": ["ann2"]})
    assert str(s) == "object_redness in [0.1, inf); category: dog; tag: review; annotator: ann2"
    assert str(Slice(ranges=[("image.b", 0, 1, "left")])) == "image.b in [0, 1)"
    assert Slice(ranges=[("image.b", 0, 1, "left")]).describe("image") == "b in [0, 1)"
    assert str(Slice()) == "everything" and Slice().everything
    assert s == Slice(ranges=[Range("object_redness", 0.1)], categories="dog", tags="review",
                      where={"annotator": "ann2"}) and hash(s) == hash(eval(repr(s)))
    with pytest.raises(AttributeError, match="immutable"):
        s.categories = ("cat",)
    both = s & Slice(categories=["dog", "cat"], where={"annotator": ["ann2", "ann1"]})
    assert both.categories == ("dog",) and both.where == {"annotator": ["ann2"]}
    with pytest.raises(SliceError, match="categories do not meet"):
        s & Slice(categories=["cat"])
    assert Range("x", 2, 1, "left") == Range("x", 1, 2, "left")            # put in order
    assert Range("x", 0, None, "neither").closed == "right"                 # inf is inside
    assert (Range("x", 0, 2) & Range("x", 1, 3, "neither")) == Range("x", 1, 2, "right")
    with pytest.raises(SliceError, match="empty range"):
        Range("x", 0, 1) & Range("x", 2, 3)


def test_slice_round_trips_through_the_test_case_schema_in_json_and_yaml():
    import json

    import yaml
    s = Slice(ranges=[("object.box_area", 0, 1024, "left"), ("image.brightness", None, 0.3),
                      ("score", 0.5, 0.9, "neither")],
              categories=["person"], tags=["image.review"], where={"annotator": ["a", "b"]})
    spec = s.to_dict()
    assert spec == {"where": {"object.box_area": {">=": 0.0, "<": 1024.0},
                              "image.brightness": [None, 0.3], "score": {">": 0.5, "<": 0.9},
                              "annotator": {"in": ["a", "b"]}},
                    "categories": ["person"], "tags": ["image.review"]}
    assert Slice.from_dict(json.loads(json.dumps(spec))) == s
    assert Slice.from_dict(yaml.safe_load(yaml.safe_dump(spec))) == s
    case = s.to_test_case("dark people", "AP50", min_value=0.2)
    assert case["measure"] == "AP50" and case["min"] == 0.2 and Slice.from_test_case(case) == s
    with pytest.raises(SliceError) as info:
        Slice.from_dict({"where": {"x": {"<<": 3}}})
    assert info.value.field == "where.x"


def test_restricting_images_to_those_holding_a_label_or_prediction_keeps_coco_measures(
        coco128):
    """The claim behind the image rule of a Slice, checked on pycocotools itself: for COCO
    measures restricted to categories C, the images holding a label or a prediction of C give
    the same 12 numbers as all images; the images holding a label of C alone do not (they drop
    false positives: AP of a rare category rises)."""
    pytest.importorskip("pycocotools")
    from collections import Counter

    from helpers import pycocotools_stats
    gt = json.loads((coco128 / "instances.json").read_text())
    res_file = coco128 / "predictions" / "yolo-fastest-1.1-xl.json"
    results = json.loads(res_file.read_text())
    counts = Counter(a["category_id"] for a in gt["annotations"]).most_common()
    differs = 0
    for cats in ([counts[0][0]], [c for c, _ in counts[:3]], [counts[-1][0]]):
        labelled = {a["image_id"] for a in gt["annotations"] if a["category_id"] in cats}
        predicted = {r["image_id"] for r in results if r["category_id"] in cats}
        every = pycocotools_stats(coco128 / "instances.json", res_file, cat_ids=cats).stats
        holding = pycocotools_stats(coco128 / "instances.json", res_file, cat_ids=cats,
                                    image_ids=labelled | predicted).stats
        np.testing.assert_array_equal(holding, every)
        differs += not np.array_equal(pycocotools_stats(
            coco128 / "instances.json", res_file, cat_ids=cats, image_ids=labelled).stats, every)
    assert differs == 3


def test_one_slice_gives_the_same_rows_and_measure_everywhere(coco128, coco128_dataset,
                                                             tmp_path):
    """One Slice walked through the Explorer (its rows at each level), a test case,
    evaluate(slice=...) and test_hypothesis(slice=...): the same rows, and the measure
    pycocotools gives on the subset (imgIds = the wide images, catIds = the two categories,
    the areas replaced by box_area with areaRng [32^2, 96^2); the hypothesis test's sides:
    areaRng [32^2, 64^2) and [64^2, 96^2), or imgIds the wide images on each side of a
    height)."""
    pytest.importorskip("pycocotools")
    from helpers import pycocotools_stats

    import quality_widgets as qw
    from quality_widgets.analysis.testcases import run_test_cases
    ds = coco128_dataset
    metrics = qw.compute_metrics(ds, metrics=["box_area"], cache_dir=tmp_path / "cache",
                                 progress=False, workers=1)
    names = ds.annotations["category"].value_counts().index[:2].tolist()
    s = Slice(ranges=[("object.box_area", 32 ** 2, 96 ** 2, "left"), ("image.width", 600, None)],
              categories=names)
    masks = s.evaluation_masks(ds, metrics)
    rows = {"image": ds.images.index[masks.images], "object": ds.annotations.index[
        masks.annotations], "prediction": ds.predictions.index[masks.predictions]}
    assert all(len(r) for r in rows.values())

    explorer = qw.Explorer(metrics)
    for level in ("image", "object", "prediction"):
        explorer.level = level             # a level switch clears the filters: set it again
        explorer.slice = s
        assert sorted(explorer.selection) == sorted(rows[level]), level
    case = explorer.as_test_case("walk", "AP", min_value=0.0)

    wide = ds.images.index[ds.images["width"] >= 600]

    def oracle(image_ids=wide, area_range=(32 ** 2, 96 ** 2)):
        return pycocotools_stats(
            coco128 / "instances.json", coco128 / "predictions" / "yolo-fastest-1.1-xl.json",
            image_ids=image_ids, cat_ids=ds.categories.index[ds.categories["name"].isin(names)],
            area_values=(dict(zip(ds.annotations.index, metrics.objects["box_area"]
                                  .reindex(ds.annotations.index), strict=True)),
                         dict(zip(ds.predictions.index, metrics.predictions["box_area"]
                                  .reindex(ds.predictions.index), strict=True))),
            area_range=area_range).stats
    ref = oracle()
    full_range = [0, 1, 2, 6, 7, 8]    # the oracle's one area range: the size-range numbers
    np.testing.assert_array_equal(qw.evaluate(ds, slice=s, metrics=metrics).stats[full_range],
                                  ref[full_range])
    for c in (case, s.to_test_case("walk", "AP", min_value=0.0)):
        result = run_test_cases(ds, metrics, c, resamples=0).iloc[0]
        assert result["value"] == ref[0]
        assert result["n_images"] == len(rows["image"])
        counted = ~ds.annotations.loc[rows["object"], "iscrowd"].astype(bool)
        assert result["n_annotations"] == int(counted.sum())
        assert result["n_predictions"] == len(rows["prediction"])

    # test_hypothesis within the slice: an image split's sides hold the slice's rows, an
    # object split's sides are pycocotools on the subset with the split's area ranges.
    heights = ds.images.loc[rows["image"], "height"]
    t = float(heights.median())
    split = qw.test_hypothesis(ds, metrics, metric="height", threshold=t, slice=s,
                               resamples=0)
    sides = (split.below, split.above)
    assert split.level == "image" and split.slice == str(s)
    assert sum(side.n_images for side in sides) == len(rows["image"])
    assert sum(side.n_annotations for side in sides) == int(counted.sum())
    assert sum(side.n_predictions for side in sides) == len(rows["prediction"])
    for side, ids in zip(sides, (heights.index[heights < t], heights.index[heights >= t]),
                         strict=True):
        assert side.value == oracle(image_ids=ids)[0]
    split = qw.test_hypothesis(ds, metrics, metric="box_area", threshold=64 ** 2, slice=s,
                               resamples=0)
    sides = (split.below, split.above)
    assert split.level == "object"
    assert sum(side.n_annotations for side in sides) == int(counted.sum())
    assert sum(side.n_predictions for side in sides) == len(rows["prediction"])
    for side, area_range in zip(sides, ((32 ** 2, 64 ** 2), (64 ** 2, 96 ** 2)), strict=True):
        assert side.value == oracle(area_range=area_range)[0]


def test_evaluate_slice_warns_about_detections_it_cannot_place_and_ands_with_the_rest():
    """An object column that predictions lack (the label's own ``area``): its unmatched
    detections are ignored, as evaluate_masks with no prediction in range, and a DataWarning
    says so; image_ids and object_range AND with the slice."""
    import quality_widgets as qw
    ds = qw.load_sample()
    large = Slice(ranges=[("object.area", 96 ** 2, None)])
    with pytest.warns(qw.DataWarning, match="area has no prediction values"):
        got = qw.evaluate(ds, slice=large).stats
    by_hand = qw.Evaluator(ds).evaluate_masks(
        ds.annotations["area"].to_numpy() >= 96 ** 2, np.zeros(len(ds.predictions), bool))
    np.testing.assert_array_equal(got, by_hand.stats)
    person = Slice(categories=["person"])
    ids = ds.images.index[::2]
    width = Slice(ranges=[("image.width", 640, 640)])
    both = qw.evaluate(ds, slice=person, image_ids=ids).stats
    masks = person.evaluation_masks(ds)
    weights = (masks.images & ds.images.index.isin(ids)).astype(int)
    np.testing.assert_array_equal(both, qw.Evaluator(ds).evaluate_masks(
        masks.annotations, masks.predictions, weights).stats)
    np.testing.assert_array_equal(
        qw.evaluate(ds, slice=person & width).stats,
        qw.evaluate(ds, slice=person, image_ids=ds.images.index[ds.images["width"] == 640]).stats)

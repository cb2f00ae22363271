"""The hypothesis test within a Slice: each side is pycocotools on the side within the slice,
permutations are drawn within the slice, and the numbers do not depend on the workers.

The synthetic detector of tests/test_hypothesis.py (its module doc); the slice's oracle is
pycocotools with ``imgIds`` = the slice's images on the side, ``catIds`` = its categories and,
for an object range, the areas replaced by the metric (``areaRng`` = the range).
"""
from __future__ import annotations

import numpy as np
import pytest
from helpers import pycocotools_stats
from test_hypothesis import frames_of, synthetic_coco, write_coco

import quality_widgets as qw
from quality_widgets.analysis import hypothesis as hyp

pytestmark = pytest.mark.filterwarnings("error::quality_widgets.errors.DataWarning")

ALL_RANGE = {"AP": 0, "AP50": 1, "AP75": 2, "AR1": 6, "AR10": 7, "AR100": 8}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """tests/test_hypothesis.py's synthetic set: (dataset, ann_u, pred_u, files)."""
    coco, results, ann_u, pred_u = synthetic_coco(100, seed=0)
    ann_file, res_file = write_coco(tmp_path_factory.mktemp("synthetic"), coco, results)
    dataset = qw.Dataset.from_coco(None, ann_file, res_file)
    return dataset, ann_u, pred_u, ann_file, res_file


def _metrics(synthetic):
    dataset, ann_u, pred_u, *_ = synthetic
    metrics = frames_of(dataset, ann_u, pred_u)
    metrics.images["my_score"] = np.random.default_rng(5).random(len(metrics.images))
    return dataset, metrics


def _values(dataset, metrics, column="difficulty"):
    """The area-replacement oracle's values: ``column`` per annotation id and per result."""
    return (dict(zip(dataset.annotations.index, metrics.objects[column], strict=True)),
            dict(zip(dataset.predictions.index, metrics.predictions[column], strict=True)))


@pytest.mark.parametrize("measure", ["AP", "AP50", "AR100"])
def test_sliced_image_split_sides_equal_pycocotools_on_the_subsets(synthetic, measure):
    """An image split within "categories 1 and 2, difficulty >= 0.2": each side is
    pycocotools on the side's images in the slice, catIds [1, 2], the areas replaced by the
    difficulty with areaRng [0.2, inf)."""
    dataset, metrics = _metrics(synthetic)
    ann_file, res_file = synthetic[3:]
    inside = qw.Slice(categories=["class 1", "class 2"],
                      ranges=[("object.difficulty", 0.2, None)])
    result = hyp.test_hypothesis(dataset, metrics, metric="my_score", threshold=0.4,
                                 measure=measure, resamples=0, slice=inside)
    assert result.level == "image" and result.slice == str(inside)
    assert result.summary.startswith(f"Within {inside}: images with my_score")
    masks = inside.evaluation_masks(dataset, metrics)
    slice_images = dataset.images.index[masks.images]
    assert 0 < len(slice_images) < len(dataset.images)
    score = metrics.images["my_score"]
    for side, ids in ((result.below, score.index[score < 0.4]),
                      (result.above, score.index[score >= 0.4])):
        ids = ids.intersection(slice_images)
        ev = pycocotools_stats(ann_file, res_file, image_ids=ids, cat_ids=[1, 2],
                               area_values=_values(dataset, metrics), area_range=(0.2, 1e200))
        assert side.value == ev.stats[ALL_RANGE[measure]]
        assert side.n_images == len(ids)
        in_side = dataset.annotations["image_id"].isin(ids).to_numpy()
        assert side.n_annotations == int((in_side & masks.annotations).sum())
        in_side = dataset.predictions["image_id"].isin(ids).to_numpy()
        assert side.n_predictions == int((in_side & masks.predictions).sum())


@pytest.mark.parametrize("measure", ["AP", "AP75", "AR10"])
def test_sliced_object_split_sides_equal_the_area_replacement_oracle(synthetic, measure):
    """An object split within "categories 1 and 3 on images with my_score >= 0.3": each side
    is pycocotools on the slice's images, catIds [1, 3], the areas replaced by the
    difficulty, areaRng the side's range; unknown values inside the slice are counted."""
    dataset, metrics = _metrics(synthetic)
    ann_file, res_file = synthetic[3:]
    metrics.objects.loc[metrics.objects.index[::17], "difficulty"] = np.nan
    inside = qw.Slice(categories=["class 1", "class 3"], ranges=[("image.my_score", 0.3, None)])
    t = 0.45
    result = hyp.test_hypothesis(dataset, metrics, metric="difficulty", threshold=t,
                                 measure=measure, resamples=0, slice=inside)
    masks = inside.evaluation_masks(dataset, metrics)
    assert result.level == "object"
    assert result.n_excluded == int((metrics.objects["difficulty"].isna().to_numpy() &
                                     masks.annotations).sum())
    ids = dataset.images.index[masks.images]
    values = _values(dataset, metrics)
    lowest = min(np.nanmin(list(values[0].values())), np.nanmin(list(values[1].values())))
    for side, rng in ((result.below, (lowest, t)), (result.above, (t, 1e200))):
        ev = pycocotools_stats(ann_file, res_file, image_ids=ids, cat_ids=[1, 3],
                               area_values=values, area_range=rng)
        assert side.value == ev.stats[ALL_RANGE[measure]]


def test_the_default_threshold_is_the_median_within_the_slice(synthetic):
    dataset, metrics = _metrics(synthetic)
    inside = qw.Slice(ranges=[("image.my_score", 0.5, None)])
    result = hyp.test_hypothesis(dataset, metrics, metric="difficulty", resamples=0,
                                 slice=inside)
    in_images = dataset.annotations["image_id"].isin(
        metrics.images.index[metrics.images["my_score"] >= 0.5]).to_numpy()
    assert result.threshold == np.median(metrics.objects["difficulty"].to_numpy()[in_images])
    assert result.threshold == hyp.default_threshold(metrics, "difficulty", dataset,
                                                     slice=inside)
    with pytest.raises(ValueError, match="in the slice"):
        hyp.test_hypothesis(dataset, metrics, metric="my_score", threshold=0.2, slice=inside)
    with pytest.raises(TypeError, match="Slice"):
        hyp.test_hypothesis(dataset, metrics, metric="my_score", slice={"categories": ["x"]})
    # a slice without conditions is the whole dataset
    whole = hyp.test_hypothesis(dataset, metrics, metric="difficulty", resamples=20)
    same = hyp.test_hypothesis(dataset, metrics, metric="difficulty", resamples=20,
                               slice=qw.Slice())
    assert same.slice is None and same.p_value == whole.p_value and same.ci95 == whole.ci95


def test_image_permutations_shuffle_the_values_among_the_slices_images(synthetic):
    """The permutation measures of a sliced image split are those of the values shuffled
    among the slice's images only (by hand, measured by Evaluator.evaluate_masks on the
    slice's masks): the other images keep theirs, in no side."""
    dataset, metrics = _metrics(synthetic)
    inside = qw.Slice(categories=["class 2"], ranges=[("image.my_score", None, 0.7)])
    problem = hyp._Problem(dataset, metrics, "my_score", "AP", None, 0.5, slice=inside)
    edges = [0.0, 0.35, np.inf]
    got = problem.split.permutations(edges, 7, 4)
    masks = inside.evaluation_masks(dataset, metrics)
    values = metrics.images["my_score"].to_numpy()      # ids sorted: rows are positions
    ev = qw.Evaluator(dataset)
    rng = np.random.default_rng(7)
    for row in got:
        shuffled = values.copy()
        shuffled[masks.images] = rng.permutation(values[masks.images])
        for side, value in zip((shuffled < 0.35, shuffled >= 0.35), row, strict=True):
            weights = (side & masks.images).astype(int)
            expected = ev.evaluate_masks(masks.annotations, masks.predictions, weights).stats[0]
            assert value == pytest.approx(expected, rel=1e-12)


def test_object_permutations_shuffle_only_the_slices_rows(synthetic):
    """A sliced object split's permutations relabel the slice's annotations among themselves
    and its predictions among themselves (Evaluator.measure_labelled with those rows
    permutable); the rows outside stay in no side, whatever their values."""
    from quality_widgets.analysis.hypothesis._resampling import seed64
    dataset, metrics = _metrics(synthetic)
    inside = qw.Slice(categories=["class 1"], ranges=[("image.my_score", 0.2, None)])
    masks = inside.evaluation_masks(dataset, metrics)
    problem = hyp._Problem(dataset, metrics, "difficulty", "AP", None, 0.5, slice=inside)
    edges = [0.0, 0.5, np.inf]
    got = problem.split.permutations(edges, 11, 6)
    ann = metrics.objects["difficulty"].to_numpy()
    pred = metrics.predictions["difficulty"].to_numpy()
    labels = [np.where(m, (v >= 0.5).astype(int), -1)
              for v, m in ((ann, masks.annotations), (pred, masks.predictions))]
    ev = qw.Evaluator(dataset)
    np.testing.assert_array_equal(got, ev.measure_labelled(
        *labels, 2, permutations=6, seed=seed64(11),
        permutable=(masks.annotations, masks.predictions)))
    # moving the values outside the slice changes nothing
    metrics.objects.loc[~masks.annotations, "difficulty"] = 0.99
    metrics.predictions.loc[~masks.predictions, "difficulty"] = 0.01
    moved = hyp._Problem(dataset, metrics, "difficulty", "AP", None, 0.5, slice=inside)
    np.testing.assert_array_equal(moved.split.permutations(edges, 11, 6), got)


@pytest.mark.parametrize("metric", ["my_score", "difficulty"])
def test_sliced_results_do_not_depend_on_the_workers(synthetic, metric):
    dataset, metrics = _metrics(synthetic)
    inside = qw.Slice(categories=["class 1", "class 2"], ranges=[("image.my_score", 0.1, None)])
    runs = [hyp.test_hypothesis(dataset, metrics, metric=metric, resamples=120, seed=3,
                                slice=inside, workers=w, ci_method="basic") for w in (1, 2)]
    one, two = runs
    assert one.p_value == two.p_value and one.ci95 == two.ci95
    np.testing.assert_array_equal(one.permutation_differences, two.permutation_differences)
    np.testing.assert_array_equal(one.bootstrap_differences, two.bootstrap_differences)
    whole = hyp.test_hypothesis(dataset, metrics, metric=metric, resamples=120, seed=3,
                                workers=1, ci_method="basic")
    assert not np.array_equal(whole.permutation_differences, one.permutation_differences)


def test_curve_and_ranking_within_a_slice(synthetic):
    """performance_curve and rank_metrics take the same slice: a bin within the slice is
    evaluate(slice=slice & bin), and the ranking's row is test_hypothesis within it."""
    dataset, metrics = _metrics(synthetic)
    inside = qw.Slice(categories=["class 3"])
    curve = hyp.performance_curve(dataset, metrics, metric="difficulty", bins=3,
                                  resamples=10, slice=inside)
    assert curve.attrs["slice"] == str(inside)
    for _, row in curve.iterrows():
        rows = inside & qw.Slice(ranges=[("object.difficulty", row["low"], row["high"],
                                          "left")])
        assert row["value"] == qw.evaluate(dataset, slice=rows, metrics=metrics).stats[0]
    frame = hyp.rank_metrics(dataset, metrics, columns=["my_score", "difficulty"],
                             resamples=50, slice=inside)
    assert frame.attrs["slice"] == str(inside)
    for name in ("my_score", "difficulty"):
        row = frame.set_index("metric").loc[name]
        single = hyp.test_hypothesis(dataset, metrics, metric=name, resamples=50,
                                     resolution=None, slice=inside)
        assert row["difference"] == single.difference


def test_cli_where_and_slice_category(synthetic, capsys, tmp_path, monkeypatch):
    """``hypothesis --where JSON --slice-category NAME``: the test within that Slice (the same
    numbers as test_hypothesis(slice=...)), its text in the output and in the JSON; a where
    that is not JSON, or names an unknown column, is exit code 2 with the reason."""
    import json

    from quality_widgets.cli import main
    dataset, ann_u, pred_u, ann_file, res_file = synthetic
    monkeypatch.setenv("QUALITY_WIDGETS_CACHE", str(tmp_path / "cache"))
    files = ["--annotations", str(ann_file), "--predictions", str(res_file)]
    where = {"box_area": {">=": 1000}}
    code = main(["hypothesis", *files, "--metric", "box_aspect_ratio", "--resamples", "40",
                 "--where", json.dumps(where), "--slice-category", "class 2", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    inside = qw.Slice.from_dict({"where": where, "categories": ["class 2"]})
    metrics = qw.compute_metrics(dataset, metrics=["box_aspect_ratio", "box_area"], progress=False)
    want = hyp.test_hypothesis(dataset, metrics, metric="box_aspect_ratio", resamples=40,
                               slice=inside)
    assert payload["slice"] == str(inside) == "box_area in [1000, inf); category: class 2"
    assert payload["p_value"] == want.p_value and payload["difference"] == want.difference
    assert payload["below"]["n_annotations"] == want.below.n_annotations
    code = main(["hypothesis", *files, "--metric", "box_aspect_ratio", "--resamples", "20",
                 "--slice-category", "class 2", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "within the slice: category: class 2" in out
    assert "Within category: class 2: objects with box_aspect_ratio" in out
    assert main(["hypothesis", *files, "--metric", "box_aspect_ratio", "--where", "{box_area"]) == 2
    assert "not JSON" in capsys.readouterr().err
    assert main(["hypothesis", *files, "--metric", "box_aspect_ratio", "--where",
                 '{"box_aera": [0, 10]}']) == 2
    assert "box_area" in capsys.readouterr().err

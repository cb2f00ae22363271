"""Model test cases: values equal the evaluation of the same slice, pass/fail follows the
requirement, schema errors name file / case / field, the CLI exit code follows."""
from __future__ import annotations

import json

import numpy as np
import pytest

import quality_widgets as qw
from quality_widgets import cli
from quality_widgets.analysis.testcases import TestCaseError, read_test_cases, run_test_cases
from quality_widgets.data.sample import sample_paths


@pytest.fixture(scope="module")
def sample():
    ds = qw.load_sample()
    metrics = qw.compute_metrics(ds, metrics=["object_brightness", "box_area", "brightness"],
                                 cache_dir=False, progress=False, workers=1)
    return ds, metrics


def test_values_match_the_evaluation_of_the_slice(sample):
    ds, metrics = sample
    small = qw.evaluate(ds, object_range=("box_area", 0, 32 ** 2), metrics=metrics)
    dark_images = metrics.images.index[metrics.images["brightness"] <= 0.4]
    on_dark = qw.evaluate(ds, image_ids=dark_images)
    cases = [
        {"name": "small AP", "where": {"box_area": {"<": 1024}}, "measure": "AP",
         "min": small.stats[0] - 0.01},
        {"name": "small AP too high", "where": {"box_area": {"<": 1024}}, "measure": "AP",
         "min": small.stats[0] + 0.01},
        {"name": "small recall", "where": {"box_area": {"<": 1024}}, "measure": "recall",
         "iou": 0.5, "score_threshold": 0.3, "max": 0.99},
        {"name": "dark images", "where": {"image.brightness": [None, 0.4]}, "measure": "AP50",
         "min": 0.0},
    ]
    results = run_test_cases(ds, metrics, cases, resamples=30, seed=0).set_index("name")
    assert results.loc["small AP", "value"] == pytest.approx(small.stats[0])
    assert results.loc["small AP", "passed"] and not results.loc["small AP too high", "passed"]
    recall = small.precision_recall_at(0.3, 0.5)[1]
    assert results.loc["small recall", "value"] == pytest.approx(recall)
    assert results.loc["dark images", "value"] == pytest.approx(on_dark.stats[1])
    assert results.loc["dark images", "n_images"] == len(dark_images)
    small_boxes = (metrics.objects["box_area"] < 1024) & ~metrics.objects["iscrowd"]
    assert results.loc["small AP", "n_annotations"] == int(small_boxes.sum())
    row = results.loc["small AP"]
    assert row["ci_low"] <= row["value"] <= row["ci_high"] and row["ci_low"] < row["ci_high"]
    assert row["requirement"].startswith("AP >= ")
    # reproducible with a seed
    again = run_test_cases(ds, metrics, cases[:1], resamples=30, seed=0)
    assert again.loc[0, "ci_low"] == row["ci_low"]


def test_category_slice_and_empty_slice(sample):
    ds, metrics = sample
    person = qw.Evaluator(ds).evaluate()
    k = list(person.category_ids).index(int(ds.categories.index[ds.categories["name"]
                                                                 == "person"][0]))
    results = run_test_cases(ds, metrics, [
        {"name": "people", "categories": ["person"], "measure": "AP", "min": 0.0},
        {"name": "nothing", "where": {"object_brightness": {">": 2}}, "min": 0.0},
    ], resamples=0).set_index("name")
    assert results.loc["people", "value"] == pytest.approx(
        person.category_ap(person.category_ids[k]))
    assert np.isnan(results.loc["people", "ci_low"])          # resamples=0: no interval
    assert not results.loc["nothing", "passed"]                # NaN never passes
    assert "no annotation in the slice" in results.loc["nothing", "note"]


@pytest.mark.parametrize("case, field, words", [
    ({"measure": "AP", "min": 0.1}, "name", "needs a 'name'"),
    ({"name": "x", "min": 0.1, "treshold": 1}, "treshold", "unknown field"),
    ({"name": "x", "measure": "mAP", "min": 0.1}, "measure", "unknown measure"),
    ({"name": "x", "measure": "AP"}, "min", "requirement"),
    ({"name": "x", "where": {"box_area": {"<<": 3}}, "min": 0.1}, "where.box_area", "bound"),
    ({"name": "x", "where": {"box_area": [5, 1]}, "min": 0.1}, "where.box_area", "empty range"),
    ({"name": "x", "where": {"box_area": [0, "big"]}, "min": 0.1}, "where.box_area", "number"),
    ({"name": "x", "measure": "recall", "iou": 0.52, "min": 0.1}, "iou", "0.95"),
    ({"name": "x", "measure": "AP", "iou": 0.5, "min": 0.1}, "iou", "precision and recall"),
])
def test_schema_errors_name_file_case_and_field(tmp_path, case, field, words):
    path = tmp_path / "cases.json"
    path.write_text(json.dumps({"test_cases": [case]}))
    with pytest.raises(TestCaseError) as info:
        read_test_cases(path)
    err = info.value
    assert err.field == field and str(path) in str(err) and words in str(err)
    if "name" in case:
        assert f"test case {case['name']!r}" in str(err)


def test_file_errors_and_yaml(tmp_path, sample):
    ds, metrics = sample
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(TestCaseError, match="not valid JSON"):
        read_test_cases(bad)
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps([{"name": "a", "min": 0}, {"name": "a", "min": 0}]))
    with pytest.raises(TestCaseError, match="two test cases have this name"):
        read_test_cases(dup)
    pytest.importorskip("yaml")
    path = tmp_path / "cases.yaml"
    path.write_text("test_cases:\n  - name: dark objects\n    where:\n"
                    "      object_brightness: {'<': 0.2}\n    measure: AP\n    min: 0.0\n")
    (case,) = read_test_cases(path)
    assert case["ranges"] == [("object_brightness", -np.inf, 0.2, True, False)]
    with pytest.raises(TestCaseError) as info:
        run_test_cases(ds, metrics, [{"name": "q", "where": {"no_such": [0, 1]}, "min": 0}])
    assert info.value.field == "where.no_such" and info.value.case == "q"
    with pytest.raises(TestCaseError, match="unknown category 'unicorn'"):
        run_test_cases(ds, metrics, [{"name": "q", "categories": ["unicorn"], "min": 0}])


def test_explorer_selection_as_a_test_case(sample):
    ds, metrics = sample
    explorer = qw.Explorer(metrics, level="object", metric="object_brightness")
    explorer.select("box_area", 0, 5000)
    explorer.pin()
    explorer.select("object_brightness", 0.0, 0.4)
    case = explorer.as_test_case("dark small", measure="AR100", min_value=0.05)
    assert case["where"] == {"object.box_area": [0.0, 5000.0],
                             "object.object_brightness": [0.0, 0.4]}
    result = run_test_cases(ds, metrics, case, resamples=0).iloc[0]
    selected = metrics.objects.loc[explorer.selection]
    assert result["n_annotations"] == int((~selected["iscrowd"]).sum())
    with pytest.raises(ValueError, match="requirement"):
        explorer.as_test_case("no requirement")


def test_cli_exit_codes(tmp_path, capsys):
    paths = sample_paths()
    args = ["--images", str(paths["images"]), "--annotations", str(paths["annotations"]),
            "--predictions", str(paths["predictions"]), "--resamples", "5",
            "--cache-dir", str(tmp_path / "cache"), "--workers", "1"]
    ap = qw.evaluate(qw.load_sample()).stats[0]
    passing = tmp_path / "pass.json"
    passing.write_text(json.dumps([{"name": "overall", "measure": "AP", "min": ap - 0.01},
                                   {"name": "small", "where": {"box_area": {"<": 1024}},
                                    "measure": "recall", "min": 0.0}]))
    failing = tmp_path / "fail.json"
    failing.write_text(json.dumps([{"name": "overall", "measure": "AP", "min": ap + 0.01}]))
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps([{"name": "overall", "measure": "AP"}]))
    assert cli.main(["test-cases", str(passing), *args]) == 0
    assert "2 passed, 0 failed" in capsys.readouterr().out
    assert cli.main(["test-cases", str(failing), *args, "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["passed"] is False and rows[0]["value"] == pytest.approx(ap)
    assert cli.main(["test-cases", str(broken), *args]) == 2
    err = capsys.readouterr().err
    assert "broken.json" in err and "'overall'" in err and "'min'" in err
    assert cli.main(["test-cases", str(passing), "--annotations",
                     str(paths["annotations"])]) == 2


def test_old_measure_names_are_aliases_and_precision_takes_its_iou(sample):
    """One vocabulary with the hypothesis test (APs...), the earlier names still read; the
    precision at IoU .75 is the evaluation's own precision at that threshold."""
    ds, metrics = sample
    full = qw.evaluate(ds)
    cases = [{"name": "small, old name", "measure": "AP_small", "min": 0.0},
             {"name": "small", "measure": "APs", "min": 0.0},
             {"name": "precision at .75", "measure": "precision", "iou": 0.75,
              "score_threshold": 0.4, "min": 0.0},
             {"name": "recall at .5", "measure": "recall", "score_threshold": 0.4, "min": 0.0}]
    results = run_test_cases(ds, metrics, cases, resamples=0).set_index("name")
    assert list(results["measure"])[:2] == ["APs", "APs"]
    assert results.loc["small, old name", "value"] == results.loc["small", "value"] \
        == pytest.approx(full.stats[3])
    precision_75 = full.precision_recall_at(0.4, 0.75)[0]
    assert results.loc["precision at .75", "value"] == pytest.approx(precision_75)
    assert precision_75 != pytest.approx(full.precision_recall_at(0.4, 0.5)[0])
    assert results.loc["recall at .5", "value"] == pytest.approx(
        full.precision_recall_at(0.4, 0.5)[1])


def test_test_case_from_ranges_intersects_orders_and_validates():
    from quality_widgets.analysis.testcases import test_case_from_ranges
    case = test_case_from_ranges(
        "dark small", "object",
        [("box_area", 0, 5000), ("object_brightness", 0.4, 0.0),      # reversed: put in order
         ("box_area", 1000, None), ("confidence", -np.inf, 0.9)],
        measure="AR100", min_value=0.05, categories=["car"], tags=["check"])
    assert case == {"name": "dark small",
                    "where": {"object.box_area": [1000.0, 5000.0],
                              "object.object_brightness": [0.0, 0.4],
                              "object.confidence": [None, 0.9]},
                    "measure": "AR100", "categories": ["car"], "tags": ["check"],
                    "min": 0.05}
    with pytest.raises(ValueError, match="requirement"):
        test_case_from_ranges("none", "image", [])
    with pytest.raises(TestCaseError, match="empty range"):       # ranges that do not meet
        test_case_from_ranges("disjoint", "image", [("b", 0, 1), ("b", 2, 3)], min_value=0)
    with pytest.raises(ValueError, match="level"):
        test_case_from_ranges("x", "images", [], min_value=0)


# ---- masks and keypoints (iou_type) -----------------------------------------------------------
@pytest.fixture(scope="module")
def keypoint_files(tmp_path_factory):
    """The synthetic person-keypoints set of the keypoint evaluation tests (masks_data) on
    disk, with an image metric and an object metric (0.01 grid) on both frames."""
    from masks_data import keypoint_data
    coco, results = keypoint_data(seed=1, n_images=60)
    folder = tmp_path_factory.mktemp("kp")
    (folder / "gt.json").write_text(json.dumps(coco))
    (folder / "dt.json").write_text(json.dumps(results))
    ds = qw.Dataset.from_coco(None, folder / "gt.json", folder / "dt.json")
    rng = np.random.default_rng(4)
    metrics = qw.MetricFrames(images=ds.images.copy(), objects=ds.annotations.copy(),
                              predictions=ds.predictions.copy(), dataset=ds)
    metrics.images["my_score"] = rng.random(len(ds.images))
    metrics.objects["u"] = np.round(rng.random(len(ds.annotations)), 2)
    metrics.predictions["u"] = np.round(rng.random(len(ds.predictions)), 2)
    return ds, metrics, folder / "gt.json", folder / "dt.json"


def test_keypoint_test_cases_equal_pycocotools_keypoints(keypoint_files):
    """Image slices: pycocotools on those images; object slices: its matching with the areas
    replaced by the metric after the OKS were computed (helpers.pycocotools_stats)."""
    pytest.importorskip("pycocotools")
    from helpers import pycocotools_stats
    ds, metrics, gt_file, dt_file = keypoint_files
    cases = [{"name": "bright AP", "where": {"image.my_score": [0.3, None]}, "measure": "AP",
              "min": 0.0},
             {"name": "bright AR75", "where": {"image.my_score": [0.3, None]},
              "measure": "AR75", "min": 0.0},
             {"name": "all ARl", "measure": "ARl", "min": 0.0},
             {"name": "high u AR", "where": {"object.u": {">=": 0.4}}, "measure": "AR",
              "min": 0.0},
             {"name": "high u AP50", "where": {"object.u": {">=": 0.4}}, "measure": "AP50",
              "min": 0.0}]
    results = run_test_cases(ds, metrics, cases, resamples=10,
                             iou_type="keypoints").set_index("name")
    score = metrics.images["my_score"]
    on_images = pycocotools_stats(gt_file, dt_file, image_ids=score.index[score >= 0.3],
                                  iou_type="keypoints")
    assert results.loc["bright AP", "value"] == on_images.stats[0]
    assert results.loc["bright AR75", "value"] == on_images.stats[7]
    assert results.loc["all ARl", "value"] == pycocotools_stats(
        gt_file, dt_file, iou_type="keypoints").stats[9]
    values = (dict(zip(ds.annotations.index, metrics.objects["u"], strict=True)),
              dict(zip(ds.predictions.index, metrics.predictions["u"], strict=True)))
    sliced = pycocotools_stats(gt_file, dt_file, area_values=values, area_range=(0.4, 1e200),
                               iou_type="keypoints")
    assert results.loc["high u AR", "value"] == sliced.stats[5]
    assert results.loc["high u AP50", "value"] == sliced.stats[1]
    # counted annotations: neither crowd nor without a labelled keypoint (both ignored)
    counted = (ds.annotations["num_keypoints"] > 0) & ~ds.annotations["iscrowd"].astype(bool)
    assert results.loc["all ARl", "n_annotations"] == int(counted.sum()) < len(ds.annotations)
    assert np.isfinite(results["ci_low"]).all()


def test_keypoint_test_cases_refuse_box_measures_and_segm_cases_measure_masks(
        keypoint_files, tmp_path, capsys):
    ds, metrics, gt_file, dt_file = keypoint_files
    with pytest.raises(TestCaseError, match="'small'.*'measure'.*'APs' is not a keypoint "
                                            "measure.*AR, AR50, AR75, ARm, ARl"):
        run_test_cases(ds, metrics, [{"name": "ok", "measure": "AP", "min": 0},
                                     {"name": "small", "measure": "APs", "min": 0}],
                       resamples=0, iou_type="keypoints")
    with pytest.raises(TestCaseError, match="'AR' is a keypoint measure"):
        run_test_cases(ds, metrics, [{"name": "r", "measure": "AR", "min": 0}], resamples=0)
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([{"name": "people", "measure": "AR", "min": 0.0},
                                 {"name": "large boxes", "where": {"box_area": {">=": 9000}},
                                  "measure": "AP", "min": 0.99}]))
    args = ["test-cases", str(cases), "--annotations", str(gt_file), "--predictions",
            str(dt_file), "--resamples", "0", "--json"]
    assert cli.main(args) == 2 and "'AR' is a keypoint measure" in capsys.readouterr().err
    assert cli.main(args + ["--iou-type", "keypoints"]) == 1
    rows = json.loads(capsys.readouterr().out)
    full = qw.evaluate(ds, iou_type="keypoints")
    assert rows[0]["value"] == full.stats[5] and rows[0]["passed"]
    large = qw.Evaluator(ds, iou_type="keypoints").evaluate(
        object_range=("box_area", 9000, np.inf),
        metrics=qw.compute_metrics(ds, metrics=["box_area"], progress=False, workers=1))
    assert rows[1]["value"] == large.stats[0] and not rows[1]["passed"]


def test_segm_test_case_equals_pycocotools_segm(coco128, tmp_path):
    pytest.importorskip("pycocotools")
    from helpers import pycocotools_stats
    from masks_data import mask_results
    coco = json.loads((coco128 / "instances.json").read_text())
    (tmp_path / "gt.json").write_text(json.dumps(coco))
    (tmp_path / "dt.json").write_text(json.dumps(mask_results(coco, seed=7)))
    ds = qw.Dataset.from_coco(None, tmp_path / "gt.json", tmp_path / "dt.json")
    ids = ds.images.index[::2]
    metrics = qw.MetricFrames(images=ds.images.assign(even=ds.images.index.isin(ids) * 1.0),
                              objects=ds.annotations, predictions=ds.predictions, dataset=ds)
    results = run_test_cases(ds, metrics, [
        {"name": "half", "where": {"image.even": [1, 1]}, "measure": "AP75", "min": 0}],
        resamples=0, iou_type="segm")
    ref = pycocotools_stats(tmp_path / "gt.json", tmp_path / "dt.json", image_ids=ids,
                            iou_type="segm")
    assert results["value"].iloc[0] == ref.stats[2]
    assert results["value"].iloc[0] != run_test_cases(ds, metrics, [
        {"name": "half", "where": {"image.even": [1, 1]}, "measure": "AP75", "min": 0}],
        resamples=0)["value"].iloc[0]

"""The input contract (issue 20): never a wrong answer with exit code 0.

One test (or a few) per item of the issue, each making the mistake as a user makes it, on
../shared/coco128 with its real predictions where that is where the mistake happens (skipped
without it) and on generated data otherwise, asserting the exit code (0 ok, 1 a test case
failed, 2 bad input or nothing usable) and the words of the message.
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import make_coco, make_images, make_yolo

import quality_widgets as qw
from quality_widgets import cli

PREDICTIONS = "predictions/yolo-fastest-1.1-xl.json"


def run(capsys, *argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``quality-widgets ARGV``."""
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def strict_json(text: str):
    """json.loads that refuses NaN and infinities, as orjson and JavaScript do."""
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def rewrite_predictions(coco128, tmp_path, change) -> Path:
    """The real predictions with ``change(row)`` applied to every row, as a new file."""
    rows = json.loads((coco128 / PREDICTIONS).read_text())
    for row in rows:
        change(row)
    out = tmp_path / "predictions.json"
    out.write_text(json.dumps(rows))
    return out


# ---- 1. predictions attached to the wrong images ------------------------------------------------
def test_predictions_without_annotations_map_by_coco_file_names_and_say_so(coco128, tmp_path,
                                                                           capsys):
    code, _, err = run(capsys, "metrics", "--images", coco128 / "images", "--predictions",
                       coco128 / PREDICTIONS, "--metrics", "box_area,border_closeness",
                       "--out", tmp_path / "m", "--quiet")
    assert code == 0
    assert "image ids are read from the file names by COCO's rule" in err
    preds = pd.read_parquet(tmp_path / "m" / "predictions.parquet")
    images = pd.read_parquet(tmp_path / "m" / "images.parquet")
    assert len(preds) == 8035                               # none dropped (1,504 kept before)
    # each prediction on the file its id names: image 9 is 000000000009.jpg
    assert images.loc[9, "file_name"] == "000000000009.jpg"
    assert (preds["border_closeness"] <= 1 + 1e-9).all()    # no box sticks out (341 did)
    ds = qw.Dataset.from_coco(coco128 / "images", None, coco128 / PREDICTIONS)
    reference = qw.Dataset.from_coco(coco128 / "images", coco128 / "instances.json",
                                     coco128 / PREDICTIONS)
    pd.testing.assert_frame_equal(ds.predictions[["image_id", "bbox_x", "score"]],
                                  reference.predictions[["image_id", "bbox_x", "score"]])


def test_predictions_without_annotations_refused_when_names_are_not_ids(tmp_path, capsys):
    p = make_coco(tmp_path)                                 # img_000.jpg ...: not ids
    code, _, err = run(capsys, "metrics", "--images", p["images"], "--predictions",
                       p["predictions"], "--out", tmp_path / "m", "--quiet")
    assert code == 2 and not (tmp_path / "m").exists()
    assert "predictions.json" in err and "only positions in the folder" in err
    assert "--annotations" in err
    with pytest.raises(qw.DatasetError, match="only positions in the folder"):
        qw.Dataset.from_coco(p["images"], None, p["predictions"])
    with pytest.raises(qw.DatasetError, match="only positions in the folder"):
        qw.Dataset.from_folder(p["images"]).with_predictions(p["predictions"])


def test_coco_file_name_rule():
    from quality_widgets.data.checks import folder_image_ids, ids_from_file_names
    assert ids_from_file_names(["000000000009.jpg", "sub/000000000025.png",
                                "COCO_val2014_000000000042.jpg"]).tolist() == [9, 25, 42]
    assert ids_from_file_names(["000000000009.jpg", "img_1.jpg"]) is None
    assert ids_from_file_names(["1.jpg", "1.png"]) is None              # one id, two files
    assert folder_image_ids(["b.jpg", "a.jpg"])[1] == "positions"


# ---- 2. success on nothing ----------------------------------------------------------------------
def test_images_one_folder_down_is_refused_with_the_folder_to_pass(coco128, tmp_path, capsys):
    code, _, err = run(capsys, "metrics", "--images", coco128, "--annotations",
                       coco128 / "instances.json", "--metrics", "brightness",
                       "--out", tmp_path / "m", "--quiet")
    assert code == 2 and not (tmp_path / "m").exists()
    assert "none of the 128 image files named in" in err and "'000000000009.jpg'" in err
    assert f"--images {coco128 / 'images'}" in err


def test_wrong_images_folder_on_generated_data(tmp_path, capsys):
    p = make_coco(tmp_path / "ds")
    code, _, err = run(capsys, "metrics", "--images", tmp_path / "ds", "--annotations",
                       p["annotations"], "--out", tmp_path / "m", "--quiet")
    assert code == 2 and f"--images {p['images']}" in err


def test_evaluate_with_every_prediction_dropped_exits_2(coco128, tmp_path, capsys):
    names = rewrite_predictions(coco128, tmp_path,
                                lambda r: r.update(image_id=f"{r['image_id']}.jpg"))
    code, out, err = run(capsys, "evaluate", "--annotations", coco128 / "instances.json",
                         "--predictions", names)
    assert code == 2 and "AP" not in out
    assert "all 8035 predictions name an image_id that is not in" in err
    assert "'9.jpg'" in err and "not a file name" in err


def test_predictions_of_another_annotation_file_are_refused(tmp_path, capsys):
    p = make_coco(tmp_path)
    rows = json.loads(p["predictions"].read_text())
    for r in rows:
        r["image_id"] += 1000
    p["predictions"].write_text(json.dumps(rows))
    code, _, err = run(capsys, "evaluate", "--annotations", p["annotations"],
                       "--predictions", p["predictions"])
    assert code == 2 and "another annotation file" in err and "1001" in err


def test_hypothesis_without_predictions_exits_2(coco128, capsys):
    code, out, err = run(capsys, "hypothesis", "--images", coco128 / "images", "--annotations",
                         coco128 / "instances.json", "--metric", "brightness", "--quiet")
    assert code == 2 and out == ""
    assert "--predictions (or --yolo-predictions) is needed" in err


def test_hypothesis_and_evaluate_refuse_datasets_without_labels_or_predictions(tmp_path):
    p = make_coco(tmp_path)
    labels_only = qw.Dataset.from_coco(p["images"], p["annotations"])
    with pytest.raises(qw.DatasetError, match="no predictions"):
        qw.test_hypothesis(labels_only, metric="brightness")
    names = ["000000000001.jpg", "000000000002.jpg"]
    folder = tmp_path / "by_id"
    folder.mkdir()
    for src, name in zip(sorted(p["images"].iterdir())[:len(names)], names, strict=True):
        shutil.copy(src, folder / (Path(name).stem + src.suffix))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # the file-name rule note
        no_labels = qw.Dataset.from_coco(folder, None, p["predictions"], max_unusable=1.0)
    with pytest.raises(qw.DatasetError, match="no labels"):
        qw.evaluate(no_labels)                      # was AP = -1
    with pytest.raises(qw.DatasetError, match="no predictions"):
        qw.evaluate(labels_only)


def test_test_cases_on_an_empty_or_wrong_folder_exit_2(tmp_path, capsys):
    p = make_coco(tmp_path / "ds")
    cases = tmp_path / "cases.yaml"
    cases.write_text("- name: bright images\n  where: {brightness: {'>': 0.0}}\n"
                     "  measure: AP\n  min: 0.0\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (empty, tmp_path / "ds"):           # empty; the dataset root, not images/
        code, out, err = run(capsys, "test-cases", cases, "--images", folder, "--annotations",
                             p["annotations"], "--predictions", p["predictions"])
        assert code == 2 and "passed" not in out      # was "1 passed, 0 failed", exit 0 / 1
        assert "none of the 6 image files named in" in err
    code, out, _ = run(capsys, "test-cases", cases, "--images", p["images"], "--annotations",
                       p["annotations"], "--predictions", p["predictions"])
    assert code == 0 and "1 passed, 0 failed" in out


def test_unreadable_images_past_the_limit_exit_2(tmp_path, capsys):
    p = make_coco(tmp_path)
    for path in sorted(p["images"].iterdir())[:4]:       # 4 of 6 images are not images
        path.write_bytes(b"not an image")
    args = ["metrics", "--images", p["images"], "--annotations", p["annotations"],
            "--metrics", "brightness", "--out", tmp_path / "m", "--quiet", "--no-cache"]
    code, _, err = run(capsys, *args)
    assert code == 2 and "4 of 6 images could not be read" in err and "--max-unusable" in err
    code, _, _ = run(capsys, *args, "--max-unusable", "0.9")
    assert code == 0 and (tmp_path / "m" / "images.parquet").exists()


def test_empty_folder_exits_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    code, _, err = run(capsys, "metrics", "--images", tmp_path / "empty", "--out",
                       tmp_path / "m", "--quiet")
    assert code == 2 and "no image files" in err and "it holds: notes.txt" in err
    with pytest.raises(qw.DatasetError, match="no image files"):
        qw.Dataset.from_folder(tmp_path / "empty")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symlinked_images_folder_is_followed(tmp_path, capsys):
    make_images(tmp_path / "store" / "photos", n=3)
    (tmp_path / "ds").mkdir()
    os.symlink(tmp_path / "store" / "photos", tmp_path / "ds" / "images")
    os.symlink(tmp_path / "ds", tmp_path / "ds" / "images" / "loop")   # a cycle: no hang
    ds = qw.Dataset.from_folder(tmp_path / "ds")
    assert len(ds.images) == 3 and ds.images["file_name"].str.startswith("images/").all()
    code, out, _ = run(capsys, "metrics", "--images", tmp_path / "ds", "--metrics", "brightness",
                       "--out", tmp_path / "m", "--quiet", "--no-cache")
    assert code == 0 and "computed 3 images" in out


def test_the_unusable_limit_is_user_settable(tmp_path, capsys):
    p = make_coco(tmp_path)
    data = json.loads(p["annotations"].read_text())
    for image in data["images"][:4]:                      # 4 of 6 files missing
        image["file_name"] = "missing_" + image["file_name"]
    p["annotations"].write_text(json.dumps(data))
    args = ["metrics", "--images", p["images"], "--annotations", p["annotations"],
            "--metrics", "brightness", "--out", tmp_path / "m", "--quiet", "--no-cache"]
    code, _, err = run(capsys, *args)
    assert code == 2 and "4 of 6 image files" in err and "more than the accepted 50%" in err
    code, _, _ = run(capsys, *args, "--max-unusable", "0.7")
    assert code == 0                                      # 67% missing is accepted at 70%
    with pytest.raises(qw.DatasetError, match="4 of 6 image files"):
        qw.Dataset.from_coco(p["images"], p["annotations"])
    assert len(qw.Dataset.from_coco(p["images"], p["annotations"], max_unusable=0.9).images) == 6


# ---- 3. export from a metrics folder ------------------------------------------------------------
def test_export_from_a_metrics_folder_is_strict_and_keeps_everything(coco128, tmp_path, capsys):
    code, _, _ = run(capsys, "metrics", "--images", coco128 / "images", "--annotations",
                     coco128 / "instances.json", "--metrics", "brightness", "--out",
                     tmp_path / "m", "--quiet")
    assert code == 0
    code, out, _ = run(capsys, "export", "--metrics-dir", tmp_path / "m", "--where",
                       "brightness < 0.3", "--format", "coco", "--out", tmp_path / "d.json")
    assert code == 0 and "exported" in out
    exported = strict_json((tmp_path / "d.json").read_text())
    source = json.loads((coco128 / "instances.json").read_text())
    ids = {im["id"] for im in exported["images"]}
    assert ids and len(ids) < 128
    source_anns = {a["id"]: a for a in source["annotations"] if a["image_id"] in ids}
    assert {a["id"] for a in exported["annotations"]} == set(source_anns)
    # every segmentation kept (0 of 87 before), polygons and crowd RLE alike
    assert all(a["segmentation"] == source_anns[a["id"]]["segmentation"]
               for a in exported["annotations"])
    by_id = {im["id"]: im for im in source["images"]}
    for image in exported["images"]:
        for key in ("license", "flickr_url", "coco_url"):
            assert image[key] == by_id[image["id"]][key]
    assert len(exported["categories"]) == len(source["categories"])
    assert all(c["supercategory"] for c in exported["categories"])


def test_export_from_a_metrics_folder_on_generated_data_keeps_segmentation(tmp_path, capsys):
    p = make_coco(tmp_path)
    data = json.loads(p["annotations"].read_text())
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]
        a["segmentation"] = [[x, y, x + w, y, x + w, y + h]]
    data["images"][0]["license"] = 4
    p["annotations"].write_text(json.dumps(data))
    assert run(capsys, "metrics", "--images", p["images"], "--annotations", p["annotations"],
               "--metrics", "brightness", "--out", tmp_path / "m", "--quiet")[0] == 0
    assert run(capsys, "export", "--metrics-dir", tmp_path / "m", "--format", "coco",
               "--out", tmp_path / "all.json")[0] == 0
    exported = strict_json((tmp_path / "all.json").read_text())
    assert [a["segmentation"] for a in exported["annotations"]] == [
        a["segmentation"] for a in data["annotations"]]
    assert exported["images"][0]["license"] == 4
    assert [c["supercategory"] for c in exported["categories"]] == ["thing", "thing"]


# ---- 4. YOLO in the command line ----------------------------------------------------------------
def test_metrics_on_a_yolo_folder_finds_labels_and_honours_classes(tmp_path, capsys):
    y = make_yolo(tmp_path / "yds", classes_file=False)
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\n")
    code, _, err = run(capsys, "metrics", "--images", y["images"], "--classes", names,
                       "--metrics", "box_area", "--out", tmp_path / "m", "--quiet")
    assert code == 0 and "YOLO labels from" in err
    objects = pd.read_parquet(tmp_path / "m" / "objects.parquet")
    assert len(objects) == 8 and set(objects["category"]) == {"cat", "dog"}


def test_classes_without_labels_is_refused(tmp_path, capsys):
    make_images(tmp_path / "photos", n=2)
    (tmp_path / "classes.txt").write_text("cat\n")
    code, _, err = run(capsys, "metrics", "--images", tmp_path / "photos", "--classes",
                       tmp_path / "classes.txt", "--out", tmp_path / "m", "--quiet")
    assert code == 2 and "--yolo-labels" in err


def test_yolo_folder_without_class_names_warns(tmp_path):
    y = make_yolo(tmp_path / "yds", classes_file=False)
    with pytest.warns(qw.DataWarning, match="no class names") as caught:
        ds = qw.Dataset.from_yolo(y["images"])
    assert "classes.txt" in str(caught[0].message)
    assert list(ds.categories["name"]) == ["0", "1"]


def test_export_yolo_input_and_data_yaml(tmp_path, capsys):
    yaml = pytest.importorskip("yaml")
    y = make_yolo(tmp_path / "yds")
    code, out, _ = run(capsys, "export", "--images", y["images"], "--level", "object",
                       "--where", "category == 'dog'", "--format", "yolo",
                       "--out", tmp_path / "dogs")
    assert code == 0 and "exported 4 objects" in out
    data = yaml.safe_load((tmp_path / "dogs" / "data.yaml").read_text())
    assert data["names"] == {0: "cat", 1: "dog"} and data["nc"] == 2
    assert data["train"] == "images" and (tmp_path / "dogs" / data["train"]).is_dir()
    back = qw.Dataset.from_yolo(tmp_path / "dogs" / "images")     # the export loads again
    assert set(back.annotations["category"]) == {"dog"}


# ---- 5. names -----------------------------------------------------------------------------------
def test_hypothesis_metric_typo_suggests_and_hides_internals(tmp_path, capsys):
    p = make_coco(tmp_path)
    code, _, err = run(capsys, "hypothesis", "--images", p["images"], "--annotations",
                       p["annotations"], "--predictions", p["predictions"],
                       "--metric", "object_rednes", "--quiet")
    assert code == 2
    assert "unknown metric column 'object_rednes' (did you mean 'object_redness'" in err
    assert "_mean_rgb" not in err and "phash" not in err and "margin" in err
    assert "class_probabilities" not in err        # a function, not a column to split by


def test_metric_column_names_map_to_the_metric_computing_them():
    from quality_widgets.cli._shared import metrics_to_compute
    assert metrics_to_compute(["margin", "brightness"]) == ["class_probabilities",
                                                            "brightness"]
    with pytest.raises(KeyError, match="did you mean 'brightness'"):
        metrics_to_compute(["brigthness"])
    with pytest.raises(KeyError, match="did you mean 'brightness'"):
        qw.compute_metrics(qw.load_sample(), metrics=["brigthness"], progress=False)


def test_explorer_metric_typo_raises_with_suggestion(tmp_path):
    p = make_coco(tmp_path)
    ds = qw.Dataset.from_coco(p["images"], p["annotations"], p["predictions"])
    metrics = qw.compute_metrics(ds, metrics=["brightness"], progress=False, cache_dir=False,
                                 workers=1)
    with pytest.raises(KeyError, match="did you mean 'brightness'"):
        qw.Explorer(metrics, metric="brigthness")
    assert qw.Explorer(metrics, metric="brightness").metric == "brightness"


def test_category_typo_lists_the_closest(tmp_path, capsys):
    p = make_coco(tmp_path)
    code, _, err = run(capsys, "hypothesis", "--annotations", p["annotations"], "--predictions",
                       p["predictions"], "--metric", "box_area", "--category", "red thng",
                       "--quiet")
    assert code == 2 and "unknown category 'red thng' (did you mean 'red thing'?)" in err
    ds = qw.Dataset.from_coco(None, p["annotations"], p["predictions"])
    with pytest.raises(KeyError, match=r"did you mean 'red thing'\?\); valid: other, red thing"):
        qw.test_hypothesis(ds, metric="box_area", category="red thng", resamples=1)


def test_test_case_column_typo_suggests(tmp_path, capsys):
    p = make_coco(tmp_path)
    cases = tmp_path / "cases.yaml"
    cases.write_text("- name: boxes\n  where: {box_aera: {'<': 100}}\n  measure: AP\n"
                     "  min: 0.1\n")
    code, _, err = run(capsys, "test-cases", cases, "--annotations", p["annotations"],
                       "--predictions", p["predictions"])
    assert code == 2 and "unknown column in the test cases 'box_aera'" in err
    assert "(did you mean 'box_area'" in err and "cases.yaml" in err


def test_drift_metric_typo_suggests(tmp_path, capsys):
    p = make_coco(tmp_path)
    assert run(capsys, "metrics", "--images", p["images"], "--metrics", "brightness",
               "--out", tmp_path / "a", "--quiet")[0] == 0
    code, _, err = run(capsys, "drift", "--a", tmp_path / "a", "--b", tmp_path / "a",
                       "--metrics", "brigtness")
    assert code == 2 and "did you mean 'brightness'?" in err
    # nothing to compare (no predictions in either folder) is not an empty success
    code, out, err = run(capsys, "drift", "--a", tmp_path / "a", "--b", tmp_path / "a",
                         "--level", "prediction", "--json")
    assert code == 2 and out == "" and "no metric has finite values" in err


# ---- 6. likely id mistakes ----------------------------------------------------------------------
def test_zero_based_category_ids_are_detected(coco128, tmp_path, capsys):
    shifted = rewrite_predictions(coco128, tmp_path,
                                  lambda r: r.update(category_id=r["category_id"] - 1))
    code, out, err = run(capsys, "evaluate", "--annotations", coco128 / "instances.json",
                         "--predictions", shifted)
    assert code == 2 and "AP" not in out                    # was AP 0.006, exit 0
    assert "category ids look shifted" in err and "category_id + 1" in err
    ids = sorted(c["id"] for c in json.loads((coco128 / "instances.json").read_text())[
        "categories"])
    position = {cid: i for i, cid in enumerate(ids)}        # YOLO class indices
    indices = rewrite_predictions(coco128, tmp_path,
                                  lambda r: r.update(category_id=position[r["category_id"]]))
    code, _, err = run(capsys, "evaluate", "--annotations", coco128 / "instances.json",
                       "--predictions", indices)
    assert code == 2 and "0-based class indices" in err
    assert run(capsys, "evaluate", "--annotations", coco128 / "instances.json",
               "--predictions", coco128 / PREDICTIONS)[0] == 0


def test_category_shift_by_hand():
    from quality_widgets.data.checks import category_shift
    rng = np.random.default_rng(0)
    n = 60
    boxes = np.c_[rng.uniform(0, 100, (n, 2)), rng.uniform(10, 30, (n, 2))]
    labels = pd.DataFrame({"image_id": np.repeat([1, 2, 3], 20),
                           "category_id": rng.choice([1, 2, 3], n),
                           "bbox_x": boxes[:, 0], "bbox_y": boxes[:, 1],
                           "bbox_w": boxes[:, 2], "bbox_h": boxes[:, 3], "iscrowd": False})
    images, cats = labels["image_id"].to_numpy(), labels["category_id"].to_numpy()
    assert category_shift(images, cats, boxes, labels, [1, 2, 3]) is None
    message = category_shift(images, cats - 1, boxes, labels, [1, 2, 3])
    assert "0% have the label's category_id" in message and "100% would" in message
    assert category_shift(images[:10], cats[:10] - 1, boxes[:10], labels, [1, 2, 3]) is None


def test_warnings_are_one_line_with_the_row_id_and_value(tmp_path, capsys):
    p = make_coco(tmp_path)
    rows = json.loads(p["predictions"].read_text())
    rows += [{"image_id": 55, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5},
             {"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": "high"}]
    p["predictions"].write_text(json.dumps(rows))
    code, _, err = run(capsys, "evaluate", "--annotations", p["annotations"], "--predictions",
                       p["predictions"])
    assert code == 0
    lines = [ln for ln in err.splitlines() if ln]
    assert lines and all(ln.startswith("quality-widgets evaluate: warning: ") for ln in lines)
    assert "prediction_id 13 (image_id 55)" in err and "prediction_id 14 (score 'high')" in err
    assert str(p["predictions"]) in err


# ---- 7. statistics on degenerate input ----------------------------------------------------------
@pytest.fixture(scope="module")
def hypothesis_args(tmp_path_factory):
    root = tmp_path_factory.mktemp("hyp")
    p = make_coco(root, n=6)
    return ["hypothesis", "--images", p["images"], "--annotations", p["annotations"],
            "--predictions", p["predictions"], "--metric", "brightness", "--quiet"]


def test_resamples_0_exits_2(hypothesis_args, capsys):
    code, out, err = run(capsys, *hypothesis_args, "--resamples", "0")
    assert code == 2 and out == "" and "--resamples 0" in err and "at least 1" in err
    from quality_widgets.analysis.statistics import permutation_p_value
    assert np.isnan(permutation_p_value(0.1, []))           # no permutation, no p-value


def test_threshold_outside_the_values_is_refused_first(hypothesis_args, capsys):
    code, out, err = run(capsys, *hypothesis_args, "--threshold", "5", "--resamples", "100000")
    assert code == 2 and out == ""
    assert "threshold 5 is outside the values of brightness" in err


def test_drift_on_two_random_halves_of_coco128_is_not_major(coco128, tmp_path):
    ds = qw.Dataset.from_coco(coco128 / "images", coco128 / "instances.json")
    metrics = qw.compute_metrics(ds, metrics=["brightness", "redness", "greenness",
                                              "blueness", "object_redness"], progress=False)
    ids = np.random.default_rng(1).permutation(metrics.images.index.to_numpy())
    halves = []
    for part in (ids[:64], ids[64:]):
        halves.append(qw.MetricFrames(
            images=metrics.images.loc[part],
            objects=metrics.objects[metrics.objects["image_id"].isin(part)],
            predictions=metrics.predictions))
    table = qw.compare_drift(*halves, levels=("image", "object"))
    assert len(table) >= 5 and table["p_holm"].min() > 0.05
    assert not (table["psi_band"] == "major").any(), table[["metric", "level", "psi",
                                                             "psi_band"]]
    # the old PSI (deciles, fractions floored at 1e-4) called noise "major" here
    from quality_widgets.analysis.drift import population_stability_index
    old = [population_stability_index(halves[0].images[m], halves[1].images[m], bins=10)
           for m in ("redness", "greenness")]
    assert max(old) > table.set_index("metric").loc[["redness", "greenness"], "psi"].max()


# ---- 8. crowd regions ---------------------------------------------------------------------------
def test_crowd_regions_are_left_out_of_duplicates_and_overlaps(tmp_path):
    p = make_coco(tmp_path, n=2)
    data = json.loads(p["annotations"].read_text())
    box = data["annotations"][0]
    data["annotations"].append({**box, "id": 999, "iscrowd": 1,
                                "segmentation": {"size": [48, 64], "counts": "0"}})
    p["annotations"].write_text(json.dumps(data))
    ds = qw.Dataset.from_coco(p["images"], p["annotations"])
    f = qw.compute_metrics(ds, metrics=["annotation_duplicate", "max_overlap"], progress=False,
                           cache_dir=False, workers=1)
    assert f.objects.loc[box["id"], "annotation_duplicate"] == 0.0   # was 1.0: the crowd
    assert np.isnan(f.objects.loc[999, "annotation_duplicate"])
    assert np.isnan(f.objects.loc[999, "max_overlap"])


def test_crowd_regions_on_coco128_match_a_non_crowd_oracle(coco128_dataset):
    ds = qw.Dataset.from_coco(None, coco128_dataset.sources["annotations"])
    f = qw.compute_metrics(ds, metrics=["max_overlap"], progress=False, cache_dir=False,
                           workers=1)
    anns = ds.annotations
    crowd_images = set(anns.loc[anns["iscrowd"], "image_id"])
    assert len(crowd_images) == 9
    for image_id in crowd_images:
        rows = anns[(anns["image_id"] == image_id) & ~anns["iscrowd"]]
        b = rows[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy()
        x1, y1 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
        iw = np.clip(np.minimum(x1[:, None], x1) - np.maximum(b[:, None, 0], b[:, 0]), 0, None)
        ih = np.clip(np.minimum(y1[:, None], y1) - np.maximum(b[:, None, 1], b[:, 1]), 0, None)
        inter = iw * ih
        iou = inter / (b[:, 2] * b[:, 3] + (b[:, 2] * b[:, 3])[:, None] - inter)
        np.fill_diagonal(iou, 0)
        expected = iou.max(axis=1) if len(rows) > 1 else np.zeros(len(rows))
        np.testing.assert_allclose(f.objects.loc[rows.index, "max_overlap"], expected,
                                   rtol=1e-12)
    assert f.objects.loc[anns.index[anns["iscrowd"]], "max_overlap"].isna().all()


# ---- 9. small things ----------------------------------------------------------------------------
def test_out_pointing_at_a_file_exits_2_before_computing(tmp_path, capsys):
    p = make_coco(tmp_path)
    (tmp_path / "taken").write_text("mine")
    code, out, err = run(capsys, "metrics", "--images", p["images"], "--out", tmp_path / "taken")
    assert code == 2 and out == "" and "existing file" in err
    assert (tmp_path / "taken").read_text() == "mine"
    with pytest.raises(qw.DatasetError, match="existing file"):
        from quality_widgets.frames import write_metrics
        write_metrics(qw.MetricFrames(pd.DataFrame(), pd.DataFrame(), pd.DataFrame()),
                      tmp_path / "taken")


def test_help_texts_describe_every_command(capsys):
    from quality_widgets.cli.main import build_parser
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        assert sub.description, name
    assert "95% confidence interval" in commands["hypothesis"].description
    assert "%%" not in commands["hypothesis"].format_help()
    assert "per-category AP" in commands["evaluate"].format_help() and "--json" in \
        commands["evaluate"].description
    export_help = commands["export"].format_help()
    assert "--metrics-dir" in export_help and "--metrics " not in export_help


def test_iou_type_segm_says_clearly_what_to_do(coco128, capsys):
    code, out, err = run(capsys, "evaluate", "--annotations", coco128 / "instances.json",
                         "--predictions", coco128 / PREDICTIONS, "--iou-type", "segm")
    if code == 2:       # until segm evaluation lands: a clear refusal, not a traceback
        assert "--iou-type segm is not available" in err and "--iou-type bbox" in err
    else:
        assert code == 0 and "Average Precision" in out


def test_output_files_have_the_same_mode_as_export_files(tmp_path, capsys):
    p = make_coco(tmp_path)
    assert run(capsys, "metrics", "--images", p["images"], "--annotations", p["annotations"],
               "--metrics", "brightness", "--out", tmp_path / "m", "--quiet")[0] == 0
    assert run(capsys, "export", "--metrics-dir", tmp_path / "m", "--format", "csv",
               "--out", tmp_path / "e.csv")[0] == 0
    mask = os.umask(0)
    os.umask(mask)
    expected = 0o666 & ~mask
    parts = sorted((tmp_path / "m").glob("*.parquet/part-*.parquet"))   # Parquet datasets
    assert len(parts) == 3
    for path in (*parts, tmp_path / "m" / "dataset.json", tmp_path / "e.csv"):
        assert path.stat().st_mode & 0o777 == expected, path


def test_quickstart_notebook_writes_nothing_into_its_folder():
    nb = json.loads((Path(__file__).parents[1] / "notebooks" / "quickstart.ipynb").read_text())
    sources = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    export_cells = [s for s in sources if "qw.export(" in s]
    assert export_cells and all("tempfile.mkdtemp()" in s for s in export_cells)


def test_documented_hypothesis_example_is_the_bundled_sample():
    # the example moved from the README to the reference site's statistics page
    readme = (Path(__file__).parents[1] / "docs" / "statistics.md").read_text()
    ds = qw.load_sample()
    metrics = qw.compute_metrics(ds, metrics=["object_redness"], progress=False)
    r = qw.test_hypothesis(ds, metrics, metric="object_redness", measure="AP", resamples=0)
    # the point estimates (the CI and p-value need the 1000 resamples the README ran)
    expected = (f"Objects with object_redness >= {r.threshold:.4g} have AP "
                f"{r.above.value:.3f} vs {r.below.value:.3f} (difference {r.difference:+.3f}")
    assert expected in readme.replace("\n# ", " ").replace("\n#  ", " ")
    assert "ds = qw.load_sample()" in readme.split("## Does a metric affect")[1][:400]


def test_readme_documents_the_contract():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert "pip install ." in readme
    assert "labels_dir=" in readme
    bad_data = readme.split("## Bad data")[1].split("\n## ")[0]
    for words in ("--max-unusable", "exit code 2", "did you mean", "0-based", "file names",
                  "strict JSON", "crowd", "one level off"):
        assert words in bad_data, words


def test_cli_results_open_in_python(tmp_path, capsys):
    p = make_coco(tmp_path)
    assert run(capsys, "metrics", "--images", p["images"], "--annotations", p["annotations"],
               "--predictions", p["predictions"], "--metrics", "brightness,box_area",
               "--out", tmp_path / "out", "--quiet")[0] == 0
    frames = qw.read_metrics(tmp_path / "out")
    assert (len(frames.images), len(frames.objects), len(frames.predictions)) == (6, 12, 12)
    assert frames.images.index.name == "image_id" and "brightness" in frames.images
    assert frames.sources["loader"] == "coco"
    explorer = qw.Explorer(str(tmp_path / "out"), metric="brightness")
    assert len(explorer.frame) == 6 and explorer.metric == "brightness"

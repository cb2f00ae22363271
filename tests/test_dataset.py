"""Loaders: COCO, YOLO, folder; malformed files give one clear error naming file and field;
malformed rows are skipped with a counted warning."""
import json
import warnings

import numpy as np
import pytest
from helpers import make_coco, make_images
from PIL import Image

import quality_widgets as qw


def test_coco_loads_frames_with_ids_from_the_files(tmp_path):
    p = make_coco(tmp_path)
    ds = qw.Dataset.from_coco(p["images"], p["annotations"], p["predictions"])
    assert len(ds.images) == 6 and len(ds.annotations) == 12 and len(ds.predictions) == 12
    assert ds.images.index.name == "image_id"
    assert list(ds.annotations.index[:2]) == [100, 101]           # the file's ids
    assert list(ds.predictions.index) == list(range(1, 13))       # 1-based positions, as loadRes
    row = ds.annotations.loc[100]
    assert row["category"] == "red thing" and row["bbox_w"] == 16.0 and not row["iscrowd"]
    assert ds.images.loc[1, "path"].endswith("img_000.jpg")
    assert ds.has_annotations and ds.has_predictions


def test_coco128_counts(coco128_dataset):
    ds = coco128_dataset
    assert (len(ds.images), len(ds.annotations), len(ds.predictions)) == (128, 939, 8035)
    assert int(ds.annotations["iscrowd"].sum()) == 10


def test_prediction_ids_match_pycocotools_loadres(coco128):
    import contextlib
    import io

    from pycocotools.coco import COCO
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(coco128 / "instances.json"))
        dt = gt.loadRes(str(coco128 / "predictions" / "yolo-fastest-1.1-xl.json"))
    ds = qw.Dataset.from_coco(None, coco128 / "instances.json",
                              coco128 / "predictions" / "yolo-fastest-1.1-xl.json")
    for pid in (1, 500, 8035):
        ann = dt.anns[pid]
        row = ds.predictions.loc[pid]
        assert row["image_id"] == ann["image_id"] and row["score"] == ann["score"]
        assert [row["bbox_x"], row["bbox_y"], row["bbox_w"], row["bbox_h"]] == ann["bbox"]


def test_images_dir_may_be_none_for_evaluation(tmp_path):
    p = make_coco(tmp_path)
    ds = qw.Dataset.from_coco(None, p["annotations"], p["predictions"])
    assert ds.images["path"].isna().all() and len(ds.annotations) == 12


@pytest.mark.parametrize("content, field, words", [
    ("{not json", None, "not valid JSON"),
    (json.dumps({"annotations": [], "categories": []}), "images", "missing top-level key"),
    (json.dumps({"images": [], "categories": []}), "annotations", "missing top-level key"),
    (json.dumps({"images": {}, "annotations": [], "categories": []}), "images", "expected a list"),
    (json.dumps([1, 2]), None, "expected a COCO instances JSON object"),
])
def test_malformed_annotation_files_raise_one_clear_error(tmp_path, content, field, words):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(qw.DatasetError) as e:
        qw.Dataset.from_coco(None, path)
    assert str(path) in str(e.value) and words in str(e.value)
    assert e.value.field == field


def test_predictions_file_that_is_a_dict_is_refused(tmp_path):
    p = make_coco(tmp_path)
    bad = tmp_path / "preds.json"
    bad.write_text(json.dumps({"annotations": []}))
    with pytest.raises(qw.DatasetError, match="expected a list of predictions"):
        qw.Dataset.from_coco(p["images"], p["annotations"], bad)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(qw.DatasetError, match="not found"):
        qw.Dataset.from_coco(None, tmp_path / "nope.json")
    with pytest.raises(qw.DatasetError, match="images folder not found"):
        qw.Dataset.from_folder(tmp_path / "nowhere")


def test_bad_rows_are_skipped_with_a_counted_warning(tmp_path):
    p = make_coco(tmp_path)
    data = json.loads(p["annotations"].read_text())
    data["annotations"] += [
        {"id": 1, "image_id": 999, "category_id": 1, "bbox": [0, 0, 5, 5]},       # unknown image
        {"id": 2, "image_id": 1, "category_id": 77, "bbox": [0, 0, 5, 5]},        # unknown cat
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [0, 0, -5, 5]},        # negative w
        {"id": 4, "image_id": 1, "category_id": 1, "bbox": [0, "nan", 5, 5]},     # not a number
        {"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5]},            # 3 values
        {"id": 100, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]},       # duplicate id
    ]
    p["annotations"].write_text(json.dumps(data).replace('"nan"', "NaN"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = qw.Dataset.from_coco(p["images"], p["annotations"])
    texts = [str(w.message) for w in caught if issubclass(w.category, qw.DataWarning)]
    assert len(ds.annotations) == 12
    joined = "\n".join(texts)
    for words in ("unknown image_id", "unknown category_id", "zero or negative",
                  "not 4 finite numbers", "duplicate id"):
        assert words in joined
    assert all(str(p["annotations"]) in t for t in texts)


def test_bad_prediction_rows(tmp_path):
    p = make_coco(tmp_path)
    preds = json.loads(p["predictions"].read_text())
    preds += [{"image_id": 1, "category_id": 9, "bbox": [0, 0, 5, 5], "score": 0.5},
              {"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": -1},
              {"image_id": 55, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]
    p["predictions"].write_text(json.dumps(preds))
    with pytest.warns(qw.DataWarning):
        ds = qw.Dataset.from_coco(p["images"], p["annotations"], p["predictions"])
    assert len(ds.predictions) == 12
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert len(qw.Dataset.from_coco(p["images"], p["annotations"], empty).predictions) == 0


def test_unsafe_file_names_get_no_path(tmp_path):
    p = make_coco(tmp_path)
    data = json.loads(p["annotations"].read_text())
    data["images"][0]["file_name"] = "../../etc/passwd"
    data["images"][1]["file_name"] = "/etc/passwd"
    p["annotations"].write_text(json.dumps(data))
    ds = qw.Dataset.from_coco(p["images"], p["annotations"])
    assert ds.images.loc[1, "path"] is None and ds.images.loc[2, "path"] is None
    assert ds.images.loc[3, "path"] is not None


def test_folder_reads_sizes_after_exif_rotation(tmp_path):
    make_images(tmp_path / "imgs", n=3)
    im = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: displayed as 20 x 40
    im.save(tmp_path / "imgs" / "sub_rot.jpg", exif=exif.tobytes())
    ds = qw.Dataset.from_folder(tmp_path / "imgs")
    assert len(ds.images) == 4 and not ds.has_annotations
    row = ds.images[ds.images["file_name"] == "sub_rot.jpg"].iloc[0]
    assert (row["width"], row["height"]) == (20, 40)


def test_yolo_loader_denormalises_boxes_and_reads_confidence(tmp_path):
    make_images(tmp_path / "ds" / "images", n=2, size=(100, 50))
    labels = tmp_path / "ds" / "labels"
    labels.mkdir()
    (labels / "img_000.txt").write_text("0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.2 0.2\n")
    (labels / "img_001.txt").write_text("1 0.5 0.5 0.5 0.5\n0 0.5 0.5\n2 1.5 0.5 0.1 0.1\n")
    (tmp_path / "ds" / "classes.txt").write_text("cat\ndog\nbird\n")
    preds = tmp_path / "ds" / "preds"
    preds.mkdir()
    (preds / "img_000.txt").write_text("0 0.5 0.5 0.2 0.4 0.75\n")
    with pytest.warns(qw.DataWarning) as caught:
        ds = qw.Dataset.from_yolo(tmp_path / "ds" / "images", predictions_dir=preds)
    messages = " ".join(str(w.message) for w in caught)
    assert "not 5 fields" in messages and "img_001.txt:2" in messages
    assert "outside [0, 1]" in messages and "img_001.txt:3" in messages
    assert len(ds.annotations) == 3 and len(ds.predictions) == 1
    first = ds.annotations.iloc[0]
    assert first["category"] == "cat"
    assert np.allclose([first["bbox_x"], first["bbox_y"], first["bbox_w"], first["bbox_h"]],
                       [40, 15, 20, 20])
    assert ds.predictions.iloc[0]["score"] == 0.75
    assert list(ds.categories["name"]) == ["cat", "dog", "bird"]


def test_subset_keeps_labels_of_the_images(tmp_path):
    p = make_coco(tmp_path)
    ds = qw.Dataset.from_coco(p["images"], p["annotations"], p["predictions"]).subset([2, 3])
    assert list(ds.images.index) == [2, 3]
    assert set(ds.annotations["image_id"]) == {2, 3} and set(ds.predictions["image_id"]) == {2, 3}


def test_load_sample_is_the_bundled_redistributable_subset():
    ds = qw.load_sample()
    assert (len(ds.images), len(ds.annotations), len(ds.predictions)) == (33, 246, 1990)
    assert set(ds.images["license"]) <= {4, 5, 7}
    assert ds.images["path"].map(lambda p: __import__("os").path.exists(p)).all()
    attribution = qw.sample_paths()["attribution"].read_text()
    assert all(name in attribution for name in ds.images["file_name"])

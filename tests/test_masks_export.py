"""Export of masks and keypoints: COCO keeps segmentations and keypoints, YOLO writes the
segmentation format (normalised polygons)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from masks_data import keypoint_data
from PIL import Image

import quality_widgets as qw
from quality_widgets.data import masks
from quality_widgets.export import _bridged, yolo_segment


def shoelace(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def mask_dataset(tmp_path):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    blob = np.zeros((40, 50), bool)
    blob[10:20, 5:15] = True
    gt = {"images": [{"id": 1, "file_name": "a.png", "width": 50, "height": 40}],
          "annotations": [
              {"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 30, 20], "area": 250,
               "iscrowd": 0, "segmentation": [[5, 5, 15, 5, 15, 15, 5, 15],
                                              [25, 10, 35, 10, 35, 25]]},
              {"id": 2, "image_id": 1, "category_id": 2, "bbox": [5, 10, 10, 10], "area": 100,
               "iscrowd": 0, "segmentation": masks.uncompressed(blob)},
              {"id": 3, "image_id": 1, "category_id": 2, "bbox": [40, 30, 5, 5], "area": 25,
               "iscrowd": 0}],
          "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}
    preds = [{"image_id": 1, "category_id": 1, "segmentation": masks.encode(blob),
              "score": 0.7}]
    return qw.Dataset.from_coco(tmp_path / "images", gt, preds), gt, preds


def test_bridged_polygon_keeps_the_area():
    a = [0, 0, 4, 0, 4, 4, 0, 4]                        # area 16
    b = [10, 10, 13, 10, 13, 12]                         # area 3
    xy = _bridged([a, b])
    assert shoelace(xy) == pytest.approx(19.0)
    assert len(xy) == 4 + 3 + 2


def test_coco_export_keeps_masks_and_keypoints(tmp_path):
    ds, gt, preds = mask_dataset(tmp_path)
    out = qw.export(ds, format="coco", out=tmp_path / "out.json")
    back = json.loads(out.read_text())
    assert [a.get("segmentation") for a in back["annotations"]] == \
        [a.get("segmentation") for a in gt["annotations"]]
    res = qw.export(ds, format="coco", level="prediction", out=tmp_path / "res.json")
    assert json.loads(res.read_text())[0]["segmentation"] == preds[0]["segmentation"]
    kgt, kres = keypoint_data(0, n_images=3)
    kds = qw.Dataset.from_coco(None, kgt, kres)
    out = qw.export(kds, format="coco", out=tmp_path / "kp.json")
    back = qw.Dataset.from_coco(None, out)
    assert back.annotations["keypoints"].tolist() == kds.annotations["keypoints"].tolist()
    assert back.annotations["num_keypoints"].tolist() == \
        [a["num_keypoints"] for a in kgt["annotations"]]
    assert back.categories.loc[1, "skeleton"] == kgt["categories"][0]["skeleton"]
    res = qw.export(kds, format="coco", level="prediction", out=tmp_path / "kres.json")
    assert [r["keypoints"] for r in json.loads(res.read_text())] == \
        [r["keypoints"] for r in kres]


def test_yolo_segmentation_export(tmp_path):
    ds, _, _ = mask_dataset(tmp_path)
    out = qw.export(ds, format="yolo-seg", out=tmp_path / "yolo")
    lines = (out / "labels" / "a.txt").read_text().splitlines()
    assert len(lines) == 3
    rows = [np.array(line.split()[1:], dtype=float).reshape(-1, 2) for line in lines]
    assert [line.split()[0] for line in lines] == ["0", "1", "1"]
    # The two polygon parts, bridged: their areas (100 + 75) in normalised units.
    assert shoelace(rows[0] * [50, 40]) == pytest.approx(175, abs=1e-3)
    # The RLE blob (rows 10-19, columns 5-14) becomes its contour: the pixel centres' square.
    assert rows[1].min(axis=0) * [50, 40] == pytest.approx([5, 10])
    assert rows[1].max(axis=0) * [50, 40] == pytest.approx([14, 19])
    # No mask: the box's corners.
    np.testing.assert_allclose(rows[2] * [50, 40], [[40, 30], [45, 30], [45, 35], [40, 35]])
    assert (out / "classes.txt").read_text() == "a\nb\n"
    preds = qw.export(ds, format="yolo-seg", level="prediction", out=tmp_path / "yp")
    line = (preds / "labels" / "a.txt").read_text().split()
    assert line[0] == "0" and float(line[-1]) == 0.7


def test_yolo_segment_box_fallback_and_clip():
    xy = yolo_segment(None, [-5, 0, 10, 10], 20, 10)
    assert xy.tolist() == [[0.0, 0.0], [0.25, 0.0], [0.25, 1.0], [0.0, 1.0]]

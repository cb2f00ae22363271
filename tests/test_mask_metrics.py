"""Mask metrics (metrics/segmentation.py) and keypoint metrics (metrics/keypoints.py) against hand
computations on tiny arrays and pycocotools' mask API."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from masks_data import keypoint_data
from PIL import Image
from pycocotools import mask as mask_utils

import quality_widgets as qw
from quality_widgets.compute import pixelstats as px
from quality_widgets.compute.registry import registered_metrics
from quality_widgets.data import masks

MASK_METRICS = ["mask_area", "mask_fill", "mask_parts", "mask_brightness", "mask_contrast",
                "mask_redness", "mask_greenness", "mask_blueness", "mask_colorfulness"]


def builtin(name, level="object"):
    for m in registered_metrics(level):
        if m.name == name:
            return m.func
    raise KeyError(name)


def picture() -> np.ndarray:
    """8 x 10 RGB: red block rows 1-3 x columns 1-4, blue block rows 5-6 x columns 6-8, grey
    elsewhere."""
    img = np.full((8, 10, 3), 120, np.uint8)
    img[1:4, 1:5] = [200, 30, 20]
    img[5:7, 6:9] = [10, 40, 220]
    return img


def two_blobs() -> np.ndarray:
    mask = np.zeros((8, 10), bool)
    mask[1:4, 1:5] = True            # the red block: 12 pixels
    mask[5:7, 6:9] = True            # the blue block: 6 pixels
    return mask


def tiny_dataset(tmp_path, segmentations, predictions=None):
    (tmp_path / "images").mkdir(exist_ok=True)
    Image.fromarray(picture()).save(tmp_path / "images" / "a.png")
    anns = []
    for i, seg in enumerate(segmentations):
        anns.append({"id": i + 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 8],
                     "area": 80, "iscrowd": 0, **({"segmentation": seg} if seg else {})})
    gt = {"images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 8}],
          "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}
    return qw.Dataset.from_coco(tmp_path / "images", gt, predictions)


def test_mask_metrics_by_hand(tmp_path):
    """Two blobs (RLE), the red block alone (polygon), no mask: area, fill, parts, and the
    colour statistics of exactly the mask's pixels."""
    blobs = masks.uncompressed(two_blobs())
    red_polygon = [[1, 1, 5, 1, 5, 4, 1, 4]]               # pixel corners of the red block
    ds = tiny_dataset(tmp_path, [blobs, red_polygon, None])
    frames = qw.compute_metrics(ds, metrics=MASK_METRICS + ["object_redness"], workers=1,
                                cache_dir=False, progress=False)
    obj = frames.objects
    rle = mask_utils.frPyObjects(red_polygon, 8, 10)[0]
    red_mask = mask_utils.decode(rle).astype(bool)
    assert obj["mask_area"].tolist()[:2] == [18, int(mask_utils.area(rle))]
    assert obj["mask_fill"].iloc[0] == 18 / 80
    assert obj["mask_parts"].tolist()[:2] == [2, 1]
    img = picture()
    for row, mask in ((0, two_blobs()), (1, red_mask)):
        pixels = img[mask].reshape(-1, 1, 3)
        for name, fn in (("mask_brightness", px.brightness), ("mask_contrast", px.contrast),
                         ("mask_redness", px.redness), ("mask_blueness", px.blueness),
                         ("mask_greenness", px.greenness),
                         ("mask_colorfulness", px.colorfulness)):
            assert obj[name].iloc[row] == fn(pixels), name
    assert obj["mask_redness"].iloc[0] == 12 / 18 and obj["mask_blueness"].iloc[0] == 6 / 18
    assert obj["mask_brightness"].iloc[0] == pytest.approx(
        (12 * (0.299 * 200 + 0.587 * 30 + 0.114 * 20) + 6 * (0.299 * 10 + 0.587 * 40
                                                             + 0.114 * 220)) / 18 / 255)
    # Box versions see the grey background too.
    assert obj["object_redness"].iloc[0] == 12 / 80
    assert obj[MASK_METRICS].iloc[2].isna().all()           # no mask: NaN, no error
    assert obj["error"].isna().all()


def test_mask_parts_connectivity():
    fn = builtin("mask_parts")
    diagonal = np.zeros((4, 4), bool)
    diagonal[0, 0] = diagonal[1, 1] = True                   # corner-touching: one part
    apart = np.zeros((4, 4), bool)
    apart[0, 0] = apart[2, 2] = True
    row = {"image_height": 4, "image_width": 4, "bbox_x": 0, "bbox_y": 0, "bbox_w": 4,
           "bbox_h": 4}
    assert fn(None, dict(row, segmentation=masks.uncompressed(diagonal))) == 1
    assert fn(None, dict(row, segmentation=masks.uncompressed(apart))) == 2
    assert fn(None, dict(row, segmentation=masks.uncompressed(np.zeros((4, 4), bool)))) == 0
    assert fn(None, dict(row, segmentation=None)) is None
    with pytest.raises(ValueError, match="mask is 4 x 4 but its image 5 x 4"):
        fn(None, dict(row, image_height=5, segmentation=masks.uncompressed(apart)))


def test_connected_parts_from_runs_equal_scipy_label():
    """8-connected parts counted on the run lengths against scipy's labelling of the bitmap,
    on random small masks (corners, column ends, empty masks)."""
    from scipy import ndimage
    rng = np.random.default_rng(0)
    for _ in range(500):
        h, w = rng.integers(1, 9, 2)
        m = rng.random((h, w)) < rng.uniform(0.1, 0.7)
        counts = np.array(masks.uncompressed(m)["counts"])
        assert masks.connected_parts(counts, h) == \
            ndimage.label(m, structure=np.ones((3, 3), bool))[1]


def test_mask_metrics_for_predictions_and_cache_follows_the_mask(tmp_path):
    """Prediction masks get the same metrics; a changed mask with the same box is recomputed
    (the cache key holds the mask)."""
    red = masks.encode(two_blobs() & (np.arange(10)[None, :] < 5))
    preds = [{"image_id": 1, "category_id": 1, "segmentation": red, "bbox": [0, 0, 10, 8],
              "score": 0.9},
             {"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]
    cache = tmp_path / "cache"
    ds = tiny_dataset(tmp_path, [None], preds)
    frames = qw.compute_metrics(ds, metrics=["mask_redness", "mask_area"], workers=1,
                                cache_dir=cache, progress=False)
    assert frames.predictions["mask_redness"].iloc[0] == 1.0
    assert frames.predictions["mask_area"].iloc[0] == 12
    assert pd.isna(frames.predictions["mask_area"].iloc[1])
    blue = masks.encode(two_blobs() & (np.arange(10)[None, :] >= 5))
    preds[0]["segmentation"] = blue
    ds2 = tiny_dataset(tmp_path, [None], preds)
    again = qw.compute_metrics(ds2, metrics=["mask_redness", "mask_area"], workers=1,
                               cache_dir=cache, progress=False)
    assert again.predictions["mask_redness"].iloc[0] == 0.0
    assert again.predictions["mask_area"].iloc[0] == 6


def test_mask_metrics_on_coco128_labels_equal_pycocotools_area(coco128):
    gt = json.loads((coco128 / "instances.json").read_text())
    keep = {im["id"] for im in gt["images"][:6]}
    sub = dict(gt, images=[im for im in gt["images"] if im["id"] in keep],
               annotations=[a for a in gt["annotations"] if a["image_id"] in keep])
    ds = qw.Dataset.from_coco(coco128 / "images", sub)
    frames = qw.compute_metrics(ds, metrics=["mask_area", "mask_fill", "mask_redness",
                                             "object_redness"],
                                workers=1, cache_dir=False, progress=False)
    images = {im["id"]: im for im in sub["images"]}
    want = []
    for a in sub["annotations"]:
        im = images[a["image_id"]]
        s = a["segmentation"]
        rle = mask_utils.merge(mask_utils.frPyObjects(s, im["height"], im["width"])) \
            if isinstance(s, list) else mask_utils.frPyObjects(s, im["height"], im["width"])
        want.append(int(mask_utils.area(rle)))
    assert frames.objects["mask_area"].tolist() == want
    fill = frames.objects["mask_fill"]
    assert ((fill > 0.05) & (fill < 1.1)).all()
    assert frames.objects["error"].isna().all()


# ---- keypoints ------------------------------------------------------------------------------
def kp_dataset():
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
          "annotations": [
              # 3 keypoints: visible, occluded, missing; limbs 1-2 (length 5) and 2-3 (missing)
              {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 50], "area": 900,
               "iscrowd": 0, "num_keypoints": 2, "keypoints": [0, 0, 2, 3, 4, 1, 0, 0, 0]},
              {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 50], "area": 900,
               "iscrowd": 0, "num_keypoints": 3, "keypoints": [0, 0, 2, 3, 4, 2, 3, 24, 2]},
              {"id": 3, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "area": 25,
               "iscrowd": 0}],
          "categories": [{"id": 1, "name": "tri", "keypoints": ["a", "b", "c"],
                          "skeleton": [[1, 2], [2, 3]]}]}
    preds = [{"image_id": 1, "category_id": 1, "keypoints": [0, 0, 0.9, 3, 4, 0.1, 3, 24, 0.5],
              "score": 0.8}]
    return qw.Dataset.from_coco(None, gt, preds)


def test_keypoint_metrics_by_hand():
    ds = kp_dataset()
    frames = qw.compute_metrics(ds, metrics=["keypoints_labelled", "keypoints_occluded_fraction",
                                             "keypoints_missing", "skeleton_length_ratio",
                                             "mean_keypoint_score", "min_keypoint_score",
                                             "occluded_predicted"],
                                workers=1, cache_dir=False, progress=False)
    obj, pred = frames.objects, frames.predictions
    assert obj["keypoints_labelled"].tolist()[:2] == [2, 3]
    assert obj["keypoints_occluded_fraction"].tolist()[:2] == [0.5, 0.0]
    assert obj["keypoints_missing"].tolist()[:2] == [1, 0]
    # Object 1: only limb 1-2 labelled -> NaN; object 2: limbs 5 and hypot(0, 20) = 20.
    assert np.isnan(obj["skeleton_length_ratio"].iloc[0])
    assert obj["skeleton_length_ratio"].iloc[1] == 20 / 5
    assert obj.iloc[2][["keypoints_labelled", "keypoints_missing"]].isna().all()
    assert pred["mean_keypoint_score"].iloc[0] == pytest.approx(1.5 / 3)
    assert pred["min_keypoint_score"].iloc[0] == 0.1
    assert pred["occluded_predicted"].iloc[0] == 1
    assert pred["skeleton_length_ratio"].iloc[0] == 20 / 5


def test_keypoint_metrics_on_synthetic_people():
    gt, results = keypoint_data(0, n_images=6)
    ds = qw.Dataset.from_coco(None, gt, results)
    frames = qw.compute_metrics(ds, metrics=["keypoints_labelled", "skeleton_length_ratio",
                                             "occluded_predicted"],
                                workers=1, cache_dir=False, progress=False)
    labelled = frames.objects["keypoints_labelled"]
    assert labelled.tolist() == ds.annotations["num_keypoints"].astype(float).tolist()
    ratio = frames.objects["skeleton_length_ratio"].dropna()
    assert len(ratio) > 10 and (ratio >= 1).all() and ratio.median() < 30
    scores = np.array([r["keypoints"][2::3] for r in results])
    assert frames.predictions["occluded_predicted"].tolist() == \
        (scores < 0.2).sum(axis=1).astype(float).tolist()

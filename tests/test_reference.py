"""qw.compare_to_reference and qw.reference.grabcut: hand-made masks and boxes, pycocotools'
mask IoU, and GrabCut on a synthetic picture with a known object."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

import quality_widgets as qw
from quality_widgets.data import masks


def rect_mask(h, w, r0, r1, c0, c1):
    m = np.zeros((h, w), bool)
    m[r0:r1, c0:c1] = True
    return m


def labels(tmp_path=None, picture=None):
    """One 40 x 60 image: a label with a mask (rows 10-29, columns 10-29), a box-only label,
    a crowd region (columns 40-59)."""
    images_dir = None
    if tmp_path is not None:
        images_dir = tmp_path / "images"
        images_dir.mkdir()
        Image.fromarray(picture).save(images_dir / "a.png")
    gt = {"images": [{"id": 1, "file_name": "a.png", "width": 60, "height": 40}],
          "annotations": [
              {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20],
               "area": 400, "iscrowd": 0,
               "segmentation": masks.uncompressed(rect_mask(40, 60, 10, 30, 10, 30))},
              {"id": 2, "image_id": 1, "category_id": 2, "bbox": [0, 0, 8, 8], "area": 64,
               "iscrowd": 0},
              {"id": 3, "image_id": 1, "category_id": 1, "bbox": [40, 0, 20, 40],
               "area": 800, "iscrowd": 1,
               "segmentation": masks.uncompressed(rect_mask(40, 60, 0, 40, 40, 60))}],
          "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}
    return qw.Dataset.from_coco(images_dir, gt)


def test_compare_to_reference_by_hand():
    ds = labels()
    ref_a = rect_mask(40, 60, 10, 30, 15, 30)             # 300 of label 1's 400 pixels
    reference = [
        {"image_id": 1, "category_id": 1, "segmentation": masks.encode(ref_a), "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 8, 4], "score": 0.8},   # box only
        {"image_id": 1, "category_id": 2, "segmentation": masks.encode(
            rect_mask(40, 60, 5, 15, 45, 55)), "score": 0.7},      # inside the crowd region
        {"image_id": 1, "category_id": 2, "bbox": [30, 32, 6, 6], "score": 0.6},  # unlabelled
        {"image_id": 1, "category_id": 2, "bbox": [30, 32, 6, 6], "score": 0.1}]
    cmp = qw.compare_to_reference(ds, reference, min_score=0.5)
    lab = cmp.labels
    rle_a = mask_utils.encode(np.asfortranarray(ref_a.astype(np.uint8)))
    rle_1 = mask_utils.encode(np.asfortranarray(rect_mask(40, 60, 10, 30, 10, 30)
                                                .astype(np.uint8)))
    assert lab.loc[1, "reference_iou"] == mask_utils.iou([rle_a], [rle_1], [0])[0, 0] == 0.75
    assert lab.loc[1, "reference_class"] == "a" and bool(lab.loc[1, "reference_agrees"])
    # Box-only label against the box reference: box IoU 32 / 64, but the class differs.
    assert lab.loc[2, "reference_iou"] == 0.5 and lab.loc[2, "reference_class"] == "a"
    assert not lab.loc[2, "reference_agrees"]
    assert cmp.reference["unlabelled"].tolist() == [False, False, False, True]
    assert cmp.reference.index.tolist() == [1, 2, 3, 4]     # the 0.1 one left out
    assert cmp.summary == {"labels": 3, "labels_agreeing": 1, "labels_without_match": 1,
                           "reference_objects": 4, "unlabelled": 1}


def test_class_agnostic_reference_and_add_to():
    ds = labels()
    reference = [{"image_id": 1, "segmentation": masks.encode(rect_mask(40, 60, 10, 30, 10, 30))}]
    cmp = qw.compare_to_reference(ds, reference)
    assert cmp.labels.loc[1, "reference_iou"] == 1.0
    assert bool(cmp.labels.loc[1, "reference_agrees"])        # no class: IoU alone decides
    assert cmp.labels.loc[1, "reference_class"] is None
    frames = qw.MetricFrames(images=ds.images.copy(), objects=ds.annotations[["image_id"]].copy(),
                             predictions=ds.predictions.copy(), dataset=ds)
    cmp.add_to(frames)
    assert frames.objects["reference_iou"].tolist()[0] == 1.0


def test_grabcut_finds_a_plain_object(tmp_path):
    """A red disc on a noisy grey background: the box-only prediction and a sloppy label
    polygon both come back as (nearly) the disc."""
    rng = np.random.default_rng(0)
    picture = np.clip(rng.normal(128, 12, (40, 60, 3)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:40, :60]
    disc = (yy - 20) ** 2 + (xx - 20) ** 2 <= 8 ** 2
    picture[disc] = [220, 30, 30]
    ds = labels(tmp_path, picture)
    ds.annotations.at[1, "segmentation"] = [[11, 11, 29, 11, 29, 29, 11, 29]]   # a square
    out = qw.reference.grabcut(ds)
    assert [r["annotation_id"] for r in out] == [1, 2]          # the crowd region is skipped
    got = masks.decode(out[0]["segmentation"], 40, 60)
    iou = (got & disc).sum() / (got | disc).sum()
    assert iou > 0.8, iou
    cmp = qw.compare_to_reference(ds, out)
    square = masks.decode(ds.annotations.at[1, "segmentation"], 40, 60)
    assert cmp.labels.loc[1, "reference_iou"] == pytest.approx(
        (got & square).sum() / (got | square).sum())
    preds = ds.with_predictions([{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20],
                                  "score": 0.9}])
    boxed = qw.reference.grabcut(preds, level="prediction")
    got = masks.decode(boxed[0]["segmentation"], 40, 60)
    assert (got & disc).sum() / (got | disc).sum() > 0.8
    assert boxed[0]["score"] == 0.9 and boxed[0]["prediction_id"] == 1
    assert qw.reference.grabcut(ds) == out                      # deterministic

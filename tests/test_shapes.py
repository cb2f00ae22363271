"""Polygon shape metrics: hand-computed vertices and solidity, Hu moments of a disk, RLE skipped
with a reason, and shape_outlier ranking deliberately distorted polygons first in their class."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import quality_widgets as qw
from quality_widgets.compute.registry import registered_metrics

SHAPE_METRICS = ["polygon_vertices", "polygon_solidity", "shape_outlier"]


def _shape_module():
    funcs = {m.name: m.func for m in registered_metrics("object")}
    import sys
    return sys.modules[funcs["shape_outlier"].__module__]


def star(cx, cy, r_out, r_in, points=10, stretch=1.0):
    t = np.linspace(0, 2 * np.pi, 2 * points, endpoint=False)
    r = np.where(np.arange(2 * points) % 2 == 0, r_out, r_in)
    return np.c_[cx + r * np.cos(t), cy + stretch * r * np.sin(t)].ravel().tolist()


def _dataset(tmp_path, segmentations, category_ids):
    images = [{"id": 1, "file_name": "1.jpg", "width": 1000, "height": 1000}]
    cats = [{"id": 1, "name": "blob"}, {"id": 2, "name": "rare"}]
    anns = []
    for i, (seg, cat) in enumerate(zip(segmentations, category_ids)):
        anns.append({"id": i + 1, "image_id": 1, "category_id": cat, "bbox": [1, 1, 50, 50],
                     "area": 100, "iscrowd": int(isinstance(seg, dict)), "segmentation": seg})
    (tmp_path / "instances.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": cats}))
    return qw.Dataset.from_coco(None, tmp_path / "instances.json")


def _objects(ds):
    return qw.compute_metrics(ds, metrics=SHAPE_METRICS, cache_dir=False, progress=False,
                              workers=1).objects


def test_vertices_and_solidity_by_hand(tmp_path):
    square = [[0, 0, 10, 0, 10, 10, 0, 10]]
    ell = [[0, 0, 20, 0, 20, 10, 10, 10, 10, 20, 0, 20]]   # 3 of the 4 cells of a 20 x 20
    two_parts = [[0, 0, 10, 0, 10, 10, 0, 10], [20, 0, 30, 0, 30, 10, 20, 10]]
    rle = {"size": [100, 100], "counts": "abc"}
    objects = _objects(_dataset(tmp_path, [square, ell, two_parts, rle], [1, 1, 1, 1]))
    np.testing.assert_allclose(objects["polygon_vertices"], [4, 6, 8, np.nan])
    # L: area 300; hull cuts the missing cell's corner diagonally: 400 - 50 = 350
    # two squares 10 apart: area 200, hull 30 x 10 = 300
    np.testing.assert_allclose(objects["polygon_solidity"], [1.0, 300 / 350, 200 / 300, np.nan])
    assert objects["shape_skip_reason"].tolist()[3] == "RLE mask, not a polygon"
    assert objects["shape_outlier"].isna().all()     # 3 polygons: fewer than 5 in the class
    assert "fewer than 5 polygons" in objects["shape_skip_reason"].iloc[0]


def test_hu_moments_of_a_disk():
    shapes = _shape_module()
    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    disk = [np.c_[50 + 40 * np.cos(t), 50 + 40 * np.sin(t)]]
    hu = shapes.hu_moments(shapes.rasterize(disk))
    assert hu[0] == pytest.approx(1 / (2 * np.pi), rel=0.01)   # h1 of a disk: 1 / (2 pi)
    assert np.all(np.abs(hu[1:]) < 1e-4)                       # the others vanish
    # invariant to scale and rotation (up to rasterisation)
    rotated = [np.c_[300 + 5 * np.cos(t + 1), 7 + 5 * np.sin(t + 1)]]
    assert shapes.hu_moments(shapes.rasterize(rotated))[0] == pytest.approx(hu[0], rel=0.01)


def test_distorted_polygon_ranks_first_in_a_synthetic_class(tmp_path):
    rng = np.random.default_rng(0)
    ellipses = []
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    for _ in range(15):
        a, b = rng.uniform(20, 30), rng.uniform(35, 50)
        noise = rng.normal(1, 0.03, t.size)
        ellipses.append([np.c_[100 + a * noise * np.cos(t), 100 + b * noise * np.sin(t)]
                         .ravel().tolist()])
    odd = [[40, 100, 160, 98, 160, 101, 40, 103]]      # a sliver: 120 x 3-5 px
    segs = ellipses[:7] + [odd] + ellipses[7:] + [[[0, 0, 5, 0, 5, 5]]]
    cats = [1] * 16 + [2]
    objects = _objects(_dataset(tmp_path, segs, cats))
    blob = objects[objects["category"] == "blob"]
    assert blob["shape_outlier"].idxmax() == 8             # the sliver (annotation id 8)
    others = blob["shape_outlier"].drop(8)
    assert blob.loc[8, "shape_outlier"] > 3 * others.max()
    assert objects.loc[17, "shape_skip_reason"].startswith("fewer than 5 polygons")


def test_distorted_person_ranks_first_in_coco128(coco128):
    ds = qw.Dataset.from_coco(None, coco128 / "instances.json")
    ann = ds.annotations
    person = ann[ann["category"] == "person"].iloc[0]
    added = []
    for k, seg in enumerate([star(300, 200, 100, 25, stretch=1.8),       # star-shaped
                             [10, 10, 400, 12, 400, 16, 10, 14]]):        # very thin
        row = person.copy()
        row["segmentation"] = [seg]
        added.append(row.rename(10 ** 9 + k))
    annotations = pd.concat([ann, pd.DataFrame(added)])
    annotations.index.name = "annotation_id"
    objects = _objects(replace(ds, annotations=annotations))
    people = objects[objects["category"] == "person"].sort_values("shape_outlier",
                                                                  ascending=False)
    assert set(people.index[:2]) == {10 ** 9, 10 ** 9 + 1}
    crowd = objects[objects["iscrowd"]]
    assert len(crowd) == 10 and crowd["shape_outlier"].isna().all()
    assert (crowd["shape_skip_reason"] == "RLE mask, not a polygon").all()
    assert crowd["polygon_vertices"].isna().all()

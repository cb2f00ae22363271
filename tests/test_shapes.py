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
    for i, (seg, cat) in enumerate(zip(segmentations, category_ids, strict=True)):
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
    hu = shapes.hu_moments(shapes.polygon_moments(disk))
    assert hu[0] == pytest.approx(1 / (2 * np.pi), rel=1e-3)   # h1 of a disk: 1 / (2 pi)
    assert np.all(np.abs(hu[1:]) < 1e-9)                       # the others vanish
    # invariant to translation, scale and rotation (exactly, up to rounding)
    rotated = [np.c_[300 + 5 * np.cos(t + 1), 7 + 5 * np.sin(t + 1)]]
    assert shapes.hu_moments(shapes.polygon_moments(rotated))[0] == pytest.approx(hu[0],
                                                                                 rel=1e-12)


def test_polygon_moments_of_a_rectangle_and_a_triangle_by_hand():
    shapes = _shape_module()
    w, h = 30.0, 10.0
    # clockwise on purpose: orientation must not matter
    m = shapes.polygon_moments([np.array([[5, 2], [5, 2 + h], [5 + w, 2 + h], [5 + w, 2]])])
    assert m[0] == pytest.approx(w * h)
    hu = shapes.hu_moments(m)
    # eta20 = mu20 / m00^2 = (w^3 h / 12) / (w h)^2 = w / (12 h); eta02 = h / (12 w)
    assert hu[0] == pytest.approx(w / (12 * h) + h / (12 * w), rel=1e-12)
    assert hu[1] == pytest.approx((w / (12 * h) - h / (12 * w)) ** 2, rel=1e-12)
    assert np.all(np.abs(hu[2:]) < 1e-15)                     # centrally symmetric
    # right triangle (0,0), (a,0), (0,b): mu20 = a^3 b / 36, mu11 = -a^2 b^2 / 72,
    # mu30 = a^4 b / 270 (integrals over the triangle about its centroid)
    a, b = 6.0, 4.0
    m = shapes.polygon_moments([np.array([[0, 0], [a, 0], [0, b]])])
    A = a * b / 2
    eta20, eta02, eta11 = a ** 3 * b / 36 / A ** 2, a * b ** 3 / 36 / A ** 2, \
        -a * a * b * b / 72 / A ** 2
    hu = shapes.hu_moments(m)
    assert hu[0] == pytest.approx(eta20 + eta02, rel=1e-12)
    assert hu[1] == pytest.approx((eta20 - eta02) ** 2 + 4 * eta11 ** 2, rel=1e-12)


def test_polygon_moments_match_a_fine_rasterisation_of_coco_polygons(coco128):
    """Independent oracle: the pixel moments of the polygon drawn by PIL at 2,000 px."""
    from PIL import Image, ImageDraw
    shapes = _shape_module()
    ds = qw.Dataset.from_coco(None, coco128 / "instances.json")
    polygons = [shapes.polygon_parts(s) for s in ds.annotations["segmentation"]]
    polygons = [p for p in polygons if p][::90]
    for parts in polygons:
        pts = np.vstack(parts)
        lo, extent = pts.min(0), (pts.max(0) - pts.min(0)).max()
        scale, size = 1999 / extent, 2002
        canvas = Image.new("L", (size, size), 0)
        for part in parts:
            ImageDraw.Draw(canvas).polygon(((part - lo) * scale + 1).ravel().tolist(), fill=1)
        ys, xs = np.nonzero(np.asarray(canvas))
        x, y = xs - xs.mean(), ys - ys.mean()
        raw = [xs.size, 0, 0, (x * x).sum(), (x * y).sum(), (y * y).sum(), (x ** 3).sum(),
               (x * x * y).sum(), (x * y * y).sum(), (y ** 3).sum()]
        expected = shapes.hu_moments(np.array(raw, dtype=float))
        got = shapes.hu_moments(shapes.polygon_moments(parts))
        np.testing.assert_allclose(got[:2], expected[:2], rtol=0.02, atol=1e-5)


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

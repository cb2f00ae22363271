"""Generated mask and keypoint data for tests and benchmarks (pycocotools is the oracle).

- :func:`mask_results`: mask predictions made from COCO labels (coco128's polygons and crowd
  RLE): polygons jittered, some converted to compressed RLE, some objects dropped (missed),
  some duplicated, some with the wrong class, and false positives (random polygons).
- :func:`keypoint_data`: a synthetic person-keypoints set (17 COCO keypoints with visibility
  flags and plausible skeletons, unlabelled and crowd persons) and its predictions.
"""
from __future__ import annotations

import copy

import numpy as np

#: COCO person keypoints and skeleton (1-based limbs), as in person_keypoints_*.json.
KEYPOINT_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                  "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                  "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                  "right_ankle"]
SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7],
            [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6],
            [5, 7]]
# A standing person in a unit box (x right, y down), per keypoint.
_POSE = np.array([[.50, .08], [.53, .06], [.47, .06], [.57, .08], [.43, .08], [.65, .22],
                  [.35, .22], [.72, .38], [.28, .38], [.75, .52], [.25, .52], [.60, .55],
                  [.40, .55], [.62, .75], [.38, .75], [.63, .95], [.37, .95]])


def _rle(segmentation, h, w):
    from pycocotools import mask
    if isinstance(segmentation, list):
        rle = mask.merge(mask.frPyObjects(segmentation, h, w))
    elif isinstance(segmentation["counts"], list):
        rle = mask.frPyObjects(segmentation, h, w)
    else:
        rle = dict(segmentation)
    counts = rle["counts"]
    return {"size": [int(v) for v in rle["size"]],
            "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def _random_polygon(rng, cx, cy, r, n=None):
    n = n or int(rng.integers(5, 12))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = r * rng.uniform(0.5, 1.0, n)
    return np.c_[cx + radii * np.cos(angles), cy + radii * np.sin(angles)].ravel()


def mask_results(instances: dict, seed: int = 0, rle_fraction: float = 0.4,
                 with_bbox: bool = True, all_rle: bool = False) -> list:
    """Mask predictions for the labels of ``instances`` (a COCO instances dict).

    ``with_bbox``: every result has a ``bbox`` (the jittered polygon's extent), so
    pycocotools' loadRes takes its bbox branch (area = box area) and accepts polygons;
    without, every segmentation is a compressed RLE (its only segm branch) unless
    ``all_rle`` is False (polygons without a box: our loader's extension, which pycocotools
    cannot read). Scores are on a 0.01 grid (ties)."""
    rng = np.random.default_rng(seed)
    images = {im["id"]: im for im in instances["images"]}
    cats = [c["id"] for c in instances["categories"]]
    out = []

    def add(image_id, cat, poly_or_rle, score, h, w):
        if isinstance(poly_or_rle, dict):
            seg = poly_or_rle
        elif all_rle or rng.random() < rle_fraction:
            seg = _rle(poly_or_rle, h, w)
        else:
            seg = [list(map(float, np.round(p, 2))) for p in poly_or_rle]
        entry = {"image_id": image_id, "category_id": int(cat), "segmentation": seg,
                 "score": float(round(score, 2))}
        if with_bbox:
            if isinstance(seg, dict):
                from pycocotools import mask
                box = [float(v) for v in mask.toBbox(
                    {"size": seg["size"], "counts": seg["counts"].encode()})]
            else:
                xy = np.concatenate([np.reshape(p, (-1, 2)) for p in seg])
                x0, y0 = xy.min(axis=0)
                x1, y1 = xy.max(axis=0)
                box = [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
            entry["bbox"] = box
        out.append(entry)

    for ann in instances["annotations"]:
        im = images[ann["image_id"]]
        h, w = im["height"], im["width"]
        seg = ann.get("segmentation")
        if ann.get("iscrowd"):
            # A detection inside the crowd region (ignored) and one across it.
            x, y, bw, bh = ann["bbox"]
            for _ in range(int(rng.integers(1, 3))):
                poly = _random_polygon(rng, x + rng.uniform(0.2, 0.8) * bw,
                                       y + rng.uniform(0.2, 0.8) * bh, min(bw, bh) * 0.3)
                add(ann["image_id"], ann["category_id"], [np.clip(poly, 0, max(h, w))],
                    rng.uniform(0.05, 0.9), h, w)
            continue
        if not isinstance(seg, list) or rng.random() < 0.1:       # missed
            continue
        scale = np.sqrt(max(ann["area"], 1.0))
        for copy_i in range(1 + int(rng.random() < 0.15)):       # some duplicates
            jitter = 0.04 if copy_i == 0 else 0.12
            polys = [np.clip(np.asarray(p, float) + rng.normal(0, jitter * scale, len(p)),
                             0, None) for p in seg]
            cat = ann["category_id"] if rng.random() > 0.07 else int(rng.choice(cats))
            score = rng.beta(5, 2) if copy_i == 0 else rng.beta(2, 4)
            add(ann["image_id"], cat, polys, score, h, w)
    for im in instances["images"]:                                # false positives
        h, w = im["height"], im["width"]
        for _ in range(int(rng.integers(0, 4))):
            r = float(np.exp(rng.uniform(np.log(4), np.log(min(h, w) / 3))))
            poly = _random_polygon(rng, rng.uniform(r, w - r), rng.uniform(r, h - r), r)
            add(im["id"], int(rng.choice(cats)), [poly], rng.beta(1.2, 5), h, w)
    return out


def keypoint_data(seed: int = 0, n_images: int = 40) -> tuple[dict, list]:
    """(instances dict, results list) of synthetic people with 17 COCO keypoints.

    Labels: visibility 2 (visible), 1 (occluded) or 0 (not labelled, x = y = 0), a few persons
    with no labelled keypoint (ignored), a few crowd regions; a second category without
    keypoints. Predictions: jittered keypoints (score per keypoint in the v slot), duplicates,
    false positives, and more than 20 detections in one image (pycocotools keeps 20)."""
    rng = np.random.default_rng(seed)
    images, anns, results = [], [], []
    cats = [{"id": 1, "name": "person", "supercategory": "person",
             "keypoints": KEYPOINT_NAMES, "skeleton": SKELETON},
            {"id": 2, "name": "robot", "supercategory": "person",
             "keypoints": KEYPOINT_NAMES, "skeleton": SKELETON}]
    ann_id = 1
    for i in range(n_images):
        w, h = 640, int(rng.choice([427, 480]))
        image_id = 2 * i + 1
        images.append({"id": image_id, "file_name": f"{image_id:06d}.jpg", "width": w,
                       "height": h})
        n_people = 25 if i == 0 else int(rng.integers(0, 6))
        for _ in range(n_people):
            bh = float(np.exp(rng.uniform(np.log(20), np.log(h * 0.9))))
            bw = bh * rng.uniform(0.35, 0.6)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            pts = _POSE * [bw, bh] + [x, y] + rng.normal(0, 0.03, (17, 2)) * [bw, bh]
            crowd = rng.random() < 0.04
            v = rng.choice([0, 1, 2], size=17, p=[0.25, 0.2, 0.55])
            if crowd or rng.random() < 0.08:
                v[:] = 0
            kp = np.c_[np.where(v > 0, np.round(pts[:, 0], 1), 0),
                       np.where(v > 0, np.round(pts[:, 1], 1), 0), v]
            cat = 1 if rng.random() > 0.1 else 2
            area = round(float(bw * bh * rng.uniform(0.4, 0.7)), 2)
            anns.append({"id": ann_id, "image_id": image_id, "category_id": cat,
                         "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)],
                         "area": area, "iscrowd": int(crowd),
                         "num_keypoints": int((v > 0).sum()),
                         "keypoints": [float(c) for c in kp.ravel()]})
            ann_id += 1
            if crowd or rng.random() < 0.1:
                continue
            for d in range(1 + int(rng.random() < 0.2)):
                noise = rng.normal(0, (0.02 if d == 0 else 0.08) * bh, (17, 2))
                p = pts + noise
                scores = rng.uniform(0.05, 1.0, 17)
                dcat = cat if rng.random() > 0.05 else 3 - cat
                results.append({"image_id": image_id, "category_id": dcat,
                                "keypoints": [float(round(c, 2)) for c in
                                              np.c_[p, scores].ravel()],
                                "score": float(round(rng.beta(5, 2) if d == 0 else
                                                     rng.beta(2, 4), 2))})
        for _ in range(int(rng.integers(0, 3))):                  # false positives
            bh = float(rng.uniform(30, h * 0.8))
            bw = bh * 0.45
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            p = _POSE * [bw, bh] + [x, y] + rng.normal(0, 0.05, (17, 2)) * bh
            results.append({"image_id": image_id, "category_id": int(rng.integers(1, 3)),
                            "keypoints": [float(round(c, 2)) for c in
                                          np.c_[p, rng.uniform(0, 1, 17)].ravel()],
                            "score": float(round(rng.beta(1.2, 5), 2))})
    return {"images": images, "annotations": anns, "categories": cats}, results


def with_keypoint_boxes(results: list) -> list:
    """The results with a ``bbox`` each (the keypoints' extent grown by 10%): pycocotools'
    loadRes then takes its bbox branch (area = box area)."""
    out = copy.deepcopy(results)
    for r in out:
        x, y = np.asarray(r["keypoints"][0::3]), np.asarray(r["keypoints"][1::3])
        w, h = x.max() - x.min(), y.max() - y.min()
        r["bbox"] = [float(x.min() - 0.05 * w), float(y.min() - 0.05 * h), float(1.1 * w),
                     float(1.1 * h)]
    return out

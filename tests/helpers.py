"""Small generated datasets for tests (no ../shared needed)."""
from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image


def make_images(folder: Path, n: int = 6, size=(64, 48), seed: int = 0) -> list[str]:
    """n JPEG/PNG images of varied brightness and colour; returns the file names."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        w, h = size
        base = rng.integers(0, 256, size=3)
        arr = np.clip(base + rng.normal(0, 20 + 10 * i, size=(h, w, 3)), 0, 255).astype(np.uint8)
        arr[h // 4: h // 2, w // 4: w // 2] = [max(0, 255 - 30 * i), 20, 20]
        name = f"img_{i:03d}.png" if i % 2 else f"img_{i:03d}.jpg"
        Image.fromarray(arr).save(folder / name, quality=95)
        names.append(name)
    return names


def make_coco(folder: Path, n: int = 6, size=(64, 48), predictions: bool = True,
              seed: int = 0) -> dict:
    """A small COCO dataset on disk: images/, instances.json, predictions.json."""
    names = make_images(folder / "images", n, size, seed)
    w, h = size
    images = [{"id": i + 1, "file_name": name, "width": w, "height": h}
              for i, name in enumerate(names)]
    cats = [{"id": 1, "name": "red thing", "supercategory": "thing"},
            {"id": 2, "name": "other", "supercategory": "thing"}]
    anns, preds = [], []
    aid = 100
    for im in images:
        anns.append({"id": aid, "image_id": im["id"], "category_id": 1,
                     "bbox": [w / 4, h / 4, w / 4, h / 4], "area": w * h / 16, "iscrowd": 0})
        anns.append({"id": aid + 1, "image_id": im["id"], "category_id": 2,
                     "bbox": [2.5, 3.0, 10.0, 8.0], "area": 80.0, "iscrowd": 0})
        aid += 10
        preds.append({"image_id": im["id"], "category_id": 1,
                      "bbox": [w / 4 + 1, h / 4, w / 4, h / 4], "score": 0.9})
        preds.append({"image_id": im["id"], "category_id": 2,
                      "bbox": [30.0, 20.0, 10.0, 10.0], "score": 0.3})
    (folder / "instances.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": cats}))
    (folder / "predictions.json").write_text(json.dumps(preds))
    return {"images": folder / "images", "annotations": folder / "instances.json",
            "predictions": (folder / "predictions.json") if predictions else None}


def make_yolo(folder: Path, n: int = 4, size=(64, 48), class_names=("cat", "dog"),
              classes_file: bool = True, seed: int = 0) -> dict:
    """A small YOLO dataset on disk: images/, labels/<stem>.txt (two boxes per image, classes
    0 and 1) and, with ``classes_file``, classes.txt beside images/ and labels/."""
    names = make_images(folder / "images", n, size, seed)
    labels = folder / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    for name in names:
        (labels / (Path(name).stem + ".txt")).write_text(
            "0 0.375 0.375 0.25 0.25\n1 0.2 0.2 0.15 0.15\n")
    if classes_file:
        (folder / "classes.txt").write_text("".join(f"{c}\n" for c in class_names))
    return {"images": folder / "images", "labels": labels,
            "classes": (folder / "classes.txt") if classes_file else None}


def pycocotools_stats(ann_file, res_file, image_ids=None, area_values=None, area_range=None,
                      iou_type="bbox", cat_ids=None):
    """pycocotools' numbers (12; 10 for keypoints); ``area_values`` = (per annotation id, per
    result position) replaces every ``area`` (NaN by 1e300) and ``area_range`` becomes
    ``areaRng``; ``image_ids``, ``cat_ids``: ``params.imgIds``, ``params.catIds``. The areas
    are replaced after pycocotools computed its IoUs: OKS scales by the GT area (box and mask
    IoU do not read it), so only the range test reads the values."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_file))
        dt = gt.loadRes(str(res_file))
        ev = COCOeval(gt, dt, iou_type)
        if image_ids is not None:
            ev.params.imgIds = sorted(int(i) for i in image_ids)
        if cat_ids is not None:
            ev.params.catIds = sorted(int(c) for c in cat_ids)
        if area_range is not None:
            lo, hi = area_range
            ev.params.areaRng = [[lo, np.nextafter(hi, -np.inf)]]
            ev.params.areaRngLbl = ["all"]
        ev.evaluate()
        if area_values is not None:
            ann_values, pred_values = area_values
            for aid, v in ann_values.items():
                gt.anns[aid]["area"] = 1e300 if np.isnan(v) else float(v)
            for pid, v in pred_values.items():
                dt.anns[pid]["area"] = 1e300 if np.isnan(v) else float(v)
            p = ev.params
            ev.evalImgs = [ev.evaluateImg(i, c, a, p.maxDets[-1]) for c in p.catIds
                           for a in p.areaRng for i in p.imgIds]
        ev.accumulate()
        ev.summarize()
    return ev


def pycocotools_eval(gt: dict, results: list, iou_type: str = "bbox", img_ids=None,
                     area_rng=None, ann_values=None, pred_values=None, sigmas=None):
    """pycocotools (COCOeval, evaluated, accumulated, summarized unless ``area_rng``) on
    in-memory data. ``area_rng`` replaces params.areaRng by one range; ``ann_values`` /
    ``pred_values`` replace the areas (the metric-slice oracle, NaN -> inf); ``sigmas`` the
    keypoint sigmas. No results: an empty detection set."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        else:
            coco_dt = COCO()
            coco_dt.dataset = {"images": gt["images"], "annotations": [],
                               "categories": gt["categories"]}
            coco_dt.createIndex()
        if ann_values is not None:
            for a, v in zip(coco_gt.dataset["annotations"], ann_values, strict=True):
                a["area"] = float(np.inf if np.isnan(v) else v)
            for p, v in zip(coco_dt.dataset["annotations"], pred_values, strict=True):
                p["area"] = float(np.inf if np.isnan(v) else v)
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(sigmas)
        if img_ids is not None:
            ev.params.imgIds = sorted(img_ids)
        if area_rng is not None:
            ev.params.areaRng = [list(area_rng)]
            ev.params.areaRngLbl = ["all"]
        ev.evaluate()
        ev.accumulate()
        if area_rng is None:
            ev.summarize()
    return ev

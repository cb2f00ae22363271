"""Throughput of the metric engine against decoding alone, in one process on the same images.

(a) decode every image with Pillow to RGB (the floor: a metric engine must at least decode);
(b) compute_metrics with every built-in image metric plus the object metrics of each image's
    annotation boxes, 1 worker, no cache; then the same with 2 workers.
Prints b/a (required <= 3.0, aim 2.0) and the 2-worker speed-up (required >= 1.7). Also prints,
for information, the cost with the prediction boxes (many per image) included.

Usage: python bench/metrics_throughput.py [IMAGES_DIR] [--copies N]
Default images: ../shared/coco128 (annotations included), repeated N times (default 8, as
symlinks) so that worker start-up is amortised as in a real run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import quality_widgets as qw  # noqa: E402
from quality_widgets.compute.registry import registered_metrics  # noqa: E402


def replicate(src: Path, copies: int, tmp: Path):
    """coco128 images and annotations repeated ``copies`` times (symlinked files, new ids)."""
    data = json.loads((src / "instances.json").read_text())
    preds = json.loads((src / "predictions" / "yolo-fastest-1.1-xl.json").read_text())
    images, anns, out_preds = [], [], []
    (tmp / "images").mkdir()
    for c in range(copies):
        for im in data["images"]:
            name = f"c{c}_{im['file_name']}"
            os.symlink(src / "images" / im["file_name"], tmp / "images" / name)
            images.append(dict(im, id=im["id"] + c * 10**6, file_name=name))
        for a in data["annotations"]:
            anns.append(dict(a, id=a["id"] + c * 10**7, image_id=a["image_id"] + c * 10**6))
        for p in preds:
            out_preds.append(dict(p, image_id=p["image_id"] + c * 10**6))
    (tmp / "instances.json").write_text(json.dumps(dict(data, images=images, annotations=anns)))
    (tmp / "predictions.json").write_text(json.dumps(out_preds))
    return tmp / "images", tmp / "instances.json", tmp / "predictions.json"


def time_decode(paths) -> float:
    t = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            np.asarray(im.convert("RGB"))
    return time.perf_counter() - t


def time_engine(ds, metrics, workers) -> float:
    t = time.perf_counter()
    f = qw.compute_metrics(ds, metrics=metrics, workers=workers, cache_dir=False,
                           progress=False)
    elapsed = time.perf_counter() - t
    assert f.images["error"].isna().all(), f.images["error"].dropna().head()
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", default=str(ROOT.parent / "shared" / "coco128"))
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    src = Path(args.source)
    with tempfile.TemporaryDirectory() as tmp:
        images_dir, ann, pred = replicate(src, args.copies, Path(tmp))
        ds = qw.Dataset.from_coco(images_dir, ann)
        ds_pred = qw.Dataset.from_coco(images_dir, ann, pred)
        paths = ds.images["path"].tolist()
        image_metrics = sorted({m.name for m in registered_metrics("image")})
        object_metrics = sorted({m.name for m in registered_metrics("object")
                                 if m.scope == "item"})
        chosen = image_metrics + object_metrics
        print(f"{len(paths)} images ({args.copies} x {src.name}), {len(ds.annotations)} "
              f"annotation boxes; metrics: {len(image_metrics)} image, {len(object_metrics)} "
              f"object")
        time_decode(paths[:20])  # warm the page cache
        time_engine(ds.subset(ds.images.index[:4]), chosen, 1)  # compiled kernels loaded
        decode, one = [], []
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            decode.append(time_decode(paths))
            one.append(time_engine(ds, chosen, 1))
        decode, one = min(decode), min(one)
        qw.compute.engine.shutdown_workers()
        two_cold = time_engine(ds, chosen, 2)  # includes starting the 2 worker processes
        two = min([two_cold] + [time_engine(ds, chosen, 2) for _ in range(args.repeats - 1)])
        n = len(paths)
        print(f"(a) decode alone:           {decode:7.2f} s  {1000 * decode / n:6.2f} ms/image")
        print(f"(b) engine, 1 worker:       {one:7.2f} s  {1000 * one / n:6.2f} ms/image")
        print(f"    engine, 2 workers:      {two:7.2f} s  {1000 * two / n:6.2f} ms/image "
              f"(first run, starting the workers: {two_cold:.2f} s)")
        print(f"ratio b/a = {one / decode:.2f}   (required <= 3.0, aim 2.0)")
        print(f"2-worker speed-up = {one / two:.2f}x, {one / two_cold:.2f}x including worker "
              f"start-up   (required >= 1.7)")
        with_preds = time_engine(ds_pred, chosen + ["confidence"], 1)
        print(f"info: with the {len(ds_pred.predictions)} prediction boxes too, 1 worker: "
              f"{with_preds:.2f} s = {with_preds / decode:.2f} x decode")


if __name__ == "__main__":
    main()

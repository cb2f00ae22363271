"""Throughput of the metric engine against decoding alone, in one process on the same images.

(a) decode every image with Pillow to RGB (the floor: a metric engine must at least decode);
(b) the default call a user makes, ``compute_metrics(ds)``: every default metric, the
    dataset-scope ones (uniqueness, overlaps, shapes...) included, 1 worker, no cache; with the
    annotations (required <= 3.0x the decode, aim 2.0x), and with the predictions file too
    (required <= 5.0x). The dataset-scope metrics' share is printed separately;
(c) the same default call with 2 workers (speed-up required >= 1.7).

Usage: python bench/metrics_throughput.py [IMAGES_DIR] [--copies N]
Default images: ../shared/coco128 (annotations and predictions included), repeated N times
(default 8, as symlinks) so that worker start-up is amortised as in a real run.
Left out, and said in the output: the one-time cost of a fresh process (imports, numba's
compiled kernels loaded from its cache, starting the worker pool), paid once per session.
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


def time_engine(ds, workers, metrics=None) -> float:
    t = time.perf_counter()
    f = qw.compute_metrics(ds, metrics=metrics, workers=workers, cache_dir=False,
                           progress=False)
    elapsed = time.perf_counter() - t
    assert f.images["error"].isna().all(), f.images["error"].dropna().head()
    return elapsed


def time_dataset_metrics(ds) -> float:
    """Seconds of the dataset-scope metrics alone, on the frames of one default call."""
    frames = qw.compute_metrics(ds, workers=1, cache_dir=False, progress=False)
    t = time.perf_counter()
    for m in registered_metrics():
        if m.scope == "dataset":
            m.func(frames.frame(m.level), ds)
    return time.perf_counter() - t


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
        n_default = len(registered_metrics())
        n_dataset = sum(m.scope == "dataset" for m in registered_metrics())
        print(f"{len(paths)} images ({args.copies} x {src.name}), {len(ds.annotations)} "
              f"annotations, {len(ds_pred.predictions)} predictions; the default call: "
              f"{n_default} metric definitions, {n_dataset} of them dataset-scope; load "
              f"average {os.getloadavg()[0]:.1f}")
        time_decode(paths[:20])  # warm the page cache
        for d in (ds, ds_pred):  # compiled kernels loaded: paid once per process
            time_engine(d.subset(d.images.index[:4]), 1)
        decode, one, with_preds = [], [], []
        for _ in range(args.repeats):  # interleaved, so all see the same machine load
            decode.append(time_decode(paths))
            one.append(time_engine(ds, 1))
            with_preds.append(time_engine(ds_pred, 1))
        decode, one, with_preds = min(decode), min(one), min(with_preds)
        share = time_dataset_metrics(ds)
        share_pred = time_dataset_metrics(ds_pred)
        qw.compute.engine.shutdown_workers()
        two_cold = time_engine(ds, 2)  # includes starting the 2 worker processes
        two = min([two_cold] + [time_engine(ds, 2) for _ in range(args.repeats - 1)])
        n = len(paths)
        print(f"(a) decode alone:                      {decode:7.2f} s  "
              f"{1000 * decode / n:6.2f} ms/image")
        print(f"(b) default call, annotations, 1 worker: {one:7.2f} s  "
              f"{1000 * one / n:6.2f} ms/image = {one / decode:.2f} x decode   "
              f"(required <= 3.0, aim 2.0)")
        print(f"    of which dataset-scope metrics:      {share:7.2f} s  "
              f"({100 * share / one:.0f}%)")
        print(f"    with the predictions too:            {with_preds:7.2f} s  "
              f"{1000 * with_preds / n:6.2f} ms/image = {with_preds / decode:.2f} x decode   "
              f"(required <= 5.0); dataset-scope {share_pred:.2f} s")
        print(f"(c) default call, annotations, 2 workers: {two:7.2f} s (first run, starting "
              f"the workers: {two_cold:.2f} s); speed-up {one / two:.2f}x, "
              f"{one / two_cold:.2f}x including worker start-up   (required >= 1.7)")
        print(f"left out: a fresh process's one-time start (imports, compiled kernels loaded "
              f"from numba's cache, the worker pool); load average now "
              f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

"""Speed and exactness of quality_widgets.evaluation against pycocotools, in one process.

Generates a deterministic synthetic COCO benchmark (80 categories, ~7 annotations and 100
predictions per image, ~1% crowd; predictions are jittered true boxes, duplicates, wrong
classes and random false positives; scores with ties), writes it to a temp dir, then times
load + evaluate + accumulate + summarize with pycocotools, hotcoco (when installed) and this
engine (``Dataset.from_coco`` + ``Evaluator``: everything a user pays), and the
engine's cached re-evaluations (a bootstrap resample; a new slice mask).

    .venv/bin/python bench/evaluate_speed.py [--sizes 500 5000] [--repeat 5]
        [--segm-sizes 500 2000] [--only-segm]

The segm section (:func:`segm_section`) times mask evaluation the same way.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_CATEGORIES = 80
PREDICTIONS_PER_IMAGE = 100


def synthetic_coco(n_images: int, seed: int = 0) -> tuple[dict, list]:
    """(instances dict, results list) of a reproducible synthetic detection benchmark."""
    rng = np.random.default_rng(seed)
    categories = [{"id": k + 1, "name": f"class_{k + 1}", "supercategory": "thing"}
                  for k in range(N_CATEGORIES)]
    # Skewed class frequencies, as in real data (a "person"-like class dominates).
    class_p = 1.0 / np.arange(1, N_CATEGORIES + 1) ** 0.8
    class_p /= class_p.sum()
    images, annotations, results = [], [], []
    ann_id = 1
    for i in range(n_images):
        image_id = 1 + 3 * i                  # non-contiguous ids
        width, height = 640, int(rng.choice([427, 480, 512, 640]))
        images.append({"id": image_id, "file_name": f"{image_id:08d}.jpg", "width": width,
                       "height": height})
        n_obj = max(1, rng.poisson(7))
        cats = rng.choice(N_CATEGORIES, size=n_obj, p=class_p) + 1
        # Log-uniform sizes so that small, medium and large objects all occur.
        w = np.exp(rng.uniform(np.log(6), np.log(400), n_obj))
        h = np.clip(w * np.exp(rng.normal(0, 0.4, n_obj)), 4, height - 1)
        w = np.minimum(w, width - 1)
        x = rng.uniform(0, width - w)
        y = rng.uniform(0, height - h)
        crowd = rng.random(n_obj) < 0.01
        boxes = np.round(np.c_[x, y, w, h], 2)
        for b, c, cr in zip(boxes, cats, crowd, strict=True):
            annotations.append({"id": ann_id, "image_id": image_id, "category_id": int(c),
                                "bbox": [float(v) for v in b],
                                "area": float(round(b[2] * b[3] * rng.uniform(0.6, 0.95), 2)),
                                "iscrowd": int(cr), "segmentation": []})
            ann_id += 1
        preds = []
        for b, c in zip(boxes, cats, strict=True):
            # 1-3 detections per object: a good one, duplicates, a wrong class now and then.
            for _ in range(rng.integers(1, 4)):
                jitter = rng.normal(0, 0.08, 4) * np.r_[b[2], b[3], b[2], b[3]]
                nb = np.r_[b[:2] + jitter[:2], np.maximum(b[2:] + jitter[2:], 1.0)]
                cat = int(c) if rng.random() > 0.1 else int(rng.integers(1, N_CATEGORIES + 1))
                preds.append((nb, cat, rng.beta(5, 2)))
            if len(preds) >= PREDICTIONS_PER_IMAGE:
                break
        n_fp = PREDICTIONS_PER_IMAGE - len(preds)
        fw = np.exp(rng.uniform(np.log(4), np.log(300), n_fp))
        fh = fw * np.exp(rng.normal(0, 0.4, n_fp))
        fx, fy = rng.uniform(0, width - 4, n_fp), rng.uniform(0, height - 4, n_fp)
        fc = rng.choice(N_CATEGORIES, size=n_fp, p=class_p) + 1
        fs = rng.beta(1.2, 6, n_fp)
        preds += [(np.r_[fx[j], fy[j], fw[j], fh[j]], int(fc[j]), fs[j]) for j in range(n_fp)]
        for nb, cat, score in preds[:PREDICTIONS_PER_IMAGE]:
            # Scores on a 1e-3 grid: ties across and within images, as detectors output.
            results.append({"image_id": image_id, "category_id": cat,
                            "bbox": [round(float(v), 2) for v in nb],
                            "score": round(float(score), 3)})
    return {"images": images, "annotations": annotations, "categories": categories}, results


def run_pycocotools(ann_file: Path, res_file: Path) -> tuple[np.ndarray, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_file))
        dt = gt.loadRes(str(res_file))
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats), time.perf_counter() - start


def run_hotcoco(ann_file: Path, res_file: Path):
    """hotcoco (Rust) load + evaluate + accumulate + summarize, or None when not installed."""
    try:
        import hotcoco
    except ImportError:
        return None
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = hotcoco.COCO(str(ann_file))
        dt = gt.load_res(str(res_file))
        ev = hotcoco.COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats), time.perf_counter() - start


def run_engine(ann_file: Path, res_file: Path):
    import quality_widgets as qw
    from quality_widgets.evaluation import Evaluator
    start = time.perf_counter()
    dataset = qw.Dataset.from_coco(None, ann_file, res_file)
    loaded = time.perf_counter()
    evaluator = Evaluator(dataset)
    result = evaluator.evaluate()
    result.summary()
    end = time.perf_counter()
    return result.stats, end - start, loaded - start, evaluator


def time_calls(fn, repeat: int) -> float:
    """Median seconds of ``repeat`` calls of ``fn(i)``."""
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench(n_images: int, repeat: int) -> dict:
    coco, results = synthetic_coco(n_images)
    with tempfile.TemporaryDirectory() as tmp:
        ann_file, res_file = Path(tmp) / "instances.json", Path(tmp) / "results.json"
        ann_file.write_text(json.dumps(coco))
        res_file.write_text(json.dumps(results))
        ref, t_ref = run_pycocotools(ann_file, res_file)
        hot = run_hotcoco(ann_file, res_file)
        stats, t_ours, t_load, ev = run_engine(ann_file, res_file)
        if hot is not None:      # again, interleaved: both see the same machine load
            hot2 = run_hotcoco(ann_file, res_file)
            again = run_engine(ann_file, res_file)
            hot = (hot[0], min(hot[1], hot2[1]))
            if again[1] < t_ours:
                stats, t_ours, t_load, ev = again
    rng = np.random.default_rng(1)
    n_img = len(ev.dataset.images)
    resamples = [rng.multinomial(n_img, np.full(n_img, 1.0 / n_img)) for _ in range(repeat)]
    t_boot = time_calls(lambda i: ev.evaluate_masks(image_weights=resamples[i]), repeat)
    # A permutation test relabels which objects belong to a slice: every call a new mask.
    anns, preds = ev.dataset.annotations, ev.dataset.predictions
    area_a = anns["area"].to_numpy()
    area_p = (preds["bbox_w"] * preds["bbox_h"]).to_numpy()
    masks = [(rng.permutation(area_a) < 48 ** 2, rng.permutation(area_p) < 48 ** 2)
             for _ in range(repeat)]
    t_mask = time_calls(lambda i: ev.evaluate_masks(*masks[i]), repeat)
    return {"images": n_img, "annotations": len(anns), "predictions": len(preds),
            "pycocotools_s": t_ref, "engine_s": t_ours, "load_s": t_load,
            "speedup": t_ref / t_ours, "max_abs_diff": float(np.abs(stats - ref).max()),
            "bootstrap_ms": 1e3 * t_boot, "new_mask_ms": 1e3 * t_mask, "stats": stats,
            "hotcoco_s": None if hot is None else hot[1],
            "hotcoco_diff": None if hot is None else float(np.abs(hot[0] - ref).max())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--repeat", type=int, default=5,
                        help="calls timed (median) for the cached re-evaluations")
    parser.add_argument("--segm-sizes", type=int, nargs="*", default=[500, 2000],
                        help="synthetic sizes of the mask (segm) section; with no value, only "
                             "its coco128 rows")
    parser.add_argument("--only-segm", action="store_true", help="skip the bbox section")
    args = parser.parse_args(argv)
    ok = True
    for n in ([] if args.only_segm else args.sizes):
        r = bench(n, args.repeat)
        print(f"== {r['images']} images, {r['annotations']} annotations, "
              f"{r['predictions']} predictions")
        print(f"pycocotools (load+evaluate+accumulate+summarize): {r['pycocotools_s']:8.2f} s")
        print(f"quality_widgets (same, load {r['load_s']:.2f} s):       {r['engine_s']:8.2f} s"
              f"   speed-up {r['speedup']:.1f}x")
        if r["hotcoco_s"] is not None:
            print(f"hotcoco (same, Rust):                              {r['hotcoco_s']:8.2f} s"
                  f"   ours / hotcoco = {r['engine_s'] / r['hotcoco_s']:.2f}  (required <= 2.0)"
                  f"; hotcoco vs pycocotools max abs diff {r['hotcoco_diff']:.3g}")
        else:
            print("hotcoco not installed: no comparison with the fastest evaluator")
        print(f"max abs diff of the 12 stats: {r['max_abs_diff']:.3g}   (AP {r['stats'][0]:.4f},"
              f" AP50 {r['stats'][1]:.4f})   load average {os.getloadavg()[0]:.1f}")
        print(f"bootstrap re-evaluation from cache: {r['bootstrap_ms']:.1f} ms;  "
              f"evaluate_masks with a new mask: {r['new_mask_ms']:.1f} ms")
        ok &= r["max_abs_diff"] <= 1e-12
    if args.segm_sizes is not None:
        ok &= segm_section(args.segm_sizes)
    return 0 if ok else 1


# ---- masks (iou_type="segm") ------------------------------------------------------------------
def _ellipse(x, y, w, h, n=16):
    """A polygon of n vertices inscribed in the box (an ellipse), COCO flat list."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.round(np.c_[x + w / 2 * (1 + np.cos(t)), y + h / 2 * (1 + np.sin(t))], 2).ravel()


def synthetic_segm(n_images: int, seed: int = 0) -> tuple[dict, list]:
    """The synthetic benchmark with masks: every label box becomes an ellipse polygon (crowd
    labels an uncompressed RLE of it, as in COCO), every result a compressed RLE of an ellipse
    in its box plus that box (the detectron2 / mmdetection results format)."""
    from pycocotools import mask as mask_utils
    coco, results = synthetic_coco(n_images, seed)
    sizes = {im["id"]: (im["height"], im["width"]) for im in coco["images"]}
    for ann in coco["annotations"]:
        h, w = sizes[ann["image_id"]]
        poly = _ellipse(*ann["bbox"])
        if ann["iscrowd"]:
            m = mask_utils.decode(mask_utils.frPyObjects([poly.tolist()], h, w)[0])
            flat = m.T.ravel()
            change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
            runs = np.diff(np.r_[0, change, flat.size]).tolist()
            ann["segmentation"] = {"size": [h, w], "counts": ([0] if flat[0] else []) + runs}
        else:
            ann["segmentation"] = [poly.tolist()]
    by_image: dict = {}
    for r in results:
        by_image.setdefault(r["image_id"], []).append(r)
    for image_id, rows in by_image.items():
        h, w = sizes[image_id]
        rles = mask_utils.frPyObjects([_ellipse(*r["bbox"]).tolist() for r in rows], h, w)
        for r, rle in zip(rows, rles, strict=True):
            r["segmentation"] = {"size": [h, w], "counts": rle["counts"].decode("ascii")}
    return coco, results


def bench_segm(ann_file: Path, res_file: Path, label: str) -> dict:
    """pycocotools' segm evaluation and ours (load + evaluate + summarize), same files."""
    import quality_widgets as qw
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        gt = COCO(str(ann_file))
        ev = COCOeval(gt, gt.loadRes(str(res_file)), "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    t_ref = time.perf_counter() - start
    start = time.perf_counter()
    dataset = qw.Dataset.from_coco(None, ann_file, res_file)
    loaded = time.perf_counter()
    result = qw.evaluate(dataset, iou_type="segm")
    result.summary()
    t_ours = time.perf_counter() - start
    return {"label": label, "annotations": len(dataset.annotations),
            "predictions": len(dataset.predictions), "pycocotools_s": t_ref,
            "engine_s": t_ours, "load_s": loaded - start, "speedup": t_ref / t_ours,
            "max_abs_diff": float(np.abs(result.stats - ev.stats).max()),
            "AP": float(result.stats[0])}


def segm_section(sizes, coco128=None) -> bool:
    """Mask evaluation: coco128's polygons and crowd RLE with (a) the real detector's boxes
    (each a box mask, as loadRes makes it) and (b) mask predictions generated from the labels
    (jittered polygons, RLE, dropped, false; tests/masks_data.py), then the synthetic
    benchmark with RLE results. Polygon rasterisation is pycocotools' in both engines (ours
    calls its frPyObjects): a floor both pay, but ours only for the objects of some candidate
    pair (pycocotools converts every mask). On the synthetic files most of our time is the
    load (``Dataset.from_coco``: the "load" figure printed)."""
    import os

    import quality_widgets as qw
    root = Path(__file__).resolve().parents[1]
    coco128 = Path(coco128) if coco128 else root.parent / "shared" / "coco128"
    runs = []
    warm = {"images": [{"id": 1, "file_name": "a", "width": 4, "height": 4}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2],
                             "area": 4, "iscrowd": 0, "segmentation": [[0, 0, 2, 0, 2, 2]]}],
            "categories": [{"id": 1, "name": "a"}]}
    qw.evaluate(qw.Dataset.from_coco(None, warm, [{"image_id": 1, "category_id": 1,
                                                   "bbox": [0, 0, 2, 2], "score": 1.0}]),
                iou_type="segm")                  # numba kernels compiled / loaded first
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if (coco128 / "instances.json").exists():
            sys.path.insert(0, str(root / "tests"))
            from masks_data import mask_results
            gt_file = coco128 / "instances.json"
            runs.append(bench_segm(gt_file, coco128 / "predictions" / "yolo-fastest-1.1-xl.json",
                                   "coco128, real detector boxes as masks"))
            generated = mask_results(json.loads(gt_file.read_text()), seed=1, all_rle=True)
            (tmp / "coco128_masks.json").write_text(json.dumps(generated))
            runs.append(bench_segm(gt_file, tmp / "coco128_masks.json",
                                   "coco128, generated RLE mask predictions + bbox"))
        else:
            print(f"(no {coco128}: the coco128 rows are skipped)")
        for n in sizes:
            coco, results = synthetic_segm(n)
            (tmp / f"gt{n}.json").write_text(json.dumps(coco))
            (tmp / f"dt{n}.json").write_text(json.dumps(results))
            runs.append(bench_segm(tmp / f"gt{n}.json", tmp / f"dt{n}.json",
                                   f"synthetic, {n} images, RLE results + bbox"))
    ok = True
    print(f"== segm (machine load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    for r in runs:
        print(f"{r['label']}: {r['annotations']} labels, {r['predictions']} predictions")
        print(f"   pycocotools {r['pycocotools_s']:7.2f} s   "
              f"quality_widgets {r['engine_s']:6.2f} s "
              f"(load {r['load_s']:.2f} s)   speed-up {r['speedup']:.1f}x   max abs diff of "
              f"the 12 stats {r['max_abs_diff']:.3g} (AP {r['AP']:.4f})")
        ok &= r["max_abs_diff"] == 0
    return ok


if __name__ == "__main__":
    sys.exit(main())

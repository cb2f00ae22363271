"""rank_metrics (the sweep of every metric, Holm) on coco128 and on 5,000 synthetic images.

1. ``../shared/coco128`` with the shared yolo-fastest predictions: every built-in metric
   (``compute_metrics``, timed apart), then ``rank_metrics(ds, metrics, workers=2)`` with its
   defaults: sequential permutations (Besag-Clifford) up to ``ceil(2 m / 0.05) - 1`` per
   metric, Holm. Prints the time, the permutations drawn, the rows, and the same sweep with
   the fixed-count baseline (every metric drawing the cap) for the ratio.
2. The 5,000-image synthetic benchmark of bench/evaluate_speed.py (500,000 predictions): image
   and object metrics derived from the data plus pure-noise columns (~30 metrics), and two
   metrics with a strong effect, so that the sweep pays for some full-resolution tests: each
   box's best IoU with a same-category box of the other side (object), and the images' mean of
   it over their annotations (image).
3. ``--fwer R``: R sweeps over 10 image + 10 object pure-noise metrics on coco128; the
   family-wise error rate (a sweep with any p_holm < 0.05) with its 95% Wilson interval.

Not included: loading the data, the Evaluator of the synthetic set (printed apart).

    .venv/bin/python bench/sweep_speed.py [--workers 2] [--images 5000] [--fwer 0]
        [--skip-synthetic] [--no-baseline]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
COCO128 = Path(os.environ.get("QW_SHARED_DIR", ROOT.parent / "shared")) / "coco128"


def load():
    return os.getloadavg()[0]


def show(frame):
    adjusted = frame.attrs["adjusted_column"]
    cols = ["metric", "level", "difference", "ci_low", "ci_high", "p_value", adjusted,
            "permutations"]
    with pd.option_context("display.width", 200, "display.max_rows", 100):
        print(frame[cols].round(4).to_string())


def coco128_sweep(workers: int, baseline: bool):
    import quality_widgets as qw
    ds = qw.Dataset.from_coco(COCO128 / "images", COCO128 / "instances.json",
                              COCO128 / "predictions" / "yolo-fastest-1.1-xl.json")
    start = time.perf_counter()
    metrics = qw.compute_metrics(ds, progress=False)
    print(f"compute_metrics (every built-in metric, cached after the first run): "
          f"{time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    frame = qw.rank_metrics(ds, metrics, workers=workers)
    wall = time.perf_counter() - start
    print(f"\n== coco128: rank_metrics defaults, {len(frame)} metrics tested, {workers} workers: "
          f"{wall:.1f} s (load average {load():.2f} on {os.cpu_count()} cores); "
          f"{int(frame['permutations'].sum())} permutations drawn, cap "
          f"{frame.attrs['max_permutations']} per metric")
    show(frame)
    if baseline:
        # Fixed count: every metric draws the cap (what the sequential rule saves).
        cap = frame.attrs["max_permutations"]
        from quality_widgets.analysis.hypothesis import _sweep as hyp  # where rank_metrics reads h
        old_h = hyp.SEQUENTIAL_H
        start = time.perf_counter()
        try:
            hyp.SEQUENTIAL_H = 0              # h = 0: no sequential stop
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fixed = qw.rank_metrics(ds, metrics, workers=workers, resamples=cap)
        finally:
            hyp.SEQUENTIAL_H = old_h
        fixed_wall = time.perf_counter() - start
        print(f"baseline, {cap} permutations for every metric: {fixed_wall:.1f} s "
              f"({int(fixed['permutations'].sum())} permutations; load {load():.2f}); "
              f"sequential / fixed time: {wall / fixed_wall:.2f}")
    return ds


def synthetic_sweep(n_images: int, workers: int):
    from hypothesis_speed import build

    import quality_widgets as qw
    start = time.perf_counter()
    dataset, metrics = build(n_images)
    print(f"\ngenerated and loaded {len(dataset.images)} images, {len(dataset.annotations)} "
          f"annotations, {len(dataset.predictions)} predictions in "
          f"{time.perf_counter() - start:.1f} s")
    rng = np.random.default_rng(0)
    for frame in (metrics.objects, metrics.predictions):
        frame["box_aspect_ratio"] = frame["bbox_w"] / frame["bbox_h"]
        frame["box_x"] = frame["bbox_x"] + frame["bbox_w"] / 2
        frame["box_y"] = frame["bbox_y"] + frame["bbox_h"] / 2
    counts = dataset.predictions.groupby("image_id").size().reindex(dataset.images.index,
                                                                    fill_value=0)
    metrics.images["n_predictions"] = counts.to_numpy() + rng.random(len(counts))
    for i in range(12):
        metrics.images[f"noise_image_{i}"] = rng.random(len(metrics.images))
    for i in range(12):
        metrics.objects[f"noise_object_{i}"] = rng.random(len(metrics.objects))
        metrics.predictions[f"noise_object_{i}"] = rng.random(len(metrics.predictions))
    start = time.perf_counter()
    evaluator = qw.Evaluator(dataset)
    print(f"Evaluator: {time.perf_counter() - start:.1f} s")
    inputs = evaluator.inputs
    gt_best = np.zeros(len(inputs.gt_row))
    dt_best = np.zeros(len(inputs.dt_row))
    np.maximum.at(gt_best, inputs.pair_gt, inputs.pair_iou)
    np.maximum.at(dt_best, inputs.pair_dt, inputs.pair_iou)
    metrics.objects["best_iou"] = np.nan
    metrics.objects.iloc[inputs.gt_row, metrics.objects.columns.get_loc("best_iou")] = gt_best
    metrics.predictions["best_iou"] = np.nan
    metrics.predictions.iloc[inputs.dt_row,
                             metrics.predictions.columns.get_loc("best_iou")] = dt_best
    per_image = pd.Series(gt_best).groupby(inputs.gt_image).mean()
    metrics.images["mean_best_iou"] = per_image.reindex(
        np.arange(len(inputs.image_ids))).to_numpy()[inputs.image_pos_of_row]
    start = time.perf_counter()
    frame = qw.rank_metrics(dataset, metrics, workers=workers, evaluator=evaluator,
                            columns=[c for c in metrics.images.columns
                                     if c.startswith(("noise", "crowd", "n_pred", "mean_best"))]
                            + ["box_area", "box_aspect_ratio", "box_x", "box_y", "best_iou"]
                            + [f"noise_object_{i}" for i in range(12)])
    wall = time.perf_counter() - start
    print(f"\n== synthetic {n_images} images: rank_metrics, {len(frame)} metrics, {workers} "
          f"workers: {wall:.1f} s (load average {load():.2f}); "
          f"{int(frame['permutations'].sum())} permutations drawn")
    show(frame)


def fwer(repeats: int, workers: int):
    import quality_widgets as qw
    from quality_widgets.frames import MetricFrames
    ds = qw.Dataset.from_coco(None, COCO128 / "instances.json",
                              COCO128 / "predictions" / "yolo-fastest-1.1-xl.json")
    ev = qw.Evaluator(ds)
    metrics = MetricFrames(images=ds.images.iloc[:, :0].copy(),
                           objects=ds.annotations[["iscrowd"]].copy(),
                           predictions=ds.predictions.iloc[:, :0].copy(), dataset=ds)
    hits, start = 0, time.perf_counter()
    for rep in range(repeats):
        rng = np.random.default_rng(rep)
        for i in range(10):
            metrics.images[f"i{i}"] = rng.random(len(metrics.images))
            metrics.objects[f"o{i}"] = rng.random(len(metrics.objects))
            metrics.predictions[f"o{i}"] = rng.random(len(metrics.predictions))
        frame = qw.rank_metrics(ds, metrics, seed=rep, evaluator=ev, workers=workers,
                                columns=[f"i{i}" for i in range(10)] +
                                [f"o{i}" for i in range(10)])
        hits += bool((frame["p_holm"] < 0.05).any())
    rate = hits / repeats
    z = 1.96
    centre = (rate + z * z / (2 * repeats)) / (1 + z * z / repeats)
    half = z * math.sqrt(rate * (1 - rate) / repeats + z * z / (4 * repeats ** 2)) / (
        1 + z * z / repeats)
    print(f"\n== family-wise error rate, {repeats} sweeps of 10 image + 10 object pure-noise "
          f"metrics on coco128 (Holm, alpha 0.05): {hits}/{repeats} = {rate:.3f} (95% CI "
          f"{centre - half:.3f} to {centre + half:.3f}); {time.perf_counter() - start:.0f} s, "
          f"load {load():.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--fwer", type=int, default=0, help="all-noise sweeps (0: none)")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-coco128", action="store_true")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_coco128:
        if not (COCO128 / "instances.json").exists():
            print(f"no coco128 at {COCO128}: skipped")
        else:
            coco128_sweep(args.workers, not args.no_baseline)
    if not args.skip_synthetic:
        synthetic_sweep(args.images, args.workers)
    if args.fwer:
        fwer(args.fwer, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())

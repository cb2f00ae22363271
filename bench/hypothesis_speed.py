"""Speed of a hypothesis test on the synthetic 5,000-image benchmark of bench/evaluate_speed.py.

One image-metric test and one object-metric test, each with ``--resamples`` bootstrap
resamples and as many permutations, ``--workers`` processes. The metrics are derived from the
data (image: number of annotations + a seeded jitter; object: box area, the same column on
annotations and predictions), so both splits are real ones. Prints the wall time and the
per-resample / per-permutation cost measured in this process (one evaluation = both sides;
bootstrap resamples measured as one batch of 25, as the test runs them) and the load average.

    .venv/bin/python bench/hypothesis_speed.py [--images 5000] [--resamples 1000] [--workers 2]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate_speed import synthetic_coco  # noqa: E402


def build(n_images: int):
    import quality_widgets as qw
    from quality_widgets.frames import MetricFrames
    coco, results = synthetic_coco(n_images)
    with tempfile.TemporaryDirectory() as tmp:
        ann_file, res_file = Path(tmp) / "instances.json", Path(tmp) / "results.json"
        ann_file.write_text(json.dumps(coco))
        res_file.write_text(json.dumps(results))
        dataset = qw.Dataset.from_coco(None, ann_file, res_file)
    metrics = MetricFrames(images=dataset.images.copy(), objects=dataset.annotations.copy(),
                           predictions=dataset.predictions.copy(), dataset=dataset)
    counts = dataset.annotations.groupby("image_id").size().reindex(dataset.images.index,
                                                                    fill_value=0)
    jitter = np.random.default_rng(0).random(len(counts))
    metrics.images["crowdedness"] = counts.to_numpy() + jitter
    for frame in (metrics.objects, metrics.predictions):
        frame["box_area"] = frame["bbox_w"] * frame["bbox_h"]
    return dataset, metrics


def per_call_ms(split, edges, state, side_weights, repeat: int = 25):
    """(bootstrap ms, permutation ms) per resample, measured directly in this process, with
    ``repeat`` of each (one task's worth: bootstrap resamples are measured in batches)."""
    split.bootstrap(edges, state, side_weights, 0, 2)        # warm (numba, tables)
    split.permutations(edges, 0, 2)
    start = time.perf_counter()
    split.bootstrap(edges, state, side_weights, 1, repeat)
    boot = (time.perf_counter() - start) / repeat
    start = time.perf_counter()
    split.permutations(edges, 2, repeat)
    perm = (time.perf_counter() - start) / repeat
    return 1e3 * boot, 1e3 * perm


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    from quality_widgets.analysis import hypothesis as hyp
    from quality_widgets.evaluation import Evaluator
    start = time.perf_counter()
    dataset, metrics = build(args.images)
    print(f"generated and loaded {len(dataset.images)} images, {len(dataset.annotations)} "
          f"annotations, {len(dataset.predictions)} predictions in "
          f"{time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    evaluator = Evaluator(dataset)
    print(f"Evaluator (IoUs, candidate pairs, orders): {time.perf_counter() - start:.2f} s")
    for metric in ("crowdedness", "box_area"):
        start = time.perf_counter()
        result = hyp.test_hypothesis(dataset, metrics, metric=metric,
                                     resamples=args.resamples, evaluator=evaluator,
                                     workers=args.workers)
        wall = time.perf_counter() - start
        problem = hyp._Problem(dataset, metrics, metric, "AP", None, 0.5, evaluator)
        edges = [min(problem.lowest(), result.threshold), result.threshold, np.inf]
        state, side_weights = problem.split.state(edges)
        boot_ms, perm_ms = per_call_ms(problem.split, edges, state, side_weights)
        print(f"\n== {metric} ({result.level} split at the median {result.threshold:.4g}), "
              f"{args.resamples} resamples + {result.permutations} permutations, "
              f"{args.workers} worker(s)")
        print(f"wall time: {wall:.1f} s (load average {os.getloadavg()[0]:.2f} on "
              f"{os.cpu_count()} cores)")
        print(f"per bootstrap resample: {boot_ms:.1f} ms;  per permutation: {perm_ms:.1f} ms "
              f"(single process, both sides)")
        print(result.summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

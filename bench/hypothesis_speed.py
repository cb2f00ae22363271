"""Speed of a hypothesis test on the synthetic 5,000-image benchmark of bench/evaluate_speed.py.

One image-metric test and one object-metric test, as a user calls them:
``test_hypothesis(..., resamples=1000, workers=2)``: 1,000 permutations, and the 95% interval
that inverts the same permutation test (the default ``ci_method="permutation"``: it needs no
other resampling). The metrics are derived from the data (image: number of annotations + a
seeded jitter; object: box area, the same column on annotations and predictions), so both
splits are real ones (box area is a strong effect: every permutation is drawn).

Also printed, measured in this process: the cost of one permutation (both sides) by the
default path and by the baseline it replaced (object split: shuffle the values, build a new
``slices_state`` matching, measure each slice; image split: the same batched measure), their
ratio, and, with ``--bootstrap``, the test with the image-bootstrap interval
(``ci_method="basic"``: 1,000 resamples on top of the 1,000 permutations). Not included: the
Evaluator (IoUs, candidate pairs: printed apart) and loading the data. On a shared machine the
wall time depends on the load, so the CPU time of the test (this process and its worker
processes) is printed too: CPU / workers is the wall time on an idle machine with that many
cores (pool start-up and imbalance aside).

    .venv/bin/python bench/hypothesis_speed.py [--images 5000] [--resamples 1000]
        [--workers 2] [--bootstrap]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
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


def baseline_permutation(problem, edges, rng):
    """One permutation as before: shuffled values, a new matching, each side measured."""
    split, ev, measure = problem.split, problem.ev, problem.measure
    values = rng.permutation(split.values)
    if split.level == "image":
        state, side_weights = split.state(edges, values)
        return split.values_of(state, side_weights)
    pred_values = rng.permutation(split.pred_values)
    state, _ = split.state(edges, values, pred_values)
    return [ev.measure(state, None, measure.name, measure.category, 0.5, s)
            for s in range(len(edges) - 1)]


def cpu_seconds() -> float:
    """User + system CPU of this process and of its finished children (the worker pool)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def per_permutation_ms(problem, edges, repeat: int = 25):
    """(default ms, baseline ms) per permutation, single process, both sides."""
    split = problem.split
    rng = np.random.default_rng(0)
    split.permutations(edges, 0, 2)                     # warm (numba, tables)
    baseline_permutation(problem, edges, rng)
    start = time.perf_counter()
    split.permutations(edges, 1, repeat)
    new = (time.perf_counter() - start) / repeat
    start = time.perf_counter()
    for _ in range(repeat):
        baseline_permutation(problem, edges, rng)
    old = (time.perf_counter() - start) / repeat
    return 1e3 * new, 1e3 * old


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bootstrap", action="store_true",
                        help="also time ci_method='basic' (image bootstrap + permutations)")
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
        cpu0 = cpu_seconds()
        start = time.perf_counter()
        result = hyp.test_hypothesis(dataset, metrics, metric=metric,
                                     resamples=args.resamples, evaluator=evaluator,
                                     workers=args.workers)
        wall = time.perf_counter() - start
        cpu = cpu_seconds() - cpu0
        problem = hyp._Problem(dataset, metrics, metric, "AP", None, 0.5, evaluator)
        edges = [min(problem.lowest(), result.threshold), result.threshold, np.inf]
        new_ms, old_ms = per_permutation_ms(problem, edges)
        print(f"\n== {metric} ({result.level} split at the median {result.threshold:.4g}), "
              f"{result.permutations} permutations + the inverted-test interval, "
              f"{args.workers} worker(s)")
        print(f"wall time: {wall:.1f} s (load average {os.getloadavg()[0]:.2f} on "
              f"{os.cpu_count()} cores); CPU {cpu:.1f} s, / {args.workers} workers = "
              f"{cpu / args.workers:.1f} s")
        print(f"per permutation, single process, both sides: {new_ms:.1f} ms; baseline "
              f"(new matching per permutation): {old_ms:.1f} ms; ratio {old_ms / new_ms:.1f}x")
        print(result.summary)
        if args.bootstrap:
            start = time.perf_counter()
            boot = hyp.test_hypothesis(dataset, metrics, metric=metric,
                                       resamples=args.resamples, evaluator=evaluator,
                                       workers=args.workers, ci_method="basic")
            print(f"with the image-bootstrap interval ({args.resamples} resamples more): "
                  f"{time.perf_counter() - start:.1f} s (load average "
                  f"{os.getloadavg()[0]:.2f}); {boot.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

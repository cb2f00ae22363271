"""``hypothesis`` subcommand: does a metric affect the model's performance?

    quality-widgets hypothesis --images DIR --annotations A.json --predictions P.json \\
        --metric object_redness [--level image|object] [--threshold T] [--measure AP]
        [--iou-type bbox|segm|keypoints] [--resamples N | --resolution P] [--seed S] [--json]
        [--where '{"image.width": [600, null]}'] [--slice-category dog ...]

Computes the metric (``compute_metrics(metrics=[NAME])``, cached as usual), then runs
:func:`quality_widgets.test_hypothesis`. Prints the two sides (images, boxes,
categories, predictions, measure), the difference, its 95% interval (the inverted permutation
test), the permutation p-value and the summary sentence; with ``--json`` an object
with exactly the keys ``metric``, ``threshold``, ``measure``, ``below``, ``above``,
``difference``, ``ci95``, ``p_value``, ``summary`` (NaN written as null), and ``slice`` (its
text) when the test ran within one. ``--where`` (a test case's ``where``, as JSON: ranges
``[lo, hi]`` or ``{">=": lo, "<": hi}``, memberships ``{"in": [...]}``) and
``--slice-category`` (repeatable) make the Slice the test runs within
(:func:`~quality_widgets.analysis.hypothesis.test_hypothesis`'s ``slice``); the metrics the
``where`` reads are computed too. ``--images`` may be
omitted for metrics that need no pixels (box geometry, overlaps). ``--iou-type segm``
measures masks (the ``segmentation`` of labels and predictions), ``keypoints`` the OKS of
keypoints (the measures are then COCO's 10 keypoint numbers: AP, AP50, AP75, APm, APl, AR,
AR50, AR75, ARm, ARl).
"""
from __future__ import annotations

from ._shared import (
    add_dataset_arguments,
    error,
    load_dataset,
    metrics_to_compute,
    print_json,
    yolo_labels_of,
)

JSON_KEYS = ("metric", "threshold", "measure", "below", "above", "difference", "ci95",
             "p_value", "summary")


def add_parser(subparsers):
    """Register ``hypothesis`` on an argparse subparsers object; sets ``func=run``."""
    from ..analysis.hypothesis import SPLIT_LEVELS
    from ..evaluation.measures import ALL_MEASURE_NAMES
    from ..evaluation.params import IOU_TYPES
    parser = subparsers.add_parser(
        "hypothesis", help="does a metric affect model performance? (permutation p-value and "
                           "the interval that inverts it)",
        description="Split the data at a threshold of a metric (images for an image metric, "
                    "objects for an object metric) and compare a COCO measure on the two "
                    "sides, with a 95% confidence interval of the difference (the permutation "
                    "test inverted) and a permutation-test p-value. Needs labels and predictions. "
                    "Exit code 0, or 2 "
                    "for unusable input (an unknown name, no predictions, a threshold outside "
                    "the metric's values...).")
    add_dataset_arguments(parser, images_required=False)
    parser.add_argument("--metric", required=True,
                        help="metric column, e.g. object_redness (an image metric splits "
                             "images, an object metric splits boxes)")
    parser.add_argument("--level", choices=SPLIT_LEVELS,
                        help="split images or objects (required when the metric exists at both "
                             "levels)")
    parser.add_argument("--threshold", type=float,
                        help="split value T: sides are < T and >= T (default: the median)")
    parser.add_argument("--measure", default="AP", choices=ALL_MEASURE_NAMES,
                        help="COCO measure (default AP = mAP@[.5:.95]); with --iou-type "
                             "keypoints one of AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, "
                             "ARl, precision, recall")
    parser.add_argument("--iou-type", default="bbox", choices=IOU_TYPES,
                        help="how predictions match labels: box IoU (default), mask IoU "
                             "(segmentations: polygons, RLE) or keypoint OKS")
    parser.add_argument("--category", help="measure one category (id or name)")
    parser.add_argument("--where", metavar="JSON",
                        help="test within a slice: a test case's where as JSON, e.g. "
                             "'{\"image.width\": [600, null], \"box_area\": {\">=\": 1024}}'")
    parser.add_argument("--slice-category", action="append", metavar="NAME",
                        help="test within the labels and predictions of this category "
                             "(repeatable; with --where, both hold)")
    parser.add_argument("--score-threshold", type=float, default=0.5,
                        help="score threshold of --measure precision / recall (default 0.5)")
    parser.add_argument("--resamples", type=int, default=1000,
                        help="permutations, at least 1 (default 1000)")
    parser.add_argument("--resolution", type=float,
                        help="instead of --resamples: the smallest p-value wanted (e.g. 0.001); "
                             "permutations stop early once the test is clearly not significant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1,
                        help="processes for the resampling (default 1)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(func=run)
    return parser


def json_payload(result) -> dict:
    """The ``--json`` object: exactly :data:`JSON_KEYS`, and ``slice`` within one."""
    full = result.to_dict()
    keys = JSON_KEYS + (("slice",) if result.slice is not None else ())
    return {key: full[key] for key in keys}


def slice_of(args):
    """The :class:`~quality_widgets.slicing.Slice` of ``--where`` and ``--slice-category``
    (None without either). A ValueError says what is wrong with ``--where``."""
    import json

    from ..slicing import Slice
    if args.where is None and not args.slice_category:
        return None
    where = {}
    if args.where is not None:
        try:
            where = json.loads(args.where)
        except json.JSONDecodeError as e:
            raise ValueError(f"--where {args.where!r} is not JSON: {e}") from None
    return Slice.from_dict({"where": where, "categories": args.slice_category or []})


def _needed(metric: str, slice, dataset) -> list:
    """The metrics to compute: ``metric``'s, and those of the slice's columns that a
    registered metric writes (the dataset's own columns, ``area``, ``score``..., need none).
    A slice column that is neither raises KeyError with the closest names, before any work."""
    from ..frames import resolve_name
    from ..slicing import split_level
    from ._shared import metric_choices
    names = [metric]
    if slice is not None:
        choices = metric_choices(columns_only=True)
        own = {c for f in (dataset.images, dataset.annotations, dataset.predictions) for c in f}
        for key in [r.key for r in slice.ranges] + list(slice.where):
            column = split_level(key)[1]
            if column in choices:
                names.append(column)
            elif column not in own:
                resolve_name(column, sorted(own | set(choices)), "column in --where")
    return metrics_to_compute(list(dict.fromkeys(names)), "metric column", columns_only=True)


def run(args) -> int:
    """Load, compute the metric, test, print. 0 on success, 2 on unusable input."""
    import warnings

    from ..analysis.hypothesis import test_hypothesis
    from ..compute.engine import compute_metrics
    from ..errors import DatasetError
    if args.annotations is None and yolo_labels_of(args) is None:
        return error("hypothesis", "--annotations (or --yolo-labels) is needed: the test "
                                   "compares the model's performance against ground truth")
    if args.predictions is None and args.yolo_predictions is None:
        return error("hypothesis", "--predictions (or --yolo-predictions) is needed: the test "
                                   "measures the model's predictions on the two sides")
    if args.resamples < 1:
        return error("hypothesis", f"--resamples {args.resamples}: the p-value and the "
                                   "interval that inverts it need permutations (at least 1; "
                                   "default 1000)")
    try:
        with warnings.catch_warnings():
            if args.json:                # keep stdout pure JSON; warnings go to stderr anyway
                warnings.simplefilter("default")
            inside = slice_of(args)
            dataset = load_dataset(args)
            metrics = compute_metrics(dataset, metrics=_needed(args.metric, inside, dataset),
                                      progress=not (args.quiet or args.json))
        category = _category(args.category, dataset)
        result = test_hypothesis(dataset, metrics, metric=args.metric,
                                 threshold=args.threshold, measure=args.measure,
                                 resamples=args.resamples, seed=args.seed, category=category,
                                 score_threshold=args.score_threshold,
                                 progress=not (args.quiet or args.json), workers=args.workers,
                                 level=args.level, resolution=args.resolution,
                                 iou_type=args.iou_type, slice=inside)
    except (DatasetError, ValueError, KeyError, ImportError) as problem:
        message = problem.args[0] if isinstance(problem, KeyError) and problem.args else problem
        return error("hypothesis", message)
    if args.json:
        print_json(json_payload(result))
        return 0
    if result.slice is not None:
        print(f"within the slice: {result.slice}")
    print(result.table().to_string(float_format=lambda v: f"{v:.4f}"))
    lo, hi = result.ci95
    print(f"\ndifference (above - below): {result.difference:+.4f}   95% CI [{lo:+.4f}, "
          f"{hi:+.4f}] (the inverted permutation test: excludes 0 exactly when p < 0.05)")
    stop = ", stopped early" if result.stopped_early else ""
    print(f"permutation p-value: {result.p_value:.4g} ({result.permutations} permutations, "
          f"{result.permutations_dropped} undefined{stop}; two-sided; smallest possible "
          f"{result.min_p:.2g})")
    if result.note:
        print(f"note: {result.note}")
    if result.n_excluded:
        print(f"{result.n_excluded} {'images' if result.level == 'image' else 'annotations'} "
              f"without a value of {result.metric} are in neither side")
    print(f"\n{result.summary}")
    return 0


def _category(category, dataset):
    """``--category`` as a category id (digits) or a name of the dataset; an unknown one raises
    KeyError with the closest names."""
    from ..frames import resolve_name
    if category is None:
        return None
    if category.lstrip("-").isdigit():
        resolve_name(int(category), dataset.categories.index.tolist(), "category id")
        return int(category)
    return resolve_name(category, dataset.categories["name"].astype(str).tolist(), "category")

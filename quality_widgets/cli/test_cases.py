"""``quality-widgets test-cases FILE --images DIR --annotations A.json --predictions P.json``.

Runs the model test cases of FILE (YAML or JSON, schema in :mod:`quality_widgets.testcases`)
(``--iou-type segm``: on masks, ``keypoints``: on keypoints, OKS) and prints a pass/fail table,
or JSON rows with ``--json``. The metrics the slices use are computed first (only those, cached
as usual). Exit code: 0 when every case passes, 1 when one fails, 2 for bad input (unreadable files,
a schema error naming the file, case and field).
"""
from __future__ import annotations

from ..evaluation.params import IOU_TYPES
from ._shared import (
    EXIT_FAILED,
    EXIT_OK,
    add_dataset_arguments,
    check_images_usable,
    error,
    load_dataset,
    print_json,
    yolo_labels_of,
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "test-cases", help="run model test cases (slices with a requirement on AP, recall...): "
                           "exit 0 all pass, 1 some fail, 2 bad input",
        description="Run the model test cases of FILE (YAML or JSON: a list of cases with "
                    "'name', 'where', 'measure', 'min'/'max') on a dataset with labels and "
                    "predictions, computing the metrics the slices use. Exit code 0 when every "
                    "case passes, 1 when one fails, 2 for bad input or nothing usable "
                    "(unreadable files, an unknown column, image files not found...).")
    p.add_argument("file", help="test cases, .yaml/.yml or .json")
    add_dataset_arguments(p, images_required=False)
    p.add_argument("--resamples", type=int, default=200,
                   help="random halves of each slice's images for the confidence intervals "
                        "(default 200; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="resampling seed (default 0)")
    p.add_argument("--iou-type", default="bbox", choices=IOU_TYPES,
                   help="how predictions match labels: box IoU (default), mask IoU "
                        "(segmentations: polygons, RLE) or keypoint OKS (measures: AP, AP50, "
                        "AP75, APm, APl, AR, AR50, AR75, ARm, ARl, precision, recall)")
    p.add_argument("--workers", type=int, help="metric worker processes (default: the cores)")
    p.add_argument("--cache-dir", help="metric cache folder (default ~/.cache/quality-widgets)")
    p.add_argument("--json", action="store_true", help="print the result rows as JSON")
    p.set_defaults(func=run)


def _metrics_for(cases, dataset, args):
    """Compute the registered metrics the slices read (the dataset's own columns need none)."""
    from ..analysis.testcases import referenced_columns
    from ..compute.engine import compute_metrics
    from ..compute.registry import registered_metrics
    from ..frames import resolve_name
    from ._shared import metric_choices
    wanted = set(referenced_columns(cases))
    own = {c for f in (dataset.images, dataset.annotations, dataset.predictions) for c in f}
    choices = metric_choices()
    for column in sorted(wanted - own - set(choices)):   # a typo: say so before any work
        resolve_name(column, sorted(own | set(choices)), "column in the test cases",
                     hint=f"({args.file})")
    names = sorted({m.name for m in registered_metrics()
                    if wanted & set(m.output_columns)})
    if not names:
        return None
    return compute_metrics(dataset, metrics=names, workers=args.workers,
                           cache_dir=args.cache_dir, progress=False)


def run(args) -> int:
    from ..analysis.testcases import TestCaseError, read_test_cases, run_test_cases
    from ..errors import DatasetError
    try:
        cases = read_test_cases(args.file)
        if args.annotations is None and yolo_labels_of(args) is None:
            raise DatasetError(None, "test cases need labels: pass --annotations (or "
                                     "--yolo-labels)", field="--annotations")
        if args.predictions is None and not getattr(args, "yolo_predictions", None):
            raise DatasetError(None, "test cases need the model's predictions: pass "
                                     "--predictions", field="--predictions")
        dataset = load_dataset(args) if args.images is not None else _labels_only(args)
        metrics = _metrics_for(cases, dataset, args)
        if metrics is not None:
            check_images_usable(metrics, args)
        results = run_test_cases(dataset, metrics, cases, resamples=args.resamples,
                                 seed=args.seed, iou_type=args.iou_type)
    except (TestCaseError, DatasetError, FileNotFoundError, ImportError, ValueError) as e:
        return error("test-cases", e)
    if args.json:
        print_json(results.to_dict("records"))
    else:
        shown = results.assign(passed=results["passed"].map({True: "PASS", False: "FAIL"}))
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        n_failed = int((~results["passed"]).sum())
        print(f"\n{len(results) - n_failed} passed, {n_failed} failed")
    return EXIT_OK if bool(results["passed"].all()) else EXIT_FAILED


def _labels_only(args):
    """Without --images: labels and predictions only (slices on image pixels then fail with a
    clear 'no column' error, box geometry and scores work)."""
    from ..data.dataset import Dataset
    from ..errors import DatasetError
    if args.annotations is None:
        raise DatasetError(None, "YOLO labels need --images", field="--images")
    return Dataset.from_coco(None, args.annotations, args.predictions,
                             max_unusable=args.max_unusable)

"""``evaluate`` subcommand: COCO evaluation of a results file against an instances file.

    quality-widgets evaluate --annotations instances.json --predictions results.json [--json]
        [--iou-type bbox|segm|keypoints]

Prints pycocotools' summary table, or with ``--json`` an object ``{"stats": [12 floats (10
for keypoints)],
"per_category": [{"category_id", "name", "AP", "AP50"}, ...]}`` (NaN AP, for a category
without annotations, is written as null).
"""
from __future__ import annotations

from ..evaluation.params import IOU_TYPES
from ._shared import add_max_unusable_argument, error, print_json


def add_parser(subparsers):
    """Register ``evaluate`` on an argparse subparsers object; sets ``func=run``."""
    parser = subparsers.add_parser(
        "evaluate", help="COCO mAP of predictions (pycocotools-exact)",
        description="COCO detection evaluation of a COCO results file against a COCO "
                    "instances file: prints pycocotools' 12-number summary; --json prints the "
                    "12 numbers and the AP and AP50 of every category. Exit code 0, or 2 when "
                    "the input cannot be evaluated (no labels, predictions whose ids do not "
                    "match the labels...).")
    parser.add_argument("--annotations", required=True, help="COCO instances JSON (ground truth)")
    parser.add_argument("--predictions", required=True, help="COCO results JSON (a list)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON (the 12 numbers and per-category AP, AP50) instead "
                             "of the table")
    parser.add_argument("--iou-type", default="bbox", choices=IOU_TYPES,
                        help="box IoU (default), mask IoU (segmentations: polygons, RLE) or "
                             "keypoint OKS")
    add_max_unusable_argument(parser)
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    """Load, evaluate, print. Returns 0, or 2 when the input cannot be evaluated."""
    from ..data.dataset import Dataset
    from ..errors import DatasetError
    from ..evaluation.evaluator import evaluate
    try:
        dataset = Dataset.from_coco(None, args.annotations, args.predictions,
                                    max_unusable=args.max_unusable)
        result = evaluate(dataset, iou_type=args.iou_type)
    except (DatasetError, ValueError, ImportError) as problem:
        return error("evaluate", problem)
    except NotImplementedError as problem:
        return error("evaluate", f"--iou-type {args.iou_type} is not available in this "
                                 f"version ({problem}); use --iou-type bbox")
    if args.json:
        per_category = result.per_category
        payload = {
            "stats": [float(v) for v in result.stats],
            "per_category": [{"category_id": int(cid), "name": str(row["name"]),
                              "AP": row["AP"], "AP50": row["AP50"]}
                             for cid, row in per_category.iterrows()]}
        print_json(payload)
    else:
        print(result.summary())
    return 0

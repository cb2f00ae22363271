"""``evaluate`` subcommand: COCO bbox evaluation of a results file against an instances file.

    quality-widgets evaluate --annotations instances.json --predictions results.json [--json]

Prints pycocotools' summary table, or with ``--json`` an object ``{"stats": [12 floats],
"per_category": [{"category_id", "name", "AP", "AP50"}, ...]}`` (NaN AP, for a category
without annotations, is written as null).
"""
from __future__ import annotations

from ._shared import error, print_json


def add_parser(subparsers):
    """Register ``evaluate`` on an argparse subparsers object; sets ``func=run``."""
    parser = subparsers.add_parser(
        "evaluate", help="COCO mAP of predictions (pycocotools-exact)",
        description="COCO detection evaluation (the 12 pycocotools numbers and per-category AP) "
                    "of a COCO results file against a COCO instances file.")
    parser.add_argument("--annotations", required=True, help="COCO instances JSON (ground truth)")
    parser.add_argument("--predictions", required=True, help="COCO results JSON (a list)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--iou-type", default="bbox", choices=["bbox", "segm"],
                        help="only bbox is implemented")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    """Load, evaluate, print. Returns 0, or 2 when the input cannot be evaluated."""
    from ..data.dataset import Dataset
    from ..errors import DatasetError
    from ..evaluation.evaluator import evaluate
    try:
        dataset = Dataset.from_coco(None, args.annotations, args.predictions)
        result = evaluate(dataset, iou_type=args.iou_type)
    except (DatasetError, NotImplementedError) as problem:
        return error("evaluate", problem)
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

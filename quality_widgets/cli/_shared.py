"""What the subcommands share: the dataset arguments and their loading, JSON output, exit codes.

Exit codes, for every subcommand: 0 ok, 1 a model test case failed (or an export was refused),
2 bad input or nothing usable. A subcommand's ``run(args)`` returns one of them; errors of the
library (:class:`~quality_widgets.DatasetError`...) become code 2 in :func:`main.main`.
"""
from __future__ import annotations

import sys

from ..jsonsafe import dumps

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def add_dataset_arguments(parser, images_required: bool = True) -> None:
    """``--images``, ``--annotations``, ``--predictions`` and the YOLO variants."""
    parser.add_argument("--images", required=images_required, help="folder of images")
    parser.add_argument("--annotations", help="COCO instances JSON")
    parser.add_argument("--predictions", help="COCO results JSON (a list of detections)")
    parser.add_argument("--yolo-labels", help="YOLO labels folder (instead of --annotations)")
    parser.add_argument("--yolo-predictions", help="YOLO predictions folder (6 columns)")
    parser.add_argument("--classes", help="YOLO class names: classes.txt, *.names or data.yaml")


def load_dataset(args):
    """The :class:`~quality_widgets.Dataset` the dataset arguments describe."""
    from ..data.dataset import Dataset
    if getattr(args, "yolo_labels", None):
        return Dataset.from_yolo(args.images, args.yolo_labels, args.classes,
                                 getattr(args, "yolo_predictions", None))
    if args.annotations is None and args.predictions is None:
        return Dataset.from_folder(args.images)
    return Dataset.from_coco(args.images, args.annotations, args.predictions)


def print_json(value) -> None:
    """Strict JSON on stdout (NaN and infinities as null)."""
    print(dumps(value, indent=1))


def error(command: str, message) -> int:
    """Print ``quality-widgets COMMAND: error: MESSAGE`` on stderr; returns exit code 2."""
    print(f"quality-widgets {command}: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT

"""``quality-widgets export``: write a selection of a metrics folder or a dataset as COCO, YOLO,
CSV/Parquet or image copies (the library function :func:`quality_widgets.export`, the one
export path)."""
from __future__ import annotations

import argparse

from ..export import FORMATS
from ..frames import LEVELS
from ._shared import EXIT_OK, add_dataset_arguments, error, load_dataset, note


def add_parser(subparsers) -> None:
    """Register the ``export`` subcommand on an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "export", help="export a selection of images/objects/predictions",
        description="Export the rows matching --where (all rows without it) of a metrics "
                    "folder (--metrics-dir) or of a dataset (COCO, YOLO or a plain folder) as "
                    "COCO JSON, a YOLO folder (with data.yaml), CSV/Parquet or a copy of the "
                    "image files. From a metrics folder the labels are reloaded from the files "
                    "it was computed from (segmentation, licences, URLs kept). Written "
                    "atomically as strict JSON; an existing --out is refused unless "
                    "--overwrite. Exit code 0, or 2 for bad input or a refused export.")
    p.add_argument("--metrics-dir", metavar="DIR",
                   help="folder written by `quality-widgets metrics --out` (images.parquet, "
                        "objects.parquet, predictions.parquet): --where can use its metrics")
    p.add_argument("--metrics", dest="metrics_dir_alias", metavar="DIR",
                   help=argparse.SUPPRESS)          # the old name of --metrics-dir
    add_dataset_arguments(p, images_required=False)
    p.add_argument("--level", choices=LEVELS, default="image",
                   help="rows to select: image, object or prediction (default: image)")
    p.add_argument("--where", help="pandas query on the level's rows, e.g. 'brightness < 0.3'")
    p.add_argument("--format", choices=FORMATS, default="coco")
    p.add_argument("--out", required=True, help="output file or folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out (a folder only if it is a previous export)")
    p.set_defaults(func=run)


def select(frame, where: str):
    """The index of the rows of ``frame`` matching the pandas query ``where``; a name that is
    not a column raises KeyError with the closest columns, any other bad expression
    ValueError naming it."""
    from ..frames import numeric_metric_columns, resolve_name
    try:
        return frame.query(where).index
    except Exception as e:  # pandas raises many kinds for a bad expression
        if type(e).__name__ == "UndefinedVariableError":
            name = str(e).split("'")[1] if "'" in str(e) else str(e)
            columns = list(dict.fromkeys([*numeric_metric_columns(frame), *frame.columns]))
            resolve_name(name, columns, "column in --where",
                         hint=f"(--where {where!r} on the {frame.index.name or 'rows'})")
        raise ValueError(f"--where {where!r} is not a valid query: {type(e).__name__}: "
                         f"{e}") from None


def run(args) -> int:
    """Run ``export`` from parsed arguments; returns the exit code (0 ok, 2 bad input or a
    refused export)."""
    from ..export import export, level_frame
    from ..frames import FRAME_OF_LEVEL, read_metrics
    folder = args.metrics_dir or args.metrics_dir_alias
    has_dataset = any(getattr(args, k, None) for k in (
        "images", "annotations", "predictions", "yolo_labels", "yolo_predictions"))
    if folder is None and not has_dataset:
        return error("export", "give --metrics-dir DIR (a `quality-widgets metrics` output), "
                               "or a dataset: --images with --annotations, --yolo-labels or "
                               "--predictions, or --annotations alone")
    dataset = None
    if has_dataset:
        if args.images is None and args.annotations is not None:
            from ..data.dataset import Dataset
            dataset = Dataset.from_coco(None, args.annotations, args.predictions,
                                        max_unusable=args.max_unusable)
        else:
            dataset = load_dataset(args)
    if folder is not None:
        data = read_metrics(folder)
        if dataset is not None:
            data.dataset = dataset
    else:
        data = dataset
    frame = level_frame(data, args.level)
    try:
        selection = select(frame, args.where) if args.where else None
    except ValueError as e:
        return error("export", e)
    out = export(data, selection, format=args.format, out=args.out, level=args.level,
                 overwrite=args.overwrite)
    n = len(frame) if selection is None else len(selection)
    if n == 0:
        note(args, f"--where {args.where!r} matched no {FRAME_OF_LEVEL[args.level]}")
    print(f"exported {n} {FRAME_OF_LEVEL[args.level]} as {args.format} to {out}")
    return EXIT_OK

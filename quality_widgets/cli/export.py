"""``quality-widgets export``: write a selection of a metrics folder or a dataset as COCO, YOLO,
CSV/Parquet or image copies (the library function :func:`quality_widgets.export`)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..export import FORMATS
from ..frames import LEVELS


def add_parser(subparsers) -> None:
    """Register the ``export`` subcommand on an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "export", help="export a selection of images/objects/predictions",
        description="Export the rows matching --where (all rows without it) as COCO JSON, a "
                    "YOLO folder, CSV/Parquet or a copy of the image files. Written atomically; "
                    "an existing --out is refused unless --overwrite.")
    p.add_argument("--metrics", type=Path, help="folder written by `quality-widgets metrics` "
                   "(images.parquet, objects.parquet, predictions.parquet)")
    p.add_argument("--images", type=Path, help="images folder (with --annotations and/or "
                   "--predictions: a COCO dataset)")
    p.add_argument("--annotations", type=Path, help="COCO instances JSON")
    p.add_argument("--predictions", type=Path, help="COCO results JSON")
    p.add_argument("--level", choices=LEVELS, default="image",
                   help="rows to select: image, object or prediction (default: image)")
    p.add_argument("--where", help="pandas query on the level's rows, e.g. 'brightness < 0.3'")
    p.add_argument("--format", choices=FORMATS, default="coco")
    p.add_argument("--out", type=Path, required=True, help="output file or folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out (a folder only if it is a previous export)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run ``export`` from parsed arguments; returns the exit code (0 ok, 1 refused, 2 bad
    input)."""
    from ..data.dataset import Dataset
    from ..errors import DatasetError, ExportError
    from ..export import export, level_frame
    from ..frames import FRAME_OF_LEVEL, read_metrics
    try:
        dataset = None
        if args.images is not None or args.annotations is not None:
            dataset = Dataset.from_coco(args.images, args.annotations, args.predictions)
        if args.metrics is not None:
            data = read_metrics(args.metrics)
            if dataset is not None:
                data.dataset = dataset
        elif dataset is not None:
            data = dataset
        else:
            print("error: give --metrics DIR, or --images/--annotations (and --predictions)",
                  file=sys.stderr)
            return 2
        if dataset is None and args.format in ("coco", "yolo"):
            # Rebuilt from the frames: categories no row uses are unknown, which shifts YOLO
            # class indices and drops them from COCO "categories".
            print("note: categories come from the metric frames' rows; pass --images and "
                  "--annotations for the dataset's full category list", file=sys.stderr)
        frame = level_frame(data, args.level)
        selection = None
        if args.where:
            try:
                selection = frame.query(args.where).index
            except Exception as e:  # pandas raises many kinds for a bad expression
                print(f"error: --where {args.where!r}: {type(e).__name__}: {e}",
                      file=sys.stderr)
                return 2
        out = export(data, selection, format=args.format, out=args.out, level=args.level,
                     overwrite=args.overwrite)
    except ExportError as e:
        print(f"export refused: {e}", file=sys.stderr)
        return 1
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = len(frame) if selection is None else len(selection)
    print(f"exported {n} {FRAME_OF_LEVEL[args.level]} as {args.format} to {out}")
    return 0

"""The ``quality-widgets`` command: thin wrappers over the Python API.

Subcommands: ``metrics`` (compute metric frames to Parquet), ``demo`` (JupyterLab on the
quickstart notebook), and those other modules add (``evaluate``, ``export``, ``hypothesis``).
"""
from __future__ import annotations

import argparse
import importlib
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

from .cache import write_parquet_atomic

# Modules that contribute subcommands through add_parser(subparsers).
SUBCOMMAND_MODULES = ("quality_widgets.evaluation.command", "quality_widgets.export",
                      "quality_widgets.hypothesis_command", "quality_widgets.drift_command",
                      "quality_widgets.testcases_command")


def _load_dataset(args):
    from .dataset import Dataset
    if getattr(args, "yolo_labels", None):
        return Dataset.from_yolo(args.images, args.yolo_labels, args.classes,
                                 getattr(args, "yolo_predictions", None))
    if args.annotations is None and args.predictions is None:
        return Dataset.from_folder(args.images)
    return Dataset.from_coco(args.images, args.annotations, args.predictions)


def add_dataset_arguments(parser, images_required=True):
    parser.add_argument("--images", required=images_required, help="folder of images")
    parser.add_argument("--annotations", help="COCO instances JSON")
    parser.add_argument("--predictions", help="COCO results JSON (a list of detections)")
    parser.add_argument("--yolo-labels", help="YOLO labels folder (instead of --annotations)")
    parser.add_argument("--yolo-predictions", help="YOLO predictions folder (6 columns)")
    parser.add_argument("--classes", help="YOLO class names: classes.txt, *.names or data.yaml")


def cmd_metrics(args) -> int:
    from .engine import compute_metrics
    dataset = _load_dataset(args)
    metrics = None
    if args.metrics or args.metric_file:
        metrics = [m.strip() for m in (args.metrics or "").split(",") if m.strip()]
        metrics += list(args.metric_file or [])
    cache = False if args.no_cache else args.cache_dir
    frames = compute_metrics(dataset, metrics=metrics, workers=args.workers, cache_dir=cache,
                             progress=not args.quiet)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for level, name in (("image", "images"), ("object", "objects"),
                        ("prediction", "predictions")):
        write_parquet_atomic(frames.frame(level), out / f"{name}.parquet")
    print(f"{dataset!r}")
    print(f"computed {frames.stats['computed']} images, {frames.stats['from_cache']} from the "
          f"cache, {frames.stats['errors']} with errors; wrote {out}/images.parquet "
          f"({len(frames.images)} rows), objects.parquet ({len(frames.objects)} rows), "
          f"predictions.parquet ({len(frames.predictions)} rows)")
    for level in ("image", "object", "prediction"):
        cols = frames.metric_columns(level)
        frame = frames.frame(level)
        if not cols or frame.empty:
            continue
        desc = frame[cols].astype(float).describe().T[["mean", "min", "50%", "max"]]
        print(f"\n{level} metrics:\n{desc.to_string(float_format=lambda v: f'{v:.4g}')}")
    return 0


def find_notebooks_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "_notebooks", here.parent / "notebooks"):
        if (candidate / "quickstart.ipynb").is_file():
            return candidate
    raise FileNotFoundError("quickstart.ipynb not found in the package or the checkout")


def cmd_demo(args, extra) -> int:
    """Copy the notebooks into ./quality-widgets-notebooks (never overwriting a user's edits)
    and start JupyterLab on the quickstart."""
    src = find_notebooks_dir()
    dest = Path(args.dir).absolute()
    dest.mkdir(parents=True, exist_ok=True)
    for nb in sorted(src.glob("*.ipynb")):
        if not (dest / nb.name).exists():
            shutil.copy2(nb, dest / nb.name)
    try:
        importlib.import_module("jupyterlab")
    except ImportError:
        print("quality-widgets demo needs JupyterLab: pip install 'quality-widgets[demo]'",
              file=sys.stderr)
        return 1
    cmd = [sys.executable, "-m", "jupyterlab", str(dest / "quickstart.ipynb"), *extra]
    print("starting:", " ".join(cmd), flush=True)
    if args.dry_run:
        return 0
    return subprocess.call(cmd, cwd=dest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quality-widgets",
        description="Quality metrics for computer-vision datasets, labels and predictions.")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("metrics", help="compute metric frames and write them as Parquet")
    add_dataset_arguments(p)
    p.add_argument("--out", required=True, help="output folder for images/objects/predictions"
                                                ".parquet")
    p.add_argument("--metrics", help="comma-separated metric names (default: all)")
    p.add_argument("--metric-file", action="append", help="a .py file of @metric functions "
                                                           "(repeatable)")
    p.add_argument("--workers", type=int, help="worker processes (default: the cores)")
    p.add_argument("--cache-dir", help="metric cache folder (default ~/.cache/quality-widgets)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_metrics)
    p = sub.add_parser("demo", help="open the quickstart notebook in JupyterLab (extra "
                                    "arguments such as --no-browser go to JupyterLab)")
    p.add_argument("--dir", default="quality-widgets-notebooks",
                   help="where the notebooks are copied (default ./quality-widgets-notebooks)")
    p.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_demo, takes_extra=True)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if extra and not getattr(args, "takes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from .errors import DatasetError, ExportError
    try:
        if getattr(args, "takes_extra", False):
            return args.func(args, extra)
        return int(args.func(args) or 0)
    except (DatasetError, ExportError, FileNotFoundError, KeyError) as e:
        print(f"quality-widgets {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

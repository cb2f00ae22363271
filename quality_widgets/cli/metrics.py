"""``quality-widgets metrics``: compute the metric frames of a dataset and write them as Parquet."""
from __future__ import annotations

from pathlib import Path

from ._shared import (EXIT_OK, add_dataset_arguments, check_images_usable, error, load_dataset,
                      metrics_to_compute)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "metrics", help="compute metric frames and write them as Parquet",
        description="Compute the quality metrics of a dataset (all built-in ones by default) and "
                    "write images.parquet, objects.parquet and predictions.parquet into --out "
                    "(read them back with qw.read_metrics(DIR) or qw.Explorer(DIR)). The "
                    "dataset is COCO (--annotations), YOLO (--yolo-labels, or a labels/ folder "
                    "beside an images/ folder) or a plain folder of images. Exit code 0, or 2 "
                    "for unusable input (see --max-unusable).")
    add_dataset_arguments(p)
    p.add_argument("--out", required=True, help="output folder for images/objects/predictions"
                                                ".parquet (created)")
    p.add_argument("--metrics", help="comma-separated metric names to compute (functions or "
                                     "the columns they write, e.g. brightness,margin; default: "
                                     "all)")
    p.add_argument("--metric-file", action="append", help="a .py file of @metric functions "
                                                           "(repeatable)")
    p.add_argument("--workers", type=int, help="worker processes (default: the cores)")
    p.add_argument("--cache-dir", help="metric cache folder (default ~/.cache/quality-widgets)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..compute.engine import compute_metrics
    from ..frames import write_metrics
    out = Path(args.out)
    if out.exists() and not out.is_dir():        # before the work, not after it
        return error("metrics", f"{out}: --out must be a folder, and this is an existing file")
    dataset = load_dataset(args)
    metrics = None
    from_files = []
    if args.metric_file:                         # loaded first: valid --metrics names too
        from ..compute.registry import load_metric_file
        from_files = [m for file in args.metric_file for m in load_metric_file(file)]
    if args.metrics or args.metric_file:
        names = [m.strip() for m in (args.metrics or "").split(",") if m.strip()]
        metrics = metrics_to_compute(names) + from_files
    cache = False if args.no_cache else args.cache_dir
    frames = compute_metrics(dataset, metrics=metrics, workers=args.workers, cache_dir=cache,
                             progress=not args.quiet)
    check_images_usable(frames, args)
    write_metrics(frames, out)
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
    return EXIT_OK

"""``quality-widgets drift --a DIR_A --b DIR_B [--json]``: the drift table of two metric folders.

The folders are written by ``quality-widgets metrics --out DIR`` (``images.parquet``,
``objects.parquet``, ``predictions.parquet``). Prints the table of
:func:`quality_widgets.compare_drift` (largest drift first), or with ``--json`` a JSON list of
its rows. Exit code 0 (drift is a report, not a failure; guard a model with ``test-cases``),
2 for unreadable input.
"""
from __future__ import annotations

from ._shared import EXIT_OK, error, positive_int, print_json


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "drift", help="compare the metric distributions of two metric folders (KS, Wasserstein, "
                      "PSI, Holm-adjusted p-values)",
        description="Compare every metric of two metrics folders (written by `quality-widgets "
                    "metrics --out`): one row per metric and level with the KS statistic, its "
                    "p-value (by image permutation for objects and predictions), the "
                    "Holm-adjusted p-value, the Wasserstein distance and the PSI with its "
                    "band (stable / moderate / major, or 'noise' when samples this small give "
                    "such a PSI by chance). Exit code 0 (drift is a report; guard a model "
                    "with test-cases), 2 for unreadable input or an unknown metric name.")
    p.add_argument("--a", required=True, metavar="DIR_A",
                   help="reference metrics folder (from `quality-widgets metrics --out`)")
    p.add_argument("--b", required=True, metavar="DIR_B", help="metrics folder to compare")
    p.add_argument("--level", action="append", choices=["image", "object", "prediction"],
                   help="only these levels (repeatable; default all)")
    p.add_argument("--metrics", help="comma-separated metric columns to compare (default: all "
                                     "in both)")
    p.add_argument("--permutations", type=positive_int, default=999,
                   help="image permutations for object/prediction p-values (default 999)")
    p.add_argument("--seed", type=int, default=0, help="permutation seed (default 0)")
    p.add_argument("--top", type=int, help="print only the first N rows")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..analysis.drift import compare
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    table = compare(args.a, args.b, levels=tuple(args.level or ("image", "object",
                                                                 "prediction")),
                    metrics=metrics, permutations=args.permutations, seed=args.seed)
    if table.empty:                              # a drift table of nothing is not a result
        return error("drift", f"no metric has finite values in both {args.a} and {args.b} "
                              "(were they written by `quality-widgets metrics` on images that "
                              "could be read?)")
    if args.top is not None:
        table = table.head(args.top)
    if args.json:
        print_json(table.to_dict("records"))
        return EXIT_OK
    shown = table.drop(columns=["p_method", "median_a", "median_b"])
    print(f"drift from {args.a} (A) to {args.b} (B), largest KS statistic first; p_holm: Holm-"
          "adjusted over all rows; object/prediction p-values by image permutation")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return EXIT_OK

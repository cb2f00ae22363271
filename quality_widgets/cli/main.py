"""The ``quality-widgets`` command (also ``python -m quality_widgets``): thin wrappers over the
Python API, one module per subcommand, each with ``add_parser(subparsers)`` and ``run(args)``."""
from __future__ import annotations

import argparse
import sys

from . import demo, drift, evaluate, export, hypothesis, metrics, test_cases
from ._shared import EXIT_BAD_INPUT, error, one_line_warnings

SUBCOMMANDS = (metrics, evaluate, hypothesis, test_cases, drift, export, demo)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    parser = argparse.ArgumentParser(
        prog="quality-widgets",
        description="Quality metrics for computer-vision datasets, labels and predictions.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 a test case failed, 2 bad input or
    nothing usable: see :mod:`._shared`)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    if extra and not getattr(args, "takes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from ..analysis.testcases import TestCaseError
    from ..errors import DatasetError, ExportError
    with one_line_warnings(args.command):
        try:
            if getattr(args, "takes_extra", False):
                return args.func(args, extra)
            return int(args.func(args) or 0)
        except (DatasetError, ExportError, TestCaseError, FileNotFoundError,
                NotADirectoryError, IsADirectoryError) as e:
            return error(args.command, e)
        except KeyError as e:               # a name that is not there: its message, unquoted
            return error(args.command, e.args[0] if e.args else e)


if __name__ == "__main__":
    sys.exit(main())

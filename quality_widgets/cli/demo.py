"""``quality-widgets demo``: JupyterLab on the quickstart notebook of the bundled sample."""
from __future__ import annotations

import argparse
import importlib
import shutil
import subprocess
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="open the quickstart notebook in JupyterLab (extra "
                                           "arguments such as --no-browser go to JupyterLab)",
                              description="Copy the notebooks (quickstart on the bundled "
                                          "sample, and the others) into --dir, never "
                                          "overwriting an edited one, and start JupyterLab on "
                                          "the quickstart. Needs the demo extra: pip install "
                                          "'quality-widgets[demo]'.")
    p.add_argument("--dir", default="quality-widgets-notebooks",
                   help="where the notebooks are copied (default ./quality-widgets-notebooks)")
    p.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run, takes_extra=True)


def find_notebooks_dir() -> Path:
    """The notebooks: shipped in the wheel (``_notebooks``) or the checkout's ``notebooks/``."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_notebooks", package.parent / "notebooks"):
        if (candidate / "quickstart.ipynb").is_file():
            return candidate
    raise FileNotFoundError("quickstart.ipynb not found in the package or the checkout")


def run(args, extra) -> int:
    """Copy the notebooks into ``--dir`` (never overwriting a user's edits) and start
    JupyterLab on the quickstart."""
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

"""Errors and warnings raised for bad input.

Two kinds of badness, two behaviours (see README, "Bad data"):

* a malformed *file* (not JSON, a missing top-level key, a results file that is an object
  instead of a list) cannot be used at all: :class:`DatasetError` names the file, the field and
  what was expected;
* malformed *rows* (a box with NaN coordinates, an annotation of an unknown image) are skipped
  and counted in one :class:`DataWarning` per file and kind of problem, naming the first few rows,
  so that one bad row never costs the other 100,000.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence


class DatasetError(ValueError):
    """A dataset file cannot be read. ``file`` and ``field`` say where, the message says why."""

    def __init__(self, file, message: str, field: str | None = None):
        self.file = str(file) if file is not None else None
        self.field = field
        self.reason = message
        where = self.file or "<data>"
        if field:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class DataWarning(UserWarning):
    """Rows of a dataset file were skipped or repaired; the message counts and names them."""


class ExportError(ValueError):
    """An export was refused (unsafe path, existing target without ``overwrite=True``...)."""


def warn_rows(file, problem: str, rows: Sequence, total: int | None = None,
              action: str = "skipped", show: int = 5) -> None:
    """Emit one :class:`DataWarning` for ``rows`` (row labels) sharing one ``problem``."""
    rows = list(rows)
    if not rows:
        return
    first = ", ".join(str(r) for r in rows[:show])
    more = f" (and {len(rows) - show} more)" if len(rows) > show else ""
    of_total = f" of {total}" if total is not None else ""
    warnings.warn(
        f"{file}: {action} {len(rows)}{of_total} row(s) with {problem}: {first}{more}",
        DataWarning, stacklevel=3)


"""The Explorer's group-by panel: the column choice, bars per group on the histogram and the
table of selected rows per group. Display only: the groups, bars and counts are
:func:`quality_widgets.analysis.selection.group_codes`,
:func:`~quality_widgets.analysis.selection.grouped_histogram` and
:func:`~quality_widgets.analysis.selection.count_by_group`."""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from ..analysis import selection as sel
from .group_bars import GroupBars

NONE = ("(none)", "")


class GroupByControl(widgets.Dropdown):
    """"group by": "(none)" and a frame's categorical columns (value "" = no grouping)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("layout", widgets.Layout(width="240px"))
        super().__init__(description="group by", options=[NONE], **kwargs)

    def set_columns(self, columns, keep: str = "") -> str:
        """Offer ``columns`` (and ``keep``, asked for explicitly, e.g. a numeric code
        column); choose ``keep`` when offered, else "(none)". Returns the chosen value."""
        columns = list(columns)
        if keep and keep not in columns:
            columns.append(keep)
        self.options = [NONE, *[(c, c) for c in columns]]
        self.value = keep if keep in columns else ""
        return self.value

    def show(self, column: str) -> None:
        """Show ``column`` as chosen (added to the options when it is not one)."""
        if self.value != column:
            if column not in [v for _, v in self.options]:
                self.options = [*self.options, (column, column)]
            self.value = column


class GroupTable(widgets.HTML):
    """Per group: selected rows, rows and the selected percentage, as an HTML table."""

    def show(self, counts, column: str) -> None:
        """``counts``: :func:`~quality_widgets.analysis.selection.count_by_group`'s frame
        (None: no table)."""
        if counts is None:
            self.value = ""
            return
        rows = "".join(
            f"<tr><td>{html.escape(str(g))}</td><td style='text-align:right'>{r.selected:,}"
            f"</td><td style='text-align:right'>{r.n:,}</td><td style='text-align:right'>"
            f"{html.escape(sel.format_value(100 * r.fraction))}%</td></tr>"
            for g, r in zip(counts.index, counts.itertuples(), strict=True))
        self.value = (f"<table style='font-size:12px'><tr><th>{html.escape(column)}</th>"
                      f"<th>selected</th><th>rows</th><th>%</th></tr>{rows}</table>")


class GroupPanel:
    """The group-by parts of a histogram view: ``control`` (the column), ``bars`` (one colour
    per group on ``histogram``) and ``table`` (selected rows per group). Not a widget itself:
    its parts sit in different rows. A column's groups are computed once per frame."""

    def __init__(self, histogram):
        self.control = GroupByControl()
        self.bars = GroupBars(histogram)
        self.table = GroupTable()
        self._codes = None          # (key, codes, names)

    def codes(self, frame, column: str, key) -> tuple | None:
        """``(codes, names)`` of ``frame[column]`` (None: no such column), kept for ``key``
        (e.g. the level) until the frame or column changes."""
        if not column or column not in frame.columns:
            return None
        key = (key, column, len(frame))
        if self._codes is None or self._codes[0] != key:
            self._codes = (key, *sel.group_codes(frame[column]))
        return self._codes[1], self._codes[2]

    def draw(self, groups, values, histogram) -> None:
        """Bars per group of ``values`` on ``histogram``'s bins (back to the plain histogram
        when ``groups``, ``values`` or ``histogram`` is None)."""
        if groups is None or values is None or histogram is None:
            self.bars.show(None)
            return
        codes, names = groups
        labels = np.asarray(names, dtype=object)[codes]
        self.bars.show(sel.grouped_histogram(values, labels, bins=histogram.edges,
                                             log=histogram.log, order=names))

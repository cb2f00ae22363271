"""Bars per group on a :class:`MetricHistogram`: the Explorer's "group by" and the DriftView's
two datasets side by side. Display only: the counts are
:func:`quality_widgets.analysis.selection.grouped_histogram`.
"""
from __future__ import annotations

import bqplot as bq
import numpy as np

from ..analysis import selection as sel
from .histogram import MetricHistogram

# One colour per group (tab10 without the brush orange); "(other)" is grey.
GROUP_COLORS = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                "#bcbd22"]
OTHER_COLOR = "#7f7f7f"


class GroupBars:
    """Bars per group drawn on a :class:`MetricHistogram`'s figure and scales (so its brush
    still selects), from a :class:`~quality_widgets.analysis.selection.GroupedHistogram`:
    ``"stacked"`` (the total is the plain histogram) or ``"grouped"`` (side by side, for
    normalised comparisons). While groups are shown the plain bars are hidden."""

    def __init__(self, histogram: MetricHistogram, type: str = "stacked"):
        self.histogram = histogram
        self.bars = bq.Bars(x=np.zeros(1), y=np.zeros((1, 1)), type=type, padding=0.05,
                            opacities=[0.85], visible=False, display_legend=True,
                            scales={"x": histogram.x_scale, "y": histogram.y_scale})
        # Joined to the figure only while groups are shown: bqplot sizes a scale from the data
        # of every mark on it, hidden ones included, so a parked placeholder would distort the
        # plain histogram's x axis in the browser.
        self.grouped: sel.GroupedHistogram | None = None

    def _attach(self, on: bool) -> None:
        figure = self.histogram.figure
        marks = [m for m in figure.marks if m is not self.bars]
        figure.marks = [*marks, self.bars] if on else marks

    def show(self, grouped: sel.GroupedHistogram | None) -> None:
        """Draw ``grouped`` (None: back to the plain histogram)."""
        self.grouped = grouped
        if grouped is None or not grouped.groups:
            self.bars.visible = False
            self._attach(False)
            self.histogram.bars.visible = True
            self.histogram.figure.legend_location = "top-right"
            return
        colors = [OTHER_COLOR if g == sel.OTHER_GROUP else GROUP_COLORS[i % len(GROUP_COLORS)]
                  for i, g in enumerate(grouped.groups)]
        with self.bars.hold_sync():
            self.bars.x = grouped.centers
            self.bars.y = grouped.heights
            self.bars.colors = colors
            self.bars.labels = [str(g) for g in grouped.groups]
            self.bars.visible = True
        self._attach(True)
        self.histogram.bars.visible = False
        top = float(grouped.heights.sum(axis=0).max()) if self.bars.type == "stacked" else \
            float(grouped.heights.max())
        self.histogram.y_scale.max = (top if top > 0 else 1.0) * 1.05

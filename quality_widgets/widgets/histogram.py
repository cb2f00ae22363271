"""A bqplot histogram of one metric with a brush: the brushed interval is the ``interval`` trait.

Display and link only: bins, highlight flags and the outlier fences come from
:mod:`quality_widgets.analysis.selection`.
"""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import traitlets
from bqplot.interacts import BrushIntervalSelector

from ..analysis import selection as sel
from .traits import Quiet

BAR_COLOR = "#9aa7b8"
HIGHLIGHT_COLOR = "#ff7f0e"
BAND_COLOR = "#2ca02c"


class MetricHistogram(Quiet, widgets.VBox):
    """Histogram of ``values`` (one metric column) with a ``BrushIntervalSelector``.

    ``interval`` is ``(lo, hi)`` of the brush in data units (None when nothing is brushed);
    dragging the brush sets it, and setting it from Python moves the brush. Rows with
    ``lo <= value <= hi`` are the selected ones (see
    :mod:`quality_widgets.analysis.selection`); bins overlapping the interval are drawn
    highlighted. ``bins`` and ``log`` (log10(1 + count) heights) have their own controls. The
    green band spans Tukey's outlier fences ``[Q1 - 1.5 IQR, Q3 + 1.5 IQR]`` (IQR = Q3 - Q1):
    values outside it are outliers; the label under the plot gives the two fences (not the
    interquartile range itself).

    Counts are computed once per (values, bins, log); a brush only recomputes the per-bin
    highlight flags, so the figure receives ``2 x bins`` numbers per brush update.
    """

    metric = traitlets.Unicode("").tag(doc="label of the x axis")
    bins = traitlets.Int(30)
    log = traitlets.Bool(False)
    interval = traitlets.Any(None, allow_none=True)
    highlighted = traitlets.Any(None, allow_none=True).tag(doc="bool per bin")

    def __init__(self, values=None, metric: str = "", bins: int = 30, log: bool = False,
                 **kwargs):
        self._values = np.zeros(0)
        self._hist: sel.Histogram | None = None
        self.x_scale = bq.LinearScale()
        self.y_scale = bq.LinearScale(min=0.0)
        # Two stacked series (not brushed / brushed) so highlighting only changes bar heights.
        self.bars = bq.Bars(x=np.zeros(1), y=np.zeros((2, 1)), type="stacked",
                            colors=[BAR_COLOR, HIGHLIGHT_COLOR], padding=0.05,
                            scales={"x": self.x_scale, "y": self.y_scale})
        self.band = bq.Lines(x=[0.0, 0.0, 0.0, 0.0, 0.0], y=[0.0, 0.0, 0.0, 0.0, 0.0],
                             fill="inside", fill_colors=[BAND_COLOR], fill_opacities=[0.08],
                             colors=[BAND_COLOR], line_style="dashed", opacities=[0.6],
                             scales={"x": self.x_scale, "y": self.y_scale})
        self.x_axis = bq.Axis(scale=self.x_scale, label=metric, tick_format="0.3~g")
        self.y_axis = bq.Axis(scale=self.y_scale, side="left", label="count",
                              tick_format="0.3~s")
        self.selector = BrushIntervalSelector(scale=self.x_scale, marks=[], color=HIGHLIGHT_COLOR)
        self.figure = bq.Figure(marks=[self.band, self.bars], axes=[self.x_axis, self.y_axis],
                                interaction=self.selector, padding_y=0.0,
                                fig_margin=dict(top=10, bottom=40, left=55, right=10),
                                layout=widgets.Layout(height="240px", width="100%"))
        self.bins_control = widgets.IntSlider(value=bins, min=5, max=200, step=5,
                                              description="bins", continuous_update=False,
                                              layout=widgets.Layout(width="260px"))
        self.log_control = widgets.Checkbox(value=log, description="log count", indent=False,
                                            layout=widgets.Layout(width="110px"))
        self.fences_label = widgets.HTML()
        super().__init__(children=[self.figure, widgets.HBox(
            [self.bins_control, self.log_control, self.fences_label])], **kwargs)
        widgets.link((self.bins_control, "value"), (self, "bins"))
        widgets.link((self.log_control, "value"), (self, "log"))
        self.selector.observe(self._on_brush, "selected")
        self.metric = metric
        self.bins, self.log = bins, log
        if values is not None:
            self.set_values(values, metric)

    # ---- data ----------------------------------------------------------------------------
    @property
    def histogram(self) -> sel.Histogram | None:
        """The current :class:`~quality_widgets.analysis.selection.Histogram`."""
        return self._hist

    def set_values(self, values, metric: str | None = None) -> None:
        """Show another column (clears the brush)."""
        self._values = sel.as_float(values)
        if metric is not None:
            self.metric = metric
        self.interval = None
        self._rebin()

    @traitlets.observe("metric")
    def _on_metric(self, change):
        self.x_axis.label = change["new"]

    @traitlets.observe("bins", "log")
    def _on_bins(self, change):
        self._rebin()

    def _rebin(self) -> None:
        hist = sel.histogram(self._values, self.bins, self.log)
        self._hist = hist
        band = sel.iqr_band(self._values)
        top = float(hist.heights.max()) if hist.heights.size else 1.0
        top = top if top > 0 else 1.0
        with self.figure.hold_sync(), self.bars.hold_sync(), self.band.hold_sync():
            # Pin the x scale to the bins so the brush maps to the same data range as the bars.
            lo, hi = float(hist.edges[0]), float(hist.edges[-1])
            if band is not None:
                lo, hi = min(lo, band.low), max(hi, band.high)
            self.x_scale.min, self.x_scale.max = lo, hi
            self.y_scale.max = top * 1.05
            self.y_axis.label = "log10(1 + count)" if hist.log else "count"
            self.bars.x = hist.centers
            if band is not None:
                self.band.x = [band.low, band.high, band.high, band.low, band.low]
                self.band.y = [0.0, 0.0, top, top, 0.0]
                self.band.visible = True
            else:
                self.band.visible = False
            self._highlight()
        self.fences_label.value = (
            f"<span style='color:{BAND_COLOR}' title='Tukey&#39;s fences Q1 - 1.5 IQR and "
            f"Q3 + 1.5 IQR: values outside are outliers'>outlier fences "
            f"[{sel.format_value(band.low)}, {sel.format_value(band.high)}] (1.5 IQR beyond "
            f"the quartiles)</span>" if band is not None else "")
        if hist.n_missing:
            self.fences_label.value += f" &middot; {hist.n_missing:,} NaN not drawn"

    def _highlight(self) -> None:
        hist = self._hist
        if hist is None:
            return
        if self.interval is None:
            flags = np.zeros(hist.counts.size, dtype=bool)
        else:
            flags = sel.overlapping_bins(hist.edges, *self.interval)
        self.highlighted = flags
        self.bars.y = np.vstack([np.where(flags, 0.0, hist.heights),
                                 np.where(flags, hist.heights, 0.0)])

    # ---- brush <-> interval --------------------------------------------------------------
    def _on_brush(self, change):
        if self._quieted:
            return
        value = change["new"]
        if value is None or len(value) < 2:
            self.interval = None
        else:
            self.interval = sel.ordered_interval(float(np.min(value)), float(np.max(value)))

    @traitlets.validate("interval")
    def _valid_interval(self, proposal):
        value = proposal["value"]
        if value is None:
            return None
        lo, hi = value
        return sel.ordered_interval(lo, hi)

    @traitlets.observe("interval")
    def _on_interval(self, change):
        value = change["new"]
        with self._quiet():
            current = self.selector.selected
            if value is None:
                if current is not None and len(current):
                    self.selector.selected = None
                    # The frontend redraws the highlight for a null selection but keeps the
                    # brush rectangle; "reset" removes it.
                    self.selector.reset()
            elif current is None or len(current) < 2 or \
                    (float(np.min(current)), float(np.max(current))) != tuple(value):
                self.selector.selected = np.array(value, dtype=float)
        with self.bars.hold_sync():
            self._highlight()

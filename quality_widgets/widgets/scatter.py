"""A bqplot scatter of two metrics with a rectangle brush (``BrushSelector``).

The brushed rectangle is the ``rect`` trait; the rows it selects are computed on *all* rows
(:func:`quality_widgets.slicing.range_mask` on both columns) by whoever observes ``rect``.
Only a fixed random subsample of at most ``max_points`` points is drawn, so a million rows stay
light in the browser.
"""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import traitlets
from bqplot.interacts import BrushSelector

from ..analysis import selection as sel
from .traits import Quiet

POINT_COLOR = "#1f77b4"
MAX_POINTS = 5000
# A Dropdown without options holds None; the metric traits hold "" then.
_NONE_AS_EMPTY = (lambda v: v or "", lambda v: v or None)


def subsample(n: int, max_points: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Sorted positions of at most ``max_points`` of ``n`` rows (the same for the same n)."""
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max_points, replace=False))


class MetricScatter(Quiet, widgets.VBox):
    """Scatter of ``x_metric`` against ``y_metric`` with a rectangle brush.

    ``options`` lists the metrics offered in the two dropdowns; whoever owns the data observes
    ``x_metric``/``y_metric`` and calls :meth:`set_values`. ``rect`` is
    ``((x_lo, x_hi), (y_lo, y_hi))`` or None; setting it moves the brush. ``highlight`` (a bool
    per row, all rows) greys out the drawn points that are not in the current selection.
    """

    options = traitlets.List(traitlets.Unicode())
    x_metric = traitlets.Unicode("")
    y_metric = traitlets.Unicode("")
    rect = traitlets.Any(None, allow_none=True)
    max_points = traitlets.Int(MAX_POINTS)

    def __init__(self, options=(), x_metric: str = "", y_metric: str = "", **kwargs):
        self.x_scale, self.y_scale = bq.LinearScale(), bq.LinearScale()
        self.points = bq.Scatter(x=np.zeros(0), y=np.zeros(0), colors=[POINT_COLOR],
                                 default_size=12, opacities=[0.6], stroke_width=0,
                                 unselected_style={"opacity": 0.12},
                                 scales={"x": self.x_scale, "y": self.y_scale})
        self.x_axis = bq.Axis(scale=self.x_scale, label=x_metric, tick_format="0.3~g")
        self.y_axis = bq.Axis(scale=self.y_scale, side="left", label=y_metric,
                              tick_format="0.3~g")
        self.selector = BrushSelector(x_scale=self.x_scale, y_scale=self.y_scale, marks=[],
                                      color="#ff7f0e")
        self.figure = bq.Figure(marks=[self.points], axes=[self.x_axis, self.y_axis],
                                interaction=self.selector,
                                fig_margin=dict(top=10, bottom=40, left=55, right=10),
                                layout=widgets.Layout(height="300px", width="100%"))
        self.x_control = widgets.Dropdown(description="x", layout=widgets.Layout(width="260px"))
        self.y_control = widgets.Dropdown(description="y", layout=widgets.Layout(width="260px"))
        self.note = widgets.HTML()
        super().__init__(children=[widgets.HBox([self.x_control, self.y_control, self.note]),
                                   self.figure], **kwargs)
        widgets.link((self.x_control, "value"), (self, "x_metric"), transform=_NONE_AS_EMPTY)
        widgets.link((self.y_control, "value"), (self, "y_metric"), transform=_NONE_AS_EMPTY)
        self._drawn = np.zeros(0, dtype=np.int64)  # row positions of the drawn points
        self.selector.observe(self._on_brush, ["selected_x", "selected_y"])
        self.options = list(options)
        if x_metric:
            self.x_metric = x_metric
        if y_metric:
            self.y_metric = y_metric

    @traitlets.observe("options")
    def _on_options(self, change):
        opts = list(change["new"])
        x, y = self.x_metric, self.y_metric
        self.x_control.options = opts
        self.y_control.options = opts
        if opts:
            self.x_control.value = x if x in opts else opts[0]
            self.y_control.value = y if y in opts else opts[min(1, len(opts) - 1)]

    @property
    def drawn_positions(self) -> np.ndarray:
        """Row positions (in the frame) of the points drawn."""
        return self._drawn

    def set_values(self, x_values, y_values) -> None:
        """Draw a subsample of the (finite) pairs; clears the brush."""
        x, y = sel.as_float(x_values), sel.as_float(y_values)
        finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        self._drawn = finite[subsample(finite.size, self.max_points)]
        self.rect = None
        with self.points.hold_sync():
            self.points.x = x[self._drawn]
            self.points.y = y[self._drawn]
            self.points.selected = None
        self.x_axis.label, self.y_axis.label = self.x_metric, self.y_metric
        n = x.size
        self.note.value = (f"{self._drawn.size:,} of {finite.size:,} points drawn"
                           if self._drawn.size < finite.size else "")
        if n and finite.size < n:
            self.note.value += f" ({n - finite.size:,} with NaN left out)"

    def set_highlight(self, mask) -> None:
        """Mark the drawn points whose row is in ``mask`` (None: no selection, all plain)."""
        if mask is None:
            self.points.selected = None
        else:
            self.points.selected = np.flatnonzero(np.asarray(mask)[self._drawn]).astype(np.int32)

    # ---- brush <-> rect ------------------------------------------------------------------
    def _on_brush(self, change):
        if self._quieted:
            return
        sx, sy = self.selector.selected_x, self.selector.selected_y
        if sx is None or sy is None or len(sx) < 2 or len(sy) < 2:
            self.rect = None
        else:
            self.rect = (sel.ordered_interval(float(sx[0]), float(sx[1])),
                         sel.ordered_interval(float(sy[0]), float(sy[1])))

    @traitlets.observe("rect")
    def _on_rect(self, change):
        rect = change["new"]
        with self._quiet(), self.selector.hold_sync():
            if rect is None:
                had = self.selector.selected_x is not None and len(self.selector.selected_x)
                self.selector.selected_x = None
                self.selector.selected_y = None
                if had:
                    self.selector.reset()  # removes the drawn rectangle in the browser
            else:
                (x0, x1), (y0, y1) = rect
                self.selector.selected_x = np.array([x0, x1], dtype=float)
                self.selector.selected_y = np.array([y0, y1], dtype=float)

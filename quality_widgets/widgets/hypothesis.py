"""Hypothesis-test widgets: does a metric affect the model's performance?

Display and controls only: the split, measures, bootstrap and permutations are
:func:`quality_widgets.analysis.hypothesis.test_hypothesis`, ``performance_curve`` and
``rank_metrics``; the columns offered, the reference values and the default threshold are
``testable_metrics``, ``reference_values`` and ``default_threshold`` of the same module
(:mod:`quality_widgets.analysis.hypothesis`); the bins and their sides are
:func:`quality_widgets.analysis.selection.histogram` and ``threshold_split``. The plots are
widgets of their own: :class:`SplitHistogram` (the metric's two sides) and :class:`CurvePlot`
(the measure per bin).
"""
from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import traitlets

from ..analysis import hypothesis as hyp
from ..analysis import selection as sel

BELOW_COLOR = "#1f77b4"
ABOVE_COLOR = "#ff7f0e"


HISTOGRAM_BINS = 30


def metric_options(metrics) -> list:
    """(label, column) for the dropdown: every column a test can split on
    (:func:`~quality_widgets.analysis.hypothesis.testable_metrics`); a name at both levels is
    listed once, "(image, object)", and needs ``level``."""
    return [(f"{c} ({level})", c) for c, level in hyp.testable_metrics(metrics)]


def result_html(result) -> str:
    """The result table and sentence as HTML, every text escaped."""
    esc = html.escape
    rows = []
    for side, op in ((result.below, "<"), (result.above, ">=")):
        rows.append(f"<tr><td>{esc(result.metric)} {op} {result.threshold:.4g}</td>"
                    f"<td>{side.n_images}</td><td>{side.n_annotations}</td>"
                    f"<td>{side.n_predictions}</td><td>{side.value:.4f}</td></tr>")
    lo, hi = result.ci95
    head = ("<tr><th>side</th><th>images</th><th>annotations</th><th>predictions</th>"
            f"<th>{esc(result.measure)}</th></tr>")
    stats = (f"<p>difference {result.difference:+.4f}, 95% CI [{lo:+.4f}, {hi:+.4f}], "
             f"p = {result.p_value:.4g} ({result.permutations - result.permutations_dropped} "
             f"permutations, smallest possible p {result.min_p:.2g})</p>"
             ) if not result.too_small else ""
    rests = (f"<p>each side rests on: below {result.below.n_annotations} boxes in "
             f"{result.below.n_categories} categories, above {result.above.n_annotations} "
             f"boxes in {result.above.n_categories} categories</p>")
    note = f"<p><i>{esc(result.note)}</i></p>" if result.note else ""
    style = "color:#b00" if result.too_small else ""
    return (f"<table class='qw-hypothesis'>{head}{''.join(rows)}</table>{stats}{rests}{note}"
            f"<p style='{style}'><b>{esc(result.summary)}</b></p>")


ALL_CATEGORIES = -1


class SplitHistogram(bq.Figure):
    """The metric's histogram, the bars below the threshold blue and above it orange, and the
    threshold as a dashed line: ``bars``, ``threshold_line``, ``axis``."""

    def __init__(self, label: str = "", **kwargs):
        self.x_scale, self.y_scale = bq.LinearScale(), bq.LinearScale(min=0.0)
        self.bars = bq.Bars(x=np.zeros(1), y=np.zeros((2, 1)), type="stacked",
                            colors=[BELOW_COLOR, ABOVE_COLOR], padding=0.05,
                            scales={"x": self.x_scale, "y": self.y_scale})
        self.threshold_line = bq.Lines(x=[0.0, 0.0], y=[0.0, 1.0], colors=["black"],
                                       line_style="dashed",
                                       scales={"x": self.x_scale,
                                               "y": bq.LinearScale(min=0.0, max=1.0)})
        self.axis = bq.Axis(scale=self.x_scale, label=label, tick_format="0.3~g")
        super().__init__(marks=[self.bars, self.threshold_line],
                         axes=[self.axis, bq.Axis(scale=self.y_scale, side="left",
                                                  label="count", tick_format="0.3~s")],
                         fig_margin=dict(top=10, bottom=40, left=55, right=10),
                         layout=widgets.Layout(height="200px", width="100%"), **kwargs)

    def mark(self, threshold: float, below, above) -> None:
        """Bar heights below and above ``threshold`` (per bin), and the line at it."""
        self.bars.y = np.vstack([below, above])
        self.threshold_line.x = [threshold, threshold]


class CurvePlot(bq.Figure):
    """The performance curve: the measure per quantile bin (``points`` joined by ``line``) and
    its 95% intervals (``error_bars``)."""

    def __init__(self, label: str = "", measure: str = "", **kwargs):
        self.x_scale, self.y_scale = bq.LinearScale(), bq.LinearScale()
        scales = {"x": self.x_scale, "y": self.y_scale}
        self.points = bq.Scatter(x=np.zeros(0), y=np.zeros(0), colors=["black"], scales=scales)
        self.line = bq.Lines(x=np.zeros(0), y=np.zeros(0), colors=["#555"], scales=scales)
        self.error_bars = bq.Lines(x=np.zeros((1, 2)), y=np.zeros((1, 2)), colors=["#555"],
                                   scales=scales)
        self.x_axis = bq.Axis(scale=self.x_scale, label=label, tick_format="0.3~g")
        self.y_axis = bq.Axis(scale=self.y_scale, side="left", label=measure,
                              tick_format="0.3~g")
        super().__init__(marks=[self.error_bars, self.line, self.points],
                         axes=[self.x_axis, self.y_axis], title="performance vs metric",
                         fig_margin=dict(top=30, bottom=40, left=55, right=10),
                         layout=widgets.Layout(height="220px", width="100%"), **kwargs)

    def draw(self, x, y, intervals, measure: str) -> None:
        """Points ``(x, y)`` and the intervals ``[low, high]`` per point."""
        with self.hold_sync():
            self.points.x, self.points.y = x, y
            self.line.x, self.line.y = x, y
            self.error_bars.x = np.c_[x, x]
            self.error_bars.y = intervals
            self.y_axis.label = measure


def _measures_of(iou_type: str, measure: str) -> list:
    """The measure names of ``iou_type``; ValueError unless ``measure`` is one."""
    measures = list(hyp.measure_names(iou_type))
    if measure not in measures:
        raise ValueError(f"measure {measure!r} is not one of iou_type={iou_type!r}: "
                         f"expected one of {', '.join(measures)}")
    return measures


def _category_dropdown(categories) -> widgets.Dropdown:
    """"all categories" and each category (id -> name) of the dataset."""
    # ipywidgets shows a None value as an empty box: "all" is -1 in the dropdown
    return widgets.Dropdown(options=[("all categories", ALL_CATEGORIES)]
                            + [(str(n), int(c)) for c, n in categories.items()],
                            value=ALL_CATEGORIES, description="category")


class HypothesisTest(widgets.VBox):
    """Test whether ``measure`` differs between ``metric < threshold`` and ``>= threshold``.

    Controls: metric (numeric columns of all levels), threshold (a slider under the metric's
    histogram; bars below T blue, above orange), measure, category, Run. Run computes
    :func:`~quality_widgets.analysis.hypothesis.test_hypothesis` (progress bar) and the
    performance-vs-metric curve (:func:`~quality_widgets.analysis.hypothesis.performance_curve`:
    the measure in ``curve_bins`` quantile bins with 95% intervals from random halves of each
    bin's images). ``result`` and ``curve`` hold the last outcomes. A metric at image and
    object level shows a level toggle (``level``). ``iou_type``: how predictions match
    labels, "bbox" (default), "segm" (masks) or "keypoints" (OKS; the measure dropdown then
    offers COCO's 10 keypoint numbers); fixed for the widget's life (its
    :class:`~quality_widgets.Evaluator` is built once).
    """

    metric = traitlets.Unicode()
    level = traitlets.Unicode(None, allow_none=True)   # "image" / "object" for a name at both
    threshold = traitlets.Float()
    measure = traitlets.Unicode("AP")
    category = traitlets.Any(None, allow_none=True)
    result = traitlets.Any(None, allow_none=True)
    curve = traitlets.Any(None, allow_none=True)

    def __init__(self, dataset, metrics=None, metric: str = "object_redness", threshold=None,
                 measure: str = "AP", resamples: int = 1000, seed: int = 0,
                 curve_bins: int = 5, curve_resamples: int = 200, level=None,
                 iou_type: str = "bbox", **kwargs):
        dataset, metrics = hyp.dataset_and_metrics(dataset, metrics)
        self.dataset, self.metrics = dataset, metrics
        self.resamples, self.seed = resamples, seed
        self.curve_bins, self.curve_resamples = curve_bins, curve_resamples
        self.evaluator = hyp.evaluator_for(dataset, None, iou_type)
        self.iou_type = self.evaluator.iou_type
        measures = _measures_of(self.iou_type, measure)
        options = metric_options(metrics)
        if not options:
            raise ValueError("no numeric metric column to test")
        if metric not in [c for _, c in options]:
            metric = options[0][1]
        super().__init__(children=self._build(options, metric, level, measures, measure),
                         **kwargs)
        self._link()
        self.metric = metric
        self._on_metric()
        if threshold is not None:
            self.threshold = float(threshold)

    def _build(self, options, metric, level, measures, measure) -> list:
        """The controls and the two plots; returns the widget's rows."""
        self.metric_dropdown = widgets.Dropdown(options=options, value=metric,
                                                description="metric")
        self.level_toggle = widgets.ToggleButtons(options=list(hyp.SPLIT_LEVELS),
                                                  value=level or "image",
                                                  layout=widgets.Layout(display="none"))
        self.threshold_slider = widgets.FloatSlider(description="threshold", readout_format=".4g",
                                                    continuous_update=False,
                                                    layout=widgets.Layout(width="100%"))
        self.measure_dropdown = widgets.Dropdown(options=measures, value=measure,
                                                 description="measure")
        self.category_dropdown = _category_dropdown(self.dataset.categories["name"])
        self.run_button = widgets.Button(description="Run", button_style="primary",
                                         icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="resampling",
                                            layout=widgets.Layout(visibility="hidden"))
        self.output = widgets.HTML()
        self.histogram = h = SplitHistogram(metric)
        self.curve_figure = c = CurvePlot(f"{metric} (bin median)", measure)
        # the plots' parts, by the names they had before the plots were widgets of their own
        self.bars, self.threshold_line, self.hist_axis = h.bars, h.threshold_line, h.axis
        self.hist_x, self.hist_y = h.x_scale, h.y_scale
        self.curve_points, self.curve_line, self.error_bars = c.points, c.line, c.error_bars
        self.curve_x, self.curve_y = c.x_scale, c.y_scale
        self.curve_x_axis, self.curve_y_axis = c.x_axis, c.y_axis
        return [widgets.HBox([self.metric_dropdown, self.level_toggle, self.measure_dropdown,
                              self.category_dropdown]),
                self.histogram, self.threshold_slider,
                widgets.HBox([self.run_button, self.progress]), self.output, self.curve_figure]

    def _link(self) -> None:
        """Controls <-> traits, and the observers that redraw."""
        widgets.link((self.metric_dropdown, "value"), (self, "metric"))
        widgets.link((self.measure_dropdown, "value"), (self, "measure"))
        traitlets.link((self.category_dropdown, "value"), (self, "category"),
                       transform=(lambda v: None if v == ALL_CATEGORIES else v,
                                  lambda v: ALL_CATEGORIES if v is None else v))
        self.level_toggle.observe(self._on_level_toggle, "value")
        self.threshold_slider.observe(self._on_slider, "value")
        self.observe(self._on_metric, ["metric", "level"])
        self.observe(self._on_threshold, "threshold")
        self.run_button.on_click(lambda _: self.run())

    # ---- state -> view ---------------------------------------------------------------------
    def _split_level(self):
        """The level to split on: None unless the metric is a column at both levels."""
        both = len(hyp.metric_levels(self.metrics, self.metric)) > 1
        return (self.level or "image") if both else None

    def _on_level_toggle(self, change):
        self.level = change["new"]

    def reference_values(self) -> np.ndarray:
        """Values whose median is the default threshold (images, or non-crowd annotations):
        :func:`~quality_widgets.analysis.hypothesis.reference_values`."""
        return hyp.reference_values(self.metrics, self.metric, self.dataset,
                                    self._split_level())

    def _on_metric(self, change=None):
        both = self._split_level() is not None
        self.level_toggle.layout.display = "" if both else "none"
        if both and self.level_toggle.value != self._split_level():
            self.level_toggle.value = self._split_level()
        values = self.reference_values()
        self._values = values
        self.hist_axis.label = self.metric
        self.curve_figure.x_axis.label = f"{self.metric} (bin median)"
        # The histogram first: moving the slider's bounds below may clamp its value, which
        # redraws the two sides.
        self._hist = sel.histogram(values, bins=HISTOGRAM_BINS)
        lo, hi = float(self._hist.edges[0]), float(self._hist.edges[-1])
        with self.bars.hold_sync():
            self.bars.x = self._hist.centers
        slider = self.threshold_slider
        slider.min, slider.max = -np.inf, np.inf            # no clamping while both move
        slider.min, slider.max = lo, hi
        slider.step = (hi - lo) / 200
        median = hyp.default_threshold(self.metrics, self.metric, self.dataset,
                                       self._split_level()) if len(values) else lo
        if self.threshold == median:
            self._on_threshold()
        self.threshold = median

    def _on_slider(self, change):
        self.threshold = float(change["new"])

    def _on_threshold(self, change=None):
        t = self.threshold
        if self.threshold_slider.value != t:
            self.threshold_slider.value = min(max(t, self.threshold_slider.min),
                                              self.threshold_slider.max)
        self.histogram.mark(t, *sel.threshold_split(self._hist, t))

    def _on_progress(self, done, total):
        self.progress.max = total
        self.progress.value = done

    # ---- actions ---------------------------------------------------------------------------
    def run(self):
        """Run the test at the current controls; fill ``result``, ``curve`` and the views."""
        self.progress.layout.visibility = "visible"
        self.progress.value = 0
        self.run_button.disabled = True
        try:
            result = hyp.test_hypothesis(
                self.dataset, self.metrics, metric=self.metric, threshold=self.threshold,
                measure=self.measure, resamples=self.resamples, seed=self.seed,
                category=self.category, progress=self._on_progress, evaluator=self.evaluator,
                level=self._split_level())
            curve = hyp.performance_curve(
                self.dataset, self.metrics, metric=self.metric, measure=self.measure,
                bins=self.curve_bins, resamples=self.curve_resamples, seed=self.seed,
                category=self.category, evaluator=self.evaluator, level=self._split_level())
        except (ValueError, KeyError) as error:
            self.output.value = (f"<p style='color:#b00'>{html.escape(str(error))}</p>")
            return None
        finally:
            self.run_button.disabled = False
            self.progress.layout.visibility = "hidden"
        self.result, self.curve = result, curve
        self.output.value = result_html(result)
        self._draw_curve(curve)
        return result

    def _draw_curve(self, curve):
        self.curve_figure.draw(sel.interval_medians(self._values, curve["low"], curve["high"]),
                               curve["value"].to_numpy(dtype=float),
                               curve[["ci_low", "ci_high"]].to_numpy(dtype=float),
                               self.measure)


def ranking_html(frame) -> str:
    """The :func:`rank_metrics` frame as an HTML table (escaped), plus the skipped metrics."""
    esc = html.escape
    adjusted = frame.attrs.get("adjusted_column", "p_holm")
    label = {"p_holm": "p (Holm)", "q_bh": "q (BH)"}.get(adjusted, adjusted)
    head = ("<tr><th>metric</th><th>level</th><th>threshold</th><th>below</th><th>above</th>"
            f"<th>difference</th><th>95% CI</th><th>p</th><th>{label}</th>"
            "<th>permutations</th><th>smallest possible p</th></tr>")
    rows = []
    for r in frame.to_dict("records"):
        flag = " <i>(too small)</i>" if r["too_small"] else ""
        rows.append(f"<tr><td>{esc(str(r['metric']))}{flag}</td><td>{esc(r['level'])}</td>"
                    f"<td>{r['threshold']:.4g}</td><td>{r['below']:.4f}</td>"
                    f"<td>{r['above']:.4f}</td><td>{r['difference']:+.4f}</td>"
                    f"<td>[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]</td>"
                    f"<td>{r['p_value']:.4g}</td><td>{r[adjusted]:.4g}</td>"
                    f"<td>{r['permutations']}</td><td>{r['min_p']:.2g}</td></tr>")
    skipped = frame.attrs.get("skipped", {})
    note = ""
    if skipped:
        items = "".join(f"<li>{esc(str(k))}: {esc(str(v))}</li>" for k, v in skipped.items())
        note = f"<details><summary>{len(skipped)} skipped</summary><ul>{items}</ul></details>"
    warning = frame.attrs.get("warning")
    if warning:
        note = f"<p style='color:#b00'>{esc(warning)}</p>" + note
    return f"<table class='qw-ranking'>{head}{''.join(rows)}</table>{note}"


class MetricRanking(widgets.VBox):
    """Every numeric metric tested at its median (:func:`rank_metrics`), largest effect first,
    with Holm-adjusted p-values (``correction="bh"``: BH q-values), the permutations each
    test used and the smallest p-value they allow. ``frame`` holds the table; Run recomputes
    it. ``iou_type``: "bbox" (default), "segm" or "keypoints", as :class:`HypothesisTest`."""

    frame = traitlets.Any(None, allow_none=True)
    measure = traitlets.Unicode("AP")

    def __init__(self, dataset, metrics=None, measure: str = "AP", resamples=None,
                 seed: int = 0, run: bool = True, correction: str = "holm",
                 iou_type: str = "bbox", **kwargs):
        self.dataset, self.metrics = hyp.dataset_and_metrics(dataset, metrics)
        self.resamples, self.seed, self.correction = resamples, seed, correction
        self.evaluator = hyp.evaluator_for(self.dataset, None, iou_type)
        self.iou_type = self.evaluator.iou_type
        measures = _measures_of(self.iou_type, measure)
        self.measure_dropdown = widgets.Dropdown(options=measures, value=measure,
                                                 description="measure")
        self.run_button = widgets.Button(description="Run", button_style="primary",
                                         icon="play")
        self.output = widgets.HTML()
        super().__init__(children=[widgets.HBox([self.measure_dropdown, self.run_button]),
                                   self.output], **kwargs)
        widgets.link((self.measure_dropdown, "value"), (self, "measure"))
        self.run_button.on_click(lambda _: self.run())
        if run:
            self.run()

    def run(self):
        self.run_button.disabled = True
        try:
            self.frame = hyp.rank_metrics(self.dataset, self.metrics, measure=self.measure,
                                          resamples=self.resamples, seed=self.seed,
                                          correction=self.correction, evaluator=self.evaluator)
        finally:
            self.run_button.disabled = False
        self.output.value = ranking_html(self.frame)
        return self.frame

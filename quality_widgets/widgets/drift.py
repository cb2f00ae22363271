"""DriftView: two datasets' histograms of one metric overlaid, brushable, with the drift table.

Display and link only: the table is :func:`quality_widgets.analysis.drift.compare`, the shared
bins and normalised heights :func:`quality_widgets.analysis.selection.grouped_histogram`, the
brushed rows :func:`quality_widgets.analysis.selection.range_mask`.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from ..analysis import selection as sel
from ..analysis.drift import compare
from ..frames import LEVELS, as_metric_frames
from .gallery import Gallery
from .group_bars import GroupBars
from .histogram import MetricHistogram
from .thumbnails import ThumbnailCache
from .traits import Ids, Quiet, ids_in

SIDES = ("A", "B")


def drift_table_html(table: pd.DataFrame, highlight=None, max_rows: int = 30) -> str:
    """The drift table as HTML (every text escaped); ``highlight = (metric, level)`` is bold."""
    columns = ["metric", "level", "ks_statistic", "p_holm", "wasserstein", "psi", "n_a", "n_b",
               "mean_a", "mean_b"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for row in table.head(max_rows).to_dict("records"):
        texts = [str(row[c]) if c in ("metric", "level") else sel.format_value(row[c])
                 for c in columns]
        cells = "".join(f"<td>{html.escape(t)}</td>" for t in texts)
        bold = highlight is not None and (row["metric"], row["level"]) == tuple(highlight)
        style = " style='font-weight:bold;background:#fff3e0'" if bold else ""
        rows.append(f"<tr{style}>{cells}</tr>")
    more = (f"<div style='font-size:11px'>{len(table) - max_rows} more rows not shown</div>"
            if len(table) > max_rows else "")
    return (f"<table style='font-size:12px;border-collapse:collapse'><tr>{head}</tr>"
            f"{''.join(rows)}</table>{more}")


class DriftView(Quiet, widgets.VBox):
    """Compare dataset A (the reference) with dataset B, metric by metric.

    ``DriftView(metrics_a, metrics_b)`` (MetricFrames or ``quality-widgets metrics`` folders)
    shows the ranked drift table and, for the chosen ``level`` and ``metric`` (default: the
    row with the largest drift), both histograms on the same bins, each normalised to sum 1 so
    datasets of different sizes compare by shape. Brushing ``[lo, hi]`` selects the rows of
    both datasets with ``lo <= value <= hi``; the gallery shows those of ``side`` ("A" or "B").
    From Python: :meth:`select`, ``selection`` (read-only trait: the ids of the brushed rows of
    the shown ``side``, all rows when nothing is brushed; observe it like the Explorer's),
    :meth:`selection_of` (the ids of either side), ``table``.
    """

    level = traitlets.Enum(list(LEVELS), default_value="image")
    metric = traitlets.Unicode("")
    side = traitlets.Enum(list(SIDES), default_value="B")
    summary = traitlets.Unicode("")
    selection = Ids(read_only=True).tag(doc="ids of the brushed rows of the shown side")

    def __init__(self, metrics_a, metrics_b, metric: str | None = None,
                 level: str | None = None, table: pd.DataFrame | None = None,
                 thumbnail_size: int = 160, per_page: int = sel.PER_PAGE, **kwargs):
        self.frames = {"A": as_metric_frames(metrics_a), "B": as_metric_frames(metrics_b)}
        self.table = compare(self.frames["A"], self.frames["B"]) if table is None else table
        if self.table.empty:
            raise ValueError("no metric with finite values in both datasets to compare")
        self.histogram = MetricHistogram()
        self.histogram.band.visible = False
        self.group_bars = GroupBars(self.histogram, type="grouped")
        self.pairs = list(zip(self.table["metric"], self.table["level"], strict=True))
        self.metric_control = widgets.Dropdown(
            description="metric", options=[(f"{m} ({lv})", (m, lv)) for m, lv in self.pairs],
            layout=widgets.Layout(width="360px"))
        self.side_control = widgets.ToggleButtons(
            options=[("gallery of A", "A"), ("gallery of B", "B")], value="B",
            style={"button_width": "110px"})
        self.gallery = Gallery(thumbnails=ThumbnailCache(size=thumbnail_size),
                               per_page=per_page)
        self.summary_html = widgets.HTML()
        self.table_html = widgets.HTML()
        super().__init__(children=[self.metric_control, self.histogram, self.summary_html,
                                   self.side_control, self.gallery, self.table_html], **kwargs)
        self._masks = {"A": None, "B": None}
        widgets.link((self.side_control, "value"), (self, "side"))
        self.metric_control.observe(self._on_control, "value")
        self.histogram.observe(lambda _: self._update(), "interval")
        self.histogram.observe(lambda _: self._show_overlay(), ["bins", "log"])
        if metric is None:
            first = self.pairs[0]
        else:
            matches = [p for p in self.pairs if p[0] == metric and (level is None or
                                                                    p[1] == level.rstrip("s"))]
            if not matches:
                raise KeyError(f"metric {metric!r} is not in the drift table; compared: "
                               f"{', '.join(sorted({m for m, _ in self.pairs}))}")
            first = matches[0]
        self.metric_control.value = first
        self._on_control({"new": first})

    # ---- data ------------------------------------------------------------------------------
    def frame(self, side: str) -> pd.DataFrame:
        return self.frames[side].frame(self.level)

    def values(self, side: str) -> np.ndarray:
        return sel.as_float(self.frame(side)[self.metric])

    def selection_of(self, side: str) -> pd.Index:
        """Ids of the brushed rows of dataset ``side`` ("A" or "B"; all its rows when nothing
        is brushed). ``selection_of(view.side)`` equals the ``selection`` trait."""
        if side not in SIDES:
            raise ValueError(f"side must be 'A' or 'B', got {side!r}")
        return ids_in(self.frame(side).index, self._masks[side])

    # ---- showing ---------------------------------------------------------------------------
    def _on_control(self, change):
        metric, level = change["new"]
        with self._quiet():
            with self.hold_trait_notifications():
                self.level, self.metric = level, metric
            pooled = np.concatenate([self.values("A"), self.values("B")])
            self.histogram.set_values(pooled, metric)
            self._show_overlay()
        self.table_html.value = drift_table_html(self.table, highlight=(metric, level))
        self._update()

    def _show_overlay(self) -> None:
        hist = self.histogram.histogram
        if hist is None:
            return
        a, b = self.values("A"), self.values("B")
        labels = np.array(["A"] * a.size + ["B"] * b.size, dtype=object)
        self.group_bars.show(sel.grouped_histogram(np.concatenate([a, b]), labels,
                                                   bins=hist.edges, normalize=True,
                                                   order=SIDES))

    @traitlets.observe("side")
    def _on_side(self, change):
        if not self._quieted:
            self._show_gallery()

    def select(self, lo=None, hi=None) -> pd.Index:
        """Brush ``lo <= value <= hi`` (None = unbounded on that side); returns the selection of
        the gallery's side."""
        values = np.concatenate([self.values("A"), self.values("B")])
        finite = values[np.isfinite(values)]
        lo = float(finite.min()) if lo is None and finite.size else lo
        hi = float(finite.max()) if hi is None and finite.size else hi
        self.histogram.interval = None if lo is None or hi is None else (lo, hi)
        return self.selection

    def _update(self) -> None:
        if self._quieted:
            return
        interval = self.histogram.interval
        counts = {}
        for side in SIDES:
            values = self.values(side)
            self._masks[side] = None if interval is None else sel.range_mask(values, *interval)
            n = int(np.isfinite(values).sum())
            k = n if interval is None else int(np.count_nonzero(self._masks[side]))
            counts[side] = (k, n)
        row = self.table[(self.table["metric"] == self.metric)
                         & (self.table["level"] == self.level)].iloc[0]
        brushed = "" if interval is None else (
            f"; in [{sel.format_value(interval[0])}, {sel.format_value(interval[1])}]: ")
        parts = [f"{self.metric} ({self.level}): KS {sel.format_value(row['ks_statistic'])}, "
                 f"Holm p {sel.format_value(row['p_holm'])}, Wasserstein "
                 f"{sel.format_value(row['wasserstein'])}, PSI {sel.format_value(row['psi'])}"]
        if interval is not None:
            parts.append(brushed + ", ".join(
                f"{side} {k:,} / {n:,} ({100.0 * k / n if n else 0:.1f}%)"
                for side, (k, n) in counts.items()))
        self.summary = "".join(parts)
        self.summary_html.value = (
            f"<b>{html.escape(self.summary)}</b> <span style='color:#1f77b4'>A</span> / "
            f"<span style='color:#2ca02c'>B</span> bars: fraction of each dataset per bin")
        self._show_gallery()

    def _show_gallery(self) -> None:
        frame = self.frame(self.side)
        self.gallery.show(frame, self.metric, self._masks[self.side],
                          values=sel.as_float(frame[self.metric]))
        self.set_trait("selection", self.selection_of(self.side))

"""AnnotatorView: each annotator's candidate error rate as bars with 95% intervals; selecting
an annotator filters a linked Explorer to their labels (its ``where`` trait)."""
from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import traitlets

from ..analysis.annotators import AnnotatorReport, annotator_report
from ..analysis.label_errors import KINDS

NONE = "(none)"


class AnnotatorView(widgets.VBox):
    """Bars of ``<kind>_rate`` per annotator with their bootstrap intervals, and the table.

    ``AnnotatorView(report)`` or ``AnnotatorView(ds, metrics)`` (runs
    ``qw.annotator_report``). Traits: ``kind`` (a dropdown) and ``annotator`` (the selected one,
    "" for none; set by clicking a bar, by the toggle buttons or from Python). With
    ``explorer=`` the Explorer's ``where`` filter follows the selection, so it shows only that
    annotator's labels (at image level: the images they labelled).
    """

    kind = traitlets.Enum(list(KINDS), default_value="swapped")
    annotator = traitlets.Unicode("")

    def __init__(self, report, metrics=None, explorer=None, kind: str = "swapped",
                 **report_kwargs):
        if not isinstance(report, AnnotatorReport):
            report = annotator_report(report, metrics, **report_kwargs)
        self.report = report
        self.explorer = explorer
        names = [str(n) for n in report.table.index]
        self.x_scale = bq.OrdinalScale(domain=names)
        self.y_scale = bq.LinearScale(min=0.0)
        self.bars = bq.Bars(x=names, y=np.zeros(len(names)),
                            scales={"x": self.x_scale, "y": self.y_scale},
                            colors=["#1f77b4"], interactions={"click": "select"},
                            selected_style={"fill": "#ff7f0e"}, unselected_style={"opacity": 0.6},
                            tooltip=bq.Tooltip(fields=["x", "y"], formats=["", ".3f"]))
        self.intervals = bq.Lines(x=[[n, n] for n in names] or [["", ""]],
                                  y=np.zeros((max(len(names), 1), 2)),
                                  scales={"x": self.x_scale, "y": self.y_scale},
                                  colors=["black"], stroke_width=2)
        self.figure = bq.Figure(
            marks=[self.bars, self.intervals],
            axes=[bq.Axis(scale=self.x_scale, label="annotator"),
                  bq.Axis(scale=self.y_scale, orientation="vertical", tick_format=".0%",
                          label="candidate rate")],
            layout=widgets.Layout(width="620px", height="300px"),
            fig_margin={"top": 20, "bottom": 50, "left": 60, "right": 20})
        self.kind_control = widgets.Dropdown(description="kind", options=list(KINDS), value=kind,
                                             layout=widgets.Layout(width="240px"))
        self.annotator_control = widgets.ToggleButtons(options=[NONE] + names, value=NONE)
        self.table_html = widgets.HTML()
        self.agreement_html = widgets.HTML()
        if not names:
            self.table_html.value = ("<i>no annotators: the annotations carry no "
                                     "annotator, created_by or annotator_id field</i>")
        super().__init__(children=[
            widgets.HBox([self.kind_control, self.annotator_control]), self.figure,
            self.table_html, self.agreement_html])
        self.kind = kind
        widgets.link((self.kind_control, "value"), (self, "kind"))
        self.annotator_control.observe(
            lambda c: setattr(self, "annotator", "" if c["new"] == NONE else c["new"]), "value")
        self.bars.observe(self._on_bar, "selected")
        self._draw()

    @traitlets.observe("kind")
    def _on_kind(self, change):
        if hasattr(self, "bars"):
            self._draw()

    def _draw(self) -> None:
        table = self.report.table
        if not len(table):
            return
        rate = table[f"{self.kind}_rate"].to_numpy(dtype=float)
        lo = table[f"{self.kind}_rate_lo"].to_numpy(dtype=float)
        hi = table[f"{self.kind}_rate_hi"].to_numpy(dtype=float)
        with self.bars.hold_sync():
            self.bars.y = np.nan_to_num(rate)
        self.intervals.y = np.c_[np.nan_to_num(lo), np.nan_to_num(hi)]
        top = np.nanmax(np.r_[hi, rate, 0.0]) if len(rate) else 0.0
        self.y_scale.max = float(top * 1.1) if top > 0 else 1.0
        self._show_table()

    def _show_table(self) -> None:
        table = self.report.table
        kind = self.kind
        rows = "".join(
            f"<tr{' style=background:#fff3e0' if str(name) == self.annotator else ''}>"
            f"<td>{html.escape(str(name))}</td><td>{int(r['labels'])}</td>"
            f"<td>{int(r['images'])}</td><td>{_pct(r[f'{kind}_rate'])}</td>"
            f"<td>{_pct(r[f'{kind}_rate_lo'])} to {_pct(r[f'{kind}_rate_hi'])}</td>"
            f"<td>{_num(r.get('agreement_f1'))}</td></tr>"
            for name, r in table.iterrows())
        self.table_html.value = (
            f"<table class='qw-annotators' style='font-size:12px'><tr><th>annotator</th>"
            f"<th>labels</th><th>images</th><th>{html.escape(kind)} rate</th><th>95% interval"
            f"</th><th>agreement F1</th></tr>{rows}</table>")
        agreement = self.report.agreement
        if len(agreement):
            rows = "".join(f"<tr><td>{html.escape(str(r.annotator_a))} / "
                           f"{html.escape(str(r.annotator_b))}</td><td>{r.images}</td>"
                           f"<td>{_num(r.f1)} ({_num(r.f1_lo)} to {_num(r.f1_hi)})</td></tr>"
                           for r in agreement.itertuples())
            self.agreement_html.value = (
                "<table style='font-size:12px'><tr><th>pair</th><th>shared images</th>"
                f"<th>F1 @ IoU 0.5</th></tr>{rows}</table>")

    def _on_bar(self, change):
        selected = change["new"]
        names = list(self.x_scale.domain)
        name = names[selected[0]] if selected is not None and len(selected) else ""
        if name != self.annotator:
            self.annotator = name

    @traitlets.observe("annotator")
    def _on_annotator(self, change):
        name = change["new"]
        names = list(self.x_scale.domain)
        if name and name not in names:
            raise traitlets.TraitError(f"unknown annotator {name!r}; known: {', '.join(names)}")
        self.annotator_control.value = name or NONE
        wanted = [names.index(name)] if name else None
        if (list(self.bars.selected) if self.bars.selected is not None else None) != wanted:
            self.bars.selected = wanted
        self._show_table()
        if self.explorer is not None and self.report.column:
            where = {k: v for k, v in self.explorer.where.items() if k != self.report.column}
            if name:
                where[self.report.column] = [name]
            self.explorer.where = where


def _pct(value) -> str:
    return "" if value is None or not np.isfinite(value) else f"{100 * value:.1f}%"


def _num(value) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:.2f}"

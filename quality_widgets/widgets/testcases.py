"""TestCaseTable: the pass/fail table of model test cases (see
:mod:`quality_widgets.analysis.testcases`).
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import pandas as pd
import traitlets

from ..analysis import selection as sel

PASS_COLOR, FAIL_COLOR = "#2ca02c", "#d62728"


def test_case_table_html(results: pd.DataFrame) -> str:
    """The results of :func:`~quality_widgets.run_test_cases` as an HTML table; every
    text (names come from files written by others) is escaped."""
    if results is None or results.empty:
        return "<i>no test cases</i>"
    head = ("<tr><th></th><th>test case</th><th>requirement</th><th>value</th>"
            "<th>95% CI</th><th>images</th><th>annotations</th><th>predictions</th>"
            "<th>note</th></tr>")
    rows = []
    for r in results.to_dict("records"):
        ok = bool(r["passed"])
        badge = (f"<span style='color:white;background:{PASS_COLOR if ok else FAIL_COLOR};"
                 f"padding:1px 6px;border-radius:3px'>{'PASS' if ok else 'FAIL'}</span>")
        ci = f"[{sel.format_value(r['ci_low'])}, {sel.format_value(r['ci_high'])}]"
        cells = [badge, html.escape(str(r["name"])), html.escape(str(r["requirement"])),
                 html.escape(sel.format_value(r["value"])), html.escape(ci),
                 f"{int(r['n_images']):,}", f"{int(r['n_annotations']):,}",
                 f"{int(r['n_predictions']):,}", html.escape(str(r.get("note") or ""))]
        rows.append("<tr>" + "".join(f"<td style='padding:2px 6px'>{c}</td>" for c in cells)
                    + "</tr>")
    return f"<table style='font-size:12px;border-collapse:collapse'>{head}{''.join(rows)}</table>"


class TestCaseTable(widgets.VBox):
    """Pass/fail table of test case results, with a one-line count.

    ``TestCaseTable(results)`` shows a results frame; :meth:`run` (or the classmethod
    :meth:`from_cases`) runs test cases and shows them. ``n_passed`` and ``n_failed`` are traits.
    """

    __test__ = False   # not a pytest test class

    n_passed = traitlets.Int(0)
    n_failed = traitlets.Int(0)

    def __init__(self, results: pd.DataFrame | None = None, **kwargs):
        self.header = widgets.HTML()
        self.table = widgets.HTML()
        super().__init__(children=[self.header, self.table], **kwargs)
        self.results = None
        self.show(results)

    @classmethod
    def from_cases(cls, dataset, metrics, cases_or_path, **run_kwargs) -> TestCaseTable:
        """Run ``cases_or_path`` (see :func:`~quality_widgets.run_test_cases`)."""
        view = cls()
        view.run(dataset, metrics, cases_or_path, **run_kwargs)
        return view

    def run(self, dataset, metrics, cases_or_path, **run_kwargs) -> pd.DataFrame:
        from ..analysis.testcases import run_test_cases
        results = run_test_cases(dataset, metrics, cases_or_path, **run_kwargs)
        self.show(results)
        return results

    def show(self, results: pd.DataFrame | None) -> None:
        self.results = results
        if results is None or results.empty:
            self.n_passed = self.n_failed = 0
        else:
            self.n_passed = int(results["passed"].sum())
            self.n_failed = int(len(results) - self.n_passed)
        color = FAIL_COLOR if self.n_failed else PASS_COLOR
        self.header.value = (f"<b style='color:{color}'>{self.n_passed} passed, "
                             f"{self.n_failed} failed</b>")
        self.table.value = test_case_table_html(results)

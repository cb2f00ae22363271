"""The redness hypothesis notebook in JupyterLab: it runs top to bottom, and pressing the
HypothesisTest widget's Run button shows the same result sentence (CI and p-value) as the
Python API printed for the same settings."""
import re

import pytest
from lab_page import open_notebook, run_all, wait_for_all_cells
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SENTENCE = re.compile(r"^Objects with object_redness >= [\d.e-]+ have AP \d\.\d{3} vs \d\.\d{3} "
                      r"\(difference [+-]\d\.\d{3}, 95% CI [+-]\d\.\d{3} to [+-]\d\.\d{3}, "
                      r"p = [\d.e-]+, \d+ permutations.*\)$")


def test_hypothesis_widget_run_button_shows_ci_and_p_value(page, lab, artifacts):
    open_notebook(page, lab, "redness_hypothesis.ipynb")
    run_all(page)
    wait_for_all_cells(page, timeout=420_000)

    # What test_hypothesis(..., resamples=200, seed=0) printed in the notebook.
    printed = page.locator(".jp-RenderedText", has_text="Objects with object_redness >=").first
    expect(printed).to_be_visible()
    sentence = printed.inner_text().strip().splitlines()[0]
    assert SENTENCE.match(sentence), sentence

    run = page.locator("button.widget-button", has_text=re.compile(r"^\s*Run\s*$"))
    expect(run).to_have_count(1)
    widget = page.locator(".jp-OutputArea-output", has=run).first
    result = widget.locator(".widget-html b")
    expect(result).to_have_count(0)          # nothing shown before Run
    run.scroll_into_view_if_needed()
    run.click()
    # Same data, metric, threshold (the median), resamples and seed: the same sentence.
    expect(result).to_have_text(sentence, timeout=120_000)
    expect(widget.locator("table.qw-hypothesis tr")).to_have_count(3)
    expect(run).to_be_enabled()
    widget.screenshot(path=str(artifacts / "lab-hypothesis-after-run.png"))

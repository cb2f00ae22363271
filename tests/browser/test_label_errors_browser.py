"""The label errors notebook in JupyterLab: it runs top to bottom; the review gallery shows its
tiles with the label and evidence drawn, pressing "accept" on a tile counts it; clicking an
annotator's bar filters the Explorer to that annotator's labels."""
import re

import pytest
from lab_page import open_notebook, run_all, wait_for_all_cells
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_label_errors_review_accept_and_annotator_filter(page, lab, artifacts):
    open_notebook(page, lab, "label_errors.ipynb")
    run_all(page)
    wait_for_all_cells(page, timeout=420_000)

    # The review gallery: 6 tiles (per_page=6), each an image and a caption with a suggestion;
    # the notebook accepted three from Python.
    captions = page.locator(".qw-label-error")
    expect(captions).to_have_count(6)
    expect(captions.first).to_contain_text("swapped")
    expect(captions.first).to_contain_text("\u2192")
    review = page.locator(".jp-OutputArea-output", has=captions.first).first
    expect(review.locator("img")).to_have_count(6)
    status = review.locator(".widget-html", has_text="accepted,").last
    expect(status).to_have_text("3 accepted, 0 rejected")
    accept = review.locator("button.widget-button", has_text=re.compile(r"^\s*accept\s*$"))
    accept.nth(4).scroll_into_view_if_needed()
    accept.nth(4).click()
    expect(status).to_have_text("4 accepted, 0 rejected")
    review.screenshot(path=str(artifacts / "lab-label-errors-review.png"))

    # AnnotatorView: two bars (bob's swap rate > 0); the notebook selected alice; a click on
    # bob's bar filters the Explorer to bob's labels.
    table = page.locator("table.qw-annotators")
    expect(table).to_have_count(1)
    view = page.locator(".jp-OutputArea-output", has=table).first
    bars = view.locator("rect.bar")
    expect(bars).to_have_count(2)
    explorer_summary = page.locator(".widget-html b", has_text="objects selected").first
    expect(explorer_summary).to_contain_text("annotator: alice")
    bars.nth(1).scroll_into_view_if_needed()
    box = bars.nth(1).bounding_box()         # off centre: the interval line is drawn there
    bars.nth(1).click(position={"x": box["width"] * 0.25, "y": box["height"] * 0.5})
    expect(explorer_summary).to_contain_text("annotator: bob")
    expect(view.locator("table.qw-annotators tr[style]")).to_contain_text("bob")
    view.screenshot(path=str(artifacts / "lab-annotator-view.png"))

"""The quickstart notebook in a real browser: run it in JupyterLab and in Voila, drag across the
Explorer's histogram with the mouse, and check that the summary, the highlighted bars and the
gallery show exactly the images in the dragged range; and that the static ipyplot grid of the
scripted selection is drawn (a decoded JPEG per selected image, captions naming the files)."""
import re

import pytest
from explorer_page import (
    brush_and_check,
    check_static_selection,
    explorer_output,
    histogram_figure,
    summary,
    tiles,
)
from lab_page import open_notebook, run_all, wait_for_all_cells
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# The quickstart's own cell selects the darkest images, so this is the state before our drag.
SCRIPTED = re.compile(r"^\d+ / 33 images selected \([\d.]+%\); brightness in \[0, 0\.35\]$")


def test_quickstart_in_jupyterlab_brush_selects_the_dragged_images(page, lab, sample_images,
                                                                    artifacts):
    open_notebook(page, lab, "quickstart.ipynb")
    run_all(page)
    wait_for_all_cells(page)
    expect(histogram_figure(page)).to_be_visible()
    expect(summary(page)).to_have_text(SCRIPTED)
    expect(page.locator(".jp-OutputArea-output", has_text="dark_images.json").first
           ).to_be_visible()
    check_static_selection(page, sample_images, 0.0, 0.35)     # stays in the saved notebook
    explorer_output(page).scroll_into_view_if_needed()
    explorer_output(page).screenshot(path=str(artifacts / "lab-explorer-before-brush.png"))

    brush_and_check(page, sample_images)

    explorer_output(page).screenshot(path=str(artifacts / "lab-explorer-after-brush.png"))


def test_quickstart_in_voila_brush_selects_the_dragged_images(page, voila, sample_images,
                                                              artifacts):
    from browser_servers import VOILA_EXPECTED_BLOCKED
    page.expected_blocked = VOILA_EXPECTED_BLOCKED
    page.goto(voila.url + "/", timeout=240_000)
    expect(histogram_figure(page)).to_be_visible(timeout=240_000)
    expect(summary(page)).to_have_text(SCRIPTED, timeout=60_000)
    expect(tiles(page).first).to_be_visible()
    check_static_selection(page, sample_images, 0.0, 0.35)
    explorer_output(page).scroll_into_view_if_needed()
    explorer_output(page).screenshot(path=str(artifacts / "voila-explorer-before-brush.png"))

    brush_and_check(page, sample_images)

    explorer_output(page).screenshot(path=str(artifacts / "voila-explorer-after-brush.png"))

"""The video notebook in JupyterLab: it runs top to bottom, the TrackViews are drawn (frame
with box and polygon, strip, plot), and moving a slider with the keyboard moves the frame."""
import re

import pytest
from lab_page import open_notebook, run_all, wait_for_all_cells
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_video_notebook_shows_track_views(page, lab, artifacts):
    open_notebook(page, lab, "video.ipynb")
    run_all(page)
    wait_for_all_cells(page, timeout=420_000)

    views = page.locator(".qw-trackview")
    expect(views).to_have_count(2)                 # the Explorer's and the standalone one
    explorer_view, view = views.nth(0), views.nth(1)
    # the Explorer opened the distorted polygon's track at that frame
    expect(explorer_view.locator(".qw-track-header")).to_contain_text("track 1 in clip")
    expect(explorer_view.locator(".qw-track-frame img[data-frame='22']")).to_be_visible()
    expect(view.locator(".qw-track-header")).to_contain_text("track 4 in clip: 10 frames")
    expect(view.locator(".qw-track-strip img")).to_have_count(9)
    expect(view.locator(".qw-track-plot svg").first).to_be_visible()
    frame = view.locator(".qw-track-frame img")
    expect(frame).to_have_attribute("data-frame", "20")
    view.scroll_into_view_if_needed()
    view.screenshot(path=str(artifacts / "lab-trackview-before.png"))

    handle = view.locator(".widget-slider .ui-slider-handle, .widget-slider .noUi-handle").first
    handle.click()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(frame).to_have_attribute("data-frame", "22", timeout=30_000)
    expect(view.locator(".widget-html", has_text=re.compile(r"frame 22 \(3 / 10\)"))
           ).to_be_visible()
    view.screenshot(path=str(artifacts / "lab-trackview-after.png"))

"""Reading and brushing the Explorer in a real page (JupyterLab or Voila).

The drag positions come from the drawn bars (``rect.bar`` in ``g.bargroup``), never from the
axis: the brush starts and ends on the centre of an *empty* bin, so a few pixels either way
select exactly the same rows, and the expected selection is known exactly from the values.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

SUMMARY_RE = re.compile(r"^([\d,]+) / ([\d,]+) images selected \([\d.]+%\); "
                        r"brightness in \[([-\d.e]+), ([-\d.e]+)\]$")

# One entry per drawn bin, in x order: its centre, its drawn height (both series of the stacked
# bars), and the height drawn in the highlight colour.
BARS_JS = """fig => {
  // Only bar groups of shown marks (not those of a hidden Bars mark, e.g. the group-by bars).
  const groups = [...fig.querySelectorAll('g.bargroup')].filter(g => g.checkVisibility());
  return groups.map(g => {
    const rects = [...g.querySelectorAll('rect.bar')].map(r => r.getBoundingClientRect());
    const cx = rects.reduce((s, r) => s + r.x + r.width / 2, 0) / rects.length;
    const heights = rects.map(r => r.height);
    return {cx, height: heights.reduce((a, b) => a + b, 0),
            highlighted: heights.length > 1 ? heights[1] : 0};
  }).sort((a, b) => a.cx - b.cx);
}"""


@dataclass
class Brush:
    start_bin: int           # empty bin where the drag starts
    end_bin: int | None      # empty bin where it ends (None: past the last bar)
    expected: np.ndarray     # bool per value: the rows the brush must select


def histogram_figure(page):
    """The Explorer's histogram: the bqplot figure holding the interval brush."""
    return page.locator(".bqplot.figure", has=page.locator(".brushintsel")).first


def explorer_output(page):
    """The output area holding the Explorer (JupyterLab and Voila's lab template alike)."""
    return page.locator(".jp-OutputArea-output", has=histogram_figure(page)).first


def summary(page):
    return page.locator(".widget-html b", has_text="images selected").first


def tiles(page):
    return page.locator("figure.qw-tile")


# The figure can be drawn before its final layout (bars bunched up while the element has no
# width yet, or a leftover group of the initial data): wait for one group per bin, spread over
# most of the plot, and the same positions on two successive animation frames.
SETTLED_JS = """([fig, bins]) => {
  const bars = (BARS_JS)(fig);
  const plot = fig.querySelector('.brushintsel rect.overlay');
  const width = plot ? plot.getBoundingClientRect().width : 0;
  const key = JSON.stringify(bars);
  const settled = bars.length === bins && width > 100
      && bars[bins - 1].cx - bars[0].cx > 0.6 * width && fig.__qwLastBars === key;
  fig.__qwLastBars = key;
  return settled;
}""".replace("BARS_JS", BARS_JS)


def read_bars(page, bins: int) -> list[dict]:
    fig = histogram_figure(page)
    try:
        page.wait_for_function(SETTLED_JS, arg=[fig.element_handle(), bins], polling="raf",
                               timeout=20_000)
    except PlaywrightTimeoutError:
        bars = fig.evaluate(BARS_JS)
        ticks = fig.locator("g.axis").first.locator("g.tick text").all_text_contents()
        spread = bars[-1]["cx"] - bars[0]["cx"] if bars else 0
        raise AssertionError(
            f"the histogram is not drawn across its plot: {len(bars)} drawn bar groups for "
            f"{bins} bins, spread over {spread:.1f} px; x axis ticks {ticks}") from None
    return fig.evaluate(BARS_JS)


def plan_brush(bars, values, edges, avoid: tuple[float, float] | None) -> Brush:
    """Pick a drag from an empty bin to a later empty bin (or past the last bar) with data on
    both sides, starting outside ``avoid`` (the pixel span of a brush already drawn: pressing
    inside it would move that brush instead of drawing a new one)."""
    counts, _ = np.histogram(values, bins=edges)
    assert len(bars) == len(counts), f"one drawn bar group per bin: {bars}"
    drawn = np.array([b["height"] > 0.5 for b in bars])
    assert (drawn == (counts > 0)).all(), \
        f"drawn bars {drawn.astype(int)} do not match the bin counts {counts}"
    gaps = [i for i in range(1, len(counts) - 1) if counts[i] == 0
            and counts[:i].sum() > 0 and counts[i + 1:].sum() > 0
            and (avoid is None or not avoid[0] - 4 <= bars[i]["cx"] <= avoid[1] + 4)]
    assert gaps, f"no empty bin to start a brush in (counts {counts})"
    start = gaps[0]
    end = gaps[-1] if len(gaps) > 1 else None
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(counts) - 1)
    expected = (bins > start) & ((bins < end) if end is not None else True)
    return Brush(start, end, expected)


def drag(page, brush: Brush, bars) -> None:
    overlay = histogram_figure(page).locator(".brushintsel rect.overlay")
    box = overlay.bounding_box()
    y = box["y"] + box["height"] * 0.5
    x0 = bars[brush.start_bin]["cx"]
    x1 = bars[brush.end_bin]["cx"] if brush.end_bin is not None else box["x"] + box["width"] - 2
    page.mouse.move(x0, y)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, y, steps=5)
    page.mouse.move(x1, y, steps=10)
    page.mouse.up()


def existing_brush_span(page) -> tuple[float, float] | None:
    sel = histogram_figure(page).locator(".brushintsel rect.selection")
    if sel.count() == 0:
        return None
    box = sel.first.bounding_box()
    if box is None or box["width"] < 1:
        return None
    return box["x"], box["x"] + box["width"]


def brush_and_check(page, frame, bins: int = 30, per_page: int = 24):
    """Drag across the histogram of ``frame["brightness"]`` and check what the page shows:
    the summary line (count and an interval inside the bins dragged over), the highlighted
    bars and the gallery tiles (the selected images, darkest first). Returns the Brush."""
    from quality_widgets.analysis import selection as sel
    values = frame["brightness"].to_numpy(dtype=float)
    edges = sel.histogram(values, bins).edges
    bars = read_bars(page, bins)
    before = summary(page).inner_text()
    brush = plan_brush(bars, values, edges, existing_brush_span(page))
    n = int(brush.expected.sum())
    drag(page, brush, bars)

    # The summary: the kernel's count for the interval the brush sent.
    expect(summary(page)).to_have_text(re.compile(rf"^{n} / {len(values)} images selected"))
    text = summary(page).inner_text()
    assert text != before
    m = SUMMARY_RE.match(text)
    assert m, text
    lo, hi = float(m.group(3)), float(m.group(4))
    assert edges[brush.start_bin] - 1e-3 <= lo <= edges[brush.start_bin + 1] + 1e-3, \
        (lo, edges[brush.start_bin:brush.start_bin + 2])
    if brush.end_bin is not None:
        assert edges[brush.end_bin] - 1e-3 <= hi <= edges[brush.end_bin + 1] + 1e-3, \
            (hi, edges[brush.end_bin:brush.end_bin + 2])
    else:
        assert hi >= values.max()

    # The gallery: the selected images sorted by brightness, first page.
    order = np.argsort(values[brush.expected], kind="stable")
    names = frame.loc[brush.expected, "file_name"].to_numpy()[order][:per_page]
    expect(tiles(page)).to_have_count(len(names))
    # One caption per tile, in order, each naming its file (auto-retried as a whole, so a
    # gallery that arrives after the summary is waited for).
    expect(tiles(page).locator("figcaption")).to_contain_text([str(n) for n in names])

    # The histogram: the bins inside the brush are drawn in the highlight colour.
    counts, _ = np.histogram(values, bins=edges)
    inside = np.zeros(len(counts), dtype=bool)
    inside[brush.start_bin + 1:brush.end_bin] = True
    expect_highlight = inside & (counts > 0)
    fig = histogram_figure(page).element_handle()
    page.wait_for_function(
        f"([fig, want]) => JSON.stringify(({BARS_JS})(fig).map(b => b.highlighted > 0.5))"
        " === JSON.stringify(want)", arg=[fig, [bool(v) for v in expect_highlight]])
    return brush


def static_grids(page):
    """ipyplot's image grids (the quickstart's show_selection / show_images outputs)."""
    return page.locator("div[id^='ipyplot-imgs-container-div']")


def check_static_selection(page, frame, lo: float, hi: float, n: int = 12) -> None:
    """The quickstart's ``explorer.show_selection(n=12)``: a static grid of the images with
    ``lo <= brightness <= hi``, darkest first, each ``<img>`` a decoded data-URI JPEG and each
    caption naming its file; then ipyplot's tabs (one per category) of the next cell."""
    values = frame["brightness"].to_numpy(dtype=float)
    chosen = frame[(values >= lo) & (values <= hi)].sort_values("brightness", kind="stable")
    names = chosen["file_name"].tolist()[:n]
    grid = static_grids(page).first
    expect(grid.locator("img")).to_have_count(len(names))
    expect(grid.locator("h4")).to_contain_text([str(name) for name in names])
    assert grid.evaluate("g => [...g.querySelectorAll('img')].every(i => i.complete && "
                         "i.naturalWidth > 0 && i.src.startsWith('data:image/jpeg;base64,'))")
    expect(page.locator("label[class^='ipyplot-tab-label']").first).to_be_visible()

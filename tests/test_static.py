"""Static ipyplot grids (quality_widgets.widgets.static): what lands in the notebook's output.

Run in an IPython shell (display output captured as a notebook would store it) and once in a
real kernel through nbclient: one HTML output, one ``<img>`` per shown row holding the
thumbnail's own data-URI JPEG (nothing re-encoded, nothing fetched), escaped captions and tab
names, one tab per group.
"""
from __future__ import annotations

import html
import re
import shutil

import numpy as np
import pytest
from test_export import CATEGORIES, XSS_NAME, make_data

import quality_widgets as qw
from quality_widgets.analysis import selection as sel
from quality_widgets.widgets.gallery import thumbnail_requests
from quality_widgets.widgets.thumbnails import ThumbnailCache, data_uri

SCRIPT_NAME = "<script>alert(1)</script>.jpg"      # a sub-folder "<script>alert(1)<" on disk
IMG = re.compile(r'<img src="([^"]*)"')


@pytest.fixture
def data(tmp_path):
    frames = make_data(tmp_path / "data")
    images = frames.images
    old = images.loc[2, "path"]
    new = tmp_path / "data" / "images" / SCRIPT_NAME
    new.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(old, new)
    images.loc[2, ["file_name", "path"]] = [SCRIPT_NAME, str(new)]
    return frames


@pytest.fixture
def shell(tmp_path, monkeypatch):
    """An IPython shell (no kernel, no history file), as display() sees in a notebook."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    yield shell
    InteractiveShell.clear_instance()


def outputs_of(draw) -> list[str]:
    """The HTML outputs ``draw()`` displays."""
    from IPython.utils.capture import capture_output
    with capture_output() as captured:
        draw()
    assert not captured.stdout.strip(), captured.stdout        # nothing printed
    return [o.data["text/html"] for o in captured.outputs if "text/html" in o.data]


def titles_in(page: str) -> list[int]:
    return [int(t) for t in re.findall(r"image_id (\d+)</h4>", page)]


def test_show_images_draws_one_escaped_tile_per_row_in_order(data, shell):
    pages = outputs_of(lambda: qw.show_images(data, sort_by="brightness", ascending=False,
                                              n=10))
    assert len(pages) == 1                   # the grid only, not ipyplot's "show html" viewer
    page = pages[0]
    assert "ipyplot-imgs-container" in page
    sources = IMG.findall(page)
    assert len(sources) == 10
    expected = data.images.sort_values("brightness", ascending=False).index[:10].tolist()
    assert titles_in(page) == expected
    # each image is the thumbnail cache's own JPEG, passed through untouched: no PNG
    # re-encoding, no path or URL for the browser to fetch
    cache = ThumbnailCache(data.cache_dir)
    requests, _ = thumbnail_requests(data.images.loc[expected])
    assert sources == [data_uri(cache.get(r)) for r in requests]
    assert all(s.startswith("data:image/jpeg;base64,") for s in sources)
    # every caption escaped: the hostile file names show as text
    everything = outputs_of(lambda: qw.show_images(data, n=30))[0]
    assert len(IMG.findall(everything)) == 30
    for name in (SCRIPT_NAME, XSS_NAME):
        assert html.escape(name) in everything and name not in everything
    assert "<script" not in everything
    assert everything.count("<img") == 30           # no tag from a name


def test_show_images_one_tab_per_category(data, shell):
    ids = data.images.index[data.images["brightness"] > 0.3]
    page, = outputs_of(lambda: qw.show_images(data, ids, sort_by="brightness", n=4,
                                              group_by="category"))
    tabs = re.findall(r'<label class="ipyplot-tab-label-[^"]*" for="[^"]*">(.*?)</label>', page)
    objects = data.objects[data.objects["image_id"].isin(ids)]
    assert sorted(tabs) == sorted(html.escape(c) for c in CATEGORIES.values())
    assert "<b>bird</b>" not in page and "&lt;b&gt;bird&lt;/b&gt;" in page
    # each tab: the first 4 selected images showing the category, by brightness
    contents = page.split('<div class="tab content')[1:]
    assert len(contents) == len(tabs)
    bright = data.images["brightness"]
    for tab, content in zip(tabs, contents, strict=True):
        showing = objects.loc[objects["category"] == html.unescape(tab), "image_id"].unique()
        expected = bright.loc[showing].sort_values(kind="stable").index[:4].tolist()
        assert [int(t) for t in re.findall(r"<b>image_id (\d+)</b>", content)] == expected
        assert len(IMG.findall(content)) == len(expected)


def test_show_images_objects_errors_and_empty(data, shell):
    page, = outputs_of(lambda: qw.show_images(data, level="object", sort_by="box_area", n=5,
                                              label="category"))
    assert len(IMG.findall(page)) == 5
    smallest = data.objects.sort_values("box_area").head(5)
    assert re.findall(r'<h4 style="font-size: 12px; word-wrap: break-word;">(.*?)</h4>',
                      page)[::2] == [html.escape(c) for c in smallest["category"]]
    with pytest.raises(KeyError, match="not image ids"):
        qw.show_images(data, ids=[1, 999])
    with pytest.raises(KeyError, match="no column"):
        qw.show_images(data, sort_by="nope")
    assert outputs_of(lambda: qw.show_images(data, ids=[])) == ["<i>no rows to show</i>"]
    # an image that cannot be read still gets its tile, with the reason in the caption
    data.images.loc[1, "path"] = str(data.cache_dir / "missing.jpg")
    page, = outputs_of(lambda: qw.show_images(data, ids=[1]))
    assert IMG.findall(page)[0].startswith("data:image/svg+xml;base64,")


def test_explorer_show_selection_draws_the_selection_in_gallery_order(data, shell):
    ex = qw.Explorer(data)
    ex.select("brightness", 0.2, 0.8)
    ex.gallery.ascending = False
    page, = outputs_of(lambda: ex.show_selection(n=6))
    mask = sel.range_mask(data.images["brightness"], 0.2, 0.8)
    assert titles_in(page) == ex.gallery.ids[:6]
    assert set(titles_in(page)) <= set(data.images.index[mask])
    page, = outputs_of(lambda: ex.show_selection(group_by="category"))
    assert page.count('<label class="ipyplot-tab-label') == len(CATEGORIES)
    assert len(IMG.findall(page)) == sum(
        min(24, len(ids)) for ids in data.objects[data.objects["image_id"].isin(
            ex.selection)].groupby("category")["image_id"].unique())


def test_first_per_group_by_hand():
    order = np.array([4, 2, 0, 3])                   # display order; row 1 is not shown
    positions = np.array([0, 1, 2, 2, 3, 4, 4, 4])   # row 2 twice in "a", row 4 in a and b
    labels = ["a", "b", "a", "a", None, "a", "b", "b"]
    got = sel.first_per_group(order, positions, labels, n=2)
    assert [(g, p.tolist()) for g, p in got] == [("a", [4, 2]), ("(none)", [3]), ("b", [4])]
    assert sel.first_per_group(order, [], [], n=2) == []
    merged = sel.first_per_group(order, positions, labels, n=5, max_groups=2)
    assert [(g, p.tolist()) for g, p in merged] == [("a", [4, 2, 0]), ("(other)", [4, 3])]


@pytest.mark.slow
def test_grid_is_saved_in_an_executed_notebook(data, tmp_path):
    """Through a real kernel (nbclient), as a user's notebook runs and is saved."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from quality_widgets.frames import write_metrics
    folder = tmp_path / "metrics"
    write_metrics(data, folder)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(f"import quality_widgets as qw\n"
                                  f"metrics = qw.read_metrics({str(folder)!r})"),
        nbformat.v4.new_code_cell("qw.show_images(metrics, sort_by='brightness', n=7)"),
        nbformat.v4.new_code_cell("qw.show_images(metrics, group_by='category', n=3)"),
        nbformat.v4.new_code_cell("explorer = qw.Explorer(metrics)\n"
                                  "explorer.select('brightness', 0.0, 0.5)\n"
                                  "explorer.show_selection(n=5)"),
        nbformat.v4.new_code_cell("qw.show_images(metrics, ids=[2, 3])")])
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    saved = nbformat.reads(nbformat.writes(nb), as_version=4)     # as stored on disk
    pages = [["".join(o["data"]["text/html"]) for o in cell.outputs
              if o.output_type == "display_data" and "text/html" in o.get("data", {})]
             for cell in saved.cells[1:]]
    assert [len(p) for p in pages] == [1, 1, 1, 1]
    grid, tabs, selection, hostile = (p[0] for p in pages)
    assert len(IMG.findall(grid)) == 7
    assert len(IMG.findall(hostile)) == 2 and hostile.count("<img") == 2
    for name in (SCRIPT_NAME, XSS_NAME):
        assert html.escape(name) in hostile and name not in hostile
    everything = qw.read_metrics(folder).images
    assert titles_in(grid) == everything.sort_values("brightness").index[:7].tolist()
    assert tabs.count('<label class="ipyplot-tab-label') == len(CATEGORIES)
    n_dark = int((everything["brightness"] <= 0.5).sum())
    assert len(IMG.findall(selection)) == min(5, n_dark)


def _pixels(src_or_jpeg) -> np.ndarray:
    import base64
    import io

    from PIL import Image
    data = src_or_jpeg
    if isinstance(data, str):
        assert data.startswith("data:image/jpeg;base64,")
        data = base64.b64decode(data.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data))).astype(int)


def test_static_grid_draws_masks_and_skeletons_as_the_gallery_does(shell):
    """An object tile of the static grid is the gallery's thumbnail of that row (its box, mask
    fill and skeleton): against the plain box thumbnail it is the 40% fill of the box colour
    inside the label's mask (decoded independently) and the same picture away from it; a
    person with keypoints gets white keypoint dots where the keypoints are."""
    from PIL import Image
    from scipy import ndimage

    from quality_widgets.data import masks
    from quality_widgets.widgets.gallery import BOX_COLOR
    from quality_widgets.widgets.thumbnails import MASK_ALPHA, ThumbnailRequest, render_thumbnail
    ds = qw.load_sample()
    anns = ds.annotations
    polygons = anns[anns["segmentation"].map(lambda s: isinstance(s, list))
                    & ~anns["iscrowd"].astype(bool)]
    ann_id = polygons["area"].idxmax()
    # keypoints on the largest person: five points, four limbs (1-based), one unlabelled
    person = anns[anns["category"] == "person"]["area"].idxmax()
    x, y, w, h = anns.loc[person, ["bbox_x", "bbox_y", "bbox_w", "bbox_h"]]
    points = [(x + 0.5 * w, y + 0.1 * h), (x + 0.3 * w, y + 0.35 * h),
              (x + 0.7 * w, y + 0.35 * h), (x + 0.4 * w, y + 0.8 * h),
              (x + 0.6 * w, y + 0.8 * h)]
    keypoints = [c for (px, py) in points for c in (round(px, 1), round(py, 1), 2)]
    keypoints[-1] = 0
    anns["keypoints"] = [keypoints if i == person else None for i in anns.index]
    person_cat = anns.loc[person, "category_id"]
    ds.categories["skeleton"] = [[[1, 2], [1, 3], [2, 4], [3, 5]] if c == person_cat
                                 else None for c in ds.categories.index]
    metrics = qw.compute_metrics(ds, metrics=["box_area"], cache_dir=False, progress=False,
                                 workers=1)
    cache = ThumbnailCache(None)
    page, = outputs_of(lambda: qw.show_images(metrics, ids=[ann_id, person], level="object",
                                              thumbnails=cache))
    sources = IMG.findall(page)
    order = [i for i in metrics.objects.index if i in (ann_id, person)]   # frame order
    requests, _ = thumbnail_requests(metrics.objects.loc[order], "box", ds)
    assert sources == [data_uri(cache.get(r)) for r in requests]     # the gallery's tiles
    sources = dict(zip(order, sources, strict=True))
    assert all(r.segmentation is not None for r in requests)
    assert sum(r.keypoints is not None for r in requests) == 1

    row, image = anns.loc[ann_id], ds.images.loc[anns.loc[ann_id, "image_id"]]
    box = tuple(row[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]])
    shown = _pixels(sources[ann_id])
    plain = _pixels(render_thumbnail(ThumbnailRequest(image["path"], "box", box,
                                                      color=BOX_COLOR)))
    mask = masks.decode(row["segmentation"], int(image["height"]), int(image["width"]))
    small = np.asarray(Image.fromarray(mask).resize(shown.shape[1::-1], Image.NEAREST))
    inside = ndimage.binary_erosion(small, iterations=3)
    outside = ~ndimage.binary_dilation(small, iterations=16)
    assert inside.sum() > 1000 and outside.sum() > 500
    color = np.array([int(BOX_COLOR[i:i + 2], 16) for i in (1, 3, 5)])
    blend = plain * (1 - MASK_ALPHA) + color * MASK_ALPHA
    assert np.abs(shown - blend)[inside].mean() < 6                   # JPEG noise
    assert np.abs(shown - plain).sum(axis=2)[inside].mean() > 40
    assert np.abs(shown - plain).sum(axis=2)[outside].mean() < 2       # untouched
    # without the dataset's shapes (a frame of its own) the tile is the plain one
    page, = outputs_of(lambda: qw.show_images(metrics.objects.loc[[ann_id]].rename_axis(None),
                                              thumbnails=cache))
    assert np.abs(_pixels(IMG.findall(page)[0]) - plain).mean() < 1

    # the skeleton, in crop mode: crop = floor(x)..ceil(x + w), scaled to the tile
    page, = outputs_of(lambda: qw.show_images(metrics, ids=[person], level="object",
                                              mode="crop", thumbnails=cache))
    shown = _pixels(IMG.findall(page)[0])
    image = ds.images.loc[anns.loc[person, "image_id"]]
    plain = _pixels(render_thumbnail(ThumbnailRequest(image["path"], "crop", (x, y, w, h),
                                                      color=BOX_COLOR)))
    c0, r0 = np.floor(x), np.floor(y)
    scale = shown.shape[1] / (min(np.ceil(x + w), image["width"]) - c0)
    dots = [(int((py - r0) * scale), int((px - c0) * scale)) for px, py in points]
    white = [(shown[r, c] > 200).all() for r, c in dots]
    assert white[:4] == [True] * 4 and not white[4]             # v = 0: not drawn
    assert sum((plain[r, c] > 200).all() for r, c in dots[:4]) < 4

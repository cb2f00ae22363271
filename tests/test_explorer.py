"""Explorer: the plain selection functions, and the widgets driven from the kernel (brush,
gallery order and paging, pinned ranges, category filter, scatter brush, tags, export,
HTML escaping). No browser and no timing asserts here."""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest
from test_export import CATEGORIES, XSS_NAME, make_data

from quality_widgets.analysis import selection as sel
from quality_widgets.analysis.tags import TAGS_FILE, TagStore
from quality_widgets.frames import MetricFrames
from quality_widgets.widgets import Explorer, Gallery, MetricHistogram, MetricScatter
from quality_widgets.widgets.thumbnails import ThumbnailCache, ThumbnailRequest


@pytest.fixture
def data(tmp_path) -> MetricFrames:
    return make_data(tmp_path / "data")


def expected_order(frame, metric, mask, ascending=True):
    """Reference gallery order: stable sort of the selected rows, NaN last."""
    rows = frame[mask]
    return rows.sort_values(metric, ascending=ascending, kind="stable",
                            na_position="last").index.tolist()


# ---- explorer: brush, gallery, paging ----------------------------------------------------------
def test_brush_sets_selection_gallery_and_summary(data):
    ex = Explorer(data)
    assert ex.level == "image" and ex.metric == "brightness"
    assert len(ex.selection) == len(data.images)
    ex.histogram.selector.selected = np.array([0.2, 0.7])
    mask = sel.range_mask(data.images["brightness"], 0.2, 0.7)
    assert ex.selection.equals(data.images.index[mask])
    assert ex.n_selected == mask.sum()
    assert ex.gallery.ids == expected_order(data.images, "brightness", mask)[:24]
    assert f"{mask.sum()} / {len(data.images)} images selected" in ex.summary
    assert "brightness in [0.2, 0.7]" in ex.summary
    # highlighted bins: exactly those overlapping the interval
    h = ex.histogram.histogram
    assert ex.histogram.highlighted.tolist() == sel.overlapping_bins(h.edges, 0.2, 0.7).tolist()
    y = np.asarray(ex.histogram.bars.y)
    np.testing.assert_allclose(y.sum(axis=0), h.counts)
    np.testing.assert_allclose(y[1], np.where(ex.histogram.highlighted, h.counts, 0))
    # the brush is cleared from the frontend: everything selected again
    ex.histogram.selector.selected = None
    assert len(ex.selection) == len(data.images)


def _same_size_ranges(values, k=4):
    """Two brush intervals selecting k rows each, different rows (values distinct there)."""
    v = np.sort(values[np.isfinite(values)])
    assert len(np.unique(v[:2 * k])) == 2 * k
    return (v[0], v[k - 1]), (v[k], v[2 * k - 1])


def test_selection_trait_fires_when_the_ids_change_at_the_same_size(data):
    ex = Explorer(data)
    seen = []
    ex.observe(lambda change: seen.append(change["new"]), names="selection")
    first, second = _same_size_ranges(data.images["brightness"].to_numpy())
    ex.histogram.selector.selected = np.array(first)      # as the browser's brush does
    ex.histogram.selector.selected = np.array(second)     # same size, other ids
    assert len(seen) == 2 and len(seen[0]) == len(seen[1]) == 4
    f = data.images
    assert seen[0].equals(f.index[sel.range_mask(f["brightness"], *first)])
    assert seen[1].equals(f.index[sel.range_mask(f["brightness"], *second)])
    assert set(seen[0]).isdisjoint(seen[1]) and ex.selection.equals(seen[1])
    # a brush that moves without changing the selected set: no callback
    ex.histogram.selector.selected = np.array([second[0] - 1e-9, second[1] + 1e-9])
    ex.pin()                                 # the pinned range now selects those same rows
    ex.metric = "contrast"
    assert len(seen) == 2
    ex.select("contrast", 0.0, 0.5)          # selects something else: fires once
    assert len(seen) == 3 and ex.selection.equals(
        f.index[sel.range_mask(f["brightness"], *second) & sel.range_mask(f["contrast"], 0, .5)])
    with pytest.raises(Exception, match="read-only"):
        ex.selection = f.index[:3]


def test_selection_trait_fires_on_a_level_switch_with_the_same_ids(tmp_path):
    """Image ids 1..3 and annotation ids 1..3: the level (the index name) is part of the value."""
    images = pd.DataFrame({"m": [0.1, 0.2, 0.3]}, index=pd.Index([1, 2, 3], name="image_id"))
    objects = pd.DataFrame({"image_id": [1, 2, 3], "o": [0.3, 0.1, 0.2]},
                           index=pd.Index([1, 2, 3], name="annotation_id"))
    predictions = pd.DataFrame({"image_id": pd.Series(dtype="int64")},
                               index=pd.Index([], dtype="int64", name="prediction_id"))
    ex = Explorer(MetricFrames(images=images, objects=objects, predictions=predictions),
                  tags_path=tmp_path / "tags.parquet")
    seen = []
    ex.observe(lambda change: seen.append(change["new"]), names="selection")
    ex.level = "object"
    assert len(seen) == 1 and seen[0].name == "annotation_id" and seen[0].tolist() == [1, 2, 3]


def test_select_moves_the_brush_and_switches_metric(data):
    ex = Explorer(data)
    got = ex.select("contrast", 0.1, 0.4)
    assert ex.metric == "contrast" and ex.metric_control.value == "contrast"
    assert ex.histogram.selector.selected.tolist() == [0.1, 0.4]
    assert got.equals(data.images.index[sel.range_mask(data.images["contrast"], 0.1, 0.4)])


def test_gallery_paging_and_order(data):
    ex = Explorer(data, metric="sharpness")   # has ties and one NaN
    ref = expected_order(data.images, "sharpness", np.ones(len(data.images), bool))
    assert ex.gallery.ids == ref[:24] and ex.gallery.n_pages == 2
    ex.gallery.next_button.click()
    assert ex.gallery.page == 1 and ex.gallery.ids == ref[24:]
    ex.gallery.next_button.click()          # already on the last page
    assert ex.gallery.page == 1
    ex.gallery.ascending = False
    assert ex.gallery.page == 0
    assert ex.gallery.ids == expected_order(data.images, "sharpness",
                                            np.ones(len(data.images), bool), False)[:24]
    assert ex.gallery.ids[-1] != ref[-1]   # the NaN row is not on the first page either way
    ex.gallery.previous_page()
    assert ex.gallery.page == 0
    # a new brush goes back to the first page
    ex.gallery.next_page()
    ex.histogram.interval = (0.0, 1.0)
    assert ex.gallery.page == 0


def test_pinned_ranges_are_anded(data):
    ex = Explorer(data)
    ex.select("brightness", 0.2, 0.9)
    ex.pin()
    assert ex.pinned == [("brightness", 0.2, 0.9)] and ex.histogram.interval is None
    ex.select("contrast", 0.3, 1.0)
    f = data.images
    mask = sel.range_mask(f["brightness"], 0.2, 0.9) & sel.range_mask(f["contrast"], 0.3, 1.0)
    assert ex.selection.equals(f.index[mask])
    assert ex.gallery.ids == expected_order(f, "contrast", mask)[:24]
    assert "brightness in [0.2, 0.9]" in ex.summary and "contrast in [0.3, 1]" in ex.summary
    ex.clear()
    assert ex.pinned == [] and len(ex.selection) == len(f)


def test_category_filter_at_object_and_image_level(data):
    ex = Explorer(data, level="object")
    assert ex.level == "object" and ex.metric == "box_area"
    assert set(ex.category_control.options) == set(CATEGORIES.values())
    ex.category_control.value = ("car",)
    objects = data.objects
    assert ex.selection.equals(objects.index[objects["category"] == "car"])
    ex.select("box_area", 50, 200)
    expected = objects.index[(objects["category"] == "car")
                             & sel.range_mask(objects["box_area"], 50, 200)]
    assert ex.selection.equals(expected)
    ex.level = "image"                       # a level switch clears the filters
    assert ex.categories == [] and len(ex.selection) == len(data.images)
    ex.categories = ["<b>bird</b>"]
    with_bird = objects.loc[objects["category"] == "<b>bird</b>", "image_id"].unique()
    assert sorted(ex.selection) == sorted(with_bird)


def test_scatter_brush_selects_on_all_rows(data):
    ex = Explorer(data)
    assert (ex.scatter.x_metric, ex.scatter.y_metric) == ("brightness", "contrast")
    ex.scatter.selector.selected_x = np.array([0.1, 0.6])
    ex.scatter.selector.selected_y = np.array([0.2, 0.9])
    f = data.images
    mask = sel.range_mask(f["brightness"], 0.1, 0.6) & sel.range_mask(f["contrast"], 0.2, 0.9)
    assert ex.selection.equals(f.index[mask])
    assert "scatter brightness in [0.1, 0.6]" in ex.summary
    # the drawn points in the selection are the highlighted ones
    drawn = ex.scatter.drawn_positions
    assert np.asarray(ex.scatter.points.selected).tolist() == np.flatnonzero(
        mask[drawn]).tolist()
    ex.histogram.interval = (0.5, 1.0)       # AND with the histogram brush
    assert ex.selection.equals(f.index[mask & sel.range_mask(f["brightness"], 0.5, 1.0)])


def test_scatter_draws_a_subsample_of_large_frames():
    n = 20_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.random(n), "b": rng.random(n)})
    scatter = MetricScatter(options=["a", "b"], x_metric="a", y_metric="b")
    scatter.set_values(frame["a"], frame["b"])
    assert len(scatter.points.x) == 5000 and len(scatter.drawn_positions) == 5000
    np.testing.assert_array_equal(scatter.points.x, frame["a"].to_numpy()[
        scatter.drawn_positions])
    scatter.rect = ((0.1, 0.2), (0.3, 0.4))
    assert scatter.selector.selected_x.tolist() == [0.1, 0.2]


def test_hand_added_column_is_offered(data):
    data.images["my_score"] = np.linspace(0, 1, len(data.images))
    ex = Explorer(data)
    assert "my_score" in ex.metric_control.options
    data.images["later"] = np.arange(len(data.images)) % 2 == 0   # booleans count as metrics
    ex.refresh()
    assert "later" in ex.metric_control.options
    ex.select("later", 1, 1)
    assert len(ex.selection) == (np.arange(len(data.images)) % 2 == 0).sum()


# ---- gallery content ---------------------------------------------------------------------------
def test_captions_file_names_and_categories_are_escaped(data):
    ex = Explorer(data)
    ex.select("brightness", None, None)
    page = ex.gallery.html.value
    assert html.escape(XSS_NAME) in page
    assert "<img src=x" not in page
    ex.level = "object"
    ex.categories = ["<b>bird</b>"]
    page = ex.gallery.html.value
    assert "&lt;b&gt;bird&lt;/b&gt;" in page and "<b>bird</b>" not in page
    assert page.count('<img src="data:image/jpeg;base64,') == min(24, len(ex.selection))


def test_predictions_are_outlined_by_outcome_and_crop_mode(data):
    ex = Explorer(data, level="prediction", metric="score")
    assert ex.gallery.mode_control.layout.display is None
    ex.select("score", 0.35, 0.75)
    page = ex.gallery.html.value
    assert "border:3px solid #2ca02c" in page and "border:3px solid #d62728" in page
    made = ex.thumbnails.made
    ex.gallery.mode = "crop"
    assert ex.thumbnails.made > made        # crops are different thumbnails
    mask = sel.range_mask(data.predictions["score"], 0.35, 0.75)
    assert ex.gallery.ids == expected_order(data.predictions, "score", mask)[:24]


def test_missing_image_shows_a_placeholder(data):
    data.images.loc[3, "path"] = None
    gallery = Gallery(data.images, "brightness")
    gallery.show(data.images, "brightness", data.images.index.to_numpy() == 3)
    assert gallery.ids == [3] and "no image file" in gallery.html.value


def test_thumbnails_are_cached_on_disk(data, tmp_path):
    path = data.images["path"].iloc[0]
    cache = ThumbnailCache(tmp_path / "c", size=32)
    req = ThumbnailRequest(path, mode="box", box=(2, 2, 10, 10), image_size=(64, 48))
    jpeg = cache.get(req)
    assert jpeg[:2] == b"\xff\xd8" and cache.made == 1
    assert cache.get(req) == jpeg and cache.made == 1          # memory
    again = ThumbnailCache(tmp_path / "c", size=32)
    assert again.get(req) == jpeg and again.made == 0 and again.disk_hits == 1
    assert len(list((tmp_path / "c" / "thumbnails").glob("*.jpg"))) == 1


# ---- tags and export ---------------------------------------------------------------------------
def test_tags_persist_and_reload(data):
    ex = Explorer(data)
    ex.select("brightness", 0.0, 0.3)
    dark = ex.selection
    assert ex.tag("dark") == len(dark)
    assert (data.cache_dir / TAGS_FILE).exists()
    assert data.images.loc[dark, "tags"].eq("dark").all()
    ex.select("contrast", 0.5, 1.0)
    ex.tag("high contrast")
    # a new explorer on fresh copies of the frames (same cache folder) shows the tags again
    fresh = MetricFrames(images=data.images.drop(columns="tags"), objects=data.objects,
                         predictions=data.predictions, dataset=data.dataset,
                         cache_dir=data.cache_dir)
    ex2 = Explorer(fresh)
    assert sorted(ex2.tagged("dark")) == sorted(dark)
    assert "high contrast" in ex2.tag_filter_control.options
    ex2.tag_filter_control.value = "dark"
    assert sorted(ex2.selection) == sorted(dark)
    assert sorted(TagStore.beside(data.cache_dir).rows["tag"].unique()) == ["dark",
                                                                            "high contrast"]
    assert ex2.untag("dark") == len(dark)
    assert len(Explorer(fresh).tagged("dark")) == 0


def test_explorer_export_writes_the_selection(data, tmp_path):
    from pycocotools.coco import COCO
    ex = Explorer(data)
    ex.select("brightness", 0.5, 1.0)
    out = ex.export("coco", tmp_path / "bright.json")
    assert sorted(COCO(str(out)).getImgIds()) == sorted(ex.selection)
    # the export button reports a refusal in the status line instead of raising
    ex.export_path.value = str(out)
    ex.export_button.click()
    assert "already exists" in ex.status.value
    ex.export_format.value = "csv"
    ex.export_path.value = str(tmp_path / "bright.csv")
    ex.export_button.click()
    assert pd.read_csv(tmp_path / "bright.csv")["image_id"].tolist() == ex.selection.tolist()


def test_histogram_widget_alone():
    hist = MetricHistogram(np.arange(100.0), metric="x", bins=10)
    assert hist.histogram.counts.tolist() == [10] * 10
    hist.log = True
    np.testing.assert_allclose(hist.histogram.heights, np.log10(11.0))
    hist.bins = 20
    assert hist.histogram.counts.size == 20
    hist.interval = (95, 10)
    assert hist.interval == (10.0, 95.0)
    assert hist.selector.selected.tolist() == [10.0, 95.0]


def test_explorer_on_coco128(coco128_dataset, tmp_path):
    import quality_widgets as qw
    frames = qw.compute_metrics(coco128_dataset, metrics=["brightness", "box_area"],
                                cache_dir=tmp_path / "cache", progress=False, workers=1)
    ex = Explorer(frames, level="object", metric="box_area")
    ex.histogram.selector.selected = np.array([0.0, 2000.0])
    objects = frames.objects
    mask = sel.range_mask(objects["box_area"], 0, 2000)
    assert ex.selection.equals(objects.index[mask])
    assert ex.gallery.ids == expected_order(objects, "box_area", mask)[:24]
    assert (frames.cache_dir / "thumbnails").is_dir()   # beside the metric cache


def test_explorer_computes_metrics_for_a_dataset(tmp_path):
    import quality_widgets as qw
    ex = Explorer(qw.load_sample(), cache_dir=tmp_path / "cache", level="objects")
    assert ex.level == "object" and len(ex.frame) == len(ex.frames.dataset.annotations)
    assert ex.metric == "box_area" and len(ex.gallery.ids) == 24
    ex.gallery.mode = "crop"
    assert ex.gallery.html.value.count("data:image/jpeg;base64,") == 24


# ---- the slice trait ---------------------------------------------------------------------------
def test_slice_trait_follows_every_filter_and_gives_the_selected_rows(data):
    from quality_widgets.slicing import Slice
    ex = Explorer(data)
    seen = []
    ex.observe(lambda change: seen.append(change["new"]), names="slice")
    ex.select("brightness", 0.2, 0.9)
    ex.pin()
    ex.select("contrast", 0.1, 0.8)
    ex.scatter.rect = ((0.0, 0.9), (0.0, 1.0))
    ex.categories = ["car"]
    assert ex.slice == Slice(ranges=[("image.brightness", 0.2, 0.9),
                                     ("image.contrast", 0.1, 0.8),
                                     ("image.brightness", 0.0, 0.9),
                                     ("image.contrast", 0.0, 1.0)], categories=["car"])
    # brush, (pin: the same rows, no change), brush, rectangle, category
    assert seen[-1] is ex.slice and len(seen) == 4
    np.testing.assert_array_equal(ex.slice.mask(data, "image"), ex.mask)
    assert ex.selection.equals(data.images.index[ex.slice.mask(data, "image")])
    assert str(ex.slice).startswith("image.brightness in [0.2, 0.9]")


def test_setting_the_slice_sets_the_controls_and_the_selection(data):
    from quality_widgets.slicing import Slice
    ex = Explorer(data, level="object")
    ex.select("box_area", 0, 100)                      # a brush that the new slice replaces
    s = Slice(ranges=[("box_area", 50, 300), ("image.brightness", 0.3, None)],
              categories=["car"])
    ex.slice = s
    assert ex.histogram.interval is None and ex.category_control.value == ("car",)
    assert ex.pinned == [("box_area", 50.0, 300.0), ("image.brightness", 0.3, np.inf)]
    assert ex.slice == s.at("object", data)
    objects, images = data.objects, data.images
    bright = images.index[images["brightness"] >= 0.3]
    expected = objects.index[(objects["category"] == "car") & objects["image_id"].isin(bright)
                             & sel.range_mask(objects["box_area"], 50, 300)]
    assert ex.selection.equals(expected)
    assert "box_area in [50, 300]; image.brightness in [0.3, inf); category: car" in ex.summary
    before = ex.selection
    with pytest.raises(Exception, match="one tag at a time"):
        ex.slice = Slice(tags=["a", "b"])
    with pytest.raises(Exception, match="did you mean 'box_area'"):
        ex.slice = Slice(ranges=[("box_aera", 0, 1)])
    assert ex.selection.equals(before) and ex.slice == s.at("object", data)
    ex.slice = Slice()
    assert len(ex.selection) == len(objects) and ex.pinned == [] and ex.categories == []


def test_image_level_category_filter_keeps_images_with_only_a_predicted_category(data):
    """One category rule: an image is in when it shows the category as a label or as a
    prediction (a false positive there is part of the slice's evaluation too)."""
    objects, predictions = data.objects, data.predictions
    image = int(objects["image_id"].iloc[0])
    predictions.loc[predictions["image_id"] == image, "category"] = "<b>bird</b>"
    ex = Explorer(data)
    ex.categories = ["<b>bird</b>"]
    with_bird = set(objects.loc[objects["category"] == "<b>bird</b>", "image_id"]) | \
        set(predictions.loc[predictions["category"] == "<b>bird</b>", "image_id"])
    assert image in set(ex.selection) and set(ex.selection) == with_bird

"""LabelErrors (review gallery, decisions as tags, accepted rows to apply_fixes) and AnnotatorView
(bars with intervals; selecting an annotator filters the Explorer), kernel-side."""
import numpy as np
import pytest
from label_data import make_label_dataset

import quality_widgets as qw
from quality_widgets.analysis.tags import TagStore
from quality_widgets.frames import MetricFrames


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("label-widgets")
    data = make_label_dataset(folder, with_images=True)
    ds = qw.Dataset.from_coco(folder / "images", folder / "instances.json",
                              folder / "predictions.json")
    return ds, data, folder


def test_review_gallery_draws_tiles_and_stores_decisions_as_tags(made, tmp_path):
    ds, _data, _folder = made
    cand = qw.find_label_errors(ds)
    review = qw.LabelErrors(ds, cand, kind="swapped", per_page=4,
                            tags_path=tmp_path / "tags.parquet")
    assert len(review.grid.children) == 4 and review.n_pages > 1
    first = review.grid.children[0].children[0].value
    assert first.count("<img") == 1 and "but the detector sees" in first
    top = review.ids[:3]
    review.accept(top[0])
    review.accept(top[1])
    review.reject(top[2])
    assert (review.n_accepted, review.n_rejected) == (2, 1)
    assert set(review.accepted.index) == set(top[:2])
    # the tags persist: a new widget (or an Explorer) on the same store sees them
    again = qw.LabelErrors(ds, cand, tags_path=tmp_path / "tags.parquet")
    assert again.decision(top[0]) == "accepted" and again.decision(top[2]) == "rejected"
    rows = TagStore(tmp_path / "tags.parquet").rows
    assert set(rows["tag"]) == {"accepted-swapped", "rejected-swapped"}
    assert set(rows["level"]) == {"object"}
    again.undecide(top[2])
    assert again.decision(top[2]) is None
    # the buttons do the same as the methods
    tile = again.grid.children[1]
    tile.children[1].children[1].click()       # reject on the second tile of the page
    assert again.decision(again.ids[1]) == "rejected"
    out, _ = qw.apply_fixes(ds, again.accepted, tmp_path / "fixed.json")
    assert out.exists()


def test_review_gallery_pages_and_kinds(made, tmp_path):
    ds, _, _ = made
    cand = qw.find_label_errors(ds)
    review = qw.LabelErrors(ds, cand, per_page=5, tags_path=tmp_path / "t.parquet")
    assert review.kind == "" and review.ids == list(cand.index[:5])
    review.kind = "overlooked"
    assert all(cand.loc[i, "kind"] == "overlooked" for i in review.ids)
    review.next_button.click()
    assert review.page == 1
    review.accept(review.ids[0])
    assert TagStore(tmp_path / "t.parquet").rows["level"].tolist() == ["prediction"]
    with pytest.raises(ValueError, match="kind must be one of"):
        qw.LabelErrors(ds, cand, kind="wrong")
    empty = qw.LabelErrors(ds, cand.head(0))
    assert empty.grid.children == () and empty.n_pages == 1


def test_annotator_view_bars_intervals_and_explorer_filter(made):
    ds, _, _ = made
    metrics = MetricFrames(images=ds.images.copy(), objects=ds.annotations.copy(),
                           predictions=ds.predictions.copy(), dataset=ds)
    metrics.objects["box_w"] = ds.annotations["bbox_w"].to_numpy()
    metrics.images["n"] = 1.0
    report = qw.annotator_report(ds, resamples=50)
    explorer = qw.Explorer(metrics, level="object", metric="box_w")
    view = qw.AnnotatorView(report, explorer=explorer, kind="swapped")
    assert list(view.bars.x) == ["ann", "bob"]
    assert np.allclose(view.bars.y, report.table["swapped_rate"])
    assert np.allclose(np.asarray(view.intervals.y)[:, 1], report.table["swapped_rate_hi"])
    view.kind = "badly_located"
    assert np.allclose(view.bars.y, report.table["badly_located_rate"])
    view.bars.selected = [1]                      # a click on bob's bar
    assert view.annotator == "bob"
    assert explorer.where == {"annotator": ["bob"]}
    bob = (ds.annotations["annotator"] == "bob").sum()
    assert explorer.n_selected == bob
    assert "annotator: bob" in explorer.summary
    explorer.level = "image"                      # images bob labelled
    view.annotator_control.value = "(none)"
    assert explorer.where == {}
    view.annotator = "ann"
    images_of_ann = ds.annotations.loc[ds.annotations["annotator"] == "ann", "image_id"].nunique()
    assert explorer.n_selected == images_of_ann
    assert view.bars.selected == [0]


def test_annotator_view_without_annotators_shows_a_message(made):
    _ds, data, _ = made
    instances = dict(data["instances"])
    instances["annotations"] = [{k: v for k, v in a.items() if k != "annotator"}
                                for a in instances["annotations"]]
    plain = qw.Dataset.from_coco(None, instances)
    with pytest.warns(qw.DataWarning):
        view = qw.AnnotatorView(plain)
    assert "no annotators" in view.table_html.value

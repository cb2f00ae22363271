"""annotator_report on a COCO file with two annotators, one careless (tests/label_data.py)."""
import warnings

import numpy as np
import pytest
from label_data import make_label_dataset

import quality_widgets as qw
from quality_widgets.analysis.annotators import bootstrap_ratio, match_count, pairwise_agreement
from quality_widgets.errors import DataWarning
from quality_widgets.frames import MetricFrames


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("annotators")
    data = make_label_dataset(folder)
    ds = qw.Dataset.from_coco(None, folder / "instances.json", folder / "predictions.json")
    return ds, data, folder


def test_the_careless_annotator_has_higher_error_rates_with_intervals(made):
    ds, data, _ = made
    report = qw.annotator_report(ds, resamples=300)
    table = report.table
    assert list(table.index) == ["ann", "bob"]
    anns = ds.annotations[~ds.annotations["iscrowd"]]
    assert table.loc["ann", "labels"] == (anns["annotator"] == "ann").sum()
    assert table.loc["bob", "labels"] == (anns["annotator"] == "bob").sum()
    for kind in ("swapped", "badly_located", "overlooked"):
        assert table.loc["bob", f"{kind}_rate"] > table.loc["ann", f"{kind}_rate"]
        lo, hi = table.loc["bob", f"{kind}_rate_lo"], table.loc["bob", f"{kind}_rate_hi"]
        assert lo <= table.loc["bob", f"{kind}_rate"] <= hi and lo < hi
    # bob's swaps: 6 of his labels are swapped and each is a candidate
    assert table.loc["bob", "swapped_rate"] == pytest.approx(
        len(data["truth"]["swapped"]) / table.loc["bob", "labels"])
    assert table.loc["ann", "swapped_rate"] == 0


def test_images_labelled_twice_are_judged_per_annotator(made):
    ds, _, _ = made
    report = qw.annotator_report(ds, resamples=50)
    cand = report.candidates
    # image 1 was labelled by both: bob left a box out there, ann did not
    over = cand[(cand["kind"] == "overlooked") & (cand["image_id"] == 1)
                & (cand["score"] >= 0.5)]
    assert set(over["group"]) == {"bob"}


def test_pairwise_agreement_is_the_f1_of_matched_boxes():
    ds = qw.Dataset.from_coco(None, {
        "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 100},
                   {"id": 2, "file_name": "b.png", "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "annotator": "x"},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [50, 50, 10, 10], "annotator": "x"},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 0, 10, 10], "annotator": "y"},
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": [50, 50, 10, 10], "annotator": "y"},
            {"id": 5, "image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "annotator": "x"}]})
    table = pairwise_agreement(ds, resamples=20)
    row = table.iloc[0]
    # image 1: x has 2, y has 2, one pair matches (same class, IoU 9/11); image 2 only x's
    assert (row["annotator_a"], row["annotator_b"], row["images"]) == ("x", "y", 1)
    assert row["matched"] == 1 and row["f1"] == pytest.approx(2 * 1 / 4)
    assert match_count([[0, 0, 10, 10]], [1], [[0, 0, 10, 10], [0, 0, 10, 10]], [1, 1]) == 1


def test_bootstrap_ratio_interval_covers_the_pooled_ratio():
    num = np.r_[np.ones(30), np.zeros(70)]
    value, lo, hi = bootstrap_ratio(num, np.ones(100), resamples=2000, seed=1)
    assert value == pytest.approx(0.3)
    # the binomial normal interval, 0.3 +- 1.96 sqrt(0.3 * 0.7 / 100)
    half = 1.96 * np.sqrt(0.3 * 0.7 / 100)
    assert lo == pytest.approx(0.3 - half, abs=0.02) and hi == pytest.approx(0.3 + half, abs=0.02)
    assert np.isnan(bootstrap_ratio([], [])[0])


def test_annotator_field_on_the_image_is_used(made, tmp_path):
    _, data, _ = made
    instances = {k: v for k, v in data["instances"].items()}
    instances["annotations"] = [{k: v for k, v in a.items() if k != "annotator"}
                                for a in instances["annotations"]]
    instances["images"] = [dict(im, created_by="ann" if im["id"] <= 20 else "bob")
                           for im in instances["images"]]
    ds = qw.Dataset.from_coco(None, instances).with_predictions(data["predictions"])
    report = qw.annotator_report(ds, resamples=50)
    assert report.column == "created_by"
    assert report.table.loc["bob", "swapped_rate"] > report.table.loc["ann", "swapped_rate"]
    # image 41 (no labels) counts as one of bob's images
    assert report.table.loc["bob", "images"] == 21


def test_no_annotator_field_gives_a_warning_and_an_empty_report(made):
    _, data, _folder = made
    instances = dict(data["instances"])
    instances["annotations"] = [{k: v for k, v in a.items() if k != "annotator"}
                                for a in instances["annotations"]]
    ds = qw.Dataset.from_coco(None, instances)
    with pytest.warns(DataWarning, match="no annotator field"):
        report = qw.annotator_report(ds)
    assert len(report.table) == 0 and "swapped_rate" in report.table
    assert len(report.agreement) == 0 and "f1" in report.agreement


def test_report_without_predictions_still_counts_labels_and_agreement(made):
    _, _data, folder = made
    ds = qw.Dataset.from_coco(None, folder / "instances.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        report = qw.annotator_report(ds, resamples=20)
    assert report.table.loc["bob", "labels"] > 0
    assert np.isnan(report.table.loc["bob", "swapped_rate"])
    assert len(report.agreement) == 1


def test_mean_of_chosen_metric_columns(made):
    ds, _, _ = made
    metrics = MetricFrames(images=ds.images.copy(), objects=ds.annotations.copy(),
                           predictions=ds.predictions.copy(), dataset=ds)
    metrics.objects["box_w"] = ds.annotations["bbox_w"]
    report = qw.annotator_report(ds, metrics, columns=["box_w"], resamples=20)
    expected = ds.annotations.groupby("annotator")["bbox_w"].mean()
    assert report.table["mean_box_w"].to_dict() == pytest.approx(expected.to_dict())

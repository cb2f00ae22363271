"""Acquisition metrics on hand-made predictions, against hand-computed values."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import quality_widgets as qw
from quality_widgets.compute.registry import registered_metrics

IMAGE_COLUMNS = ["n_predictions", "mean_confidence", "min_confidence", "n_uncertain"]
CLASS_METRICS = ["class_probabilities", "image_class_probabilities"]


def _dataset(tmp_path, predictions):
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 100} for i in (1, 2, 3)]
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]
    anns = [{"id": 10, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100,
             "iscrowd": 0}]
    (tmp_path / "instances.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": cats}))
    if predictions is None:
        return qw.Dataset.from_coco(None, tmp_path / "instances.json")
    (tmp_path / "predictions.json").write_text(json.dumps(predictions))
    return qw.Dataset.from_coco(None, tmp_path / "instances.json",
                                tmp_path / "predictions.json")


def _pred(image_id, score, scores=None):
    row = {"image_id": image_id, "category_id": 1, "bbox": [1, 1, 5, 5], "score": score}
    if scores is not None:
        row["scores"] = scores
    return row


def _compute(ds):
    return qw.compute_metrics(ds, metrics=IMAGE_COLUMNS + CLASS_METRICS, cache_dir=False,
                              progress=False, workers=1)


def test_confidence_metrics_by_hand(tmp_path):
    # image 1: 0.9, 0.5, 0.2; image 2: 0.65, 0.7 (on the band's edge); image 3: none
    ds = _dataset(tmp_path, [_pred(1, 0.9), _pred(1, 0.5), _pred(1, 0.2), _pred(2, 0.65),
                             _pred(2, 0.7)])
    images = _compute(ds).images
    assert images["n_predictions"].tolist() == [3, 2, 0]
    np.testing.assert_allclose(images["mean_confidence"], [1.6 / 3, 0.675, np.nan])
    np.testing.assert_allclose(images["min_confidence"], [0.2, 0.65, np.nan])
    assert images["n_uncertain"].tolist() == [1, 2, 0]          # 0.3 <= score <= 0.7
    n_uncertain = {m.name: m.func for m in registered_metrics("image")}["n_uncertain"]
    assert n_uncertain(images, ds, band=(0.1, 0.6)).tolist() == [2, 0, 0]
    with pytest.raises(ValueError, match="lo <= hi"):
        n_uncertain(images, ds, band=(0.6, 0.1))


def test_no_predictions_file_gives_nan(tmp_path):
    images = _compute(_dataset(tmp_path, None)).images
    for column in IMAGE_COLUMNS + ["mean_margin", "max_prediction_entropy"]:
        assert images[column].isna().all(), column


def test_class_probability_vectors_by_hand(tmp_path):
    ds = _dataset(tmp_path, [
        _pred(1, 0.5, [0.5, 0.5, 0.0]),    # 1 bit, margin 0, least 0.5
        _pred(1, 0.7, [0.7, 0.2, 0.1]),
        _pred(2, 0.6, [3.0, 1.0]),         # not normalised: [0.75, 0.25]
        _pred(2, 0.9),                     # no vector
        _pred(3, 0.4, [1.0]),              # one class only: not a distribution over classes
    ])
    frames = _compute(ds)
    preds = frames.predictions
    h = -(0.7 * math.log2(0.7) + 0.2 * math.log2(0.2) + 0.1 * math.log2(0.1))
    h2 = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    np.testing.assert_allclose(preds["prediction_entropy"], [1.0, h, h2, np.nan, np.nan])
    np.testing.assert_allclose(preds["margin"], [0.0, 0.5, 0.5, np.nan, np.nan])
    np.testing.assert_allclose(preds["least_confidence"], [0.5, 0.3, 0.25, np.nan, np.nan])
    images = frames.images
    np.testing.assert_allclose(images["mean_prediction_entropy"], [(1 + h) / 2, h2, np.nan])
    np.testing.assert_allclose(images["max_prediction_entropy"], [max(1, h), h2, np.nan])
    np.testing.assert_allclose(images["mean_margin"], [0.25, 0.5, np.nan])
    np.testing.assert_allclose(images["min_margin"], [0.0, 0.5, np.nan])
    np.testing.assert_allclose(images["mean_least_confidence"], [0.4, 0.25, np.nan])
    np.testing.assert_allclose(images["max_least_confidence"], [0.5, 0.25, np.nan])


def test_label_next_orders_by_the_acquisition_metric(tmp_path):
    from quality_widgets.widgets.label_next import LabelNext
    ds = _dataset(tmp_path, [_pred(1, 0.9), _pred(2, 0.5), _pred(2, 0.4), _pred(3, 0.35)])
    frames = _compute(ds)
    view = LabelNext(frames)                       # n_uncertain: [0, 2, 1], most first
    assert view.top(3).tolist() == [2, 3, 1]
    view.metric = "min_confidence"                 # [0.9, 0.4, 0.35]: lowest first
    assert view.ascending and view.top(3).tolist() == [3, 2, 1]
    with pytest.raises(KeyError, match="acquisition columns present"):
        LabelNext(frames, metric="no_such_column")

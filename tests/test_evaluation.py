"""The evaluation engine against pycocotools (the oracle), to 1e-12.

Synthetic cases are built to hit pycocotools' corner rules: tied scores (within and across
images), crowd regions, empty images, images without predictions, categories without
annotations, more than 100 predictions in an image and category, GT id 0.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers import pycocotools_eval
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import quality_widgets as qw
from quality_widgets.cli import evaluate as command
from quality_widgets.evaluation import MEASURES, Evaluator, add_outcomes, evaluate

TOL = 1e-12
SLICE_STATS = [0, 1, 2, 6, 7, 8]     # the 'all'-area numbers, comparable for a metric slice


# ---- oracle -------------------------------------------------------------------------------
def coco_eval(gt: dict, results: list, img_ids=None, area_rng=None):
    """pycocotools on in-memory data; ``area_rng`` replaces params.areaRng by one range."""
    return pycocotools_eval(gt, results, "bbox", img_ids, area_rng)


def load(gt: dict, results: list) -> qw.Dataset:
    return qw.Dataset.from_coco(None, copy.deepcopy(gt), copy.deepcopy(results))


def assert_same(result, ev: COCOeval) -> None:
    np.testing.assert_allclose(result.stats, ev.stats, rtol=0, atol=TOL)
    np.testing.assert_allclose(result.precision, ev.eval["precision"], rtol=0, atol=TOL)
    np.testing.assert_allclose(result.recall, ev.eval["recall"], rtol=0, atol=TOL)


# ---- synthetic data -----------------------------------------------------------------------
def synthetic(seed: int, n_images: int = 12, n_cats: int = 4) -> tuple[dict, list]:
    """Small COCO data with the corner cases (see module doc)."""
    rng = np.random.default_rng(seed)
    images = [{"id": 10 * i + 3, "file_name": f"{i}.jpg", "width": 200, "height": 200}
              for i in range(n_images)]
    # The last category never has annotations; predictions may still name it.
    cats = [{"id": k + 1, "name": f"c{k + 1}"} for k in range(n_cats + 1)]
    anns, results = [], []
    ann_id = 0                           # id 0 exists: pycocotools treats its matches oddly
    for idx, img in enumerate(images):
        if idx == 0:
            continue                     # an empty image (it gets predictions below)
        n_obj = rng.integers(1, 8)
        centers = rng.uniform(20, 180, (3, 2))
        for _ in range(n_obj):
            c = centers[rng.integers(0, 3)] + rng.normal(0, 8, 2)   # clustered: overlaps
            w, h = np.round(rng.uniform(4, 70, 2), 1)
            box = [float(np.round(c[0] - w / 2, 1)), float(np.round(c[1] - h / 2, 1)),
                   float(w), float(h)]
            crowd = int(rng.random() < 0.12)
            anns.append({"id": ann_id, "image_id": img["id"],
                         "category_id": int(rng.integers(1, n_cats + 1)), "bbox": box,
                         "area": float(np.round(w * h * rng.uniform(0.5, 1.0), 1)),
                         "iscrowd": crowd})
            ann_id += 1
    for idx, img in enumerate(images):
        if idx == 1:
            continue                     # an image without predictions
        mine = [a for a in anns if a["image_id"] == img["id"]]
        preds = []
        for a in mine:
            for _ in range(rng.integers(0, 4)):
                jit = rng.normal(0, 0.15, 4) * np.r_[a["bbox"][2:], a["bbox"][2:]]
                b = np.r_[np.asarray(a["bbox"][:2]) + jit[:2],
                          np.maximum(np.asarray(a["bbox"][2:]) + jit[2:], 1)]
                cat = a["category_id"] if rng.random() > 0.15 else int(rng.integers(1, n_cats + 2))
                preds.append((b, cat))
        for _ in range(rng.integers(0, 6)):
            b = np.r_[rng.uniform(0, 150, 2), rng.uniform(3, 60, 2)]
            preds.append((b, int(rng.integers(1, n_cats + 2))))
        if idx == 2:                     # > 100 predictions of one category in one image
            for _ in range(130):
                b = np.r_[rng.uniform(0, 150, 2), rng.uniform(3, 60, 2)]
                preds.append((b, 1))
        for b, cat in preds:
            results.append({"image_id": img["id"], "category_id": int(cat),
                            "bbox": [float(v) for v in np.round(b, 1)],
                            "score": float(rng.integers(1, 10)) / 10})    # many ties
    return {"images": images, "annotations": anns, "categories": cats}, results


def duplicated(gt: dict, results: list, copies: dict) -> tuple[dict, list]:
    """The data with image i repeated ``copies[i]`` times (ids ``10 * id + c``, so copies sort
    next to each other, in image-id order), annotations and predictions copied along."""
    images = [dict(img, id=10 * img["id"] + c) for img in gt["images"]
              for c in range(copies[img["id"]])]
    anns = [dict(a, id=10 * a["id"] + c + 1, image_id=10 * a["image_id"] + c)
            for a in gt["annotations"] for c in range(copies[a["image_id"]])]
    preds = [dict(p, image_id=10 * p["image_id"] + c)
             for p in results for c in range(copies[p["image_id"]])]
    return {"images": images, "annotations": anns, "categories": gt["categories"]}, preds


# ---- coco128 ------------------------------------------------------------------------------
@pytest.mark.parametrize("predictions", ["yolo-fastest-1.1-xl.json", "opencv-hog-person.json"])
def test_coco128_matches_pycocotools(coco128, predictions):
    gt = json.loads((coco128 / "instances.json").read_text())
    results = json.loads((coco128 / "predictions" / predictions).read_text())
    ds = qw.Dataset.from_coco(None, coco128 / "instances.json",
                              coco128 / "predictions" / predictions)
    result = evaluate(ds)
    ev = coco_eval(gt, results)
    assert_same(result, ev)
    assert result.summary().splitlines()[0].startswith(" Average Precision  (AP) @[ IoU=0.50:0.95")


def test_coco128_known_values(coco128_dataset):
    stats = evaluate(coco128_dataset).stats
    assert round(stats[0], 3) == 0.247 and round(stats[1], 3) == 0.454


def test_coco128_subset_and_bootstrap_weights(coco128):
    gt = json.loads((coco128 / "instances.json").read_text())
    results = json.loads((coco128 / "predictions" / "yolo-fastest-1.1-xl.json").read_text())
    ds = load(gt, results)
    ev = Evaluator(ds)
    ids = ds.images.index.to_numpy()
    subset = ids[::3]
    assert_same(ev.evaluate(image_ids=subset), coco_eval(gt, results, img_ids=subset))
    rng = np.random.default_rng(0)
    weights = rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids)))
    gt2, res2 = duplicated(gt, results, dict(zip(ids.tolist(), weights.tolist(), strict=True)))
    assert_same(ev.evaluate_masks(image_weights=weights), coco_eval(gt2, res2))


# ---- synthetic corner cases ---------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_synthetic_matches_pycocotools(seed):
    gt, results = synthetic(seed)
    assert_same(evaluate(load(gt, results)), coco_eval(gt, results))


def test_no_predictions_at_all():
    gt, _ = synthetic(1)
    result = evaluate(load(gt, []))
    ev = coco_eval(gt, [])
    assert_same(result, ev)


def test_ties_crowd_and_greedy_order():
    """Hand-made: equal scores across images, a detection in a crowd region, two detections
    competing for one GT, equal IoUs with two GT (the later GT wins in pycocotools)."""
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 100} for i in (1, 2)]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400,
         "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400,
         "iscrowd": 0},
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [50, 50, 40, 40], "area": 1600,
         "iscrowd": 1},
        {"id": 4, "image_id": 2, "category_id": 1, "bbox": [0, 0, 30, 30], "area": 900,
         "iscrowd": 0},
    ]
    results = [
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [11, 10, 20, 20], "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [12, 10, 20, 20], "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [55, 55, 10, 10], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [60, 60, 10, 10], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [0, 0, 30, 29], "score": 0.5},
    ]
    gt = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "a"}]}
    assert_same(evaluate(load(gt, results)), coco_eval(gt, results))


@pytest.mark.parametrize("seed", range(3))
def test_image_subsets(seed):
    gt, results = synthetic(seed)
    ev = Evaluator(load(gt, results))
    ids = [img["id"] for img in gt["images"]]
    rng = np.random.default_rng(seed)
    for subset in (ids[:1], ids[1:2], rng.choice(ids, 5, replace=False).tolist(), ids):
        assert_same(ev.evaluate(image_ids=subset), coco_eval(gt, results, img_ids=subset))


def test_unknown_image_id_is_an_error():
    gt, results = synthetic(0)
    with pytest.raises(KeyError):
        evaluate(load(gt, results), image_ids=[999999])


# ---- metric slices ------------------------------------------------------------------------
def slice_oracle(gt, results, ann_values, pred_values, lo, hi, img_ids=None) -> COCOeval:
    """pycocotools with ``area`` := metric value (NaN -> inf, outside every range) and
    ``areaRng = [[lo, nextafter(hi, -inf)]]``: the closed range of a half-open one."""
    gt = copy.deepcopy(gt)
    for a, v in zip(gt["annotations"], ann_values, strict=True):
        a["area"] = float(np.inf if np.isnan(v) else v)
    results = copy.deepcopy(results)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
    # after loadRes sets area
    for p, v in zip(coco_dt.dataset["annotations"], pred_values, strict=True):
        p["area"] = float(np.inf if np.isnan(v) else v)
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        if img_ids is not None:
            ev.params.imgIds = sorted(img_ids)
        ev.params.areaRng = [[lo, float(np.nextafter(hi, -np.inf))]]
        ev.params.areaRngLbl = ["all"]
        ev.evaluate()
        ev.accumulate()
    return ev


def oracle_stats(ev: COCOeval) -> np.ndarray:
    p, r = ev.eval["precision"][..., 0, :], ev.eval["recall"][..., 0, :]
    mean = lambda s: np.mean(s[s > -1]) if (s > -1).any() else -1   # noqa: E731
    return np.array([mean(p[..., 2]), mean(p[0, ..., 2]), mean(p[5, ..., 2]),
                     mean(r[..., 0]), mean(r[..., 1]), mean(r[..., 2])])


@pytest.mark.parametrize("seed", range(3))
def test_object_range_matches_area_range_oracle(seed):
    gt, results = synthetic(seed)
    ds = load(gt, results)
    rng = np.random.default_rng(100 + seed)
    ann_values = np.round(rng.uniform(0, 1, len(ds.annotations)), 1)
    pred_values = np.round(rng.uniform(0, 1, len(ds.predictions)), 1)
    ann_values[rng.random(len(ann_values)) < 0.1] = np.nan
    pred_values[rng.random(len(pred_values)) < 0.1] = np.nan
    metrics = SimpleNamespace(
        objects=pd.DataFrame({"m": ann_values}, index=ds.annotations.index),
        predictions=pd.DataFrame({"m": pred_values}, index=ds.predictions.index))
    assert len(ds.annotations) == len(gt["annotations"])   # rows = file rows, for the oracle
    assert len(ds.predictions) == len(results)
    ev = Evaluator(ds)
    for lo, hi in [(0.0, 0.5), (0.5, 1.0), (0.3, 0.7), (0.5, np.inf), (-np.inf, np.inf),
                   (0.2, 0.2)]:
        result = ev.evaluate(object_range=("m", lo, hi), metrics=metrics)
        oracle = slice_oracle(gt, results, ann_values, pred_values, lo, hi)
        np.testing.assert_allclose(result.stats[SLICE_STATS], oracle_stats(oracle),
                                   rtol=0, atol=TOL, err_msg=f"[{lo}, {hi})")
        np.testing.assert_allclose(result.precision[..., 0, :],
                                   oracle.eval["precision"][..., 0, :], rtol=0, atol=TOL)


def test_object_range_reads_dataset_columns_and_needs_prediction_values():
    gt, results = synthetic(0)
    ds = load(gt, results)
    ds.annotations["h"] = ds.annotations["bbox_h"]
    ds.predictions["h"] = ds.predictions["bbox_h"]
    ev = Evaluator(ds)
    result = ev.evaluate(object_range=("h", 10, 40))
    oracle = slice_oracle(gt, results, ds.annotations["h"].to_numpy(),
                          ds.predictions["h"].to_numpy(), 10, 40)
    np.testing.assert_allclose(result.stats[SLICE_STATS], oracle_stats(oracle), rtol=0, atol=TOL)
    with pytest.raises(KeyError, match="predictions"):
        ev.evaluate(object_range=("area", 0, 100))


def test_slice_and_subset_combine():
    gt, results = synthetic(4)
    ds = load(gt, results)
    ev = Evaluator(ds)
    ids = [img["id"] for img in gt["images"]][2:9]
    area_p = (ds.predictions["bbox_w"] * ds.predictions["bbox_h"]).to_numpy()
    ann_in = ds.annotations["area"].to_numpy() < 600
    result = ev.evaluate_masks(ann_in, area_p < 600, ds.images.index.isin(ids).astype(int))
    ev_o = slice_oracle(gt, results, np.where(ann_in, 0.0, 1.0),
                        np.where(area_p < 600, 0.0, 1.0), 0.0, 0.5, img_ids=ids)
    np.testing.assert_allclose(result.stats[SLICE_STATS], oracle_stats(ev_o), rtol=0, atol=TOL)


# ---- image weights (bootstrap) ------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_image_weights_equal_duplicated_images(seed):
    gt, results = synthetic(seed)
    ds = load(gt, results)
    ev = Evaluator(ds)
    rng = np.random.default_rng(seed)
    weights = rng.integers(0, 4, len(ds.images))
    copies = dict(zip(ds.images.index.tolist(), weights.tolist(), strict=True))
    gt2, res2 = duplicated(gt, results, copies)
    assert_same(ev.evaluate_masks(image_weights=weights), coco_eval(gt2, res2))
    # Weights aligned to dataset.images rows, whatever their order.
    shuffled = ds.images.sample(frac=1, random_state=seed)
    ds_shuffled = qw.Dataset(images=shuffled, annotations=ds.annotations,
                             predictions=ds.predictions, categories=ds.categories)
    w_shuffled = np.array([copies[i] for i in shuffled.index])
    assert_same(Evaluator(ds_shuffled).evaluate_masks(image_weights=w_shuffled),
                coco_eval(gt2, res2))


def test_weights_with_slice_equal_duplicated_slice():
    gt, results = synthetic(7)
    ds = load(gt, results)
    ann_values = ds.annotations["bbox_w"].to_numpy()
    pred_values = ds.predictions["bbox_w"].to_numpy()
    weights = np.random.default_rng(7).integers(0, 3, len(ds.images))
    result = Evaluator(ds).evaluate_masks(ann_values < 30, pred_values < 30, weights)
    copies = dict(zip(ds.images.index.tolist(), weights.tolist(), strict=True))
    gt2, res2 = duplicated(gt, results, copies)
    ann2 = [v for a, v in zip(gt["annotations"], ann_values, strict=True)
            for _ in range(copies[a["image_id"]])]
    pred2 = [v for p, v in zip(results, pred_values, strict=True)
             for _ in range(copies[p["image_id"]])]
    oracle = slice_oracle(gt2, res2, np.asarray(ann2), np.asarray(pred2), 0, 30)
    np.testing.assert_allclose(result.stats[SLICE_STATS], oracle_stats(oracle), rtol=0, atol=TOL)


def test_matching_is_cached_per_masks():
    gt, results = synthetic(2)
    ev = Evaluator(load(gt, results))
    mask = np.ones(len(ev.dataset.annotations), dtype=bool)
    assert ev.state() is ev.state(mask, None)          # all-True masks are "no slice"
    mask[0] = False
    assert ev.state(mask) is ev.state(mask.copy())
    assert ev.state(mask) is not ev.state()


# ---- single measures, outcomes ------------------------------------------------------------
def test_per_category_and_single_measures():
    gt, results = synthetic(3)
    result = evaluate(load(gt, results))
    ev = coco_eval(gt, results)
    table = result.per_category
    p = ev.eval["precision"]
    for k, cid in enumerate(ev.params.catIds):
        s = p[:, :, k, 0, 2]
        expected = np.mean(s[s > -1]) if (s > -1).any() else np.nan
        assert table.loc[cid, "AP"] == pytest.approx(expected, abs=TOL, nan_ok=True)
        assert result.category_ap(cid) == pytest.approx(expected, abs=TOL, nan_ok=True)
    assert np.isnan(table.loc[5, "AP"])                 # the category without annotations
    recall, precision = result.pr_curve(category_id=1, iou=0.5)
    np.testing.assert_array_equal(precision, p[0, :, 0, 0, 2])
    assert len(recall) == 101


def test_precision_recall_at_counts_outcomes():
    gt, results = synthetic(5)
    ds = load(gt, results)
    ev = Evaluator(ds)
    frames = SimpleNamespace(objects=pd.DataFrame(index=ds.annotations.index),
                             predictions=pd.DataFrame(index=ds.predictions.index))
    add_outcomes(frames, ev)
    n_gt = int((~ds.annotations["iscrowd"]).sum())
    for threshold in (0.0, 0.35, 0.7):
        above = ds.predictions["score"] >= threshold
        tp = int((frames.predictions["outcome"][above] == "TP").sum())
        fp = int((frames.predictions["outcome"][above] == "FP").sum())
        precision, recall = ev.evaluate().precision_recall_at(threshold, iou=0.5)
        assert precision == pytest.approx(tp / (tp + fp), abs=TOL)
        assert recall == pytest.approx(tp / n_gt, abs=TOL)


# ---- the measure API (Evaluator.measure / measure_many) -----------------------------------
STAT_MEASURES = [name for name, spec in MEASURES.items() if spec.stat is not None]


def weight_rows(n_images: int, seed: int) -> np.ndarray:
    """Weight vectors with the interesting cases: all ones, multiplicities up to 4 (ties
    interleave across copies), a bootstrap draw, half the images dropped, one image alone,
    and nothing at all (every measure undefined)."""
    rng = np.random.default_rng(seed)
    rows = [np.ones(n_images, dtype=np.int64), rng.integers(0, 5, n_images),
            rng.multinomial(n_images, np.full(n_images, 1 / n_images)),
            np.where(np.arange(n_images) % 2 == 0, rng.integers(1, 3, n_images), 0),
            np.eye(n_images, dtype=np.int64)[n_images // 2] * 3,
            np.zeros(n_images, dtype=np.int64)]
    return np.stack(rows)


def expected_stat(ev: Evaluator, weights, index: int, ann=None, pred=None) -> float:
    value = ev.evaluate_masks(ann, pred, image_weights=weights).stats[index]
    return np.nan if value == -1 else value


@pytest.mark.parametrize("seed", range(5))
def test_measure_many_equals_evaluate_masks(seed):
    gt, results = synthetic(seed)
    ev = Evaluator(load(gt, results))
    weights = weight_rows(len(ev.dataset.images), seed)
    state = ev.state()
    for name in STAT_MEASURES:
        index = MEASURES[name].stat
        expected = [expected_stat(ev, w, index) for w in weights]
        np.testing.assert_allclose(ev.measure_many(state, weights, name), expected, rtol=0,
                                   atol=TOL, err_msg=name)
        assert ev.measure(state, None, name) == pytest.approx(expected[0], abs=TOL,
                                                               nan_ok=True)


def test_measure_many_matches_pycocotools_on_duplicated_images():
    gt, results = synthetic(11)
    ev = Evaluator(load(gt, results))
    weights = np.random.default_rng(11).integers(0, 4, len(ev.dataset.images))
    gt2, res2 = duplicated(gt, results, dict(zip(ev.dataset.images.index.tolist(),
                                                 weights.tolist(), strict=True)))
    oracle = coco_eval(gt2, res2)
    got = [ev.measure(ev.state(), weights, name) for name in STAT_MEASURES]
    expected = np.where(oracle.stats == -1, np.nan, oracle.stats)     # -1: undefined
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


def test_measure_per_category_and_at_score():
    gt, results = synthetic(4)
    ev = Evaluator(load(gt, results))
    weights = weight_rows(len(ev.dataset.images), 4)[:5]
    state = ev.state()
    for w in weights:
        result = ev.evaluate_masks(image_weights=w)
        for cid in ev.inputs.category_ids:      # the last category has no GT: NaN
            for name, iou in (("AP", None), ("AP50", 0.5), ("AP75", 0.75)):
                assert ev.measure(state, w, name, category=cid) == pytest.approx(
                    result.category_ap(cid, iou=iou), abs=TOL, nan_ok=True)
        for threshold in (0.0, 0.45, 0.8):
            precision, recall = result.precision_recall_at(threshold, iou=0.5)
            assert ev.measure(state, w, "precision", score_threshold=threshold) == \
                pytest.approx(precision, abs=TOL, nan_ok=True)
            assert ev.measure(state, w, "recall", score_threshold=threshold) == \
                pytest.approx(recall, abs=TOL, nan_ok=True)
    assert ev.measure(state, None, "AP", category="c1") == ev.measure(state, None, "AP",
                                                                       category=1)
    with pytest.raises(ValueError, match="unknown measure"):
        ev.measure(state, None, "mAP")
    with pytest.raises(KeyError):
        ev.measure(state, None, "AP", category=99)


def test_slices_state_rows_equal_slice_evaluations():
    gt, results = synthetic(8)
    ev = Evaluator(load(gt, results))
    ann_values = ev.dataset.annotations["bbox_w"].to_numpy()
    pred_values = ev.dataset.predictions["bbox_w"].to_numpy()
    ann = [ann_values < 25, ann_values >= 25]
    pred = [pred_values < 25, pred_values >= 25]
    state = ev.slices_state(ann, pred)
    assert state.rows == [("all", 0), ("all", 1)]
    weights = weight_rows(len(ev.dataset.images), 8)
    for i in range(2):
        for name in ("AP", "AP50", "AP75", "AR1", "AR10", "AR100"):
            expected = [expected_stat(ev, w, MEASURES[name].stat, ann[i], pred[i])
                        for w in weights]
            np.testing.assert_allclose(ev.measure_many(state, weights, name, slice_index=i),
                                       expected, rtol=0, atol=TOL, err_msg=f"{name} {i}")
        np.testing.assert_array_equal(
            ev.counted_gt(state, weights[1], slice_index=i),
            ev.evaluate_masks(ann[i], pred[i], weights[1]).n_gt[:, 0])
    with pytest.raises(ValueError, match="no row for area 'small'"):
        ev.measure(state, None, "APs")
    small = ev.slices_state(ann, pred, area="small")
    assert ev.measure(small, weights[1], "APs", slice_index=1) == pytest.approx(
        expected_stat(ev, weights[1], 3, ann[1], pred[1]), abs=TOL, nan_ok=True)


def test_measure_without_numba_gives_the_same_numbers(monkeypatch):
    from quality_widgets.evaluation import measures
    gt, results = synthetic(9)
    ev = Evaluator(load(gt, results))
    weights = weight_rows(len(ev.dataset.images), 9)
    cases = [(name, category) for name in ("AP", "AP50") for category in (None, 2)]
    compiled = [ev.measure_many(ev.state(), weights, name, category=category)
                for name, category in cases]
    monkeypatch.setattr(measures, "curve_kernel", None)
    for (name, category), expected in zip(cases, compiled, strict=True):
        np.testing.assert_array_equal(
            ev.measure_many(ev.state(), weights, name, category=category), expected)


def test_coco128_measure_many_equals_evaluate_masks(coco128_dataset):
    ev = Evaluator(coco128_dataset)
    n = len(coco128_dataset.images)
    weights = np.random.default_rng(1).multinomial(n, np.full(n, 1 / n), size=3)
    for name in ("AP", "AP50", "AR100", "APs"):
        index = MEASURES[name].stat
        np.testing.assert_allclose(ev.measure_many(ev.state(), weights, name),
                                   [expected_stat(ev, w, index) for w in weights],
                                   rtol=0, atol=TOL, err_msg=name)


def test_add_outcomes_hand_made():
    images = [{"id": 7, "file_name": "a.jpg", "width": 100, "height": 100}]
    anns = [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100,
             "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 1, "bbox": [50, 50, 10, 10], "area": 100,
             "iscrowd": 0},
            {"id": 3, "image_id": 7, "category_id": 1, "bbox": [0, 50, 40, 40], "area": 1600,
             "iscrowd": 1}]
    results = [{"image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 8], "score": 0.9},   # TP
               {"image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 9], "score": 0.8},   # dup
               {"image_id": 7, "category_id": 1, "bbox": [5, 55, 10, 10], "score": 0.7},  # crowd
               {"image_id": 7, "category_id": 2, "bbox": [50, 50, 10, 10], "score": 0.6},  # class
               {"image_id": 7, "category_id": 1, "bbox": [52, 50, 10, 10], "score": 0.5}]  # iou .67
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}
    ds = load(gt, results)
    frames = SimpleNamespace(objects=pd.DataFrame({"x": [1, 2, 3]}, index=pd.Index([1, 2, 3])),
                             predictions=pd.DataFrame({"y": range(5)},
                                                      index=pd.Index([1, 2, 3, 4, 5])))
    out = add_outcomes(frames, ds)
    assert out is frames
    assert frames.predictions["outcome"].tolist() == ["TP", "FP", "ignored", "FP", "TP"]
    np.testing.assert_allclose(frames.predictions["best_iou"],
                               [0.8, 0.9, 0.0, 0.0, 80 / 120], rtol=0, atol=TOL)
    assert frames.objects["detected"].tolist() == [True, True, True]


# ---- CLI ----------------------------------------------------------------------------------
def test_cli_json(tmp_path, capsys):
    gt, results = synthetic(1)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(results))
    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["evaluate", "--annotations", str(tmp_path / "gt.json"),
                              "--predictions", str(tmp_path / "dt.json"), "--json"])
    assert args.func(args) == 0
    payload = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(payload["stats"], coco_eval(gt, results).stats, rtol=0, atol=TOL)
    assert [c["category_id"] for c in payload["per_category"]] == [1, 2, 3, 4, 5]
    assert payload["per_category"][4]["AP"] is None
    args = parser.parse_args(["evaluate", "--annotations", str(tmp_path / "gt.json"),
                              "--predictions", str(tmp_path / "dt.json")])
    assert args.func(args) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 12

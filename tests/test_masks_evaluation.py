"""Mask (``iou_type="segm"``) and keypoint (``"keypoints"``) evaluation against pycocotools,
max abs difference 0: coco128's polygons and crowd RLE with generated mask predictions, and a
synthetic person-keypoints set (see ``masks_data.py``)."""
from __future__ import annotations

import contextlib
import copy
import io
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers import pycocotools_eval
from masks_data import keypoint_data, mask_results, with_keypoint_boxes
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import quality_widgets as qw
from quality_widgets.data import masks
from quality_widgets.evaluation import Evaluator, add_outcomes, evaluate
from quality_widgets.evaluation.oks import COCO_SIGMAS


def oracle(gt: dict, results: list, iou_type: str, img_ids=None, area_rng=None,
           ann_values=None, pred_values=None, sigmas=None):
    return pycocotools_eval(gt, results, iou_type, img_ids, area_rng, ann_values, pred_values,
                            sigmas)


def load(gt, results) -> qw.Dataset:
    return qw.Dataset.from_coco(None, copy.deepcopy(gt), copy.deepcopy(results))


def assert_same(result, ev: COCOeval) -> None:
    """Stats and arrays equal, to the last bit."""
    assert np.array_equal(result.stats, ev.stats), np.abs(result.stats - ev.stats).max()
    precision, recall = result.precision, result.recall
    if result.iou_type == "keypoints":     # arrays: areas all/medium/large, maxDets 20 = 100
        precision, recall = precision[..., [0, 2, 3], 2:], recall[..., [0, 2, 3], 2:]
    assert np.array_equal(precision, ev.eval["precision"])
    assert np.array_equal(recall, ev.eval["recall"])


@pytest.fixture(scope="module")
def coco128_gt(coco128) -> dict:
    return json.loads((coco128 / "instances.json").read_text())


# ---- masks ----------------------------------------------------------------------------------
def test_mask_api_equals_pycocotools_on_coco128(coco128_gt):
    """Run lengths, areas, boxes and pairwise IoU (crowd included) of coco128's polygons and
    crowd RLE against pycocotools' mask API."""
    images = {im["id"]: im for im in coco128_gt["images"]}
    anns = coco128_gt["annotations"]
    h = [images[a["image_id"]]["height"] for a in anns]
    w = [images[a["image_id"]]["width"] for a in anns]
    ours = masks.MaskSet(masks.to_rles([a["segmentation"] for a in anns], h, w))
    ref = []
    for a, hh, ww in zip(anns, h, w, strict=True):
        s = a["segmentation"]
        ref.append(mask_utils.merge(mask_utils.frPyObjects(s, hh, ww)) if isinstance(s, list)
                   else mask_utils.frPyObjects(s, hh, ww))
    assert sum(a["iscrowd"] for a in anns) == 10
    assert np.array_equal(ours.area, [mask_utils.area(r) for r in ref])
    assert np.array_equal(ours.box, [mask_utils.toBbox(r) for r in ref])
    crowd = np.array([a["iscrowd"] for a in anns], dtype=bool)
    by_image = pd.Series(range(len(anns))).groupby([a["image_id"] for a in anns]).apply(list)
    for idx in by_image.iloc[::4]:
        pa, pb = np.meshgrid(idx, idx, indexing="ij")
        got = masks.pair_iou(ours, ours, pa.ravel(), pb.ravel(), crowd)
        want = mask_utils.iou([ref[i] for i in idx], [ref[j] for j in idx],
                              [int(crowd[j]) for j in idx])
        assert np.array_equal(got, np.asarray(want).ravel())
    mask = masks.decode(anns[0]["segmentation"], h[0], w[0])
    assert np.array_equal(mask, mask_utils.decode(ref[0]).astype(bool))
    rng = np.random.default_rng(0)
    for i in rng.choice(len(anns), 20, replace=False):
        full = mask_utils.decode(ref[i]).astype(bool)
        r0, c0 = rng.integers(0, 200, 2)
        r1, c1 = r0 + rng.integers(1, 300), c0 + rng.integers(1, 400)
        counts = ours.counts[ours.offsets[i]:ours.offsets[i + 1]]
        window = masks.decode_window(counts, h[i], r0, min(r1, h[i]), c0, min(c1, w[i]))
        assert np.array_equal(window, full[r0:r1, c0:c1])
    assert np.array_equal(masks.decode(masks.uncompressed(mask), h[0], w[0]), mask)
    assert masks.encode(mask)["counts"] == ref[0]["counts"].decode()


def test_mask_iou_hand_made():
    """Two 4 x 4 masks sharing 2 pixels: IoU 2 / (4 + 3 - 2); crowd: 2 / 4; disjoint: 0."""
    a = np.zeros((4, 4), bool)
    a[0:2, 0:2] = True                                     # 4 pixels
    b = np.zeros((4, 4), bool)
    b[1, 0:3] = True                                       # 3 pixels, 2 shared
    c = np.zeros((4, 4), bool)
    c[3, 3] = True
    m = masks.MaskSet([masks.uncompressed(x) for x in (a, b, c)])
    assert m.area.tolist() == [4, 3, 1]
    assert m.box.tolist() == [[0, 0, 2, 2], [0, 1, 3, 1], [3, 3, 1, 1]]
    assert masks.pair_iou(m, m, [0, 0, 1], [1, 2, 0]).tolist() == [2 / 5, 0.0, 2 / 5]
    crowd = masks.pair_iou(m, m, [0, 1, 2], [1, 0, 0], crowd_b=[True, True, False])
    assert crowd.tolist() == [2 / 4, 2 / 3, 0.0]        # U = area of the first mask


@pytest.mark.parametrize("kind", ["bbox_polygons_and_rle", "rle_without_bbox"])
def test_coco128_segm_equals_pycocotools(coco128_gt, kind):
    """coco128's polygons and crowd RLE against generated predictions: with a bbox (loadRes's
    bbox branch: area = box area; polygons and RLE mixed), and compressed RLE alone (its segm
    branch: area and box from the mask)."""
    results = mask_results(coco128_gt, seed=1, with_bbox=kind.startswith("bbox"),
                           all_rle=not kind.startswith("bbox"))
    assert any(isinstance(r["segmentation"], list) for r in results) == kind.startswith("bbox")
    result = evaluate(load(coco128_gt, results), iou_type="segm")
    assert_same(result, oracle(coco128_gt, results, "segm"))
    assert result.stats[0] > 0.3 and result.summary().count("\n") == 11


def test_polygons_without_bbox_equal_their_rle(coco128_gt):
    """pycocotools cannot read polygon results without a box; ours rasterise them and derive
    box and area from the mask: the same numbers as pycocotools on the RLE of those polygons."""
    polygons = mask_results(coco128_gt, seed=2, with_bbox=False, rle_fraction=0.0)
    images = {im["id"]: im for im in coco128_gt["images"]}
    as_rle = [dict(r, segmentation=masks.encode(masks.decode(
        r["segmentation"], images[r["image_id"]]["height"], images[r["image_id"]]["width"])))
              for r in polygons]
    ds = load(coco128_gt, polygons)
    assert np.array_equal(evaluate(ds, iou_type="segm").stats,
                          oracle(coco128_gt, as_rle, "segm").stats)
    # Loaded boxes are pycocotools' toBbox of the masks.
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(coco128_gt)
        coco_gt.createIndex()
        dt = coco_gt.loadRes(copy.deepcopy(as_rle))
    boxes = np.array([dt.anns[i + 1]["bbox"] for i in range(len(as_rle))])
    assert np.array_equal(ds.predictions[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(),
                          boxes)
    assert np.array_equal(ds.predictions["area"], [dt.anns[i + 1]["area"]
                                                   for i in range(len(as_rle))])


def test_uncompressed_rle_predictions(coco128_gt):
    """Uncompressed RLE results (pycocotools' loadRes cannot read them) give the numbers of
    their compressed form."""
    results = mask_results(coco128_gt, seed=3, with_bbox=True, all_rle=True)[:300]
    images = {im["id"]: im for im in coco128_gt["images"]}
    uncompressed = [dict(r, segmentation=masks.uncompressed(masks.decode(
        r["segmentation"], images[r["image_id"]]["height"], images[r["image_id"]]["width"])))
                    for r in results]
    assert np.array_equal(evaluate(load(coco128_gt, uncompressed), iou_type="segm").stats,
                          oracle(coco128_gt, results, "segm").stats)


def test_box_only_predictions_are_box_masks(coco128, coco128_gt):
    """A results file of boxes evaluated as segm: each box is the polygon loadRes gives it."""
    results = json.loads((coco128 / "predictions" / "opencv-hog-person.json").read_text())
    assert_same(evaluate(load(coco128_gt, results), iou_type="segm"),
                oracle(coco128_gt, results, "segm"))


def test_segm_slices_weights_and_outcomes(coco128_gt):
    """Image subsets, a metric slice (area-range oracle), bootstrap weights (duplicated images)
    and add_outcomes, on mask IoU."""
    results = mask_results(coco128_gt, seed=4, with_bbox=True)
    ds = load(coco128_gt, results)
    ev = Evaluator(ds, iou_type="segm")
    ids = ds.images.index.to_numpy()
    assert_same(ev.evaluate(image_ids=ids[::3]),
                oracle(coco128_gt, results, "segm", img_ids=ids[::3]))
    # A metric slice: objects with 0.3 <= m < 0.7 (values per row, NaN for some).
    rng = np.random.default_rng(0)
    ann_v = np.round(rng.uniform(0, 1, len(ds.annotations)), 2)
    pred_v = np.round(rng.uniform(0, 1, len(ds.predictions)), 2)
    ann_v[::17] = np.nan
    metrics = SimpleNamespace(objects=pd.DataFrame({"m": ann_v}, index=ds.annotations.index),
                              predictions=pd.DataFrame({"m": pred_v},
                                                       index=ds.predictions.index))
    sliced = ev.evaluate(object_range=("m", 0.3, 0.7), metrics=metrics)
    ref = oracle(coco128_gt, results, "segm", area_rng=[0.3, float(np.nextafter(0.7, 0))],
                 ann_values=ann_v, pred_values=pred_v)
    assert np.array_equal(sliced.precision[..., 0, :], ref.eval["precision"][..., 0, :])
    assert np.array_equal(sliced.recall[..., 0, :], ref.eval["recall"][..., 0, :])
    # Bootstrap weights = duplicated images.
    weights = rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids)))
    copies = dict(zip(ids.tolist(), weights.tolist(), strict=True))
    gt2 = dict(coco128_gt,
               images=[dict(im, id=10 * im["id"] + c) for im in coco128_gt["images"]
                       for c in range(copies[im["id"]])],
               annotations=[dict(a, id=10 * a["id"] + c + 1, image_id=10 * a["image_id"] + c)
                            for a in coco128_gt["annotations"]
                            for c in range(copies[a["image_id"]])])
    res2 = [dict(p, image_id=10 * p["image_id"] + c) for p in results
            for c in range(copies[p["image_id"]])]
    assert np.array_equal(ev.evaluate_masks(image_weights=weights).stats,
                          oracle(gt2, res2, "segm").stats)
    # Outcomes at IoU .5: the TP count is pycocotools' matched, non-ignored detections.
    frames = SimpleNamespace(objects=pd.DataFrame(index=ds.annotations.index),
                             predictions=pd.DataFrame(index=ds.predictions.index))
    add_outcomes(frames, ev)
    full = oracle(coco128_gt, results, "segm")
    n_tp = sum(int(((e["dtMatches"][0] > 0) & ~e["dtIgnore"][0]).sum())
               for e in full.evalImgs if e is not None and e["aRng"] == [0, 1e10])
    assert (frames.predictions["outcome"] == "TP").sum() == n_tp
    assert frames.objects["detected"].sum() > 0.5 * len(ds.annotations)
    # best_iou is a mask IoU (predictions are jittered polygons: high but below 1).
    best = frames.predictions["best_iou"]
    assert 0.5 < best[frames.predictions["outcome"] == "TP"].median() < 1.0


def test_test_hypothesis_and_test_cases_on_masks(coco128_gt):
    results = mask_results(coco128_gt, seed=5, with_bbox=True)
    ds = load(coco128_gt, results)
    ev = Evaluator(ds, iou_type="segm")
    metrics = SimpleNamespace(
        images=pd.DataFrame(index=ds.images.index),
        objects=pd.DataFrame({"a": ds.annotations["area"]}, index=ds.annotations.index),
        predictions=pd.DataFrame({"a": ds.predictions["area"]}, index=ds.predictions.index))
    from quality_widgets.analysis.hypothesis import _Problem
    problem = _Problem(ds, qw.MetricFrames(images=metrics.images, objects=metrics.objects,
                                           predictions=metrics.predictions, dataset=ds),
                       "a", "AP", None, 0.5, ev)
    split = problem.split
    assert problem.ev is ev
    threshold = problem.default_threshold()
    below = ev.evaluate(object_range=("a", -np.inf, threshold), metrics=metrics).stats[0]
    result = qw.test_hypothesis(ds, qw.MetricFrames(images=metrics.images,
                                                    objects=metrics.objects,
                                                    predictions=metrics.predictions,
                                                    dataset=ds),
                                metric="a", resamples=20, evaluator=ev)
    assert split is not None and result.below.value == pytest.approx(below, abs=0)
    table = qw.run_test_cases(ds, None, [{"name": "masks", "measure": "AP", "min": 0.1}],
                              resamples=0, iou_type="segm")
    assert table["value"].iloc[0] == evaluate(ds, iou_type="segm").stats[0]


def test_segm_without_masks_in_labels_warns():
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 20, "height": 20}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 5, 5],
                           "area": 25, "iscrowd": 0}],
          "categories": [{"id": 1, "name": "a"}]}
    ds = load(gt, [{"image_id": 1, "category_id": 1, "bbox": [2, 2, 5, 5], "score": 0.9}])
    with pytest.warns(qw.DataWarning, match="no segmentation"):
        assert evaluate(ds, iou_type="segm").stats[0] == 0.0


def test_unknown_iou_type():
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 20, "height": 20}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 5, 5],
                           "area": 25, "iscrowd": 0}],
          "categories": [{"id": 1, "name": "a"}]}
    ds = load(gt, [{"image_id": 1, "category_id": 1, "bbox": [2, 2, 5, 5], "score": 0.9}])
    with pytest.raises(ValueError, match="iou_type must be one of"):
        evaluate(ds, iou_type="mask")


# ---- keypoints ------------------------------------------------------------------------------
@pytest.mark.parametrize("boxes", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_keypoints_equal_pycocotools(seed, boxes):
    """17 COCO keypoints with v = 0/1/2, unlabelled and crowd persons (ignored), two
    categories, 25 people in one image (maxDets 20); results without a box (loadRes's
    keypoints branch: box and area from the keypoints) and with one (bbox branch)."""
    gt, results = keypoint_data(seed)
    if boxes:
        results = with_keypoint_boxes(results)
    result = evaluate(load(gt, results), iou_type="keypoints")
    assert len(result.stats) == 10 and result.stats[0] > 0.3
    assert_same(result, oracle(gt, results, "keypoints"))
    assert "maxDets= 20" in result.summary().splitlines()[0]


def test_keypoints_subsets_custom_sigmas_and_oks_by_hand():
    gt, results = keypoint_data(2)
    ds = load(gt, results)
    sigmas = np.linspace(0.03, 0.1, 17)
    ev = Evaluator(ds, iou_type="keypoints", kpt_oks_sigmas=sigmas)
    ids = ds.images.index.to_numpy()[::2]
    assert_same(ev.evaluate(image_ids=ids),
                oracle(gt, results, "keypoints", img_ids=ids, sigmas=sigmas))
    # OKS by hand: one keypoint labelled, off by (3, 4) pixels: exp(-25 / (2s)^2 / area / 2).
    from quality_widgets.evaluation.oks import oks
    gt_kps = np.zeros((1, 17, 3))
    gt_kps[0, 5] = [10, 10, 2]
    dt_kps = np.zeros((1, 17, 3))
    dt_kps[0, 5] = [13, 14, 0.9]
    value = oks(dt_kps, gt_kps, np.array([[0, 0, 20, 20]]), np.array([100.0]))
    s = COCO_SIGMAS[5]
    assert value[0] == pytest.approx(np.exp(-25 / (2 * s) ** 2 / (100 + np.spacing(1)) / 2),
                                     rel=1e-15)


def test_keypoint_categories_and_columns_load():
    gt, results = keypoint_data(0, n_images=3)
    ds = load(gt, results)
    assert ds.categories.loc[1, "keypoints"][0] == "nose"
    assert ds.categories.loc[1, "skeleton"][0] == [16, 14]
    assert ds.annotations["num_keypoints"].dtype == np.int64
    assert len(ds.annotations["keypoints"].iloc[0]) == 51
    # loadRes's keypoints branch: box = the keypoints' extent.
    kp = np.asarray(results[0]["keypoints"])
    x, y = kp[0::3], kp[1::3]
    row = ds.predictions.iloc[0]
    assert [row.bbox_x, row.bbox_y, row.bbox_w, row.bbox_h] == [
        x.min(), y.min(), x.max() - x.min(), y.max() - y.min()]
    assert row.area == (x.max() - x.min()) * (y.max() - y.min())
    coco = qw.data.coco.to_coco_dict(ds)
    assert coco["categories"][0]["skeleton"] == gt["categories"][0]["skeleton"]
    assert coco["annotations"][0]["keypoints"] == gt["annotations"][0]["keypoints"]
    listed = qw.data.coco.to_results_list(ds.predictions)
    assert listed[0]["keypoints"] == results[0]["keypoints"]


def test_bad_masks_and_keypoints_in_results_are_reported():
    gt, _ = keypoint_data(0, n_images=2)
    results = [{"image_id": 1, "category_id": 1, "keypoints": [1, 2], "score": 0.5},
               {"image_id": 1, "category_id": 1, "segmentation": {"size": [3, 3],
                                                                  "counts": [1, 2]},
                "bbox": [1, 1, 2, 2], "score": 0.5},
               {"image_id": 1, "category_id": 1, "segmentation": [[1, 1, 5, 1, 5, 5]],
                "score": 0.4}]
    with pytest.warns(qw.DataWarning) as record:
        ds = load(gt, results)
    text = " ".join(str(w.message) for w in record)
    assert "no bbox, and no mask or keypoints" in text and "kept without segmentation" in text
    assert ds.predictions.index.tolist() == [2, 3]
    assert ds.predictions.loc[2, "segmentation"] is None
    h, w = gt["images"][0]["height"], gt["images"][0]["width"]
    rle = mask_utils.frPyObjects([[1, 1, 5, 1, 5, 5]], h, w)[0]     # box of the rasterised mask
    assert ds.predictions.loc[3, ["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].tolist() == \
        mask_utils.toBbox(rle).tolist()
    assert ds.predictions.loc[3, "area"] == mask_utils.area(rle)


def test_cli_keypoints_json(tmp_path, capsys):
    import argparse

    from quality_widgets.cli import evaluate as command
    gt, results = keypoint_data(3, n_images=10)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(results))
    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["evaluate", "--annotations", str(tmp_path / "gt.json"),
                              "--predictions", str(tmp_path / "dt.json"), "--json",
                              "--iou-type", "keypoints"])
    assert args.func(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["stats"] == oracle(gt, results, "keypoints").stats.tolist()
    args = parser.parse_args(["evaluate", "--annotations", str(tmp_path / "gt.json"),
                              "--predictions", str(tmp_path / "dt.json"), "--iou-type",
                              "keypoints"])
    assert args.func(args) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 10

"""evaluation.labelled / Evaluator.measure_labelled: every slice of an object labelling, and
random relabellings of it (the object-split permutation test's inner loop).

Oracles: the slices_state + measure_many path (itself tested against pycocotools with area
replacement) on the same labels, for the same doubles; the sampler's arrangement counts.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import quality_widgets as qw
from quality_widgets.evaluation import MEASURES, labelled

pytestmark = pytest.mark.skipif(not labelled.HAVE_NUMBA, reason="needs numba")


@pytest.fixture(scope="module")
def coco128_evaluator(coco128_dataset):
    return qw.Evaluator(coco128_dataset)


def _reference(ev, a, p, n, measure, category):
    state = ev.slices_state([a == s for s in range(n)], [p == s for s in range(n)],
                            MEASURES[measure].area)
    return np.array([ev.measure(state, None, measure, category, 0.5, s) for s in range(n)])


@pytest.mark.parametrize("measure", ["AP", "AP50", "AP75", "APs", "APl", "AR1", "AR10",
                                     "AR100", "ARm"])
def test_labelled_slices_are_the_same_doubles_as_slices_state(coco128_dataset,
                                                              coco128_evaluator, measure):
    ev = coco128_evaluator
    rng = np.random.default_rng(7)
    for n in (2, 3):
        a = rng.integers(-1, n, len(coco128_dataset.annotations))
        p = rng.integers(-1, n, len(coco128_dataset.predictions))
        for category in (None, 1, "dog"):
            got = ev.measure_labelled(a, p, n, measure, category=category)
            np.testing.assert_array_equal(got, _reference(ev, a, p, n, measure, category))


def test_labelled_split_by_a_real_metric_equals_slices_state(coco128_dataset,
                                                             coco128_evaluator):
    ev = coco128_evaluator
    anns, preds = coco128_dataset.annotations, coco128_dataset.predictions
    area_a = (anns["bbox_w"] * anns["bbox_h"]).to_numpy()
    area_p = (preds["bbox_w"] * preds["bbox_h"]).to_numpy()
    t = np.median(area_a)
    a, p = (area_a >= t).astype(int), (area_p >= t).astype(int)
    got = ev.measure_labelled(a, p, 2)
    np.testing.assert_array_equal(got, _reference(ev, a, p, 2, "AP", None))
    assert got[1] > got[0] + 0.1                  # large boxes are found better


def test_precision_at_a_score_goes_through_the_general_path(coco128_dataset,
                                                            coco128_evaluator):
    ev = coco128_evaluator
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2, len(coco128_dataset.annotations))
    p = rng.integers(0, 2, len(coco128_dataset.predictions))
    got = ev.measure_labelled(a, p, 2, "precision", score_threshold=0.3)
    state = ev.slices_state([a == 0, a == 1], [p == 0, p == 1])
    assert list(got) == [ev.measure(state, None, "precision", None, 0.3, s) for s in (0, 1)]
    perm = ev.measure_labelled(a, p, 2, "precision", score_threshold=0.3, permutations=3,
                               seed=1)
    assert perm.shape == (3, 2) and np.isfinite(perm).all()


def test_relabelling_a_constant_labelling_changes_nothing(coco128_dataset, coco128_evaluator):
    """Every annotation in slice 0 and every prediction in slice 0: every permutation is the
    observed labelling, so every permuted value is the observed one."""
    ev = coco128_evaluator
    a = np.zeros(len(coco128_dataset.annotations), dtype=int)
    p = np.zeros(len(coco128_dataset.predictions), dtype=int)
    observed = ev.measure_labelled(a, p, 1)
    perm = ev.measure_labelled(a, p, 1, permutations=20, seed=5)
    np.testing.assert_allclose(perm[:, 0], observed[0], rtol=1e-13)
    assert observed[0] == ev.evaluate().stats[0]


def test_permutations_are_reproducible_and_match_the_reference_distribution(
        coco128_dataset, coco128_evaluator):
    ev = coco128_evaluator
    rng = np.random.default_rng(11)
    a = (rng.random(len(coco128_dataset.annotations)) < 0.5).astype(int)
    p = (rng.random(len(coco128_dataset.predictions)) < 0.5).astype(int)
    fast = ev.measure_labelled(a, p, 2, permutations=300, seed=1)
    again = ev.measure_labelled(a, p, 2, permutations=300, seed=1)
    np.testing.assert_array_equal(fast, again)
    assert not np.array_equal(fast, ev.measure_labelled(a, p, 2, permutations=300, seed=2))
    # The general path (numpy permutations, one slices_state each) draws from the same
    # distribution: means and spreads of d agree within Monte Carlo error.
    ref = []
    r = np.random.default_rng(4)
    for _ in range(150):
        aa, pp = r.permutation(a), r.permutation(p)
        ref.append(_reference(ev, aa, pp, 2, "AP", None))
    d_fast, d_ref = fast[:, 1] - fast[:, 0], np.diff(np.array(ref), axis=1)[:, 0]
    se = np.hypot(d_fast.std() / np.sqrt(len(d_fast)), d_ref.std() / np.sqrt(len(d_ref)))
    assert abs(d_fast.mean() - d_ref.mean()) < 4 * se
    assert 0.75 < d_fast.std() / d_ref.std() < 1.33
    # and each side's level: a random half of the objects has about the overall AP
    overall = ev.evaluate().stats[0]
    assert abs(fast.mean() - overall) < 0.03


def test_the_sampler_draws_every_arrangement_equally_often():
    counts = np.array([1, 1, 2], dtype=np.int64)        # labels -1, 0, 1, 1
    state = np.array([12345], dtype=np.uint64)
    out = np.empty(4, dtype=np.int64)
    seen = {}
    n = 6000
    for _ in range(n):
        labelled._sample_labels(counts, state, out)
        seen[tuple(out)] = seen.get(tuple(out), 0) + 1
    arrangements = set(itertools.permutations([-1, 0, 1, 1]))
    assert set(seen) == arrangements                    # 12 distinct arrangements
    expected = n / len(arrangements)
    chi2 = sum((c - expected) ** 2 / expected for c in seen.values())
    assert chi2 < 31.3                                  # chi-square(11) 0.999 quantile
    # a partial draw: 2 slots from {-1, 0, 1, 1}: P(first two both 1) = 1/6
    out = np.empty(2, dtype=np.int64)
    both = 0
    for _ in range(n):
        labelled._sample_labels(counts, state, out)
        both += (out == 1).all()
    assert abs(both / n - 1 / 6) < 4 * np.sqrt(1 / 6 * 5 / 6 / n)


@pytest.mark.parametrize("measure", ["AP", "AP75", "APm", "AR", "AR50", "ARl"])
def test_keypoint_labelled_slices_ignore_unlabelled_persons(measure):
    """Keypoints (OKS): a person without a labelled keypoint is ignored like a crowd region
    (pycocotools' gt['ignore']); the labelled path gives the slices_state doubles, and its
    permutations are finite."""
    import copy

    from masks_data import keypoint_data

    from quality_widgets.evaluation import KEYPOINT_MEASURES
    gt, results = keypoint_data(0)
    ds = qw.Dataset.from_coco(None, copy.deepcopy(gt), copy.deepcopy(results))
    unlabelled = (ds.annotations["num_keypoints"] == 0) & ~ds.annotations["iscrowd"]
    assert unlabelled.sum() >= 3
    ev = qw.Evaluator(ds, iou_type="keypoints")
    rng = np.random.default_rng(1)
    a = rng.integers(-1, 2, len(ds.annotations))
    p = rng.integers(-1, 2, len(ds.predictions))
    state = ev.slices_state([a == 0, a == 1], [p == 0, p == 1], KEYPOINT_MEASURES[measure].area)
    want = [ev.measure(state, None, measure, None, 0.5, s) for s in (0, 1)]
    np.testing.assert_array_equal(ev.measure_labelled(a, p, 2, measure), want)
    perm = ev.measure_labelled(a, p, 2, measure, permutations=5, seed=2)
    assert perm.shape == (5, 2) and np.isfinite(perm).all()


def test_segm_labelled_slices_are_the_same_doubles_as_slices_state(coco128):
    """Masks (mask IoU, crowd RLE regions): the labelled path reads only the matching, so it
    gives the slices_state doubles for segm as for boxes."""
    import json

    from masks_data import mask_results
    gt = json.loads((coco128 / "instances.json").read_text())
    ds = qw.Dataset.from_coco(None, gt, mask_results(gt, seed=8))
    ev = qw.Evaluator(ds, iou_type="segm")
    rng = np.random.default_rng(2)
    a = rng.integers(-1, 2, len(ds.annotations))
    p = rng.integers(-1, 2, len(ds.predictions))
    for measure in ("AP", "APl", "AR100"):
        np.testing.assert_array_equal(ev.measure_labelled(a, p, 2, measure),
                                      _reference(ev, a, p, 2, measure, None))


# ---- permutable rows: a permutation within a slice -------------------------------------------
def test_rows_outside_the_permutable_ones_keep_their_labels(coco128_dataset, coco128_evaluator):
    """Only the permutable rows' labels are shuffled, among themselves: when they all carry
    one label (each kind its own), every relabelling is the observed labelling, whatever the
    other rows carry; without the restriction the same labels do move."""
    ev = coco128_evaluator
    rng = np.random.default_rng(21)
    a = rng.integers(-1, 2, len(coco128_dataset.annotations))
    p = rng.integers(-1, 2, len(coco128_dataset.predictions))
    for measure in ("AP", "AR100", "precision"):
        observed = ev.measure_labelled(a, p, 2, measure)
        perm = ev.measure_labelled(a, p, 2, measure, permutations=10, seed=3,
                                   permutable=(a == 0, p == 1))
        np.testing.assert_allclose(perm, np.tile(observed, (10, 1)), rtol=1e-13)
        free = ev.measure_labelled(a, p, 2, measure, permutations=10, seed=3)
        assert not np.allclose(free, np.tile(observed, (10, 1)), rtol=1e-6)


def test_permutations_within_rows_match_the_reference_distribution(coco128_dataset,
                                                                   coco128_evaluator):
    """Labels shuffled among the rows of a slice (the annotations and predictions of three
    categories; the others in no side): the compiled draws and numpy permutations of the
    same rows (one slices_state each) give the same distribution of the difference, and the
    same doubles for one seed run twice."""
    ev = coco128_evaluator
    anns, preds = coco128_dataset.annotations, coco128_dataset.predictions
    top = anns["category"].value_counts().index[:3]
    ann_in, pred_in = anns["category"].isin(top).to_numpy(), preds["category"].isin(
        top).to_numpy()
    rng = np.random.default_rng(12)
    a = np.where(ann_in, (rng.random(len(anns)) < 0.5).astype(int), -1)
    p = np.where(pred_in, (rng.random(len(preds)) < 0.5).astype(int), -1)
    fast = ev.measure_labelled(a, p, 2, permutations=300, seed=1, permutable=(ann_in, pred_in))
    np.testing.assert_array_equal(fast, ev.measure_labelled(
        a, p, 2, permutations=300, seed=1, permutable=(ann_in, pred_in)))
    ref = []
    r = np.random.default_rng(4)
    for _ in range(150):
        aa, pp = a.copy(), p.copy()
        aa[ann_in], pp[pred_in] = r.permutation(a[ann_in]), r.permutation(p[pred_in])
        ref.append(_reference(ev, aa, pp, 2, "AP", None))
    d_fast, d_ref = fast[:, 1] - fast[:, 0], np.diff(np.array(ref), axis=1)[:, 0]
    se = np.hypot(d_fast.std() / np.sqrt(len(d_fast)), d_ref.std() / np.sqrt(len(d_ref)))
    assert abs(d_fast.mean() - d_ref.mean()) < 4 * se
    assert 0.75 < d_fast.std() / d_ref.std() < 1.33
    # each side is a random half of the slice: about the slice's own AP, not the dataset's
    inside = ev.evaluate_masks(ann_in, pred_in).stats[0]
    assert abs(fast.mean() - inside) < 0.03


def test_the_sampler_keeps_fixed_slots_and_shuffles_the_others():
    """Slots 1 and 3 fixed (labels 0 and -1); the other four draw {-1, 1, 1, 0} without
    replacement: every arrangement of them equally often."""
    from quality_widgets.evaluation._label_draws import DRAW
    counts = np.array([1, 1, 2], dtype=np.int64)         # labels -1, 0, 1, 1
    fixed = np.array([DRAW, 0, DRAW, -1, DRAW, DRAW], dtype=np.int64)
    state = np.array([999], dtype=np.uint64)
    out = np.empty(6, dtype=np.int64)
    seen = {}
    n = 6000
    for _ in range(n):
        labelled._sample_fixed(counts, state, fixed, out)
        assert out[1] == 0 and out[3] == -1
        key = tuple(out[[0, 2, 4, 5]])
        seen[key] = seen.get(key, 0) + 1
    assert set(seen) == set(itertools.permutations([-1, 0, 1, 1]))
    expected = n / len(seen)
    assert sum((c - expected) ** 2 / expected for c in seen.values()) < 31.3

"""find_label_errors, its frame columns, label_agreement and apply_fixes, on a small dataset with
planted errors (tests/label_data.py) and, for the corrected file, pycocotools as the oracle."""
import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from label_data import make_label_dataset

import quality_widgets as qw
from quality_widgets.analysis.label_errors import (
    calibrate_scores,
    context_odds,
    cosine_knn,
    find_label_errors,
    label_agreement,
)
from quality_widgets.errors import DataWarning, ExportError
from quality_widgets.frames import MetricFrames


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("labels")
    data = make_label_dataset(folder)
    ds = qw.Dataset.from_coco(None, folder / "instances.json", folder / "predictions.json")
    return ds, data, folder


def frames_of(ds):
    return MetricFrames(images=ds.images.copy(), objects=ds.annotations.copy(),
                        predictions=ds.predictions.copy(), dataset=ds)


def test_every_item_gets_one_row_per_kind_with_scores_in_unit_interval(made):
    ds, _data, _ = made
    cand = find_label_errors(ds)
    real = int((~ds.annotations["iscrowd"]).sum())
    counts = cand["kind"].value_counts()
    assert counts["swapped"] == counts["badly_located"] == counts["spurious"] == real
    assert counts["overlooked"] == len(ds.predictions)
    assert cand["score"].between(0, 1).all()
    assert (np.diff(cand["score"].to_numpy()) <= 0).all()       # sorted, most likely first
    crowd_ids = ds.annotations.index[ds.annotations["iscrowd"]]
    assert not cand["annotation_id"].isin(crowd_ids).any()      # crowd regions get no rows
    for kind in ("swapped", "badly_located", "spurious"):
        rows = cand[cand["kind"] == kind]
        assert set(rows["annotation_id"].astype(int)) == set(ds.annotations.index[
            ~ds.annotations["iscrowd"]])


def test_planted_errors_rank_first_with_the_fix_the_evidence_points_to(made):
    ds, data, _ = made
    truth = data["truth"]
    cand = find_label_errors(ds)
    swapped = cand[cand["kind"] == "swapped"].head(len(truth["swapped"]))
    assert set(swapped["annotation_id"].astype(int)) == set(truth["swapped"])
    for row in swapped.itertuples():
        assert row.suggested_category_id == truth["swapped"][row.annotation_id]
        assert "but the detector sees" in row.reason
    located = cand[cand["kind"] == "badly_located"].head(len(truth["shifted"]))
    assert set(located["annotation_id"].astype(int)) == set(truth["shifted"])
    for row in located.itertuples():
        true_box = truth["shifted"][row.annotation_id]
        assert np.allclose(row.suggested_bbox, true_box, atol=6)   # the jittered prediction
    overlooked = cand[cand["kind"] == "overlooked"]
    top = overlooked.head(len(truth["removed"]) + 1)           # + the unlabelled image's dog
    found = {(r.image_id, r.suggested_category_id) for r in top.itertuples()}
    assert {(i, c) for i, c, _ in truth["removed"]} | {(41, 2)} == found
    spurious = cand[cand["kind"] == "spurious"].iloc[0]
    assert spurious["annotation_id"] == truth["spurious"][0]
    assert pd.isna(spurious["suggested_category_id"]) and spurious["suggested_bbox"] is None


def test_prediction_inside_a_crowd_region_is_never_overlooked(made):
    ds, data, _ = made
    cand = find_label_errors(ds)
    row = cand[(cand["kind"] == "overlooked")
               & (cand["prediction_id"] == data["truth"]["crowd_pred"])].iloc[0]
    assert row["score"] == 0.0
    assert "crowd region" in row["reason"]


def test_scores_join_the_frames_as_metric_columns(made):
    ds, _, _ = made
    metrics = frames_of(ds)
    cand = find_label_errors(ds, metrics=metrics)
    for col in ("swap_score", "location_score", "spurious_score"):
        assert col in metrics.objects and col in metrics.metric_columns("object")
    assert "overlooked_score" in metrics.metric_columns("prediction")
    assert "label_quality" in metrics.metric_columns("image")
    crowd = ds.annotations.index[ds.annotations["iscrowd"]]
    assert metrics.objects.loc[crowd, "swap_score"].isna().all()
    aid = cand[cand["kind"] == "swapped"].iloc[0]
    assert metrics.objects.at[int(aid["annotation_id"]), "swap_score"] == aid["score"]
    worst = cand.groupby("image_id")["score"].max()
    assert np.allclose(metrics.images["label_quality"], 1 - worst.reindex(
        metrics.images.index).fillna(0))


def test_no_predictions_gives_a_warning_and_an_empty_well_formed_frame(made):
    _ds, _, folder = made
    labels_only = qw.Dataset.from_coco(None, folder / "instances.json")
    with pytest.warns(DataWarning, match="no predictions"):
        cand = find_label_errors(labels_only)
    assert len(cand) == 0 and "score" in cand and "suggested_bbox" in cand
    metrics = frames_of(labels_only)
    qw.add_label_scores(metrics, cand)
    assert metrics.objects["swap_score"].isna().all()


def test_image_without_labels_and_dataset_without_any_labels(made):
    ds, _, _folder = made
    cand = find_label_errors(ds)
    dog = cand[(cand["image_id"] == 41) & (cand["kind"] == "overlooked")]
    assert len(dog) == 1 and dog["score"].iloc[0] > 0.5
    no_labels = qw.Dataset.from_coco(None, {"images": [{"id": 1, "file_name": "a.png",
                                                         "width": 10, "height": 10}],
                                            "annotations": [], "categories": []})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(find_label_errors(no_labels.with_predictions([]))) == 0


def test_calibration_is_monotone_in_score_and_not_judged_by_its_own_outcome():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 2000)
    correct = rng.uniform(0, 1, 2000) < scores          # calibrated by construction
    cats = rng.integers(0, 4, 2000)
    q = calibrate_scores(scores, cats, correct, per_class=False)
    order = np.argsort(scores)
    assert (np.diff(q[order]) >= -1e-12).all()
    assert np.abs(q - scores).mean() < 0.05
    # a class of one detection: its own miss does not pull its offset down (only the pooled
    # curve, of 2001 detections, moves a little)
    q1 = calibrate_scores(np.r_[scores, 0.9], np.r_[cats, 9], np.r_[correct, False])
    q2 = calibrate_scores(np.r_[scores, 0.9], np.r_[cats, 9], np.r_[correct, True])
    assert abs(q1[-1] - q2[-1]) < 0.02


def test_context_odds_is_the_naive_bayes_update_by_hand():
    # one stratum, q = 0.5 everywhere: 4 true detections, 3 of them with another label of
    # their class in the image; 2 false ones (weight 1 - q = 0.5 each), neither with one.
    q = np.full(6, 0.5)
    ctx = np.array([1, 1, 1, 0, 0, 0], bool)
    correct = np.array([1, 1, 1, 1, 0, 0], bool)
    out = context_odds(q, ctx, correct, strata=1)
    # P(ctx | true) = (3 + 1) / (4 + 2) = 2/3, P(ctx | false) = (0 + 1) / (1 + 2) = 1/3:
    # ratio 2 -> odds 2 -> 2/3; without: (1 + 1)/6 over (1 + 1)/3 = 1/2 -> 1/3.
    np.testing.assert_allclose(out, [2 / 3, 2 / 3, 2 / 3, 1 / 3, 1 / 3, 1 / 3])
    # within quantile bins of q: the low bin (q = 0.2) has no context anywhere, so its ratio
    # is (4 + 1) / (4 + 2) over (1.6 + 1) / (1.6 + 2) (false weight 2 x 0.8), whatever the
    # high bin says
    q2 = np.r_[np.full(6, 0.2), np.full(6, 0.8)]
    ctx2 = np.r_[np.zeros(6, bool), ctx]
    correct2 = np.r_[correct, correct]
    out2 = context_odds(q2, ctx2, correct2, strata=2)
    odds = 0.25 * (5 / 6) / (2.6 / 3.6)
    np.testing.assert_allclose(out2[:6], odds / (1 + odds))
    assert out2[6] > 0.8 > out2[11]


def test_cosine_knn_is_exact_against_a_brute_force_oracle():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 8))
    nn = cosine_knn(x, k=5, block=64)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    oracle = np.argsort(-sim, axis=1)[:, :5]
    assert (nn == oracle).all()
    small = x[:40]                          # fewer 64-column chunks than k: the other path
    unit = small / np.linalg.norm(small, axis=1, keepdims=True)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    assert (cosine_knn(small, k=3) == np.argsort(-sim, axis=1)[:, :3]).all()


def test_label_agreement_flags_a_label_among_neighbours_of_another_class(made):
    ds, data, _ = made
    rng = np.random.default_rng(2)
    anns = ds.annotations
    true_cat = anns["category_id"].to_numpy().copy()
    for aid, cat in data["truth"]["swapped"].items():
        true_cat[anns.index.get_loc(aid)] = cat
    centres = rng.normal(size=(4, 16)) * 5
    emb = centres[true_cat] + rng.normal(size=(len(anns), 16))
    agreement, majority, _share = label_agreement(emb, anns["category_id"].to_numpy(), k=5)
    swapped_pos = [anns.index.get_loc(a) for a in data["truth"]["swapped"]]
    assert (agreement[swapped_pos] <= 0.2).all()
    assert (majority[swapped_pos] == true_cat[swapped_pos]).all()
    others = np.setdiff1d(np.arange(len(anns)), swapped_pos)
    assert np.median(agreement[others]) >= 0.8
    # the same through find_label_errors: a column and the swap suggestion, without predictions
    metrics = frames_of(ds)
    labels_only = qw.Dataset.from_coco(None, data["instances"])
    cand = find_label_errors(labels_only, metrics, embeddings=emb, k=5)
    top = cand[cand["kind"] == "swapped"].head(len(swapped_pos))
    assert set(top["annotation_id"].astype(int)) == set(data["truth"]["swapped"])
    assert "nearest neighbours by embedding" in top["reason"].iloc[0]
    column = metrics.objects["label_agreement"]
    crowd = ds.annotations["iscrowd"].to_numpy()
    assert column[~crowd].between(0, 1).all() and column[crowd].isna().all()
    assert (column.loc[list(data["truth"]["swapped"])] <= 0.2).all()


def test_apply_fixes_writes_a_corrected_file_pycocotools_loads(made, tmp_path):
    COCO = pytest.importorskip("pycocotools.coco").COCO
    ds, data, folder = made
    truth = data["truth"]
    cand = find_label_errors(ds)
    accepted = pd.concat([cand[cand["kind"] == "swapped"].head(len(truth["swapped"])),
                          cand[cand["kind"] == "badly_located"].head(len(truth["shifted"])),
                          cand[cand["kind"] == "spurious"].head(1),
                          cand[cand["kind"] == "overlooked"].head(len(truth["removed"]) + 1)])
    out, changes = qw.apply_fixes(ds, accepted, tmp_path / "fixed.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fixed.changes.csv", "fixed.json"]
    coco = COCO(str(out))
    fixed = coco.anns
    for aid, cat in truth["swapped"].items():
        assert fixed[aid]["category_id"] == cat
    for aid, box in truth["shifted"].items():
        assert np.allclose(fixed[aid]["bbox"], box, atol=6)
        assert fixed[aid]["area"] == pytest.approx(fixed[aid]["bbox"][2] * fixed[aid]["bbox"][3])
    assert truth["spurious"][0] not in fixed
    added = [a for a in fixed.values() if str(a.get("source", "")).startswith("prediction")]
    assert {(a["image_id"], a["category_id"]) for a in added} >= \
        {(i, c) for i, c, _ in truth["removed"]}
    assert json.loads(out.read_text())["info"] == data["instances"]["info"]  # rest kept
    table = pd.read_csv(changes)
    assert len(table) == len(accepted)
    assert set(table["action"]) == {"recategorise", "move", "remove", "add"}
    with pytest.raises(ExportError, match="already exists"):
        qw.apply_fixes(ds, accepted, out)
    with pytest.raises(ExportError, match="input annotations"):
        qw.apply_fixes(ds, accepted, folder / "instances.json", overwrite=True)
    before = (folder / "instances.json").read_text()
    qw.apply_fixes(ds, accepted.head(0), tmp_path / "same.json")
    assert (folder / "instances.json").read_text() == before
    assert len(COCO(str(tmp_path / "same.json")).anns) == len(data["instances"]["annotations"])


def test_coco128_real_predictions_rank_planted_swaps_above_chance(coco128_dataset):
    """On the real labels and detector: swapped planted labels rank in the top."""
    from dataclasses import replace
    ds = coco128_dataset
    anns = ds.annotations.copy()
    rng = np.random.default_rng(0)
    real = anns.index[~anns["iscrowd"].to_numpy(bool)]
    swapped = rng.choice(real.to_numpy(), 40, replace=False)
    cats = ds.categories.index.to_numpy()
    for a in swapped:
        anns.at[a, "category_id"] = rng.choice(cats[cats != anns.at[a, "category_id"]])
    cand = find_label_errors(replace(ds, annotations=anns))
    top = cand[cand["kind"] == "swapped"].head(40)
    precision = top["annotation_id"].isin(swapped).mean()
    assert precision >= 0.3          # 40 of 939 labels: chance is 0.04; cleanlab gets ~0.15


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_a_fixed_annotation_file_gets_the_permissions_of_any_new_file(made, tmp_path, umask):
    """The corrected file and the change log are created like a plain open(path, "w") under the
    process's umask (0644 / 0640), not 0600 as a bare temporary file would be."""
    ds, _data, _ = made
    accepted = find_label_errors(ds).head(3)
    previous = os.umask(umask)
    try:
        out, changes = qw.apply_fixes(ds, accepted, tmp_path / "fixed.json")
        plain = tmp_path / "plain.txt"
        with open(plain, "w") as f:
            f.write("x")
    finally:
        os.umask(previous)
    assert plain.stat().st_mode & 0o777 == 0o666 & ~umask
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert changes.stat().st_mode & 0o777 == 0o666 & ~umask


def test_apply_fixes_never_replaces_a_file_that_appears_while_it_writes(made, tmp_path,
                                                                        monkeypatch):
    from quality_widgets import export_fixes
    ds, _data, _ = made
    out = tmp_path / "fixed.json"
    real_dumps = export_fixes.dumps

    def dumps_then_someone_writes(data):
        out.write_text("theirs")
        return real_dumps(data)

    monkeypatch.setattr(export_fixes, "dumps", dumps_then_someone_writes)
    with pytest.raises(ExportError, match="appeared meanwhile; nothing replaced"):
        qw.apply_fixes(ds, find_label_errors(ds).head(2), out)
    assert out.read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fixed.json"]   # no temporary left


def test_score_arrays_by_hand_on_one_label_and_one_aligned_prediction_of_another_class():
    """One image, a cat label and a dog prediction on the same box (IoU 1): no support for the
    cat, the swap evidence is q A(1) (1 - E) = q of the prediction, pointing at it; a crowd
    region in another image gets 0 whatever is there. The result is a frozen dataclass."""
    import dataclasses

    from quality_widgets.analysis.label_errors import Scores, score_arrays
    box = [10.0, 10.0, 50.0, 40.0]
    sc = score_arrays(label_unit=[1, 2], label_cat=[1, 1], label_box=[box, box],
                      label_crowd=[False, True], pred_unit=[1, 2], pred_cat=[2, 2],
                      pred_box=[box, box], pred_score=[0.9, 0.9])
    assert isinstance(sc, Scores) and dataclasses.is_dataclass(sc)
    assert sc.support[0] == 0.0 and sc.swap_pred[0] == 0
    assert sc.swap[0] == pytest.approx(sc.q[0]) and 0 < sc.q[0] < 1
    assert sc.swap[1] == sc.location[1] == sc.spurious[1] == 0.0
    assert sc.covered[0] == 1.0 and sc.covered_label[0] == 0    # cross-class, IoU 1 >= 0.7
    with pytest.raises(dataclasses.FrozenInstanceError):
        sc.swap = np.zeros(2)

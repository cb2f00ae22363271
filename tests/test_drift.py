"""Drift: halves of one dataset do not drift, a darkened copy drifts in brightness; PSI, Holm
and the image-permutation p-value by hand; the DriftView from the kernel; the CLI."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import quality_widgets as qw
from quality_widgets import cli
from quality_widgets.analysis import drift
from quality_widgets.analysis.statistics import holm
from quality_widgets.data.sample import sample_paths
from quality_widgets.frames import MetricFrames, write_metrics

METRICS = ["brightness", "contrast", "sharpness", "object_brightness", "box_area",
           "n_uncertain"]


def _subset(frames: MetricFrames, image_ids) -> MetricFrames:
    ids = pd.Index(image_ids)
    return MetricFrames(images=frames.images.loc[ids],
                        objects=frames.objects[frames.objects["image_id"].isin(ids)],
                        predictions=frames.predictions[frames.predictions["image_id"].isin(ids)])


@pytest.fixture(scope="module")
def sample_metrics():
    return qw.compute_metrics(qw.load_sample(), metrics=METRICS, cache_dir=False,
                              progress=False, workers=1)


@pytest.fixture(scope="module")
def darkened_metrics(tmp_path_factory):
    """The sample with every image at half its pixel values (same labels and predictions)."""
    paths = sample_paths()
    folder = tmp_path_factory.mktemp("dark") / "images"
    folder.mkdir()
    for path in sorted(paths["images"].iterdir()):
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint16)
        Image.fromarray((pixels // 2).astype(np.uint8)).save(folder / path.name, quality=95)
    dark = qw.Dataset.from_coco(folder, paths["annotations"], paths["predictions"])
    return qw.compute_metrics(dark, metrics=METRICS, cache_dir=False, progress=False,
                              workers=1)


def test_two_halves_of_one_dataset_do_not_drift(sample_metrics):
    ids = sample_metrics.images.index
    table = drift.compare(_subset(sample_metrics, ids[::2]), _subset(sample_metrics, ids[1::2]))
    assert set(table["level"]) == {"image", "object", "prediction"}
    assert table["p_holm"].min() > 0.05, table.head()
    brightness = table[(table["metric"] == "brightness") & (table["level"] == "image")].iloc[0]
    assert brightness["p_value"] > 0.05 and brightness["n_a"] + brightness["n_b"] == len(ids)
    # rows of one image are not independent: scipy's p-value alone would cry drift here,
    # the image-permutation p-value does not
    objects = table[table["level"] == "object"]
    assert (objects["p_method"] == "image permutation (999)").all()
    assert objects["p_ks"].min() < objects["p_value"].min()
    assert table["ks_statistic"].is_monotonic_decreasing


def test_darkened_copy_drifts_in_brightness(sample_metrics, darkened_metrics):
    table = drift.compare(sample_metrics, darkened_metrics)
    top = table.iloc[0]
    row = table[(table["metric"] == "brightness") & (table["level"] == "image")].iloc[0]
    assert row["p_value"] < 1e-6 and row["p_holm"] < 1e-6
    assert row["ks_statistic"] > 0.8 and top["ks_statistic"] >= row["ks_statistic"]
    assert row["mean_b"] < row["mean_a"]
    a = sample_metrics.images["brightness"].to_numpy()
    b = darkened_metrics.images["brightness"].to_numpy()
    from scipy import stats
    assert row["wasserstein"] == pytest.approx(stats.wasserstein_distance(a, b))
    # half the pixel values: about half the brightness
    assert row["mean_b"] == pytest.approx(row["mean_a"] / 2, rel=0.02)
    assert row["psi"] > 0.25
    # the objects darken too, found through whole-image permutations (smallest p: 1/1000)
    obj = table[(table["metric"] == "object_brightness") & (table["level"] == "object")].iloc[0]
    assert obj["p_value"] == pytest.approx(1 / 1000)
    # geometry did not change
    area = table[(table["metric"] == "box_area") & (table["level"] == "object")].iloc[0]
    assert area["ks_statistic"] == 0 and area["p_value"] == 1


def test_psi_holm_and_permutation_by_hand():
    a = np.arange(100, dtype=float)
    assert drift.population_stability_index(a, a) == 0
    # 100 and 50 rows: 50 // 20 = 2 bins, split at A's median 49.5; b all in the lower one.
    # Counts + 1/2 over n + 2/2: p = (50.5, 50.5) / 101, q = (50.5, 0.5) / 51
    b = np.zeros(50)
    assert drift.psi_bins(100, 50) == 2 and drift.psi_bins(1000, 5000) == 10
    p, q = np.array([50.5, 50.5]) / 101, np.array([50.5, 0.5]) / 51
    assert drift.population_stability_index(a, b) == pytest.approx(np.sum((q - p) *
                                                                        np.log(q / p)))
    # deciles when asked: b in A's lowest decile, p = 10.5 / 105 each, q = (50.5, 0.5...) / 55
    p, q = np.full(10, 10.5 / 105), np.r_[50.5, np.full(9, 0.5)] / 55
    assert drift.population_stability_index(a, b, bins=10) == pytest.approx(
        np.sum((q - p) * np.log(q / p)))
    # the noise floor: (1/n_a + 1/n_b) chi2_0.95(k - 1); 2 bins: chi2_0.95(1) = 3.8415
    assert drift.psi_noise(100, 50, 2) == pytest.approx((1 / 100 + 1 / 50) * 3.841459, rel=1e-6)
    assert [drift.psi_band(v, 0.2) for v in (0.05, 0.15, 0.3, np.nan)] == [
        "stable", "noise", "major", "undefined"]
    assert drift.psi_band(0.15, 0.05) == "moderate"
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, np.nan, 0.005]),
                               [0.03, 0.06, 0.06, np.nan, 0.02])
    # one value per image: every split of 2 + 2 images; D = 1 for 2 of the 6 splits
    d, p_perm = drift.image_permutation_ks([0.0, 1.0], [1, 2], [5.0, 6.0], [3, 4],
                                           permutations=4000, seed=1)
    assert d == 1.0 and p_perm == pytest.approx(2 / 6, abs=0.03)


def test_compare_rejects_unknown_metric(sample_metrics):
    with pytest.raises(KeyError, match="no_such_metric"):
        drift.compare(sample_metrics, sample_metrics, metrics=["no_such_metric"])


def test_drift_view_brush_selects_both_datasets(sample_metrics, darkened_metrics):
    from quality_widgets.widgets.drift import DriftView
    view = DriftView(sample_metrics, darkened_metrics, metric="brightness")
    heights = np.asarray(view.group_bars.bars.y)
    np.testing.assert_allclose(heights.sum(axis=1), [1.0, 1.0])   # each side normalised
    view.select(0.0, 0.3)
    a = sample_metrics.images["brightness"]
    b = darkened_metrics.images["brightness"]
    assert list(view.selection_of("A")) == a.index[a.between(0, 0.3)].tolist()
    assert list(view.selection_of("B")) == b.index[b.between(0, 0.3)].tolist()
    assert view.selection.equals(view.selection_of("B"))      # the trait holds the shown side
    assert set(view.gallery.ids) <= set(view.selection)       # the gallery shows side B
    view.side = "A"
    assert view.selection.equals(view.selection_of("A"))
    assert set(view.gallery.ids) <= set(view.selection)
    assert "<script" not in view.table_html.value
    with pytest.raises(ValueError, match="side"):
        view.selection_of("C")


def test_drift_view_selection_trait_fires_when_the_ids_change_at_the_same_size(
        sample_metrics, darkened_metrics):
    from quality_widgets.widgets.drift import DriftView
    view = DriftView(sample_metrics, darkened_metrics, metric="brightness")
    seen = []
    view.observe(lambda change: seen.append(change["new"]), names="selection")
    b = darkened_metrics.images["brightness"]
    v = np.sort(b.to_numpy())
    assert len(np.unique(v[:6])) == 6
    first, second = (v[0], v[2]), (v[3], v[5])      # 3 rows of B each, different rows
    view.histogram.selector.selected = np.array(first)      # as the browser's brush does
    view.histogram.selector.selected = np.array(second)
    assert [len(s) for s in seen] == [3, 3]
    assert seen[0].tolist() == b.index[b.between(*first)].tolist()
    assert seen[1].tolist() == b.index[b.between(*second)].tolist()
    # moved, but the same rows of B (A's rows may change: not the shown side): no callback
    view.select(second[0] - 1e-9, second[1] + 1e-9)
    assert len(seen) == 2


def test_cli_json(sample_metrics, darkened_metrics, tmp_path, capsys):
    for name, frames in (("a", sample_metrics), ("b", darkened_metrics)):
        write_metrics(frames, tmp_path / name)
    code = cli.main(["drift", "--a", str(tmp_path / "a"), "--b", str(tmp_path / "b"), "--json",
                     "--permutations", "199"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["ks_statistic"] >= rows[-1]["ks_statistic"]
    brightness = next(r for r in rows if r["metric"] == "brightness")
    assert brightness["level"] == "image" and brightness["p_value"] < 1e-6
    assert {"p_holm", "wasserstein", "psi", "n_a", "n_b"} <= set(brightness)
    assert cli.main(["drift", "--a", str(tmp_path / "missing"), "--b",
                     str(tmp_path / "b")]) == 2

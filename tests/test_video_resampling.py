"""Resampling whole videos: frames of one video are not independent, so bootstrap and
permutation draw videos (analysis/statistics.py), and a video-level split gets the same
p-value however many frames each video has."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import quality_widgets as qw
from quality_widgets.analysis.statistics import (
    cluster_bootstrap_weights,
    cluster_labels,
    cluster_permutation,
    permutation_p_value,
)


def test_singleton_clusters_are_the_ordinary_bootstrap_and_permutation():
    n = 17
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    weights = cluster_bootstrap_weights(np.arange(n), 4, a)
    expected = np.stack([b.multinomial(n, np.full(n, 1.0 / n)) for _ in range(4)])
    assert np.array_equal(weights, expected)
    values = np.arange(n) * 1.5
    assert np.array_equal(cluster_permutation(values, np.arange(n), np.random.default_rng(2)),
                          values[np.random.default_rng(2).permutation(n)])


def test_cluster_labels_group_frames_of_a_video_and_keep_other_images_apart():
    images = pd.DataFrame({"video": ["b", None, "a", "b", None, "a"]},
                          index=pd.Index([10, 11, 12, 13, 14, 15], name="image_id"))
    assert cluster_labels(images).tolist() == [0, 1, 2, 0, 3, 2]
    assert cluster_labels(images, [13, 14, 12]).tolist() == [0, 1, 2]
    assert cluster_labels(pd.DataFrame(index=[1, 2])).tolist() == [0, 1]


def test_cluster_weights_count_every_frame_of_a_drawn_video():
    clusters = np.array([0, 0, 0, 1, 2, 2])
    weights = cluster_bootstrap_weights(clusters, 50, np.random.default_rng(0))
    assert (weights.reshape(50, -1)[:, :3] == weights[:, :1]).all()     # a video moves as one
    assert (weights[:, 4] == weights[:, 5]).all()
    per_cluster = weights[:, [0, 3, 4]]
    assert (per_cluster.sum(axis=1) == 3).all()                          # 3 videos drawn


def test_cluster_permutation_moves_whole_blocks_and_stretches_unequal_ones():
    values = np.array([1.0, 1.0, 1.0, 2.0, 3.0, 3.0])
    clusters = np.array([0, 0, 0, 1, 2, 2])
    for seed in range(10):
        out = cluster_permutation(values, clusters, np.random.default_rng(seed))
        # constant within clusters stays constant within clusters, and is a cluster's value
        for c in range(3):
            assert len(set(out[clusters == c])) == 1
        assert sorted({out[clusters == c][0] for c in range(3)}) == [1.0, 2.0, 3.0]
    ramp = np.array([0.0, 1.0, 2.0, 3.0, 10.0, 20.0])           # clusters of 4 and 2 items
    out = cluster_permutation(ramp, np.array([0, 0, 0, 0, 1, 1]), np.random.default_rng(0))
    swapped = out[0] == 10.0
    if swapped:  # 4 items take the 2 values stretched, 2 items take every other of the 4
        assert out.tolist() == [10.0, 10.0, 20.0, 20.0, 0.0, 2.0]
    else:
        assert out.tolist() == ramp.tolist()


def _video_split_p(frames_per_video: int, by_video: bool, seed: int = 0, n: int = 399):
    """Permutation p-value of a video-level split: per-frame scores, a video-level metric."""
    rng = np.random.default_rng(42)
    n_videos = 16
    metric = rng.uniform(size=n_videos)
    score = 0.3 * metric + rng.normal(0, 0.25, size=n_videos)      # a weak effect
    video = np.repeat(np.arange(n_videos), frames_per_video)
    m, y = metric[video], score[video]
    threshold = np.median(metric)

    def d(values):
        return y[values >= threshold].mean() - y[values < threshold].mean()

    clusters = video if by_video else np.arange(len(video))
    perm_rng = np.random.default_rng(seed)
    permuted = [d(cluster_permutation(m, clusters, perm_rng)) for _ in range(n)]
    return permutation_p_value(d(m), permuted)


def test_a_video_level_split_gets_the_same_p_value_whatever_the_frames_per_video():
    p = [_video_split_p(k, by_video=True) for k in (1, 3, 8)]
    assert p[0] == p[1] == p[2]
    assert 0.01 < p[0] < 0.5
    # shuffling frames instead treats 8 copies of a frame as 8 observations: overconfident
    assert _video_split_p(8, by_video=False) < p[0] / 3


def _replicated_video_dataset(frames_per_video: int):
    """48 videos of identical frames; one GT box per frame and one detection whose overlap
    depends on the video; the video-level metric 'v' is added to the metric frames by hand."""
    rng = np.random.default_rng(1)
    n_videos = 48
    images, anns, preds = [], [], []
    quality = rng.uniform(size=n_videos)
    for v in range(n_videos):
        shift = 2 + 14 * (1 - quality[v]) + rng.normal(0, 3)
        for f in range(frames_per_video):
            image_id = len(images) + 1
            images.append((image_id, v, f))
            anns.append((image_id, [10.0, 10.0, 40.0, 40.0]))
            preds.append((image_id, [10.0 + shift, 10.0, 40.0, 40.0], 0.5 + 0.01 * v))
    img = pd.DataFrame({"file_name": [f"{i}.jpg" for i, _, _ in images], "path": None,
                        "width": pd.array([100] * len(images), dtype="Int64"),
                        "height": pd.array([100] * len(images), dtype="Int64"),
                        "video": [f"v{v}" for _, v, _ in images],
                        "frame_index": [f for _, _, f in images]},
                       index=pd.Index([i for i, _, _ in images], name="image_id"))
    dataset = qw.Dataset.from_coco(None, {
        "images": [{"id": int(i), "file_name": f"{i}.jpg", "width": 100, "height": 100}
                   for i in img.index],
        "annotations": [{"id": k + 1, "image_id": i, "category_id": 1, "bbox": b, "area": 1600}
                        for k, (i, b) in enumerate(anns)],
        "categories": [{"id": 1, "name": "x"}]}).with_predictions(
        [{"image_id": i, "category_id": 1, "bbox": b, "score": s} for i, b, s in preds])
    dataset.images = img
    metrics = qw.compute_metrics(dataset, metrics=["box_area"], workers=1, cache_dir=False,
                                 progress=False)
    metrics.images["v"] = quality[[v for _, v, _ in images]]
    return dataset, metrics


def test_test_hypothesis_resamples_videos():
    """An image split of a video dataset permutes whole videos (and the curve and test cases
    split whole videos into halves): three copies of every frame change nothing."""
    results = []
    for k in (1, 3):
        dataset, metrics = _replicated_video_dataset(k)
        results.append(qw.test_hypothesis(dataset, metrics, metric="v", measure="AP50",
                                          resamples=200, seed=0))
    assert results[0].difference == pytest.approx(results[1].difference, abs=1e-12)
    assert results[0].p_value == results[1].p_value
    assert results[0].ci95 == pytest.approx(results[1].ci95, abs=1e-12)


def _frames(values, frames_per_video):
    n = len(values) * frames_per_video
    images = pd.DataFrame({"file_name": [f"{i}" for i in range(n)],
                           "video": np.repeat([f"v{i}" for i in range(len(values))],
                                              frames_per_video),
                           "m": np.repeat(values, frames_per_video)},
                          index=pd.Index(np.arange(1, n + 1), name="image_id"))
    empty = pd.DataFrame(index=pd.Index([], name="annotation_id"))
    return qw.MetricFrames(images=images, objects=empty, predictions=empty.rename_axis(
        "prediction_id"))


def test_drift_permutes_whole_videos_and_says_so():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 12), rng.normal(0.4, 1, 12)
    p = []
    for k in (1, 6):
        table = qw.compare_drift(_frames(a, k), _frames(b, k), levels="image", metrics=["m"],
                                 permutations=499)
        assert table.loc[0, "p_method"] == "video permutation (499)"
        p.append(table.loc[0, "p_value"])
    assert p[0] == p[1]                 # six copies of each frame are still one video
    # images outside videos keep the KS p-value
    plain = _frames(a, 1)
    plain.images = plain.images.drop(columns="video")
    table = qw.compare_drift(plain, plain, levels="image", metrics=["m"])
    assert table.loc[0, "p_method"] == "ks"


def test_test_case_bootstrap_draws_videos_and_says_so():
    rows = []
    for k in (1, 3):
        dataset, metrics = _replicated_video_dataset(k)
        rows.append(qw.run_test_cases(dataset, metrics, [{"name": "all", "measure": "AP50",
                                                          "min": 0.1}], resamples=100).iloc[0])
    assert rows[1]["note"] == "interval from halves of whole videos"
    assert rows[0]["note"] == ""                       # one frame per video: frames are videos
    assert rows[0]["value"] == rows[1]["value"]
    # three copies of each frame are still one video: the same interval
    assert (rows[0]["ci_low"], rows[0]["ci_high"]) == pytest.approx(
        (rows[1]["ci_low"], rows[1]["ci_high"]), abs=1e-12)

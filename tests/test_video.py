"""Video datasets: the four loaders on a generated clip, frame references decoded by PyAV, the
temporal metrics' planted-error rankings, and MOT ignore regions in evaluation.

The clip (``quality_widgets.data.sample_video``) draws moving, rotating polygons on a panning
texture, 30 frames, with planted errors: a track missing for 2 frames, a class flip, an id
switch, a distorted polygon and a duplicated frame.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import quality_widgets as qw
from quality_widgets.data.imaging import decode_rgb
from quality_widgets.data.sample_video import write_sample_video

TEMPORAL = ["gap_after", "track_length", "class_flip", "id_switch_iou", "area_change",
            "box_jump", "shape_similarity", "frame_difference", "n_tracks"]
FORMATS = ["mot", "coco_video", "youtube_vis", "mp4"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_sample_video(tmp_path_factory.mktemp("clip"))


def _load(clip, fmt):
    if fmt == "mot":
        return qw.Dataset.from_mot(clip["sequence"])
    if fmt == "coco_video":
        return qw.Dataset.from_coco(clip["img1"], clip["coco_video"])
    if fmt == "youtube_vis":
        return qw.Dataset.from_youtube_vis(clip["youtube_vis"], clip["frames_dir"])
    pytest.importorskip("av")
    return qw.Dataset.from_video(clip["mp4"], annotations=clip["coco_video"])


@pytest.fixture(scope="module")
def datasets(clip):
    return {fmt: _load(clip, fmt) for fmt in FORMATS}


@pytest.fixture(scope="module")
def temporal(datasets):
    return {fmt: qw.compute_metrics(ds, metrics=TEMPORAL, workers=1, cache_dir=False,
                                    progress=False) for fmt, ds in datasets.items()}


def _labels(ds):
    """(frame_index, track_id) -> (category_id, rounded box, iscrowd) of every annotation."""
    fi = ds.images["frame_index"].reindex(ds.annotations["image_id"]).to_numpy()
    a = ds.annotations
    return {(int(f), int(t)): (int(c), tuple(np.round(b, 2)), bool(k))
            for f, t, c, b, k in zip(fi, a["track_id"], a["category_id"],
                                     a[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(),
                                     a["iscrowd"], strict=True)}


def test_the_four_loaders_give_the_same_frames_and_labels(clip, datasets):
    reference = datasets["mot"]
    assert len(reference.images) == clip["n_frames"]
    assert reference.has_videos
    for fmt, ds in datasets.items():
        images = ds.images.sort_values("frame_index")
        assert images["frame_index"].tolist() == list(range(clip["n_frames"])), fmt
        assert images["video"].nunique() == 1
        assert (images["width"] == 320).all() and (images["height"] == 240).all()
        assert ds.annotations["track_id"].notna().all()
        expected = _labels(reference)
        got = _labels(ds)
        assert got.keys() == expected.keys(), fmt
        flip = clip["planted"]["class_flip"]
        for key, (cat, box, crowd) in expected.items():
            assert got[key][1:] == (box, crowd), (fmt, key)
            if fmt == "youtube_vis" and key == (flip["frame"], flip["track_id"]):
                continue   # one class per track in YouTube-VIS: the flip cannot be written
            assert got[key][0] == cat, (fmt, key)
    # the image files behind the three label formats are the same frames
    paths = {fmt: datasets[fmt].images.sort_values("frame_index")["path"].tolist()
             for fmt in ("mot", "coco_video", "youtube_vis")}
    assert paths["mot"] == paths["coco_video"] == paths["youtube_vis"]


def test_mp4_frames_decode_to_the_frames_that_were_encoded(clip, datasets):
    pytest.importorskip("av")
    video = datasets["mp4"].images.sort_values("frame_index")
    jpegs = datasets["mot"].images.sort_values("frame_index")["path"].tolist()
    assert video["path"].str.contains("#frame=").all()
    for i, ref in enumerate(video["path"]):
        pixels = decode_rgb(ref).astype(int)
        assert pixels.shape == (240, 320, 3)
        own = np.abs(pixels - decode_rgb(jpegs[i]).astype(int)).mean()
        assert own < 6, (i, own)                         # H.264 at crf 12 vs JPEG q95
        for j in (i - 1, i + 1):                         # and not a neighbour (except the
            if 0 <= j < len(jpegs) and {i, j} != {24, 25}:   # planted duplicate pair)
                assert np.abs(pixels - decode_rgb(jpegs[j]).astype(int)).mean() > own + 3


def test_frames_decode_the_same_in_any_order(clip):
    pytest.importorskip("av")
    from quality_widgets.data import video
    refs = [video.frame_reference(clip["mp4"], i) for i in range(clip["n_frames"])]
    video.close_readers()
    in_order = [decode_rgb(r).copy() for r in refs]
    video.close_readers()
    for i in [29, 3, 17, 17, 0, 28, 12, 13]:
        assert np.array_equal(decode_rgb(refs[i]), in_order[i]), i
    with pytest.raises(Exception, match="past the end"):
        decode_rgb(video.frame_reference(clip["mp4"], 30))


def test_from_video_every_keeps_every_nth_frame_and_its_labels(clip, datasets):
    pytest.importorskip("av")
    ds = qw.Dataset.from_video(clip["mp4"], annotations=clip["coco_video"], every=3)
    assert ds.images["frame_index"].tolist() == list(range(0, clip["n_frames"], 3))
    full = _labels(datasets["coco_video"])
    got = _labels(ds)
    assert got == {k: v for k, v in full.items() if k[0] % 3 == 0}
    # the MOT gt.txt matches the video by frame number - 1, like the COCO-video file
    via_mot = qw.Dataset.from_video(clip["mp4"], annotations=clip["sequence"] / "gt" / "gt.txt")
    assert {k: v[1:] for k, v in _labels(via_mot).items()} == \
        {k: v[1:] for k, v in full.items()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_planted_errors_rank_first(clip, temporal, fmt):
    if fmt == "mp4":
        pytest.importorskip("av")
    planted = clip["planted"]
    m = temporal[fmt]
    objects = m.objects.assign(frame=m.images["frame_index"].reindex(
        m.objects["image_id"]).to_numpy())

    def row(frame, track):
        hit = objects[(objects["frame"] == frame) & (objects["track_id"] == track)]
        assert len(hit) == 1
        return hit.iloc[0]

    # the hole: gap_after = 2 at the frame before it, and no other gap
    gap = planted["gap"]
    before = row(gap["frames"][0] - 1, gap["track_id"])
    assert before["gap_after"] == 2
    assert objects["gap_after"].drop(before.name).max() == 0
    # the class flip is the only class_flip = 1 (YouTube-VIS has one class per track)
    flip = planted["class_flip"]
    flipped = objects.index[objects["class_flip"] == 1].tolist()
    assert flipped == ([] if fmt == "youtube_vis" else
                       [row(flip["frame"], flip["track_id"]).name])
    # the id switch: the new id's first box has the largest id_switch_iou
    switch = planted["id_switch"]
    new = row(switch["frame"], switch["new_track_id"])
    assert objects["id_switch_iou"].idxmax() == new.name
    assert new["id_switch_iou"] > 0.5
    assert objects["id_switch_iou"].drop(new.name).max() < 0.1
    # the distorted polygon is the lowest shape_similarity of its track (boxes only in MOT)
    dist = planted["distorted"]
    track = objects[objects["track_id"] == dist["track_id"]]
    assert track["shape_similarity"].idxmin() == row(dist["frame"], dist["track_id"]).name
    if fmt != "mot":   # with polygons, the lowest of the whole dataset, by far
        assert objects["shape_similarity"].idxmin() == row(dist["frame"],
                                                           dist["track_id"]).name
        assert objects["shape_similarity"].nsmallest(2).diff().iloc[1] > 0.3
    # the duplicated frame: frame_difference = 0 there, clearly above 0 elsewhere
    fd = m.images.set_index("frame_index")["frame_difference"]
    assert np.isnan(fd[0])
    assert fd[planted["duplicate"]["frame"]] == 0
    assert fd.drop([0, planted["duplicate"]["frame"]]).min() > 0.005
    # n_tracks: 3 tracks except in the hole; crowd regions are no tracks
    nt = m.images.set_index("frame_index")["n_tracks"]
    assert nt[gap["frames"]].tolist() == [2, 2]
    assert (nt.drop(gap["frames"]) == 3).all()
    # crowd / ignore regions get NaN
    crowd = objects[objects["iscrowd"]]
    assert len(crowd) == clip["n_frames"]
    assert crowd[["gap_after", "class_flip", "shape_similarity"]].isna().all().all()


def test_temporal_formulas_on_a_hand_made_track():
    images = pd.DataFrame({"file_name": ["a", "b", "c", "d"], "path": None,
                           "width": pd.array([100] * 4, dtype="Int64"),
                           "height": pd.array([100] * 4, dtype="Int64"),
                           "video": ["v", "v", "v", None], "frame_index": [0, 5, 9, 0]},
                          index=pd.Index([1, 2, 3, 4], name="image_id"))
    # track 1: frames 0 and 2 (a hole at position 1); track 2 ends at position 1, track 3
    # starts at position 2 on the same spot; one annotation outside videos
    rows = [  # id, image, cat, x, y, w, h, track
        (10, 1, 1, 0, 0, 10, 10, 1), (11, 3, 1, 10, 0, 10, 20, 1),
        (12, 1, 2, 50, 50, 10, 10, 2), (13, 2, 2, 50, 50, 10, 10, 2),
        (14, 3, 2, 52, 50, 10, 10, 3), (15, 4, 1, 0, 0, 5, 5, 1),
        (16, 2, 1, 80, 80, 10, 10, 4), (17, 3, 1, 80, 80, 10, 10, 4),
        (18, 1, 1, 80, 80, 10, 10, 4)]
    anns = pd.DataFrame({
        "image_id": [r[1] for r in rows], "category_id": [r[2] for r in rows],
        "category": [str(r[2]) for r in rows],
        "bbox_x": [float(r[3]) for r in rows], "bbox_y": [float(r[4]) for r in rows],
        "bbox_w": [float(r[5]) for r in rows], "bbox_h": [float(r[6]) for r in rows],
        "area": [float(r[5] * r[6]) for r in rows], "iscrowd": False, "segmentation": None,
        "track_id": pd.array([r[7] for r in rows], dtype="Int64")},
        index=pd.Index([r[0] for r in rows], name="annotation_id"))
    anns.loc[18, "category_id"] = 2        # track 4: classes 2, 1, 1 -> the first is a flip
    ds = qw.Dataset(images=images, annotations=anns, has_annotations=True)
    m = qw.compute_metrics(ds, metrics=[n for n in TEMPORAL if n != "frame_difference"],
                           workers=1, cache_dir=False, progress=False).objects
    assert m["gap_after"].to_dict() == pytest.approx(
        {10: 1, 11: np.nan, 12: 0, 13: np.nan, 14: np.nan, 15: np.nan, 16: 0, 17: np.nan,
         18: 0}, nan_ok=True)
    assert m["track_length"][[10, 12, 14, 16]].tolist() == [2, 2, 1, 3]
    assert m["class_flip"][[16, 17, 18]].tolist() == [0, 0, 1]
    # 14 is new at position 2; track 2 ended at position 1 with the box (50, 50, 10, 10):
    # IoU = 8 x 10 / (100 + 100 - 80) = 2 / 3. Track 1 is back at position 2 after a hole:
    # no box of category 1 ended at position 1 (track 4 goes on) -> 0.
    assert m.loc[14, "id_switch_iou"] == pytest.approx(2 / 3)
    assert m.loc[11, "id_switch_iou"] == 0
    assert np.isnan(m.loc[13, "id_switch_iou"]) and np.isnan(m.loc[10, "id_switch_iou"])
    # area_change and box_jump of 11 against 10: area 200 / 100 - 1; centre (15, 10) from
    # (5, 5): sqrt(125) / sqrt(200)
    assert m.loc[11, "area_change"] == pytest.approx(1.0)
    assert m.loc[11, "box_jump"] == pytest.approx(np.sqrt(125 / 200))
    # boxes only: shape_similarity = exp(-mean |u - m|), u = (log10 w/h, log10 sqrt(wh))
    u10 = np.array([0.0, 1.0])
    u11 = np.array([np.log10(0.5), np.log10(np.sqrt(200))])
    assert m.loc[11, "shape_similarity"] == pytest.approx(np.exp(-np.mean(np.abs(u11 - u10))))
    assert m.loc[10, "shape_similarity"] == 1
    assert m.loc[15].drop(["error"])[["gap_after", "class_flip", "box_jump"]].isna().all()
    images_m = qw.compute_metrics(ds, metrics=["n_tracks"], workers=1, cache_dir=False,
                                  progress=False).images
    assert images_m["n_tracks"].tolist()[:3] == [3, 2, 3] and np.isnan(images_m.loc[4,
                                                                                   "n_tracks"])


def test_frame_difference_is_a_lower_bound_exact_for_blockwise_uniform_changes():
    from quality_widgets.compute import registry
    registry.load_builtin_metrics()
    import sys
    temporal = sys.modules["quality_widgets._metric_files.builtin_temporal"]
    rng = np.random.default_rng(3)
    a = rng.integers(0, 200, size=(64, 48, 3), dtype=np.uint8)
    luma = lambda x: x.astype(float) @ [0.299, 0.587, 0.114]  # noqa: E731
    # a uniform +20 on all channels: every block mean moves by 20 (exact)
    b = a + np.uint8(20)
    grid_diff = np.abs(temporal.luma_grid(b).astype(int) - temporal.luma_grid(a)).mean()
    assert grid_diff == 20
    assert np.abs(luma(b) - luma(a)).mean() == pytest.approx(20)
    # noise of both signs inside the blocks: the grid value stays below the pixel mean
    c = np.clip(a.astype(int) + rng.integers(-30, 31, size=a.shape), 0, 255).astype(np.uint8)
    pixel = np.abs(luma(c) - luma(a)).mean()
    grid = np.abs(temporal.luma_grid(c).astype(int) - temporal.luma_grid(a)).mean()
    assert grid <= pixel + 0.5 and grid < pixel / 3
    # the packed columns unpack to the same grid
    packed = pd.DataFrame([[temporal._grid_part(k)(a) for k in range(temporal.GRID_PARTS)]],
                          columns=list(temporal.GRID_COLUMNS))
    assert np.array_equal(temporal.unpack_grids(packed)[0], temporal.luma_grid(a).ravel())


def test_mot_ignore_regions_act_like_crowd_in_evaluate(clip, datasets):
    """The detection on the ignore region is neither a true nor a false positive: AP equals
    the AP of the same data with the ignore rows and that detection removed, and differs from
    the AP where the ignore rows are plain ground truth the detection matches."""
    ds = datasets["mot"]
    assert ds.annotations["iscrowd"].sum() == clip["n_frames"]
    assert ds.has_predictions and len(ds.predictions)
    ours = qw.evaluate(ds).stats[0]
    box = clip["planted"]["ignore_region"]["bbox"]
    on_region = (ds.predictions["bbox_x"] >= box[0]).to_numpy()
    stripped = qw.Dataset(images=ds.images, annotations=ds.annotations[~ds.annotations["iscrowd"]],
                          predictions=ds.predictions[~on_region], categories=ds.categories,
                          has_annotations=True, has_predictions=True)
    assert ours == pytest.approx(qw.evaluate(stripped).stats[0], abs=1e-12)
    plain = qw.Dataset(images=ds.images, annotations=ds.annotations.assign(iscrowd=False),
                       predictions=ds.predictions, categories=ds.categories,
                       has_annotations=True, has_predictions=True)
    assert qw.evaluate(plain).stats[0] != pytest.approx(ours, abs=1e-6)


def test_mot_bad_rows_are_skipped_with_a_warning_naming_the_line(tmp_path):
    seq = tmp_path / "seq"
    (seq / "gt").mkdir(parents=True)
    (seq / "img1").mkdir()
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=s\nimDir=img1\nseqLength=3\n"
                                     "imWidth=10\nimHeight=10\nimExt=.jpg\n")
    (seq / "gt" / "gt.txt").write_text("1,1,0,0,5,5,1,1,1\n2,1,x,0,5,5,1,1,1\n"
                                       "9,1,0,0,5,5,1,1,1\n3,1,0,0,0,5,1,1,1\n")
    with pytest.warns(qw.DataWarning) as record:
        ds = qw.Dataset.from_mot(seq)
    text = " ".join(str(w.message) for w in record)
    assert "line 2" in text and "line 3" in text and "line 4" in text
    assert ds.annotations.index.tolist() == [1]
    assert ds.images["frame_index"].tolist() == [0, 1, 2]


def test_from_video_refuses_a_file_that_is_not_a_video(tmp_path):
    pytest.importorskip("av")
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(qw.DatasetError, match="x.mp4"):
        qw.Dataset.from_video(bad)


def test_coco_video_frame_id_is_taken_as_one_based(tmp_path):
    data = {"videos": [{"id": 1, "name": "v"}],
            "images": [{"id": 5, "file_name": "a.jpg", "width": 4, "height": 4, "video_id": 1,
                        "frame_id": 1},
                       {"id": 6, "file_name": "b.jpg", "width": 4, "height": 4, "video_id": 1,
                        "frame_id": 2},
                       {"id": 7, "file_name": "c.jpg", "width": 4, "height": 4}],
            "annotations": [{"id": 1, "image_id": 6, "category_id": 1, "bbox": [0, 0, 2, 2],
                             "instance_id": 4}],
            "categories": [{"id": 1, "name": "x"}]}
    path = tmp_path / "a.json"
    path.write_text(json.dumps(data))
    ds = qw.Dataset.from_coco(None, path)
    assert ds.images["video"].tolist() == ["v", "v", None]
    assert ds.images["frame_index"].tolist()[:2] == [0, 1]
    assert pd.isna(ds.images["frame_index"].iloc[2])
    assert ds.annotations["track_id"].tolist() == [4]


def test_video_frames_are_cached_by_their_video_file_and_decoded_by_workers(clip, tmp_path):
    pytest.importorskip("av")
    ds = qw.Dataset.from_video(clip["mp4"], every=2)
    names = ["brightness", "frame_difference"]
    first = qw.compute_metrics(ds, metrics=names, workers=2, cache_dir=tmp_path,
                               progress=False)
    assert first.stats["computed"] == len(ds.images) and first.images["error"].isna().all()
    again = qw.compute_metrics(ds, metrics=names, workers=1, cache_dir=tmp_path,
                               progress=False)
    assert again.stats["computed"] == 0
    pd.testing.assert_series_equal(first.images["brightness"], again.images["brightness"])
    assert np.isnan(again.images["frame_difference"].iloc[0])
    assert (again.images["frame_difference"].iloc[1:] > 0).all()
    pixels = decode_rgb(ds.images["path"].iloc[3]).astype(float)
    assert again.images["brightness"].iloc[3] == pytest.approx(
        (pixels @ [0.299, 0.587, 0.114]).mean() / 255)


def test_coco_export_of_a_video_dataset_keeps_videos_frames_and_tracks(clip, datasets):
    from quality_widgets.data.coco import to_coco_dict
    mot = datasets["mot"]
    again = qw.Dataset.from_coco(None, to_coco_dict(mot))
    assert again.images["video"].tolist() == mot.images["video"].tolist()
    assert again.images["frame_index"].tolist() == mot.images["frame_index"].tolist()
    assert _labels(again) == _labels(mot)

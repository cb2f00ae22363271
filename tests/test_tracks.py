"""TrackView and the track tables behind it, kernel-side (the browser test opens the video
notebook and sees the view drawn)."""
from __future__ import annotations

import numpy as np
import pytest

import quality_widgets as qw
from quality_widgets.analysis.tracks import track_rows, tracks_of


@pytest.fixture(scope="module")
def clip_metrics(tmp_path_factory):
    clip = qw.write_sample_video(tmp_path_factory.mktemp("clip"), mp4=False)
    dataset = qw.Dataset.from_coco(clip["img1"], clip["coco_video"])
    metrics = qw.compute_metrics(dataset, metrics=["shape_similarity", "box_jump", "brightness"],
                                 workers=1, cache_dir=False, progress=False)
    return clip, metrics


def test_track_rows_are_the_track_in_frame_order_with_its_polygons(clip_metrics):
    clip, metrics = clip_metrics
    rows = track_rows(metrics, 4)
    assert rows["frame_index"].tolist() == list(range(20, 30))
    assert (rows["video"] == "clip").all()
    assert all(isinstance(s, list) for s in rows["segmentation"])
    with pytest.raises(KeyError, match="track_id 77"):
        track_rows(metrics, 77)
    ids = metrics.objects.index[metrics.objects["track_id"].isin([2, 4])]
    assert tracks_of(metrics, ids) == [("clip", 2), ("clip", 4)]


def test_trackview_slider_moves_the_frame_and_the_marker(clip_metrics):
    clip, metrics = clip_metrics
    view = qw.TrackView(metrics, track_id=1)
    assert view.metric == "shape_similarity"
    assert view.slider.max == 29
    rows = view.rows
    assert np.allclose(view.line.y, rows["shape_similarity"].to_numpy(dtype=float))
    view.slider.value = clip["planted"]["distorted"]["frame"]
    assert view.position == 22
    assert list(view.current.x) == [22]
    assert view.current.y[0] == pytest.approx(rows["shape_similarity"].iloc[22])
    assert "data-frame='22'" in view.image.value
    assert view.strip.value.count("<img") == 9 and "data-frame='22'" in view.strip.value
    assert "shape_similarity = 0.0" in view.frame_label.value
    view.metric = "box_jump"
    assert np.allclose(view.line.y, rows["box_jump"].dropna().to_numpy(dtype=float))
    view.track_id = 4
    assert view.slider.max == 9 and view.position == 0 and "track 4" in view.header.value


def test_explorer_show_track_opens_the_selected_objects_track_at_its_frame(clip_metrics):
    clip, metrics = clip_metrics
    explorer = qw.Explorer(metrics, level="object", metric="shape_similarity")
    assert explorer.track_button.layout.display is None
    explorer.select("shape_similarity", 0, 0.3)            # the distorted polygon only
    assert explorer.n_selected == 1
    view = explorer.show_track()
    assert explorer.track_box.children == (view,)
    assert view.track_id == 1 and view.position == 22
    image_explorer = qw.Explorer(metrics, level="image")
    assert image_explorer.track_button.layout.display == "none"


def test_track_metrics_are_the_registrys_temporal_metrics():
    """The Explorer's show_track plots the current metric when the registry says it follows a
    track (the built-in temporal file), never from a list of names in the widget."""
    from quality_widgets.analysis.tracks import track_metrics
    with qw.compute.registry.snapshot():
        @qw.metric(level="object", pixels=False)
        def my_track_score(crop, row):
            return 0.0
        names = track_metrics("object")
    assert {"shape_similarity", "box_jump", "area_change", "id_switch_iou", "gap_after",
            "track_length", "class_flip"} <= set(names)
    assert "my_track_score" not in names and "box_area" not in names
    assert track_metrics("prediction") == names

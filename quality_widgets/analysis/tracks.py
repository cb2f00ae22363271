"""Tracks of a video dataset as tables: what the track view shows, as plain functions.

A track is a (``video``, ``track_id``) pair; its rows are the annotations (or predictions) with
that ``track_id`` on frames of that video, in frame order (see
:class:`~quality_widgets.Dataset` for the columns).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..compute.registry import builtin_metrics_dir, registered_metrics
from ..frames import MetricFrames

#: The built-in metric file whose object and prediction metrics follow a track.
TEMPORAL_FILE = "temporal.py"


def track_metrics(level: str = "object") -> list[str]:
    """The names of the temporal metrics at ``level``, as the registry knows them: the
    built-in metrics of ``metrics/temporal.py`` defined there (at the object and prediction
    levels, those measured along a track: ``gap_after``, ``box_jump``,
    ``shape_similarity``...)."""
    temporal = (builtin_metrics_dir() / TEMPORAL_FILE).resolve()
    out = []
    for m in registered_metrics(level, builtin=True):
        module = sys.modules.get(m.source)
        file = getattr(module, "__file__", None)
        if file is not None and Path(file).resolve() == temporal:
            out.append(m.name)
    return out


def _video_of(metrics: MetricFrames, image_ids) -> np.ndarray:
    images = metrics.images
    if "video" in images:
        return images["video"].reindex(image_ids).to_numpy(dtype=object)
    return np.full(len(image_ids), None, dtype=object)


def tracks_of(metrics: MetricFrames, ids, level: str = "object") -> list[tuple]:
    """The distinct (video, track_id) of the rows ``ids`` of the ``level`` frame, in order of
    first appearance (rows without a track are left out)."""
    frame = metrics.frame(level)
    if "track_id" not in frame:
        return []
    rows = frame.loc[frame.index.intersection(pd.Index(ids), sort=False)]
    rows = rows[rows["track_id"].notna()]
    videos = _video_of(metrics, rows["image_id"].to_numpy())
    seen, out = set(), []
    for v, t in zip(videos, rows["track_id"].tolist(), strict=True):
        key = (v, int(t))
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


def track_rows(metrics: MetricFrames, track_id: int, video=None, level: str = "object"
               ) -> pd.DataFrame:
    """The rows of one track in frame order: the ``level`` frame's columns plus ``video``,
    ``frame_index`` (from the images frame) and ``segmentation`` (from the dataset's
    annotations, when known).

    ``video`` may be left out when the track id occurs in one video only; otherwise a
    ValueError lists the videos. A KeyError when the track has no rows.
    """
    frame = metrics.frame(level)
    if "track_id" not in frame:
        raise KeyError(f"the {level} frame has no track_id column: is this a video dataset "
                       f"(Dataset.from_mot / from_youtube_vis / from_video / COCO-video)?")
    rows = frame[(frame["track_id"] == int(track_id)).fillna(False).to_numpy(dtype=bool)]
    if not len(rows):
        raise KeyError(f"no {level} row has track_id {track_id}")
    videos = _video_of(metrics, rows["image_id"].to_numpy())
    names = pd.unique(pd.Series(videos, dtype=object).dropna())
    if video is None and len(names) > 1:
        raise ValueError(f"track {track_id} occurs in {len(names)} videos "
                         f"({', '.join(map(str, names[:5]))}): pass video=")
    if video is not None:
        keep = np.array([v == video for v in videos], dtype=bool)
        rows, videos = rows[keep], videos[keep]
        if not len(rows):
            raise KeyError(f"track {track_id} has no rows in video {video!r}")
    images = metrics.images
    index = images["frame_index"].reindex(rows["image_id"].to_numpy()).to_numpy(dtype=float) \
        if "frame_index" in images else np.arange(len(rows), dtype=float)
    rows = rows.assign(video=videos, frame_index=index)
    dataset = metrics.dataset
    if level == "object" and dataset is not None and "segmentation" in dataset.annotations:
        rows["segmentation"] = dataset.annotations["segmentation"].reindex(rows.index).to_numpy()
    else:
        rows["segmentation"] = None
    return rows.sort_values(["frame_index", "image_id"], kind="stable")

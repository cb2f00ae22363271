"""YouTube-VIS (video instance segmentation) annotation files.

One JSON object: ``videos`` (``id``, ``width``, ``height``, ``file_names``: the frames in order,
relative to the frames folder), ``categories``, and ``annotations``, one per **track**: ``id``
(the track), ``video_id``, ``category_id``, ``iscrowd`` and per frame of the video
``bboxes`` (xywh or None where the object is absent), ``segmentations`` (an RLE dict, a COCO
polygon list, or None) and ``areas``.

Each frame becomes an image (ids numbered from 1 over the videos in order; ``video`` = the
video's ``name`` if given, else the folder of its first frame, else its id;
``frame_index`` = position in ``file_names``), and each present (track, frame) an annotation
with ``track_id`` = the track's id (ids numbered from 1 in frame order). A frame with a
segmentation but no box gets the bounding box of its polygon (an RLE without a box is skipped
with a warning). YouTube-VIS gives one class per track, so a class that changes within a track
cannot be expressed in this format.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from ..errors import DatasetError, warn_rows
from ._coco_instances import _check_segmentation, _read_categories
from ._io import images_frame, read_json, to_float
from .schema import empty_annotations


def _video_name(video: dict) -> str:
    if video.get("name"):
        return str(video["name"])
    names = video.get("file_names") or []
    if names and isinstance(names[0], str) and "/" in names[0]:
        return str(PurePosixPath(names[0]).parent)
    return str(video.get("id"))


def _polygon_box(seg) -> list | None:
    if not isinstance(seg, list):
        return None
    points = np.concatenate([np.asarray(p, dtype=float).reshape(-1, 2) for p in seg])
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return [x0, y0, x1 - x0, y1 - y0]


def load(annotations, frames_dir, name: str | None = None, file=None) -> dict:
    """The :class:`~quality_widgets.Dataset` fields of a YouTube-VIS file (see the module doc).
    ``frames_dir`` may be None when only the labels are needed."""
    if isinstance(annotations, (str, Path)):
        file = Path(annotations)
        data = read_json(file, "annotations")
    else:
        data, file = annotations, file or "<annotations>"
    if not isinstance(data, dict) or not isinstance(data.get("videos"), list):
        raise DatasetError(file, "expected a YouTube-VIS object with 'videos', 'annotations' "
                                 "and 'categories'", field="videos")
    frames_dir = Path(frames_dir).absolute() if frames_dir is not None else None
    if frames_dir is not None and not frames_dir.is_dir():
        raise DatasetError(frames_dir, "frames folder not found or not a folder")
    cats = _read_categories(data, file)
    # warnings are issued here, so that they name load's caller as before (warn_rows'
    # stacklevel)
    images, frame_of, n_frames, no_frames = _read_videos(data, frames_dir)
    for pos in no_frames:
        warn_rows(file, "a video without a 'file_names' list", [f"videos[{pos}]"])
    records, problems = _read_tracks(data, file, cats, frame_of, n_frames)
    for problem, where in problems.items():
        warn_rows(file, problem, where)
    anns = _annotations(records, cats) if records else empty_annotations()
    label = name or (Path(file).stem if isinstance(file, Path) else "youtube-vis")
    return dict(images=images, annotations=anns, categories=cats, images_dir=frames_dir,
                has_annotations=True, name=label,
                sources={"annotations": str(file),
                         "images": str(frames_dir) if frames_dir else None})


def _read_videos(data: dict, frames_dir) -> tuple[pd.DataFrame, dict, dict, list]:
    """(images frame, (video id, position) -> image id, video id -> number of frames,
    positions of the videos without a ``file_names`` list)."""
    names, ids, widths, heights, video_col, index_col = [], [], [], [], [], []
    frame_of = {}              # (video id, position) -> image id
    n_frames = {}
    no_frames = []
    for pos, video in enumerate(data["videos"]):
        if not isinstance(video, dict) or not isinstance(video.get("file_names"), list):
            no_frames.append(pos)
            continue
        label = _video_name(video)
        n_frames[video.get("id")] = len(video["file_names"])
        for k, file_name in enumerate(video["file_names"]):
            image_id = len(names) + 1
            frame_of[(video.get("id"), k)] = image_id
            names.append(str(file_name))
            ids.append(image_id)
            widths.append(video.get("width"))
            heights.append(video.get("height"))
            video_col.append(label)
            index_col.append(k)

    def size(values):
        vals = to_float(values)
        return [int(v) if np.isfinite(v) and v > 0 else pd.NA for v in vals]

    images = images_frame(frames_dir, names, ids, size(widths), size(heights))
    images["video"] = pd.Series(video_col, index=images.index, dtype=object)
    images["frame_index"] = np.asarray(index_col, dtype="int64")
    return images, frame_of, n_frames, no_frames


def _read_tracks(data: dict, file, cats: pd.DataFrame, frame_of: dict,
                 n_frames: dict) -> tuple[list, dict]:
    """(one record per present (track, frame), problem -> where): bad tracks and frames are
    skipped, each under its kind of problem."""
    records, problems = [], {}
    tracks = data.get("annotations") or []
    if not isinstance(tracks, list):
        raise DatasetError(file, "expected a list", field="annotations")
    for pos, track in enumerate(tracks):
        where = f"annotations[{pos}]"
        if not isinstance(track, dict):
            problems.setdefault("a track that is not a JSON object", []).append(where)
            continue
        vid, cat = track.get("video_id"), track.get("category_id")
        if vid not in n_frames:
            problems.setdefault("an unknown video_id", []).append(where)
            continue
        if cat not in cats.index:
            problems.setdefault("an unknown category_id", []).append(where)
            continue
        boxes = track.get("bboxes") or [None] * n_frames[vid]
        segs = track.get("segmentations") or [None] * n_frames[vid]
        if len(boxes) != n_frames[vid] or len(segs) != n_frames[vid]:
            problems.setdefault("bboxes / segmentations not one per frame of the video",
                                []).append(where)
            continue
        records.extend(_track_records(track, pos, boxes, segs, frame_of, problems))
    return records, problems


def _track_records(track: dict, pos: int, boxes: list, segs: list, frame_of: dict,
                   problems: dict) -> list:
    """The records (image id, category, x, y, w, h, crowd, mask, track id, area) of one
    track's frames; frames with a bad box go to ``problems``."""
    where = f"annotations[{pos}]"
    vid, cat = track.get("video_id"), track.get("category_id")
    areas = track.get("areas")
    areas = to_float(areas) if isinstance(areas, list) and len(areas) == len(boxes) \
        else np.full(len(boxes), np.nan)
    records = []
    for k, (box, seg) in enumerate(zip(boxes, segs, strict=True)):
        seg = _check_segmentation(seg) if seg is not None else None
        if box is None and seg is None:
            continue
        if box is None:
            box = _polygon_box(seg)
            if box is None:
                problems.setdefault("an RLE mask without a box", []).append(
                    f"{where} frame {k}")
                continue
        box = to_float(list(box)) if isinstance(box, (list, tuple)) and len(box) == 4 \
            else np.full(4, np.nan)
        if not (np.isfinite(box).all() and box[2] > 0 and box[3] > 0):
            problems.setdefault("a box that is not 4 finite numbers with positive size",
                                []).append(f"{where} frame {k}")
            continue
        area = areas[k] if np.isfinite(areas[k]) and areas[k] >= 0 else box[2] * box[3]
        records.append((frame_of[(vid, k)], int(cat), *box.tolist(),
                        bool(track.get("iscrowd", 0)), seg, track.get("id", pos + 1),
                        float(area)))
    return records


def _annotations(records: list, cats: pd.DataFrame) -> pd.DataFrame:
    """The annotations frame of the records, in (image, track) order, ids from 1."""
    records.sort(key=lambda r: (r[0], str(r[8])))
    arr = np.asarray([r[2:6] for r in records], dtype=float)
    cat_ids = np.asarray([r[1] for r in records], dtype="int64")
    track_ids = pd.array([r[8] if isinstance(r[8], int) else None for r in records],
                         dtype="Int64")
    return pd.DataFrame({
        "image_id": np.asarray([r[0] for r in records], dtype="int64"),
        "category_id": cat_ids,
        "category": cats["name"].reindex(cat_ids).to_numpy(),
        "bbox_x": arr[:, 0], "bbox_y": arr[:, 1], "bbox_w": arr[:, 2], "bbox_h": arr[:, 3],
        "area": np.asarray([r[9] for r in records], dtype=float),
        "iscrowd": np.asarray([r[6] for r in records], dtype=bool),
        "segmentation": pd.Series([r[7] for r in records], dtype=object).to_numpy(),
        "track_id": track_ids,
    }, index=pd.Index(np.arange(1, len(records) + 1, dtype="int64"), name="annotation_id"))

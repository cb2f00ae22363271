"""A generated video clip with known label errors, written in every video format we read.

No real video data may be redistributed with the project, so the tests and the video notebook
draw their own: moving, rotating polygons on a textured, slowly panning background, and the
same labels written as a MOTChallenge sequence, a COCO-video file (as TAO), a YouTube-VIS file
and an MP4 (PyAV, only when it is installed). Each planted error is recorded in the returned
``planted`` dict so a test can check that the temporal metrics rank it first:

* ``gap``: a track's annotation removed for 2 frames (``gap_after`` = 2 at the frame before);
* ``class_flip``: one frame of a track labelled with the other class;
* ``id_switch``: a track continues under a new id (``id_switch_iou`` of the new id's first box);
* ``distorted``: one polygon with a vertex pulled far out (lowest ``shape_similarity``);
* ``duplicate``: a frame identical to the one before (``frame_difference`` = 0).

Plus one static ignore region (MOT consider flag 0, COCO ``iscrowd`` = 1) of the pedestrian
class, and detections (``det/det.txt``) that include a false detection on the ignore region.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

#: MOT17 class ids of the two classes drawn (names as MOTChallenge uses them).
CATEGORIES = {1: "pedestrian", 3: "car"}

_SHAPES = {  # unit outlines (radius ~1), deliberately irregular so every Hu moment is stable
    "hexagon": [(1.0, 0.0), (0.55, 0.8), (-0.45, 0.9), (-1.0, 0.1), (-0.6, -0.75),
                (0.4, -0.85)],
    "kite": [(0.0, -1.2), (0.55, -0.1), (0.0, 0.9), (-0.45, -0.15)],
    "arrow": [(1.0, 0.0), (0.1, 0.75), (0.1, 0.3), (-0.9, 0.3), (-0.9, -0.3), (0.1, -0.3),
              (0.1, -0.75)],
}


def _tracks(n_frames: int) -> list[dict]:
    """The scene: per track a shape, class, radius, start and end centre, rotation speed."""
    return [
        dict(track=1, shape="hexagon", category=3, radius=26.0, start=(40.0, 50.0),
             end=(200.0, 70.0), spin=6.0, color=(230, 60, 40)),
        dict(track=2, shape="kite", category=1, radius=22.0, start=(50.0, 190.0),
             end=(260.0, 180.0), spin=-4.0, color=(40, 90, 230)),
        dict(track=3, shape="arrow", category=3, radius=24.0, start=(290.0, 125.0),
             end=(120.0, 115.0), spin=3.0, color=(60, 200, 70)),
    ]


def _outline(track: dict, s: float, n_frames: int) -> np.ndarray:
    t = s / max(n_frames - 1, 1)
    cx = track["start"][0] + t * (track["end"][0] - track["start"][0])
    cy = track["start"][1] + t * (track["end"][1] - track["start"][1])
    angle = math.radians(track["spin"] * s)
    pts = np.asarray(_SHAPES[track["shape"]], dtype=float) * track["radius"]
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return pts @ rot.T + [cx, cy]


def _background(width: int, height: int, pan: int, seed: int) -> np.ndarray:
    """A smooth random texture plus fine grain, wide enough to pan ``pan`` pixels."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 200, size=(height // 16 + 2, (width + pan) // 16 + 2, 3))
    big = Image.fromarray(coarse.astype(np.uint8)).resize(
        ((coarse.shape[1]) * 16, coarse.shape[0] * 16), Image.Resampling.BICUBIC)
    arr = np.asarray(big, dtype=np.int16)[:height, :width + pan]
    grain = rng.integers(-12, 13, size=arr.shape[:2])[:, :, None]
    return np.clip(arr + grain, 0, 255).astype(np.uint8)


def _box(poly: np.ndarray) -> list[float]:
    x0, y0 = poly.min(axis=0)
    x1, y1 = poly.max(axis=0)
    return [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2),
            round(float(y1 - y0), 2)]


def write_sample_video(folder, n_frames: int = 30, size=(320, 240), name: str = "clip",
                       mp4: bool = True, seed: int = 0) -> dict:
    """Draw the clip into ``folder`` and write it in every format; returns the paths and the
    planted errors.

    Layout: ``<folder>/<name>/`` is a MOTChallenge sequence (``seqinfo.ini``, ``img1/000001.jpg``
    ..., ``gt/gt.txt``, ``det/det.txt``); ``<folder>/coco_video.json`` (images relative to
    ``img1/``), ``<folder>/youtube_vis.json`` (file names relative to ``<folder>``) and
    ``<folder>/<name>.mp4`` (H.264 through PyAV, skipped when ``mp4`` is False or PyAV is
    missing). Returned keys: ``sequence``, ``frames_dir``, ``img1``, ``coco_video``,
    ``youtube_vis``, ``mp4`` (or None), ``n_frames``, ``planted`` (frame indices are 0-based).
    """
    if n_frames < 28:
        raise ValueError("the planted errors need at least 28 frames")
    folder = Path(folder)
    width, height = size
    seq = folder / name
    img1 = seq / "img1"
    for sub in (img1, seq / "gt", seq / "det"):
        sub.mkdir(parents=True, exist_ok=True)
    planted = _planted()
    frames, labels = _draw_frames(img1, n_frames, size, seed, planted)
    _write_mot(seq, name, labels, n_frames, size, seed)
    coco_path = _write_coco_video(folder, name, labels, size)
    vis_path = _write_youtube_vis(folder, name, labels, n_frames, size)
    mp4_path = _write_mp4(folder / f"{name}.mp4", frames, size) if mp4 else None
    return {"sequence": seq, "frames_dir": folder, "img1": img1, "coco_video": coco_path,
            "youtube_vis": vis_path, "mp4": mp4_path, "n_frames": n_frames,
            "categories": dict(CATEGORIES), "planted": planted}


def _planted() -> dict:
    """The planted errors (frame indices 0-based) and the ignore region, a fresh dict."""
    return {"gap": {"track_id": 2, "frames": [10, 11]},
            "class_flip": {"track_id": 1, "frame": 15, "category_id": 1},
            "id_switch": {"old_track_id": 3, "new_track_id": 4, "frame": 20},
            "distorted": {"track_id": 1, "frame": 22},
            "duplicate": {"frame": 25, "copy_of": 24},
            "ignore_region": {"track_id": 9, "bbox": [268.0, 6.0, 44.0, 34.0]}}


def _draw_frames(img1: Path, n_frames: int, size, seed: int, planted: dict) -> tuple:
    """Draw and save every frame (JPEG in ``img1``); returns (frames, label rows per frame)."""
    width, height = size
    pan = 2 * n_frames
    background = _background(width, height, pan, seed)
    tracks = _tracks(n_frames)
    frames, labels = [], []   # labels: per frame a list of dicts
    for f in range(n_frames):
        s = f if f < 25 else f - 1                 # scene time: frame 25 repeats frame 24
        canvas = Image.fromarray(np.ascontiguousarray(background[:, 2 * s:2 * s + width]))
        draw = ImageDraw.Draw(canvas)
        rows = []
        for tr in tracks:
            poly = _outline(tr, s, n_frames)
            draw.polygon([tuple(p) for p in poly.tolist()], fill=tr["color"])
            row = _label(tr, poly, f, planted, size)
            if row is not None:
                rows.append(row)
        rows.append({"track_id": planted["ignore_region"]["track_id"], "category_id": 1,
                     "polygon": None, "bbox": list(planted["ignore_region"]["bbox"]),
                     "iscrowd": 1})
        frame = np.asarray(canvas)
        frames.append(frame)
        labels.append(rows)
        Image.fromarray(frame).save(img1 / f"{f + 1:06d}.jpg", quality=95)
    return frames, labels


def _label(tr: dict, poly: np.ndarray, f: int, planted: dict, size) -> dict | None:
    """The label row of track ``tr`` drawn as ``poly`` in frame ``f``, with the planted
    errors applied (None in the gap)."""
    width, height = size
    track_id, category = tr["track"], tr["category"]
    if track_id == 2 and f in planted["gap"]["frames"]:
        return None
    if track_id == 1 and f == planted["class_flip"]["frame"]:
        category = planted["class_flip"]["category_id"]
    if track_id == 3 and f >= planted["id_switch"]["frame"]:
        track_id = 4
    label_poly = poly
    if tr["track"] == 1 and f == planted["distorted"]["frame"]:
        label_poly = poly.copy()
        centre = poly.mean(axis=0)
        label_poly[1] = centre + 2.6 * (poly[1] - centre)   # a spike
        label_poly[4] = centre + 0.35 * (poly[4] - centre)  # and a dent
    label_poly = np.clip(label_poly, 0, [width - 1, height - 1])
    return {"track_id": track_id, "category_id": category,
            "polygon": [round(float(v), 2) for v in label_poly.ravel()],
            "bbox": _box(label_poly), "iscrowd": 0}


def _write_mot(seq: Path, name: str, labels: list, n_frames: int, size, seed: int) -> None:
    """The MOTChallenge sequence files: seqinfo.ini, gt/gt.txt, det/det.txt."""
    width, height = size
    rng = np.random.default_rng(seed + 1)
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate=10\nseqLength={n_frames}\n"
        f"imWidth={width}\nimHeight={height}\nimExt=.jpg\n")
    gt_lines, det_lines = [], []
    for f, rows in enumerate(labels):
        for r in rows:
            x, y, w, h = r["bbox"]
            consider = 0 if r["iscrowd"] else 1
            gt_lines.append(f"{f + 1},{r['track_id']},{x},{y},{w},{h},{consider},"
                            f"{r['category_id']},1.0")
            if r["iscrowd"]:
                det_lines.append(f"{f + 1},-1,{x + 4},{y + 3},{w - 8},{h - 6},0.9,-1,-1,-1")
            elif r["category_id"] == 1:   # MOT detections are pedestrians
                dx, dy = rng.normal(0, 1.5, size=2)
                det_lines.append(f"{f + 1},-1,{x + dx:.2f},{y + dy:.2f},{w},{h},"
                                 f"{rng.uniform(0.6, 0.99):.3f},-1,-1,-1")
    (seq / "gt" / "gt.txt").write_text("\n".join(gt_lines) + "\n")
    (seq / "det" / "det.txt").write_text("\n".join(det_lines) + "\n")


def _write_coco_video(folder: Path, name: str, labels: list, size) -> Path:
    """The labels as a COCO-video file (as TAO): ``<folder>/coco_video.json``."""
    width, height = size
    categories = [{"id": k, "name": v} for k, v in CATEGORIES.items()]
    images, annotations, aid = [], [], 1
    for f, rows in enumerate(labels):
        image_id = 100 + f
        images.append({"id": image_id, "file_name": f"{f + 1:06d}.jpg", "width": width,
                       "height": height, "video_id": 7, "frame_index": f})
        for r in rows:
            ann = {"id": aid, "image_id": image_id, "category_id": r["category_id"],
                   "bbox": r["bbox"], "area": r["bbox"][2] * r["bbox"][3],
                   "iscrowd": r["iscrowd"], "track_id": r["track_id"]}
            if r["polygon"] is not None:
                ann["segmentation"] = [r["polygon"]]
            annotations.append(ann)
            aid += 1
    coco_path = folder / "coco_video.json"
    coco_path.write_text(json.dumps({
        "videos": [{"id": 7, "name": name, "width": width, "height": height}],
        "images": images, "annotations": annotations, "categories": categories,
        "tracks": [{"id": t, "video_id": 7} for t in sorted({r["track_id"] for rows in labels
                                                               for r in rows})]}))
    return coco_path


def _write_youtube_vis(folder: Path, name: str, labels: list, n_frames: int, size) -> Path:
    """The labels as a YouTube-VIS file, one annotation per track: ``youtube_vis.json``."""
    width, height = size
    categories = [{"id": k, "name": v} for k, v in CATEGORIES.items()]
    track_ids = sorted({r["track_id"] for rows in labels for r in rows})
    vis_anns = []
    for t in track_ids:
        bboxes, segs, cats = [], [], []
        crowd = 0
        for rows in labels:
            row = next((r for r in rows if r["track_id"] == t), None)
            bboxes.append(row["bbox"] if row else None)
            segs.append([row["polygon"]] if row and row["polygon"] is not None else None)
            if row:
                cats.append(row["category_id"])
                crowd = row["iscrowd"]
        majority = max(set(cats), key=cats.count)
        vis_anns.append({"id": t, "video_id": 1, "category_id": majority,
                         "bboxes": bboxes, "segmentations": segs, "iscrowd": crowd,
                         "areas": [b[2] * b[3] if b else None for b in bboxes],
                         "height": height, "width": width})
    vis_path = folder / "youtube_vis.json"
    vis_path.write_text(json.dumps({
        "videos": [{"id": 1, "width": width, "height": height, "length": n_frames,
                    "file_names": [f"{name}/img1/{f + 1:06d}.jpg" for f in range(n_frames)]}],
        "annotations": vis_anns, "categories": categories}))
    return vis_path


def _write_mp4(path: Path, frames: list, size) -> Path | None:
    """The frames as an H.264 MP4 through PyAV; None (nothing written) without PyAV."""
    width, height = size
    try:
        import av
    except ImportError:
        return None
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "12", "preset": "veryfast"}
        # one encoder thread: PyAV routes FFmpeg's log messages into Python, and codec
        # threads calling back while the encoder waits for them can deadlock (a cell
        # hung for 600 s once in a loaded CI run; PyAV issues 751, 909)
        stream.thread_count = 1
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path

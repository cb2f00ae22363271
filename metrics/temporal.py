"""Built-in temporal metrics of video datasets: label errors that only show across frames.

A video dataset's images are frames (``video``, ``frame_index`` in ``dataset.images``) and its
annotations carry ``track_id`` (see :class:`~quality_widgets.Dataset`). Everything here is a
dataset-scope metric computed after the per-frame pass, from the frames' columns: nothing is
decoded twice. Frames of a video are taken in ``frame_index`` order, and "the previous / next
frame" means the previous / next frame *of the dataset* in that video (with
``Dataset.from_video(every=5)`` the neighbour of frame 10 is frame 5). A track is a
(``video``, ``track_id``) pair; its annotations in frame order are its "boxes".

Every value is NaN outside sequences: images without a video, annotations without a
``track_id``, and crowd / ignore regions (``iscrowd``), which outline groups, not one object.
Object metrics are defined at the object and prediction levels (a tracker's results with track
ids get them too).

Object level, for an annotation of track k in frame position p (0-based within its video):

* ``gap_after`` = p_next - p - 1, p_next the track's next annotated position: 0 when the track
  is annotated in the next frame, g > 0 when it is missing from the next g frames (a hole to
  fill), -1 when the track has another annotation in the same frame; NaN at its last.
* ``track_length``: the number of annotations of the track (short tracks: fragments).
* ``class_flip``: 1 when the annotation's category differs from the track's majority category
  (the most frequent; a tie goes to the category seen first), else 0.
* ``id_switch_iou``: when the track has no annotation in the previous frame (p > 0), the largest
  IoU of this box with the previous frame's boxes of the same category whose tracks are not
  annotated in this frame (tracks that just ended): near 1 = probably the same object under a
  new id. 0 when there is no such box; NaN when the track continues from the previous frame or
  p = 0.
* ``area_change`` = A / A_prev - 1 (A = w h of the box, A_prev the track's previous box):
  -0.5 = half the area (occlusion, a clipped box); NaN for the first box of a track.
* ``box_jump`` = |c - c_prev| / sqrt(w_prev^2 + h_prev^2): centre displacement from the track's
  previous box in units of its diagonal (a box that jumps); NaN for the first box.
* ``shape_similarity`` = exp(-mean_i |u_i - m_i|), in (0, 1]: u the log-scaled Hu moments
  u_i = log10 max(|h_i|, 1e-30), i = 1..4, of the rasterised polygon (the same rasterisation
  and moments as ``shape_outlier`` in ``shapes.py``), m their running average over the track's
  previous polygons (the mean of all of them). 1 = the same shape as so far (the track's first
  polygon is 1); exp(-1) = 0.37: the moments moved by one decade on average; low = the outline
  changed (a distorted or wrong polygon). Only h_1..h_4 are used: h_5..h_7 are products of the
  same third-order terms, and for an outline with a symmetry axis h_7 is 0 up to rasterisation
  noise, whose logarithm jumps by many decades from frame to frame (measured on the generated
  clip: up to 14 decades for a mirror-symmetric arrow, while its h_1..h_4 stayed within 0.05).
  Annotations without a polygon use u = (log10(w / h), log10(sqrt(w h))) of the box, compared
  with the running average of the track's previous boxes (aspect ratio and size).

Image level:

* ``frame_difference`` ~ mean |Y_t - Y_(t-1)| / 255, in [0, 1]: 0 = the same frame again (a
  duplicated frame), high = a cut. Computed from a 16 x 16 grid of block-mean luma kept per frame
  (the ``_luma_grid_*`` columns, filled by the per-frame pass like ``phash``'s 32 x 32 grid), so
  the previous frame is never decoded again: the value is mean over blocks |B_t - B_(t-1)| / 255,
  B the block mean of Y rounded to an integer. By the triangle inequality it is a lower bound of
  the pixel-level mean (equal when, in each block, all pixels change in the same direction),
  within 0.5 / 255 per block of rounding; it is exactly 0 for identical frames. NaN for the first
  frame of a video.
* ``n_tracks``: the number of distinct tracks annotated in the frame (crowd regions excluded).
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from quality_widgets import metric
from quality_widgets.compute import pixelstats as px
from quality_widgets.data.boxes import box_iou_matrix

BOTH = ("object", "prediction")
HU_USED = 4                        # shape_similarity compares h_1..h_4 (module doc)
GRID = 16                          # luma grid side
GRID_PARTS = GRID * GRID // 8      # int64 columns holding the grid (8 bytes each)
GRID_COLUMNS = tuple(f"_luma_grid_{k:02d}" for k in range(GRID_PARTS))


# ---- the per-frame luma grid -------------------------------------------------------------------


def luma_grid(image) -> np.ndarray:
    """(GRID, GRID) uint8: block-mean luma Y over a GRID x GRID grid (``pixelstats.luma_blocks``,
    block (i, j) holds the pixels (GRID r // H, GRID c // W)), rounded half up."""
    return np.floor(px.luma_blocks(image, GRID) + 0.5).astype(np.uint8)


def _packed(image) -> np.ndarray:
    """The grid as GRID_PARTS int64, computed once per (read-only) image for all its parts
    (pixelstats' per-array memo, which the built-in pixel metrics share)."""
    return px._memo(image, f"luma_grid{GRID}_packed",
                    lambda a: luma_grid(a).ravel().view(">i8").astype(np.int64))


def _grid_part(k: int):
    def part(image):
        return int(_packed(image)[k])
    part.__name__ = GRID_COLUMNS[k]
    part.__doc__ = (f"Bytes {8 * k}..{8 * k + 7} of the {GRID} x {GRID} block-mean luma grid, "
                    f"packed big-endian into a signed 64-bit integer (internal).")
    return part


for _k in range(GRID_PARTS):
    metric(level="image", name=GRID_COLUMNS[_k],
           description="Packed part of the frame's luma grid (internal, for "
                       "frame_difference).")(_grid_part(_k))


def unpack_grids(frame: pd.DataFrame) -> np.ndarray:
    """(n, GRID * GRID) float luma grids from the packed columns; rows with a missing part NaN."""
    parts = np.column_stack([pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float)
                             if c in frame else np.full(len(frame), np.nan)
                             for c in GRID_COLUMNS])
    ok = np.isfinite(parts).all(axis=1)
    out = np.full((len(frame), GRID * GRID), np.nan)
    if ok.any():
        ints = np.column_stack([frame.loc[ok, c].to_numpy(dtype=np.int64)
                                for c in GRID_COLUMNS]).astype(">i8")
        out[ok] = np.ascontiguousarray(ints).view(np.uint8).reshape(int(ok.sum()), -1)
    return out


# ---- frames and tracks -----------------------------------------------------------------------
def frame_positions(images: pd.DataFrame) -> pd.DataFrame:
    """Per image id: ``video`` and ``position``, the 0-based rank of the frame within its video
    in the dataset (by ``frame_index``, then image id); NaN position outside videos."""
    out = pd.DataFrame({"video": None, "position": np.nan}, index=images.index)
    if "video" not in images or "frame_index" not in images:
        return out
    video = images["video"]
    ok = video.notna().to_numpy() & images["frame_index"].notna().to_numpy()
    if not ok.any():
        return out
    sub = pd.DataFrame({"video": video[ok].astype(str).to_numpy(),
                        "frame_index": images["frame_index"][ok].to_numpy(dtype=float),
                        "image_id": images.index[ok].to_numpy()})
    sub = sub.sort_values(["video", "frame_index", "image_id"], kind="stable")
    sub["position"] = sub.groupby("video", sort=False).cumcount().astype(float)
    out.loc[sub["image_id"].to_numpy(), "video"] = sub["video"].to_numpy()
    out.loc[sub["image_id"].to_numpy(), "position"] = sub["position"].to_numpy()
    return out


def _source(frame: pd.DataFrame, dataset) -> pd.DataFrame:
    """The dataset rows behind a metric frame (annotations or predictions, by its index)."""
    if dataset is None:
        return frame
    if frame.index.name == "prediction_id":
        return dataset.predictions.reindex(frame.index)
    return dataset.annotations.reindex(frame.index)


def track_table(frame: pd.DataFrame, dataset) -> pd.DataFrame:
    """Per row of an object / prediction frame: ``video``, ``position``, ``track`` (an integer
    code of (video, track_id)), ``valid`` (in a sequence, with a track, not crowd), sorted
    position ``order`` within tracks, plus the box columns and ``category_id``."""
    src = _source(frame, dataset)
    images = dataset.images if dataset is not None else pd.DataFrame()
    pos = frame_positions(images)
    image_ids = frame["image_id"].to_numpy()
    video = pos["video"].reindex(image_ids).to_numpy()
    position = pos["position"].reindex(image_ids).to_numpy(dtype=float)
    track_id = src["track_id"] if "track_id" in src else pd.Series(np.nan, index=frame.index)
    track_id = pd.to_numeric(track_id, errors="coerce").to_numpy(dtype=float)
    crowd = src["iscrowd"].fillna(False).to_numpy(dtype=bool) if "iscrowd" in src else \
        np.zeros(len(frame), dtype=bool)
    valid = np.isfinite(position) & np.isfinite(track_id) & ~crowd
    keys = pd.Series([f"{v}\x00{int(t)}" if ok else "" for v, t, ok in
                      zip(video, np.nan_to_num(track_id), valid, strict=True)])
    codes = pd.factorize(keys)[0]
    table = pd.DataFrame({
        "video": video, "position": position, "track": np.where(valid, codes, -1),
        "valid": valid, "category_id": frame["category_id"].to_numpy(),
        **{c: frame[c].to_numpy(dtype=float) for c in ("bbox_x", "bbox_y", "bbox_w", "bbox_h")},
    }, index=frame.index)
    return table


def _ordered(table: pd.DataFrame) -> np.ndarray:
    """Positions (row numbers) of the valid rows sorted by track, then frame position."""
    rows = np.flatnonzero(table["valid"].to_numpy())
    order = np.lexsort((table["position"].to_numpy()[rows], table["track"].to_numpy()[rows]))
    return rows[order]


def _previous(table: pd.DataFrame) -> np.ndarray:
    """Row number of each row's previous annotation in its track (-1 for none / invalid)."""
    prev = np.full(len(table), -1)
    rows = _ordered(table)
    if len(rows) > 1:
        same = table["track"].to_numpy()[rows[1:]] == table["track"].to_numpy()[rows[:-1]]
        prev[rows[1:][same]] = rows[:-1][same]
    return prev


def _series(values, frame) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float), index=frame.index)


# ---- object metrics -----------------------------------------------------------------------------
@metric(level=BOTH, scope="dataset", pixels=False)
def gap_after(frame, dataset):
    """Frames until the track is annotated again, minus 1 (0 = next frame; > 0 = frames with the
    annotation missing; NaN at the track's end).

    p_next - p - 1 within the track (module doc); NaN at the track's last annotation."""
    table = track_table(frame, dataset)
    out = np.full(len(frame), np.nan)
    rows = _ordered(table)
    if len(rows) > 1:
        track, position = table["track"].to_numpy(), table["position"].to_numpy()
        same = track[rows[1:]] == track[rows[:-1]]
        out[rows[:-1][same]] = position[rows[1:][same]] - position[rows[:-1][same]] - 1
    return _series(out, frame)


@metric(level=BOTH, scope="dataset", pixels=False)
def track_length(frame, dataset):
    """Number of annotations of the track (NaN outside sequences).

    count of the track's annotations (crowd regions excluded)."""
    table = track_table(frame, dataset)
    valid = table["valid"].to_numpy()
    counts = table.loc[valid, "track"].map(table.loc[valid, "track"].value_counts())
    out = np.full(len(frame), np.nan)
    out[valid] = counts.to_numpy(dtype=float)
    return _series(out, frame)


@metric(level=BOTH, scope="dataset", pixels=False)
def class_flip(frame, dataset):
    """1 when the annotation's class differs from its track's majority class.

    category != the track's most frequent category (ties: the one seen first) -> 1, else 0."""
    table = track_table(frame, dataset)
    out = np.full(len(frame), np.nan)
    rows = _ordered(table)
    track = table["track"].to_numpy()
    category = table["category_id"].to_numpy()
    for t in np.unique(track[rows]):
        members = rows[track[rows] == t]         # in frame order
        cats = category[members]
        values, first, counts = np.unique(cats, return_index=True, return_counts=True)
        best = values[np.lexsort((first, -counts))[0]]
        out[members] = (cats != best).astype(float)
    return _series(out, frame)


@metric(level=BOTH, scope="dataset", pixels=False)
def id_switch_iou(frame, dataset):
    """When the track is new in this frame: the largest IoU with a previous-frame box of the same
    class whose track ended (high = probable id switch).

    max IoU(box, previous-frame boxes of ended tracks of the same category); module doc."""
    table = track_table(frame, dataset)
    out = np.full(len(frame), np.nan)
    valid = table["valid"].to_numpy()
    if not valid.any():
        return _series(out, frame)
    video = table["video"].to_numpy()
    position = table["position"].to_numpy()
    track = table["track"].to_numpy()
    category = table["category_id"].to_numpy()
    boxes = table[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy()
    by_frame: dict = {}
    for r in np.flatnonzero(valid):
        by_frame.setdefault((video[r], position[r]), []).append(r)
    for (v, p), rows in by_frame.items():
        if p == 0:
            continue
        before = by_frame.get((v, p - 1), [])
        tracks_before = {track[r] for r in before}
        tracks_now = {track[r] for r in rows}
        ended = [r for r in before if track[r] not in tracks_now]
        for r in rows:
            if track[r] in tracks_before:
                continue
            candidates = [c for c in ended if category[c] == category[r]]
            if not candidates:
                out[r] = 0.0
                continue
            ious = box_iou_matrix(np.vstack([boxes[r], boxes[candidates]]))[0, 1:]
            out[r] = float(ious.max())
    return _series(out, frame)


@metric(level=BOTH, scope="dataset", pixels=False)
def area_change(frame, dataset):
    """Relative box area change from the track's previous box, A / A_prev - 1 (-0.5 = half the area:
    occlusion?).

    w h / (w_prev h_prev) - 1; NaN for a track's first box."""
    def change(table, now, before):
        area = table["bbox_w"].to_numpy() * table["bbox_h"].to_numpy()
        return area[now] / area[before] - 1.0
    return _from_previous(frame, dataset, change)


@metric(level=BOTH, scope="dataset", pixels=False)
def box_jump(frame, dataset):
    """Box centre displacement from the track's previous box, in previous-box diagonals (a jump).

    |c - c_prev| / sqrt(w_prev^2 + h_prev^2); NaN for a track's first box."""
    def jump(table, now, before):
        w, h = table["bbox_w"].to_numpy(), table["bbox_h"].to_numpy()
        cx, cy = table["bbox_x"].to_numpy() + w / 2, table["bbox_y"].to_numpy() + h / 2
        return np.hypot(cx[now] - cx[before], cy[now] - cy[before]) / np.hypot(w[before],
                                                                             h[before])
    return _from_previous(frame, dataset, jump)


def _from_previous(frame, dataset, value):
    """``value(table, now, before)`` for every box that has a previous box in its track (row
    positions of both), NaN for a track's first box."""
    table = track_table(frame, dataset)
    prev = _previous(table)
    now = np.flatnonzero(prev >= 0)
    out = np.full(len(frame), np.nan)
    out[now] = value(table, now, prev[now])
    return _series(out, frame)


def _shapes_module():
    """The built-in shapes.py module (its Hu moments), loaded by path like every metric file."""
    name = "quality_widgets._metric_files.builtin_shapes"
    if name not in sys.modules:
        from quality_widgets.compute.registry import load_metric_file
        load_metric_file(Path(__file__).with_name("shapes.py"), builtin=True)
    return sys.modules[name]


def shape_vectors(frame: pd.DataFrame, dataset) -> tuple[np.ndarray, np.ndarray]:
    """(vectors (n, HU_USED), has_polygon (n,)): log Hu moments h_1..h_4 of polygon rows (as
    shape_outlier), and (log10(w / h), log10(sqrt(w h)), 0, 0) of the box for the others."""
    shapes = _shapes_module()
    src = _source(frame, dataset)
    segs = src["segmentation"].tolist() if "segmentation" in src else [None] * len(frame)
    w, h = frame["bbox_w"].to_numpy(dtype=float), frame["bbox_h"].to_numpy(dtype=float)
    vectors = np.full((len(frame), HU_USED), np.nan)
    polygon = np.zeros(len(frame), dtype=bool)
    for i, seg in enumerate(segs):
        parts = shapes.polygon_parts(seg)
        if parts and shapes._skip_reason(seg, parts) is None:
            vectors[i] = shapes.log_hu(shapes.rasterize(parts))[:HU_USED]
            polygon[i] = np.isfinite(vectors[i]).all()
        if not polygon[i] and w[i] > 0 and h[i] > 0:
            vectors[i] = 0.0
            vectors[i, 0] = np.log10(w[i] / h[i])
            vectors[i, 1] = np.log10(np.sqrt(w[i] * h[i]))
    return vectors, polygon


@metric(level=BOTH, scope="dataset", pixels=False)
def shape_similarity(frame, dataset):
    """Similarity of the polygon's Hu moments to the running average of its track's previous
    polygons, in (0, 1] (1 = unchanged; boxes: aspect, area).

    exp(-mean_i |u_i - m_i|), u the log10 Hu moments h_1..h_4, m the running mean over the
    track's previous polygons (boxes without polygons: log aspect ratio and log size); module
    doc."""
    table = track_table(frame, dataset)
    out = np.full(len(frame), np.nan)
    rows = _ordered(table)
    if not len(rows):
        return _series(out, frame)
    vectors, polygon = shape_vectors(frame, dataset)
    track = table["track"].to_numpy()
    for t in np.unique(track[rows]):
        members = rows[track[rows] == t]
        for kind in (True, False):               # polygons with polygons, boxes with boxes
            sub = members[(polygon[members] == kind) & np.isfinite(vectors[members, 0])]
            if not len(sub):
                continue
            v = vectors[sub][:, :HU_USED if kind else 2]
            running = np.cumsum(v, axis=0)
            mean_before = running[:-1] / np.arange(1, len(sub))[:, None]
            out[sub[0]] = 1.0
            if len(sub) > 1:
                out[sub[1:]] = np.exp(-np.mean(np.abs(v[1:] - mean_before), axis=1))
    return _series(out, frame)


# ---- image metrics ---------------------------------------------------------------------------
@metric(level="image", scope="dataset", requires=GRID_COLUMNS)
def frame_difference(frame, dataset):
    """Mean absolute luma change from the previous frame / 255, from a 16 x 16 grid (0 = duplicated
    frame, high = cut; NaN outside videos).

    mean over 16 x 16 blocks |B_t - B_(t-1)| / 255, B the rounded block-mean luma; a lower
    bound of mean |Y_t - Y_(t-1)| / 255 (module doc)."""
    out = np.full(len(frame), np.nan)
    images = dataset.images if dataset is not None else frame
    pos = frame_positions(images).reindex(frame.index)
    grids = unpack_grids(frame)
    video, position = pos["video"].to_numpy(), pos["position"].to_numpy(dtype=float)
    ok = np.flatnonzero(np.isfinite(position))
    order = ok[np.lexsort((position[ok], video[ok].astype(str)))]
    for a, b in zip(order[:-1], order[1:], strict=True):
        if video[a] == video[b] and position[b] == position[a] + 1:
            out[b] = float(np.mean(np.abs(grids[b] - grids[a]))) / 255.0
    return _series(out, frame)


@metric(level="image", scope="dataset", pixels=False)
def n_tracks(frame, dataset):
    """Number of distinct tracks annotated in the frame (NaN outside videos).

    count of distinct (video, track_id) among the frame's non-crowd annotations."""
    out = np.full(len(frame), np.nan)
    if dataset is None or not dataset.has_annotations:
        return _series(out, frame)
    pos = frame_positions(dataset.images).reindex(frame.index)
    in_video = np.isfinite(pos["position"].to_numpy(dtype=float))
    out[in_video] = 0.0
    anns = dataset.annotations
    if "track_id" in anns and len(anns):
        ok = anns["track_id"].notna().to_numpy() & ~anns["iscrowd"].fillna(False).to_numpy(
            dtype=bool)
        counts = anns[ok].groupby("image_id")["track_id"].nunique()
        counts = counts.reindex(frame.index).to_numpy(dtype=float)
        has = in_video & np.isfinite(counts)
        out[has] = counts[has]
    return _series(out, frame)

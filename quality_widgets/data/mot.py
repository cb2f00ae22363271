"""MOTChallenge sequences: ``seqinfo.ini``, ``img1/``, ``gt/gt.txt`` and ``det/det.txt``.

``gt.txt`` rows (comma separated, frames 1-based)::

    frame, id, bb_left, bb_top, bb_width, bb_height, consider, class, visibility   (MOT16/17/20)
    frame, id, bb_left, bb_top, bb_width, bb_height, conf, x, y, z                 (MOT15)

Each row becomes an annotation: ``track_id`` = id, the box as written (pixels, xywh),
``category_id`` = class (names from :data:`MOT_CLASSES`; MOT15 rows are pedestrians),
``visibility`` kept as a column, and ``iscrowd`` = (consider flag == 0): rows the benchmark
ignores (distractors, occluders, people not to be counted) are ignore regions, which act in
:func:`~quality_widgets.evaluate` as COCO crowd regions do (a prediction of the same category
matched to one is neither a true nor a false positive). ``annotation_id`` is the row's line
number in the file.

``det.txt`` (``frame, id, left, top, width, height, confidence, ...``) becomes predictions of
the pedestrian class with ``score`` = confidence (``prediction_id`` = line number); a tracker's
output in the same format keeps its ids as ``track_id`` (id -1 means none).
"""
from __future__ import annotations

import configparser
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetError, warn_rows
from ._io import images_frame, list_images
from .schema import empty_annotations, empty_categories, empty_predictions

#: Class ids of MOT16/17/20 ground truth.
MOT_CLASSES = {1: "pedestrian", 2: "person on vehicle", 3: "car", 4: "bicycle",
               5: "motorbike", 6: "non motorized vehicle", 7: "static person",
               8: "distractor", 9: "occluder", 10: "occluder on the ground",
               11: "occluder full", 12: "reflection", 13: "crowd"}
PEDESTRIAN = 1


def read_seqinfo(path) -> dict:
    """The ``[Sequence]`` section of a ``seqinfo.ini`` (keys lower-cased); {} if absent."""
    path = Path(path)
    if not path.is_file():
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"))
    except (configparser.Error, UnicodeDecodeError) as e:
        raise DatasetError(path, f"not a readable seqinfo.ini: {e}") from None
    if not parser.has_section("Sequence"):
        raise DatasetError(path, "no [Sequence] section")
    return {k.lower(): v for k, v in parser.items("Sequence")}


def read_rows(path, what: str) -> pd.DataFrame:
    """The numeric rows of a MOT text file as a frame with columns ``c0..c{k-1}`` and ``line``
    (1-based); lines that are not at least 6 comma-separated numbers are skipped with one
    warning."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(path, f"{what} file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(path, f"cannot read {what} file: {e}") from None
    rows, lines, bad = [], [], []
    width = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        fields = [f.strip() for f in line.replace(" ", ",").split(",") if f.strip()]
        try:
            values = [float(f) for f in fields]
        except ValueError:
            bad.append(f"line {lineno}")
            continue
        if len(values) < 6 or not np.all(np.isfinite(values[:6])):
            bad.append(f"line {lineno}")
            continue
        rows.append(values)
        lines.append(lineno)
        width = max(width, len(values))
    warn_rows(path, "not at least 6 finite comma-separated numbers", bad)
    arr = np.full((len(rows), max(width, 10)), np.nan)
    for i, r in enumerate(rows):
        arr[i, :len(r)] = r
    frame = pd.DataFrame(arr, columns=[f"c{i}" for i in range(arr.shape[1])])
    frame["line"] = np.asarray(lines, dtype="int64")
    frame.attrs["columns"] = width
    return frame


def _check_rows(rows: pd.DataFrame, path, n_frames: int | None) -> pd.DataFrame:
    frame_no = rows["c0"].to_numpy()
    ok = (frame_no >= 1) & (frame_no == np.round(frame_no))
    if n_frames is not None:
        ok &= frame_no <= n_frames
    where = [f"line {i}" for i in rows["line"].to_numpy()[~ok]]
    warn_rows(path, "a frame number outside the sequence" + (
        f" (1..{n_frames})" if n_frames is not None else ""), where, len(rows))
    rows = rows[ok]
    ok = (rows["c4"] > 0).to_numpy() & (rows["c5"] > 0).to_numpy()
    warn_rows(path, "a zero or negative box width/height",
              [f"line {i}" for i in rows["line"].to_numpy()[~ok]], len(rows))
    return rows[ok]


def _annotations(rows: pd.DataFrame, path, image_of_frame) -> pd.DataFrame:
    """Annotations of the gt rows; ``image_of_frame``: frame number -> image id."""
    if len(rows) == 0:
        return empty_annotations()
    mot15 = rows.attrs.get("columns", 9) >= 10 and not (rows["c7"] > 0).any()
    classes = np.full(len(rows), PEDESTRIAN, dtype="int64") if mot15 else np.where(
        np.isfinite(rows["c7"].to_numpy()) & (rows["c7"].to_numpy() > 0),
        rows["c7"].to_numpy(), PEDESTRIAN).astype("int64")
    consider = rows["c6"].to_numpy()
    frame = pd.DataFrame({
        "image_id": image_of_frame(rows["c0"].to_numpy().astype("int64")),
        "category_id": classes,
        "category": [MOT_CLASSES.get(int(c), str(int(c))) for c in classes],
        "bbox_x": rows["c2"].to_numpy(), "bbox_y": rows["c3"].to_numpy(),
        "bbox_w": rows["c4"].to_numpy(), "bbox_h": rows["c5"].to_numpy(),
        "area": rows["c4"].to_numpy() * rows["c5"].to_numpy(),
        "iscrowd": np.isfinite(consider) & (consider == 0),
        "segmentation": [None] * len(rows),
        "track_id": pd.array(rows["c1"].to_numpy().astype("int64"), dtype="Int64"),
    }, index=pd.Index(rows["line"].to_numpy(), name="annotation_id"))
    if not mot15:
        vis = rows["c8"].to_numpy()
        frame["visibility"] = vis
    return frame


def _predictions(rows: pd.DataFrame, image_of_frame) -> pd.DataFrame:
    if len(rows) == 0:
        return empty_predictions()
    ids = rows["c1"].to_numpy()
    frame = pd.DataFrame({
        "image_id": image_of_frame(rows["c0"].to_numpy().astype("int64")),
        "category_id": np.full(len(rows), PEDESTRIAN, dtype="int64"),
        "category": MOT_CLASSES[PEDESTRIAN],
        "bbox_x": rows["c2"].to_numpy(), "bbox_y": rows["c3"].to_numpy(),
        "bbox_w": rows["c4"].to_numpy(), "bbox_h": rows["c5"].to_numpy(),
        "score": np.nan_to_num(rows["c6"].to_numpy(), nan=1.0),
    }, index=pd.Index(rows["line"].to_numpy(), name="prediction_id"))
    if (ids >= 0).any():
        frame["track_id"] = pd.array([int(i) if i >= 0 else None for i in ids], dtype="Int64")
    return frame


def _categories(*frames) -> pd.DataFrame:
    ids = sorted({PEDESTRIAN} | {int(c) for f in frames if len(f) for c in f["category_id"]})
    if not ids:
        return empty_categories()
    return pd.DataFrame({"name": [MOT_CLASSES.get(i, str(i)) for i in ids],
                         "supercategory": None},
                        index=pd.Index(np.asarray(ids, dtype="int64"), name="category_id"))


def load_gt_file(path, name: str | None = None) -> dict:
    """Dataset fields of a bare ``gt.txt`` (no images): one image per frame number that has
    rows, image id = frame number, ``frame_index`` = frame - 1 (for ``from_video``)."""
    path = Path(path)
    rows = _check_rows(read_rows(path, "ground truth"), path, None)
    frames = np.unique(rows["c0"].to_numpy().astype("int64"))
    images = pd.DataFrame({"file_name": [f"{f:06d}" for f in frames], "path": None,
                           "width": pd.array([pd.NA] * len(frames), dtype="Int64"),
                           "height": pd.array([pd.NA] * len(frames), dtype="Int64"),
                           "video": name or path.parent.parent.name,
                           "frame_index": frames - 1},
                          index=pd.Index(frames, name="image_id"))
    anns = _annotations(rows, path, lambda f: f)
    return dict(images=images, annotations=anns, categories=_categories(anns),
                has_annotations=True, name=name or path.parent.parent.name)


def load(sequence_dir, predictions=True, name: str | None = None) -> dict:
    """The :class:`~quality_widgets.Dataset` fields of a MOTChallenge sequence folder.

    Images: ``<imDir>/<frame:06d><imExt>`` for frames 1..seqLength of ``seqinfo.ini`` (without
    one: every image of ``img1/``), image id = frame number, ``frame_index`` = frame - 1,
    ``video`` = the sequence name. ``predictions``: True reads ``det/det.txt`` when it exists;
    a path reads that file (detections, or a tracker's results); False / None reads none.
    """
    seq = Path(sequence_dir).absolute()
    if not seq.is_dir():
        raise DatasetError(seq, "MOT sequence folder not found")
    info = read_seqinfo(seq / "seqinfo.ini")
    video = info.get("name") or seq.name
    img_dir = seq / info.get("imdir", "img1")
    ext = info.get("imext", ".jpg")
    n_frames = None
    if "seqlength" in info:
        try:
            n_frames = int(info["seqlength"])
        except ValueError:
            raise DatasetError(seq / "seqinfo.ini", f"seqLength is not an integer: "
                                                    f"{info['seqlength']!r}") from None
        names = [f"{f:06d}{ext}" for f in range(1, n_frames + 1)]
        frame_numbers = np.arange(1, n_frames + 1, dtype="int64")
    else:
        names = list_images(img_dir, recursive=False)
        try:
            frame_numbers = np.asarray([int(Path(n).stem) for n in names], dtype="int64")
        except ValueError:
            raise DatasetError(img_dir, "image names are not frame numbers (000001.jpg...) "
                                        "and there is no seqinfo.ini") from None
        n_frames = int(frame_numbers.max()) if len(frame_numbers) else 0
    size = {}
    for key, col in (("imwidth", "width"), ("imheight", "height")):
        try:
            size[col] = [int(info[key])] * len(names) if key in info else None
        except ValueError:
            size[col] = None
    images = images_frame(img_dir if img_dir.is_dir() else None, names, frame_numbers,
                          size["width"], size["height"])
    images["video"] = video
    images["frame_index"] = frame_numbers - 1
    gt = seq / "gt" / "gt.txt"
    anns = empty_annotations()
    if gt.is_file():
        rows = _check_rows(read_rows(gt, "ground truth"), gt, n_frames)
        anns = _annotations(rows, gt, lambda f: f)
    preds = empty_predictions()
    det = seq / "det" / "det.txt" if predictions is True else (
        Path(predictions) if predictions not in (None, False) else None)
    if det is not None and (det.is_file() or predictions is not True):
        rows = _check_rows(read_rows(det, "detections"), det, n_frames)
        preds = _predictions(rows, lambda f: f)
    else:
        det = None
    return dict(images=images, annotations=anns, predictions=preds,
                categories=_categories(anns, preds), images_dir=img_dir,
                has_annotations=gt.is_file(), has_predictions=det is not None,
                name=name or video,
                sources={"sequence": str(seq), "annotations": str(gt) if gt.is_file() else None,
                         "predictions": str(det) if det is not None else None})

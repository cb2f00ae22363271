"""COCO instances JSON (labels) and COCO results JSON (predictions): reading and writing.

Validation happens column-wise with numpy so that half a million predictions load in about a
second; bad rows are dropped with one warning per kind of problem (see ``errors.py``).
"""
from __future__ import annotations

from operator import itemgetter
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetError, warn_rows
from ..jsonsafe import json_safe
from . import storage
from ._io import boxes_from, drop_bad, images_frame, list_images, no_gc, read_json, to_float, to_int
from .checks import (
    IDS_FROM_ANNOTATIONS,
    MAX_UNUSABLE,
    check_image_files,
    check_prediction_ids,
    folder_image_ids,
    require_usable,
)
from .schema import (
    BOX_COLUMNS,
    empty_annotations,
    empty_categories,
    empty_images,
    empty_predictions,
)

# Image fields kept beside the file name and size: licence and source, and who labelled it.
IMAGE_EXTRAS = ("license", "flickr_url", "coco_url", "annotator", "created_by", "annotator_id")
ANNOTATION_KEYS = {"id", "image_id", "category_id", "bbox", "area", "iscrowd", "segmentation",
                   "keypoints", "num_keypoints"}


def _require_list(data: dict, key: str, file, required: bool = True) -> list:
    if key not in data:
        if required:
            raise DatasetError(file, f"missing top-level key '{key}' (a COCO instances file has "
                                     f"'images', 'annotations' and 'categories')", field=key)
        return []
    value = data[key]
    if not isinstance(value, list):
        raise DatasetError(file, f"expected a list, got {type(value).__name__}", field=key)
    return value


def _records(rows: list, file, key: str) -> pd.DataFrame:
    """DataFrame of the dict rows of ``data[key]``; non-dict rows are dropped with a warning."""
    not_dict = [i for i, r in enumerate(rows) if not isinstance(r, dict)]
    if not_dict:
        warn_rows(file, "a row that is not a JSON object", [f"{key}[{i}]" for i in not_dict],
                  len(rows))
        rows = [r for r in rows if isinstance(r, dict)]
        positions = [i for i in range(len(rows) + len(not_dict)) if i not in set(not_dict)]
    else:
        positions = range(len(rows))
    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    frame["_pos"] = np.asarray(positions, dtype="int64")
    return frame


def _present_columns(rows: list, names, missing) -> dict:
    """{name: [value of each row, ``missing`` where absent]} for the names some row has. The
    key union and ``map(itemgetter)`` run in C (a key in every row, the usual case, costs a
    third of ``[r.get(name) for r in rows]``); a name no row has costs nothing."""
    present = set().union(*rows) if rows else set()
    columns = {}
    for name in names:
        if name not in present:
            continue
        try:
            columns[name] = list(map(itemgetter(name), rows))
        except KeyError:
            columns[name] = [r.get(name, missing) for r in rows]
    return columns


def _columns(rows: list, file, key: str, names) -> pd.DataFrame:
    """Like _records, for the few known columns only: building columns with comprehensions is
    several times faster than DataFrame.from_records on half a million dicts."""
    missing = object()
    try:
        columns = _present_columns(rows, names, missing)
        positions = range(len(rows))
    except (AttributeError, TypeError):  # some rows are not objects: find and report them
        positions = [i for i, r in enumerate(rows) if isinstance(r, dict)]
        bad = sorted(set(range(len(rows))) - set(positions))
        warn_rows(file, "a row that is not a JSON object", [f"{key}[{i}]" for i in bad],
                  len(rows))
        rows = [rows[i] for i in positions]
        columns = _present_columns(rows, names, missing)
    frame = {}
    for name, values in columns.items():
        n_missing = values.count(missing)        # a C loop (identity compares first)
        if n_missing:
            values = [None if v is missing else v for v in values]
        frame[name] = pd.Series(values, dtype=object)
    out = pd.DataFrame(frame)
    out["_pos"] = np.asarray(positions, dtype="int64")
    return out


def _read_section(data, file, key: str, required: tuple) -> tuple[pd.DataFrame, int]:
    """The rows of ``data[key]`` with the ``required`` fields, integer unique ``id``s (bad and
    duplicate ids dropped with a warning); returns (rows, number of rows in the file)."""
    rows = _require_list(data, key, file)
    frame = _records(rows, file, key)
    if len(frame) == 0:
        return frame, 0
    for col in required:
        if col not in frame:
            raise DatasetError(file, f"every {key.rstrip('s').replace('ie', 'y')} entry needs "
                                     f"'{col}'", field=f"{key}.{col}")
    ids, ok = to_int(frame["id"].tolist())
    frame = drop_bad(frame.assign(id=ids), ~ok, file, "a missing or non-integer id", key,
                     len(rows), values=frame["id"], field="id")
    frame = drop_bad(frame, frame["id"].duplicated().to_numpy(), file,
                     "a duplicate id (first kept)", key, len(rows))
    return frame, len(rows)


def _read_categories(data, file) -> pd.DataFrame:
    cats, _ = _read_section(data, file, "categories", ("id", "name"))
    if len(cats) == 0:
        return empty_categories()
    out = pd.DataFrame({"name": cats["name"].astype(str).to_numpy(),
                        "supercategory": (cats["supercategory"].to_numpy() if "supercategory"
                                          in cats else np.full(len(cats), None))},
                       index=pd.Index(cats["id"].to_numpy(dtype="int64"), name="category_id"))
    for col in ("keypoints", "skeleton"):   # person-keypoints files: names and limbs
        if col in cats:
            out[col] = [v if isinstance(v, list) else None for v in cats[col]]
    return out


def _read_images(data, file, images_dir) -> pd.DataFrame:
    imgs, n_rows = _read_section(data, file, "images", ("id", "file_name"))
    if len(imgs) == 0:
        return empty_images()
    bad_name = ~imgs["file_name"].map(lambda v: isinstance(v, str) and len(v) > 0).to_numpy()
    imgs = drop_bad(imgs, bad_name, file, "a missing or empty file_name", "images", n_rows)
    sizes = {}
    for col in ("width", "height"):
        if col in imgs:
            vals = to_float(imgs[col].tolist())
            good = np.isfinite(vals) & (vals > 0) & (vals == np.round(vals))
            sizes[col] = [int(v) if g else pd.NA for v, g in zip(vals, good, strict=True)]
            if (~good).any():
                warn_rows(file, f"a missing or invalid {col} (read from the image file instead)",
                          [f"images[{p}]" for p in imgs["_pos"].to_numpy()[~good]], n_rows,
                          action="repaired")
        else:
            sizes[col] = None
    frame = images_frame(images_dir, imgs["file_name"].tolist(), imgs["id"].to_numpy(),
                         sizes["width"], sizes["height"])
    for extra in IMAGE_EXTRAS:
        if extra in imgs:
            frame[extra] = imgs[extra].to_numpy()
    if "video_id" in imgs:
        _add_video_columns(frame, imgs, data, file, n_rows)
    return frame


def _add_video_columns(frame: pd.DataFrame, imgs: pd.DataFrame, data: dict, file,
                       n_rows: int) -> None:
    """COCO-video (as TAO): images with ``video_id`` and ``frame_index`` (or ``frame_id``)
    and a top-level ``videos`` list. Adds ``video`` (the video's ``name``, else its id as text;
    None for images without a video) and ``frame_index`` (0-based frame number in the video:
    ``frame_index`` as written, else ``frame_id``, taken as 1-based as MOT-to-COCO
    converters write it unless some frame_id of the file is 0)."""
    names = {}
    videos = data.get("videos")
    if isinstance(videos, list):
        for v in videos:
            if isinstance(v, dict) and "id" in v:
                label = v.get("name") or v.get("file_name")
                names[v["id"]] = str(label) if label else str(v["id"])
    video_ids = imgs["video_id"].tolist()
    frame["video"] = pd.Series([None if v is None or (isinstance(v, float) and np.isnan(v))
                                else names.get(v, str(v)) for v in video_ids],
                               index=frame.index, dtype=object)
    if "frame_index" in imgs:
        index = to_float(imgs["frame_index"].tolist())
    elif "frame_id" in imgs:
        index = to_float(imgs["frame_id"].tolist())
        finite = index[np.isfinite(index)]
        if len(finite) and finite.min() >= 1:
            index = index - 1
    else:
        index = np.full(len(imgs), np.nan)
    has_video = frame["video"].notna().to_numpy()
    bad = has_video & ~(np.isfinite(index) & (index >= 0) & (index == np.round(index)))
    if bad.any():
        warn_rows(file, "a video_id but no valid frame_index / frame_id (taken as no video)",
                  [f"images[{p}]" for p in imgs["_pos"].to_numpy()[bad]], n_rows,
                  action="repaired")
        frame.loc[bad, "video"] = None
    index = np.where(frame["video"].notna().to_numpy() & np.isfinite(index), index, np.nan)
    frame["frame_index"] = pd.array([None if np.isnan(v) else int(v) for v in index],
                                    dtype="Int64")


def _read_annotations(data, file, images: pd.DataFrame, cats: pd.DataFrame) -> pd.DataFrame:
    anns, total = _read_section(data, file, "annotations",
                                ("id", "image_id", "category_id", "bbox"))
    if len(anns) == 0:
        return empty_annotations()
    img_ids, ok = to_int(anns["image_id"].tolist())
    ok &= np.isin(img_ids, images.index.to_numpy())
    anns = drop_bad(anns.assign(image_id=img_ids), ~ok, file, "an unknown image_id",
                    "annotations", total, values=anns["image_id"], field="image_id")
    cat_ids, ok = to_int(anns["category_id"].tolist())
    ok &= np.isin(cat_ids, cats.index.to_numpy())
    anns = drop_bad(anns.assign(category_id=cat_ids), ~ok, file, "an unknown category_id",
                    "annotations", total, values=anns["category_id"], field="category_id")
    boxes, ok = boxes_from(anns["bbox"].tolist(), file, "annotations")
    anns = drop_bad(anns, ~ok, file, "a bbox that is not 4 finite numbers", "annotations", total,
                    values=anns["bbox"], field="bbox")
    boxes = boxes[ok]
    ok = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    anns = drop_bad(anns, ~ok, file, "a zero or negative box width/height", "annotations", total)
    boxes = boxes[ok]
    n = len(anns)
    iscrowd = (to_float(anns["iscrowd"].tolist()) if "iscrowd" in anns else np.zeros(n))
    iscrowd = np.nan_to_num(iscrowd) > 0
    area = to_float(anns["area"].tolist()) if "area" in anns else np.full(n, np.nan)
    area = np.where(np.isfinite(area) & (area >= 0), area, boxes[:, 2] * boxes[:, 3])
    segmentation = anns["segmentation"].to_numpy() if "segmentation" in anns else [None] * n
    segmentation = [_check_segmentation(s) for s in segmentation]
    frame = pd.DataFrame({
        "image_id": anns["image_id"].to_numpy(dtype="int64"),
        "category_id": anns["category_id"].to_numpy(dtype="int64"),
        "category": cats["name"].reindex(anns["category_id"].to_numpy()).to_numpy(),
        "bbox_x": boxes[:, 0], "bbox_y": boxes[:, 1], "bbox_w": boxes[:, 2],
        "bbox_h": boxes[:, 3], "area": area, "iscrowd": iscrowd,
        "segmentation": segmentation,
    }, index=pd.Index(anns["id"].to_numpy(dtype="int64"), name="annotation_id"))
    if "keypoints" in anns:
        _add_keypoints(frame, anns, file, total)
    # Extra scalar attributes (annotator, split, occluded...) travel with the rows so the
    # explorer can group by them.
    for col in anns.columns:
        if col in ANNOTATION_KEYS or col == "_pos" or col in frame:
            continue
        values = anns[col]
        if values.map(lambda v: v is None or isinstance(v, (str, int, float, bool))).all():
            frame[col] = values.to_numpy()
    if "track_id" not in frame and "instance_id" in frame:   # BDD100K / OVIS spelling
        frame = frame.rename(columns={"instance_id": "track_id"})
    if "track_id" in frame:
        ids, ok = to_int(frame["track_id"].tolist())
        frame["track_id"] = pd.array([int(i) if k else None for i, k in zip(ids, ok, strict=True)],
                                     dtype="Int64")
    _warn_outside(frame, images, file)
    return frame


def _add_keypoints(frame: pd.DataFrame, anns: pd.DataFrame, file, total: int) -> None:
    """``keypoints`` (3 K floats: x, y, visibility v with 0 = not labelled, 1 = labelled but
    occluded, 2 = visible; None without) and ``num_keypoints`` (the file's, else the count of
    v > 0) columns of a person-keypoints file."""
    kps = [_check_keypoints(k) for k in anns["keypoints"]]
    bad = [p for p, k, c in zip(anns["_pos"], kps, anns["keypoints"], strict=True)
           if k is None and c is not None and not (isinstance(c, float) and np.isnan(c))]
    if bad:
        warn_rows(file, "keypoints that are not a list of 3 K finite numbers",
                  [f"annotations[{p}]" for p in bad], total, action="kept without keypoints")
    labelled = np.array([sum(v > 0 for v in k[2::3]) if k is not None else 0 for k in kps],
                        dtype=np.int64)
    given = to_float(anns["num_keypoints"].tolist()) if "num_keypoints" in anns \
        else np.full(len(kps), np.nan)
    frame["keypoints"] = pd.Series(kps, index=frame.index, dtype=object)
    frame["num_keypoints"] = np.where(np.isfinite(given), given, labelled).astype(np.int64)


def _check_segmentation(seg):
    """Polygons with fewer than 3 points are dropped (they enclose nothing); RLE passes."""
    if isinstance(seg, list):
        polys = [p for p in seg if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0]
        return polys or None
    if isinstance(seg, dict) and "counts" in seg and "size" in seg:
        size, counts = seg["size"], seg["counts"]
        if not (type(size) in (list, tuple) and len(size) == 2 and type(size[0]) is int
                and type(size[1]) is int and size[0] > 0 and size[1] > 0):
            return None
        if type(counts) is str:
            return seg
        if type(counts) is list and counts:   # uncompressed: integer runs covering h x w
            try:
                if (sum(counts) == size[0] * size[1] and min(counts) >= 0
                        and all(type(v) is int for v in counts)):
                    return seg
            except TypeError:
                return None
    return None


def _warn_outside(frame: pd.DataFrame, images: pd.DataFrame, file) -> None:
    """Boxes wholly outside their image are kept (they are label errors the metrics surface)
    but reported, since they usually mean swapped coordinates or a wrong image entry."""
    if frame.empty:
        return
    w = images["width"].reindex(frame["image_id"].to_numpy()).to_numpy(dtype=float,
                                                                          na_value=np.nan)
    h = images["height"].reindex(frame["image_id"].to_numpy()).to_numpy(dtype=float,
                                                                           na_value=np.nan)
    x0, y0 = frame["bbox_x"].to_numpy(), frame["bbox_y"].to_numpy()
    x1, y1 = x0 + frame["bbox_w"].to_numpy(), y0 + frame["bbox_h"].to_numpy()
    outside = (x1 <= 0) | (y1 <= 0) | (x0 >= w) | (y0 >= h)
    if outside.any():
        warn_rows(file, "a box wholly outside its image", [f"annotation id {i}" for i in
                                                             frame.index[outside]],
                  len(frame), action="kept")


# ---- columnar reading of large results files ---------------------------------------------------
_RESULT_FIELDS = ("image_id", "category_id", "bbox", "score")


def _object_lines(raw, out):
    """Write the JSON text ``raw`` (uint8) into ``out`` (may be ``raw``) as one top-level
    object per line: the enclosing [ ] and the commas between the objects become blanks /
    newlines, and line breaks inside the objects blanks (a JSON string cannot hold a raw line
    break). Returns the number of objects, or -1 when the text is not an array of objects (the
    caller then parses it the ordinary way)."""
    depth = 0
    in_string = False
    escaped = False
    objects = 0
    closed = False
    for k in range(len(raw)):
        ch = raw[k]
        out[k] = ch
        if in_string:
            if escaped:
                escaped = False
            elif ch == 92:                       # backslash
                escaped = True
            elif ch == 34:                       # quote
                in_string = False
            continue
        if ch == 34:
            in_string = True
            if depth < 2:
                return -1
        elif ch == 123 or ch == 91:              # { [
            if depth == 0:
                if ch != 91 or closed:
                    return -1
                out[k] = 32
            elif depth == 1:
                if ch != 123:
                    return -1
                objects += 1
            depth += 1
        elif ch == 125 or ch == 93:              # } ]
            depth -= 1
            if depth < 0:
                return -1
            if depth == 0:
                out[k] = 32
                closed = True
        elif ch == 44:                           # comma
            if depth == 1:
                out[k] = 10
            elif depth == 0:
                return -1
        elif ch == 10 or ch == 13:
            out[k] = 32
        elif ch != 32 and ch != 9 and depth < 2:
            return -1
    if depth != 0 or in_string or not closed:
        return -1
    return objects


try:  # numba is a dependency; without it results files are parsed the ordinary way
    from numba import njit
    _object_lines = njit(cache=True, nogil=True)(_object_lines)
    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    _HAVE_NUMBA = False


def _results_columns(file: Path):
    """(columns frame, boxes (n, 4)) of a COCO results file read column-wise by pyarrow (no
    Python object per detection), or None whenever the file is not the plain case -- a field
    missing or of another type, a bbox that is not 4 numbers, NaN, a non-array: the ordinary
    parser then reads it and reports each bad row as usual."""
    if not _HAVE_NUMBA:
        return None
    try:
        import pyarrow as pa
        import pyarrow.json as pj
        data = bytearray(file.read_bytes())
    except (ImportError, OSError, ValueError):
        return None
    # Masks / keypoints go to the ordinary parser, which keeps and checks them: a byte search
    # (memchr speed) spares a columnar parse that would be thrown away.
    if b'"segmentation"' in data or b'"keypoints"' in data:
        return None
    raw = np.frombuffer(data, dtype=np.uint8)
    lines = raw                       # rewritten in place: each byte is read before written
    n = _object_lines(raw, lines)
    if n <= 0:
        return None
    schema = pa.schema([("image_id", pa.int64()), ("category_id", pa.int64()),
                        ("bbox", pa.list_(pa.float64())), ("score", pa.float64())])
    try:
        table = pj.read_json(pa.py_buffer(lines),
                             read_options=pj.ReadOptions(block_size=1 << 22),
                             parse_options=pj.ParseOptions(explicit_schema=schema,
                                                           unexpected_field_behavior="infer"))
    except (pa.ArrowException, ValueError, TypeError):
        return None
    if table.num_rows != n or any(table.column(c).null_count for c in _RESULT_FIELDS):
        return None
    if "segmentation" in table.column_names or "keypoints" in table.column_names:
        return None          # masks / keypoints: the ordinary parser keeps and checks them
    bbox = table.column("bbox").combine_chunks()
    if bbox.values.null_count or (np.diff(bbox.offsets.to_numpy()) != 4).any():
        return None
    first = bbox.offsets[0].as_py()
    boxes = bbox.values.to_numpy()[first:first + 4 * n].reshape(n, 4)
    frame = pd.DataFrame({name: table.column(name).to_numpy()
                          for name in ("image_id", "category_id", "score")})
    if "scores" in table.column_names:
        frame["scores"] = pd.Series(table.column("scores").to_pylist(), dtype=object)
    frame["_pos"] = np.arange(n, dtype=np.int64)
    return frame, boxes


def read_predictions(source, dataset, max_unusable=MAX_UNUSABLE) -> pd.DataFrame:
    """Predictions from a COCO results file (a JSON list) or an in-memory list of dicts.

    ``prediction_id`` is the 1-based position in the list, as pycocotools' ``loadRes`` gives,
    also for rows that are skipped, so ids stay aligned with other COCO tools. Ids that
    disagree with the dataset (past ``max_unusable``, or category ids systematically off) are
    refused by :func:`.checks.check_prediction_ids`.
    """
    with no_gc():     # the parsed rows stay alive until converted: see _io.no_gc
        return _read_predictions(source, dataset, max_unusable)


def _read_predictions(source, dataset, max_unusable) -> pd.DataFrame:
    columnar = None
    if isinstance(source, (str, Path)):
        file = storage.path_or_url(source)
        columnar = _results_columns(file) if isinstance(file, Path) else None
        data = read_json(file, "predictions") if columnar is None else []
    else:
        file, data = "<predictions>", source
    if columnar is not None:
        return _checked_predictions(*columnar, file, dataset, max_unusable)
    if isinstance(data, dict):
        raise DatasetError(file, "expected a list of predictions (COCO results format: "
                                 "[{image_id, category_id, bbox, score}, ...]), got a JSON object"
                                 + (" with key 'annotations' (is this a labels file?)"
                                    if "annotations" in data else ""))
    if not isinstance(data, list):
        raise DatasetError(file, f"expected a list of predictions, got {type(data).__name__}")
    total = len(data)
    if total == 0:
        return empty_predictions()
    preds = _columns(data, file, "predictions", ("image_id", "category_id", "bbox", "score",
                                                 "scores", "segmentation", "keypoints"))
    return _checked_predictions(preds, None, file, dataset, max_unusable)


def _checked_predictions(preds, boxes, file, dataset, max_unusable) -> pd.DataFrame:
    """The predictions frame from the file's columns (``boxes``: the bboxes as an (n, 4)
    array when read column-wise, else None and the raw ``bbox`` column), bad rows dropped
    with a warning each. Results with masks or keypoints get their boxes (and areas) as
    pycocotools' ``loadRes`` derives them (:func:`_shape_boxes`)."""
    total = len(preds)
    shapes = "segmentation" in preds or "keypoints" in preds

    def raw(name):      # the values as read: arrays when column-wise, lists otherwise
        col = preds[name]
        return col.to_numpy() if col.dtype.kind in "iuf" else col.tolist()

    def as_list(name):  # plain Python values: what the id checks iterate over fastest
        return preds[name].tolist() if name in preds else [None] * total

    check_prediction_ids(as_list("image_id"), as_list("category_id"), dataset, file,
                         boxes if boxes is not None else preds.get("bbox"), max_unusable)
    if shapes:
        box_ok = box_values = None                                # boxes come later
    elif boxes is None:
        boxes, box_ok = boxes_from(preds["bbox"].tolist(), file, "predictions")
        box_values = preds["bbox"]
    else:
        box_ok, box_values = np.ones(total, dtype=bool), None     # checked when read
    preds = preds.assign(_box=np.arange(total))
    img_ids, ok = to_int(raw("image_id"))
    ok &= np.isin(img_ids, dataset.images.index.to_numpy())
    preds = drop_bad(preds.assign(image_id=img_ids), ~ok, file,
                     "an image_id not in the dataset", "predictions", total,
                     values=preds["image_id"], field="image_id")
    cat_ids, ok = to_int(raw("category_id"))
    if len(dataset.categories):
        ok &= np.isin(cat_ids, dataset.categories.index.to_numpy())
    preds = drop_bad(preds.assign(category_id=cat_ids), ~ok, file, "an unknown category_id",
                     "predictions", total, values=preds["category_id"], field="category_id")
    scores = to_float(raw("score"))
    ok = np.isfinite(scores) & (scores >= 0)
    preds = drop_bad(preds.assign(score=scores), ~ok, file, "a missing, NaN or negative score",
                     "predictions", total, values=preds["score"], field="score")
    if shapes:  # masks / keypoints: boxes (and areas) where missing derived as loadRes does
        preds, boxes, derived, area = _shape_boxes(preds, file, total, dataset)
        given = ~derived
    else:
        ok = box_ok[preds["_box"].to_numpy()]
        preds = drop_bad(preds, ~ok, file, "a bbox that is not 4 finite numbers", "predictions",
                         total, values=None if box_values is None else
                         box_values.loc[preds.index], field="bbox")
        boxes = boxes[preds["_box"].to_numpy()]
        given = np.ones(len(preds), dtype=bool)
    ok = ((boxes[:, 2] > 0) & (boxes[:, 3] > 0)) | ~given
    preds = drop_bad(preds, ~ok, file, "a zero or negative box width/height", "predictions",
                     total)
    boxes = boxes[ok]
    cat_names = dataset.categories["name"]
    frame = pd.DataFrame({
        "image_id": preds["image_id"].to_numpy(dtype="int64"),
        "category_id": preds["category_id"].to_numpy(dtype="int64"),
        "category": cat_names.reindex(preds["category_id"].to_numpy()).to_numpy(),
        "bbox_x": boxes[:, 0], "bbox_y": boxes[:, 1], "bbox_w": boxes[:, 2],
        "bbox_h": boxes[:, 3], "score": preds["score"].to_numpy(dtype="float64"),
    }, index=pd.Index(preds["_pos"].to_numpy(dtype="int64") + 1, name="prediction_id"))
    if "scores" in preds:  # optional per-class probability vectors (acquisition metrics)
        frame["scores"] = preds["scores"].to_numpy()
    if shapes:
        frame["area"] = area[ok]
        for col in ("segmentation", "keypoints"):
            if col in preds:
                frame[col] = preds[col].to_numpy()
    require_usable(total - len(frame), total, file, "predictions", max_unusable)
    return frame


def _shape_boxes(preds: pd.DataFrame, file, total: int, dataset):
    """Boxes and areas of results with masks or keypoints, as pycocotools' ``loadRes``: a row
    with a ``bbox`` keeps it and its area is w * h; without one (missing or ``[]``), the box and
    area are the mask's (``toBbox``, pixel count) or the keypoints' extent (``[x0, y0, x1 - x0,
    y1 - y0]``, ``(x1 - x0) * (y1 - y0)`` over all keypoints, labelled or not). loadRes picks
    one rule for the whole file from its first row; here each row follows its own fields (the
    same on every file loadRes reads, which have the field on every row).

    Returns (rows, boxes [n, 4], derived [n] bool, area [n]); rows whose segmentation or
    keypoints are malformed lose them (with a warning), and are dropped when they have no
    box either."""
    n = len(preds)
    raw = preds["bbox"].tolist() if "bbox" in preds else [None] * n
    has_box = np.array([b is not None and b != [] for b in raw], dtype=bool)
    given = {c: preds[c].tolist() if c in preds else [None] * n
             for c in ("segmentation", "keypoints")}
    # Compressed RLE (what models write) is checked inline; the rest by _check_segmentation.
    seg = [v if type(v) is dict and type(v.get("counts")) is str
           and type(z := v.get("size")) is list and len(z) == 2 and type(z[0]) is int
           and type(z[1]) is int and z[0] > 0 and z[1] > 0 else _check_segmentation(v)
           for v in given["segmentation"]] if "segmentation" in preds \
        else given["segmentation"]
    kps = [_check_keypoints(v) for v in given["keypoints"]] if "keypoints" in preds \
        else given["keypoints"]
    for col, checked, what in (
            ("segmentation", seg, ("a segmentation that is not polygons (>= 3 points) or an "
                                   "RLE dict {size, counts} whose counts cover size")),
            ("keypoints", kps, "keypoints that are not a list of 3 K finite numbers")):
        if checked.count(None) == given[col].count(None):
            continue                                   # nothing malformed (the usual case)
        bad = [i for i, (v, c) in enumerate(zip(checked, given[col], strict=True)) if v is None and
               c is not None]
        kept = [i for i in bad if has_box[i] or seg[i] is not None or kps[i] is not None]
        if kept:
            warn_rows(file, what, [f"predictions[{preds['_pos'].iat[i]}]" for i in kept],
                      total, action=f"kept without {col}")
    preds = preds.assign(**{c: pd.Series(v, index=preds.index, dtype=object)
                            for c, v in (("segmentation", seg), ("keypoints", kps))
                            if c in preds})
    boxes = np.full((n, 4), np.nan)
    if has_box.any():
        boxes[has_box], ok = boxes_from([b for b, h in zip(raw, has_box, strict=True) if h], file,
                                        "predictions")
    area = boxes[:, 2] * boxes[:, 3]
    derived = ~has_box
    mask_rows = np.flatnonzero(derived & np.array([s is not None for s in seg], dtype=bool))
    if len(mask_rows):
        from . import masks
        img = dataset.images.reindex(preds["image_id"].to_numpy()[mask_rows])
        heights = img["height"].to_numpy(dtype=float, na_value=np.nan)
        widths = img["width"].to_numpy(dtype=float, na_value=np.nan)
        rows_seg = [seg[i] for i in mask_rows]
        sized = np.array([masks.is_rle(s) for s in rows_seg]) | (np.isfinite(heights)
                                                                 & np.isfinite(widths))
        rles = masks.to_rles([s if z else None for s, z in zip(rows_seg, sized, strict=True)],
                             np.nan_to_num(heights).astype(int),
                             np.nan_to_num(widths).astype(int))
        m_area, m_box = masks.areas_and_boxes(*masks.run_lengths(rles))
        boxes[mask_rows[sized]] = m_box[sized]
        area[mask_rows[sized]] = m_area[sized]
    kp_rows = np.flatnonzero(derived & np.isnan(boxes[:, 0])
                             & np.array([k is not None for k in kps], dtype=bool))
    for i in kp_rows:
        x, y = kps[i][0::3], kps[i][1::3]
        x0, x1, y0, y1 = min(x), max(x), min(y), max(y)
        boxes[i] = [x0, y0, x1 - x0, y1 - y0]
        area[i] = (x1 - x0) * (y1 - y0)
    ok = np.isfinite(boxes).all(axis=1)
    drop = ~ok & derived
    preds = drop_bad(preds, drop, file, "no bbox, and no mask or keypoints to derive one from "
                     "(a polygon mask needs the image's width and height)", "predictions", total)
    boxes, derived, area = boxes[~drop], derived[~drop], area[~drop]
    ok = ok[~drop]
    preds = drop_bad(preds, ~ok, file, "a bbox that is not 4 finite numbers", "predictions",
                     total)
    return preds, boxes[ok], derived[ok], area[ok]


def _check_keypoints(kps):
    """A list of 3 K finite numbers (x, y, v or score per keypoint) as floats, else None."""
    if not isinstance(kps, (list, tuple)) or len(kps) == 0 or len(kps) % 3:
        return None
    try:
        values = [float(v) for v in kps]
    except (TypeError, ValueError):
        return None
    if any(isinstance(v, (bool, str)) for v in kps) or not np.isfinite(values).all():
        return None
    return values


def load(images_dir, annotations, name=None, max_unusable=MAX_UNUSABLE, file=None) -> dict:
    """The :class:`~quality_widgets.Dataset` fields of a COCO instances file (or, without one,
    of the images folder, ids by :func:`.checks.folder_image_ids`); predictions are added by
    ``Dataset.with_predictions``. Past ``max_unusable`` missing image files or bad annotation
    rows, :class:`DatasetError` (see :mod:`.checks`). ``file``: the name to report for an
    in-memory ``annotations`` dict (a video's side file). ``images_dir`` and ``annotations``
    may be fsspec URLs."""
    with no_gc():     # the parsed rows stay alive until converted: see _io.no_gc
        return _load(images_dir, annotations, name, max_unusable, file)


def _load(images_dir, annotations, name, max_unusable, file) -> dict:
    images_dir = storage.location(images_dir) if images_dir is not None else None
    # a URL is not checked here: a store may serve files without listing folders
    if isinstance(images_dir, Path) and not images_dir.is_dir():
        raise DatasetError(images_dir, "images folder not found or not a folder")
    sources = {}
    if annotations is not None:
        file = storage.path_or_url(annotations) if isinstance(annotations, (str, Path)) else (
            file or "<annotations>")
        data = read_json(file, "annotations") if isinstance(annotations, (str, Path)) \
            else annotations
        if not isinstance(data, dict):
            raise DatasetError(file, "expected a COCO instances JSON object with 'images', "
                                     f"'annotations' and 'categories', got {type(data).__name__}"
                               + (" (is this a results/predictions file?)"
                                  if isinstance(data, list) else ""))
        cats = _read_categories(data, file)
        images = _read_images(data, file, images_dir)
        anns = _read_annotations(data, file, images, cats)
        n_rows = len(data["annotations"]) if isinstance(data.get("annotations"), list) else 0
        require_usable(n_rows - len(anns), n_rows, file, "annotations", max_unusable)
        check_image_files(images, images_dir, file, max_unusable)
        has_annotations = True
        sources.update(annotations=str(file), image_ids=IDS_FROM_ANNOTATIONS)
    else:
        if images_dir is None:
            raise DatasetError(None, "need an images folder or an annotations file")
        names = list_images(images_dir)
        ids, sources["image_ids"] = folder_image_ids(names)
        images = images_frame(images_dir, names, ids)
        cats, anns, has_annotations = empty_categories(), empty_annotations(), False
    return dict(images=images, annotations=anns, categories=cats, images_dir=images_dir,
                has_annotations=has_annotations,
                name=name or (storage.stem(annotations) if isinstance(annotations, (str, Path))
                              else (storage.name(images_dir) if images_dir else "dataset")),
                sources=sources)


# ---- writing ---------------------------------------------------------------------------------
def to_coco_dict(dataset, image_ids=None) -> dict:
    """The COCO instances dict of ``dataset`` (optionally restricted to ``image_ids``)."""
    ds = dataset.subset(image_ids) if image_ids is not None else dataset
    video_ids = {}
    if "video" in ds.images and "frame_index" in ds.images:
        for name in ds.images["video"].dropna().unique():
            video_ids[name] = len(video_ids) + 1
    images = []
    for image_id, row in ds.images.iterrows():
        entry = {"id": int(image_id), "file_name": row["file_name"],
                 "width": json_safe(row["width"]), "height": json_safe(row["height"])}
        for extra in IMAGE_EXTRAS:
            if extra in ds.images.columns and json_safe(row[extra]) is not None:
                entry[extra] = json_safe(row[extra])
        if video_ids and json_safe(row.get("video")) is not None:   # COCO-video, as TAO
            entry["video_id"] = video_ids[row["video"]]
            entry["frame_index"] = int(row["frame_index"])
        images.append(entry)
    anns = []
    a = ds.annotations
    boxes = a[BOX_COLUMNS].to_numpy(dtype=float)
    for i, (ann_id, row) in enumerate(a.iterrows()):
        entry = {"id": int(ann_id), "image_id": int(row["image_id"]),
                 "category_id": int(row["category_id"]),
                 "bbox": [float(v) for v in boxes[i]], "area": float(row["area"]),
                 "iscrowd": int(bool(row["iscrowd"]))}
        if row["segmentation"] is not None:
            entry["segmentation"] = row["segmentation"]
        if "track_id" in a.columns and json_safe(row["track_id"]) is not None:
            entry["track_id"] = int(row["track_id"])
        _put_keypoints(entry, row)
        anns.append(entry)
    cats = [{"id": int(cid), "name": row["name"],
             **({"supercategory": row["supercategory"]} if row["supercategory"] is not None
                else {}),
             **{col: row[col] for col in ("keypoints", "skeleton")
                if isinstance(row.get(col), list)}}
            for cid, row in dataset.categories.iterrows()]
    out = {"images": images, "annotations": anns, "categories": cats}
    if video_ids:
        out["videos"] = [{"id": i, "name": str(name)} for name, i in video_ids.items()]
    return out


def _put_keypoints(entry: dict, row) -> None:
    """Copy a row's keypoints (and, for labels, num_keypoints) into a COCO entry."""
    kps = row.get("keypoints")
    if isinstance(kps, (list, tuple, np.ndarray)):
        entry["keypoints"] = [float(v) for v in kps]
        if "num_keypoints" in row:
            entry["num_keypoints"] = int(row["num_keypoints"])


def to_results_list(predictions: pd.DataFrame) -> list:
    """COCO results list (``image_id``, ``category_id``, ``bbox``, ``score``, and
    ``segmentation`` / ``keypoints`` where the rows have them) of a frame."""
    boxes = predictions[BOX_COLUMNS].to_numpy(dtype=float)
    out = [{"image_id": int(i), "category_id": int(c), "bbox": [float(v) for v in b],
            "score": float(s)}
           for i, c, b, s in zip(predictions["image_id"], predictions["category_id"], boxes,
                                 predictions["score"], strict=True)]
    for col in ("segmentation", "keypoints"):
        if col in predictions:
            for entry, value in zip(out, predictions[col].tolist(), strict=True):
                if value is not None and not (isinstance(value, float) and np.isnan(value)):
                    entry[col] = value
    return out

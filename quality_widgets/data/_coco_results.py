"""Reading a COCO results file (predictions): column-wise with pyarrow when the file is the
plain case (:func:`_results_columns`: half a million detections in about a second), otherwise
row by row (:func:`_columns`); then one check of every column (:func:`_checked_predictions`),
bad rows dropped with one warning per kind of problem, and the boxes of mask or keypoint
results derived as pycocotools' ``loadRes`` does (:func:`_shape_boxes`). The entry point is
:func:`quality_widgets.data.coco.read_predictions`."""
from __future__ import annotations

from operator import itemgetter
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import warn_rows
from ._coco_instances import _check_keypoints, _check_segmentation
from ._io import boxes_from, drop_bad, to_float, to_int
from .checks import check_prediction_ids, require_usable


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

"""Reading a COCO instances file (labels): its categories, images (COCO-video columns
included) and annotations (masks and keypoints checked), each bad row dropped or repaired with
one warning per kind of problem (see ``errors.py``). The entry point is
:func:`quality_widgets.data.coco.load`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DatasetError, warn_rows
from ._io import boxes_from, drop_bad, images_frame, to_float, to_int
from .schema import empty_annotations, empty_categories, empty_images

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

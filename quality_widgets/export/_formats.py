"""How each export format is written: a table (CSV, Parquet), a COCO instances or results
file, a YOLO folder with boxes or segmentation polygons."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.dataset import Dataset
from ..data.schema import BOX_COLUMNS
from ..errors import ExportError
from ..jsonsafe import dumps
from ._files import _copy_images
from ._select import _labels_for


def _plain_cell(value):
    """Non-scalar cells (segmentations, score vectors) as strict JSON text for CSV/Parquet."""
    if isinstance(value, (list, dict, tuple, np.ndarray)):
        return dumps(value)
    return value


def table_of(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its id index as a column and non-scalar cells as JSON text."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object and \
                out[col].map(lambda v: isinstance(v, (list, dict, tuple, np.ndarray))).any():
            out[col] = out[col].map(_plain_cell)
    return out.reset_index()


def _write_coco(target: Path, ds: Dataset, level: str, ids, image_ids) -> dict:
    from ..data.coco import to_coco_dict, to_results_list
    if level == "prediction":
        preds = _labels_for(ds, level, ids, image_ids)
        payload = to_results_list(preds)
        counts = {"predictions": len(payload)}
    else:
        sub = ds.subset(image_ids)
        if level == "object":
            sub = replace(sub, annotations=_labels_for(ds, level, ids, image_ids))
        payload = to_coco_dict(sub)
        counts = {"images": len(payload["images"]), "annotations": len(payload["annotations"])}
    target.write_text(dumps(payload))
    return counts


def _image_size(row) -> tuple[float, float] | None:
    w, h = row["width"], row["height"]
    if pd.notna(w) and pd.notna(h) and w > 0 and h > 0:
        return float(w), float(h)
    path = row["path"]
    if isinstance(path, str):
        try:
            from PIL import Image
            with Image.open(path) as im:
                from PIL import ImageOps
                return tuple(float(v) for v in ImageOps.exif_transpose(im).size)
        except OSError:
            return None
    return None


def _write_data_yaml(path: Path, names: list) -> None:
    """The dataset file YOLO trainers (Ultralytics) read: ``train``/``val`` relative to the
    file's folder (no ``path`` key, so the folder can be moved), ``nc``, ``names``."""
    import yaml
    text = ("# written by quality-widgets export; train and val are the same exported images\n"
            + yaml.safe_dump({"train": "images", "val": "images", "nc": len(names),
                              "names": {i: n for i, n in enumerate(names)}},
                             sort_keys=False, allow_unicode=True))
    path.write_text(text, encoding="utf-8")


def _bridged(parts: list) -> np.ndarray:
    """One polygon ((n, 2) array) of several: each part is joined to the ones before it at
    their closest vertices by a zero-width bridge (there and back), so the enclosed area is
    the parts' and YOLO's one-polygon-per-object format loses nothing."""
    out = np.asarray(parts[0], dtype=float).reshape(-1, 2)
    for part in parts[1:]:
        part = np.asarray(part, dtype=float).reshape(-1, 2)
        d = ((out[:, None, :] - part[None, :, :]) ** 2).sum(axis=2)
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        loop = np.roll(part, -j, axis=0)
        out = np.concatenate([out[:i + 1], loop, loop[:1], out[i:]])
    return out


def yolo_segment(segmentation, box, width: float, height: float) -> np.ndarray:
    """The YOLO segmentation polygon of one object, normalised to [0, 1] by the image size:
    (n, 2) array of (x / W, y / H). Polygons are kept (several parts bridged into one, see
    :func:`_bridged`); an RLE mask becomes the outer contours of its pixels (OpenCV needed);
    no mask: the box's 4 corners."""
    from ..data import masks
    if masks.is_polygon(segmentation):
        xy = _bridged(segmentation)
    elif masks.is_rle(segmentation):
        try:
            import cv2
        except ImportError:
            raise ExportError("an RLE mask becomes a YOLO polygon through OpenCV's contours: "
                              "pip install 'quality-widgets[reference]'") from None
        mask = masks.decode(segmentation, int(height), int(width)).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        parts = [c.reshape(-1, 2) for c in contours if len(c) >= 3]
        if not parts:
            return np.zeros((0, 2))
        parts.sort(key=lambda c: -cv2.contourArea(c))
        xy = _bridged(parts)
    else:
        x, y, w, h = box
        xy = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=float)
    return np.clip(xy / [width, height], 0.0, 1.0)


def _write_yolo(folder: Path, ds: Dataset, level: str, ids, image_ids,
                segments: bool = False) -> dict:
    images = ds.images.loc[image_ids]
    labels = _labels_for(ds, level, ids, image_ids)
    if level != "prediction" and "iscrowd" in labels:
        labels = labels[~labels["iscrowd"].astype(bool)]  # YOLO has no crowd regions
    cat_ids = sorted(int(c) for c in ds.categories.index)
    unknown = set(labels["category_id"].astype(int)) - set(cat_ids)
    if unknown:
        raise ExportError(f"labels use category ids missing from the categories: "
                          f"{sorted(unknown)[:5]}")
    class_index = {c: i for i, c in enumerate(cat_ids)}
    folder.mkdir()
    names = _copy_images(folder / "images", images)
    class_names = [str(ds.categories.loc[c, "name"]) for c in cat_ids]
    (folder / "classes.txt").write_text("".join(f"{n}\n" for n in class_names))
    _write_data_yaml(folder / "data.yaml", class_names)
    by_image = {k: g for k, g in labels.groupby("image_id")}
    n_labels = 0
    for image_id, rel in names.items():
        rows = by_image.get(image_id)
        lines = []
        if rows is not None and len(rows):
            size = _image_size(images.loc[image_id])
            if size is None:
                raise ExportError(f"image {image_id}: unknown size, cannot normalise its boxes")
            w, h = size
            b = rows[BOX_COLUMNS].to_numpy(dtype=float)
            cx, cy = (b[:, 0] + b[:, 2] / 2) / w, (b[:, 1] + b[:, 3] / 2) / h
            segs = rows["segmentation"].tolist() if segments and "segmentation" in rows \
                else [None] * len(rows)
            for i, cat in enumerate(rows["category_id"].astype(int)):
                if segments:    # class x1 y1 x2 y2 ... (normalised polygon)
                    xy = yolo_segment(segs[i], b[i], w, h)
                    line = f"{class_index[cat]} " + " ".join(f"{v:.6f}" for v in xy.ravel())
                else:
                    line = (f"{class_index[cat]} {cx[i]:.6f} {cy[i]:.6f} {b[i, 2] / w:.6f} "
                            f"{b[i, 3] / h:.6f}")
                if level == "prediction":
                    line += f" {float(rows['score'].iloc[i]):.6f}"
                lines.append(line)
        label_file = folder / "labels" / rel.with_suffix(".txt")
        label_file.parent.mkdir(parents=True, exist_ok=True)
        label_file.write_text("".join(line + "\n" for line in lines))
        n_labels += len(lines)
    return {"images": len(names), "labels": n_labels, "classes": len(cat_ids)}

"""YOLO datasets: ``images/`` + ``labels/<stem>.txt`` with ``class cx cy w h`` normalised to
[0, 1] (a 6th column, the confidence, for predictions); class names from a list, a dict, a
``classes.txt`` / ``*.names`` file (one per line) or a ``data.yaml`` (``names:``)."""
from __future__ import annotations

import math
import warnings
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from ..errors import DatasetError, DataWarning, warn_rows
from ._io import images_frame, list_images
from .checks import MAX_UNUSABLE, folder_image_ids, require_usable
from .schema import empty_annotations, empty_categories, empty_predictions
from .storage import is_url


def class_names_file(labels_dir: Path | None) -> Path | None:
    """The class-names file found next to a labels folder: ``labels/classes.txt``,
    ``classes.txt`` or ``data.yaml`` in its parent; None when there is none."""
    for candidate in ([labels_dir / "classes.txt", labels_dir.parent / "classes.txt",
                       labels_dir.parent / "data.yaml"] if labels_dir else []):
        if candidate.is_file():
            return candidate
    return None


def read_class_names(class_names, labels_dir: Path | None = None) -> dict[int, str]:
    """Class index -> name, from a list, a dict, a file, or (None) the file found next to
    ``labels_dir`` (:func:`class_names_file`; {} when there is none)."""
    if class_names is None:
        found = class_names_file(labels_dir)
        return read_class_names(found) if found is not None else {}
    if isinstance(class_names, dict):
        return {int(k): str(v) for k, v in class_names.items()}
    if isinstance(class_names, (list, tuple)):
        return {i: str(n) for i, n in enumerate(class_names)}
    path = Path(class_names)
    if not path.is_file():
        raise DatasetError(path, "class names file not found")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise DatasetError(path, "reading data.yaml needs PyYAML (pip install pyyaml); "
                                     "or pass class_names as a list") from None
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except Exception as e:
            raise DatasetError(path, f"not valid YAML: {e}") from None
        names = data.get("names") if isinstance(data, dict) else None
        if names is None:
            raise DatasetError(path, "no 'names' list or mapping", field="names")
        return read_class_names(names)
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return {i: n for i, n in enumerate(ln for ln in lines if ln)}


def _read_label_file(path: Path, n_fields: int, problems: dict) -> list[tuple]:
    """Rows (class, cx, cy, w, h[, conf]) of one label file; bad lines are collected in
    ``problems`` (kind -> ['file:line', ...]) and skipped."""
    rows = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        problems.setdefault("an unreadable label file", []).append(f"{path.name} ({e})")
        return rows
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path.name}:{lineno}"
        if len(fields) != n_fields:
            problems.setdefault(f"not {n_fields} fields", []).append(where)
            continue
        try:
            values = [float(v) for v in fields]
        except ValueError:
            problems.setdefault("a non-number field", []).append(where)
            continue
        cls = values[0]
        if not (math.isfinite(cls) and cls >= 0 and cls == int(cls)):
            problems.setdefault("a class that is not a non-negative integer", []).append(where)
            continue
        cx, cy, w, h = values[1:5]
        if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in (cx, cy, w, h)) or w <= 0 \
                or h <= 0:
            problems.setdefault("box values outside [0, 1] (or zero size)", []).append(where)
            continue
        if n_fields == 6 and not (math.isfinite(values[5]) and values[5] >= 0):
            problems.setdefault("a NaN or negative confidence", []).append(where)
            continue
        rows.append((int(cls), cx, cy, w, h, *values[5:]))
    return rows


def _read_labels(images: pd.DataFrame, labels_dir: Path, with_conf: bool,
                 max_unusable=MAX_UNUSABLE):
    n_fields = 6 if with_conf else 5
    problems: dict = {}
    records = []
    n_lines = 0
    for image_id, name, w, h in zip(images.index, images["file_name"], images["width"],
                                    images["height"], strict=True):
        label = labels_dir / PurePosixPath(name).with_suffix(".txt")
        if not label.is_file():
            continue  # an image without a label file has no objects (YOLO convention)
        before = sum(map(len, problems.values()))
        rows = _read_label_file(label, n_fields, problems)
        n_lines += len(rows) + sum(map(len, problems.values())) - before
        if rows and (pd.isna(w) or pd.isna(h)):
            problems.setdefault("labels for an unreadable image (size unknown)", []).append(
                label.name)
            continue
        for r in rows:
            cls, cx, cy, bw, bh = r[:5]
            x, y = (cx - bw / 2) * w, (cy - bh / 2) * h
            records.append((int(image_id), cls, x, y, bw * w, bh * h, *r[5:]))
    for problem, where in problems.items():
        warn_rows(labels_dir, problem, where)
    n_bad = sum(map(len, problems.values()))
    require_usable(n_bad, max(n_lines, n_bad), labels_dir,
                   "label lines" if not with_conf else "prediction lines", max_unusable)
    return records


def _boxes_frame(records: list, index_name: str) -> pd.DataFrame:
    """Frame of (image_id, class, x, y, w, h[, score]) records, ids numbered from 1."""
    arr = np.array([r[2:] for r in records], dtype=float)
    frame = pd.DataFrame({
        "image_id": np.array([r[0] for r in records], dtype="int64"),
        "category_id": np.array([r[1] for r in records], dtype="int64"),
        "bbox_x": arr[:, 0], "bbox_y": arr[:, 1], "bbox_w": arr[:, 2], "bbox_h": arr[:, 3]},
        index=pd.Index(np.arange(1, len(records) + 1, dtype="int64"), name=index_name))
    if arr.shape[1] > 4:
        frame["score"] = arr[:, 4]
    return frame


def default_labels_dir(images_dir) -> Path | None:
    """The sibling ``labels`` folder of an ``images`` folder (YOLO's layout), if it exists."""
    images_dir = Path(images_dir).absolute()
    candidate = images_dir.parent / "labels"
    return candidate if images_dir.name == "images" and candidate.is_dir() else None


def load(images_dir, labels_dir=None, class_names=None, predictions_dir=None, name=None,
         max_unusable=MAX_UNUSABLE) -> dict:
    """The :class:`~quality_widgets.Dataset` fields of a YOLO folder."""
    for where in (images_dir, labels_dir, predictions_dir):
        if is_url(where):
            raise DatasetError(where, "YOLO datasets are read from local folders only (COCO "
                                      "files and image folders may be URLs)")
    images_dir = Path(images_dir).absolute()
    if labels_dir is None:
        labels_dir = images_dir.parent / "labels" if images_dir.name == "images" else None
    labels_dir = Path(labels_dir).absolute() if labels_dir is not None else None
    if labels_dir is not None and not labels_dir.is_dir():
        raise DatasetError(labels_dir, "labels folder not found")
    names = list_images(images_dir)
    ids, id_rule = folder_image_ids(names)
    images = images_frame(images_dir, names, ids)
    classes = read_class_names(class_names, labels_dir)
    classes_source = (class_names if isinstance(class_names, (str, Path)) else
                      class_names_file(labels_dir) if class_names is None else None)
    anns = empty_annotations()
    preds = empty_predictions()
    found_classes = set()
    if labels_dir is not None:
        rec = _read_labels(images, labels_dir, with_conf=False, max_unusable=max_unusable)
        if rec:
            anns = _boxes_frame(rec, "annotation_id")
            anns["area"] = anns["bbox_w"] * anns["bbox_h"]
            anns["iscrowd"] = False
            anns["segmentation"] = None
            found_classes |= set(anns["category_id"].tolist())
    if predictions_dir is not None:
        pdir = Path(predictions_dir).absolute()
        if not pdir.is_dir():
            raise DatasetError(pdir, "predictions folder not found")
        rec = _read_labels(images, pdir, with_conf=True, max_unusable=max_unusable)
        if rec:
            preds = _boxes_frame(rec, "prediction_id")
            found_classes |= set(preds["category_id"].tolist())
    unnamed = sorted(found_classes - set(classes))
    if unnamed:
        where = (f"no class names (pass class_names= or --classes; looked for classes.txt in "
                 f"{labels_dir} and its parent, data.yaml in the parent)" if not classes else
                 f"{len(classes)} class names in {classes_source or 'class_names'}")
        warnings.warn(f"{labels_dir or predictions_dir}: class index(es) "
                      f"{', '.join(map(str, unnamed[:10]))}{' ...' if len(unnamed) > 10 else ''} "
                      f"used by the labels have {where}: these categories are named by their "
                      f"index ('{unnamed[0]}')", DataWarning, stacklevel=3)
    all_ids = sorted(set(classes) | found_classes)
    cats = empty_categories() if not all_ids else pd.DataFrame(
        {"name": [classes.get(i, str(i)) for i in all_ids], "supercategory": None},
        index=pd.Index(np.array(all_ids, dtype="int64"), name="category_id"))
    for frame in (anns, preds):
        if len(frame):
            frame.insert(2, "category", cats["name"].reindex(frame["category_id"]).to_numpy())
    if len(anns):
        anns = anns[["image_id", "category_id", "category", "bbox_x", "bbox_y", "bbox_w",
                     "bbox_h", "area", "iscrowd", "segmentation"]]
    return dict(images=images, annotations=anns, predictions=preds, categories=cats,
                images_dir=images_dir, has_annotations=labels_dir is not None,
                has_predictions=predictions_dir is not None,
                name=name or images_dir.parent.name,
                sources={"labels": str(labels_dir) if labels_dir else None,
                         "predictions": str(predictions_dir) if predictions_dir else None,
                         "classes": (str(Path(classes_source).absolute()) if classes_source
                                     is not None else None),
                         "image_ids": id_rule})

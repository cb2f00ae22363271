"""COCO instances JSON (labels) and COCO results JSON (predictions): reading and writing.

Validation happens column-wise with numpy so that half a million predictions load in about a
second; bad rows are dropped with one warning per kind of problem (see ``errors.py``).

- :func:`load`: an instances file (or an images folder alone) into the Dataset's fields; the
  sections are read by :mod:`._coco_instances`;
- :func:`read_predictions`: a results file, column-wise when it is the plain case, else row by
  row, checked by :mod:`._coco_results`;
- :func:`to_coco_dict`, :func:`to_results_list`: writing, the other way.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetError
from ..jsonsafe import json_safe
from . import storage
from ._coco_instances import (
    ANNOTATION_KEYS,
    IMAGE_EXTRAS,
    _check_segmentation,  # noqa: F401 (imported from here by older code)
    _read_annotations,
    _read_categories,
    _read_images,
)
from ._coco_results import _checked_predictions, _columns, _results_columns
from ._io import images_frame, list_images, no_gc, read_json
from .checks import (
    IDS_FROM_ANNOTATIONS,
    MAX_UNUSABLE,
    check_image_files,
    folder_image_ids,
    require_usable,
)
from .schema import BOX_COLUMNS, empty_annotations, empty_categories, empty_predictions

__all__ = ["load", "read_predictions", "to_coco_dict", "to_results_list", "IMAGE_EXTRAS",
           "ANNOTATION_KEYS"]


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

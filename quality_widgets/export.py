"""Export a selection of rows: COCO JSON, YOLO folder, CSV, Parquet, or a copy of the image files.

Used by the Explorer's export panel, as :func:`export` from Python, and as the ``export``
subcommand of the ``quality-widgets`` command (see :func:`add_parser`).

Safety rules, for every format:

* **Atomic**: everything is written into a temporary file or folder in the same parent as
  ``out`` and renamed into place at the end; a failed export leaves nothing behind.
* **No silent overwrite**: an existing ``out`` is refused with
  :class:`~quality_widgets.ExportError` unless ``overwrite=True`` (the existing file or folder
  then stays intact until the new one is complete). Even with ``overwrite=True`` a non-empty
  *folder* is only replaced if it is a previous export (it holds the ``.quality-widgets-export``
  marker), so a mistyped ``out`` cannot wipe an unrelated folder.
* **Nothing outside** ``out``: image file names come from annotation files written by others.
  Names that are absolute, have a drive, or contain ``..`` (after normalising ``\\`` to ``/``)
  are **flattened**, not refused: the copy is written directly in the images folder as
  ``<image_id>_<base name>`` with any character outside ``[A-Za-z0-9._-]`` replaced by ``_``.
  Safe relative names keep their sub-folders. COCO JSON exports write no image files and keep
  the names as they were in the source.
"""
from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from .data import _io
from .data.dataset import Dataset
from .data.schema import BOX_COLUMNS, empty_categories
from .errors import ExportError
from .frames import FRAME_OF_LEVEL, LEVELS, MetricFrames
from .jsonsafe import dumps

FORMATS = ("coco", "yolo", "yolo-seg", "csv", "parquet", "images")
MARKER = ".quality-widgets-export"
DATASET_FRAME = {"image": "images", "object": "annotations", "prediction": "predictions"}


# ---- inputs ------------------------------------------------------------------------------------
def normalize_level(level: str) -> str:
    level = str(level).rstrip("s")
    if level not in LEVELS:
        raise ExportError(f"unknown level {level!r}: expected one of {', '.join(LEVELS)}")
    return level


def level_frame(data, level: str) -> pd.DataFrame:
    """The rows of ``level``: the metric frame for MetricFrames, the dataset frame otherwise."""
    if isinstance(data, MetricFrames):
        return data.frame(level)
    if isinstance(data, Dataset):
        return getattr(data, DATASET_FRAME[level])
    raise ExportError(f"expected a Dataset or MetricFrames, got {type(data).__name__}")


def dataset_of(data) -> Dataset:
    """The Dataset of ``data``. For MetricFrames read back from a metrics folder: the dataset
    reloaded from the files its ``dataset.json`` names (:func:`reload_dataset`: segmentation,
    licences, URLs and every category kept); when that is impossible, a Dataset rebuilt from
    the frames' own columns (boxes and the categories rows use; no segmentation), with a
    :class:`~quality_widgets.DataWarning` saying what is lost."""
    if isinstance(data, Dataset):
        return data
    if getattr(data, "dataset", None) is not None:
        return data.dataset
    reloaded, why = reload_dataset(data)
    if reloaded is not None:
        data.dataset = reloaded
        return reloaded
    import warnings

    from .errors import DataWarning
    warnings.warn(
        f"{data.cache_dir or 'metrics'}: exporting labels rebuilt from the metric frames "
        f"({why}): segmentation, the images' license/flickr_url/coco_url, supercategories and "
        "categories no row uses are not in the frames and are left out; pass the dataset "
        "(--images with --annotations or --yolo-labels) to keep them", DataWarning,
        stacklevel=2)
    images = data.images
    img = pd.DataFrame({c: images.get(c)
                        for c in ("file_name", "path", "width", "height")}, index=images.index)

    def labels(frame, with_score):
        cols = ["image_id", "category_id", "category", *BOX_COLUMNS]
        missing = [c for c in cols if c not in frame]
        if missing:
            return None
        out = frame[cols + (["score"] if with_score and "score" in frame else [])].copy()
        if not with_score:
            out["area"] = (frame["area"] if "area" in frame
                           else frame["bbox_w"] * frame["bbox_h"])
            out["iscrowd"] = frame["iscrowd"].astype(bool) if "iscrowd" in frame else False
            out["segmentation"] = None
        return out

    anns = labels(data.objects, False)
    preds = labels(data.predictions, True)
    parts = [f[["category_id", "category"]] for f in (anns, preds) if f is not None and len(f)]
    if parts:
        both = pd.concat(parts).drop_duplicates("category_id").set_index("category_id")
        cats = pd.DataFrame({"name": both["category"].astype(str).to_numpy(),
                             "supercategory": None},
                            index=pd.Index(both.index.to_numpy(dtype="int64"),
                                           name="category_id")).sort_index()
    else:
        cats = empty_categories()
    ds = Dataset(images=img, categories=cats, has_annotations=anns is not None,
                 has_predictions=preds is not None, name="metrics")
    if anns is not None:
        ds = replace(ds, annotations=anns)
    if preds is not None:
        ds = replace(ds, predictions=preds)
    return ds


def reload_dataset(frames) -> tuple[Dataset | None, str]:
    """(dataset, "") reloaded from the files a metrics folder's ``dataset.json`` names
    (``frames.sources``), checked to hold every row of the frames; else (None, why not)."""
    import warnings

    from .errors import DatasetError, DataWarning
    sources = getattr(frames, "sources", None) or {}
    loader = sources.get("loader")
    if loader not in ("coco", "yolo", "folder"):
        return None, "the folder does not say which files it was computed from"
    try:
        with warnings.catch_warnings():      # the rows' warnings were shown by `metrics`
            warnings.simplefilter("ignore", DataWarning)
            if loader == "coco":
                ds = Dataset.from_coco(sources.get("images_dir"), sources.get("annotations"),
                                       sources.get("predictions"), max_unusable=1.0)
            elif loader == "yolo":
                ds = Dataset.from_yolo(sources["images_dir"], sources.get("labels"),
                                       sources.get("classes"), sources.get("predictions"),
                                       max_unusable=1.0)
            else:
                ds = Dataset.from_folder(sources["images_dir"])
    except (DatasetError, OSError, KeyError, TypeError) as e:
        return None, f"its dataset files cannot be read again: {e}"
    for level in LEVELS:
        frame = frames.frame(level)
        if len(frame) and len(frame.index.difference(level_frame(ds, level).index)):
            return None, (f"its dataset files changed since: {FRAME_OF_LEVEL[level]} of the "
                          "frames are missing from them")
    return ds, ""


def selected_ids(frame: pd.DataFrame, selection) -> pd.Index:
    """``selection`` as ids of ``frame``: None (all rows), a boolean mask, a DataFrame or Series
    (its index), or ids. Unknown ids raise ExportError."""
    if selection is None:
        return frame.index
    if isinstance(selection, (pd.DataFrame, pd.Series)) and not (
            isinstance(selection, pd.Series) and pd.api.types.is_bool_dtype(selection.dtype)):
        selection = selection.index
    if isinstance(selection, pd.Series):  # boolean Series aligned on the frame
        return frame.index[selection.reindex(frame.index, fill_value=False).to_numpy()]
    arr = np.asarray(selection)
    if arr.dtype == bool:
        if arr.size != len(frame):
            raise ExportError(f"a boolean selection needs one value per row ({len(frame)}), "
                              f"got {arr.size}")
        return frame.index[arr]
    ids = pd.Index(arr)
    unknown = ids.difference(frame.index)
    if len(unknown):
        raise ExportError(f"{len(unknown)} selected id(s) are not rows of the "
                          f"{frame.index.name or 'frame'}: {list(unknown[:5])}")
    return pd.Index(pd.unique(ids.to_numpy()), name=frame.index.name)


# ---- safe names --------------------------------------------------------------------------------
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def safe_relative_name(file_name) -> PurePosixPath | None:
    """``file_name`` as a normalised relative path, or None when it is absolute, has a drive,
    contains ``..``, a NUL, or nothing (such names are flattened by :func:`export_names`)."""
    if not isinstance(file_name, str) or not file_name or "\x00" in file_name:
        return None
    name = file_name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return PurePosixPath(*parts)


def flattened_name(file_name, image_id) -> str:
    """``<image_id>_<base name>`` with unsafe characters replaced: always one plain file name."""
    base = str(file_name or "").replace("\\", "/").split("/")[-1]
    base = _UNSAFE_CHARS.sub("_", base).lstrip(".") or "image"
    return f"{image_id}_{base}"


def export_names(images: pd.DataFrame) -> dict:
    """image_id -> relative path (PurePosixPath) of its copy: the source name when safe,
    otherwise flattened; unique (a clash gets the image id prepended)."""
    out, used = {}, set()
    for image_id, file_name in zip(images.index, images["file_name"], strict=True):
        rel = safe_relative_name(file_name)
        if rel is None:
            rel = PurePosixPath(flattened_name(file_name, image_id))
        if str(rel).lower() in used:
            rel = rel.with_name(flattened_name(rel.name, image_id))
        used.add(str(rel).lower())
        out[image_id] = rel
    return out


# ---- atomic writing ----------------------------------------------------------------------------
def _is_previous_export(path: Path) -> bool:
    return path.is_dir() and ((path / MARKER).exists() or not any(path.iterdir()))


def _check_target(out: Path, overwrite: bool) -> None:
    if not (out.exists() or out.is_symlink()):
        return
    if not overwrite:
        raise ExportError(f"{out} already exists; pass overwrite=True (--overwrite) to "
                          f"replace it")
    if out.is_dir() and not out.is_symlink() and not _is_previous_export(out):
        raise ExportError(f"{out} is a folder that is not a previous export (no {MARKER} "
                          f"file): refusing to replace it even with overwrite=True")


@contextmanager
def atomic_target(out, overwrite: bool = False):
    """Yield a temporary path beside ``out``; on success move it to ``out`` (file or folder):
    :func:`quality_widgets.data._io.atomic_target` with the export's refusals as
    :class:`ExportError` (an existing target without ``overwrite``, a folder that is not a
    previous export even with it, a target that appeared during the export)."""
    try:
        with _io.atomic_target(out, overwrite,
                               check=lambda target: _check_target(target, overwrite)) as staged:
            yield staged
    except FileNotFoundError as e:
        if e.filename == str(Path(out).absolute()):
            raise ExportError("the export produced nothing") from None
        raise
    except FileExistsError:
        raise ExportError(f"{Path(out).absolute()} appeared during the export; nothing "
                          f"replaced") from None


def _write_marker(folder: Path, **info) -> None:
    (folder / MARKER).write_text(dumps(info, indent=1) + "\n")


# ---- formats -----------------------------------------------------------------------------------
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


def _images_for(ds: Dataset, level: str, ids: pd.Index, data) -> pd.Index:
    """The image ids a selection at ``level`` covers."""
    if level == "image":
        return ids
    frame = level_frame(data, level)
    return pd.Index(pd.unique(frame.loc[ids, "image_id"].to_numpy(dtype="int64")),
                    name="image_id")


def _labels_for(ds: Dataset, level: str, ids: pd.Index, image_ids: pd.Index) -> pd.DataFrame:
    """The label rows to write: all annotations of the images (image level), exactly the
    selected objects (object level), or the selected predictions (prediction level)."""
    if level == "image":
        return ds.annotations[ds.annotations["image_id"].isin(image_ids)]
    if level == "object":
        return ds.annotations.loc[ds.annotations.index.intersection(ids, sort=False)]
    return ds.predictions.loc[ds.predictions.index.intersection(ids, sort=False)]


def _write_coco(target: Path, ds: Dataset, level: str, ids, image_ids) -> dict:
    from .data.coco import to_coco_dict, to_results_list
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


def _sources(images: pd.DataFrame) -> dict:
    """image_id -> existing source file. Images without one (unknown or unsafe path, missing
    file) are left out with a DataWarning naming them: one lost file must not cost the copy
    of all the others. ExportError only when none is left."""
    missing, out = [], {}
    for image_id, path in zip(images.index, images["path"], strict=True):
        if isinstance(path, str) and os.path.isfile(path):
            out[image_id] = path
        else:
            missing.append(image_id)
    if missing and not out:
        raise ExportError(f"none of the {len(missing)} image(s) has a readable file (unknown "
                          f"or unsafe path, or missing file), image ids: {missing[:5]}")
    if missing:
        from .errors import warn_rows
        warn_rows("export", "no readable image file (unknown or unsafe path, or missing file)",
                  [f"image id {i}" for i in missing], len(images), action="left out")
    return out


def _copy_images(folder: Path, images: pd.DataFrame) -> dict:
    sources = _sources(images)
    names = export_names(images)
    root = folder.resolve()
    names = {i: rel for i, rel in names.items() if i in sources}
    for image_id, rel in names.items():
        dest = folder / rel
        # Belt and braces: the name rules above already keep every copy inside the folder.
        if not dest.resolve().is_relative_to(root):
            raise ExportError(f"refusing to write outside {folder}: {rel}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(sources[image_id], dest)
    return names


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
    from .data import masks
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


def export(data, selection=None, format: str = "coco", out=None, level: str = "image",
           overwrite: bool = False) -> Path:
    """Write the ``selection`` (ids at ``level``; see :func:`selected_ids`) of ``data`` (a
    Dataset or MetricFrames) to ``out`` in ``format``; returns ``out`` as an absolute Path.

    ``format``:

    ``"coco"`` (one JSON file)
        image level: the selected images with all their annotations; object level: the images
        holding the selected objects, with exactly those objects; prediction level: a COCO
        *results* list of the selected predictions. Loads in pycocotools and
        ``Dataset.from_coco``.
    ``"yolo"`` (a folder)
        ``images/`` (copies), ``labels/<name>.txt`` (``class cx cy w h`` normalised, plus the
        score for predictions; one file per image, empty when it has no labels; crowd regions
        left out), ``classes.txt`` and ``data.yaml`` (``train``/``val``: ``images``, ``nc``,
        ``names``, as Ultralytics reads it); the class index is the position of the category id
        among the sorted category ids.
    ``"yolo-seg"`` (a folder)
        the same with YOLO's segmentation lines ``class x1 y1 x2 y2 ...`` (the object's polygon
        normalised by the image size, see :func:`yolo_segment`; the box's corners for rows
        without a mask).
    ``"csv"``, ``"parquet"`` (one file)
        the selected rows of the level's frame (metric values included for MetricFrames), the
        id as the first column, non-scalar cells as JSON text.
    ``"images"`` (a folder)
        copies of the image files (of the selected images, or holding the selected rows).

    See the module docstring for the atomic-write, overwrite and file-name rules. Raises
    :class:`~quality_widgets.ExportError` when refused.
    """
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}: expected one of "
                          f"{', '.join(FORMATS)}")
    if out is None:
        raise ExportError("an export needs an output path (out=...)")
    level = normalize_level(level)
    frame = level_frame(data, level)
    ids = selected_ids(frame, selection)
    info = {"format": format, "level": level, "selected": len(ids)}
    with atomic_target(out, overwrite) as staged:
        if format in ("csv", "parquet"):
            table = table_of(frame.loc[ids])
            if format == "csv":
                table.to_csv(staged, index=False)
            else:
                table.to_parquet(staged, index=False)
        else:
            ds = dataset_of(data)
            if level != "image" and not len(level_frame(ds, level)) and len(ids):
                raise ExportError(f"the dataset has no {FRAME_OF_LEVEL[level]} to export")
            image_ids = _images_for(ds, level, ids, data)
            if format == "coco":
                info.update(_write_coco(staged, ds, level, ids, image_ids))
            elif format in ("yolo", "yolo-seg"):
                info.update(_write_yolo(staged, ds, level, ids, image_ids,
                                        segments=format == "yolo-seg"))
                _write_marker(staged, **info)
            else:  # images
                staged.mkdir()
                names = _copy_images(staged, ds.images.loc[image_ids])
                info["images"] = len(names)
                _write_marker(staged, **info)
    return Path(out).absolute()

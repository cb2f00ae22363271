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

from pathlib import Path

from ..errors import ExportError
from ..frames import FRAME_OF_LEVEL
from ._files import (
    MARKER,
    _copy_images,
    _write_marker,
    atomic_target,
    export_names,
    flattened_name,
    safe_relative_name,
)
from ._formats import _bridged, _write_coco, _write_yolo, table_of, yolo_segment
from ._select import (
    DATASET_FRAME,
    _images_for,
    dataset_of,
    level_frame,
    normalize_level,
    reload_dataset,
    selected_ids,
)

# One question per module: _select (which rows, of which dataset), _files (names, the atomic
# target, image copies), _formats (how each format is written); their names stay importable
# from here, where they were.
__all__ = ["export", "FORMATS", "MARKER", "DATASET_FRAME", "atomic_target", "dataset_of",
           "export_names", "flattened_name", "level_frame", "normalize_level", "reload_dataset",
           "safe_relative_name", "selected_ids", "table_of", "yolo_segment", "_bridged"]

FORMATS = ("coco", "yolo", "yolo-seg", "csv", "parquet", "images")



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

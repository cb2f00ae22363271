"""The frames' schema: box columns, empty frames with the right dtypes, image extensions, and
the one safe join of a file name onto its folder. The lowest layer: imports nothing of ours."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

BOX_COLUMNS = ["bbox_x", "bbox_y", "bbox_w", "bbox_h"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def empty_images() -> pd.DataFrame:
    frame = pd.DataFrame({
        "file_name": pd.Series(dtype=object), "path": pd.Series(dtype=object),
        "width": pd.Series(dtype="Int64"), "height": pd.Series(dtype="Int64")})
    frame.index = pd.Index([], dtype="int64", name="image_id")
    return frame


def empty_annotations() -> pd.DataFrame:
    frame = pd.DataFrame({
        "image_id": pd.Series(dtype="int64"), "category_id": pd.Series(dtype="int64"),
        "category": pd.Series(dtype=object),
        **{c: pd.Series(dtype="float64") for c in BOX_COLUMNS},
        "area": pd.Series(dtype="float64"), "iscrowd": pd.Series(dtype=bool),
        "segmentation": pd.Series(dtype=object)})
    frame.index = pd.Index([], dtype="int64", name="annotation_id")
    return frame


def empty_predictions() -> pd.DataFrame:
    frame = pd.DataFrame({
        "image_id": pd.Series(dtype="int64"), "category_id": pd.Series(dtype="int64"),
        "category": pd.Series(dtype=object),
        **{c: pd.Series(dtype="float64") for c in BOX_COLUMNS},
        "score": pd.Series(dtype="float64")})
    frame.index = pd.Index([], dtype="int64", name="prediction_id")
    return frame


def empty_categories() -> pd.DataFrame:
    frame = pd.DataFrame({"name": pd.Series(dtype=object),
                          "supercategory": pd.Series(dtype=object)})
    frame.index = pd.Index([], dtype="int64", name="category_id")
    return frame


def safe_join(root: Path, name: str) -> Path | None:
    """``root / name`` if it stays inside ``root``; None for absolute names or ``..`` escapes.

    File names come from annotation files written by other people: a name like
    ``../../etc/passwd`` must never make us read (or, on export, write) outside the folder.
    """
    if not isinstance(name, str) or not name or "\x00" in name:
        return None
    candidate = Path(name)
    if candidate.is_absolute() or candidate.drive:
        return None
    if not relative_parts(candidate.parts):
        return None
    return Path(root).absolute() / candidate


def relative_parts(parts) -> list[str] | None:
    """The parts of a relative name with "" and "." dropped and ".." applied; None when a ".."
    climbs above the start (the name leaves its folder). The rule of :func:`safe_join` and of
    ``storage.join`` for URLs."""
    out: list[str] = []
    for part in parts:
        if part == "..":
            if not out:
                return None
            out.pop()
        elif part not in ("", "."):
            out.append(part)
    return out

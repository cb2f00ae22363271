"""Where an export's files go: safe names for image copies (nothing outside ``out``), the
atomic target with its refusals, the marker of a previous export, and the copies of the image
files (see the package docstring for the rules)."""
from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import pandas as pd

from ..data import _io
from ..errors import ExportError
from ..jsonsafe import dumps

MARKER = ".quality-widgets-export"


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
        from ..errors import warn_rows
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

"""Helpers shared by the format readers: JSON reading and vectorised row validation."""
from __future__ import annotations

import contextlib
import errno
import gc
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ..errors import DatasetError, warn_rows
from . import storage
from .schema import IMAGE_EXTENSIONS, safe_join

try:  # optional: 3-4x faster parsing of large results files; the standard library otherwise
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None


@contextmanager
def no_gc():
    """The cyclic garbage collector paused: parsing (or converting) creates millions of dicts,
    lists and strings, none of them garbage, and each collection walks every live container (a
    56 MB results file of masks parses 2-3x faster without it). Re-enabled on exit if it was
    on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_json(path, what: str):
    """Parse a JSON file (a path or an fsspec URL), raising :class:`DatasetError` that names the
    file on any failure."""
    path = storage.path_or_url(path)
    try:
        if isinstance(path, str):
            raw = _read_url(path, what)
        else:
            with open(path, "rb") as f:
                raw = f.read()
        with no_gc():
            if _orjson is not None:
                try:
                    return _orjson.loads(raw)
                except _orjson.JSONDecodeError:
                    pass  # let the standard parser produce the line/column message (and NaN)
            return json.loads(raw)
    except FileNotFoundError:
        raise DatasetError(path, f"{what} file not found") from None
    except IsADirectoryError:
        raise DatasetError(path, f"expected a {what} JSON file, got a directory") from None
    except PermissionError as e:
        raise DatasetError(path, f"cannot read {what} file: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise DatasetError(path, f"{what} file is not UTF-8 text JSON ({e.reason})") from None
    except json.JSONDecodeError as e:
        raise DatasetError(path, f"{what} file is not valid JSON: {e.msg} at line {e.lineno} "
                                 f"column {e.colno}") from None


def _read_url(url: str, what: str) -> bytes:
    try:
        return storage.read_bytes(url)
    except (FileNotFoundError, PermissionError, IsADirectoryError, DatasetError):
        raise
    except Exception as e:  # a store's own errors (HTTP 403, no credentials, a timeout...)
        raise DatasetError(url, f"cannot read {what} file: {type(e).__name__}: {e}") from None


def to_float(values) -> np.ndarray:
    """Convert a sequence of JSON scalars to float64; non-numbers become NaN."""
    try:
        return np.asarray(values, dtype="float64")
    except (TypeError, ValueError):
        out = np.empty(len(values), dtype="float64")
        for i, v in enumerate(values):
            try:
                out[i] = float(v) if not isinstance(v, (bool, str)) else np.nan
            except (TypeError, ValueError):
                out[i] = np.nan
        return out


def to_int(values) -> tuple[np.ndarray, np.ndarray]:
    """JSON scalars to int64; returns (ints, ok mask). Floats with a fraction are not ok."""
    floats = to_float(values)
    ok = np.isfinite(floats) & (floats == np.round(floats))
    ints = np.where(ok, floats, 0).astype("int64")
    return ints, ok


def boxes_from(values, file, label) -> tuple[np.ndarray, np.ndarray]:
    """(n, 4) float boxes from a list of ``bbox`` values; rows that are not 4 finite numbers
    come back as NaN and ``ok`` False."""
    n = len(values)
    try:
        arr = np.asarray(values, dtype="float64")
        if arr.shape != (n, 4):
            raise ValueError
    except (TypeError, ValueError):
        arr = np.full((n, 4), np.nan)
        for i, v in enumerate(values):
            if isinstance(v, (list, tuple)) and len(v) == 4:
                with contextlib.suppress(TypeError, ValueError):
                    arr[i] = [float(x) if not isinstance(x, (bool, str)) else np.nan for x in v]
    ok = np.isfinite(arr).all(axis=1)
    return arr, ok


def drop_bad(frame: pd.DataFrame, bad: np.ndarray, file, problem: str, label: str,
             total: int, values=None, field: str | None = None) -> pd.DataFrame:
    """Warn about and drop the rows where ``bad`` is True; rows are named by their id (the
    ``id`` column of annotations, the 1-based ``prediction_id`` of predictions) or
    ``label[position]``, with the bad value when ``values`` (aligned with ``frame``: the raw
    values of ``field``) is given."""
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        positions = np.flatnonzero(bad)
        file_positions = frame["_pos"].to_numpy()[positions]
        if label == "predictions":
            names = [f"prediction_id {p + 1}" for p in file_positions]
        elif "id" in frame and field != "id" and frame["id"].dtype.kind == "i":
            kind = {"images": "image", "annotations": "annotation", "categories": "category"}
            names = [f"{kind.get(label, label)} id {i}" for i in frame["id"].to_numpy()[positions]]
        else:
            names = [f"{label}[{p}]" for p in file_positions]
        if values is not None:
            raw = list(values) if not isinstance(values, np.ndarray) else values
            names = [f"{n} ({field or 'value'} {_short(raw[p])})"
                     for n, p in zip(names, positions, strict=True)]
        warn_rows(file, problem, names, total)
        frame = frame.loc[~bad]
    return frame


def _short(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def image_size(path) -> tuple[int, int] | None:
    """(width, height) from the file header, after EXIF orientation; None if unreadable."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            try:
                orientation = im.getexif().get(0x0112, 1)
            except Exception:  # a broken EXIF block must not hide a readable image
                orientation = 1
            if orientation in (5, 6, 7, 8):
                w, h = h, w
            return int(w), int(h)
    except Exception:
        return None


def list_images(images_dir, recursive: bool = True) -> list[str]:
    """Relative paths (POSIX) of image files below ``images_dir`` (a folder or a URL), sorted.
    Sub-folders that are symbolic links are followed (each real folder once). No image at all is
    a :class:`DatasetError` saying what the folder holds instead."""
    if storage.is_url(images_dir):
        names = storage.list_files(images_dir, IMAGE_EXTENSIONS)
        names = names if recursive else [n for n in names if "/" not in n]
        if not names:
            raise DatasetError(images_dir, f"no image files ({', '.join(IMAGE_EXTENSIONS)}) "
                                           "at this URL or below")
        return names
    root = Path(images_dir)
    if not root.is_dir():
        raise DatasetError(root, "images folder not found or not a folder")
    names = []
    if recursive:
        seen = set()
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            real = os.path.realpath(dirpath)
            if real in seen:            # a link back up the tree: do not loop
                dirnames[:] = []
                continue
            seen.add(real)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel = Path(dirpath).relative_to(root)
            for fn in filenames:
                if fn.lower().endswith(IMAGE_EXTENSIONS) and not fn.startswith("."):
                    names.append((rel / fn).as_posix())
    else:
        names = [p.name for p in root.iterdir()
                 if p.is_file() and p.name.lower().endswith(IMAGE_EXTENSIONS)]
    if not names:
        raise DatasetError(root, no_images_message(root))
    return sorted(names)


def no_images_message(root) -> str:
    """Why a folder listing found no image file, with what the folder holds instead."""
    root = Path(root)
    try:
        entries = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
    except OSError:
        entries = []
    message = f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in this folder or below"
    if entries:
        more = f" and {len(entries) - 5} more" if len(entries) > 5 else ""
        message += f"; it holds: {', '.join(entries[:5])}{more}"
    else:
        message += "; it is empty"
    return message


def images_frame(images_dir, file_names, ids=None, widths=None, heights=None) -> pd.DataFrame:
    """Build the images frame; paths are joined safely (None for escaping names); missing sizes
    are read from the file headers (of local files: an image behind a URL is measured when
    its pixels are decoded)."""
    n = len(file_names)
    ids = np.arange(1, n + 1, dtype="int64") if ids is None else np.asarray(ids, dtype="int64")
    remote = storage.is_url(images_dir)
    paths = []
    for name in file_names:
        if images_dir is None:
            p = None
        else:
            p = storage.join(images_dir, name) if remote else safe_join(images_dir, name)
        paths.append(str(p) if p is not None else None)
    w = pd.array(widths if widths is not None else [pd.NA] * n, dtype="Int64")
    h = pd.array(heights if heights is not None else [pd.NA] * n, dtype="Int64")
    frame = pd.DataFrame({"file_name": list(file_names),
                          "path": pd.Series(paths, dtype=object, index=ids),
                          "width": w, "height": h},
                         index=pd.Index(ids, name="image_id"))
    missing = frame["width"].isna() | frame["height"].isna()
    if missing.any() and not remote:
        for image_id in frame.index[missing.to_numpy()]:
            path = frame.at[image_id, "path"]
            size = image_size(path) if path else None
            if size is not None:
                frame.at[image_id, "width"], frame.at[image_id, "height"] = size
    return frame


@contextmanager
def atomic_target(out, overwrite: bool = True, check=None):
    """Yield a path beside ``out`` to write a file or a folder to; on success it becomes ``out``.

    The one atomic writer: metrics folders, cache parts, thumbnails, exports and fixed
    annotation files all go through it, so a reader never sees a half-written file and an
    interrupted writer leaves nothing behind. The staged path does not exist yet; whatever
    creates it (``open``, ``to_parquet``, ``mkdir``) gives it the permissions of any new file
    (0644 under umask 022), unlike ``mkstemp``'s 0600.

    ``overwrite=True`` replaces an existing ``out``: the old one is moved aside first and put
    back if the new one cannot be moved in. ``overwrite=False`` never replaces anything: an
    existing ``out`` is refused before anything is written, and a file is committed with a
    hard link, which also fails when ``out`` appeared while it was being written
    (:class:`FileExistsError`). ``check(out)``: called before writing and again before the
    commit, to refuse a target by the caller's own rule (the export's "not a previous export").
    A writer that produces nothing is a :class:`FileNotFoundError`.
    """
    out = Path(out).absolute()

    def refuse_existing():
        if check is not None:
            check(out)
        if not overwrite and os.path.lexists(out):
            raise FileExistsError(errno.EEXIST, "exists already; nothing replaced", str(out))

    refuse_existing()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    staged = work / "payload"
    try:
        yield staged
        if not os.path.lexists(staged):
            raise FileNotFoundError(errno.ENOENT, "the writer produced nothing", str(out))
        refuse_existing()
        if os.path.lexists(out):
            # Move the old target aside first, so it stays intact until the new one is in place.
            previous = work / "previous"
            os.rename(out, previous)
            try:
                os.rename(staged, out)
            except BaseException:
                os.rename(previous, out)
                raise
        elif staged.is_dir() or overwrite:
            os.rename(staged, out)
        else:
            _link_new(staged, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _atomic(path, write, overwrite: bool = True) -> None:
    """``write(tmp)`` through :func:`atomic_target`."""
    with atomic_target(path, overwrite) as tmp:
        write(str(tmp))


def _link_new(staged: Path, path: Path) -> None:
    """Move the file ``staged`` to ``path`` only if ``path`` does not exist (atomically where
    hard links exist)."""
    try:
        os.link(staged, path)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "exists already; nothing replaced",
                              str(path)) from None
    except OSError:  # no hard links here (FAT, some network file systems)
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "exists already; nothing replaced",
                                  str(path)) from None
        os.replace(staged, path)


def write_parquet_atomic(frame: pd.DataFrame, path, index: bool = True) -> None:
    """Write ``frame`` to ``path`` as Parquet through a unique temporary file in the same
    folder and a rename: a reader never sees a half-written file, and concurrent writers do
    not share a temporary name. File mode as for any new file (0644 under umask 022)."""
    _atomic(path, lambda tmp: frame.to_parquet(tmp, index=index))


def write_table_atomic(table, path) -> None:
    """Write a pyarrow ``table`` to ``path`` as Parquet, like :func:`write_parquet_atomic`."""
    import pyarrow.parquet as pq
    _atomic(path, lambda tmp: pq.write_table(table, tmp))


def write_text_atomic(text: str, path, overwrite: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` like :func:`write_parquet_atomic`; with
    ``overwrite=False`` an existing ``path`` is left as it is and :class:`FileExistsError`
    raised (see :func:`_atomic`)."""
    _atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), overwrite)


def write_bytes_atomic(data: bytes, path) -> None:
    """Write ``data`` to ``path`` like :func:`write_parquet_atomic`."""
    _atomic(path, lambda tmp: Path(tmp).write_bytes(data))

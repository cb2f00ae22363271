"""The metric frames: the result of :func:`compute_metrics`, one DataFrame per level.

``images`` (index ``image_id``), ``objects`` (index ``annotation_id``) and ``predictions``
(index ``prediction_id``): identifying columns first (file name, category, box, score), then
one column per metric, then ``error`` (None, or "what failed: why").
"""
from __future__ import annotations

import difflib
import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .data._io import write_table_atomic, write_text_atomic
from .data.storage import filesystem as storage_filesystem
from .data.storage import path_or_url
from .errors import DatasetError
from .jsonsafe import dumps

LEVELS = ("image", "object", "prediction")
FRAME_OF_LEVEL = {"image": "images", "object": "objects", "prediction": "predictions"}
INDEX_OF_LEVEL = {"image": "image_id", "object": "annotation_id", "prediction": "prediction_id"}

# Columns that identify a row rather than measure it: never offered as a metric to plot or test.
ID_COLUMNS = frozenset({
    "image_id", "annotation_id", "prediction_id", "category_id", "license", "duplicate_group",
    "phash", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "iscrowd", "size_mismatch",
    "track_id", "frame_index", "timestamp",
})


def closest_names(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``candidates`` closest to ``name`` (``difflib`` ratio >= 0.6, ignoring case;
    a candidate that contains ``name`` or is contained in it counts too), best first."""
    candidates = [str(c) for c in dict.fromkeys(candidates)]
    lower = {c.lower(): c for c in candidates}
    key = str(name).lower()
    found = [lower[c] for c in difflib.get_close_matches(key, list(lower), n=n, cutoff=0.6)]
    if len(found) < n and len(key) >= 3:
        found += [c for c in candidates if c not in found and (key in c.lower() or (
            len(c) >= 3 and c.lower() in key))][:n - len(found)]
    return found


def resolve_name(name, candidates: Iterable, what: str = "name", hint: str | None = None,
                 show: int = 60):
    """``name`` if it is one of ``candidates``, else :class:`KeyError` with a message that says
    what was asked, the closest valid names ("did you mean ...?") and the valid names (the
    first ``show``). The one answer to "is this name known?" for every entry point: metric
    columns (``hypothesis --metric``, ``Explorer(metric=...)``, test-case ranges, ``--where``),
    categories (``--category``), measures. Matching is exact (no silent correction)."""
    candidates = list(dict.fromkeys(candidates))
    if name in candidates:
        return name
    raise KeyError(unknown_name_message(name, candidates, what, hint, show))


def unknown_name_message(name, candidates, what: str = "name", hint: str | None = None,
                         show: int = 60) -> str:
    """The message of :func:`resolve_name` (for callers that raise their own error type)."""
    candidates = [str(c) for c in dict.fromkeys(candidates)]
    close = [repr(c) for c in closest_names(str(name), candidates)]
    parts = [f"unknown {what} {name!r}"]
    if close:
        alternatives = close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"
        parts[0] += f" (did you mean {alternatives}?)"
    if not candidates:
        parts.append(f"there is no {what} to choose from")
    else:
        listed = ", ".join(sorted(candidates)[:show])
        more = f" and {len(candidates) - show} more" if len(candidates) > show else ""
        parts.append(f"valid: {listed}{more}")
    message = "; ".join(parts)
    return f"{message}. {hint}" if hint else message


def numeric_metric_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of ``frame`` that hold a numeric quality value (built-in, custom, or added by hand),
    in frame order: numbers and booleans, minus identifying columns."""
    out = []
    for col in frame.columns:
        if col in ID_COLUMNS or str(col).startswith("_"):
            continue
        dtype = frame[col].dtype
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            out.append(col)
    return out


@dataclass
class MetricFrames:
    """Metric values of a dataset at the three levels, plus what produced them."""

    images: pd.DataFrame
    objects: pd.DataFrame
    predictions: pd.DataFrame
    dataset: object = None                     # the Dataset they were computed on
    metrics: dict = field(default_factory=dict)  # column name -> Metric (description, version)
    cache_dir: object = None
    stats: dict = field(default_factory=dict)    # computed / from cache / errors counts
    sources: dict = field(default_factory=dict)  # read back from a folder: how to reload the
    #                                              dataset (``dataset.json``, see write_metrics)

    def frame(self, level: str) -> pd.DataFrame:
        """The frame of ``level``: "image"/"images", "object"/"objects", "prediction"/..."""
        level = level.rstrip("s")
        if level not in FRAME_OF_LEVEL:
            raise ValueError(f"unknown level {level!r}: expected one of {', '.join(LEVELS)}")
        return getattr(self, FRAME_OF_LEVEL[level])

    def metric_columns(self, level: str) -> list[str]:
        return numeric_metric_columns(self.frame(level))

    def level_of(self, column: str) -> str:
        """The level whose frame holds ``column`` (image first, then object, prediction)."""
        for level in LEVELS:
            if column in self.frame(level).columns:
                return level
        resolve_name(column, self.all_metric_columns(), "metric column")

    def all_metric_columns(self) -> list[str]:
        """The numeric metric columns of every level, each once (image level first)."""
        return list(dict.fromkeys(c for lv in LEVELS for c in self.metric_columns(lv)))

    def errors(self) -> pd.DataFrame:
        """All rows with an error, across levels: level, id, file_name, error."""
        parts = []
        for level in LEVELS:
            f = self.frame(level)
            if "error" not in f:
                continue
            bad = f[f["error"].notna()]
            if len(bad):
                parts.append(pd.DataFrame({"level": level, "id": bad.index.to_numpy(),
                                           "file_name": bad.get("file_name"),
                                           "error": bad["error"].to_numpy()}))
        if not parts:
            return pd.DataFrame(columns=["level", "id", "file_name", "error"])
        return pd.concat(parts, ignore_index=True)

    def __repr__(self) -> str:
        n_err = int(self.images["error"].notna().sum()) if "error" in self.images else 0
        return (f"<MetricFrames: {len(self.images)} images, {len(self.objects)} objects, "
                f"{len(self.predictions)} predictions; {len(self.metrics)} metrics; "
                f"{n_err} image errors>")


# ---- the metrics folder: the one reader and writer ---------------------------------------------
IMAGES_PER_PART = 50_000   # a part file holds the rows of this many images (at each level)
DATASET_FILE = "dataset.json"


def write_metrics(frames: MetricFrames, out, images_per_part: int = IMAGES_PER_PART) -> dict:
    """Write the three frames into the folder ``out`` (a path or an fsspec URL, created) as
    Parquet datasets ``images.parquet/``, ``objects.parquet/`` and ``predictions.parquet/``;
    returns ``{level: dataset path}``.

    Each dataset is a folder of part files, one per group of ``images_per_part`` images (the
    rows of those images at every level), all with one schema, so pandas, pyarrow and
    ``dask.dataframe.read_parquet`` read the folder as one table (rows in the frame's order
    within a part, parts in the images' order: one part keeps the frame's order exactly).
    Each part is written atomically (a temporary name, then a rename, with the mode of any new
    file; an object store publishes a file whole); parts of an earlier run in the same folder
    are removed once the new ones are written.

    With the dataset's sources known (a Dataset loaded from files), also ``dataset.json``: the
    loader and the files, so that an export from the folder reloads the labels whole
    (segmentation, licences, URLs, every category), which the Parquet frames do not hold.
    """
    out = path_or_url(out)
    fs, root = _filesystem(out)
    if fs.isfile(root):
        raise DatasetError(out, "--out must be a folder, and this is an existing file")
    fs.makedirs(root, exist_ok=True)
    root = root.rstrip("/")
    groups = _image_groups(frames.images.index, images_per_part)
    n_parts = max(1, -(-len(groups) // max(1, int(images_per_part))))
    token = uuid.uuid4().hex[:8]
    paths = {}
    for level, name in FRAME_OF_LEVEL.items():
        folder = f"{root}/{name}.parquet"
        if fs.isfile(folder):       # a single file written by an earlier version
            fs.rm(folder)
        fs.makedirs(folder, exist_ok=True)
        frame = frames.frame(level)
        table = pa.Table.from_pandas(frame, preserve_index=True)
        ids = frame.index if level == "image" else frame["image_id"]
        group_of = groups.reindex(ids.to_numpy()).fillna(0).to_numpy(dtype=np.int64)
        written = set()
        for g in range(n_parts):
            part = f"{folder}/part-{g:05d}-{token}.parquet"
            _write_part(fs, table.take(np.flatnonzero(group_of == g)), part)
            written.add(_same_path(fs, part))
        for old in fs.glob(f"{folder}/part-*.parquet"):
            if _same_path(fs, old) not in written:
                fs.rm(old)
        paths[level] = _child(out, f"{name}.parquet")
    sources = dataset_sources(frames.dataset) or frames.sources
    dataset_file = f"{root}/{DATASET_FILE}"
    if sources:
        paths["dataset"] = _child(out, DATASET_FILE)
        text = dumps(sources, indent=1) + "\n"
        if isinstance(fs, _LocalFS):
            write_text_atomic(text, dataset_file)
        else:
            with fs.open(dataset_file, "w", encoding="utf-8") as fh:
                fh.write(text)
    elif fs.isfile(dataset_file):
        fs.rm(dataset_file)   # an older run's sources would be wrong
    return paths


def _child(out, name: str):
    return f"{out.rstrip('/')}/{name}" if isinstance(out, str) else out / name


def dataset_sources(dataset) -> dict:
    """How to reload ``dataset``: ``{"loader": "coco"|"yolo"|"folder", "images_dir", and the
    files it read}``; {} for a Dataset built in memory."""
    sources = dict(getattr(dataset, "sources", None) or {})
    loader = sources.get("loader")
    if loader not in ("coco", "yolo", "folder"):
        return {}
    images_dir = getattr(dataset, "images_dir", None)
    return {"loader": loader, "images_dir": str(images_dir) if images_dir else None,
            **{k: v for k, v in sources.items() if k != "loader" and isinstance(v, str)}}


def _filesystem(location):
    if isinstance(location, str):
        return storage_filesystem(location)
    return _LocalFS(), str(Path(location).absolute())


def _image_groups(image_ids: pd.Index, per_part: int) -> pd.Series:
    """image_id -> part number (images in frame order, ``per_part`` to a part)."""
    per_part = max(1, int(per_part))
    return pd.Series(np.arange(len(image_ids)) // per_part, index=image_ids.to_numpy())


def _write_part(fs, table: pa.Table, path: str) -> None:
    if isinstance(fs, _LocalFS):
        write_table_atomic(table, path)
        return
    with fs.open(path, "wb") as fh:    # an object store makes the file visible whole, on close
        pq.write_table(table, fh)


def _same_path(fs, path: str) -> str:
    return os.path.normpath(path) if isinstance(fs, _LocalFS) else fs._strip_protocol(path)


class _LocalFS:
    """The few file operations write_metrics needs, on local paths (no fsspec needed)."""

    def isfile(self, path) -> bool:
        return os.path.isfile(path)

    def makedirs(self, path, exist_ok=True) -> None:
        os.makedirs(path, exist_ok=exist_ok)

    def rm(self, path) -> None:
        os.remove(path)

    def glob(self, pattern) -> list:
        return [str(p) for p in Path(pattern).parent.glob(Path(pattern).name)]


def read_metrics(folder) -> MetricFrames:
    """The :class:`MetricFrames` of a folder written by :func:`write_metrics` (the
    ``quality-widgets metrics --out`` command), a local path or an fsspec URL. Each level is
    a Parquet dataset folder or a single Parquet file: ``images.parquet`` is required, a
    missing ``objects.parquet`` or ``predictions.parquet`` is an empty frame."""
    folder = path_or_url(folder)
    remote = isinstance(folder, str)
    fs, root = storage_filesystem(folder) if remote else (None, folder)
    exists = (lambda p: fs.exists(p)) if remote else (lambda p: Path(p).exists())
    if not (fs.isdir(root) if remote else Path(folder).is_dir()):
        raise DatasetError(folder, "metrics folder not found (write one with "
                                   "`quality-widgets metrics --out DIR`)")
    if not exists(f"{str(root).rstrip('/')}/images.parquet"):
        raise DatasetError(folder, "no images.parquet: is this a folder written by "
                                   "`quality-widgets metrics --out`?")
    frames = {}
    for level, name in FRAME_OF_LEVEL.items():
        file, index = f"{str(root).rstrip('/')}/{name}.parquet", INDEX_OF_LEVEL[level]
        shown = f"{str(folder).rstrip('/')}/{name}.parquet"
        if exists(file):
            try:
                frame = pd.read_parquet(file, filesystem=fs) if remote else pd.read_parquet(file)
            except Exception as e:  # pyarrow raises several kinds for a damaged file
                raise DatasetError(shown, f"not a readable Parquet file ({e})") from None
            if frame.index.name != index and index in frame.columns:
                frame = frame.set_index(index)
        else:
            frame = pd.DataFrame(index=pd.Index([], dtype="int64", name=index))
        frames[name] = frame
    sources = {}
    dataset_file = f"{str(root).rstrip('/')}/{DATASET_FILE}"
    if (fs.isfile(dataset_file) if remote else Path(dataset_file).is_file()):
        shown = f"{str(folder).rstrip('/')}/{DATASET_FILE}"
        try:
            if remote:
                with fs.open(dataset_file, "r", encoding="utf-8") as fh:
                    sources = json.loads(fh.read())
            else:
                sources = json.loads(Path(dataset_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DatasetError(shown, f"not readable JSON ({e})") from None
    return MetricFrames(**frames, cache_dir=folder, sources=sources)


def as_metric_frames(data) -> MetricFrames:
    """``data`` itself if it is :class:`MetricFrames`; a metrics folder (path) read by
    :func:`read_metrics`."""
    if isinstance(data, MetricFrames):
        return data
    if isinstance(data, (str, Path)):
        return read_metrics(data)
    raise TypeError(f"expected MetricFrames (from compute_metrics) or a metrics folder, got "
                    f"{type(data).__name__}")

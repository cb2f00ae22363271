"""The metric frames: the result of :func:`compute_metrics`, one DataFrame per level.

``images`` (index ``image_id``), ``objects`` (index ``annotation_id``) and ``predictions``
(index ``prediction_id``): identifying columns first (file name, category, box, score), then
one column per metric, then ``error`` (None, or "what failed: why").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .data._io import write_parquet_atomic
from .errors import DatasetError

LEVELS = ("image", "object", "prediction")
FRAME_OF_LEVEL = {"image": "images", "object": "objects", "prediction": "predictions"}
INDEX_OF_LEVEL = {"image": "image_id", "object": "annotation_id", "prediction": "prediction_id"}

# Columns that identify a row rather than measure it: never offered as a metric to plot or test.
ID_COLUMNS = frozenset({
    "image_id", "annotation_id", "prediction_id", "category_id", "license", "duplicate_group",
    "phash", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "iscrowd", "size_mismatch",
    "track_id", "frame_index", "timestamp",
})


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
        known = sorted(set().union(*(self.metric_columns(lv) for lv in LEVELS)))
        raise KeyError(f"no metric column {column!r}; known: {', '.join(known)}")

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
def write_metrics(frames: MetricFrames, out) -> dict:
    """Write ``images.parquet``, ``objects.parquet`` and ``predictions.parquet`` into the folder
    ``out`` (created), each atomically; returns ``{level: path}``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetError(out, "--out must be a folder, and this is an existing file")
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for level, name in FRAME_OF_LEVEL.items():
        paths[level] = out / f"{name}.parquet"
        write_parquet_atomic(frames.frame(level), paths[level])
    return paths


def read_metrics(folder) -> MetricFrames:
    """The :class:`MetricFrames` of a folder written by :func:`write_metrics` (the
    ``quality-widgets metrics --out`` command): ``images.parquet`` is required, a missing
    ``objects.parquet`` or ``predictions.parquet`` is an empty frame."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(folder, "metrics folder not found (write one with "
                                   "`quality-widgets metrics --out DIR`)")
    if not (folder / "images.parquet").is_file():
        raise DatasetError(folder, "no images.parquet: is this a folder written by "
                                   "`quality-widgets metrics --out`?")
    frames = {}
    for level, name in FRAME_OF_LEVEL.items():
        file, index = folder / f"{name}.parquet", INDEX_OF_LEVEL[level]
        if file.is_file():
            try:
                frame = pd.read_parquet(file)
            except Exception as e:  # pyarrow raises several kinds for a damaged file
                raise DatasetError(file, f"not a readable Parquet file ({e})") from None
            if frame.index.name != index and index in frame.columns:
                frame = frame.set_index(index)
        else:
            frame = pd.DataFrame(index=pd.Index([], dtype="int64", name=index))
        frames[name] = frame
    return MetricFrames(**frames, cache_dir=folder)


def as_metric_frames(data) -> MetricFrames:
    """``data`` itself if it is :class:`MetricFrames`; a metrics folder (path) read by
    :func:`read_metrics`."""
    if isinstance(data, MetricFrames):
        return data
    if isinstance(data, (str, Path)):
        return read_metrics(data)
    raise TypeError(f"expected MetricFrames (from compute_metrics) or a metrics folder, got "
                    f"{type(data).__name__}")

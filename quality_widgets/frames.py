"""The metric frames: the result of :func:`compute_metrics`, one DataFrame per level.

``images`` (index ``image_id``), ``objects`` (index ``annotation_id``) and ``predictions``
(index ``prediction_id``): identifying columns first (file name, category, box, score), then
one column per metric, then ``error`` (None, or "what failed: why").
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd

from .data._io import write_parquet_atomic, write_text_atomic
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
def write_metrics(frames: MetricFrames, out) -> dict:
    """Write ``images.parquet``, ``objects.parquet`` and ``predictions.parquet`` into the folder
    ``out`` (created), each atomically; returns ``{level: path}``. With the dataset's sources
    known (a Dataset loaded from files), also ``dataset.json``: the loader and the files, so
    that an export from the folder reloads the labels whole (segmentation, licences, URLs,
    every category), which the Parquet frames do not hold."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetError(out, "--out must be a folder, and this is an existing file")
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for level, name in FRAME_OF_LEVEL.items():
        paths[level] = out / f"{name}.parquet"
        write_parquet_atomic(frames.frame(level), paths[level])
    sources = dataset_sources(frames.dataset) or frames.sources
    if sources:
        paths["dataset"] = out / DATASET_FILE
        write_text_atomic(dumps(sources, indent=1) + "\n", paths["dataset"])
    else:
        (out / DATASET_FILE).unlink(missing_ok=True)   # an older run's sources would be wrong
    return paths


DATASET_FILE = "dataset.json"


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
    sources = {}
    if (folder / DATASET_FILE).is_file():
        import json
        try:
            sources = json.loads((folder / DATASET_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DatasetError(folder / DATASET_FILE, f"not readable JSON ({e})") from None
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

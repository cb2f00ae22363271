"""Step 4 of :func:`~quality_widgets.compute.engine.compute_metrics`, assemble: cached and
new values into the three frames, then the ``scope="dataset"`` metrics over whole columns,
then one warning summing up the errors. Also the long frame of finished results that the
cache stores (:func:`_cache_frame`)."""
from __future__ import annotations

import math
import traceback
import warnings

import numpy as np
import pandas as pd

from ..data.dataset import Dataset
from ..data.schema import BOX_COLUMNS
from ..errors import DataWarning
from ..frames import MetricFrames
from ._keys import Keys, _item_frames
from ._plan import Plan
from ._worker import _describe
from .registry import Metric


def _results_frame(results, keys_by_id) -> pd.DataFrame:
    """Long rows of new results: level, image_key, item_key, error, one column per metric."""
    rows = {"level": [], "image_key": [], "item_key": [], "error": []}
    columns: dict[str, list] = {}
    n = 0
    for r in results:
        image_key = keys_by_id[r["image_id"]]
        for level, block in r["levels"].items():
            k = len(block["keys"])
            rows["level"].extend([level] * k)
            rows["image_key"].extend([image_key] * k)
            rows["item_key"].extend(block["keys"])
            rows["error"].extend(block["errors"])
            for key, vals in block["values"].items():
                col = columns.get(f"{level}:{key}")
                if col is None:       # not setdefault: its default list would cost O(n) each
                    col = columns[f"{level}:{key}"] = [np.nan] * n
                col.extend(vals)
            n += k
            for col in columns.values():
                if len(col) < n:
                    col.extend([np.nan] * (n - len(col)))
    frame = pd.DataFrame(rows)
    for c, vals in columns.items():  # object dtype: ints (hashes) must not become floats
        frame[c] = pd.Series(vals, dtype=object, index=frame.index)
    return frame


def _cache_frame(results) -> tuple[pd.DataFrame, list[str]]:
    """The cache part for finished results (complete images, pixels decoded fine)."""
    long = _results_frame(results, {r["image_id"]: r["image_key"] for r in results})
    covered = sorted({c for c in long.columns if ":" in c})
    out = long[["level", "image_key", "item_key", "error"]].copy()
    by_key: dict[str, np.ndarray] = {}
    for c in covered:
        level, key = c.split(":", 1)
        mask = (long["level"] == level).to_numpy()
        arr = by_key.setdefault(key, np.full(len(long), np.nan, dtype=object))
        arr[mask] = long[c].to_numpy()[mask]
    for key, arr in by_key.items():
        out[key] = _typed(arr)
    return out, covered


def _typed(values):
    """float64; or int64 (nullable Int64 if some are missing) when every present value is an
    integer (hashes, counts), which float64 could not hold exactly."""
    arr = np.asarray(values, dtype=object)
    if set(map(type, arr)) <= {float}:     # floats and NaN only (most columns): one cast
        return arr.astype(np.float64)
    missing = np.array([v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                        for v in arr], dtype=bool)
    present = arr[~missing]
    if len(present) and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                            for v in present):
        if not missing.any():
            return arr.astype(np.int64)
        return pd.array([None if m else int(v) for v, m in zip(arr, missing, strict=True)],
                        dtype="Int64")
    return np.array([np.nan if m else v for v, m in zip(arr, missing, strict=True)],
                    dtype=np.float64)


def _fill(target: np.ndarray, index: pd.MultiIndex, source: pd.Series) -> None:
    """target[i] = source[index[i]] where index[i] is in source (object arrays, ints kept)."""
    source = source[~source.index.duplicated(keep="last")]
    pos = source.index.get_indexer(index)
    hit = pos >= 0
    target[hit] = source.to_numpy(dtype=object)[pos[hit]]


def _assemble(dataset: Dataset, plan: Plan, keys: Keys, results: list) -> dict:
    """level -> frame: identifying columns, one column per item metric, ``error``."""
    new_rows = _results_frame(results, keys_by_id=keys.of_image)
    decode_errors = {r["image_id"]: r["decode_error"] for r in results if r["decode_error"]}
    new_index = (pd.MultiIndex.from_arrays([new_rows["image_key"], new_rows["item_key"]])
                 if len(new_rows) else None)
    out = {}
    for level, frame in _base_frames(dataset).items():
        idx = keys.rows[level]
        level_rows = (new_rows["level"] == level).to_numpy() if len(new_rows) else None
        for m in plan.by_level[level]:
            col = np.full(len(idx), np.nan, dtype=object)
            old = plan.values.get((level, m.key))
            if old is not None and len(old):
                _fill(col, idx, old)
            c = f"{level}:{m.key}"
            if len(new_rows) and c in new_rows:
                _fill(col, idx, pd.Series(new_rows[c].to_numpy()[level_rows],
                                          index=new_index[level_rows]))
            frame[m.name] = _typed(col)
        new_errors = (pd.Series(new_rows["error"].to_numpy()[level_rows],
                                index=new_index[level_rows]) if len(new_rows) else None)
        errors = _errors(idx, plan.cached.get("error"), new_errors)
        ids = frame.index.to_numpy() if level == "image" else frame["image_id"].to_numpy()
        _prefix_decode_errors(errors, ids, decode_errors, level)
        frame["error"] = pd.Series(errors, index=frame.index, dtype=object)
        out[level] = frame
    return out


def _base_frames(dataset: Dataset) -> dict:
    """The identifying columns of each level: file, size; category, box, area or score."""
    images = dataset.images
    base = {"image": images[[c for c in ("file_name", "path", "width", "height", "video",
                                         "frame_index") if c in images]].copy()}
    for level, src in _item_frames(dataset).items():
        cols = ["image_id", "category_id", "category", *BOX_COLUMNS]
        cols += ["area", "iscrowd"] if level == "object" else ["score"]
        extra = [c for c in src.columns
                 if c not in cols and c not in ("segmentation", "scores", "keypoints")]
        frame = src[cols + extra].copy()
        frame.insert(1, "file_name", images["file_name"].reindex(frame["image_id"]).to_numpy())
        frame.insert(2, "path", images["path"].reindex(frame["image_id"]).to_numpy())
        base[level] = frame
    return base


def _errors(idx: pd.MultiIndex, cached: pd.Series | None, new: pd.Series | None) -> np.ndarray:
    """The error text of each row: the new run's where it computed the row, else the cache's."""
    err = pd.Series([None] * len(idx), index=idx, dtype=object)
    for source in (cached, new):
        if source is None or not len(idx):
            continue
        source = source[~source.index.duplicated(keep="last")]
        hit = idx.isin(source.index)
        err[hit] = source.reindex(idx[hit]).to_numpy()
    return np.array([e if isinstance(e, str) and e else None for e in err.to_numpy()],
                    dtype=object)


def _prefix_decode_errors(errors: np.ndarray, ids: np.ndarray, decode_errors: dict,
                          level: str) -> None:
    if not decode_errors:
        return
    prefix = "image" if level == "image" else "image of this box"
    for pos in np.flatnonzero(np.isin(ids, list(decode_errors))):
        errors[pos] = f"{prefix}: {decode_errors[ids[pos]]}" + (
            f"; {errors[pos]}" if errors[pos] else "")


def _check_sizes(frame: pd.DataFrame, images: pd.DataFrame) -> None:
    """Compare decoded sizes (the ``width``/``height`` metrics) with the annotation file's.

    Adds ``size_mismatch`` (True where both are known and differ: boxes are then measured
    against the decoded image, which is what the pixels are) and fills width/height from the
    file's entry where the image could not be decoded, so every row keeps a size. Mismatches
    are reported in one :class:`~quality_widgets.DataWarning`."""
    if "width" not in frame or "height" not in frame:
        return
    file_w = images["width"].reindex(frame.index)
    file_h = images["height"].reindex(frame.index)
    dec_w, dec_h = frame["width"], frame["height"]
    known = dec_w.notna() & dec_h.notna() & file_w.notna() & file_h.notna()
    mismatch = known & ((dec_w.astype("Float64") != file_w.astype("Float64"))
                        | (dec_h.astype("Float64") != file_h.astype("Float64")))
    frame["size_mismatch"] = mismatch.astype(bool).to_numpy()
    for col, fallback in (("width", file_w), ("height", file_h)):
        if frame[col].isna().any():
            frame[col] = pd.array(frame[col].astype("Float64").fillna(fallback.astype("Float64"))
                                  .round(), dtype="Int64")
    if mismatch.any():
        first = frame.index[mismatch.to_numpy()][0]
        warnings.warn(
            f"{int(mismatch.sum())} image(s) have a size in the annotation file that differs "
            f"from the decoded file (first: {frame.at[first, 'file_name']}: file entry "
            f"{file_w[first]}x{file_h[first]}, decoded {dec_w[first]}x{dec_h[first]}); see the "
            f"'size_mismatch' column. Box metrics use the decoded size.", DataWarning,
            stacklevel=3)


def _apply_dataset_metric(frames: MetricFrames, m: Metric) -> None:
    frame = frames.frame(m.level)
    try:
        result = m.func(frame, frames.dataset)
        if isinstance(result, pd.Series):
            result = result.to_frame(m.name)
        for col in m.output_columns:
            frame[col] = result[col].reindex(frame.index)
    except Exception as e:
        for col in m.output_columns:
            frame[col] = np.nan
        warnings.warn(f"dataset metric {m.name!r} failed: {_describe(e)}\n"
                      f"{traceback.format_exc(limit=3)}", RuntimeWarning, stacklevel=2)


def _warn_errors(frames: MetricFrames, show: int = 5) -> None:
    """One :class:`~quality_widgets.DataWarning` naming the first rows with an error."""
    errors = frames.errors()
    if errors.empty:
        return
    lines = []
    for level, group in errors.groupby("level", sort=False):
        lines.append(f"  {len(group)} {level} row(s) with errors, e.g.:")
        for _, row in group.head(show).iterrows():
            lines.append(f"    {row['file_name']} (id {row['id']}): {row['error']}")
    warnings.warn("some values could not be computed (see the 'error' column):\n"
                  + "\n".join(lines), DataWarning, stacklevel=3)

"""Parquet cache of metric values, keyed by file identity and metric name + version.

Layout: ``<cache_dir>/<folder id>/part-*.parquet``, one folder per images folder (or URL). A
part holds complete images only: one row per image, object and prediction of each image it
covers, with the columns ``level``, ``image_key`` (path, size, mtime or the store's ETag, and
the dataset's width x height),
``item_key`` (the box, category and id or score that the row's metrics depend on), ``error``,
and one column per metric key (``name@version``). The part's metadata lists the metrics it
covers (``level:name@version``): a row present in a part means those metrics were computed for
that item, NaN results included.

Parts are written to a temporary name and renamed, so a run killed at any moment leaves only
complete parts; the next run resumes from them. A part that cannot be read is skipped (and
reported), never half-trusted. Parts with the same metric set are merged after a run.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..data._io import write_table_atomic
from ..data.storage import is_url

META_KEY = b"quality_widgets.metrics"


def default_cache_dir() -> Path:
    base = os.environ.get("QUALITY_WIDGETS_CACHE") or os.environ.get("XDG_CACHE_HOME")
    if base and os.environ.get("QUALITY_WIDGETS_CACHE"):
        return Path(base)
    return Path(base or Path.home() / ".cache") / "quality-widgets"


def folder_id(images_dir) -> str:
    """A folder name for the cache of one images folder (or URL): readable name + hash."""
    if images_dir is None:
        text = "<no images folder>"
    else:
        text = images_dir if is_url(images_dir) else str(Path(images_dir).absolute())
    name = Path(text).name or "root"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:40]
    return f"{safe}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"


class MetricCache:
    """The cache of one images folder (see module doc)."""

    def __init__(self, root, images_dir):
        self.root = Path(root)
        self.dir = self.root / folder_id(images_dir)

    # ---- reading ---------------------------------------------------------------------------
    def _parts(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.glob("part-*.parquet") if p.is_file())

    def load(self, wanted: set[str]) -> dict[str, pd.Series]:
        """For each wanted ``level:name@version``, a Series of cached values indexed by
        (image_key, item_key), plus ``"error"`` -> Series of cached error texts."""
        found: dict[str, list[pd.Series]] = {}
        errors: list[pd.Series] = []
        for part in self._parts():
            try:
                meta = pq.read_schema(part).metadata or {}
                covered = json.loads(meta.get(META_KEY, b"[]"))
                use = [c for c in covered if c in wanted]
                if not use:
                    continue
                columns = sorted({c.split(":", 1)[1] for c in use})
                table = pq.read_table(part, columns=["level", "image_key", "item_key", "error",
                                                     *columns])
                frame = table.to_pandas(integer_object_nulls=True)
            except Exception as e:  # a damaged part is ignored: its images are recomputed
                warnings.warn(f"ignoring unreadable cache file {part}: {e}", RuntimeWarning,
                              stacklevel=2)
                continue
            index = pd.MultiIndex.from_arrays([frame["image_key"], frame["item_key"]])
            for c in use:
                level, key = c.split(":", 1)
                rows = (frame["level"] == level).to_numpy()
                found.setdefault(c, []).append(pd.Series(frame[key].to_numpy(dtype=object)[rows],
                                                         index=index[rows]))
            err = frame["error"].notna().to_numpy()
            if err.any():
                errors.append(pd.Series(frame["error"].to_numpy()[err], index=index[err]))
        out = {}
        for c, series in found.items():
            s = pd.concat(series) if len(series) > 1 else series[0]
            out[c] = s[~s.index.duplicated(keep="last")]
        if errors:
            e = pd.concat(errors)
            out["error"] = e[~e.index.duplicated(keep="last")]
        return out

    # ---- writing ---------------------------------------------------------------------------
    def write(self, frame: pd.DataFrame, covered: list[str]) -> Path | None:
        """Write one part atomically. ``frame`` has level, image_key, item_key, error and one
        column per metric key; ``covered`` lists ``level:name@version``."""
        if frame.empty:
            return None
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"part-{pd.Timestamp.now('UTC').strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
        final = self.dir / f"{name}.parquet"
        table = pa.Table.from_pandas(frame, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[META_KEY] = json.dumps(sorted(covered)).encode()
        table = table.replace_schema_metadata(meta)
        write_table_atomic(table, final)
        return final

    def compact(self) -> None:
        """Merge parts that cover the same metric set into one (fewer files to read later)."""
        groups: dict[str, list[Path]] = {}
        for part in self._parts():
            try:
                meta = pq.read_schema(part).metadata or {}
            except Exception:
                continue
            groups.setdefault(meta.get(META_KEY, b"[]").decode(), []).append(part)
        for covered, parts in groups.items():
            if len(parts) < 2:
                continue
            try:
                frames = [pq.read_table(p).to_pandas() for p in parts]
            except Exception:
                continue
            merged = pd.concat(frames, ignore_index=True)
            merged = merged.drop_duplicates(["level", "image_key", "item_key"], keep="last")
            if self.write(merged, json.loads(covered)) is not None:
                for p in parts:
                    with contextlib.suppress(OSError):
                        p.unlink()

    def clear(self) -> None:
        for p in self._parts():
            p.unlink()

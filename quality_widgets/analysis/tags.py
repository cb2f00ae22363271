"""Tags: names a person gives to rows (``"blurry"``, ``"relabel"``), kept beside the metric cache.

Stored long-form, one row per (level, id, tag), in ``<cache_dir>/tags.parquet`` so that an
Explorer opened later on the same frames shows them again. In a frame they appear as the
``tags`` column: the row's tag names, sorted and comma-separated (``""`` for none), which keeps
the column a plain string for CSV export and ``--where "tags.str.contains('blurry')"`` queries.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..data._io import write_parquet_atomic
from ..slicing import TAG_COLUMN, TAG_SEPARATOR, split_tags  # noqa: F401 (the tags API)

TAGS_FILE = "tags.parquet"


def join_tags(names) -> str:
    return TAG_SEPARATOR.join(sorted(set(names)))


def check_tag(name) -> str:
    """A tag name, stripped; ValueError for empty names or names with the separator."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a tag needs a non-empty name")
    name = name.strip()
    if TAG_SEPARATOR in name:
        raise ValueError(f"a tag name cannot contain {TAG_SEPARATOR!r}: {name!r}")
    return name


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"level": pd.Series(dtype=object), "id": pd.Series(dtype="int64"),
                         "tag": pd.Series(dtype=object)})


class TagStore:
    """The tags of one set of frames: in memory, and in ``path`` (a Parquet file) when given.

    Every change re-reads the file, applies the change and replaces the file atomically, so two
    explorers on the same cache do not lose each other's tags.
    """

    def __init__(self, path=None):
        self.path = Path(path) if path is not None else None
        self._rows = self._read()

    @classmethod
    def beside(cls, cache_dir) -> TagStore:
        """The store of ``<cache_dir>/tags.parquet`` (memory only when ``cache_dir`` is None)."""
        return cls(Path(cache_dir) / TAGS_FILE if cache_dir is not None else None)

    def _read(self) -> pd.DataFrame:
        if self.path is None or not self.path.exists():
            return _empty()
        rows = pd.read_parquet(self.path)
        return pd.DataFrame({"level": rows["level"].astype(str).to_numpy(dtype=object),
                             "id": rows["id"].to_numpy(dtype="int64"),
                             "tag": rows["tag"].astype(str).to_numpy(dtype=object)})

    def _write(self) -> None:
        if self.path is None:
            return
        write_parquet_atomic(self._rows, self.path, index=False)

    @property
    def rows(self) -> pd.DataFrame:
        """All tags: columns ``level``, ``id``, ``tag``."""
        return self._rows.copy()

    def names(self, level: str | None = None) -> list[str]:
        rows = self._rows if level is None else self._rows[self._rows["level"] == level]
        return sorted(rows["tag"].unique().tolist())

    def add(self, level: str, ids, tag: str) -> int:
        """Tag the rows ``ids`` of ``level`` with ``tag``; returns how many were newly tagged."""
        tag = check_tag(tag)
        ids = np.unique(np.asarray(list(ids) if not hasattr(ids, "__array__") else ids,
                                   dtype="int64"))
        self._rows = self._read() if self.path is not None else self._rows
        have = self._rows[(self._rows["level"] == level) & (self._rows["tag"] == tag)]["id"]
        new = ids[~np.isin(ids, have.to_numpy())]
        if new.size:
            add = pd.DataFrame({"level": [level] * new.size, "id": new, "tag": [tag] * new.size})
            self._rows = pd.concat([self._rows, add], ignore_index=True)
            self._write()
        return int(new.size)

    def remove(self, level: str, ids, tag: str) -> int:
        """Remove ``tag`` from the rows ``ids`` of ``level``; returns how many lost it."""
        tag = check_tag(tag)
        ids = np.asarray(list(ids) if not hasattr(ids, "__array__") else ids, dtype="int64")
        self._rows = self._read() if self.path is not None else self._rows
        drop = ((self._rows["level"] == level) & (self._rows["tag"] == tag)
                & self._rows["id"].isin(ids)).to_numpy()
        if drop.any():
            self._rows = self._rows[~drop].reset_index(drop=True)
            self._write()
        return int(drop.sum())

    def column(self, level: str, index: pd.Index) -> pd.Series:
        """The ``tags`` column for a frame of ``level`` with row ids ``index``."""
        rows = self._rows[self._rows["level"] == level]
        out = pd.Series("", index=index, dtype=object, name=TAG_COLUMN)
        if len(rows):
            joined = rows.groupby("id")["tag"].agg(join_tags)
            joined = joined[joined.index.isin(index)]
            out.loc[joined.index] = joined.to_numpy()
        return out

    def apply(self, frame: pd.DataFrame, level: str) -> pd.DataFrame:
        """Set ``frame[TAG_COLUMN]`` (in place) from the store; returns ``frame``."""
        frame[TAG_COLUMN] = self.column(level, frame.index).to_numpy()
        return frame

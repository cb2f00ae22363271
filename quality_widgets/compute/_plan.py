"""Step 2 of :func:`~quality_widgets.compute.engine.compute_metrics`, plan: which values the
cache already holds, and one :class:`~._worker.ImageJob` per image with something missing."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.dataset import Dataset
from ..data.schema import BOX_COLUMNS
from ..frames import LEVELS
from ._keys import Keys, _item_frames
from ._worker import ImageJob
from .cache import MetricCache


@dataclass
class Plan:
    """``by_level``: the item metrics of each level; ``values``: cached values per (level, metric
    key) reindexed on the rows that have them; ``cached``: the cache's raw series (and its
    ``"error"`` series); ``jobs``: one :class:`ImageJob` per image with a value missing."""

    by_level: dict
    values: dict = field(default_factory=dict)
    cached: dict = field(default_factory=dict)
    jobs: list = field(default_factory=list)


def _plan(dataset: Dataset, item_specs: list, keys: Keys, cache: MetricCache | None) -> Plan:
    plan = Plan(by_level={lv: [m for m in item_specs if m.level == lv] for lv in LEVELS})
    wanted = {f"{m.level}:{m.key}" for m in item_specs}
    plan.cached = cache.load(wanted) if cache is not None else {}
    missing = _missing(dataset, plan, keys)
    plan.jobs = _jobs(dataset, keys, missing)
    return plan


def _missing(dataset: Dataset, plan: Plan, keys: Keys) -> dict:
    """image_id -> {level: metric keys to compute}; fills ``plan.values`` with what is cached."""
    missing: dict[int, dict[str, set]] = {}
    item_frames = _item_frames(dataset)
    for level, metrics in plan.by_level.items():
        idx = keys.rows[level]
        image_ids = (dataset.images.index if level == "image"
                     else item_frames[level]["image_id"]).to_numpy()
        for m in metrics:
            series = plan.cached.get(f"{level}:{m.key}")
            if series is not None and len(idx):
                have = idx.isin(series.index)
                plan.values[(level, m.key)] = series.reindex(idx[have])
            else:
                have = np.zeros(len(idx), dtype=bool)
            for image_id in np.unique(image_ids[~have]).tolist():
                missing.setdefault(image_id, {}).setdefault(level, set()).add(m.key)
    return missing


def _jobs(dataset: Dataset, keys: Keys, missing: dict) -> list:
    """One job per image with something missing; it recomputes every metric missing anywhere
    in the image (the pixels are decoded once for all of them)."""
    item_frames = _item_frames(dataset)
    groups = {level: _groups(frame) for level, frame in item_frames.items()}
    whole: dict = {}      # level -> (row dicts, boxes) of the whole frame, made when needed
    images = dataset.images
    jobs = []
    for image_id, path, w, h in zip(images.index.tolist(), images["path"].tolist(),
                                    images["width"].tolist(), images["height"].tolist(),
                                    strict=True):
        need = missing.get(image_id)
        if not need:
            continue
        metrics_needed = {lv: sorted(ks) for lv, ks in need.items()}
        items = {}
        for level in ("object", "prediction"):
            if level in metrics_needed:
                positions = groups[level].get(image_id, np.empty(0, dtype=np.int64))
                if level not in whole:
                    whole[level] = _level_items(level, item_frames[level])
                items[level] = _job_items(whole[level], positions, keys.item[level])
        jobs.append(ImageJob(image_id, path if isinstance(path, str) else None,
                             keys.of_image[image_id],
                             np.nan if pd.isna(w) else float(w),
                             np.nan if pd.isna(h) else float(h), metrics_needed, items))
    return jobs


def _level_items(level: str, frame: pd.DataFrame) -> tuple[list, np.ndarray]:
    """The row dict and the box of every row of a level's frame (once per call: selecting
    each image's rows with pandas cost about 1.5 ms per image)."""
    rows = _row_dicts(level, frame)
    for r, image_id in zip(rows, frame["image_id"].tolist(), strict=True):
        r["image_id"] = image_id
    return rows, frame[BOX_COLUMNS].to_numpy(dtype=float)


def _job_items(whole: tuple, positions, item_keys_: list) -> dict:
    rows, boxes = whole
    return {"keys": [item_keys_[p] for p in positions], "boxes": boxes[positions],
            "rows": [rows[p] for p in positions]}


def _row_dicts(level: str, frame: pd.DataFrame) -> list[dict]:
    cols = ["category_id", "category"] + (["score"] if level == "prediction" else [])
    cols += ["iscrowd"] if level == "object" and "iscrowd" in frame else []
    cols += ["segmentation"]          # the mask metrics read it (None or absent: no mask)
    data = {c: frame[c].tolist() for c in cols if c in frame}
    ids = frame.index.tolist()
    id_name = "annotation_id" if level == "object" else "prediction_id"
    return [dict({id_name: ids[i], "image_id": None}, **{c: v[i] for c, v in data.items()})
            for i in range(len(frame))]


def _groups(frame: pd.DataFrame) -> dict:
    """image_id -> positions of the frame's rows of that image."""
    if frame is None or frame.empty:
        return {}
    ids = frame["image_id"].to_numpy()
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    return {int(sorted_ids[s]): order[s:e] for s, e in zip(starts, ends, strict=True)}

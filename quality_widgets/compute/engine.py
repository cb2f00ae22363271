"""compute_metrics: run metric functions over a dataset into the three metric frames.

Work is split by image: a worker decodes each image once and computes every image, object and
prediction metric of that image from that one decode. One call goes through four named steps:

1. **keys** (:func:`_keys`): what each cached value depends on: the image file's identity
   (path, size, mtime) and each box's geometry, category and id or score;
2. **plan** (:func:`_plan`): which values the cache already holds, and one :class:`ImageJob` per
   image with something missing;
3. **run** (:func:`_run`): batches of jobs on the kept worker pool (:mod:`.pool`) or in this
   process; finished images go to the Parquet cache as they arrive, so an interrupted run keeps
   its work;
4. **assemble** (:func:`_assemble`): cached and new values into the frames, then the
   ``scope="dataset"`` metrics over whole columns, then one warning summing up the errors.

Metric functions travel to the workers pickled by value with cloudpickle, so functions defined
in a notebook cell work too.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
import traceback
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.dataset import Dataset
from ..data.imaging import ImageDecodeError, crop, decode_rgb, source_file
from ..data.schema import BOX_COLUMNS
from ..data.storage import is_url
from ..data.storage import versions as storage_versions
from ..errors import DataWarning
from ..frames import LEVELS, MetricFrames
from .cache import MetricCache, default_cache_dir
from .pool import (
    Workers,
    as_workers,
    default_workers,
    local_workers,
    run_batches,
    shutdown_workers,  # noqa: F401 (shutdown_workers: re-exported)
)
from .registry import Metric, resolve_metrics

# Finished images are written to the cache at least this often, so an interrupted run loses at
# most this much work.
FLUSH_EVERY_IMAGES = 2000
FLUSH_EVERY_SECONDS = 20.0
# Below this many images, a run without an explicit ``workers=`` stays in this process: starting
# worker processes would cost more than it saves.
MIN_IMAGES_FOR_POOL = 64


# ---- what a worker does with one image ----------------------------------------------------------
@dataclass
class ImageJob:
    image_id: int
    path: str | None
    image_key: str
    width: float            # from the dataset (used when pixels are not decoded)
    height: float
    metrics: dict           # level -> list of metric keys ("name@version") to compute
    items: dict             # level -> dict(keys=[...], boxes=(n,4), rows=[dict, ...])


def _value(v):
    """Normalise a metric's return value: bool -> float, ints stay ints, other numbers float."""
    if v is None:
        return np.nan
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    return float(v)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def compute_image(job: ImageJob, specs: dict) -> dict:
    """All requested metrics of one image. Returns per level: keys, {metric key: values},
    per-item errors; plus ``decode_error`` when the pixels could not be had."""
    wanted = {lv: [specs[(lv, k)] for k in keys] for lv, keys in job.metrics.items()}
    need_pixels = any(m.pixels for ms in wanted.values() for m in ms)
    image, decode_error = _decode(job.path) if need_pixels else (None, None)
    out = {"image_id": job.image_id, "image_key": job.image_key, "decode_error": decode_error,
           "levels": {}}
    for level, metrics in wanted.items():
        if level == "image":
            values, errors = _image_values(metrics, image)
            keys = [""]
        else:
            size = image.shape[1::-1] if image is not None else (job.width, job.height)
            values, errors = _box_values(metrics, image, job.items[level], size)
            keys = job.items[level]["keys"]
        out["levels"][level] = {"keys": keys, "values": values,
                                "errors": ["; ".join(e) if e else None for e in errors]}
    return out


def _decode(path) -> tuple:
    """(read-only pixels, None) or (None, why not): one file never ends the run."""
    if not isinstance(path, str):
        return None, "no image file (no images folder, or an unsafe file name)"
    try:
        image = decode_rgb(path)
    except ImageDecodeError as e:
        return None, str(e)
    except Exception as e:
        return None, f"cannot decode image: {_describe(e)}"
    image.setflags(write=False)  # metrics share intermediates: nobody may edit the pixels
    return image, None


def _image_values(metrics: list, image) -> tuple[dict, list]:
    values = {m.key: [np.nan] for m in metrics}
    errors: list = [[]]
    for m in metrics:
        if m.pixels and image is None:
            continue
        try:
            values[m.key][0] = _value(m.func(image if m.pixels else None))
        except Exception as e:
            errors[0].append(f"{m.name}: {_describe(e)}")
    return values, errors


def _box_values(metrics: list, image, items: dict, size: tuple) -> tuple[dict, list]:
    """Values of object or prediction metrics on each box's crop (and row, if asked)."""
    n = len(items["keys"])
    values = {m.key: [np.nan] * n for m in metrics}
    errors: list = [[] for _ in range(n)]
    # each metric's attributes once per image, not once per box (the loop below runs
    # boxes x metrics times: 1.3 million calls for coco128's predictions x 8)
    calls = [(values[m.key], m.func, m.pixels, m.takes_row, m.name) for m in metrics]
    width, height = size
    for i, (row, (x, y, w, h)) in enumerate(zip(items["rows"], items["boxes"], strict=True)):
        row = dict(row, bbox_x=x, bbox_y=y, bbox_w=w, bbox_h=h, image_width=width,
                   image_height=height)
        pixels = None
        if image is not None:
            try:
                pixels = crop(image, x, y, w, h)
            except ValueError as e:
                errors[i].append(f"crop: {e}")
        for column, func, needs_pixels, takes_row, name in calls:
            if needs_pixels and pixels is None:
                continue
            arg = pixels if needs_pixels else None
            try:
                v = func(arg, row) if takes_row else func(arg)
                column[i] = v if type(v) is float else _value(v)
            except Exception as e:
                errors[i].append(f"{name}: {_describe(e)}")
    return values, errors


# ---- what a worker does with one batch ----------------------------------------------------------
_WORKER_SPECS: dict = {}
_WORKER_PAYLOAD_KEY = None


def run_batch(payload: tuple, jobs: list) -> list:
    """Worker entry: the results of one batch of jobs (one task). ``payload`` is ``(key,
    cloudpickled specs)``: the metric functions, pickled by value once per run, unpickled once
    per worker thanks to the key (so one kept pool serves every run); a Dask cluster receives
    the payload once per worker, the local pool with each batch (15 kB for the built-in
    metrics, through a pipe)."""
    global _WORKER_SPECS, _WORKER_PAYLOAD_KEY
    key, data = payload
    if key != _WORKER_PAYLOAD_KEY:
        import cloudpickle
        _WORKER_SPECS, _WORKER_PAYLOAD_KEY = cloudpickle.loads(data), key
    return [compute_image(job, _WORKER_SPECS) for job in jobs]


def _dead_worker_results(jobs: list) -> list:
    message = ("the worker process died while computing this image (a crash in a decoder or "
               "a metric); the other images were computed")
    return [{"image_id": j.image_id, "image_key": j.image_key, "decode_error": message,
             "levels": {}} for j in jobs]


# ---- step 1, keys: what a cached value depends on -----------------------------------------------
def _box_text(boxes: np.ndarray) -> list[str]:
    return [f"{x!r},{y!r},{w!r},{h!r}" for x, y, w, h in boxes.tolist()]


def item_keys(level: str, frame: pd.DataFrame) -> list[str]:
    boxes = _box_text(frame[BOX_COLUMNS].to_numpy(dtype=float))
    cats = frame["category_id"].astype(str).tolist()
    if "segmentation" in frame:   # mask metrics depend on the mask, not only on the box
        cats = [c + _mask_digest(m)
                for c, m in zip(cats, frame["segmentation"].tolist(), strict=True)]
    if level == "object":
        return [f"{i}|{b}|{c}" for i, b, c in zip(frame.index.tolist(), boxes, cats, strict=True)]
    scores = [repr(s) for s in frame["score"].tolist()]
    return [f"{b}|{c}|{s}" for b, c, s in zip(boxes, cats, scores, strict=True)]


def _mask_digest(segmentation) -> str:
    """'' without a mask, else ``|m`` + a CRC-32 of the mask's JSON text."""
    if segmentation is None:
        return ""
    import zlib
    try:
        import orjson
        text = orjson.dumps(segmentation, option=orjson.OPT_SERIALIZE_NUMPY)
    except (ImportError, TypeError):
        import json
        text = json.dumps(segmentation, default=str).encode()
    return f"|m{zlib.crc32(text):08x}"


def image_keys(images: pd.DataFrame) -> list[str]:
    """path | size | mtime (or the store's ETag) | dataset width x height; missing files get a
    key of their own (nothing is cached for an image whose pixels could not be read)."""
    paths = images["path"].tolist()
    remote = [i for i, p in enumerate(paths) if is_url(p)]
    versions = dict(zip(remote, storage_versions([source_file(paths[i]) for i in remote]),
                        strict=True)) if remote else {}
    keys = []
    for i, (image_id, path, w, h) in enumerate(zip(images.index.tolist(), paths,
                                                   images["width"].tolist(),
                                                   images["height"].tolist(), strict=True)):
        size = f"{w}x{h}"
        if not isinstance(path, str):
            keys.append(f"<no file>|{image_id}|{size}")
        elif i in versions:
            version = versions[i]
            keys.append(f"{path}|{version}|{size}" if version else f"<missing>|{path}|{size}")
        else:
            try:
                st = os.stat(source_file(path))   # a video frame: its video file
                keys.append(f"{path}|{st.st_size}|{st.st_mtime_ns}|{size}")
            except OSError:
                keys.append(f"<missing>|{path}|{size}")
    return keys


@dataclass
class Keys:
    """The cache keys of a dataset's rows: ``image`` per image, ``item`` per box (object and
    prediction levels) and ``rows``, the (image_key, item_key) index of each level's rows."""

    image: list
    item: dict
    of_image: dict          # image_id -> image key
    rows: dict              # level -> pd.MultiIndex


def _keys(dataset: Dataset) -> Keys:
    images = dataset.images
    image = image_keys(images)
    of_image = dict(zip(images.index.tolist(), image, strict=True))
    item, rows = {}, {"image": pd.MultiIndex.from_arrays([image, [""] * len(images)])}
    for level, frame in _item_frames(dataset).items():
        item[level] = item_keys(level, frame) if len(frame) else []
        rows[level] = pd.MultiIndex.from_arrays(
            [[of_image.get(i, "") for i in frame["image_id"].tolist()], item[level]])
    return Keys(image=image, item=item, of_image=of_image, rows=rows)


def _item_frames(dataset: Dataset) -> dict:
    return {"object": dataset.annotations, "prediction": dataset.predictions}


# ---- step 2, plan: what the cache holds, what is left to compute --------------------------------
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


# ---- step 3, run: batches of jobs, here or on the worker pool -----------------------------------
class _Collector:
    """Receives finished batches: keeps their results, moves the progress bar (batches, and
    images in its label) and writes complete images to the cache every FLUSH_EVERY_IMAGES
    images or FLUSH_EVERY_SECONDS."""

    def __init__(self, cache: MetricCache | None, bar, n_images: int):
        self.cache, self.bar, self.n_images = cache, bar, n_images
        self.results: list = []
        self.pending: list = []
        self.last_write = time.monotonic()

    def __call__(self, batch_results: list) -> None:
        self.results.extend(batch_results)
        self.pending.extend(r for r in batch_results if not r["decode_error"])
        self.bar.update(1)
        self.bar.set_postfix_str(f"{len(self.results)}/{self.n_images} images", refresh=False)
        if (len(self.pending) >= FLUSH_EVERY_IMAGES
                or time.monotonic() - self.last_write > FLUSH_EVERY_SECONDS):
            self.flush()

    def flush(self) -> None:
        if self.cache is not None and self.pending:
            frame, covered = _cache_frame(self.pending)
            try:
                self.cache.write(frame, covered)
            except OSError as e:
                warnings.warn(f"could not write the metric cache in {self.cache.dir}: {e}",
                              RuntimeWarning, stacklevel=4)
        self.pending, self.last_write = [], time.monotonic()


def _workers(executor, workers, n_jobs: int) -> Workers | None:
    """Where the batches run: the user's executor; the kept local pool; or None (this
    process: one worker asked for, or too few images to pay for starting processes)."""
    if executor is not None:
        return as_workers(executor)
    n = default_workers() if workers is None else max(1, int(workers))
    if n > 1 and (workers is not None or n_jobs >= MIN_IMAGES_FOR_POOL):
        return local_workers(n)
    return None


def _run(jobs: list, spec_map: dict, workers: Workers | None, cache, batch_size,
         progress: bool) -> list:
    """Results of every job, batch by batch on ``workers`` (None: in this process)."""
    from tqdm.auto import tqdm
    slots = workers.slots if workers is not None else 1
    if batch_size is None:
        batch_size = max(1, min(32, math.ceil(len(jobs) / (slots * 8))))
    batches = [jobs[i:i + batch_size] for i in range(0, len(jobs), batch_size)]
    bar = tqdm(total=len(batches), desc="quality metrics", unit="batch", disable=not progress,
               leave=True)
    collect = _Collector(cache, bar, len(jobs))
    try:
        if workers is None:
            for batch in batches:
                collect([compute_image(job, spec_map) for job in batch])
        else:
            import cloudpickle
            payload = (uuid.uuid4().hex, cloudpickle.dumps(spec_map))
            run_batches(batches, run_batch, (payload,), workers, collect,
                        lost=_dead_worker_results)
    finally:
        collect.flush()   # an interrupted run keeps every finished image
        bar.close()
    if cache is not None:
        with contextlib.suppress(OSError):
            cache.compact()
    return collect.results


# ---- step 4, assemble: cached and new values into the frames ------------------------------------
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


# ---- the public function ------------------------------------------------------------------------
def compute_metrics(dataset: Dataset, metrics=None, workers: int | None = None,
                    cache_dir=None, progress: bool = True, chunk_size: int | None = None,
                    executor=None) -> MetricFrames:
    """Compute quality metrics of ``dataset`` into :class:`MetricFrames`.

    ``metrics``: None (every built-in and decorated metric), or names / decorated functions /
    metric files. ``workers``: processes of the kept local pool (default: the cores; 1
    computes in this process). ``executor``: run the batches elsewhere instead: any
    :class:`concurrent.futures.Executor`, or a Dask ``distributed.Client`` (the whole
    cluster); images are then read by the workers, from paths they can see or from fsspec
    URLs. ``cache_dir``: where results persist as Parquet (default
    ``~/.cache/quality-widgets``, or ``$QUALITY_WIDGETS_CACHE``); ``False`` disables caching. A
    second run recomputes nothing, a new metric computes only itself, an interrupted run
    resumes. ``progress``: a tqdm bar of batches (a widget in Jupyter). ``chunk_size``: images
    per batch, one task each (default: about eight batches per worker, at most 32 images
    each). Bad images and metrics that raise mark the row's ``error`` column; the run always
    finishes, and one :class:`~quality_widgets.DataWarning` sums up the errors.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"compute_metrics needs a quality_widgets.Dataset, got "
                        f"{type(dataset).__name__}")
    specs = resolve_metrics(metrics)
    item_specs = [m for m in specs if m.scope == "item"]
    cache = _open_cache(cache_dir, dataset)
    keys = _keys(dataset)
    plan = _plan(dataset, item_specs, keys, cache)

    n_total = len(dataset.images)
    stats = {"images": n_total, "computed": len(plan.jobs),
             "from_cache": n_total - len(plan.jobs), "errors": 0, "workers": 1}
    results = []
    if plan.jobs:
        where = _workers(executor, workers, len(plan.jobs))
        stats["workers"] = where.slots if where is not None else 1
        results = _run(plan.jobs, {(m.level, m.key): m for m in item_specs}, where, cache,
                       chunk_size, progress)

    out = _assemble(dataset, plan, keys, results)
    frames = MetricFrames(images=out["image"], objects=out["object"],
                          predictions=out["prediction"], dataset=dataset,
                          metrics={m.name: m for m in specs},
                          cache_dir=Path(cache.dir) if cache is not None else None, stats=stats)
    _check_sizes(frames.images, dataset.images)
    for m in specs:
        if m.scope == "dataset":
            _apply_dataset_metric(frames, m)
    stats["errors"] = int(frames.images["error"].notna().sum())
    _warn_errors(frames)
    return frames


def _open_cache(cache_dir, dataset: Dataset) -> MetricCache | None:
    if cache_dir is False:
        return None
    return MetricCache(default_cache_dir() if cache_dir is None else cache_dir,
                       dataset.images_dir)

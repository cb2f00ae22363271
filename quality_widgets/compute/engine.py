"""compute_metrics: run metric functions over a dataset into the three metric frames.

Work is split by image: a worker decodes each image once and computes every image, object and
prediction metric of that image from that one decode. Workers are processes started with the
"spawn" method (safe in a Jupyter kernel, the same on every OS); metric functions travel to
them pickled by value with cloudpickle, so functions defined in a notebook cell work too.
Finished images go to the Parquet cache in batches, so an interrupted run keeps its work.
"""
from __future__ import annotations

import atexit
import math
import multiprocessing
import os
import time
import traceback
import uuid
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .cache import MetricCache, default_cache_dir
from ..data.dataset import Dataset
from ..data.schema import BOX_COLUMNS
from ..frames import MetricFrames
from ..data.imaging import ImageDecodeError, crop, decode_rgb, source_file
from .registry import Metric, resolve_metrics

# Finished images are written to the cache at least this often, so an interrupted run loses at
# most this much work.
FLUSH_EVERY_IMAGES = 2000
FLUSH_EVERY_SECONDS = 20.0
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS")


# ---- what one worker does with one image --------------------------------------------------------
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
    image, decode_error = None, None
    if need_pixels:
        if not isinstance(job.path, str):
            decode_error = "no image file (no images folder, or an unsafe file name)"
        else:
            try:
                image = decode_rgb(job.path)
            except ImageDecodeError as e:
                decode_error = str(e)
            except Exception as e:  # never let one file end the run
                decode_error = f"cannot decode image: {_describe(e)}"
    if image is not None:
        height, width = image.shape[:2]
    else:
        width, height = job.width, job.height
    if image is not None:
        image.setflags(write=False)  # metrics share intermediates: nobody may edit the pixels
    out = {"image_id": job.image_id, "image_key": job.image_key, "decode_error": decode_error,
           "levels": {}}
    for level, metrics in wanted.items():
        if level == "image":
            keys, n = [""], 1
        else:
            keys = job.items[level]["keys"]
            n = len(keys)
        values = {m.key: [np.nan] * n for m in metrics}
        errors = [[] for _ in range(n)]
        if level == "image":
            for m in metrics:
                if m.pixels and image is None:
                    continue
                try:
                    values[m.key][0] = _value(m.func(image if m.pixels else None))
                except Exception as e:
                    errors[0].append(f"{m.name}: {_describe(e)}")
        else:
            boxes = job.items[level]["boxes"]
            rows = job.items[level]["rows"]
            for i in range(n):
                x, y, w, h = boxes[i]
                row = dict(rows[i], bbox_x=x, bbox_y=y, bbox_w=w, bbox_h=h, image_width=width,
                           image_height=height)
                pixels = None
                if image is not None:
                    try:
                        pixels = crop(image, x, y, w, h)
                    except ValueError as e:
                        errors[i].append(f"crop: {e}")
                for m in metrics:
                    if m.pixels and pixels is None:
                        continue
                    arg = pixels if m.pixels else None
                    try:
                        v = m.func(arg, row) if m.takes_row else m.func(arg)
                        values[m.key][i] = _value(v)
                    except Exception as e:
                        errors[i].append(f"{m.name}: {_describe(e)}")
        out["levels"][level] = {"keys": keys, "values": values,
                                "errors": ["; ".join(e) if e else None for e in errors]}
    return out


_WORKER_SPECS: dict = {}
_WORKER_PAYLOAD_KEY = None


def _run_chunk_with(payload: tuple, jobs: list) -> list:
    """Worker entry: the metric specs travel with each chunk (pickled by value once per run,
    unpickled once per worker thanks to the key), so one pool serves every run."""
    global _WORKER_SPECS, _WORKER_PAYLOAD_KEY
    key, data = payload
    if key != _WORKER_PAYLOAD_KEY:
        import cloudpickle
        _WORKER_SPECS, _WORKER_PAYLOAD_KEY = cloudpickle.loads(data), key
    return _run_chunk(jobs)


# One pool of worker processes is kept between runs (as joblib's loky does): starting spawned
# workers costs about a second each, which a notebook would otherwise pay on every call.
_POOL: dict = {}


def _pool(n_workers: int) -> ProcessPoolExecutor:
    pool = _POOL.get("pool")
    if pool is not None and _POOL.get("n") == n_workers and not getattr(pool, "_broken", False):
        return pool
    shutdown_workers()
    pool = ProcessPoolExecutor(max_workers=n_workers,
                               mp_context=multiprocessing.get_context("spawn"))
    _POOL.update(pool=pool, n=n_workers)
    return pool


def shutdown_workers() -> None:
    """Stop the kept worker processes (they also stop with the Python process)."""
    pool = _POOL.pop("pool", None)
    _POOL.pop("n", None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


atexit.register(shutdown_workers)


@contextmanager
def _worker_environment():
    """While workers may be spawned: one BLAS/OpenMP thread each (n workers use n cores, not
    n x cores threads fighting over them), and no re-import of the user's __main__."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update({k: "1" for k in _THREAD_VARS})
    try:
        with _workers_skip_main():
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _dead_worker_results(jobs: list) -> list:
    message = ("the worker process died while computing this image (a crash in a decoder or "
               "a metric); the other images were computed")
    return [{"image_id": j.image_id, "image_key": j.image_key, "decode_error": message,
             "levels": {}} for j in jobs]


def _run_in_pool(chunks: list, payload: tuple, n_workers: int, collect) -> None:
    """Run chunks on the kept pool, at most 3 per worker in flight. If a worker dies (a
    segfaulting decoder), every image of the chunks that were in flight becomes a suspect and
    is retried alone, one at a time on a fresh pool: an image that kills a worker again gets an
    error, and the run goes on."""
    from concurrent.futures.process import BrokenProcessPool
    queue = list(chunks)
    suspects: list = []
    with _worker_environment():
        while queue or suspects:
            pool = _pool(n_workers)
            if suspects:
                job = suspects.pop(0)
                try:
                    collect(pool.submit(_run_chunk_with, payload, [job]).result())
                except BrokenProcessPool:
                    shutdown_workers()
                    collect(_dead_worker_results([job]))
                except BaseException:
                    shutdown_workers()
                    raise
                continue
            running: dict = {}
            try:
                while queue or running:
                    while queue and len(running) < n_workers * 3:
                        chunk = queue.pop(0)
                        running[pool.submit(_run_chunk_with, payload, chunk)] = chunk
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    broken = False
                    for fut in done:
                        chunk = running.pop(fut)
                        try:
                            collect(fut.result())
                        except BrokenProcessPool:
                            suspects.extend(chunk)
                            broken = True
                    if broken:
                        for chunk in running.values():
                            suspects.extend(chunk)
                        shutdown_workers()
                        break
            except BaseException:
                shutdown_workers()   # Ctrl-C: stop the work in flight, keep what finished
                raise


@contextmanager
def _workers_skip_main():
    """Spawned workers normally re-import the parent's __main__ (the user's script) before
    running anything: a script without an ``if __name__ == "__main__":`` guard would then run
    again in every worker. Our workers need nothing from __main__ (metric functions travel by
    value with cloudpickle), so the main module is left out of what they prepare."""
    from multiprocessing import spawn
    original = spawn.get_preparation_data

    def preparation_data(name):
        data = original(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    spawn.get_preparation_data = preparation_data
    try:
        yield
    finally:
        spawn.get_preparation_data = original


def _run_chunk(jobs: list) -> list:
    return [compute_image(job, _WORKER_SPECS) for job in jobs]


# ---- item keys: what a cached value depends on ---------------------------------------------
def _box_text(boxes: np.ndarray) -> list[str]:
    return [f"{x!r},{y!r},{w!r},{h!r}" for x, y, w, h in boxes.tolist()]


def item_keys(level: str, frame: pd.DataFrame) -> list[str]:
    boxes = _box_text(frame[BOX_COLUMNS].to_numpy(dtype=float))
    cats = frame["category_id"].astype(str).tolist()
    if "segmentation" in frame:   # mask metrics depend on the mask, not only on the box
        cats = [c + _mask_digest(m) for c, m in zip(cats, frame["segmentation"].tolist())]
    if level == "object":
        return [f"{i}|{b}|{c}" for i, b, c in zip(frame.index.tolist(), boxes, cats)]
    scores = [repr(s) for s in frame["score"].tolist()]
    return [f"{b}|{c}|{s}" for b, c, s in zip(boxes, cats, scores)]


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
    """path | size | mtime | dataset width x height; missing files get a key of their own
    (nothing is cached for an image whose pixels could not be read)."""
    keys = []
    for image_id, path, w, h in zip(images.index.tolist(), images["path"].tolist(),
                                    images["width"].tolist(), images["height"].tolist()):
        size = f"{w}x{h}"
        if not isinstance(path, str):
            keys.append(f"<no file>|{image_id}|{size}")
            continue
        try:
            st = os.stat(source_file(path))   # a video frame: its video file
            keys.append(f"{path}|{st.st_size}|{st.st_mtime_ns}|{size}")
        except OSError:
            keys.append(f"<missing>|{path}|{size}")
    return keys


# ---- the engine ----------------------------------------------------------------------------
def _row_dicts(level: str, frame: pd.DataFrame) -> list[dict]:
    cols = ["category_id", "category"] + (["score"] if level == "prediction" else [])
    cols += ["iscrowd"] if level == "object" and "iscrowd" in frame else []
    cols += ["segmentation"]          # the mask metrics read it (None or absent: no mask)
    data = {c: frame[c].tolist() for c in cols if c in frame}
    ids = frame.index.tolist()
    id_name = "annotation_id" if level == "object" else "prediction_id"
    return [dict({id_name: ids[i], "image_id": None}, **{c: v[i] for c, v in data.items()})
            for i in range(len(frame))]


def _workers(workers) -> int:
    if workers is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:
            return max(1, os.cpu_count() or 1)
    return max(1, int(workers))


def compute_metrics(dataset: Dataset, metrics=None, workers: int | None = None,
                    cache_dir=None, progress: bool = True, chunk_size: int | None = None
                    ) -> MetricFrames:
    """Compute quality metrics of ``dataset`` into :class:`MetricFrames`.

    ``metrics``: None (every built-in and decorated metric), or names / decorated functions /
    metric files. ``workers``: processes (default: the cores; 1 computes in this process).
    ``cache_dir``: where results persist as Parquet (default ``~/.cache/quality-widgets``, or
    ``$QUALITY_WIDGETS_CACHE``); ``False`` disables caching. A second run recomputes nothing,
    a new metric computes only itself, an interrupted run resumes. ``progress``: a tqdm bar
    (a widget in Jupyter). Bad images and metrics that raise mark the row's ``error`` column;
    the run always finishes, and prints a summary of errors.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"compute_metrics needs a quality_widgets.Dataset, got "
                        f"{type(dataset).__name__}")
    specs = resolve_metrics(metrics)
    item_specs = [m for m in specs if m.scope == "item"]
    dataset_specs = [m for m in specs if m.scope == "dataset"]
    spec_map = {(m.level, m.key): m for m in item_specs}
    n_workers = _workers(workers)
    if cache_dir is None:
        cache_dir = default_cache_dir()
    cache = MetricCache(cache_dir, dataset.images_dir) if cache_dir is not False else None

    images = dataset.images
    keys = {"image": image_keys(images)}
    frames_src = {"object": dataset.annotations, "prediction": dataset.predictions}
    for level, frame in frames_src.items():
        keys[level] = item_keys(level, frame) if len(frame) else []
    image_key_of = dict(zip(images.index.tolist(), keys["image"]))
    # (image_key, item_key) per row, per level
    row_index = {"image": pd.MultiIndex.from_arrays([keys["image"], [""] * len(images)])}
    for level, frame in frames_src.items():
        row_index[level] = pd.MultiIndex.from_arrays(
            [[image_key_of.get(i, "") for i in frame["image_id"].tolist()], keys[level]])
    by_level = {lv: [m for m in item_specs if m.level == lv] for lv in ("image", "object",
                                                                          "prediction")}
    wanted = {f"{m.level}:{m.key}" for m in item_specs}
    cached = cache.load(wanted) if cache is not None else {}

    # which (image, metric) pairs are missing
    values: dict = {}
    missing_by_image: dict[int, dict[str, set]] = {}
    for level, metrics_ in by_level.items():
        idx = row_index[level]
        image_ids = images.index.to_numpy() if level == "image" else \
            frames_src[level]["image_id"].to_numpy()
        for m in metrics_:
            series = cached.get(f"{level}:{m.key}")
            if series is not None and len(idx):
                have = idx.isin(series.index)
                values[(level, m.key)] = series.reindex(idx[have])
            else:
                have = np.zeros(len(idx), dtype=bool)
            for image_id in np.unique(image_ids[~have]).tolist():
                missing_by_image.setdefault(image_id, {}).setdefault(level, set()).add(m.key)

    # build jobs
    ann_groups = _groups(dataset.annotations)
    pred_groups = _groups(dataset.predictions)
    jobs = []
    for image_id, path, w, h in zip(images.index.tolist(), images["path"].tolist(),
                                    images["width"].tolist(), images["height"].tolist()):
        need = missing_by_image.get(image_id)
        if not need:
            continue
        # an image is recomputed for every metric missing anywhere in it
        metrics_needed = {lv: sorted(ks) for lv, ks in need.items()}
        items = {}
        for level, groups in (("object", ann_groups), ("prediction", pred_groups)):
            if level not in metrics_needed:
                continue
            positions = groups.get(image_id, np.empty(0, dtype=np.int64))
            frame = frames_src[level].iloc[positions]
            items[level] = {"keys": [keys[level][p] for p in positions],
                            "boxes": frame[BOX_COLUMNS].to_numpy(dtype=float),
                            "rows": _row_dicts(level, frame)}
            for r in items[level]["rows"]:
                r["image_id"] = image_id
        jobs.append(ImageJob(image_id, path if isinstance(path, str) else None,
                             image_key_of[image_id],
                             np.nan if pd.isna(w) else float(w),
                             np.nan if pd.isna(h) else float(h), metrics_needed, items))

    n_total = len(images)
    stats = {"images": n_total, "computed": len(jobs), "from_cache": n_total - len(jobs),
             "errors": 0, "workers": 1}
    results = []
    if jobs:
        results, stats["workers"] = _run_jobs(jobs, spec_map, n_workers, workers is not None,
                                               cache, chunk_size, progress, n_total)
    decode_errors = {r["image_id"]: r["decode_error"] for r in results if r["decode_error"]}

    # assemble values from the cache and the new results
    new_rows = _results_frame(results, keys_by_id=image_key_of)
    out = _assemble(dataset, by_level, row_index, values, new_rows, cached, decode_errors)
    frames = MetricFrames(images=out["image"], objects=out["object"],
                          predictions=out["prediction"], dataset=dataset,
                          metrics={m.name: m for m in specs},
                          cache_dir=Path(cache.dir) if cache is not None else None, stats=stats)
    _check_sizes(frames.images, dataset.images)
    for m in dataset_specs:
        _apply_dataset_metric(frames, m)
    stats["errors"] = int(frames.images["error"].notna().sum())
    _print_error_summary(frames)
    return frames


def _groups(frame: pd.DataFrame) -> dict:
    if frame is None or frame.empty:
        return {}
    ids = frame["image_id"].to_numpy()
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    return {int(sorted_ids[s]): order[s:e] for s, e in zip(starts, ends)}


def _run_jobs(jobs, spec_map, n_workers, explicit, cache, chunk_size, progress, n_total):
    from tqdm.auto import tqdm
    use_pool = n_workers > 1 and (explicit or len(jobs) >= 64)
    if chunk_size is None:
        chunk_size = max(1, min(32, math.ceil(len(jobs) / (n_workers * 8))))
    chunks = [jobs[i:i + chunk_size] for i in range(0, len(jobs), chunk_size)]
    bar = tqdm(total=n_total, initial=n_total - len(jobs), desc="quality metrics",
               unit="img", disable=not progress, leave=True)
    results, pending_write = [], []
    last_write = time.monotonic()

    def flush():
        nonlocal pending_write, last_write
        if cache is not None and pending_write:
            frame, covered = _cache_frame(pending_write)
            try:
                cache.write(frame, covered)
            except OSError as e:
                warnings.warn(f"could not write the metric cache in {cache.dir}: {e}",
                              RuntimeWarning)
        pending_write, last_write = [], time.monotonic()

    def collect(chunk_results):
        nonlocal last_write
        results.extend(chunk_results)
        pending_write.extend(r for r in chunk_results if not r["decode_error"])
        bar.update(len(chunk_results))
        if (len(pending_write) >= FLUSH_EVERY_IMAGES
                or time.monotonic() - last_write > FLUSH_EVERY_SECONDS):
            flush()

    try:
        if not use_pool:
            global _WORKER_SPECS
            saved, _WORKER_SPECS = _WORKER_SPECS, spec_map
            try:
                for chunk in chunks:
                    collect(_run_chunk(chunk))
            finally:
                _WORKER_SPECS = saved
            used = 1
        else:
            import cloudpickle
            payload = (uuid.uuid4().hex, cloudpickle.dumps(spec_map))
            used = min(n_workers, len(chunks))
            _run_in_pool(chunks, payload, used, collect)
    finally:
        flush()   # an interrupted run keeps every finished image
        bar.close()
    if cache is not None:
        try:
            cache.compact()
        except OSError:
            pass
    return results, used


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
                col = columns.setdefault(f"{level}:{key}", [np.nan] * n)
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
    missing = np.array([v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                        for v in arr], dtype=bool)
    present = arr[~missing]
    if len(present) and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                            for v in present):
        if not missing.any():
            return arr.astype(np.int64)
        return pd.array([None if m else int(v) for v, m in zip(arr, missing)], dtype="Int64")
    return np.array([np.nan if m else v for v, m in zip(arr, missing)], dtype=np.float64)


def _fill(target: np.ndarray, index: pd.MultiIndex, source: pd.Series) -> None:
    """target[i] = source[index[i]] where index[i] is in source (object arrays, ints kept)."""
    source = source[~source.index.duplicated(keep="last")]
    pos = source.index.get_indexer(index)
    hit = pos >= 0
    target[hit] = source.to_numpy(dtype=object)[pos[hit]]


def _assemble(dataset, by_level, row_index, values, new_rows, cached, decode_errors):
    images = dataset.images
    base = {
        "image": images[[c for c in ("file_name", "path", "width", "height", "video",
                                     "frame_index") if c in images]]
        .copy(),
    }
    name_of = images["file_name"]
    path_of = images["path"]
    for level, src in (("object", dataset.annotations), ("prediction", dataset.predictions)):
        cols = ["image_id", "category_id", "category", *BOX_COLUMNS]
        cols += ["area", "iscrowd"] if level == "object" else ["score"]
        extra = [c for c in src.columns if c not in cols and c not in ("segmentation", "scores", "keypoints")]
        frame = src[cols + extra].copy()
        frame.insert(1, "file_name", name_of.reindex(frame["image_id"]).to_numpy())
        frame.insert(2, "path", path_of.reindex(frame["image_id"]).to_numpy())
        base[level] = frame
    if len(new_rows):
        new_index = pd.MultiIndex.from_arrays([new_rows["image_key"], new_rows["item_key"]])
    out = {}
    for level, frame in base.items():
        idx = row_index[level]
        level_rows = (new_rows["level"] == level).to_numpy() if len(new_rows) else None
        for m in by_level[level]:
            col = np.full(len(idx), np.nan, dtype=object)
            old = values.get((level, m.key))
            if old is not None and len(old):
                _fill(col, idx, old)
            c = f"{level}:{m.key}"
            if len(new_rows) and c in new_rows:
                _fill(col, idx, pd.Series(new_rows[c].to_numpy()[level_rows],
                                          index=new_index[level_rows]))
            frame[m.name] = _typed(col)
        # errors: cached metric errors, new metric errors, decode errors
        err = pd.Series([None] * len(idx), index=idx, dtype=object)
        if "error" in cached and len(idx):
            e = cached["error"]
            hit = idx.isin(e.index)
            err[hit] = e.reindex(idx[hit]).to_numpy()
        if len(new_rows):
            s = pd.Series(new_rows["error"].to_numpy()[level_rows], index=new_index[level_rows])
            s = s[~s.index.duplicated(keep="last")]
            hit = idx.isin(s.index)
            err[hit] = s.reindex(idx[hit]).to_numpy()
        errors = np.array([e if isinstance(e, str) and e else None for e in err.to_numpy()],
                          dtype=object)
        ids = frame.index.to_numpy() if level == "image" else frame["image_id"].to_numpy()
        for pos in np.flatnonzero(np.isin(ids, list(decode_errors))) if decode_errors else []:
            prefix = "image" if level == "image" else "image of this box"
            errors[pos] = f"{prefix}: {decode_errors[ids[pos]]}" + (
                f"; {errors[pos]}" if errors[pos] else "")
        frame["error"] = pd.Series(errors, index=frame.index, dtype=object)
        out[level] = frame
    return out


def _check_sizes(frame: pd.DataFrame, images: pd.DataFrame) -> None:
    """Compare decoded sizes (the ``width``/``height`` metrics) with the annotation file's.

    Adds ``size_mismatch`` (True where both are known and differ: boxes are then measured
    against the decoded image, which is what the pixels are) and fills width/height from the
    file's entry where the image could not be decoded, so every row keeps a size."""
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
        print(f"quality-widgets: {int(mismatch.sum())} image(s) have a size in the annotation "
              f"file that differs from the decoded file (first: {frame.at[first, 'file_name']}: "
              f"file entry {file_w[first]}x{file_h[first]}, decoded {dec_w[first]}x"
              f"{dec_h[first]}); see the 'size_mismatch' column. Box metrics use the decoded "
              f"size.")


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
                      f"{traceback.format_exc(limit=3)}", RuntimeWarning)


def _print_error_summary(frames: MetricFrames, show: int = 5) -> None:
    errors = frames.errors()
    if errors.empty:
        return
    lines = []
    for level, group in errors.groupby("level", sort=False):
        lines.append(f"  {len(group)} {level} row(s) with errors, e.g.:")
        for _, row in group.head(show).iterrows():
            lines.append(f"    {row['file_name']} (id {row['id']}): {row['error']}")
    print("quality-widgets: some values could not be computed (see the 'error' column):\n"
          + "\n".join(lines))

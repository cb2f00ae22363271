"""What a worker does with one image and with one batch of images (step 3 of
:func:`~quality_widgets.compute.engine.compute_metrics`, in the worker process).

An :class:`ImageJob` names an image, its boxes and the metrics missing from the cache;
:func:`compute_image` decodes the image once and computes every one of them from that array;
:func:`run_batch` is the task a worker runs: the results of a batch of jobs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.imaging import ImageDecodeError, crop, decode_rgb


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


# The current run's metric specs in this worker process, unpickled once per run (its key).
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

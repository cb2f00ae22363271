"""Step 1 of :func:`~quality_widgets.compute.engine.compute_metrics`, keys: what a cached
value depends on.

An image's key is its file's identity (path, size, modification time, or the store's version)
and its size in the dataset; a box's key is its geometry, category (and mask) and its id
(annotations) or score (predictions). The cache (:mod:`.cache`) is indexed by these keys, so
changing their text would make every user's cache stale.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.dataset import Dataset
from ..data.imaging import source_file
from ..data.schema import BOX_COLUMNS
from ..data.storage import is_url
from ..data.storage import versions as storage_versions


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

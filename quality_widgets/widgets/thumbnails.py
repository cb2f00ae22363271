"""Gallery thumbnails: made once, cached in memory (LRU) and on disk beside the metric cache.

A thumbnail is a small JPEG of an image, of the image with one box drawn on it, or of the crop
of one box; an object's mask (semi-transparent fill) and skeleton (limbs and keypoints) are
drawn too when the request carries them. Its cache key is the file's identity (absolute path,
size, modification time), the kind of thumbnail, the box, the colour and the thumbnail size: editing
the image file or moving the box makes a new thumbnail, everything else is served from the cache.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..data._io import write_bytes_atomic
from ..data.imaging import ImageDecodeError, crop_bounds, decode_rgb

THUMBNAIL_DIR = "thumbnails"
# Bump when the drawing changes, so old disk thumbnails are not reused.
THUMBNAIL_VERSION = 1
MODES = ("image", "box", "crop")


class ThumbnailError(Exception):
    """A thumbnail could not be made (missing or undecodable image); the message says why."""


@dataclass(frozen=True)
class ThumbnailRequest:
    """What to draw: the image at ``path``; with ``mode`` "box" one ``box`` (xywh, pixels of the
    EXIF-oriented image) outlined in ``color``; with "crop" the box's crop. ``image_size``
    (width, height) when known lets the decoder work at reduced size for whole-image modes."""

    path: str | None
    mode: str = "image"
    box: tuple | None = None
    color: str = "#ff7f0e"
    image_size: tuple | None = None
    #: COCO segmentation (polygons or RLE) drawn as a semi-transparent fill ("box", "crop").
    segmentation: object = None
    #: COCO keypoints [x1, y1, v1, ...] (v > 0: drawn) and 1-based limbs to join.
    keypoints: object = None
    skeleton: object = None


MASK_ALPHA = 0.4


def shapes_for(dataset, rows):
    """(segmentations, keypoints, skeletons) of metric-frame ``rows`` (indexed by
    annotation_id or prediction_id) from ``dataset``; Nones where there are none."""
    n = len(rows)
    empty = [None] * n
    if dataset is None or rows.index.name not in ("annotation_id", "prediction_id"):
        return empty, empty, empty
    source = dataset.annotations if rows.index.name == "annotation_id" else dataset.predictions

    def column(name):
        if name not in source:
            return empty
        return source[name].reindex(rows.index).tolist()

    segs, kps = column("segmentation"), column("keypoints")
    skeletons = empty
    if "skeleton" in dataset.categories and "category_id" in source:
        cats = source["category_id"].reindex(rows.index)
        skeletons = dataset.categories["skeleton"].reindex(cats.to_numpy()).tolist()
    def clean(values):    # NaN (a row without the field) -> None
        return [v if isinstance(v, (list, dict)) else None for v in values]
    return clean(segs), clean(kps), clean(skeletons)


def _draw_shapes(image: Image.Image, request: ThumbnailRequest, full_size, origin, scale):
    """Draw the request's mask and skeleton on ``image``, the region of the full image that
    starts at ``origin`` (x, y) drawn at ``scale`` (sx, sy) thumbnail pixels per pixel."""
    if request.segmentation is not None:
        from ..data import masks
        try:
            mask_set = masks.MaskSet([masks.to_rle(request.segmentation, full_size[1],
                                                   full_size[0])])
        except (ImportError, ValueError):
            mask_set = None       # no pycocotools for a polygon, or a bad mask: box only
        if mask_set is not None:
            x0, y0 = origin
            x1 = round(x0 + image.width / scale[0])
            y1 = round(y0 + image.height / scale[1])
            window = masks.decode_window(mask_set.counts, int(mask_set.sizes[0][0]),
                                         int(y0), min(y1, int(mask_set.sizes[0][0])),
                                         int(x0), min(x1, int(mask_set.sizes[0][1])))
            if window.size:
                alpha = Image.fromarray((window * int(255 * MASK_ALPHA)).astype(np.uint8))
                alpha = alpha.resize((max(1, round(window.shape[1] * scale[0])),
                                      max(1, round(window.shape[0] * scale[1]))),
                                     Image.Resampling.NEAREST)
                layer = Image.new("RGB", alpha.size, request.color)
                image.paste(layer, (0, 0), alpha)
    if request.keypoints is not None:
        k = np.asarray(request.keypoints, dtype=float).reshape(-1, 3)
        xy = (k[:, :2] - origin) * scale
        present = k[:, 2] > 0
        draw = ImageDraw.Draw(image)
        line = max(1, round(max(image.size) / 100))
        for a, b in request.skeleton or []:
            if 0 < a <= len(k) and 0 < b <= len(k) and present[a - 1] and present[b - 1]:
                draw.line([tuple(xy[a - 1]), tuple(xy[b - 1])], fill=request.color, width=line)
        r = line + 1
        for (x, y), here in zip(xy, present, strict=True):
            if here:
                draw.ellipse([x - r, y - r, x + r, y + r], fill="white", outline=request.color)


def encode_jpeg(image: Image.Image, quality: int = 85) -> bytes:
    """The JPEG bytes of a PIL ``image`` (every thumbnail, frame strip and review tile)."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def data_uri(jpeg: bytes) -> str:
    """``data:image/jpeg;base64,...``: a JPEG inline in HTML, with no file or server behind it."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _decode(path: str, draft: tuple[int, int] | None) -> np.ndarray:
    """The oriented RGB pixels; one function so decoding rules live in :mod:`imaging`."""
    return decode_rgb(path, draft=draft)


def render_thumbnail(request: ThumbnailRequest, size: int = 160, quality: int = 80) -> bytes:
    """The JPEG bytes of the thumbnail of ``request`` (longest side ``size`` pixels)."""
    if request.mode not in MODES:
        raise ValueError(f"unknown thumbnail mode {request.mode!r}: expected one of {MODES}")
    if not request.path:
        raise ThumbnailError("no image file (path unknown or unsafe)")
    box = request.box
    if request.mode != "image" and (box is None or not all(np.isfinite(box))):
        raise ThumbnailError("no valid box to draw")
    full_w = full_h = None
    if request.image_size is not None:
        full_w, full_h = request.image_size
    # Whole-image thumbnails can be decoded at reduced size (JPEG DCT scaling) when we know
    # the full size to scale the box; crops need full resolution.
    draft = (size, size) if request.mode != "crop" and full_w and full_h else None
    try:
        pixels = _decode(request.path, draft)
    except ImageDecodeError as e:
        raise ThumbnailError(str(e)) from None
    height, width = pixels.shape[:2]
    full = (full_w, full_h) if full_w and full_h and draft else (width, height)
    if request.mode == "crop":
        x, y, w, h = box
        r0, r1, c0, c1 = crop_bounds(x, y, w, h, width, height)
        pixels = pixels[r0:r1, c0:c1]
    image = Image.fromarray(pixels)
    if request.mode == "box":
        scale_x = width / full_w if full_w and draft else 1.0
        scale_y = height / full_h if full_h and draft else 1.0
        x, y, w, h = box
        image.thumbnail((size, size), Image.Resampling.BILINEAR)
        sx, sy = scale_x * image.width / width, scale_y * image.height / height
        _draw_shapes(image, request, full, (0, 0), (sx, sy))
        line = max(2, round(max(image.size) / 80))
        ImageDraw.Draw(image).rectangle(
            [x * sx, y * sy, max((x + w) * sx, x * sx + 1), max((y + h) * sy, y * sy + 1)],
            outline=request.color, width=line)
    elif request.mode == "crop":
        crop_w, crop_h = image.size
        if max(image.size) < size:
            # Small objects are the interesting ones: enlarge their crop to the tile size.
            scale = size / max(image.size)
            image = image.resize((max(1, round(image.width * scale)),
                                  max(1, round(image.height * scale))),
                                 Image.Resampling.BICUBIC)
        else:
            image.thumbnail((size, size), Image.Resampling.BILINEAR)
        _draw_shapes(image, request, full, (c0, r0),
                     (image.width / crop_w, image.height / crop_h))
    else:
        image.thumbnail((size, size), Image.Resampling.BILINEAR)
    return encode_jpeg(image, quality)


class ThumbnailCache:
    """Thumbnails of ``size`` pixels: an in-memory LRU of ``memory_items`` JPEGs, plus
    ``<cache_dir>/thumbnails/<key>.jpg`` files when ``cache_dir`` is set.

    ``get_many`` makes the missing thumbnails of a gallery page on ``workers`` threads (Pillow
    releases the GIL while decoding).
    """

    def __init__(self, cache_dir=None, size: int = 160, memory_items: int = 2048,
                 quality: int = 80, workers: int = 2):
        self.dir = Path(cache_dir) / THUMBNAIL_DIR if cache_dir is not None else None
        self.size = int(size)
        self.quality = int(quality)
        self.memory_items = int(memory_items)
        self.workers = max(1, int(workers))
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.made = 0       # thumbnails rendered (misses of both caches)
        self.disk_hits = 0

    def key(self, request: ThumbnailRequest) -> str:
        """Cache key: file identity + everything that changes the pixels."""
        try:
            st = os.stat(request.path) if request.path else None
        except OSError:
            st = None
        ident = (str(request.path), st.st_size if st else None, st.st_mtime_ns if st else None)
        box = tuple(round(float(v), 2) for v in request.box) if request.box is not None else None
        shapes = ()
        if request.mode != "image" and (request.segmentation is not None
                                        or request.keypoints is not None):
            shapes = (repr((request.segmentation, request.keypoints, request.skeleton,
                            request.color)),)
        text = repr((THUMBNAIL_VERSION, ident, request.mode,
                     box if request.mode != "image" else None,
                     request.color if request.mode == "box" else None, self.size,
                     self.quality) + shapes)
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def _remember(self, key: str, jpeg: bytes) -> None:
        with self._lock:
            self._memory[key] = jpeg
            self._memory.move_to_end(key)
            while len(self._memory) > self.memory_items:
                self._memory.popitem(last=False)

    def _cached(self, key: str) -> bytes | None:
        with self._lock:
            jpeg = self._memory.get(key)
            if jpeg is not None:
                self._memory.move_to_end(key)
                return jpeg
        if self.dir is not None:
            file = self.dir / f"{key}.jpg"
            try:
                jpeg = file.read_bytes()
            except OSError:
                return None
            self.disk_hits += 1
            self._remember(key, jpeg)
            return jpeg
        return None

    def _make(self, key: str, request: ThumbnailRequest) -> bytes:
        jpeg = render_thumbnail(request, self.size, self.quality)
        self.made += 1
        self._remember(key, jpeg)
        if self.dir is not None:
            # a read-only cache folder only costs re-rendering next session
            with contextlib.suppress(OSError):
                write_bytes_atomic(jpeg, self.dir / f"{key}.jpg")
        return jpeg

    def get(self, request: ThumbnailRequest) -> bytes:
        """The JPEG of ``request``; raises :class:`ThumbnailError` when it cannot be made."""
        key = self.key(request)
        jpeg = self._cached(key)
        return jpeg if jpeg is not None else self._make(key, request)

    def get_many(self, requests) -> list:
        """JPEG bytes, or the :class:`ThumbnailError` message (a str), per request, in order."""
        requests = list(requests)
        keys = [self.key(r) for r in requests]
        out: list = [self._cached(k) for k in keys]
        missing = [i for i, v in enumerate(out) if v is None]

        def make(i):
            try:
                return self._make(keys[i], requests[i])
            except ThumbnailError as e:
                return str(e)

        if len(missing) > 1 and self.workers > 1:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(missing))) as pool:
                for i, result in zip(missing, pool.map(make, missing), strict=True):
                    out[i] = result
        else:
            for i in missing:
                out[i] = make(i)
        return out

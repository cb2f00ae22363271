"""Decoding images once, the same way everywhere: EXIF orientation, 8-bit RGB, bomb guard, crops.

Every metric sees the same pixels: an ``(H, W, 3)`` ``uint8`` C-contiguous RGB array, with the
EXIF orientation applied (so width/height and pixels are as a person sees the photo), the first
frame of an animation, 16-bit images scaled to 8 bits (v * 255 / 65535, rounded), palette and
grayscale expanded to RGB, and alpha dropped (the colour channels are kept as stored).

A ``path`` of the form ``"<video file>#frame=<i>"`` is a frame reference: frame ``i`` of a video
file, decoded by :mod:`quality_widgets.data.video` (PyAV) to the same kind of array.
"""
from __future__ import annotations

import io
import math
import warnings

import numpy as np
from PIL import Image, ImageOps

from . import video
from .storage import is_url, open_binary
from .video import FRAME_MARK

# Refuse images above this many pixels before decoding anything: a 50,000 x 50,000 header would
# otherwise make Pillow allocate 7.5 GB. 120 megapixels covers every camera and most scans.
MAX_PIXELS = 120_000_000


class ImageDecodeError(Exception):
    """An image could not be decoded; the message says why (shown in the ``error`` column)."""


def _to_rgb(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # Pillow's convert("RGB") clips 16-bit values at 255 (a white image): scale instead.
        arr = np.asarray(im)
        if arr.dtype.kind in "iu" and arr.size and int(arr.max()) <= 255 and mode == "I":
            gray = arr.astype(np.uint8)
        else:
            gray = np.clip(np.rint(arr.astype(np.float64) * (255.0 / 65535.0)), 0, 255
                           ).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        scale = 255.0 if arr.size and np.nanmax(arr) <= 1.0 else 1.0
        gray = np.clip(np.rint(np.nan_to_num(arr) * scale), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    return np.asarray(im.convert("RGB"))


def decode_rgb(path, max_pixels: int = MAX_PIXELS, draft: tuple[int, int] | None = None
               ) -> np.ndarray:
    """Decode ``path`` (a file, a file object or an fsspec URL) to an ``(H, W, 3)`` uint8 RGB
    array (see module doc for the conventions).

    ``draft=(w, h)`` asks the JPEG decoder for a reduced-size decode (DCT scaling, 2-8x faster)
    at least that large: fast but not exact, used only when a caller opts in.
    Raises :class:`ImageDecodeError` with a one-line reason for any unreadable file.
    A frame reference (see the module doc) is decoded from its video; ``draft`` is ignored.
    """
    if isinstance(path, str) and FRAME_MARK in path:
        reference = video.parse_frame_reference(path)
        if reference is not None:
            try:
                return video.decode_frame(*reference, max_pixels=max_pixels)
            except video.VideoDecodeError as e:
                raise ImageDecodeError(str(e)) from None
    if is_url(path):   # read whole from its store (fsspec), then decoded like a local file
        path = _fetch(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: we check below
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise ImageDecodeError(
                        f"image too large: {w} x {h} = {w * h / 1e6:.0f} megapixels exceeds the "
                        f"limit of {max_pixels / 1e6:.0f} (possible decompression bomb)")
                if w == 0 or h == 0:
                    raise ImageDecodeError(f"image has no pixels ({w} x {h})")
                if getattr(im, "n_frames", 1) > 1:
                    im.seek(0)
                if draft is not None and im.format == "JPEG":
                    im.draft("RGB", draft)
                im.load()
                try:
                    orientation = im.getexif().get(0x0112, 1)
                except Exception:  # a broken EXIF block must not cost the pixels
                    orientation = 1
                if orientation in (2, 3, 4, 5, 6, 7, 8):
                    # exif_transpose copies even when there is nothing to do: only call it when
                    # there is a rotation or flip to apply
                    im = ImageOps.exif_transpose(im)
                arr = _to_rgb(im)
    except ImageDecodeError:
        raise
    except FileNotFoundError:
        raise ImageDecodeError("file not found") from None
    except PermissionError:
        raise ImageDecodeError("permission denied") from None
    except IsADirectoryError:
        raise ImageDecodeError("is a directory, not an image") from None
    except Image.DecompressionBombError as e:
        raise ImageDecodeError(f"image too large (decompression bomb guard): {e}") from None
    except Image.UnidentifiedImageError:
        raise ImageDecodeError("not an image file (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
        raise ImageDecodeError(f"cannot decode image: {e}") from None
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageDecodeError(f"unexpected decoded shape {arr.shape}")
    return np.ascontiguousarray(arr)


def _fetch(url: str) -> io.BytesIO:
    try:
        return open_binary(url)
    except FileNotFoundError:
        raise ImageDecodeError("file not found") from None
    except PermissionError:
        raise ImageDecodeError("permission denied") from None
    except Exception as e:  # network errors come in many types; the reason is what matters
        text = str(e).strip().replace("\n", " ")
        raise ImageDecodeError(f"cannot read from the store: {type(e).__name__}"
                               + (f": {text}" if text else "")) from None


def source_file(path):
    """The file whose bytes make the pixels of ``path``: the video of a frame reference, else
    ``path`` itself (for cache keys: a frame changes when its video file does)."""
    if isinstance(path, str) and FRAME_MARK in path:
        head, _, index = path.rpartition(FRAME_MARK)
        if head and index.isdigit():
            return head
    return path


def crop_bounds(x: float, y: float, w: float, h: float, width: int, height: int
                ) -> tuple[int, int, int, int]:
    """Pixel bounds ``(r0, r1, c0, c1)`` of the crop of box xywh: rows floor(y)..ceil(y+h),
    columns floor(x)..ceil(x+w) (end exclusive), clipped to the image, at least one pixel.

    A box partly outside the image keeps its inside part; a box wholly outside keeps the one
    border pixel nearest to it, so every box has a crop. Non-finite boxes raise ValueError.
    """
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError(f"box has non-finite coordinates {(x, y, w, h)}")
    c0 = min(max(math.floor(x), 0), width - 1)
    r0 = min(max(math.floor(y), 0), height - 1)
    c1 = min(max(math.ceil(x + w), c0 + 1), width)
    r1 = min(max(math.ceil(y + h), r0 + 1), height)
    return r0, r1, c0, c1


def crop(image: np.ndarray, x: float, y: float, w: float, h: float) -> np.ndarray:
    """The box crop of ``image`` (a view, no copy) with the bounds of :func:`crop_bounds`."""
    r0, r1, c0, c1 = crop_bounds(x, y, w, h, image.shape[1], image.shape[0])
    return image[r0:r1, c0:c1]

"""Pixel statistics of RGB uint8 arrays: the building blocks of the built-in metrics.

numpy in, numbers out. Luma is Y = 0.299 R + 0.587 G + 0.114 B, computed exactly in integers
as ``Q = 299 R + 587 G + 114 B`` (= 1000 Y), so means and variances are exact. Intermediates
(luma, colour planes) are memoised per array object while it is alive, because several metrics
of the same image (or crop) need them: the engine passes one read-only array to all of them.
"""
from __future__ import annotations

import math
import weakref

import numpy as np

_MEMO: dict = {}


def _memo(arr: np.ndarray, name: str, compute):
    """compute(arr), remembered for as long as ``arr`` lives (only for read-only arrays, so
    nobody can change the pixels behind a remembered value)."""
    if arr.flags.writeable:
        return compute(arr)
    key = id(arr)
    slot = _MEMO.get(key)
    if slot is None:
        slot = _MEMO[key] = {}
        weakref.finalize(arr, _MEMO.pop, key, None)
    if name not in slot:
        slot[name] = compute(arr)
    return slot[name]


def _check(rgb: np.ndarray) -> np.ndarray:
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape "
                         f"{getattr(rgb, 'shape', None)}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 RGB pixels, got {rgb.dtype}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError("empty image")
    return rgb


def planes(rgb: np.ndarray) -> np.ndarray:
    """(3, H, W) int16 copy of the channels: contiguous planes make every later op fast."""
    return _memo(_check(rgb), "planes", lambda a: a.transpose(2, 0, 1).astype(np.int16))


def luma_q(rgb: np.ndarray) -> np.ndarray:
    """Q = 299 R + 587 G + 114 B = 1000 Y, exact, as int32 (H, W)."""
    def compute(a):
        r, g, b = planes(a)
        q = r.astype(np.int32) * 299
        q += g.astype(np.int32) * 587
        q += b.astype(np.int32) * 114
        return q
    return _memo(_check(rgb), "luma_q", compute)


def luma_u8(rgb: np.ndarray) -> np.ndarray:
    """round(Y) as uint8, rounding halves up: floor(Y + 0.5) = (Q + 500) // 1000."""
    return _memo(_check(rgb), "luma_u8",
                 lambda a: ((luma_q(a) + 500) // 1000).astype(np.uint8))


def _mean_var(values: np.ndarray) -> tuple[float, float]:
    """Exact population mean and variance of an integer array (Python-int arithmetic)."""
    n = values.size
    v = values.astype(np.int64, copy=False)
    s1 = int(v.sum())
    s2 = int(np.einsum("i,i->", v.ravel(), v.ravel(), dtype=np.int64)) if n < 10**8 else \
        int((v.astype(np.float64) ** 2).sum())
    mean = s1 / n
    var = (n * s2 - s1 * s1) / (n * n)
    return mean, max(var, 0.0)


def brightness(rgb: np.ndarray) -> float:
    """mean(Y) / 255, in [0, 1]."""
    q = luma_q(rgb)
    return float(int(q.sum(dtype=np.int64)) / (q.size * 255000.0))


def contrast(rgb: np.ndarray) -> float:
    """std(Y) / 127.5 (population std), in [0, 1]."""
    _, var = _mean_var(luma_q(rgb))
    return math.sqrt(var) / 1000.0 / 127.5


def laplacian_q(rgb: np.ndarray) -> np.ndarray:
    """4-neighbour Laplacian of Q (= 1000 Y) over the interior pixels, int32 (H-2, W-2)."""
    def compute(a):
        q = luma_q(a)
        lap = q[:-2, 1:-1] + q[2:, 1:-1]
        lap += q[1:-1, :-2]
        lap += q[1:-1, 2:]
        lap -= 4 * q[1:-1, 1:-1]
        return lap
    return _memo(_check(rgb), "laplacian_q", compute)


def sharpness(rgb: np.ndarray) -> float:
    """std(L) / 1020, L = [[0,1,0],[1,-4,1],[0,1,0]] applied to Y over the interior pixels.
    NaN when the array has no interior pixel (fewer than 3 rows or columns)."""
    if rgb.shape[0] < 3 or rgb.shape[1] < 3:
        _check(rgb)
        return float("nan")
    _, var = _mean_var(laplacian_q(rgb))
    return math.sqrt(var) / 1000.0 / 1020.0


def _chroma(a):
    """max, max - min, and the mask of pixels with HSV saturation >= 50/255 and value >=
    40/255. Saturation (max - min) / max >= 50/255 is 255 d >= 50 max, i.e. 51 d >= 10 max."""
    r, g, b = planes(a)
    mx = np.maximum(np.maximum(r, g), b)
    mn = np.minimum(np.minimum(r, g), b)
    d = mx - mn
    chromatic = (mx >= 40) & (51 * d >= 10 * mx)
    return mx, d, chromatic


def chroma(rgb: np.ndarray):
    return _memo(_check(rgb), "chroma", _chroma)


def red_mask(rgb: np.ndarray) -> np.ndarray:
    """Hue in [0, 20] or [340, 360) degrees among chromatic pixels. With R the maximum, the hue
    is 60 (G - B) / d (mod 360), so the test is exactly 3 |G - B| <= d."""
    r, g, b = planes(rgb)
    mx, d, chromatic = chroma(rgb)
    return chromatic & (r == mx) & (3 * np.abs(g - b) <= d)


def green_mask(rgb: np.ndarray) -> np.ndarray:
    """Hue in [70, 150] degrees: with G the maximum, hue = 120 + 60 (B - R) / d, so
    6 (R - B) <= 5 d and 2 (B - R) <= d."""
    r, g, b = planes(rgb)
    mx, d, chromatic = chroma(rgb)
    return chromatic & (g == mx) & (6 * (r - b) <= 5 * d) & (2 * (b - r) <= d)


def blue_mask(rgb: np.ndarray) -> np.ndarray:
    """Hue in [180, 260] degrees: with B the maximum, hue = 240 + 60 (R - G) / d, so
    3 (R - G) <= d."""
    r, g, b = planes(rgb)
    mx, d, chromatic = chroma(rgb)
    return chromatic & (b == mx) & (3 * (r - g) <= d)


def fraction(mask: np.ndarray) -> float:
    return float(np.count_nonzero(mask) / mask.size)


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003): rg = R - G, yb = (R + G)/2 - B;
    sqrt(var(rg) + var(yb)) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2), on the 0..255 scale.
    Computed exactly with yb2 = R + G - 2B = 2 yb."""
    r, g, b = planes(rgb)
    rg = r - g
    yb2 = r + g - 2 * b
    m_rg, v_rg = _mean_var(rg)
    m_yb2, v_yb2 = _mean_var(yb2)
    m_yb, v_yb = m_yb2 / 2.0, v_yb2 / 4.0
    return math.sqrt(v_rg + v_yb) + 0.3 * math.sqrt(m_rg * m_rg + m_yb * m_yb)


def entropy(rgb: np.ndarray) -> float:
    """Shannon entropy in bits of the 256-bin histogram of round(Y), in [0, 8]."""
    counts = np.bincount(luma_u8(rgb).ravel(), minlength=256)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


def mean_rgb(rgb: np.ndarray) -> tuple[float, float, float]:
    """Mean of each channel, 0..255."""
    r, g, b = planes(rgb)
    n = r.size
    return tuple(float(int(c.sum(dtype=np.int64)) / n) for c in (r, g, b))


# ---- perceptual hash -------------------------------------------------------------------------
def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m


_DCT32 = _dct_matrix(32)


def phash(rgb: np.ndarray) -> int:
    """64-bit DCT perceptual hash: luma resized to 32 x 32 (area average), 2-D DCT, the 8 x 8
    lowest frequencies, bit = coefficient > their median (DC excluded from the median).
    Returned as a signed int64 (the same 64 bits)."""
    from PIL import Image
    gray = Image.fromarray(luma_u8(rgb))
    small = np.asarray(gray.resize((32, 32), Image.Resampling.BOX), dtype=np.float64)
    coeffs = (_DCT32 @ small @ _DCT32.T)[:8, :8].ravel()
    median = np.median(coeffs[1:])
    bits = coeffs > median
    value = int(np.packbits(bits).view(">u8")[0])
    return value - (1 << 64) if value >= (1 << 63) else value

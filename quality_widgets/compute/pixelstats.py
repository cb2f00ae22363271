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


def _forget(key):
    return lambda _ref: _MEMO.pop(key, None)


def _slot(arr: np.ndarray):
    """The memo of a read-only array (created on first use), or None for a writeable one."""
    if arr.flags.writeable:
        return None
    key = id(arr)
    slot = _MEMO.get(key)
    if slot is None:
        # the weak reference (kept in the slot) drops the entry when the array dies, before
        # its id can be reused
        slot = _MEMO[key] = {"_ref": weakref.ref(arr, _forget(key))}
    return slot


def _memo(arr: np.ndarray, name: str, compute):
    """compute(arr), remembered for as long as ``arr`` lives (only for read-only arrays, so
    nobody can change the pixels behind a remembered value)."""
    slot = _slot(arr)
    if slot is None:
        return compute(arr)
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
    from . import _summary_kernel as sk
    if sk.HAVE_NUMBA and USE_NUMBA and not rgb.flags.writeable:
        summary(rgb)                      # the compiled pass leaves the luma in the memo

    def compute(a):
        r, g, b = planes(a)
        q = np.multiply(r, 299, dtype=np.int32)
        q += np.multiply(g, 587, dtype=np.int32)
        q += np.multiply(b, 114, dtype=np.int32)
        return q
    return _memo(_check(rgb), "luma_q", compute)


def _luma_moments(rgb: np.ndarray) -> tuple[int, int, int]:
    """(n, sum Q, sum Q^2), exact integers (int64 sums: Q^2 <= 6.5e10, so up to 1.4e8
    pixels cannot overflow)."""
    def compute(a):
        v = luma_q(a).ravel().astype(np.int64)
        return v.size, int(v.sum()), int(v @ v)
    return _memo(_check(rgb), "luma_moments", compute)


def luma_u8(rgb: np.ndarray) -> np.ndarray:
    """round(Y) as uint8, rounding halves up: floor(Y + 0.5) = (Q + 500) // 1000."""
    return _memo(_check(rgb), "luma_u8",
                 lambda a: ((luma_q(a) + 500) // 1000).astype(np.uint8))


def summary(rgb: np.ndarray) -> dict:
    """Every sum the built-in pixel metrics need, from one pass (numba) or numpy passes:
    n, sum and sum of squares of Q = 1000 Y and of the Laplacian of Q (interior pixels),
    counts of red, green and blue pixels, sums and sums of squares of rg = R - G and
    yb2 = R + G - 2B, and channel sums. All exact integers. (The luma histogram is
    :func:`luma_histogram`.)"""
    slot = _MEMO.get(id(rgb))
    if slot is not None and "summary" in slot and not rgb.flags.writeable:
        return slot["summary"]                    # the metrics of one image share this
    return _memo(_check(rgb), "summary", _summary)


USE_NUMBA = True   # tests switch it off to compare both paths

# Decoded images whose crops are read in place (a crop is a view of one of them): id ->
# (weak reference, row stride in bytes). The last few only.
_PARENTS: dict = {}
_MAX_PARENTS = 4
_SK = None        # the compiled kernels' module, imported on first use (numba loads slowly)


def _kernels():
    global _SK
    if _SK is None:
        from . import _summary_kernel
        _SK = _summary_kernel
    return _SK


def _register_parent(a: np.ndarray) -> None:
    key = id(a)
    if key in _PARENTS or a.flags.writeable or not a.flags.c_contiguous:
        return
    while len(_PARENTS) >= _MAX_PARENTS:
        _PARENTS.pop(next(iter(_PARENTS)))
    _PARENTS[key] = (weakref.ref(a, lambda _ref: _PARENTS.pop(key, None)), a.strides[0])


def _layout(a: np.ndarray):
    """(flat bytes, view) of an (H, W, 3) uint8 array for the kernels, which read pixel (i, j)
    of ``view`` in ``flat`` (its offset there and its row stride taken from the view itself):
    the array itself when contiguous; for a crop of a registered image, that image's bytes (no
    copy); otherwise a contiguous copy."""
    if a.flags.c_contiguous:
        return a.reshape(-1), a
    base = a.base
    parent = _PARENTS.get(id(base))
    if (parent is not None and parent[0]() is base and a.strides[0] == parent[1]
            and a.strides[1] == 3 and a.strides[2] == 1):
        return base.reshape(-1), a
    c = np.ascontiguousarray(a)
    return c.reshape(-1), c


def _summary(a: np.ndarray) -> dict:
    sk = _kernels()
    if not (sk.HAVE_NUMBA and USE_NUMBA):
        return _summary_numpy(a)
    _register_parent(a)
    flat, view = _layout(a)
    q = np.empty(a.shape[:2], np.int32)
    values = sk.kernel(flat, view, q)
    slot = _MEMO.get(id(a)) if not a.flags.writeable else None
    if slot is not None:
        slot.setdefault("luma_q", q)   # the kernel's luma serves later statistics
    return dict(zip(sk.SUMMARY_FIELDS, values.tolist(), strict=True))


def masked_summary(rgb: np.ndarray, mask: np.ndarray) -> dict:
    """:func:`summary` of the pixels of ``rgb`` where ``mask`` (bool, same height and width)
    is True: the sums of the brightness, contrast, colour fractions and colourfulness of those
    pixels alone (n = the number of them, 0 for an empty mask; no Laplacian: n_lap = 0).

    With numba, one pass over ``rgb`` gives these sums and ``rgb``'s own :func:`summary`, which
    is remembered for a read-only ``rgb`` (the box metrics of the same crop then read it); the
    numpy fallback gathers the pixels and sums them."""
    rgb = _check(rgb)
    mask = np.ascontiguousarray(mask, dtype=bool)
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"the mask is {mask.shape[0]} x {mask.shape[1]} but the pixels "
                         f"{rgb.shape[0]} x {rgb.shape[1]}")
    from . import _summary_kernel as sk
    if not (sk.HAVE_NUMBA and USE_NUMBA):
        inside = np.flatnonzero(mask.ravel())
        if not len(inside):
            return dict.fromkeys(sk.SUMMARY_FIELDS, 0)
        pixels = np.ascontiguousarray(rgb).reshape(-1, 3).take(inside, axis=0)
        return _summary_numpy(pixels.reshape(-1, 1, 3))
    _register_parent(rgb)
    flat, view = _layout(rgb)
    q = np.empty(rgb.shape[:2], np.int32)
    whole, part = sk.masked_kernel(flat, view, mask.view(np.uint8), q)
    slot = _slot(rgb)
    if slot is not None and "summary" not in slot:
        slot["summary"] = dict(zip(sk.SUMMARY_FIELDS, whole.tolist(), strict=True))
        slot.setdefault("luma_q", q)
    return dict(zip(sk.SUMMARY_FIELDS, part.tolist(), strict=True))


def luma_histogram(rgb: np.ndarray) -> np.ndarray:
    """The 256-bin histogram (int64 counts) of round(Y), halves rounded up."""
    def compute(a):
        from . import _summary_kernel as sk
        if sk.HAVE_NUMBA and USE_NUMBA:
            hist = np.zeros(256, np.int64)
            sk.luma_hist(luma_q(a), hist)
            return hist
        return np.bincount(luma_u8(a).ravel(), minlength=256).astype(np.int64)
    return _memo(_check(rgb), "hist", compute)


def _summary_numpy(a: np.ndarray) -> dict:
    n, s_q, s_q2 = _luma_moments(a)
    out = {"n": n, "s_q": s_q, "s_q2": s_q2}
    if a.shape[0] >= 3 and a.shape[1] >= 3:
        lap = laplacian_q(a).ravel().astype(np.int64)
        out.update(n_lap=lap.size, s_lap=int(lap.sum()), s_lap2=int(lap @ lap))
    else:
        out.update(n_lap=0, s_lap=0, s_lap2=0)
    out.update(red=int(np.count_nonzero(red_mask(a))),
               green=int(np.count_nonzero(green_mask(a))),
               blue=int(np.count_nonzero(blue_mask(a))))
    r, g, b = planes(a)
    rg = (r - g).ravel().astype(np.int64)
    yb2 = (r + g - 2 * b).ravel().astype(np.int64)
    out.update(s_rg=int(rg.sum()), s_rg2=int(rg @ rg), s_yb2=int(yb2.sum()),
               s_yb22=int(yb2 @ yb2))
    out.update(s_r=int(r.sum(dtype=np.int64)), s_g=int(g.sum(dtype=np.int64)),
               s_b=int(b.sum(dtype=np.int64)))
    return out


def _variance(n: int, s1: int, s2: int) -> float:
    """Population variance from exact integer sums."""
    return max((n * s2 - s1 * s1) / (n * n), 0.0)


def brightness(rgb: np.ndarray) -> float:
    """mean(Y) / 255, in [0, 1]."""
    return brightness_of(summary(rgb))


def brightness_of(s: dict) -> float:
    """:func:`brightness` from the sums of :func:`summary` (or :func:`masked_summary`)."""
    return s["s_q"] / (s["n"] * 255000.0)


def contrast(rgb: np.ndarray) -> float:
    """std(Y) / 127.5 (population std), in [0, 1]."""
    return contrast_of(summary(rgb))


def contrast_of(s: dict) -> float:
    """:func:`contrast` from the sums of :func:`summary` (or :func:`masked_summary`)."""
    return math.sqrt(_variance(s["n"], s["s_q"], s["s_q2"])) / 1000.0 / 127.5


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
    NaN when the array has no interior pixel (fewer than 3 rows or columns). Exact integer
    sums (an integer dot product, not BLAS: no thread pool spinning up per image)."""
    s = summary(rgb)
    if s["n_lap"] == 0:
        return float("nan")
    return math.sqrt(_variance(s["n_lap"], s["s_lap"], s["s_lap2"])) / 1000.0 / 1020.0


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


def redness(rgb: np.ndarray) -> float:
    """Fraction of red pixels (see red_mask), in [0, 1]."""
    return redness_of(summary(rgb))


def redness_of(s: dict) -> float:
    """:func:`redness` from the sums of :func:`summary` (or :func:`masked_summary`)."""
    return s["red"] / s["n"]


def greenness(rgb: np.ndarray) -> float:
    """Fraction of green pixels (see green_mask), in [0, 1]."""
    return greenness_of(summary(rgb))


def greenness_of(s: dict) -> float:
    """:func:`greenness` from the sums of :func:`summary` (or :func:`masked_summary`)."""
    return s["green"] / s["n"]


def blueness(rgb: np.ndarray) -> float:
    """Fraction of blue pixels (see blue_mask), in [0, 1]."""
    return blueness_of(summary(rgb))


def blueness_of(s: dict) -> float:
    """:func:`blueness` from the sums of :func:`summary` (or :func:`masked_summary`)."""
    return s["blue"] / s["n"]


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003): rg = R - G, yb = (R + G)/2 - B;
    sqrt(var(rg) + var(yb)) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2), on the 0..255 scale.
    Computed exactly from sums of rg and yb2 = R + G - 2B = 2 yb."""
    return colorfulness_of(summary(rgb))


def colorfulness_of(s: dict) -> float:
    """:func:`colorfulness` from the sums of :func:`summary` (or :func:`masked_summary`)."""
    n = s["n"]
    m_rg, v_rg = s["s_rg"] / n, _variance(n, s["s_rg"], s["s_rg2"])
    m_yb, v_yb = s["s_yb2"] / n / 2.0, _variance(n, s["s_yb2"], s["s_yb22"]) / 4.0
    return math.sqrt(v_rg + v_yb) + 0.3 * math.sqrt(m_rg * m_rg + m_yb * m_yb)


def entropy(rgb: np.ndarray) -> float:
    """Shannon entropy in bits of the 256-bin histogram of round(Y), in [0, 8]."""
    counts = luma_histogram(rgb)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


def mean_rgb(rgb: np.ndarray) -> tuple[float, float, float]:
    """Mean of each channel, 0..255."""
    s = summary(rgb)
    return s["s_r"] / s["n"], s["s_g"] / s["n"], s["s_b"] / s["n"]


# ---- perceptual hash -------------------------------------------------------------------------
def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m


_DCT32 = _dct_matrix(32)


def luma_blocks(rgb: np.ndarray, n: int = 32) -> np.ndarray:
    """Mean luma Y over an n x n grid: pixel (i, j) belongs to block (n i // H, n j // W).
    Images smaller than n in a dimension are first enlarged (nearest neighbour) so that every
    block has pixels."""
    h, w = rgb.shape[:2]
    if h < n or w < n:
        ry, rx = -(-n // h), -(-n // w)
        rgb = np.ascontiguousarray(np.repeat(np.repeat(_check(rgb), ry, 0), rx, 1))
        rgb.setflags(write=False)
        h, w = rgb.shape[:2]
    q = luma_q(rgb)
    rows = (np.arange(h) * n // h).astype(np.int64)
    cols = (np.arange(w) * n // w).astype(np.int64)
    from . import _summary_kernel as sk
    sums = np.zeros((n, n), np.int64)
    if sk.HAVE_NUMBA and USE_NUMBA:
        sk.block_sums(q, rows, cols, sums)
    else:
        row_starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        col_starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
        sums = np.add.reduceat(np.add.reduceat(q.astype(np.int64), row_starts, axis=0),
                               col_starts, axis=1)
    counts = np.bincount(rows, minlength=n)[:, None] * np.bincount(cols, minlength=n)[None, :]
    return sums / counts / 1000.0


def phash(rgb: np.ndarray) -> int:
    """64-bit DCT perceptual hash: luma averaged over a 32 x 32 grid (luma_blocks), 2-D DCT,
    the 8 x 8 lowest frequencies, bit = coefficient > their median (DC excluded from the
    median). Returned as a signed int64 (the same 64 bits)."""
    small = luma_blocks(rgb, 32)
    coeffs = (_DCT32 @ small @ _DCT32.T)[:8, :8].ravel()
    median = np.median(coeffs[1:])
    bits = coeffs > median
    value = int(np.packbits(bits).view(">u8")[0])
    return value - (1 << 64) if value >= (1 << 63) else value

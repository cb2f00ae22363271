"""One fused pass over an RGB image computing every sum the built-in pixel metrics need.

Compiled with numba when it is installed (about 25x faster than the equivalent numpy passes,
which re-read the image once per statistic); pixelstats falls back to numpy otherwise, with
identical (exact integer) results. The layout of the returned vector is SUMMARY_FIELDS. The
pixels arrive as a flat byte buffer with an offset and a row stride, so a crop (a view into the
decoded image) is read in place, with contiguous rows the compiler can vectorise.
"""
from __future__ import annotations

import numpy as np

SUMMARY_FIELDS = ("n", "s_q", "s_q2", "n_lap", "s_lap", "s_lap2", "red", "green", "blue",
                  "s_rg", "s_rg2", "s_yb2", "s_yb22", "s_r", "s_g", "s_b")

try:  # pragma: no cover - exercised where numba is installed (the default)
    from numba import njit
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False


def _terms(r, g, b):
    """The per-pixel terms every sum is made of (``r, g, b`` int32 channel values):
    Q = 299 R + 587 G + 114 B (1000 x luma, exact), rg = R - G, yb2 = R + G - 2B, and 0/1 flags
    of a red, green and blue pixel (HSV V >= 40/255, S >= 50/255, hue band of the maximum
    channel; see pixelstats.red_mask etc. for the derivation of the integer tests). The colour
    tests are an elif chain (a pixel whose first maximum fails its band goes on to the next:
    G = B > R is hue 180, blue), written without branches so that the loops calling this
    (inlined) vectorise."""
    qq = 299 * r + 587 * g + 114 * b
    rg = r - g
    yb = r + g - 2 * b
    mx = max(r, max(g, b))
    d = mx - min(r, min(g, b))
    chromatic = np.int32(mx >= 40) & np.int32(51 * d >= 10 * mx)
    is_red = chromatic & np.int32(r == mx) & np.int32(3 * abs(g - b) <= d)
    rest = chromatic - is_red
    is_green = (rest & np.int32(g == mx) & np.int32(6 * (r - b) <= 5 * d)
                & np.int32(2 * (b - r) <= d))
    rest = rest - is_green
    is_blue = rest & np.int32(b == mx) & np.int32(3 * (r - g) <= d)
    return qq, rg, yb, is_red, is_green, is_blue


def _pixel_pass(flat, off, stride, height, width, q, out):
    """Luma, channel and colour sums of the pixels of one image or crop, in one pass.

    Pixel (i, j), channel c is ``flat[off + i * stride + 3 * j + c]`` (``flat`` a 1-D uint8
    buffer: the image's bytes, or the parent image's bytes for a crop view). Writes
    Q = 299 R + 587 G + 114 B (1000 x luma, exact) into ``q`` (height x width) and fills
    ``out`` (SUMMARY_FIELDS order) with sum Q, sum Q^2, the red / green / blue pixel counts,
    the sums and squares of rg = R - G and yb2 = R + G - 2B and the channel sums (the terms of
    :func:`_terms`). Each row slice is contiguous and the terms have no branch, so the compiler
    vectorises the loop (about 6x faster than indexing rgb[i, j, c]).
    """
    s_q = np.int64(0)
    s_q2 = np.int64(0)
    s_r = np.int64(0)
    s_g = np.int64(0)
    s_b = np.int64(0)
    s_rg = np.int64(0)
    s_rg2 = np.int64(0)
    s_yb = np.int64(0)
    s_yb2 = np.int64(0)
    red = np.int64(0)
    green = np.int64(0)
    blue = np.int64(0)
    for i in range(height):
        start = off + i * stride
        row = flat[start:start + 3 * width]
        qrow = q[i]
        for j in range(width):
            r = np.int32(row[3 * j])
            g = np.int32(row[3 * j + 1])
            b = np.int32(row[3 * j + 2])
            qq, rg, yb, is_red, is_green, is_blue = _terms(r, g, b)
            qrow[j] = qq
            s_q += qq
            s_q2 += np.int64(qq) * qq
            s_r += r
            s_g += g
            s_b += b
            s_rg += rg
            s_rg2 += rg * rg
            s_yb += yb
            s_yb2 += yb * yb
            red += is_red
            green += is_green
            blue += is_blue
    out[0] = height * width
    out[1] = s_q
    out[2] = s_q2
    out[6] = red
    out[7] = green
    out[8] = blue
    out[9] = s_rg
    out[10] = s_rg2
    out[11] = s_yb
    out[12] = s_yb2
    out[13] = s_r
    out[14] = s_g
    out[15] = s_b


def _masked_pass(flat, off, stride, height, width, mask, q, out, out_mask):
    """:func:`_pixel_pass` of the pixels of one crop (``out``, ``q``) and, in the same pass,
    the same sums over the crop's pixels where ``mask`` (uint8 0/1, height x width) is 1
    (``out_mask``; its Laplacian fields stay 0). Each term is multiplied by the mask value
    rather than branched on, so the loop vectorises like the unmasked one."""
    s_q = np.int64(0)
    s_q2 = np.int64(0)
    s_r = np.int64(0)
    s_g = np.int64(0)
    s_b = np.int64(0)
    s_rg = np.int64(0)
    s_rg2 = np.int64(0)
    s_yb = np.int64(0)
    s_yb2 = np.int64(0)
    red = np.int64(0)
    green = np.int64(0)
    blue = np.int64(0)
    m_n = np.int64(0)
    m_q = np.int64(0)
    m_q2 = np.int64(0)
    m_r = np.int64(0)
    m_g = np.int64(0)
    m_b = np.int64(0)
    m_rg = np.int64(0)
    m_rg2 = np.int64(0)
    m_yb = np.int64(0)
    m_yb2 = np.int64(0)
    m_red = np.int64(0)
    m_green = np.int64(0)
    m_blue = np.int64(0)
    for i in range(height):
        start = off + i * stride
        row = flat[start:start + 3 * width]
        qrow = q[i]
        mrow = mask[i]
        for j in range(width):
            r = np.int32(row[3 * j])
            g = np.int32(row[3 * j + 1])
            b = np.int32(row[3 * j + 2])
            qq, rg, yb, is_red, is_green, is_blue = _terms(r, g, b)
            qrow[j] = qq
            qq2 = np.int64(qq) * qq
            s_q += qq
            s_q2 += qq2
            s_r += r
            s_g += g
            s_b += b
            s_rg += rg
            s_rg2 += rg * rg
            s_yb += yb
            s_yb2 += yb * yb
            red += is_red
            green += is_green
            blue += is_blue
            m = np.int32(mrow[j])
            m_n += m
            m_q += m * qq
            m_q2 += np.int64(m) * qq2
            m_r += m * r
            m_g += m * g
            m_b += m * b
            m_rg += m * rg
            m_rg2 += m * (rg * rg)
            m_yb += m * yb
            m_yb2 += m * (yb * yb)
            m_red += m & is_red
            m_green += m & is_green
            m_blue += m & is_blue
    for o, n, sq, sq2, rd, gr, bl, rg_, rg2, yb_, yb2, sr, sg, sb in (
            (out, height * width, s_q, s_q2, red, green, blue, s_rg, s_rg2, s_yb, s_yb2, s_r,
             s_g, s_b),
            (out_mask, m_n, m_q, m_q2, m_red, m_green, m_blue, m_rg, m_rg2, m_yb, m_yb2, m_r,
             m_g, m_b)):
        o[0] = n
        o[1] = sq
        o[2] = sq2
        o[6] = rd
        o[7] = gr
        o[8] = bl
        o[9] = rg_
        o[10] = rg2
        o[11] = yb_
        o[12] = yb2
        o[13] = sr
        o[14] = sg
        o[15] = sb


def _luma_hist_pass(q, hist):
    # round(Y) = (Q + 500) // 1000 by an exact multiply-shift (checked for every possible Q
    # in the tests): integer division is the slowest op there is here
    for i in range(q.shape[0]):
        row = q[i]
        for j in range(q.shape[1]):
            hist[((np.int64(row[j]) + 500) * 67109) >> 26] += 1


def _laplacian_pass(q):
    """Sum and sum of squares of the 4-neighbour Laplacian of ``q`` over its interior."""
    s_lap = np.int64(0)
    s_lap2 = np.int64(0)
    for i in range(1, q.shape[0] - 1):
        above = q[i - 1]
        here = q[i]
        below = q[i + 1]
        for j in range(1, q.shape[1] - 1):
            lap = above[j] + below[j] + here[j - 1] + here[j + 1] - 4 * here[j]
            s_lap += lap
            s_lap2 += np.int64(lap) * lap
    return s_lap, s_lap2


def _block_sums(q, rows, cols, sums):
    """sums[rows[i], cols[j]] += q[i, j]: luma summed over a grid of blocks (``rows`` and
    ``cols`` non-decreasing). Column sums over a band of rows first (a vectorised add per
    pixel), then each band's columns into its blocks."""
    height, width = q.shape
    colsum = np.zeros(width, np.int64)
    for i in range(height):
        row = q[i]
        for j in range(width):
            colsum[j] += row[j]
        if i == height - 1 or rows[i + 1] != rows[i]:
            r = rows[i]
            for j in range(width):
                sums[r, cols[j]] += colsum[j]
                colsum[j] = 0


def _kernel(flat, view, q):
    """Every SUMMARY_FIELDS sum of the pixels of ``view`` (an (H, W, 3) uint8 array whose
    bytes are in ``flat`` with a pixel stride of 3: the image itself, or a crop of it read in
    place; its offset in ``flat`` and row stride are taken from the view, which costs less
    than asking numpy from Python); ``q`` (int32, H x W) receives the luma, which the caller
    keeps for other statistics (the Laplacian, the histogram, the perceptual hash)."""
    off = view.ctypes.data - flat.ctypes.data
    stride = view.strides[0]
    height = view.shape[0]
    width = view.shape[1]
    out = np.zeros(16, np.int64)
    _pixel_pass(flat, off, stride, height, width, q, out)
    out[3] = max(height - 2, 0) * max(width - 2, 0)
    s_lap, s_lap2 = _laplacian_pass(q)
    out[4] = s_lap
    out[5] = s_lap2
    return out


def _masked_kernel(flat, view, mask, q):
    """(crop sums, mask sums): every SUMMARY_FIELDS sum of ``view`` as in :func:`_kernel` (with
    its Laplacian, ``q`` receiving the luma) and the same sums over the pixels where ``mask``
    is 1 (no Laplacian: n_lap = 0), from one pass over the pixels."""
    off = view.ctypes.data - flat.ctypes.data
    stride = view.strides[0]
    height = view.shape[0]
    width = view.shape[1]
    out = np.zeros(16, np.int64)
    out_mask = np.zeros(16, np.int64)
    _masked_pass(flat, off, stride, height, width, mask, q, out, out_mask)
    out[3] = max(height - 2, 0) * max(width - 2, 0)
    s_lap, s_lap2 = _laplacian_pass(q)
    out[4] = s_lap
    out[5] = s_lap2
    return out, out_mask


if HAVE_NUMBA:
    _jit = njit(cache=True, nogil=True)
    _terms = njit(inline="always")(_terms)     # resolved when the passes below compile
    _pixel_pass = _jit(_pixel_pass)
    _masked_pass = _jit(_masked_pass)
    _laplacian_pass = _jit(_laplacian_pass)
    luma_hist = _jit(_luma_hist_pass)
    block_sums = _jit(_block_sums)
    kernel = _jit(_kernel)
    masked_kernel = _jit(_masked_kernel)
else:
    kernel = None
    masked_kernel = None
    block_sums = None
    luma_hist = None

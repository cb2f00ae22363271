"""Compiled passes of :func:`similarity.nearest_distance` over one tile of float32 scores.

A tile is ``g = X[rows] @ X[cols].T`` (float32, BLAS). The score of a pair is
``s = sq_r[i] + sq_c[j] + a * g[i, j]``: the squared Euclidean distance with ``a = -2`` and the
squared norms, or minus the cosine with ``a = -1`` and zeros. Each pass reads the tile once,
without a temporary array (the numpy version made five: the negation, two comparisons, two
index lists), and runs on a band of rows so that threads share a tile (the kernels release the
GIL). Compiled with numba (the project's dependency); similarity keeps a numpy path without it.
"""
from __future__ import annotations

import numpy as np

try:  # pragma: no cover - numba is a dependency
    from numba import njit
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False


def _band_min(g, r0, r1, sq_r, sq_c, a, rowmin, colmin):
    """rowmin[i] = min_j s(i, j) for the rows r0:r1 of the tile, and colmin[j] lowered to the
    minimum over these rows (colmin: this band's own array, merged by the caller)."""
    for i in range(r0, r1):
        row = g[i]
        base = sq_r[i]
        m = np.float32(np.inf)
        for j in range(row.shape[0]):
            s = (base + sq_c[j]) + a * row[j]
            m = min(m, s)
            colmin[j] = min(colmin[j], s)
        rowmin[i] = m


def _band_hits(g, r0, r1, sq_r, sq_c, a, lim_r, lim_c, both):
    """(i, j) of the pairs of rows r0:r1 with s(i, j) <= lim_r[i], or (``both``) s(i, j) <=
    lim_c[j]: one counting pass (vectorised), then the rows with a hit read again."""
    counts = np.zeros(r1 - r0, np.int64)
    for i in range(r0, r1):
        row = g[i]
        base = sq_r[i]
        lim = lim_r[i]
        k = 0
        for j in range(row.shape[0]):
            s = (base + sq_c[j]) + a * row[j]
            k += (s <= lim) | (both & (s <= lim_c[j]))
        counts[i - r0] = k
    total = counts.sum()
    out_i = np.empty(total, np.int64)
    out_j = np.empty(total, np.int64)
    p = 0
    for i in range(r0, r1):
        if counts[i - r0] == 0:
            continue
        row = g[i]
        base = sq_r[i]
        lim = lim_r[i]
        for j in range(row.shape[0]):
            s = (base + sq_c[j]) + a * row[j]
            if s <= lim or (both and s <= lim_c[j]):
                out_i[p] = i
                out_j[p] = j
                p += 1
    return out_i, out_j


def _pair_distances(x, sq, i, j, euclidean, out):
    """out[k] = the float64 distance of rows i[k] and j[k] of ``x`` (already normalised for
    the cosine): 1 - x_i . x_j, or sqrt(max(sq_i + sq_j - 2 x_i . x_j, 0)), sq the squared
    norms."""
    for k in range(len(i)):
        u = x[i[k]]
        v = x[j[k]]
        dot = 0.0
        for t in range(u.shape[0]):
            dot += u[t] * v[t]
        if euclidean:
            out[k] = np.sqrt(max(sq[i[k]] + sq[j[k]] - 2.0 * dot, 0.0))
        else:
            out[k] = 1.0 - dot


if HAVE_NUMBA:
    _jit = njit(cache=True, nogil=True)
    band_min = _jit(_band_min)
    band_hits = _jit(_band_hits)
    pair_distances = _jit(_pair_distances)
else:  # pragma: no cover
    band_min = band_hits = pair_distances = None

"""Passes of :func:`similarity.knn` over one tile of float32 scores, compiled and in numpy.

A tile is ``g = Q[rows] @ V[cols].T`` (float32, BLAS). The score of a pair is
``s = sq_r[i] + sq_c[j] + a * g[i, j]``: the squared Euclidean distance with ``a = -2`` and the
squared norms, or minus the cosine with ``a = -1`` and zeros. Each compiled pass reads the tile
once, without a temporary array (the numpy versions make several: the scores, comparisons, index
lists), and runs on a band of rows so that threads share a tile (the kernels release the GIL).
Compiled with numba (the project's dependency); :func:`kernels` gives the numpy versions, with
the same signatures, where numba is missing.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

try:  # pragma: no cover - numba is a dependency
    from numba import njit
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False


def _insert_sorted(buf, s):
    """Put ``s`` into the ascending ``buf`` (its largest entry drops out)."""
    p = buf.shape[0] - 1
    while p > 0 and buf[p - 1] > s:
        buf[p] = buf[p - 1]
        p -= 1
    buf[p] = s


if HAVE_NUMBA:  # the kernels below call the compiled helper
    _insert_sorted = njit(cache=True, nogil=True)(_insert_sorted)


def _band_topk(g, sq_r, sq_c, a, top_r, top_c, both):
    """Merge the scores of the band ``g`` (rows x columns) into ``top_r`` (the k smallest so far
    of each row, ascending) and, when ``both``, into ``top_c`` (the same per column: this band's
    own array, merged by the caller). k = 1 takes a branch-free minimum loop."""
    k = top_r.shape[1]
    for i in range(g.shape[0]):
        row = g[i]
        base = sq_r[i]
        buf = top_r[i]
        if k == 1:
            m = buf[0]
            for j in range(row.shape[0]):
                s = (base + sq_c[j]) + a * row[j]
                m = min(m, s)
                if both:
                    top_c[j, 0] = min(top_c[j, 0], s)
            buf[0] = m
            continue
        thr = buf[k - 1]
        for j in range(row.shape[0]):
            s = (base + sq_c[j]) + a * row[j]
            if s < thr:
                _insert_sorted(buf, s)
                thr = buf[k - 1]
            if both and s < top_c[j, k - 1]:
                _insert_sorted(top_c[j], s)


def _band_hits(g, sq_r, sq_c, a, lim_r, lim_c, both):
    """(i, j) of the pairs of the band ``g`` with s(i, j) <= lim_r[i], or (``both``) s(i, j) <=
    lim_c[j]: one counting pass (vectorised), then the rows with a hit read again."""
    n_rows = g.shape[0]
    counts = np.zeros(n_rows, np.int64)
    for i in range(n_rows):
        row = g[i]
        base = sq_r[i]
        lim = lim_r[i]
        k = 0
        for j in range(row.shape[0]):
            s = (base + sq_c[j]) + a * row[j]
            k += (s <= lim) | (both & (s <= lim_c[j]))
        counts[i] = k
    total = counts.sum()
    out_i = np.empty(total, np.int64)
    out_j = np.empty(total, np.int64)
    p = 0
    for i in range(n_rows):
        if counts[i] == 0:
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


def _pair_distances(xq, sq_q, xv, sq_v, i, j, euclidean, out):
    """out[k] = the float64 distance of row i[k] of ``xq`` and row j[k] of ``xv`` (both already
    normalised for the cosine): 1 - u . v, or sqrt(max(|u|^2 + |v|^2 - 2 u . v, 0)) with the
    squared norms ``sq_q`` / ``sq_v``."""
    for k in range(len(i)):
        u = xq[i[k]]
        v = xv[j[k]]
        dot = 0.0
        for t in range(u.shape[0]):
            dot += u[t] * v[t]
        if euclidean:
            out[k] = np.sqrt(max(sq_q[i[k]] + sq_v[j[k]] - 2.0 * dot, 0.0))
        else:
            out[k] = 1.0 - dot


# ---- the same passes in numpy (no numba) -------------------------------------------------------
def _scores_numpy(g, sq_r, sq_c, a):
    return (sq_r[:, None] + sq_c[None, :]) + a * g


def _merge_smallest(top, s):
    """top[:] = the k smallest of each row of ``top`` and ``s`` together, ascending."""
    k = top.shape[1]
    part = np.partition(s, k - 1, axis=1)[:, :k] if s.shape[1] > k else s
    top[:] = np.sort(np.concatenate([top, part], axis=1), axis=1)[:, :k]


def _band_topk_numpy(g, sq_r, sq_c, a, top_r, top_c, both):
    s = _scores_numpy(g, sq_r, sq_c, a)
    _merge_smallest(top_r, s)
    if both:
        _merge_smallest(top_c, s.T)


def _band_hits_numpy(g, sq_r, sq_c, a, lim_r, lim_c, both):
    s = _scores_numpy(g, sq_r, sq_c, a)
    hit = s <= lim_r[:, None]
    if both:
        hit |= s <= lim_c[None, :]
    return np.nonzero(hit)


def _pair_distances_numpy(xq, sq_q, xv, sq_v, i, j, euclidean, out):
    dots = np.einsum("ij,ij->i", xq[i], xv[j])
    out[:] = np.sqrt(np.maximum(sq_q[i] + sq_v[j] - 2 * dots, 0)) if euclidean else 1.0 - dots


class Kernels(NamedTuple):
    band_topk: object
    band_hits: object
    pair_distances: object


NUMPY = Kernels(_band_topk_numpy, _band_hits_numpy, _pair_distances_numpy)
if HAVE_NUMBA:
    _jit = njit(cache=True, nogil=True)
    COMPILED = Kernels(_jit(_band_topk), _jit(_band_hits), _jit(_pair_distances))
else:  # pragma: no cover
    COMPILED = None


def kernels() -> Kernels:
    """The compiled passes, or the numpy ones where numba is missing (``HAVE_NUMBA`` False)."""
    return COMPILED if HAVE_NUMBA else NUMPY

"""Nearest-neighbour distances and duplicate groups, from hashes or from embeddings.

Used by the built-in ``uniqueness`` metric; call them directly with your own embeddings::

    frames.images["uniqueness"] = quality_widgets.similarity.nearest_distance(
        embeddings, metric="cosine")
"""
from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..data.boxes import box_iou_matrix  # noqa: F401 (public here before data.boxes owned it)

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return _POPCOUNT8[x.view(np.uint8)].reshape(*x.shape, 8).sum(-1)


def hamming_blocks(hashes: np.ndarray, block: int = 2048):
    """Yield (start, distances) with the (block, n) Hamming distances (0..64) of the uint64
    ``hashes`` rows start..start+block to all hashes."""
    h = np.asarray(hashes).astype(np.int64).view(np.uint64)
    for start in range(0, len(h), block):
        yield start, _popcount(h[start:start + block, None] ^ h[None, :]).astype(np.int16)


def _pair_distance_blocks(hashes, flat, colors, color_tolerance, block=2048):
    """Distances in [0, 1] between images: Hamming / 64 between hashes, except between two
    images without structure (uniform colour: all their hashes alike), which are 0 apart when
    their mean colours match within ``color_tolerance`` and 1 apart otherwise."""
    for start, d in hamming_blocks(hashes, block):
        dist = d / 64.0
        if flat is not None and flat.any():
            rows_flat = flat[start:start + len(d)]
            both = rows_flat[:, None] & flat[None, :]
            if both.any():
                close = (np.abs(colors[start:start + len(d), None, :] - colors[None, :, :])
                         <= color_tolerance).all(-1)
                dist = np.where(both, np.where(close, 0.0, 1.0), dist)
        yield start, dist


def hash_uniqueness(hashes, flat=None, colors=None, threshold: float = 0.125,
                    color_tolerance: float = 2.0):
    """(uniqueness, group): distance to the nearest other image in [0, 1] (1 when alone), and
    a duplicate group id per image: the position of the first member of the connected component
    of pairs at distance <= ``threshold`` (every image has a group; duplicates share one).

    Distances are Hamming / 64 between the 64-bit ``hashes``, except between two ``flat``
    images (uniform colour: all their hashes alike), which are 0 apart when their ``colors``
    match within ``color_tolerance`` in every channel and 1 apart otherwise. The values are
    exactly those of comparing every pair, without comparing every pair: identical hashes are
    merged, and the distinct ones are indexed by their four 16-bit chunks (multi-index hashing:
    two hashes within d bits agree within floor(d / 4) bits on some chunk), so only pairs of
    buckets whose keys are close are compared (about 13 s of CPU for 1,000,000 random hashes,
    on the threads of this process).
    """
    hashes = np.asarray(hashes)
    n = len(hashes)
    from . import _hamming as hm
    if not hm.HAVE_NUMBA:
        return _hash_uniqueness_brute(hashes, flat, colors, threshold, color_tolerance)
    nearest = np.ones(n)
    if n == 0:
        return nearest, np.zeros(0, dtype=np.int64)
    h = hashes.astype(np.int64).view(np.uint64)
    flat = np.zeros(n, bool) if flat is None else np.asarray(flat, dtype=bool)
    uvals, inv, counts = np.unique(h, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    nf_count = np.bincount(inv, weights=~flat, minlength=len(uvals)).astype(np.int64)
    has_nf = nf_count > 0
    radius = max((k for k in range(65) if k / 64.0 <= threshold), default=-1)

    # nearest distinct hash: non-flat images against every other hash, flat images against
    # the hashes of non-flat images (two flat images are compared by colour instead)
    index = hm.HashIndex(uvals)
    best_all = index.nearest_all(radius)
    d_nf = np.full(len(uvals), hm.NONE, dtype=np.int64)
    flat_values = np.unique(inv[flat])
    if len(flat_values):
        nf_index = index if has_nf.all() else hm.HashIndex(uvals[has_nf])
        d_nf[flat_values] = nf_index.nearest(uvals[flat_values])
    d = np.where(flat, d_nf[inv], best_all[inv]).astype(np.float64) / 64.0
    # an identical hash of an image the pair is compared by Hamming with: distance 0
    same = np.where(flat, nf_count[inv] > 0, counts[inv] > 1)
    d[same] = 0.0
    edges = []
    if flat.any():
        f_pos = np.flatnonzero(flat)
        cf = (np.zeros((n, 3)) if colors is None else np.asarray(colors, dtype=float))[f_pos]
        a, b = _close_colour_pairs(cf, color_tolerance)
        close = np.zeros(len(f_pos), bool)
        close[a] = close[b] = True
        flat_d = np.where(close, 0.0, 1.0 if len(f_pos) > 1 else np.inf)
        d[f_pos] = np.minimum(d[f_pos], flat_d)
        if threshold >= 0:
            edges.append((f_pos[a], f_pos[b]))
    if n > 1:
        nearest = np.minimum(d, 1.0)

    # duplicate groups: components of the pairs at distance <= threshold
    if threshold >= 1:               # every distance is <= 1: one group
        return nearest, np.zeros(n, dtype=np.int64)
    if radius >= 0:
        order = np.argsort(inv, kind="stable")
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        # within one hash value: the images compared by Hamming (all but flat-flat pairs)
        nf_order = order[~flat[order]]
        nf_value = inv[nf_order]
        rep_nf = np.full(len(uvals), -1, dtype=np.int64)
        first = np.r_[True, nf_value[1:] != nf_value[:-1]]
        rep_nf[nf_value[first]] = nf_order[first]
        edges.append((rep_nf[nf_value], nf_order))
        f_all = np.flatnonzero(flat & has_nf[inv])
        edges.append((rep_nf[inv[f_all]], f_all))
        # between hash values within the radius
        queries = np.flatnonzero(has_nf & (best_all <= radius))
        if len(queries):
            qa, qb = index.pairs(queries, radius, has_nf)
            both = has_nf[qb]
            edges.append((rep_nf[qa[both]], rep_nf[qb[both]]))
            # a value of flat images only: each of them is linked to the non-flat image
            qa, qb = qa[~both], qb[~both]
            if len(qb):
                anchor = {}
                for u, v in zip(rep_nf[qa].tolist(), qb.tolist(), strict=True):
                    if v in anchor:
                        edges.append((np.array([anchor[v]]), np.array([u])))
                    else:
                        anchor[v] = u
                vs = np.fromiter(anchor, dtype=np.int64)
                anchors = np.fromiter(anchor.values(), dtype=np.int64)
                members = np.concatenate([order[starts[v]:starts[v] + counts[v]] for v in vs])
                owners = np.repeat(anchors, counts[vs])
                edges.append((owners, members))
    a = np.concatenate([e[0] for e in edges]).astype(np.int64) if edges else np.zeros(0, np.int64)
    b = np.concatenate([e[1] for e in edges]).astype(np.int64) if edges else np.zeros(0, np.int64)
    return nearest, hm.components_min(n, a, b)


def _close_colour_pairs(colors, tolerance):
    """Pairs (a, b) of rows of ``colors`` (m, 3) within ``tolerance`` in every channel,
    enough of them to connect each close group and to name every row that has a close
    neighbour (rows of one colour are chained, not paired all with all)."""
    m = len(colors)
    none = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    if m < 2 or not tolerance >= 0:
        return none
    finite = np.isfinite(colors).all(axis=1)
    rows = np.flatnonzero(finite)
    if not len(rows):
        return none
    ucol, uinv = np.unique(colors[rows], axis=0, return_inverse=True)
    uinv = uinv.ravel()
    order = np.argsort(uinv, kind="stable")
    same = uinv[order][1:] == uinv[order][:-1]
    pa, pb = [rows[order[:-1][same]]], [rows[order[1:][same]]]
    first_row = rows[order[np.r_[True, ~same]]]         # one row per distinct colour
    if len(ucol) > 1:
        if np.isinf(tolerance):
            pa.append(first_row[:-1])
            pb.append(first_row[1:])
        else:
            cell = np.floor(ucol / tolerance).astype(np.int64) if tolerance > 0 else None
            grid: dict = {}
            keys = [tuple(c) for c in (cell if cell is not None else ucol).tolist()]
            for k, key in enumerate(keys):
                grid.setdefault(key, []).append(k)
            offsets = [(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)]
            for k, key in enumerate(keys):
                near = [key] if cell is None else [(key[0] + i, key[1] + j, key[2] + m)
                                                   for i, j, m in offsets]
                for other_key in near:
                    for o in grid.get(other_key, ()):
                        if o > k and (np.abs(ucol[o] - ucol[k]) <= tolerance).all():
                            pa.append(first_row[[k]])
                            pb.append(first_row[[o]])
    return np.concatenate(pa).astype(np.int64), np.concatenate(pb).astype(np.int64)


def _hash_uniqueness_brute(hashes, flat=None, colors=None, threshold: float = 0.125,
                           color_tolerance: float = 2.0):
    """:func:`hash_uniqueness` by comparing every pair (n^2 / 2 comparisons): the definition,
    and the path where numba is missing."""
    hashes = np.asarray(hashes)
    n = len(hashes)
    nearest = np.ones(n)
    parent = np.arange(n)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    flat = None if flat is None else np.asarray(flat, dtype=bool)
    colors = None if colors is None else np.asarray(colors, dtype=float)
    for start, dist in _pair_distance_blocks(hashes, flat, colors, color_tolerance):
        rows = np.arange(start, start + len(dist))
        dist[np.arange(len(dist)), rows] = np.inf  # not its own neighbour
        if n > 1:
            nearest[rows] = dist.min(axis=1)
        for i, j in zip(*np.nonzero(dist <= threshold), strict=True):
            a, b = find(start + i), find(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups = np.array([find(i) for i in range(n)])
    return nearest, groups


def nearest_distance(embeddings, metric: str = "cosine", block: int = 4096) -> np.ndarray:
    """Distance of each row of ``embeddings`` (n, d) to its nearest other row: cosine distance
    (1 - cos, in [0, 2]) or Euclidean; NaN for fewer than 2 rows.

    Computed in float64 like the definition, fast: the candidates come from float32 products
    of blocks of rows (each pair once), keeping for each row every column within the float32
    error bound of its best (2 (d + 4) eps32 times the squared norms), and only those are
    measured in float64. The products are BLAS's, a band of rows per thread (BLAS held to one
    thread by threadpoolctl when installed; else one band on BLAS's threads); the passes over
    each block (minima, then the pairs within the bound) are compiled and run on the same
    threads. 100,000 x 512 takes about 75 s of CPU (the float32 products alone about 61 s),
    shared by the cores of this process (bench/scale.py)."""
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (n, d), got shape {x.shape}")
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    n, dim = x.shape
    out = np.full(n, np.nan)
    if n < 2:
        return out
    x64 = x.astype(np.float64)
    bad = ~np.isfinite(x64).all(axis=1)
    if bad.any():
        raise ValueError(f"embeddings row {int(np.flatnonzero(bad)[0])} is not finite "
                         f"({int(bad.sum())} such rows)")
    if metric == "cosine":
        norms = np.linalg.norm(x64, axis=1, keepdims=True)
        x64 = x64 / np.where(norms == 0, 1, norms)
    sq = (x64 * x64).sum(1)
    x32 = x64.astype(np.float32)
    eps = float(np.finfo(np.float32).eps)
    tol = (2 * (dim + 4) * eps * (sq + sq.max())).astype(np.float32)
    from . import _nearest as nk
    if not nk.HAVE_NUMBA:  # pragma: no cover - numba is a dependency
        return _nearest_numpy(x64, x32, sq, tol, metric, block)
    from ._hamming import _threads
    euclidean = metric == "euclidean"
    a = np.float32(-2.0 if euclidean else -1.0)
    sq32 = sq.astype(np.float32) if euclidean else np.zeros(n, np.float32)
    best = np.full(n, np.inf, dtype=np.float32)
    # Each thread multiplies its own band of rows with BLAS kept to one thread (BLAS's own
    # threads spin between calls while the passes run: measured 40% more CPU on 2 cores);
    # without threadpoolctl to say so, one band and BLAS's threads.
    try:
        from threadpoolctl import threadpool_limits
        limit, threads = threadpool_limits(1, user_api="blas"), _threads()
    except ImportError:  # pragma: no cover - threadpoolctl is optional
        limit, threads = contextlib.nullcontext(), 1
    found_i, found_j = [], []

    def band_min(r0, b0, b1, cols, diag):
        g = x32[r0 + b0:r0 + b1] @ x32[cols].T
        if diag:                    # score +inf: a row is not its own neighbour
            g[np.arange(b1 - b0), np.arange(b0, b1)] = -np.inf
        rowmin = np.empty(b1 - b0, np.float32)
        colmin = np.full(g.shape[1], np.inf, np.float32)
        nk.band_min(g, 0, b1 - b0, sq32[r0 + b0:r0 + b1], sq32[cols], a, rowmin, colmin)
        return g, rowmin, colmin

    with limit, ThreadPoolExecutor(threads) as pool:
        for r0 in range(0, n, block):
            rows = slice(r0, min(r0 + block, n))
            bands = np.linspace(0, rows.stop - r0, threads + 1).astype(int).tolist()
            spans = list(zip(bands[:-1], bands[1:], strict=True))
            for c0 in range(r0, n, block):
                cols = slice(c0, min(c0 + block, n))
                diag = r0 == c0
                parts = list(pool.map(
                    lambda ab, r0=r0, cols=cols, diag=diag: band_min(r0, ab[0], ab[1], cols, diag),
                    spans))
                np.minimum(best[rows], np.concatenate([p[1] for p in parts]), out=best[rows])
                if not diag:
                    colmin = np.minimum.reduce([p[2] for p in parts])
                    np.minimum(best[cols], colmin, out=best[cols])
                lim_r = best[rows] + tol[rows]
                lim_c = best[cols] + tol[cols]

                def hits(k, spans=spans, parts=parts, r0=r0, cols=cols, lim_r=lim_r,
                         lim_c=lim_c, diag=diag):
                    b0, b1 = spans[k]
                    return nk.band_hits(parts[k][0], 0, b1 - b0, sq32[r0 + b0:r0 + b1],
                                        sq32[cols], a, lim_r[b0:b1], lim_c, not diag)
                for k, (hi, hj) in enumerate(pool.map(hits, range(len(spans)))):
                    found_i.append(r0 + spans[k][0] + hi)
                    found_j.append(c0 + hj)
    # each pair found counts for both of its rows (it was kept for one of them)
    i = np.concatenate(found_i)
    j = np.concatenate(found_j)
    dist = np.empty(len(i))
    nk.pair_distances(x64, sq, i, j, euclidean, dist)
    nearest = np.full(n, np.inf)
    np.minimum.at(nearest, i, dist)
    np.minimum.at(nearest, j, dist)
    return nearest


def _nearest_numpy(x64, x32, sq, tol, metric, block) -> np.ndarray:
    """:func:`nearest_distance` without numba: the same candidates from numpy passes."""
    n = len(x64)
    out = np.full(n, np.nan)
    sq32 = sq.astype(np.float32)
    best = np.full(n, np.inf, dtype=np.float32)
    found_i, found_j = [], []

    def keep(d, rows, cols, axis):
        """Candidates of ``rows`` (along ``axis`` of tile d) within tolerance of their best."""
        m = d.min(axis=axis)
        np.minimum(best[rows], m, out=m)
        best[rows] = m
        limit = m + tol[rows]
        hit = d <= (limit[:, None] if axis == 1 else limit[None, :])
        a, b = np.nonzero(hit)
        if axis == 1:
            found_i.append(rows.start + a)
            found_j.append(cols.start + b)
        else:
            found_i.append(rows.start + b)
            found_j.append(cols.start + a)

    for r0 in range(0, n, block):
        rows = slice(r0, min(r0 + block, n))
        for c0 in range(r0, n, block):
            cols = slice(c0, min(c0 + block, n))
            g = x32[rows] @ x32[cols].T
            if metric == "cosine":
                d = np.negative(g, out=g)                     # smallest -cos = nearest
            else:
                d = sq32[rows, None] + sq32[None, cols] - 2 * g
            if r0 == c0:
                np.fill_diagonal(d, np.inf)
            keep(d, rows, cols, axis=1)
            if c0 != r0:
                keep(d, cols, rows, axis=0)
    i = np.concatenate(found_i)
    j = np.concatenate(found_j)
    dots = np.einsum("ij,ij->i", x64[i], x64[j])
    dist = 1.0 - dots if metric == "cosine" else np.sqrt(np.maximum(sq[i] + sq[j] - 2 * dots, 0))
    order = np.lexsort((dist, i))
    first = np.r_[True, i[order][1:] != i[order][:-1]]
    out[i[order][first]] = dist[order][first]
    return out


"""Nearest-neighbour distances and duplicate groups, from hashes or from embeddings.

Used by the built-in ``uniqueness`` metric; call them directly with your own embeddings::

    frames.images["uniqueness"] = quality_widgets.similarity.nearest_distance(
        embeddings, metric="cosine")
"""
from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

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
    flat = np.zeros(n, bool) if flat is None else np.asarray(flat, dtype=bool)
    values = _HashValues.of(hashes, flat)
    radius = max((k for k in range(65) if k / 64.0 <= threshold), default=-1)
    index = hm.HashIndex(values.uvals)
    best_all = index.nearest_all(radius)
    d = _hamming_nearest(values, index, best_all)
    edges = _flat_edges(d, flat, colors, color_tolerance, threshold) if flat.any() else []
    if n > 1:
        nearest = np.minimum(d, 1.0)

    # duplicate groups: components of the pairs at distance <= threshold
    if threshold >= 1:               # every distance is <= 1: one group
        return nearest, np.zeros(n, dtype=np.int64)
    if radius >= 0:
        edges += _hash_edges(values, index, best_all, radius)
    a = np.concatenate([e[0] for e in edges]).astype(np.int64) if edges else np.zeros(0, np.int64)
    b = np.concatenate([e[1] for e in edges]).astype(np.int64) if edges else np.zeros(0, np.int64)
    return nearest, hm.components_min(n, a, b)


@dataclass
class _HashValues:
    """The distinct hash values of the images: ``uvals`` (sorted uint64), ``inv`` (each
    image's value), ``counts`` (images per value), ``nf_count`` (non-flat images per value),
    ``has_nf`` (nf_count > 0), and ``flat``, the images compared by colour."""

    uvals: np.ndarray
    inv: np.ndarray
    counts: np.ndarray
    nf_count: np.ndarray
    has_nf: np.ndarray
    flat: np.ndarray

    @classmethod
    def of(cls, hashes: np.ndarray, flat: np.ndarray) -> _HashValues:
        """The distinct values of ``hashes`` (int64 or uint64) and their counts."""
        h = hashes.astype(np.int64).view(np.uint64)
        uvals, inv, counts = np.unique(h, return_inverse=True, return_counts=True)
        inv = inv.ravel()
        nf_count = np.bincount(inv, weights=~flat, minlength=len(uvals)).astype(np.int64)
        return cls(uvals, inv, counts, nf_count, nf_count > 0, flat)


def _hamming_nearest(values: _HashValues, index, best_all: np.ndarray) -> np.ndarray:
    """[n] Hamming / 64 to the nearest other image compared by Hamming (colour pairs apart)."""
    from . import _hamming as hm
    uvals, inv, flat, has_nf = values.uvals, values.inv, values.flat, values.has_nf
    # nearest distinct hash: non-flat images against every other hash, flat images against
    # the hashes of non-flat images (two flat images are compared by colour instead)
    d_nf = np.full(len(uvals), hm.NONE, dtype=np.int64)
    flat_values = np.unique(inv[flat])
    if len(flat_values):
        nf_index = index if has_nf.all() else hm.HashIndex(uvals[has_nf])
        d_nf[flat_values] = nf_index.nearest(uvals[flat_values])
    d = np.where(flat, d_nf[inv], best_all[inv]).astype(np.float64) / 64.0
    # an identical hash of an image the pair is compared by Hamming with: distance 0
    same = np.where(flat, values.nf_count[inv] > 0, values.counts[inv] > 1)
    d[same] = 0.0
    return d


def _flat_edges(d: np.ndarray, flat: np.ndarray, colors, color_tolerance: float,
                threshold: float) -> list:
    """Lower ``d`` of the flat images by colour (0 with a close colour, else 1; inf alone) and
    return their duplicate pairs, [(a, b)] (none when ``threshold`` < 0)."""
    n = len(d)
    f_pos = np.flatnonzero(flat)
    cf = (np.zeros((n, 3)) if colors is None else np.asarray(colors, dtype=float))[f_pos]
    a, b = _close_colour_pairs(cf, color_tolerance)
    close = np.zeros(len(f_pos), bool)
    close[a] = close[b] = True
    flat_d = np.where(close, 0.0, 1.0 if len(f_pos) > 1 else np.inf)
    d[f_pos] = np.minimum(d[f_pos], flat_d)
    return [(f_pos[a], f_pos[b])] if threshold >= 0 else []


def _hash_edges(values: _HashValues, index, best_all: np.ndarray, radius: int) -> list:
    """[(a, b)] image pairs linking the images compared by Hamming within ``radius`` bits:
    within one hash value, and between values (via one representative image each)."""
    uvals, inv, counts, flat, has_nf = (values.uvals, values.inv, values.counts, values.flat,
                                        values.has_nf)
    edges = []
    order = np.argsort(inv, kind="stable")
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    # within one hash value: the images compared by Hamming (all but flat-flat pairs)
    nf_order = order[~flat[order]]
    nf_value = inv[nf_order]
    rep_nf = np.full(len(uvals), -1, dtype=np.int64)
    first = np.ones(len(nf_value), dtype=bool)     # (empty when every image is flat)
    first[1:] = nf_value[1:] != nf_value[:-1]
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
            edges += _flat_value_edges(rep_nf[qa], qb, order, starts, counts)
    return edges


def _flat_value_edges(reps: np.ndarray, qb: np.ndarray, order: np.ndarray, starts: np.ndarray,
                      counts: np.ndarray) -> list:
    """Edges linking every image of each flat-only value in ``qb`` to the first non-flat
    representative near it (``reps``), and those representatives to each other."""
    edges = []
    anchor = {}
    for u, v in zip(reps.tolist(), qb.tolist(), strict=True):
        if v in anchor:
            edges.append((np.array([anchor[v]]), np.array([u])))
        else:
            anchor[v] = u
    vs = np.fromiter(anchor, dtype=np.int64)
    anchors = np.fromiter(anchor.values(), dtype=np.int64)
    members = np.concatenate([order[starts[v]:starts[v] + counts[v]] for v in vs])
    owners = np.repeat(anchors, counts[vs])
    edges.append((owners, members))
    return edges


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


# ---- nearest neighbours of vectors ------------------------------------------------------------
METRICS = ("cosine", "euclidean")


def knn(vectors, k: int, metric: str = "cosine", queries=None, block: int = 4096
        ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``vectors`` to each of its rows (or to each row of
    ``queries``), exact, nearest first.

    Parameters
    ----------
    vectors : array (n, d)
        The rows searched (embeddings, features); finite numbers of any float or int dtype.
    k : int
        Neighbours per query row, >= 1. With fewer candidates a row gets all of them: the result
        has ``min(k, n - 1)`` columns (``min(k, n)`` with ``queries``).
    metric : {"cosine", "euclidean"}
        ``"cosine"``: the cosine distance 1 - u.v / (|u| |v|), in [0, 2] (a row of zeros has
        distance 1 to every row; the cosine similarity is 1 - distance). ``"euclidean"``: |u - v|.
    queries : array (m, d), optional
        The rows to find neighbours for. Without it every row of ``vectors`` is a query and is
        not its own neighbour (a duplicate of it is, at distance 0).
    block : int
        Rows per tile of the float32 products: memory is about ``block`` x ``block`` x 4 bytes per
        thread, time does not depend on it much.

    Returns
    -------
    indices : int64 array (m, k')
        Row positions in ``vectors`` of each query's neighbours, nearest first.
    distances : float64 array (m, k')
        Their distances, non-decreasing along each row.

    Notes
    -----
    The result is that of sorting every query's distances to all rows by (distance, row index),
    in float64: ties go to the lower index. The distances are computed pair by pair in float64,
    ``1 - u.v`` of the rows scaled to unit length, or ``sqrt(max(|u|^2 + |v|^2 - 2 u.v, 0))``.

    Fast without giving that up: float32 products of tiles of rows (BLAS) only propose
    candidates. For each query the k smallest float32 scores seen so far are kept (compiled
    passes over each tile, :mod:`._nearest`), and every row whose float32 score is within the
    float32 error bound ``2 (d + 4) eps32 (|q|^2 + max |v|^2)`` of the query's k-th smallest is
    measured again in float64; the k-th smallest of the float32 scores is within that bound of the
    k-th smallest exact one, so no true neighbour is missed. Without ``queries`` each pair of rows
    is multiplied once and serves both. Tiles are split into bands of rows, one per thread of this
    process, with BLAS held to one thread (threadpoolctl; without it, one band on BLAS's own
    threads). Time grows as n m d: 20,000 x 512 with k = 10 takes about 5 s on 2 cores; memory,
    beyond the tiles, is one float32 and one float64 copy of the rows and ``k`` float32 per query.

    Examples
    --------
    >>> indices, distances = knn(embeddings, 10)                 # each row's 10 nearest others
    >>> indices, distances = knn(embeddings, 5, queries=new_rows, metric="euclidean")
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    if int(k) != k or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    v = _rows64(vectors, "vectors", metric)
    q = v if queries is None else _rows64(queries, "queries", metric)
    if q.shape[1] != v.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} dimensions and vectors {v.shape[1]}: they "
                         f"must have the same")
    return _knn(q, v, int(k), metric == "euclidean", block, symmetric=queries is None)


def nearest_distance(embeddings, metric: str = "cosine", block: int = 4096) -> np.ndarray:
    """Distance of each row of ``embeddings`` (n, d) to its nearest other row: cosine distance
    (1 - cos, in [0, 2]) or Euclidean; NaN for fewer than 2 rows.

    The distance column of :func:`knn` with k = 1: computed in float64 like the definition, the
    candidates from float32 products of blocks of rows (each pair once) within the float32 error
    bound of each row's best. 100,000 x 512 takes about 75 s of CPU (the float32 products alone
    about 61 s), shared by the cores of this process (bench/scale.py)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (n, d), got shape {x.shape}")
    if len(x) < 2:
        return np.full(len(x), np.nan)
    x64 = _rows64(x, "embeddings", metric)
    return _knn(x64, x64, 1, metric == "euclidean", block, symmetric=True)[1][:, 0]


def _rows64(values, name: str, metric: str) -> np.ndarray:
    """``values`` as a float64 (n, d) array, rows scaled to unit length for the cosine (a row of
    zeros stays zeros); a ValueError naming the first row that is not finite."""
    x = np.asarray(values)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, d), got shape {x.shape}")
    x64 = x.astype(np.float64)
    bad = ~np.isfinite(x64).all(axis=1)
    if bad.any():
        raise ValueError(f"{name} row {int(np.flatnonzero(bad)[0])} is not finite "
                         f"({int(bad.sum())} such rows)")
    if metric == "cosine":
        norms = np.linalg.norm(x64, axis=1, keepdims=True)
        x64 = x64 / np.where(norms == 0, 1, norms)
    return x64


def _knn(q, v, k, euclidean, block, symmetric):
    """:func:`knn` on prepared float64 rows (``q is v`` when ``symmetric``)."""
    m = len(q)
    k = min(k, len(v) - 1 if symmetric else len(v))
    if k <= 0 or m == 0:
        return np.zeros((m, max(k, 0)), np.int64), np.zeros((m, max(k, 0)))
    sq_v = (v * v).sum(1)
    sq_q = sq_v if symmetric else (q * q).sum(1)
    from . import _nearest
    nk = _nearest.kernels()
    search = _Search.start(q, v, sq_q, sq_v, k, euclidean, symmetric, nk)
    rows, cols = search.candidates(block)
    dist = np.empty(len(rows))
    nk.pair_distances(q, sq_q, v, sq_v, rows, cols, euclidean, dist)
    order = np.lexsort((cols, dist, rows))
    counts = np.bincount(rows, minlength=m)
    if (counts < k).any():  # pragma: no cover - the bound guarantees k candidates per row
        raise RuntimeError("knn: fewer than k candidates for a row; please report this")
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    take = order[starts[:, None] + np.arange(k)[None, :]]
    return cols[take], dist[take]


def _blas_one_thread():
    """(context manager, threads): each thread multiplies its own band of rows with BLAS held to
    one thread (BLAS's own threads spin between calls while the compiled passes run: measured
    40% more CPU on 2 cores); without threadpoolctl to say so, one band on BLAS's threads."""
    from ._hamming import _threads
    try:
        from threadpoolctl import threadpool_limits
        return threadpool_limits(1, user_api="blas"), _threads()
    except ImportError:  # pragma: no cover - threadpoolctl is optional
        return contextlib.nullcontext(), 1


@dataclass
class _Search:
    """The float32 side of one :func:`knn` call: the rows, their squared norms (zeros for the
    cosine, whose score is -u.v), the ``k`` smallest scores seen so far per query (``top``,
    ascending) and each query's float32 error bound (``tol``)."""

    q32: np.ndarray
    v32: np.ndarray
    sq_r: np.ndarray
    sq_c: np.ndarray
    a: np.float32
    top: np.ndarray
    tol: np.ndarray
    symmetric: bool
    nk: object             # the passes: _nearest.kernels()

    @classmethod
    def start(cls, q, v, sq_q, sq_v, k, euclidean, symmetric, nk) -> _Search:
        eps = float(np.finfo(np.float32).eps)
        tol = (2 * (q.shape[1] + 4) * eps * (sq_q + sq_v.max())).astype(np.float32)
        q32 = q.astype(np.float32)
        v32 = q32 if symmetric else v.astype(np.float32)
        sq_r = sq_q.astype(np.float32) if euclidean else np.zeros(len(q), np.float32)
        sq_c = sq_v.astype(np.float32) if euclidean else np.zeros(len(v), np.float32)
        return cls(q32, v32, sq_r, sq_c, np.float32(-2.0 if euclidean else -1.0),
                   np.full((len(q), k), np.inf, np.float32), tol, symmetric, nk)

    def candidates(self, block: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols): for each query row, every column whose float32 score is within its
        bound of the row's k-th smallest (when its tile was read): a superset of its k nearest,
        each pair once per row."""
        m, n = len(self.q32), len(self.v32)
        found = []
        limit, threads = _blas_one_thread()
        with limit, ThreadPoolExecutor(threads) as pool:
            for r0 in range(0, m, block):
                r1 = min(r0 + block, m)
                bands = np.linspace(r0, r1, threads + 1).astype(int).tolist()
                spans = [(b0, b1) for b0, b1 in zip(bands[:-1], bands[1:], strict=True)
                         if b1 > b0]
                for c0 in range(r0 if self.symmetric else 0, n, block):
                    found.extend(self._tile(pool, spans, c0, min(c0 + block, n)))
        if not found:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        rows, cols = zip(*found, strict=True)
        return np.concatenate(rows), np.concatenate(cols)

    def _tile(self, pool, spans, c0: int, c1: int) -> list:
        """Score the bands ``spans`` of one row block against the columns c0:c1, merge their k
        smallest scores into ``top`` (of the rows; of the columns too for a pair of different
        blocks of a symmetric search), and return the pairs within the bounds as (rows, cols)
        arrays: both directions for a pair of different blocks, which no other tile holds."""
        k = self.top.shape[1]
        cols = slice(c0, c1)
        diag = self.symmetric and spans[0][0] == c0
        both = self.symmetric and not diag

        def score(span):
            b0, b1 = span
            g = self.q32[b0:b1] @ self.v32[cols].T
            if diag:                    # score +inf: a row is not its own neighbour
                g[np.arange(b1 - b0), np.arange(b0 - c0, b1 - c0)] = -np.inf
            top_c = np.full((c1 - c0 if both else 0, k), np.inf, np.float32)
            self.nk.band_topk(g, self.sq_r[b0:b1], self.sq_c[cols], self.a, self.top[b0:b1],
                              top_c, both)
            return g, top_c

        parts = list(pool.map(score, spans))
        lim_c = np.zeros(0, np.float32)
        if both:
            merged = np.concatenate([self.top[cols]] + [p[1] for p in parts], axis=1)
            self.top[cols] = np.sort(merged, axis=1)[:, :k]
            lim_c = self.top[cols, k - 1] + self.tol[cols]

        def hits(pos):
            (b0, b1), g = spans[pos], parts[pos][0]
            lim_r = self.top[b0:b1, k - 1] + self.tol[b0:b1]
            i, j = self.nk.band_hits(g, self.sq_r[b0:b1], self.sq_c[cols], self.a, lim_r, lim_c,
                                     both)
            return b0 + i, c0 + j

        found = list(pool.map(hits, range(len(spans))))
        return found + [(j, i) for i, j in found] if both else found


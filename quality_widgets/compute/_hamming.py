"""Exact nearest Hamming distances among distinct 64-bit hashes, without comparing every pair.

Multi-index hashing (Norouzi et al. 2012): each hash is cut into 4 chunks of 16 bits, and each
chunk indexes the hashes (sorted by that chunk, with the start of every one of the 65,536
buckets). Two hashes d bits apart differ in at most floor(d / 4) bits on some chunk
(pigeonhole), and more finely: if chunk c is searched to radius t_c, every hash within
sum_c (t_c + 1) - 1 bits is met. Used by :mod:`similarity` (``hash_uniqueness``); compiled with
numba (the project's dependency); similarity falls back to comparing every pair without it.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

CHUNKS = 4
CHUNK_BITS = 16
NONE = 65                     # no other hash: above every Hamming distance
JOIN_RADII = (3, 3, 3, 2)     # the all-pairs pass meets every pair within 14 bits
JOIN_REACH = sum(t + 1 for t in JOIN_RADII) - 1
BRUTE_FORCE_BELOW = 20_000    # distinct hashes: fewer are compared all with all

try:  # pragma: no cover - numba is a dependency
    from numba import njit
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False


def _masks_by_popcount():
    """All 16-bit masks ordered by popcount, and where each popcount starts."""
    pop = np.array([bin(m).count("1") for m in range(1 << CHUNK_BITS)])
    order = np.argsort(pop, kind="stable").astype(np.int64)
    starts = np.searchsorted(pop[order], np.arange(CHUNK_BITS + 2)).astype(np.int64)
    return order, starts


_MASKS, _MASK_START = _masks_by_popcount()


def _popcount(x):
    # the classic bit-parallel count; LLVM turns this pattern into one popcnt instruction
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2))
                                                & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


def _first_level(x):
    """The level at which a hash at xor ``x`` from the query is first met: chunk c at radius t
    is searched at level 4 t + c, so min over chunks of 4 popcount(chunk c) + c."""
    best = 1 << 30
    for c in range(CHUNKS):
        level = 4 * _popcount((x >> np.uint64(16 * c)) & np.uint64(0xFFFF)) + c
        if level < best:
            best = level
    return best


def _search(qvals, qids, vals, ids, offs, masks, mask_start, radius, queried, best_out,
            pair_count, pairs, emit):
    """Nearest Hamming distance from each ``qvals[k]`` to the other indexed hashes (NONE if
    none; the query's own hash, at distance 0, is skipped: the hashes are distinct). Level L
    searches chunk c = L % 4 at radius t = L // 4 (the buckets whose key differs from the
    query's chunk in exactly t bits); after level L every hash within L bits has been met, so
    stop once the best distance found is <= L + 1 and L >= radius.

    With ``emit``, the hashes within ``radius`` are paired with the query (by id ``ids``, once:
    at the level where they are first met; only ids above ``qids[k]`` or not ``queried``):
    counted into pair_count[k] when ``pairs`` is empty, else written from pairs[pair_count[k]].
    """
    for k in range(len(qvals)):
        qv = qvals[k]
        best = NONE
        npairs = 0
        for level in range(4 * (CHUNK_BITS + 1)):
            c = level & 3
            t = level >> 2
            key = np.int64((qv >> np.uint64(16 * c)) & np.uint64(0xFFFF))
            cv = vals[c]
            co = offs[c]
            for mi in range(mask_start[t], mask_start[t + 1]):
                b = key ^ masks[mi]
                for pos in range(co[b], co[b + 1]):
                    x = qv ^ cv[pos]
                    d = _popcount(x)
                    if d < best and d > 0:
                        best = d
                    if emit and d <= radius and d > 0:
                        v = ids[c, pos]
                        if (v > qids[k] or not queried[v]) and _first_level(x) == level:
                            if pairs.shape[0] > 0:
                                pairs[pair_count[k] + npairs] = v
                            npairs += 1
            if best <= level + 1 and level >= radius:
                break
        best_out[k] = best
        if emit and pairs.shape[0] == 0:
            pair_count[k] = npairs


def _join(vals, offs, masks, best):
    """All pairs of hashes in buckets b and b ^ m of one chunk, for each m in ``masks`` (both
    in the same bucket when m = 0): best[i] = min(best[i], Hamming) for both (positions in this
    chunk's order). Mask-major, so the two buckets sweep the tables in order."""
    n_buckets = len(offs) - 1
    for mi in range(len(masks)):
        m = masks[mi]
        for b in range(n_buckets):
            b2 = b ^ m
            if b2 < b:
                continue
            lo, hi = offs[b], offs[b + 1]
            lo2, hi2 = offs[b2], offs[b2 + 1]
            if lo == hi or lo2 == hi2:
                continue
            for i in range(lo, hi):
                vi = vals[i]
                bi = best[i]
                start = i + 1 if m == 0 else lo2
                for j in range(start, hi2):
                    d = _popcount(vi ^ vals[j])
                    if d < bi:
                        bi = d
                    if d < best[j]:
                        best[j] = d
                best[i] = bi


def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _components_min(n, a, b):
    """For each node, the smallest node of its connected component (edges a[k] - b[k])."""
    parent = np.arange(n)
    for k in range(len(a)):
        ra = _find(parent, a[k])
        rb = _find(parent, b[k])
        if ra < rb:
            parent[rb] = ra
        elif rb < ra:
            parent[ra] = rb
    out = np.empty(n, np.int64)
    for i in range(n):
        out[i] = _find(parent, i)      # roots are the smallest member: always the lower root
    return out


if HAVE_NUMBA:
    _popcount = njit(inline="always")(_popcount)
    _first_level = njit(inline="always")(_first_level)
    _search = njit(nogil=True, cache=True)(_search)
    _join = njit(nogil=True, cache=True)(_join)
    _find = njit(inline="always")(_find)
    components_min = njit(cache=True)(_components_min)
else:  # pragma: no cover
    components_min = _components_min


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


def _parallel(n: int, work, threads: int | None = None) -> None:
    """work(slice) over 0..n, on the cores of this process (the kernels release the GIL)."""
    threads = threads or _threads()
    if threads <= 1 or n < 10_000:
        work(slice(0, n))
        return
    bounds = np.linspace(0, n, 8 * threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]))


class HashIndex:
    """The 4 chunk tables of distinct 64-bit hashes ``uvals`` (uint64)."""

    def __init__(self, uvals: np.ndarray):
        self.uvals = np.ascontiguousarray(uvals, dtype=np.uint64)
        n = len(self.uvals)
        self.vals = np.empty((CHUNKS, n), np.uint64)
        self.ids = np.empty((CHUNKS, n), np.int64)
        self.offs = np.empty((CHUNKS, (1 << CHUNK_BITS) + 1), np.int64)
        for c in range(CHUNKS):
            key = ((self.uvals >> np.uint64(CHUNK_BITS * c)) & np.uint64(0xFFFF)).astype(np.int64)
            order = np.argsort(key, kind="stable")
            self.vals[c] = self.uvals[order]
            self.ids[c] = order
            self.offs[c] = np.r_[0, np.cumsum(np.bincount(key, minlength=1 << CHUNK_BITS))]

    def nearest(self, qvals: np.ndarray, radius: int = -1) -> np.ndarray:
        """Nearest distance from each hash in ``qvals`` to another indexed hash (NONE if
        none), by searching around each query."""
        qvals = np.ascontiguousarray(qvals, dtype=np.uint64)
        out = np.empty(len(qvals), np.int64)
        none = np.zeros(0, np.int64)
        _parallel(len(qvals), lambda sl: _search(
            qvals[sl], none, self.vals, self.ids, self.offs, _MASKS, _MASK_START, radius,
            np.zeros(0, np.bool_), out[sl], none, none, False))
        return out

    def nearest_all(self, radius: int = -1) -> np.ndarray:
        """Nearest distance from every indexed hash to another one (NONE if alone). Few
        hashes: all pairs. Many: the pairs of buckets within JOIN_RADII in each chunk (every
        pair within JOIN_REACH bits is met there), then a search around the rare hashes whose
        nearest is farther."""
        n = len(self.uvals)
        best = np.full(n, NONE, np.int64)
        if n < BRUTE_FORCE_BELOW:
            # every pair: one bucket holding all the hashes, joined with itself
            _join(self.uvals, np.array([0, n], np.int64), _MASKS[:1], best)
            return best
        threads = _threads()
        for c, t in enumerate(JOIN_RADII):
            masks = _MASKS[:_MASK_START[t + 1]]
            parts = [np.ascontiguousarray(masks[k::threads]) for k in range(threads)]
            local = [np.full(n, NONE, np.int64) for _ in parts]
            work = [(parts[k], local[k]) for k in range(threads)]
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda w, c=c: _join(self.vals[c], self.offs[c], w[0], w[1]),
                              work))
            in_chunk_order = np.minimum.reduce(local)
            best[self.ids[c]] = np.minimum(best[self.ids[c]], in_chunk_order)
        far = np.flatnonzero(best > JOIN_REACH + 1)
        if len(far):
            best[far] = self.nearest(self.uvals[far], radius)
        return best

    def pairs(self, qids: np.ndarray, radius: int, queried: np.ndarray):
        """(a, b): ids of indexed hashes within ``radius`` bits, a in ``qids``, each pair once
        (b > a, or b not ``queried``)."""
        qids = np.ascontiguousarray(qids, dtype=np.int64)
        queried = np.ascontiguousarray(queried, dtype=np.bool_)
        n = len(qids)
        qvals = self.uvals[qids]
        best = np.empty(n, np.int64)
        counts = np.zeros(n, np.int64)
        none = np.zeros(0, np.int64)
        _parallel(n, lambda sl: _search(
            qvals[sl], qids[sl], self.vals, self.ids, self.offs, _MASKS, _MASK_START, radius,
            queried, best[sl], counts[sl], none, True))
        total = int(counts.sum())
        out = np.empty(total, np.int64)
        if total:
            starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
            _parallel(n, lambda sl: _search(
                qvals[sl], qids[sl], self.vals, self.ids, self.offs, _MASKS, _MASK_START,
                radius, queried, best[sl], starts[sl], out, True))
        return np.repeat(qids, counts), out

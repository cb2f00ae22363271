"""Nearest-neighbour distances and duplicate groups, from hashes or from embeddings.

Used by the built-in ``uniqueness`` metric; call them directly with your own embeddings::

    frames.images["uniqueness"] = quality_widgets.similarity.nearest_distance(
        embeddings, metric="cosine")
"""
from __future__ import annotations

import numpy as np

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
    of pairs at distance <= ``threshold`` (every image has a group; duplicates share one)."""
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
        for i, j in zip(*np.nonzero(dist <= threshold)):
            a, b = find(start + i), find(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups = np.array([find(i) for i in range(n)])
    return nearest, groups


def nearest_distance(embeddings, metric: str = "cosine", block: int = 1024) -> np.ndarray:
    """Distance of each row of ``embeddings`` (n, d) to its nearest other row: cosine distance
    (1 - cos, in [0, 2]) or Euclidean."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (n, d), got shape {x.shape}")
    n = len(x)
    out = np.full(n, np.nan)
    if n < 2:
        return out
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms == 0, 1, norms)
    elif metric != "euclidean":
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    sq = (x * x).sum(1)
    for start in range(0, n, block):
        part = x[start:start + block]
        if metric == "cosine":
            d = 1.0 - part @ x.T
        else:
            d = np.sqrt(np.maximum(sq[start:start + block, None] + sq[None, :]
                                   - 2 * part @ x.T, 0))
        d[np.arange(len(part)), np.arange(start, start + len(part))] = np.inf
        out[start:start + len(part)] = d.min(1)
    return out


def box_iou_matrix(boxes: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (n, 4) xywh boxes; the diagonal is 0."""
    b = np.asarray(boxes, dtype=np.float64)
    x0, y0 = b[:, 0], b[:, 1]
    x1, y1 = x0 + b[:, 2], y0 + b[:, 3]
    iw = np.clip(np.minimum(x1[:, None], x1[None]) - np.maximum(x0[:, None], x0[None]), 0, None)
    ih = np.clip(np.minimum(y1[:, None], y1[None]) - np.maximum(y0[:, None], y0[None]), 0, None)
    inter = iw * ih
    area = b[:, 2] * b[:, 3]
    union = area[:, None] + area[None] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    np.fill_diagonal(iou, 0.0)
    return iou

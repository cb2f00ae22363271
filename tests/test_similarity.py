"""Nearest-neighbour distances and duplicate groups: the indexed search against every pair."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from quality_widgets.compute import _hamming, _nearest, similarity


def all_pairs(hashes, flat, colors, threshold, tolerance):
    """The definition, pair by pair: Hamming / 64, except flat-flat pairs (0 when the colours
    match within the tolerance, else 1); nearest over the others; groups = components of the
    pairs within the threshold, named by their smallest member."""
    h = np.asarray(hashes, dtype=np.int64).view(np.uint64)
    n = len(h)
    d = np.bitwise_count(h[:, None] ^ h[None, :]) / 64.0
    both = flat[:, None] & flat[None, :]
    close = (np.abs(colors[:, None, :] - colors[None, :, :]) <= tolerance).all(-1)
    d = np.where(both, np.where(close, 0.0, 1.0), d)
    np.fill_diagonal(d, np.inf)
    nearest = d.min(axis=1) if n > 1 else np.ones(n)
    i, j = np.nonzero(d <= threshold)
    _, label = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)),
                                    directed=False)
    first = np.full(label.max() + 1, n)
    np.minimum.at(first, label, np.arange(n))
    return nearest, first[label]


def planted(n, seed, flat_share=0.0):
    """Random hashes, a tenth of them copies of others with 0 to 12 bits flipped, a few exact
    copies; some flat images (equal, close and far colours)."""
    rng = np.random.default_rng(seed)
    h = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, n, dtype=np.int64)
    k = n // 10
    src = rng.integers(0, n - k, k)
    flips = np.zeros(k, np.int64)
    for i, bits in enumerate(rng.integers(0, 13, k)):
        for b in rng.choice(64, bits, replace=False):
            flips[i] |= np.int64(1) << np.int64(b) if b < 63 else np.iinfo(np.int64).min
    h[n - k:] = h[src] ^ flips
    flat = rng.random(n) < flat_share
    h[flat] = h[np.flatnonzero(flat)[0]] if flat.any() else h[flat]   # flat images hash alike
    colors = rng.integers(0, 6, (n, 3)).astype(float) * 3
    return h, flat, colors


@pytest.mark.parametrize("threshold", [0.125, 0.0, 0.3, -0.1, 1.0])
@pytest.mark.parametrize("flat_share", [0.0, 0.05])
@pytest.mark.parametrize("indexed", [False, True])
def test_hash_uniqueness_equals_every_pair(threshold, flat_share, indexed, monkeypatch):
    if indexed:   # the bucket-pair pass and the search, on a set small enough for the oracle
        monkeypatch.setattr(_hamming, "BRUTE_FORCE_BELOW", 0)
    h, flat, colors = planted(1500, seed=int(100 * threshold) + 17 + int(100 * flat_share),
                              flat_share=flat_share)
    nearest, groups = similarity.hash_uniqueness(h, flat, colors, threshold=threshold)
    ref_nearest, ref_groups = all_pairs(h, flat, colors, threshold, 2.0)
    np.testing.assert_array_equal(nearest, ref_nearest)
    np.testing.assert_array_equal(groups, ref_groups)


def test_hashes_far_from_all_others_are_searched_beyond_the_bucket_pairs(monkeypatch):
    """Every pair within 14 bits is met by the bucket pairs; a hash whose nearest is farther
    is searched around: here 300 hashes whose nearest lies 16 to 30 bits away."""
    monkeypatch.setattr(_hamming, "BRUTE_FORCE_BELOW", 0)
    rng = np.random.default_rng(3)
    base = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, 300, dtype=np.int64)
    nearest, _ = similarity.hash_uniqueness(base)
    ref, _ = all_pairs(base, np.zeros(300, bool), np.zeros((300, 3)), 0.125, 2.0)
    assert (ref > 15 / 64).mean() > 0.9
    np.testing.assert_array_equal(nearest, ref)


def test_edge_sizes_and_identical_hashes():
    assert similarity.hash_uniqueness(np.zeros(0, np.int64))[0].shape == (0,)
    nearest, groups = similarity.hash_uniqueness([5])
    assert nearest.tolist() == [1.0] and groups.tolist() == [0]
    nearest, groups = similarity.hash_uniqueness([7, 7, 7 ^ 0b1110000, 1 << 40, -1])
    assert nearest.tolist() == [0.0, 0.0, 3 / 64, 4 / 64, 58 / 64]
    assert groups.tolist() == [0, 0, 0, 0, 4]



def float64_nearest(x, metric):
    """The definition, every pair in float64: cosine distance 1 - cos (a zero row: distance 1
    to everything) or euclidean distance, to the nearest other row."""
    y = x.astype(np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(y, axis=1, keepdims=True)
        y = y / np.where(norms == 0, 1, norms)
        d = 1 - y @ y.T
    else:
        sq = (y * y).sum(1)
        d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * y @ y.T, 0))
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def test_nearest_distance_small_blocks_duplicates_and_the_numpy_path(monkeypatch):
    """Many tiles (block 64 on 700 rows), exact duplicates (distance 0) and a zero row: equal to
    comparing every pair in float64, and the numpy path (no numba) gives the same values."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(700, 16)).astype(np.float32)
    x[5] = x[600]                   # exact duplicate, in different tiles
    x[70] = 0.0                     # a zero vector: cosine distance 1 to everything
    for metric in ("cosine", "euclidean"):
        got = similarity.nearest_distance(x, metric=metric, block=64)
        np.testing.assert_allclose(got, float64_nearest(x, metric), rtol=1e-12, atol=1e-12)
        assert got[5] == got[600] and got[5] < 1e-12
        with monkeypatch.context() as patch:
            patch.setattr(_nearest, "HAVE_NUMBA", False)
            slow = similarity.nearest_distance(x, metric=metric, block=64)
        np.testing.assert_allclose(got, slow, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="row 3 is not finite"):
        similarity.nearest_distance(np.where(np.arange(700)[:, None] == 3, np.nan, x))


def test_nearest_distance_matches_the_float64_definition():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 64)).astype(np.float32)
    x[10] = x[20] * 3              # a cosine duplicate
    x[30] = x[40] + 1e-4           # a near euclidean duplicate
    for metric in ("cosine", "euclidean"):
        got = similarity.nearest_distance(x, metric=metric)
        np.testing.assert_allclose(got, float64_nearest(x, metric), rtol=1e-9, atol=1e-9)


def sorted_neighbours(vectors, k, metric, queries=None):
    """The definition of knn, every pair: float64 distances, each pair's as one function of its
    two rows (elementwise products summed along the row, so identical rows give identical
    distances), sorted by (distance, index); a row is not its own neighbour without queries."""
    def prepared(x):
        y = np.asarray(x, dtype=np.float64)
        if metric == "cosine":
            norms = np.linalg.norm(y, axis=1, keepdims=True)
            y = y / np.where(norms == 0, 1, norms)
        return y
    v = prepared(vectors)
    q = v if queries is None else prepared(queries)
    dot = (q[:, None, :] * v[None, :, :]).sum(-1)
    if metric == "cosine":
        d = 1 - dot
    else:
        sq = (v * v).sum(1)
        d = np.sqrt(np.maximum((q * q).sum(1)[:, None] + sq[None, :] - 2 * dot, 0))
    if queries is None:
        np.fill_diagonal(d, np.inf)
    index = np.broadcast_to(np.arange(len(v)), d.shape)
    order = np.lexsort((index, d), axis=1)[:, :min(k, len(v) - (queries is None))]
    return order, np.take_along_axis(d, order, axis=1)


def planted_vectors(seed=4):
    """Random rows with exact ties: one row repeated 11 times (more copies than k), a pair of
    copies in different tiles, two rows of zeros (cosine distance 1 to everything), a row
    scaled (a cosine duplicate, far in euclidean terms)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(600, 8)).astype(np.float32)
    x[100:111] = x[300]
    x[5] = x[599]
    x[50] = x[51] = 0.0
    x[70] = 3 * x[71]
    return x


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("k", [1, 4, 12])
@pytest.mark.parametrize("block", [64, 4096])
@pytest.mark.parametrize("compiled", [True, False])
def test_knn_equals_sorting_every_pair_by_distance_then_index(metric, k, block, compiled,
                                                              monkeypatch):
    monkeypatch.setattr(_nearest, "HAVE_NUMBA", compiled and _nearest.HAVE_NUMBA)
    x = planted_vectors()
    indices, distances = similarity.knn(x, k, metric=metric, block=block)
    ref_indices, ref_distances = sorted_neighbours(x, k, metric)
    assert indices.dtype == np.int64 and indices.shape == (600, k)
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_allclose(distances, ref_distances, rtol=0, atol=1e-12)
    # ties go to the lower index: the 11 copies of row 300 list each other in index order
    copies = min(k, 11)
    assert indices[300, :copies].tolist() == list(range(100, 111))[:copies]
    assert indices[105, :copies].tolist() == [100, 101, 102, 103, 104, 106, 107, 108, 109,
                                             110, 300][:copies]
    np.testing.assert_array_equal(distances[300, :copies], 0.0)
    if metric == "cosine":
        assert indices[70, 0] == 71 and indices[50, 0] == 0       # zeros: distance 1 to all
        np.testing.assert_array_equal(distances[50], 1.0)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_knn_with_queries_searches_the_vectors_for_each_query(metric):
    x = planted_vectors()
    rng = np.random.default_rng(9)
    queries = np.r_[rng.normal(size=(40, 8)), x[[5, 300, 50]]]   # copies: distance 0, ties
    indices, distances = similarity.knn(x, 6, metric=metric, queries=queries, block=64)
    ref_indices, ref_distances = sorted_neighbours(x, 6, metric, queries)
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_allclose(distances, ref_distances, rtol=0, atol=1e-12)
    assert indices[40, :2].tolist() == [5, 599]          # a row is its own neighbour here
    assert indices[41].tolist() == [100, 101, 102, 103, 104, 105]


def test_knn_sizes_and_bad_input():
    x = planted_vectors()[:5]
    indices, distances = similarity.knn(x, 10)
    assert indices.shape == distances.shape == (5, 4)       # all 4 others, no more
    assert sorted(indices[0].tolist()) == [1, 2, 3, 4]
    assert similarity.knn(x[:1], 3)[0].shape == (1, 0)
    assert similarity.knn(x, 10, queries=x[:2])[0].shape == (2, 5)
    assert similarity.knn(np.zeros((0, 8)), 3)[0].shape == (0, 0)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        similarity.knn(x, 0)
    with pytest.raises(ValueError, match="metric must be"):
        similarity.knn(x, 1, metric="manhattan")
    with pytest.raises(ValueError, match="queries have 3 dimensions and vectors 8"):
        similarity.knn(x, 1, queries=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="queries row 1 is not finite"):
        similarity.knn(x, 1, queries=np.r_[x[:1], np.full((1, 8), np.inf)])
    with pytest.raises(ValueError, match="vectors must be a 2-D array"):
        similarity.knn(x[0], 1)


def test_nearest_distance_is_the_first_column_of_knn():
    x = planted_vectors()
    for metric in ("cosine", "euclidean"):
        np.testing.assert_array_equal(similarity.nearest_distance(x, metric=metric, block=64),
                                      similarity.knn(x, 1, metric=metric)[1][:, 0])


@pytest.mark.parametrize("indexed", [False, True])
def test_only_flat_images_are_grouped_by_colour(indexed, monkeypatch):
    """Every image flat (a folder of blank frames): no Hamming comparison at all, the groups
    come from the colours alone, as comparing every pair gives."""
    if indexed:
        monkeypatch.setattr(_hamming, "BRUTE_FORCE_BELOW", 0)
    h = np.zeros(4, np.int64)
    flat = np.ones(4, bool)
    colors = np.array([[10, 10, 10], [11, 10, 10], [200, 0, 0], [10, 10, 12]], float)
    nearest, groups = similarity.hash_uniqueness(h, flat, colors)
    ref_nearest, ref_groups = all_pairs(h, flat, colors, 0.125, 2.0)
    np.testing.assert_array_equal(nearest, ref_nearest)
    np.testing.assert_array_equal(groups, ref_groups)
    assert groups.tolist() == [0, 0, 2, 0] and nearest.tolist() == [0.0, 0.0, 1.0, 0.0]

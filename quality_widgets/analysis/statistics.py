"""Resampling statistics for comparing a model's performance on two slices of a dataset.

Plain functions on arrays of replicates (they do not know what was resampled):

- :func:`permutation_test`: two-sided permutation p-value *and* the confidence interval that
  inverts the same test (the shifts it does not reject), so that the interval excludes 0
  exactly when p < 1 - level; with Besag and Clifford's sequential stopping when the
  permutations were drawn until ``h`` of them reached the observed statistic;
- :func:`sequential_stop`: where Besag and Clifford's rule stops a stream of permutations;
- :func:`half_sample_interval`: interval of one slice's measure from the spread between
  random halves of its images;
- :func:`bootstrap_ci`: confidence interval of a statistic from its bootstrap replicates
  (percentile or basic method);
- :func:`permutation_p_value`: two-sided p-value from a permutation distribution, counting the
  observed statistic as one of the permutations;
- :func:`holm`: Holm's step-down adjustment of several p-values (family-wise error control);
  :func:`benjamini_hochberg`: BH q-values (false discovery rate control);
- :func:`finite`: the replicates that are defined, and how many were not;
- :func:`cluster_labels`, :func:`cluster_bootstrap_weights`, :func:`cluster_permutation`:
  resampling whole clusters (the videos of a video dataset) instead of single items, because
  frames of one video are not independent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Relative tolerance when comparing a permuted statistic with the observed one: permutations
#: that reproduce the observed split exactly must count as "as extreme", but floating-point
#: sums in another order can differ in the last bits (scipy's permutation_test does the same).
TIE_TOLERANCE = 1e-12


def finite(replicates) -> tuple[np.ndarray, int]:
    """``(values, n_dropped)``: the finite replicates and the count of NaN / inf ones.

    A replicate is undefined when a resample leaves a side without counted ground truth
    (pycocotools' -1, turned into NaN): it is dropped, and the count is reported so that a
    large number of drops (an unstable slice) is visible.
    """
    values = np.asarray(replicates, dtype=float).ravel()
    ok = np.isfinite(values)
    return values[ok], int((~ok).sum())


def bootstrap_ci(estimate: float, replicates, level: float = 0.95,
                 method: str = "percentile") -> tuple[float, float]:
    """Two-sided bootstrap confidence interval of a statistic.

    With ``q_a`` the a-quantile of the finite replicates ``theta*`` and ``alpha = 1 - level``:

    - ``"percentile"``: ``[q_{alpha/2}, q_{1-alpha/2}]``;
    - ``"basic"`` (reverse percentile): ``[2 theta - q_{1-alpha/2}, 2 theta - q_{alpha/2}]``,
      where ``theta`` is ``estimate``, the statistic on the original data.

    Quantiles are numpy's default (linear interpolation). Returns (NaN, NaN) when no replicate
    is finite.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    values, _ = finite(replicates)
    if len(values) == 0:
        return float("nan"), float("nan")
    alpha = 1.0 - level
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    if method == "percentile":
        return float(lo), float(hi)
    if method == "basic":
        return float(2 * estimate - hi), float(2 * estimate - lo)
    raise ValueError(f"unknown method {method!r}: expected 'percentile' or 'basic'")


def permutation_p_value(observed: float, permuted) -> float:
    """Two-sided permutation p-value ``(1 + #{|d_perm| >= |d_obs|}) / (1 + N)``.

    ``N`` is the number of finite permuted statistics (undefined ones are dropped, see
    :func:`finite`). Counting the observed statistic in numerator and denominator makes the
    test exact (P(p <= a) <= a under the null) and the p-value never 0. ``>=`` is taken with a
    relative tolerance of :data:`TIE_TOLERANCE`. NaN when ``observed`` is not finite or there
    is no finite permuted statistic (no permutation, no p-value: not 1).
    """
    if not np.isfinite(observed):
        return float("nan")
    values, _ = finite(permuted)
    if len(values) == 0:
        return float("nan")
    threshold = abs(observed) * (1 - TIE_TOLERANCE)
    extreme = int(np.sum(np.abs(values) >= threshold))
    return (1 + extreme) / (1 + len(values))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as the input; NaN stays NaN).

    With the m finite p-values sorted ascending, ``p_(1) <= ... <= p_(m)``:
    ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``. Rejecting where ``adj <= a`` controls
    the family-wise error rate at ``a`` under any dependence between the tests.
    """
    def step_down(p_sorted, m):
        return np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p_sorted))
    return _adjusted(p_values, step_down)


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini-Hochberg q-values (same order as the input; NaN stays NaN).

    With the m finite p-values sorted ascending: ``q_(i) = min_{j >= i} min(1, m p_(j) / j)``.
    Rejecting where ``q <= a`` controls the false discovery rate at ``a`` for independent or
    positively dependent tests (Benjamini & Hochberg 1995; Benjamini & Yekutieli 2001).
    """
    def step_up(p_sorted, m):
        scaled = np.minimum(1.0, m * p_sorted / np.arange(1, m + 1))
        return np.minimum.accumulate(scaled[::-1])[::-1]
    return _adjusted(p_values, step_up)


def _adjusted(p_values, adjust) -> np.ndarray:
    """``adjust(sorted finite p-values, m)`` put back in the input's order; NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if len(ok):
        order = ok[np.argsort(p[ok], kind="stable")]
        out[order] = adjust(p[order], len(ok))
    return out


#: Exceedances after which :func:`sequential_stop` ends a test (Besag & Clifford's h).
SEQUENTIAL_H = 10


def _exceeds(observed: float, values: np.ndarray) -> np.ndarray:
    """``|values| >= |observed|`` with the relative tolerance :data:`TIE_TOLERANCE`."""
    return np.abs(values) >= abs(observed) * (1 - TIE_TOLERANCE)


def sequential_stop(observed: float, permuted, h: int = SEQUENTIAL_H) -> int | None:
    """Besag and Clifford's sequential rule on a stream of permuted statistics: the number of
    finite permutations after which the h-th one reaching ``|observed|`` appears (None while
    fewer than ``h`` did). See :func:`permutation_test`."""
    values, _ = finite(permuted)
    hits = np.flatnonzero(_exceeds(observed, values))
    return int(hits[h - 1] + 1) if len(hits) >= h else None


@dataclass
class PermutationTest:
    """Outcome of :func:`permutation_test`.

    ``p_value``; ``interval`` (low, high) of the difference at ``level``; ``permutations``:
    the finite permutations used; ``exceedances``: those with ``|d*| >= |d|``;
    ``stopped_early``: Besag-Clifford stop; ``min_p``: the smallest p-value this many
    permutations (or the cap ``max_permutations``) can give, ``1 / (N + 1)``.
    """

    p_value: float
    interval: tuple
    permutations: int
    exceedances: int
    stopped_early: bool
    min_p: float
    level: float


def permutation_test(observed: float, permuted, level: float = 0.95, h: int | None = None,
                     max_permutations: int | None = None) -> PermutationTest:
    """Two-sided permutation p-value and the interval that inverts the same test.

    ``permuted``: the statistic ``d*`` under random relabellings (NaN ones dropped), in the
    order they were drawn. With N finite permutations and g of them ``|d*| >= |d|``:

    - fixed N (``h`` None, or fewer than h exceedances): ``p = (g + 1) / (N + 1)`` (the
      observed labelling counted as one of the permutations: exact, ``P(p <= a) <= a`` under
      the null);
    - Besag & Clifford (1991), "Sequential Monte Carlo p-values", Biometrika 78(2):301-304:
      when the draws stop at the first l at which h permutations reached ``|d|``, ``p = h /
      l``; and if the cap (``max_permutations``, default N) is reached with fewer than h,
      the fixed-N p above. Also exact, and a clearly null test costs about ``h / p``
      permutations instead of N.

    Interval: the shifts delta that the same test would not reject if the statistic's
    permutation distribution moved with the effect (the shift model: ``d - delta`` under the
    null of no effect is distributed as ``d*``), ``{delta : p(delta) >= 1 - level}`` with
    ``p(delta)`` computed as p with ``|d - delta|`` for ``|d|``. It is ``d +- c`` where c is
    the k-th largest ``|d*|``: ``k = ceil(alpha (N + 1)) - 1`` (fixed N) or ``ceil(alpha l)``
    (sequential stop), alpha = 1 - level; infinite when ``k < 1`` (too few permutations).
    By construction 0 is inside exactly when ``p >= alpha``: the interval and the p-value
    never disagree. Under the null its coverage is the test's (exact); under an effect it
    relies on the shift model (see the README's measured coverage).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    values, _ = finite(permuted)
    n = len(values)
    cap = n if max_permutations is None else max(int(max_permutations), n)
    nan = (math.nan, math.nan)
    if not np.isfinite(observed):
        return PermutationTest(math.nan, nan, n, 0, False, 1.0 / (cap + 1), level)
    alpha = round(1.0 - level, 12)          # 1 - 0.95 is 0.05000000000000004
    stop = sequential_stop(observed, values, h) if h else None
    if stop is not None:
        values = values[:stop]
        n = stop
        g = int(_exceeds(observed, values).sum())         # = h
        p = g / n
        k = math.ceil(alpha * n - 1e-9)
    else:
        g = int(_exceeds(observed, values).sum())
        p = (g + 1) / (n + 1)
        k = math.ceil(alpha * (n + 1) - 1e-9) - 1
    if k < 1:
        interval = (-math.inf, math.inf)
    else:
        c = np.sort(np.abs(values))[::-1][k - 1] / (1 - TIE_TOLERANCE)
        interval = (float(observed - c), float(observed + c))
    return PermutationTest(float(p), interval, n, g, stop is not None, 1.0 / (cap + 1), level)


def half_sample_interval(estimate: float, half_differences, level: float = 0.95
                         ) -> tuple[float, float]:
    """Interval of one slice's measure from random halves of its images.

    ``half_differences``: ``m(H) - m(H')`` for random splits of the slice's images into two
    halves H, H' (the same relabelling a permutation test draws, within the slice). If the
    measure's variance scales as 1 / n, ``sd(m(H) - m(H')) = 2 sd(m(slice))``, so the
    interval is ``estimate +- q / 2`` with q the ``level`` quantile of ``|m(H) - m(H')|``.
    (NaN, NaN) when no half difference is finite.
    """
    values, _ = finite(half_differences)
    if len(values) == 0 or not np.isfinite(estimate):
        return float("nan"), float("nan")
    half_width = float(np.quantile(np.abs(values), level)) / 2
    return float(estimate - half_width), float(estimate + half_width)


# ---- clustered resampling: whole videos, not frames ---------------------------------------------
def cluster_labels(images, ids=None) -> np.ndarray:
    """Cluster code per image (0..C-1): images of one video share a code; an image outside
    videos (no ``video`` column, or None) is a cluster of its own.

    ``images``: a frame with the dataset's ``video`` column, indexed by image id; ``ids``: the
    image ids to label, in the order the caller resamples them (default: the frame's order).
    Codes number the clusters in order of first appearance.
    """
    ids = images.index.to_numpy() if ids is None else np.asarray(ids)
    if "video" in images:
        video = images["video"].reindex(ids).to_numpy(dtype=object)
    else:
        video = np.full(len(ids), None, dtype=object)
    keys = [("v", str(v)) if v is not None and v == v else ("i", i)
            for v, i in zip(video, range(len(ids)), strict=True)]
    codes: dict = {}
    return np.asarray([codes.setdefault(k, len(codes)) for k in keys], dtype=np.int64)


def cluster_bootstrap_weights(clusters, n: int, rng) -> np.ndarray:
    """``[n, items]`` int64 bootstrap multiplicities that resample whole clusters.

    Each replicate draws the C clusters C times with replacement (multinomial counts
    ``c_1..c_C``); an item's weight is the count of its cluster, so a video drawn twice counts
    all its frames twice. With every item its own cluster this is the ordinary bootstrap
    (``rng.multinomial(N, [1/N] * N)``, the same draws for the same ``rng``).
    """
    clusters = np.asarray(clusters, dtype=np.int64)
    n_clusters = int(clusters.max()) + 1 if len(clusters) else 0
    if n == 0 or n_clusters == 0:
        return np.zeros((n, len(clusters)), dtype=np.int64)
    counts = np.stack([rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters))
                       for _ in range(n)])
    return counts[:, clusters]


def cluster_permutation(values, clusters, rng) -> np.ndarray:
    """``values`` (one per item) shuffled between clusters as blocks.

    The clusters are permuted (pi = ``rng.permutation(C)``) and the items of cluster i receive
    the values of cluster pi(i), in their order; when the two clusters differ in size, item j
    of the n_i items takes value floor(j n_pi(i) / n_i) of the n_pi(i) (the sequence stretched
    or shrunk to fit). Values constant within clusters (a video-level property) are then
    exactly a permutation of the cluster labels, whatever the clusters' sizes. Items keep
    their order within a cluster (the order of ``values``). With every item its own cluster
    this is ``values[rng.permutation(N)]``.
    """
    values = np.asarray(values)
    clusters = np.asarray(clusters, dtype=np.int64)
    if len(values) != len(clusters):
        raise ValueError(f"one cluster per value needed: {len(values)} values, "
                         f"{len(clusters)} clusters")
    if len(values) == 0:
        return values.copy()
    n_clusters = int(clusters.max()) + 1
    order = np.argsort(clusters, kind="stable")
    sizes = np.bincount(clusters, minlength=n_clusters)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    present = np.flatnonzero(sizes)             # codes that label no item are skipped
    pi = present[rng.permutation(len(present))]
    out = np.empty_like(values)
    for i, src in zip(present, pi, strict=True):
        n_i = sizes[i]
        take = starts[src] + (np.arange(n_i) * sizes[src]) // n_i
        out[order[starts[i]:starts[i] + n_i]] = values[order[take]]
    return out

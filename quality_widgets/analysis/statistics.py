"""Resampling statistics for comparing a model's performance on two slices of a dataset.

Plain functions on arrays of replicates (they do not know what was resampled):

- :func:`bootstrap_ci`: confidence interval of a statistic from its bootstrap replicates
  (percentile or basic method);
- :func:`permutation_p_value`: two-sided p-value from a permutation distribution, counting the
  observed statistic as one of the permutations;
- :func:`holm`: Holm's step-down adjustment of several p-values (family-wise error control);
- :func:`finite`: the replicates that are defined, and how many were not.
"""
from __future__ import annotations

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
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out

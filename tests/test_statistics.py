"""analysis.statistics: p-values, the inverted-test interval, sequential stopping, corrections.

Oracles are hand computations on short arrays, and the definitions themselves checked over
many random cases (the interval excludes 0 exactly when p < alpha).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from quality_widgets.analysis.statistics import (
    benjamini_hochberg,
    bootstrap_ci,
    half_sample_interval,
    holm,
    permutation_p_value,
    permutation_test,
    sequential_stop,
)


def test_holm_matches_hand_computation():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 with m = 4: 0.04, 0.09, 0.09 (monotone), 0.5
    np.testing.assert_allclose(holm(p), [0.04, 0.09, 0.09, np.nan, 0.5])
    assert np.isnan(holm([np.nan])).all()


def test_benjamini_hochberg_matches_hand_computation():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 (m = 4): m p / rank = 0.04, 0.06, 0.0533, 0.5; then the
    # running minimum from the top: 0.04, 0.0533, 0.0533, 0.5
    np.testing.assert_allclose(benjamini_hochberg(p), [0.04, 0.16 / 3, 0.16 / 3, np.nan, 0.5])
    assert np.isnan(benjamini_hochberg([np.nan])).all()
    # never below the raw p-value, never above Holm's
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.random(12) ** 3
        q = benjamini_hochberg(p)
        assert (q >= p - 1e-15).all() and (q <= holm(p) + 1e-15).all()


def test_permutation_p_value_counts_the_observed_statistic():
    assert permutation_p_value(0.5, [0.1, -0.6, 0.5, 0.2]) == pytest.approx(3 / 5)
    assert permutation_p_value(1.0, np.zeros(999)) == pytest.approx(1 / 1000)
    assert permutation_p_value(0.3, [np.nan, 0.4]) == pytest.approx(2 / 2)   # NaN dropped
    assert np.isnan(permutation_p_value(np.nan, [0.1]))


def test_bootstrap_ci_methods():
    reps = np.arange(1001) / 1000.0             # quantiles 0.025 and 0.975 exactly
    assert bootstrap_ci(0.4, reps) == pytest.approx((0.025, 0.975))
    assert bootstrap_ci(0.4, reps, method="basic") == pytest.approx((0.8 - 0.975, 0.8 - 0.025))
    assert np.isnan(bootstrap_ci(0.0, [np.nan])[0])
    with pytest.raises(ValueError):
        bootstrap_ci(0.0, reps, method="bca")


def test_permutation_test_interval_is_the_inverted_test_by_hand():
    # 19 permutations, alpha = 0.05: k = ceil(0.05 * 20) - 1 = 0 -> no finite interval
    t = permutation_test(0.3, np.linspace(-0.1, 0.1, 19))
    assert t.p_value == pytest.approx(1 / 20) and t.interval == (-math.inf, math.inf)
    # 39 permutations: k = ceil(0.05 * 40) - 1 = 1, the largest |d*| is the half-width
    perm = np.r_[np.linspace(-0.1, 0.1, 38), 0.25]
    t = permutation_test(0.3, perm)
    assert t.p_value == pytest.approx(1 / 40) and t.exceedances == 0
    assert t.interval[0] == pytest.approx(0.05) and t.interval[1] == pytest.approx(0.55)
    assert t.min_p == pytest.approx(1 / 40) and not t.stopped_early
    # observed inside the permutation spread: p = 2/40 = 0.05 is not < 0.05, 0 stays inside
    t = permutation_test(0.2, perm)
    assert t.p_value == pytest.approx(2 / 40) and t.interval[0] <= 0 <= t.interval[1]


def test_interval_excludes_zero_exactly_when_p_is_below_alpha():
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(2000):
        n = int(rng.integers(20, 400))
        perm = rng.normal(0, 1, n)
        perm[rng.random(n) < 0.05] = np.nan                 # undefined permutations
        observed = float(rng.normal(0, 1.6))
        if rng.random() < 0.2:                               # ties with a permutation
            observed = float(np.nanmax(np.abs(perm))) * rng.choice([-1, 1])
        level = float(rng.choice([0.9, 0.95, 0.99]))
        h = int(rng.choice([0, 5, 10]))
        t = permutation_test(observed, perm, level, h or None, max_permutations=2 * n)
        lo, hi = t.interval
        assert (lo > 0 or hi < 0) == (t.p_value < round(1 - level, 12))
        assert lo <= observed <= hi
        checked += 1
    assert checked == 2000


def test_besag_clifford_stops_at_the_h_th_exceedance():
    perm = np.array([0.1, 0.9, -0.8, 0.2, np.nan, 0.95, -0.1, 0.7, 0.6, 0.99])
    # |d*| >= 0.7 at finite positions 2, 3, 5, 7 (1-based, NaN skipped)
    assert sequential_stop(0.7, perm, h=3) == 5
    assert sequential_stop(0.7, perm, h=10) is None
    t = permutation_test(0.7, perm, h=3, max_permutations=99)
    assert t.stopped_early and t.permutations == 5 and t.exceedances == 3
    assert t.p_value == pytest.approx(3 / 5) and t.min_p == pytest.approx(1 / 100)
    # fewer than h exceedances: the fixed-N p-value on everything drawn
    t = permutation_test(0.95, perm, h=3, max_permutations=9)
    assert not t.stopped_early and t.p_value == pytest.approx((2 + 1) / (9 + 1))


def test_sequential_p_values_are_valid_under_the_null():
    """P(p <= a) <= a when the observed statistic is one more draw of the same distribution."""
    rng = np.random.default_rng(2)
    p = []
    for _ in range(4000):
        draws = rng.normal(size=200)
        p.append(permutation_test(draws[0], draws[1:], h=10).p_value)
    p = np.array(p)
    for a in (0.01, 0.05, 0.1, 0.5):
        assert np.mean(p <= a) <= a + 2.6 * math.sqrt(a * (1 - a) / len(p))


def test_half_sample_interval():
    diffs = np.r_[np.linspace(-0.2, 0.2, 99), np.nan]       # |d| quantile .95 = 0.19
    lo, hi = half_sample_interval(0.5, diffs)
    q = np.quantile(np.abs(np.linspace(-0.2, 0.2, 99)), 0.95)
    assert (lo, hi) == pytest.approx((0.5 - q / 2, 0.5 + q / 2))
    assert np.isnan(half_sample_interval(0.5, [np.nan])[0])
    assert np.isnan(half_sample_interval(np.nan, diffs)[0])

"""The view-model functions of :mod:`quality_widgets.analysis.selection`, by hand: bins and log
heights, range masks and the bins a brush highlights, outlier fences, stable paging, groups,
the two sides of a threshold. No widget here (those are in test_explorer.py, test_groupby.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quality_widgets.analysis import selection as sel


def expected_order(frame, metric, mask, ascending=True):
    """Reference gallery order: stable sort of the selected rows, NaN last."""
    rows = frame[mask]
    return rows.sort_values(metric, ascending=ascending, kind="stable",
                            na_position="last").index.tolist()


# ---- histogram, masks, paging -------------------------------------------------------------------
def test_histogram_counts_and_log_heights():
    values = np.array([0.0, 0.1, 0.5, 0.5, 1.0, np.nan])
    h = sel.histogram(values, bins=4)
    assert h.counts.tolist() == [2, 0, 2, 1] and h.n_missing == 1
    assert h.edges[0] == 0.0 and h.edges[-1] == 1.0
    hl = sel.histogram(values, bins=4, log=True)
    np.testing.assert_allclose(hl.heights, np.log10(1 + h.counts))
    const = sel.histogram(np.full(5, 3.0), bins=3)
    assert const.counts.sum() == 5 and const.edges[0] < 3.0 < const.edges[-1]


def test_range_mask_is_inclusive_and_skips_nan():
    v = np.array([0.1, 0.2, 0.3, np.nan, 0.4])
    assert sel.range_mask(v, 0.2, 0.4).tolist() == [False, True, True, False, True]
    assert sel.range_mask(v, 0.4, 0.2).tolist() == [False, True, True, False, True]
    assert sel.range_mask(v, None, 0.2).tolist() == [True, True, False, False, False]
    assert sel.range_mask(v).tolist() == [True, True, True, False, True]
    assert sel.range_mask(pd.Series([True, False, True]), 0.5, 1).tolist() == [True, False,
                                                                                True]


def test_overlapping_bins_cover_every_selected_value():
    rng = np.random.default_rng(3)
    values = rng.normal(size=2000)
    h = sel.histogram(values, bins=17)
    for lo, hi in [(-0.5, 0.3), (h.edges[3], h.edges[5]), (-10, 10), (0.2, 0.2)]:
        flags = sel.overlapping_bins(h.edges, lo, hi)
        picked = values[sel.range_mask(values, lo, hi)]
        bin_of = np.clip(np.searchsorted(h.edges, picked, side="right") - 1, 0, 16)
        assert flags[bin_of].all()
    # a bin touching the interval only at its open right edge is not highlighted
    flags = sel.overlapping_bins(np.array([0.0, 1.0, 2.0]), 1.0, 1.5)
    assert flags.tolist() == [False, True]


def test_combine_and_iqr_band():
    a = np.array([True, True, False, True])
    b = np.array([True, False, False, True])
    assert sel.combine([a, None, b], 4).tolist() == [True, False, False, True]
    assert sel.combine([], 3).tolist() == [True, True, True]
    assert a.tolist() == [True, True, False, True]    # inputs untouched
    v = np.arange(1, 101, dtype=float)
    band = sel.iqr_band(v)
    q1, q3 = np.quantile(v, [0.25, 0.75])
    assert (band.low, band.high) == (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1))
    assert sel.iqr_band([np.nan]) is None


@pytest.mark.parametrize("ascending", [True, False])
def test_sort_page_equals_a_stable_full_sort(ascending):
    rng = np.random.default_rng(5)
    n = 5000
    frame = pd.DataFrame({"m": np.round(rng.random(n), 2)},
                         index=pd.Index(rng.permutation(n) + 100, name="image_id"))
    frame.loc[frame.index[::97], "m"] = np.nan
    mask = rng.random(n) > 0.3
    ref = expected_order(frame, "m", mask, ascending)
    for page in (0, 1, 7, 10_000):
        p = sel.sort_page(frame, "m", ascending, page, 24, mask=mask)
        start = p.page * 24
        assert p.ids == ref[start:start + 24]
    last = sel.sort_page(frame, "m", ascending, 10_000, 24, mask=mask)
    assert last.page == last.n_pages - 1 == (len(ref) - 1) // 24
    assert last.ids[-1] == ref[-1]          # NaN rows come last


# ---- groups -------------------------------------------------------------------------------------
def test_grouped_histogram_by_hand():
    values = [0.0, 0.5, 1.0, 1.5, 2.0, np.nan, 0.2]
    groups = ["a", "b", "a", "a", None, "a", ""]
    g = sel.grouped_histogram(values, groups, bins=2)
    assert g.groups == ["a", "(none)", "b"]                  # most frequent first
    assert g.edges.tolist() == [0.0, 1.0, 2.0]
    assert g.counts.tolist() == [[1, 2], [1, 1], [1, 0]]     # NaN of "a" left out
    assert g.n_missing.tolist() == [1, 0, 0]
    n = sel.grouped_histogram(values, groups, bins=[0.0, 1.0, 2.0], normalize=True)
    np.testing.assert_allclose(n.heights, [[1 / 3, 2 / 3], [0.5, 0.5], [1.0, 0.0]])
    # stacked counts add up to the plain histogram on the same bins
    np.testing.assert_array_equal(g.counts.sum(axis=0), sel.histogram(values, 2).counts)


def test_groups_beyond_the_limit_merge_into_other():
    labels = [f"g{i}" for i in range(10) for _ in range(10 - i)]
    g = sel.grouped_histogram(np.arange(len(labels)), labels, bins=3, max_groups=4)
    assert g.groups == ["g0", "g1", "g2", "(other)"]
    assert g.totals.tolist() == [10, 9, 8, sum(range(1, 8))]
    counts = sel.group_counts(labels, np.arange(len(labels)) % 2 == 0, max_groups=4)
    assert counts.loc["g0"].tolist() == [10, 5, 0.5]
    assert counts["n"].sum() == len(labels)


def test_categorical_columns():
    frame = pd.DataFrame({"category": ["a", "b"], "score": [0.1, 0.2], "file_name": ["x", "y"],
                          "crowd": [True, False], "segmentation": [[[1, 2]], None],
                          "annotator": ["ann", None]})
    assert sel.categorical_columns(frame) == ["category", "crowd", "annotator"]


# ---- a threshold on a histogram -----------------------------------------------------------------
def test_threshold_split_puts_each_bin_on_the_side_of_its_centre():
    h = sel.histogram([0.0, 0.1, 0.4, 0.6, 0.6, 1.0], bins=4)   # centres .125 .375 .625 .875
    below, above = sel.threshold_split(h, 0.5)
    assert below.tolist() == [2, 1, 0, 0] and above.tolist() == [0, 0, 2, 1]
    below, above = sel.threshold_split(h, 0.375)                 # a centre on T goes above
    assert below.tolist() == [2, 0, 0, 0] and above.tolist() == [0, 1, 2, 1]
    np.testing.assert_array_equal(below + above, h.heights)


def test_interval_medians_by_hand():
    values = [0.0, 0.1, 0.2, 0.9, np.nan, 5.0]
    got = sel.interval_medians(values, [0.0, 0.15, 0.5, 1.0], [0.15, 0.5, 1.0, np.inf])
    # [0, .15): 0, .1 -> .05; [.15, .5): .2; [.5, 1): .9; [1, inf): 5 (NaN in none)
    np.testing.assert_allclose(got, [0.05, 0.2, 0.9, 5.0])
    assert sel.interval_medians([1.0], [2.0], [3.0]).tolist() == [2.0]   # empty: its low

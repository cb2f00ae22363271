"""Drift between two datasets: does each metric follow the same distribution in A and B?

:func:`compare` takes the metric frames of two datasets (say training data and this week's
production images) and, for every numeric metric present in both at a level, measures

* ``ks_statistic``: the two-sample Kolmogorov-Smirnov statistic D = sup_x |F_A(x) - F_B(x)|,
  in [0, 1], the largest gap between the two empirical CDFs (unitless, so comparable across
  metrics: the table is sorted by it);
* ``p_ks``: its p-value from ``scipy.stats.ks_2samp`` (exact for small samples, asymptotic
  otherwise), which assumes independent rows;
* ``p_value``: the p-value to act on. At image level it is ``p_ks``. Objects and predictions of
  one image are not independent (they share its light, camera, scene: 100 boxes of one dark
  image are one dark image), and ``p_ks`` treats them as independent draws: on two random halves
  of one dataset it finds "drift" at p < 1e-6. So at object and prediction level ``p_value`` is
  the image-permutation p-value of the same D: whole images are reassigned at random between A
  and B (``permutations`` = 999 times, keeping the number of images per side), and
  p = (1 + #{D_perm >= D}) / (1 + permutations), valid whatever the dependence within an image
  (its smallest value is 1 / (1 + permutations)). In a video dataset (a ``video`` column in
  the images frame) whole videos are the units, at every level including images, since frames of
  one video are not independent either: ``p_method`` then says "video permutation". ``p_method``
  says which one a row uses;
* ``p_holm``: the ``p_value`` column adjusted with Holm's step-down method across all the rows
  of the table (family-wise error control: many metrics are tested at once);
* ``wasserstein``: the earth mover's distance between the two distributions, in the metric's own
  units (``scipy.stats.wasserstein_distance``; for brightness 0.1 means "one tenth of the range
  darker on average", roughly);
* ``psi``: the population stability index sum_b (q_b - p_b) ln(q_b / p_b), where p_b and q_b
  are the fractions of A and of B in bin b. Bins: ``k`` quantile bins of A (the unique values
  of its 1/k, ..., (k-1)/k quantiles as inner edges, open-ended outer bins; a value equal to an
  edge goes to the bin above it), so each bin holds about 1/k of A, with k sized to the
  samples: k = min(10, max(2, floor(min(n_a, n_b) / 20))) (deciles from 200 rows a side;
  fewer, larger bins for small samples, where deciles hold a handful of rows and one empty
  bin decides the sum). Counts are smoothed by adding 1/2 to each bin, p_b = (c_b + 1/2) /
  (n + k/2), so an empty bin stays finite without a floor that dominates the sum;
* ``psi_band``: the rule of thumb (< 0.1 ``stable``, 0.1-0.25 ``moderate``, > 0.25
  ``major``), except that a PSI two samples of one distribution reach by chance is ``noise``:
  PSI <= ``psi_noise`` = (1/n_a + 1/n_b) chi2_{0.95}(k - 1), the 95th percentile of PSI under
  no drift (PSI is about (1/n_a + 1/n_b) times a chi-square with k - 1 degrees of freedom
  then). At object and prediction level n_a, n_b there are the numbers of *images* (boxes of
  one image are not independent draws), which makes the band conservative. Two random halves
  of coco128 (64 images each) gave "major" redness and greenness drift with deciles and a
  1e-4 floor; they are "noise" or "stable" now (tests/test_drift.py);
* ``n_a``, ``n_b``: the finite values compared (NaN and inf left out); ``mean_a``, ``mean_b``,
  ``median_a``, ``median_b``.

Metrics with no finite value on one side are left out.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..frames import LEVELS, as_metric_frames, numeric_metric_columns, resolve_name
from .selection import as_float
from .statistics import holm, permutation_p_value

PSI_MAX_BINS = 10                 # deciles for large samples
PSI_ROWS_PER_BIN = 20             # rows of the smaller sample per bin, at least
PSI_SMOOTHING = 0.5               # added to each bin's count
PSI_BANDS = ((0.1, "stable"), (0.25, "moderate"), (np.inf, "major"))
PERMUTATIONS = 999
COLUMNS = ["metric", "level", "ks_statistic", "p_value", "p_holm", "p_ks", "p_method",
           "wasserstein", "psi", "psi_band", "n_a", "n_b", "mean_a", "mean_b", "median_a",
           "median_b"]


def psi_bins(n_a: int, n_b: int) -> int:
    """Number of quantile bins for samples of ``n_a`` and ``n_b`` rows (module doc)."""
    return int(min(PSI_MAX_BINS, max(2, min(n_a, n_b) // PSI_ROWS_PER_BIN)))


def population_stability_index(a, b, bins: int | None = None) -> float:
    """PSI of ``b`` against the reference ``a`` on ``bins`` quantile bins of ``a`` (default
    :func:`psi_bins`; see the module doc): sum_b (q_b - p_b) ln(q_b / p_b), with 1/2 added to
    each bin's count. NaN if a side is empty."""
    a = as_float(a)
    b = as_float(b)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return float("nan")
    k = psi_bins(a.size, b.size) if bins is None else int(bins)
    edges = np.unique(np.quantile(a, np.arange(1, k) / k))
    n_bins = edges.size + 1
    count_a = np.bincount(np.searchsorted(edges, a, side="right"), minlength=n_bins)
    count_b = np.bincount(np.searchsorted(edges, b, side="right"), minlength=n_bins)
    p = (count_a + PSI_SMOOTHING) / (a.size + PSI_SMOOTHING * n_bins)
    q = (count_b + PSI_SMOOTHING) / (b.size + PSI_SMOOTHING * n_bins)
    return float(np.sum((q - p) * np.log(q / p)))


def psi_noise(n_a: int, n_b: int, bins: int | None = None, level: float = 0.95) -> float:
    """The PSI that two samples of ``n_a`` and ``n_b`` independent rows from one distribution
    exceed with probability 1 - ``level``: (1/n_a + 1/n_b) chi2_level(bins - 1)."""
    from scipy import stats
    if n_a < 1 or n_b < 1:
        return float("nan")
    k = psi_bins(n_a, n_b) if bins is None else int(bins)
    return float((1 / n_a + 1 / n_b) * stats.chi2.ppf(level, max(k - 1, 1)))


def psi_band(psi: float, noise: float) -> str:
    """"stable" (< 0.1), "moderate" (0.1-0.25), "major" (> 0.25), or "noise" when ``psi`` is
    0.1 or more but not above ``noise`` (:func:`psi_noise`); "undefined" for NaN."""
    if not np.isfinite(psi):
        return "undefined"
    if psi < 0.1:
        return "stable"
    if np.isfinite(noise) and psi <= noise:
        return "noise"
    return "moderate" if psi <= 0.25 else "major"


def _ks_statistics(in_a, last) -> np.ndarray:
    """D per row of ``in_a`` ((k, n) bool: is the i-th smallest value in A?): the max over the
    last positions of tie runs, ``last``, of |F_A - F_B|."""
    in_a = np.atleast_2d(in_a)
    n = in_a.shape[1]
    n_a = in_a.sum(axis=1, keepdims=True)
    cum_a = np.cumsum(in_a, axis=1)[:, last]
    cum_b = (last + 1) - cum_a
    return np.max(np.abs(cum_a / n_a - cum_b / (n - n_a)), axis=1)


def image_permutation_ks(a, images_a, b, images_b, permutations: int = PERMUTATIONS,
                         seed: int = 0) -> tuple[float, float]:
    """(D, p): the KS statistic of ``a`` vs ``b`` and its p-value when whole images are
    exchangeable but rows within an image are not independent (module doc). ``images_a``,
    ``images_b``: the image of each value (ids of A and B are never mixed up, even if equal)."""
    a, b = as_float(a), as_float(b)
    keep_a, keep_b = np.isfinite(a), np.isfinite(b)
    codes_a, uniq_a = pd.factorize(np.asarray(images_a)[keep_a])
    codes_b, uniq_b = pd.factorize(np.asarray(images_b)[keep_b])
    n_groups_a, n_groups = len(uniq_a), len(uniq_a) + len(uniq_b)
    values = np.concatenate([a[keep_a], b[keep_b]])
    groups = np.concatenate([codes_a, codes_b + n_groups_a])
    order = np.argsort(values, kind="stable")
    values, groups = values[order], groups[order]
    last = np.flatnonzero(np.r_[values[1:] != values[:-1], True])
    n = values.size
    d_obs = float(_ks_statistics(groups < n_groups_a, last)[0])
    rng = np.random.default_rng(seed)
    base = np.arange(n_groups) < n_groups_a
    chunk = max(1, min(permutations, 2_000_000 // max(n, 1)))   # at most ~2e6 booleans at once
    permuted = []
    while sum(map(len, permuted)) < permutations:
        c = min(chunk, permutations - sum(map(len, permuted)))
        assign = rng.permuted(np.tile(base, (c, 1)), axis=1)   # image -> in A?
        permuted.append(_ks_statistics(assign[:, groups], last))
    # D >= 0, so the two-sided count of the statistics layer is the one-sided KS count
    return d_obs, permutation_p_value(d_obs, np.concatenate(permuted))


def compare_values(a, b, images_a=None, images_b=None, permutations: int = PERMUTATIONS,
                   seed: int = 0) -> dict:
    """KS statistic and p-values, Wasserstein distance, PSI, sizes, means and medians of the
    finite values of ``a`` (reference) and ``b``. With ``images_a`` / ``images_b`` (the image of
    each value), ``p_value`` is the image-permutation p-value (module doc), else ``p_ks``."""
    from scipy import stats
    a = as_float(a)
    b = as_float(b)
    ok_a, ok_b = np.isfinite(a), np.isfinite(b)
    if not ok_a.any() or not ok_b.any():
        raise ValueError("both samples need at least one finite value")
    ks = stats.ks_2samp(a[ok_a], b[ok_b])
    p_value, method = float(ks.pvalue), "ks"
    if images_a is not None and images_b is not None:
        _, p_value = image_permutation_ks(a, images_a, b, images_b, permutations, seed)
        method = f"image permutation ({permutations})"
    # the PSI noise floor counts independent units: images for boxes of images
    units_a = (len(pd.unique(np.asarray(images_a)[ok_a])) if images_a is not None
               else int(ok_a.sum()))
    units_b = (len(pd.unique(np.asarray(images_b)[ok_b])) if images_b is not None
               else int(ok_b.sum()))
    a, b = a[ok_a], b[ok_b]
    psi = population_stability_index(a, b)
    noise = psi_noise(units_a, units_b, psi_bins(a.size, b.size))
    return {"ks_statistic": float(ks.statistic), "p_value": p_value, "p_ks": float(ks.pvalue),
            "p_method": method,
            "wasserstein": float(stats.wasserstein_distance(a, b)),
            "psi": psi, "psi_band": psi_band(psi, noise), "n_a": int(a.size), "n_b": int(b.size),
            "mean_a": float(a.mean()), "mean_b": float(b.mean()),
            "median_a": float(np.median(a)), "median_b": float(np.median(b))}


def _units(frames, frame: pd.DataFrame, level: str):
    """(unit of each row for the permutation, or None for independent rows; whether some units
    are videos): the row's video when its image is a video frame, else its image (objects and
    predictions) or None (images outside videos)."""
    ids = frame.index.to_numpy() if level == "image" else (
        frame["image_id"].to_numpy() if "image_id" in frame else None)
    if ids is None:
        return None, False
    images = frames.images
    video = (images["video"].reindex(ids).to_numpy(dtype=object) if "video" in images
             else np.full(len(ids), None, dtype=object))
    in_video = pd.notna(video)
    if not in_video.any():
        return (None if level == "image" else ids), False
    return np.array([f"video {v}" if ok else f"image {i}"
                     for v, i, ok in zip(video, ids, in_video, strict=True)], dtype=object), True


def compare(metrics_a, metrics_b, levels=LEVELS, metrics=None,
            permutations: int = PERMUTATIONS, seed: int = 0) -> pd.DataFrame:
    """Drift of every metric from dataset A (the reference) to dataset B (see the module doc).

    ``metrics_a``, ``metrics_b``: :class:`MetricFrames` (from ``compute_metrics``) or folders
    written by ``quality-widgets metrics``. ``levels``: which frames to compare. ``metrics``:
    column names to compare (default: every numeric metric column present on both sides; an
    unknown name raises KeyError with the closest ones). ``permutations``, ``seed``: the image
    permutations of object / prediction p-values (reproducible for a given seed; at least 1).
    Returns one row per (metric, level) with the columns ``metric, level, ks_statistic,
    p_value, p_holm, p_ks, p_method, wasserstein, psi, psi_band, n_a, n_b, mean_a, mean_b,
    median_a, median_b``, sorted by ``ks_statistic`` (largest drift first), then ``p_value``.
    """
    if int(permutations) < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}")
    fa, fb = as_metric_frames(metrics_a), as_metric_frames(metrics_b)
    if metrics is not None:
        names = {c for lv in ((levels,) if isinstance(levels, str) else levels)
                 for f in (fa, fb) for c in numeric_metric_columns(f.frame(lv))}
        for name in metrics:
            resolve_name(name, sorted(names), "metric column")
    levels = (levels,) if isinstance(levels, str) else tuple(levels)
    rows = []
    for level in levels:
        frame_a, frame_b = fa.frame(level), fb.frame(level)
        if frame_a.empty or frame_b.empty:
            continue
        columns = [c for c in numeric_metric_columns(frame_a)
                   if c in set(numeric_metric_columns(frame_b))]
        if metrics is not None:
            columns = [c for c in columns if c in set(metrics)]
        for column in columns:
            a, b = as_float(frame_a[column]), as_float(frame_b[column])
            if not np.isfinite(a).any() or not np.isfinite(b).any():
                continue
            images_a, videos_a = _units(fa, frame_a, level)
            images_b, videos_b = _units(fb, frame_b, level)
            row = compare_values(a, b, images_a if images_b is not None else None,
                                 images_b if images_a is not None else None, permutations, seed)
            if (videos_a or videos_b) and images_a is not None and images_b is not None:
                row["p_method"] = row["p_method"].replace("image", "video")
            rows.append({"metric": column, "level": level, **row})
    if metrics is not None:
        found = {r["metric"] for r in rows}
        missing = [m for m in metrics if m not in found]
        if missing:
            raise KeyError(f"no finite values on both sides for: {', '.join(missing)}")
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "p_holm"])
    table.insert(table.columns.get_loc("p_value") + 1, "p_holm",
                 holm(table["p_value"].to_numpy()) if len(table) else [])
    table = table.sort_values(["ks_statistic", "p_value"], ascending=[False, True],
                              kind="stable").reset_index(drop=True)
    return table[COLUMNS]

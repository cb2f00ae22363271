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
* ``p_holm``: the ``p_value`` column adjusted with Holm's step-down method across all the rows of the
  table (family-wise error control: many metrics are tested at once);
* ``wasserstein``: the earth mover's distance between the two distributions, in the metric's own
  units (``scipy.stats.wasserstein_distance``; for brightness 0.1 means "one tenth of the range
  darker on average", roughly);
* ``psi``: the population stability index sum_b (q_b - p_b) ln(q_b / p_b), where p_b and q_b
  are the fractions of A and of B in bin b. Bins: the deciles of A (the unique values of its
  10%, ..., 90% quantiles as inner edges, open-ended outer bins; a value equal to an edge goes to
  the bin above it), so each bin holds about a tenth of A; fractions below ``epsilon`` = 1e-4
  are raised to ``epsilon`` so empty bins stay finite. Rule of thumb: < 0.1 stable, 0.1-0.25
  moderate shift, > 0.25 major shift;
* ``n_a``, ``n_b``: the finite values compared (NaN and inf left out); ``mean_a``, ``mean_b``,
  ``median_a``, ``median_b``.

Metrics with no finite value on one side are left out.
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from ..frames import LEVELS, as_metric_frames, numeric_metric_columns
from .selection import as_float
from .statistics import holm, permutation_p_value

PSI_QUANTILES = np.linspace(0.1, 0.9, 9)    # deciles of A: the PSI bin edges
PSI_EPSILON = 1e-4
PERMUTATIONS = 999
COLUMNS = ["metric", "level", "ks_statistic", "p_value", "p_holm", "p_ks", "p_method",
           "wasserstein", "psi", "n_a", "n_b", "mean_a", "mean_b", "median_a", "median_b"]


def population_stability_index(a, b, quantiles=PSI_QUANTILES, epsilon: float = PSI_EPSILON
                               ) -> float:
    """PSI of ``b`` against the reference ``a`` on the quantile bins of ``a`` (module doc):
    sum_b (q_b - p_b) ln(q_b / p_b), fractions floored at ``epsilon``. NaN if a side is empty."""
    a = as_float(a)
    b = as_float(b)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return float("nan")
    edges = np.unique(np.quantile(a, quantiles))
    n_bins = edges.size + 1
    p = np.bincount(np.searchsorted(edges, a, side="right"), minlength=n_bins) / a.size
    q = np.bincount(np.searchsorted(edges, b, side="right"), minlength=n_bins) / b.size
    p, q = np.maximum(p, epsilon), np.maximum(q, epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


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
    a, b = a[ok_a], b[ok_b]
    return {"ks_statistic": float(ks.statistic), "p_value": p_value, "p_ks": float(ks.pvalue),
            "p_method": method,
            "wasserstein": float(stats.wasserstein_distance(a, b)),
            "psi": population_stability_index(a, b), "n_a": int(a.size), "n_b": int(b.size),
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
                     for v, i, ok in zip(video, ids, in_video)], dtype=object), True


def compare(metrics_a, metrics_b, levels=LEVELS, metrics=None,
            permutations: int = PERMUTATIONS, seed: int = 0) -> pd.DataFrame:
    """Drift of every metric from dataset A (the reference) to dataset B (see the module doc).

    ``metrics_a``, ``metrics_b``: :class:`MetricFrames` (from ``compute_metrics``) or folders
    written by ``quality-widgets metrics``. ``levels``: which frames to compare. ``metrics``:
    column names to compare (default: every numeric metric column present on both sides).
    ``permutations``, ``seed``: the image permutations of object / prediction p-values
    (reproducible for a given seed). Returns one row per (metric, level) with the columns
    ``metric, level, ks_statistic, p_value, p_holm, p_ks, p_method, wasserstein, psi, n_a, n_b,
    mean_a, mean_b, median_a, median_b``, sorted by ``ks_statistic`` (largest drift first),
    then ``p_value``.
    """
    fa, fb = as_metric_frames(metrics_a), as_metric_frames(metrics_b)
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

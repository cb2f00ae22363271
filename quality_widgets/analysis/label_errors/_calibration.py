"""Calibration: a detector's scores as precisions, and the image's context as a likelihood
ratio, both estimated on the dataset itself."""
from __future__ import annotations

import numpy as np


def calibrate_scores(scores, categories, correct, use=None, per_class: bool = True,
                     prior_sd: float = 0.5) -> np.ndarray:
    """Calibrated precision ``q`` in (0, 1) of each detection: P(correct | score, category).

    ``correct`` (bool per detection) is the outcome the scores are calibrated against (here: a
    label of the detection's class at IoU >= 0.5); ``use`` masks the detections to fit on.
    ``g(s)`` is the isotonic (non-decreasing) regression of ``correct`` on the score over all
    categories, each block's rate shrunk as (hits + 0.5) / (n + 1) so it never reaches 0 or 1,
    interpolated linearly between block mean scores (and pooled again where the shrinkage
    broke the order). Then ``q = sigmoid(logit g(s) + d_c)``
    with one offset ``d_c`` per category, the maximum a posteriori estimate under a
    N(0, ``prior_sd``^2) prior (10 Newton steps): a category with few detections stays near the
    pooled curve.
    """
    from scipy.optimize import isotonic_regression
    s = np.asarray(scores, dtype=float)
    c = np.asarray(categories)
    t = np.asarray(correct, dtype=float)
    use = np.ones(len(s), dtype=bool) if use is None else np.asarray(use, dtype=bool)
    if not use.any():
        return np.full(len(s), 0.5)
    fs, ft = s[use], t[use]
    values, inverse = np.unique(fs, return_inverse=True)
    hits = np.bincount(inverse, weights=ft)
    counts = np.bincount(inverse).astype(float)
    fit = isotonic_regression(hits / counts, weights=counts, increasing=True)
    starts = np.asarray(fit.blocks[:-1])
    block_n = np.add.reduceat(counts, starts)
    block_hits = np.add.reduceat(hits, starts)
    block_s = np.add.reduceat(values * counts, starts) / block_n
    rate = (block_hits + 0.5) / (block_n + 1.0)
    rate = isotonic_regression(rate, weights=block_n, increasing=True).x   # shrinking can
    # undo the order between a small block and a large one: pool them again
    g = np.interp(s, block_s, rate)
    z = np.log(g) - np.log1p(-g)
    if not per_class:
        return g
    codes, cat_index = np.unique(c, return_inverse=True)
    delta = np.zeros(len(codes))
    zi, ci, ti = z[use], cat_index[use], t[use]
    precision = 1.0 / prior_sd ** 2
    for _ in range(10):
        p = 1.0 / (1.0 + np.exp(-(zi + delta[ci])))
        grad = np.bincount(ci, weights=ti - p, minlength=len(codes)) - precision * delta
        hess = np.bincount(ci, weights=p * (1 - p), minlength=len(codes)) + precision
        delta += grad / hess
    # Leave-one-out: a detection's own outcome does not move its class's offset (one Newton
    # step without it), so a rare class's only unmatched detection is not judged by itself.
    p = 1.0 / (1.0 + np.exp(-(z + delta[cat_index])))
    hess = np.bincount(ci, weights=p[use] * (1 - p[use]), minlength=len(codes)) + precision
    loo = delta[cat_index] - np.where(use, (t - p) / hess[cat_index], 0.0)
    return 1.0 / (1.0 + np.exp(-(z + loo)))


def context_odds(q, context, correct, use=None, strata: int = 4) -> np.ndarray:
    """``q`` updated by a binary context (naive Bayes): the odds q / (1 - q) times the
    likelihood ratio P(context | true object) / P(context | false positive) of the detection's
    value of ``context``, estimated within ``strata`` quantile bins of ``q`` (over the ``use``d
    detections), so the context is only assumed independent of the score within a bin.

    P(. | true) is the share among the bin's ``correct`` detections, P(. | false) the share
    among its other detections weighted by 1 - q (a confident unmatched detection is as likely
    an unlabelled object as a false positive); both with add-one smoothing. Returns values in
    (0, 1)."""
    q = np.clip(np.asarray(q, dtype=float), 1e-9, 1 - 1e-9)
    b = np.asarray(context, dtype=bool).astype(np.int64)
    t = np.asarray(correct, dtype=bool)
    use = np.ones(len(q), dtype=bool) if use is None else np.asarray(use, dtype=bool)
    if not use.any():
        return q.copy()
    edges = np.quantile(q[use], np.linspace(0, 1, strata + 1)[1:-1])
    stratum = np.digitize(q, edges)
    ratio = np.ones(len(q))
    for k in range(strata):
        m = stratum == k
        w_true = (use & t & m).astype(float)
        w_false = np.where(use & ~t & m, 1.0 - q, 0.0)
        p_true = (np.bincount(b, weights=w_true, minlength=2) + 1.0) / (w_true.sum() + 2.0)
        p_false = (np.bincount(b, weights=w_false, minlength=2) + 1.0) / (w_false.sum() + 2.0)
        ratio[m] = (p_true / p_false)[b[m]]
    odds = q / (1 - q) * ratio
    return odds / (1 + odds)

"""The sweep: which columns can be tested, and every one of them tested at its median, ranked
by effect size with a multiple-testing correction."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from ...compute.pool import run_forked
from ...errors import DataWarning
from ...evaluation.measures import measure_spec
from ...frames import MetricFrames, numeric_metric_columns
from ..statistics import SEQUENTIAL_H, benjamini_hochberg, holm
from ._inputs import (
    SPLIT_LEVELS,
    _Problem,
    dataset_and_metrics,
    evaluator_for,
    metric_level,
    metric_levels,
    slice_rows,
)
from ._resampling import progress_reporter
from ._test import _test

#: Multiple-testing corrections of :func:`rank_metrics`, and the column each adds.
ADJUSTED_COLUMN = {"holm": "p_holm", "bh": "q_bh"}
CORRECTIONS = tuple(ADJUSTED_COLUMN)
#: The columns of :func:`rank_metrics`' frame (``p_holm`` or ``q_bh`` after ``p_value``).
RANKING_COLUMNS = ("metric", "level", "threshold", "below", "above", "difference", "ci_low",
                   "ci_high", "p_value", "permutations", "min_p", "too_small", "summary")


def testable_metrics(metrics: MetricFrames) -> list[tuple[str, str]]:
    """``(column, level)`` of every column :func:`test_hypothesis` can split on, image columns
    first: the numeric image columns, then the numeric object columns that predictions have
    too (see :func:`metric_level`; an annotation-only column cannot split false positives).
    A name that is a column at both levels has level ``"image, object"``."""
    out = []
    for column in [*numeric_metric_columns(metrics.images),
                   *numeric_metric_columns(metrics.objects)]:
        if any(c == column for c, _ in out):
            continue
        levels = []
        for level in SPLIT_LEVELS:
            try:
                levels.append(metric_level(metrics, column, level))
            except (KeyError, ValueError):
                continue
        if levels:      # a name at both levels: "image, object" (the test then needs level=)
            out.append((column, ", ".join(levels)))
    return out


def _columns_to_test(metrics: MetricFrames, columns) -> list:
    """(column, level, name) triples: every level at which each column exists (images
    first); ``name`` says the level when the column is at both."""
    if columns is None:
        columns = list(numeric_metric_columns(metrics.images))
        columns += [c for c in numeric_metric_columns(metrics.objects) if c not in columns]
        columns += [c for c in numeric_metric_columns(metrics.predictions)
                    if c not in columns]
    out = []
    for column in columns:
        levels = metric_levels(metrics, column)
        if not levels:
            out.append((column, None, column))
        for level in levels:
            out.append((column, level, f"{column} ({level})" if len(levels) > 1 else column))
    return out


def _problems(dataset, metrics, columns, measure, category, score_threshold, evaluator,
              slice=None) -> tuple[list, dict]:
    """(the :class:`_Problem` of every column that can be tested, within ``slice``, {name:
    why not} of the others: cannot split, constant, no finite value)."""
    problems, skipped = [], {}
    rows = slice_rows(dataset, metrics, slice)     # once for all columns
    slice = None if rows is None else slice
    for column, level, name in _columns_to_test(metrics, columns):
        try:
            problem = _Problem(dataset, metrics, column, measure, category, score_threshold,
                               evaluator, level, slice=slice, rows=rows)
        except (ValueError, KeyError) as error:
            skipped[name] = str(error).strip("'\"")
            continue
        ref = problem.reference
        if len(ref) == 0 or ref.min() == ref.max():
            skipped[name] = "constant" if len(ref) else "no finite value"
            continue
        problems.append(problem)
    return problems, skipped


def _sweep_one(shared, index: int):
    """One metric's test (in a forked worker: the problems are inherited, not pickled)."""
    problems, cap, h, seed = shared
    return _test(problems[index], None, cap, cap, seed, False, "permutation", 1, h)


def rank_metrics(dataset, metrics=None, measure: str = "AP", resamples: int | None = None,
                 seed: int = 0, category=None, score_threshold: float = 0.5, columns=None,
                 workers: int = 1, progress=False, correction: str = "holm",
                 alpha: float = 0.05, evaluator=None, iou_type: str | None = None,
                 slice=None) -> pd.DataFrame:
    """Test every numeric metric at its median and rank them by effect size.

    ``columns``: the metrics to test (default: every numeric column of ``metrics.images``, and
    of ``metrics.objects`` that also exists on ``metrics.predictions``); a name that is a
    column at both levels is tested at both (two rows). Constant metrics, and those that
    cannot split (annotation-only / prediction-only columns), are skipped and listed in
    ``frame.attrs["skipped"]`` ({name: reason}).

    Permutations: each metric's test draws up to ``resamples`` permutations (default
    ``ceil(2 m / alpha) - 1`` for the m metrics that can be tested, so that the strongest
    effect can reach an adjusted p-value of ``alpha / 2``), stopped by Besag & Clifford's
    sequential rule (see :func:`~quality_widgets.analysis.statistics.permutation_test`) once
    :data:`~quality_widgets.analysis.statistics.SEQUENTIAL_H` of them reach the observed
    difference: a clearly null metric costs a few dozen permutations, a strong one gets the
    resolution its corrected p-value needs. The sequential p-values are exact, so the
    correction keeps its guarantee. ``correction``: "holm" (Holm's step-down, family-wise
    error rate <= alpha) or "bh" (Benjamini-Hochberg q-values, false discovery rate <=
    alpha). ``workers``: processes, one metric each (forked,
    :func:`~quality_widgets.compute.pool.run_forked`; the numbers do not depend on it).
    ``evaluator``: an :class:`Evaluator` of ``dataset`` to reuse. ``iou_type``: "bbox",
    "segm" or "keypoints", as :func:`test_hypothesis`. ``slice``: a
    :class:`~quality_widgets.slicing.Slice`: every metric is tested within it, at its median
    within it (:func:`test_hypothesis`'s ``slice``); a metric without a value in the slice is
    skipped.

    Returns one row per tested metric, sorted by ``|difference|`` descending (too-small tests
    last): ``metric``, ``level``, ``threshold``, ``below``, ``above``, ``difference``,
    ``ci_low``, ``ci_high`` (the inverted permutation test), ``p_value``, ``p_holm`` (or
    ``q_bh``), ``permutations`` (used), ``min_p`` (the smallest p-value the cap allows),
    ``too_small``, ``summary``. ``frame.attrs``: ``skipped``, ``measure``, ``slice`` (its
    text, None without one), ``correction``,
    ``adjusted_column``, ``alpha``, ``warning`` (also issued as a :class:`DataWarning`) when
    even the smallest attainable p-value, corrected, is above ``alpha``.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}: expected 'holm' or 'bh'")
    dataset, metrics = dataset_and_metrics(dataset, metrics)
    evaluator = evaluator_for(dataset, evaluator, iou_type)
    measure_spec(measure, iou_type=evaluator.iou_type)     # a wrong measure: not a skip
    problems, skipped = _problems(dataset, metrics, columns, measure, category,
                                  score_threshold, evaluator, slice)
    m = max(len(problems), 1)
    cap = int(resamples) if resamples is not None else math.ceil(2 * m / alpha) - 1
    results = run_forked(_sweep_one, (problems, cap, SEQUENTIAL_H, seed),
                         range(len(problems)), workers,
                         progress_reporter(progress, len(problems)))
    adjusted = ADJUSTED_COLUMN[correction]
    frame = _ranking(results, correction, adjusted)
    warning = _floor_warning(int((~frame["too_small"].astype(bool)).sum()), cap, alpha,
                             correction)
    if warning is not None:
        warnings.warn(warning, DataWarning, stacklevel=2)
    frame.attrs.update(skipped=skipped, measure=measure, iou_type=evaluator.iou_type,
                       slice=None if slice is None or slice.everything else str(slice),
                       correction=correction, adjusted_column=adjusted, alpha=alpha,
                       warning=warning, max_permutations=cap)
    return frame


def _ranking(results: list, correction: str, adjusted: str) -> pd.DataFrame:
    """One row per result, the adjusted p-values of the tested ones (column ``adjusted``),
    sorted by ``|difference|`` descending (too-small tests last)."""
    rows = [{"metric": r.metric, "level": r.level, "threshold": r.threshold,
             "below": r.below.value, "above": r.above.value, "difference": r.difference,
             "ci_low": r.ci95[0], "ci_high": r.ci95[1], "p_value": r.p_value,
             "permutations": r.permutations - r.permutations_dropped, "min_p": r.min_p,
             "too_small": r.too_small, "summary": r.summary} for r in results]
    frame = pd.DataFrame(rows, columns=list(RANKING_COLUMNS))
    tested = ~frame["too_small"].astype(bool)
    frame[adjusted] = np.nan
    p = frame.loc[tested, "p_value"].to_numpy(dtype=float)
    frame.loc[tested, adjusted] = holm(p) if correction == "holm" else benjamini_hochberg(p)
    frame["_order"] = np.where(tested, -frame["difference"].abs().fillna(0), np.inf)
    frame = frame.sort_values("_order", kind="stable").drop(columns="_order")
    at = RANKING_COLUMNS.index("p_value") + 1
    return frame[[*RANKING_COLUMNS[:at], adjusted, *RANKING_COLUMNS[at:]]].reset_index(
        drop=True)


def _floor_warning(n_tested: int, cap: int, alpha: float, correction: str) -> str | None:
    """The warning when ``cap`` permutations per metric cannot make any of ``n_tested``
    metrics significant once corrected (the smallest adjusted p-value is above ``alpha``)."""
    floor = n_tested / (cap + 1)
    if not n_tested or floor <= alpha:
        return None
    what = "Holm-adjusted p-value" if correction == "holm" else \
        "BH q-value (when a single metric is significant)"
    return (f"{cap} permutations per metric over {n_tested} tested metrics: the "
            f"smallest {what} attainable is {min(floor, 1.0):.3g} > alpha = "
            f"{alpha:g}, so no metric can be declared significant; use at least "
            f"{math.ceil(n_tested / alpha)} permutations (the default adapts)")

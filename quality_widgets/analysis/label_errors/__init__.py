"""Label errors: overlooked, swapped, badly located and spurious boxes, scored from a detector's
predictions (and, optionally, from embeddings of the labelled objects).

:func:`find_label_errors` gives one row per (item, kind): every non-crowd annotation is scored
for ``"swapped"``, ``"badly_located"`` and ``"spurious"``, every prediction for
``"overlooked"``; ``score`` is in [0, 1], higher = more likely an error. :func:`add_label_scores`
joins the same scores to the metric frames (``swap_score``, ``location_score``,
``spurious_score``, ``label_agreement`` on objects, ``overlooked_score`` on predictions,
``label_quality`` per image). The formulas are in the README ("Label errors") and in
:func:`find_label_errors`'s Notes; in short:

* **Calibration.** A detector's scores are not probabilities. ``q`` = P(a label of the
  prediction's class lies at IoU >= 0.5 | score, class), estimated on the dataset itself: an
  isotonic fit of that outcome on the score (all classes), then one logit offset per class
  (shrunk to 0 by a N(0, 0.5^2) prior), so a class whose scores run low is not under-trusted.
* **Context** (overlooked only). ``q`` times the likelihood ratio of "another label of its
  class is in the image" between true objects and false positives, measured per quartile of
  ``q`` on the dataset itself (:func:`context_odds`).
* **Evidence.** Per (label, prediction) pair of one image: ``A(IoU)`` (aligned: 0 below IoU 0.3,
  1 from 0.6), ``N(IoU)`` (they overlap: 0 at 0, 1 from 0.05), ``B(IoU)`` (misaligned: 1 at 0,
  0 from 0.5), ``Z`` (size agreement sqrt(min area / max area)). A prediction already explained
  by another label (aligned with it) is not evidence against this one.

Crowd regions get no rows; a prediction inside a crowd region of its class (box IoU by the
crowd rule, intersection / prediction area, >= 0.5) is ignored, as pycocotools ignores it.

Modules: ``_calibration`` (q and the context), ``_evidence`` (A, N, B, T and their reductions),
``_scores`` (:func:`score_arrays`: every score of every label and prediction), ``_agreement``
(embeddings), ``_candidates`` (:func:`find_label_errors`, :func:`add_label_scores`, annotators)
and ``_reasons``. Corrections are written by :func:`quality_widgets.export_fixes.apply_fixes`
(beside the other writers; importable from here too).
"""
from __future__ import annotations

from ._agreement import cosine_knn, label_agreement
from ._calibration import calibrate_scores, context_odds
from ._candidates import (
    ANNOTATOR_FIELDS,
    CANDIDATE_COLUMNS,
    KINDS,
    LABEL_KINDS,
    SCORE_COLUMNS,
    add_label_scores,
    annotator_column,
    annotators_of,
    empty_candidates,
    find_label_errors,
)
from ._evidence import aligned
from ._scores import Scores, score_arrays

__all__ = ["ANNOTATOR_FIELDS", "CANDIDATE_COLUMNS", "KINDS", "LABEL_KINDS", "SCORE_COLUMNS",
           "Scores", "add_label_scores", "aligned", "annotator_column", "annotators_of",
           "apply_fixes", "calibrate_scores", "context_odds", "cosine_knn", "empty_candidates",
           "find_label_errors", "label_agreement", "score_arrays"]


def __getattr__(name):
    # apply_fixes lives beside the writers now (quality_widgets.export_fixes), which import the
    # candidates' kinds from this package: imported on first use, not at import, so that either
    # module can be imported first.
    if name == "apply_fixes":
        from ...export_fixes import apply_fixes
        return apply_fixes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

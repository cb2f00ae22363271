"""Built-in acquisition metrics: which images to label next, from the model's predictions alone.

All are dataset-scope metrics (``fn(frame, dataset)``) that read ``dataset.predictions`` and need
no pixels. They are NaN for every row when the dataset has no predictions at all.

Image level, from each prediction's ``score``:

* ``n_predictions``: predictions in the image (0 for an image without any);
* ``mean_confidence``, ``min_confidence``: mean / minimum score of the image's predictions
  (NaN for an image without predictions);
* ``n_uncertain``: predictions whose score lies in the uncertainty band
  ``lo <= score <= hi``, :data:`UNCERTAIN_BAND` = (0.3, 0.7) by default (0 without
  predictions). The band is a module constant read at call time, and the function takes
  ``band=(lo, hi)``, so your own band is one line::

      n_uncertain = {m.name: m.func for m in qw.registered_metrics("image")}["n_uncertain"]
      metrics.images["n_doubtful"] = n_uncertain(metrics.images, ds, band=(0.2, 0.5))

Prediction level, where the results file gives each detection a per-class probability vector
(an optional ``"scores": [p_1, ..., p_K]`` list, kept by the loader as ``dataset.predictions
["scores"]``). The vector is normalised to sum 1 first (softmax outputs are unchanged; this makes
sigmoid-style vectors comparable), p_(1) >= p_(2) are its two largest entries:

* ``prediction_entropy``: -sum_k p_k log2 p_k, bits, in [0, log2 K] (named so to not clash with
  the image ``entropy``);
* ``margin``: p_(1) - p_(2), in [0, 1] (small = the model hesitates between two classes);
* ``least_confidence``: 1 - p_(1), in [0, 1 - 1/K].

They are NaN for predictions without a vector, or with one that has fewer than 2 entries, a
negative or non-finite entry, or a zero sum. Per image (NaN without such predictions):
``mean_prediction_entropy``, ``max_prediction_entropy``, ``mean_least_confidence``,
``max_least_confidence``, ``mean_margin`` and ``min_margin`` -- for the margin the minimum, not
the maximum, is the image's most uncertain prediction.
"""
import numpy as np
import pandas as pd

from quality_widgets import metric

# Predictions with lo <= score <= hi count as uncertain in n_uncertain.
UNCERTAIN_BAND = (0.3, 0.7)


def _has_predictions(dataset) -> bool:
    return dataset is not None and (bool(dataset.has_predictions) or len(dataset.predictions) > 0)


def _per_image(frame, dataset, values, how: str) -> pd.Series:
    """Aggregate ``values`` (one per dataset.predictions row, NaN skipped) per image of
    ``frame`` with ``how`` ("mean", "min", "max", "sum", "count"); NaN for images without any
    value (0 for "sum" and "count"); all NaN when the dataset has no predictions."""
    if not _has_predictions(dataset):
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    preds = dataset.predictions
    series = pd.Series(np.asarray(values, dtype="float64"), index=preds.index)
    grouped = series.groupby(preds["image_id"].to_numpy())
    out = getattr(grouped, how)().reindex(frame.index)
    if how in ("sum", "count"):
        out = out.fillna(0)
    return out.astype("float64")


@metric(level="image", scope="dataset", pixels=False)
def n_predictions(frame, dataset):
    """Number of predictions in the image (NaN without a predictions file).

    Predictions per image, a count (0 for an image without predictions)."""
    if not _has_predictions(dataset):
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    counts = dataset.predictions["image_id"].value_counts()
    return counts.reindex(frame.index).fillna(0).astype("int64")


@metric(level="image", scope="dataset", pixels=False)
def mean_confidence(frame, dataset):
    """Mean score of the image's predictions (NaN without predictions).

    mean(score) over the image's predictions, in [0, 1]."""
    scores = dataset.predictions["score"] if _has_predictions(dataset) else ()
    return _per_image(frame, dataset, scores, "mean")


@metric(level="image", scope="dataset", pixels=False)
def min_confidence(frame, dataset):
    """Lowest score of the image's predictions (NaN without predictions).

    min(score) over the image's predictions, in [0, 1]."""
    scores = dataset.predictions["score"] if _has_predictions(dataset) else ()
    return _per_image(frame, dataset, scores, "min")


@metric(level="image", scope="dataset", pixels=False)
def n_uncertain(frame, dataset, band=None):
    """Predictions with a score in the uncertainty band 0.3..0.7 (inclusive).

    Count of the image's predictions with lo <= score <= hi, ``band = (lo, hi)``
    (default :data:`UNCERTAIN_BAND`); 0 for an image without predictions."""
    if not _has_predictions(dataset):
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    lo, hi = UNCERTAIN_BAND if band is None else band
    if not lo <= hi:
        raise ValueError(f"uncertainty band needs lo <= hi, got ({lo}, {hi})")
    scores = dataset.predictions["score"].to_numpy(dtype="float64")
    inside = ((scores >= lo) & (scores <= hi)).astype("float64")
    return _per_image(frame, dataset, inside, "sum").astype("int64")


# ---- per-class probability vectors -------------------------------------------------------------
def class_uncertainty(vectors) -> pd.DataFrame:
    """Entropy (bits), margin and least confidence of each probability vector in ``vectors``
    (see the module doc); rows of NaN for missing or unusable vectors."""
    n = len(vectors)
    entropy = np.full(n, np.nan)
    margin = np.full(n, np.nan)
    least = np.full(n, np.nan)
    for i, vec in enumerate(vectors):
        if not isinstance(vec, (list, tuple, np.ndarray)):
            continue
        try:
            p = np.asarray(vec, dtype="float64").ravel()
        except (TypeError, ValueError):
            continue
        total = p.sum() if p.size else 0.0
        if p.size < 2 or not np.all(np.isfinite(p)) or (p < 0).any() or not total > 0:
            continue
        p = p / total
        nz = p[p > 0]
        entropy[i] = float(-(nz * np.log2(nz)).sum()) + 0.0   # + 0.0: no -0.0
        top2 = np.partition(p, p.size - 2)[-2:]
        margin[i] = float(top2[1] - top2[0])
        least[i] = float(1.0 - top2[1])
    return pd.DataFrame({"prediction_entropy": entropy, "margin": margin,
                         "least_confidence": least})


def _class_uncertainty_of(dataset) -> pd.DataFrame | None:
    if not _has_predictions(dataset) or "scores" not in dataset.predictions:
        return None
    out = class_uncertainty(dataset.predictions["scores"].tolist())
    out.index = dataset.predictions.index
    return out


@metric(level="prediction", scope="dataset", pixels=False,
        columns=("prediction_entropy", "margin", "least_confidence"))
def class_probabilities(frame, dataset):
    """Entropy (bits), top-1 minus top-2 margin and 1 - top-1 of the prediction's per-class
    probability vector (NaN without one).

    prediction_entropy = -sum p log2 p; margin = p(1) - p(2); least_confidence = 1 - p(1);
    p the normalised ``scores`` vector of the prediction."""
    values = _class_uncertainty_of(dataset)
    if values is None:
        return pd.DataFrame(np.nan, index=frame.index,
                            columns=["prediction_entropy", "margin", "least_confidence"])
    return values.reindex(frame.index)


IMAGE_AGGREGATES = (("mean_prediction_entropy", "prediction_entropy", "mean"),
                    ("max_prediction_entropy", "prediction_entropy", "max"),
                    ("mean_margin", "margin", "mean"),
                    ("min_margin", "margin", "min"),
                    ("mean_least_confidence", "least_confidence", "mean"),
                    ("max_least_confidence", "least_confidence", "max"))


@metric(level="image", scope="dataset", pixels=False,
        columns=tuple(name for name, _, _ in IMAGE_AGGREGATES))
def image_class_probabilities(frame, dataset):
    """Per image mean / max of prediction_entropy and least_confidence, mean / min of margin (NaN
    without per-class probability vectors).

    Per-image aggregates of the per-prediction class uncertainty (NaN skipped)."""
    values = _class_uncertainty_of(dataset)
    out = pd.DataFrame(index=frame.index)
    for name, column, how in IMAGE_AGGREGATES:
        if values is None:
            out[name] = np.nan
        else:
            out[name] = _per_image(frame, dataset, values[column].to_numpy(), how)
    return out

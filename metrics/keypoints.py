"""Built-in keypoint (skeleton) metrics: how much of a labelled skeleton is there, how much is
occluded, whether its proportions are plausible, and how sure the model is of its keypoints.

Keypoints are COCO's ``[x1, y1, v1, ..., xK, yK, vK]``: for labels, v = 0 not labelled,
1 labelled but occluded, 2 visible; for predictions, v is the keypoint's score. Rows without
keypoints get NaN. Pure geometry (no pixels): computed for the whole frame at once.
"""
import numpy as np
import pandas as pd

from quality_widgets import metric

#: A predicted keypoint with a score below this counts as occluded (the usual visibility
#: threshold of COCO keypoint tools, e.g. the 0.2 of OpenPifPaf / mmpose visualisers).
OCCLUDED_SCORE = 0.2

#: COCO's person skeleton (1-based keypoint pairs), for 17-keypoint rows of a category
#: without a ``skeleton`` of its own.
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7],
                 [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5],
                 [4, 6], [5, 7]]


def _keypoints(frame, dataset, level):
    """The keypoint lists of the frame's rows (None where missing), aligned with ``frame``."""
    source = dataset.annotations if level == "object" else dataset.predictions
    if "keypoints" not in source:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    return source["keypoints"].reindex(frame.index)


def _per_row(frame, dataset, level, fn) -> pd.Series:
    kps = _keypoints(frame, dataset, level)
    out = [np.nan if not isinstance(k, (list, tuple, np.ndarray)) else fn(np.reshape(
        np.asarray(k, dtype=float), (-1, 3))) for k in kps.tolist()]
    return pd.Series(out, index=frame.index, dtype=float)


@metric(level="object", scope="dataset")
def keypoints_labelled(frame, dataset):
    """Labelled keypoints (v > 0) of the object; NaN without keypoints.

    count of keypoints with v > 0 (labelled, visible or occluded)."""
    return _per_row(frame, dataset, "object", lambda k: float(np.count_nonzero(k[:, 2] > 0)))


@metric(level="object", scope="dataset")
def keypoints_occluded_fraction(frame, dataset):
    """Occluded keypoints (v = 1) / labelled keypoints, in [0, 1].

    #(v = 1) / #(v > 0): the share of the labelled keypoints marked occluded; NaN when
    none is labelled."""
    def fraction(k):
        labelled = np.count_nonzero(k[:, 2] > 0)
        return np.count_nonzero(k[:, 2] == 1) / labelled if labelled else np.nan
    return _per_row(frame, dataset, "object", fraction)


@metric(level="object", scope="dataset")
def keypoints_missing(frame, dataset):
    """Keypoints not labelled (v = 0) of the object.

    count of keypoints with v = 0 (K - keypoints_labelled)."""
    return _per_row(frame, dataset, "object", lambda k: float(np.count_nonzero(k[:, 2] == 0)))


def skeleton_ratio(k: np.ndarray, skeleton, present: np.ndarray) -> float:
    """max / min length of the limbs (1-based pairs of ``skeleton``) whose two keypoints are
    ``present``; NaN with fewer than two such limbs or a limb of length 0."""
    lengths = [np.hypot(*(k[a - 1, :2] - k[b - 1, :2])) for a, b in skeleton
               if 0 < a <= len(k) and 0 < b <= len(k) and present[a - 1] and present[b - 1]]
    if len(lengths) < 2 or min(lengths) == 0:
        return np.nan
    return float(max(lengths) / min(lengths))


@metric(level=("object", "prediction"), scope="dataset")
def skeleton_length_ratio(frame, dataset):
    """Longest / shortest limb of the skeleton (implausible when large).

    max / min Euclidean length over the skeleton's limbs (the category's ``skeleton``, or
    COCO's person skeleton for 17 keypoints) whose two ends are labelled (v > 0; every
    keypoint of a prediction). Unitless, >= 1; a normal COCO person is about 5 to 20 (an
    eye-to-eye link against a thigh); NaN with fewer than two limbs or a limb of length 0."""
    level = "prediction" if frame.index.name == "prediction_id" else "object"
    skeletons = dataset.categories["skeleton"] if "skeleton" in dataset.categories else \
        pd.Series(dtype=object)
    kps = _keypoints(frame, dataset, level).tolist()
    cats = frame["category_id"].tolist()
    out = np.full(len(frame), np.nan)
    for i, (k, c) in enumerate(zip(kps, cats, strict=True)):
        if not isinstance(k, (list, tuple, np.ndarray)):
            continue
        k = np.reshape(np.asarray(k, dtype=float), (-1, 3))
        skeleton = skeletons.get(c)
        if not isinstance(skeleton, list):
            skeleton = COCO_SKELETON if len(k) == 17 else None
        if skeleton:
            present = k[:, 2] > 0 if level == "object" else np.ones(len(k), dtype=bool)
            out[i] = skeleton_ratio(k, skeleton, present)
    return pd.Series(out, index=frame.index)


@metric(level="prediction", scope="dataset")
def mean_keypoint_score(frame, dataset):
    """Mean of the predicted keypoints' scores.

    mean of the K keypoint scores (the third value of each predicted keypoint)."""
    return _per_row(frame, dataset, "prediction", lambda k: float(k[:, 2].mean()))


@metric(level="prediction", scope="dataset")
def min_keypoint_score(frame, dataset):
    """Lowest predicted keypoint score.

    min of the K keypoint scores."""
    return _per_row(frame, dataset, "prediction", lambda k: float(k[:, 2].min()))


@metric(level="prediction", scope="dataset")
def occluded_predicted(frame, dataset):
    """Predicted keypoints with a score below 0.2 (taken as occluded).

    count of keypoints whose score is below OCCLUDED_SCORE = 0.2 (the model's own
    "occluded / not visible"; compare with keypoints_occluded_fraction of the labels)."""
    return _per_row(frame, dataset, "prediction",
                    lambda k: float(np.count_nonzero(k[:, 2] < OCCLUDED_SCORE)))

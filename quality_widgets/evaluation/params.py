"""The evaluation parameters: pycocotools' default ``Params`` for ``iouType='bbox'``.

Built with the same expressions as pycocotools so that every threshold is the same double
(``np.arange`` would give slightly different values, which changes matches at the boundary).
"""
from __future__ import annotations

import numpy as np

#: What "overlap" means when matching (pycocotools' ``iouType``): box IoU, mask IoU, OKS.
IOU_TYPES = ("bbox", "segm", "keypoints")
#: IoU thresholds .50:.05:.95 (T = 10), exactly as ``Params.setDetParams``.
IOU_THRESHOLDS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
#: Recall thresholds 0:.01:1 (R = 101) at which interpolated precision is sampled.
RECALL_THRESHOLDS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
#: Maximum detections per image and category (M = 3), ascending.
MAX_DETS = (1, 10, 100)
#: Area ranges (A = 4), closed intervals [lo, hi] on the annotation ``area`` field and on the
#: detection's box area w*h.
AREA_RANGES = np.array([[0 ** 2, 1e5 ** 2], [0 ** 2, 32 ** 2], [32 ** 2, 96 ** 2],
                        [96 ** 2, 1e5 ** 2]], dtype=float)
AREA_LABELS = ("all", "small", "medium", "large")

#: The IoU a detection must reach to match at threshold t: ``min(t, 1 - 1e-10)``.
MATCH_THRESHOLDS = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)


def iou_index(iou: float) -> int:
    """Index of ``iou`` in :data:`IOU_THRESHOLDS` (compared as pycocotools does, exactly)."""
    found = np.where(iou == IOU_THRESHOLDS)[0]
    if len(found) == 0:
        found = np.where(np.isclose(IOU_THRESHOLDS, iou, rtol=0, atol=1e-9))[0]
    if len(found) == 0:
        raise ValueError(f"IoU {iou} is not one of the evaluated thresholds "
                         f"{', '.join(f'{t:.2f}' for t in IOU_THRESHOLDS)}")
    return int(found[0])


def area_index(label: str) -> int:
    if label not in AREA_LABELS:
        raise ValueError(f"unknown area range {label!r}: expected one of {', '.join(AREA_LABELS)}")
    return AREA_LABELS.index(label)


def max_dets_index(max_dets: int) -> int:
    if max_dets not in MAX_DETS:
        raise ValueError(f"max_dets must be one of {MAX_DETS}, got {max_dets}")
    return MAX_DETS.index(max_dets)

"""The summary stage: pycocotools' ``summarize()`` numbers from the precision and recall
arrays of :func:`~.accumulate.accumulate` (12 for bbox and segm, 10 for keypoints), and the
table it prints."""
from __future__ import annotations

import numpy as np

from .params import AREA_LABELS, IOU_THRESHOLDS, MAX_DETS

SUMMARY_ROWS = [(1, None, "all", 100), (1, .5, "all", 100), (1, .75, "all", 100),
                (1, None, "small", 100), (1, None, "medium", 100), (1, None, "large", 100),
                (0, None, "all", 1), (0, None, "all", 10), (0, None, "all", 100),
                (0, None, "small", 100), (0, None, "medium", 100), (0, None, "large", 100)]


#: pycocotools' ``_summarizeKps`` rows (maxDets 20: the arrays' maxDets=100 column, see
#: :class:`~.evaluator.Evaluator`).
KEYPOINT_SUMMARY_ROWS = [(1, None, "all", 20), (1, .5, "all", 20), (1, .75, "all", 20),
                         (1, None, "medium", 20), (1, None, "large", 20),
                         (0, None, "all", 20), (0, .5, "all", 20), (0, .75, "all", 20),
                         (0, None, "medium", 20), (0, None, "large", 20)]


def summary_rows(iou_type: str = "bbox") -> list:
    return KEYPOINT_SUMMARY_ROWS if iou_type == "keypoints" else SUMMARY_ROWS


def summarize(precision: np.ndarray, recall: np.ndarray, iou_type: str = "bbox") -> np.ndarray:
    """The numbers of pycocotools' ``summarize()`` (same arithmetic): 12 for detections (bbox,
    segm), 10 for keypoints."""
    def one(ap, iou=None, area="all", max_dets=100):
        aind = [i for i, label in enumerate(AREA_LABELS) if label == area]
        mind = [i for i, m in enumerate(MAX_DETS) if m == (100 if max_dets == 20 else max_dets)]
        if ap:
            s = precision
            if iou is not None:
                s = s[np.where(iou == IOU_THRESHOLDS)[0]]
            s = s[:, :, :, aind, mind]
        else:
            s = recall
            if iou is not None:
                s = s[np.where(iou == IOU_THRESHOLDS)[0]]
            s = s[:, :, aind, mind]
        return -1 if len(s[s > -1]) == 0 else np.mean(s[s > -1])

    rows = summary_rows(iou_type)
    stats = np.zeros((len(rows),))
    for i, (ap, iou, area, max_dets) in enumerate(rows):
        stats[i] = one(ap, iou, area, max_dets)
    return stats


def format_summary(stats: np.ndarray, iou_type: str = "bbox") -> str:
    """The table pycocotools' ``summarize()`` prints, line for line."""
    line = ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'
    out = []
    for value, (ap, iou, area, max_dets) in zip(stats, summary_rows(iou_type), strict=True):
        iou_str = f'{IOU_THRESHOLDS[0]:0.2f}:{IOU_THRESHOLDS[-1]:0.2f}' \
            if iou is None else f'{iou:0.2f}'
        out.append(line.format('Average Precision' if ap else 'Average Recall',
                               '(AP)' if ap else '(AR)', iou_str, area, max_dets, value))
    return "\n".join(out)

"""Box geometry: the one intersection-over-union of COCO ``[x, y, width, height]`` boxes.

Every part of the project that compares boxes asks here: the evaluation's matching (paired, with
crowd regions), the input contract's category-shift check (all pairs of two sets), the label-error
and annotator scores, and the object metrics (each box against the others of its image).
"""
from __future__ import annotations

import numpy as np


def _iou(ax, ay, aw, ah, bx, by, bw, bh, b_crowd=None) -> np.ndarray:
    """IoU of broadcast box coordinates; the operations are those of pycocotools' C ``bbIou``,
    in the same order, so the doubles are identical to it."""
    w = np.minimum(aw + ax, bw + bx) - np.maximum(ax, bx)
    h = np.minimum(ah + ay, bh + by) - np.maximum(ay, by)
    inter = w * h
    a_area = aw * ah
    union = a_area + bw * bh - inter
    if b_crowd is not None:
        union = np.where(b_crowd, a_area, union)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((w > 0) & (h > 0), iou, 0.0)


def box_iou(dt_boxes: np.ndarray, gt_boxes: np.ndarray, gt_crowd=None) -> np.ndarray:
    """IoU of paired boxes: row i of ``dt_boxes`` with row i of ``gt_boxes`` (both (n, 4) xywh).

    ``IoU = I / U`` with ``I`` the intersection area and ``U = area(dt) + area(gt) - I``, or
    ``U = area(dt)`` where ``gt_crowd`` is true (a detection inside a crowd region is not
    penalised for the crowd being larger). Boxes that do not overlap (or have no area) give 0.
    The doubles equal pycocotools' ``maskUtils.iou`` on the same boxes.

    Parameters
    ----------
    dt_boxes, gt_boxes : (n, 4) float arrays, pixels
    gt_crowd : (n,) bool array or None (no crowd regions)

    Returns
    -------
    (n,) float64 in [0, 1]
    """
    dt = np.asarray(dt_boxes, dtype=np.float64)
    gt = np.asarray(gt_boxes, dtype=np.float64)
    return _iou(*dt.T, *gt.T, gt_crowd)


def box_iou_matrix(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """IoU of every box of ``a`` (n, 4 xywh) with every box of ``b`` (m, 4) -> (n, m).

    Without ``b``: the boxes of ``a`` against each other, with the diagonal set to 0 (a box's
    overlap with itself is not information: ``.max(axis=1)`` is then "the best overlap with
    another box"). Same formula and doubles as :func:`box_iou`, without crowd regions.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    other = a if b is None else np.asarray(b, dtype=np.float64).reshape(-1, 4)
    iou = _iou(*(a[:, None, k] for k in range(4)), *(other[None, :, k] for k in range(4)))
    if b is None:
        np.fill_diagonal(iou, 0.0)
    return iou

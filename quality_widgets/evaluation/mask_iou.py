"""Mask IoUs for ``iou_type="segm"``: the stage that replaces box IoU, pycocotools-exact.

pycocotools (``COCOeval._prepare`` + ``computeIoU``) turns every segmentation into an RLE on
its image's ``height`` x ``width`` from the instances file (``COCO.annToRLE``: polygon parts
rasterised and merged, uncompressed RLE compressed, compressed RLE as is), and a result
with a box but no segmentation into the box polygon (``loadRes``). Then ``maskUtils.iou``
gives ``I / U`` with exact pixel counts, ``U = area(dt)`` for a crowd GT, 0 when nothing is
shared and -1 for masks of different sizes. Here the same masks become run lengths once
(:class:`~quality_widgets.data.masks.MaskSet`) and one compiled loop computes the IoU of every
same-image, same-category pair (:func:`~quality_widgets.data.masks.pair_iou`). Only the
objects of some pair get a mask: a prediction with no label of its category in its image (most
false positives), or a label no prediction of its category shares an image with, has no IoU to
compute (pycocotools converts them all; on the synthetic benchmark 70% of the predictions need
none).
"""
from __future__ import annotations

import warnings

import numpy as np

from ..data import masks
from ..data._io import no_gc
from ..data.schema import BOX_COLUMNS
from ..errors import DataWarning


def image_sizes(dataset, image_ids) -> tuple[np.ndarray, np.ndarray]:
    """(heights, widths) of the images ``image_ids`` from ``dataset.images`` (0 if unknown)."""
    img = dataset.images.reindex(np.asarray(image_ids))
    h = img["height"].to_numpy(dtype=float, na_value=0).astype(np.int64)
    w = img["width"].to_numpy(dtype=float, na_value=0).astype(np.int64)
    return h, w


def _warn_missing_label_masks(segs) -> None:
    missing = sum(s is None for s in segs)
    if missing:
        warnings.warn(f"{missing} of {len(segs)} annotations have no segmentation: they count "
                      "as empty masks in mask evaluation (IoU 0 with every prediction)",
                      DataWarning, stacklevel=4)


def label_masks(dataset, rows=None, make=None) -> masks.MaskSet:
    """The masks of ``dataset.annotations`` (rows ``rows``, all when None), as pycocotools
    reads them; an annotation without a segmentation has an empty mask (pycocotools would
    raise), reported in one warning. ``make``: positions among ``rows`` whose masks are made
    (the set then holds those, in that order; all when None); every row is checked."""
    anns = dataset.annotations if rows is None else dataset.annotations.iloc[rows]
    segs = anns["segmentation"].tolist() if "segmentation" in anns else [None] * len(anns)
    _warn_missing_label_masks(segs)
    h, w = image_sizes(dataset, anns["image_id"].to_numpy())
    return masks.MaskSet(_checked_rles(segs, h, w, "annotation", anns.index, make))


def prediction_masks(dataset, rows=None, make=None) -> masks.MaskSet:
    """The masks of ``dataset.predictions`` (rows ``rows``), as pycocotools reads them: a
    prediction without a segmentation is its box polygon (``loadRes``). ``make``: as
    :func:`label_masks`."""
    preds = dataset.predictions if rows is None else dataset.predictions.iloc[rows]
    segs = preds["segmentation"].tolist() if "segmentation" in preds else [None] * len(preds)
    if None in segs:
        x, y, w, h = preds[BOX_COLUMNS].to_numpy(dtype=float).T
        corners = np.stack([x, y, x, y + h, x + w, y + h, x + w, y], axis=1).tolist()
        segs = [s if s is not None else [c] for s, c in zip(segs, corners, strict=True)]
    h, w = image_sizes(dataset, preds["image_id"].to_numpy())
    return masks.MaskSet(_checked_rles(segs, h, w, "prediction", preds.index, make))


def _checked_rles(segs, h, w, what, ids, make=None) -> list:
    """RLEs of ``segs`` (of positions ``make`` only, when given), after checking that every
    polygon of ``segs`` has an image size."""
    unsized = (h <= 0) | (w <= 0)
    needs_size = unsized & np.array([unsized[i] and masks.is_polygon(s)
                                     for i, s in enumerate(segs)], dtype=bool) \
        if unsized.any() else unsized
    if needs_size.any():
        raise ValueError(f"{int(needs_size.sum())} {what} polygon(s) are on images without a "
                         f"width and height (first: {what} id {ids[np.argmax(needs_size)]}): "
                         "a polygon is rasterised on its image's size; give the images' "
                         "width/height in the annotation file or an images folder")
    if make is not None:
        segs, h, w = [segs[i] for i in make], h[make], w[make]
    return masks.to_rles(segs, h, w)


def mask_pair_iou(dataset, gt_row, dt_row, pair_gt, pair_dt, gt_crowd) -> np.ndarray:
    """IoU of every (detection, GT) pair: ``pair_dt`` / ``pair_gt`` index ``dt_row`` /
    ``gt_row``, rows of ``dataset.predictions`` / ``dataset.annotations``. Only the objects
    of some pair get a mask (see the module doc); every row is checked."""
    gt_used, gt_of_pair = np.unique(np.asarray(pair_gt, dtype=np.int64), return_inverse=True)
    dt_used, dt_of_pair = np.unique(np.asarray(pair_dt, dtype=np.int64), return_inverse=True)
    with no_gc():     # many small objects, none garbage: see data._io.no_gc
        gt = label_masks(dataset, gt_row, make=gt_used)
        dt = prediction_masks(dataset, dt_row, make=dt_used)
    return masks.pair_iou(dt, gt, dt_of_pair, gt_of_pair, np.asarray(gt_crowd)[gt_used])

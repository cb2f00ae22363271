"""Labels against a reference model: where does another model (SAM, a stronger detector,
GrabCut on the image's edges) disagree with the labels?

- :func:`compare` (``qw.compare_to_reference``): per label, the best IoU with a reference
  object in its image (any class), that object's class and whether they agree (IoU >= 0.5
  and the same class); per reference object, whether any label covers it.
- :func:`grabcut` (``qw.reference.grabcut``): a reference mask for every label box from
  OpenCV's GrabCut (colour models of the box and its surroundings, no weights to download;
  ``pip install 'quality-widgets[reference]'``), so polygon labels can be checked against the
  image's edges without a segmentation model.

IoU is mask IoU when both the label and the reference object have a mask (pycocotools' mask
IoU, :mod:`quality_widgets.data.masks`), box IoU otherwise. A reference object lying in a
crowd region (``intersection / its own area >= 0.5``, pycocotools' crowd rule) counts as
labelled.
"""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace as dc_replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import coco, masks
from ..data._io import read_json
from ..data.imaging import ImageDecodeError, decode_rgb
from ..data.schema import BOX_COLUMNS
from ..errors import DatasetError
from ..evaluation.mask_iou import image_sizes
from ..evaluation.matching import box_iou

#: IoU at and above which a label and a reference object are the same object.
AGREE_IOU = 0.5
#: Category id given to reference objects without a class (class-agnostic models).
NO_CLASS = -1

OPENCV_EXTRA = "pip install 'quality-widgets[reference]'  (installs opencv-python-headless)"


@dataclass
class ReferenceComparison:
    """The result of :func:`compare`.

    ``labels`` (index ``annotation_id``, one row per label): ``reference_iou`` (best IoU with
    a reference object of the image, any class; 0 when there is none), ``reference_class``
    (that object's class name, None without one or for a class-agnostic reference),
    ``reference_id`` (its id), ``reference_agrees`` (IoU >= 0.5 and the same class; for a
    class-agnostic reference IoU >= 0.5 alone). ``reference`` (index: the reference's
    ``prediction_id``): ``image_id``, ``category``, ``score``, ``label_iou`` (best IoU with a
    label, any class), ``unlabelled`` (no label with IoU >= 0.5 and not inside a crowd
    region). ``summary``: the counts.
    """

    labels: pd.DataFrame
    reference: pd.DataFrame

    @property
    def summary(self) -> dict:
        lab, ref = self.labels, self.reference
        return {"labels": len(lab), "labels_agreeing": int(lab["reference_agrees"].sum()),
                "labels_without_match": int((lab["reference_iou"] < AGREE_IOU).sum()),
                "reference_objects": len(ref), "unlabelled": int(ref["unlabelled"].sum())}

    def add_to(self, metric_frames):
        """Add the label columns to ``metric_frames.objects`` (aligned by annotation_id);
        returns ``metric_frames``."""
        objects = metric_frames.objects
        for col in ("reference_iou", "reference_class", "reference_agrees"):
            objects[col] = self.labels[col].reindex(objects.index)
        return metric_frames


def _reference_frame(dataset, reference) -> pd.DataFrame:
    """The reference as a predictions frame; rows without ``category_id`` (class-agnostic
    models such as SAM) get :data:`NO_CLASS`, rows without ``score`` get 1."""
    if isinstance(reference, pd.DataFrame):
        frame = reference.copy()
        if "score" not in frame:
            frame["score"] = 1.0
        if "category_id" not in frame:
            frame["category_id"] = NO_CLASS
        if "category" not in frame:
            names = dataset.categories["name"]
            frame["category"] = [names.get(c) for c in frame["category_id"]]
        return frame
    if hasattr(reference, "predictions") and hasattr(reference, "images"):
        return _reference_frame(dataset, reference.predictions)
    rows = read_json(reference, "reference") if isinstance(reference, (str, Path)) \
        else reference
    if not isinstance(rows, list):
        raise DatasetError(reference if isinstance(reference, (str, Path)) else None,
                           "expected a COCO results list of masks or boxes")
    rows = [dict(r, **({"category_id": NO_CLASS} if "category_id" not in r else {}),
                 **({"score": 1.0} if "score" not in r else {}))
            if isinstance(r, dict) else r for r in rows]
    cats = pd.concat([dataset.categories, pd.DataFrame(
        {"name": [None], "supercategory": [None]}, index=pd.Index([NO_CLASS],
                                                                  name="category_id"))])
    return coco.read_predictions(rows, dc_replace(dataset, categories=cats))


def _mask_set(frame, dataset):
    """(MaskSet of the rows with a segmentation, position of each row in it or -1)."""
    segs = frame["segmentation"].tolist() if "segmentation" in frame else [None] * len(frame)
    rows = np.flatnonzero([s is not None for s in segs])
    position = np.full(len(frame), -1)
    position[rows] = np.arange(len(rows))
    h, w = image_sizes(dataset, frame["image_id"].to_numpy()[rows])
    return masks.MaskSet(masks.to_rles([segs[i] for i in rows], h, w)), position


def pair_ious(dataset, labels: pd.DataFrame, reference: pd.DataFrame):
    """Every (label, reference object) pair of the same image: (label row, reference row,
    IoU, crowd IoU) with mask IoU where both have masks, box IoU otherwise; the crowd IoU is
    ``intersection / area(reference)``."""
    lab_img = labels["image_id"].to_numpy()
    ref_img = reference["image_id"].to_numpy()
    order = np.argsort(ref_img, kind="stable")
    lo = np.searchsorted(ref_img[order], lab_img, side="left")
    hi = np.searchsorted(ref_img[order], lab_img, side="right")
    count = hi - lo
    pl = np.repeat(np.arange(len(labels)), count)
    pr = order[np.repeat(lo, count) + np.arange(len(pl)) - np.repeat(np.cumsum(count) - count,
                                                                     count)]
    lab_box = labels[BOX_COLUMNS].to_numpy(dtype=float)
    ref_box = reference[BOX_COLUMNS].to_numpy(dtype=float)
    iou = box_iou(ref_box[pr], lab_box[pl], np.zeros(len(pl), dtype=bool))
    crowd_iou = box_iou(ref_box[pr], lab_box[pl], np.ones(len(pl), dtype=bool))
    lab_masks, lab_pos = _mask_set(labels, dataset)
    ref_masks, ref_pos = _mask_set(reference, dataset)
    both = (lab_pos[pl] >= 0) & (ref_pos[pr] >= 0)
    if both.any():
        a, b = ref_pos[pr[both]], lab_pos[pl[both]]
        iou[both] = masks.pair_iou(ref_masks, lab_masks, a, b)
        crowd_iou[both] = masks.pair_iou(ref_masks, lab_masks, a, b,
                                         np.ones(len(lab_masks), dtype=bool))
    return pl, pr, np.maximum(iou, 0.0), np.maximum(crowd_iou, 0.0)


def compare(dataset, reference, min_score: float = 0.0) -> ReferenceComparison:
    """Compare the labels of ``dataset`` with ``reference`` (a COCO results file or list of
    masks or boxes from another model, a predictions frame, or a Dataset whose predictions are
    the reference). ``min_score``: reference objects scoring below are left out. See
    :class:`ReferenceComparison` for the columns and the module doc for the IoU."""
    ref = _reference_frame(dataset, reference)
    ref = ref[ref["score"].to_numpy(dtype=float) >= min_score]
    labels = dataset.annotations
    crowd = labels["iscrowd"].to_numpy(dtype=bool) if "iscrowd" in labels else \
        np.zeros(len(labels), dtype=bool)
    pl, pr, iou, crowd_iou = pair_ious(dataset, labels, ref)
    # Per label: the best reference object (ties: the first in file order).
    best_iou = np.zeros(len(labels))
    best_ref = np.full(len(labels), -1)
    if len(pl):
        order = np.lexsort((pr, -iou, pl))
        first = order[np.r_[True, pl[order][1:] != pl[order][:-1]]]
        best_iou[pl[first]] = iou[first]
        best_ref[pl[first]] = pr[first]
    has = best_ref >= 0
    ref_cat = ref["category_id"].to_numpy()
    ref_names = ref["category"].to_numpy(dtype=object)
    lab_cat = labels["category_id"].to_numpy()
    same = np.zeros(len(labels), dtype=bool)
    same[has] = (ref_cat[best_ref[has]] == lab_cat[has]) | (ref_cat[best_ref[has]] == NO_CLASS)
    ref_class = np.full(len(labels), None, dtype=object)
    ref_class[has] = ref_names[best_ref[has]]
    ref_id = pd.array([ref.index[i] if i >= 0 else None for i in best_ref], dtype="Int64")
    label_frame = pd.DataFrame({
        "reference_iou": best_iou, "reference_class": ref_class, "reference_id": ref_id,
        "reference_agrees": has & same & (best_iou >= AGREE_IOU)}, index=labels.index)
    # Per reference object: covered by a label (IoU >= 0.5) or inside a crowd region.
    label_iou = np.zeros(len(ref))
    covered = np.zeros(len(ref), dtype=bool)
    if len(pl):
        plain = ~crowd[pl]
        np.maximum.at(label_iou, pr[plain], iou[plain])
        covered[pr[(crowd_iou >= AGREE_IOU) & crowd[pl]]] = True
    covered |= label_iou >= AGREE_IOU
    ref_frame = pd.DataFrame({"image_id": ref["image_id"].to_numpy(),
                              "category": ref_names, "score": ref["score"].to_numpy(),
                              "label_iou": label_iou, "unlabelled": ~covered}, index=ref.index)
    return ReferenceComparison(labels=label_frame, reference=ref_frame)


def grabcut(dataset, image_ids=None, iterations: int = 5, margin: float = 0.1,
            size: int = 200, include_crowd: bool = False, level: str = "object",
            min_score: float = 0.0, seeded: bool = True) -> list:
    """A reference mask for every label box, by OpenCV's GrabCut (Rother et al. 2004): the
    label's outline snapped to the image's colour edges.

    For each label (crowd regions skipped unless ``include_crowd``), GrabCut runs on the box
    grown by ``margin`` (a fraction of its size, at least 5 pixels each side) and resized so
    that the box's longer side is ``size`` pixels (small boxes enlarged, large ones reduced:
    the cost is then about the same for every box; below about 200 pixels GrabCut tends to
    lose the whole object), for ``iterations`` rounds. Outside the box is background. With
    ``seeded`` and a label mask (polygons or RLE), the mask is the probable foreground, the
    rest of the box probable background, and the mask's core (eroded by a tenth of the box's
    shorter side) sure foreground: only the band along the outline is decided by the image,
    so the result measures how well the outline follows the edges. Without a mask, the whole
    box is probable foreground and an ellipse of 0.4 times its size at its centre sure
    foreground. The result is the (probable)
    foreground, resized back (nearest pixel). Deterministic (OpenCV's random generator is
    seeded per box). ``image_ids``: only these images.

    Returns a COCO results list (``image_id``, ``category_id`` = the label's, ``bbox`` = the
    label box, ``segmentation`` = RLE, ``score`` = 1, ``annotation_id``), ready for
    :func:`compare`. Images that cannot be decoded are skipped.

    ``level="prediction"`` does the same for the prediction boxes with ``score >=
    min_score`` (keeping their class and score, and ``prediction_id``): a box detector plus
    GrabCut as a crude instance segmenter, e.g. to try mask metrics and ``iou_type="segm"``
    on box predictions.
    """
    try:
        import cv2
    except ImportError:
        raise ImportError(f"qw.reference.grabcut needs OpenCV: {OPENCV_EXTRA}") from None
    if level not in ("object", "prediction"):
        raise ValueError(f"level must be 'object' or 'prediction', got {level!r}")
    rows = dataset.annotations if level == "object" else dataset.predictions
    if image_ids is not None:
        rows = rows[rows["image_id"].isin(list(image_ids))]
    if level == "object" and not include_crowd and "iscrowd" in rows:
        rows = rows[~rows["iscrowd"].to_numpy(dtype=bool)]
    if level == "prediction":
        rows = rows[rows["score"].to_numpy(dtype=float) >= min_score]
    id_key = "annotation_id" if level == "object" else "prediction_id"
    scores = rows["score"].to_numpy(dtype=float) if level == "prediction" else \
        np.ones(len(rows))
    out = []
    boxes = rows[BOX_COLUMNS].to_numpy(dtype=float)
    segs = rows["segmentation"].tolist() if "segmentation" in rows else [None] * len(rows)
    for image_id, positions in rows.groupby("image_id", sort=False).indices.items():
        path = dataset.images["path"].get(image_id)
        if not isinstance(path, str):
            continue
        try:
            bgr = np.ascontiguousarray(decode_rgb(path)[:, :, ::-1])
        except ImageDecodeError:
            continue
        for i in positions:
            seed = None
            if seeded and segs[i] is not None:
                try:
                    seed = masks.decode(segs[i], *bgr.shape[:2])
                except (ImportError, ValueError):
                    seed = None       # a polygon without pycocotools, or a bad mask: the box
            mask = _grabcut_box(cv2, bgr, boxes[i], iterations, margin, size, seed)
            if mask is None:
                continue
            try:
                seg = masks.encode(mask)
            except ImportError:
                seg = masks.uncompressed(mask)
            out.append({"image_id": int(image_id),
                        "category_id": int(rows["category_id"].iat[i]),
                        "bbox": [float(v) for v in boxes[i]], "segmentation": seg,
                        "score": float(scores[i]), id_key: int(rows.index[i])})
    return out


def _grabcut_box(cv2, bgr, box, iterations, margin, size, seed_mask=None):
    """The GrabCut foreground of one box as a full-image bool mask, or None for a box under
    2 x 2 pixels inside the image. ``seed_mask`` (full-image bool): the initial foreground
    (probable foreground inside it, probable background in the rest of the box), else the
    whole box."""
    height, width = bgr.shape[:2]
    x, y, w, h = box
    x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
    x1, y1 = min(int(np.ceil(x + w)), width), min(int(np.ceil(y + h)), height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    mx, my = max(int(margin * (x1 - x0)), 5), max(int(margin * (y1 - y0)), 5)
    cx0, cy0 = max(x0 - mx, 0), max(y0 - my, 0)
    cx1, cy1 = min(x1 + mx, width), min(y1 + my, height)
    scale = size / max(x1 - x0, y1 - y0)
    sw, sh = max(round((cx1 - cx0) * scale), 2), max(round((cy1 - cy0) * scale), 2)
    sub = cv2.resize(np.ascontiguousarray(bgr[cy0:cy1, cx0:cx1]), (sw, sh),
                     interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    rx0, ry0 = round((x0 - cx0) * scale), round((y0 - cy0) * scale)
    rx1, ry1 = min(round((x1 - cx0) * scale), sw), min(round((y1 - cy0) * scale), sh)
    work = np.zeros((sh, sw), np.uint8)
    if seed_mask is not None and seed_mask[y0:y1, x0:x1].any():
        seed = cv2.resize(seed_mask[cy0:cy1, cx0:cx1].astype(np.uint8), (sw, sh),
                          interpolation=cv2.INTER_NEAREST) > 0
        work[ry0:ry1, rx0:rx1] = cv2.GC_PR_BGD
        work[seed] = cv2.GC_PR_FGD
        # The seed's core (eroded by a tenth of the box's shorter side) is sure foreground,
        # so that only the band along the label's outline is decided by the image.
        depth = max(1, int(0.1 * min(rx1 - rx0, ry1 - ry0)))
        core = cv2.erode(seed.astype(np.uint8), np.ones((2 * depth + 1, 2 * depth + 1),
                                                         np.uint8)) > 0
        work[core] = cv2.GC_FGD
        if not (work == cv2.GC_BGD).any():
            work[0, :] = work[-1, :] = work[:, 0] = work[:, -1] = cv2.GC_BGD
        rect, mode = None, cv2.GC_INIT_WITH_MASK
    else:
        # The box is probable foreground, a small ellipse at its centre sure foreground (in
        # GrabCut's plain rectangle mode the object often vanishes altogether).
        work[ry0:ry1, rx0:rx1] = cv2.GC_PR_FGD
        cv2.ellipse(work, (((rx0 + rx1) / 2, (ry0 + ry1) / 2),
                           (max(1.0, 0.4 * (rx1 - rx0)), max(1.0, 0.4 * (ry1 - ry0))), 0.0),
                    int(cv2.GC_FGD), -1)
        if not (work == cv2.GC_BGD).any():
            work[0, :] = work[-1, :] = work[:, 0] = work[:, -1] = cv2.GC_BGD
        rect, mode = None, cv2.GC_INIT_WITH_MASK
    cv2.setRNGSeed(0)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(sub, work, rect, bgd, fgd, iterations, mode)
    except cv2.error:
        return None
    fg = ((work == cv2.GC_FGD) | (work == cv2.GC_PR_FGD)).astype(np.uint8)
    fg = cv2.resize(fg, (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_NEAREST)
    mask = np.zeros((height, width), dtype=bool)
    mask[cy0:cy1, cx0:cx1] = fg > 0
    return mask

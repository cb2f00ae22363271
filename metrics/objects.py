"""Built-in object metrics, defined once for annotations ("object") and predictions
("prediction") under the same column names, so a split by a metric applies to both.

Box functions take ``(crop, row)``; ``row`` has ``bbox_x, bbox_y, bbox_w, bbox_h`` (COCO xywh,
pixels) and ``image_width``, ``image_height``. Pixel functions apply the image definitions to
the box crop: rows floor(y)..ceil(y+h), columns floor(x)..ceil(x+w), clipped to the image, at
least one pixel.
"""
import numpy as np
import pandas as pd

from quality_widgets import metric
from quality_widgets.compute import pixelstats as px
from quality_widgets.data.boxes import box_iou_matrix

BOTH = ("object", "prediction")


@metric(level=BOTH, pixels=False)
def box_area(crop, row):
    """Box area w x h, pixels.

    w x h of the box, pixels^2."""
    return row["bbox_w"] * row["bbox_h"]


@metric(level=BOTH, pixels=False)
def box_relative_area(crop, row):
    """Box area / image area, in [0, 1].

    (w x h) / (W x H), unitless (> 1 only for boxes larger than the image)."""
    return row["bbox_w"] * row["bbox_h"] / (row["image_width"] * row["image_height"])


@metric(level=BOTH, pixels=False)
def box_aspect_ratio(crop, row):
    """Box width / height.

    w / h, unitless."""
    return row["bbox_w"] / row["bbox_h"]


@metric(level=BOTH, pixels=False)
def border_closeness(crop, row):
    """Closeness to the image border, 1 = touches a border (> 1: sticks out).

    max(x1 / W, y1 / H, 1 - x0 / W, 1 - y0 / H) with x0 = x, x1 = x + w, y0 = y,
    y1 = y + h: 1 when the box touches a border, 0.5 for a point at the centre, above 1 when
    the box extends beyond the image."""
    W, H = row["image_width"], row["image_height"]
    x0, y0 = row["bbox_x"], row["bbox_y"]
    x1, y1 = x0 + row["bbox_w"], y0 + row["bbox_h"]
    return max(x1 / W, y1 / H, 1 - x0 / W, 1 - y0 / H)


@metric(level=BOTH)
def object_brightness(crop):
    """Mean luma of the box crop / 255, in [0, 1].

    brightness of the crop: mean(Y) / 255."""
    return px.brightness(crop)


@metric(level=BOTH)
def object_contrast(crop):
    """Luma std of the box crop / 127.5, in [0, 1].

    contrast of the crop: std(Y) / 127.5."""
    return px.contrast(crop)


@metric(level=BOTH)
def object_sharpness(crop):
    """Laplacian std of the box crop / 1020 (NaN under 3 x 3).

    sharpness of the crop: std(L) / 1020 over the crop's interior pixels."""
    return px.sharpness(crop)


@metric(level=BOTH)
def object_redness(crop):
    """Fraction of red pixels in the box crop, in [0, 1].

    redness of the crop (hue in [340, 20] deg, S >= 50/255, V >= 40/255)."""
    return px.redness(crop)


@metric(level=BOTH)
def object_greenness(crop):
    """Fraction of green pixels in the box crop, in [0, 1].

    greenness of the crop (hue in [70, 150] deg, S >= 50/255, V >= 40/255)."""
    return px.greenness(crop)


@metric(level=BOTH)
def object_blueness(crop):
    """Fraction of blue pixels in the box crop, in [0, 1].

    blueness of the crop (hue in [180, 260] deg, S >= 50/255, V >= 40/255)."""
    return px.blueness(crop)


@metric(level=BOTH)
def object_colorfulness(crop):
    """Hasler-Suesstrunk colourfulness of the box crop.

    colorfulness of the crop."""
    return px.colorfulness(crop)


def _max_iou(frame, same_category: bool) -> pd.Series:
    """Max IoU of each box with the other boxes of its image (and category), crowd regions
    left out on both sides, as pycocotools leaves them out of matching: a crowd region
    (``iscrowd``) is not a label of one object, so overlapping it is not a duplicate or an
    overlap of labels; crowd rows get NaN."""
    out = np.zeros(len(frame))
    crowd = (frame["iscrowd"].fillna(False).astype(bool).to_numpy() if "iscrowd" in frame
             else np.zeros(len(frame), dtype=bool))
    out[crowd] = np.nan
    keys = ["image_id", "category_id"] if same_category else ["image_id"]
    boxes = frame[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(dtype=float)
    rows = np.flatnonzero(~crowd)
    for _, idx in frame.iloc[rows].groupby(keys, sort=False).indices.items():
        idx = rows[idx]
        if len(idx) > 1:
            out[idx] = box_iou_matrix(boxes[idx]).max(axis=1)
    return pd.Series(out, index=frame.index)


@metric(level="object", scope="dataset", version="2")
def annotation_duplicate(frame, dataset):
    """Max IoU with another annotation of the same category in the image (1 = exact duplicate label,
    0 if none; crowd regions left out, NaN).

    max IoU(box, other box) over other non-crowd annotations of the same image and
    category; NaN for crowd regions (left out, as pycocotools' matching leaves them out)."""
    return _max_iou(frame, same_category=True)


@metric(level="object", scope="dataset", version="2")
def max_overlap(frame, dataset):
    """Max IoU with any other annotation in the image (0 if none; crowd regions left out, NaN).

    max IoU(box, other box) over other non-crowd annotations of the same image, any
    category; NaN for crowd regions."""
    return _max_iou(frame, same_category=False)

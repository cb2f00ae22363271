"""Built-in mask metrics: geometry of an object's mask and the object colour metrics over the
mask's pixels instead of its box (a person's box is half background).

(Named so that it loads after objects.py: the box metrics stay the first object columns, the
Explorer's default.)

Defined for annotations ("object") and predictions ("prediction") with a ``segmentation``
(COCO polygons or RLE); NaN for rows without one (box-only labels or results). Masks are read
as pycocotools reads them (polygons rasterised on the image's height x width, which needs
pycocotools: ``pip install 'quality-widgets[masks]'``). The colour metrics use the mask's
pixels inside the box crop of the box metrics (rows floor(y)..ceil(y+h), columns
floor(x)..ceil(x+w), clipped): for COCO labels and for boxes derived from masks that is the
whole mask. They are the box versions' formulas (``compute/pixelstats.py``, exact integer
sums) applied to those pixels; NaN when the mask has no pixel there.
"""

from quality_widgets import metric
from quality_widgets.compute import pixelstats as px
from quality_widgets.data import masks as mk
from quality_widgets.data.imaging import crop_bounds

BOTH = ("object", "prediction")

class _Mask:
    """One row's mask: its run lengths on the image, the area, and (filled by the first metric
    that asks) the number of parts and the sums of its pixels inside the box crop."""

    __slots__ = ("counts", "height", "width", "area", "parts", "crop", "sums")

    def __init__(self, counts, height, width):
        self.counts, self.height, self.width = counts, height, width
        self.area = int(counts[1::2].sum())
        self.parts = self.crop = self.sums = None


# The mask of the item being measured: every mask metric of one row reads the same
# segmentation object, so the last one read is kept (with a reference to the object, so its id
# cannot be reused while it is kept).
_LAST: list = [None, None, None]          # segmentation object, (H, W), _Mask of it


def _mask(row):
    """The row's :class:`_Mask` on its image, or None without a segmentation (checked first:
    a box-only row costs one dict lookup)."""
    seg = row.get("segmentation")
    if seg is None:
        return None
    size = (int(row["image_height"]), int(row["image_width"]))
    if _LAST[0] is seg and _LAST[1] == size:
        return _LAST[2]
    counts, h, w = mk.rle_runs(mk.to_rle(seg, *size))
    if (h, w) != size:
        raise ValueError(f"the mask is {h} x {w} but its image {size[0]} x {size[1]}")
    mask = _Mask(counts, h, w)
    _LAST[:] = [seg, size, mask]
    return mask


def _sums(crop, row):
    """pixelstats.summary-style sums of the mask's pixels inside the box crop (one compiled
    pass over the crop, which also leaves the crop's own sums for the box metrics), kept with
    the row's mask for the six colour metrics; None without a mask or when no mask pixel is in
    the crop."""
    seg = row.get("segmentation")
    if seg is None:
        return None
    mask = _mask(row)
    if mask.crop is not crop:
        r0, r1, c0, c1 = crop_bounds(row["bbox_x"], row["bbox_y"], row["bbox_w"],
                                     row["bbox_h"], mask.width, mask.height)
        if (r1 - r0, c1 - c0) != crop.shape[:2]:
            raise ValueError("the mask and the image crop differ in size")
        window = mk.decode_window(mask.counts, mask.height, r0, r1, c0, c1)
        mask.sums = px.masked_summary(crop, window)
        mask.crop = crop
    return mask.sums if mask.sums["n"] else None


def _colour(crop, row, stat):
    sums = _sums(crop, row)
    return None if sums is None else stat(sums)


# Each metric below first checks for a segmentation itself: predictions from a results file
# are mostly boxes, and six colour metrics x 63 boxes per image would otherwise pay two more
# Python calls each for nothing.


@metric(level=BOTH, pixels=False)
def mask_area(crop, row):
    """Mask area, pixels (NaN without a mask).

    Number of mask pixels (pycocotools' ``maskUtils.area``), pixels^2."""
    mask = _mask(row)
    return None if mask is None else mask.area


@metric(level=BOTH, pixels=False)
def mask_fill(crop, row):
    """Mask area / box area (about [0, 1]; low = thin or hollow object).

    mask_area / (w x h) of the box: 1 for a box-shaped mask, about 0.785 for an ellipse in
    its box; can exceed 1 by rasterisation for tiny objects (a pixel counts when its centre is
    inside). NaN without a mask."""
    mask = _mask(row)
    if mask is None:
        return None
    return mask.area / (row["bbox_w"] * row["bbox_h"])


@metric(level=BOTH, pixels=False)
def mask_parts(crop, row):
    """Connected parts of the mask (8-connectivity; 1 = one piece).

    Number of 8-connected components of the mask pixels (pixels touching by an edge or a
    corner are one part); 0 for an empty mask, NaN without a mask. More than 1: an occluded
    object split in pieces, or stray pixels."""
    mask = _mask(row)
    if mask is None:
        return None
    if mask.parts is None:
        mask.parts = mk.connected_parts(mask.counts, mask.height)
    return mask.parts


@metric(level=BOTH)
def mask_brightness(crop, row):
    """Mean luma of the mask's pixels / 255, in [0, 1].

    brightness over the mask pixels: mean(Y) / 255 (object_brightness inside the mask)."""
    return None if row.get("segmentation") is None else _colour(crop, row, px.brightness_of)


@metric(level=BOTH)
def mask_contrast(crop, row):
    """Luma std of the mask's pixels / 127.5, in [0, 1].

    contrast over the mask pixels: std(Y) / 127.5 (population std)."""
    return None if row.get("segmentation") is None else _colour(crop, row, px.contrast_of)


@metric(level=BOTH)
def mask_redness(crop, row):
    """Fraction of red pixels in the mask, in [0, 1].

    redness over the mask pixels (hue in [340, 20] deg, S >= 50/255, V >= 40/255)."""
    return None if row.get("segmentation") is None else _colour(crop, row, px.redness_of)


@metric(level=BOTH)
def mask_greenness(crop, row):
    """Fraction of green pixels in the mask, in [0, 1].

    greenness over the mask pixels (hue in [70, 150] deg, S >= 50/255, V >= 40/255)."""
    return None if row.get("segmentation") is None else _colour(crop, row, px.greenness_of)


@metric(level=BOTH)
def mask_blueness(crop, row):
    """Fraction of blue pixels in the mask, in [0, 1].

    blueness over the mask pixels (hue in [180, 260] deg, S >= 50/255, V >= 40/255)."""
    return None if row.get("segmentation") is None else _colour(crop, row, px.blueness_of)


@metric(level=BOTH)
def mask_colorfulness(crop, row):
    """Hasler-Suesstrunk colourfulness of the mask's pixels.

    colorfulness over the mask pixels (Hasler and Suesstrunk 2003, 0..255 scale)."""
    return None if row.get("segmentation") is None else _colour(crop, row, px.colorfulness_of)

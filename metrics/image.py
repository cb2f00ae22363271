"""Built-in image metrics. Each is a plain function of the decoded image, written exactly like a
custom metric: ``image`` is an (H, W, 3) uint8 RGB array (EXIF orientation applied).

Luma Y = 0.299 R + 0.587 G + 0.114 B. The pixel statistics live in
``quality_widgets.pixelstats`` (exact integer arithmetic, shared between metrics).
"""
import numpy as np
import pandas as pd

from quality_widgets import metric
from quality_widgets.compute import pixelstats as px
from quality_widgets.compute.similarity import hash_uniqueness


@metric(level="image")
def width(image):
    """Image width in pixels (after EXIF orientation).

    Width W in pixels."""
    return int(image.shape[1])


@metric(level="image")
def height(image):
    """Image height in pixels (after EXIF orientation).

    Height H in pixels."""
    return int(image.shape[0])


@metric(level="image")
def area(image):
    """Number of pixels, W x H.

    W x H, pixels."""
    return int(image.shape[0] * image.shape[1])


@metric(level="image")
def aspect_ratio(image):
    """Width / height (> 1: landscape).

    W / H, unitless."""
    return image.shape[1] / image.shape[0]


@metric(level="image")
def brightness(image):
    """Mean luma / 255, in [0, 1] (0 = black).

    mean(Y) / 255, in [0, 1]."""
    return px.brightness(image)


@metric(level="image")
def contrast(image):
    """Luma standard deviation / 127.5, in [0, 1].

    std(Y) / 127.5 (population std), in [0, 1]."""
    return px.contrast(image)


@metric(level="image")
def sharpness(image):
    """Std of the luma Laplacian / 1020, in [0, 1] (low = blurry).

    std(L) / 1020 where L = [[0,1,0],[1,-4,1],[0,1,0]] * Y over the interior pixels (no
    padding); in [0, 1]; NaN for images under 3 x 3."""
    return px.sharpness(image)


@metric(level="image")
def redness(image):
    """Fraction of red pixels (hue 340..20 deg, S >= 50/255, V >= 40/255), in [0, 1].

    Fraction of pixels with HSV S >= 50/255, V >= 40/255 and hue in [0, 20] or [340, 360)."""
    return px.redness(image)


@metric(level="image")
def greenness(image):
    """Fraction of green pixels (hue 70..150 deg, S >= 50/255, V >= 40/255), in [0, 1].

    Fraction of pixels with HSV S >= 50/255, V >= 40/255 and hue in [70, 150]."""
    return px.greenness(image)


@metric(level="image")
def blueness(image):
    """Fraction of blue pixels (hue 180..260 deg, S >= 50/255, V >= 40/255), in [0, 1].

    Fraction of pixels with HSV S >= 50/255, V >= 40/255 and hue in [180, 260]."""
    return px.blueness(image)


@metric(level="image")
def colorfulness(image):
    """Hasler-Suesstrunk colourfulness, 0..~180 (0 = gray).

    rg = R - G, yb = (R + G)/2 - B;
    sqrt(var(rg) + var(yb)) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2), 0..255 scale."""
    return px.colorfulness(image)


@metric(level="image")
def entropy(image):
    """Shannon entropy of the luma histogram, bits, in [0, 8].

    -sum p log2 p over the 256-bin histogram of round(Y) (halves rounded up), bits."""
    return px.entropy(image)


@metric(level="image", version=2)
def phash(image):
    """64-bit DCT perceptual hash (for duplicate search).

    DCT perceptual hash of the luma (see pixelstats.phash), as a signed 64-bit integer."""
    return px.phash(image)


@metric(level="image", name="_mean_rgb")
def mean_rgb_packed(image):
    """Mean colour packed as R << 16 | G << 8 | B (internal, for duplicates)."""
    r, g, b = (int(round(c)) for c in px.mean_rgb(image))
    return (r << 16) | (g << 8) | b


@metric(level="image", scope="dataset", columns=("uniqueness", "duplicate_group"),
        requires=("phash", "_mean_rgb", "contrast"))
def uniqueness(frame, dataset):
    """Distance to the nearest other image in [0, 1] (0 = duplicate), from the perceptual hash
    (Hamming / 64); duplicate_group: shared by near duplicates.

    uniqueness = min over other images of Hamming(phash) / 64, in [0, 1] (1: only image);
    duplicate_group = the smallest image id among the images linked by distance <= 8/64.
    Images without structure (contrast < 0.01: uniform colour) all hash alike, so two of them
    are duplicates only when their mean colours match within 2 levels per channel.
    Images that could not be decoded get NaN."""
    ok = frame["phash"].notna().to_numpy()
    out = pd.DataFrame({"uniqueness": np.nan, "duplicate_group": pd.array([pd.NA] * len(frame),
                                                                          dtype="Int64")},
                       index=frame.index)
    if not ok.any():
        return out
    sub = frame.loc[ok]
    packed = sub["_mean_rgb"].to_numpy(dtype=np.int64)
    colors = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1)
    flat = sub["contrast"].to_numpy(dtype=float) < 0.01
    nearest, groups = hash_uniqueness(sub["phash"].to_numpy(dtype=np.int64), flat, colors)
    ids = sub.index.to_numpy()
    # group id: the smallest image id in the group
    group_min = pd.Series(ids).groupby(groups).transform("min").to_numpy()
    out.loc[ok, "uniqueness"] = nearest
    out.loc[ok, "duplicate_group"] = group_min
    return out


@metric(level="image", scope="dataset")
def object_count(frame, dataset):
    """Number of non-crowd annotations in the image (NaN without labels).

    Count of annotations with iscrowd = 0 whose image_id is the image."""
    if dataset is None or not dataset.has_annotations:
        return pd.Series(np.nan, index=frame.index)
    anns = dataset.annotations
    counts = anns.loc[~anns["iscrowd"].to_numpy(dtype=bool), "image_id"].value_counts()
    return counts.reindex(frame.index, fill_value=0).astype("int64")

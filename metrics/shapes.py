"""Built-in shape metrics of polygon labels: odd outlines of a class surface first.

Dataset-scope object metrics reading ``dataset.annotations["segmentation"]`` (COCO polygons: a
list of parts ``[x1, y1, x2, y2, ...]`` in image pixels); no pixels are decoded.

* ``polygon_vertices``: number of vertices, summed over the parts of the annotation.
* ``polygon_solidity``: polygon area / area of the convex hull of all its vertices, in (0, 1]
  (1 = convex; a multi-part label's gaps lower it). The polygon area is the sum over parts of
  the absolute shoelace area |sum x_i y_{i+1} - x_{i+1} y_i| / 2 (a self-intersecting part gets
  its signed-area sum); the hull is scipy's Qhull.
* ``shape_outlier``: how unlike the other polygons of its category the shape is, in robust
  z units. The filled mask of the polygon (all parts) is rasterised with PIL ``ImageDraw`` after
  scaling the vertices so the longer side of their bounding box spans :data:`RASTER_SIZE`
  pixels (so small and large objects are measured at the same resolution). Its 7 Hu moments
  h_1..h_7 (invariant to translation, scale and rotation) are log-scaled,
  u_i = log10(max(|h_i|, 1e-30)) -- the magnitude only, so a mirrored outline (h_7 changes sign)
  is the same shape. Per category and moment, z_i = (u_i - median(u_i)) / (1.4826 MAD(u_i)),
  MAD the median absolute deviation (1.4826 MAD estimates the standard deviation of normal
  data), floored at 1e-6 (a category of identical shapes). ``shape_outlier =
  sqrt(mean_i z_i^2)``, the root mean square of the 7 z values (rather than the max, which one
  noisy moment decides): about 1 is a typical shape. Caveat: for a class of nearly symmetric
  shapes (balls, wheels) the odd-order moments h_3..h_7 are rasterisation noise (an ellipse's
  h_3 measures ~1e-7 at 128 px, h_5 ~1e-17) and their logarithms are as spread as real
  differences, so there only gross distortions (slivers, elongation: h_1, h_2) stand out.

Skipped with NaN, the reason in the text column ``shape_skip_reason`` (None when computed):
crowd labels and other RLE masks ("RLE mask, not a polygon": an RLE run-length mask has no
vertices, and crowd regions outline groups, not objects), annotations without segmentation,
polygons of zero area; ``shape_outlier`` also for categories with fewer than
:data:`MIN_CATEGORY_SIZE` polygons (no robust median to compare with).
"""
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from quality_widgets import metric

RASTER_SIZE = 128          # pixels spanned by the longer side of the polygon's bounding box
MIN_CATEGORY_SIZE = 5      # polygons of a category needed for shape_outlier
MAD_TO_SIGMA = 1.4826      # 1 / Phi^-1(3/4): MAD -> standard deviation for normal data
HU_FLOOR = 1e-30           # log10 of 0 is avoided, nothing more
MIN_MAD = 1e-6


def polygon_parts(segmentation) -> list:
    """The parts of a COCO polygon segmentation as (n, 2) float arrays; [] for RLE / None."""
    if not isinstance(segmentation, (list, tuple)):
        return []
    parts = []
    for part in segmentation:
        arr = np.asarray(part, dtype="float64").ravel()
        if arr.size >= 6 and arr.size % 2 == 0 and np.all(np.isfinite(arr)):
            parts.append(arr.reshape(-1, 2))
    return parts


def shoelace_area(points) -> float:
    """|sum_i x_i y_{i+1} - x_{i+1} y_i| / 2 of a closed polygon, pixels^2."""
    x, y = points[:, 0], points[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))) / 2.0


def convex_hull_area(points) -> float:
    """Area of the convex hull of ``points`` (n, 2); 0 for collinear or fewer than 3 points."""
    from scipy.spatial import ConvexHull, QhullError
    points = np.unique(np.asarray(points, dtype="float64"), axis=0)
    if len(points) < 3:
        return 0.0
    try:
        return float(ConvexHull(points).volume)   # in 2-D, .volume is the area
    except QhullError:
        return 0.0


def solidity(parts) -> float:
    """Sum of the parts' shoelace areas / convex hull area of all vertices; NaN if degenerate."""
    if not parts:
        return np.nan
    hull = convex_hull_area(np.vstack(parts))
    if hull <= 0:
        return np.nan
    return sum(shoelace_area(p) for p in parts) / hull


def rasterize(parts, size: int = RASTER_SIZE) -> np.ndarray:
    """Filled mask (bool, about size x size) of the polygon parts, scaled so the longer side of
    their bounding box spans ``size`` pixels (aspect ratio kept)."""
    points = np.vstack(parts)
    lo = points.min(axis=0)
    extent = float((points.max(axis=0) - lo).max())
    scale = (size - 1) / extent if extent > 0 else 1.0
    canvas = Image.new("L", (size + 2, size + 2), 0)
    draw = ImageDraw.Draw(canvas)
    for part in parts:
        xy = ((part - lo) * scale + 1.0).ravel().tolist()
        draw.polygon(xy, fill=1, outline=1)
    return np.asarray(canvas, dtype=bool)


def hu_moments(mask) -> np.ndarray:
    """The 7 Hu (1962) moment invariants of a binary mask, from the normalised central moments
    eta_pq = mu_pq / mu_00^(1 + (p + q) / 2) (h_1 = eta_20 + eta_02, ...); NaN if empty."""
    ys, xs = np.nonzero(mask)
    m00 = float(xs.size)
    if m00 == 0:
        return np.full(7, np.nan)
    x = xs - xs.mean()
    y = ys - ys.mean()

    def eta(p, q):
        return float(np.sum(x ** p * y ** q)) / m00 ** (1 + (p + q) / 2)

    n20, n02, n11 = eta(2, 0), eta(0, 2), eta(1, 1)
    n30, n03, n21, n12 = eta(3, 0), eta(0, 3), eta(2, 1), eta(1, 2)
    a, b = n30 + n12, n21 + n03
    h1 = n20 + n02
    h2 = (n20 - n02) ** 2 + 4 * n11 ** 2
    h3 = (n30 - 3 * n12) ** 2 + (3 * n21 - n03) ** 2
    h4 = a ** 2 + b ** 2
    h5 = (n30 - 3 * n12) * a * (a ** 2 - 3 * b ** 2) + (3 * n21 - n03) * b * (3 * a ** 2 - b ** 2)
    h6 = (n20 - n02) * (a ** 2 - b ** 2) + 4 * n11 * a * b
    h7 = (3 * n21 - n03) * a * (a ** 2 - 3 * b ** 2) - (n30 - 3 * n12) * b * (3 * a ** 2 - b ** 2)
    return np.array([h1, h2, h3, h4, h5, h6, h7])


def log_hu(mask) -> np.ndarray:
    """u_i = log10(max(|h_i|, HU_FLOOR)) of the mask's Hu moments."""
    return np.log10(np.maximum(np.abs(hu_moments(mask)), HU_FLOOR))


def robust_z(values) -> np.ndarray:
    """(values - median) / (1.4826 MAD) per column of ``values`` (n, k); MAD floored at
    :data:`MIN_MAD`."""
    values = np.asarray(values, dtype="float64")
    med = np.median(values, axis=0)
    mad = np.median(np.abs(values - med), axis=0)
    return (values - med) / (MAD_TO_SIGMA * np.maximum(mad, MIN_MAD))


def _skip_reason(segmentation, parts) -> str | None:
    if isinstance(segmentation, dict):
        return "RLE mask, not a polygon"
    if not parts:
        return "no polygon segmentation"
    if sum(shoelace_area(p) for p in parts) <= 0:
        return "polygon of zero area"
    return None


def _segmentations(frame, dataset) -> pd.Series:
    if dataset is None or "segmentation" not in dataset.annotations:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    return dataset.annotations["segmentation"].reindex(frame.index)


@metric(level="object", scope="dataset", pixels=False,
        description="Number of polygon vertices, over all parts (NaN for RLE masks).")
def polygon_vertices(frame, dataset):
    """sum over parts of len(part) / 2, a count."""
    out = []
    for seg in _segmentations(frame, dataset):
        parts = polygon_parts(seg)
        out.append(float(sum(len(p) for p in parts)) if parts else np.nan)
    return pd.Series(out, index=frame.index, dtype="float64")


@metric(level="object", scope="dataset", pixels=False,
        description="Polygon area / convex hull area, in (0, 1] (1 = convex; NaN for RLE).")
def polygon_solidity(frame, dataset):
    """sum of part shoelace areas / convex hull area of all vertices, unitless."""
    out = [solidity(polygon_parts(seg)) for seg in _segmentations(frame, dataset)]
    return pd.Series(out, index=frame.index, dtype="float64")


@metric(level="object", scope="dataset", pixels=False,
        columns=("shape_outlier", "shape_skip_reason"),
        description="Robust z distance (RMS over the 7 log Hu moments) of the polygon's shape "
                    "from the median shape of its category; NaN for RLE / small categories.")
def shape_outlier(frame, dataset):
    """sqrt(mean_i z_i^2), z_i the robust z of log10|h_i| within the category (module doc)."""
    segs = _segmentations(frame, dataset)
    n = len(frame)
    logs = np.full((n, 7), np.nan)
    reasons = [None] * n
    for i, seg in enumerate(segs.tolist()):
        parts = polygon_parts(seg)
        reasons[i] = _skip_reason(seg, parts)
        if reasons[i] is None:
            logs[i] = log_hu(rasterize(parts))
    score = np.full(n, np.nan)
    ok = np.isfinite(logs).all(axis=1)
    categories = frame["category_id"].to_numpy() if "category_id" in frame else np.zeros(n)
    for category in pd.unique(categories[ok]):
        members = np.flatnonzero(ok & (categories == category))
        if len(members) < MIN_CATEGORY_SIZE:
            for i in members:
                reasons[i] = (f"fewer than {MIN_CATEGORY_SIZE} polygons in the category "
                              f"({len(members)})")
            continue
        z = robust_z(logs[members])
        score[members] = np.sqrt(np.mean(z ** 2, axis=1))
    return pd.DataFrame({"shape_outlier": score,
                         "shape_skip_reason": pd.Series(reasons, dtype=object).to_numpy()},
                        index=frame.index)

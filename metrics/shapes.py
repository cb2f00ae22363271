"""Built-in shape metrics of polygon labels: odd outlines of a class surface first.

Dataset-scope object metrics reading ``dataset.annotations["segmentation"]`` (COCO polygons: a
list of parts ``[x1, y1, x2, y2, ...]`` in image pixels); no pixels are decoded, and nothing is
rasterised: every quantity is a closed form of the vertices, computed for all polygons at once.

* ``polygon_vertices``: number of vertices, summed over the parts of the annotation.
* ``polygon_solidity``: polygon area / area of the convex hull of all its vertices, in (0, 1]
  (1 = convex; a multi-part label's gaps lower it). The polygon area is the sum over parts of
  the absolute shoelace area |sum x_i y_{i+1} - x_{i+1} y_i| / 2 (a self-intersecting part gets
  its signed-area sum); the hull is Andrew's monotone chain over all the vertices.
* ``shape_outlier`` (version 2): how unlike the other polygons of its category the shape is, in
  robust z units. The raw moments m_pq = integral of x^p y^q over the polygon, p + q <= 3, are
  exact closed forms of the vertices (Green's theorem: each edge (x0, y0) -> (x1, y1)
  contributes a polynomial of its end points times c = x0 y1 - x1 y0, e.g. m00 = sum c / 2,
  m10 = sum c (x0 + x1) / 6; Steger 1996), each part oriented to count positively and the parts
  summed. From them the central moments mu_pq, the normalised eta_pq = mu_pq / m00^(1 + (p + q)
  / 2) and the 7 Hu (1962) invariants h_1..h_7 (invariant to translation, scale and rotation),
  log-scaled, u_i = log10(max(|h_i|, 1e-30)) -- the magnitude only, so a mirrored outline (h_7
  changes sign) is the same shape. Per category and moment, z_i = (u_i - median(u_i)) / (1.4826
  MAD(u_i)), MAD the median absolute deviation (1.4826 MAD estimates the standard deviation of
  normal data), floored at 1e-6 (a category of identical shapes). ``shape_outlier =
  sqrt(mean_i z_i^2)``, the root mean square of the 7 z values (rather than the max, which one
  noisy moment decides): about 1 is a typical shape. Caveat: for a class of nearly symmetric
  shapes (balls, wheels) the odd-order moments h_3..h_7 are close to 0 and their logarithms
  measure the annotator's vertex noise, as spread as real differences, so there only gross
  distortions (slivers, elongation: h_1, h_2) stand out. Version 1 rasterised the polygon at
  128 px and took the moments of the pixels (about 1 ms per polygon, and rasterisation noise).

Skipped with NaN, the reason in the text column ``shape_skip_reason`` (None when computed):
crowd labels and other RLE masks ("RLE mask, not a polygon": an RLE run-length mask has no
vertices, and crowd regions outline groups, not objects), annotations without segmentation,
polygons of zero area; ``shape_outlier`` also for categories with fewer than
:data:`MIN_CATEGORY_SIZE` polygons (no robust median to compare with).
"""
import weakref

import numpy as np
import pandas as pd

from quality_widgets import metric

MIN_CATEGORY_SIZE = 5      # polygons of a category needed for shape_outlier
MAD_TO_SIGMA = 1.4826      # 1 / Phi^-1(3/4): MAD -> standard deviation for normal data
HU_FLOOR = 1e-30           # log10 of 0 is avoided, nothing more
MIN_MAD = 1e-6
# column order of the raw moments returned by polygon_moments
MOMENTS = ("m00", "m10", "m01", "m20", "m11", "m02", "m30", "m21", "m12", "m03")


def polygon_parts(segmentation) -> list:
    """The parts of a COCO polygon segmentation as (n, 2) float arrays; [] for RLE / None.
    Parts with fewer than 3 vertices, an odd number of coordinates or a non-finite one are
    left out."""
    if not isinstance(segmentation, (list, tuple)):
        return []
    parts = []
    for part in segmentation:
        try:
            arr = np.asarray(part, dtype="float64").ravel()
        except (TypeError, ValueError):
            continue
        if arr.size >= 6 and arr.size % 2 == 0 and np.all(np.isfinite(arr)):
            parts.append(arr.reshape(-1, 2))
    return parts


def shoelace_area(points) -> float:
    """|sum_i x_i y_{i+1} - x_{i+1} y_i| / 2 of a closed polygon, pixels^2."""
    x, y = points[:, 0], points[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))) / 2.0


# ---- all polygons at once --------------------------------------------------------------------
class _Polygons:
    """Every polygon of a list of segmentations as flat arrays: ``xy`` (V, 2) vertices, parts
    as runs of vertices (``part_start``, ``part_len``, ``part_owner``: the segmentation's
    position), ``reason`` per segmentation (why it has no usable polygon, or None)."""

    def __init__(self, segmentations):
        n = len(segmentations)
        flat, lengths, owners = [], [], []
        self.reason = [None] * n
        for i, seg in enumerate(segmentations):
            if isinstance(seg, dict):
                self.reason[i] = "RLE mask, not a polygon"
                continue
            if not isinstance(seg, (list, tuple)):
                self.reason[i] = "no polygon segmentation"
                continue
            before = len(lengths)
            for part in seg:
                if isinstance(part, np.ndarray):
                    part = part.ravel().tolist()
                if isinstance(part, (list, tuple)) and len(part) >= 6 and len(part) % 2 == 0:
                    flat.append(part)
                    lengths.append(len(part) // 2)
                    owners.append(i)
            if len(lengths) == before:
                self.reason[i] = "no polygon segmentation"
        lengths = np.asarray(lengths, dtype=np.int64)
        owners = np.asarray(owners, dtype=np.int64)
        try:
            coords = np.fromiter((v for part in flat for v in part), dtype=np.float64,
                                 count=int(2 * lengths.sum()))
            good = np.ones(len(lengths), dtype=bool)
        except (TypeError, ValueError):   # a part with a non-number: drop that part only
            arrays, good = [], np.zeros(len(lengths), dtype=bool)
            for k, part in enumerate(flat):
                try:
                    arrays.append(np.asarray(part, dtype=np.float64).ravel())
                    good[k] = arrays[-1].size == 2 * lengths[k]
                except (TypeError, ValueError):
                    arrays.append(np.full(2 * lengths[k], np.nan))
            coords = np.concatenate(arrays) if arrays else np.empty(0)
        xy = coords.reshape(-1, 2)
        starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
        if len(lengths):
            finite = np.logical_and.reduceat(np.isfinite(xy).all(axis=1), starts) \
                if len(xy) else np.zeros(0, bool)
            good &= finite
        keep_vertex = np.repeat(good, lengths)
        self.xy = xy[keep_vertex]
        self.part_len = lengths[good]
        self.part_owner = owners[good]
        self.part_start = np.r_[0, np.cumsum(self.part_len)[:-1]].astype(np.int64)
        self.n = n
        has = np.bincount(self.part_owner, minlength=n) > 0
        for i in np.flatnonzero(~has):
            if self.reason[i] is None:
                self.reason[i] = "no polygon segmentation"
        self.vertices = np.where(has, np.bincount(self.part_owner, weights=self.part_len,
                                                  minlength=n), np.nan)
        self._moments = None
        self._hull = None

    @property
    def vertex_owner(self) -> np.ndarray:
        return np.repeat(self.part_owner, self.part_len)

    def moments(self) -> np.ndarray:
        """(n, 10) raw moments (columns :data:`MOMENTS`) about each polygon's vertex mean,
        summed over its parts, each part oriented so its area counts positively; rows without
        a polygon are 0. Column 0 is the area (the sum of the parts' shoelace areas)."""
        if self._moments is not None:
            return self._moments
        out = np.zeros((self.n, 10))
        if len(self.xy):
            owner = self.vertex_owner
            count = np.bincount(owner, minlength=self.n).clip(1)
            ref = np.stack([np.bincount(owner, weights=self.xy[:, k], minlength=self.n) / count
                            for k in (0, 1)], axis=1)
            xy = self.xy - ref[owner]          # near the origin: less cancellation
            nxt = np.arange(1, len(xy) + 1)
            nxt[self.part_start + self.part_len - 1] = self.part_start
            x0, y0 = xy[:, 0], xy[:, 1]
            x1, y1 = x0[nxt], y0[nxt]
            c = x0 * y1 - x1 * y0
            xx, yy = x0 * x0 + x0 * x1 + x1 * x1, y0 * y0 + y0 * y1 + y1 * y1
            terms = np.stack([
                c / 2,
                c * (x0 + x1) / 6,
                c * (y0 + y1) / 6,
                c * xx / 12,
                c * (x0 * y1 + 2 * x0 * y0 + 2 * x1 * y1 + x1 * y0) / 24,
                c * yy / 12,
                c * (x0 + x1) * (x0 * x0 + x1 * x1) / 20,
                c * (x0 * x0 * (3 * y0 + y1) + 2 * x0 * x1 * (y0 + y1)
                     + x1 * x1 * (y0 + 3 * y1)) / 60,
                c * (y0 * y0 * (3 * x0 + x1) + 2 * y0 * y1 * (x0 + x1)
                     + y1 * y1 * (x0 + 3 * x1)) / 60,
                c * (y0 + y1) * (y0 * y0 + y1 * y1) / 20,
            ], axis=1)
            parts = np.add.reduceat(terms, self.part_start, axis=0)
            parts *= np.where(parts[:, :1] < 0, -1.0, 1.0)     # counter-clockwise or not
            for k in range(10):
                out[:, k] = np.bincount(self.part_owner, weights=parts[:, k],
                                        minlength=self.n)
        self._moments = out
        return out

    def hull_area(self) -> np.ndarray:
        """(n,) area of the convex hull of each polygon's vertices (all parts); 0 when they
        are collinear or fewer than 3 distinct."""
        if self._hull is None:
            owner = self.vertex_owner
            order = np.lexsort((self.xy[:, 1], self.xy[:, 0], owner))
            pts = np.ascontiguousarray(self.xy[order])
            bounds = np.r_[0, np.cumsum(np.bincount(owner, minlength=self.n))].astype(np.int64)
            self._hull = _hull_areas(pts, bounds)
        return self._hull


def _hull_areas_py(pts, bounds):
    """Andrew's monotone chain on each run pts[bounds[k]:bounds[k + 1]] (sorted by x, then y),
    the hull's area by the shoelace formula."""
    n = len(bounds) - 1
    out = np.zeros(n)
    longest = 0
    for k in range(n):
        longest = max(longest, bounds[k + 1] - bounds[k])
    hull = np.empty((2 * longest + 2, 2))
    for k in range(n):
        lo, hi = bounds[k], bounds[k + 1]
        if hi - lo < 3:
            continue
        top = 0
        for i in range(lo, hi):                    # lower hull, left to right
            while top >= 2 and ((hull[top - 1, 0] - hull[top - 2, 0])
                                * (pts[i, 1] - hull[top - 2, 1])
                                - (hull[top - 1, 1] - hull[top - 2, 1])
                                * (pts[i, 0] - hull[top - 2, 0])) <= 0:
                top -= 1
            hull[top, 0] = pts[i, 0]
            hull[top, 1] = pts[i, 1]
            top += 1
        lower = top + 1
        for i in range(hi - 2, lo - 1, -1):        # upper hull, right to left
            while top >= lower and ((hull[top - 1, 0] - hull[top - 2, 0])
                                    * (pts[i, 1] - hull[top - 2, 1])
                                    - (hull[top - 1, 1] - hull[top - 2, 1])
                                    * (pts[i, 0] - hull[top - 2, 0])) <= 0:
                top -= 1
            hull[top, 0] = pts[i, 0]
            hull[top, 1] = pts[i, 1]
            top += 1
        top -= 1                                   # the last point is the first again
        area = 0.0
        for i in range(top):
            j = i + 1 if i + 1 < top else 0
            area += hull[i, 0] * hull[j, 1] - hull[j, 0] * hull[i, 1]
        out[k] = abs(area) / 2.0
    return out


try:  # numba is a dependency; the pure-Python loop stays correct without it
    from numba import njit
    _hull_areas = njit(cache=True, nogil=True)(_hull_areas_py)
except ImportError:  # pragma: no cover
    _hull_areas = _hull_areas_py


def polygon_moments(parts) -> np.ndarray:
    """The 10 raw moments m_pq (p + q <= 3, order :data:`MOMENTS`) of the polygon ``parts``
    ((n, 2) vertex arrays, as from :func:`polygon_parts`), exact closed forms of the vertices
    (see the module doc), about the mean of the vertices; each part counts positively."""
    return _Polygons([[np.asarray(p, dtype=float).ravel().tolist() for p in parts]]).moments()[0]


def mask_moments(mask) -> np.ndarray:
    """The 10 raw moments (order :data:`MOMENTS`) of the pixels of a binary mask, about their
    mean (pixel (row i, column j) at x = j, y = i)."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return np.zeros(10)
    x = xs - xs.mean()
    y = ys - ys.mean()
    return np.array([xs.size, x.sum(), y.sum(), (x * x).sum(), (x * y).sum(), (y * y).sum(),
                     (x ** 3).sum(), (x * x * y).sum(), (x * y * y).sum(), (y ** 3).sum()])


def rasterize(parts, size: int = 128) -> np.ndarray:
    """Filled mask (bool, about size x size) of the polygon parts, scaled so the longer side of
    their bounding box spans ``size`` pixels (what shape_outlier version 1 measured; kept for
    metrics that still compare pixel moments)."""
    from PIL import Image, ImageDraw
    points = np.vstack(parts)
    lo = points.min(axis=0)
    extent = float((points.max(axis=0) - lo).max())
    scale = (size - 1) / extent if extent > 0 else 1.0
    canvas = Image.new("L", (size + 2, size + 2), 0)
    draw = ImageDraw.Draw(canvas)
    for part in parts:
        draw.polygon(((part - lo) * scale + 1.0).ravel().tolist(), fill=1, outline=1)
    return np.asarray(canvas, dtype=bool)


def _skip_reason(segmentation, parts) -> str | None:
    """Why a segmentation has no polygon to measure (None when it has one)."""
    if isinstance(segmentation, dict):
        return "RLE mask, not a polygon"
    if not parts:
        return "no polygon segmentation"
    if sum(shoelace_area(p) for p in parts) <= 0:
        return "polygon of zero area"
    return None


def hu_moments(moments) -> np.ndarray:
    """The 7 Hu (1962) invariants from raw moments (..., 10) (order :data:`MOMENTS`, about any
    origin), via the normalised central moments eta_pq = mu_pq / m00^(1 + (p + q) / 2)
    (h_1 = eta_20 + eta_02, ...); NaN where m00 <= 0. A 2-D boolean mask is also accepted
    (its pixel moments, :func:`mask_moments`)."""
    if isinstance(moments, np.ndarray) and moments.dtype == bool and moments.ndim == 2:
        moments = mask_moments(moments)
    m = np.asarray(moments, dtype=float)
    m00, m10, m01, m20, m11, m02, m30, m21, m12, m03 = np.moveaxis(m, -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        a00 = np.where(m00 > 0, m00, np.nan)
        xc, yc = m10 / a00, m01 / a00
        mu20 = m20 - xc * m10
        mu02 = m02 - yc * m01
        mu11 = m11 - xc * m01
        mu30 = m30 - 3 * xc * m20 + 2 * xc * xc * m10
        mu03 = m03 - 3 * yc * m02 + 2 * yc * yc * m01
        mu21 = m21 - 2 * xc * m11 - yc * m20 + 2 * xc * xc * m01
        mu12 = m12 - 2 * yc * m11 - xc * m02 + 2 * yc * yc * m10
        s2, s3 = a00 ** 2, a00 ** 2.5
        n20, n02, n11 = mu20 / s2, mu02 / s2, mu11 / s2
        n30, n03, n21, n12 = mu30 / s3, mu03 / s3, mu21 / s3, mu12 / s3
    a, b = n30 + n12, n21 + n03
    p, q = n30 - 3 * n12, 3 * n21 - n03
    h1 = n20 + n02
    h2 = (n20 - n02) ** 2 + 4 * n11 ** 2
    h3 = p ** 2 + q ** 2
    h4 = a ** 2 + b ** 2
    h5 = p * a * (a ** 2 - 3 * b ** 2) + q * b * (3 * a ** 2 - b ** 2)
    h6 = (n20 - n02) * (a ** 2 - b ** 2) + 4 * n11 * a * b
    h7 = q * a * (a ** 2 - 3 * b ** 2) - p * b * (3 * a ** 2 - b ** 2)
    return np.stack([h1, h2, h3, h4, h5, h6, h7], axis=-1)


def log_hu(moments) -> np.ndarray:
    """u_i = log10(max(|h_i|, HU_FLOOR)) of the Hu invariants of raw ``moments`` (or of a
    binary mask's pixels)."""
    return np.log10(np.maximum(np.abs(hu_moments(moments)), HU_FLOOR))


def solidity(parts) -> float:
    """Sum of the parts' shoelace areas / convex hull area of all vertices; NaN if degenerate."""
    polys = _Polygons([[np.asarray(p, dtype=float).ravel().tolist() for p in parts]])
    hull = polys.hull_area()[0]
    if not len(parts) or hull <= 0:
        return np.nan
    return float(polys.moments()[0, 0] / hull)


def robust_z(values) -> np.ndarray:
    """(values - median) / (1.4826 MAD) per column of ``values`` (n, k); MAD floored at
    :data:`MIN_MAD`."""
    values = np.asarray(values, dtype="float64")
    med = np.median(values, axis=0)
    mad = np.median(np.abs(values - med), axis=0)
    return (values - med) / (MAD_TO_SIGMA * np.maximum(mad, MIN_MAD))


_LAST: dict = {}   # the polygons of the last (annotations, rows) asked for: 3 metrics share them


def _polygons(frame, dataset) -> _Polygons:
    anns = getattr(dataset, "annotations", None)
    slot = _LAST.get("slot")
    if (slot is not None and anns is not None and slot[0]() is anns and slot[1]() is frame.index):
        return slot[2]
    if anns is None or "segmentation" not in anns:
        segs = [None] * len(frame)
    else:
        segs = anns["segmentation"].reindex(frame.index).tolist()
    polys = _Polygons(segs)
    if anns is not None:
        _LAST["slot"] = (weakref.ref(anns), weakref.ref(frame.index), polys)
    return polys


@metric(level="object", scope="dataset", pixels=False)
def polygon_vertices(frame, dataset):
    """Number of polygon vertices, over all parts (NaN for RLE masks).

    sum over parts of len(part) / 2, a count."""
    return pd.Series(_polygons(frame, dataset).vertices, index=frame.index, dtype="float64")


@metric(level="object", scope="dataset", pixels=False)
def polygon_solidity(frame, dataset):
    """Polygon area / convex hull area, in (0, 1] (1 = convex; NaN for RLE).

    sum of part shoelace areas / convex hull area of all vertices, unitless."""
    polys = _polygons(frame, dataset)
    hull = polys.hull_area()
    area = polys.moments()[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(hull > 0, area / np.where(hull > 0, hull, 1), np.nan)
    return pd.Series(out, index=frame.index, dtype="float64")


@metric(level="object", scope="dataset", pixels=False, version=2,
        columns=("shape_outlier", "shape_skip_reason"))
def shape_outlier(frame, dataset):
    """Robust z distance (RMS over the 7 log Hu moments) of the polygon's shape from the median
    shape of its category; NaN for RLE / small categories.

    sqrt(mean_i z_i^2), z_i the robust z of log10|h_i| within the category (module doc)."""
    polys = _polygons(frame, dataset)
    n = len(frame)
    reasons = list(polys.reason)
    moments = polys.moments()
    for i in np.flatnonzero(moments[:, 0] <= 0):
        if reasons[i] is None:
            reasons[i] = "polygon of zero area"
    logs = log_hu(moments)
    logs[[r is not None for r in reasons]] = np.nan
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

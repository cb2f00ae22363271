"""Instance masks and keypoints: COCO segmentations (polygons, RLE) as run lengths, areas,
boxes and bitmaps, the same way pycocotools reads them.

A COCO segmentation is a list of polygons ``[[x1, y1, x2, y2, ...], ...]`` (pixels, several
parts of one object), an uncompressed RLE ``{"size": [h, w], "counts": [int, ...]}`` or a
compressed RLE ``{"size": [h, w], "counts": "string"}``. Run lengths are column-major (down
the first column, then the next), starting with a run of 0s.

Polygons are rasterised by pycocotools' ``frPyObjects`` (the reference rasterisation, so
areas and IoUs are pycocotools' to the pixel): pycocotools is needed for polygons and for
compressed RLE output (``pip install 'quality-widgets[masks]'``). Everything else here
(decoding compressed strings, run-length areas, boxes, IoU) is our own exact integer code.
"""
from __future__ import annotations

import numpy as np

try:  # pragma: no cover - numba is a dependency; the pure-Python path keeps working without
    from numba import njit
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False

    def njit(*args, **kwargs):
        if args and callable(args[0]):
            return args[0]
        return lambda f: f

#: What to install for polygon masks.
MASKS_EXTRA = "pip install 'quality-widgets[masks]'  (installs pycocotools)"


def mask_api():
    """pycocotools' mask module, or an ImportError that says what to install."""
    try:
        from pycocotools import mask
    except ImportError:
        raise ImportError(f"polygon and RLE masks need pycocotools: {MASKS_EXTRA}") from None
    return mask


def is_polygon(seg) -> bool:
    return isinstance(seg, list) and len(seg) > 0 and isinstance(seg[0], (list, tuple))


def is_rle(seg) -> bool:
    return isinstance(seg, dict) and "counts" in seg and "size" in seg


def box_polygon(x: float, y: float, w: float, h: float) -> list:
    """The polygon pycocotools' ``loadRes`` gives a box-only result:
    ``[[x1, y1, x1, y2, x2, y2, x2, y1]]``."""
    x2, y2 = x + w, y + h
    return [[x, y, x, y2, x2, y2, x2, y]]


# ---- to compressed RLE (pycocotools' annToRLE) ----------------------------------------------
def to_rle(seg, height: int, width: int) -> dict:
    """RLE dict of a segmentation on an image of ``height`` x ``width`` pixels, as
    pycocotools' ``COCO.annToRLE`` makes it: polygon parts rasterised and merged (compressed
    RLE, needs pycocotools); an RLE is returned as it is (it keeps its own size)."""
    return to_rles([seg], [height], [width])[0]


def to_rles(segs, heights, widths) -> list:
    """:func:`to_rle` of many segmentations (one ``frPyObjects`` call per image size for all
    their polygons, then one merge per multi-part object). None stays None."""
    out = [None] * len(segs)
    polygons: dict = {}
    heights, widths = np.asarray(heights).tolist(), np.asarray(widths).tolist()
    for i, seg in enumerate(segs):
        if seg is None:
            continue
        if type(seg) is dict and "counts" in seg:
            out[i] = seg
        elif is_polygon(seg):
            key = (int(heights[i]), int(widths[i]))
            polygons.setdefault(key, []).append(i)
        else:
            raise ValueError(f"not a COCO segmentation (polygon list or RLE dict): "
                             f"{str(seg)[:80]}")
    if polygons:
        api = mask_api()   # pycocotools: the reference rasterisation
        for (h, w), rows in polygons.items():
            parts = [p for i in rows for p in segs[i]]
            rles = api.frPyObjects(parts, h, w)
            k = 0
            for i in rows:
                n = len(segs[i])
                out[i] = rles[k] if n == 1 else api.merge(rles[k:k + n])
                k += n
    return out


# ---- run lengths: our own exact code --------------------------------------------------------
@njit(cache=True)
def _decode_strings(buf, starts, ends, offsets, counts):  # pragma: no cover - compiled
    """Compressed RLE strings -> run lengths. Each count is written in 5-bit groups, low
    first, as characters 48 + group (| 32 when more groups follow); the last group's bit 16 is
    the sign. From the third count on, the value is a difference to the count two before."""
    for s in range(len(starts)):
        p, end, m, o = starts[s], ends[s], 0, offsets[s]
        while p < end:
            x, k, more = 0, 0, True
            while more and p < end:
                c = np.int64(buf[p]) - 48
                x |= (c & 0x1F) << (5 * k)
                more = (c & 0x20) != 0
                p += 1
                k += 1
                if not more and (c & 0x10) != 0:
                    x |= np.int64(-1) << (5 * k)
            if m > 2:
                x += counts[o + m - 2]
            counts[o + m] = x
            m += 1


@njit(cache=True)
def _count_runs(buf, starts, ends, out):  # pragma: no cover - compiled
    """Counts in each compressed string: one ends at every character without the "more" bit
    (32 after subtracting 48)."""
    for s in range(len(starts)):
        k = 0
        for p in range(starts[s], ends[s]):
            if ((buf[p] - 48) & 0x20) == 0:
                k += 1
        out[s] = k


def run_lengths(rles) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(counts, offsets, sizes) of compressed or uncompressed RLE dicts: the run lengths of
    mask i are ``counts[offsets[i]:offsets[i + 1]]`` (int64), ``sizes[i] = (h, w)``. None (no
    mask) gives no runs and size (0, 0)."""
    n = len(rles)
    present = [i for i, r in enumerate(rles) if r is not None]
    sizes = np.zeros((n, 2), dtype=np.int64)
    if present:
        sizes[present] = [rles[i]["size"] for i in present]
    counts_of = [rles[i]["counts"] for i in present]
    kinds = [type(c) for c in counts_of]
    lists = {i: np.asarray(c, dtype=np.int64)
             for i, c, k in zip(present, counts_of, kinds, strict=True)
             if k is not str and k is not bytes}
    string_rows = [i for i, k in zip(present, kinds, strict=True) if k is str or k is bytes]
    strings = [c for c, k in zip(counts_of, kinds, strict=True) if k is str or k is bytes]
    n_runs = np.zeros(n, dtype=np.int64)
    if strings:
        # Compressed counts are ASCII: one join and one encode for all of them.
        text = "".join(c if type(c) is str else c.decode("ascii") for c in strings) \
            if bytes in kinds else "".join(strings)
        buf = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        lengths = np.array([len(s) for s in strings], dtype=np.int64)
        ends = np.cumsum(lengths)
        starts = ends - lengths
        per = np.zeros(len(strings), dtype=np.int64)
        _count_runs(buf, starts, ends, per)
        n_runs[string_rows] = per
    for i, c in lists.items():
        n_runs[i] = len(c)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_runs, out=offsets[1:])
    counts = np.zeros(offsets[-1], dtype=np.int64)
    if strings:
        rows = np.asarray(string_rows, dtype=np.int64)
        _decode_strings(buf, starts, ends, offsets[rows], counts)
    for i, c in lists.items():
        counts[offsets[i]:offsets[i + 1]] = c
    return counts, offsets, sizes


@njit(cache=True)
def _decode_one(buf):  # pragma: no cover - compiled
    starts = np.zeros(1, np.int64)
    ends = np.full(1, len(buf), np.int64)
    n = np.zeros(1, np.int64)
    _count_runs(buf, starts, ends, n)
    counts = np.zeros(n[0], np.int64)
    _decode_strings(buf, starts, ends, starts, counts)
    return counts


def rle_runs(rle: dict) -> tuple[np.ndarray, int, int]:
    """(run lengths as int64, h, w) of one RLE dict, compressed or not: :func:`run_lengths`
    of a single mask without its batch bookkeeping (a few microseconds, for code that reads
    one mask at a time)."""
    h, w = (int(v) for v in rle["size"])
    c = rle["counts"]
    if type(c) is str:
        c = c.encode("ascii")
    if type(c) is bytes:
        return _decode_one(np.frombuffer(c, dtype=np.uint8)), h, w
    return np.asarray(c, dtype=np.int64), h, w


@njit(cache=True)
def _areas_boxes(counts, offsets, sizes, area, box):  # pragma: no cover - compiled
    for i in range(len(offsets) - 1):
        h = sizes[i, 0]
        a, pos = 0, 0
        xs, ys, xe, ye = sizes[i, 1], h, -1, -1
        for j in range(offsets[i], offsets[i + 1]):
            c = counts[j]
            if (j - offsets[i]) % 2 == 1 and c > 0:
                a += c
                first, last = pos, pos + c - 1
                x0, x1 = first // h, last // h
                y0, y1 = first % h, last % h
                if x1 > x0:                # spans columns: every row is covered somewhere
                    y0, y1 = 0, h - 1
                xs, xe = min(xs, x0), max(xe, x1)
                ys, ye = min(ys, y0), max(ye, y1)
            pos += c
        area[i] = a
        if a > 0:
            box[i, 0], box[i, 1] = xs, ys
            box[i, 2], box[i, 3] = xe - xs + 1, ye - ys + 1


def areas_and_boxes(counts, offsets, sizes) -> tuple[np.ndarray, np.ndarray]:
    """(area, box) of each mask: the number of 1 pixels (int64) and the tight pixel box
    ``[x, y, w, h]`` of them (float; zeros for an empty mask), as pycocotools' ``area`` and
    ``toBbox``. A run that crosses a column boundary covers rows 0 and h-1 (the box spans every
    row), as in pycocotools."""
    n = len(offsets) - 1
    area = np.zeros(n, dtype=np.int64)
    box = np.zeros((n, 4), dtype=np.float64)
    if n:
        _areas_boxes(counts, offsets, sizes, area, box)
    return area, box


@njit(cache=True)
def _pair_iou(counts_a, offsets_a, sizes_a, box_a, area_a, counts_b, offsets_b, sizes_b,
              box_b, area_b, crowd_b, pa, pb, out):  # pragma: no cover - compiled
    for p in range(len(pa)):
        i, j = pa[p], pb[p]
        # Pixel boxes that do not overlap (or an empty mask): no shared pixel.
        if area_a[i] == 0 or area_b[j] == 0 or \
                box_a[i, 0] >= box_b[j, 0] + box_b[j, 2] or \
                box_b[j, 0] >= box_a[i, 0] + box_a[i, 2] or \
                box_a[i, 1] >= box_b[j, 1] + box_b[j, 3] or \
                box_b[j, 1] >= box_a[i, 1] + box_a[i, 3]:
            out[p] = 0.0
            continue
        if sizes_a[i, 0] != sizes_b[j, 0] or sizes_a[i, 1] != sizes_b[j, 1]:
            out[p] = -1.0
            continue
        ia, ea = offsets_a[i], offsets_a[i + 1]
        ib, eb = offsets_b[j], offsets_b[j + 1]
        ra, rb = counts_a[ia], counts_b[ib]
        va, vb = False, False
        inter = 0
        while True:
            c = min(ra, rb)
            if va and vb:
                inter += c
            ra -= c
            rb -= c
            if ra == 0:
                ia += 1
                if ia >= ea:
                    break
                ra = counts_a[ia]
                va = not va
            if rb == 0:
                ib += 1
                if ib >= eb:
                    break
                rb = counts_b[ib]
                vb = not vb
        if inter == 0:
            out[p] = 0.0
        elif crowd_b[j]:
            out[p] = inter / area_a[i]
        else:
            out[p] = inter / (area_a[i] + area_b[j] - inter)


class MaskSet:
    """Run lengths, areas and pixel boxes of many masks, for exact pairwise IoU."""

    def __init__(self, rles):
        self.counts, self.offsets, self.sizes = run_lengths(rles)
        self.area, self.box = areas_and_boxes(self.counts, self.offsets, self.sizes)

    def __len__(self) -> int:
        return len(self.offsets) - 1


def pair_iou(a: MaskSet, b: MaskSet, pair_a, pair_b, crowd_b=None) -> np.ndarray:
    """IoU of masks ``a[pair_a[p]]`` and ``b[pair_b[p]]`` for every pair p, pycocotools'
    ``maskUtils.iou`` value: ``I / U`` with I the shared pixels and U = area(a) + area(b) - I,
    or U = area(a) when ``crowd_b`` (a crowd region). 0 when nothing is shared, -1 when the two
    masks have different image sizes (and overlapping boxes). Exact integer counts; the
    division is the same double as pycocotools'."""
    pair_a = np.asarray(pair_a, dtype=np.int64)
    pair_b = np.asarray(pair_b, dtype=np.int64)
    crowd = np.zeros(len(b), dtype=np.bool_) if crowd_b is None else \
        np.asarray(crowd_b, dtype=np.bool_)
    out = np.zeros(len(pair_a))
    if len(pair_a):
        _pair_iou(a.counts, a.offsets, a.sizes, a.box, a.area, b.counts, b.offsets, b.sizes,
                  b.box, b.area, crowd, pair_a, pair_b, out)
    return out


@njit(cache=True)
def _window(counts, h, r0, r1, c0, c1, out):  # pragma: no cover - compiled
    pos = 0
    for j in range(len(counts)):
        c = counts[j]
        if j % 2 == 1:
            s, e = pos, pos + c
            while s < e:
                col = s // h
                if col >= c1:
                    return
                row0 = s - col * h
                stop = min(e, (col + 1) * h)
                if col >= c0:
                    a, b = max(row0, r0), min(row0 + stop - s, r1)
                    for r in range(a, b):
                        out[r - r0, col - c0] = True
                s = stop
        pos += c


@njit(cache=True)
def _parts(counts, h):  # pragma: no cover - compiled
    # The 1-runs cut at column ends: segments (column, first row, last row), column-major.
    n_seg = 0
    pos = 0
    for j in range(len(counts)):
        if j % 2 == 1 and counts[j] > 0:
            n_seg += (pos + counts[j] - 1) // h - pos // h + 1
        pos += counts[j]
    col = np.empty(n_seg, np.int64)
    y0 = np.empty(n_seg, np.int64)
    y1 = np.empty(n_seg, np.int64)
    k = 0
    pos = 0
    for j in range(len(counts)):
        c = counts[j]
        if j % 2 == 1 and c > 0:
            s, e = pos, pos + c
            while s < e:
                cc = s // h
                stop = min(e, (cc + 1) * h)
                col[k], y0[k], y1[k] = cc, s - cc * h, stop - 1 - cc * h
                k += 1
                s = stop
        pos += c
    parent = np.arange(n_seg)
    # Segments of neighbouring columns touch (8-connectivity) when their row ranges overlap
    # or meet at a corner: a0 <= b1 + 1 and b0 <= a1 + 1. Two pointers over each column pair.
    a = 0
    while a < n_seg:
        a_end = a
        while a_end < n_seg and col[a_end] == col[a]:
            a_end += 1
        if a_end < n_seg and col[a_end] == col[a] + 1:
            b = a_end
            b_end = b
            while b_end < n_seg and col[b_end] == col[b]:
                b_end += 1
            i, jj = a, b
            while i < a_end and jj < b_end:
                if y0[i] <= y1[jj] + 1 and y0[jj] <= y1[i] + 1:
                    ri, rj = i, jj
                    while parent[ri] != ri:
                        ri = parent[ri]
                    while parent[rj] != rj:
                        rj = parent[rj]
                    if ri != rj:
                        parent[max(ri, rj)] = min(ri, rj)
                if y1[i] < y1[jj]:
                    i += 1
                else:
                    jj += 1
        a = a_end
    n = 0
    for i in range(n_seg):
        if parent[i] == i:
            n += 1
    return n


def connected_parts(counts: np.ndarray, height: int) -> int:
    """Number of 8-connected components of the mask with run lengths ``counts`` (pixels that
    touch by an edge or a corner are one part), straight from the runs: each column's runs
    are joined to the next column's runs whose rows overlap or meet at a corner."""
    counts = np.asarray(counts, dtype=np.int64)
    return int(_parts(counts, int(height))) if len(counts) else 0


def decode_window(counts: np.ndarray, height: int, r0: int, r1: int, c0: int, c1: int
                  ) -> np.ndarray:
    """Rows r0:r1, columns c0:c1 of the mask with run lengths ``counts`` (column-major, on an
    image ``height`` pixels high), as a bool array: no full-image bitmap is made."""
    out = np.zeros((max(r1 - r0, 0), max(c1 - c0, 0)), dtype=bool)
    if out.size:
        _window(np.asarray(counts, dtype=np.int64), int(height), r0, r1, c0, c1, out)
    return out


def decode(seg, height: int, width: int) -> np.ndarray:
    """The mask as a bool (H, W) array (row-major)."""
    rle = to_rle(seg, height, width)
    counts, _, sizes = run_lengths([rle])
    h, w = (int(v) for v in sizes[0])
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    if flat.size != h * w:
        raise ValueError(f"RLE counts cover {flat.size} pixels, not {h} x {w} = {h * w}")
    return flat.reshape(w, h).T


def encode(mask: np.ndarray) -> dict:
    """Compressed RLE dict (counts as str, JSON-ready) of a bool (H, W) mask (pycocotools)."""
    rle = mask_api().encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def uncompressed(mask: np.ndarray) -> dict:
    """Uncompressed RLE ``{"size": [h, w], "counts": [...]}`` of a bool (H, W) mask (no
    pycocotools needed)."""
    flat = np.asarray(mask, dtype=bool).T.ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.r_[0, change, flat.size]
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": runs}

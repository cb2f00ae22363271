"""Object keypoint similarity (OKS) for ``iou_type="keypoints"``: the stage that replaces box
IoU, pycocotools-exact (``COCOeval.computeOks``).

For a detection d and a ground truth g with K keypoints, per-keypoint tolerances
``sigma_k`` (COCO's 17 person sigmas by default) and GT area ``s``::

    e_k = (dx_k^2 + dy_k^2) / (2 sigma_k)^2 / (s + eps) / 2
    OKS = mean over the labelled GT keypoints (v_k > 0) of exp(-e_k)

with ``dx = x_d - x_g``. A GT without labelled keypoints (a crowd or an unlabelled person)
measures instead the distance of each predicted keypoint to the box twice the GT box's size
around it (0 inside), averaged over all K. The arithmetic is pycocotools' (same operations in
the same order, and the same pairwise summation as ``np.sum``), so the doubles are equal.
"""
from __future__ import annotations

import numpy as np

from ..data.schema import BOX_COLUMNS

try:  # pragma: no cover - numba is a dependency
    from numba import njit
except ImportError:  # pragma: no cover
    def njit(*args, **kwargs):
        if args and callable(args[0]):
            return args[0]
        return lambda f: f

#: COCO's per-keypoint OKS sigmas (pycocotools ``Params.kpt_oks_sigmas``) for the 17 person
#: keypoints: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles (left, right).
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07,
                        .87, .87, .89, .89]) / 10.0
#: Detections kept per image and category (pycocotools' keypoint ``maxDets = [20]``).
KEYPOINT_MAX_DETS = 20


@njit(cache=True)
def _segment_sums(values, offsets, out):  # pragma: no cover - compiled
    """numpy's ``np.sum`` of each contiguous segment (its pairwise summation: a plain loop
    under 8 values, else 8 running sums combined as ((0+1)+(2+3))+((4+5)+(6+7)) and the rest
    added in order), for segments of at most 128 values."""
    for s in range(len(offsets) - 1):
        a, n = offsets[s], offsets[s + 1] - offsets[s]
        if n < 8:
            res = 0.0
            for i in range(n):
                res += values[a + i]
        else:
            r0, r1, r2, r3 = values[a], values[a + 1], values[a + 2], values[a + 3]
            r4, r5, r6, r7 = values[a + 4], values[a + 5], values[a + 6], values[a + 7]
            i = 8
            while i < n - (n % 8):
                r0 += values[a + i]
                r1 += values[a + i + 1]
                r2 += values[a + i + 2]
                r3 += values[a + i + 3]
                r4 += values[a + i + 4]
                r5 += values[a + i + 5]
                r6 += values[a + i + 6]
                r7 += values[a + i + 7]
                i += 8
            res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
            while i < n:
                res += values[a + i]
                i += 1
        out[s] = res


def keypoint_array(values, n_keypoints: int | None = None) -> np.ndarray:
    """[n, K, 3] float array of keypoint lists (None rows: zeros)."""
    lengths = {len(v) for v in values if v is not None}
    if n_keypoints is None:
        if len(lengths) > 1:
            raise ValueError(f"keypoint lists of different lengths: {sorted(lengths)}")
        n_keypoints = lengths.pop() // 3 if lengths else 0
    elif lengths - {3 * n_keypoints}:
        raise ValueError(f"expected {n_keypoints} keypoints (x, y, v each), got lists of "
                         f"{sorted(v // 3 for v in lengths)}")
    out = np.zeros((len(values), n_keypoints, 3))
    for i, v in enumerate(values):
        if v is not None:
            out[i] = np.asarray(v, dtype=float).reshape(n_keypoints, 3)
    return out


def oks(dt_kps: np.ndarray, gt_kps: np.ndarray, gt_box: np.ndarray, gt_area: np.ndarray,
        sigmas: np.ndarray = COCO_SIGMAS) -> np.ndarray:
    """OKS of paired rows (see module doc): ``dt_kps`` and ``gt_kps`` [P, K, 3], ``gt_box``
    [P, 4] (COCO xywh), ``gt_area`` [P]. Returns [P] in [0, 1]."""
    sigmas = np.asarray(sigmas, dtype=float)
    n_pair, k = dt_kps.shape[:2]
    if k != len(sigmas):
        raise ValueError(f"{k} keypoints per object but {len(sigmas)} OKS sigmas: pass "
                         "kpt_oks_sigmas with one sigma per keypoint")
    if n_pair == 0:
        return np.zeros(0)
    variances = (sigmas * 2) ** 2
    xd, yd = dt_kps[:, :, 0], dt_kps[:, :, 1]
    xg, yg, vg = gt_kps[:, :, 0], gt_kps[:, :, 1], gt_kps[:, :, 2]
    labelled = vg > 0
    k1 = np.count_nonzero(labelled, axis=1)
    dx, dy = xd - xg, yd - yg
    none = np.flatnonzero(k1 == 0)
    if len(none):   # distance to the box twice the GT box's size (0 inside)
        bx, by, bw, bh = (gt_box[none, i][:, None] for i in range(4))
        x0, x1 = bx - bw, bx + bw * 2
        y0, y1 = by - bh, by + bh * 2
        z = np.zeros((len(none), k))
        xn, yn = xd[none], yd[none]
        dx[none] = np.maximum(z, x0 - xn) + np.maximum(z, xn - x1)
        dy[none] = np.maximum(z, y0 - yn) + np.maximum(z, yn - y1)
    e = (dx ** 2 + dy ** 2) / variances / (gt_area[:, None] + np.spacing(1)) / 2
    keep = labelled.copy()
    keep[none] = True
    values = np.exp(-e[keep])                  # row-major: each pair's values contiguous
    count = np.where(k1 > 0, k1, k)
    offsets = np.zeros(n_pair + 1, dtype=np.int64)
    np.cumsum(count, out=offsets[1:])
    sums = np.empty(n_pair)
    if k <= 128:
        _segment_sums(values, offsets, sums)
    else:  # pragma: no cover - no keypoint set is this large
        sums[:] = [np.sum(values[offsets[i]:offsets[i + 1]]) for i in range(n_pair)]
    return sums / count


def keypoint_pair_oks(dataset, gt_row, dt_row, pair_gt, pair_dt, sigmas=None) -> np.ndarray:
    """OKS of every (detection, GT) pair (indices into ``dt_row`` / ``gt_row``, rows of
    ``dataset.predictions`` / ``dataset.annotations``). A detection without keypoints has OKS
    0 (pycocotools would raise); a GT without keypoints counts as having none labelled."""
    anns, preds = dataset.annotations, dataset.predictions
    if "keypoints" not in preds:
        raise ValueError("keypoint evaluation needs predictions with 'keypoints' "
                         "(COCO results: [x1, y1, s1, ..., xK, yK, sK] per detection)")
    sigmas = COCO_SIGMAS if sigmas is None else np.asarray(sigmas, dtype=float)
    gt_values = anns["keypoints"].to_numpy()[gt_row] if "keypoints" in anns else \
        [None] * len(gt_row)
    dt_values = preds["keypoints"].to_numpy()[dt_row]
    k = len(sigmas)
    gt_kps = keypoint_array(gt_values, k)
    dt_kps = keypoint_array(dt_values, k)
    gt_box = anns[BOX_COLUMNS].to_numpy(dtype=float)[gt_row]
    gt_area = anns["area"].to_numpy(dtype=float)[gt_row]
    out = oks(dt_kps[pair_dt], gt_kps[pair_gt], gt_box[pair_gt], gt_area[pair_gt], sigmas)
    has_dt = np.array([v is not None for v in dt_values], dtype=bool)
    out[~has_dt[pair_dt]] = 0.0
    return out

"""The Evaluator: IoUs once, matching once per slice, accumulation per image weighting.

Cost model (what a bootstrap or permutation test pays per call):

- ``Evaluator(dataset)``: all IoUs, the candidate pairs, the accumulation orders. Once.
- a new pair of masks (``ann_in_range``, ``pred_in_range``): one vectorised greedy matching
  (a loop over the at most 100 detection ranks, arrays over all images and categories) and the
  per-slice records. Cached by a hash of the masks (LRU, ``cache_size`` entries).
- new ``image_weights`` only: accumulation, a few cumsums over the detections.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from .accumulate import (MatchState, accumulate, count_gt, detection_orders, match_state,
                         summarize)
from .matching import build_inputs, candidate_pairs, greedy_match
from .params import AREA_RANGES, MAX_DETS, iou_index
from .result import EvaluationResult
from .slices import image_weights_from_ids, object_range_masks


def _outside(area: np.ndarray) -> np.ndarray:
    """[A, n]: pycocotools' ``area < lo or area > hi`` for each area range (NaN is inside)."""
    return (area[None, :] < AREA_RANGES[:, :1]) | (area[None, :] > AREA_RANGES[:, 1:])


def _as_mask(mask, n: int, what: str) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != (n,):
        raise ValueError(f"{what} must have one entry per row ({n}), got shape {mask.shape}")
    return mask.astype(bool, copy=False)


class Evaluator:
    """COCO bbox evaluation of one dataset, with IoUs and matchings cached for re-evaluation.

    >>> ev = Evaluator(dataset)
    >>> ev.evaluate().stats[0]                         # AP, as pycocotools
    >>> ev.evaluate(image_ids=[1, 2, 3])               # params.imgIds = [1, 2, 3]
    >>> ev.evaluate(object_range=("area", 0, 32**2))   # a metric slice
    >>> ev.evaluate_masks(ann, pred, image_weights=w)  # general form (bootstrap: w = counts)

    Semantics are those of pycocotools' default ``Params`` for ``iouType='bbox'``: images are
    the dataset's images, categories its categories; row order of the frames stands for file
    order (it breaks ties in scores and IoUs exactly as pycocotools' order does).
    """

    def __init__(self, dataset, iou_type: str = "bbox", cache_size: int = 16):
        if iou_type != "bbox":
            raise NotImplementedError(
                f"iou_type={iou_type!r} is not supported: only 'bbox' evaluation is implemented "
                "(mask IoU for 'segm' needs RLE masks of every prediction)")
        self.dataset = dataset
        self.iou_type = iou_type
        self.inputs = build_inputs(dataset)
        self.candidates = candidate_pairs(self.inputs)
        self.orders = detection_orders(self.inputs)
        self._gt_outside = _outside(self.inputs.gt_area)
        self._dt_outside = _outside(self.inputs.dt_area)
        self.cache_size = cache_size
        self._cache: OrderedDict = OrderedDict()
        self.category_names = list(dataset.categories["name"].reindex(
            self.inputs.category_ids).astype(object))

    # ---- matching -----------------------------------------------------------------------
    def state(self, ann_in_range=None, pred_in_range=None) -> MatchState:
        """The matching for a pair of masks (None = all True), from the cache if seen."""
        inputs = self.inputs
        ann = _as_mask(ann_in_range, inputs.n_annotations, "ann_in_range")
        pred = _as_mask(pred_in_range, inputs.n_predictions, "pred_in_range")
        key = hashlib.blake2b(digest_size=16)
        for mask in (ann, pred):
            key.update(b"all" if mask is None or mask.all() else
                       b"m" + np.packbits(mask).tobytes())
        key = key.digest()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        gt_ignore = inputs.gt_crowd[None, :] | self._gt_outside
        if ann is not None:
            gt_ignore = gt_ignore | ~ann[inputs.gt_row][None, :]
        dt_outside = self._dt_outside
        if pred is not None:
            dt_outside = dt_outside | ~pred[inputs.dt_row][None, :]
        match = greedy_match(self.candidates, gt_ignore, inputs.gt_crowd)
        state = match_state(inputs, self.candidates, self.orders, match, gt_ignore, dt_outside)
        self._cache[key] = state
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return state

    def _weights(self, image_weights) -> np.ndarray | None:
        """Weights per dataset.images row -> per image position (sorted ids)."""
        if image_weights is None:
            return None
        w = np.asarray(image_weights)
        if w.shape != (self.inputs.n_images,):
            raise ValueError(f"image_weights must have one entry per image "
                             f"({self.inputs.n_images}), got shape {w.shape}")
        if not np.issubdtype(w.dtype, np.integer):
            if not np.all(np.equal(np.mod(w, 1), 0)):
                raise ValueError("image_weights must be integer multiplicities")
        w = w.astype(np.int64)
        if (w < 0).any():
            raise ValueError("image_weights must be >= 0")
        out = np.empty(len(w), dtype=np.int64)
        out[self.inputs.image_pos_of_row] = w
        return out

    # ---- evaluation ---------------------------------------------------------------------
    def evaluate_masks(self, ann_in_range=None, pred_in_range=None, image_weights=None
                       ) -> EvaluationResult:
        """Evaluate with explicit slice masks and image multiplicities.

        ``ann_in_range`` (bool per ``dataset.annotations`` row): GT outside is ignored, like GT
        outside an area range. ``pred_in_range`` (bool per ``dataset.predictions`` row):
        *unmatched* detections outside are ignored. Both combine with the area ranges (the
        'all' range then is the slice itself). ``image_weights`` (int >= 0 per
        ``dataset.images`` row, None = all 1): image i counts w_i times, exactly as if it were
        duplicated w_i times with its copies next to it in image-id order; 0 drops it.
        """
        state = self.state(ann_in_range, pred_in_range)
        weights = self._weights(image_weights)
        if weights is None and state.unit_summary is not None:
            stats, n_gt = state.unit_summary          # every image once: already accumulated
        else:
            precision, recall, n_gt = accumulate(self.inputs, self.orders, state, weights,
                                                 stats_only=True)
            stats = summarize(precision, recall)
            if weights is None:
                state.unit_summary = (stats, n_gt)

        def full_arrays():
            return accumulate(self.inputs, self.orders, state, weights)[:2]

        return EvaluationResult(
            stats=stats.copy(), n_gt=n_gt,
            category_ids=self.inputs.category_ids, category_names=self.category_names,
            full_arrays=full_arrays, evaluator=self, state=state, weights=weights)

    def evaluate(self, image_ids=None, object_range=None, metrics=None) -> EvaluationResult:
        """Evaluate on the images ``image_ids`` (all when None) and the objects of
        ``object_range = (column, lo, hi)`` ([lo, hi), see :mod:`.slices`), the column read
        from ``metrics.objects`` / ``metrics.predictions`` or the dataset's frames."""
        ann = pred = None
        if object_range is not None:
            ann, pred = object_range_masks(self.dataset, object_range, metrics)
        weights = None if image_ids is None else image_weights_from_ids(self.dataset, image_ids)
        return self.evaluate_masks(ann, pred, weights)

    # ---- single measures ----------------------------------------------------------------
    def _unit(self, weights):
        return np.ones(len(self.inputs.image_ids), dtype=np.int64) if weights is None \
            else weights

    def count_predictions(self, state: MatchState, weights) -> np.ndarray:
        """[K] kept detections (maxDets 100) not outside the slice, with multiplicities."""
        order = self.orders[-1]
        w = self._unit(weights)[order.image] * ~state.dt_outside[0][order.dt]
        return np.bincount(self.inputs.dt_cat[order.dt], weights=w,
                           minlength=len(self.inputs.category_ids)).astype(np.int64)

    def precision_recall_at(self, state: MatchState, weights, score_threshold: float,
                            iou: float = 0.5) -> tuple[float, float]:
        """See :meth:`EvaluationResult.precision_recall_at`."""
        t = iou_index(iou)
        weights = self._unit(weights)
        m = len(MAX_DETS) - 1
        order, rec = self.orders[m], state.records(0, m)
        w_order = weights[order.image]
        above = order.score >= score_threshold
        counted = int(np.sum(w_order[above] * rec.default[above]))
        rec_above = above[rec.position]
        w_rec = w_order[rec.position][rec_above]
        tp = int(np.sum(w_rec * rec.tp[rec_above, t]))
        counted += int(np.sum(w_rec * rec.delta[rec_above, t]))
        n_gt = int(count_gt(self.inputs, state, weights)[:, 0].sum())
        precision = tp / counted if counted else float("nan")
        recall = tp / n_gt if n_gt else float("nan")
        return precision, recall


def evaluate(dataset, iou_type: str = "bbox", image_ids=None, object_range=None,
             metrics=None) -> EvaluationResult:
    """COCO detection evaluation of ``dataset`` (see :class:`Evaluator`), pycocotools-exact."""
    return Evaluator(dataset, iou_type=iou_type).evaluate(image_ids=image_ids,
                                                          object_range=object_range,
                                                          metrics=metrics)

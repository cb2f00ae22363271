"""The Evaluator: IoUs once, matching once per slice, accumulation per image weighting.

Cost model (what a bootstrap or permutation test pays per call):

- ``Evaluator(dataset)``: all IoUs, the candidate pairs, the accumulation orders. Once.
- a new pair of masks (``ann_in_range``, ``pred_in_range``): one vectorised greedy matching
  (a loop over the at most 100 detection ranks, arrays over all images and categories) and the
  per-slice records. Cached by a hash of the masks (LRU, ``cache_size`` entries).
- new ``image_weights`` only: accumulation, a few cumsums over the detections.
- one measure (:meth:`Evaluator.measure_many`, e.g. AP) for a batch of image weights: per
  weight vector, one compiled walk over the matched detections (a few ms at 500k
  predictions); the tables it reads are built once per matching (a pass over the detections).
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from .accumulate import MatchState, accumulate, count_gt, detection_orders, match_state, summarize
from .matching import build_inputs, candidate_pairs, greedy_match
from .measures import measure_many, measure_spec
from .params import AREA_RANGES, MAX_DETS, area_index, iou_index
from .result import EvaluationResult
from .slices import image_weights_from_ids, object_range_masks, slice_masks


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
    """COCO evaluation of one dataset, with IoUs and matchings cached for re-evaluation.

    >>> ev = Evaluator(dataset)
    >>> ev.evaluate().stats[0]                         # AP, as pycocotools
    >>> ev.evaluate(image_ids=[1, 2, 3])               # params.imgIds = [1, 2, 3]
    >>> ev.evaluate(object_range=("area", 0, 32**2))   # a metric slice
    >>> ev.evaluate(slice=Slice(categories=["dog"]))   # any Slice (quality_widgets.slicing)
    >>> ev.evaluate_masks(ann, pred, image_weights=w)  # general form (bootstrap: w = counts)

    Semantics are those of pycocotools' default ``Params`` for ``iouType``: images are
    the dataset's images, categories its categories; row order of the frames stands for file
    order (it breaks ties in scores and IoUs exactly as pycocotools' order does).

    ``iou_type``: "bbox" (box IoU), "segm" (mask IoU of the ``segmentation`` columns: polygons
    and RLE, crowd RLE regions; predictions without a mask are their box, as loadRes makes
    them; needs pycocotools for polygons, ``pip install 'quality-widgets[masks]'``) or
    "keypoints" (OKS of the ``keypoints`` columns with ``kpt_oks_sigmas``, COCO's 17 person
    sigmas by default; GT with ``num_keypoints == 0`` are ignored). Keypoint evaluation keeps
    pycocotools' keypoint parameters: 20 detections per image and category (the best 20;
    the others are left out before matching, so the arrays' maxDets=100 column is pycocotools'
    maxDets=20) and the area ranges all / medium / large; ``stats`` then holds its 10 numbers
    (AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl).
    """

    def __init__(self, dataset, iou_type: str = "bbox", cache_size: int = 16,
                 kpt_oks_sigmas=None):
        self.dataset = dataset
        self.iou_type = iou_type
        self.inputs = build_inputs(dataset, iou_type, kpt_oks_sigmas)
        self.candidates = candidate_pairs(self.inputs)
        self.orders = detection_orders(self.inputs)
        self._gt_outside = _outside(self.inputs.gt_area)
        self._dt_outside = _outside(self.inputs.dt_area)
        self.cache_size = cache_size
        self._cache: OrderedDict = OrderedDict()
        #: Slice-independent tables derived from the inputs (e.g. :mod:`.labelled`'s), kept.
        self.tables: dict = {}
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
        gt_ignore = inputs.gt_ignored[None, :] | self._gt_outside
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

    def slices_state(self, ann_masks, pred_masks, area: str = "all") -> MatchState:
        """One matching whose row i is the slice (``ann_masks[i]``, ``pred_masks[i]``) within
        the area range ``area`` (masks as in :meth:`evaluate_masks`): a single vectorised
        greedy matching for all slices, rows ``(area, i)``. Not cached (a permutation test
        makes a new one each time); measure it with :meth:`measure` (``slice_index=i``)."""
        if len(ann_masks) != len(pred_masks):
            raise ValueError("ann_masks and pred_masks must hold one mask per slice each")
        inputs = self.inputs
        a = area_index(area)
        gt_base = inputs.gt_ignored | self._gt_outside[a]
        gt_ignore = np.stack([
            gt_base | ~_as_mask(m, inputs.n_annotations, "ann_masks[i]")[inputs.gt_row]
            for m in ann_masks])
        dt_outside = np.stack([
            self._dt_outside[a] | ~_as_mask(m, inputs.n_predictions, "pred_masks[i]")[
                inputs.dt_row] for m in pred_masks])
        match = greedy_match(self.candidates, gt_ignore, inputs.gt_crowd)
        return match_state(inputs, self.candidates, self.orders, match, gt_ignore, dt_outside,
                           rows=[(area, i) for i in range(len(ann_masks))])

    def _weights(self, image_weights) -> np.ndarray | None:
        """Weights per dataset.images row -> per image position (sorted ids); also [B, n]."""
        if image_weights is None:
            return None
        w = np.asarray(image_weights)
        if w.shape[-1:] != (self.inputs.n_images,) or w.ndim > 2:
            raise ValueError(f"image_weights must have one entry per image "
                             f"({self.inputs.n_images}), got shape {w.shape}")
        if not np.issubdtype(w.dtype, np.integer) and not np.all(np.equal(np.mod(w, 1), 0)):
            raise ValueError("image_weights must be integer multiplicities")
        w = w.astype(np.int64)
        if (w < 0).any():
            raise ValueError("image_weights must be >= 0")
        out = np.empty(w.shape, dtype=np.int64)
        out[..., self.inputs.image_pos_of_row] = w
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
            stats = summarize(precision, recall, self.iou_type)
            if weights is None:
                state.unit_summary = (stats, n_gt)

        def full_arrays():
            return accumulate(self.inputs, self.orders, state, weights)[:2]

        return EvaluationResult(
            stats=stats.copy(), n_gt=n_gt,
            category_ids=self.inputs.category_ids, category_names=self.category_names,
            full_arrays=full_arrays, evaluator=self, state=state, weights=weights,
            iou_type=self.iou_type)

    def evaluate(self, image_ids=None, object_range=None, metrics=None, slice=None
                 ) -> EvaluationResult:
        """Evaluate on the images ``image_ids`` (all when None), the objects of
        ``object_range = (column, lo, hi)`` ([lo, hi), see :mod:`.slices`; the column must
        have values for annotations and predictions) and the rows of ``slice`` (a
        :class:`~quality_widgets.slicing.Slice`: its images, labels and predictions, by the
        rule of its class doc; unmatched detections it cannot place are ignored, with a
        DataWarning); all three AND together. Columns are read from ``metrics`` (MetricFrames)
        or the dataset's frames."""
        ann = pred = weights = None
        if object_range is not None:
            ann, pred = object_range_masks(self.dataset, object_range, metrics)
        if slice is not None:
            s_ann, s_pred, weights = slice_masks(self.dataset, slice, metrics)
            ann = s_ann if ann is None else ann & s_ann
            pred = s_pred if pred is None else pred & s_pred
        if image_ids is not None:
            chosen = image_weights_from_ids(self.dataset, image_ids)
            weights = chosen if weights is None else weights * chosen
        return self.evaluate_masks(ann, pred, weights)

    # ---- single measures ----------------------------------------------------------------
    def measure(self, state: MatchState, image_weights=None, measure: str = "AP",
                category=None, score_threshold: float = 0.5, slice_index: int = 0,
                iou: float | None = None) -> float:
        """One measure of a matching under image multiplicities, NaN where pycocotools gives
        -1 (no counted GT). See :meth:`measure_many` (this is its one-row case)."""
        weights = None if image_weights is None else np.asarray(image_weights)[None]
        return float(self.measure_many(state, weights, measure, category, score_threshold,
                                       slice_index, iou)[0])

    def measure_many(self, state: MatchState, weights_matrix, measure: str = "AP",
                     category=None, score_threshold: float = 0.5, slice_index: int = 0,
                     iou: float | None = None) -> np.ndarray:
        """[B] ``measure`` of ``state`` under each row of ``weights_matrix`` [B, n_images]
        (integer multiplicities per ``dataset.images`` row, as :meth:`evaluate_masks`; None =
        one row of ones).

        ``measure``: one of :data:`~.measures.MEASURES` — the 12 COCO numbers by name ("AP",
        "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"),
        for ``iou_type="keypoints"`` one of :data:`~.measures.KEYPOINT_MEASURES` (its 10:
        "AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"; any other
        name is a ValueError naming them), equal to
        ``evaluate_masks(..., image_weights=w).stats[i]`` (same doubles), or
        "precision" / "recall": ``TP / (TP + FP)`` and ``TP / counted GT`` of the detections
        with ``score >= score_threshold`` at IoU .5, area 'all', maxDets 100, pooled over
        categories (ignored detections count in neither). ``category`` (id or name): the
        measure of that category alone (``EvaluationResult.category_ap`` for AP).
        ``slice_index``: the slice of a :meth:`slices_state` matching (0 for :meth:`state`).
        ``iou``: the IoU threshold of "precision" / "recall" (default .5).
        Only what the measure needs is computed, from tables kept with ``state``.
        """
        spec = measure_spec(measure, iou, self.iou_type)
        row = state.row_of(spec.area, slice_index)
        k = None if category is None else self.category_index(category)
        if weights_matrix is None:
            weights = np.ones((1, len(self.inputs.image_ids)), dtype=np.int64)
        else:
            weights = self._weights(weights_matrix)
            if weights.ndim != 2:
                raise ValueError("weights_matrix must be [B, n_images]")
        return measure_many(state, weights, spec, row, k, score_threshold)

    def measure_labelled(self, ann_labels, pred_labels, n_slices: int, measure: str = "AP",
                         category=None, score_threshold: float = 0.5, permutations: int = 0,
                         seed: int = 0, permutable=None) -> np.ndarray:
        """``measure`` on every slice of an object labelling, or of random relabellings.

        ``ann_labels`` / ``pred_labels``: int per ``dataset.annotations`` /
        ``dataset.predictions`` row, the slice ``0 .. n_slices - 1`` or -1 (none). Slice s is
        the slice of :meth:`slices_state` with masks ``labels == s`` (GT labelled otherwise
        ignored, unmatched detections labelled otherwise ignored). ``permutations`` = 0:
        [n_slices], the same doubles as ``measure_many(slices_state(...), slice_index=s)``;
        n > 0: [n, n_slices], each row the slices after shuffling the annotation labels among
        the annotations and the prediction labels among the predictions (a permutation
        test's null distribution), reproducible from ``seed``. ``permutable``: None (every
        row), or ``(annotation rows, prediction rows)``, bool masks: only the labels of those
        rows are shuffled, among themselves, and the other rows keep theirs (a permutation
        within a slice: the rows outside it stay labelled -1). The matching of the
        components that do not depend on the labels is reused (see :mod:`.labelled`): a
        relabelling costs about one pass over the detections.
        """
        from .labelled import HAVE_NUMBA as compiled
        from .labelled import labelled_measures
        spec = measure_spec(measure, iou_type=self.iou_type)
        ann_labels = np.asarray(ann_labels, dtype=np.int64)
        pred_labels = np.asarray(pred_labels, dtype=np.int64)
        if ann_labels.shape != (self.inputs.n_annotations,) or \
                pred_labels.shape != (self.inputs.n_predictions,):
            raise ValueError("ann_labels and pred_labels need one label per annotation and "
                             "per prediction row")
        if permutable is not None:
            permutable = (_as_mask(permutable[0], self.inputs.n_annotations, "permutable[0]"),
                          _as_mask(permutable[1], self.inputs.n_predictions, "permutable[1]"))
        k = None if category is None else self.category_index(category)
        if compiled and spec.kind != "at_score":
            return labelled_measures(self, spec, ann_labels, pred_labels, n_slices, k,
                                     permutations, seed, permutable)
        rows = [slice(None) if m is None else m for m in (permutable or (None, None))]
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(max(int(permutations), 1)):
            a, p = ann_labels, pred_labels
            if permutations:
                a, p = a.copy(), p.copy()
                a[rows[0]] = rng.permutation(a[rows[0]])
                p[rows[1]] = rng.permutation(p[rows[1]])
            state = self.slices_state([a == s for s in range(n_slices)],
                                      [p == s for s in range(n_slices)], spec.area)
            out.append([self.measure(state, None, measure, category, score_threshold, s)
                        for s in range(n_slices)])
        out = np.array(out, dtype=float)
        return out if permutations else out[0]

    def counted_gt(self, state: MatchState, image_weights=None, area: str = "all",
                   slice_index: int = 0) -> np.ndarray:
        """[K] counted (non-ignored) GT per category of a matching row, with multiplicities
        (pycocotools' ``npig``)."""
        counted = state.gt_counted[state.row_of(area, slice_index)]
        weights = self._weights(image_weights)
        w = None if weights is None else weights[self.inputs.gt_image[counted]]
        return np.bincount(self.inputs.gt_cat[counted], weights=w,
                           minlength=len(self.inputs.category_ids)).astype(np.int64)

    def category_index(self, category) -> int:
        """Position in ``inputs.category_ids`` of a category id, or of a category name."""
        ids = self.inputs.category_ids
        from ..frames import unknown_name_message
        if isinstance(category, str) and category not in [str(c) for c in ids]:
            if category not in self.category_names:
                raise KeyError(unknown_name_message(category, self.category_names, "category"))
            return self.category_names.index(category)
        cid = int(category)
        k = int(np.searchsorted(ids, cid))
        if k >= len(ids) or ids[k] != cid:
            raise KeyError(unknown_name_message(cid, [int(i) for i in ids], "category id"))
        return k

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
             metrics=None, kpt_oks_sigmas=None, slice=None) -> EvaluationResult:
    """COCO evaluation of ``dataset`` (see :class:`Evaluator`), pycocotools-exact:
    ``iou_type`` "bbox", "segm" (masks) or "keypoints" (OKS). ``image_ids``,
    ``object_range = (column, lo, hi)`` and ``slice`` (a
    :class:`~quality_widgets.slicing.Slice`, e.g. ``explorer.slice``) restrict it, as
    :meth:`Evaluator.evaluate`.
    A dataset without labels or without predictions is a :class:`DatasetError` (pycocotools'
    -1 for "nothing to measure" is not a result)."""
    from ..data.checks import require_labels, require_predictions
    require_labels(dataset, "COCO evaluation")
    if not getattr(dataset, "has_predictions", False):
        require_predictions(dataset, "COCO evaluation")
    return Evaluator(dataset, iou_type=iou_type, kpt_oks_sigmas=kpt_oks_sigmas).evaluate(
        image_ids=image_ids, object_range=object_range, metrics=metrics, slice=slice)

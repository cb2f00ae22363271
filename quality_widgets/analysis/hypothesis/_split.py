"""The sides of a split and the measure on each, for any image weights or object labelling.

A split is a metric's values and the edges of its ranges (``[edge_i, edge_i+1)``, see
:func:`~quality_widgets.slicing.bin_masks`): two sides for the test, the quantile bins for the
curve. :class:`_Split` evaluates them with the evaluation engine's public measure API: an
image split as 0/1 image weights of one matching, an object split as the slices of one
matching (:meth:`Evaluator.slices_state`), relabelled for a permutation
(:meth:`Evaluator.measure_labelled`).

**Within a slice** (:class:`_Within`: a :class:`~quality_widgets.slicing.Slice`'s rows,
:meth:`~quality_widgets.slicing.Slice.evaluation_masks`), every side is the side within the
slice and every resample is drawn within it. Image split: a side's images are the side's
images in the slice, matched on the slice's labels and predictions; permutations, random
halves and bootstrap resamples draw only the slice's images (whole videos in a video
dataset). Object split: rows outside the slice are in no side, and a permutation shuffles the
values among the slice's rows only (annotations and predictions apart).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...evaluation import Evaluator
from ...evaluation.measures import measure_spec
from ...slicing import bin_masks
from ..statistics import cluster_permutation
from ._resampling import half_weights, seed64


@dataclass
class Side:
    """One side of the split: counts and the measure (NaN when undefined).

    ``n_images``: images of the side (image split), or images holding at least one of the
    side's counted annotations (object split). ``n_annotations``: counted GT (not crowd, in
    the side, in the measure's area range and category). ``n_categories``: categories with
    counted GT, the ones the measure averages over. ``n_predictions``: predictions in the
    side's images (image split) or whose own value is in the side's range (object split), of
    the measure's category if one is chosen.
    """

    n_images: int
    n_annotations: int
    n_predictions: int
    value: float
    n_categories: int = 0


class _Measure:
    """One named measure (:data:`~quality_widgets.evaluation.measures.MEASURES`) of an
    evaluator's matchings, for any image weights: :meth:`Evaluator.measure_many`, whose numbers
    are pycocotools' (the same doubles as ``evaluate_masks(...).stats``). Weights here are per
    image *position* (sorted ids)."""

    def __init__(self, evaluator: Evaluator, name: str, category=None,
                 score_threshold: float = 0.5):
        self.spec = measure_spec(name, iou_type=evaluator.iou_type)   # ValueError naming all
        self.ev, self.inputs = evaluator, evaluator.inputs
        self.name = self.spec.name
        self.area = self.spec.area          # area range label
        self.score_threshold = float(score_threshold)
        self.k = None if category is None else evaluator.category_index(category)
        self.category = None if category is None else int(self.inputs.category_ids[self.k])

    def rows(self, weights: np.ndarray) -> np.ndarray:
        """Weights per image position -> per ``dataset.images`` row (the evaluator's input)."""
        return weights[..., self.inputs.image_pos_of_row]

    def many(self, state, weights, slice_index: int = 0) -> np.ndarray:
        """[B] the measure under each row of ``weights`` [B, n_images] (positions), NaN where
        pycocotools gives -1 (no counted GT)."""
        return self.ev.measure_many(state, self.rows(weights), self.name, self.category,
                                    self.score_threshold, slice_index)

    def counted_gt(self, state, slice_index: int, weights=None) -> np.ndarray:
        """[K] counted (non-ignored) GT per category, with image multiplicities (positions)."""
        return self.ev.counted_gt(state, None if weights is None else self.rows(weights),
                                  self.area, slice_index)


def _labels(values: np.ndarray, edges, inside=None) -> np.ndarray:
    """The range index of each value (see :func:`~quality_widgets.slicing.bin_masks`), -1 for
    none and for the rows not ``inside`` (bool per value; None: all)."""
    out = np.full(len(values), -1, dtype=np.int64)
    for i, mask in enumerate(_bins(values, edges, inside)):
        out[mask] = i
    return out


def _bins(values: np.ndarray, edges, inside=None) -> list:
    """:func:`~quality_widgets.slicing.bin_masks` of the rows ``inside`` (None: all)."""
    masks = bin_masks(values, edges)
    return masks if inside is None else [m & inside for m in masks]


@dataclass(frozen=True)
class _Within:
    """The rows a split runs within: a slice's images (bool per image *position*),
    annotations and predictions (bool per ``dataset`` row)."""

    images: np.ndarray
    annotations: np.ndarray
    predictions: np.ndarray

    @classmethod
    def of(cls, evaluator: Evaluator, masks) -> _Within:
        """From :class:`~quality_widgets.slicing.SliceMasks` (rows of ``dataset.images``)."""
        images = np.empty(len(masks.images), dtype=bool)
        images[evaluator.inputs.image_pos_of_row] = masks.images
        return cls(images, np.asarray(masks.annotations, bool),
                   np.asarray(masks.predictions, bool))


class _Split:
    """The two (or more) sides of a split, evaluable for any permutation / resample.

    Image split: one matching (every object counted), sides are image weights 0/1.
    Object split: one matching whose slices are the sides (:meth:`Evaluator.slices_state`);
    permutations relabel objects (:meth:`Evaluator.measure_labelled`).
    """

    def __init__(self, evaluator: Evaluator, measure: _Measure, level: str, values,
                 pred_values=None, clusters=None, within: _Within | None = None):
        self.ev, self.measure, self.level = evaluator, measure, level
        self.clusters = clusters      # video of each image position (None: all independent)
        self.inputs = evaluator.inputs
        self.values = np.asarray(values, dtype=float)     # per image position / annotation row
        self.pred_values = None if pred_values is None else np.asarray(pred_values, float)
        self.within = within          # the slice's rows (None: every row)
        n_img = len(self.inputs.image_ids)
        #: The images drawn from (a slice's; every image without one), by position.
        self.images = np.ones(n_img, dtype=bool) if within is None else within.images
        self._ann_in, self._pred_in = (None, None) if within is None else \
            (within.annotations, within.predictions)
        if level == "image":
            self._image_state = evaluator.state(self._ann_in, self._pred_in)

    # -- one split ----------------------------------------------------------------------
    def state(self, edges, values=None, pred_values=None):
        """(state, side image masks) for the ranges ``edges`` of the given values."""
        values = self.values if values is None else values
        if self.level == "image":
            return self._image_state, [m.astype(np.int64)
                                       for m in _bins(values, edges, self._images_in())]
        pred_values = self.pred_values if pred_values is None else pred_values
        state = self.ev.slices_state(_bins(values, edges, self._ann_in),
                                     _bins(pred_values, edges, self._pred_in),
                                     self.measure.area)
        return state, None

    def _images_in(self):
        """The slice's images by position, None without a slice."""
        return None if self.within is None else self.images

    def values_many(self, state, side_weights, weights) -> np.ndarray:
        """[B, sides] the measure on every side, with image multiplicities ``weights``
        [B, n_images] (positions)."""
        if self.level == "image":
            return np.stack([self.measure.many(state, weights * sw) for sw in side_weights],
                            axis=1)
        return np.stack([self.measure.many(state, weights, i)
                         for i in range(len(state.rows))], axis=1)

    def values_of(self, state, side_weights, weights=None) -> np.ndarray:
        """The measure on every side, with image multiplicities ``weights`` (None = 1)."""
        if weights is None:
            weights = np.ones(len(self.inputs.image_ids), dtype=np.int64)
        return self.values_many(state, side_weights, np.asarray(weights)[None])[0]

    def sides(self, edges, state, side_weights) -> list:
        """:class:`Side` counts and values of the observed split."""
        inputs, measure = self.inputs, self.measure
        values = self.values_of(state, side_weights)
        out = []
        for r, value in enumerate(values):
            if self.level == "image":
                slice_index, w = 0, side_weights[r]
                n_images = int(w.sum())
                dt_in = w[inputs.dt_image].astype(bool)
            else:
                slice_index, w = r, None
                dt_in = bin_masks(self.pred_values[inputs.dt_row], edges)[r]
            if self._pred_in is not None:
                dt_in = dt_in & self._pred_in[inputs.dt_row]
            npig = measure.counted_gt(state, slice_index, w)
            counted = state.gt_counted[state.row_of(measure.area, slice_index)] & (
                True if w is None else w[inputs.gt_image].astype(bool))
            if measure.k is not None:
                counted &= inputs.gt_cat == measure.k
                dt_in = dt_in & (inputs.dt_cat == measure.k)
                npig = npig[measure.k:measure.k + 1]
            if self.level == "object":
                n_images = len(np.unique(inputs.gt_image[counted]))
            out.append(Side(n_images=n_images, n_annotations=int(npig.sum()),
                            n_predictions=int(dt_in.sum()), value=float(value),
                            n_categories=int(np.count_nonzero(npig))))
        return out

    # -- the split under a resample (the draws: ._resampling) ----------------------------
    def bootstrap(self, edges, state, side_weights, seed, n) -> np.ndarray:
        """[n, sides] measures on ``n`` bootstrap resamples of the images (one batched
        measure per side)."""
        if n == 0:
            return np.empty((0, len(edges) - 1))
        rng = np.random.default_rng(seed)
        drawn = np.flatnonzero(self.images)         # every image, or the slice's
        n_in = len(drawn)
        weights = np.zeros((n, len(self.images)), dtype=np.int64)
        for b in range(n):
            weights[b, drawn] = rng.multinomial(n_in, np.full(n_in, 1.0 / n_in))
        return self.values_many(state, side_weights, weights)

    def permutations(self, edges, seed, n) -> np.ndarray:
        """[n, sides] measures with the metric values shuffled (see the package doc)."""
        n_sides = len(edges) - 1
        if n == 0:
            return np.empty((0, n_sides))
        if self.level == "image":
            # The matching does not change: only which images are on which side. All n
            # permutations are one batched measure per side.
            rng = np.random.default_rng(seed)
            sides = [_bins(self._permuted_values(rng), edges, self._images_in())
                     for _ in range(n)]
            return np.stack([self.measure.many(self._image_state,
                                               np.array([p[s] for p in sides], dtype=np.int64))
                             for s in range(n_sides)], axis=1).reshape(n, -1)
        measure = self.measure
        pred_values = self.pred_values if self.pred_values is not None else \
            np.zeros(self.inputs.n_predictions)
        permutable = None if self.within is None else (self._ann_in, self._pred_in)
        return self.ev.measure_labelled(_labels(self.values, edges, self._ann_in),
                                        _labels(pred_values, edges, self._pred_in),
                                        n_sides, measure.name, measure.category,
                                        measure.score_threshold, permutations=n,
                                        seed=seed64(seed), permutable=permutable)

    def _permuted_values(self, rng) -> np.ndarray:
        """The image values shuffled among the images drawn from (whole videos together);
        the others keep theirs (they are in no side)."""
        drawn = self.images
        out = self.values.copy()
        if self.clusters is None:
            out[drawn] = rng.permutation(self.values[drawn])
        else:
            out[drawn] = cluster_permutation(self.values[drawn], self.clusters[drawn], rng)
        return out

    def half_differences(self, edges, state, side_weights, seed, n) -> np.ndarray:
        """[n, sides] ``m(H) - m(H')`` for random halves H, H' of each side's images (image
        split) or of all images, the slice's with one (object split): see
        :func:`~quality_widgets.analysis.hypothesis.slice_interval`."""
        rng = np.random.default_rng(seed)
        n_img = len(self.inputs.image_ids)
        n_sides = len(edges) - 1
        out = np.empty((n, n_sides))
        for s in range(n_sides):
            images = np.flatnonzero(side_weights[s] if self.level == "image" else
                                    self.images)
            clusters = None if self.clusters is None else self.clusters[images]
            halves = half_weights(rng, images, n_img, n, clusters)
            if self.level == "image":
                v = self.measure.many(state, halves)
            else:
                v = self.measure.many(state, halves, s)
            out[:, s] = v[0::2] - v[1::2]
        return out

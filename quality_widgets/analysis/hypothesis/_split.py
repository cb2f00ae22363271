"""The sides of a split and the measure on each, for any image weights or object labelling.

A split is a metric's values and the edges of its ranges (``[edge_i, edge_i+1)``, see
:func:`~quality_widgets.slicing.bin_masks`): two sides for the test, the quantile bins for the
curve. :class:`_Split` evaluates them with the evaluation engine's public measure API: an
image split as 0/1 image weights of one matching, an object split as the slices of one
matching (:meth:`Evaluator.slices_state`), relabelled for a permutation
(:meth:`Evaluator.measure_labelled`).
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


def _labels(values: np.ndarray, edges) -> np.ndarray:
    """The range index of each value (see :func:`~quality_widgets.slicing.bin_masks`), -1 for
    none."""
    out = np.full(len(values), -1, dtype=np.int64)
    for i, mask in enumerate(bin_masks(values, edges)):
        out[mask] = i
    return out


class _Split:
    """The two (or more) sides of a split, evaluable for any permutation / resample.

    Image split: one matching (every object counted), sides are image weights 0/1.
    Object split: one matching whose slices are the sides (:meth:`Evaluator.slices_state`);
    permutations relabel objects (:meth:`Evaluator.measure_labelled`).
    """

    def __init__(self, evaluator: Evaluator, measure: _Measure, level: str, values,
                 pred_values=None, clusters=None):
        self.ev, self.measure, self.level = evaluator, measure, level
        self.clusters = clusters      # video of each image position (None: all independent)
        self.inputs = evaluator.inputs
        self.values = np.asarray(values, dtype=float)     # per image position / annotation row
        self.pred_values = None if pred_values is None else np.asarray(pred_values, float)
        if level == "image":
            self._image_state = evaluator.state()

    # -- one split ----------------------------------------------------------------------
    def state(self, edges, values=None, pred_values=None):
        """(state, side image masks) for the ranges ``edges`` of the given values."""
        values = self.values if values is None else values
        if self.level == "image":
            return self._image_state, [m.astype(np.int64) for m in bin_masks(values, edges)]
        pred_values = self.pred_values if pred_values is None else pred_values
        state = self.ev.slices_state(bin_masks(values, edges),
                                     bin_masks(pred_values, edges), self.measure.area)
        return state, None

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
        n_img = len(self.inputs.image_ids)
        weights = np.stack([rng.multinomial(n_img, np.full(n_img, 1.0 / n_img))
                            for _ in range(n)])
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
            if self.clusters is None:
                sides = [bin_masks(rng.permutation(self.values), edges) for _ in range(n)]
            else:
                sides = [bin_masks(cluster_permutation(self.values, self.clusters, rng), edges)
                         for _ in range(n)]
            return np.stack([self.measure.many(self._image_state,
                                               np.array([p[s] for p in sides], dtype=np.int64))
                             for s in range(n_sides)], axis=1).reshape(n, -1)
        measure = self.measure
        pred_values = self.pred_values if self.pred_values is not None else \
            np.zeros(self.inputs.n_predictions)
        return self.ev.measure_labelled(_labels(self.values, edges), _labels(pred_values, edges),
                                        n_sides, measure.name, measure.category,
                                        measure.score_threshold, permutations=n,
                                        seed=seed64(seed))

    def half_differences(self, edges, state, side_weights, seed, n) -> np.ndarray:
        """[n, sides] ``m(H) - m(H')`` for random halves H, H' of each side's images (image
        split) or of all images (object split): see
        :func:`~quality_widgets.analysis.hypothesis.slice_interval`."""
        rng = np.random.default_rng(seed)
        n_img = len(self.inputs.image_ids)
        n_sides = len(edges) - 1
        out = np.empty((n, n_sides))
        for s in range(n_sides):
            images = np.flatnonzero(side_weights[s]) if self.level == "image" else \
                np.arange(n_img)
            clusters = None if self.clusters is None else self.clusters[images]
            halves = half_weights(rng, images, n_img, n, clusters)
            if self.level == "image":
                v = self.measure.many(state, halves)
            else:
                v = self.measure.many(state, halves, s)
            out[:, s] = v[0::2] - v[1::2]
        return out

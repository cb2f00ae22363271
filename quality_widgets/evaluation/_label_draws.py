"""How :mod:`.labelled` draws random labels: compiled, seeded, without replacement.

A permutation test shuffles the slice labels of the annotations among the annotations and of
the predictions among the predictions. Only the rows the evaluation reads get a label, drawn
one slot at a time from the multiset of labels left (sequential selection: slot i takes label
j with probability ``remaining_j / remaining``): a uniform draw without replacement, which is
the distribution of a uniform permutation of every row's label restricted to the slots read.

**Permutable rows.** A slot whose ``fixed`` entry is :data:`DRAW` gets a drawn label; any other
entry is the slot's own label, kept (no draw). With the counts of the permutable rows' labels
only, this is a uniform permutation of the labels among the permutable rows, the others
unchanged: the object split of a slice shuffles within the slice. With every slot
:data:`DRAW`, the draws are the very ones of an unrestricted permutation (same seed, same
labels).
"""
from __future__ import annotations

import numpy as np

from .measures import HAVE_NUMBA

if HAVE_NUMBA:  # pragma: no branch
    from numba import njit

#: The ``fixed`` entry of a slot whose label is drawn (any other entry is kept as its label).
DRAW = -2


def _uniform(state):
    """The next SplitMix64 uniform in [0, 1) (Steele, Lea & Flood 2014); ``state[0]`` is
    its 64-bit state, advanced."""
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


def _draw(c, remaining, state):
    """Index j drawn with probability ``c[j] / remaining`` (``remaining`` = sum of ``c``: the
    counts left), branch-free; ``c[j]`` is decremented."""
    u = _uniform(state) * remaining
    j = 0
    acc = c[0]
    for q in range(1, len(c)):
        j += u >= acc
        acc += c[q]
    while c[j] == 0:               # rounding at the very top: the last label left
        j -= 1
    c[j] -= 1
    return j


def _sample_fixed(counts, state, fixed, out):
    """Fill ``out``: slots whose ``fixed`` is :data:`DRAW` with a uniform draw without
    replacement from the multiset holding ``counts[j]`` copies of label ``j - 1`` (label -1:
    none), the others with their ``fixed`` label (uniforms from :func:`_uniform`, ``state``
    advanced)."""
    c = counts.copy()
    remaining = 0
    for j in range(len(c)):
        remaining += c[j]
    for i in range(len(out)):
        f = fixed[i]
        if f == DRAW:
            out[i] = _draw(c, remaining, state) - 1
            remaining -= 1
        else:
            out[i] = f


def _sample_labels(counts, state, out):
    """:func:`_sample_fixed` with every slot drawn."""
    _sample_fixed(counts, state, np.full(len(out), DRAW, np.int64), out)


def _sample_free_counts(counts, state, fixed, pos_inside, is_rec, cat_start, cat_stop,
                        rec_pos, rec_cat_start, k_lo, k_hi, records_only, free_at_rec,
                        free_at_cat, rec_label):
    """The record labels and free counts (:func:`.labelled._free_counts`) of a random
    labelling of the ordered detections, drawn as :func:`_sample_fixed` draws (``fixed``: per
    position, or per record with ``records_only``), for the categories ``k_lo .. k_hi - 1``
    only.

    Only the detections whose labels can change the measure get one: in each category, those
    up to its last record (after it, the curve reads nothing), and with ``records_only`` (a
    recall) the records alone. The labels of a subset of the slots are a uniform draw from the
    multiset as well, so skipping the others changes no distribution. Free detections are
    counted, never stored; ``free_at_cat`` holds the running count at each category's start
    (the curve reads differences within a category)."""
    c = counts.copy()
    n_sides = free_at_rec.shape[0]
    remaining = 0
    for j in range(len(c)):
        remaining += c[j]
    free = np.zeros(n_sides, np.int64)
    for k in range(k_lo, k_hi):
        for s in range(n_sides):
            free_at_cat[s, k] = free[s]
        if records_only:
            lo, hi = rec_cat_start[k], rec_cat_start[k + 1]
        else:
            lo, hi = cat_start[k], cat_stop[k]
        r = rec_cat_start[k]
        for i in range(lo, hi):
            f = fixed[i]
            if f == DRAW:
                j = _draw(c, remaining, state)
                remaining -= 1
            else:
                j = f + 1
            if records_only or is_rec[i]:
                rec_label[r] = j - 1
                for s in range(n_sides):
                    free_at_rec[s, r] = free[s]
                r += 1
            elif j > 0 and pos_inside[i]:
                free[j - 1] += 1
    for s in range(n_sides):
        free_at_cat[s, k_hi] = free[s]


if HAVE_NUMBA:
    _uniform = njit(cache=True, nogil=True, inline="always")(_uniform)
    _draw = njit(cache=True, nogil=True, inline="always")(_draw)
    _sample_fixed = njit(cache=True, nogil=True)(_sample_fixed)
    _sample_labels = njit(cache=True, nogil=True)(_sample_labels)
    _sample_free_counts = njit(cache=True, nogil=True)(_sample_free_counts)


def fixed_labels(labels: np.ndarray, permutable) -> np.ndarray:
    """The ``fixed`` array of rows with ``labels``: :data:`DRAW` where ``permutable`` (bool per
    row; None: every row), the row's own label elsewhere."""
    if permutable is None:
        return np.full(len(labels), DRAW, dtype=np.int64)
    return np.where(np.asarray(permutable, dtype=bool), DRAW, labels).astype(np.int64)


def permutable_counts(labels: np.ndarray, permutable, n_slices: int) -> np.ndarray:
    """``counts[j]``: permutable rows labelled ``j - 1`` (the multiset a permutation draws
    from)."""
    if permutable is not None:
        labels = labels[np.asarray(permutable, dtype=bool)]
    return np.bincount(labels + 1, minlength=n_slices + 1).astype(np.int64)

"""The ``reason`` of each candidate row: which evidence gave the score, in numbers."""
from __future__ import annotations

import numpy as np

from ._evidence import _box_iou


def _fmt(x) -> str:
    return f"{x:.2f}"


def _swap_reasons(sc, real, ev_scores, cats, sug_names, emb_part, label_box, p_box):
    """Why each real label got its swapped score: the other class's prediction, and (with
    embeddings, ``emb_part`` = (evidence, agreement, majority)) its neighbours' labels."""
    out = []
    idx = np.flatnonzero(real)
    for n, i in enumerate(idx):
        j = sc.swap_pred[i]
        parts = []
        if j >= 0 and sc.swap[i] > 0.01:
            iou = float(_box_iou(p_box[j:j + 1], label_box[i:i + 1])[0])
            parts.append(f"labelled {cats[n]}, but the detector sees {sug_names[n]} here "
                         f"(score {_fmt(ev_scores[i])}, precision {_fmt(sc.q[j])}, IoU "
                         f"{_fmt(iou)}) and no confident {cats[n]} (support "
                         f"{_fmt(sc.support[i])})")
        if emb_part is not None:
            emb, agree, _maj = emb_part
            if emb[n] > 0:
                parts.append(f"only {100 * agree[n]:.0f}% of its nearest neighbours by "
                             f"embedding are {cats[n]}")
        if not parts:
            parts.append(f"the class {cats[n]} is supported (support {_fmt(sc.support[i])}) "
                         f"or no other class is seen here")
        out.append("; ".join(parts))
    return out


def _location_reasons(sc, real, idx, p_score, label_box, p_box, cats):
    """Why each real label got its badly-located score (``idx``: its evidence prediction)."""
    out = []
    rows = np.flatnonzero(real)
    for n, i in enumerate(rows):
        j = idx[n]
        if j >= 0 and sc.location[i] > 0.01:
            iou = float(_box_iou(p_box[j:j + 1], label_box[i:i + 1])[0])
            out.append(f"the detector's {cats[n]} (score {_fmt(p_score[j])}, precision "
                       f"{_fmt(sc.q[j])}) overlaps this box only at IoU {_fmt(iou)}, and no "
                       f"other label explains it")
        else:
            out.append(f"no misaligned {cats[n]} prediction, or the box is supported "
                       f"(support {_fmt(sc.support[i])})")
    return out


def _spurious_reasons(sc, real, cats):
    """Why each real label got its spurious score: how much is there, how often the detector
    sees such labels."""
    return [f"no prediction of any class is there (best evidence {t:.2f}); the detector sees "
            f"{100 * r:.0f}% of {c} labels of this size" if s > 0.05 else
            f"something is there (evidence {t:.2f})"
            for s, t, r, c in zip(sc.spurious[real], sc.present[real], sc.recall[real], cats,
                                  strict=True)]


def _overlooked_reasons(sc, cats, p_score, label_cat, ann_ids, names):
    """Why each prediction got its overlooked score (or why it is not one)."""
    out = []
    for j in range(len(cats)):
        if sc.ignored[j]:
            out.append(f"inside a crowd region of {cats[j]} (ignored, as pycocotools does)")
        elif sc.covered[j] >= 0.5 and sc.covered_label[j] >= 0:
            i = sc.covered_label[j]
            out.append(f"covered by label {ann_ids[i]} ({names.get(label_cat[i], '?')})")
        elif sc.claimed[j] >= 0.5:
            out.append(f"{cats[j]} predicted where a poorly supported {cats[j]} label should be "
                       f"(see badly located)")
        elif sc.duplicate[j] >= 0.5:
            out.append("a second box on an object already flagged")
        else:
            where = (f"other {cats[j]} labels in the image" if sc.context[j] else
                     f"no other {cats[j]} label in the image")
            out.append(f"{cats[j]} predicted with score {_fmt(p_score[j])} (precision "
                       f"{_fmt(sc.q[j])} at this score, {_fmt(sc.q_over[j])} with {where}) "
                       f"and no label covers it")
    return out

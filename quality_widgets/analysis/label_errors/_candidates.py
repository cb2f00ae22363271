"""Candidate label errors: :func:`find_label_errors` (inputs -> matching evidence and scores ->
candidate rows -> ranking), their frame columns (:func:`add_label_scores`), and who labelled
what (:func:`annotators_of`)."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...data.schema import BOX_COLUMNS
from ...errors import DataWarning
from ._agreement import _embedding_array, label_agreement
from ._reasons import _location_reasons, _overlooked_reasons, _spurious_reasons, _swap_reasons
from ._scores import Scores, score_arrays

KINDS = ("overlooked", "swapped", "badly_located", "spurious")
LABEL_KINDS = ("swapped", "badly_located", "spurious")
# Frame column of each kind's score.
SCORE_COLUMNS = {"swapped": "swap_score", "badly_located": "location_score",
                 "spurious": "spurious_score", "overlooked": "overlooked_score"}
_CANDIDATE_DTYPES = {"kind": object, "score": float, "image_id": "int64",
                     "annotation_id": "Int64", "prediction_id": "Int64",
                     "category_id": "Int64", "category": object,
                     "suggested_category_id": "Int64", "suggested_category": object,
                     "bbox": object, "suggested_bbox": object, "reason": object}
CANDIDATE_COLUMNS = list(_CANDIDATE_DTYPES)
ANNOTATOR_FIELDS = ("annotator", "created_by", "annotator_id")


def empty_candidates() -> pd.DataFrame:
    """The candidates frame with no rows (the columns of :func:`find_label_errors`)."""
    return pd.DataFrame({name: pd.Series(dtype=dtype)
                         for name, dtype in _CANDIDATE_DTYPES.items()})


def annotator_column(ds) -> str | None:
    """The first of ``annotator``, ``created_by``, ``annotator_id`` that the annotations (or,
    failing that, the images) carry, or None."""
    for frame in (ds.annotations, ds.images):
        for name in ANNOTATOR_FIELDS:
            if name in frame.columns and frame[name].notna().any():
                return name
    return None


def annotators_of(ds, column: str | None = None) -> pd.Series:
    """The annotator of every annotation (from its own field, else its image's), as strings;
    None where unknown."""
    column = column or annotator_column(ds)
    anns = ds.annotations
    out = pd.Series([None] * len(anns), index=anns.index, dtype=object)
    if column is None:
        return out
    if column in ds.images.columns:
        by_image = ds.images[column].reindex(anns["image_id"].to_numpy()).to_numpy(dtype=object)
        out[:] = by_image
    if column in anns.columns:
        own = anns[column].to_numpy(dtype=object)
        has = pd.notna(own)
        out[has] = own[has]
    return out.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v))
                   else str(v))


def find_label_errors(ds, metrics=None, *, embeddings=None, k: int = 10,
                      separate_by: str | None = None, per_class_calibration: bool = True,
                      kinds=KINDS) -> pd.DataFrame:
    """Candidate label errors of ``ds``, most likely first: one row per scored item and kind.

    Every non-crowd annotation gets a row for each of ``"swapped"``, ``"badly_located"`` and
    ``"spurious"``, every prediction one for ``"overlooked"`` (so ``.head(k)`` of one kind is
    its ranking). Columns: ``kind``, ``score`` in [0, 1] (higher = more likely an error),
    ``image_id``, ``annotation_id`` (label kinds), ``prediction_id`` (the evidence; the item
    itself for overlooked), ``category_id`` / ``category`` (of the item), the fix the evidence
    points to (``suggested_category_id``, ``suggested_category``, ``suggested_bbox`` as
    [x, y, w, h]; for spurious: remove, both empty), ``bbox`` (the item's box) and ``reason``.

    Parameters
    ----------
    ds : Dataset
        Labels and a detector's predictions (``Dataset.with_predictions``).
    metrics : MetricFrames, optional
        When given, the scores are also added to its frames (:func:`add_label_scores`).
    embeddings : array (n_annotations, d), DataFrame, or column name, optional
        One embedding per annotation (rows in ``ds.annotations`` order, or a column of vectors
        in ``metrics.objects`` / ``ds.annotations``): adds ``label_agreement`` and its evidence
        to the swap score (``1 - (1 - swap)(1 - share of the k neighbours' majority class)``
        when that class is not the label's).
    k : int
        Neighbours for ``label_agreement``.
    separate_by : str, optional
        A column of the annotations (``"annotator"``): each group's labels are judged apart
        against the same predictions (for images labelled twice); rows get a ``group`` column.

    Notes
    -----
    With ``q`` the calibrated precision (module doc), for a label ``i`` and the predictions
    ``j`` of its image (``E_j``: the best ``A(IoU)`` of ``j`` with another label, of ``j``'s
    class for swaps, of any class otherwise; 1 inside a crowd region of its class):

    * support ``S = max_{same class} q A(IoU)``;
    * ``swapped = (1 - S) max_{other class} q A(IoU) (1 - E_j)``;
    * ``badly_located = (1 - S) max_{same class} q N(IoU) B(IoU) Z (1 - E_j)``;
    * ``spurious = R (1 - T) (1 - L)`` with ``T = max_{any class} q clip((IoU - 0.1) / 0.3)``,
      ``L`` the unweighted max of the badly-located evidence and ``R`` the mean ``T`` of labels
      of the same category and COCO size range (shrunk to the size range's mean): how often
      the detector sees such labels at all;
    * ``overlooked = q' (1 - C) (1 - K) (1 - D)`` for a prediction, with ``q'`` = ``q``
      updated by the image's context (:func:`context_odds`: is there another label of its
      class, one it does not match at IoU >= 0.5?), ``C`` the best ``A(IoU)`` with any label,
      ``K = max_{same class} N B Z (1 - S_i)`` (the prediction is where a poorly supported
      label should be), ``D`` the best ``A(IoU)`` with a prediction of higher such score
      (duplicates); 0 inside a crowd region of its class.
    """
    kinds = tuple(kinds)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; expected some of {KINDS}")
    has_preds = _has_something_to_judge(ds, embeddings)
    if has_preds is None:
        return empty_candidates()
    items = _items(ds, _units(ds, separate_by))
    sc = score_arrays(items.label_unit, items.label_cat, items.label_box, items.crowd,
                      items.pred_unit, items.p_cat, items.p_box, items.p_score,
                      per_class=per_class_calibration)
    agreement = _agreement(ds, metrics, embeddings, items, k)
    out = _ranked(_candidate_rows(kinds, sc, items, agreement))
    out.attrs["has_predictions"] = has_preds
    if agreement is not None:
        out.attrs["label_agreement"] = pd.Series(agreement[0], index=ds.annotations.index)
    if metrics is not None:
        add_label_scores(metrics, out)
    return out


# ---- inputs -----------------------------------------------------------------------------------
def _has_something_to_judge(ds, embeddings) -> bool | None:
    """Whether ``ds`` has predictions; None (with a :class:`DataWarning` at the caller of
    :func:`find_label_errors`) when there is nothing to judge or nothing to judge by."""
    if not getattr(ds, "has_annotations", True) and len(ds.annotations) == 0:
        warnings.warn("the dataset has no labels (annotations): there is nothing to judge; "
                      "load an annotations file with Dataset.from_coco(..., annotations)",
                      DataWarning, stacklevel=3)
        return None
    preds = ds.predictions
    has_preds = bool(getattr(ds, "has_predictions", len(preds) > 0)) or len(preds) > 0
    if not has_preds and embeddings is None:
        warnings.warn("the dataset has no predictions: find_label_errors needs a detector's "
                      "predictions (ds.with_predictions('predictions.json')) or embeddings= of "
                      "the labelled objects; returning no candidates", DataWarning, stacklevel=3)
        return None
    return has_preds


@dataclass(frozen=True)
class _Units:
    """Where labels and predictions meet: ``label_unit`` per annotation, and per judged
    prediction its row in ``ds.predictions`` (``pred_rows``: a prediction is judged once per
    group that labelled its image) and ``pred_unit``; the groups' names when judged apart."""

    label_unit: np.ndarray
    pred_rows: np.ndarray
    pred_unit: np.ndarray
    label_group: np.ndarray | None = None
    pred_group: np.ndarray | None = None


def _units(ds, separate_by: str | None) -> _Units:
    """Units: images, or (image, group) when each group's labels are judged apart."""
    anns, preds = ds.annotations, ds.predictions
    label_img = anns["image_id"].to_numpy(dtype=np.int64)
    if separate_by is None:
        return _Units(label_img, np.arange(len(preds)), preds["image_id"].to_numpy(dtype=np.int64))
    if separate_by in ANNOTATOR_FIELDS or separate_by == "annotator":
        groups = annotators_of(ds, None if separate_by == "annotator" else separate_by)
    elif separate_by in anns.columns:
        groups = anns[separate_by].astype(object).where(anns[separate_by].notna())
    else:
        raise KeyError(f"separate_by={separate_by!r} is not a column of the annotations")
    groups = groups.fillna("(unknown)").astype(str)
    # images an annotator saw (an image-level field) are theirs even without any label
    field = separate_by if separate_by in ds.images.columns else annotator_column(ds)
    seen = ds.images[field].dropna().astype(str) if field in ds.images.columns else \
        pd.Series(dtype=object)
    group_names = pd.Index(sorted(set(groups) | set(seen)))
    group_codes = group_names.get_indexer(groups)
    n_groups = max(len(group_names), 1)
    units = pd.concat([
        pd.DataFrame({"image_id": label_img, "code": group_codes}),
        pd.DataFrame({"image_id": seen.index.to_numpy(dtype=np.int64),
                      "code": group_names.get_indexer(seen)})]).drop_duplicates()
    # each prediction is seen once per group that labelled its image
    pairs = units.merge(pd.DataFrame({"image_id": preds["image_id"].to_numpy(),
                                      "row": np.arange(len(preds))}), on="image_id")
    pred_unit = pairs["image_id"].to_numpy(dtype=np.int64) * n_groups + \
        pairs["code"].to_numpy(dtype=np.int64)
    return _Units(label_img * n_groups + group_codes, pairs["row"].to_numpy(dtype=np.int64),
                  pred_unit, label_group=groups.to_numpy(dtype=object),
                  pred_group=np.asarray(group_names, dtype=object)[pairs["code"].to_numpy()])


@dataclass(frozen=True)
class _Items:
    """The arrays every step reads: per annotation (``label_*``, ``crowd``, ``ann_ids``,
    ``real`` = not a crowd region) and per judged prediction (``p_*``, ``pred_ids``), with
    their units, groups and the category names."""

    label_unit: np.ndarray
    label_img: np.ndarray
    label_cat: np.ndarray
    label_box: np.ndarray
    crowd: np.ndarray
    ann_ids: np.ndarray
    pred_unit: np.ndarray
    pred_img: np.ndarray
    p_cat: np.ndarray
    p_box: np.ndarray
    p_score: np.ndarray
    pred_ids: np.ndarray
    names: pd.Series
    label_group: np.ndarray | None
    pred_group: np.ndarray | None

    @property
    def real(self) -> np.ndarray:
        return ~self.crowd

    def cat_name(self, ids) -> np.ndarray:
        return self.names.reindex(np.asarray(ids)).to_numpy(dtype=object)

    def evidence_id(self, index) -> np.ndarray:
        """The prediction id at each judged-prediction position ``index`` (-1 stays -1)."""
        ids = self.pred_ids
        return np.where(index >= 0, ids[np.maximum(index, 0)] if len(ids) else -1, -1)


def _items(ds, units: _Units) -> _Items:
    anns, preds, rows = ds.annotations, ds.predictions, units.pred_rows
    return _Items(
        label_unit=units.label_unit, label_img=anns["image_id"].to_numpy(dtype=np.int64),
        label_cat=anns["category_id"].to_numpy(dtype=np.int64),
        label_box=anns[BOX_COLUMNS].to_numpy(dtype=float) if len(anns) else np.zeros((0, 4)),
        crowd=anns["iscrowd"].to_numpy(dtype=bool) if len(anns) else np.zeros(0, dtype=bool),
        ann_ids=anns.index.to_numpy(dtype=np.int64), pred_unit=units.pred_unit,
        pred_img=preds["image_id"].to_numpy(dtype=np.int64)[rows],
        p_cat=preds["category_id"].to_numpy(dtype=np.int64)[rows],
        p_box=preds[BOX_COLUMNS].to_numpy(dtype=float)[rows] if len(preds) else np.zeros((0, 4)),
        p_score=preds["score"].to_numpy(dtype=float)[rows],
        pred_ids=preds.index.to_numpy(dtype=np.int64)[rows], names=ds.categories["name"],
        label_group=units.label_group, pred_group=units.pred_group)


def _agreement(ds, metrics, embeddings, items: _Items, k: int):
    """(agreement, majority, share) per annotation from the embeddings (NaN / its own label /
    0 for crowd regions), or None without embeddings (:func:`label_agreement`)."""
    real = items.real
    x = _embedding_array(ds, metrics, embeddings, ds.annotations[real])
    if x is None:
        return None
    agreement_r, majority_r, share_r = label_agreement(x, items.label_cat[real], k=k)
    agreement = np.full(len(real), np.nan)
    majority = items.label_cat.copy()
    share = np.zeros(len(real))
    agreement[real], majority[real], share[real] = agreement_r, majority_r, share_r
    return agreement, majority, share


# ---- candidate rows ---------------------------------------------------------------------------
def _candidate_rows(kinds, sc: Scores, items: _Items, agreement) -> list[pd.DataFrame]:
    """One frame of rows per requested kind (swapped, badly located, spurious, overlooked),
    each row's fix and reason; ranking comes after."""
    real = items.real
    label_base = {"image_id": items.label_img[real], "annotation_id": items.ann_ids[real],
                  "category_id": items.label_cat[real],
                  "category": items.cat_name(items.label_cat[real]),
                  "bbox": [list(map(float, b)) for b in items.label_box[real]]}
    if items.label_group is not None:
        label_base["group"] = items.label_group[real]
    n_real = int(real.sum())
    parts = []
    if "swapped" in kinds:
        parts.append(_swap_rows(sc, items, agreement, label_base))
    if "badly_located" in kinds:
        idx = sc.location_pred[real]
        boxes = [list(map(float, items.p_box[j])) if j >= 0 else None for j in idx]
        reasons = _location_reasons(sc, real, idx, items.p_score, items.label_box, items.p_box,
                                    label_base["category"])
        parts.append(_rows("badly_located", sc.location[real], label_base,
                           items.evidence_id(idx), np.where(idx >= 0, items.label_cat[real], -1),
                           np.where(idx >= 0, label_base["category"], None), boxes, reasons))
    if "spurious" in kinds:
        parts.append(_rows("spurious", sc.spurious[real], label_base, np.full(n_real, -1),
                           np.full(n_real, -1), [None] * n_real, [None] * n_real,
                           _spurious_reasons(sc, real, label_base["category"])))
    if "overlooked" in kinds and len(items.pred_ids):
        base = {"image_id": items.pred_img, "annotation_id": np.full(len(items.pred_ids), -1),
                "category_id": items.p_cat, "category": items.cat_name(items.p_cat),
                "bbox": [list(map(float, b)) for b in items.p_box]}
        if items.pred_group is not None:
            base["group"] = items.pred_group
        reasons = _overlooked_reasons(sc, base["category"], items.p_score, items.label_cat,
                                      items.ann_ids, items.names)
        parts.append(_rows("overlooked", sc.overlooked, base, items.pred_ids, items.p_cat,
                           base["category"], base["bbox"], reasons))
    return parts


def _swap_rows(sc: Scores, items: _Items, agreement, label_base: dict) -> pd.DataFrame:
    """Swapped rows: the detector's evidence, combined with the embedding neighbours' majority
    (when given) as 1 - (1 - swap)(1 - share); the suggestion follows the stronger of the two."""
    real = items.real
    score = sc.swap[real]
    pred = sc.swap_pred[real]
    ev = items.evidence_id(pred)
    sug = np.where(pred >= 0, items.p_cat[np.maximum(pred, 0)] if len(items.p_cat) else -1, -1)
    emb_part = None
    if agreement is not None:
        agree, majority, share = agreement
        emb = np.where(majority[real] != items.label_cat[real], share[real], 0.0)
        combined = 1 - (1 - score) * (1 - emb)
        use_emb = emb > score
        sug = np.where(use_emb, majority[real], sug)
        ev = np.where(use_emb, -1, ev)
        emb_part = (emb, agree[real], majority[real])
        score = combined
    ev_scores = items.p_score[np.maximum(sc.swap_pred, 0)] if len(items.p_score) else \
        np.zeros(len(real))
    reasons = _swap_reasons(sc, real, ev_scores, label_base["category"], items.cat_name(sug),
                            emb_part, items.label_box, items.p_box)
    return _rows("swapped", score, label_base, ev, sug, items.cat_name(sug),
                 [None] * int(real.sum()), reasons)


def _rows(kind, score, base, evidence, suggested_cat, suggested_name, suggested_box, reasons):
    """The rows of one kind in the candidates' columns (negative ids become missing)."""
    n = len(score)
    frame = pd.DataFrame({
        "kind": [kind] * n, "score": np.clip(np.asarray(score, dtype=float), 0.0, 1.0),
        "image_id": np.asarray(base["image_id"], dtype=np.int64),
        "annotation_id": pd.array(np.where(np.asarray(base["annotation_id"]) >= 0,
                                           base["annotation_id"], -1), dtype="Int64"),
        "prediction_id": pd.array(np.asarray(evidence, dtype=np.int64), dtype="Int64"),
        "category_id": pd.array(np.asarray(base["category_id"], dtype=np.int64), dtype="Int64"),
        "category": base["category"],
        "suggested_category_id": pd.array(np.asarray(suggested_cat, dtype=np.int64),
                                          dtype="Int64"),
        "suggested_category": suggested_name,
        "bbox": base["bbox"], "suggested_bbox": list(suggested_box), "reason": reasons})
    for col in ("annotation_id", "prediction_id", "suggested_category_id"):
        frame.loc[frame[col] < 0, col] = pd.NA
    frame.loc[frame["suggested_category_id"].isna(), "suggested_category"] = None
    if "group" in base:
        frame["group"] = base["group"]
    return frame


def _ranked(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """All rows, most likely first: by score (descending), then kind in :data:`KINDS` order,
    annotation id and prediction id."""
    if not parts:
        return empty_candidates()
    out = pd.concat(parts, ignore_index=True)
    rank = out["kind"].map({k_: i for i, k_ in enumerate(KINDS)})
    order = np.lexsort((out["prediction_id"].fillna(-1).to_numpy(),
                        out["annotation_id"].fillna(-1).to_numpy(), rank.to_numpy(),
                        -out["score"].to_numpy()))
    return out.iloc[order].reset_index(drop=True)


# ---- frame columns ----------------------------------------------------------------------------
def add_label_scores(metrics, candidates: pd.DataFrame):
    """Add the scores of ``candidates`` (from :func:`find_label_errors`) to ``metrics``:
    ``swap_score``, ``location_score``, ``spurious_score`` (and ``label_agreement`` when
    embeddings were given) on ``metrics.objects``, ``overlooked_score`` on
    ``metrics.predictions`` and ``label_quality`` = 1 - the largest score of any of the image's
    rows on ``metrics.images`` (1 for an image with nothing suspicious). Rows not scored
    (crowd regions, ids unknown to the candidates) get NaN; every column is NaN when the
    candidates are empty. With ``separate_by`` groups the largest score per item is kept.
    Returns ``metrics``."""
    scored = len(candidates) > 0
    for kind, column in SCORE_COLUMNS.items():
        level_frame = metrics.predictions if kind == "overlooked" else metrics.objects
        key = "prediction_id" if kind == "overlooked" else "annotation_id"
        rows = candidates[candidates["kind"] == kind] if scored else candidates
        values = rows.groupby(rows[key].astype("int64"))["score"].max() if len(rows) else \
            pd.Series(dtype=float)
        level_frame[column] = values.reindex(level_frame.index).to_numpy(dtype=float)
    agreement = candidates.attrs.get("label_agreement")
    if agreement is not None:
        metrics.objects["label_agreement"] = agreement.reindex(metrics.objects.index).to_numpy()
    images = metrics.images
    if scored:
        worst = candidates.groupby("image_id")["score"].max()
        quality = 1.0 - worst.reindex(images.index).fillna(0.0)
        images["label_quality"] = quality.to_numpy(dtype=float)
    else:
        images["label_quality"] = np.nan
    return metrics

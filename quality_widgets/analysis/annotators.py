"""Judging annotators: how many labels each made, how often they are candidate errors (with a
bootstrap interval over images), chosen metric means, and agreement where two labelled the
same image.

The annotator of a label is its ``annotator``, ``created_by`` or ``annotator_id`` field, or
that field of its image (:func:`~quality_widgets.analysis.label_errors.annotators_of`). Each
annotator's labels are judged apart against the same predictions
(``find_label_errors(..., separate_by="annotator")``), so an image labelled twice does not
let one annotator's boxes excuse the other's.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.schema import BOX_COLUMNS
from ..errors import DataWarning
from ..evaluation.matching import box_iou
from .label_errors import (
    ANNOTATOR_FIELDS,
    KINDS,
    SCORE_COLUMNS,
    annotator_column,
    annotators_of,
    find_label_errors,
)
from .statistics import bootstrap_ci

AGREEMENT_IOU = 0.5


@dataclass
class AnnotatorReport:
    """The result of :func:`annotator_report`.

    ``table`` (index ``annotator``): ``labels``, ``images``, per kind ``<kind>_rate`` with its
    95% bootstrap interval ``<kind>_rate_lo`` / ``<kind>_rate_hi``, ``mean_<column>`` of the
    chosen metric columns, ``agreement_f1`` (pooled over every annotator they shared images
    with; NaN without shared images). ``agreement``: one row per pair with shared images
    (``annotator_a``, ``annotator_b``, ``images``, ``matched``, ``labels_a``, ``labels_b``,
    ``f1`` with ``f1_lo`` / ``f1_hi``). ``candidates``: the per-annotator label-error rows.
    """

    table: pd.DataFrame
    agreement: pd.DataFrame
    candidates: pd.DataFrame
    column: str | None = None
    threshold: float = 0.5
    per_image: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __repr__(self) -> str:
        return (f"<AnnotatorReport: {len(self.table)} annotators ({self.column}), "
                f"{len(self.agreement)} pairs with shared images, threshold {self.threshold}>")


def _empty_report(column=None, threshold=0.5) -> AnnotatorReport:
    cols = ["labels", "images"] + [c for k in KINDS for c in (f"{k}_rate", f"{k}_rate_lo",
                                                                 f"{k}_rate_hi")]
    table = pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    table["agreement_f1"] = pd.Series(dtype=float)
    table.index = pd.Index([], dtype=object, name="annotator")
    agreement = pd.DataFrame({c: pd.Series(dtype=object if c.startswith("annotator") else float)
                              for c in ("annotator_a", "annotator_b", "images", "matched",
                                        "labels_a", "labels_b", "f1", "f1_lo", "f1_hi")})
    from .label_errors import empty_candidates
    return AnnotatorReport(table, agreement, empty_candidates(), column, threshold)


def bootstrap_ratio(numerator, denominator, resamples: int = 1000, seed: int = 0,
                    level: float = 0.95) -> tuple[float, float, float]:
    """(sum(num) / sum(den), lo, hi): the ratio of sums over units (images) and its percentile
    bootstrap interval, resampling the units with replacement (``resamples`` times). NaN when
    the denominator sums to 0; a resample with a zero denominator is dropped."""
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    total = den.sum()
    if len(num) == 0 or total <= 0:
        return float("nan"), float("nan"), float("nan")
    value = num.sum() / total
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(num), np.full(len(num), 1.0 / len(num)), size=resamples)
    d = weights @ den
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(d > 0, (weights @ num) / d, np.nan)    # NaN replicates are dropped
    lo, hi = bootstrap_ci(value, ratios, level, method="percentile")
    return float(value), lo, hi


def match_count(boxes_a, cats_a, boxes_b, cats_b, iou_threshold: float = AGREEMENT_IOU) -> int:
    """Pairs matched one-to-one between two annotators' boxes of one image: same category,
    IoU >= ``iou_threshold``, greedily by decreasing IoU (ties: file order)."""
    a = np.asarray(boxes_a, dtype=float).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=float).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return 0
    ia, ib = np.meshgrid(np.arange(len(a)), np.arange(len(b)), indexing="ij")
    ia, ib = ia.ravel(), ib.ravel()
    iou = box_iou(a[ia], b[ib], np.zeros(len(ia), dtype=bool))
    ok = (np.asarray(cats_a)[ia] == np.asarray(cats_b)[ib]) & (iou >= iou_threshold)
    ia, ib, iou = ia[ok], ib[ok], iou[ok]
    used_a, used_b, n = set(), set(), 0
    for k in np.argsort(-iou, kind="stable"):
        if ia[k] in used_a or ib[k] in used_b:
            continue
        used_a.add(ia[k])
        used_b.add(ib[k])
        n += 1
    return n


def pairwise_agreement(ds, annotators: pd.Series | None = None, resamples: int = 1000,
                       seed: int = 0) -> pd.DataFrame:
    """Agreement of every pair of annotators on the images both labelled: F1 of their boxes
    matched one-to-one (same category, IoU >= 0.5), ``2 matched / (labels_a + labels_b)``
    pooled over the shared images, with a 95% bootstrap interval over those images."""
    annotators = annotators_of(ds) if annotators is None else annotators
    anns = ds.annotations[~ds.annotations["iscrowd"].to_numpy(dtype=bool)]
    who = annotators.reindex(anns.index)
    anns = anns[who.notna().to_numpy()]
    who = who[who.notna()]
    rows = []
    by_image = {}
    for (image_id, name), part in anns.groupby([anns["image_id"], who.to_numpy()]):
        by_image.setdefault(image_id, {})[name] = part
    pairs: dict = {}
    for parts in by_image.values():
        names = sorted(parts)
        for i, na in enumerate(names):
            for nb in names[i + 1:]:
                pa, pb = parts[na], parts[nb]
                m = match_count(pa[BOX_COLUMNS].to_numpy(), pa["category_id"].to_numpy(),
                                pb[BOX_COLUMNS].to_numpy(), pb["category_id"].to_numpy())
                pairs.setdefault((na, nb), []).append((m, len(pa), len(pb)))
    for (na, nb), values in sorted(pairs.items()):
        v = np.asarray(values, dtype=float)
        f1, lo, hi = bootstrap_ratio(2 * v[:, 0], v[:, 1] + v[:, 2], resamples, seed)
        rows.append({"annotator_a": na, "annotator_b": nb, "images": len(v),
                     "matched": int(v[:, 0].sum()), "labels_a": int(v[:, 1].sum()),
                     "labels_b": int(v[:, 2].sum()), "f1": f1, "f1_lo": lo, "f1_hi": hi})
    if not rows:
        return _empty_report().agreement
    return pd.DataFrame(rows)


def annotator_report(ds, metrics=None, columns=None, threshold: float = 0.5,
                     resamples: int = 1000, seed: int = 0, candidates=None) -> AnnotatorReport:
    """Per annotator: labels made, candidate error rate per kind with a 95% bootstrap interval
    over images, means of chosen metric columns, and agreement with the others.

    A candidate is a row of :func:`find_label_errors` (each annotator judged apart) with
    ``score >= threshold``. The rate of a label kind is candidates / labels; the overlooked rate
    is overlooked candidates / (labels + overlooked candidates) on the annotator's images (the
    share of the objects they left out). Intervals: percentile bootstrap, ``resamples`` draws of
    the annotator's images with replacement (the ratio of sums recomputed each time).
    ``columns``: object-level columns of ``metrics.objects`` to average per annotator (default:
    the annotator-wise label-error scores, ``mean_swap_score``...). Without an annotator field
    the result is empty, with a :class:`DataWarning` saying which fields are looked for.
    """
    column = annotator_column(ds)
    if column is None:
        warnings.warn("no annotator field: annotator_report needs an "
                      f"{', '.join(repr(f) for f in ANNOTATOR_FIELDS[:-1])} or "
                      f"{ANNOTATOR_FIELDS[-1]!r} field on the annotations or their images; "
                      "returning an empty report", DataWarning, stacklevel=2)
        return _empty_report(None, threshold)
    who = annotators_of(ds, column)
    candidates = _judged(ds, column, who, candidates)
    has_candidates = len(candidates) > 0
    per_image = _per_image_counts(ds, column, who, candidates if has_candidates else None,
                                  threshold)
    table = _rates(per_image, has_candidates, resamples, seed)
    # Means: the annotator-wise scores, and chosen metric columns.
    if has_candidates:
        for kind in KINDS[1:]:
            part = candidates[candidates["kind"] == kind]
            table[f"mean_{SCORE_COLUMNS[kind]}"] = part.groupby("group")["score"].mean() \
                .reindex(table.index).to_numpy()
    if metrics is not None and columns:
        _add_column_means(table, metrics.objects, columns, who)
    agreement = pairwise_agreement(ds, who, resamples, seed)
    table["agreement_f1"] = _agreement_f1(table.index, agreement)
    return AnnotatorReport(table.sort_index(), agreement, candidates, column, threshold,
                           per_image)


def _judged(ds, column: str, who: pd.Series, candidates) -> pd.DataFrame:
    """The candidates (found with each annotator judged apart unless given), with the
    ``group`` (annotator) of each row."""
    if candidates is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            candidates = find_label_errors(ds, separate_by=column)
    if len(candidates) > 0 and "group" not in candidates:
        group = who.reindex(candidates["annotation_id"].astype("Int64").fillna(-1).astype(int)
                            ).to_numpy(dtype=object)
        candidates = candidates.assign(group=group)
    return candidates


def _per_image_counts(ds, column: str, who: pd.Series, candidates, threshold: float
                      ) -> pd.DataFrame:
    """Per (annotator, image): labels made and candidates of each kind (``candidates`` None:
    none found), over the images each annotator labelled or saw."""
    anns = ds.annotations
    real = ~anns["iscrowd"].to_numpy(dtype=bool) if len(anns) else np.zeros(0, dtype=bool)
    labelled = pd.DataFrame({"annotator": who[real].to_numpy(dtype=object),
                             "image_id": anns["image_id"].to_numpy()[real]})
    labelled = labelled[labelled["annotator"].notna()]
    per_image = labelled.groupby(["annotator", "image_id"]).size().rename("labels").to_frame()
    if column in ds.images.columns:   # images an annotator saw, with or without labels
        seen = ds.images[column].dropna().astype(str)
        extra = pd.MultiIndex.from_arrays([seen.to_numpy(dtype=object), seen.index.to_numpy()],
                                          names=["annotator", "image_id"])
        per_image = per_image.reindex(per_image.index.union(extra), fill_value=0)
    for kind in KINDS:
        if candidates is not None:
            flagged = candidates[(candidates["kind"] == kind)
                                 & (candidates["score"] >= threshold)]
            counts = flagged.groupby(["group", "image_id"]).size()
            counts.index = counts.index.set_names(["annotator", "image_id"])
            per_image[kind] = counts.reindex(per_image.index, fill_value=0).to_numpy()
        else:
            per_image[kind] = 0
    return per_image


def _rates(per_image: pd.DataFrame, has_candidates: bool, resamples: int, seed: int
           ) -> pd.DataFrame:
    """Per annotator: labels, images, and each kind's rate with its bootstrap interval."""
    rows = {}
    for name, part in per_image.groupby(level="annotator"):
        row = {"labels": int(part["labels"].sum()), "images": len(part)}
        for kind in KINDS:
            den = part["labels"] + part[kind] if kind == "overlooked" else part["labels"]
            value, lo, hi = (bootstrap_ratio(part[kind], den, resamples, seed)
                             if has_candidates else (np.nan,) * 3)
            row[f"{kind}_rate"], row[f"{kind}_rate_lo"], row[f"{kind}_rate_hi"] = value, lo, hi
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "annotator"
    return table


def _add_column_means(table: pd.DataFrame, objects: pd.DataFrame, columns, who: pd.Series
                      ) -> None:
    """Add ``mean_<col>`` per annotator of each object column in ``columns``."""
    for col in columns:
        if col not in objects:
            raise KeyError(f"no object column {col!r} in metrics.objects")
        values = pd.to_numeric(objects[col], errors="coerce")
        means = values.groupby(who.reindex(objects.index).to_numpy(dtype=object)).mean()
        table[f"mean_{col}"] = means.reindex(table.index).to_numpy()


def _agreement_f1(names: pd.Index, agreement: pd.DataFrame) -> np.ndarray:
    """Each annotator's F1 of agreement, pooled over its pairs: 2 matched / (labels_a +
    labels_b)."""
    f1 = {}
    for name in names:
        mine = agreement[(agreement["annotator_a"] == name) | (agreement["annotator_b"] == name)]
        den = (mine["labels_a"] + mine["labels_b"]).sum()
        f1[name] = 2 * mine["matched"].sum() / den if den else np.nan
    return pd.Series(f1).reindex(names).to_numpy(dtype=float)

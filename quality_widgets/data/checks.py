"""The input contract: is there enough usable input, and do the ids of the files agree?

One module answers, for every reader and entry point, the questions a wrong answer with exit
code 0 comes from (see README, "Bad data"):

* **How much may be unusable?** :func:`require_usable`: a file (or folder) whose rows are *all*
  unusable is an error, and so is one where more than ``max_unusable`` (default
  :data:`MAX_UNUSABLE` = 0.5, settable per call and with ``--max-unusable`` on the command
  line) of them are; below that the bad rows are skipped with a warning.
* **Which image does an id mean?** Without an annotations file, image ids come from the file
  names by COCO's rule (:func:`ids_from_file_names`: ``000000000009.jpg`` is image 9,
  ``COCO_val2014_000000000042.jpg`` image 42) when every name follows it, else they are only
  positions in the folder (1..n), and predictions, which name images by id, cannot be attached
  to files: :func:`check_prediction_images` refuses them.
* **Are the image files there?** :func:`check_image_files` (a folder one level off, an empty
  folder) with a hint where the files are.
* **Do the predictions' ids agree with the labels?** :func:`check_prediction_ids`: image ids
  that are file names or belong to another annotation file, category ids off by one (0-based
  class indices, a common slip when converting from YOLO), each refused with the likely fix.
* **Is there anything to measure?** :func:`require_labels`, :func:`require_predictions`.

Every check raises :class:`~quality_widgets.DatasetError` naming the file, what was found (the
first bad value) and the fix; the command line turns it into exit code 2.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from ..errors import DatasetError, DataWarning
from . import storage
from ._io import boxes_from, to_int
from .boxes import box_iou_matrix

#: Default largest fraction of unusable rows (or image files) a run accepts.
MAX_UNUSABLE = 0.5

#: Images whose predictions :func:`category_shift` looks at (spread over the ids).
SHIFT_IMAGES = 500

#: How image ids were assigned, recorded in ``Dataset.sources["image_ids"]``.
IDS_FROM_ANNOTATIONS, IDS_FROM_FILE_NAMES, IDS_FROM_POSITIONS = (
    "annotations", "file names", "positions")

_COCO_NAME = re.compile(r"^(?:COCO_[A-Za-z]+\d{4}_)?(\d{1,18})$")


def _fraction_text(bad: int, total: int) -> str:
    return f"{bad} of {total}" if bad < total else f"all {total}"


def too_many_unusable(bad: int, total: int, max_unusable: float | None = MAX_UNUSABLE) -> bool:
    """True when ``bad`` of ``total`` rows is past the limit: all of them (``total`` > 0), or
    more than the fraction ``max_unusable`` (None or 1: only all of them)."""
    if total <= 0 or bad <= 0:
        return False
    if bad >= total:
        return True
    limit = 1.0 if max_unusable is None else float(max_unusable)
    return bad / total > limit


def require_usable(bad: int, total: int, file, what: str, max_unusable=MAX_UNUSABLE,
                   cause: str = "see the warnings above for which and why",
                   fix: str | None = None) -> None:
    """Raise :class:`DatasetError` when ``bad`` of ``total`` ``what`` (e.g. "predictions") are
    unusable past the limit (:func:`too_many_unusable`); the message names the file, the count,
    the cause and the fix."""
    if not too_many_unusable(bad, total, max_unusable):
        return
    limit = "" if bad >= total else (
        f" (more than the accepted {max_unusable:.0%}; raise the limit with max_unusable= "
        "or --max-unusable)")
    message = f"{_fraction_text(bad, total)} {what} are unusable{limit}: {cause}"
    if fix:
        message += f". {fix}"
    raise DatasetError(file, message)


# ---- image ids ---------------------------------------------------------------------------------
def ids_from_file_names(names) -> np.ndarray | None:
    """Image ids by COCO's file-name rule, or None when a name does not follow it.

    The rule: the base name without extension is the zero-padded id (``000000000009.jpg`` ->
    9), optionally after ``COCO_<split><year>_`` (``COCO_val2014_000000000042.jpg`` -> 42).
    None as well when two names give one id (``1.jpg`` and ``1.png``)."""
    ids = []
    for name in names:
        match = _COCO_NAME.match(PurePosixPath(str(name)).stem)
        if match is None:
            return None
        ids.append(int(match.group(1)))
    out = np.asarray(ids, dtype="int64")
    if len(np.unique(out)) != len(out):
        return None
    return out


def folder_image_ids(names) -> tuple[np.ndarray, str]:
    """(ids, rule) of images listed from a folder: :func:`ids_from_file_names` when every name
    follows COCO's rule, else positions 1..n in sorted name order."""
    ids = ids_from_file_names(names) if len(names) else None
    if ids is not None:
        return ids, IDS_FROM_FILE_NAMES
    return np.arange(1, len(names) + 1, dtype="int64"), IDS_FROM_POSITIONS


def check_prediction_images(dataset, file) -> None:
    """Predictions name images by ``image_id``; refuse when the dataset's ids are only
    positions in a folder (no annotations file, names not by COCO's rule), and say which rule
    mapped them otherwise."""
    rule = (getattr(dataset, "sources", None) or {}).get("image_ids")
    if rule == IDS_FROM_POSITIONS:
        example = dataset.images["file_name"].iloc[0] if len(dataset.images) else "image.jpg"
        raise DatasetError(file, (
            "predictions name images by image_id, and without an annotations file the image "
            f"ids of {dataset.images_dir or 'the folder'} are only positions in the folder "
            f"(1 = {example!r}, ...), not the ids the predictions were made with. Pass the "
            "annotations file the predictions refer to (--annotations, or "
            "Dataset.from_coco(images, annotations, predictions)), or name the image files "
            "by their id as COCO does (000000000009.jpg is image 9)"))
    if rule == IDS_FROM_FILE_NAMES:
        warnings.warn(
            f"{file}: no annotations file, so image ids are read from the file names by "
            "COCO's rule (000000000009.jpg is image 9)", DataWarning, stacklevel=3)


# ---- image files -------------------------------------------------------------------------------
def _exists(folder: Path, names) -> int:
    return sum(1 for n in names if isinstance(n, str) and (folder / n).is_file())


def _candidate_folders(root: Path, limit: int = 200) -> list[Path]:
    """Folders near ``root`` where misplaced images may be: its sub-folders two levels down,
    its parent and the parent's sub-folders."""
    out = []
    for base, depth in ((root, 2), (root.parent, 1)):
        level = [base]
        if base != root:
            out.append(base)
        for _ in range(depth):
            nxt = []
            for folder in level:
                try:
                    nxt += sorted(p for p in folder.iterdir()
                                  if p.is_dir() and not p.name.startswith("."))
                except OSError:
                    continue
            out += nxt
            level = nxt
            if len(out) > limit:
                return out[:limit]
    return [p for p in dict.fromkeys(out) if p != root]


def where_are_the_files(root, names, sample: int = 20) -> Path | None:
    """A folder near ``root`` holding most of ``names`` (a sample of them), or None."""
    root = Path(root)
    names = [n for n in names if isinstance(n, str)][:sample]
    if not names:
        return None
    best, best_n = None, 0
    for folder in _candidate_folders(root):
        n = _exists(folder, names)
        if n > best_n:
            best, best_n = folder, n
    return best if best_n >= max(1, len(names) // 2) else None


def check_image_files(images: pd.DataFrame, images_dir, source=None,
                      max_unusable=MAX_UNUSABLE, sample: int = 2000,
                      url_sample: int = 64) -> None:
    """Refuse an images folder that lacks the files the annotations name (past the limit of
    :func:`require_usable`), with the folder where they are when one is near: ``--images`` at
    the dataset root instead of ``images/`` is the usual cause. Checks at most ``sample``
    images, spread over the list (a missing file below the limit is reported by the metrics
    run as that image's error); behind a URL, at most ``url_sample``, asked of the store
    together."""
    if images_dir is None or len(images) == 0:
        return
    remote = storage.is_url(images_dir)
    if remote:   # one metadata request per file checked: a smaller sample
        sample = min(sample, url_sample)
    paths = images["path"].to_numpy()
    names = images["file_name"].to_numpy()
    step = max(1, len(paths) // sample)
    checked = np.arange(0, len(paths), step)
    if remote:
        there = storage.versions([p for p in paths[checked] if isinstance(p, str)])
        found_urls = iter(there)
        missing = [i for i in checked
                   if not isinstance(paths[i], str) or next(found_urls) is None]
    else:
        missing = [i for i in checked
                   if not (isinstance(paths[i], str) and os.path.isfile(paths[i]))]
    if not too_many_unusable(len(missing), len(checked), max_unusable):
        return
    missing_names = [names[i] for i in missing]
    found = None if remote else where_are_the_files(images_dir, missing_names)
    named = f" named in {source}" if source else ""
    sampled = "" if step == 1 else f" (every {step}th checked)"
    if len(missing) == len(checked):
        counted = f"none of the {len(checked)} image files{named}{sampled} is in this folder"
    else:
        counted = (f"{len(missing)} of {len(checked)} image files{named}{sampled} are not in "
                   f"this folder, more than the accepted {max_unusable:.0%} (raise the limit "
                   "with max_unusable= or --max-unusable)")
    if found is not None:
        fix = f"they are in {found}: pass that folder as the images folder (--images {found})"
    else:
        fix = ("check the images folder (--images): file names in the annotations are relative "
               "to it")
    raise DatasetError(images_dir, f"{counted} (first: {missing_names[0]!r}); {fix}")


# ---- prediction ids ----------------------------------------------------------------------------
def _to_int(values) -> tuple[np.ndarray, np.ndarray]:
    return to_int(list(values))


def _first_bad(raw, bad: np.ndarray, show: int = 3) -> str:
    """The first ``show`` distinct bad values, as text."""
    values = []
    for i in np.flatnonzero(bad)[:1000]:
        text = repr(raw[i])
        if text not in values:
            values.append(text)
        if len(values) == show:
            break
    return ", ".join(values)


def _id_range(ids) -> str:
    ids = np.asarray(ids)
    if ids.size == 0:
        return "none"
    return f"{ids.min()}..{ids.max()}" if ids.size > 1 else f"{ids[0]}"


def check_prediction_ids(image_ids, category_ids, dataset, file, boxes=None,
                         max_unusable=MAX_UNUSABLE) -> None:
    """Refuse predictions whose ``image_id`` or ``category_id`` values mostly (past the limit)
    match nothing in the dataset, naming the first bad values and the likely cause: ids given
    as file names, ids of another annotation file, ids shifted by one. With ``boxes`` (raw
    ``bbox`` values) and annotations, also refuse category ids that are systematically off
    (:func:`category_shift`). ``image_ids``, ``category_ids``: the raw values of the file."""
    raw_images = list(image_ids)
    n = len(raw_images)
    if n == 0:
        return
    labels = (dataset.sources or {}).get("annotations") or "the dataset"
    known = dataset.images.index.to_numpy()
    img, ok = _to_int(raw_images)
    bad = ~(ok & np.isin(img, known))
    if too_many_unusable(int(bad.sum()), n, max_unusable):
        first = _first_bad(raw_images, bad)
        texts = [v for v in (raw_images[i] for i in np.flatnonzero(bad)[:50]) if
                 isinstance(v, str)]
        if texts:
            cause = ("image_id must be the integer id of an entry of 'images', not a file name "
                     "or text (map file names to ids with the annotations' 'images' list)")
        else:
            cause = (f"the dataset's image ids are {_id_range(known)}; are these predictions "
                     f"for another annotation file?")
        raise DatasetError(file, f"{_fraction_text(int(bad.sum()), n)} predictions name an "
                                 f"image_id that is not in {labels} (first: {first}); {cause}",
                           field="image_id")
    cats = dataset.categories.index.to_numpy()
    raw_cats = list(category_ids)
    cat, cat_ok = _to_int(raw_cats)
    shift = None
    if boxes is not None and len(dataset.annotations) and len(cats):
        images = np.unique(img[~bad])
        if len(images) > SHIFT_IMAGES:
            images = images[np.linspace(0, len(images) - 1, SHIFT_IMAGES).astype(int)]
        rows = np.flatnonzero(~bad & np.isin(img, images) & cat_ok)
        raw_boxes = list(boxes)
        sample_boxes, _ = boxes_from([raw_boxes[i] for i in rows], file, "predictions")
        shift = category_shift(img[rows], cat[rows], sample_boxes, dataset.annotations, cats)
    if shift is not None:
        raise DatasetError(file, shift, field="category_id")
    if not len(cats):
        return
    bad_cat = ~(cat_ok & np.isin(cat, cats))
    if too_many_unusable(int(bad_cat.sum()), n, max_unusable):
        raise DatasetError(file, f"{_fraction_text(int(bad_cat.sum()), n)} predictions have a "
                                 f"category_id that is not a category of {labels} (first: "
                                 f"{_first_bad(raw_cats, bad_cat)}; the categories are "
                                 f"{_id_range(cats)})", field="category_id")


#: Ways prediction category ids are commonly off, as functions of (pred id, sorted category ids)
#: to the category id they were meant to be.
_SHIFTS = {
    "category_id + 1 (0-based ids)": lambda c, ids: c + 1,
    "category_id - 1": lambda c, ids: c - 1,
    "the category at position category_id in sorted id order (0-based class indices, as YOLO "
    "writes them)": lambda c, ids: np.where((c >= 0) & (c < len(ids)),
                                            ids[np.clip(c, 0, len(ids) - 1)], -10**9),
    "the category at position category_id - 1 in sorted id order (1-based class indices)":
        lambda c, ids: np.where((c >= 1) & (c <= len(ids)), ids[np.clip(c - 1, 0, len(ids) - 1)],
                                -10**9),
}


def category_shift(image_ids, category_ids, boxes, annotations, categories,
                   min_pairs: int = 20) -> str | None:
    """A message when the predictions' category ids are systematically off against the labels,
    else None.

    Evidence from the boxes: every prediction whose box overlaps a (non-crowd) label of its
    image at IoU >= 0.5 is paired with its best label; the share of pairs whose category agrees
    is counted as the ids are, and under each of the usual slips (:data:`_SHIFTS`: ids 0-based
    instead of 1-based, class indices instead of ids). A slip is reported when it explains at
    least 15% of at least ``min_pairs`` pairs and three times as many as the ids as they are
    (a detector whose ids are right agrees on about a third of such pairs, low-score boxes
    included; a random relabelling on about 1 / number of categories). ``boxes``: (n, 4)."""
    cats = np.sort(np.asarray(categories, dtype="int64"))
    boxes = np.asarray(boxes, dtype=float)
    ok = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    image_ids, category_ids, boxes = (np.asarray(image_ids)[ok], np.asarray(category_ids)[ok],
                                      boxes[ok])
    gt = annotations
    if "iscrowd" in gt:
        gt = gt[~gt["iscrowd"].astype(bool).to_numpy()]
    if not len(gt) or not len(image_ids):
        return None
    both = np.intersect1d(np.unique(image_ids), gt["image_id"].unique())
    gt_by_image = {k: v for k, v in gt.groupby("image_id", sort=False).indices.items()}
    gt_boxes = gt[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy(dtype=float)
    gt_cats = gt["category_id"].to_numpy(dtype="int64")
    order = np.argsort(image_ids, kind="stable")
    sorted_ids = image_ids[order]
    pred_cat, true_cat = [], []
    for image in both:
        lo = np.searchsorted(sorted_ids, image, side="left")
        hi = np.searchsorted(sorted_ids, image, side="right")
        rows = order[lo:hi]
        g = gt_by_image[image]
        iou = box_iou_matrix(boxes[rows], gt_boxes[g])
        best = iou.argmax(axis=1)
        hit = iou[np.arange(len(rows)), best] >= 0.5
        pred_cat.append(category_ids[rows][hit])
        true_cat.append(gt_cats[g][best[hit]])
    if not pred_cat:
        return None
    pred_cat, true_cat = np.concatenate(pred_cat), np.concatenate(true_cat)
    n = len(pred_cat)
    if n < min_pairs:
        return None
    as_is = float(np.mean(pred_cat == true_cat))
    name, share = max(((name, float(np.mean(f(pred_cat, cats) == true_cat)))
                       for name, f in _SHIFTS.items()), key=lambda t: t[1])
    if share < 0.15 or share < 3 * as_is:
        return None
    return (f"the category ids look shifted against the labels: of {n} predictions that "
            f"overlap a label (IoU >= 0.5), {as_is:.0%} have the label's category_id, but "
            f"{share:.0%} would with {name}. Convert the ids to the categories' ids "
            f"({_id_range(cats)}) before evaluating")


# ---- something to measure ----------------------------------------------------------------------
def require_labels(dataset, what: str) -> None:
    """Refuse ``what`` (e.g. "COCO evaluation") on a dataset without annotations."""
    if not getattr(dataset, "has_annotations", False) or len(dataset.annotations) == 0:
        why = ("the annotations file has no annotations" if getattr(dataset, "has_annotations",
                                                                    False)
               else "the dataset has no labels")
        raise DatasetError(dataset.sources.get("annotations") if dataset.sources else None,
                           f"{what} compares predictions with labels, and {why}: pass an "
                           "annotations file (--annotations) or YOLO labels (--yolo-labels)")


def require_predictions(dataset, what: str) -> None:
    """Refuse ``what`` (e.g. "the hypothesis test") on a dataset without predictions."""
    if not getattr(dataset, "has_predictions", False) or len(dataset.predictions) == 0:
        why = ("the predictions file has no usable prediction"
               if getattr(dataset, "has_predictions", False) else "the dataset has no predictions")
        raise DatasetError(dataset.sources.get("predictions") if dataset.sources else None,
                           f"{what} measures the model's predictions, and {why}: pass a COCO "
                           "results file (--predictions) or YOLO predictions "
                           "(--yolo-predictions)")

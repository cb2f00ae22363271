"""Write accepted label fixes back: a corrected COCO instances file and a CSV of the changes.

The candidates come from :func:`quality_widgets.find_label_errors`; reviewing them (the
``LabelErrors`` widget, or by hand) gives the rows to apply. Beside :mod:`quality_widgets.export`:
both write COCO, with the same rules (atomic files, no silent overwrite, the input never
written over).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

# The kinds and the empty frame from the candidates' own module: the label_errors package
# re-exports apply_fixes, so importing the package itself here would be a cycle.
from .analysis.label_errors._candidates import LABEL_KINDS, empty_candidates
from .data._io import read_json, write_text_atomic
from .data.coco import to_coco_dict
from .errors import DatasetError, DataWarning, ExportError
from .jsonsafe import dumps

CHANGE_COLUMNS = ["action", "kind", "annotation_id", "image_id", "prediction_id", "score",
                  "old_category_id", "old_category", "new_category_id", "new_category",
                  "old_bbox", "new_bbox", "reason"]


def apply_fixes(ds, accepted: pd.DataFrame, out, changes=None, overwrite: bool = False
                ) -> tuple[Path, Path]:
    """Write a corrected COCO instances file ``out`` and a CSV of the changes; returns both paths.

    ``accepted``: rows of :func:`find_label_errors` to apply. ``swapped`` sets the label's
    category to ``suggested_category_id``; ``badly_located`` moves its box to
    ``suggested_bbox`` (a polygon segmentation follows the box's move and scaling, an RLE mask
    is replaced by the box's polygon; ``area`` becomes the new polygon's area); ``spurious``
    removes the label; ``overlooked`` adds a label with the prediction's box and category (new
    ids after the largest existing one, ``"source": "prediction <id>"``). The rest of the source
    file (info, licenses, extra fields) is kept when ``ds`` was read from a file.

    The file is written atomically (a temporary file renamed into place, with the permissions
    of any new file); ``out`` may never be the input annotations file, and an existing ``out``
    needs ``overwrite=True``. ``changes`` defaults to ``<out stem>.changes.csv`` beside ``out``.
    """
    out, changes, data = _targets_and_source(ds, out, changes, overwrite)
    accepted = accepted if accepted is not None else empty_candidates()
    if "kind" not in accepted.columns:
        raise ValueError("accepted must be rows of find_label_errors (a 'kind' column)")
    by_id = {}
    for entry in data["annotations"]:
        if isinstance(entry, dict) and "id" in entry:
            try:
                by_id[int(entry["id"])] = entry
            except (TypeError, ValueError):
                continue
    log, remove, added = _apply_rows(accepted, by_id, ds.category_names())
    data["annotations"] = [e for e in data["annotations"]
                           if not (isinstance(e, dict) and _int_or_none(e.get("id")) in remove)]
    data["annotations"].extend(added)
    table = pd.DataFrame(log, columns=CHANGE_COLUMNS)
    for path, text in ((out, dumps(data)), (changes, table.to_csv(index=False))):
        try:
            write_text_atomic(text, path, overwrite=overwrite)
        except FileExistsError:
            raise ExportError(f"{path} appeared meanwhile; nothing replaced") from None
    return out, changes


def _targets_and_source(ds, out, changes, overwrite: bool) -> tuple[Path, Path, dict]:
    """(out, changes, the COCO dict to correct): the paths checked (never the input, nothing
    existing without ``overwrite``), the dict read from the dataset's annotations file (so its
    other fields are kept) or, without one, built from the dataset."""
    out = Path(out).absolute()
    source = ds.sources.get("annotations") if getattr(ds, "sources", None) else None
    if source and Path(source).exists() and out.resolve() == Path(source).resolve():
        raise ExportError(f"{out} is the input annotations file: apply_fixes never writes over "
                          f"its input; choose another out")
    changes = Path(changes).absolute() if changes is not None else \
        out.with_name(out.stem + ".changes.csv")
    for target in (out, changes):
        if target.exists() and not overwrite:
            raise ExportError(f"{target} already exists; pass overwrite=True to replace it")
    data = read_json(Path(source), "annotations") if source and Path(source).exists() else \
        to_coco_dict(ds)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise DatasetError(source, "not a COCO instances file with an 'annotations' list")
    return out, changes, data


def _apply_rows(accepted: pd.DataFrame, by_id: dict, names) -> tuple[list, set, list]:
    """Apply each accepted row to the annotation dicts ``by_id`` (in place); returns the change
    log (one dict per change), the ids to remove and the annotations to add."""
    log, remove, added = [], set(), []
    next_id = max(by_id, default=0) + 1
    for row in accepted.itertuples(index=False):
        kind = row.kind
        ann_id = None if pd.isna(row.annotation_id) else int(row.annotation_id)
        pred_id = None if pd.isna(row.prediction_id) else int(row.prediction_id)
        entry = by_id.get(ann_id) if ann_id is not None else None
        if kind in LABEL_KINDS and entry is None:
            warnings.warn(f"apply_fixes: annotation {ann_id} is not in the file; {kind} fix "
                          f"skipped", DataWarning, stacklevel=3)
            continue
        if kind == "swapped":
            if pd.isna(row.suggested_category_id):
                continue
            old = entry.get("category_id")
            entry["category_id"] = int(row.suggested_category_id)
            log.append(_change("recategorise", kind, row, ann_id, old, entry["category_id"],
                               entry.get("bbox"), entry.get("bbox"), names))
        elif kind == "badly_located":
            if not isinstance(row.suggested_bbox, (list, tuple, np.ndarray)):
                continue
            old_box = [float(v) for v in entry["bbox"]]
            new_box = [float(v) for v in row.suggested_bbox]
            entry["bbox"] = new_box
            entry["segmentation"], entry["area"] = _moved_segmentation(
                entry.get("segmentation"), old_box, new_box)
            log.append(_change("move", kind, row, ann_id, entry.get("category_id"),
                               entry.get("category_id"), old_box, new_box, names))
        elif kind == "spurious":
            remove.add(ann_id)
            log.append(_change("remove", kind, row, ann_id, entry.get("category_id"), None,
                               entry.get("bbox"), None, names))
        elif kind == "overlooked":
            box = [float(v) for v in row.suggested_bbox]
            new = {"id": next_id, "image_id": int(row.image_id),
                   "category_id": int(row.suggested_category_id), "bbox": box,
                   "area": box[2] * box[3], "iscrowd": 0,
                   "segmentation": [_box_polygon(box)], "source": f"prediction {pred_id}"}
            added.append(new)
            log.append(_change("add", kind, row, next_id, None, new["category_id"], None, box,
                               names))
            next_id += 1
    return log, remove, added


def _int_or_none(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _change(action, kind, row, ann_id, old_cat, new_cat, old_box, new_box, names):
    """One row of the change log."""
    def box_text(b):
        return None if b is None else "[" + ", ".join(f"{float(v):.2f}" for v in b) + "]"
    return {"action": action, "kind": kind, "annotation_id": ann_id,
            "image_id": int(row.image_id),
            "prediction_id": None if pd.isna(row.prediction_id) else int(row.prediction_id),
            "score": float(row.score), "old_category_id": old_cat,
            "old_category": names.get(old_cat) if old_cat is not None else None,
            "new_category_id": new_cat,
            "new_category": names.get(new_cat) if new_cat is not None else None,
            "old_bbox": box_text(old_box), "new_bbox": box_text(new_box),
            "reason": getattr(row, "reason", "")}


def _box_polygon(box):
    x, y, w, h = box
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def _moved_segmentation(seg, old_box, new_box):
    """The segmentation mapped by the affine move of ``old_box`` onto ``new_box``, and its
    area (shoelace); an RLE or missing segmentation becomes the box's polygon."""
    ox, oy, ow, oh = old_box
    nx, ny, nw, nh = new_box
    sx, sy = nw / ow if ow else 1.0, nh / oh if oh else 1.0
    if isinstance(seg, list) and seg and all(isinstance(p, list) for p in seg):
        polys = []
        for p in seg:
            xy = np.asarray(p, dtype=float).reshape(-1, 2)
            xy[:, 0] = nx + (xy[:, 0] - ox) * sx
            xy[:, 1] = ny + (xy[:, 1] - oy) * sy
            polys.append([float(v) for v in xy.ravel()])
    else:
        polys = [_box_polygon(new_box)]
    area = 0.0
    for p in polys:
        xy = np.asarray(p).reshape(-1, 2)
        area += 0.5 * abs(np.dot(xy[:, 0], np.roll(xy[:, 1], 1))
                          - np.dot(xy[:, 1], np.roll(xy[:, 0], 1)))
    return polys, float(area)

"""Model test cases: named slices of a dataset with a requirement on a detection measure.

A test case says "on *this* slice the model must reach *that*": "AP on objects with
object_brightness < 0.2 >= 0.15", "recall at IoU 0.5 on boxes with box_area < 32^2 >= 0.3".
They are written in a YAML or JSON file, run with :func:`run_test_cases` (or ``quality-widgets
test-cases FILE ...``, exit code 1 when one fails, so they can guard a model in CI) and shown by
:class:`quality_widgets.widgets.testcases.TestCaseTable`.

Schema
------
The file holds a list of test cases, or a mapping with the key ``test_cases`` holding the list.
Each test case is a mapping with the fields:

``name`` (text, required, unique)
    What the case is called in reports.
``where`` (mapping, optional)
    Metric ranges, ANDed. Keys are metric columns; ``level.column`` picks the level when a name
    exists at several (``image.area`` vs ``object.area``); a bare name is looked up at image,
    then object, then prediction level, in the metric frames and then in the dataset's own
    columns (``area``, ``score``, an ``annotator`` attribute...). Values are ``[lo, hi]``
    (``lo <= v <= hi``, ``null`` for an open end, as the Explorer's brush), or a mapping of
    bounds among ``"<"``, ``"<="``, ``">"``, ``">="``, ``min`` (``>=``), ``max`` (``<=``):
    ``{"<": 0.2}``, ``{">=": 32, "<": 96}``. NaN is in no range.
``categories`` (list of category names, optional)
    Only these categories' annotations and predictions (AP then averages over them).
``tags`` (list of tag names, optional)
    Only rows tagged with each of them (the Explorer's tags), at every level where the tag is
    used: tagged images, tagged annotations, tagged predictions.
``measure`` (text, default ``AP``)
    ``AP``, ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl``, ``AR1``, ``AR10``, ``AR100``,
    ``ARs``, ``ARm``, ``ARl`` (the 12 COCO numbers, as pycocotools; the names of the hypothesis
    test, :data:`quality_widgets.evaluation.MEASURES`), or ``precision`` / ``recall`` of the
    detections with score >= ``score_threshold`` at IoU ``iou`` (pooled over categories, area
    all, 100 detections per image). The older names ``AP_small``, ``AP_medium``, ``AP_large``,
    ``AR_small``, ``AR_medium``, ``AR_large`` are accepted as aliases
    (:data:`~quality_widgets.evaluation.MEASURE_ALIASES`). Run with ``iou_type="keypoints"``
    the measures are COCO's 10 keypoint numbers: ``AP``, ``AP50``, ``AP75``, ``APm``,
    ``APl``, ``AR``, ``AR50``, ``AR75``, ``ARm``, ``ARl`` (20 detections per image; no small
    range, no AR1 / AR10 / AR100), and ``precision`` / ``recall``; another name is a
    :class:`TestCaseError` naming them.
``iou`` (number in 0.5, 0.55, ..., 0.95; default 0.5), ``score_threshold`` (number, default
0.5)
    For ``precision`` and ``recall`` only.
``min``, ``max`` (numbers; at least one)
    The requirement: passed when ``min <= value <= max``. A value that cannot be computed (no
    annotation in the slice) fails.
``description`` (text, optional)

Example (YAML)::

    test_cases:
      - name: dark objects
        where: {object_brightness: {"<": 0.2}}
        measure: AP
        min: 0.15
      - name: small boxes are found
        where: {box_area: {"<": 1024}}
        measure: recall
        iou: 0.5
        score_threshold: 0.3
        min: 0.3
      - name: people in dark images
        where: {image.brightness: [null, 0.3]}
        categories: [person]
        measure: AP50
        min: 0.2

How a slice is evaluated
------------------------
Image ranges and image tags choose images (the others are left out, as pycocotools' imgIds).
Object ranges apply like pycocotools' area ranges: ground truth outside is ignored (a detection
matched to it is ignored too), and an unmatched detection is ignored when its own value is
outside. A column that only annotations have (``shape_outlier``, ``annotation_duplicate``...)
has no value for a detection, so unmatched detections are ignored on such a slice (precision
there counts the detections that matched its objects). Prediction ranges (``confidence``,
``prediction.*``) restrict the detections only.

Every error in a file is a :class:`TestCaseError` naming the file, the test case and the field.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..evaluation import MEASURE_ALIASES, Evaluator
from ..evaluation import MEASURES as MEASURE_SPECS
from ..evaluation.measures import ALL_MEASURE_NAMES, measures_for, unknown_measure_message
from ..frames import LEVELS, MetricFrames, numeric_metric_columns, unknown_name_message
from ..slicing import TAG_COLUMN, column_values, range_mask, tag_mask
from .hypothesis import slice_interval
from .statistics import cluster_labels

SCORE_MEASURES = tuple(n for n, s in MEASURE_SPECS.items() if s.kind == "at_score")
MEASURES = tuple(MEASURE_SPECS)
#: Every name a file may use: the 12 COCO numbers and precision / recall, and the keypoint
#: names AR, AR50, AR75 (:func:`run_test_cases` checks them against its ``iou_type``).
FILE_MEASURES = ALL_MEASURE_NAMES
FIELDS = ("name", "description", "where", "categories", "tags", "measure", "iou",
          "score_threshold", "min", "max")
BOUNDS = ("<", "<=", ">", ">=", "min", "max")
RESULT_COLUMNS = ["name", "measure", "value", "ci_low", "ci_high", "requirement", "passed",
                  "n_images", "n_annotations", "n_predictions", "note"]


class TestCaseError(ValueError):
    """A test case file or test case is invalid; ``file``, ``case`` and ``field`` say where."""

    __test__ = False   # not a pytest test class

    def __init__(self, message: str, file=None, case=None, field=None):
        self.file, self.case, self.field, self.reason = file, case, field, message
        where = [str(file) if file is not None else "<test cases>"]
        if case is not None:
            where.append(f"test case {case!r}" if isinstance(case, str) else f"test case #{case}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}")


# ---- reading and validating ------------------------------------------------------------------
def read_test_cases(path) -> list[dict]:
    """The validated test cases of a ``.json``, ``.yaml`` or ``.yml`` file (see the schema)."""
    path = Path(path)
    if not path.is_file():
        raise TestCaseError("file not found", file=path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise TestCaseError("reading YAML needs PyYAML (pip install pyyaml); or write the "
                                "test cases as JSON", file=path) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise TestCaseError(f"not valid YAML: {e}", file=path) from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise TestCaseError(f"not valid JSON: {e}", file=path) from None
    return validate_test_cases(data, file=path)


def _number(value, file, case, field) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(float(value)):
        raise TestCaseError(f"expected a finite number, got {value!r}", file, case, field)
    return float(value)


def _names(value, file, case, field) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise TestCaseError(f"expected a list of names, got {value!r}", file, case, field)
    return list(value)


def parse_range(spec, file=None, case=None, field=None) -> tuple:
    """``(lo, hi, lo_inclusive, hi_inclusive)`` of a range spec (``[lo, hi]`` or a mapping of
    bounds, see the schema); open ends are -inf / +inf."""
    lo, hi, lo_inc, hi_inc = -math.inf, math.inf, True, True
    if isinstance(spec, (list, tuple)):
        if len(spec) != 2:
            raise TestCaseError(f"a range list needs 2 entries [lo, hi], got {spec!r}", file,
                                case, field)
        if spec[0] is not None:
            lo = _number(spec[0], file, case, field)
        if spec[1] is not None:
            hi = _number(spec[1], file, case, field)
    elif isinstance(spec, dict):
        if not spec:
            raise TestCaseError("an empty range", file, case, field)
        for key, value in spec.items():
            if key not in BOUNDS:
                raise TestCaseError(f"unknown bound {key!r}; use one of {', '.join(BOUNDS)}",
                                    file, case, field)
            v = _number(value, file, case, f"{field}.{key}")
            if key in (">", ">=", "min"):
                if v > lo or (v == lo and key == ">"):
                    lo, lo_inc = v, key != ">"
            else:
                if v < hi or (v == hi and key == "<"):
                    hi, hi_inc = v, key != "<"
    else:
        raise TestCaseError(f"expected [lo, hi] or a mapping like {{'<': 0.2}}, got {spec!r}",
                            file, case, field)
    if lo > hi:
        raise TestCaseError(f"empty range: lower bound {lo} > upper bound {hi}", file, case,
                            field)
    return lo, hi, lo_inc, hi_inc


def validate_test_cases(data, file=None) -> list[dict]:
    """Check test cases (a list of mappings, or ``{"test_cases": [...]}``) against the schema;
    returns them normalised (defaults filled in, ranges parsed into ``ranges``)."""
    if isinstance(data, dict):
        if "test_cases" not in data:
            raise TestCaseError("expected a list of test cases or a mapping with the key "
                                "'test_cases'", file, field="test_cases")
        data = data["test_cases"]
    if not isinstance(data, list) or not data:
        raise TestCaseError("expected a non-empty list of test cases", file, field="test_cases")
    out, seen = [], set()
    for i, case in enumerate(data, start=1):
        if not isinstance(case, dict):
            raise TestCaseError(f"expected a mapping, got {type(case).__name__}", file, i)
        name = case.get("name")
        if not isinstance(name, str) or not name.strip():
            raise TestCaseError("every test case needs a 'name' (text)", file, i, "name")
        if name in seen:
            raise TestCaseError("two test cases have this name", file, name, "name")
        seen.add(name)
        unknown = [k for k in case if k not in FIELDS]
        if unknown:
            raise TestCaseError(f"unknown field(s) {', '.join(map(repr, unknown))}; known: "
                                f"{', '.join(FIELDS)}", file, name, unknown[0])
        where = case.get("where") or {}
        if not isinstance(where, dict):
            raise TestCaseError("expected a mapping of metric -> range", file, name, "where")
        ranges = []
        for column, spec in where.items():
            if not isinstance(column, str) or not column:
                raise TestCaseError(f"a metric name must be text, got {column!r}", file, name,
                                    "where")
            ranges.append((column, *parse_range(spec, file, name, f"where.{column}")))
        measure = case.get("measure", "AP")
        measure = MEASURE_ALIASES.get(measure, measure)
        if measure not in FILE_MEASURES:
            raise TestCaseError(f"unknown measure {measure!r}; use one of "
                                f"{', '.join(MEASURES)} (keypoints: AP, AP50, AP75, APm, APl, "
                                f"AR, AR50, AR75, ARm, ARl, precision, recall)", file, name,
                                "measure")
        iou = _number(case.get("iou", 0.5), file, name, "iou")
        if measure in SCORE_MEASURES:
            from ..evaluation.params import IOU_THRESHOLDS
            if not np.isclose(IOU_THRESHOLDS, iou).any():
                raise TestCaseError(f"iou must be one of 0.5, 0.55, ..., 0.95, got {iou}", file,
                                    name, "iou")
        elif "iou" in case or "score_threshold" in case:
            field = "iou" if "iou" in case else "score_threshold"
            raise TestCaseError(f"'{field}' only applies to the measures precision and recall "
                                f"(AP50 / AP75 are the IoU-specific APs)", file, name, field)
        threshold = _number(case.get("score_threshold", 0.5), file, name, "score_threshold")
        if "min" not in case and "max" not in case:
            raise TestCaseError("a requirement is needed: 'min' and/or 'max'", file, name, "min")
        lo = _number(case["min"], file, name, "min") if "min" in case else None
        hi = _number(case["max"], file, name, "max") if "max" in case else None
        if lo is not None and hi is not None and lo > hi:
            raise TestCaseError(f"min {lo} > max {hi}: no value can pass", file, name, "max")
        description = case.get("description", "")
        if not isinstance(description, str):
            raise TestCaseError("expected text", file, name, "description")
        out.append({"name": name, "description": description, "where": dict(where),
                    "ranges": ranges,
                    "categories": _names(case.get("categories", []), file, name, "categories"),
                    "tags": _names(case.get("tags", []), file, name, "tags"),
                    "measure": measure, "iou": iou, "score_threshold": threshold,
                    "min": lo, "max": hi, "_file": file})
    return out


def requirement_text(case: dict) -> str:
    """``"AP >= 0.15"``, ``"0.2 <= recall@0.5 <= 0.9"``..."""
    measure = case["measure"]
    if measure in SCORE_MEASURES:
        measure = f"{measure}@IoU{case['iou']:g},score>={case['score_threshold']:g}"
    lo, hi = case.get("min"), case.get("max")
    if lo is not None and hi is not None:
        return f"{lo:g} <= {measure} <= {hi:g}"
    return f"{measure} >= {lo:g}" if lo is not None else f"{measure} <= {hi:g}"


def as_test_cases(cases_or_path) -> list[dict]:
    """Validated test cases from a file path, one case (a mapping), or a list of them."""
    if isinstance(cases_or_path, (str, Path)):
        return read_test_cases(cases_or_path)
    if isinstance(cases_or_path, dict) and "test_cases" not in cases_or_path:
        cases_or_path = [cases_or_path]
    if isinstance(cases_or_path, list) and cases_or_path and all(
            isinstance(c, dict) and "ranges" in c and "_file" in c for c in cases_or_path):
        return cases_or_path      # validated already (read_test_cases / validate_test_cases)
    return validate_test_cases(cases_or_path)


# ---- slices ----------------------------------------------------------------------------------
def _tagged(frames, level, index, tag) -> np.ndarray | None:
    """Rows of ``level`` tagged ``tag``; None when no row of that level carries it."""
    if frames is None or TAG_COLUMN not in frames.frame(level):
        return None
    mask = tag_mask(frames.frame(level)[TAG_COLUMN].reindex(index), tag)
    return mask if mask.any() else None


def _closure(lo_inclusive: bool, hi_inclusive: bool) -> str:
    return {(True, True): "both", (True, False): "left", (False, True): "right",
            (False, False): "neither"}[(bool(lo_inclusive), bool(hi_inclusive))]


def slice_masks(case: dict, dataset, metrics=None) -> dict:
    """The slice of a validated test case: ``images`` (bool per dataset.images row),
    ``annotations``, ``predictions`` (bool per row: in the slice) and ``notes``."""
    file, name = case.get("_file"), case["name"]
    n_img, n_ann, n_pred = len(dataset.images), len(dataset.annotations), len(dataset.predictions)
    img = np.ones(n_img, dtype=bool)
    ann = np.ones(n_ann, dtype=bool)
    pred = np.ones(n_pred, dtype=bool)
    notes = []
    index = {"image": dataset.images.index, "object": dataset.annotations.index,
             "prediction": dataset.predictions.index}
    for column, lo, hi, lo_inc, hi_inc in case["ranges"]:
        field = f"where.{column}"
        level, _, bare = column.partition(".")
        if bare and level in LEVELS:
            levels, col = [level], bare
        else:
            levels, col = list(LEVELS), column
        found = None
        for lv in levels:
            values = column_values(metrics, dataset, lv, col, index[lv])
            if values is not None:
                found = (lv, values)
                break
        if found is None:
            known = [c for lv in levels for frame in (
                metrics.frame(lv) if metrics is not None else None,
                {"image": dataset.images, "object": dataset.annotations,
                 "prediction": dataset.predictions}[lv]) if frame is not None
                for c in numeric_metric_columns(frame)]
            raise TestCaseError(unknown_name_message(
                col, known, f"column at level(s) {', '.join(levels)}",
                "Compute the metric first, or check the name."), file, name, field)
        lv, values = found
        closed = _closure(lo_inc, hi_inc)
        inside = range_mask(values, lo, hi, closed)
        if lv == "image":
            img &= inside
        elif lv == "prediction":
            pred &= inside
        else:
            ann &= inside
            pred_values = column_values(metrics, dataset, "prediction", col)
            if pred_values is None:   # no value for detections: unmatched ones are ignored
                pred &= False
                notes.append(f"{col} has no prediction values: unmatched detections ignored")
            else:
                pred &= range_mask(pred_values, lo, hi, closed)
    if case["categories"]:
        known = set(dataset.categories["name"].astype(str))
        unknown = [c for c in case["categories"] if c not in known]
        if unknown:
            raise TestCaseError(unknown_name_message(unknown[0], sorted(known), "category"),
                                file, name, "categories")
        ann &= dataset.annotations["category"].astype(str).isin(case["categories"]).to_numpy()
        pred &= dataset.predictions["category"].astype(str).isin(case["categories"]).to_numpy()
    for tag in case["tags"]:
        masks = {lv: _tagged(metrics, lv, index[lv], tag) for lv in LEVELS}
        if all(m is None for m in masks.values()):
            notes.append(f"no row is tagged {tag!r}")
            img &= False
        if masks["image"] is not None:
            img &= masks["image"]
        if masks["object"] is not None:
            ann &= masks["object"]
            if masks["prediction"] is None:
                pred &= False
        if masks["prediction"] is not None:
            pred &= masks["prediction"]
    return {"images": img, "annotations": ann, "predictions": pred, "notes": notes}


# ---- running ---------------------------------------------------------------------------------
def _passes(value, case) -> bool:
    if not np.isfinite(value):
        return False
    return (case["min"] is None or value >= case["min"]) and \
        (case["max"] is None or value <= case["max"])


def run_test_case(evaluator, case: dict, metrics=None, resamples: int = 200,
                  seed: int = 0, confidence: float = 0.95) -> dict:
    """One validated test case on an :class:`~quality_widgets.Evaluator` (a row of
    :func:`run_test_cases`): the slice's matching once (:meth:`Evaluator.state`), its measure
    through :meth:`Evaluator.measure_many`, and its interval from
    :func:`~quality_widgets.analysis.hypothesis.slice_interval` (random halves of the slice's
    images, of whole videos in a video dataset), the method of the hypothesis test's curve."""
    dataset = evaluator.dataset
    masks = slice_masks(case, dataset, metrics)
    img = masks["images"]
    img_ids = dataset.images.index[img]
    ann_in_images = dataset.annotations["image_id"].isin(img_ids).to_numpy()
    pred_in_images = dataset.predictions["image_id"].isin(img_ids).to_numpy()
    inputs = evaluator.inputs
    ignored = np.zeros(len(dataset.annotations), dtype=bool)   # crowd; keypoints: unlabelled
    ignored[inputs.gt_row] = inputs.gt_ignored
    state = evaluator.state(masks["annotations"], masks["predictions"])
    iou = case["iou"] if case["measure"] in SCORE_MEASURES else None

    def measure(weights):
        return evaluator.measure_many(state, weights, case["measure"],
                                      score_threshold=case["score_threshold"], iou=iou)

    value = float(measure(img.astype(np.int64)[None])[0])
    notes = list(masks["notes"])
    n_ann = int(np.count_nonzero(masks["annotations"] & ann_in_images & ~ignored))
    if n_ann == 0:
        notes.append("no annotation in the slice")
    ci_low = ci_high = float("nan")
    if resamples and np.isfinite(value):
        clusters = cluster_labels(dataset.images, dataset.images.index[np.flatnonzero(img)])
        if len(np.unique(clusters)) < len(clusters):
            notes.append("interval from halves of whole videos")
        else:
            clusters = None
        ci_low, ci_high, _ = slice_interval(
            evaluator, state, case["measure"], images=img, resamples=resamples, seed=seed,
            level=confidence, score_threshold=case["score_threshold"], iou=iou,
            clusters=clusters)
    return {"name": case["name"], "measure": case["measure"], "value": value,
            "ci_low": ci_low, "ci_high": ci_high, "requirement": requirement_text(case),
            "passed": _passes(value, case), "n_images": int(np.count_nonzero(img)),
            "n_annotations": n_ann,
            "n_predictions": int(np.count_nonzero(masks["predictions"] & pred_in_images)),
            "note": "; ".join(notes)}


def run_test_cases(dataset, metrics, cases_or_path, resamples: int = 200, seed: int = 0,
                   confidence: float = 0.95, iou_type: str = "bbox") -> pd.DataFrame:
    """Run test cases on ``dataset`` (with annotations and predictions).

    ``metrics``: the :class:`MetricFrames` holding the columns the slices use (None when they
    only use the dataset's own columns). ``cases_or_path``: a YAML/JSON file, one case (a
    mapping) or a list of them (schema in the module doc). ``resamples``: random halves of
    the slice's images for the ``confidence`` interval (0: none); ``seed`` makes it
    reproducible. Returns one row per case: ``name, measure, value, ci_low, ci_high,
    requirement, passed, n_images, n_annotations, n_predictions, note``; ``passed`` compares the
    value (not the interval) with the requirement. ``iou_type``: how predictions match labels:
    "bbox" (box IoU, default), "segm" (mask IoU of the ``segmentation`` columns) or
    "keypoints" (OKS; the measures are then COCO's 10 keypoint numbers, and a case asking for
    another, e.g. ``APs``, is a :class:`TestCaseError` naming the valid ones). Each value is
    pycocotools' ``COCOeval(..., iouType)`` on the slice.
    """
    cases = as_test_cases(cases_or_path)
    valid = measures_for(iou_type)            # ValueError for an unknown iou_type
    for case in cases:
        if case["measure"] not in valid:
            raise TestCaseError(unknown_measure_message(case["measure"], iou_type),
                                case.get("_file"), case["name"], "measure")
    if metrics is not None and not isinstance(metrics, MetricFrames):
        raise TypeError(f"metrics must be MetricFrames (from compute_metrics) or None, got "
                        f"{type(metrics).__name__}")
    if len(dataset.annotations) == 0 and not dataset.has_annotations:
        raise ValueError("test cases need a dataset with annotations")
    if not dataset.has_predictions and len(dataset.predictions) == 0:
        raise ValueError("test cases need a dataset with predictions (a COCO results file)")
    evaluator = Evaluator(dataset, iou_type=iou_type)
    rows = [run_test_case(evaluator, case, metrics, resamples, seed, confidence)
            for case in cases]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def referenced_columns(cases) -> list[str]:
    """Column names (without level prefixes) the slices of ``cases`` read."""
    out = []
    for case in cases:
        for column, *_ in case["ranges"]:
            level, _, bare = column.partition(".")
            col = bare if bare and level in LEVELS else column
            if col not in out:
                out.append(col)
    return out


def test_case_from_ranges(name: str, level: str, ranges, measure: str = "AP", min_value=None,
                          max_value=None, categories=(), tags=(), description: str = ""
                          ) -> dict:
    """A test case (a mapping of the schema above) for the rows selected by metric ranges.

    ``ranges``: ``(metric, lo, hi)`` triples of columns at ``level`` ("image", "object",
    "prediction"), each ``lo <= value <= hi`` (inclusive, as the Explorer's brush; None or
    +-inf for an open end; reversed bounds are put in order). Ranges of one metric are ANDed
    into their intersection; the case's ``where`` keys are ``level.metric``.
    ``categories``, ``tags``: category names and tag names (each required). The requirement
    is ``min_value <= measure <= max_value`` (at least one). The case is validated here, so a
    bad one fails now with a :class:`TestCaseError` rather than when it is run; an empty
    intersection is such an error.

    Example: ``test_case_from_ranges("dark", "object", [("object_brightness", 0, 0.2)],
    min_value=0.15)`` is ``{"name": "dark", "where": {"object.object_brightness": [0.0,
    0.2]}, "measure": "AP", "min": 0.15}``.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: expected one of {', '.join(LEVELS)}")
    if min_value is None and max_value is None:
        raise ValueError("a test case needs a requirement: min_value and/or max_value")
    bounds: dict = {}
    for metric, lo, hi in ranges:
        lo = -math.inf if lo is None else float(lo)
        hi = math.inf if hi is None else float(hi)
        lo, hi = (hi, lo) if hi < lo else (lo, hi)
        key = f"{level}.{metric}"
        old_lo, old_hi = bounds.get(key, (-math.inf, math.inf))
        bounds[key] = (max(lo, old_lo), min(hi, old_hi))
    where = {key: [None if math.isinf(lo) else lo, None if math.isinf(hi) else hi]
             for key, (lo, hi) in bounds.items()}
    case: dict = {"name": name}
    if description:
        case["description"] = description
    case.update(where=where, measure=measure)
    if categories:
        case["categories"] = [str(c) for c in categories]
    if tags:
        case["tags"] = [str(t) for t in tags]
    if min_value is not None:
        case["min"] = float(min_value)
    if max_value is not None:
        case["max"] = float(max_value)
    validate_test_cases([case])
    return case


test_case_from_ranges.__test__ = False     # not a pytest test, whatever module imports it

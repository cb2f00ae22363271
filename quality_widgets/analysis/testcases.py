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
    ``{"<": 0.2}``, ``{">=": 32, "<": 96}``. NaN is in no range. A mapping with the key
    ``"in"`` is a membership: ``{"annotator": {"in": ["ann2"]}}`` keeps the rows whose value
    (as text) is one of the list (the Explorer's ``where``).
``categories`` (list of category names, optional)
    Only these categories' annotations and predictions (AP then averages over them).
``tags`` (list of tag names, optional)
    Only rows tagged with each of them (the Explorer's tags), at every level where the tag is
    used: tagged images, tagged annotations, tagged predictions; ``"image.review"`` only at
    the image level.
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
The fields ``where``, ``categories`` and ``tags`` are a :class:`~quality_widgets.slicing.Slice`
(``Slice.from_test_case(case)``; an Explorer selection is one too, ``explorer.slice``), and its
rule says which images, labels and predictions are in: the Explorer shows the same rows.
Image conditions choose images (the others are left out, as pycocotools' imgIds). Object
conditions apply like pycocotools' area ranges: ground truth outside is ignored (a detection
matched to it is ignored too), and an unmatched detection is ignored when its own value is
outside. A column that only annotations have (``shape_outlier``, ``annotation_duplicate``...)
has no value for a detection, so unmatched detections are ignored on such a slice (precision
there counts the detections that matched its objects; the result's note says so). Prediction
ranges (``confidence``, ``prediction.*``) restrict the detections only.

Every error in a file is a :class:`TestCaseError` naming the file, the test case and the field.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..evaluation import MEASURE_ALIASES, Evaluator
from ..evaluation.measures import (
    ALL_MEASURE_NAMES,
    MEASURES,  # the measures by name, re-exported: testcases.MEASURES keeps working
    measures_for,
    unknown_measure_message,
)
from ..frames import LEVELS, MetricFrames
from ..slicing import BOUNDS, Range, Slice, SliceError, parse_bounds, split_level  # noqa: F401
from .hypothesis import slice_interval
from .statistics import cluster_labels

SCORE_MEASURES = tuple(n for n, s in MEASURES.items() if s.kind == "at_score")
#: Every name a file may use: the 12 COCO numbers and precision / recall, and the keypoint
#: names AR, AR50, AR75 (:func:`run_test_cases` checks them against its ``iou_type``).
FILE_MEASURES = ALL_MEASURE_NAMES
FIELDS = ("name", "description", "where", "categories", "tags", "measure", "iou",
          "score_threshold", "min", "max")
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
    bounds, see the schema and :func:`quality_widgets.slicing.parse_bounds`); open ends are
    -inf / +inf."""
    try:
        return parse_bounds(spec, field)
    except SliceError as e:
        raise TestCaseError(e.reason, file, case, e.field) from None


def _slice_of(case: dict, file, name) -> Slice:
    try:
        return Slice.from_test_case(case)
    except SliceError as e:
        raise TestCaseError(e.reason, file, name, e.field) from None


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
        categories = _names(case.get("categories", []), file, name, "categories")
        tags = _names(case.get("tags", []), file, name, "tags")
        slice_ = _slice_of(case, file, name)
        ranges = [(r.key, r.lo, r.hi, r.lo_inclusive, r.hi_inclusive) for r in slice_.ranges]
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
                    "ranges": ranges, "categories": categories, "tags": tags,
                    "slice": slice_, "measure": measure, "iou": iou,
                    "score_threshold": threshold, "min": lo, "max": hi, "_file": file})
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
def slice_masks(case: dict, dataset, metrics=None) -> dict:
    """The slice of a validated test case (its :class:`~quality_widgets.slicing.Slice`, as
    :meth:`Slice.evaluation_masks` applies it): ``images`` (bool per dataset.images row),
    ``annotations``, ``predictions`` (bool per row: in the slice) and ``notes``."""
    slice_ = case.get("slice") or _slice_of(case, case.get("_file"), case["name"])
    try:
        masks = slice_.evaluation_masks(dataset, metrics)
    except SliceError as e:
        raise TestCaseError(e.reason, case.get("_file"), case["name"], e.field) from None
    return {"images": masks.images, "annotations": masks.annotations,
            "predictions": masks.predictions, "notes": list(masks.notes)}


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
        slice_ = case.get("slice") or Slice.from_test_case(case)
        for key in [r.key for r in slice_.ranges] + list(slice_.where):
            column = split_level(key)[1]
            if column not in out:
                out.append(column)
    return out


def test_case_from_slice(name: str, slice, measure: str = "AP", min_value=None,
                         max_value=None, description: str = "") -> dict:
    """A test case (a mapping of the schema above) of a :class:`~quality_widgets.slicing.Slice`
    (``explorer.slice``, ``Slice(ranges=..., categories=...)``) with the requirement
    ``min_value <= measure <= max_value`` (at least one): :meth:`Slice.to_test_case`,
    validated here, so a bad case fails now with a :class:`TestCaseError` rather than when it
    is run (ranges of one column that do not meet are such an error)."""
    try:
        case = slice.to_test_case(name, measure, min_value, max_value, description)
    except SliceError as e:
        raise TestCaseError(e.reason, None, name, e.field) from None
    validate_test_cases([case])
    return case


def test_case_from_ranges(name: str, level: str, ranges, measure: str = "AP", min_value=None,
                          max_value=None, categories=(), tags=(), description: str = ""
                          ) -> dict:
    """A test case (a mapping of the schema above) for the rows selected by metric ranges.

    ``ranges``: ``(metric, lo, hi)`` triples of columns at ``level`` ("image", "object",
    "prediction"), each ``lo <= value <= hi`` (inclusive, as the Explorer's brush; None or
    +-inf for an open end; reversed bounds are put in order). Ranges of one metric are ANDed
    into their intersection; the case's ``where`` keys are ``level.metric``.
    ``categories``, ``tags``: category names and tag names (each required). The requirement
    is ``min_value <= measure <= max_value`` (at least one). The case is validated
    (:func:`test_case_from_slice`); an empty intersection is a :class:`TestCaseError`.

    Example: ``test_case_from_ranges("dark", "object", [("object_brightness", 0, 0.2)],
    min_value=0.15)`` is ``{"name": "dark", "where": {"object.object_brightness": [0.0,
    0.2]}, "measure": "AP", "min": 0.15}``.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: expected one of {', '.join(LEVELS)}")
    slice_ = Slice([Range(metric, lo, hi, "both", level) for metric, lo, hi in ranges],
                   categories, tags)
    return test_case_from_slice(name, slice_, measure, min_value, max_value, description)


test_case_from_slice.__test__ = False      # not a pytest test, whatever module imports it
test_case_from_ranges.__test__ = False     # not a pytest test, whatever module imports it

"""quality-widgets: quality metrics for computer-vision data, labels and models, in Jupyter.

Layers, each importing only those before it or beside it (see ``docs/architecture.md``;
``tests/test_layout.py`` checks it): ``errors``, ``jsonsafe`` -> ``data`` (Dataset, readers,
decoding) -> ``frames`` (``MetricFrames``, the metrics folder) and ``slicing`` (``Slice``: which
rows are in a slice) -> ``compute`` (``@metric``, ``compute_metrics``, cache, pool) ->
``evaluation`` (COCO) -> ``analysis`` (statistics, hypothesis, drift, test cases, label
errors), ``export`` and ``export_fixes`` -> ``widgets`` -> ``cli``. Widgets are imported
lazily, so worker processes and scripts that only compute never load ipywidgets or bqplot.
"""
from .analysis import reference
from .analysis.annotators import annotator_report
from .analysis.drift import compare as compare_drift
from .analysis.label_errors import add_label_scores, find_label_errors
from .analysis.reference import compare as compare_to_reference
from .analysis.testcases import TestCaseError, run_test_cases
from .compute import similarity
from .compute.engine import compute_metrics
from .compute.registry import Metric, load_metric_file, metric, registered_metrics
from .data.dataset import Dataset
from .data.sample import load_sample, sample_paths
from .data.sample_video import write_sample_video
from .errors import DatasetError, DataWarning, ExportError
from .evaluation import EvaluationResult, Evaluator, add_outcomes, evaluate
from .export import export  # the function; bound after the submodule so it wins the name
from .export_fixes import apply_fixes
from .frames import MetricFrames, read_metrics
from .slicing import Slice

__version__ = "0.1.0"

_LAZY = {
    "Explorer": ("quality_widgets.widgets.explorer", "Explorer"),
    "HypothesisTest": ("quality_widgets.widgets.hypothesis", "HypothesisTest"),
    "test_hypothesis": ("quality_widgets.analysis.hypothesis", "test_hypothesis"),
    "rank_metrics": ("quality_widgets.analysis.hypothesis", "rank_metrics"),
    "performance_curve": ("quality_widgets.analysis.hypothesis", "performance_curve"),
    "MetricRanking": ("quality_widgets.widgets.hypothesis", "MetricRanking"),
    "DriftView": ("quality_widgets.widgets.drift", "DriftView"),
    "TestCaseTable": ("quality_widgets.widgets.testcases", "TestCaseTable"),
    "LabelNext": ("quality_widgets.widgets.label_next", "LabelNext"),
    "show_images": ("quality_widgets.widgets.static", "show_images"),
    "TrackView": ("quality_widgets.widgets.tracks", "TrackView"),
    "LabelErrors": ("quality_widgets.widgets.label_errors", "LabelErrors"),
    "AnnotatorView": ("quality_widgets.widgets.annotators", "AnnotatorView"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'quality_widgets' has no attribute {name!r}")


__all__ = ["Dataset", "compute_metrics", "DataWarning", "DatasetError", "ExportError",
           "EvaluationResult", "Evaluator", "add_outcomes", "evaluate", "MetricFrames", "Metric",
           "load_metric_file", "metric", "registered_metrics", "load_sample", "sample_paths",
           "export", "write_sample_video",
           "compare_drift", "run_test_cases", "TestCaseError", "read_metrics",
           "find_label_errors", "add_label_scores", "apply_fixes", "annotator_report",
           "compare_to_reference", "reference", "similarity", "Slice",
           *_LAZY]

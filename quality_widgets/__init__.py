"""quality-widgets: quality metrics for computer-vision data, labels and models, in Jupyter."""
from .dataset import Dataset
from .errors import DataWarning, DatasetError, ExportError

__version__ = "0.1.0"
from .registry import Metric, metric, registered_metrics, load_metric_file
from .frames import MetricFrames
from .engine import compute_metrics
from .sample import load_sample

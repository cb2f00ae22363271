"""quality-widgets: quality metrics for computer-vision data, labels and models, in Jupyter."""
from .dataset import Dataset
from .errors import DataWarning, DatasetError, ExportError

__version__ = "0.1.0"

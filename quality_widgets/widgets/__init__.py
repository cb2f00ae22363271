"""Widgets: display and link only; the computations live in :mod:`quality_widgets.selection`."""
from .explorer import Explorer
from .gallery import Gallery
from .histogram import MetricHistogram
from .scatter import MetricScatter

__all__ = ["Explorer", "Gallery", "MetricHistogram", "MetricScatter"]

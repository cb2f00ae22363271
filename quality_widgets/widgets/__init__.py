"""Widgets: display and link only; the computations live in :mod:`quality_widgets.analysis`
(bins, masks, paging, groups: :mod:`quality_widgets.analysis.selection`). ``static`` draws the
ipyplot grids that stay in a saved notebook; ``traits`` holds the ``selection`` trait type and
the ``_quiet()`` context the widgets share."""
from .explorer import Explorer
from .gallery import Gallery
from .histogram import MetricHistogram
from .scatter import MetricScatter
from .static import show_images

__all__ = ["Explorer", "Gallery", "MetricHistogram", "MetricScatter", "show_images"]

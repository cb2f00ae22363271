"""LabelNext: the images to label next, most uncertain first, by an acquisition metric.

The acquisition metrics (``n_uncertain``, ``mean_confidence``, ``max_prediction_entropy``...)
are the built-in image metrics of ``metrics/acquisition.py``; this view is the :class:`Gallery`
sorted by one of them, with a switch for the direction.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from ..analysis import selection as sel
from ..frames import MetricFrames
from .gallery import Gallery
from .thumbnails import ThumbnailCache
from .traits import Quiet

# Acquisition columns and the sort direction that puts the most informative image first.
ACQUISITION_ORDER = {
    "n_uncertain": False, "max_prediction_entropy": False, "mean_prediction_entropy": False,
    "max_least_confidence": False, "mean_least_confidence": False, "min_margin": True,
    "mean_margin": True, "min_confidence": True, "mean_confidence": True,
    "n_predictions": False,
}


def label_next_order(frame: pd.DataFrame, metric: str, ascending: bool | None = None,
                     n: int | None = None) -> pd.Index:
    """Image ids of ``frame`` sorted by ``metric`` for labelling (NaN last; default direction
    from :data:`ACQUISITION_ORDER`, descending for other columns), the first ``n``."""
    if ascending is None:
        ascending = ACQUISITION_ORDER.get(metric, False)
    positions = sel.sorted_positions(sel.as_float(frame[metric]), None, ascending, stop=n)
    return frame.index[positions]


class LabelNext(Quiet, widgets.VBox):
    """The gallery of images sorted by an acquisition metric (most uncertain first).

    ``LabelNext(metrics, metric="n_uncertain")``: ``metrics`` are MetricFrames holding the
    acquisition columns (``compute_metrics`` computes them when the dataset has predictions).
    ``metric`` and ``ascending`` are traits (a dropdown and a toggle); :meth:`top` gives the
    ids to send for labelling.
    """

    metric = traitlets.Unicode("n_uncertain")
    ascending = traitlets.Bool(False)

    def __init__(self, metrics: MetricFrames, metric: str = "n_uncertain",
                 ascending: bool | None = None, thumbnail_size: int = 160,
                 per_page: int = sel.PER_PAGE, **kwargs):
        if not isinstance(metrics, MetricFrames):
            raise TypeError(f"LabelNext needs MetricFrames, got {type(metrics).__name__}")
        self.frames = metrics
        frame = metrics.images
        options = [c for c in ACQUISITION_ORDER if c in frame.columns
                   and np.isfinite(sel.as_float(frame[c])).any()]
        if metric not in frame.columns:
            raise KeyError(f"no image column {metric!r}; acquisition columns present: "
                           f"{', '.join(options) or 'none (the dataset has no predictions?)'}")
        if metric not in options:
            options.append(metric)
        self.metric_control = widgets.Dropdown(description="label next by", options=options,
                                               value=metric,
                                               layout=widgets.Layout(width="360px"))
        self.order_note = widgets.HTML()
        self.gallery = Gallery(thumbnails=ThumbnailCache(metrics.cache_dir, size=thumbnail_size)
                               if metrics.cache_dir is not None else
                               ThumbnailCache(size=thumbnail_size), per_page=per_page)
        self.gallery.mode_control.layout.display = "none"
        super().__init__(children=[widgets.HBox([self.metric_control, self.order_note]),
                                   self.gallery], **kwargs)
        with self._quiet():
            self.metric = metric
            self.ascending = (ACQUISITION_ORDER.get(metric, False) if ascending is None
                              else ascending)
        widgets.link((self.metric_control, "value"), (self, "metric"))
        widgets.link((self, "ascending"), (self.gallery, "ascending"))
        self._show()

    @traitlets.observe("metric")
    def _on_metric(self, change):
        if not self._quieted:
            # Each metric has its own "most uncertain first" direction.
            self.ascending = ACQUISITION_ORDER.get(change["new"], False)
            self._show()

    def _show(self) -> None:
        frame = self.frames.images
        # gallery.ascending follows self.ascending through the link
        self.gallery.show(frame, self.metric, None, values=sel.as_float(frame[self.metric]))
        direction = "lowest" if self.ascending else "highest"
        self.order_note.value = html.escape(f"{direction} {self.metric} first")

    def top(self, n: int = 20) -> pd.Index:
        """Ids of the first ``n`` images to label, in the shown order."""
        return label_next_order(self.frames.images, self.metric, self.ascending, n)

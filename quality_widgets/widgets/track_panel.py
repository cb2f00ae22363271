"""The Explorer's track panel (video datasets): a "show track" button and the
:class:`~quality_widgets.widgets.tracks.TrackView` it opens below the gallery. Display only:
which track a selection holds and which metrics follow a track are asked of
:mod:`quality_widgets.analysis.tracks`."""
from __future__ import annotations

import ipywidgets as widgets

from ..analysis.tracks import track_metrics


class TrackPanel:
    """``button`` (shown only when the frame has a ``track_id`` column) and ``box`` (holding
    the ``view`` once opened). Not a widget itself: its two parts sit in different rows."""

    def __init__(self):
        self.button = widgets.Button(description="show track", icon="film",
                                     tooltip="the track of the first selected object, "
                                             "frame by frame")
        self.box = widgets.VBox()
        self.view = None

    def available(self, frame) -> None:
        self.button.layout.display = None if "track_id" in frame else "none"

    def show(self, frames, level: str, track_id, video=None, metric: str = "", at=None):
        """Open (or move) the view on ``track_id`` of ``video`` at ``level``, plotting
        ``metric`` when it is measured along tracks (else the view's default), at the row
        ``at`` when it is one of the track's. Returns the view."""
        from .tracks import TrackView
        metric = metric if metric in track_metrics(level) else None
        if self.view is None or self.view.level != level:
            self.view = TrackView(frames, track_id, video=video, metric=metric, level=level)
            self.box.children = [self.view]
        else:
            self.view.show(track_id, video)
        if at is not None and at in self.view.rows.index:
            self.view.position = int(self.view.rows.index.get_loc(at))
        return self.view

"""TrackView: one track of a video dataset, frame by frame, with a metric along it.

``qw.TrackView(metrics, track_id=3)`` shows the track's current frame with its box (and
polygon) drawn, a strip of the neighbouring frames, a slider over the track's frames and the
chosen metric plotted against the frame index with the current frame marked. The rows come
from :func:`quality_widgets.analysis.tracks.track_rows`; this module only draws.
"""
from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import traitlets
from PIL import Image, ImageDraw

from ..analysis import selection as sel
from ..analysis.tracks import track_metrics, track_rows
from ..data.imaging import ImageDecodeError, decode_rgb
from ..frames import MetricFrames, as_metric_frames, numeric_metric_columns
from .thumbnails import data_uri, encode_jpeg
from .traits import Quiet

BOX_COLOR = "#ff7f0e"
POLYGON_COLOR = "#17becf"
STRIP_FRAMES = 9            # frames shown in the strip around the current one


def render_frame(path, box, segmentation=None, size: int = 480) -> bytes:
    """JPEG bytes of the image at ``path`` (a file or a video frame reference) shrunk to
    ``size`` pixels on its longer side, with the box xywh and the polygon parts drawn.
    Raises :class:`ImageDecodeError` when the pixels cannot be had."""
    pixels = decode_rgb(path)
    image = Image.fromarray(pixels)
    scale = min(1.0, size / max(image.size))
    if scale < 1.0:
        image = image.resize((max(1, round(image.width * scale)),
                              max(1, round(image.height * scale))), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    line = max(2, round(max(image.size) / 160))
    if isinstance(segmentation, list):
        for part in segmentation:
            pts = np.asarray(part, dtype=float).reshape(-1, 2) * scale
            if len(pts) >= 3 and np.isfinite(pts).all():
                draw.line([tuple(p) for p in pts.tolist()] + [tuple(pts[0].tolist())],
                          fill=POLYGON_COLOR, width=line)
    if box is not None and all(np.isfinite(box)):
        x, y, w, h = (float(v) * scale for v in box)
        draw.rectangle([x, y, max(x + w, x + 1), max(y + h, y + 1)], outline=BOX_COLOR,
                       width=line)
    return encode_jpeg(image)


class TrackView(Quiet, widgets.VBox):
    """One track: current frame with box / polygon, a strip of neighbours, a frame slider and a
    metric plotted along the track (current frame marked).

    ``TrackView(metrics, track_id, video=None, metric=None, level="object")``: ``metrics`` are
    the MetricFrames of a video dataset; ``video`` is needed only when the id occurs in several
    videos; ``metric`` defaults to ``shape_similarity`` (or the first temporal metric present).
    Traits: ``track_id``, ``video``, ``metric``, ``position`` (0-based index of the current
    frame within the track; the slider sets it). ``rows`` is the track's table.
    """

    track_id = traitlets.Int()
    video = traitlets.Unicode(None, allow_none=True)
    metric = traitlets.Unicode("")
    position = traitlets.Int(0)

    def __init__(self, metrics, track_id: int, video=None, metric: str | None = None,
                 level: str = "object", size: int = 480, strip_size: int = 96, **kwargs):
        self.frames = as_metric_frames(metrics)
        if not isinstance(self.frames, MetricFrames):
            raise TypeError("TrackView needs MetricFrames")
        self.level = level.rstrip("s")
        self.size, self.strip_size = int(size), int(strip_size)
        self._cache: dict = {}
        self.header = widgets.HTML()
        self.header.add_class("qw-track-header")
        self.metric_control = widgets.Dropdown(description="metric",
                                               layout=widgets.Layout(width="300px"))
        self.slider = widgets.IntSlider(description="frame", min=0, max=0, continuous_update=True,
                                        readout=False, layout=widgets.Layout(width="480px"))
        self.frame_label = widgets.HTML()
        self.image = widgets.HTML()
        self.image.add_class("qw-track-frame")
        self.strip = widgets.HTML()
        self.strip.add_class("qw-track-strip")
        self.x_scale, self.y_scale = bq.LinearScale(), bq.LinearScale()
        self.line = bq.Lines(x=np.zeros(1), y=np.zeros(1), colors=["#1f77b4"], marker="circle",
                             marker_size=24, scales={"x": self.x_scale, "y": self.y_scale})
        self.current = bq.Scatter(x=np.zeros(1), y=np.zeros(1), colors=[BOX_COLOR],
                                  default_size=120, scales={"x": self.x_scale,
                                                            "y": self.y_scale})
        self.x_axis = bq.Axis(scale=self.x_scale, label="frame index", tick_format="d")
        self.y_axis = bq.Axis(scale=self.y_scale, side="left", label="")
        self.plot = bq.Figure(marks=[self.line, self.current], axes=[self.x_axis, self.y_axis],
                              layout=widgets.Layout(width="520px", height="240px"),
                              fig_margin={"top": 10, "bottom": 40, "left": 60, "right": 10})
        self.plot.add_class("qw-track-plot")
        super().__init__(children=[
            self.header,
            widgets.HBox([self.image, widgets.VBox([self.metric_control, self.plot])]),
            widgets.HBox([self.slider, self.frame_label]),
            self.strip], **kwargs)
        self.add_class("qw-trackview")
        with self._quiet():
            self.video = None if video is None else str(video)
            self.track_id = int(track_id)
            self._load(metric)
        widgets.link((self.slider, "value"), (self, "position"))
        widgets.link((self.metric_control, "value"), (self, "metric"),
                     transform=(lambda v: v or "", lambda v: v or None))
        self._show()

    # ---- data ----------------------------------------------------------------------------
    def _load(self, metric=None) -> None:
        self.rows = track_rows(self.frames, self.track_id, self.video, self.level)
        if self.video is None:
            videos = self.rows["video"].dropna()
            self.video = str(videos.iloc[0]) if len(videos) else None
        columns = [c for c in numeric_metric_columns(self.rows)
                   if c not in ("video", "frame_index", "category_id", "track_id")
                   and np.isfinite(sel.as_float(self.rows[c])).any()]
        # The metrics that follow a track first (the registry's, never a list kept here), the
        # last defined first: metrics/temporal.py defines the track bookkeeping (gap_after,
        # track_length...) before the frame-to-frame comparisons (shape_similarity,
        # box_jump, area_change), which are what a track's plot is read for.
        temporal = [c for c in reversed(track_metrics(self.level)) if c in columns]
        options = temporal + [c for c in columns if c not in temporal]
        self.metric_control.options = options
        if metric is not None and metric not in self.rows:
            raise KeyError(f"no column {metric!r} for this track; metrics: {', '.join(options)}")
        chosen = metric or (options[0] if options else "")
        self.metric_control.value = chosen or None
        self.metric = chosen
        self.slider.max = max(0, len(self.rows) - 1)
        self.position = min(self.position, len(self.rows) - 1)
        categories = ", ".join(sorted(map(str, self.rows["category"].dropna().unique()))) \
            if "category" in self.rows else ""
        fi = self.rows["frame_index"].to_numpy(dtype=float)
        self.header.value = html.escape(
            f"track {self.track_id}" + (f" in {self.video}" if self.video else "")
            + f": {len(self.rows)} frames ({sel.format_value(fi.min())}"
            f"-{sel.format_value(fi.max())})" + (f", {categories}" if categories else ""))

    @traitlets.observe("track_id", "video")
    def _on_track(self, change):
        if not self._quieted:   # a new id alone: look for it in every video
            self.show(self.track_id, self.video if change["name"] == "video" else None)

    @traitlets.observe("metric", "position")
    def _on_change(self, change):
        if not self._quieted:
            self._show()

    def show(self, track_id: int, video=None) -> None:
        """Switch to another track (``video`` when the id occurs in several videos)."""
        with self._quiet():
            self.video = None if video is None else str(video)
            self.track_id = int(track_id)
            self.position = 0
            self._load(self.metric if self.metric else None)
        self._show()

    # ---- drawing -------------------------------------------------------------------------
    def _picture(self, i: int, size: int) -> str:
        row = self.rows.iloc[i]
        box = tuple(float(row[c]) for c in ("bbox_x", "bbox_y", "bbox_w", "bbox_h"))
        key = (row["path"], box, size)
        if key not in self._cache:
            try:
                self._cache[key] = data_uri(render_frame(row["path"], box, row["segmentation"],
                                                     size))
            except ImageDecodeError as e:
                self._cache[key] = str(e)
        return self._cache[key]

    def _img(self, i: int, size: int, current: bool) -> str:
        src = self._picture(i, size)
        fi = sel.format_value(float(self.rows["frame_index"].iloc[i]))
        border = f"3px solid {BOX_COLOR}" if current else "3px solid transparent"
        if not src.startswith("data:"):
            return (f"<div title='{html.escape(src)}' style='width:{size}px;height:{size}px;"
                    f"border:{border};font-size:11px'>frame {fi}: {html.escape(src)}</div>")
        return (f"<img src='{src}' title='frame {fi}' data-frame='{fi}' "
                f"style='max-width:{size}px;border:{border}'/>")

    def _show(self) -> None:
        n = len(self.rows)
        if n == 0:
            return
        pos = min(max(self.position, 0), n - 1)
        self.image.value = self._img(pos, self.size, False)
        lo = max(0, min(pos - STRIP_FRAMES // 2, n - STRIP_FRAMES))
        cells = [self._img(i, self.strip_size, i == pos)
                 for i in range(lo, min(n, lo + STRIP_FRAMES))]
        self.strip.value = ("<div style='display:flex;flex-wrap:wrap;gap:4px;"
                            "align-items:flex-start'>" + "".join(cells) + "</div>")
        fi = self.rows["frame_index"].to_numpy(dtype=float)
        value = np.nan
        if self.metric and self.metric in self.rows:
            y = sel.as_float(self.rows[self.metric])
            ok = np.isfinite(y)
            with self.line.hold_sync():
                self.line.x = fi[ok] if ok.any() else np.zeros(1)
                self.line.y = y[ok] if ok.any() else np.zeros(1)
            value = y[pos]
            self.y_axis.label = self.metric
            with self.current.hold_sync():
                self.current.x = [fi[pos]]
                self.current.y = [value if np.isfinite(value) else
                                  (float(np.nanmin(y)) if ok.any() else 0.0)]
        text = f"frame {sel.format_value(fi[pos])} ({pos + 1} / {n})"
        if self.metric:
            text += f"; {self.metric} = {sel.format_value(value)}"
        self.frame_label.value = html.escape(text)

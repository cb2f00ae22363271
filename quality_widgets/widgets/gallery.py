"""The image gallery: one page of the selected rows, sorted by a metric, as one HTML grid.

Rendered into a ``widgets.HTML`` (not an Output widget) so that it works the same in a kernel
with no browser (tests, nbclient) and in every frontend. Thumbnails are data-URI JPEGs from
:class:`~quality_widgets.thumbnails.ThumbnailCache`; every caption, file name and category is
HTML-escaped. ipyplot's grid helpers are not used: they do not escape labels and re-encode every
image as PNG on each call.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from ..analysis import selection as sel
from .thumbnails import ThumbnailCache, ThumbnailRequest, data_uri, shapes_for
from .traits import Paged

OUTCOME_COLORS = {"TP": "#2ca02c", "FP": "#d62728", "ignored": "#7f7f7f"}
BOX_COLOR = "#ff7f0e"
BOX_COLUMNS = ["bbox_x", "bbox_y", "bbox_w", "bbox_h"]


def _text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def tile_html(src: str | None, caption_lines, title: str, border: str | None = None,
              error: str | None = None, size: int = 160) -> str:
    """One gallery tile; every text argument is escaped here."""
    style = (f"border:3px solid {border};" if border else "border:1px solid #ddd;")
    if src is not None:
        body = (f'<img src="{src}" alt="{html.escape(title)}" title="{html.escape(title)}" '
                f'style="max-width:{size}px;max-height:{size}px;display:block;margin:auto"/>')
    else:
        body = (f'<div title="{html.escape(title)}" style="width:{size}px;height:{size // 2}px;'
                f'display:flex;align-items:center;justify-content:center;background:#f3f3f3;'
                f'color:#a33;font-size:11px;text-align:center;overflow:hidden">'
                f'{html.escape(error or "no image")}</div>')
    caption = "<br/>".join(html.escape(line) for line in caption_lines if line)
    return (f'<figure class="qw-tile" style="margin:0;padding:3px;{style}background:white">'
            f'{body}<figcaption style="font-size:11px;line-height:1.25;word-break:break-all;'
            f'max-width:{size}px">{caption}</figcaption></figure>')


def grid_html(tiles, size: int = 160) -> str:
    return ('<div class="qw-gallery" style="display:grid;gap:6px;grid-template-columns:'
            f'repeat(auto-fill,minmax({size + 10}px,1fr))">' + "".join(tiles) + "</div>")


def thumbnail_requests(rows: pd.DataFrame, mode: str = "box", dataset=None):
    """``(requests, borders)`` for the rows of a frame: a :class:`ThumbnailRequest` per row (the
    whole image, or with ``mode`` "box" / "crop" its box when the rows have box columns,
    outlined in the colour of its ``outcome``, with its mask and skeleton from ``dataset``
    when it has them), and the tile border colour (None, or the outcome's colour for
    predictions)."""
    has_box = all(c in rows.columns for c in BOX_COLUMNS)
    n = len(rows)
    paths = rows["path"].tolist() if "path" in rows else [None] * n
    widths = rows["width"].tolist() if "width" in rows else [None] * n
    heights = rows["height"].tolist() if "height" in rows else [None] * n
    outcomes = rows["outcome"].tolist() if "outcome" in rows else [None] * n
    boxes = rows[BOX_COLUMNS].to_numpy(dtype=float) if has_box else None
    segs, kps, skeletons = shapes_for(dataset, rows)
    requests, borders = [], []
    for i, path in enumerate(paths):
        w, h = widths[i], heights[i]
        size = (int(w), int(h)) if _text(w) and _text(h) else None
        color = OUTCOME_COLORS.get(outcomes[i], BOX_COLOR) if outcomes[i] else BOX_COLOR
        path = path if isinstance(path, str) else None
        if has_box:
            requests.append(ThumbnailRequest(path, mode=mode, box=tuple(boxes[i]), color=color,
                                             image_size=size, segmentation=segs[i],
                                             keypoints=kps[i], skeleton=skeletons[i]))
        else:
            requests.append(ThumbnailRequest(path, image_size=size))
        borders.append(OUTCOME_COLORS.get(outcomes[i]) if outcomes[i] else None)
    return requests, borders


def caption_lines(rows: pd.DataFrame, metric: str = "", values=None,
                  with_id: bool = True) -> list[list[str]]:
    """Plain-text caption lines per row (the caller escapes them): ``metric = value`` (when
    ``metric``; ``values`` is that column as floats, if the caller has it), ``image_id 42``
    (when ``with_id``), the category (with the score and outcome of a prediction), the file
    name."""
    index_name = rows.index.name or "id"
    cols = {c: rows[c].tolist() for c in ("file_name", "category", "outcome", "score")
            if c in rows.columns}
    if metric and values is None:
        values = sel.as_float(rows[metric])
    out = []
    for i, row_id in enumerate(rows.index.tolist()):
        lines = [f"{metric} = {sel.format_value(values[i])}"] if metric else []
        if with_id:
            lines.append(f"{index_name} {row_id}")
        if "category" in cols and _text(cols["category"][i]):
            line = _text(cols["category"][i])
            if "score" in cols and _text(cols["score"][i]) and index_name == "prediction_id":
                line += f" ({sel.format_value(cols['score'][i])})"
            if "outcome" in cols and _text(cols["outcome"][i]):
                line += f" {cols['outcome'][i]}"
            lines.append(line)
        if "file_name" in cols:
            lines.append(_text(cols["file_name"][i]))
        out.append(lines)
    return out


class Gallery(Paged, widgets.VBox):
    """One page of the rows of ``frame`` in ``mask``, sorted by ``metric``.

    ``ids`` are the row ids shown, in order (read it; the gallery sets it). ``page`` (0-based),
    ``ascending``, ``per_page`` and ``mode`` ("box": the whole image with the box drawn, or
    "crop": the box's crop; only for object and prediction rows) re-render on change.
    Predictions with an ``outcome`` column are outlined green (TP), red (FP) or grey (ignored).
    Feed it with :meth:`show`, which sets the data and renders once.
    """

    metric = traitlets.Unicode("")
    ascending = traitlets.Bool(True)
    per_page = traitlets.Int(sel.PER_PAGE)
    total = traitlets.Int(0)
    mode = traitlets.Enum(["box", "crop"], default_value="box")
    ids = traitlets.List()

    def __init__(self, frame: pd.DataFrame | None = None, metric: str = "", mask=None,
                 thumbnails: ThumbnailCache | None = None, per_page: int = sel.PER_PAGE,
                 **kwargs):
        self.thumbnails = thumbnails or ThumbnailCache()
        self.dataset = None     # set by the Explorer: masks and skeletons are drawn from it
        self.order_control = widgets.ToggleButtons(
            options=[("ascending", True), ("descending", False)], value=True,
            style={"button_width": "90px"})
        self.mode_control = widgets.ToggleButtons(
            options=[("box on image", "box"), ("crop", "crop")], value="box",
            style={"button_width": "95px"})
        self.html = widgets.HTML()
        super().__init__(children=[
            widgets.HBox([self.order_control, self.mode_control, *self._page_controls()]),
            self.html], **kwargs)
        widgets.link((self.order_control, "value"), (self, "ascending"))
        widgets.link((self.mode_control, "value"), (self, "mode"))
        self._frame = frame if frame is not None else pd.DataFrame()
        self._values = None
        self._mask = mask
        self.last_page: sel.Page | None = None
        self.per_page = per_page
        self.show(frame, metric, mask)

    # ---- data ----------------------------------------------------------------------------
    def show(self, frame=None, metric: str | None = None, mask=None, values=None,
             page: int = 0) -> None:
        """Show ``mask`` rows of ``frame`` sorted by ``metric`` (``values``: that column as a
        float array, if the caller already has it), from ``page``; renders once."""
        with self._quiet():
            if frame is not None:
                self._frame = frame
            if metric is not None:
                self.metric = metric
            self._mask = mask
            self._values = values
            self.page = page
        self.render()

    @property
    def frame(self) -> pd.DataFrame:
        return self._frame

    @traitlets.observe("ascending", "mode", "per_page")
    def _on_order(self, change):
        self._first_page()

    # ---- rendering -----------------------------------------------------------------------
    def render(self) -> None:
        """Compute the page and redraw the grid."""
        frame = self._frame
        if frame is None or len(frame) == 0 or not self.metric or self.metric not in frame:
            self.last_page = None
            with self._quiet():
                self.ids, self.n_pages, self.total, self.page = [], 1, 0, 0
            self.page_label.value = "page 1 / 1"
            self.html.value = "<i>nothing to show</i>"
            return
        page = sel.sort_page(frame, self.metric, self.ascending, self.page, self.per_page,
                             mask=self._mask, values=self._values)
        self.last_page = page
        rows = frame.iloc[page.positions]
        has_box = all(c in frame.columns for c in BOX_COLUMNS)
        display = None if has_box else "none"
        if self.mode_control.layout.display != display:
            self.mode_control.layout.display = display
        requests, borders = thumbnail_requests(rows, self.mode, self.dataset)
        jpegs = self.thumbnails.get_many(requests)
        captions = caption_lines(rows, self.metric, page.values)
        tiles = []
        for i, row_id in enumerate(page.ids):
            jpeg = jpegs[i]
            title = f"{rows.index.name or 'id'} {row_id}: " + _text(
                rows["file_name"].iloc[i] if "file_name" in rows else "")
            if isinstance(jpeg, bytes):
                tiles.append(tile_html(data_uri(jpeg), captions[i], title, borders[i],
                                       size=self.thumbnails.size))
            else:
                tiles.append(tile_html(None, captions[i], title, borders[i], error=jpeg,
                                       size=self.thumbnails.size))
        with self._quiet():
            self.page = page.page
            self.n_pages = page.n_pages
            self.total = page.total
            self.ids = list(page.ids)
        first = page.first_rank + 1 if page.total else 0
        self.page_label.value = (f"&nbsp;page {page.page + 1} / {page.n_pages} "
                                 f"(rows {first}-{page.first_rank + len(page.ids)} of "
                                 f"{page.total:,})&nbsp;")
        self.prev_button.disabled = page.page <= 0
        self.next_button.disabled = page.page >= page.n_pages - 1
        self.html.value = grid_html(tiles, self.thumbnails.size) if tiles else \
            "<i>no rows selected</i>"

"""Static image grids drawn with ipyplot: output that stays in a saved notebook.

:func:`show_images` (and :meth:`Explorer.show_selection <quality_widgets.widgets.explorer.
Explorer.show_selection>`) draw thumbnails with ipyplot's ``plot_images``, or
``plot_class_tabs`` with one tab per group. Unlike a widget, the result is plain HTML in the
cell's output: it stays in the saved notebook and renders on GitHub, nbviewer or an exported
HTML page, where no kernel runs. The interactive :class:`~quality_widgets.widgets.gallery.
Gallery` stays the tool for browsing; this one is for keeping what you found. Object and
prediction tiles carry the gallery's drawing: the box, the mask (semi-transparent fill) and the
skeleton when the dataset has them.

How ipyplot (1.1.2) is fed, from reading its source:

* Images are the thumbnails' data-URI JPEGs (:class:`~quality_widgets.widgets.thumbnails.
  ThumbnailCache`, shared with the gallery): ipyplot puts a string that starts with ``data:``
  as it is into ``<img src="...">`` (no path rewriting, no file read, no fetch, no PNG
  re-encoding) as long as ``force_b64`` stays False.
* ``show_url=False``: otherwise it writes each image string, the whole data URI, as a caption.
* ipyplot puts labels, tab names and texts into its HTML unescaped: every text is
  HTML-escaped here before it reaches ipyplot (a file named ``<script>...</script>.jpg`` shows
  as text).
* ipyplot displays two outputs, a "show html" viewer (a text area repeating the whole grid,
  data URIs included) and the grid; only the grid is kept, which halves what the notebook
  stores.
"""
from __future__ import annotations

import base64
import html

import numpy as np
import pandas as pd

from ..analysis import selection as sel
from ..frames import LEVELS, MetricFrames, as_metric_frames
from .gallery import caption_lines, thumbnail_requests
from .thumbnails import ThumbnailCache, data_uri

#: The image of a tile whose thumbnail could not be made (the caption says why).
_MISSING_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="160" height="80">'
                '<rect width="160" height="80" fill="#f3f3f3"/><text x="80" y="45" '
                'font-size="12" text-anchor="middle" fill="#a33">no image</text></svg>')
MISSING_IMAGE = "data:image/svg+xml;base64," + base64.b64encode(
    _MISSING_SVG.encode("ascii")).decode("ascii")


def _frames(data) -> MetricFrames:
    if isinstance(data, pd.DataFrame):
        return MetricFrames(images=data, objects=pd.DataFrame(), predictions=pd.DataFrame())
    return as_metric_frames(data)


def _category_rows(frames: MetricFrames, column: str) -> pd.DataFrame | None:
    """Rows that give an image its groups when ``column`` is not an image column."""
    for rows in (frames.objects, getattr(frames.dataset, "annotations", None)):
        if rows is not None and len(rows) and column in rows and "image_id" in rows:
            return rows
    return None


def _display_grid(draw) -> None:
    """Run an ipyplot drawing call and display only its grid (see the module doc)."""
    from IPython import get_ipython
    from IPython.display import HTML, display
    from IPython.utils.capture import capture_output
    if get_ipython() is None:           # not in IPython: nothing to capture, let it print
        draw()
        return
    with capture_output() as captured:
        draw()
    grids = [o.data["text/html"] for o in captured.outputs if "text/html" in o.data]
    if grids:
        display(HTML(grids[-1]))


def show_images(data, ids=None, level: str = "image", sort_by: str | None = None,
                ascending: bool = True, n: int = 24, group_by: str | None = None,
                label: str | None = None, *, mode: str = "box", size: int = 160,
                thumbnails: ThumbnailCache | None = None, max_groups: int = sel.MAX_GROUPS,
                dataset=None) -> None:
    """Draw a static grid of thumbnails with ipyplot (stays in the saved notebook).

    Parameters
    ----------
    data : MetricFrames, a metrics folder, or a DataFrame of images (with a ``path`` column)
    ids : the row ids to show (the frame's index at ``level``, e.g. ``explorer.selection``);
        all rows when None. Raises KeyError when some are not ids of that level.
    level : "image", "object" (the box drawn on its image, or cropped with ``mode="crop"``) or
        "prediction" (the box outlined green / red / grey for TP / FP / ignored).
    sort_by : a column to order by (stable, NaN last), shown in each caption; frame order when
        None.
    ascending : the direction of ``sort_by``.
    n : at most this many thumbnails (per tab with ``group_by``).
    group_by : a column to draw one tab per group (ipyplot's ``plot_class_tabs``), e.g.
        "category". At image level a column of the objects works too: an image is in the tab
        of every category it shows. The ``max_groups - 1`` largest groups keep their tab, the
        rest share "(other)".
    label : a column whose value titles each tile (default: the row id).
    thumbnails : the :class:`ThumbnailCache` to draw from (default: one of ``size`` pixels in
        the metrics' cache folder, so thumbnails the gallery made are reused).
    dataset : the :class:`~quality_widgets.Dataset` whose masks and keypoints are drawn on
        object and prediction tiles (default: the metrics' own ``dataset``). As in the
        gallery (the same drawing,
        :func:`~quality_widgets.widgets.gallery.thumbnail_requests`), a row with a
        ``segmentation`` gets it as a semi-transparent fill, one with ``keypoints`` its
        skeleton (the category's limbs and the labelled keypoints).

    Returns
    -------
    None
        Displays the grid; an empty selection shows a short note.

    Notes
    -----
    Every text is HTML-escaped; images are the thumbnails' data-URI JPEGs, passed through
    untouched.
    """
    import ipyplot
    from IPython.display import HTML, display

    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: expected one of {', '.join(LEVELS)}")
    frames = _frames(data)
    frame = frames.frame(level)
    mask = _selected(frame, ids, level, (sort_by, label))
    groups = _groups(frames, frame, mask, level, sort_by, ascending, n, group_by, max_groups)
    shown = np.unique(np.concatenate([p for _, p in groups])) if groups else np.zeros(0, int)
    if shown.size == 0:
        display(HTML("<i>no rows to show</i>"))
        return
    cache = thumbnails if thumbnails is not None else ThumbnailCache(frames.cache_dir, size=size)
    if dataset is None:
        dataset = getattr(frames, "dataset", None)
    tile = _tiles(frame, shown, cache, mode, dataset, sort_by, label)
    _draw(ipyplot, groups, tile, cache.size, n, grouped=group_by is not None)


def _selected(frame: pd.DataFrame, ids, level: str, columns) -> np.ndarray | None:
    """The mask of ``ids`` in ``frame`` (None: all rows), after checking the ids and columns."""
    mask = None
    if ids is not None:
        ids = pd.Index(ids)
        unknown = ids.difference(frame.index)
        if len(unknown):
            raise KeyError(f"{len(unknown)} of {len(ids)} ids are not {level} ids "
                           f"(first: {unknown[0]!r})")
        mask = frame.index.isin(ids)
    for column in columns:
        if column is not None and column not in frame.columns:
            raise KeyError(f"no column {column!r} at level {level!r}")
    return mask


def _groups(frames: MetricFrames, frame: pd.DataFrame, mask, level: str, sort_by, ascending,
            n: int, group_by, max_groups: int) -> list:
    """[(group name or None, positions in ``frame``)]: the rows each tab shows, in order."""
    if sort_by is not None:
        order = sel.sorted_positions(sel.as_float(frame[sort_by]), mask, ascending,
                                     stop=None if group_by else n)
    else:
        order = np.flatnonzero(mask) if mask is not None else np.arange(len(frame))
    if group_by is None:
        return [(None, order[:n])]
    rows = _category_rows(frames, group_by) if level == "image" else None
    positions, labels = sel.group_membership(frame, group_by, rows)
    return sel.first_per_group(order, positions, labels, n, max_groups)


def _tiles(frame: pd.DataFrame, shown: np.ndarray, cache: ThumbnailCache, mode: str, dataset,
           sort_by, label) -> dict:
    """position -> (image data URI, escaped title, escaped caption HTML) of each row shown."""
    # One thumbnail and one caption per row shown (a row may be in several tabs).
    table = frame.iloc[shown]
    requests, _ = thumbnail_requests(table, mode, dataset)
    jpegs = cache.get_many(requests)
    values = sel.as_float(table[sort_by]) if sort_by is not None else None
    lines = caption_lines(table, sort_by or "", values, with_id=label is not None)
    index_name = frame.index.name or "id"
    titles = ([f"{index_name} {i}" for i in table.index] if label is None else
              [str(v) for v in table[label].tolist()])
    tile = {}
    for k, position in enumerate(shown.tolist()):
        jpeg = jpegs[k]
        text = list(lines[k]) if isinstance(jpeg, bytes) else [*lines[k], str(jpeg)]
        tile[position] = (data_uri(jpeg) if isinstance(jpeg, bytes) else MISSING_IMAGE,
                          html.escape(titles[k]),
                          "<br/>".join(html.escape(t) for t in text if t))
    return tile


def _draw(ipyplot, groups: list, tile: dict, width: int, n: int, grouped: bool) -> None:
    """Display the tiles: one grid (``plot_images``), or one tab per group."""
    if not grouped:
        images, titles, texts = zip(*(tile[p] for p in groups[0][1].tolist()), strict=True)
        _display_grid(lambda: ipyplot.plot_images(
            list(images), labels=list(titles), custom_texts=list(texts), max_images=len(images),
            img_width=width, show_url=False, force_b64=False))
        return
    images, tabs, texts = [], [], []
    for name, positions in groups:
        for p in positions.tolist():
            image, title, text = tile[p]
            images.append(image)
            tabs.append(html.escape(str(name)))
            texts.append(f"<b>{title}</b><br/>{text}" if text else f"<b>{title}</b>")
    order_of_tabs = [html.escape(str(name)) for name, _ in groups]
    _display_grid(lambda: ipyplot.plot_class_tabs(
        images, labels=tabs, custom_texts=texts, max_imgs_per_tab=n, img_width=width,
        show_url=False, force_b64=False, tabs_order=order_of_tabs))

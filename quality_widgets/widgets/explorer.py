"""The Explorer: brushable metric histograms and a scatter linked to an image gallery, with
filters, tags and export, in one widget.

Only display and linking live here; masks, bins, sorting, test cases and export are the plain
functions of :mod:`quality_widgets.analysis.selection`, :mod:`quality_widgets.analysis.testcases`
and :mod:`quality_widgets.export`.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from ..analysis import selection as sel
from ..analysis.tags import TAG_COLUMN, TagStore, check_tag, split_tags
from ..analysis.testcases import test_case_from_ranges
from ..compute.engine import compute_metrics
from ..data.dataset import Dataset
from ..export import FORMATS, export
from ..frames import LEVELS, MetricFrames, as_metric_frames, numeric_metric_columns, resolve_name
from .gallery import Gallery
from .group_bars import GroupBars
from .histogram import MetricHistogram
from .scatter import MetricScatter
from .static import show_images
from .thumbnails import ThumbnailCache
from .traits import Ids, Quiet, ids_in

LEVEL_LABELS = {"image": "images", "object": "objects", "prediction": "predictions"}
ALL = "(all)"
# Geometry columns: numeric, but rarely the first thing to look at; not the default metric.
SIZE_COLUMNS = ("width", "height", "area", "aspect_ratio")


class Explorer(Quiet, widgets.VBox):
    """Explore the metric values of a dataset and the images behind them.

    ``Explorer(metrics)`` takes a :class:`~quality_widgets.frames.MetricFrames` (or a Dataset,
    for which it runs ``compute_metrics(dataset, cache_dir=cache_dir)`` first) and shows, for
    the chosen ``level`` ("image", "object", "prediction") and ``metric``:

    * a histogram with a brush: brushing ``[lo, hi]`` selects the rows with
      ``lo <= value <= hi``;
    * filters that AND together: pinned ranges (:meth:`pin` keeps the current brush while you
      brush another metric), ``categories`` (at image level: images showing one of them),
      ``tag_filter``, and the scatter's brushed rectangle;
    * a summary line, the :class:`Gallery` of the selection sorted by the metric, a tag box
      and an export panel.

    From Python: ``selection`` (read-only trait: the ids of the selected rows, a
    :class:`pandas.Index` in frame order; ``explorer.observe(f, "selection")`` calls ``f`` on
    every change of the selected set, also when its size stays the same), ``mask`` (bool per
    row), :meth:`select`, :meth:`pin`, :meth:`clear`, :meth:`tag`, :meth:`export`,
    :meth:`show_selection` (a static grid that stays in the saved notebook); the parts are
    ``histogram``, ``scatter``, ``gallery``. Switching the metric drops an unpinned brush
    (pin it to keep it); switching the level clears every filter.
    """

    level = traitlets.Enum(list(LEVELS), default_value="image")
    metric = traitlets.Unicode("")
    pinned = traitlets.List().tag(doc="(metric, lo, hi) ranges kept while brushing others")
    categories = traitlets.List(traitlets.Unicode())
    tag_filter = traitlets.Unicode("")
    group_by = traitlets.Unicode("").tag(doc="categorical column splitting the histogram")
    where = traitlets.Dict().tag(doc="{column: [values]}: keep rows whose column (or, for an "
                                     "object or image column, whose image's) is one of values")
    n_selected = traitlets.Int(0)
    summary = traitlets.Unicode("")
    selection = Ids(read_only=True).tag(doc="ids (frame index) of the selected rows")

    def __init__(self, metrics, level: str | None = None, metric: str | None = None,
                 tags_path=None, thumbnail_size: int = 160, per_page: int = sel.PER_PAGE,
                 cache_dir=None, group_by: str = "", **kwargs):
        self.frames = self._as_frames(metrics, cache_dir)
        cache_dir = self.frames.cache_dir
        self.tags = TagStore(tags_path) if tags_path is not None else TagStore.beside(cache_dir)
        for lv in LEVELS:
            frame = self.frames.frame(lv)
            if len(frame) or lv == "image":
                self.tags.apply(frame, lv)
        self.thumbnails = ThumbnailCache(cache_dir, size=thumbnail_size)
        self._mask = None
        self._base_mask = None          # AND of every filter but the live brush
        self._pinned_masks: dict = {}
        self._initial_metric, self._initial_group_by = None, group_by   # for the first load

        levels = [lv for lv in LEVELS if lv == "image" or len(self.frames.frame(lv))]
        self.level_control = widgets.ToggleButtons(
            options=[(LEVEL_LABELS[lv], lv) for lv in levels], value=levels[0],
            style={"button_width": "100px"})
        self.metric_control = widgets.Dropdown(description="metric",
                                               layout=widgets.Layout(width="320px"))
        self.histogram = MetricHistogram()
        self.group_bars = GroupBars(self.histogram)
        self._groups = None             # (level, column, codes, names) of group_by
        self.group_control = widgets.Dropdown(description="group by", options=[("(none)", "")],
                                              layout=widgets.Layout(width="240px"))
        self.group_table = widgets.HTML()
        self.scatter = MetricScatter()
        self.gallery = Gallery(thumbnails=self.thumbnails, per_page=per_page)
        self.gallery.dataset = getattr(self.frames, "dataset", None)
        self.summary_html = widgets.HTML()
        self.pin_button = widgets.Button(description="pin range", icon="thumb-tack",
                                         tooltip="keep this range while brushing another "
                                                 "metric (ranges AND together)")
        self.clear_button = widgets.Button(description="clear all", icon="times")
        self.category_control = widgets.SelectMultiple(
            description="category", rows=4, layout=widgets.Layout(width="320px"))
        self.tag_filter_control = widgets.Dropdown(description="tag", options=[ALL],
                                                   layout=widgets.Layout(width="220px"))
        self.tag_name = widgets.Text(placeholder="tag name", layout=widgets.Layout(width="160px"))
        self.tag_button = widgets.Button(description="tag selection", icon="tag")
        self.export_format = widgets.Dropdown(options=list(FORMATS), value="coco",
                                              description="export",
                                              layout=widgets.Layout(width="200px"))
        self.export_path = widgets.Text(placeholder="output file or folder",
                                        layout=widgets.Layout(width="280px"))
        self.export_overwrite = widgets.Checkbox(description="overwrite", indent=False,
                                                 layout=widgets.Layout(width="100px"))
        self.export_button = widgets.Button(description="export selection", icon="download")
        self.status = widgets.HTML()
        # video datasets: the track of the first selected object (TrackView, widgets/tracks.py)
        self.track_button = widgets.Button(description="show track", icon="film",
                                           tooltip="the track of the first selected object, "
                                                   "frame by frame")
        self.track_box = widgets.VBox()
        self.track_view = None
        super().__init__(children=[
            widgets.HBox([self.level_control, self.metric_control, self.group_control]),
            self.histogram,
            widgets.HBox([self.pin_button, self.clear_button, self.category_control,
                          self.tag_filter_control, self.track_button]),
            self.summary_html,
            self.group_table,
            self.scatter,
            self.gallery,
            self.track_box,
            widgets.HBox([self.tag_name, self.tag_button, self.export_format,
                          self.export_path, self.export_overwrite, self.export_button]),
            self.status], **kwargs)

        widgets.link((self.level_control, "value"), (self, "level"))
        widgets.link((self.metric_control, "value"), (self, "metric"),
                     transform=(lambda v: v or "", lambda v: v or None))
        self.histogram.observe(self._on_interval, "interval")
        self.histogram.observe(lambda _: self._show_groups(), ["bins", "log"])
        self.group_control.observe(lambda c: setattr(self, "group_by", c["new"] or ""), "value")
        self.scatter.observe(self._on_rect, "rect")
        self.scatter.observe(self._on_scatter_metrics, ["x_metric", "y_metric"])
        self.category_control.observe(
            lambda c: setattr(self, "categories", list(c["new"])), "value")
        self.tag_filter_control.observe(
            lambda c: setattr(self, "tag_filter", "" if c["new"] == ALL else c["new"]), "value")
        self.pin_button.on_click(lambda _: self._guard(self.pin))
        self.clear_button.on_click(lambda _: self._guard(self.clear))
        self.tag_button.on_click(lambda _: self._guard(lambda: self.tag(self.tag_name.value)))
        self.export_button.on_click(lambda _: self._guard(self._export_clicked))
        self.track_button.on_click(lambda _: self._guard(self.show_track))

        start = (level if level is not None else levels[0]).rstrip("s")
        if start not in levels:
            raise ValueError(f"level {start!r} has no rows to explore; levels with rows: "
                             f"{', '.join(levels)}")
        if metric:                      # a typo is an error, not silently another metric
            elsewhere = [lv for lv in levels if metric in self.frames.frame(lv).columns]
            resolve_name(metric, numeric_metric_columns(self.frames.frame(start)),
                         f"metric column at level {start!r}",
                         f"It is a column at level {elsewhere[0]!r}: pass level="
                         f"{elsewhere[0]!r}." if elsewhere else None)
        if start == self.level:
            self._load_level(metric)
        else:
            self._initial_metric = metric
            self.level = start

    # ---- inputs ----------------------------------------------------------------------------
    @staticmethod
    def _as_frames(metrics, cache_dir=None) -> MetricFrames:
        if isinstance(metrics, Dataset):
            return compute_metrics(metrics, cache_dir=cache_dir)
        return as_metric_frames(metrics)   # MetricFrames, or a folder the CLI wrote

    # ---- current data ----------------------------------------------------------------------
    @property
    def frame(self) -> pd.DataFrame:
        """The frame of the current level."""
        return self.frames.frame(self.level)

    def values(self, metric: str) -> np.ndarray:
        """The column ``metric`` of the current frame as float64 (a view for float columns)."""
        return sel.as_float(self.frame[metric])

    @property
    def mask(self) -> np.ndarray:
        """Bool per row of :attr:`frame`: the AND of every filter and the brush."""
        return self._mask

    @property
    def selected_frame(self) -> pd.DataFrame:
        return self.frame[self._mask]

    # ---- level and metric ------------------------------------------------------------------
    @traitlets.observe("level")
    def _on_level(self, change):
        self._load_level(self._initial_metric)
        self._initial_metric = None

    def refresh(self) -> None:
        """Re-read the frame's columns (e.g. after adding a custom metric column by hand)."""
        for lv in LEVELS:
            if TAG_COLUMN not in self.frames.frame(lv) and len(self.frames.frame(lv)):
                self.tags.apply(self.frames.frame(lv), lv)
        self._load_level(self.metric)

    def _load_level(self, metric: str | None) -> None:
        frame = self.frame
        options = numeric_metric_columns(frame)
        self._pinned_masks.clear()
        self._base_mask = None
        with self._quiet():
            with self.hold_trait_notifications():
                self.pinned, self.categories, self.tag_filter = [], [], ""
            self._update_filter_controls()
            self._update_group_control(self._initial_group_by or self.group_by)
            self._initial_group_by = ""
            self.metric_control.options = options
            # Image size is numeric but rarely what one wants to look at first.
            preferred = [c for c in options if c not in SIZE_COLUMNS] or options
            chosen = metric if metric in options else (preferred[0] if preferred else "")
            self.metric_control.value = chosen if options else None
            self.metric = chosen
            self.scatter.options = options
            if len(preferred) >= 2:
                self.scatter.x_metric, self.scatter.y_metric = preferred[0], preferred[1]
            self._show_metric()
            self._show_scatter()
        self.track_button.layout.display = None if "track_id" in frame else "none"
        self._rebuild_base_mask()

    @traitlets.observe("metric")
    def _on_metric(self, change):
        if not self._quieted:
            with self._quiet():
                self._show_metric()  # drops the brush of the previous metric
            self._update()

    def _show_metric(self) -> None:
        if self.metric and self.metric in self.frame:
            self.histogram.set_values(self.values(self.metric), self.metric)
        else:
            self.histogram.set_values(np.zeros(0), self.metric)
        self._show_groups()

    # ---- group by ---------------------------------------------------------------------------
    def _update_group_control(self, keep: str = "") -> None:
        columns = sel.categorical_columns(self.frame)
        if keep and keep in self.frame.columns and keep not in columns:
            columns.append(keep)     # asked for explicitly (e.g. a numeric code column)
        self.group_control.options = [("(none)", ""), *[(c, c) for c in columns]]
        value = keep if keep in columns else ""
        self.group_control.value = value
        self.group_by = value

    @traitlets.validate("group_by")
    def _valid_group_by(self, proposal):
        value = proposal["value"] or ""
        if value and value not in self.frame.columns:
            raise traitlets.TraitError(
                f"no column {value!r} to group by at level {self.level!r}; categorical "
                f"columns: {', '.join(sel.categorical_columns(self.frame)) or 'none'}")
        return value

    @traitlets.observe("group_by")
    def _on_group_by(self, change):
        if self.group_control.value != change["new"]:
            options = [v for _, v in self.group_control.options]
            if change["new"] not in options:
                self.group_control.options = [*self.group_control.options,
                                              (change["new"], change["new"])]
            self.group_control.value = change["new"]
        if not self._quieted:
            self._show_groups()
            self._update_group_table()

    def _group_codes(self):
        """(codes, names) of the current group_by column, computed once per level/column."""
        if not self.group_by or self.group_by not in self.frame.columns:
            return None
        key = (self.level, self.group_by, len(self.frame))
        if self._groups is None or self._groups[0] != key:
            self._groups = (key, *sel.group_codes(self.frame[self.group_by]))
        return self._groups[1], self._groups[2]

    def _show_groups(self) -> None:
        groups = self._group_codes()
        hist = self.histogram.histogram
        if groups is None or hist is None or not self.metric or self.metric not in self.frame:
            self.group_bars.show(None)
            return
        codes, names = groups
        labels = np.asarray(names, dtype=object)[codes]
        self.group_bars.show(sel.grouped_histogram(self.values(self.metric), labels,
                                                   bins=hist.edges, log=hist.log,
                                                   order=names))

    def group_counts(self) -> pd.DataFrame | None:
        """Per group of ``group_by``: rows ``n``, ``selected`` and ``fraction`` selected (None
        when not grouping)."""
        groups = self._group_codes()
        if groups is None or self._mask is None:
            return None
        return sel.count_by_group(*groups, self._mask)

    def _update_group_table(self) -> None:
        counts = self.group_counts()
        if counts is None:
            self.group_table.value = ""
            return
        rows = "".join(
            f"<tr><td>{html.escape(str(g))}</td><td style='text-align:right'>{r.selected:,}"
            f"</td><td style='text-align:right'>{r.n:,}</td><td style='text-align:right'>"
            f"{html.escape(sel.format_value(100 * r.fraction))}%</td></tr>"
            for g, r in zip(counts.index, counts.itertuples(), strict=True))
        self.group_table.value = (
            f"<table style='font-size:12px'><tr><th>{html.escape(self.group_by)}</th>"
            f"<th>selected</th><th>rows</th><th>%</th></tr>{rows}</table>")

    def _on_scatter_metrics(self, change):
        if not self._quieted:
            with self._quiet():
                self._show_scatter()  # drops the rectangle brushed on the previous pair
            self._rebuild_base_mask()

    def _show_scatter(self) -> None:
        x, y = self.scatter.x_metric, self.scatter.y_metric
        if x in self.frame and y in self.frame:
            self.scatter.set_values(self.values(x), self.values(y))

    def _update_filter_controls(self) -> None:
        frame = self.frame
        cats = self._category_source()
        names = sorted({str(c) for c in cats["category"].dropna().unique()}) if cats is not None \
            else []
        self.category_control.options = names
        self.category_control.layout.display = None if names else "none"
        tags = self.tags.names(self.level) if TAG_COLUMN in frame else []
        value = self.tag_filter_control.value
        self.tag_filter_control.options = [ALL, *tags]
        self.tag_filter_control.value = value if value in tags else ALL

    def _category_source(self) -> pd.DataFrame | None:
        """Rows that carry categories for the current level (objects for images)."""
        if "category" in self.frame:
            return self.frame
        if self.level == "image":
            objects = self.frames.objects
            if "category" in objects and "image_id" in objects and len(objects):
                return objects
            ds = self.frames.dataset
            if ds is not None and len(ds.annotations):
                return ds.annotations
        return None

    # ---- filters ---------------------------------------------------------------------------
    def select(self, metric: str, lo=None, hi=None) -> pd.Index:
        """Brush ``lo <= metric <= hi`` on the current level (None = unbounded); moves the
        brush, switches the histogram to ``metric`` if needed; returns :attr:`selection`."""
        if metric not in self.frame.columns:
            raise KeyError(f"no column {metric!r} at level {self.level!r}; known: "
                           f"{', '.join(numeric_metric_columns(self.frame))}")
        if metric != self.metric:
            self.metric = metric
        values = self.values(metric)
        finite = values[np.isfinite(values)]
        lo = float(finite.min()) if lo is None and finite.size else lo
        hi = float(finite.max()) if hi is None and finite.size else hi
        self.histogram.interval = None if lo is None or hi is None else (lo, hi)
        return self.selection

    def pin(self) -> None:
        """Keep the current brush as a filter, and clear the brush for the next metric."""
        interval = self.histogram.interval
        if interval is None:
            raise ValueError("nothing brushed to pin: brush a range on the histogram first")
        lo, hi = interval
        self.pinned = [*self.pinned, (self.metric, lo, hi)]
        self.histogram.interval = None

    def unpin(self, metric: str) -> None:
        """Drop the pinned range(s) of ``metric``."""
        self.pinned = [p for p in self.pinned if p[0] != metric]

    def clear(self) -> None:
        """Clear the brush, pinned ranges, scatter rectangle, category, tag and ``where``
        filters."""
        with self._quiet():
            with self.hold_trait_notifications():
                self.pinned, self.categories, self.tag_filter, self.where = [], [], "", {}
            self.histogram.interval = None
            self.scatter.rect = None
            self.category_control.value = ()
            self.tag_filter_control.value = ALL
        self._rebuild_base_mask()

    @traitlets.observe("pinned", "categories", "tag_filter", "where")
    def _on_filters(self, change):
        if not self._quieted:
            self._rebuild_base_mask()

    def _on_rect(self, change):
        if not self._quieted:
            self._rebuild_base_mask()

    def _on_interval(self, change):
        if not self._quieted:
            self._update()

    def _pinned_mask(self, metric, lo, hi) -> np.ndarray:
        key = (self.level, metric, lo, hi)
        if key not in self._pinned_masks:
            self._pinned_masks[key] = sel.range_mask(self.values(metric), lo, hi)
        return self._pinned_masks[key]

    def _category_mask(self) -> np.ndarray | None:
        if not self.categories:
            return None
        source = self._category_source()
        if source is None:
            return None
        rows = sel.isin_mask(source["category"].astype(str), self.categories)
        if source is self.frame:
            return rows
        return sel.images_with_mask(self.frame.index, source["image_id"], rows)

    def _where_mask(self, column: str, values) -> np.ndarray:
        """Rows whose ``column`` is one of ``values`` (compared as text); a column of another
        level's frame (or of the dataset's annotations or images) selects through the images."""
        values = [str(v) for v in values]
        frame = self.frame
        if column in frame.columns:
            return sel.isin_mask(frame[column].astype(str), values)
        ds = self.frames.dataset
        image_ids = frame.index if self.level == "image" else frame["image_id"]
        for source in (self.frames.objects, getattr(ds, "annotations", None),
                       getattr(ds, "images", None)):
            if source is not None and column in source.columns:
                rows = sel.isin_mask(source[column].astype(str), values)
                ids = source.index if "image_id" not in source.columns else source["image_id"]
                return sel.images_with_mask(image_ids, ids, rows)
        raise KeyError(f"where: no column {column!r} at level {self.level!r}, on the objects "
                       f"or on the images")

    def _rebuild_base_mask(self) -> None:
        """AND of the filters that do not change on a brush: computed once per filter change,
        so that a brush update is one range mask and one AND."""
        n = len(self.frame)
        masks = [self._pinned_mask(*p) for p in self.pinned]
        masks.append(self._category_mask())
        masks.extend(self._where_mask(column, values) for column, values in self.where.items())
        if self.tag_filter and TAG_COLUMN in self.frame:
            masks.append(sel.tag_mask(self.frame[TAG_COLUMN].tolist(), self.tag_filter))
        rect = self.scatter.rect
        if rect is not None and self.scatter.x_metric in self.frame and \
                self.scatter.y_metric in self.frame:
            (x0, x1), (y0, y1) = rect
            masks.append(sel.range_mask(self.values(self.scatter.x_metric), x0, x1))
            masks.append(sel.range_mask(self.values(self.scatter.y_metric), y0, y1))
        self._base_mask = sel.combine(masks, n) if any(m is not None for m in masks) else None
        self._update()

    def _filter_texts(self) -> list:
        texts = []
        if self.categories:
            texts.append("category: " + ", ".join(self.categories))
        if self.tag_filter:
            texts.append(f"tag: {self.tag_filter}")
        texts.extend(f"{column}: {', '.join(map(str, values))}"
                     for column, values in self.where.items())
        if self.scatter.rect is not None:
            (x0, x1), (y0, y1) = self.scatter.rect
            texts.append(f"scatter {self.scatter.x_metric} in [{sel.format_value(x0)}, "
                         f"{sel.format_value(x1)}] and {self.scatter.y_metric} in "
                         f"[{sel.format_value(y0)}, {sel.format_value(y1)}]")
        return texts

    def _update(self) -> None:
        """One brush/filter update: mask, summary, scatter highlight, first gallery page."""
        n = len(self.frame)
        interval = self.histogram.interval
        brush = None
        if interval is not None and self.metric in self.frame:
            brush = sel.range_mask(self.values(self.metric), *interval)
        if brush is None:
            mask = self._base_mask if self._base_mask is not None else np.ones(n, dtype=bool)
        elif self._base_mask is None:
            mask = brush
        else:
            mask = np.logical_and(brush, self._base_mask, out=brush)
        self._mask = mask
        filtered = brush is not None or self._base_mask is not None
        self.n_selected = int(np.count_nonzero(mask))
        ranges = list(self.pinned) + ([(self.metric, *interval)] if interval is not None else [])
        self.summary = sel.summary_text(self.n_selected, n, self.level, ranges,
                                        self._filter_texts())
        self.summary_html.value = f"<b>{html.escape(self.summary)}</b>"
        self.scatter.set_highlight(mask if filtered else None)
        if self.metric and self.metric in self.frame:
            self.gallery.show(self.frame, self.metric, mask if filtered else None,
                              values=self.values(self.metric))
        else:
            self.gallery.show(self.frame, "", None)
        self._update_group_table()
        # Last, so that its observers see the summary, gallery and group table of this update.
        self.set_trait("selection", ids_in(self.frame.index, mask))

    # ---- a static grid ---------------------------------------------------------------------
    def show_selection(self, n: int = 24, group_by: str | None = None) -> None:
        """Draw the first ``n`` selected rows (per tab with ``group_by``, e.g. "category") as a
        static ipyplot grid, in the gallery's order (by the current metric, in its direction)
        and with its thumbnails: :func:`~quality_widgets.widgets.static.show_images`. Unlike
        the widget, the grid stays in the saved notebook (GitHub, nbviewer, HTML export)."""
        show_images(self.frames, self.selection, level=self.level,
                    sort_by=self.metric if self.metric in self.frame else None,
                    ascending=self.gallery.ascending, n=n, group_by=group_by,
                    mode=self.gallery.mode, thumbnails=self.thumbnails)

    # ---- test cases ------------------------------------------------------------------------
    def selected_ranges(self) -> list:
        """The ``(metric, lo, hi)`` ranges behind the selection: pinned ranges, the live brush
        and the scatter rectangle (both of its axes), all inclusive, at the current level."""
        ranges = list(self.pinned)
        if self.histogram.interval is not None and self.metric:
            ranges.append((self.metric, *self.histogram.interval))
        if self.scatter.rect is not None:
            (x0, x1), (y0, y1) = self.scatter.rect
            ranges += [(self.scatter.x_metric, x0, x1), (self.scatter.y_metric, y0, y1)]
        return ranges

    def as_test_case(self, name: str, measure: str = "AP", min_value=None, max_value=None
                     ) -> dict:
        """The current selection as a model test case
        (:func:`~quality_widgets.analysis.testcases.test_case_from_ranges` of
        :meth:`selected_ranges`, the chosen ``categories`` and tag), with the requirement
        ``min_value <= measure <= max_value``. Note: at image level the category filter picks
        images *showing* a category, while a test case evaluates *only* those categories."""
        return test_case_from_ranges(name, self.level, self.selected_ranges(), measure,
                                     min_value, max_value, categories=self.categories,
                                     tags=[self.tag_filter] if self.tag_filter else ())

    # ---- tags and export -------------------------------------------------------------------
    def tag(self, name: str) -> int:
        """Tag the selected rows with ``name`` (kept in the ``tags`` column and in
        ``<cache_dir>/tags.parquet``); returns how many rows were newly tagged."""
        name = check_tag(name)
        added = self.tags.add(self.level, self.selection, name)
        self.tags.apply(self.frame, self.level)
        self._update_filter_controls()
        self.status.value = html.escape(f"tagged {added} {LEVEL_LABELS[self.level]} "
                                        f"with {name!r}")
        return added

    def untag(self, name: str) -> int:
        """Remove the tag ``name`` from the selected rows; returns how many lost it."""
        name = check_tag(name)
        removed = self.tags.remove(self.level, self.selection, name)
        self.tags.apply(self.frame, self.level)
        self._update_filter_controls()
        return removed

    def tagged(self, name: str) -> pd.Index:
        """Ids of the current level's rows tagged ``name``."""
        frame = self.frame
        if TAG_COLUMN not in frame:
            return frame.index[:0]
        return frame.index[[name in split_tags(t) for t in frame[TAG_COLUMN]]]

    def export(self, format: str, out, overwrite: bool = False):
        """Export the selection (see :func:`quality_widgets.export.export`)."""
        return export(self.frames, self.selection, format=format, out=out, level=self.level,
                      overwrite=overwrite)

    def _export_clicked(self) -> None:
        if not self.export_path.value.strip():
            raise ValueError("type an output path first")
        out = self.export(self.export_format.value, self.export_path.value.strip(),
                          overwrite=self.export_overwrite.value)
        self.status.value = html.escape(f"exported {self.n_selected} "
                                        f"{LEVEL_LABELS[self.level]} to {out}")

    # ---- tracks (video datasets) ----------------------------------------------------------
    def show_track(self, track_id=None, video=None):
        """Open a :class:`~quality_widgets.widgets.tracks.TrackView` below the gallery: of
        ``track_id`` (in ``video``), or of the first selected row's track. Returns the view."""
        from ..analysis.tracks import tracks_of
        from .tracks import TrackView
        first = None
        if track_id is None:
            found = tracks_of(self.frames, self.selection, self.level)
            if not found:
                raise ValueError("select objects with a track_id first (video datasets)")
            video, track_id = found[0]
            first = self.selection[self.frame.loc[self.selection, "track_id"].notna()
                                   .to_numpy(dtype=bool)][0]
        metric = self.metric if self.metric in ("shape_similarity", "box_jump", "area_change",
                                                "id_switch_iou", "gap_after") else None
        if self.track_view is None or self.track_view.level != self.level:
            self.track_view = TrackView(self.frames, track_id, video=video, metric=metric,
                                        level=self.level)
            self.track_box.children = [self.track_view]
        else:
            self.track_view.show(track_id, video)
        if first is not None and first in self.track_view.rows.index:   # at the selected row
            self.track_view.position = int(self.track_view.rows.index.get_loc(first))
        return self.track_view

    def _guard(self, action) -> None:
        """Run a button action; show a refusal in the status line instead of a traceback."""
        try:
            action()
        except (ValueError, KeyError, OSError) as e:  # ExportError is a ValueError
            self.status.value = (f"<span style='color:#b00'>"
                                 f"{html.escape(type(e).__name__ + ': ' + str(e))}</span>")

"""The Explorer: brushable metric histograms and a scatter linked to an image gallery, with
filters, tags and export, in one widget.

Its state is traits; its controls are small panel widgets (:mod:`.filter_bar`,
:mod:`.group_panel`, :mod:`.tag_panel`, :mod:`.export_panel`, :mod:`.track_panel`) linked to
them. Which rows are selected is a :class:`~quality_widgets.slicing.Slice` (``explorer.slice``);
bins, pages, groups, test cases and export are the plain functions of
:mod:`quality_widgets.analysis.selection`, :mod:`quality_widgets.analysis.testcases` and
:mod:`quality_widgets.export`.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from ..analysis import selection as sel
from ..analysis.tags import TAG_COLUMN, TagStore
from ..compute.engine import compute_metrics
from ..data.dataset import Dataset
from ..frames import LEVELS, MetricFrames, as_metric_frames, numeric_metric_columns, resolve_name
from ..slicing import Range, Slice, SliceError, category_names, split_level
from .explorer_actions import LEVEL_LABELS, SelectionActions
from .export_panel import ExportPanel
from .filter_bar import ALL, FilterBar  # noqa: F401 (ALL: the tag filter's 'none')
from .gallery import Gallery
from .group_panel import GroupPanel
from .histogram import MetricHistogram
from .scatter import MetricScatter
from .tag_panel import TagPanel
from .thumbnails import ThumbnailCache
from .track_panel import TrackPanel
from .traits import Ids, Quiet, ids_in

# Geometry columns: numeric, but rarely the first thing to look at; not the default metric.
SIZE_COLUMNS = ("width", "height", "area", "aspect_ratio")


class Explorer(SelectionActions, Quiet, widgets.VBox):
    """Explore the metric values of a dataset and the images behind them.

    ``Explorer(metrics)`` takes a :class:`~quality_widgets.frames.MetricFrames` (or a Dataset,
    for which it runs ``compute_metrics(dataset, cache_dir=cache_dir)`` first) and shows, for
    the chosen ``level`` ("image", "object", "prediction") and ``metric``:

    * a histogram with a brush: brushing ``[lo, hi]`` selects the rows with
      ``lo <= value <= hi``;
    * filters that AND together: pinned ranges (:meth:`pin` keeps the current brush while you
      brush another metric), ``categories`` (at image level: images showing one of them as a
      label or a prediction), ``tag_filter``, ``where`` and the scatter's brushed rectangle;
    * a summary line, the :class:`Gallery` of the selection sorted by the metric, a tag box
      and an export panel.

    Traits (read and set them from Python; the controls follow):

    * ``slice``: the current selection as a :class:`~quality_widgets.slicing.Slice` (pinned
      ranges, brush, scatter rectangle, categories, tag, where; names qualified by level).
      Observe it to follow every change; set it to select: its ranges become pinned ranges
      (brush and rectangle cleared), its categories, tag and where the filters;
    * ``selection`` (read-only): the ids of the selected rows, a :class:`pandas.Index` in
      frame order; ``explorer.observe(f, "selection")`` calls ``f`` on every change of the
      selected set, also when its size stays the same;
    * ``level``, ``metric``, ``pinned`` (``(metric, lo, hi)`` ranges), ``categories``,
      ``tag_filter``, ``where`` (``{column: [values]}``), ``group_by``; ``n_selected`` and
      ``summary`` (read them).

    Also ``mask`` (bool per row), :meth:`select`, :meth:`pin`, :meth:`clear`, :meth:`tag`,
    :meth:`export`, :meth:`as_test_case`, :meth:`show_selection` (a static grid that stays in
    the saved notebook); the parts are ``histogram``, ``scatter``, ``gallery`` and the panels
    ``filter_bar``, ``group_control`` / ``group_table``, ``tag_panel``, ``export_panel``,
    ``track_panel``. Switching the metric drops an unpinned brush (pin it to keep it);
    switching the level clears every filter but ``where``.
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
    slice = traitlets.Instance(Slice, args=()).tag(doc="the selection as a Slice")
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
        self._base_mask = None          # the slice without the live brush, as a mask
        self._parts = (Slice(), Slice())  # the slice but brush and rectangle; the rectangle
        self._initial_metric, self._initial_group_by = None, group_by   # for the first load
        levels = [lv for lv in LEVELS if lv == "image" or len(self.frames.frame(lv))]
        super().__init__(children=self._build(levels, per_page), **kwargs)
        self._link()
        start = (level if level is not None else levels[0]).rstrip("s")
        self._check_start(start, levels, metric)
        if start == self.level:
            self._load_level(metric)
        else:
            self._initial_metric = metric
            self.level = start

    # ---- parts -----------------------------------------------------------------------------
    def _build(self, levels, per_page: int) -> list:
        self.level_control = widgets.ToggleButtons(
            options=[(LEVEL_LABELS[lv], lv) for lv in levels], value=levels[0],
            style={"button_width": "100px"})
        self.metric_control = widgets.Dropdown(description="metric",
                                               layout=widgets.Layout(width="320px"))
        self.histogram = MetricHistogram()
        self.group_panel = GroupPanel(self.histogram)
        self.group_bars, self.group_control, self.group_table = (
            self.group_panel.bars, self.group_panel.control, self.group_panel.table)
        self.scatter = MetricScatter()
        self.gallery = Gallery(thumbnails=self.thumbnails, per_page=per_page)
        self.gallery.dataset = getattr(self.frames, "dataset", None)
        self.summary_html = widgets.HTML()
        self.track_panel = TrackPanel()
        self.filter_bar = FilterBar(extra=[self.track_panel.button])
        self.tag_panel = TagPanel()
        self.export_panel = ExportPanel()
        self.status = widgets.HTML()
        # The panels' controls keep their Explorer names (explorer.export_path, ...).
        for panel, names in _PANEL_NAMES.items():
            for name in names:
                setattr(self, name, getattr(getattr(self, panel), name))
        self.track_button, self.track_box = self.track_panel.button, self.track_panel.box
        return [widgets.HBox([self.level_control, self.metric_control, self.group_control]),
                self.histogram, self.filter_bar, self.summary_html, self.group_table,
                self.scatter, self.gallery, self.track_panel.box,
                widgets.HBox([self.tag_panel, self.export_panel]), self.status]

    def _link(self) -> None:
        widgets.link((self.level_control, "value"), (self, "level"))
        widgets.link((self.metric_control, "value"), (self, "metric"),
                     transform=(lambda v: v or "", lambda v: v or None))
        traitlets.link((self.filter_bar, "categories"), (self, "categories"))
        traitlets.link((self.filter_bar, "tag_filter"), (self, "tag_filter"))
        self.histogram.observe(self._on_interval, "interval")
        self.histogram.observe(lambda _: self._show_groups(), ["bins", "log"])
        self.group_control.observe(lambda c: setattr(self, "group_by", c["new"] or ""), "value")
        self.scatter.observe(self._on_rect, "rect")
        self.scatter.observe(self._on_scatter_metrics, ["x_metric", "y_metric"])
        self.filter_bar.pin_button.on_click(lambda _: self._guard(self.pin))
        self.filter_bar.clear_button.on_click(lambda _: self._guard(self.clear))
        self.tag_panel.on_tag(lambda name: self._guard(lambda: self.tag(name)))
        self.export_panel.export_button.on_click(lambda _: self._guard(self._export_clicked))
        self.track_panel.button.on_click(lambda _: self._guard(self.show_track))

    @property
    def track_view(self):
        """The track panel's :class:`~quality_widgets.widgets.tracks.TrackView` (None until
        :meth:`show_track`)."""
        return self.track_panel.view

    def _check_start(self, start: str, levels, metric) -> None:
        if start not in levels:
            raise ValueError(f"level {start!r} has no rows to explore; levels with rows: "
                             f"{', '.join(levels)}")
        if metric:                      # a typo is an error, not silently another metric
            elsewhere = [lv for lv in levels if metric in self.frames.frame(lv).columns]
            resolve_name(metric, numeric_metric_columns(self.frames.frame(start)),
                         f"metric column at level {start!r}",
                         f"It is a column at level {elsewhere[0]!r}: pass level="
                         f"{elsewhere[0]!r}." if elsewhere else None)

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
        options = numeric_metric_columns(self.frame)
        with self._quiet():
            with self.hold_trait_notifications():
                self.pinned, self.categories, self.tag_filter = [], [], ""
            self._update_filter_options()
            keep = self._initial_group_by or self.group_by
            self.group_by = self.group_control.set_columns(
                sel.categorical_columns(self.frame), keep if keep in self.frame.columns else "")
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
        self.track_panel.available(self.frame)
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

    def _on_scatter_metrics(self, change):
        if not self._quieted:
            with self._quiet():
                self._show_scatter()  # drops the rectangle brushed on the previous pair
            self._rebuild_base_mask()

    def _show_scatter(self) -> None:
        x, y = self.scatter.x_metric, self.scatter.y_metric
        if x in self.frame and y in self.frame:
            self.scatter.set_values(self.values(x), self.values(y))

    def _update_filter_options(self) -> None:
        tags = self.tags.names(self.level) if TAG_COLUMN in self.frame else []
        with self._quiet():     # new options may reset the controls' values for a moment
            self.filter_bar.set_options(category_names(self.frames, self.level), tags)

    # ---- group by ---------------------------------------------------------------------------
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
        self.group_control.show(change["new"])
        if not self._quieted:
            self._show_groups()
            self._update_group_table()

    def _group_codes(self):
        return self.group_panel.codes(self.frame, self.group_by, self.level)

    def _show_groups(self) -> None:
        shown = self.metric and self.metric in self.frame
        self.group_panel.draw(self._group_codes(), self.values(self.metric) if shown else None,
                              self.histogram.histogram)

    def group_counts(self) -> pd.DataFrame | None:
        """Per group of ``group_by``: rows ``n``, ``selected`` and ``fraction`` selected (None
        when not grouping)."""
        groups = self._group_codes()
        if groups is None or self._mask is None:
            return None
        return sel.count_by_group(*groups, self._mask)

    def _update_group_table(self) -> None:
        self.group_table.show(self.group_counts(), self.group_by)

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
        with self._quiet():     # the same rows, now pinned: no update in between
            self.histogram.interval = None
        self.pinned = [*self.pinned, (self.metric, lo, hi)]

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

    # ---- the slice ---------------------------------------------------------------------------
    def _local(self, name: str) -> str:
        """``name`` without the level prefix when it is the current level."""
        level, bare = split_level(name)
        return bare if level == self.level else name

    def _rect_ranges(self) -> list:
        rect, x, y = self.scatter.rect, self.scatter.x_metric, self.scatter.y_metric
        if rect is None or x not in self.frame or y not in self.frame:
            return []
        (x0, x1), (y0, y1) = rect
        return [Range(x, x0, x1, level=self.level), Range(y, y0, y1, level=self.level)]

    def _rebuild_base_mask(self) -> None:
        """The slice without the live brush, as a mask: computed once per filter change, so
        that a brush update is one range mask and one AND."""
        tags = [self.tag_filter] if self.tag_filter else ()
        base = Slice(self.pinned, self.categories, tags, self.where).at(self.level, self.frames)
        rect = Slice(self._rect_ranges())
        self._parts = (base, rect)
        both = base & rect
        self._base_mask = None if both.everything else both.mask(self.frames, self.level)
        self._update()

    def _slice_and_text(self, interval) -> tuple[Slice, list]:
        """The current Slice (pinned, brush, rectangle, filters) and the summary's texts."""
        base, rect = self._parts
        if interval is not None and self.metric:
            base = base & Slice(Range(self.metric, *interval, level=self.level))
        texts = base.parts(self.level)
        if rect.ranges:
            texts.append("scatter " + " and ".join(r.describe(self.level) for r in rect.ranges))
        return base & rect, texts

    @traitlets.validate("slice")
    def _valid_slice(self, proposal):
        value = proposal["value"]
        if not self._quieted:      # set from Python: check it before anything changes
            if len(value.tags) > 1:
                raise traitlets.TraitError(f"the Explorer filters on one tag at a time; "
                                           f"the slice has {len(value.tags)}")
            try:
                value.mask(self.frames, self.level)
            except SliceError as e:
                raise traitlets.TraitError(str(e)) from None
        return value

    @traitlets.observe("slice")
    def _on_slice(self, change):
        if self._quieted:
            return
        new = change["new"]
        with self._quiet():
            with self.hold_trait_notifications():
                self.pinned = [(self._local(r.key), r.lo, r.hi) if r.closed == "both" else
                               (self._local(r.key), r.lo, r.hi, r.closed) for r in new.ranges]
                self.categories = list(new.categories)
                self.tag_filter = self._local(new.tags[0]) if new.tags else ""
                self.where = {self._local(c): v for c, v in new.where.items()}
            self.histogram.interval = None
            self.scatter.rect = None
        self._rebuild_base_mask()

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
        current, texts = self._slice_and_text(interval)
        self.summary = sel.summary_text(self.n_selected, n, self.level, (), texts)
        self.summary_html.value = f"<b>{html.escape(self.summary)}</b>"
        self.scatter.set_highlight(mask if filtered else None)
        if self.metric and self.metric in self.frame:
            self.gallery.show(self.frame, self.metric, mask if filtered else None,
                              values=self.values(self.metric))
        else:
            self.gallery.show(self.frame, "", None)
        self._update_group_table()
        with self._quiet():
            self.slice = current
        # Last, so that its observers see the summary, gallery and group table of this update.
        self.set_trait("selection", ids_in(self.frame.index, mask))


_PANEL_NAMES = {
    "filter_bar": ("pin_button", "clear_button", "category_control", "tag_filter_control"),
    "tag_panel": ("tag_name", "tag_button"),
    "export_panel": ("export_format", "export_path", "export_overwrite", "export_button"),
}

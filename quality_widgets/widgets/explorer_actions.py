"""What the Explorer does with its selection: tag it, export it, turn it into a test case, draw
it as a static grid, open a track. Each is one call into the library
(:class:`~quality_widgets.analysis.tags.TagStore`, :func:`quality_widgets.export.export`,
:func:`~quality_widgets.analysis.testcases.test_case_from_slice`,
:func:`~quality_widgets.widgets.static.show_images`, :mod:`quality_widgets.analysis.tracks`)
on the Explorer's traits; the buttons of its panels call them through :meth:`_guard`.
"""
from __future__ import annotations

import html

import pandas as pd

from ..analysis.tags import TAG_COLUMN, check_tag
from ..analysis.testcases import test_case_from_slice
from ..export import export
from ..slicing import tag_mask
from .static import show_images

LEVEL_LABELS = {"image": "images", "object": "objects", "prediction": "predictions"}


class SelectionActions:
    """Mixin of :class:`~quality_widgets.widgets.explorer.Explorer`: the actions on its
    ``selection`` at its ``level`` (it reads ``frames``, ``frame``, ``slice``, ``metric``,
    ``tags``, ``gallery``, ``thumbnails``, ``status`` and the export and track panels)."""

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
        and the scatter rectangle (both of its axes), at the current level (their closures:
        :attr:`slice`)."""
        level = self.level
        return [(r.column if r.level == level else r.key, r.lo, r.hi) for r in self.slice.ranges]

    def as_test_case(self, name: str, measure: str = "AP", min_value=None, max_value=None
                     ) -> dict:
        """The current selection (:attr:`slice`) as a model test case, with the requirement
        ``min_value <= measure <= max_value``
        (:func:`~quality_widgets.analysis.testcases.test_case_from_slice`). The case holds
        the same rows as the Explorer at every level (one rule: the Slice's)."""
        return test_case_from_slice(name, self.slice, measure, min_value, max_value)

    # ---- tags and export -------------------------------------------------------------------
    def tag(self, name: str) -> int:
        """Tag the selected rows with ``name`` (kept in the ``tags`` column and in
        ``<cache_dir>/tags.parquet``); returns how many rows were newly tagged."""
        name = check_tag(name)
        added = self.tags.add(self.level, self.selection, name)
        self.tags.apply(self.frame, self.level)
        self._update_filter_options()
        self.status.value = html.escape(f"tagged {added} {LEVEL_LABELS[self.level]} "
                                        f"with {name!r}")
        return added

    def untag(self, name: str) -> int:
        """Remove the tag ``name`` from the selected rows; returns how many lost it."""
        name = check_tag(name)
        removed = self.tags.remove(self.level, self.selection, name)
        self.tags.apply(self.frame, self.level)
        self._update_filter_options()
        return removed

    def tagged(self, name: str) -> pd.Index:
        """Ids of the current level's rows tagged ``name``."""
        frame = self.frame
        if TAG_COLUMN not in frame:
            return frame.index[:0]
        return frame.index[tag_mask(frame[TAG_COLUMN], name)]

    def export(self, format: str, out, overwrite: bool = False):
        """Export the selection (see :func:`quality_widgets.export.export`)."""
        return export(self.frames, self.selection, format=format, out=out, level=self.level,
                      overwrite=overwrite)

    def _export_clicked(self) -> None:
        format, path, overwrite = self.export_panel.request()
        out = self.export(format, path, overwrite=overwrite)
        self.status.value = html.escape(f"exported {self.n_selected} "
                                        f"{LEVEL_LABELS[self.level]} to {out}")

    # ---- tracks (video datasets) ----------------------------------------------------------
    def show_track(self, track_id=None, video=None):
        """Open a :class:`~quality_widgets.widgets.tracks.TrackView` below the gallery: of
        ``track_id`` (in ``video``), or of the first selected row's track, plotting the
        current metric when it is a temporal one. Returns the view."""
        from ..analysis.tracks import tracks_of
        first = None
        if track_id is None:
            found = tracks_of(self.frames, self.selection, self.level)
            if not found:
                raise ValueError("select objects with a track_id first (video datasets)")
            video, track_id = found[0]
            first = self.selection[self.frame.loc[self.selection, "track_id"].notna()
                                   .to_numpy(dtype=bool)][0]
        return self.track_panel.show(self.frames, self.level, track_id, video, self.metric,
                                     at=first)

    def _guard(self, action) -> None:
        """Run a button action; show a refusal in the status line instead of a traceback."""
        try:
            action()
        except (ValueError, KeyError, OSError) as e:  # ExportError is a ValueError
            self.status.value = (f"<span style='color:#b00'>"
                                 f"{html.escape(type(e).__name__ + ': ' + str(e))}</span>")



"""What the widgets share: the ``selection`` trait type and the ``_quiet()`` context.

* :class:`Ids` holds the ids of the selected rows (a :class:`pandas.Index`, in frame order) and
  notifies its observers whenever the *set* changes, also when its size does not (a brush moved
  to a range with as many rows but other ids). traitlets compares an old and a new value with
  ``==``, which for an Index is elementwise (and raises for different lengths), so a plain
  ``Any`` trait would notify on every update; ``Ids`` compares with :meth:`pandas.Index.equals`
  (one vectorised pass) and the index name (the level: ``image_id`` vs ``annotation_id``).
  It is not synced to the browser: nothing there reads it, and sending 100,000 ids on every
  brush would cost more than the whole update.
* :class:`Quiet` gives a widget ``with self._quiet():``: programmatic updates made inside do
  not echo back through the observers that check :attr:`Quiet._quieted` (one counter, so the
  context nests).
* :class:`Paged` adds ``page`` / ``per_page`` / ``n_pages``, previous and next buttons and a
  page label to a widget that draws one page at a time (the gallery, the label-error review).
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pandas as pd
import traitlets


def ids_in(index: pd.Index, mask) -> pd.Index:
    """The ids of ``index`` where ``mask`` is True (None: all), in order. ``take`` of the
    positions: on 1,000,000 rows about 8x faster than ``index[mask]``, which pays for pandas'
    boolean-key checks on every brush."""
    if mask is None:
        return index
    return index.take(np.flatnonzero(mask))


def same_ids(old, new) -> bool:
    """True when two id indexes hold the same ids in the same order, under the same name."""
    if old is new:
        return True
    if old is None or new is None:
        return False
    return old.name == new.name and len(old) == len(new) and old.equals(new)


class Ids(traitlets.TraitType):
    """A trait holding row ids as a :class:`pandas.Index`; notifies only when the ids change
    (see the module doc). Lists and arrays are stored as an Index."""

    info_text = "a pandas Index of row ids"

    def __init__(self, **kwargs):
        super().__init__(default_value=pd.Index([]), **kwargs)

    def validate(self, obj, value):
        if isinstance(value, pd.Index):
            return value
        try:
            return pd.Index(value)
        except TypeError:
            self.error(obj, value)

    def set(self, obj, value) -> None:
        new = self._validate(obj, value)
        old = obj._trait_values.get(self.name, self.default_value)
        obj._trait_values[self.name] = new
        if not same_ids(old, new):
            obj._notify_trait(self.name, old, new)


class Quiet:
    """Mixin for widgets: ``with self._quiet():`` marks programmatic updates; observers that
    must not react to them return early when :attr:`_quieted` is True."""

    _quiet_depth = 0

    @contextmanager
    def _quiet(self):
        self._quiet_depth += 1
        try:
            yield
        finally:
            self._quiet_depth -= 1

    @property
    def _quieted(self) -> bool:
        return self._quiet_depth > 0


class Paged(Quiet, traitlets.HasTraits):
    """Mixin for widgets that draw one page of rows at a time (:meth:`render`, defined by the
    widget): ``page`` (0-based), ``per_page``, ``n_pages``. A page change redraws;
    :meth:`_first_page` goes back to page 0 and redraws when what is paged changes (call it
    from the widget's own observer). :meth:`_page_controls` makes the previous / next buttons
    and the page label, wired to :meth:`previous_page` / :meth:`next_page`."""

    page = traitlets.Int(0)
    per_page = traitlets.Int(12)
    n_pages = traitlets.Int(1)

    def _page_controls(self) -> list:
        import ipywidgets as widgets  # widgets only: this module is imported by the tests
        self.prev_button = widgets.Button(description="previous", icon="arrow-left",
                                          layout=widgets.Layout(width="100px"))
        self.next_button = widgets.Button(description="next", icon="arrow-right",
                                          layout=widgets.Layout(width="100px"))
        self.page_label = widgets.HTML()
        self.prev_button.on_click(lambda _: self.previous_page())
        self.next_button.on_click(lambda _: self.next_page())
        return [self.prev_button, self.page_label, self.next_button]

    def next_page(self) -> None:
        self.page = min(self.page + 1, self.n_pages - 1)

    def previous_page(self) -> None:
        self.page = max(self.page - 1, 0)

    def _first_page(self) -> None:
        if self._quieted:
            return
        with self._quiet():
            self.page = 0
        self.render()

    @traitlets.observe("page")
    def _on_page(self, change):
        if not self._quieted:
            self.render()

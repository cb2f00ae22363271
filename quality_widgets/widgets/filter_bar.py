"""The Explorer's filter bar: pin and clear buttons, the category choice and the tag filter.

State in traits (``categories``, ``tag_filter``), set by the controls and settable from Python;
the Explorer links them to its own and turns them into its :class:`~quality_widgets.Slice`.
Display only: which categories and tags exist is asked of the library
(:func:`quality_widgets.slicing.category_names`, the tag store).
"""
from __future__ import annotations

import ipywidgets as widgets
import traitlets

ALL = "(all)"


class FilterBar(widgets.HBox):
    """Pin / clear buttons, a category multi-select and a tag dropdown in one row.

    Traits: ``categories`` (the chosen names; none = no category filter) and ``tag_filter``
    ("" = none). :meth:`set_options` says what can be chosen (the category control hides when
    there is nothing); a value set from Python that is not an option yet is added to the
    options. ``extra``: widgets appended to the row (the Explorer's track button).
    """

    categories = traitlets.List(traitlets.Unicode())
    tag_filter = traitlets.Unicode("")

    def __init__(self, extra=(), **kwargs):
        self.pin_button = widgets.Button(description="pin range", icon="thumb-tack",
                                         tooltip="keep this range while brushing another "
                                                 "metric (ranges AND together)")
        self.clear_button = widgets.Button(description="clear all", icon="times")
        self.category_control = widgets.SelectMultiple(
            description="category", rows=4, layout=widgets.Layout(width="320px"))
        self.tag_filter_control = widgets.Dropdown(description="tag", options=[ALL],
                                                   layout=widgets.Layout(width="220px"))
        super().__init__(children=[self.pin_button, self.clear_button, self.category_control,
                                   self.tag_filter_control, *extra], **kwargs)
        self.category_control.observe(
            lambda c: setattr(self, "categories", list(c["new"])), "value")
        self.tag_filter_control.observe(
            lambda c: setattr(self, "tag_filter", "" if c["new"] == ALL else c["new"]), "value")

    def set_options(self, categories, tags) -> None:
        """The category names and tag names to choose among (chosen values stay chosen when
        they are still offered)."""
        categories = [str(c) for c in categories]
        keep = [c for c in self.categories if c in categories]
        self.category_control.options = categories
        self.category_control.value = tuple(keep)
        self.category_control.layout.display = None if categories else "none"
        value = self.tag_filter_control.value
        self.tag_filter_control.options = [ALL, *tags]
        self.tag_filter_control.value = value if value in tags else ALL

    @traitlets.observe("categories")
    def _on_categories(self, change):
        chosen = tuple(change["new"])
        missing = [c for c in chosen if c not in self.category_control.options]
        if missing:
            self.category_control.options = [*self.category_control.options, *missing]
            self.category_control.layout.display = None
        if tuple(self.category_control.value) != chosen:
            self.category_control.value = chosen

    @traitlets.observe("tag_filter")
    def _on_tag_filter(self, change):
        value = change["new"] or ALL
        if value not in self.tag_filter_control.options:
            self.tag_filter_control.options = [*self.tag_filter_control.options, value]
        self.tag_filter_control.value = value

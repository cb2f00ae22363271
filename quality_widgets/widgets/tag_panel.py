"""The Explorer's tag panel: a tag name and a button that tags the selection. Display only:
tags are kept by :class:`quality_widgets.analysis.tags.TagStore`."""
from __future__ import annotations

import ipywidgets as widgets


class TagPanel(widgets.HBox):
    """A text box for the tag name and a "tag selection" button; :meth:`on_tag` registers
    ``callback(name)`` for the button."""

    def __init__(self, **kwargs):
        self.tag_name = widgets.Text(placeholder="tag name", layout=widgets.Layout(width="160px"))
        self.tag_button = widgets.Button(description="tag selection", icon="tag")
        super().__init__(children=[self.tag_name, self.tag_button], **kwargs)

    def on_tag(self, callback) -> None:
        self.tag_button.on_click(lambda _: callback(self.tag_name.value))

"""The Explorer's export panel: format, output path, overwrite, and an export button. Display
only: the export is :func:`quality_widgets.export.export`."""
from __future__ import annotations

import ipywidgets as widgets

from ..export import FORMATS


class ExportPanel(widgets.HBox):
    """Format dropdown (:data:`quality_widgets.export.FORMATS`), output path, overwrite box and
    an "export selection" button; :meth:`on_export` registers ``callback(format, path,
    overwrite)`` for the button (a ValueError when no path is typed)."""

    def __init__(self, **kwargs):
        self.export_format = widgets.Dropdown(options=list(FORMATS), value="coco",
                                              description="export",
                                              layout=widgets.Layout(width="200px"))
        self.export_path = widgets.Text(placeholder="output file or folder",
                                        layout=widgets.Layout(width="280px"))
        self.export_overwrite = widgets.Checkbox(description="overwrite", indent=False,
                                                 layout=widgets.Layout(width="100px"))
        self.export_button = widgets.Button(description="export selection", icon="download")
        super().__init__(children=[self.export_format, self.export_path, self.export_overwrite,
                                   self.export_button], **kwargs)

    def request(self) -> tuple[str, str, bool]:
        """``(format, path, overwrite)`` as typed; a ValueError when the path is empty."""
        path = self.export_path.value.strip()
        if not path:
            raise ValueError("type an output path first")
        return self.export_format.value, path, bool(self.export_overwrite.value)

    def on_export(self, callback) -> None:
        self.export_button.on_click(lambda _: callback(*self.request()))

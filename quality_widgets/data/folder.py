"""A plain folder of images, no labels: data metrics only."""
from __future__ import annotations

from pathlib import Path

from ._io import images_frame, list_images


def load(images_dir, recursive: bool = True, name=None) -> dict:
    """The :class:`~quality_widgets.Dataset` fields of every image below ``images_dir``."""
    root = Path(images_dir).absolute()
    names = list_images(root, recursive=recursive)
    return dict(images=images_frame(root, names), images_dir=root, name=name or root.name,
                sources={"images": str(root)})

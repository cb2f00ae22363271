"""A plain folder of images, no labels: data metrics only."""
from __future__ import annotations

from . import storage
from ._io import images_frame, list_images


def load(images_dir, recursive: bool = True, name=None) -> dict:
    """The :class:`~quality_widgets.Dataset` fields of every image below ``images_dir`` (a
    folder, or an fsspec URL)."""
    root = storage.location(images_dir)
    names = list_images(root, recursive=recursive)
    return dict(images=images_frame(root, names), images_dir=root,
                name=name or storage.name(root),
                sources={"images": str(root)})

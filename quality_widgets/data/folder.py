"""A plain folder of images, no labels: data metrics only."""
from __future__ import annotations

from . import storage
from ._io import images_frame, list_images
from .checks import folder_image_ids


def load(images_dir, recursive: bool = True, name=None) -> dict:
    """The :class:`~quality_widgets.Dataset` fields of every image below ``images_dir`` (a
    folder, or an fsspec URL; ids by :func:`.checks.folder_image_ids`)."""
    root = storage.location(images_dir)
    names = list_images(root, recursive=recursive)
    ids, rule = folder_image_ids(names)
    return dict(images=images_frame(root, names, ids), images_dir=root,
                name=name or storage.name(root),
                sources={"images": str(root), "image_ids": rule})

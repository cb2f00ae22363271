"""A plain folder of images, no labels: data metrics only."""
from __future__ import annotations

from pathlib import Path

from ._io import images_frame, list_images
from .checks import folder_image_ids


def load(images_dir, recursive: bool = True, name=None) -> dict:
    """The :class:`~quality_widgets.Dataset` fields of every image below ``images_dir`` (ids by
    :func:`.checks.folder_image_ids`)."""
    root = Path(images_dir).absolute()
    names = list_images(root, recursive=recursive)
    ids, rule = folder_image_ids(names)
    return dict(images=images_frame(root, names, ids), images_dir=root, name=name or root.name,
                sources={"images": str(root), "image_ids": rule})

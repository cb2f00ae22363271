"""A plain folder of images, no labels: data metrics only."""
from __future__ import annotations

from pathlib import Path

from ..dataset import Dataset
from ._common import images_frame, list_images


def load(images_dir, recursive: bool = True, name=None) -> Dataset:
    root = Path(images_dir).absolute()
    names = list_images(root, recursive=recursive)
    return Dataset(images=images_frame(root, names), images_dir=root, name=name or root.name,
                   sources={"images": str(root)})

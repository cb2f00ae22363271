"""The bundled sample: 33 redistributable COCO images with official labels and real predictions."""
from __future__ import annotations

from pathlib import Path

from .dataset import Dataset

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"


def sample_paths() -> dict:
    """Paths of the sample's images folder, annotations, predictions and attribution file."""
    return {"images": SAMPLE_DIR / "images", "annotations": SAMPLE_DIR / "instances.json",
            "predictions": SAMPLE_DIR / "predictions.json",
            "attribution": SAMPLE_DIR / "ATTRIBUTION.md"}


def load_sample(predictions: bool = True) -> Dataset:
    """The bundled sample dataset (see ``ATTRIBUTION.md`` beside it for the image licences):
    33 COCO 2017 photos under CC BY / CC BY-SA / no known restrictions, their official COCO
    annotations and the Yolo-Fastest-1.1-xl detector's predictions."""
    p = sample_paths()
    return Dataset.from_coco(p["images"], p["annotations"],
                             p["predictions"] if predictions else None, name="sample")

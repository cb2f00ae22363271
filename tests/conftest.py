"""Shared fixtures. Tests that need ``../shared`` (the coco128 data) skip cleanly without it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QW_SHARED_DIR", ROOT.parent / "shared"))
COCO128 = SHARED / "coco128"


@pytest.fixture(scope="session")
def coco128() -> Path:
    """Path of ../shared/coco128 (images/, instances.json, predictions/)."""
    if not (COCO128 / "instances.json").exists():
        pytest.skip(f"needs the shared coco128 data at {COCO128} (not shipped with the project)")
    return COCO128


@pytest.fixture(scope="session")
def coco128_dataset(coco128):
    import quality_widgets as qw
    return qw.Dataset.from_coco(coco128 / "images", coco128 / "instances.json",
                                coco128 / "predictions" / "yolo-fastest-1.1-xl.json")

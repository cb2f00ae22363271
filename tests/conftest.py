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


@pytest.fixture(scope="session", autouse=True)
def _private_metric_cache(tmp_path_factory):
    """Tests never touch the user's ~/.cache/quality-widgets."""
    path = tmp_path_factory.mktemp("qw-cache")
    old = os.environ.get("QUALITY_WIDGETS_CACHE")
    os.environ["QUALITY_WIDGETS_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("QUALITY_WIDGETS_CACHE", None)
    else:
        os.environ["QUALITY_WIDGETS_CACHE"] = old


@pytest.fixture(autouse=True)
def _restore_metric_registry():
    """Metrics a test decorates or loads from a file do not leak into later tests."""
    from quality_widgets.compute import registry
    with registry.snapshot():
        yield


@pytest.fixture(scope="session", autouse=True)
def _stop_kept_workers_at_the_end():
    """The kept worker pool outlives every test; stopping it before the session ends lets its
    processes exit normally (coverage of the workers is saved before pytest-cov combines it)."""
    yield
    from quality_widgets.compute.pool import shutdown_workers
    shutdown_workers(wait=True)

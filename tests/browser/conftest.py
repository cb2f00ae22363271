"""Fixtures for the real-browser tests: one JupyterLab (and one Voila) per session in a temp
root holding copies of the notebooks, and a headless Debian Chromium that can reach only
127.0.0.1.

The tests skip, saying why, without /usr/bin/chromium or the playwright package; under CI
(``CI=true``) a missing browser is an error instead, so CI cannot pass by skipping them.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path

import pytest
from browser_servers import CHROMIUM, CHROMIUM_ARGS, NetworkGuard, start_lab, start_voila

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return (f"needs Debian's Chromium at {CHROMIUM} (apt-get install -y chromium; never "
                f"'playwright install')")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs the playwright Python package (pip install -e .[test])"
    return None


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session", autouse=True)
def _browser_available():
    reason = _missing()
    if reason and IN_CI:
        pytest.fail(f"CI must run the browser tests: {reason}", pytrace=False)
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def server_root(tmp_path_factory) -> Path:
    """A temp folder with copies of the notebooks: the servers' root and the kernels' cwd."""
    root = tmp_path_factory.mktemp("jupyter-root")
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy(nb, root / nb.name)
    return root


@pytest.fixture(scope="session")
def lab(server_root, artifacts):
    token = secrets.token_hex(16)
    server = start_lab(server_root, token, artifacts / "jupyterlab.log")
    server.token = token
    yield server
    server.stop()


@pytest.fixture(scope="session")
def voila(server_root, artifacts):
    server = start_voila(server_root, "quickstart.ipynb", artifacts / "voila.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory):
    from playwright.sync_api import sync_playwright
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True,
            viewport={"width": 1300, "height": 2000}, args=CHROMIUM_ARGS)
        ctx.set_default_timeout(30_000)
        guard = NetworkGuard()
        ctx.route("**/*", guard)
        ctx.guard = guard
        yield ctx
        ctx.close()


@pytest.fixture
def page(browser_context, artifacts, request):
    """A fresh tab; at the end: a screenshot, no JavaScript errors, no escaped request.

    A test that expects some blocked URLs sets ``page.expected_blocked``."""
    guard = browser_context.guard
    guard.blocked.clear()
    page = browser_context.new_page()
    page.js_errors = []
    page.expected_blocked = frozenset()
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    yield page
    name = request.node.name.replace("/", "_")
    with contextlib.suppress(Exception):  # a crashed page must not hide the test's failure
        page.screenshot(path=str(artifacts / f"{name}-final.png"), full_page=True)
    page.close()
    escaped = guard.unexpected(page.expected_blocked)
    assert not page.js_errors, f"JavaScript errors on the page: {page.js_errors}"
    assert not escaped, f"requests tried to leave 127.0.0.1: {escaped}"


@pytest.fixture(scope="session")
def sample_images():
    """The bundled sample's images with their brightness, computed here, independently of the
    kernel in the page: what a brush over the histogram must select."""
    import quality_widgets as qw
    frames = qw.compute_metrics(qw.load_sample(), metrics=["brightness"], workers=1,
                                cache_dir=False, progress=False)
    return frames.images[["file_name", "brightness"]]

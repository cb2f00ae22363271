"""Servers and a network-guarded Chromium for the browser tests (see
/work/shared/browser-testing.md for the recipe these follow).

Everything listens on 127.0.0.1 only; Chromium resolves no other host and a route guard records
(and aborts) any request that is not loopback, ``data:`` or ``blob:``.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = Path(os.environ.get("QW_CHROMIUM", "/usr/bin/chromium"))

# Voila's default "lab" template links these two stylesheets on a CDN. They are blocked like
# everything else (the icons fall back to nothing); they are the only escapes we accept.
VOILA_EXPECTED_BLOCKED = frozenset({
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@%5E5/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@%5E5/css/v4-shims.min.css",
})

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--disable-features=AutofillServerCommunication,OptimizationHints,MediaRouter",
]

LOCAL_PREFIXES = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_env(root: Path) -> dict:
    """Environment for a server (and its kernels) that reads and writes only below ``root``."""
    env = dict(os.environ)
    for var, sub in (("JUPYTER_CONFIG_DIR", ".jupyter"), ("JUPYTER_RUNTIME_DIR", ".runtime"),
                     ("IPYTHONDIR", ".ipython"), ("QUALITY_WIDGETS_CACHE", ".qw-cache")):
        (root / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(root / sub)
    env.pop("JUPYTER_TOKEN", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_lab_settings(root: Path) -> Path:
    """User settings: no news / update checks, and no notebook windowing (otherwise
    off-screen cells are detached from the DOM)."""
    settings = root / ".lab-settings"
    for rel, value in (
            ("@jupyterlab/apputils-extension/notification.jupyterlab-settings",
             {"fetchNews": "false", "checkForUpdates": False}),
            ("@jupyterlab/notebook-extension/tracker.jupyterlab-settings",
             {"windowingMode": "none"})):
        path = settings / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    return settings


class Server:
    """A child process in its own process group, stopped with the whole group."""

    def __init__(self, cmd, cwd: Path, env: dict, log: Path, url: str, name: str):
        self.url, self.name, self.log = url, name, log
        self._log_file = open(log, "wb")  # noqa: SIM115 (open while the server runs)
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self._log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def wait_until_up(self, probe_url: str, timeout: float = 120.0,
                      accept=lambda status: status == 200) -> None:
        """Poll ``probe_url`` until it answers with an accepted status; fail early, with the
        server's log, if the process exits."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                with urllib.request.urlopen(probe_url, timeout=5) as r:
                    last = r.status
            except urllib.error.HTTPError as e:
                last = e.code
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
                last = e
            if isinstance(last, int) and accept(last):
                return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} not up after {timeout:.0f} s (last: {last!r}):\n"
                           f"{self.log_tail()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._log_file.close()


def start_lab(root: Path, token: str, log: Path) -> Server:
    port = free_port()
    settings = write_lab_settings(root)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
           "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}",
           f"--LabApp.workspaces_dir={root / '.ws'}", "--LabApp.extension_manager=readonly",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    server = Server(cmd, root, isolated_env(root), log, f"http://127.0.0.1:{port}",
                    "JupyterLab")
    server.wait_until_up(f"{server.url}/api/status?token={token}")
    return server


def start_voila(root: Path, notebook: str, log: Path) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "voila", notebook, "--no-browser", f"--port={port}",
           "--Voila.ip=127.0.0.1"]
    server = Server(cmd, root, isolated_env(root), log, f"http://127.0.0.1:{port}", "Voila")
    # Voila has no status endpoint and loading "/" would execute the notebook: any HTTP
    # answer from a static path means it is up.
    server.wait_until_up(f"{server.url}/voila/static/does-not-exist",
                         accept=lambda status: True)
    return server


class NetworkGuard:
    """Route handler: loopback, data: and blob: pass; everything else is aborted and kept."""

    def __init__(self):
        self.blocked: list[str] = []

    def __call__(self, route):
        url = route.request.url
        if url.startswith(LOCAL_PREFIXES):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def unexpected(self, allowed=frozenset()) -> list[str]:
        return [u for u in self.blocked if u not in allowed]

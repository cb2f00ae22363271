"""``quality-widgets demo`` really starts JupyterLab serving the quickstart notebook."""
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


@pytest.mark.slow
def test_demo_starts_jupyterlab_serving_the_quickstart(tmp_path):
    pytest.importorskip("jupyterlab")
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    for var, sub in (("JUPYTER_CONFIG_DIR", "cfg"), ("JUPYTER_RUNTIME_DIR", "rt"),
                     ("JUPYTER_DATA_DIR", "data"), ("IPYTHONDIR", "ipy")):
        env[var] = str(tmp_path / sub)
    env.pop("JUPYTER_TOKEN", None)
    cmd = [sys.executable, "-m", "quality_widgets", "demo", "--dir", str(tmp_path / "nbs"),
           "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", "--LabApp.news_url=",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log = open(tmp_path / "demo.log", "wb")  # noqa: SIM115 (open while the server runs)
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, \
                f"demo exited with {proc.returncode}:\n{(tmp_path / 'demo.log').read_text()}"
            try:
                status, _ = get(f"{base}/api/status?token={token}")
            except OSError:
                status = None
            if status == 200:
                break
            time.sleep(0.3)
        assert status == 200, f"JupyterLab not up:\n{(tmp_path / 'demo.log').read_text()}"

        status, body = get(f"{base}/api/contents/quickstart.ipynb?token={token}")
        assert status == 200
        model = json.loads(body)
        assert model["type"] == "notebook" and model["name"] == "quickstart.ipynb"
        sources = "".join("".join(c["source"]) for c in model["content"]["cells"])
        assert "qw.load_sample()" in sources and "qw.Explorer(" in sources
        # The server's root is the copy folder, with every notebook of the project.
        status, body = get(f"{base}/api/contents?token={token}")
        names = {item["name"] for item in json.loads(body)["content"]}
        assert {"quickstart.ipynb", "custom_metric.ipynb", "your_data.ipynb"} <= names
        # The token is required: without it the contents are refused.
        assert get(f"{base}/api/contents/quickstart.ipynb")[0] == 403
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()
    # The demo ran until our SIGTERM stopped it (it did not exit by itself, nor need SIGKILL),
    # and the JupyterLab it started stopped with it: nothing is left listening on the port.
    assert proc.returncode == -signal.SIGTERM, proc.returncode
    assert not _listening(port, within=20), "JupyterLab outlived `quality-widgets demo`"


def _listening(port: int, within: float) -> bool:
    """True if something still accepts connections on ``port`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.3)

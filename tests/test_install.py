"""`pip install .` (a real wheel, not editable) gives the command, the sample and the built-in
metrics. The wheel is installed with --no-deps into a folder put first on PYTHONPATH, so the
test needs no network and checks the packaged files, not the checkout."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_has_command_sample_and_builtin_metrics(tmp_path):
    wheel_dir = tmp_path / "wheel"
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "-w", str(wheel_dir), str(ROOT)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    wheel = next(wheel_dir.glob("quality_widgets-*.whl"))
    target = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target",
                          str(target), str(wheel)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    env = dict(os.environ, PYTHONPATH=str(target))
    code = ("import quality_widgets as qw, pathlib;"
            "assert 'site' in qw.__file__, qw.__file__;"
            "ds = qw.load_sample(); assert len(ds.images) == 33;"
            "names = {m.name for m in qw.registered_metrics()};"
            "assert {'brightness', 'object_redness', 'confidence', 'uniqueness'} <= names, names;"
            "from quality_widgets.compute.registry import builtin_metrics_dir;"
            "assert '_builtin_metrics' in str(builtin_metrics_dir());"
            "f = qw.compute_metrics(ds.subset(ds.images.index[:2]), workers=1, cache_dir=False,"
            " progress=False); assert f.images['brightness'].notna().all(); print('OK')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert res.returncode == 0 and "OK" in res.stdout, res.stderr[-2000:]
    script = target / "bin" / "quality-widgets"
    assert script.exists()
    res = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    assert res.returncode == 0 and "metrics" in res.stdout
    # the demo finds the notebooks shipped inside the wheel
    res = subprocess.run([sys.executable, str(script), "demo", "--dry-run", "--dir", "nbs"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "nbs" / "quickstart.ipynb").exists()

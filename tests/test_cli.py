"""The quality-widgets command: metrics to Parquet, demo, errors with exit codes."""
import subprocess
import sys

import pandas as pd
from helpers import make_coco

from quality_widgets.cli import main


def test_metrics_command_writes_three_parquet_files(tmp_path, capsys):
    p = make_coco(tmp_path)
    out = tmp_path / "out"
    code = main(["metrics", "--images", str(p["images"]), "--annotations", str(p["annotations"]),
                 "--predictions", str(p["predictions"]), "--out", str(out), "--workers", "1",
                 "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert code == 0
    images = pd.read_parquet(out / "images.parquet")
    objects = pd.read_parquet(out / "objects.parquet")
    preds = pd.read_parquet(out / "predictions.parquet")
    assert (len(images), len(objects), len(preds)) == (6, 12, 12)
    assert images.index.name == "image_id" and objects.index.name == "annotation_id"
    assert preds.index.name == "prediction_id" and "brightness" in images
    text = capsys.readouterr().out
    assert "computed 6 images" in text and "brightness" in text


def test_metrics_command_on_a_bare_folder_with_a_metric_file(tmp_path):
    p = make_coco(tmp_path)
    mfile = tmp_path / "m.py"
    mfile.write_text("from quality_widgets import metric\n\n@metric(level='image')\n"
                     "def cli_rows(image):\n    return image.shape[0]\n")
    out = tmp_path / "out"
    assert main(["metrics", "--images", str(p["images"]), "--out", str(out), "--no-cache",
                 "--metrics", "brightness", "--metric-file", str(mfile), "--quiet"]) == 0
    images = pd.read_parquet(out / "images.parquet")
    assert list(images["cli_rows"]) == [48] * 6 and "contrast" not in images


def test_bad_input_gives_exit_code_2_and_names_the_file(tmp_path, capsys):
    bad = tmp_path / "broken.json"
    bad.write_text("{")
    code = main(["metrics", "--images", str(tmp_path), "--annotations", str(bad),
                 "--out", str(tmp_path / "o")])
    assert code == 2
    assert "broken.json" in capsys.readouterr().err


def test_console_script_runs():
    res = subprocess.run([sys.executable, "-m", "quality_widgets", "--help"],
                         capture_output=True, text=True)
    assert res.returncode == 0 and "metrics" in res.stdout and "demo" in res.stdout


def test_demo_copies_the_notebooks_without_overwriting(tmp_path, capsys):
    target = tmp_path / "nbs"
    assert main(["demo", "--dir", str(target), "--dry-run", "--no-browser"]) == 0
    assert (target / "quickstart.ipynb").exists()
    (target / "quickstart.ipynb").write_text("mine")
    assert main(["demo", "--dir", str(target), "--dry-run"]) == 0
    assert (target / "quickstart.ipynb").read_text() == "mine"
    assert "--no-browser" in capsys.readouterr().out

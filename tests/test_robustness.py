"""The whole pipeline over a dataset that mixes good images with every kind of bad input:
load, compute_metrics, evaluate, Explorer, export. Nothing crashes, every good item has its
values, every bad one says why, strings stay text, nothing is written outside the export."""
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from make_bad_corpus import HOSTILE_NAMES, write_dataset

import quality_widgets as qw


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    cases = write_dataset(root)
    return root, cases


@pytest.fixture(scope="module")
def loaded(corpus):
    root, cases = corpus
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = qw.Dataset.from_coco(root / "images", root / "instances.json",
                                  root / "predictions.json")
    return ds, [str(w.message) for w in caught if issubclass(w.category, qw.DataWarning)]


@pytest.fixture(scope="module")
def computed(corpus, loaded, tmp_path_factory):
    root, cases = corpus
    ds, _ = loaded
    images = ds.images.set_index("file_name")
    os.remove(images.loc["vanishes.jpg", "path"])          # disappears after loading
    unreadable = images.loc["unreadable.jpg", "path"]
    os.chmod(unreadable, 0)
    real_open = qw.data.imaging.Image.open

    def guarded_open(fp, *a, **k):  # root reads anything: simulate the permission error
        if str(fp) == unreadable:
            raise PermissionError(13, "Permission denied", str(fp))
        return real_open(fp, *a, **k)

    qw.data.imaging.Image.open = guarded_open
    try:
        frames = qw.compute_metrics(ds, workers=1, cache_dir=tmp_path_factory.mktemp("c"),
                                    progress=False)
    finally:
        qw.data.imaging.Image.open = real_open
        os.chmod(unreadable, 0o644)
    return frames


def test_loader_skips_bad_rows_and_names_them(loaded):
    ds, messages = loaded
    text = "\n".join(messages)
    for words in ("unknown image_id", "unknown category_id", "zero or negative box",
                  "not 4 finite numbers", "duplicate id", "wholly outside",
                  "missing, NaN or negative score", "an image_id not in the dataset"):
        assert words in text, words
    kept = set(ds.annotations.index)
    assert {5007, 5008, 5009} <= kept and not {5001, 5002, 5003, 5004, 5005, 5006} & kept
    assert ds.annotations.loc[5009, "segmentation"] is None   # 2-point polygon dropped
    assert len(ds.predictions) == len(ds.images)               # the 4 bad ones skipped


@pytest.mark.parametrize("name, field", [("not_json.json", None),
                                         ("no_images_key.json", "images"),
                                         ("no_annotations_key.json", "annotations")])
def test_malformed_files_get_one_clear_error(corpus, name, field):
    root, _ = corpus
    with pytest.raises(qw.DatasetError) as e:
        qw.Dataset.from_coco(root / "images", root / name)
    assert name in str(e.value) and e.value.field == field


def test_results_file_shapes(corpus):
    root, _ = corpus
    with pytest.raises(qw.DatasetError, match="got a JSON object"):
        qw.Dataset.from_coco(root / "images", root / "instances.json",
                             root / "predictions_dict.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = qw.Dataset.from_coco(root / "images", root / "instances.json",
                                  root / "predictions_empty.json")
    assert len(ds.predictions) == 0 and ds.has_predictions


def test_every_good_image_has_values_and_every_bad_one_an_error(corpus, computed):
    root, cases = corpus
    frame = computed.images.set_index("file_name")
    for name, expect in cases.items():
        row = frame.loc[name]
        if expect == "error":
            assert isinstance(row["error"], str) and row["error"], name
            assert np.isnan(row["brightness"]), name
        else:
            assert row["error"] is None or pd.isna(row["error"]), (name, row["error"])
            for col in ("brightness", "contrast", "redness", "colorfulness", "entropy"):
                assert np.isfinite(row[col]), (name, col)
            if isinstance(expect, dict):
                for key, value in expect.items():
                    if key.endswith("_between"):
                        lo, hi = value
                        assert lo <= row[key[:-8]] <= hi, (name, key, row[key[:-8]])
                    else:
                        assert row[key] == value, (name, key, row[key])
    assert "decompression bomb" in frame.loc["bomb.png", "error"]
    assert "permission denied" in frame.loc["unreadable.jpg", "error"]
    assert "not found" in frame.loc["vanishes.jpg", "error"]
    assert "not an image" in frame.loc["text.jpg", "error"]
    assert "truncated" in frame.loc["truncated.jpg", "error"]
    # unsafe names from the annotation file: nothing outside the folder was read
    assert "unsafe file name" in frame.loc["../outside.jpg", "error"]
    assert "unsafe file name" in frame.loc["/etc/passwd", "error"]


def test_exif_orientation_is_applied_to_pixels(corpus, computed):
    frame = computed.images.set_index("file_name")
    row = frame.loc["exif_rotated.jpg"]
    assert (row["width"], row["height"]) == (48, 64)
    path = row["path"]
    rgb = qw.data.imaging.decode_rgb(path)
    assert rgb.shape == (64, 48, 3)
    assert rgb[5, 24, 0] > 150 and rgb[60, 24, 0] < 100   # red half on top after rotation


def test_size_disagreement_is_flagged(computed):
    frame = computed.images.set_index("file_name")
    assert frame.loc["good_5.jpg", "size_mismatch"]
    assert not frame.loc["good_0.jpg", "size_mismatch"]


def test_boxes_outside_the_image_are_measured_not_fatal(computed):
    obj = computed.objects
    assert obj.loc[5008, "border_closeness"] > 1          # wholly outside: flagged by value
    assert np.isfinite(obj.loc[5008, "object_brightness"])  # nearest border pixel
    assert obj.loc[5007, "border_closeness"] > 1


def test_evaluation_runs_on_the_dirty_dataset(loaded):
    ds, _ = loaded
    result = qw.evaluate(ds)
    assert len(result.stats) == 12 and np.all(np.isfinite(result.stats) | (result.stats == -1))


def test_explorer_and_gallery_show_hostile_names_as_text(computed):
    explorer = qw.Explorer(computed, metric="brightness")
    explorer.select("brightness", 0.0, 1.0)
    html = explorer.gallery.html.value if hasattr(explorer.gallery, "html") else \
        explorer.gallery.children[-1].value
    for name in HOSTILE_NAMES:
        if "<" in name:
            assert name not in html                         # never raw HTML
    assert "&lt;img src=x onerror=alert(1)&gt;" in html or "&lt;script&gt;" in html


def test_export_never_writes_outside_its_folder(computed, tmp_path):
    sel = computed.images.index
    with pytest.warns(qw.DataWarning, match="left out"):   # bad and unsafe ones are left out
        out = qw.export(computed, sel, format="images", out=tmp_path / "copies")
    written = [p.resolve() for p in Path(out).rglob("*") if p.is_file()]
    root = (tmp_path / "copies").resolve()
    outside = [p for p in written if not p.is_relative_to(root)]
    assert len(written) >= 20 and not outside, outside[:3]
    coco = qw.export(computed, sel, format="coco", out=tmp_path / "sub.json")
    data = json.loads(Path(coco).read_text())           # one file, nothing else written
    assert len(data["images"]) == len(sel) and not (tmp_path / "outside.jpg").exists()
    with pytest.raises(qw.ExportError):
        qw.export(computed, sel, format="coco", out=tmp_path / "sub.json")


def test_yolo_bad_lines_are_skipped_with_file_and_line(corpus):
    root, _ = corpus
    # 3 of the 4 lines are bad: past the default limit the folder is refused...
    with pytest.raises(qw.DatasetError, match="3 of 4 label lines are unusable"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qw.Dataset.from_yolo(root / "yolo" / "images", class_names=["thing"])
    # ... and with the limit raised, the bad lines are skipped and named
    with pytest.warns(qw.DataWarning) as caught:
        ds = qw.Dataset.from_yolo(root / "yolo" / "images", class_names=["thing"],
                                  max_unusable=1.0)
    text = " ".join(str(w.message) for w in caught)
    assert "a.txt:2" in text and "a.txt:3" in text and "a.txt:4" in text
    assert len(ds.annotations) == 1


def test_cache_survives_deletion_and_ignores_damaged_parts(corpus, loaded, tmp_path):
    import shutil
    ds, _ = loaded
    good = ds.subset(ds.images.index[ds.images["file_name"].str.startswith("good_")])
    cache = tmp_path / "cache"
    first = qw.compute_metrics(good, metrics=["brightness"], workers=1, cache_dir=cache,
                               progress=False)
    shutil.rmtree(cache)                                    # deleted between runs
    second = qw.compute_metrics(good, metrics=["brightness"], workers=1, cache_dir=cache,
                                progress=False)
    assert second.stats["computed"] == len(good.images)
    part_dir = next(cache.iterdir())
    (part_dir / "part-99999999-damaged.parquet").write_bytes(b"PAR1 half written")
    (part_dir / ".part-x.tmp").write_bytes(b"temp file of a killed run")
    with pytest.warns(RuntimeWarning, match="unreadable cache file"):
        third = qw.compute_metrics(good, metrics=["brightness"], workers=1, cache_dir=cache,
                                   progress=False)
    assert third.stats["computed"] == 0
    pd.testing.assert_series_equal(first.images["brightness"], third.images["brightness"])

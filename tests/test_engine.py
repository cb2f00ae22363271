"""The metric engine: frames, custom metrics (also from __main__ in worker processes), errors,
the cache (second run, new metric, interrupted run)."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import make_coco

import quality_widgets as qw

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def custom_metrics():
    """Two decorated metrics, registered for the test only (conftest's registry snapshot
    forgets them afterwards)."""
    @qw.metric(level="image", name="mean_green_test", description="mean of G")
    def mean_green_test(image):
        return float(image[:, :, 1].mean())

    @qw.metric(level=("object", "prediction"), name="crop_rows_test")
    def crop_rows_test(crop, row):
        return crop.shape[0] + 0 * row["bbox_w"]


def _dataset(tmp_path, **kw):
    p = make_coco(tmp_path, **kw)
    return qw.Dataset.from_coco(p["images"], p["annotations"], p["predictions"])


def test_frames_have_one_row_per_item_and_custom_columns(tmp_path, custom_metrics):
    ds = _dataset(tmp_path)
    f = qw.compute_metrics(ds, workers=1, cache_dir=tmp_path / "c", progress=False)
    assert len(f.images) == 6 and len(f.objects) == 12 and len(f.predictions) == 12
    assert f.objects.index.name == "annotation_id" and f.predictions.index.name == "prediction_id"
    for col in ("brightness", "mean_green_test", "uniqueness", "duplicate_group"):
        assert col in f.images
    assert {"crop_rows_test", "object_brightness", "box_area"} <= set(f.objects.columns)
    assert {"crop_rows_test", "confidence"} <= set(f.predictions.columns)
    assert "confidence" not in f.objects
    # the custom metric computed exactly what the function says, on the decoded pixels
    img = qw.data.imaging.decode_rgb(ds.images.loc[1, "path"])
    assert f.images.loc[1, "mean_green_test"] == pytest.approx(img[:, :, 1].mean())
    ann = ds.annotations.loc[100]
    assert f.objects.loc[100, "crop_rows_test"] == 12  # rows floor(12)..ceil(24)
    assert f.objects.loc[100, "box_area"] == ann["bbox_w"] * ann["bbox_h"]
    assert f.images["error"].isna().all()
    assert "mean_green_test" in f.metric_columns("image")


def test_coco128_frames_row_counts_and_second_run_from_cache(coco128_dataset, tmp_path):
    f = qw.compute_metrics(coco128_dataset, cache_dir=tmp_path, progress=False)
    assert (len(f.images), len(f.objects), len(f.predictions)) == (128, 939, 8035)
    assert f.stats["computed"] == 128 and f.images["error"].isna().all()
    g = qw.compute_metrics(coco128_dataset, cache_dir=tmp_path, progress=False)
    assert g.stats["computed"] == 0 and g.stats["from_cache"] == 128
    for level in ("image", "object", "prediction"):
        pd.testing.assert_frame_equal(f.frame(level), g.frame(level))


def test_adding_a_metric_computes_only_that_metric(tmp_path):
    ds = _dataset(tmp_path)
    cache = tmp_path / "cache"
    calls = tmp_path / "calls.txt"

    @qw.metric(level="image", name="counted_test")
    def counted_test(image):
        with open(calls, "a") as fh:
            fh.write("x")
        return 1.0

    qw.compute_metrics(ds, metrics=["brightness"], workers=1, cache_dir=cache, progress=False)
    f = qw.compute_metrics(ds, metrics=["brightness", counted_test], workers=1,
                           cache_dir=cache, progress=False)
    assert calls.read_text() == "x" * 6
    g = qw.compute_metrics(ds, metrics=["brightness", counted_test], workers=1,
                           cache_dir=cache, progress=False)
    assert calls.read_text() == "x" * 6 and g.stats["computed"] == 0
    pd.testing.assert_series_equal(f.images["brightness"], g.images["brightness"])


def test_changed_file_is_recomputed(tmp_path):
    ds = _dataset(tmp_path)
    cache = tmp_path / "cache"
    f = qw.compute_metrics(ds, metrics=["brightness"], workers=1, cache_dir=cache,
                           progress=False)
    path = Path(ds.images.loc[1, "path"])
    from PIL import Image
    Image.new("RGB", (64, 48), (0, 0, 0)).save(path)
    g = qw.compute_metrics(ds, metrics=["brightness"], workers=1, cache_dir=cache,
                           progress=False)
    assert g.stats["computed"] == 1 and g.images.loc[1, "brightness"] == 0.0
    assert f.images.loc[1, "brightness"] > 0


def test_bad_images_mark_error_and_the_run_goes_on(tmp_path):
    ds = _dataset(tmp_path)
    Path(ds.images.loc[2, "path"]).write_bytes(b"not an image at all")
    os.remove(ds.images.loc[3, "path"])
    with pytest.warns(qw.DataWarning, match="could not be computed") as caught:
        f = qw.compute_metrics(ds, workers=1, cache_dir=tmp_path / "c", progress=False)
    assert "not an image" in f.images.loc[2, "error"]
    assert "not found" in f.images.loc[3, "error"] or "missing" in f.images.loc[3, "error"]
    assert np.isnan(f.images.loc[2, "brightness"])
    good = f.images.drop(index=[2, 3])
    assert good["error"].isna().all() and good["brightness"].notna().all()
    # the boxes of a bad image say why they have no pixel values; geometry is still computed
    obj = f.objects[f.objects["image_id"] == 2]
    assert obj["error"].str.contains("image of this box").all()
    assert obj["box_area"].notna().all() and obj["object_brightness"].isna().all()
    # one warning sums up the errors, naming the bad files
    summary = [str(w.message) for w in caught if "could not be computed" in str(w.message)]
    assert len(summary) == 1 and ds.images.loc[2, "file_name"] in summary[0]
    assert ds.images.loc[3, "file_name"] in summary[0]


def test_a_metric_that_raises_marks_only_its_rows(tmp_path):
    ds = _dataset(tmp_path)

    @qw.metric(level="image", name="fails_on_png_test")
    def fails_on_png_test(image):
        if image[0, 0, 0] % 2 == 1:
            raise ValueError("odd pixel")
        return 1.0

    f = qw.compute_metrics(ds, metrics=["brightness", fails_on_png_test], workers=1,
                           cache_dir=False, progress=False)
    assert f.images["brightness"].notna().all()
    failed = f.images["fails_on_png_test"].isna()
    assert (f.images.loc[failed, "error"].str.contains("fails_on_png_test: ValueError")).all()


def test_workers_give_the_same_values(tmp_path):
    ds = _dataset(tmp_path)
    one = qw.compute_metrics(ds, workers=1, cache_dir=False, progress=False)
    two = qw.compute_metrics(ds, workers=2, cache_dir=False, progress=False)
    assert two.stats["workers"] == 2
    for level in ("image", "object", "prediction"):
        pd.testing.assert_frame_equal(one.frame(level), two.frame(level))


MAIN_SCRIPT = """
import sys
import quality_widgets as qw

@qw.metric(level="image", name="main_metric")
def main_metric(image):
    return float(image.shape[0]) * 1000 + int(image[0, 0, 0])

def run():
    ds = qw.Dataset.from_folder(sys.argv[1])
    f = qw.compute_metrics(ds, workers=2, cache_dir=False, progress=False)
    assert f.stats["workers"] == 2, f.stats
    assert f.images["main_metric"].notna().all(), f.images["error"].tolist()
    print("OK", f.images["main_metric"].min())
"""


@pytest.mark.parametrize("how", ["script", "script-without-guard", "dash-c"])
def test_metric_defined_in_main_works_with_worker_processes(tmp_path, how):
    """A function defined in __main__ (a script, or a notebook cell: no __file__) is pickled by
    value into spawned workers."""
    from helpers import make_images
    make_images(tmp_path / "imgs", n=4)
    if how.startswith("script"):
        script = tmp_path / "user_script.py"
        if how == "script":
            script.write_text(MAIN_SCRIPT + "\nif __name__ == '__main__':\n    run()\n")
        else:  # workers must not re-run a script that has no __main__ guard
            script.write_text(MAIN_SCRIPT + "\nrun()\n")
        cmd = [sys.executable, str(script), str(tmp_path / "imgs")]
    else:
        cmd = [sys.executable, "-c", MAIN_SCRIPT + "\nrun()\n", str(tmp_path / "imgs")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "OK 48" in res.stdout


KILL_SCRIPT = """
import sys, time
import quality_widgets as qw
import quality_widgets.compute.engine as engine
engine.FLUSH_EVERY_SECONDS = 0.0

@qw.metric(level="image", name="slow_test")
def slow_test(image):
    time.sleep(float(sys.argv[3]))
    return float(image.mean())

ds = qw.Dataset.from_folder(sys.argv[1])
f = qw.compute_metrics(ds, metrics=["brightness", slow_test], workers=1, cache_dir=sys.argv[2],
                       progress=False, chunk_size=1)
print("computed", f.stats["computed"], "cached", f.stats["from_cache"])
print("VALUES", f.images["slow_test"].round(9).tolist())
"""


def test_killed_run_loses_nothing_and_resumes(tmp_path):
    from helpers import make_images
    make_images(tmp_path / "imgs", n=30)
    cache = tmp_path / "cache"
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "imgs"), str(cache),
                             "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until some finished images are on disk
        if len(list(cache.rglob("part-*.parquet"))) >= 3:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # parts are written under a temporary name and renamed: every part the kill left behind is
    # a complete Parquet file (a temporary file may remain; the cache never reads one)
    parts = list(cache.rglob("part-*.parquet"))
    assert parts and all(pq.read_metadata(p).num_rows > 0 for p in parts)
    res = subprocess.run([sys.executable, str(script), str(tmp_path / "imgs"), str(cache), "0"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    computed = int(res.stdout.split("computed ")[1].split()[0])
    assert 0 < computed < 30           # resumed: some images came from the killed run's cache
    clean = subprocess.run([sys.executable, str(script), str(tmp_path / "imgs"),
                            str(tmp_path / "fresh"), "0"], capture_output=True, text=True,
                           timeout=300)
    assert res.stdout.split("VALUES")[1] == clean.stdout.split("VALUES")[1]


def test_geometry_metrics_need_no_images(tmp_path):
    p = make_coco(tmp_path)
    ds = qw.Dataset.from_coco(None, p["annotations"], p["predictions"])
    f = qw.compute_metrics(ds, metrics=["box_area", "border_closeness", "confidence"],
                           workers=1, cache_dir=False, progress=False)
    assert f.objects["box_area"].notna().all() and f.objects["error"].isna().all()
    assert f.predictions["confidence"].tolist() == ds.predictions["score"].tolist()


def test_unknown_metric_name_is_a_clear_error(tmp_path):
    ds = _dataset(tmp_path)
    with pytest.raises(KeyError, match="unknown metric 'brightnes'"):
        qw.compute_metrics(ds, metrics=["brightnes"], cache_dir=False, progress=False)


def test_metric_file_loaded_by_path(tmp_path):
    ds = _dataset(tmp_path)
    mfile = tmp_path / "my_metrics.py"
    mfile.write_text(textwrap.dedent("""
        from quality_widgets import metric

        @metric(level="image")
        def pixel_count_from_file(image):
            return image.shape[0] * image.shape[1]
    """))
    f = qw.compute_metrics(ds, metrics=[mfile], workers=2, cache_dir=False, progress=False)
    assert (f.images["pixel_count_from_file"] == 64 * 48).all()


def test_a_crashing_worker_costs_only_its_image(tmp_path):
    """A decoder that kills its process (segfault) must not end the run: the image that
    crashes gets an error, every other image its values."""
    from helpers import make_images
    make_images(tmp_path / "imgs", n=8)
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        import quality_widgets as qw

        @qw.metric(level="image", name="crashes_on_third")
        def crashes_on_third(image):
            if int(image[0, 0, 0]) == int(sys.argv[2]):
                os._exit(139)          # what a segfault looks like to the parent
            return 1.0

        ds = qw.Dataset.from_folder(sys.argv[1])
        f = qw.compute_metrics(ds, metrics=["brightness", crashes_on_third], workers=2,
                               cache_dir=False, progress=False)
        bad = f.images["error"].notna()
        print("BAD", f.images.loc[bad, "file_name"].tolist())
        print("GOOD", int(f.images.loc[~bad, "crashes_on_third"].notna().sum()))
    """))
    import quality_widgets as qw
    first_pixel = int(qw.data.imaging.decode_rgb(tmp_path / "imgs" / "img_002.jpg")[0, 0, 0])
    res = subprocess.run([sys.executable, str(script), str(tmp_path / "imgs"), str(first_pixel)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "BAD ['img_002.jpg']" in res.stdout and "GOOD 7" in res.stdout


def test_size_disagreement_is_one_data_warning_and_a_column(tmp_path):
    p = make_coco(tmp_path)
    data = json.loads(p["annotations"].read_text())
    data["images"][1]["width"] = 100          # the file is 64 x 48
    p["annotations"].write_text(json.dumps(data))
    ds = qw.Dataset.from_coco(p["images"], p["annotations"])
    with pytest.warns(qw.DataWarning, match=r"1 image\(s\) have a size .* file entry 100x48, "
                                            r"decoded 64x48"):
        f = qw.compute_metrics(ds, metrics=["width", "height"], workers=1, cache_dir=False,
                               progress=False)
    assert f.images["size_mismatch"].tolist() == [False, True, False, False, False, False]
    assert f.images.loc[2, "width"] == 64


def test_cache_keys_keep_their_text(tmp_path):
    """The cache is indexed by these strings: a change in their text would make every user's
    cache stale, so they are pinned here, written out by hand."""
    import zlib

    from quality_widgets.compute.engine import image_keys, item_keys
    boxes = {"bbox_x": [1.5, 0.0], "bbox_y": [2.0, 10.0], "bbox_w": [3.0, 0.1],
             "bbox_h": [4.25, 7.0], "category_id": [3, 12]}
    objects = pd.DataFrame(boxes, index=pd.Index([7, 8], name="annotation_id"))
    assert item_keys("object", objects) == ["7|1.5,2.0,3.0,4.25|3", "8|0.0,10.0,0.1,7.0|12"]
    predictions = pd.DataFrame(dict(boxes, score=[0.875, 0.5]))
    assert item_keys("prediction", predictions) == ["1.5,2.0,3.0,4.25|3|0.875",
                                                    "0.0,10.0,0.1,7.0|12|0.5"]
    # a mask adds the CRC-32 of its compact JSON text; no mask adds nothing
    masked = objects.assign(segmentation=[[[0, 0, 4, 0, 4, 4]], None])
    crc = f"{zlib.crc32(b'[[0,0,4,0,4,4]]'):08x}"
    assert item_keys("object", masked) == [f"7|1.5,2.0,3.0,4.25|3|m{crc}",
                                           "8|0.0,10.0,0.1,7.0|12"]
    image = tmp_path / "a.jpg"
    image.write_bytes(b"not really a jpeg")
    st = os.stat(image)
    images = pd.DataFrame({"path": [str(image), str(tmp_path / "gone.jpg"), None],
                           "width": [640, 640, 32], "height": [480, 480, 16]},
                          index=pd.Index([1, 2, 3], name="image_id"))
    assert image_keys(images) == [f"{image}|{st.st_size}|{st.st_mtime_ns}|640x480",
                                  f"<missing>|{tmp_path / 'gone.jpg'}|640x480",
                                  "<no file>|3|32x16"]

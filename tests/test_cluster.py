"""compute_metrics on a real Dask cluster (a LocalCluster of 2 worker processes started here,
no mocks), images read by the workers from local paths, a loopback HTTP server and memory://,
and the partitioned Parquet output. Every comparison is value for value and id for id with the
kept local pool's frames."""
import functools
import http.server
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import make_images

import quality_widgets as qw
from quality_widgets.cli.main import main
from quality_widgets.frames import read_metrics, write_metrics

distributed = pytest.importorskip("distributed")
PREDICTIONS = Path("predictions") / "yolo-fastest-1.1-xl.json"
# a few metrics at each level (and one of dataset scope, which brings its phash) for the
# command-line runs
CLI_METRICS = ("width,height,brightness,sharpness,uniqueness,object_brightness,box_area,"
               "confidence")


def assert_same_frames(a, b, drop=()):
    for level in ("image", "object", "prediction"):
        pd.testing.assert_frame_equal(a.frame(level).drop(columns=list(drop)),
                                      b.frame(level).drop(columns=list(drop)))


@pytest.fixture(scope="module")
def cluster():
    """A real cluster: a scheduler and 2 one-thread worker processes, for this module."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield cluster, client


@pytest.fixture(scope="module")
def local_frames(coco128_dataset):
    """coco128 (images, annotations, predictions), every metric, on the kept local pool."""
    return qw.compute_metrics(coco128_dataset, workers=2, cache_dir=False, progress=False)


@pytest.fixture(scope="module")
def http_root(coco128):
    """coco128 served over HTTP by a loopback server; yields its base URL."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(coco128)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_cluster_frames_equal_the_local_pool_and_a_rerun_comes_from_the_cache(
        coco128_dataset, cluster, local_frames, tmp_path):
    _, client = cluster
    f = qw.compute_metrics(coco128_dataset, executor=client, cache_dir=tmp_path,
                           progress=False)
    assert f.stats["computed"] == 128 and f.stats["workers"] == 2
    assert_same_frames(f, local_frames)
    again = qw.compute_metrics(coco128_dataset, executor=client, cache_dir=tmp_path,
                               progress=False)
    assert again.stats["computed"] == 0 and again.stats["from_cache"] == 128
    assert_same_frames(again, local_frames)


def test_images_and_json_over_http_give_the_same_frames(http_root, cluster, local_frames,
                                                        coco128_dataset):
    _, client = cluster
    ds = qw.Dataset.from_coco(f"{http_root}/images", f"{http_root}/instances.json",
                              f"{http_root}/{PREDICTIONS.as_posix()}")
    assert ds.images["path"].str.startswith(f"{http_root}/images/").all()
    f = qw.compute_metrics(ds, executor=client, cache_dir=False, progress=False)
    assert_same_frames(f, local_frames, drop=["path"])
    # the cache key is what the server reports (size, Last-Modified), not a local stat
    keys = qw.compute.engine.image_keys(ds.images.head(1))
    size = (coco128_dataset.images.iloc[0:1]["path"].map(os.path.getsize)).iloc[0]
    assert keys[0].startswith(f"{ds.images['path'].iloc[0]}|{size}|")


def test_images_from_memory_fs_with_any_executor(coco128, tmp_path):
    """memory:// lives in one process: a thread pool (any concurrent.futures executor) reads it."""
    fsspec = pytest.importorskip("fsspec")
    local = qw.Dataset.from_coco(coco128 / "images", coco128 / "instances.json",
                                 coco128 / PREDICTIONS)
    local = local.subset(local.images.index[:24])
    fs = fsspec.filesystem("memory")
    for path in local.images["path"]:
        fs.pipe(f"/coco/images/{Path(path).name}", Path(path).read_bytes())
    ds = qw.Dataset.from_folder("memory://coco/images")
    plain = qw.Dataset.from_folder(coco128 / "images")
    plain = plain.subset(plain.images.index[plain.images["file_name"].isin(
        local.images["file_name"])])
    try:
        with ThreadPoolExecutor(2) as pool:
            f = qw.compute_metrics(ds, executor=pool, cache_dir=False, progress=False,
                                   chunk_size=5)
        expected = qw.compute_metrics(plain, workers=1, cache_dir=False, progress=False)
    finally:
        fs.rm("/coco", recursive=True)
    assert f.images["error"].isna().all() and len(f.images) == 24
    assert_same_frames(f, expected, drop=["path"])


def test_cli_with_a_local_cluster_and_with_a_scheduler_address(coco128, cluster, local_frames,
                                                              tmp_path):
    args = ["metrics", "--images", str(coco128 / "images"),
            "--annotations", str(coco128 / "instances.json"),
            "--predictions", str(coco128 / PREDICTIONS), "--metrics", CLI_METRICS,
            "--no-cache", "--quiet"]
    write_metrics(local_frames, tmp_path / "local")    # every metric; compared column-wise
    expected = read_metrics(tmp_path / "local")
    address = cluster[0].scheduler_address
    for name, scheduler in (("local2", "local:2"), ("address", address)):
        assert main(args + ["--out", str(tmp_path / name), "--scheduler", scheduler]) == 0
        got = read_metrics(tmp_path / name)
        for level in ("image", "object", "prediction"):
            frame = got.frame(level)
            assert set(CLI_METRICS.split(",")) & set(frame.columns)
            pd.testing.assert_frame_equal(frame, expected.frame(level)[frame.columns])
    # the output is a Parquet dataset that Dask reads as one table too
    dd = pytest.importorskip("dask.dataframe")
    objects = dd.read_parquet(str(tmp_path / "address" / "objects.parquet")).compute()
    pd.testing.assert_frame_equal(objects, got.objects, check_dtype=False)  # str NA kinds
    assert main(args + ["--out", str(tmp_path / "x"), "--scheduler", "local:0"]) == 2


def test_parquet_dataset_parts_read_back_with_pandas_pyarrow_dask_and_urls(tmp_path):
    frames = qw.compute_metrics(qw.load_sample(), workers=1, cache_dir=False, progress=False)
    paths = write_metrics(frames, tmp_path / "m", images_per_part=10)
    parts = sorted(p.name for p in paths["object"].iterdir())
    assert len(parts) == 4 and all(p.startswith("part-0000") for p in parts)   # 33 images
    back = read_metrics(tmp_path / "m")
    for level in ("image", "object", "prediction"):
        got = back.frame(level)
        assert got.index.equals(got.index.unique())
        want = read_metrics_single(frames, level, tmp_path)
        pd.testing.assert_frame_equal(got.loc[want.index], want)
    assert pq.read_table(paths["image"]).num_rows == 33
    dd = pytest.importorskip("dask.dataframe")
    pd.testing.assert_frame_equal(dd.read_parquet(str(paths["image"])).compute(), back.images,
                                  check_dtype=False)
    # rewriting replaces the parts of the earlier run
    write_metrics(frames, tmp_path / "m")
    assert len(list(paths["object"].iterdir())) == 1
    # an fsspec URL as the output folder
    pytest.importorskip("fsspec")
    write_metrics(frames, "memory://qw-test/m", images_per_part=10)
    try:
        remote, local = read_metrics("memory://qw-test/m"), read_metrics(tmp_path / "m")
        for level in ("image", "object", "prediction"):   # parts: rows grouped by image
            want = local.frame(level)
            pd.testing.assert_frame_equal(remote.frame(level).loc[want.index], want)
    finally:
        import fsspec
        fsspec.filesystem("memory").rm("/qw-test", recursive=True)


def read_metrics_single(frames, level, tmp_path):
    """One level written as one plain Parquet file and read back: the reference round trip."""
    file = tmp_path / f"single-{level}.parquet"
    frames.frame(level).to_parquet(file)
    return pd.read_parquet(file)


def test_a_worker_killed_mid_run_loses_no_finished_batch(cluster, tmp_path, monkeypatch):
    """Batches whose rows reached the client before the kill are not computed again; the
    batches the dead worker held are rerun elsewhere; every image ends with its value."""
    _, client = cluster
    make_images(tmp_path / "imgs", n=40)
    log = tmp_path / "computed.log"

    @qw.metric(level="image", name="slow_mean_test")
    def slow_mean_test(image):
        time.sleep(0.15)
        with open(log, "a") as fh:
            fh.write(f"{float(image.mean())!r}\n")
        return float(image.mean())

    ds = qw.Dataset.from_folder(tmp_path / "imgs")
    cache = tmp_path / "cache"
    monkeypatch.setattr(qw.compute.engine, "FLUSH_EVERY_SECONDS", 0.0)
    result: dict = {}
    run = threading.Thread(target=lambda: result.update(frames=qw.compute_metrics(
        ds, metrics=[slow_mean_test], executor=client, cache_dir=cache, progress=False,
        chunk_size=2)))
    run.start()
    deadline = time.monotonic() + 60
    while len(list(cache.rglob("part-*.parquet"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    finished = set()
    for part in cache.rglob("part-*.parquet"):
        finished |= set(pq.read_table(part, columns=["slow_mean_test@1"]).column(0).to_pylist())
    pids = client.run(os.getpid)
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    run.join(timeout=120)
    assert not run.is_alive()

    f = result["frames"]
    assert f.images["error"].isna().all()
    assert 6 <= len(finished) < 40                        # the kill came mid-run
    expected = [float(qw.data.imaging.decode_rgb(p).mean()) for p in ds.images["path"]]
    assert f.images["slow_mean_test"].tolist() == expected
    counts = pd.Series(log.read_text().split()).map(float).value_counts()
    assert all(counts[v] == 1 for v in finished)          # finished before the kill: once
    assert set(counts.index) == set(expected)
    client.wait_for_workers(2, timeout=60)                # the nanny restarted the worker

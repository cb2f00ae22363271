"""data/storage.py: URLs beside local paths (join safety, names, versions, listing, reading)."""
from pathlib import Path

import pytest

import quality_widgets as qw
from quality_widgets.data import storage

fsspec = pytest.importorskip("fsspec")


@pytest.fixture
def memfs():
    fs = fsspec.filesystem("memory")
    yield fs
    for top in ("/st", "/st2"):
        if fs.exists(top):
            fs.rm(top, recursive=True)


def test_local_paths_and_file_urls_stay_paths_other_urls_stay_strings(tmp_path):
    assert storage.path_or_url(str(tmp_path)) == tmp_path
    assert storage.path_or_url(f"file://{tmp_path}/a b.jpg") == tmp_path / "a b.jpg"
    assert storage.path_or_url("s3://bucket/images/") == "s3://bucket/images"
    assert storage.path_or_url("memory://") == "memory://"
    assert not storage.is_url("C:\\images") and storage.is_url("gs://b/x")
    assert storage.name("s3://bucket/coco/images") == "images"
    assert storage.stem("http://h:80/data/instances.json?x=1") == "instances"


@pytest.mark.parametrize("name, joined", [
    ("a.jpg", "s3://b/imgs/a.jpg"), ("sub/./a.jpg", "s3://b/imgs/sub/a.jpg"),
    ("sub/../a.jpg", "s3://b/imgs/a.jpg"), ("../a.jpg", None), ("/etc/passwd", None),
    ("http://evil/a.jpg", None), ("", None), ("a\x00.jpg", None), ("..\\a.jpg", None)])
def test_join_keeps_file_names_below_the_root(name, joined):
    assert storage.join("s3://b/imgs/", name) == joined


def test_versions_come_from_what_the_store_reports(memfs):
    memfs.pipe("/st/a.jpg", b"12345")
    memfs.pipe("/st/b.jpg", b"123")
    got = storage.versions(["memory://st/a.jpg", "memory://st/missing.jpg", "memory://st/b.jpg"])
    assert got[0].startswith("5|") and got[1] is None and got[2].startswith("3|")
    memfs.pipe("/st/a.jpg", b"67890")            # same size, rewritten: another version
    assert storage.versions(["memory://st/a.jpg"])[0] != got[0]


def test_listing_a_url_folder_finds_images_below_it_and_skips_hidden_ones(memfs):
    for name in ("a.jpg", "sub/b.PNG", ".hidden/c.jpg", "notes.txt", "sub/.d.jpg"):
        memfs.pipe(f"/st2/imgs/{name}", b"x")
    assert storage.list_files("memory://st2/imgs", (".jpg", ".png")) == ["a.jpg", "sub/b.PNG"]


def test_bad_url_files_name_the_url(memfs):
    with pytest.raises(qw.DatasetError, match="memory://st/none.json: annotations file not "
                                              "found"):
        qw.Dataset.from_coco("memory://st/images", "memory://st/none.json")
    memfs.pipe("/st/bad.json", b"{not json")
    with pytest.raises(qw.DatasetError, match="memory://st/bad.json: annotations file is not "
                                              "valid JSON"):
        qw.Dataset.from_coco("memory://st/images", "memory://st/bad.json")


def test_an_image_missing_from_the_store_is_an_error_row_not_a_failed_run(memfs, tmp_path):
    from helpers import make_images
    names = make_images(tmp_path, n=3)
    for n in names:
        memfs.pipe(f"/st/imgs/{n}", (tmp_path / n).read_bytes())
    ds = qw.Dataset.from_folder("memory://st/imgs")
    memfs.rm(f"/st/imgs/{names[1]}")
    with pytest.warns(qw.DataWarning):
        f = qw.compute_metrics(ds, metrics=["brightness"], workers=1, cache_dir=False,
                               progress=False)
    assert f.images["error"].tolist()[1] == "image: file not found"
    assert f.images["brightness"].notna().tolist() == [True, False, True]
    assert Path(f.images["path"].iloc[0]).name == names[0]


def test_yolo_from_a_url_is_refused_with_a_clear_error():
    with pytest.raises(qw.DatasetError, match="s3://b/images: YOLO datasets are read from "
                                              "local folders only"):
        qw.Dataset.from_yolo("s3://b/images")


def test_a_store_error_reading_a_json_file_names_the_url_and_the_reason():
    with pytest.raises(qw.DatasetError, match=r"http://127.0.0.1:9/x.json: cannot read "
                                              r"annotations file: \w+"):
        qw.Dataset.from_coco(None, "http://127.0.0.1:9/x.json")


def test_a_url_folder_without_images_is_refused_naming_the_url(memfs):
    memfs.pipe("/st/imgs/notes.txt", b"x")
    with pytest.raises(qw.DatasetError, match="memory://st/imgs: no image files"):
        qw.Dataset.from_folder("memory://st/imgs")


def test_annotations_naming_files_the_store_lacks_are_refused_and_a_few_missing_are_not(
        memfs, tmp_path):
    import json

    from helpers import make_images
    names = make_images(tmp_path, n=4)
    coco = {"images": [{"id": i + 1, "file_name": n, "width": 8, "height": 8}
                       for i, n in enumerate(names)],
            "annotations": [], "categories": [{"id": 1, "name": "a"}]}
    memfs.pipe("/st/ann.json", json.dumps(coco).encode())
    with pytest.raises(qw.DatasetError, match="none of the 4 image files"):   # none uploaded
        qw.Dataset.from_coco("memory://st/imgs", "memory://st/ann.json")
    for n in names[:3]:
        memfs.pipe(f"/st/imgs/{n}", (tmp_path / n).read_bytes())
    ds = qw.Dataset.from_coco("memory://st/imgs", "memory://st/ann.json")   # 1 of 4: kept
    assert ds.images["path"].tolist() == [f"memory://st/imgs/{n}" for n in names]

"""Export of a selection: COCO (checked with pycocotools), YOLO, CSV/Parquet, image copies;
atomic writes, no silent overwrite, nothing written outside ``out``, and the CLI subcommand."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from quality_widgets import cli
from quality_widgets.data.dataset import Dataset
from quality_widgets.errors import DataWarning, ExportError
from quality_widgets.export import MARKER, export, flattened_name, safe_relative_name
from quality_widgets.frames import MetricFrames

XSS_NAME = "<img src=x onerror=alert(1)>.jpg"
CATEGORIES = {7: "person", 3: "<b>bird</b>", 1: "car"}   # unsorted ids on purpose


def make_data(root: Path, n_images: int = 30, seed: int = 0) -> MetricFrames:
    """Small generated images plus hand-built metric frames following the frames contract.

    Image ids 1..n; 2 objects per image except the last image (none); predictions with outcome;
    one image named like an HTML injection; metric columns brightness/contrast/sharpness.
    """
    rng = np.random.default_rng(seed)
    img_dir = root / "images"
    (img_dir / "sub").mkdir(parents=True, exist_ok=True)
    names = [f"img_{i:02d}.jpg" for i in range(1, n_images + 1)]
    names[2] = XSS_NAME
    names[4] = "sub/nested.jpg"
    sizes = [(64, 48) if i % 3 else (48, 64) for i in range(n_images)]
    for i, (name, (w, h)) in enumerate(zip(names, sizes, strict=True)):
        Image.new("RGB", (w, h), (8 * i % 256, 120, 60)).save(img_dir / name, quality=90)
    ids = np.arange(1, n_images + 1)
    images = pd.DataFrame({
        "file_name": names, "path": [str(img_dir / n) for n in names],
        "width": pd.array([w for w, _ in sizes], dtype="Int64"),
        "height": pd.array([h for _, h in sizes], dtype="Int64")},
        index=pd.Index(ids, name="image_id"))
    cat_ids = np.array(sorted(CATEGORIES))
    ann_rows, pred_rows = [], []
    for image_id, (w, h) in zip(ids, sizes, strict=True):
        if image_id == n_images:
            continue
        for k in range(2):
            bw, bh = rng.uniform(5, 20), rng.uniform(5, 20)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            cat = int(cat_ids[(image_id + k) % len(cat_ids)])
            ann_rows.append(dict(id=image_id * 10 + k, image_id=image_id, category_id=cat,
                                 category=CATEGORIES[cat], bbox_x=x, bbox_y=y, bbox_w=bw,
                                 bbox_h=bh, area=bw * bh, iscrowd=False,
                                 segmentation=[[x, y, x + bw, y, x + bw, y + bh]]))
            pred_rows.append(dict(id=len(pred_rows) + 1, image_id=image_id, category_id=cat,
                                  category=CATEGORIES[cat], bbox_x=x + 1, bbox_y=y, bbox_w=bw,
                                  bbox_h=bh, score=float(rng.uniform(0.05, 1.0))))
    annotations = pd.DataFrame(ann_rows).set_index("id").rename_axis("annotation_id")
    predictions = pd.DataFrame(pred_rows).set_index("id").rename_axis("prediction_id")
    categories = pd.DataFrame({"name": [CATEGORIES[c] for c in cat_ids],
                               "supercategory": ["thing"] * len(cat_ids)},
                              index=pd.Index(cat_ids, name="category_id"))
    dataset = Dataset(images=images, annotations=annotations, predictions=predictions,
                      categories=categories, images_dir=img_dir, has_annotations=True,
                      has_predictions=True, name="generated")

    img_frame = images.copy()
    img_frame["brightness"] = rng.random(n_images)
    img_frame["contrast"] = rng.random(n_images)
    img_frame["sharpness"] = np.round(rng.random(n_images), 1)  # ties on purpose
    img_frame.loc[ids[-2], "sharpness"] = np.nan
    img_frame["error"] = None
    obj = annotations.drop(columns=["area", "segmentation"]).copy()
    obj.insert(1, "file_name", images["file_name"].reindex(obj["image_id"]).to_numpy())
    obj.insert(2, "path", images["path"].reindex(obj["image_id"]).to_numpy())
    obj["box_area"] = obj["bbox_w"] * obj["bbox_h"]
    obj["object_brightness"] = rng.random(len(obj))
    obj["detected"] = rng.random(len(obj)) > 0.3
    obj["error"] = None
    pred = predictions.copy()
    pred.insert(1, "file_name", images["file_name"].reindex(pred["image_id"]).to_numpy())
    pred.insert(2, "path", images["path"].reindex(pred["image_id"]).to_numpy())
    pred["box_area"] = pred["bbox_w"] * pred["bbox_h"]
    pred["outcome"] = np.where(pred["score"] > 0.5, "TP", "FP")
    pred["best_iou"] = rng.random(len(pred))
    pred["error"] = None
    return MetricFrames(images=img_frame, objects=obj, predictions=pred, dataset=dataset,
                        cache_dir=root / "cache")


@pytest.fixture
def data(tmp_path) -> MetricFrames:
    return make_data(tmp_path / "data")


def load_coco(path):
    from pycocotools.coco import COCO
    return COCO(str(path))


# ---- COCO --------------------------------------------------------------------------------------
def test_coco_image_selection_has_exactly_those_images_and_their_annotations(data, tmp_path):
    frame = data.images
    selection = frame.index[frame["brightness"] < 0.5]
    out = export(data, selection, format="coco", out=tmp_path / "out" / "dark.json")
    coco = load_coco(out)
    assert sorted(coco.getImgIds()) == sorted(selection.tolist())
    expected = data.dataset.annotations.index[
        data.dataset.annotations["image_id"].isin(selection)]
    assert sorted(coco.getAnnIds()) == sorted(expected.tolist())
    assert sorted(coco.getCatIds()) == sorted(CATEGORIES)
    # round trip through the project's own loader
    back = Dataset.from_coco(data.dataset.images_dir, out)
    assert sorted(back.images.index) == sorted(selection)
    assert set(back.images["file_name"]) == set(frame.loc[selection, "file_name"])
    np.testing.assert_allclose(
        back.annotations.sort_index()["bbox_w"].to_numpy(),
        data.dataset.annotations.loc[expected].sort_index()["bbox_w"].to_numpy())


def test_coco_object_selection_writes_exactly_the_objects_and_their_images(data, tmp_path):
    objects = data.objects
    selection = objects.index[objects["category"] == "car"]
    out = export(data, selection, format="coco", out=tmp_path / "cars.json", level="object")
    coco = load_coco(out)
    assert sorted(coco.getAnnIds()) == sorted(selection.tolist())
    assert sorted(coco.getImgIds()) == sorted(objects.loc[selection, "image_id"].unique())
    back = Dataset.from_coco(data.dataset.images_dir, out)
    assert sorted(back.annotations.index) == sorted(selection)


def test_coco_prediction_selection_is_a_results_file(data, tmp_path):
    preds = data.predictions
    selection = preds.index[preds["outcome"] == "FP"]
    out = export(data, selection, format="coco", out=tmp_path / "fp.json", level="prediction")
    results = json.loads(out.read_text())
    assert isinstance(results, list) and len(results) == len(selection)
    gt = load_coco(export(data, None, format="coco", out=tmp_path / "all.json"))
    dt = gt.loadRes(str(out))
    assert len(dt.getAnnIds()) == len(selection)
    assert sorted({r["image_id"] for r in results}) == sorted(
        preds.loc[selection, "image_id"].unique())


def test_export_accepts_a_dataset_and_a_boolean_mask(data, tmp_path):
    mask = (data.images["contrast"] > 0.5).to_numpy()
    out = export(data.dataset, mask, format="coco", out=tmp_path / "m.json")
    assert sorted(load_coco(out).getImgIds()) == sorted(data.images.index[mask])
    with pytest.raises(ExportError, match="not rows"):
        export(data, [99999], format="coco", out=tmp_path / "bad.json")


# ---- overwrite and atomicity -------------------------------------------------------------------
def test_second_export_without_overwrite_is_refused_and_first_stays(data, tmp_path):
    target = tmp_path / "sel.json"
    first = data.images.index[:5]
    export(data, first, format="coco", out=target)
    before = target.read_bytes()
    with pytest.raises(ExportError, match="already exists"):
        export(data, data.images.index[5:9], format="coco", out=target)
    assert target.read_bytes() == before
    export(data, data.images.index[5:9], format="coco", out=target, overwrite=True)
    assert sorted(load_coco(target).getImgIds()) == data.images.index[5:9].tolist()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_folder_export_refused_then_replaced_with_overwrite(data, tmp_path):
    target = tmp_path / "yolo"
    export(data, data.images.index[:3], format="yolo", out=target)
    listing = sorted(p.relative_to(target) for p in target.rglob("*"))
    with pytest.raises(ExportError):
        export(data, data.images.index[3:6], format="yolo", out=target)
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == listing
    export(data, data.images.index[3:6], format="yolo", out=target, overwrite=True)
    assert len(list((target / "labels").rglob("*.txt"))) == 3


def test_overwrite_never_replaces_an_unrelated_folder(data, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(ExportError, match="not a previous export"):
        export(data, None, format="images", out=precious, overwrite=True)
    assert (precious / "thesis.tex").read_text() == "years of work"


def test_failed_export_leaves_nothing_behind(data, tmp_path):
    frames = data
    frames.dataset.images.loc[5, "path"] = str(tmp_path / "gone.jpg")  # missing source
    out = tmp_path / "exp"
    with pytest.warns(DataWarning, match="left out 1 of 3"):       # one lost file: the rest
        export(frames, [4, 5, 6], format="images", out=out)
    assert len([p for p in out.rglob("*.jpg")]) == 2
    for image_id in (4, 6):
        frames.dataset.images.loc[image_id, "path"] = str(tmp_path / "gone.jpg")
    out2 = tmp_path / "exp2"
    with pytest.raises(ExportError, match="readable file"):       # nothing left to copy
        export(frames, [4, 5, 6], format="images", out=out2)
    assert not out2.exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".exp")] == []


# ---- safe names --------------------------------------------------------------------------------
@pytest.mark.parametrize("name,safe", [
    ("a.jpg", "a.jpg"), ("sub/b.jpg", "sub/b.jpg"), ("./c.jpg", "c.jpg"),
    ("../../etc/passwd", None), ("/etc/passwd", None), ("sub/../../x.jpg", None),
    ("C:/win/x.jpg", None), ("..\\..\\x.jpg", None), ("", None), ("a\x00.jpg", None)])
def test_safe_relative_name(name, safe):
    rel = safe_relative_name(name)
    assert (str(rel) if rel is not None else None) == safe


def test_unsafe_names_are_flattened_inside_out(data, tmp_path):
    ds = data.dataset
    evil = {1: "../../escaped.jpg", 2: "/tmp/absolute.jpg", 4: "sub/../../../up.jpg"}
    for image_id, name in evil.items():
        ds.images.loc[image_id, "file_name"] = name   # the path still points at a real file
    out = tmp_path / "deep" / "copies"
    export(data, [1, 2, 4, 5], format="images", out=out)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted([MARKER, "1_escaped.jpg", "2_absolute.jpg", "4_up.jpg",
                            "sub/nested.jpg"])
    # nothing was written next to or above the output folder
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["copies"]
    assert not (tmp_path / "escaped.jpg").exists() and not Path("/tmp/absolute.jpg").exists()
    assert flattened_name("../a b<c>.jpg", 7) == "7_a_b_c_.jpg"


# ---- YOLO, CSV, Parquet ------------------------------------------------------------------------
def test_yolo_folder(data, tmp_path):
    ds = data.dataset
    selection = [1, 2, 5, 30]          # 30 has no objects; 5 is in a sub-folder
    out = export(data, selection, format="yolo", out=tmp_path / "yolo")
    assert (out / "classes.txt").read_text().splitlines() == [CATEGORIES[c] for c in
                                                              sorted(CATEGORIES)]
    labels = sorted(str(p.relative_to(out / "labels")) for p in (out / "labels").rglob("*.txt"))
    assert labels == ["img_01.txt", "img_02.txt", "img_30.txt", "sub/nested.txt"]
    assert (out / "labels" / "img_30.txt").read_text() == ""
    assert (out / "images" / "sub" / "nested.jpg").exists()
    rows = [line.split() for line in (out / "labels" / "img_01.txt").read_text().splitlines()]
    anns = ds.annotations[ds.annotations["image_id"] == 1]
    assert len(rows) == len(anns)
    class_index = {c: i for i, c in enumerate(sorted(CATEGORIES))}
    w, h = int(ds.images.loc[1, "width"]), int(ds.images.loc[1, "height"])
    for row, (_, a) in zip(rows, anns.iterrows(), strict=True):
        assert int(row[0]) == class_index[a["category_id"]]
        np.testing.assert_allclose([float(v) for v in row[1:]],
                                   [(a["bbox_x"] + a["bbox_w"] / 2) / w,
                                    (a["bbox_y"] + a["bbox_h"] / 2) / h,
                                    a["bbox_w"] / w, a["bbox_h"] / h], atol=1e-5)
    back = Dataset.from_yolo(out / "images", out / "labels", out / "classes.txt")
    assert len(back.images) == 4 and len(back.annotations) == len(
        ds.annotations[ds.annotations["image_id"].isin(selection)])


def test_yolo_prediction_labels_carry_the_score(data, tmp_path):
    sel = data.predictions.index[:4]
    out = export(data, sel, format="yolo", out=tmp_path / "p", level="prediction")
    lines = [line.split() for p in (out / "labels").rglob("*.txt")
             for line in p.read_text().splitlines()]
    assert len(lines) == 4 and all(len(line) == 6 for line in lines)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_hold_exactly_the_selected_rows(data, tmp_path, fmt):
    selection = data.objects.index[data.objects["object_brightness"] > 0.6]
    out = export(data, selection, format=fmt, out=tmp_path / f"rows.{fmt}", level="object")
    table = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    assert table["annotation_id"].tolist() == selection.tolist()
    np.testing.assert_allclose(table["object_brightness"],
                               data.objects.loc[selection, "object_brightness"])
    # the Dataset's annotations carry segmentations: written as JSON text
    out2 = export(data.dataset, None, format=fmt, out=tmp_path / f"anns.{fmt}", level="object")
    table2 = pd.read_csv(out2) if fmt == "csv" else pd.read_parquet(out2)
    assert json.loads(table2["segmentation"].iloc[0])[0][:2] == pytest.approx(
        data.dataset.annotations["segmentation"].iloc[0][0][:2])


# ---- command line ------------------------------------------------------------------------------
def test_cli_export_from_a_metrics_folder_with_where(data, tmp_path, capsys):
    folder = tmp_path / "metrics"
    folder.mkdir()
    data.images.to_parquet(folder / "images.parquet")
    data.objects.to_parquet(folder / "objects.parquet")
    data.predictions.to_parquet(folder / "predictions.parquet")
    out = tmp_path / "dark.csv"
    argv = ["export", "--metrics-dir", str(folder), "--where", "brightness < 0.3", "--format",
            "csv", "--out", str(out)]
    assert cli.main(argv) == 0
    expected = data.images.index[data.images["brightness"] < 0.3]
    assert pd.read_csv(out)["image_id"].tolist() == expected.tolist()
    assert cli.main(argv) == 2           # second run: refused (bad input), exit code 2
    assert "already exists" in capsys.readouterr().err
    # COCO from a metrics folder that does not say where its dataset is: the dataset is
    # rebuilt from the frames' columns, with a warning saying what that loses
    assert cli.main(["export", "--metrics", str(folder), "--level", "object",   # the old name
                     "--where", "category == 'car'", "--format", "coco",
                     "--out", str(tmp_path / "cars.json")]) == 0
    err = capsys.readouterr().err
    assert "quality-widgets export: warning: " in err and "segmentation" in err
    coco = load_coco(tmp_path / "cars.json")
    assert sorted(coco.getAnnIds()) == sorted(
        data.objects.index[data.objects["category"] == "car"])


def test_cli_export_from_coco_files_and_bad_where(data, tmp_path, capsys):
    ann = export(data, None, format="coco", out=tmp_path / "all.json")
    assert cli.main([
        "export", "--images", str(data.dataset.images_dir), "--annotations", str(ann),
        "--where", "width > 50", "--format", "images", "--out", str(tmp_path / "wide")]) == 0
    assert len(list((tmp_path / "wide").rglob("*.jpg"))) == int(
        (data.images["width"] > 50).sum())
    capsys.readouterr()
    assert cli.main(["export", "--images", str(data.dataset.images_dir), "--annotations",
                     str(ann), "--where", "widht > 1", "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "unknown column in --where 'widht' (did you mean 'width'?)" in err
    assert "Traceback" not in err and not (tmp_path / "x.json").exists()
    assert cli.main(["export", "--images", str(data.dataset.images_dir), "--annotations",
                     str(ann), "--where", "width >", "--out", str(tmp_path / "x.json")]) == 2
    assert "--where 'width >' is not a valid query" in capsys.readouterr().err


def test_coco128_object_export_round_trips(coco128_dataset, tmp_path):
    ds = coco128_dataset
    small = ds.annotations.index[(ds.annotations["bbox_w"] * ds.annotations["bbox_h"]) < 500]
    out = export(ds, small, format="coco", out=tmp_path / "small.json", level="object")
    coco = load_coco(out)
    assert sorted(coco.getAnnIds()) == sorted(small.tolist())
    back = Dataset.from_coco(ds.images_dir, out)
    assert len(back.annotations) == len(small)
    assert back.images["path"].notna().all()

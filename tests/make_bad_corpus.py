"""Generate the robustness corpus: a COCO dataset mixing good images with every kind of bad
input the issue lists (images, annotations, predictions, names). Nothing here is a hand-edited
binary: each case is written by code, so the corpus can be regenerated anywhere.

    python tests/make_bad_corpus.py OUT_DIR
"""
from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

HOSTILE_NAMES = ["name with spaces.jpg", "ünïcödé_画像.jpg", "<script>alert(1)<script>.jpg",
                 "<img src=x onerror=alert(1)>.jpg"]


def _photo(w=64, h=48, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1),
                     (x + y) * 127 // max(w + h - 2, 1)], axis=-1)
    return np.clip(base + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)


def png_bomb_header(width=50_000, height=50_000) -> bytes:
    """A valid PNG signature and IHDR claiming width x height RGB pixels, with a tiny IDAT:
    opening it must be refused before any allocation."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0"))
            + chunk(b"IEND", b""))


def write_images(folder: Path) -> dict:
    """Returns {file name: expectation}; expectation is "ok", "error" or a dict of checks."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = {}
    for i in range(6):
        Image.fromarray(_photo(seed=i)).save(folder / f"good_{i}.jpg", quality=92)
        cases[f"good_{i}.jpg"] = "ok"
    buf = io.BytesIO()
    Image.fromarray(_photo(seed=9)).save(buf, "JPEG", quality=92)
    (folder / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    cases["truncated.jpg"] = "error"
    (folder / "empty.jpg").write_bytes(b"")
    cases["empty.jpg"] = "error"
    (folder / "text.jpg").write_text("this is not an image\n")
    cases["text.jpg"] = "error"
    Image.fromarray(_photo(seed=3)).save(folder / "png_named.jpg", format="PNG")
    cases["png_named.jpg"] = "ok"
    gray16 = (np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    Image.fromarray(gray16).save(folder / "gray16.png")
    cases["gray16.png"] = {"brightness_between": (0.1, 0.9)}
    Image.fromarray(_photo(seed=4)).convert("CMYK").save(folder / "cmyk.jpg")
    cases["cmyk.jpg"] = "ok"
    pal = Image.fromarray(_photo(seed=5)).convert("P", palette=Image.Palette.ADAPTIVE)
    pal.info["transparency"] = 0
    pal.save(folder / "palette_transparent.png", transparency=0)
    cases["palette_transparent.png"] = "ok"
    rgba = np.dstack([_photo(seed=6), np.full((48, 64), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    cases["rgba.png"] = "ok"
    # EXIF orientation 6 (rotate 90 CW): stored 64 x 48 with a red left half, shown 48 x 64
    # with the red half on top
    stored = np.zeros((48, 64, 3), np.uint8)
    stored[:, :32] = (230, 20, 20)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(folder / "exif_rotated.jpg", exif=exif.tobytes(), quality=95)
    cases["exif_rotated.jpg"] = {"width": 48, "height": 64}
    Image.new("RGB", (1, 1), (10, 20, 30)).save(folder / "one_pixel.png")
    cases["one_pixel.png"] = {"width": 1, "height": 1}
    (folder / "bomb.png").write_bytes(png_bomb_header())
    cases["bomb.png"] = "error"
    frames = [Image.new("RGB", (32, 24), c) for c in ((200, 10, 10), (10, 200, 10))]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:],
                   duration=100, loop=0)
    cases["animated.gif"] = {"redness_between": (0.9, 1.0)}
    Image.fromarray(_photo(seed=7)).save(folder / "vanishes.jpg")
    cases["vanishes.jpg"] = "error"           # deleted between load and compute by the test
    Image.fromarray(_photo(seed=8)).save(folder / "unreadable.jpg")
    cases["unreadable.jpg"] = "error"         # made unreadable by the test
    for k, name in enumerate(HOSTILE_NAMES):
        Image.fromarray(_photo(seed=20 + k)).save(folder / name)
        cases[name] = "ok"
    return cases


def write_dataset(root: Path) -> dict:
    """images/ + instances.json (with bad rows) + predictions.json (with bad rows)."""
    root = Path(root)
    cases = write_images(root / "images")
    names = sorted(cases)
    images = [{"id": i + 1, "file_name": n, "width": 64, "height": 48}
              for i, n in enumerate(names)]
    by_name = {im["file_name"]: im for im in images}
    by_name["exif_rotated.jpg"].update(width=48, height=64)
    by_name["one_pixel.png"].update(width=1, height=1)
    by_name["animated.gif"].update(width=32, height=24)
    by_name["bomb.png"].update(width=50_000, height=50_000)
    by_name["good_5.jpg"].update(width=640, height=480)     # disagrees with the file
    images.append({"id": 900, "file_name": "../outside.jpg", "width": 64, "height": 48})
    images.append({"id": 901, "file_name": "/etc/passwd", "width": 64, "height": 48})
    cats = [{"id": 1, "name": "thing"}, {"id": 2, "name": "<b>bold</b>"}]
    anns, aid = [], 1
    for im in images:
        anns.append({"id": aid, "image_id": im["id"], "category_id": 1,
                     "bbox": [4.0, 4.0, 20.0, 16.0], "area": 320.0, "iscrowd": 0,
                     "segmentation": [[4, 4, 24, 4, 24, 20, 4, 20]]})
        aid += 1
    good0 = by_name["good_0.jpg"]["id"]
    bad_rows = [
        {"id": 5001, "image_id": 77777, "category_id": 1, "bbox": [0, 0, 5, 5]},   # unknown image
        {"id": 5002, "image_id": good0, "category_id": 99, "bbox": [0, 0, 5, 5]},  # unknown cat
        {"id": 5003, "image_id": good0, "category_id": 1, "bbox": [0, 0, 0, 5]},   # zero width
        {"id": 5004, "image_id": good0, "category_id": 1, "bbox": [0, 0, -3, 5]},  # negative
        {"id": 5005, "image_id": good0, "category_id": 1, "bbox": [0, "NaN", 5, 5]},
        {"id": 5006, "image_id": good0, "category_id": 1, "bbox": [0, 0, "Infinity", 5]},
        {"id": 1, "image_id": good0, "category_id": 1, "bbox": [1, 1, 5, 5]},      # dup id
    ]
    kept_rows = [
        {"id": 5007, "image_id": good0, "category_id": 2, "bbox": [50, 40, 30, 30],
         "iscrowd": 0},                                                           # partly out
        {"id": 5008, "image_id": good0, "category_id": 2, "bbox": [500, 400, 10, 10],
         "iscrowd": 0},                                                           # wholly out
        {"id": 5009, "image_id": good0, "category_id": 1, "bbox": [2, 2, 8, 8], "iscrowd": 0,
         "segmentation": [[2, 2, 10, 2]]},                                        # 2-point poly
    ]
    data = {"images": images, "annotations": anns + bad_rows + kept_rows, "categories": cats}
    text = json.dumps(data).replace('"NaN"', "NaN").replace('"Infinity"', "Infinity")
    (root / "instances.json").write_text(text)
    preds = []
    for im in images:
        preds.append({"image_id": im["id"], "category_id": 1, "bbox": [5.0, 4.0, 20.0, 16.0],
                      "score": 0.9})
    preds += [{"image_id": good0, "category_id": 42, "bbox": [0, 0, 5, 5], "score": 0.5},
              {"image_id": good0, "category_id": 1, "bbox": [0, 0, 5, 5], "score": "NaN"},
              {"image_id": good0, "category_id": 1, "bbox": [0, 0, 5, 5], "score": -0.5},
              {"image_id": 424242, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]
    (root / "predictions.json").write_text(json.dumps(preds).replace('"NaN"', "NaN"))
    (root / "predictions_dict.json").write_text(json.dumps({"annotations": preds}))
    (root / "predictions_empty.json").write_text("[]")
    (root / "not_json.json").write_text("{\"images\": [")
    (root / "no_images_key.json").write_text(json.dumps({"annotations": [],
                                                          "categories": []}))
    (root / "no_annotations_key.json").write_text(json.dumps({"images": [],
                                                               "categories": []}))
    labels = root / "yolo" / "labels"
    labels.mkdir(parents=True)
    (root / "yolo" / "images").mkdir()
    Image.fromarray(_photo(seed=1)).save(root / "yolo" / "images" / "a.jpg")
    (labels / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.5 0.5\n0 1.7 0.5 0.1 0.1\n"
                                  "x 0.5 0.5 0.1 0.1\n")
    return cases


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "data" / "bad")
    write_dataset(out)
    print(f"corpus written to {out}")

"""A small COCO dataset with known label errors and two annotators, one careless (for the label
error and annotator tests; no ../shared needed)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 200
CATEGORIES = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}]
# Three objects per image at fixed, non-overlapping places.
PLACES = [(10.0, 10.0, 60.0, 50.0), (110.0, 20.0, 70.0, 60.0), (40.0, 120.0, 80.0, 60.0)]


def make_label_dataset(folder: Path | None = None, n_images: int = 40, seed: int = 0,
                       with_images: bool = False) -> dict:
    """Returns {"instances": dict, "predictions": list, "truth": {...}} and writes
    ``instances.json`` / ``predictions.json`` (and images when ``with_images``) into ``folder``.

    Images 1..20 are labelled by "ann" (careful), 21..40 by "bob" (careless: one swap, one box
    shifted by half its size, one box left out in each of his images 21..26); images 1..8 are
    labelled a second time by "bob", with the first of them missing a box. Image 40 has an
    extra "bob" label where nothing is (spurious). Image 41 has no labels at all, and a
    crowd region of birds with a bird prediction inside it sits in image 2.
    """
    rng = np.random.default_rng(seed)
    images, anns, preds = [], [], []
    truth = {"swapped": {}, "shifted": {}, "removed": [], "spurious": [], "crowd_pred": None}
    next_id = [1000]

    def add(image_id, cat, box, who, **extra):
        next_id[0] += 1
        anns.append({"id": next_id[0], "image_id": image_id, "category_id": cat,
                     "bbox": [float(v) for v in box], "area": float(box[2] * box[3]),
                     "iscrowd": extra.pop("iscrowd", 0), "annotator": who, **extra})
        return next_id[0]

    for image_id in range(1, n_images + 2):
        images.append({"id": image_id, "file_name": f"img_{image_id:03d}.png", "width": SIZE,
                       "height": SIZE})
        if image_id == n_images + 1:
            # no labels; the detector sees a dog
            preds.append({"image_id": image_id, "category_id": 2, "bbox": list(PLACES[0]),
                          "score": 0.93})
            continue
        cats = [1 + (image_id + k) % 3 for k in range(3)]
        for place, cat in zip(PLACES, cats, strict=True):
            jitter = rng.normal(0, 1.5, 4)
            preds.append({"image_id": image_id, "category_id": cat,
                          "bbox": [float(v) for v in np.add(place, jitter)],
                          "score": float(rng.uniform(0.75, 0.97))})
        preds.append({"image_id": image_id, "category_id": 1 + image_id % 3,
                      "bbox": [150.0, 150.0, 30.0, 30.0], "score": float(rng.uniform(0.02, 0.2))})
        careless = image_id > n_images // 2
        who = "bob" if careless else "ann"
        for k, (place, cat) in enumerate(zip(PLACES, cats, strict=True)):
            if careless and image_id <= n_images // 2 + 6:
                if k == 0:
                    wrong = 1 + cat % 3
                    truth["swapped"][add(image_id, wrong, place, who)] = cat
                    continue
                if k == 1:
                    x, y, w, h = place
                    truth["shifted"][add(image_id, cat, (x - w / 2, y + h / 2, w, h), who)] = \
                        place
                    continue
                truth["removed"].append((image_id, cat, place))
                continue
            add(image_id, cat, place, who)
        if image_id == n_images:
            truth["spurious"].append(add(image_id, 3, (150.0, 100.0, 40.0, 40.0), who))
        if image_id <= 8:        # labelled a second time by bob
            for k, (place, cat) in enumerate(zip(PLACES, cats, strict=True)):
                if image_id == 1 and k == 2:
                    continue
                add(image_id, cat, place, "bob")
        if image_id == 2:
            add(image_id, 3, (150.0, 150.0, 45.0, 45.0), "ann", iscrowd=1)
            preds.append({"image_id": 2, "category_id": 3, "bbox": [155.0, 155.0, 30.0, 30.0],
                          "score": 0.95})
            truth["crowd_pred"] = len(preds)        # 1-based prediction id
    instances = {"images": images, "annotations": anns, "categories": CATEGORIES,
                 "info": {"description": "label error test data"}}
    if folder is not None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "instances.json").write_text(json.dumps(instances))
        (folder / "predictions.json").write_text(json.dumps(preds))
        if with_images:
            (folder / "images").mkdir(exist_ok=True)
            for im in images:
                arr = np.full((SIZE, SIZE, 3), 90 + (im["id"] * 7) % 120, dtype=np.uint8)
                for x, y, w, h in PLACES:
                    arr[int(y):int(y + h), int(x):int(x + w)] = [200, 60, 40]
                Image.fromarray(arr).save(folder / "images" / im["file_name"])
    return {"instances": instances, "predictions": preds, "truth": truth}

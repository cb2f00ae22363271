"""Build the bundled sample (quality_widgets/data/sample) from ../shared/coco128.

Only images whose Flickr licence allows redistribution are taken: CC BY (4), CC BY-SA (5) and
no known copyright restrictions (7). Their official annotations, the yolo-fastest-1.1-xl
predictions on them, and an attribution file (file name, Flickr URL, licence) are written.
Run from the repository root: python scripts/make_sample.py
"""
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "coco128"
OUT = ROOT / "quality_widgets" / "data" / "sample"
ALLOWED = {4, 5, 7}


def main():
    data = json.loads((SRC / "instances.json").read_text())
    licences = {lic["id"]: lic for lic in data["licenses"]}
    images = [im for im in data["images"] if im["license"] in ALLOWED]
    ids = {im["id"] for im in images}
    anns = [a for a in data["annotations"] if a["image_id"] in ids]
    preds = json.loads((SRC / "predictions" / "yolo-fastest-1.1-xl.json").read_text())
    preds = [p for p in preds if p["image_id"] in ids]
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "images").mkdir(parents=True)
    for im in images:
        shutil.copy2(SRC / "images" / im["file_name"], OUT / "images" / im["file_name"])
    used = sorted({im["license"] for im in images})
    out = {"info": {"description": "quality-widgets sample: 33 redistributable COCO 2017 train "
                                   "images with their official annotations",
                    "source": "MS COCO 2017 (annotations CC BY 4.0, COCO Consortium)"},
           "licenses": [licences[i] for i in used], "categories": data["categories"],
           "images": images, "annotations": anns}
    (OUT / "instances.json").write_text(json.dumps(out, separators=(",", ":")))
    (OUT / "predictions.json").write_text(json.dumps(preds, separators=(",", ":")))
    lines = ["# Attribution of the sample images", "",
             "Images from MS COCO 2017 train (Flickr), redistributed under their own licences.",
             "Annotations: COCO Consortium, CC BY 4.0. Predictions: Yolo-Fastest-1.1-xl.", "",
             "| file | Flickr URL | licence |", "|---|---|---|"]
    for im in sorted(images, key=lambda i: i["file_name"]):
        lic = licences[im["license"]]
        lines.append(f"| {im['file_name']} | {im.get('flickr_url', '')} | "
                     f"[{lic['name']}]({lic['url']}) |")
    (OUT / "ATTRIBUTION.md").write_text("\n".join(lines) + "\n")
    print(f"{len(images)} images, {len(anns)} annotations, {len(preds)} predictions -> {OUT}")


if __name__ == "__main__":
    main()

"""Write the notebooks in notebooks/ (stored without outputs). Run from the repo root."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]


def save(name, cells):
    # Deterministic cell ids, so regenerating an unchanged notebook changes nothing in git.
    for i, cell in enumerate(cells):
        cell["id"] = f"{name.split('.')[0].replace('_', '-')}-{i:02d}"
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    nbformat.write(nb, ROOT / "notebooks" / name)


save("quickstart.ipynb", [
    new_markdown_cell(
        "# quality-widgets quickstart\n\n"
        "Load the bundled sample (33 COCO photos with their official labels and a small "
        "detector's predictions), compute quality metrics, explore them, and export a "
        "selection. Everything runs inline; nothing is sent anywhere."),
    new_code_cell("import quality_widgets as qw\n\nds = qw.load_sample()\nds"),
    new_markdown_cell(
        "## Compute metrics\n\nOne row per image, per labelled object and per prediction; "
        "computed in parallel, with a progress bar, and cached (run the cell again: it is "
        "instant)."),
    new_code_cell("metrics = qw.compute_metrics(ds)\nmetrics"),
    new_code_cell("metrics.images[['file_name', 'brightness', 'contrast', 'sharpness', "
                  "'redness', 'uniqueness']].head()"),
    new_markdown_cell("## Evaluate the detector\n\nCOCO mAP, identical to pycocotools; "
                      "the outcome of each prediction (TP / FP) is added to the frames."),
    new_code_cell("result = qw.evaluate(ds)\nprint(result.summary())\n"
                  "qw.add_outcomes(metrics, ds)\n"
                  "metrics.predictions['outcome'].value_counts()"),
    new_markdown_cell(
        "## Explore\n\nPick a level and a metric, drag across the histogram to select a range; "
        "the gallery shows the selected images sorted by the metric. Pin a range to combine it "
        "with a brush on another metric."),
    new_code_cell("explorer = qw.Explorer(metrics, metric='brightness')\nexplorer"),
    new_markdown_cell("Everything the mouse does is reachable from Python. Select the darkest "
                      "images (brightness below 0.35):"),
    new_code_cell("explorer.select('brightness', 0.0, 0.35)\n"
                  "print(explorer.summary)\n"
                  "metrics.images.loc[explorer.selection, ['file_name', 'brightness']]"
                  ".sort_values('brightness')"),
    new_markdown_cell(
        "## Keep what you found\n\nThe widgets need a running kernel; a static grid does not. "
        "`explorer.show_selection()` draws the selected images (in the gallery's order) with "
        "ipyplot, as plain HTML that stays in the saved notebook and shows on GitHub, nbviewer "
        "or an HTML export. `qw.show_images` draws any rows; `group_by='category'` makes one "
        "tab per category."),
    new_code_cell("explorer.show_selection(n=12)"),
    new_code_cell("qw.show_images(metrics, level='object', sort_by='object_brightness', n=6, "
                  "group_by='category')"),
    new_markdown_cell("## Export the selection\n\nAs a COCO file for relabelling (it loads in "
                      "pycocotools), or YOLO, CSV / Parquet, or plain image copies."),
    new_code_cell("import tempfile\nfrom pathlib import Path\n\n"   # not into notebooks/
                  "out = qw.export(metrics, explorer.selection, format='coco', "
                  "out=Path(tempfile.mkdtemp()) / 'dark_images.json')\n"
                  "print(out)\nqw.Dataset.from_coco(ds.images_dir, out)"),
])
save("custom_metric.ipynb", [
    new_markdown_cell(
        "# Your own quality metrics\n\n"
        "A quality metric is a plain Python function decorated with `@qw.metric(level=...)`. "
        "This notebook writes one metric per level (image, labelled object, prediction), "
        "computes them on the bundled sample next to the built-in ones, and explores them."),
    new_code_cell("import numpy as np\nimport quality_widgets as qw\n\nds = qw.load_sample()\nds"),
    new_markdown_cell(
        "## An image metric\n\n`level=\"image\"`: the function gets the decoded image as an "
        "`(H, W, 3)` `uint8` RGB array and returns a number; the first line of its docstring is "
        "the description shown in metric lists. Here, the fraction of blown-out "
        "pixels (all three channels above 240): over-exposed photos lose detail a detector "
        "needs."),
    new_code_cell(
        "@qw.metric(level=\"image\")\n"
        "def overexposed(image):\n"
        "    \"\"\"Fraction of pixels above 240 in all three channels.\"\"\"\n"
        "    return float((image > 240).all(axis=-1).mean())"),
    new_markdown_cell(
        "## An object metric\n\n`level=\"object\"`: the function gets the box's crop and, if it "
        "takes a second argument, the row (`bbox_x, bbox_y, bbox_w, bbox_h, image_width, "
        "image_height, category_id, category`). `pixels=False` says it only needs the "
        "geometry, so no image is decoded for it. Here, how far the box centre is from the "
        "image centre (0 = centred, 1 = in a corner)."),
    new_code_cell(
        "@qw.metric(level=\"object\", pixels=False)\n"
        "def off_centre(crop, row):\n"
        "    \"\"\"Distance of the box centre from the image centre, 0..1.\"\"\"\n"
        "    dx = (row[\"bbox_x\"] + row[\"bbox_w\"] / 2) / row[\"image_width\"] - 0.5\n"
        "    dy = (row[\"bbox_y\"] + row[\"bbox_h\"] / 2) / row[\"image_height\"] - 0.5\n"
        "    return float(np.hypot(dx, dy) / np.hypot(0.5, 0.5))"),
    new_markdown_cell(
        "## A prediction metric\n\n`level=\"prediction\"`: the same, on the detector's boxes; the "
        "row also has the `score`. Here, the mean saturation of the predicted box: are "
        "washed-out boxes the detector's false positives?"),
    new_code_cell(
        "@qw.metric(level=\"prediction\")\n"
        "def box_saturation(crop):\n"
        "    \"\"\"Mean HSV saturation of the box, 0..1.\"\"\"\n"
        "    rgb = crop.astype(np.float32)\n"
        "    high, low = rgb.max(axis=-1), rgb.min(axis=-1)\n"
        "    return float(np.mean(np.where(high > 0, (high - low) / np.maximum(high, 1), 0.0)))"),
    new_markdown_cell(
        "## Compute\n\nThe custom metrics are computed with the built-in ones, in worker "
        "processes (the functions are sent to them by value), and cached: run the cell again "
        "and nothing is recomputed. Change a function? Bump its `version=` so cached values are "
        "ignored."),
    new_code_cell("metrics = qw.compute_metrics(ds)\nmetrics"),
    new_code_cell("print(metrics.images['overexposed'].describe().round(4))\n"
                  "metrics.images.sort_values('overexposed', ascending=False)"
                  "[['file_name', 'overexposed', 'brightness']].head()"),
    new_code_cell("metrics.objects[['category', 'off_centre', 'box_relative_area']]"
                  ".sort_values('off_centre').tail()"),
    new_markdown_cell("Do the detector's false positives look different? Mark every prediction "
                      "TP / FP and compare the saturation of both groups:"),
    new_code_cell("qw.add_outcomes(metrics, ds)\n"
                  "metrics.predictions.groupby('outcome')['box_saturation'].describe().round(3)"),
    new_markdown_cell(
        "## Explore them\n\nThe new metrics appear in the Explorer's metric dropdown at their "
        "level, next to the built-in ones. Pick *objects* and `off_centre`, or *predictions* and "
        "`box_saturation`, and brush."),
    new_code_cell("explorer = qw.Explorer(metrics, metric='overexposed')\nexplorer"),
    new_code_cell(
        "for level, name in [('image', 'overexposed'), ('object', 'off_centre'),\n"
        "                    ('prediction', 'box_saturation')]:\n"
        "    explorer.level = level\n"
        "    assert name in explorer.metric_control.options, (level, name)\n"
        "    print(f'{level:>10}: {name} is in the metric dropdown')\n"
        "explorer.level = 'prediction'\n"
        "explorer.select('box_saturation', 0.0, 0.1)\n"
        "print(explorer.summary)"),
    new_markdown_cell(
        "## Metrics in files\n\nKeep metrics in a `.py` file to share them between notebooks "
        "and the command line: `qw.compute_metrics(ds, metrics=['my_metrics.py', "
        "'brightness'])`, or `quality-widgets metrics --metric-file my_metrics.py ...`."),
])

save("your_data.ipynb", [
    new_markdown_cell(
        "# Your own data: COCO, YOLO or a plain folder\n\n"
        "quality-widgets reads three layouts. To keep this notebook runnable anywhere, it "
        "writes a small dataset in each layout from the bundled sample into a temporary "
        "folder; replace the paths with yours."),
    new_code_cell(
        "import json\nimport shutil\nimport tempfile\nfrom pathlib import Path\n\n"
        "import quality_widgets as qw\n\n"
        "sample = qw.load_sample()\n"
        "work = Path(tempfile.mkdtemp(prefix='qw-your-data-'))\n"
        "chosen = sample.images.index[:12]   # 12 of the 33 sample images\n"
        "work"),
    new_markdown_cell(
        "## COCO\n\nA folder of images, an instances JSON (`images`, `annotations`, "
        "`categories`) and, optionally, a COCO results JSON of predictions (a list of "
        "`{image_id, category_id, bbox, score}`)."),
    new_code_cell(
        "coco_dir = work / 'coco'\n(coco_dir / 'images').mkdir(parents=True)\n"
        "instances = json.loads(qw.sample_paths()['annotations'].read_text())\n"
        "keep = set(chosen.tolist())\n"
        "instances['images'] = [im for im in instances['images'] if im['id'] in keep]\n"
        "instances['annotations'] = [a for a in instances['annotations'] "
        "if a['image_id'] in keep]\n"
        "for im in instances['images']:\n"
        "    shutil.copy(sample.images_dir / im['file_name'], coco_dir / 'images')\n"
        "(coco_dir / 'instances.json').write_text(json.dumps(instances))\n"
        "predictions = json.loads(qw.sample_paths()['predictions'].read_text())\n"
        "(coco_dir / 'predictions.json').write_text(json.dumps(\n"
        "    [p for p in predictions if p['image_id'] in keep]))\n\n"
        "coco = qw.Dataset.from_coco(coco_dir / 'images', coco_dir / 'instances.json',\n"
        "                            coco_dir / 'predictions.json')\ncoco"),
    new_code_cell("print(qw.evaluate(coco).summary())"),
    new_markdown_cell(
        "## YOLO\n\n`images/` and, beside it, `labels/<image stem>.txt` with one line "
        "`class cx cy w h` per box, normalised to [0, 1]; class names in a `classes.txt` "
        "(one per line), a `*.names` file, a `data.yaml` or a Python list. Predictions in "
        "the same format with a sixth column, the confidence."),
    new_code_cell(
        "yolo_dir = work / 'yolo'\n"
        "for sub in ('images', 'labels', 'predictions'):\n"
        "    (yolo_dir / sub).mkdir(parents=True)\n"
        "cat_ids = sorted(sample.categories.index)                 # COCO ids 1..90, with gaps\n"
        "yolo_class = {cid: k for k, cid in enumerate(cat_ids)}      # YOLO classes 0..79\n"
        "(yolo_dir / 'classes.txt').write_text(\n"
        "    '\\n'.join(sample.categories.loc[cat_ids, 'name']) + '\\n')\n\n"
        "def yolo_lines(boxes, image, with_score=False):\n"
        "    lines = []\n"
        "    for b in boxes.itertuples():\n"
        "        cx = (b.bbox_x + b.bbox_w / 2) / image.width\n"
        "        cy = (b.bbox_y + b.bbox_h / 2) / image.height\n"
        "        w, h = b.bbox_w / image.width, b.bbox_h / image.height\n"
        "        if not all(0 <= v <= 1 for v in (cx, cy, w, h)):\n"
        "            continue  # YOLO cannot express boxes outside the image\n"
        "        line = f'{yolo_class[b.category_id]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}'\n"
        "        lines.append(line + (f' {b.score:.5f}' if with_score else ''))\n"
        "    return '\\n'.join(lines) + '\\n'\n\n"
        "for image_id in chosen:\n"
        "    image = sample.images.loc[image_id]\n"
        "    shutil.copy(image.path, yolo_dir / 'images')\n"
        "    stem = Path(image.file_name).stem\n"
        "    anns = sample.annotations[(sample.annotations.image_id == image_id)\n"
        "                              & ~sample.annotations.iscrowd]\n"
        "    (yolo_dir / 'labels' / f'{stem}.txt').write_text(yolo_lines(anns, image))\n"
        "    preds = sample.predictions[sample.predictions.image_id == image_id]\n"
        "    (yolo_dir / 'predictions' / f'{stem}.txt').write_text(\n"
        "        yolo_lines(preds, image, with_score=True))\n\n"
        "print(*sorted(p.name for p in (yolo_dir / 'labels').iterdir())[:3], '...')\n"
        "print((yolo_dir / 'labels' / f'{stem}.txt').read_text()[:200])"),
    new_markdown_cell("`labels/` beside `images/` is found by itself, and `classes.txt` beside "
                      "it too; here both are given explicitly:"),
    new_code_cell(
        "yolo = qw.Dataset.from_yolo(yolo_dir / 'images', labels_dir=yolo_dir / 'labels',\n"
        "                            class_names=yolo_dir / 'classes.txt',\n"
        "                            predictions_dir=yolo_dir / 'predictions')\n"
        "print(yolo)\nyolo.annotations.head()"),
    new_markdown_cell("The same boxes as the COCO copy, to the 6 decimals written, except COCO's "
                      "crowd regions (`iscrowd`), which YOLO cannot express: the mAP is nearly "
                      "the same."),
    new_code_cell(
        "yolo_ap, coco_ap = qw.evaluate(yolo).stats[0], qw.evaluate(coco).stats[0]\n"
        "print(f'mAP@[.5:.95]  YOLO copy {yolo_ap:.4f}   COCO copy {coco_ap:.4f}')"),
    new_code_cell("yolo_metrics = qw.compute_metrics(yolo)\n"
                  "qw.Explorer(yolo_metrics, level='object', metric='box_relative_area')"),
    new_markdown_cell(
        "## A plain folder\n\nNo labels at all: every image below the folder (by extension, "
        "recursively by default) gets the image metrics: brightness, blur, colour, "
        "duplicates... Handy for a first look at a fresh data dump."),
    new_code_cell(
        "folder = work / 'photos'\n"
        "for k, image_id in enumerate(chosen):\n"
        "    sub = folder / ('day_1' if k % 2 else 'day_2')\n"
        "    sub.mkdir(parents=True, exist_ok=True)\n"
        "    shutil.copy(sample.images.loc[image_id, 'path'], sub)\n"
        "# a duplicate, to be found by the uniqueness metric\n"
        "shutil.copy(sample.images.loc[chosen[0], 'path'], folder / 'copy_of_first.jpg')\n\n"
        "photos = qw.Dataset.from_folder(folder)\nprint(photos)\n"
        "photos.images[['file_name', 'width', 'height']].head()"),
    new_code_cell(
        "photo_metrics = qw.compute_metrics(photos)\n"
        "photo_metrics.images.sort_values('uniqueness')"
        "[['file_name', 'uniqueness', 'duplicate_group', 'brightness']].head(3)"),
    new_code_cell("qw.Explorer(photo_metrics, metric='uniqueness')"),
    new_markdown_cell("Clean up the temporary folder (your data stays where it is):"),
    new_code_cell("shutil.rmtree(work)"),
])
save("redness_hypothesis.ipynb", [
    new_markdown_cell(
        "# Does redness hurt the detector? A hypothesis test, end to end\n\n"
        "A hunch from looking at a gallery (\"it misses red things\") is a hypothesis. This "
        "notebook tests it honestly on the bundled sample: measure redness per object, "
        "evaluate the detector, split the objects at a redness threshold, compare the mAP of "
        "the two sides with a permutation p-value and the confidence interval that inverts "
        "the same test, and finally rank every metric the same way, corrected for testing "
        "many."),
    new_code_cell("import numpy as np\nimport quality_widgets as qw\n\nds = qw.load_sample()\nds"),
    new_markdown_cell(
        "## 1. A redness metric\n\n`object_redness` is built in: the fraction of a box's pixels "
        "that are saturated and red in hue. Your own variant is a few lines; to split "
        "*objects* it must exist for annotations **and** predictions (so that every false "
        "positive falls on a side), hence both levels:"),
    new_code_cell(
        "@qw.metric(level=(\"object\", \"prediction\"))\n"
        "def red_minus_green(crop):\n"
        "    \"\"\"Mean red minus mean green of the box, -1..1.\"\"\"\n"
        "    return (float(crop[..., 0].mean()) - float(crop[..., 1].mean())) / 255\n\n"
        "metrics = qw.compute_metrics(ds)\n"
        "metrics.objects[['category', 'object_redness', 'red_minus_green']]"
        ".sort_values('object_redness').tail()"),
    new_markdown_cell("## 2. Evaluate the detector\n\nCOCO mAP, identical to pycocotools:"),
    new_code_cell("evaluation = qw.evaluate(ds)\nprint(evaluation.summary())"),
    new_markdown_cell(
        "A first, naive look: the mAP on the redder half of the objects only (objects outside "
        "the range are ignored, like pycocotools' area ranges):"),
    new_code_cell(
        "median = float(metrics.objects['object_redness'].median())\n"
        "red = qw.evaluate(ds, object_range=('object_redness', median, np.inf), metrics=metrics)\n"
        "rest = qw.evaluate(ds, object_range=('object_redness', -np.inf, median), "
        "metrics=metrics)\n"
        "print(f'mAP, object_redness >= {median:.3g}: {red.stats[0]:.3f}   "
        "below: {rest.stats[0]:.3f}')"),
    new_markdown_cell(
        "Two numbers from 33 images. Is the gap real, or what any split of this little data "
        "would show?\n\n"
        "## 3. The test, as a widget\n\n"
        "Choose the metric and move the threshold (blue: below, orange: above), then press "
        "**Run**: the result table, how many boxes and categories each side rests on, a "
        "sentence with the 95% confidence interval of the difference and the p-value, and "
        "the measure per quantile bin of the metric. (Permutation counts are kept small here "
        "so the notebook runs in seconds; use the default 1000 for real.)"),
    new_code_cell("test = qw.HypothesisTest(ds, metrics, metric='object_redness', resamples=200,\n"
                  "                         curve_resamples=100)\ntest"),
    new_markdown_cell("## 4. The same test from Python"),
    new_code_cell(
        "result = qw.test_hypothesis(ds, metrics, metric='object_redness', resamples=200, "
        "seed=0)\n"
        "print(result.summary)\nresult.table()"),
    new_markdown_cell(
        "**Reading it.** `difference` is AP(above) - AP(below). The p-value comes from "
        "shuffling the redness values across boxes (the null hypothesis: AP does not depend "
        "on redness) and re-evaluating both sides each time. The 95% CI is the same test "
        "turned around: the shifts of the difference the permutations would not reject, so "
        "it excludes 0 exactly when p < 0.05 (measured on coco128 with a real detector, "
        "this interval covers the truth as often as it promises; resampling images with "
        "replacement did not: it covered 0 only about 80% of the time). A CI that contains 0 "
        "and a large p-value mean: this data gives no evidence that redness matters, which "
        "is not evidence that it does not (33 images is little)."),
    new_code_cell(
        "low, high = result.ci95\n"
        "print(f'difference {result.difference:+.3f}, 95% CI [{low:+.3f}, {high:+.3f}], "
        "p = {result.p_value:.3f}')\n"
        "print('the CI contains 0' if low <= 0 <= high else 'the CI excludes 0')"),
    new_markdown_cell("Your own metric is tested the same way:"),
    new_code_cell("print(qw.test_hypothesis(ds, metrics, metric='red_minus_green', "
                  "resamples=200, seed=0).summary)"),
    new_markdown_cell(
        "## 5. Which metrics matter? Rank them all\n\n"
        "Testing one metric after another until one is \"significant\" is how false "
        "discoveries are made. `rank_metrics` tests every metric at its median, ranks them by "
        "effect size and adds Holm-adjusted p-values (`p_holm`) for the whole family of "
        "tests.\n\n"
        "**Resolution.** With N permutations the smallest possible p-value is 1 / (N + 1), "
        "and Holm multiplies the smallest p-value by the number of tests m: with 100 "
        "permutations and 30 metrics, nothing could ever be significant. So each metric draws "
        "permutations until the answer is clear (Besag and Clifford's sequential rule): a "
        "metric with no effect stops after a few dozen, once 10 permutations have reached "
        "its difference; a strong effect goes on to the cap, 2m / 0.05, enough for its "
        "corrected p-value to reach 0.025. The columns `permutations` and `min_p` say what "
        "each row used; a table that cannot reach significance says so in a warning."),
    new_code_cell(
        "ranking = qw.rank_metrics(ds, metrics)\n"
        "ranking[['metric', 'level', 'difference', 'ci_low', 'ci_high', 'p_value', 'p_holm', "
        "'permutations', 'min_p']].head(10).round(4)"),
    new_code_cell(
        "n = len(ranking)\n"
        "print(f'{n} metrics tested, {int(ranking.permutations.sum())} permutations in all '\n"
        "      f'(a fixed {ranking.attrs[\"max_permutations\"]} each would be '\n"
        "      f'{n * ranking.attrs[\"max_permutations\"]})')\n"
        "print('significant after Holm (p_holm < 0.05):',\n"
        "      list(ranking.loc[ranking['p_holm'] < 0.05, 'metric']) or 'none')\n"
        "rank = int(np.flatnonzero(ranking['metric'] == 'object_redness')[0]) + 1\n"
        "print(f'object_redness ranks {rank} of {n} by effect size')"),
    new_markdown_cell(
        "On these 33 images, box size (larger boxes are found better) and crowding (images "
        "with many predictions score lower; `object_count` points the same way, short of "
        "significance here) come out on top; redness does not. "
        "**Correction.** Holm controls the family-wise error rate: the chance that *any* of "
        "the metrics declared significant has no effect stays below 5%. For a long list "
        "of candidates where a few false leads are acceptable, `correction='bh'` gives "
        "Benjamini-Hochberg q-values instead (false discovery rate: among the metrics "
        "declared significant, at most 5% are expected to be false leads):"),
    new_code_cell(
        "bh = qw.rank_metrics(ds, metrics, correction='bh')\n"
        "print('significant at FDR 5%:', list(bh.loc[bh['q_bh'] < 0.05, 'metric']) or 'none')"),
    new_markdown_cell(
        "Effects at the top of the ranking are candidates to confirm on more data, not "
        "conclusions: 33 images is little, and a metric can matter through another one "
        "(small boxes are often in crowded images)."),
])

print("notebooks written")

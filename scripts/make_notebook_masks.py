"""Write notebooks/masks_and_keypoints.ipynb (stored without outputs). Run from the repo root."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
NAME = "masks_and_keypoints.ipynb"

cells = [
    new_markdown_cell(
        "# Masks and keypoints\n\n"
        "The bundled sample's labels are COCO polygons (and a few crowd RLE masks). This "
        "notebook measures the objects inside their masks instead of their boxes, checks the "
        "polygons against the image's edges with GrabCut, compares the labels with another "
        "model's output, evaluates masks (`iou_type='segm'`) and keypoints "
        "(`iou_type='keypoints'`), both identical to pycocotools, and shows masks and "
        "skeletons in the gallery. Needs the `masks` and `reference` extras "
        "(`pip install 'quality-widgets[masks,reference]'`: pycocotools, OpenCV)."),
    new_code_cell("import numpy as np\nimport pandas as pd\n\nimport quality_widgets as qw\n\n"
                  "ds = qw.load_sample()\nds"),
    new_markdown_cell(
        "## Metrics inside the masks\n\n"
        "`mask_area` (pixels), `mask_fill` (mask area / box area), `mask_parts` (8-connected "
        "pieces) and the colour metrics over the mask's pixels only (`mask_brightness`, "
        "`mask_redness`, ...: the box versions' formulas on those pixels)."),
    new_code_cell(
        "MASK_METRICS = ['mask_area', 'mask_fill', 'mask_parts', 'mask_brightness', "
        "'mask_contrast',\n                'mask_redness', 'mask_greenness', 'mask_blueness', "
        "'mask_colorfulness']\n"
        "metrics = qw.compute_metrics(ds, metrics=MASK_METRICS + ['object_redness', "
        "'object_brightness'])\n"
        "metrics.objects[['category', 'mask_area', 'mask_fill', 'mask_parts', "
        "'object_redness', 'mask_redness']].head()"),
    new_markdown_cell(
        "A person's box is about half background: its redness is the red of the street as "
        "much as the red of the clothes."),
    new_code_cell(
        "people = metrics.objects[(metrics.objects['category'] == 'person') & "
        "~metrics.objects['iscrowd']]\n"
        "people[['mask_fill', 'object_redness', 'mask_redness', 'object_brightness', "
        "'mask_brightness']].describe().loc[['count', 'mean', '50%']]"),
    new_markdown_cell(
        "## Do the polygons follow the image's edges? GrabCut as a reference\n\n"
        "`qw.reference.grabcut` snaps each label's outline to the colour edges around it "
        "(OpenCV's GrabCut seeded with the label's own mask; no model weights). "
        "`qw.compare_to_reference` then gives each label its best IoU with a reference object "
        "(`reference_iou`), that object's class and whether they agree (IoU >= 0.5, same "
        "class); each reference object is `unlabelled` when no label covers it. Low "
        "`reference_iou`: an outline that cuts through the object or its background."),
    new_code_cell(
        "images = ds.images.index[:12]\n"
        "snapped = qw.reference.grabcut(ds, image_ids=images, iterations=3)\n"
        "comparison = qw.compare_to_reference(ds.subset(images), snapped)\n"
        "comparison.summary"),
    new_code_cell(
        "comparison.labels.join(ds.annotations[['category', 'area']]).sort_values("
        "'reference_iou').head(6)"),
    new_markdown_cell(
        "## Labels against another model\n\n"
        "Any model's COCO results (masks or boxes: SAM, a stronger detector) can be the "
        "reference. Here the sample's own detector, its confident boxes: objects it finds that "
        "no label covers are candidate missing labels."),
    new_code_cell(
        "detector = qw.compare_to_reference(ds, ds.predictions, min_score=0.5)\n"
        "print(detector.summary)\n"
        "detector.reference[detector.reference['unlabelled']].sort_values('score', "
        "ascending=False).head()"),
    new_markdown_cell(
        "## Mask predictions: evaluation and the redness hypothesis, mask variant\n\n"
        "The sample's detector predicts boxes. GrabCut in each confident box makes a crude "
        "instance segmenter, enough to show mask evaluation (pycocotools' `segm` numbers) and "
        "the redness question asked of the masks' pixels instead of the boxes'."),
    new_code_cell(
        "predicted_masks = qw.reference.grabcut(ds, level='prediction', min_score=0.3, "
        "iterations=3)\n"
        "ds_masks = ds.with_predictions(predicted_masks)\n"
        "segm = qw.Evaluator(ds_masks, iou_type='segm')\n"
        "print(segm.evaluate().summary())"),
    new_code_cell(
        "mask_metrics = qw.compute_metrics(ds_masks, metrics=['object_redness', "
        "'mask_redness'])\n"
        "for name in ('object_redness', 'mask_redness'):\n"
        "    result = qw.test_hypothesis(ds_masks, mask_metrics, metric=name, evaluator=segm,\n"
        "                                resamples=200, seed=0)\n"
        "    print(result.summary)"),
    new_markdown_cell(
        "## See them\n\nThe gallery fills each object's mask (and draws skeletons, below). "
        "Sorted by `reference_iou`: the labels GrabCut disagrees with most come first."),
    new_code_cell(
        "comparison.add_to(metrics)\n"
        "mask_explorer = qw.Explorer(metrics, level='object', metric='reference_iou')\n"
        "mask_explorer"),
    new_markdown_cell(
        "## Keypoints\n\n"
        "The sample has no keypoint labels, so this part makes some: the 17 COCO person "
        "keypoints of a standing pose placed in each person box (some marked occluded), and "
        "predictions that jitter them. With real keypoint files (`person_keypoints_*.json`, "
        "results with `keypoints`) the calls are the same."),
    new_code_cell(
        "POSE = np.array([[.50, .08], [.53, .06], [.47, .06], [.57, .08], [.43, .08], "
        "[.65, .22],\n"
        "                 [.35, .22], [.72, .38], [.28, .38], [.75, .52], [.25, .52], "
        "[.60, .55],\n"
        "                 [.40, .55], [.62, .75], [.38, .75], [.63, .95], [.37, .95]])\n"
        "SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], "
        "[6, 7], [6, 8],\n"
        "            [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], "
        "[4, 6], [5, 7]]\n"
        "rng = np.random.default_rng(0)\n"
        "coco = qw.data.coco.to_coco_dict(ds)\n"
        "person = next(c for c in coco['categories'] if c['name'] == 'person')\n"
        "person['skeleton'] = SKELETON\n"
        "results = []\n"
        "for a in coco['annotations']:\n"
        "    if a['category_id'] != person['id'] or a['iscrowd']:\n"
        "        continue\n"
        "    x, y, w, h = a['bbox']\n"
        "    xy = POSE * [w, h] + [x, y]\n"
        "    v = rng.choice([1, 2], 17, p=[0.3, 0.7])          # 1: occluded, 2: visible\n"
        "    a['keypoints'], a['num_keypoints'] = np.c_[xy.round(1), v].ravel().tolist(), 17\n"
        "    guess = xy + rng.normal(0, 0.04 * h, xy.shape)\n"
        "    results.append({'image_id': a['image_id'], 'category_id': person['id'],\n"
        "                    'keypoints': np.c_[guess.round(1), rng.uniform(0.05, 1, 17)]"
        ".ravel().tolist(),\n"
        "                    'score': float(rng.uniform(0.3, 1))})\n"
        "people = qw.Dataset.from_coco(ds.images_dir, coco, results)\n"
        "print(qw.evaluate(people, iou_type='keypoints').summary())"),
    new_code_cell(
        "keypoint_metrics = qw.compute_metrics(people, metrics=[\n"
        "    'keypoints_labelled', 'keypoints_occluded_fraction', 'skeleton_length_ratio',\n"
        "    'mean_keypoint_score', 'occluded_predicted'])\n"
        "keypoint_explorer = qw.Explorer(keypoint_metrics, level='object',\n"
        "                                metric='keypoints_occluded_fraction')\n"
        "keypoint_explorer"),
]

for i, cell in enumerate(cells):  # deterministic ids: regenerating changes nothing in git
    cell["id"] = f"masks-keypoints-{i:02d}"
nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"}})
nbformat.write(nb, ROOT / "notebooks" / NAME)

"""Write notebooks/label_errors.ipynb (stored without outputs). Run from the repo root."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]

cells = [
    new_markdown_cell(
        "# Finding label errors and judging annotators\n\n"
        "A detector's predictions are evidence about the labels: a confident prediction no "
        "label covers is an *overlooked* object, a label where the detector sees another class "
        "is probably *swapped*, a label the detector places elsewhere is *badly located*, and "
        "a label with nothing there is *spurious*. Here the bundled sample is relabelled by two "
        "annotators, one of them careless (the errors are planted so we know the answers)."),
    new_code_cell(
        "import json, tempfile\nfrom pathlib import Path\n\nimport numpy as np\n"
        "import pandas as pd\n\nimport quality_widgets as qw\n\n"
        "paths = qw.sample_paths()\n"
        "work = Path(tempfile.mkdtemp(prefix='qw-labels-'))\n"
        "coco = json.loads(Path(paths['annotations']).read_text())\n"
        "rng = np.random.default_rng(0)\n"
        "cat_ids = [c['id'] for c in coco['categories']]\n"
        "planted = {'swapped': [], 'badly_located': [], 'removed': []}\n"
        "kept = []\n"
        "for ann in coco['annotations']:\n"
        "    careless = ann['image_id'] % 2 == 1      # bob labels the odd images\n"
        "    ann['annotator'] = 'bob' if careless else 'alice'\n"
        "    big = ann['bbox'][2] * ann['bbox'][3] > 3000 and not ann.get('iscrowd')\n"
        "    draw = rng.random()\n"
        "    if careless and big and draw < 0.12:\n"
        "        ann['category_id'] = int(rng.choice([c for c in cat_ids "
        "if c != ann['category_id']]))\n"
        "        planted['swapped'].append(ann['id'])\n"
        "    elif careless and big and draw < 0.24:\n"
        "        x, y, w, h = ann['bbox']\n"
        "        ann['bbox'] = [x + w / 2, y + h / 2, w, h]\n"
        "        planted['badly_located'].append(ann['id'])\n"
        "    elif careless and big and draw < 0.34:\n"
        "        planted['removed'].append(ann['id'])\n"
        "        continue\n"
        "    kept.append(ann)\n"
        "coco['annotations'] = kept\n"
        "(work / 'instances.json').write_text(json.dumps(coco))\n"
        "ds = qw.Dataset.from_coco(paths['images'], work / 'instances.json', "
        "paths['predictions'])\n"
        "{k: len(v) for k, v in planted.items()}, ds"),
    new_code_cell("metrics = qw.compute_metrics(ds)"),
    new_markdown_cell(
        "## Candidates\n\nOne row per label and kind (swapped, badly located, spurious) and per "
        "prediction (overlooked), `score` in [0, 1], most likely first, with the fix the "
        "evidence points to and the reason. The detector's scores are calibrated on the "
        "dataset itself first (per class), since raw scores are not probabilities. Passing "
        "`metrics` also adds the scores as metric columns (`swap_score`, `location_score`, "
        "`spurious_score`, `overlooked_score`, `label_quality`)."),
    new_code_cell(
        "candidates = qw.find_label_errors(ds, metrics)\n"
        "pd.set_option('display.max_colwidth', 90)\n"
        "candidates.groupby('kind').head(3)[['kind', 'score', 'image_id', 'annotation_id', "
        "'category', 'suggested_category', 'reason']]"),
    new_code_cell(
        "swapped = candidates[candidates['kind'] == 'swapped'].head(len(planted['swapped']))\n"
        "found = swapped['annotation_id'].isin(planted['swapped']).mean()\n"
        "print(f\"{found:.0%} of the {len(swapped)} most likely swaps were planted\")"),
    new_markdown_cell(
        "The scores are metrics like any other: brush `swap_score` in the Explorer, group by "
        "annotator, test whether they affect AP."),
    new_code_cell(
        "explorer = qw.Explorer(metrics, level='object', metric='swap_score', "
        "group_by='annotator')\nexplorer.select('swap_score', 0.3, 1.0)\nexplorer"),
    new_markdown_cell(
        "## Annotators\n\nPer annotator: labels made, the rate of candidate errors per kind "
        "(score >= 0.5) with a 95% bootstrap interval over their images, and, where two "
        "labelled the same image, their agreement (F1 of boxes matched at IoU 0.5). Select an "
        "annotator (click a bar) to filter the Explorer above to their labels."),
    new_code_cell(
        "report = qw.annotator_report(ds, metrics, resamples=500)\n"
        "report.table[['labels', 'images', 'swapped_rate', 'swapped_rate_lo', "
        "'swapped_rate_hi', 'overlooked_rate']]"),
    new_code_cell(
        "view = qw.AnnotatorView(report, explorer=explorer, kind='swapped')\n"
        "view.annotator = 'alice'   # the same as clicking her bar\nview"),
    new_markdown_cell(
        "## Review and fix\n\nEach tile draws the label (red) and the evidence (green) with the "
        "suggestion; accept or reject with the buttons (stored as tags beside the metric cache, "
        "so they persist and filter the Explorer). Here the three most likely swaps are "
        "accepted from Python, the same as pressing their buttons."),
    new_code_cell(
        "review = qw.LabelErrors(ds, candidates, metrics, kind='swapped', per_page=6)\n"
        "for index in review.ids[:3]:\n    review.accept(index)\nreview"),
    new_code_cell(
        "fixed, changes = qw.apply_fixes(ds, review.accepted, out=work / 'fixed.json')\n"
        "print(fixed)\npd.read_csv(changes)[['action', 'annotation_id', 'old_category', "
        "'new_category', 'score']]"),
]

nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"}})
nbformat.write(nb, ROOT / "notebooks" / "label_errors.ipynb")
print("notebooks/label_errors.ipynb written")

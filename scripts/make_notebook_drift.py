"""Write notebooks/drift_and_test_cases.ipynb (stored without outputs). Run from the repo root."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]

cells = [
    new_markdown_cell(
        "# Drift, model test cases and what to label next\n\n"
        "A model is trained on one kind of data and meets another in production. Here the "
        "bundled sample plays the training data, and a darkened copy of it (written to a "
        "temporary folder) plays this week's production images."),
    new_code_cell(
        "import json, tempfile\nfrom pathlib import Path\n\nimport numpy as np\n"
        "from PIL import Image\n\nimport quality_widgets as qw\n"
        "\n"
        "paths = qw.sample_paths()\nwork = Path(tempfile.mkdtemp(prefix='qw-drift-'))\n"
        "(work / 'images').mkdir()\n"
        "for path in sorted(paths['images'].iterdir()):  # production: half the light\n"
        "    pixels = np.asarray(Image.open(path).convert('RGB'), dtype=np.uint16)\n"
        "    Image.fromarray((pixels * 11 // 20).astype(np.uint8)).save(work / 'images' / "
        "path.name, quality=92)\n\n"
        "train = qw.load_sample()\n"
        "production = qw.Dataset.from_coco(work / 'images', paths['annotations'], "
        "paths['predictions'], name='production')\ntrain, production"),
    new_code_cell("train_metrics = qw.compute_metrics(train)\n"
                  "production_metrics = qw.compute_metrics(production)"),
    new_markdown_cell(
        "## Drift\n\nPer metric and level: the Kolmogorov-Smirnov statistic (largest gap "
        "between the two CDFs), its p-value (for objects and predictions by permuting whole "
        "images, since boxes of one image are not independent), Holm-adjusted across the "
        "table, the Wasserstein distance in the metric's units and the population stability "
        "index on the training data's deciles."),
    new_code_cell("table = qw.compare_drift(train_metrics, production_metrics)\n"
                  "table.head(8)"),
    new_markdown_cell(
        "Both histograms on the same bins, each normalised; brush a range to see the images of "
        "either dataset in it (switch the gallery between A and B)."),
    new_code_cell("view = qw.DriftView(train_metrics, production_metrics, metric='brightness')\n"
                  "view.select(0.0, 0.3)\nview"),
    new_markdown_cell(
        "## Model test cases\n\nNamed slices with a requirement, in a YAML or JSON file; "
        "`quality-widgets test-cases FILE --images ... --annotations ... --predictions ...` "
        "runs the same file in CI (exit code 1 when a case fails)."),
    new_code_cell(
        "cases = [\n"
        "    {'name': 'overall', 'measure': 'AP50', 'min': 0.2},\n"
        "    {'name': 'dark objects', 'where': {'object_brightness': {'<': 0.2}},\n"
        "     'measure': 'AP', 'min': 0.05},\n"
        "    {'name': 'small boxes are found', 'where': {'box_area': {'<': 32 ** 2}},\n"
        "     'measure': 'recall', 'iou': 0.5, 'score_threshold': 0.3, 'min': 0.3},\n"
        "    {'name': 'people', 'categories': ['person'], 'measure': 'AP', 'min': 0.1},\n"
        "]\n(work / 'cases.json').write_text(json.dumps({'test_cases': cases}, indent=1))\n\n"
        "qw.TestCaseTable.from_cases(production, production_metrics, work / 'cases.json', "
        "resamples=50)"),
    new_markdown_cell(
        "The Explorer turns its selection into a test case: brush, then ask for the case."),
    new_code_cell("explorer = qw.Explorer(production_metrics, level='object', "
                  "metric='object_brightness', group_by='category')\n"
                  "explorer.select('object_brightness', 0.0, 0.15)\n"
                  "case = explorer.as_test_case('very dark objects', measure='AR100', "
                  "min_value=0.1)\ncase"),
    new_code_cell("qw.run_test_cases(production, production_metrics, case, resamples=50)"),
    new_markdown_cell(
        "## What to label next\n\nFrom the predictions alone: images with many predictions in "
        "the uncertain score band (0.3 to 0.7) first."),
    new_code_cell("label_next = qw.LabelNext(production_metrics, metric='n_uncertain')\n"
                  "print(label_next.top(5).tolist())\nlabel_next"),
]

nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"}})
nbformat.write(nb, ROOT / "notebooks" / "drift_and_test_cases.ipynb")
print("notebooks/drift_and_test_cases.ipynb written")

"""Write the notebooks in notebooks/ (stored without outputs). Run from the repo root."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]


def save(name, cells):
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
    new_markdown_cell("## Export the selection\n\nAs a COCO file for relabelling (it loads in "
                      "pycocotools), or YOLO, CSV / Parquet, or plain image copies."),
    new_code_cell("out = qw.export(metrics, explorer.selection, format='coco', "
                  "out='dark_images.json', overwrite=True)\n"
                  "print(out)\nqw.Dataset.from_coco(ds.images_dir, out)"),
])
print("notebooks written")

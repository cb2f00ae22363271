"""Write notebooks/video.ipynb (stored without outputs). Run from the repo root."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]

cells = [
    new_markdown_cell(
        "# Video: label errors that only show across frames\n\n"
        "No real video may be shipped with the project, so this notebook draws one: 30 frames "
        "of moving, rotating polygons on a panning texture, written as a MOTChallenge "
        "sequence, a COCO-video file (as TAO), a YouTube-VIS file and an MP4. Five label "
        "errors are planted in it: a track missing for two frames, a class flip, an id switch, "
        "a distorted polygon and a duplicated frame."),
    new_code_cell(
        "import tempfile\nfrom pathlib import Path\n\nimport quality_widgets as qw\n\n"
        "work = Path(tempfile.mkdtemp(prefix='qw-video-'))\n"
        "clip = qw.write_sample_video(work)\n"
        "clip['planted']"),
    new_markdown_cell(
        "Every video format gives a `Dataset` whose images are frames (columns `video` and "
        "`frame_index`) and whose annotations carry a `track_id`. The COCO-video file has the "
        "polygons; `Dataset.from_mot(clip['sequence'])` reads the MOT boxes (with the ignore "
        "regions as crowd) and `Dataset.from_youtube_vis(clip['youtube_vis'], work)` the "
        "YouTube-VIS tracks."),
    new_code_cell(
        "dataset = qw.Dataset.from_coco(clip['img1'], clip['coco_video'])\n"
        "dataset, dataset.images.head(3)"),
    new_markdown_cell(
        "A video file works the same way: its frames stay in the video (references "
        "`clip.mp4#frame=i`), and the metric workers decode them with PyAV "
        "(`pip install quality-widgets[video]`)."),
    new_code_cell(
        "if clip['mp4'] is not None:\n"
        "    from_mp4 = qw.Dataset.from_video(clip['mp4'], annotations=clip['coco_video'])\n"
        "    print(from_mp4, from_mp4.images['path'].iloc[0])"),
    new_markdown_cell(
        "## Temporal metrics\n\nComputed after the per-frame pass from the frames' columns "
        "(nothing is decoded twice): `gap_after` (frames with the track missing next), "
        "`class_flip`, `id_switch_iou`, `shape_similarity` (Hu moments against the track's "
        "running average), `area_change`, `box_jump`, `track_length`, and per frame "
        "`frame_difference` and `n_tracks`."),
    new_code_cell(
        "metrics = qw.compute_metrics(dataset)\n"
        "objects = metrics.objects.join(metrics.images['frame_index'], on='image_id')\n"
        "columns = ['frame_index', 'track_id', 'category', 'gap_after', 'class_flip',\n"
        "           'id_switch_iou', 'shape_similarity', 'box_jump']\n"
        "objects.sort_values('shape_similarity')[columns].head(5)"),
    new_code_cell(
        "{'missing next': objects.loc[objects['gap_after'] > 0, ['frame_index', 'track_id', "
        "'gap_after']].to_dict('records'),\n"
        " 'class flips': objects.loc[objects['class_flip'] == 1, ['frame_index', "
        "'track_id']].to_dict('records'),\n"
        " 'duplicated frames': metrics.images.loc[metrics.images['frame_difference'] == 0, "
        "'frame_index'].tolist()}"),
    new_markdown_cell(
        "## Brush `shape_similarity`, open the track\n\nBrush the low end of the histogram: "
        "the distorted polygon is alone there. **show track** opens its track frame by frame "
        "at the selected object."),
    new_code_cell(
        "explorer = qw.Explorer(metrics, level='object', metric='shape_similarity')\n"
        "explorer.select('shape_similarity', 0, 0.5)\n"
        "explorer.show_track()\nexplorer"),
    new_markdown_cell(
        "The same view on its own, for any track: the frame with its box and polygon, the "
        "neighbouring frames, a slider, and the metric along the track with the current frame "
        "marked. Here the id switch: track 4 starts where track 3 ended."),
    new_code_cell("view = qw.TrackView(metrics, track_id=4, metric='box_jump')\nview"),
]

nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"}})
nbformat.write(nb, ROOT / "notebooks" / "video.ipynb")
print("wrote notebooks/video.ipynb")

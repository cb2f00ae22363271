"""Group-by in the Explorer, kernel side: the plain functions by hand, then the widget grouping
by an `annotator` attribute carried over from the annotation file."""
from __future__ import annotations

import json

import numpy as np
import pytest
import traitlets
from helpers import make_coco

import quality_widgets as qw
from quality_widgets.analysis import selection as sel


@pytest.fixture
def annotated(tmp_path):
    make_coco(tmp_path, n=6)
    data = json.loads((tmp_path / "instances.json").read_text())
    for i, ann in enumerate(data["annotations"]):
        ann["annotator"] = "alice" if i % 3 else "bob"
    (tmp_path / "instances.json").write_text(json.dumps(data))
    ds = qw.Dataset.from_coco(tmp_path / "images", tmp_path / "instances.json",
                              tmp_path / "predictions.json")
    return qw.compute_metrics(ds, metrics=["object_brightness", "box_area"], cache_dir=False,
                              progress=False, workers=1)


def test_explorer_groups_by_annotator(annotated):
    objects = annotated.objects
    assert "annotator" in objects
    explorer = qw.Explorer(annotated, level="object", metric="object_brightness",
                           group_by="annotator")
    assert "annotator" in [v for _, v in explorer.group_control.options]
    drawn = np.asarray(explorer.group_bars.bars.y)
    hist = explorer.histogram.histogram
    expected = sel.grouped_histogram(objects["object_brightness"], objects["annotator"],
                                     bins=hist.edges)
    np.testing.assert_array_equal(drawn, expected.counts)
    assert explorer.group_bars.bars.labels == expected.groups
    assert not explorer.histogram.bars.visible and explorer.group_bars.bars.visible

    explorer.select("object_brightness", 0.0, 0.3)
    counts = explorer.group_counts()
    chosen = objects.loc[explorer.selection, "annotator"].value_counts()
    for group in ("alice", "bob"):
        assert counts.loc[group, "selected"] == chosen.get(group, 0)
        assert counts.loc[group, "n"] == (objects["annotator"] == group).sum()
    assert "alice" in explorer.group_table.value

    explorer.histogram.bins = 10                     # regrouped on the new bins
    assert np.asarray(explorer.group_bars.bars.y).shape == (2, 10)
    explorer.group_by = "category"
    assert explorer.group_bars.bars.labels == sorted(objects["category"].unique().tolist(),
                                                     key=lambda c: (-(objects["category"]
                                                                      == c).sum(), c))
    explorer.group_by = ""
    assert explorer.histogram.bars.visible and not explorer.group_bars.bars.visible
    assert explorer.group_counts() is None and explorer.group_table.value == ""
    with pytest.raises(traitlets.TraitError, match="no column 'nope'"):
        explorer.group_by = "nope"


def test_group_names_are_escaped(annotated):
    annotated.objects["annotator"] = "<img src=x onerror=alert(1)>"
    explorer = qw.Explorer(annotated, level="object", group_by="annotator")
    assert "<img src=x" not in explorer.group_table.value
    assert "&lt;img" in explorer.group_table.value


def test_level_switch_drops_a_group_the_level_lacks(annotated):
    explorer = qw.Explorer(annotated, level="object", group_by="annotator")
    explorer.level = "image"
    assert explorer.group_by == "" and explorer.group_counts() is None

"""Group-by in the Explorer, kernel side: the plain functions by hand, then the widget grouping
by an `annotator` attribute carried over from the annotation file."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import traitlets

import quality_widgets as qw
from quality_widgets.analysis import selection as sel

from helpers import make_coco


def test_grouped_histogram_by_hand():
    values = [0.0, 0.5, 1.0, 1.5, 2.0, np.nan, 0.2]
    groups = ["a", "b", "a", "a", None, "a", ""]
    g = sel.grouped_histogram(values, groups, bins=2)
    assert g.groups == ["a", "(none)", "b"]                  # most frequent first
    assert g.edges.tolist() == [0.0, 1.0, 2.0]
    assert g.counts.tolist() == [[1, 2], [1, 1], [1, 0]]     # NaN of "a" left out
    assert g.n_missing.tolist() == [1, 0, 0]
    n = sel.grouped_histogram(values, groups, bins=[0.0, 1.0, 2.0], normalize=True)
    np.testing.assert_allclose(n.heights, [[1 / 3, 2 / 3], [0.5, 0.5], [1.0, 0.0]])
    # stacked counts add up to the plain histogram on the same bins
    np.testing.assert_array_equal(g.counts.sum(axis=0), sel.histogram(values, 2).counts)


def test_groups_beyond_the_limit_merge_into_other():
    labels = ["g%d" % i for i in range(10) for _ in range(10 - i)]
    g = sel.grouped_histogram(np.arange(len(labels)), labels, bins=3, max_groups=4)
    assert g.groups == ["g0", "g1", "g2", "(other)"]
    assert g.totals.tolist() == [10, 9, 8, sum(range(1, 8))]
    counts = sel.group_counts(labels, np.arange(len(labels)) % 2 == 0, max_groups=4)
    assert counts.loc["g0"].tolist() == [10, 5, 0.5]
    assert counts["n"].sum() == len(labels)


def test_categorical_columns():
    frame = pd.DataFrame({"category": ["a", "b"], "score": [0.1, 0.2], "file_name": ["x", "y"],
                          "crowd": [True, False], "segmentation": [[[1, 2]], None],
                          "annotator": ["ann", None]})
    assert sel.categorical_columns(frame) == ["category", "crowd", "annotator"]


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

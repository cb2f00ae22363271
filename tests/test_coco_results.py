"""Results files read column-wise (pyarrow) give the frame the ordinary parser gives."""
from __future__ import annotations

import json
import re
import warnings

import pandas as pd
import pytest

import quality_widgets as qw
from quality_widgets.data import coco


def both_ways(path, dataset, monkeypatch):
    """(column-wise frame, ordinary frame, warnings of each) for one results file."""
    out = []
    for columnar in (True, False):
        if not columnar:
            monkeypatch.setattr(coco, "_results_columns", lambda file: None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = coco.read_predictions(path, dataset)
        # a score written -1 reads as the float -1.0 column-wise: the same value
        out.append((frame, sorted(re.sub(r"(\d)\.0\)", r"\1)", str(w.message))
                                  for w in caught)))
    return out


def test_coco128_predictions_column_wise_equal_the_ordinary_parse(coco128, monkeypatch):
    ds = qw.Dataset.from_coco(None, coco128 / "instances.json")
    path = coco128 / "predictions" / "yolo-fastest-1.1-xl.json"
    assert coco._results_columns(path) is not None          # the fast path is taken
    (fast, w_fast), (slow, w_slow) = both_ways(path, ds, monkeypatch)
    assert len(fast) == 8035
    pd.testing.assert_frame_equal(fast, slow)
    assert w_fast == w_slow


@pytest.mark.parametrize("case", ["pretty", "braces_in_strings", "bad_rows", "nan", "missing",
                                  "short_bbox", "float_ids", "not_a_list", "scores"])
def test_odd_files_give_the_same_frame_and_warnings(case, tmp_path, monkeypatch):
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 80} for i in (1, 2)]
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    (tmp_path / "instances.json").write_text(json.dumps(
        {"images": images, "annotations": [], "categories": cats}))
    ds = qw.Dataset.from_coco(None, tmp_path / "instances.json")
    rows = [{"image_id": 1 + k % 2, "category_id": 1 + k % 2, "bbox": [k, 2.5, 10, 20.25],
             "score": round(0.1 * (k % 10), 3)} for k in range(40)]
    text = None
    if case == "pretty":
        text = json.dumps(rows, indent=2)
    elif case == "braces_in_strings":
        for r in rows:
            r["note"] = 'x}, {"[y\\"'
    elif case == "bad_rows":
        rows[3]["image_id"] = 99                # unknown image
        rows[4]["category_id"] = 7              # unknown category
        rows[5]["bbox"] = [1, 2, 0, 5]          # zero width
        rows[6]["score"] = -1
    elif case == "nan":
        text = json.dumps(rows).replace('"score": 0.3', '"score": NaN', 1)
    elif case == "missing":
        del rows[2]["score"]
    elif case == "short_bbox":
        rows[1]["bbox"] = [1, 2, 3]
    elif case == "float_ids":
        rows[0]["image_id"] = 1.0
    elif case == "not_a_list":
        text = json.dumps({"x": rows})
    elif case == "scores":
        for r in rows:
            r["scores"] = [0.2, 0.8]
    path = tmp_path / "results.json"
    path.write_text(text if text is not None else json.dumps(rows))
    if case == "not_a_list":
        with pytest.raises(qw.DatasetError):
            coco.read_predictions(path, ds)
        return
    (fast, w_fast), (slow, w_slow) = both_ways(path, ds, monkeypatch)
    pd.testing.assert_frame_equal(fast, slow)
    assert w_fast == w_slow
    if case == "bad_rows":
        assert len(fast) == 36 and len(w_fast) == 4

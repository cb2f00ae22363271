"""The one box IoU (quality_widgets.data.boxes) against pycocotools' maskUtils.iou."""
import numpy as np
import pytest

from quality_widgets.data.boxes import box_iou, box_iou_matrix

mask_utils = pytest.importorskip("pycocotools.mask")


def _boxes(rng, n):
    boxes = rng.uniform(0, 60, (n, 4))
    boxes[0, 2] = 0.0                      # no area
    boxes[1] = boxes[2]                    # identical boxes
    boxes[3] = [500, 500, 10, 10]          # far from everything
    boxes[4] = [boxes[5, 0] + boxes[5, 2], boxes[5, 1], 5, 5]   # touching edge: no overlap
    return boxes


@pytest.mark.parametrize("crowd", [False, True])
def test_all_pairs_equal_pycocotools_bit_for_bit(crowd):
    rng = np.random.default_rng(3)
    a, b = _boxes(rng, 12), _boxes(rng, 9)
    expected = np.asarray(mask_utils.iou(a.tolist(), b.tolist(), [int(crowd)] * len(b)))
    got = np.array([[box_iou(a[i:i + 1], b[j:j + 1], np.array([crowd]))[0]
                     for j in range(len(b))] for i in range(len(a))])
    assert np.array_equal(got, expected)
    if not crowd:
        assert np.array_equal(box_iou_matrix(a, b), expected)


def test_self_pairs_have_a_zero_diagonal_and_are_symmetric():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    iou = box_iou_matrix(boxes)
    # [0]-[1]: intersection 5 x 10 = 50, union 150; [0]-[2]: the same box
    np.testing.assert_array_equal(iou, [[0, 50 / 150, 1], [50 / 150, 0, 50 / 150],
                                        [1, 50 / 150, 0]])


def test_crowd_union_is_the_detection_area():
    # a 10 x 10 detection inside a 100 x 100 crowd region: IoU 1 against the crowd, not 0.01
    dt = np.array([[20.0, 20, 10, 10]])
    gt = np.array([[0.0, 0, 100, 100]])
    assert box_iou(dt, gt, np.array([True]))[0] == 1.0
    assert box_iou(dt, gt, np.array([False]))[0] == pytest.approx(0.01)
    assert box_iou(dt, gt)[0] == pytest.approx(0.01)

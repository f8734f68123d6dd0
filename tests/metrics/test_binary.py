import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra.numpy import arrays

from lsbench.metrics.binary import (
    binary_metrics,
    binary_scores,
    f_measure,
    iou,
    pooled_scores,
    precision_recall,
)
from lsbench.types import Prediction, Sample


def test_hand_computed_4x4():
    s = np.zeros((4, 4), bool)
    g = np.zeros((4, 4), bool)
    s[0, :3] = True  # 3 predicted
    g[0, 1:] = True  # 3 true
    g[1, 0] = True  # 4 true in all
    sc = binary_scores(s, g)
    assert sc["precision"] == pytest.approx(2 / 3)
    assert sc["recall"] == pytest.approx(2 / 4)
    assert sc["f_measure"] == pytest.approx(2 * 2 / (3 + 4))
    assert sc["iou"] == pytest.approx(2 / 5)
    assert precision_recall(s, g) == pytest.approx((2 / 3, 2 / 4))  # in that order (swapping the masks swaps them)
    ignore = np.zeros((4, 4), bool)
    ignore[1, 0] = True  # the true pixel nothing predicted: recall 2 of 3
    assert precision_recall(s, g, ignore) == pytest.approx((2 / 3, 2 / 3))


def test_empty_mask_conventions():
    e = np.zeros((3, 3), bool)
    full = np.ones((3, 3), bool)
    assert binary_scores(e, e) == {"precision": 1.0, "recall": 1.0, "f_measure": 1.0, "iou": 1.0}
    assert f_measure(e, full) == 0.0 and f_measure(full, e) == 0.0
    assert f_measure(full, full) == 1.0


def test_ignore_pixels_are_left_out():
    s = np.array([[1, 1, 0]], bool)
    g = np.array([[1, 0, 0]], bool)
    ignore = np.array([[0, 1, 0]], bool)
    assert f_measure(s, g) < 1.0
    assert f_measure(s, g, ignore) == 1.0


masks = arrays(bool, (6, 7))


@settings(max_examples=200, deadline=None)
@given(masks, masks)
def test_f_equals_dice_and_iou_relation_and_symmetry(s, g):
    f = f_measure(s, g)
    j = iou(s, g)
    if s.any() or g.any():
        if s.any() and g.any():
            assert f == pytest.approx(2 * (s & g).sum() / (s.sum() + g.sum()))
        assert f == pytest.approx(2 * j / (1 + j))
    assert f == pytest.approx(f_measure(g, s))
    assert 0.0 <= j <= f <= 1.0


def test_pooled_scores():
    a = np.array([[1, 0]], bool)
    b = np.array([[1, 1]], bool)
    assert pooled_scores([(a, a), (b, a)])["precision"] == pytest.approx(2 / 3)


def test_binary_metrics_per_ground_truth():
    img = np.zeros((2, 2), np.float32)
    gt = np.array([[1, 0], [0, 0]], bool)
    sample = Sample("s", img, mask=gt, gts={"gt1": gt, "gt2": ~gt})
    out = binary_metrics(Prediction(mask=gt), sample)
    assert out["f_measure"] == 1.0 and out["f_measure_gt1"] == 1.0 and out["f_measure_gt2"] == 0.0
    with pytest.raises(ValueError, match="shape"):
        binary_metrics(Prediction(mask=np.zeros((3, 3))), sample)
    with pytest.raises(ValueError, match="shape"):
        binary_scores(np.zeros((2, 2)), np.zeros((2, 3)))

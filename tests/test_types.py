import numpy as np
import pytest

from lsbench.types import Instances, LevelSetResult, Prediction, Sample, masks_to_boxes


def test_sample_validates_shapes():
    img = np.zeros((4, 5), np.float32)
    s = Sample("a", img, mask=np.ones((4, 5), int), gts={"gt1": np.zeros((4, 5))})
    assert s.mask.dtype == bool and s.gts["gt1"].dtype == bool
    assert s.shape == (4, 5)
    assert set(s.ground_truths()) == {"gt", "gt1"}
    with pytest.raises(ValueError, match="mask has shape"):
        Sample("b", img, mask=np.ones((5, 4)))
    with pytest.raises(ValueError, match="image must be"):
        Sample("c", np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="init has shape"):
        Sample("d", img, init=np.ones((3, 3)))


def test_prediction_needs_exactly_one_target():
    with pytest.raises(ValueError, match="exactly one"):
        Prediction()
    m = np.zeros((1, 3, 3), bool)
    with pytest.raises(ValueError, match="exactly one"):
        Prediction(mask=np.zeros((3, 3)), instances=Instances(m, [1]))


def test_instances_boxes_from_masks():
    m = np.zeros((2, 6, 8), bool)
    m[0, 1:3, 2:5] = True
    boxes = masks_to_boxes(m)
    np.testing.assert_array_equal(boxes[0], [2, 1, 5, 3])
    np.testing.assert_array_equal(boxes[1], [0, 0, 0, 0])
    inst = Instances(m, [1, 2], scores=[0.5, 0.25])
    assert len(inst) == 2 and inst.boxes.shape == (2, 4)
    with pytest.raises(ValueError, match="labels"):
        Instances(m, [1])


def test_levelset_result_fields():
    r = LevelSetResult(mask=np.ones((2, 2), bool), phi=np.ones((2, 2)), energies=np.array([1.0]), n_iter=1,
                       converged=True)
    assert r.extras == {}

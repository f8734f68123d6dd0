"""RoI warping: equal to RoIAlign inside the map, and differentiable in the box coordinates (§5.6)."""

import pytest
import torch
from torch.autograd import gradcheck
from torchvision.ops import MultiScaleRoIAlign, roi_align

from lsbench.crls.roi_warp import IMPLS, RoIWarp, infer_scale, roi_warp


def _ramp(h=16, w=20, dtype=torch.float64):
    yy, xx = torch.meshgrid(torch.arange(h, dtype=dtype), torch.arange(w, dtype=dtype), indexing="ij")
    return (xx + 2 * yy)[None, None]  # f = x + 2y


ROIS = torch.tensor([[1, 20.3, 16.1, 90.7, 70.2], [0, 33.5, 41.2, 60.9, 99.4], [1, 3.2, 4.6, 60.1, 29.8]],
                    dtype=torch.float64)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("sampling_ratio", [1, 2, 3])
def test_equals_roi_align_inside_the_map(impl, sampling_ratio):
    f = torch.randn(2, 3, 16, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ref = roi_align(f, ROIS, 7, 1 / 8, sampling_ratio=sampling_ratio, aligned=True)
    out = roi_warp(f, ROIS.clone().requires_grad_(), 7, 1 / 8, sampling_ratio, impl)  # the differentiable path
    assert out.shape == (3, 3, 7, 7)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    # per-image lists give the same RoIs, in image order
    per_image = [ROIS[ROIS[:, 0] == b, 1:].clone().requires_grad_() for b in range(2)]
    torch.testing.assert_close(roi_warp(f, per_image, 7, 1 / 8, sampling_ratio, impl), ref[[1, 0, 2]], atol=1e-5, rtol=0)


def test_without_box_gradients_the_fast_path_gives_the_same_warp():
    """Boxes that need no gradient go through RoIAlign's kernel: the same numbers, features still
    get their gradient; a box reaching beyond the map keeps the warp's border replication."""
    f = torch.randn(2, 3, 16, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    exact = roi_warp(f, ROIS.clone().requires_grad_(), 7, 1 / 8, 2).detach()
    feats = f.clone().requires_grad_()
    fast = roi_warp(feats, ROIS, 7, 1 / 8, 2)
    torch.testing.assert_close(fast, exact, atol=1e-12, rtol=0)
    fast.sum().backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0
    with torch.no_grad():
        torch.testing.assert_close(roi_warp(f, ROIS.clone().requires_grad_(), 7, 1 / 8, 2), exact, atol=1e-12, rtol=0)
    outside = torch.tensor([[0, -40.0, 8.0, 60.0, 200.0]], dtype=torch.float64)
    torch.testing.assert_close(roi_warp(f, outside, 5, 1 / 8, 2),
                               roi_warp(f, outside, 5, 1 / 8, 2, "grid_sample"), atol=1e-12, rtol=0)


@pytest.mark.parametrize("impl", IMPLS)
def test_gradient_reaches_the_boxes_and_matches_finite_differences(impl):
    f = _ramp().repeat(2, 2, 1, 1)
    boxes = ROIS[:, 1:].clone().requires_grad_()
    roi_warp(f, torch.cat([ROIS[:, :1], boxes], 1), 5, 1 / 8, 2, impl).sum().backward()
    assert boxes.grad is not None and boxes.grad.abs().min() > 0
    # on the ramp f = x + 2y (2 channels, 5 x 5 bins) every bin moves by s/2 per unit of x1 or x2 and by s
    # per unit of y1 or y2 (mean over the box of d(position)/d(corner) = 1/2), s = 1/8
    torch.testing.assert_close(boxes.grad, torch.tensor([[1, 2, 1, 2]] * 3, dtype=torch.float64) * 25 * 2 / 16,
                               atol=1e-9, rtol=0)
    feats = torch.randn(2, 2, 16, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert gradcheck(lambda b, x: roi_warp(x, torch.cat([ROIS[:, :1], b], 1), 5, 1 / 8, 2, impl),
                     (ROIS[:, 1:].clone().requires_grad_(), feats.requires_grad_()))


def test_roi_align_gives_no_gradient_to_the_boxes():
    """Why the warp exists: torchvision's RoIAlign back-propagates to the features only."""
    f = _ramp().requires_grad_()
    rois = torch.tensor([[0, 20.0, 16.0, 90.0, 70.0]], dtype=torch.float64, requires_grad=True)
    roi_align(f, rois, 5, 1 / 8, 2, aligned=True).sum().backward()
    assert f.grad is not None
    assert rois.grad is None or float(rois.grad.abs().sum()) == 0.0


def test_module_drops_in_for_multiscale_roi_align():
    feats = {"0": torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(2))}
    boxes = [ROIS[ROIS[:, 0] == b, 1:].float() for b in range(2)]
    shapes = [(128, 128), (120, 128)]
    ours = RoIWarp("0", 7, 2)(feats, boxes, shapes)
    ref = MultiScaleRoIAlign(["0"], 7, 2)(feats, boxes, shapes)
    assert infer_scale((16, 16), shapes) == 1 / 8
    # torchvision's pooler uses aligned=False (a half-pixel shift); the warp is the aligned variant
    torch.testing.assert_close(ours, roi_align(feats["0"], [b for b in boxes], 7, 1 / 8, 2, aligned=True))
    assert ours.shape == ref.shape
    empty = RoIWarp("0", 7)(feats, [torch.zeros(0, 4), torch.zeros(0, 4)], shapes)
    assert empty.shape == (0, 4, 7, 7)


def test_bad_arguments_are_named():
    f = torch.zeros(1, 2, 8, 8)
    with pytest.raises(ValueError, match="features must have shape"):
        roi_warp(f[0], torch.zeros(0, 5), 7, 0.125)
    with pytest.raises(ValueError, match=r"shape \(K, 5\)"):
        roi_warp(f, torch.zeros(3, 4), 7, 0.125)
    with pytest.raises(ValueError, match="batch indices"):
        roi_warp(f, torch.tensor([[3.0, 0, 0, 4, 4]]), 7, 0.125)
    with pytest.raises(ValueError, match="sampling_ratio"):
        roi_warp(f, torch.zeros(0, 5), 7, 0.125, 0)
    with pytest.raises(ValueError, match="impl must be one of"):
        roi_warp(f, torch.zeros(0, 5), 7, 0.125, 1, "nearest")
    with pytest.raises(KeyError, match="feature map '1'"):
        RoIWarp("1")({"0": f}, [torch.zeros(0, 4)], [(64, 64)])

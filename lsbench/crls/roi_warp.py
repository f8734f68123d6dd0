"""Differentiable RoI warping: bilinear crops whose gradient reaches the box coordinates.

MNC's ``ROIWarping`` layer (and CRLS's, chapter §4, the warp ``I(b_i(Theta))`` that "computes the
gradient w.r.t. predicted box positions") resamples the feature map inside each box onto a fixed
``m x m`` grid by bilinear interpolation, so the loss is differentiable in the box coordinates.
``torchvision.ops.roi_align`` is not: its autograd backward returns no gradient for the boxes
(``reference/learned-methods.md`` §2.2). This module builds the warp from
:func:`torch.nn.functional.affine_grid` and :func:`torch.nn.functional.grid_sample`, which are
differentiable in the sampling grid and therefore in the boxes, and, equivalently and faster on
a CPU, from two matrix products with bilinear (tent) weight matrices (``impl="separable"``).

For a feature map of size ``(Hf, Wf)`` at scale ``s`` (feature pixels per image pixel) and a box
``(x1, y1, x2, y2)`` in image pixels, the affine map from the output grid ``[-1, 1]^2`` to the
feature map's normalised coordinates (``align_corners=False``) is::

    theta = [[s (x2 - x1) / Wf, 0, s (x1 + x2) / Wf - 1],
             [0, s (y2 - y1) / Hf, s (y1 + y2) / Hf - 1]]

so output bin ``j`` samples the feature map at ``s x1 + (j + 1/2) s (x2 - x1) / m - 1/2`` in
pixel-centre coordinates: exactly the bin centres of ``roi_align(..., aligned=True)``. With
``sampling_ratio = r`` the grid is ``r m x r m`` and each output bin averages its ``r x r``
samples, as ``roi_align(..., sampling_ratio=r, aligned=True)`` does; for boxes inside the map
the two agree to float precision (tested). Outside the map this warp replicates the border
(``padding_mode="border"``) where RoIAlign clamps coordinates in ``[-1, 0]`` and returns 0
beyond; boxes are clipped to the image before pooling, so only the half-pixel margin differs.

References
----------
.. [1] J. Dai, K. He, J. Sun, "Instance-aware semantic segmentation via multi-task network
   cascades", CVPR 2016, doi:10.1109/CVPR.2016.343 (differentiable RoI warping).
.. [2] M. Jaderberg, K. Simonyan, A. Zisserman, K. Kavukcuoglu, "Spatial transformer networks",
   NeurIPS 2015, arXiv:1506.02025 (bilinear sampling differentiable in the grid).
.. [3] T. H. N. Le, K. Luu, C. Zhu, M. Savvides, "Recurrent level set networks for instance
   segmentation", IntechOpen, 2019, doi:10.5772/intechopen.84675 (§4, the warp of Eq. (33)).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from lsbench.levelset.validate import check_positive_int

__all__ = ["IMPLS", "RoIWarp", "infer_scale", "roi_warp"]


IMPLS = ("separable", "grid_sample")


def roi_warp(features: torch.Tensor, boxes: torch.Tensor | list[torch.Tensor], output_size: int | tuple[int, int],
             spatial_scale: float, sampling_ratio: int = 1, impl: str = "separable") -> torch.Tensor:
    """Bilinearly warp the feature map inside each box to ``output_size`` (differentiable in the boxes).

    Parameters
    ----------
    features : Tensor, shape (B, C, Hf, Wf)
    boxes : Tensor (K, 5) or list of B Tensors (K_b, 4)
        ``(batch_index, x1, y1, x2, y2)`` rows, or one ``(x1, y1, x2, y2)`` tensor per image,
        in image pixels (as ``torchvision.ops.roi_align`` takes them).
    output_size : int or (int, int)
        ``m`` or ``(m_h, m_w)``.
    spatial_scale : float
        Feature pixels per image pixel (``1 / stride``).
    sampling_ratio : int
        Samples per output bin along each axis, averaged (``>= 1``).
    impl : {"separable", "grid_sample"}
        Two exact implementations of the same map. ``"grid_sample"``: ``affine_grid`` with the
        module docstring's ``theta``, then ``grid_sample`` (``padding_mode="border"``).
        ``"separable"`` (default, 2-4x faster on a CPU): bilinear sampling of an axis-aligned box
        is separable, ``out_k = A_k F B_k^T`` with ``A_k`` (m_h x Hf) and ``B_k`` (m_w x Wf) the
        tent weights ``max(0, 1 - |p - q|)`` of the clamped sample positions ``p`` (averaged over
        the ``sampling_ratio`` samples of a bin), so the warp is two matrix products per image,
        and its gradient to the boxes flows through the tent weights. When no gradient is asked
        of the boxes and they lie inside the map, it calls ``torchvision.ops.roi_align``, which
        computes the same numbers (see ``_align_suffices``).

    Returns
    -------
    Tensor, shape (K, C, m_h, m_w)
        ``features``' dtype, RoIs in the order given; gradients flow to ``features`` and to the
        box coordinates.

    Examples
    --------
    A 4 x 4 map and the box covering all of it, warped to 2 x 2 (one sample per bin, at each
    bin's centre); inside the map it equals ``torchvision.ops.roi_align(..., aligned=True)``:

    >>> import torch
    >>> from torchvision.ops import roi_align
    >>> from lsbench.crls.roi_warp import roi_warp
    >>> features = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> boxes = [torch.tensor([[0.0, 0.0, 4.0, 4.0]])]
    >>> roi_warp(features, boxes, 2, spatial_scale=1.0)
    tensor([[[[ 2.5000,  4.5000],
              [10.5000, 12.5000]]]])
    >>> bool(torch.equal(roi_warp(features, boxes, 2, 1.0), roi_align(features, boxes, 2, 1.0, 1, aligned=True)))
    True
    """
    if features.dim() != 4:
        raise ValueError(f"features must have shape (B, C, H, W), got {tuple(features.shape)}")
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if oh < 1 or ow < 1:
        raise ValueError(f"output_size must be positive, got {output_size!r}")
    check_positive_int("sampling_ratio", sampling_ratio)
    if not spatial_scale > 0:
        raise ValueError(f"spatial_scale must be positive, got {spatial_scale!r}")
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(map(repr, IMPLS))}; got {impl!r}")
    per_image = _per_image(boxes, features)
    if impl == "separable" and _align_suffices(per_image.boxes, features, spatial_scale):
        out = roi_align(features, per_image.boxes, (oh, ow), spatial_scale, sampling_ratio, aligned=True)
        return out if per_image.order is None else out[per_image.order]
    warp = _warp_separable if impl == "separable" else _warp_grid_sample
    parts = [warp(features[b], bx, (oh, ow), spatial_scale, sampling_ratio) if len(bx)
             else features.new_zeros((0, features.shape[1], oh, ow)) for b, bx in enumerate(per_image.boxes)]
    out = torch.cat(parts) if parts else features.new_zeros((0, features.shape[1], oh, ow))
    return out if per_image.order is None else out[per_image.order]


def _align_suffices(boxes: list[torch.Tensor], features: torch.Tensor, scale: float) -> bool:
    """True when ``roi_align(aligned=True)`` computes this warp exactly: no gradient is asked of the
    boxes (inference, or ``detach_proposals=True``) and every sample lies where RoIAlign clamps
    rather than zeroes (``[-1, H]`` x ``[-1, W]`` in pixel-centre coordinates, which holds for boxes
    clipped to the image). torchvision's C++ kernel then replaces the two dense matrix products
    (measured: CRLS inference on shapes spent half its time in them)."""
    if torch.is_grad_enabled() and any(b.requires_grad for b in boxes):
        return False
    h, w = features.shape[-2:]
    for b in boxes:
        if len(b):
            lo, hi = b.detach().amin(0) * scale - 0.5, b.detach().amax(0) * scale - 0.5
            if float(lo[0]) < -1 or float(lo[1]) < -1 or float(hi[2]) > w or float(hi[3]) > h:
                return False
    return True


class _PerImage:
    """Boxes grouped by image, and the permutation back to the caller's RoI order (None: already in order)."""

    def __init__(self, boxes: list[torch.Tensor], order: torch.Tensor | None) -> None:
        self.boxes, self.order = boxes, order


def _per_image(boxes: torch.Tensor | list[torch.Tensor], features: torch.Tensor) -> _PerImage:
    n_images = features.shape[0]
    if isinstance(boxes, (list, tuple)):
        if len(boxes) != n_images:
            raise ValueError(f"got {len(boxes)} box tensors for a batch of {n_images} feature maps")
        for i, b in enumerate(boxes):
            if b.dim() != 2 or b.shape[1] != 4:
                raise ValueError(f"boxes[{i}] must have shape (K, 4), got {tuple(b.shape)}")
        return _PerImage([b.to(features.dtype) for b in boxes], None)
    if boxes.dim() != 2 or boxes.shape[1] != 5:
        raise ValueError(f"boxes as one tensor must have shape (K, 5) (batch index, x1, y1, x2, y2), "
                         f"got {tuple(boxes.shape)}")
    idx = boxes[:, 0].detach().round().long()
    if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= n_images):
        raise ValueError(f"box batch indices must be in [0, {n_images}), got {sorted(set(idx.tolist()))[:5]}")
    order = torch.argsort(idx, stable=True)
    counts = torch.bincount(idx, minlength=n_images).tolist()
    grouped = list(boxes[order, 1:].to(features.dtype).split(counts))
    return _PerImage(grouped, torch.argsort(order))


def _sample_positions(lo: torch.Tensor, hi: torch.Tensor, m: int, sr: int) -> torch.Tensor:
    """Sample positions (K, m, sr) in pixel-centre coordinates of bins of ``[lo, hi]`` (feature px)."""
    frac = (torch.arange(m * sr, dtype=lo.dtype, device=lo.device) + 0.5) / (m * sr)
    return (lo[:, None] + frac * (hi - lo)[:, None] - 0.5).view(-1, m, sr)


def _tent_weights(pos: torch.Tensor, n: int) -> torch.Tensor:
    """Bilinear weights (K, m, n) of positions (K, m, sr) clamped to ``[0, n - 1]``, averaged over sr."""
    grid = torch.arange(n, dtype=pos.dtype, device=pos.device)
    return torch.relu(1.0 - (pos.clamp(0, n - 1).unsqueeze(-1) - grid).abs()).mean(2)


def _warp_separable(feature: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int], scale: float,
                    sr: int) -> torch.Tensor:
    """``A_k F B_k^T`` for one image's feature map (C, H, W) and boxes (K, 4)."""
    (oh, ow), (c, h, w), k = size, feature.shape, boxes.shape[0]
    x1, y1, x2, y2 = (boxes[:, i] * scale for i in range(4))
    wx = _tent_weights(_sample_positions(x1, x2, ow, sr), w)  # (K, ow, W)
    wy = _tent_weights(_sample_positions(y1, y2, oh, sr), h)  # (K, oh, H)
    t = feature.reshape(c * h, w) @ wx.reshape(k * ow, w).T     # (C*H, K*ow)
    t = t.view(c, h, k, ow).permute(2, 0, 3, 1).reshape(k, c * ow, h)
    out = t @ wy.transpose(1, 2)                                 # (K, C*ow, oh)
    return out.view(k, c, ow, oh).transpose(2, 3)


def _warp_grid_sample(feature: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int], scale: float,
                      sr: int) -> torch.Tensor:
    """``affine_grid`` + ``grid_sample`` for one image (the RoIs' grids stacked into one tall grid)."""
    (oh, ow), (c, h, w), k = size, feature.shape, boxes.shape[0]
    x1, y1, x2, y2 = (boxes[:, i] * scale for i in range(4))
    zero = torch.zeros_like(x1)
    theta = torch.stack([
        torch.stack([(x2 - x1) / w, zero, (x1 + x2) / w - 1.0], dim=1),
        torch.stack([zero, (y2 - y1) / h, (y1 + y2) / h - 1.0], dim=1),
    ], dim=1)
    sh, sw = oh * sr, ow * sr
    grid = F.affine_grid(theta, [k, c, sh, sw], align_corners=False).reshape(1, k * sh, sw, 2)
    out = F.grid_sample(feature[None], grid, mode="bilinear", padding_mode="border", align_corners=False)
    out = out.view(c, k, sh, sw).transpose(0, 1)
    return F.avg_pool2d(out, sr) if sr > 1 else out


def infer_scale(feature_size: tuple[int, int], image_shapes: list[tuple[int, int]]) -> float:
    """The feature map's scale ``2**-k`` from its size and the images', as torchvision's poolers infer it."""
    if not image_shapes:
        raise ValueError("image_shapes must not be empty")
    max_h = max(int(s[0]) for s in image_shapes)
    return 2.0 ** round(math.log2(float(feature_size[0]) / float(max_h)))


class RoIWarp(nn.Module):
    """:func:`roi_warp` with the interface of ``torchvision.ops.MultiScaleRoIAlign`` (one level).

    ``forward(features: dict[str, Tensor], boxes: list[Tensor], image_shapes)`` pools from
    ``features[featmap_name]`` at the scale inferred from the image sizes, so it drops in as
    ``box_roi_pool`` of a torchvision R-CNN.

    Parameters
    ----------
    featmap_name : str
        The backbone output to pool from (``"0"`` for a backbone returning one tensor).
    output_size : int
    sampling_ratio : int
    impl : {"separable", "grid_sample"}
    """

    def __init__(self, featmap_name: str = "0", output_size: int = 14, sampling_ratio: int = 1,
                 impl: str = "separable") -> None:
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {', '.join(map(repr, IMPLS))}; got {impl!r}")
        self.featmap_name = str(featmap_name)
        self.output_size = int(output_size)
        self.sampling_ratio = int(sampling_ratio)
        self.impl = impl

    def forward(self, features: dict[str, torch.Tensor], boxes: list[torch.Tensor],
                image_shapes: list[tuple[int, int]]) -> torch.Tensor:
        if self.featmap_name not in features:
            raise KeyError(f"RoIWarp pools from feature map {self.featmap_name!r}; the backbone gave "
                           f"{', '.join(map(repr, features))}")
        feat = features[self.featmap_name]
        scale = infer_scale(tuple(feat.shape[-2:]), image_shapes)
        return roi_warp(feat, boxes, self.output_size, scale, self.sampling_ratio, self.impl)

    def extra_repr(self) -> str:
        return (f"featmap_name={self.featmap_name!r}, output_size={self.output_size}, "
                f"sampling_ratio={self.sampling_ratio}, impl={self.impl!r}")

"""From :class:`~lsbench.types.Sample` to the tensors the learned models eat, and back.

One preprocessing path serves training and inference, so both see the same numbers:

1. colour images become grey (BT.601 luma, :func:`lsbench.levelset.ops.to_gray`), as for the
   classic methods; anything but ``H x W``, ``H x W x 1``, ``H x W x 3`` or ``H x W x 4`` is
   rejected with a message naming the shape;
2. each image is min-max rescaled to ``[0, 1]`` (Chan–Vese's normalisation; a flat image
   becomes zeros);
3. the image is resized to the model's grid (``size``; the chapter's 64 x 64) with
   antialiased bilinear interpolation, or kept at its own size (``size=None``, ``rls-conv``);
4. a predicted object probability is resized back to the sample's size (bilinear) and
   thresholded at 0.5, so the mask is scored at the resolution of the ground truth.

Ground-truth masks are resized the same way as probabilities (bilinear on ``{0, 1}``, then
``>= 0.5``); a sample's initial region (``init="sample"``) likewise, then mapped to phi_0 = +-1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from lsbench.levelset.ops import to_gray
from lsbench.types import Sample

__all__ = ["image_tensor", "mask_tensor", "phi0_tensor", "resize_maps", "restore_masks"]


def _gray01(image: np.ndarray, where: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{where}: image must be numeric, got dtype {arr.dtype}")
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))):
        raise ValueError(f"{where}: image must be H x W (grey) or H x W x 1/3/4 (colour), got shape {arr.shape}")
    if min(arr.shape[:2]) < 3:
        raise ValueError(f"{where}: image must be at least 3 x 3 pixels, got shape {arr.shape}")
    grey = to_gray(arr)
    if not np.all(np.isfinite(grey)):  # in the input's type: 1e308 is finite, only float32 would overflow
        raise ValueError(f"{where}: image contains NaN or infinite pixels")
    scale = float(np.abs(grey).max()) if grey.size else 0.0
    if scale > float(np.finfo(np.float32).max) / 4:  # beyond float32 (or its range would be): bring into [-1, 1] first
        grey = np.asarray(grey, dtype=np.float64) / scale
    grey = np.asarray(grey, dtype=np.float32)
    grey = grey - grey.min()
    top = grey.max()
    return grey / top if top > 0 else grey


def resize_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bilinear resize of ``(B, H, W)`` maps to ``size`` (a no-op at the same size)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    out = F.interpolate(maps.unsqueeze(1), size=tuple(size), mode="bilinear", align_corners=False,
                        antialias=True)
    return out.squeeze(1)


def image_tensor(samples: Sequence[Sample], size: int | None, device: torch.device | str = "cpu") -> torch.Tensor:
    """Grey, ``[0, 1]``-rescaled images ``(B, S, S)`` (``size=None``: the samples' common size)."""
    if not samples:
        raise ValueError("no samples given")
    greys = [_gray01(s.image, f"sample {s.id!r}") for s in samples]
    if size is None:
        shapes = {g.shape for g in greys}
        if len(shapes) != 1:
            raise ValueError(f"samples of different sizes {sorted(shapes)} cannot share a native-size batch")
        return torch.from_numpy(np.stack(greys)).to(device)
    return torch.cat([resize_maps(torch.from_numpy(g)[None].to(device), (size, size)) for g in greys])


def _mask_to_grid(mask: np.ndarray, size: int | None, device: torch.device | str) -> torch.Tensor:
    m = torch.from_numpy(np.asarray(mask, dtype=np.float32))[None].to(device)
    if size is not None:
        m = resize_maps(m, (size, size))
    return m[0] >= 0.5


def mask_tensor(samples: Sequence[Sample], size: int | None, device: torch.device | str = "cpu") -> torch.Tensor:
    """Ground-truth masks as class indices ``(B, S, S)`` int64 (1 = object)."""
    out = []
    for s in samples:
        if s.mask is None:
            raise ValueError(f"sample {s.id!r} has no ground-truth mask; the learned methods train on "
                             "single-object datasets")
        out.append(_mask_to_grid(s.mask, size, device))
    return torch.stack(out).long()


def phi0_tensor(samples: Sequence[Sample], size: int | None, fallback: np.ndarray | None,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """phi_0 = +1 in each sample's initial region and -1 outside, ``(B, S, S)`` float32.

    A sample without an initial region gets ``fallback`` (a phi_0 preset already on the grid);
    without a fallback it is an error naming the sample.
    """
    out = []
    for s in samples:
        if s.init is not None:
            inside = _mask_to_grid(s.init, size, device)
            out.append(torch.where(inside, 1.0, -1.0))
        elif fallback is not None:
            out.append(torch.as_tensor(fallback, dtype=torch.float32, device=device))
        else:
            raise ValueError(f"sample {s.id!r} has no initial region (Sample.init) for init='sample'")
    return torch.stack(out).float()


def restore_masks(prob: torch.Tensor, shapes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """Object probabilities ``(B, S, S)`` -> bool masks at each sample's own ``(H, W)``."""
    masks = []
    for p, shape in zip(prob, shapes, strict=True):
        p = p[None]
        if tuple(p.shape[-2:]) != tuple(shape):
            p = F.interpolate(p[None], size=tuple(shape), mode="bilinear", align_corners=False)[0]
        masks.append((p[0] >= 0.5).cpu().numpy())
    return masks

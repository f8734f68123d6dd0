"""The linear maps of the learned models: dense ``N x N`` matrices or small convolutions.

A map takes ``(B, H, W)`` images to ``(B, m, H, W)`` stacks (``m`` output maps at once, so that
e.g. ``U_z, U_r, U_h`` are one matrix multiply). :class:`DenseMap` is the chapter's layer: a
fully connected ``N -> m N`` matrix on the flattened image (``N = H W``), so the grid size is
fixed. :class:`ConvMap` replaces the matrix by a ``k x k`` convolution with edge-replicating
(zero-flux) padding, which runs at any size with ``m k^2`` weights.

Both are affine, ``M(v) = A v + b``, and expose the linear part :meth:`linear` and the bias
:meth:`bias_map` separately: :class:`lsbench.learned.rls.InputForce` uses that to precompute
``A I^2`` and ``A I`` once per image instead of applying ``A`` to ``(I - c)^2`` at every step.

Initialisation follows the official RLS code (``reference/learned-methods.md`` §1.2): weights
uniform in ``+-sqrt(1/fan_in)``, biases zero.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MAP_KINDS", "ConvMap", "DenseMap", "make_map"]

#: the kinds of :func:`make_map`
MAP_KINDS = ("dense", "conv")


class DenseMap(nn.Module):
    """``v -> A v + b`` with ``A`` an ``(m N) x N`` matrix on the flattened ``H x W`` grid."""

    def __init__(self, height: int, width: int, out_maps: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.height, self.width, self.out_maps = height, width, out_maps
        n = height * width
        self.weight = nn.Parameter(torch.empty(out_maps * n, n))
        self.bias = nn.Parameter(torch.zeros(out_maps * n)) if bias else None
        bound = math.sqrt(1.0 / n)
        nn.init.uniform_(self.weight, -bound, bound)

    def _check(self, v: torch.Tensor) -> None:
        if v.shape[-2:] != (self.height, self.width):
            raise ValueError(f"this dense map works on {self.height} x {self.width} grids, got "
                             f"{tuple(v.shape[-2:])}; resize the input (the dense RLS has N = H W fixed)")

    def linear(self, v: torch.Tensor) -> torch.Tensor:
        """``A v`` for ``v`` of shape ``(B, H, W)``: ``(B, m, H, W)``."""
        self._check(v)
        out = F.linear(v.flatten(-2), self.weight)
        return out.view(v.shape[0], self.out_maps, self.height, self.width)

    def bias_map(self) -> torch.Tensor | None:
        """``b`` shaped ``(1, m, H, W)`` (or None)."""
        if self.bias is None:
            return None
        return self.bias.view(1, self.out_maps, self.height, self.width)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        self._check(v)
        out = F.linear(v.flatten(-2), self.weight, self.bias)
        return out.view(v.shape[0], self.out_maps, self.height, self.width)

    def set_identity(self, scales: list[float], bias: float | list[float] = 0.0) -> None:
        """Hand-set ``A = [s_1 I; ...; s_m I]`` and a constant bias per output map (tests, oracles)."""
        n = self.height * self.width
        eye = torch.eye(n, dtype=self.weight.dtype, device=self.weight.device)
        with torch.no_grad():
            self.weight.copy_(torch.cat([s * eye for s in scales], dim=0))
            if self.bias is not None:
                b = [bias] * self.out_maps if isinstance(bias, (int, float)) else bias
                self.bias.copy_(torch.cat([torch.full((n,), float(x)) for x in b]))


class ConvMap(nn.Module):
    """``v -> A v + b`` with ``A`` a ``k x k`` convolution (one per output map), zero-flux padding."""

    def __init__(self, kernel_size: int = 5, out_maps: int = 1, bias: bool = True) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
        self.kernel_size, self.out_maps = kernel_size, out_maps
        self.weight = nn.Parameter(torch.empty(out_maps, 1, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_maps)) if bias else None
        bound = 1.0 / kernel_size  # sqrt(1 / fan_in), fan_in = k^2
        nn.init.uniform_(self.weight, -bound, bound)

    def _pad(self, v: torch.Tensor) -> torch.Tensor:
        p = self.kernel_size // 2
        v = v.unsqueeze(1)
        return F.pad(v, (p, p, p, p), mode="replicate") if p else v

    def linear(self, v: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self._pad(v), self.weight)

    def bias_map(self) -> torch.Tensor | None:
        return None if self.bias is None else self.bias.view(1, self.out_maps, 1, 1)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self._pad(v), self.weight, self.bias)

    def set_identity(self, scales: list[float], bias: float | list[float] = 0.0) -> None:
        """Hand-set each kernel to ``s_i`` times the centre tap, and a constant bias per map."""
        c = self.kernel_size // 2
        with torch.no_grad():
            self.weight.zero_()
            for i, s in enumerate(scales):
                self.weight[i, 0, c, c] = float(s)
            if self.bias is not None:
                b = [bias] * self.out_maps if isinstance(bias, (int, float)) else bias
                self.bias.copy_(torch.tensor([float(x) for x in b]))


def make_map(kind: str, height: int, width: int, out_maps: int = 1, *, bias: bool = True,
             kernel_size: int = 5) -> DenseMap | ConvMap:
    """A :class:`DenseMap` (``kind="dense"``) or :class:`ConvMap` (``kind="conv"``)."""
    if kind == "dense":
        return DenseMap(height, width, out_maps, bias)
    if kind == "conv":
        return ConvMap(kernel_size, out_maps, bias)
    raise ValueError(f"kind must be one of {', '.join(map(repr, MAP_KINDS))}; got {kind!r}")

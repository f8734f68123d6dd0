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

Inference on the CPU: :func:`pack_dense_maps` prepacks every dense matrix for MKL's GEMM at one
batch size (``torch.ops.mkl._mkl_linear``, the packed GEMM ``torch.compile`` uses for frozen
linear layers), which skips repacking the ``(m N) x N`` weights at every call: at batch 64 on the
64 x 64 dense RLS (N = 4096) this machine's float32 GEMM ran 1.44x faster (222 against 154
GFLOP/s, median of 7). Only calls with that batch size and gradients off use it; it costs one
more copy of the weights in memory; results differ from ``F.linear`` by float32 rounding (the
GEMM's summation order), not more.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MAP_KINDS", "ConvMap", "DenseMap", "make_map", "mkl_packed_gemm_available", "pack_dense_maps"]

#: the kinds of :func:`make_map`
MAP_KINDS = ("dense", "conv")


def mkl_packed_gemm_available() -> bool:
    """True when this PyTorch has MKL's packed GEMM ops (x86 builds with MKL)."""
    try:
        return bool(torch.backends.mkl.is_available() and torch.ops.mkl._mkl_linear is not None
                    and torch.ops.mkl._mkl_reorder_linear_weight is not None)
    except (AttributeError, RuntimeError):
        return False


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
        #: the batch size whose inference calls use MKL's packed GEMM (:meth:`pack_for_batch`)
        self.packed_batch: int | None = None
        self._packed: tuple[tuple[int, int, int], torch.Tensor] | None = None  # (weight version key, packed A)

    def pack_for_batch(self, batch: int | None) -> bool:
        """Multiply inference batches of exactly ``batch`` images (gradients off, CPU, float32) with
        ``A`` prepacked for MKL's GEMM; ``None`` turns it off. Returns whether it is on (False where
        this PyTorch has no MKL). The packed copy is made at the first such call and again after
        ``A`` changes."""
        self.packed_batch = int(batch) if batch is not None and mkl_packed_gemm_available() else None
        self._packed = None
        return self.packed_batch is not None

    def _packed_weight(self) -> torch.Tensor:
        try:
            version = self.weight._version
        except RuntimeError:  # built in inference mode: no version counter (nor in-place updates outside it)
            version = -1
        key = (version, self.weight.data_ptr(), int(self.packed_batch or 0))
        if self._packed is None or self._packed[0] != key:
            with torch.no_grad():
                self._packed = key, torch.ops.mkl._mkl_reorder_linear_weight(self.weight.detach(), self.packed_batch)
        return self._packed[1]

    def _affine(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """``x A^T (+ b)`` for flattened ``x`` of shape ``(B, N)``."""
        if (self.packed_batch is not None and x.shape[0] == self.packed_batch and not torch.is_grad_enabled()
                and x.device.type == "cpu" and x.dtype == torch.float32 and self.weight.dtype == torch.float32):
            b = None if bias is None else bias.detach()
            return torch.ops.mkl._mkl_linear(x.contiguous(), self._packed_weight(), self.weight.detach(), b,
                                             self.packed_batch)
        return F.linear(x, self.weight, bias)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_packed"] = None  # a copy (pickled to a worker) packs again on first use
        return state

    def _check(self, v: torch.Tensor) -> None:
        if v.shape[-2:] != (self.height, self.width):
            raise ValueError(f"this dense map works on {self.height} x {self.width} grids, got "
                             f"{tuple(v.shape[-2:])}; resize the input (the dense RLS has N = H W fixed)")

    def linear(self, v: torch.Tensor) -> torch.Tensor:
        """``A v`` for ``v`` of shape ``(B, H, W)``: ``(B, m, H, W)``."""
        self._check(v)
        out = self._affine(v.flatten(-2), None)
        return out.view(v.shape[0], self.out_maps, self.height, self.width)

    def bias_map(self) -> torch.Tensor | None:
        """``b`` shaped ``(1, m, H, W)`` (or None)."""
        if self.bias is None:
            return None
        return self.bias.view(1, self.out_maps, self.height, self.width)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        self._check(v)
        out = self._affine(v.flatten(-2), self.bias)
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


def pack_dense_maps(model: nn.Module, batch: int | None) -> int:
    """:meth:`DenseMap.pack_for_batch` on every dense map of ``model``; returns how many use the
    packed GEMM (0 for a conv model, or where this PyTorch has no MKL).

    Examples
    --------
    >>> import torch
    >>> from lsbench.learned.maps import DenseMap, mkl_packed_gemm_available, pack_dense_maps
    >>> m = DenseMap(8, 8, out_maps=2)
    >>> pack_dense_maps(torch.nn.Sequential(m), 4) == (1 if mkl_packed_gemm_available() else 0)
    True
    >>> v = torch.rand(4, 8, 8)
    >>> with torch.no_grad():
    ...     packed = m(v)
    >>> pack_dense_maps(m, None)
    0
    >>> with torch.no_grad():
    ...     plain = m(v)
    >>> bool(torch.allclose(packed, plain, rtol=1e-5, atol=1e-6))
    True
    """
    return sum(m.pack_for_batch(batch) for m in model.modules() if isinstance(m, DenseMap))

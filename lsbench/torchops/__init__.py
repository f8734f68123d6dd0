"""PyTorch twins of the NumPy level-set building blocks in :mod:`lsbench.levelset`.

Every function works on batches ``(B, H, W)`` (a single ``(H, W)`` map is accepted too), in
float32 or float64, on any device, and is differentiable with autograd. The tests hold each one
equal to its NumPy counterpart (``tests/torchops``). Importing this package imports torch.
"""

from lsbench.torchops.ops import (
    curvature_central,
    dirac_arctan,
    dirac_compact,
    divergence,
    gaussian_filter_zero,
    gradient,
    heaviside,
    heaviside_arctan,
    heaviside_compact,
    laplacian_del2,
    neumann_bound_cond,
    neumann_pad,
    region_means,
    separable_correlate_zero,
    sussman_reinit,
)

__all__ = [
    "curvature_central",
    "dirac_arctan",
    "dirac_compact",
    "divergence",
    "gaussian_filter_zero",
    "gradient",
    "heaviside",
    "heaviside_arctan",
    "heaviside_compact",
    "laplacian_del2",
    "neumann_bound_cond",
    "neumann_pad",
    "region_means",
    "separable_correlate_zero",
    "sussman_reinit",
]

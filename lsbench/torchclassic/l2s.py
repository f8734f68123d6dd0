"""L2S (Legendre level sets) in PyTorch: B images of one size in one batched evolution.

The same scheme as :func:`lsbench.classic.l2s` (``creaseg_suvadip_fast.m``: weighted ridge fits in
the separable 2-D Legendre basis, the data force normalised by its maximum, the adaptive step
``cfl / max|dphi|``, one non-periodic Sussman step and Li's mirror-Neumann border per iteration),
on ``(B, H, W)`` tensors: the normal equations of all images are assembled with batched matrix
products and solved with one batched ``torch.linalg.solve``; maxima and sign-change counts are
per image. An image leaves the batch when it has been still for more than ``patience``
iterations.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from numpy.polynomial import legendre

from lsbench.classic._common import to_255
from lsbench.classic.l2s import check_l2s_params, degree_stages
from lsbench.device import resolve_device
from lsbench.levelset.init import resolve_inits, signed_distance
from lsbench.torchclassic._batch import (
    Retirer,
    check_batch,
    maybe_compiled,
    resolve_dtype,
)
from lsbench.torchops import curvature_central, neumann_bound_cond, sussman_reinit
from lsbench.types import LevelSetResult

__all__ = ["l2s_batch"]

_EPS = float(np.finfo(np.float64).eps)  # MATLAB's eps in the normalisations


class _Basis:
    """The separable Legendre basis of :class:`lsbench.classic.l2s._SeparableLegendre`, as tensors."""

    def __init__(self, shape: tuple[int, int], degree: int, dtype: torch.dtype, device: torch.device) -> None:
        h, w = shape
        m = degree + 1
        py = legendre.legvander(np.linspace(-1.0, 1.0, h), degree)  # (H, m)
        px = legendre.legvander(np.linspace(-1.0, 1.0, w), degree)  # (W, m)
        t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
        self.m = m
        self.py, self.px = t(py), t(px)
        self.pyy = t((py[:, :, None] * py[:, None, :]).reshape(h, m * m))
        self.pxx = t((px[:, :, None] * px[:, None, :]).reshape(w, m * m))


def _normal_equations(phi: torch.Tensor, I: torch.Tensor, py: torch.Tensor, px: torch.Tensor,  # noqa: E741
                      pyy: torch.Tensor, pxx: torch.Tensor, ridge: torch.Tensor, m: int, epsilon: float
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Both ridge systems of every image: ``A`` ``(2B, m^2, m^2)`` and ``rhs`` ``(2B, m^2, 1)``.

    Rows ``:B`` are the inside fits (weight ``H(phi)``), rows ``B:`` the outside fits
    (``1 - H(phi)``); ``A = B^T W B + rho I`` and ``rhs = B^T W I`` from the tensor-product
    structure of the basis. (Inside and outside are stacked along the batch axis rather than a
    new axis of length 2, which ``torch.compile`` would tie to a batch of 2.)
    """
    H = 0.5 * (1.0 + (2.0 / math.pi) * torch.atan(phi / epsilon))
    W = torch.cat([H, 1.0 - H])  # (2B, H, W)
    n = W.shape[0]
    g = (pyy.T @ (W @ pxx)).view(n, m, m, m, m).permute(0, 1, 3, 2, 4).reshape(n, m * m, m * m)
    rhs = (py.T @ (W * torch.cat([I, I])) @ px).reshape(n, m * m, 1)
    return g + ridge, rhs


def _l2s_update(phi: torch.Tensor, side: torch.Tensor, I: torch.Tensor, c: torch.Tensor, py: torch.Tensor,  # noqa: E741
                px: torch.Tensor, nu: float, lambda1: float, lambda2: float, epsilon: float, cfl: float,
                reinit_dt: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The level-set half of one ``creaseg_suvadip_fast.m`` iteration, given the coefficients ``c``
    (``(2B, m, m)``: inside fits, then outside fits).

    Returns the new phi, its side (``phi >= 0`` as 0/1 in phi's dtype: boolean tensors make the
    compiled loops scalar and 20x slower) and the number of pixels of each image that changed
    side since ``side``.
    """
    b = I.shape[0]
    p = py @ c @ px.T  # (2B, H, W): inside fits, then outside fits
    F = lambda2 * (I - p[b:]) ** 2 - lambda1 * (I - p[:b]) ** 2
    F = F * ((epsilon / math.pi) / (epsilon * epsilon + phi * phi))
    F = F / (F.abs().amax((1, 2), keepdim=True) + _EPS) + nu * curvature_central(phi)
    phi = phi + (cfl / (F.abs().amax((1, 2), keepdim=True) + _EPS)) * F
    phi = neumann_bound_cond(sussman_reinit(phi, reinit_dt))
    now = (phi >= 0).to(phi.dtype)
    return phi, now, (now - side).abs().sum((1, 2))


def l2s_batch(
    images: Any,
    *,
    degree: int = 2,
    nu: float = 0.2,
    rho: float = 0.3,
    lambda1: float = 1.0,
    lambda2: float = 1.0,
    epsilon: float = 2.0,
    cfl: float = 0.8,
    reinit_dt: float = 0.5,
    max_iter: int = 1200,
    tol: float = 1.0,
    patience: int = 20,
    start_degree: int | None = None,
    init: Any = "box",
    device: str = "auto",
    dtype: str = "float32",
    compile: bool = False,
) -> list[LevelSetResult]:
    """Legendre level sets (Mukherjee & Acton 2015) on a batch of same-size images, evolved together.

    Parameters
    ----------
    images : sequence of (H, W) arrays, or a (B, H, W) array
        Greyscale images of one size, any range; each is min-max rescaled to ``[0, 255]``.
    degree, nu, rho, lambda1, lambda2, epsilon, cfl, reinit_dt, max_iter, tol, patience, start_degree
        As in :func:`lsbench.classic.l2s` (same defaults); with ``start_degree`` every stage of the
        degree continuation is one batched evolution, started from the previous stage's phi.
    init : str or sequence
        A preset (``"box"``, ``"circle"``, ``"disk"``, ``"small disk"``, ``"checkerboard"``) for all
        images, or one init per image (bool mask -> signed distance, or a float phi0).
    device, dtype, compile
        As in :func:`lsbench.torchclassic.chan_vese_batch`.

    Returns
    -------
    list of LevelSetResult
        One per image (mask, phi, ``n_iter``, ``converged``); no energy trace and no fit extras.

    Notes
    -----
    The NumPy method's iteration (:func:`lsbench.classic.l2s`), for all images at once. The
    stopping rule is per image: an iteration is still when fewer than ``tol`` pixels change
    sign (``phi >= 0``), and an image stops after more than ``patience`` consecutive still
    iterations.

    References
    ----------
    .. [1] S. Mukherjee, S. T. Acton, "Region based segmentation in presence of intensity
       inhomogeneity using Legendre polynomials", IEEE Signal Processing Letters
       22(3):298-302, 2015, doi:10.1109/LSP.2014.2346538.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.torchclassic import l2s_batch
    >>> square = np.zeros((20, 20), dtype=np.float32)
    >>> square[5:15, 5:15] = 1.0
    >>> bar = np.zeros((20, 20), dtype=np.float32)
    >>> bar[8:12, 4:16] = 1.0
    >>> results = l2s_batch([square, bar], degree=1, device="cpu")
    >>> [int(r.mask.sum()) for r in results], [r.converged for r in results]
    ([100, 48], [True, True])
    """
    imgs = check_batch(images)
    degree, nu, rho, lambda1, lambda2, epsilon, cfl, reinit_dt, max_iter, tol, patience = check_l2s_params(
        degree=degree, nu=nu, rho=rho, lambda1=lambda1, lambda2=lambda2, epsilon=epsilon, cfl=cfl,
        reinit_dt=reinit_dt, max_iter=max_iter, tol=tol, patience=patience)
    stages = degree_stages(degree, start_degree)
    dev, tdtype = resolve_device(device), resolve_dtype(dtype)
    phi0 = resolve_inits(init, len(imgs), imgs[0].shape, mask_to_phi=signed_distance)

    I = torch.stack([torch.from_numpy(to_255(img)) for img in imgs]).to(dev, tdtype)  # noqa: E741
    phi = torch.from_numpy(phi0).to(dev, tdtype)
    total = np.zeros(len(imgs), dtype=int)
    for stage_degree in stages:
        results = _evolve(phi, I, degree=stage_degree, nu=nu, rho=rho, lambda1=lambda1, lambda2=lambda2,
                          epsilon=epsilon, cfl=cfl, reinit_dt=reinit_dt, max_iter=max_iter, tol=tol,
                          patience=patience, compile=bool(compile))
        total += [r.n_iter for r in results]
        phi = torch.from_numpy(np.stack([r.phi for r in results])).to(dev, tdtype)
    return [LevelSetResult(mask=r.mask, phi=r.phi, energies=r.energies, n_iter=int(n), converged=r.converged,
                           extras=r.extras) for r, n in zip(results, total, strict=True)]


def _evolve(phi: torch.Tensor, I: torch.Tensor, *, degree: int, nu: float, rho: float, lambda1: float,  # noqa: E741
            lambda2: float, epsilon: float, cfl: float, reinit_dt: float, max_iter: int, tol: float,
            patience: int, compile: bool) -> list[LevelSetResult]:
    """One degree's batched evolution of :func:`l2s_batch` from ``phi`` ``(B, H, W)``."""
    tdtype, dev = phi.dtype, phi.device
    basis = _Basis(tuple(I.shape[1:]), degree, tdtype, dev)
    ridge = rho * torch.eye(basis.m * basis.m, dtype=tdtype, device=dev)
    done = Retirer(phi.shape[0])
    equations = maybe_compiled(_normal_equations, bool(compile))
    update = maybe_compiled(_l2s_update, bool(compile))
    side = (phi >= 0).to(tdtype)
    count = torch.zeros(phi.shape[0], dtype=torch.long, device=dev)
    n_iter = 0
    while done.active and n_iter < max_iter:
        A, rhs = equations(phi, I, basis.py, basis.px, basis.pyy, basis.pxx, ridge, basis.m, epsilon)
        # solved (and reshaped) outside the compiled code, where either would fix the batch size
        c = torch.linalg.solve(A, rhs).view(-1, basis.m, basis.m)
        phi, side, changed = update(phi, side, I, c, basis.py, basis.px, nu, lambda1, lambda2, epsilon, cfl,
                                    reinit_dt)
        n_iter += 1
        still = changed < tol
        count = torch.where(still, count + 1, torch.zeros_like(count))
        if n_iter % 50 == 0 and not bool(torch.isfinite(phi.sum((1, 2))).all()):
            bad = [done.ids[k] for k in torch.nonzero(~torch.isfinite(phi.sum((1, 2)))).flatten().tolist()]
            raise FloatingPointError(f"L2S diverged by iteration {n_iter} on image(s) {bad} (non-finite phi)")
        keep = done.retire(count > patience, phi, n_iter, True)
        if keep is not None:
            phi, I, side, count = phi[keep], I[keep], side[keep], count[keep]  # noqa: E741
    if done.active:
        done.retire(torch.ones(done.active, dtype=torch.bool), phi, n_iter, False)
    return done.finish()

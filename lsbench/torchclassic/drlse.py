"""DRLSE in PyTorch: B images of one size in one batched evolution of ``drlse_edge.m``.

The same scheme as :func:`lsbench.classic.drlse` (edge indicator from a zero-padded 15 x 15
Gaussian on the 0-255 image, explicit steps with the double- or single-well distance regulariser,
compact Dirac, Li's mirror-Neumann border, ``iter_inner``-step outer iterations, then
``iter_refine`` steps with ``alpha = 0``), on ``(B, H, W)`` tensors, in the reference's sign
(object ``u < 0``; lsbench's ``phi = -u`` is returned). An image whose stopping test fires moves on
to its refinement steps while the others keep evolving; it leaves the batch when they are done.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from lsbench.classic._common import li_init, to_255
from lsbench.classic.drlse import check_drlse_params
from lsbench.device import resolve_device
from lsbench.levelset.init import binary_step, resolve_inits
from lsbench.torchclassic._batch import (
    Retirer,
    check_batch,
    maybe_compiled,
    resolve_dtype,
)
from lsbench.torchops import (
    divergence,
    gaussian_filter_zero,
    gradient,
    laplacian_del2,
    neumann_bound_cond,
)
from lsbench.torchops.ops import _dirac_compact
from lsbench.types import LevelSetResult

__all__ = ["drlse_batch", "edge_indicator"]

_SMALL = 1e-10  # drlse_edge.m's smallNumber


def edge_indicator(image255: torch.Tensor, sigma: float, size: int = 15) -> torch.Tensor:
    """``g = 1 / (1 + |grad (G_sigma * I)|^2)`` per map, as :func:`lsbench.classic.drlse.edge_indicator`."""
    gy, gx = gradient(gaussian_filter_zero(image255, sigma, size))
    return 1.0 / (1.0 + gx * gx + gy * gy)


def _drlse_step(u: torch.Tensor, g: torch.Tensor, vx: torch.Tensor, vy: torch.Tensor, alpha: torch.Tensor,
                lambda_: float, mu: float, epsilon: float, dt: float, double_well: bool) -> torch.Tensor:
    """One explicit step of ``drlse_edge.m`` for every map (``alpha`` is per map, ``(b, 1, 1)``)."""
    u = neumann_bound_cond(u)
    uy, ux = gradient(u)
    s = torch.sqrt(ux * ux + uy * uy)
    nx, ny = ux / (s + _SMALL), uy / (s + _SMALL)
    curv = divergence(ny, nx)
    if double_well:  # distReg_p2: d_p(s) = p2'(s)/s
        ps = torch.where(s <= 1.0, torch.sin((2.0 * math.pi) * s) / (2.0 * math.pi), s - 1.0)
        dps = torch.where(ps != 0, ps, torch.ones_like(ps)) / torch.where(s != 0, s, torch.ones_like(s))
        reg = divergence(dps * uy - uy, dps * ux - ux) + laplacian_del2(u)
    else:
        reg = laplacian_del2(u) - curv
    d = _dirac_compact(u, epsilon)
    area = d * g
    edge = (vx * nx + vy * ny) * d + curv * area
    return u + dt * (lambda_ * edge + mu * reg + alpha * area)


def drlse_batch(
    images: Any,
    *,
    lambda_: float = 5.0,
    mu: float = 0.04,
    alpha: float = 1.5,
    epsilon: float = 1.5,
    sigma: float = 1.5,
    dt: float = 5.0,
    potential: str = "double-well",
    max_iter: int = 200,
    iter_inner: int = 5,
    iter_refine: int = 5,
    tol: float = 0.0,
    c0: float = 2.0,
    init: Any = "box",
    device: str = "auto",
    dtype: str = "float32",
    compile: bool = False,
) -> list[LevelSetResult]:
    """DRLSE (edge-based, Li et al. 2010) on a batch of same-size images, evolved together.

    Parameters
    ----------
    images : sequence of (H, W) arrays, or a (B, H, W) array
        Greyscale images of one size, any range; each is min-max rescaled to ``[0, 255]``.
    lambda_, mu, alpha, epsilon, sigma, dt, potential, max_iter, iter_inner, iter_refine, tol, c0
        As in :func:`lsbench.classic.drlse` (same defaults and checks).
    init : str or sequence
        ``"box"``/``"circle"`` for all images, or one init per image (a preset, a bool mask ->
        binary step ``+-c0``, or a float phi0, positive inside).
    device, dtype, compile
        As in :func:`lsbench.torchclassic.chan_vese_batch`.

    Returns
    -------
    list of LevelSetResult
        One per image: mask, phi (positive inside), ``n_iter`` (refinement included),
        ``converged``; ``extras["g"]`` is the image's edge indicator; no energy trace.

    Notes
    -----
    The update is the NumPy method's (module docstring and :func:`lsbench.classic.drlse`),
    evaluated for all images at once with :mod:`lsbench.torchops`; images stay in step through
    the main phase, so the stopping test (fewer than ``tol * H * W`` pixels changing side over an
    outer iteration) is taken for every image at the same outer iterations.

    References
    ----------
    .. [1] C. Li, C. Xu, C. Gui, M. D. Fox, "Distance regularized level set evolution and its
       application to image segmentation", IEEE TIP 19(12):3243-3254, 2010,
       doi:10.1109/TIP.2010.2069690.

    Examples
    --------
    The example of :func:`lsbench.classic.drlse`, with the square and its transpose as a batch:

    >>> import numpy as np
    >>> from lsbench.torchclassic import drlse_batch
    >>> image = np.zeros((30, 30), dtype=np.float32)
    >>> image[8:22, 8:22] = 1.0
    >>> start = np.zeros((30, 30), dtype=bool)
    >>> start[3:27, 3:27] = True
    >>> results = drlse_batch([image, image.T], init=[start, start], sigma=0.8, device="cpu")
    >>> [int(r.mask.sum()) for r in results], [r.n_iter for r in results]
    ([184, 184], [205, 205])
    >>> int((results[0].mask & (image == 0)).sum()), sorted(results[0].extras)
    (0, ['g'])
    """
    imgs = check_batch(images)
    lambda_, mu, alpha, epsilon, sigma, dt, potential, max_iter, iter_inner, iter_refine, tol, c0 = \
        check_drlse_params(lambda_=lambda_, mu=mu, alpha=alpha, epsilon=epsilon, sigma=sigma, dt=dt,
                           potential=potential, max_iter=max_iter, iter_inner=iter_inner,
                           iter_refine=iter_refine, tol=tol, c0=c0)
    dev, tdtype = resolve_device(device), resolve_dtype(dtype)
    shape = imgs[0].shape
    if isinstance(init, str):
        phi0 = np.stack([li_init(init, shape, c0)] * len(imgs))
    else:
        phi0 = resolve_inits(init, len(imgs), shape, mask_to_phi=lambda m: binary_step(m, c0))

    I255 = torch.stack([torch.from_numpy(to_255(img)) for img in imgs]).to(dev, tdtype)
    g = edge_indicator(I255, sigma)
    vy, vx = gradient(g)
    u = -torch.from_numpy(phi0).to(dev, tdtype)
    step = maybe_compiled(_drlse_step, bool(compile))
    double_well = potential == "double-well"
    b = len(imgs)
    a = torch.full((b, 1, 1), alpha, dtype=tdtype, device=dev)  # per-image alpha: 0 while refining
    refine_left = torch.zeros(b, dtype=torch.long)  # steps of refinement still to run (refining images)
    refining = torch.zeros(b, dtype=torch.bool)
    converged = torch.zeros(b, dtype=torch.bool)
    n_iter = torch.zeros(b, dtype=torch.long)
    side = u < 0 if tol > 0 else None
    g_all = g.detach().cpu().numpy()
    done = Retirer(b)
    main_done = 0  # steps of the main phase run by the images still in it (they stay in step)

    def extras(k: int) -> dict[str, Any]:
        return {"g": g_all[done.ids[k]]}

    def keep_rows(keep: torch.Tensor) -> None:
        nonlocal u, g, vx, vy, a, refine_left, refining, converged, n_iter, side
        u, g, vx, vy, a = u[keep], g[keep], vx[keep], vy[keep], a[keep]
        side = side[keep] if side is not None else None
        kc = keep.cpu()
        refine_left, refining, converged, n_iter = refine_left[kc], refining[kc], converged[kc], n_iter[kc]

    while done.active:
        in_main = ~refining
        steps = min(iter_inner, max_iter - main_done) if bool(in_main.any()) else iter_refine
        steps = max(1, min(steps, int(refine_left[refining].min()) if bool(refining.any()) else steps))
        for _ in range(steps):
            u = step(u, g, vx, vy, a, lambda_, mu, epsilon, dt, double_well)
        n_iter += steps
        refine_left[refining] -= steps
        if bool(in_main.any()):
            main_done += steps
            outer_end = main_done >= max_iter or (main_done % iter_inner == 0)
            if outer_end:
                sums = u[in_main.to(u.device)].sum((1, 2))  # non-finite phi has a non-finite sum
                if not bool(torch.isfinite(sums).all()):
                    bad = [done.ids[k] for k in torch.nonzero(in_main).flatten()[~torch.isfinite(sums).cpu()].tolist()]
                    raise FloatingPointError(f"DRLSE diverged at iteration {main_done} on image(s) {bad} "
                                             "(non-finite phi); lower dt")
                stop = in_main & (main_done >= max_iter)
                if tol > 0:
                    now_side = u < 0
                    changed = (now_side != side).flatten(1).sum(1).cpu()
                    side = now_side
                    conv = in_main & (changed < tol * shape[0] * shape[1]) & (main_done < max_iter)
                    converged |= conv
                    stop |= conv
                if bool(stop.any()):
                    refining |= stop
                    refine_left[stop] = iter_refine
                    a[stop.to(a.device)] = 0.0
        finished = refining & (refine_left <= 0)
        keep = done.retire(finished, -u, n_iter.tolist(), converged.tolist(), extras)
        if keep is not None:
            keep_rows(keep)
    return done.finish()

"""Chan–Vese in PyTorch: B images of one size in one batched semi-implicit evolution.

The same scheme as :func:`lsbench.classic.chan_vese` (Getreuer's Eq. (22), hard-Heaviside region
means, ``delta = 1/(1 + phi^2)``, edge-replicated border, scikit-image's stopping rule) written
as whole-batch tensor operations. Each image stops on its own: once its RMS change is at most
``tol`` it leaves the batch with its phi and iteration count.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lsbench.device import resolve_device
from lsbench.levelset.init import resolve_inits, signed_distance
from lsbench.levelset.iteration import stall_report
from lsbench.levelset.validate import (
    check_finite,
    check_nonnegative,
    check_positive,
    check_positive_int,
)
from lsbench.torchclassic._batch import (
    Retirer,
    check_batch,
    maybe_compiled,
    resolve_dtype,
)
from lsbench.types import LevelSetResult

__all__ = ["chan_vese_batch"]


def _pad(phi: torch.Tensor) -> torch.Tensor:
    """Edge-replicated ``(B, H+2, W+2)`` copy of ``(B, H, W)`` phi (zero-flux border)."""
    return F.pad(phi.unsqueeze(1), (1, 1, 1, 1), mode="replicate").squeeze(1)


def _means(image: torch.Tensor, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``c1``, ``c2`` with the hard Heaviside ``phi > 0`` (Eq. (6)); an empty region has mean 0."""
    h = (phi > 0).to(image.dtype)
    n_in = h.sum((1, 2))
    n_out = h[0].numel() - n_in
    s_in = (image * h).sum((1, 2))
    s_out = (image * (1.0 - h)).sum((1, 2))
    return _divide(s_in, n_in), _divide(s_out, n_out)


def _divide(s: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    return torch.where(n > 0, s / n.clamp_min(1.0), torch.zeros_like(s)).view(-1, 1, 1)


def _cv_step(P: torch.Tensor, image: torch.Tensor, c1: torch.Tensor, c2: torch.Tensor, mu: float,
             lambda1: float, lambda2: float, nu: float, dt: float, eta: float
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One Jacobi sweep of Eq. (22) from the padded phi ``P``; also the next means and the RMS change.

    Pure tensor code without data-dependent control flow, so that ``torch.compile`` turns it
    into one fused loop over the batch (the neighbours are plain offsets into ``P``).
    """
    phi = P[:, 1:-1, 1:-1]
    r, l, d, u = P[:, 1:-1, 2:], P[:, 1:-1, :-2], P[:, 2:, 1:-1], P[:, :-2, 1:-1]  # noqa: E741
    x0 = (r - l) / 2.0
    y0 = (d - u) / 2.0
    y02 = y0 * y0
    ex0 = eta + x0 * x0
    xp, xn, yp, yn = r - phi, phi - l, d - phi, phi - u
    C1 = torch.rsqrt(eta + xp * xp + y02)
    C2 = torch.rsqrt(eta + xn * xn + y02)
    C3 = torch.rsqrt(ex0 + yp * yp)
    C4 = torch.rsqrt(ex0 + yn * yn)
    K = r * C1 + l * C2 + d * C3 + u * C4
    delta = 1.0 / (1.0 + phi * phi)
    force = mu * K - lambda1 * (image - c1) ** 2 + lambda2 * (image - c2) ** 2 - nu
    new = (phi + (dt * delta) * force) / (1.0 + (mu * dt) * delta * (C1 + C2 + C3 + C4))
    change = ((new - phi) ** 2).mean((1, 2)).sqrt()
    h = (new > 0).to(new.dtype)
    n_in = h.sum((1, 2))
    s_in = (image * h).sum((1, 2))
    s_out = (image * (1.0 - h)).sum((1, 2))
    return new, change, torch.stack([n_in, s_in, s_out])


def chan_vese_batch(
    images: Any,
    *,
    mu: float = 0.25,
    lambda1: float = 1.0,
    lambda2: float = 1.0,
    nu: float = 0.0,
    dt: float = 0.5,
    tol: float = 1e-3,
    max_iter: int = 500,
    init: Any = "checkerboard",
    eta: float = 1e-16,
    device: str = "auto",
    dtype: str = "float32",
    compile: bool = False,
) -> list[LevelSetResult]:
    """Chan–Vese on a batch of same-size images, evolved together on ``device``.

    Parameters
    ----------
    images : sequence of (H, W) arrays, or a (B, H, W) array
        Greyscale images of one size, any range; each is min-max normalised to ``[0, 1]``.
    mu, lambda1, lambda2, nu, dt, tol, max_iter, eta
        As in :func:`lsbench.classic.chan_vese` (same defaults).
    init : str or sequence
        One preset for all images (``"checkerboard"``, ``"disk"``, ``"small disk"``,
        ``"circle"``, ``"box"``) or one init per image (a preset, a bool mask -> signed
        distance, or a float phi0).
    device : {"auto", "cpu", "cuda", "cuda:N"}
        Where the batch evolves; asking for CUDA without it is a ``ValueError``.
    dtype : {"float32", "float64"}
        Precision of the evolution (float32 by default).
    compile : bool
        Run the update through ``torch.compile`` (one fused loop per iteration instead of ~40
        tensor operations; the first call compiles, which takes seconds; falls back to eager
        execution with a warning where compiling fails).

    Returns
    -------
    list of LevelSetResult
        One per image, in order: mask (``phi > 0``), phi (NumPy, the chosen precision),
        ``n_iter`` and ``converged`` of that image, and the stall report of
        :func:`lsbench.classic.chan_vese` in ``extras`` (``moved_pixels``, ``stalled``);
        ``energies`` is empty (the batched methods do not trace the energy; use the NumPy method
        for traces).

    Notes
    -----
    Each iteration is Eq. (22) of Getreuer (2012) for every image at once; the region means of
    the next iteration and each image's RMS change are reduced per image in the same pass. An
    image whose RMS change is at most ``tol`` leaves the batch (it is converged and no longer
    changes); the others continue. Versus the NumPy implementation, ``1/sqrt`` is ``rsqrt``
    and sums are reduced in another order, so phi agrees to rounding rather than bit for bit.

    References
    ----------
    .. [1] T. F. Chan and L. A. Vese, "Active contours without edges", IEEE TIP 10(2):266-277,
       2001, doi:10.1109/83.902291.
    .. [2] P. Getreuer, "Chan-Vese segmentation", Image Processing On Line 2:214-224, 2012,
       doi:10.5201/ipol.2012.g-cv.

    Examples
    --------
    Two 20 x 20 images evolved as one batch on the CPU; each keeps its own mask:

    >>> import numpy as np
    >>> from lsbench.torchclassic import chan_vese_batch
    >>> square = np.zeros((20, 20), dtype=np.float32)
    >>> square[5:15, 5:15] = 1.0
    >>> bar = np.zeros((20, 20), dtype=np.float32)
    >>> bar[8:12, 4:16] = 1.0
    >>> results = chan_vese_batch([square, bar], max_iter=50, device="cpu")
    >>> [int(r.mask.sum()) for r in results], [r.n_iter for r in results]
    ([100, 48], [50, 50])
    >>> results[0].phi.dtype, bool((results[1].mask == (bar > 0)).all())
    (dtype('float32'), True)
    """
    imgs = check_batch(images)
    mu = check_nonnegative("mu", mu)
    lambda1 = check_nonnegative("lambda1", lambda1)
    lambda2 = check_nonnegative("lambda2", lambda2)
    nu = check_finite("nu", nu)
    dt = check_positive("dt", dt)
    tol = check_nonnegative("tol", tol)
    max_iter = check_positive_int("max_iter", max_iter)
    eta = check_positive("eta", eta)
    dev, tdtype = resolve_device(device), resolve_dtype(dtype)
    shape = imgs[0].shape
    phi0 = resolve_inits(init, len(imgs), shape, mask_to_phi=signed_distance)

    image = torch.stack([torch.from_numpy(_normalise(img)) for img in imgs]).to(dev, tdtype)
    phi = torch.from_numpy(phi0).to(dev, tdtype)
    step = maybe_compiled(_cv_step, bool(compile))
    c1, c2 = _means(image, phi)
    P = _pad(phi)
    done = Retirer(len(imgs))
    n_iter = 0
    while done.active and n_iter < max_iter:
        new, change, sums = step(P, image, c1, c2, mu, lambda1, lambda2, nu, dt, eta)
        n_iter += 1
        if not bool(torch.isfinite(change).all()):
            bad = [done.ids[k] for k in torch.nonzero(~torch.isfinite(change)).flatten().tolist()]
            raise FloatingPointError(f"Chan-Vese diverged at iteration {n_iter} on image(s) {bad} "
                                     "(non-finite phi); lower dt")
        n_in, s_in, s_out = sums
        c1, c2 = _divide(s_in, n_in), _divide(s_out, new[0].numel() - n_in)
        keep = done.retire(change <= tol, new, n_iter, True)
        if keep is not None:
            new, image, c1, c2 = new[keep], image[keep], c1[keep], c2[keep]
        P = _pad(new)
    if done.active:
        done.retire(torch.ones(done.active, dtype=torch.bool), P[:, 1:-1, 1:-1], n_iter, False)
    results = done.finish()
    for res, start in zip(results, phi0, strict=True):  # a stop before the segmentation moved is a stall
        res.converged, res.extras = stall_report(start > 0, res.mask, res.converged)
    return results


def _normalise(img: Any) -> Any:
    """scikit-image's min-max normalisation (in float64, before casting to the batch precision)."""
    out = img.astype("float64") - img.min()
    m = out.max()
    if m != 0:
        out /= m
    return out

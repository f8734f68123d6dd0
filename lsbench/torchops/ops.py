"""Level-set building blocks in PyTorch: batched ``(B, H, W)``, any float dtype, any device.

Each function is the twin of a NumPy function in :mod:`lsbench.levelset.ops` and returns the
same numbers (the tests compare them to 1e-6 in float32 and 1e-12 in float64):

* :func:`gradient` is ``np.gradient`` (central differences inside, one-sided at the border),
  computed with :func:`torch.gradient`;
* :func:`curvature_central` is Li's ``div(grad u / sqrt(|grad u|^2 + eta))``;
* :func:`heaviside_arctan` / :func:`dirac_arctan` are Chan & Vese's regularised pair;
* :func:`neumann_bound_cond` is Li's ``NeumannBoundCond`` and :func:`neumann_pad` is
  ``np.pad(u, width, mode="edge")`` (zero-flux padding, as the Chan–Vese scheme uses);
* :func:`region_means` is Chan & Vese's ``c1``, ``c2`` (Eq. (6)) with a hard or arctan Heaviside.

Everything is differentiable with autograd (the hard Heaviside has a zero gradient).

References
----------
T. F. Chan, L. A. Vese, "Active contours without edges", IEEE TIP 10(2):266-277, 2001,
doi:10.1109/83.902291.
C. Li, C. Xu, C. Gui, M. D. Fox, "Distance regularized level set evolution and its application
to image segmentation", IEEE TIP 19(12):3243-3254, 2010, doi:10.1109/TIP.2010.2069690.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "HEAVISIDES",
    "curvature_central",
    "dirac_arctan",
    "divergence",
    "gradient",
    "heaviside",
    "heaviside_arctan",
    "neumann_bound_cond",
    "neumann_pad",
    "region_means",
]

#: the Heaviside choices of :func:`heaviside` and :func:`region_means`
HEAVISIDES = ("arctan", "hard")


def _check_map(name: str, u: torch.Tensor, min_side: int = 2) -> None:
    if not isinstance(u, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(u).__name__}")
    if u.dim() not in (2, 3):
        raise ValueError(f"{name} must have shape (H, W) or (B, H, W), got {tuple(u.shape)}")
    if not u.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {u.dtype}")
    if min(u.shape[-2:]) < min_side:
        raise ValueError(f"{name} must be at least {min_side} x {min_side} pixels, got {tuple(u.shape[-2:])}")


def _check_eps(eps: float) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    return float(eps)


# -- regularised Heaviside / Dirac ----------------------------------------------------------------
def heaviside_arctan(z: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """``H_eps(z) = 1/2 (1 + (2/pi) arctan(z/eps))`` (Chan & Vese 2001, Eq. (11))."""
    eps = _check_eps(eps)
    return 0.5 * (1.0 + (2.0 / math.pi) * torch.atan(z / eps))


def dirac_arctan(z: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """``delta_eps(z) = (eps/pi) / (eps^2 + z^2)``, the derivative of :func:`heaviside_arctan`."""
    eps = _check_eps(eps)
    return (eps / math.pi) / (eps * eps + z * z)


def heaviside(z: torch.Tensor, kind: str = "arctan", eps: float = 1.0) -> torch.Tensor:
    """``H(z)``: ``"arctan"`` (smooth, :func:`heaviside_arctan`) or ``"hard"`` (``z > 0``, no gradient)."""
    if kind == "arctan":
        return heaviside_arctan(z, eps)
    if kind == "hard":
        return (z > 0).to(z.dtype)
    raise ValueError(f"heaviside must be one of {', '.join(map(repr, HEAVISIDES))}; got {kind!r}")


# -- finite differences ---------------------------------------------------------------------------
def gradient(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(u_y, u_x)`` of ``(..., H, W)`` maps, exactly as ``np.gradient(u)`` on each map.

    Central differences ``(u[i+1] - u[i-1]) / 2`` inside and one-sided ``u[1] - u[0]`` at the
    border (MATLAB's ``gradient``), unit spacing.
    """
    _check_map("u", u)
    gy, gx = torch.gradient(u, dim=(-2, -1))
    return gy, gx


def divergence(ny: torch.Tensor, nx: torch.Tensor) -> torch.Tensor:
    """``d(nx)/dx + d(ny)/dy`` with :func:`gradient`'s differences (Li's ``div``)."""
    _check_map("nx", nx)
    _check_map("ny", ny)
    return torch.gradient(nx, dim=-1)[0] + torch.gradient(ny, dim=-2)[0]


def curvature_central(u: torch.Tensor, eta: float = 1e-10) -> torch.Tensor:
    """Mean curvature ``kappa = div(grad u / sqrt(|grad u|^2 + eta))`` with central differences.

    Equal to :func:`lsbench.levelset.ops.curvature_central` map by map. For ``u`` positive inside
    a disk of radius R, ``kappa = -1/R`` on the contour (Chan & Vese 2001, the curvature of
    Eq. (9), written in divergence form).
    """
    _check_map("u", u)
    uy, ux = torch.gradient(u, dim=(-2, -1))
    norm = torch.sqrt(ux * ux + uy * uy + eta)
    return divergence(uy / norm, ux / norm)


def neumann_bound_cond(f: torch.Tensor) -> torch.Tensor:
    """Li's ``NeumannBoundCond``: rows/cols 2 and -3 mirrored onto the border (a new tensor).

    Equal to :func:`lsbench.levelset.ops.neumann_bound_cond` map by map; maps narrower than
    3 pixels along an axis are left unchanged along that axis, as in NumPy.
    """
    _check_map("f", f, min_side=1)
    g = f
    if g.shape[-2] >= 3:
        g = torch.cat([g[..., 2:3, :], g[..., 1:-1, :], g[..., -3:-2, :]], dim=-2)
    if g.shape[-1] >= 3:
        g = torch.cat([g[..., :, 2:3], g[..., :, 1:-1], g[..., :, -3:-2]], dim=-1)
    return g


def neumann_pad(u: torch.Tensor, width: int = 1) -> torch.Tensor:
    """Zero-flux (edge-replicating) padding of ``(..., H, W)`` maps: ``np.pad(u, width, mode="edge")``."""
    _check_map("u", u, min_side=1)
    if isinstance(width, bool) or not isinstance(width, int) or width < 0:
        raise ValueError(f"width must be a non-negative integer, got {width!r}")
    if width == 0:
        return u
    batched = u if u.dim() == 3 else u.unsqueeze(0)
    padded = F.pad(batched.unsqueeze(1), (width, width, width, width), mode="replicate").squeeze(1)
    return padded if u.dim() == 3 else padded.squeeze(0)


# -- region statistics ----------------------------------------------------------------------------
def region_means(
    image: torch.Tensor, phi: torch.Tensor, heaviside_kind: str = "arctan", eps: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Chan–Vese region means ``c1`` (phi > 0, inside) and ``c2`` (outside), per map.

    Parameters
    ----------
    image, phi : Tensor, shape (B, H, W) or (H, W)
    heaviside_kind : {"arctan", "hard"}
        ``c1 = sum I H(phi) / sum H(phi)``, ``c2 = sum I (1 - H) / sum (1 - H)`` with
        ``H = H_eps`` (Eq. (11)) or the indicator ``phi > 0`` (Eq. (6); what the official RLS
        code effectively computes, see ``reference/learned-methods.md`` §1.2).
    eps : float
        Width of the arctan Heaviside.

    Returns
    -------
    c1, c2 : Tensor, shape (B, 1, 1) (or (1, 1) for a single map)
        An empty region has mean 0 (as in scikit-image's ``chan_vese``).
    """
    _check_map("image", image, min_side=1)
    _check_map("phi", phi, min_side=1)
    if image.shape != phi.shape:
        raise ValueError(f"image has shape {tuple(image.shape)} but phi has shape {tuple(phi.shape)}")
    h = heaviside(phi, heaviside_kind, eps)
    hinv = 1.0 - h
    dims = (-2, -1)
    tiny = torch.finfo(phi.dtype).tiny
    c1 = (image * h).sum(dims, keepdim=True) / h.sum(dims, keepdim=True).clamp_min(tiny)
    c2 = (image * hinv).sum(dims, keepdim=True) / hinv.sum(dims, keepdim=True).clamp_min(tiny)
    return c1, c2

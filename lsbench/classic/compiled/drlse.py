"""DRLSE compiled: one explicit step of ``drlse_edge.m`` (Li, Xu, Gui & Fox 2010) per pixel.

A step is two sweeps over the image (rows in parallel), because the divergences need the
neighbours' unit normals: the first gives each pixel its unit normal :func:`unit_normal` and the
double-well flux :func:`double_well_flux` (Eq. (16)), the second advances ``u`` by
:func:`drlse_eq20`. Inner pixels are swept by branch-free loops with the central differences
inline (the compiler vectorises them); the border pixels take MATLAB's one-sided differences
(:func:`~lsbench.classic.compiled._kernels.gradient_at`). The operations and their order are
:class:`lsbench.classic.drlse._DrlseStepper`'s, ``cos`` is the C library's in both, so with the
single-well potential the two backends give the same bits; the double well's ``sin`` is
:func:`~lsbench.classic.compiled._kernels.vector_sin` (within 1 ulp of the C library's, 3-4x
faster), so there phi agrees to rounding, amplified by the evolution as any rounding difference
is (the masks agree as well as the NumPy backend agrees with itself from a start perturbed by
1e-12). Sign as in the reference: the object is ``u < 0``.
"""

from __future__ import annotations

import math

from numba import prange

from lsbench.classic.compiled._kernels import (
    d_dx_row,
    d_dy_row,
    del2_at,
    divergence_at,
    jit,
    laplacian_5,
    neumann_bound_cond,
    pixel,
    vector_sin,
)

__all__ = ["dirac_compact", "double_well_dp", "double_well_flux", "drlse_eq20", "drlse_steps", "unit_normal"]

_SMALL = 1e-10  # drlse_edge.m's smallNumber


@pixel
def double_well_dp(s):
    """``d_p(s) = p2'(s) / s`` of the double-well potential (Eq. (16)), with ``p2'(s) = sin(2 pi s)
    / (2 pi)`` for ``s <= 1`` and ``s - 1`` above, and ``d_p = 1`` where ``p2'(s)`` or ``s`` is 0
    (``distReg_p2`` in ``drlse_edge.m``). The sine is :func:`vector_sin` (within 1 ulp of the C
    library's), with selects instead of branches, so that the loop over a row vectorises."""
    well = vector_sin(2.0 * math.pi * s) / (2.0 * math.pi)  # for every s: the selects below pick
    ps = well if s <= 1.0 else s - 1.0
    return (ps if ps != 0.0 else 1.0) / (s if s != 0.0 else 1.0)


@pixel
def unit_normal(ux, uy):
    """``(Nx, Ny, |grad u|)``: ``N = grad u / (|grad u| + 1e-10)`` as ``drlse_edge.m`` regularises it."""
    s = math.sqrt(ux * ux + uy * uy)
    return ux / (s + _SMALL), uy / (s + _SMALL), s


@pixel
def double_well_flux(ux, uy, s):
    """``(d_p(s) - 1) grad u``, written ``d_p ux - ux``, ``d_p uy - uy`` (``distReg_p2``): its divergence
    plus ``4 del2(u)`` is the double-well regulariser ``div(d_p(|grad u|) grad u)``."""
    dp = double_well_dp(s)
    return dp * ux - ux, dp * uy - uy


@jit
def dirac_compact(u, epsilon):
    """``delta_eps(u) = (1 + cos(pi u / eps)) / (2 eps)`` for ``|u| <= eps``, else 0 (Eq. (27))."""
    if abs(u) <= epsilon:
        return (0.5 / epsilon) * (1.0 + math.cos(math.pi * u / epsilon))
    return 0.0


@pixel
def drlse_eq20(u, d, reg, curv, Nx, Ny, g, vx, vy, lambda_, mu, alpha, dt):
    """``u + dt (mu R + lambda delta (grad g . N + g div N) + alpha g delta)``: one explicit step
    of Eq. (20), the edge term written as ``drlse_edge.m`` does (``div(g N) = grad g . N + g div N``);
    ``d`` is ``delta_eps(u)``, ``R`` the distance-regularisation term; ``alpha = 0`` adds nothing."""
    edge = (vx * Nx + vy * Ny) * d + curv * (d * g)
    force = edge * lambda_ + reg * mu
    if alpha != 0.0:
        force = force + (d * g) * alpha
    return u + force * dt


@jit
def _regulariser_at(u, Nx, Ny, Rx, Ry, i, j, double_well):
    """``(R, div N)`` at any pixel (the border ones): ``R = div((d_p - 1) grad u) + 4 del2(u)``
    for the double well, ``4 del2(u) - div N`` for the single well."""
    curv = divergence_at(Nx, Ny, i, j)
    if double_well:
        return divergence_at(Rx, Ry, i, j) + del2_at(u, i, j), curv
    return del2_at(u, i, j) - curv, curv


@jit(parallel=True)
def drlse_steps(u, g, vx, vy, lambda_, mu, alpha, epsilon, dt, double_well, n_steps, work):
    """``n_steps`` steps of ``drlse_edge.m`` on ``u`` (in place), rows in parallel: Li's Neumann
    boundary, then :func:`unit_normal` and :func:`double_well_flux` on every pixel, then
    :func:`drlse_eq20`. ``vx, vy`` is the gradient of the edge indicator ``g``; ``work`` is
    six ``(H, W)`` scratch planes of u's type (:func:`~lsbench.classic.compiled._kernels.scratch_planes`)."""
    h, w = u.shape
    Nx, Ny, Rx, Ry, D = work[0], work[1], work[2], work[3], work[4]
    cur, nxt = u, work[5]
    half = 0.5
    for _ in range(n_steps):
        neumann_bound_cond(cur)
        for i in prange(h):
            nx, ny, rx, ry, s = Nx[i], Ny[i], Rx[i], Ry[i], D[i]
            d_dx_row(cur, i, rx)  # grad u, kept in Rx, Ry until the flux replaces it
            d_dy_row(cur, i, ry)
            for j in range(w):
                nx[j], ny[j], s[j] = unit_normal(rx[j], ry[j])
            if double_well:
                for j in range(w):
                    rx[j], ry[j] = double_well_flux(rx[j], ry[j], s[j])
        for i in prange(h):
            d = D[i]
            for j in range(w):
                d[j] = dirac_compact(cur[i, j], epsilon)
            border = range(w) if i == 0 or i == h - 1 else range(0, w, w - 1)
            for j in border:  # MATLAB's one-sided differences
                reg, curv = _regulariser_at(cur, Nx, Ny, Rx, Ry, i, j, double_well)
                nxt[i, j] = drlse_eq20(cur[i, j], d[j], reg, curv, Nx[i, j], Ny[i, j], g[i, j], vx[i, j], vy[i, j],
                                       lambda_, mu, alpha, dt)
            if i == 0 or i == h - 1:
                continue
            row, up, down, o = cur[i], cur[i - 1], cur[i + 1], nxt[i]
            nx, ny, ny_up, ny_down, rx, ry_up, ry_down = Nx[i], Ny[i], Ny[i - 1], Ny[i + 1], Rx[i], Ry[i - 1], Ry[i + 1]
            gi, vxi, vyi = g[i], vx[i], vy[i]
            for j in range(1, w - 1):  # inner pixels: the central differences inline
                curv = (nx[j + 1] - nx[j - 1]) * half + (ny_down[j] - ny_up[j]) * half
                lap = laplacian_5(row[j], row[j - 1], row[j + 1], up[j], down[j])
                if double_well:
                    reg = ((rx[j + 1] - rx[j - 1]) * half + (ry_down[j] - ry_up[j]) * half) + lap
                else:
                    reg = lap - curv
                o[j] = drlse_eq20(row[j], d[j], reg, curv, nx[j], ny[j], gi[j], vxi[j], vyi[j], lambda_, mu, alpha,
                                  dt)
        cur, nxt = nxt, cur
    if n_steps % 2 == 1:
        u[:, :] = cur

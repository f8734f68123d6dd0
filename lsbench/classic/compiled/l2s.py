"""L2S compiled: the iteration of ``creaseg_suvadip_fast.m`` (Mukherjee & Acton 2015) per pixel.

One iteration: the smooth Heaviside :func:`heaviside`, the weighted ridge fits of the inside and
outside intensities in the 2-D Legendre basis (:func:`legendre_fit`, BLAS products and a LAPACK
solve), the data force :func:`l2s_force` normalised by its maximum, the curvature, the adaptive
step, one Sussman re-initialisation step :func:`sussman_eq` and Li's Neumann boundary, then the
count of pixels that changed side (the stopping rule). Inner pixels are swept in vectorised row
loops, rows in parallel. The fits are the NumPy backend's matrix products, through the BLAS and LAPACK
that numba links (SciPy's), and every per-pixel expression keeps the NumPy order, except the
Heaviside's arctangent, :func:`~lsbench.classic.compiled._kernels.vector_atan` (within 1 ulp of the
C library's), so the two backends agree to the rounding of those libraries and of the arctangent
(amplified by the evolution as any rounding difference is).
"""

# ruff: noqa: E741  (I is the paper's name for the image, i, j, k, l the basis indices)
from __future__ import annotations

import math

import numpy as np
from numba import prange

from lsbench.classic.compiled._kernels import (
    d_dx_row,
    d_dy_row,
    divergence_at,
    jit,
    neumann_bound_cond,
    pixel,
    vector_atan,
)

__all__ = ["heaviside", "l2s_force", "l2s_steps", "legendre_evaluate", "legendre_fit", "sussman_eq"]

_EPS = 2.220446049250313e-16  # MATLAB's eps in the normalisations
_CURVATURE_ETA = 1e-10


@pixel
def heaviside(phi, epsilon):
    """``H_eps(phi) = (1 + (2/pi) atan(phi/eps)) / 2`` (``heaviside_arctan``)."""
    return 0.5 * (1.0 + (2.0 / math.pi) * vector_atan(phi / epsilon))


@pixel
def dirac(phi, epsilon):
    """``delta_eps(phi) = (eps/pi) / (eps^2 + phi^2)``."""
    return (epsilon / math.pi) / (epsilon * epsilon + phi * phi)


@pixel
def l2s_force(I, p1, p2, phi, lambda1, lambda2, epsilon):
    """``delta(phi) (lambda2 (I - p2)^2 - lambda1 (I - p1)^2)``: the data force of the paper, before
    its normalisation by the maximum (``p1 = B c1`` inside, ``p2 = B c2`` outside)."""
    return (lambda2 * (I - p2) ** 2 - lambda1 * (I - p1) ** 2) * dirac(phi, epsilon)


@pixel
def sussman_eq(D, a, b, c, d, dt):
    """One Sussman re-initialisation step at a pixel: ``D - dt S(D) (|grad D| - 1)`` with
    ``S(D) = D / sqrt(D^2 + 1)`` and Godunov's upwind ``|grad D|`` from the backward/forward
    differences ``a, b`` (x) and ``c, d`` (y) (:func:`lsbench.levelset.ops.sussman_reinit`)."""
    s = 1.0 if D > 0 else (-1.0 if D < 0 else 0.0)
    gx = max(max(s * a, -(s * b)), 0.0)
    gy = max(max(s * c, -(s * d)), 0.0)
    grad = (math.sqrt(gx * gx + gy * gy) - 1.0) * abs(s)
    return D - ((D / math.sqrt(D * D + 1.0)) * dt) * grad


@pixel
def curvature_normal(ux, uy):
    """``grad u / sqrt(|grad u|^2 + 1e-10)`` (``curvature_central``'s unit normal)."""
    norm = math.sqrt(ux * ux + uy * uy + _CURVATURE_ETA)
    return ux / norm, uy / norm


@jit
def legendre_fit(W, WI, py, px, pyy, pxx, rho):
    """Coefficients ``c = (B^T W B + rho 1)^-1 B^T W I`` of the weighted ridge fit in the 2-D Legendre
    basis ``B[(y, x), (i, j)] = P_i(y) P_j(x)``, from the weight ``W`` and ``W I``: the matrix
    products of :class:`lsbench.classic.l2s._SeparableLegendre` (``B^T W B = Pyy^T (W Pxx)``
    rearranged, ``B^T W I = Py^T (W I) Px``), in its order, with BLAS."""
    m = py.shape[1]
    g = np.dot(pyy.T, np.dot(W, pxx))  # [(i, k), (j, l)]
    A = np.empty((m * m, m * m))
    for i in range(m):
        for j in range(m):
            for k in range(m):
                for l in range(m):
                    A[i * m + j, k * m + l] = g[i * m + k, j * m + l]
    for q in range(m * m):
        A[q, q] += rho
    b = np.dot(np.dot(py.T, WI), px).ravel()
    return np.linalg.solve(A, b)


@jit
def legendre_evaluate(py, px, c, out):
    """``out = P_y C P_x^T``: the fitted image of the coefficients ``c`` (``(m, m)`` as i, j)."""
    m = py.shape[1]
    out[:, :] = np.dot(np.dot(py, c.reshape((m, m))), px.T)


@jit(parallel=True)
def l2s_steps(phi, I, py, px, pyy, pxx, nu, rho, lambda1, lambda2, epsilon, cfl, reinit_dt, max_steps, tol,
              patience, state, out_c, work):
    """Up to ``max_steps`` iterations of ``creaseg_suvadip_fast.m`` on ``phi`` (in place).

    ``state = [count, side changes of the last iteration]`` carries the stopping rule across calls
    (an iteration is still when fewer than ``tol`` pixels change side of the zero level,
    ``phi >= 0``; the evolution stops after more than ``patience`` still iterations in a row).
    ``out_c`` (``(2, m*m)``) receives the last coefficients (inside, outside); ``work`` is
    ``(10, H, W)`` scratch whose planes 0 and 1 hold the last fits ``p1`` (inside) and ``p2``.
    ``py, px`` are the 1-D Legendre bases of the rows and columns, ``pyy, pxx`` their products
    ``P_i P_k`` (``(H, m*m)``, ``(W, m*m)``).
    Returns ``(iterations, converged)``.
    """
    h, w = phi.shape
    p1, p2, H, Nx, Ny, F, kappa, nxt = work[0], work[1], work[2], work[3], work[4], work[5], work[6], work[7]
    Hc, HI = work[8], work[9]
    row_max = np.zeros(h)
    row_changes = np.zeros(h, np.int64)
    half = 0.5
    steps = 0
    converged = False
    c1, c2 = out_c[0].copy(), out_c[1].copy()
    while steps < max_steps:
        # the inside and outside fits, c = (B^T W B + rho 1)^-1 B^T W I
        for i in prange(h):
            Hi, Hci, HIi, pi, Ii = H[i], Hc[i], HI[i], phi[i], I[i]
            for j in range(w):
                Hi[j] = heaviside(pi[j], epsilon)
                HIi[j] = Hi[j] * Ii[j]
        c1 = legendre_fit(H, HI, py, px, pyy, pxx, rho)  # inside, W = H(phi)
        for i in prange(h):
            Hi, Hci, HIi, Ii = H[i], Hc[i], HI[i], I[i]
            for j in range(w):
                Hci[j] = 1.0 - Hi[j]
                HIi[j] = Hci[j] * Ii[j]
        c2 = legendre_fit(Hc, HI, py, px, pyy, pxx, rho)  # outside, W = 1 - H(phi)
        legendre_evaluate(py, px, c1, p1)
        legendre_evaluate(py, px, c2, p2)
        # the data force and the curvature
        for i in prange(h):
            nx, ny = Nx[i], Ny[i]
            d_dx_row(phi, i, nx)
            d_dy_row(phi, i, ny)
            for j in range(w):
                nx[j], ny[j] = curvature_normal(nx[j], ny[j])
        for i in prange(h):
            Fi, Ii, p1i, p2i, pi, ki = F[i], I[i], p1[i], p2[i], phi[i], kappa[i]
            biggest = 0.0
            for j in range(w):
                Fi[j] = l2s_force(Ii[j], p1i[j], p2i[j], pi[j], lambda1, lambda2, epsilon)
                biggest = max(biggest, abs(Fi[j]))
            row_max[i] = biggest
            border = range(w) if i == 0 or i == h - 1 else range(0, w, w - 1)
            for j in border:  # MATLAB's one-sided differences
                ki[j] = divergence_at(Nx, Ny, i, j)
            if i == 0 or i == h - 1:
                continue
            nx, ny_up, ny_down = Nx[i], Ny[i - 1], Ny[i + 1]
            for j in range(1, w - 1):  # inner pixels: the central differences inline
                ki[j] = (nx[j + 1] - nx[j - 1]) * half + (ny_down[j] - ny_up[j]) * half
        norm = row_max.max() + _EPS
        # dphi/dt = F / max|F| + nu kappa (curvature not weighted by delta), then the adaptive step
        for i in prange(h):
            Fi, ki = F[i], kappa[i]
            biggest = 0.0
            for j in range(w):
                Fi[j] = Fi[j] / norm + ki[j] * nu
                biggest = max(biggest, abs(Fi[j]))
            row_max[i] = biggest
        step = cfl / (row_max.max() + _EPS)
        for i in prange(h):
            Fi, pi = F[i], phi[i]
            for j in range(w):
                Fi[j] = pi[j] + step * Fi[j]  # phi + dt dphi, kept in F for the re-initialisation
        # one Sussman step (one-sided differences, zero beyond the border), Neumann boundary
        for i in prange(h):
            D, o = F[i], nxt[i]
            up = F[i - 1] if i > 0 else F[i]  # beyond the border the one-sided differences are 0
            down = F[i + 1] if i < h - 1 else F[i]
            o[0] = sussman_eq(D[0], 0.0, D[1] - D[0], D[0] - up[0], down[0] - D[0], reinit_dt)
            for j in range(1, w - 1):
                o[j] = sussman_eq(D[j], D[j] - D[j - 1], D[j + 1] - D[j], D[j] - up[j], down[j] - D[j], reinit_dt)
            o[w - 1] = sussman_eq(D[w - 1], D[w - 1] - D[w - 2], 0.0, D[w - 1] - up[w - 1], down[w - 1] - D[w - 1],
                                  reinit_dt)
        neumann_bound_cond(nxt)
        for i in prange(h):  # pixels that changed side (phi >= 0), and the new phi
            o, pi = nxt[i], phi[i]
            changed = 0
            for j in range(w):
                changed += (o[j] >= 0) != (pi[j] >= 0)
                pi[j] = o[j]
            row_changes[i] = changed
        steps += 1
        state[1] = row_changes.sum()
        state[0] = state[0] + 1 if state[1] < tol else 0
        if state[0] > patience:
            converged = True
            break
    out_c[0, :] = c1
    out_c[1, :] = c2
    return steps, converged

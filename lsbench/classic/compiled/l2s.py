"""L2S compiled: the iteration of ``creaseg_suvadip_fast.m`` (Mukherjee & Acton 2015) per pixel.

One iteration: the smooth Heaviside :func:`heaviside`, the weighted ridge fits of the inside and
outside intensities in the 2-D Legendre basis (their row sums :func:`legendre_row_moments` swept
with the Heaviside, then :func:`legendre_fit`, a LAPACK solve), the fitted images
(:func:`legendre_evaluate_row`) and the data force :func:`l2s_force` in one sweep, the force
normalised by its maximum, the curvature, the adaptive step :func:`explicit_step_eq` and one Sussman
re-initialisation step :func:`sussman_eq` in one sweep, Li's Neumann boundary, then the count of
pixels that changed side (the stopping rule). Inner pixels are swept in vectorised row loops, rows
in parallel. Every per-pixel expression keeps the NumPy order, except the Heaviside's arctangent,
:func:`~lsbench.classic.compiled._kernels.vector_atan` (within 1 ulp of the C library's), and the
fits' sums: the NumPy backend's matrix products (BLAS, with fused multiply-adds) are sums over the
same products here, in a fixed order (:func:`dot`) that does not depend on the number of threads.
So the two backends agree to rounding, amplified by the evolution as any rounding difference is
(the masks agree as well as the NumPy backend agrees with itself from a start perturbed by 1e-12).
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
    like,
    neumann_bound_cond,
    pixel,
    vector_atan,
)

__all__ = [
    "dot",
    "explicit_step_eq",
    "heaviside",
    "l2s_force",
    "l2s_steps",
    "legendre_evaluate_row",
    "legendre_fit",
    "legendre_row_moments",
    "max_abs",
    "sussman_eq",
]

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


@pixel
def explicit_step_eq(phi, dphi, dt):
    """``phi + dt dphi``: the level set after the adaptive step, before the re-initialisation."""
    return phi + dt * dphi


@jit
def explicit_step(phi, dphi, dt, out):
    """:func:`explicit_step_eq` along a row."""
    for j in range(out.size):
        out[j] = explicit_step_eq(phi[j], dphi[j], dt)


@jit
def max_abs(a):
    """``max |a|`` of a 1-D array (0 for an empty one), in its own loop: a maximum in the loop of
    a formula would keep the compiler from vectorising the formula."""
    biggest = like(a[0], 0.0) if a.size else 0.0
    for j in range(a.size):
        biggest = max(biggest, abs(a[j]))
    return biggest


@jit
def dot(a, b):
    """``sum_j a[j] b[j]`` of two 1-D arrays in a fixed order: eight interleaved partial sums (which
    the compiler packs into two vectors), added pairwise, then the remainder."""
    n = a.size
    z = like(a[0], 0.0)
    s0, s1, s2, s3, s4, s5, s6, s7 = z, z, z, z, z, z, z, z
    stop = n - n % 8
    for j in range(0, stop, 8):
        s0 += a[j] * b[j]
        s1 += a[j + 1] * b[j + 1]
        s2 += a[j + 2] * b[j + 2]
        s3 += a[j + 3] * b[j + 3]
        s4 += a[j + 4] * b[j + 4]
        s5 += a[j + 5] * b[j + 5]
        s6 += a[j + 6] * b[j + 6]
        s7 += a[j + 7] * b[j + 7]
    res = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for j in range(stop, n):
        res += a[j] * b[j]
    return res


@jit
def legendre_row_moments(W, WI, pxxT, pxT, out_gram, out_moment):
    """The sums over one image row ``y`` of the weighted basis products: ``out_gram[jl] = sum_x W P_j P_l``
    and ``out_moment[j] = sum_x W I P_j`` (``pxxT``, ``pxT``: ``P_j P_l`` and ``P_j`` along x, one
    row each; ``P_j P_l = P_l P_j``, so each pair is summed once). Their sums over the rows against
    ``P_i P_k`` and ``P_i`` (:func:`legendre_fit`) give ``B^T W B`` and ``B^T W I``."""
    m = pxT.shape[0]
    for j in range(m):
        for l in range(j, m):
            out_gram[j * m + l] = dot(W, pxxT[j * m + l])
            out_gram[l * m + j] = out_gram[j * m + l]
        out_moment[j] = dot(WI, pxT[j])


@jit
def legendre_fit(row_gram, row_moment, pyyT, pyT, rho):
    """Coefficients ``c = (B^T W B + rho 1)^-1 B^T W I`` of the weighted ridge fit in the 2-D Legendre
    basis ``B[(y, x), (i, j)] = P_i(y) P_j(x)`` (``c[i m + j]``), from the row sums of
    :func:`legendre_row_moments` (``row_gram[jl, y]``, ``row_moment[j, y]``): ``(B^T W B)[(i, j),
    (k, l)] = sum_y P_i P_k(y) row_gram[jl, y]`` and ``(B^T W I)[(i, j)] = sum_y P_i(y) row_moment[j, y]``
    (the products of :class:`lsbench.classic.l2s._SeparableLegendre`, summed in another order);
    solved by LAPACK."""
    m = pyT.shape[0]
    A = np.empty((m * m, m * m))
    b = np.empty(m * m)
    for i in range(m):
        for j in range(m):
            b[i * m + j] = dot(pyT[i], row_moment[j])
            for k in range(m):
                for l in range(m):
                    A[i * m + j, k * m + l] = dot(pyyT[i * m + k], row_gram[j * m + l])
    for q in range(m * m):
        A[q, q] += rho
    return np.linalg.solve(A, b)


@jit
def legendre_evaluate_row(py_row, pxT, c, out):
    """Row ``y`` of the fitted image ``P_y C P_x^T``: ``out[x] = sum_j (sum_i P_i(y) c[i m + j]) P_j(x)``."""
    m = pxT.shape[0]
    for j in range(m):
        q = 0.0
        for i in range(m):
            q += py_row[i] * c[i * m + j]
        pj = pxT[j]
        if j == 0:
            for x in range(out.size):
                out[x] = q * pj[x]
        else:
            for x in range(out.size):
                out[x] += q * pj[x]


@jit(parallel=True)
def l2s_steps(phi, I, pyT, pxT, pyyT, pxxT, nu, rho, lambda1, lambda2, epsilon, cfl, reinit_dt, max_steps, tol,
              patience, state, out_c, work, rows):
    """Up to ``max_steps`` iterations of ``creaseg_suvadip_fast.m`` on ``phi`` (in place).

    ``state = [count, side changes of the last iteration]`` carries the stopping rule across calls
    (an iteration is still when fewer than ``tol`` pixels change side of the zero level,
    ``phi >= 0``; the evolution stops after more than ``patience`` still iterations in a row).
    ``out_c`` (``(2, m*m)``) receives the last coefficients (inside, outside); ``work`` is
    nine ``(H, W)`` scratch planes (:func:`~lsbench.classic.compiled._kernels.scratch_planes`);
    planes 0 and 1 hold the last fits ``p1`` (inside) and ``p2``;
    ``rows`` is ``(2 (m^2 + m), H)`` scratch for the row sums of the fits. ``pyT, pxT`` are the
    1-D Legendre bases of the rows and columns (``(m, H)``, ``(m, W)``), ``pyyT, pxxT`` their
    products ``P_i P_k`` (``(m*m, H)``, ``(m*m, W)``).

    Per iteration, five sweeps (rows in parallel): the Heaviside, the weights of both fits and
    their row sums, and the unit normals; the fits :func:`l2s_force` and the curvature; the
    normalised velocity; the explicit step and :func:`sussman_eq`; the side changes.
    Returns ``(iterations, converged)``.
    """
    h, w = phi.shape
    m = pxT.shape[0]
    M = m * m
    p1, p2, H, Nx, Ny, F, kappa, nxt, HI = (work[0], work[1], work[2], work[3], work[4], work[5], work[6],
                                             work[7], work[8])
    gram1, gram2 = rows[0:M], rows[M:2 * M]  # row sums of W P_j P_l, W = H (inside) and 1 - H (outside)
    moment1, moment2 = rows[2 * M:2 * M + m], rows[2 * M + m:2 * M + 2 * m]  # row sums of W I P_j
    gram_all, moment_all = np.empty((M, h)), np.empty((m, h))  # the row sums with W = 1
    ones = np.ones(w)
    for i in prange(h):
        g, b = np.empty(M), np.empty(m)
        legendre_row_moments(ones, I[i], pxxT, pxT, g, b)
        gram_all[:, i], moment_all[:, i] = g, b
    row_max = np.zeros(h)
    row_changes = np.zeros(h, np.int64)
    row_gram, row_moment = np.empty((h, M)), np.empty((h, m))  # each row's sums, before they are scattered
    py_rows = np.ascontiguousarray(pyT.T)  # P_i(y) of each row y, contiguous
    half = 0.5
    steps = 0
    converged = False
    c1, c2 = out_c[0].copy(), out_c[1].copy()
    while steps < max_steps:
        # the weight of the inside fit and its sums along each row, the outside fit's as the
        # unweighted sums less the inside's (W = 1 - H(phi)); the unit normals
        for i in prange(h):
            Hi, HIi, pi, Ii, nx, ny = H[i], HI[i], phi[i], I[i], Nx[i], Ny[i]
            for j in range(w):
                Hi[j] = heaviside(pi[j], epsilon)
                HIi[j] = Hi[j] * Ii[j]
            g, b = row_gram[i], row_moment[i]
            legendre_row_moments(Hi, HIi, pxxT, pxT, g, b)  # inside, W = H(phi)
            for q in range(M):
                gram1[q, i], gram2[q, i] = g[q], gram_all[q, i] - g[q]
            for q in range(m):
                moment1[q, i], moment2[q, i] = b[q], moment_all[q, i] - b[q]
            d_dx_row(phi, i, nx)
            d_dy_row(phi, i, ny)
            for j in range(w):
                nx[j], ny[j] = curvature_normal(nx[j], ny[j])
        c1 = legendre_fit(gram1, moment1, pyyT, pyT, rho)  # c = (B^T W B + rho 1)^-1 B^T W I
        c2 = legendre_fit(gram2, moment2, pyyT, pyT, rho)
        # the fitted images, the data force and the curvature
        for i in prange(h):
            Fi, Ii, p1i, p2i, pi, ki = F[i], I[i], p1[i], p2[i], phi[i], kappa[i]
            py_row = py_rows[i]
            legendre_evaluate_row(py_row, pxT, c1, p1i)
            legendre_evaluate_row(py_row, pxT, c2, p2i)
            for j in range(w):
                Fi[j] = l2s_force(Ii[j], p1i[j], p2i[j], pi[j], lambda1, lambda2, epsilon)
            row_max[i] = max_abs(Fi)
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
            for j in range(w):
                Fi[j] = Fi[j] / norm + ki[j] * nu
            row_max[i] = max_abs(Fi)
        step = cfl / (row_max.max() + _EPS)
        # phi + dt dphi (computed where the stencil needs it), then one Sussman step (one-sided
        # differences, zero beyond the border); Neumann boundary
        for i in prange(h):
            D, up, down, o = kappa[i], H[i], HI[i], nxt[i]
            explicit_step(phi[i], F[i], step, D)
            explicit_step(phi[max(i - 1, 0)], F[max(i - 1, 0)], step, up)  # beyond the border: D itself
            explicit_step(phi[min(i + 1, h - 1)], F[min(i + 1, h - 1)], step, down)
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

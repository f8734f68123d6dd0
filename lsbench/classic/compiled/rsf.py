"""RSF ("li", Li et al. 2008) and LIC (Li et al. 2011) compiled: ``RSF.m`` and ``lse_bfe.m`` per pixel.

Both evolve the level set by the same step (:func:`level_set_eq`, RSF's Eq. (15) and LIC's
``updateLSF``): ``u + dt (nu delta kappa + mu (4 del2(u) - kappa) - delta F)`` with the curvature
``kappa = div(grad u / sqrt(|grad u|^2 + 1e-10))``, where the data force ``F`` is RSF's
``lambda1 e1 - lambda2 e2`` (:func:`rsf_data_force`, from the local fits :func:`local_binary_fit`)
or LIC's ``e1 - e2`` (frozen for the inner iterations; :func:`lic_update_c`,
:func:`lic_update_b`). Gaussians are :func:`~lsbench.classic.compiled._kernels.gaussian_filter_zero`
(scipy's correlation order). Every operation is the NumPy backend's, in its order, except the
Heaviside's arctangent: :func:`~lsbench.classic.compiled._kernels.vector_atan` (within 1 ulp of
the C library's ``atan``, which it equals on ~95 % of arguments; 4-8x faster in a loop, and the
Heaviside pass was a third of an RSF iteration). With that arctangent in the NumPy backend too the
two give the same bits (for ``sigma < 5``; from ``sigma >= 5`` the NumPy backend convolves by FFT,
equal to rounding); with NumPy's own, phi agrees to rounding, amplified by the evolution as any
rounding difference is (the masks agree as well as the NumPy backend agrees with itself from a
start perturbed by 1e-12). Sign as in the reference: the object is ``u < 0``; index 1 is the
region ``u > 0``.
"""

# ruff: noqa: E741  (I is the papers' name for the image)
from __future__ import annotations

import math

import numpy as np
from numba import prange

from lsbench.classic.compiled._kernels import (
    _pairwise_block,
    d_dx_row,
    d_dy_row,
    del2_at,
    divergence_at,
    gaussian_filter_zero,
    jit,
    laplacian_5,
    neumann_bound_cond,
    pairwise_combine,
    pairwise_leaves,
    pixel,
    vector_atan,
)

__all__ = [
    "heaviside",
    "level_set_eq",
    "lic_update_b",
    "lic_update_c",
    "local_binary_fit",
    "lse_steps",
    "rsf_data_force",
    "rsf_steps",
]

_CURVATURE_ETA = 1e-10  # curvature_central's regulariser under the square root


@pixel
def heaviside(u, epsilon):
    """``H_eps(u) = (1 + (2/pi) atan(u/eps)) / 2`` (Eq. (8))."""
    return (vector_atan(u / epsilon) * (2.0 / math.pi) + 1.0) * 0.5


@pixel
def dirac(u, epsilon):
    """``delta_eps(u) = (eps/pi) / (eps^2 + u^2)`` (Eq. (9))."""
    return (epsilon / math.pi) / (epsilon * epsilon + u * u)


@pixel
def level_set_eq(u, kappa, lap, F, nu, mu, epsilon, dt):
    """``u + dt (nu delta(u) kappa + mu (4 del2(u) - kappa) - delta(u) F)``: Eq. (15) of RSF (and
    LIC's level-set step), in ``RSF.m``'s order; ``lap`` is ``4 del2(u)``."""
    d = dirac(u, epsilon)
    return u + ((kappa * d) * nu + (lap - kappa) * mu - F * d) * dt


@pixel
def local_binary_fit(KH, KHI, KI, KONE):
    """``(f1, f2)``: the fits ``f1 = K*(H I) / K*H`` and ``f2 = (K*I - K*(H I)) / (K*1 - K*H)``
    (Eq. (14), ``localBinaryFit``), from the convolutions at a pixel."""
    return KHI / KH, (KI - KHI) / (KONE - KH)


@pixel
def rsf_data_force(K_s1, fixed, K_s2, I):
    """``lambda1 e1 - lambda2 e2 = (lambda1 - lambda2) (K*1) I^2 + K*(lambda1 f1^2 - lambda2 f2^2)
    - 2 I K*(lambda1 f1 - lambda2 f2)`` (Eq. (15)) from ``K_s1 = K*(lambda1 f1^2 - lambda2 f2^2)``,
    ``fixed = (lambda1 - lambda2) (K*1) I^2`` and ``K_s2 = K*(lambda1 f1 - lambda2 f2)``."""
    return (K_s1 + fixed) - (K_s2 * I) * 2.0


@pixel
def curvature_normal(ux, uy):
    """``grad u / sqrt(|grad u|^2 + 1e-10)`` (``curvature_central``'s unit normal)."""
    norm = math.sqrt(ux * ux + uy * uy + _CURVATURE_ETA)
    return ux / norm, uy / norm


@jit(parallel=True)
def _level_set_step(u, F, nu, mu, epsilon, dt, Nx, Ny, out):
    """:func:`level_set_eq` on every pixel of ``u`` (after the Neumann boundary) into ``out``, with
    ``kappa = div N`` and ``4 del2(u)``: inner pixels with the central differences inline, border
    pixels with MATLAB's one-sided ones."""
    h, w = u.shape
    half = 0.5
    for i in prange(h):
        nx, ny = Nx[i], Ny[i]
        d_dx_row(u, i, nx)
        d_dy_row(u, i, ny)
        for j in range(w):
            nx[j], ny[j] = curvature_normal(nx[j], ny[j])
    for i in prange(h):
        if i == 0 or i == h - 1:
            for j in range(w):
                out[i, j] = level_set_eq(u[i, j], divergence_at(Nx, Ny, i, j), del2_at(u, i, j), F[i, j], nu, mu,
                                         epsilon, dt)
            continue
        for j in range(0, w, w - 1):
            out[i, j] = level_set_eq(u[i, j], divergence_at(Nx, Ny, i, j), del2_at(u, i, j), F[i, j], nu, mu,
                                     epsilon, dt)
        nx, ny_up, ny_down = Nx[i], Ny[i - 1], Ny[i + 1]
        row, up, down, f, o = u[i], u[i - 1], u[i + 1], F[i], out[i]
        for j in range(1, w - 1):  # inner pixels: the central differences inline
            kappa = (nx[j + 1] - nx[j - 1]) * half + (ny_down[j] - ny_up[j]) * half
            lap = laplacian_5(row[j], row[j - 1], row[j + 1], up[j], down[j])
            o[j] = level_set_eq(row[j], kappa, lap, f[j], nu, mu, epsilon, dt)


@jit(parallel=True)
def rsf_steps(u, I, KI, KONE, fixed, k, lambda1, lambda2, nu, mu, epsilon, dt, n_steps, work):
    """``n_steps`` iterations of ``RSF.m`` on ``u`` (in place).

    Per iteration: Neumann boundary; ``H(u)``; the local fits (two Gaussians); the data force (two
    more); :func:`level_set_eq`. ``work`` is eight ``(H, W)`` scratch planes (:func:`~lsbench.classic.compiled._kernels.scratch_planes`); after the call ``work[0]``
    and ``work[1]`` hold the last iteration's ``f1`` and ``f2``.
    """
    h, w = u.shape
    f1, f2, a, b, Ka, Kb, tmp, nxt = work[0], work[1], work[2], work[3], work[4], work[5], work[6], work[7]
    cur = u
    for _ in range(n_steps):
        neumann_bound_cond(cur)
        for i in prange(h):
            ui, Ii, ai, bi = cur[i], I[i], a[i], b[i]
            for j in range(w):
                ai[j] = heaviside(ui[j], epsilon)
                bi[j] = Ii[j] * ai[j]
        gaussian_filter_zero(a, k, Ka, tmp)  # K*H
        gaussian_filter_zero(b, k, Kb, tmp)  # K*(H I)
        for i in prange(h):
            f1i, f2i, ai, bi, Kai, Kbi, KIi, KONEi = f1[i], f2[i], a[i], b[i], Ka[i], Kb[i], KI[i], KONE[i]
            for j in range(w):
                f1i[j], f2i[j] = local_binary_fit(Kai[j], Kbi[j], KIi[j], KONEi[j])
                ai[j] = (f1i[j] * f1i[j]) * lambda1 - (f2i[j] * f2i[j]) * lambda2
                bi[j] = f1i[j] * lambda1 - f2i[j] * lambda2
        gaussian_filter_zero(a, k, Ka, tmp)  # K*(lambda1 f1^2 - lambda2 f2^2)
        gaussian_filter_zero(b, k, Kb, tmp)  # K*(lambda1 f1 - lambda2 f2)
        for i in prange(h):
            ai, Kai, Kbi, fi, Ii = a[i], Ka[i], Kb[i], fixed[i], I[i]
            for j in range(w):
                ai[j] = rsf_data_force(Kai[j], fi[j], Kbi[j], Ii[j])
        _level_set_step(cur, a, nu, mu, epsilon, dt, Ka, Kb, nxt)
        cur, nxt = nxt, cur
    if n_steps % 2 == 1:
        u[:, :] = cur


@jit(parallel=True)
def lse_steps(u, F, nu, mu, epsilon, dt, n_steps, work):
    """``n_steps`` level-set steps of ``lse_bfe.m`` (``updateLSF``) with the frozen data force
    ``F = e1 - e2``, on ``u`` in place; ``work`` is three ``(H, W)`` scratch planes."""
    cur, nxt = u, work[2]
    for _ in range(n_steps):
        neumann_bound_cond(cur)
        _level_set_step(cur, F, nu, mu, epsilon, dt, work[0], work[1], nxt)
        cur, nxt = nxt, cur
    if n_steps % 2 == 1:
        u[:, :] = cur


@jit(parallel=True)
def heaviside_field(u, epsilon, H):
    """``H = H_eps(u)`` for every pixel."""
    for i in prange(u.shape[0]):
        ui, Hi = u[i], H[i]
        for j in range(u.shape[1]):
            Hi[j] = heaviside(ui[j], epsilon)


@jit(parallel=True)
def lic_update_c(I, H, KB1, KB2, previous, work):
    """``lse_bfe.m``'s ``updateC``: ``c_i = sum (K*b) I M_i / sum (K*b^2) M_i`` with ``M1 = H``,
    ``M2 = 1 - H`` (``H = H_eps(u)``; NumPy's pairwise sums of the same products); a zero
    denominator keeps ``previous[i]``. The images are C-contiguous; ``work`` is four C-contiguous scratch planes of the image's size.

    The four sums run together, one run of NumPy's pairwise sum at a time (:func:`pairwise_leaves`;
    the runs in parallel): the run's products, then their sums while the products are in cache,
    then :func:`pairwise_combine` adds the runs' sums in NumPy's order.
    """
    n = H.size
    I1, H1, B1, B2 = I.reshape(n), H.reshape(n), KB1.reshape(n), KB2.reshape(n)
    num1, den1, num2, den2 = work[0].reshape(n), work[1].reshape(n), work[2].reshape(n), work[3].reshape(n)
    starts, sizes = pairwise_leaves(n)
    run_sums = np.empty((4, starts.size))
    for k in prange(starts.size):
        lo, m = starts[k], sizes[k]
        for q in range(lo, lo + m):
            M1 = H1[q]
            M2 = 1.0 - M1
            KB1_I = B1[q] * I1[q]
            num1[q], den1[q], num2[q], den2[q] = KB1_I * M1, B2[q] * M1, KB1_I * M2, B2[q] * M2
        run_sums[0, k], run_sums[1, k] = _pairwise_block(num1, lo, m), _pairwise_block(den1, lo, m)
        run_sums[2, k], run_sums[3, k] = _pairwise_block(num2, lo, m), _pairwise_block(den2, lo, m)
    C = previous.copy()
    for region in range(2):
        num, den = pairwise_combine(run_sums[2 * region], n), pairwise_combine(run_sums[2 * region + 1], n)
        if den != 0:
            C[region] = num / den
    return C


@jit(parallel=True)
def lic_update_b(I, u, C, k, epsilon, previous, work, H):
    """``lse_bfe.m``'s ``updateB``: ``b = K*(I J1) / K*J2`` with ``J1 = c1 M1 + c2 M2`` and
    ``J2 = c1^2 M1 + c2^2 M2`` (``M1 = H_eps(u)``, written into ``H`` for the next ``updateC``, which
    sees the same ``u``); where ``K*J2`` is 0 the previous ``b`` is kept. ``work`` is five ``(H, W)``
    scratch planes; returns the new ``b`` (a new array)."""
    h, w = u.shape
    PC1I, PC2, num, den, tmp = work[0], work[1], work[2], work[3], work[4]
    for i in prange(h):
        for j in range(w):
            Hij = heaviside(u[i, j], epsilon)
            H[i, j] = Hij
            PC1I[i, j] = (C[0] * Hij + C[1] * (1.0 - Hij)) * I[i, j]
            PC2[i, j] = (C[0] * C[0]) * Hij + (C[1] * C[1]) * (1.0 - Hij)
    gaussian_filter_zero(PC1I, k, num, tmp)
    gaussian_filter_zero(PC2, k, den, tmp)
    b = np.empty_like(previous)
    for i in prange(h):
        for j in range(w):
            b[i, j] = num[i, j] / den[i, j] if den[i, j] != 0 else previous[i, j]
    return b


@jit(parallel=True)
def lic_data_force(I, KONE_I, KB1, KB2, C, e1, e2, F):
    """``e_i = I^2 (K*1) - 2 c_i I (K*b) + c_i^2 (K*b^2)`` into ``e1``, ``e2`` and ``F = e1 - e2``."""
    h, w = I.shape
    for i in prange(h):
        for j in range(w):
            e1[i, j] = (KONE_I[i, j] - (I[i, j] * (2.0 * C[0])) * KB1[i, j]) + (C[0] * C[0]) * KB2[i, j]
            e2[i, j] = (KONE_I[i, j] - (I[i, j] * (2.0 * C[1])) * KB1[i, j]) + (C[1] * C[1]) * KB2[i, j]
            F[i, j] = e1[i, j] - e2[i, j]

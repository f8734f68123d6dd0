"""Chan–Vese compiled: Getreuer's semi-implicit update (IPOL 2012, Eq. (22)) as one loop body.

:func:`getreuer_eq22` is the update of one pixel; :func:`cv_evolve` sweeps it over an image (rows
in parallel) for up to ``max_steps`` iterations and :func:`cv_evolve_batch` evolves several
same-size images at once (images in parallel, each with its own stopping rule). The region means
``c1``, ``c2`` (Chan & Vese Eq. (6), hard Heaviside ``phi > 0``) and the RMS change that stops the
evolution are NumPy's pairwise sums of the same products, so phi, the masks and the iteration
counts are bit-identical to the NumPy backend and to ``skimage.segmentation.chan_vese``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from lsbench.classic.compiled._kernels import (
    jit,
    like,
    pairwise_leaves,
    pairwise_sum,
    pairwise_sum3,
)

__all__ = ["cv_evolve", "cv_evolve_batch", "cv_region_means", "getreuer_eq22", "region_means", "rms"]


@jit
def getreuer_eq22(phi, phi_r, phi_l, phi_d, phi_u, f, c1, c2, mu, lambda1, lambda2, nu, dt, mu_dt, eta):
    """phi at the next iteration from a pixel and its right, left, down and up neighbours.

    Getreuer (2012), Eq. (22), with scikit-image's operation order::

        C1 = 1 / sqrt(eta + (phi_r - phi)^2 + ((phi_d - phi_u)/2)^2)        right
        C2 = 1 / sqrt(eta + (phi - phi_l)^2 + ((phi_d - phi_u)/2)^2)        left
        C3 = 1 / sqrt(eta + ((phi_r - phi_l)/2)^2 + (phi_d - phi)^2)        down
        C4 = 1 / sqrt(eta + ((phi_r - phi_l)/2)^2 + (phi - phi_u)^2)        up
        delta = 1 / (1 + phi^2)
        phi' = (phi + dt delta (mu (phi_r C1 + phi_l C2 + phi_d C3 + phi_u C4)
                                - lambda1 (f - c1)^2 + lambda2 (f - c2)^2 - nu))
               / (1 + mu dt delta (C1 + C2 + C3 + C4))

    ``mu_dt`` is ``mu * dt`` rounded once from float64 (scikit-image's ``mu * dt`` of two Python
    floats); every other scalar has phi's type.
    """
    one, two = like(phi, 1.0), like(phi, 2.0)
    C1 = one / math.sqrt(eta + (phi_r - phi) ** 2 + ((phi_d - phi_u) / two) ** 2)
    C2 = one / math.sqrt(eta + (phi - phi_l) ** 2 + ((phi_d - phi_u) / two) ** 2)
    C3 = one / math.sqrt(eta + ((phi_r - phi_l) / two) ** 2 + (phi_d - phi) ** 2)
    C4 = one / math.sqrt(eta + ((phi_r - phi_l) / two) ** 2 + (phi - phi_u) ** 2)
    delta = one / (one + phi ** 2)
    K = phi_r * C1 + phi_l * C2 + phi_d * C3 + phi_u * C4
    fit = -lambda1 * (f - c1) ** 2 + lambda2 * (f - c2) ** 2
    return (phi + dt * delta * (mu * K + fit - nu)) / (one + mu_dt * delta * (C1 + C2 + C3 + C4))


@jit
def _sweep_rows(phi, image, c1, c2, mu, lambda1, lambda2, nu, dt, mu_dt, eta, new, r0, r1):
    """:func:`getreuer_eq22` for rows ``r0 .. r1-1`` into ``new``; neighbours beyond the border are
    edge-replicated. The inner columns are a branch-free loop (the compiler vectorises it)."""
    h, w = phi.shape
    for i in range(r0, r1):
        p, pu, pd = phi[i], phi[max(i - 1, 0)], phi[min(i + 1, h - 1)]
        f, out = image[i], new[i]
        out[0] = getreuer_eq22(p[0], p[1], p[0], pd[0], pu[0], f[0], c1, c2, mu, lambda1, lambda2, nu, dt,
                               mu_dt, eta)
        for j in range(1, w - 1):
            out[j] = getreuer_eq22(p[j], p[j + 1], p[j - 1], pd[j], pu[j], f[j], c1, c2, mu, lambda1, lambda2,
                                   nu, dt, mu_dt, eta)
        out[w - 1] = getreuer_eq22(p[w - 1], p[w - 1], p[w - 2], pd[w - 1], pu[w - 1], f[w - 1], c1, c2, mu,
                                   lambda1, lambda2, nu, dt, mu_dt, eta)


@jit
def _reduction_terms(phi, old, image, img_in, img_out, diff2, r0, r1):
    """Per pixel of rows ``r0 .. r1-1``: ``f H``, ``f (1 - H)`` with ``H = phi > 0`` (the products
    scikit-image sums for ``c1``, ``c2``) and ``(phi - old)^2``, into the flat arrays; returns the
    number of pixels inside."""
    w = phi.shape[1]
    one, zero = like(phi[0, 0], 1.0), like(phi[0, 0], 0.0)
    count = 0
    for i in range(r0, r1):
        p, o, f = phi[i], old[i], image[i]
        fin, fout, d2 = img_in[i * w:(i + 1) * w], img_out[i * w:(i + 1) * w], diff2[i * w:(i + 1) * w]
        for j in range(w):
            H = one if p[j] > 0 else zero
            count += p[j] > 0
            fin[j] = f[j] * H
            fout[j] = f[j] * (one - H)
            d2[j] = (p[j] - o[j]) ** 2
    return count


@jit
def region_means(sum_in, sum_out, n_in, n):
    """``c1 = sum f H / sum H`` and ``c2 = sum f (1 - H) / sum (1 - H)`` (Eq. (6)); an empty region
    keeps its plain sum (0), as scikit-image does."""
    c1, c2 = sum_in, sum_out
    if n_in != 0:
        c1 = c1 / like(c1, n_in)
    if n - n_in != 0:
        c2 = c2 / like(c2, n - n_in)
    return c1, c2


@jit(parallel=True)
def cv_evolve(phi, image, mu, lambda1, lambda2, nu, dt, mu_dt, eta, max_steps, tol, c, work):
    """Up to ``max_steps`` iterations of :func:`getreuer_eq22` on ``phi`` (updated in place).

    ``c`` holds the region means ``[c1, c2]`` of ``phi`` (:func:`cv_region_means`) and is kept
    up to date; ``work`` is four ``(H*W,)`` scratch planes of phi's type
    (:func:`~lsbench.classic.compiled._kernels.scratch_planes`). Rows are swept in
    parallel (numba's threads). Stops after the first iteration whose RMS change
    ``sqrt(mean((phi' - phi)^2))`` is at most ``tol`` or not finite. Returns
    ``(iterations, last RMS change)``.
    """
    h, w = phi.shape
    n = h * w
    img_in, img_out, diff2 = work[1], work[2], work[3]
    n_chunks = min(h, 64)
    cur, nxt = phi, work[0].reshape((h, w))
    leaves = pairwise_leaves(n)
    leaf_sums = np.empty((3, leaves[0].size), phi.dtype)
    steps = 0
    change = 0.0
    for _ in range(max_steps):
        c1, c2 = c[0], c[1]
        counts = np.zeros(n_chunks, np.int64)
        for b in prange(n_chunks):  # one parallel region per iteration: each chunk of rows, then its sums' terms
            r0, r1 = b * h // n_chunks, (b + 1) * h // n_chunks
            _sweep_rows(cur, image, c1, c2, mu, lambda1, lambda2, nu, dt, mu_dt, eta, nxt, r0, r1)
            counts[b] = _reduction_terms(nxt, cur, image, img_in, img_out, diff2, r0, r1)
        cur, nxt = nxt, cur
        sum_in, sum_out, sum_diff2 = pairwise_sum3(img_in, img_out, diff2, leaves, leaf_sums)
        c[0], c[1] = region_means(sum_in, sum_out, counts.sum(), n)
        change = rms(sum_diff2, n)
        steps += 1
        if not change > tol:  # converged, or not finite
            break
    if steps % 2 == 1:
        phi[:, :] = cur
    return steps, change


@jit
def rms(sum_of_squares, n):
    """``sqrt(sum / n)`` as NumPy's ``sqrt(mean(...))`` (the mean divided in float64, then rounded
    to the sum's type), returned as a float64."""
    return float(math.sqrt(like(sum_of_squares, float(sum_of_squares) / n)))


@jit
def cv_region_means(phi, image, work):
    """``[c1, c2]`` of ``phi`` (a fresh start), with the pairwise sums of :func:`cv_evolve`."""
    h, w = phi.shape
    count = _reduction_terms(phi, phi, image, work[1], work[2], work[3], 0, h)
    c1, c2 = region_means(pairwise_sum(work[1], 0, h * w), pairwise_sum(work[2], 0, h * w), count, h * w)
    return np.array([c1, c2])


@jit
def _evolve_one(phi, image, mu, lambda1, lambda2, nu, dt, mu_dt, eta, max_iter, tol, work):
    """:func:`cv_evolve` of one image on one thread, from phi0: ``(iterations, converged)``."""
    h, w = phi.shape
    n = h * w
    new = work[0].reshape((h, w))
    img_in, img_out, diff2 = work[1], work[2], work[3]
    leaves = pairwise_leaves(n)
    leaf_sums = np.empty((3, leaves[0].size), phi.dtype)
    count = _reduction_terms(phi, phi, image, img_in, img_out, diff2, 0, h)
    c1, c2 = region_means(pairwise_sum(img_in, 0, n), pairwise_sum(img_out, 0, n), count, n)
    cur, nxt = phi, new
    it, converged = 0, False
    while it < max_iter:
        _sweep_rows(cur, image, c1, c2, mu, lambda1, lambda2, nu, dt, mu_dt, eta, nxt, 0, h)
        count = _reduction_terms(nxt, cur, image, img_in, img_out, diff2, 0, h)
        cur, nxt = nxt, cur
        sum_in, sum_out, sum_diff2 = pairwise_sum3(img_in, img_out, diff2, leaves, leaf_sums)
        c1, c2 = region_means(sum_in, sum_out, count, n)
        change = rms(sum_diff2, n)
        it += 1
        if not change > tol:
            converged = change <= tol  # False when phi turned non-finite
            break
    if it % 2 == 1:
        phi[:, :] = cur
    return it, converged


@jit(parallel=True)
def cv_evolve_batch(phis, images, mu, lambda1, lambda2, nu, dt, mu_dt, eta, max_iter, tol, n_iter, converged):
    """Evolve each ``phis[b]`` (updated in place) against ``images[b]``, images in parallel.

    Every image runs on one thread with its own stopping rule (the RMS change at most ``tol``,
    or ``max_iter`` iterations); ``n_iter[b]`` and ``converged[b]`` receive its outcome. An image
    whose phi turns non-finite stops with ``converged[b] = False``.
    """
    B, h, w = phis.shape
    for b in prange(B):
        work = np.empty((4, h * w), phis.dtype)
        n_iter[b], converged[b] = _evolve_one(phis[b], images[b], mu, lambda1, lambda2, nu, dt, mu_dt, eta,
                                              max_iter, tol, work)

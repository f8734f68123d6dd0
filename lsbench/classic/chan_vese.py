"""Chan–Vese "active contours without edges", semi-implicit scheme of Getreuer (IPOL 2012).

The same Jacobi update as ``skimage.segmentation.chan_vese`` (Getreuer's Eq. (22)), written with
preallocated buffers and in-place NumPy operations, and with the same floating-point operations
in the same order, so that with ``init="checkerboard"``, ``tol=0`` and equal ``mu``/``dt`` the
masks equal scikit-image's. It adds the area term ``nu`` of the original model and an optional
energy trace that is only computed when asked for.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import numpy as np

from lsbench.levelset.init import resolve_init, signed_distance
from lsbench.levelset.iteration import IterCallback, notify
from lsbench.levelset.validate import (
    check_image_2d,
    check_nonnegative,
    check_positive,
    check_positive_int,
)
from lsbench.types import LevelSetResult

__all__ = ["chan_vese", "chan_vese_energy"]


def chan_vese(
    image: np.ndarray,
    *,
    mu: float = 0.25,
    lambda1: float = 1.0,
    lambda2: float = 1.0,
    nu: float = 0.0,
    dt: float = 0.5,
    tol: float = 1e-3,
    max_iter: int = 500,
    init: str | np.ndarray = "checkerboard",
    eta: float = 1e-16,
    return_result: bool = False,
    iter_callback: IterCallback | None = None,
    track_energy: bool | None = None,
) -> np.ndarray | LevelSetResult:
    """Two-phase piecewise-constant segmentation by Chan–Vese level-set evolution.

    Parameters
    ----------
    image : (H, W) array
        Greyscale image, any range; it is min-max normalised to ``[0, 1]`` (as scikit-image
        does). float32 input is processed in float32, anything else in float64.
    mu : float
        Length (curvature) weight; in ``[0, 1]`` units of the normalised image.
    lambda1, lambda2 : float
        Weights of the inside (phi > 0) and outside fitting terms.
    nu : float
        Area weight (Chan & Vese's nu; penalises the inside region). scikit-image has none;
        with ``nu=0`` the two agree.
    dt : float
        Time step (Getreuer's Delta t; the 1/pi of the Dirac is absorbed into it).
    tol : float
        Stop when the RMS change of phi over one iteration is at most ``tol``
        (scikit-image's rule). ``tol=0`` runs ``max_iter`` iterations unless phi stops changing.
    max_iter : int
        Maximum number of iterations.
    init : {"checkerboard", "disk", "small disk", "circle", "box"} or ndarray
        Initial level set. A bool mask is converted to a signed distance in pixels (positive
        inside); a float array is used as phi0 directly.
    eta : float
        Regulariser inside the curvature coefficients, ``1/sqrt(eta + ...)``. scikit-image uses
        1e-16; Getreuer's code uses 1e-6, which is more robust on flat regions.
    return_result : bool
        Return a :class:`~lsbench.types.LevelSetResult` (mask, phi, energy trace, iterations,
        convergence flag) instead of the mask.
    iter_callback : callable, optional
        Called as ``iter_callback(IterInfo(iteration, phi, energy))`` after every iteration;
        returning ``True`` stops the evolution.
    track_energy : bool, optional
        Compute the energy after every iteration (it costs about half an iteration). By default
        (None) it is on when ``return_result`` or ``iter_callback`` is given; ``False`` leaves
        ``energies`` empty and reports NaN to the callback (what the benchmark harness uses).

    Returns
    -------
    mask : (H, W) bool array
        ``phi > 0``; or a :class:`~lsbench.types.LevelSetResult` if ``return_result``.

    Notes
    -----
    The evolution equation is Chan & Vese (2001), Eq. (9),
    ``phi_t = delta(phi) [mu div(grad phi/|grad phi|) - nu - lambda1 (f - c1)^2 + lambda2 (f - c2)^2]``,
    with ``delta(phi) = 1/(1 + phi^2)`` (epsilon = 1) and the region means ``c1``, ``c2`` taken
    with the hard Heaviside ``phi > 0`` (Eq. (6)). It is discretised semi-implicitly
    (Getreuer 2012, Eq. (22)): the curvature coefficients ``C1..C4`` of the four neighbours are
    evaluated at the previous iterate and the centre value is solved for, which allows a large
    ``dt``. Neighbours beyond the border are edge-replicated (Neumann boundary). The energy is
    scikit-image's diagnostic (smooth arctan Heaviside, Eq. (3)) plus ``nu * sum H(phi)``.

    References
    ----------
    .. [1] T. F. Chan and L. A. Vese, "Active contours without edges", IEEE TIP 10(2):266-277,
       2001, doi:10.1109/83.902291.
    .. [2] P. Getreuer, "Chan-Vese segmentation", Image Processing On Line 2:214-224, 2012,
       doi:10.5201/ipol.2012.g-cv.
    """
    img = check_image_2d(image)
    mu = check_nonnegative("mu", mu)
    lambda1 = check_nonnegative("lambda1", lambda1)
    lambda2 = check_nonnegative("lambda2", lambda2)
    nu = _check_real("nu", nu)
    dt = check_positive("dt", dt)
    tol = check_nonnegative("tol", tol)
    max_iter = check_positive_int("max_iter", max_iter)
    eta = check_positive("eta", eta)
    if iter_callback is not None and not callable(iter_callback):
        raise TypeError(f"iter_callback must be callable, got {type(iter_callback).__name__}")

    dtype = img.dtype
    phi0 = resolve_init(init, img.shape, mask_to_phi=signed_distance, dtype=dtype)
    # scikit-image's normalisation, operation for operation
    img = img - np.min(img)
    if np.max(img) != 0:
        img = img / np.max(img)

    want_energy = (return_result or iter_callback is not None) if track_energy is None else bool(track_energy)
    solver = _SemiImplicitCV(img, phi0, mu=mu, lambda1=lambda1, lambda2=lambda2, nu=nu, dt=dt, eta=eta)
    try:
        energies: list[float] = []
        energy = chan_vese_energy(img, solver.phi, mu=mu, lambda1=lambda1, lambda2=lambda2, nu=nu) if want_energy else np.nan
        n_iter = 0
        converged = False
        stopped = False
        while n_iter < max_iter:
            change = solver.step()
            n_iter += 1
            if want_energy:
                energies.append(energy)
                energy = chan_vese_energy(img, solver.phi, mu=mu, lambda1=lambda1, lambda2=lambda2, nu=nu)
            if not np.isfinite(change):
                raise FloatingPointError(f"Chan-Vese diverged at iteration {n_iter} (non-finite phi); lower dt")
            if change <= tol:
                converged = True
                break
            if notify(iter_callback, n_iter, solver.phi, energy):
                stopped = True
                break
        if converged and iter_callback is not None and not stopped:
            notify(iter_callback, n_iter, solver.phi, energy)
        phi = solver.phi.copy()
    finally:
        solver.close()
    mask = phi > 0
    if not return_result:
        return mask
    return LevelSetResult(mask=mask, phi=phi, energies=np.asarray(energies, dtype=np.float64),
                          n_iter=n_iter, converged=converged)


def _check_real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


class _SemiImplicitCV:
    """One Jacobi sweep of Getreuer's Eq. (22) per :meth:`step`, on preallocated buffers.

    phi lives in the interior of an edge-padded ``(H+2) x (W+2)`` array that is also viewed
    flat, so that the four neighbours of every pixel are the *contiguous* 1-D slices at offsets
    +-1 and +-(W+2) (the two pad columns are computed too and overwritten by the edge padding,
    2/W of extra work). The flat range is cut into chunks swept by a small thread pool (NumPy
    releases the GIL inside its loops): phase 1 computes the curvature coefficients ``C1..C4``,
    ``K`` and the Dirac per chunk; the region means are reduced over the whole image in the main
    thread with the same pairwise ``np.sum`` over a contiguous ``H x W`` array as scikit-image;
    phase 2 applies the update per chunk. Every pixel is computed with the same floating-point
    operations in the same order as ``skimage.segmentation.chan_vese``, so phi is bit-identical.
    """

    def __init__(self, image: np.ndarray, phi0: np.ndarray, *, mu: float, lambda1: float,
                 lambda2: float, nu: float, dt: float, eta: float) -> None:
        h, w = image.shape
        wp = w + 2
        dt_ = image.dtype
        self.h, self.w, self.wp = h, w, wp
        self.image = np.ascontiguousarray(image)
        self.mu, self.lambda1, self.lambda2, self.nu, self.dt, self.eta = mu, lambda1, lambda2, nu, dt, eta
        self.mu_dt = mu * dt
        self._pads = [np.empty((h + 2, wp), dt_), np.empty((h + 2, wp), dt_)]
        self._flats = [p.reshape(-1) for p in self._pads]
        self._cur = 0
        self._pads[0][1:-1, 1:-1] = phi0
        _edge_pad(self._pads[0])
        img_p = np.zeros((h, wp), dt_)  # the image on the padded-row grid (pad columns: 0)
        img_p[:, 1:-1] = self.image
        self.img_flat = img_p.reshape(-1)
        self.inside = np.empty((h, w), dtype=bool)
        self.img_in = np.empty((h, w), dt_)
        self.img_out = np.empty((h, w), dt_)
        self.diff2 = np.empty((h, w), dt_)
        n = h * wp
        n_chunks = _n_threads(h * w)
        bounds = np.linspace(0, n, n_chunks + 1).round().astype(int)
        self.chunks = [_Chunk(int(a), int(b), wp, dt_) for a, b in itertools.pairwise(bounds) if b > a]
        self._pool = None
        if len(self.chunks) > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=len(self.chunks), thread_name_prefix="lsbench-cv")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    @property
    def phi(self) -> np.ndarray:
        return self._pads[self._cur][1:-1, 1:-1]

    def _map(self, fn: Any) -> None:
        if self._pool is None:
            for chunk in self.chunks:
                fn(chunk)
        else:
            for fut in [self._pool.submit(fn, chunk) for chunk in self.chunks]:
                fut.result()

    def _phase1(self, s: _Chunk) -> None:
        p = self._flats[self._cur]
        wp, a, b = self.wp, s.a, s.b
        o = wp + a  # flat index of the chunk's first centre pixel
        n = b - a
        eta = self.eta
        centre = p[o : o + n]
        np.subtract(p[o : o + n + 1], p[o - 1 : o + n], out=s.ex)  # ex[k] = phixn, ex[k+1] = phixp
        np.square(s.ex, out=s.ex)
        np.add(s.ex, eta, out=s.ex)  # eta + phix{n,p}**2, shared by C2 and C1
        np.subtract(p[o : o + n + wp], p[o - wp : o + n], out=s.ey)  # ey[k] = phiyn, ey[k+wp] = phiyp
        np.square(s.ey, out=s.ey)
        np.subtract(p[o + 1 : o + n + 1], p[o - 1 : o + n - 1], out=s.ecx)
        s.ecx /= 2.0
        np.square(s.ecx, out=s.ecx)
        np.add(s.ecx, eta, out=s.ecx)  # eta + phix0**2, shared by C3 and C4
        np.subtract(p[o + wp : o + n + wp], p[o - wp : o + n - wp], out=s.cy2)
        s.cy2 /= 2.0
        np.square(s.cy2, out=s.cy2)  # phiy0**2
        C1, C2, C3, C4 = s.c
        for out, x, y in ((C1, s.ex[1:], s.cy2), (C2, s.ex[:-1], s.cy2), (C3, s.ecx, s.ey[wp:]),
                          (C4, s.ecx, s.ey[:-wp])):
            np.add(x, y, out=out)  # (eta + x**2) + y**2, scikit-image's order
            np.sqrt(out, out=out)
            np.divide(1.0, out, out=out)
        K, t = s.k, s.t  # P_r C1 + P_l C2 + P_d C3 + P_u C4
        np.multiply(p[o + 1 : o + n + 1], C1, out=K)
        np.multiply(p[o - 1 : o + n - 1], C2, out=t)
        K += t
        np.multiply(p[o + wp : o + n + wp], C3, out=t)
        K += t
        np.multiply(p[o - wp : o + n - wp], C4, out=t)
        K += t
        np.add(C1, C2, out=s.csum)
        s.csum += C3
        s.csum += C4
        np.square(centre, out=s.d)  # delta = 1 / (1 + phi**2)
        s.d += 1.0
        np.divide(1.0, s.d, out=s.d)

    def _phase2(self, s: _Chunk) -> None:
        p = self._flats[self._cur]
        q = self._flats[1 - self._cur]
        wp, a, b = self.wp, s.a, s.b
        o = wp + a
        n = b - a
        img = self.img_flat[a:b]
        F, t = s.f, s.t  # mu K - nu - lambda1 (I - c1)^2 + lambda2 (I - c2)^2
        np.subtract(img, self._c1, out=F)
        np.square(F, out=F)
        F *= -self.lambda1
        np.subtract(img, self._c2, out=t)
        np.square(t, out=t)
        t *= self.lambda2
        F += t
        np.multiply(s.k, self.mu, out=s.k)
        np.add(s.k, F, out=F)
        if self.nu:
            F -= self.nu
        new = q[o : o + n]
        np.multiply(s.d, self.dt, out=t)
        t *= F
        np.add(p[o : o + n], t, out=new)
        np.multiply(s.d, self.mu_dt, out=s.d)  # 1 + mu dt delta (C1 + C2 + C3 + C4)
        s.d *= s.csum
        s.d += 1.0
        new /= s.d

    def step(self) -> float:
        """Advance one iteration; return the RMS change of phi."""
        self._map(self._phase1)
        # region means with the hard Heaviside (phi > 0), reduced over the contiguous H x W image
        # exactly as scikit-image does (img * H, then img * (1 - H) == img - img * H)
        phi = self._pads[self._cur][1:-1, 1:-1]
        np.greater(phi, 0, out=self.inside)
        np.multiply(self.image, self.inside, out=self.img_in)
        np.subtract(self.image, self.img_in, out=self.img_out)
        n_in = np.count_nonzero(self.inside)
        n_out = self.inside.size - n_in
        c1 = np.sum(self.img_in)
        c2 = np.sum(self.img_out)
        if n_in != 0:
            c1 /= self.image.dtype.type(n_in)
        if n_out != 0:
            c2 /= self.image.dtype.type(n_out)
        self._c1, self._c2 = c1, c2
        self._map(self._phase2)
        new_pad = self._pads[1 - self._cur]
        _edge_pad(new_pad)
        np.subtract(new_pad[1:-1, 1:-1], phi, out=self.diff2)
        np.square(self.diff2, out=self.diff2)
        self._cur = 1 - self._cur
        return float(np.sqrt(self.diff2.mean()))


class _Chunk:
    """Flat positions ``a:b`` of the padded-row grid and the scratch buffers of one worker."""

    def __init__(self, a: int, b: int, wp: int, dtype: Any) -> None:
        n = b - a
        self.a, self.b = a, b
        self.ex = np.empty(n + 1, dtype)
        self.ey = np.empty(n + wp, dtype)
        self.ecx = np.empty(n, dtype)
        self.cy2 = np.empty(n, dtype)
        self.c = [np.empty(n, dtype) for _ in range(4)]
        self.k = np.empty(n, dtype)
        self.t = np.empty(n, dtype)
        self.csum = np.empty(n, dtype)
        self.d = np.empty(n, dtype)
        self.f = np.empty(n, dtype)


#: images with at least this many pixels are swept by several threads
PARALLEL_MIN_PIXELS = 160 * 160


def _n_threads(n_pixels: int) -> int:
    """Worker threads for one sweep: ``$LSBENCH_NUM_THREADS``, else the CPU count (at most 4)."""
    env = os.environ.get("LSBENCH_NUM_THREADS")
    if env:
        try:
            wanted = max(1, int(env))
        except ValueError:
            raise ValueError(f"LSBENCH_NUM_THREADS must be a positive integer, got {env!r}") from None
    else:
        wanted = min(4, os.cpu_count() or 1)
    return wanted if n_pixels >= PARALLEL_MIN_PIXELS else 1


def _edge_pad(P: np.ndarray) -> None:
    P[0, 1:-1] = P[1, 1:-1]
    P[-1, 1:-1] = P[-2, 1:-1]
    P[:, 0] = P[:, 1]
    P[:, -1] = P[:, -2]


def chan_vese_energy(
    image: np.ndarray, phi: np.ndarray, *, mu: float = 0.25, lambda1: float = 1.0,
    lambda2: float = 1.0, nu: float = 0.0,
) -> float:
    """The Chan–Vese energy as scikit-image reports it, plus the area term.

    ``sum lambda1 (f - c1)^2 H + lambda2 (f - c2)^2 (1 - H) + mu delta(phi) |grad phi| + nu H``
    with the arctan Heaviside (epsilon = 1), smooth-weighted region means, ``delta = 1/(1+phi^2)``
    and central differences on the edge-padded phi (scikit-image >= 0.21, PR #6902).
    """
    H = 0.5 * (1.0 + (2.0 / np.pi) * np.arctan(phi))
    Hinv = 1.0 - H
    # scikit-image's _cv_calculate_averages
    hs, hinvs = np.sum(H), np.sum(Hinv)
    c1 = np.sum(image * H)
    c2 = np.sum(image * Hinv)
    if hs != 0:
        c1 /= hs
    if hinvs != 0:
        c2 /= hinvs
    fit = lambda1 * (image - c1) ** 2 * H + lambda2 * (image - c2) ** 2 * Hinv
    P = np.pad(phi, 1, mode="edge")
    fy = (P[2:, 1:-1] - P[:-2, 1:-1]) / 2.0
    fx = (P[1:-1, 2:] - P[1:-1, :-2]) / 2.0
    length = mu * (1.0 / (1.0 + phi**2)) * np.sqrt(fx**2 + fy**2)
    energy = float(np.sum(fit) + np.sum(length))
    if nu:
        energy += float(nu * np.sum(H))
    return energy

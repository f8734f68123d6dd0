"""Distance-regularised level-set evolution (DRLSE), edge-based model of Li, Xu, Gui & Fox (2010).

A NumPy transliteration of Chunming Li's ``drlse_edge.m`` and its demos (DRLSE_v0): the edge
indicator ``g`` from a zero-padded 15 x 15 Gaussian on a 0-255 image, explicit Euler steps with
the distance-regularisation term (single- or double-well potential), the weighted length and area
terms with the compact Dirac, Li's mirror-Neumann boundary, ``iter_inner`` x ``iter_outer``
iterations, then a refinement pass with ``alpha = 0``. Internally the level set keeps the
reference code's sign (``u = -phi``: the object is ``u < 0``); lsbench's phi > 0 inside is
restored at the boundary.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lsbench.classic._common import (
    SignChangeMonitor,
    check_callback,
    li_init,
    to_255,
    wants_energy,
)
from lsbench.classic.backend import num_threads, resolve_backend
from lsbench.levelset.iteration import IterCallback, notify
from lsbench.levelset.ops import (
    dirac_compact,
    divergence,
    gaussian_filter_zero,
    gradient_into,
    heaviside_compact,
    laplacian_del2,
    neumann_bound_cond,
    row_bands,
)
from lsbench.levelset.validate import (
    check_choice,
    check_finite,
    check_image_2d,
    check_nonnegative,
    check_nonnegative_int,
    check_positive,
    check_positive_int,
)
from lsbench.types import LevelSetResult

__all__ = ["POTENTIALS", "drlse", "drlse_energy", "edge_indicator"]

POTENTIALS = ("double-well", "single-well")
_SMALL = 1e-10  # drlse_edge.m's smallNumber in N = grad phi / (|grad phi| + smallNumber)
_HALO = 2  # rows of context of one step: the divergence of the gradient reaches two rows


def edge_indicator(image255: np.ndarray, sigma: float, size: int = 15) -> np.ndarray:
    """``g = 1 / (1 + |grad (G_sigma * I)|^2)`` as in the DRLSE demos.

    ``G_sigma * I`` is ``conv2(I, fspecial('gaussian', 15, sigma), 'same')`` (zero padding, so the
    image border acts as an edge) and the gradient is MATLAB's ``gradient``. ``image255`` should
    be on the 0-255 scale the demos use.
    """
    smooth = gaussian_filter_zero(np.asarray(image255, dtype=np.float64), sigma, size)
    gy, gx = np.gradient(smooth)
    return 1.0 / (1.0 + gx * gx + gy * gy)



def check_drlse_params(*, lambda_: float, mu: float, alpha: float, epsilon: float, sigma: float, dt: float,
                       potential: str, max_iter: int, iter_inner: int, iter_refine: int, tol: float,
                       c0: float) -> tuple[Any, ...]:
    """:func:`drlse`'s parameters checked (a ``ValueError`` naming the bad one), in signature order;
    shared with the batched backend :func:`lsbench.torchclassic.drlse_batch`."""
    lambda_ = check_nonnegative("lambda_", lambda_)
    mu = check_nonnegative("mu", mu)
    alpha = check_finite("alpha", alpha)
    epsilon = check_positive("epsilon", epsilon)
    sigma = check_positive("sigma", sigma)
    dt = check_positive("dt", dt)
    if mu * dt >= 0.25:
        raise ValueError(f"dt={dt!r} with mu={mu!r} is unstable: DRLSE needs mu*dt < 1/4 "
                         f"(got {mu * dt:g}); the demos use mu = 0.2/dt")
    potential = check_choice("potential", potential, POTENTIALS)
    max_iter = check_positive_int("max_iter", max_iter)
    iter_inner = check_positive_int("iter_inner", iter_inner)
    iter_refine = check_nonnegative_int("iter_refine", iter_refine)
    tol = check_nonnegative("tol", tol)
    c0 = check_positive("c0", c0)
    return lambda_, mu, alpha, epsilon, sigma, dt, potential, max_iter, iter_inner, iter_refine, tol, c0

def drlse(
    image: np.ndarray,
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
    init: str | np.ndarray = "box",
    return_result: bool = False,
    iter_callback: IterCallback | None = None,
    track_energy: bool | None = None,
    backend: str = "auto",
) -> np.ndarray | LevelSetResult:
    """Edge-based segmentation by distance-regularised level-set evolution (DRLSE).

    Parameters
    ----------
    image : (H, W) array
        Greyscale image, any range; min-max rescaled to ``[0, 255]`` (the scale of the demos'
        8-bit images, which ``g`` assumes). Computed in float64, the reference's precision.
    lambda_ : float
        Weight lambda of the weighted length term ``L_g`` (demos: 5).
    mu : float
        Weight of the distance-regularisation term ``R_p``. The demos set ``mu = 0.2/dt``
        (0.04 for ``dt = 5``); ``mu * dt`` must stay below 1/4 (the paper's Courant condition).
    alpha : float
        Weight of the weighted area term ``A_g``. Sign rule of the paper: ``alpha > 0`` shrinks
        the contour (initial contour outside the object), ``alpha < 0`` expands it (initial
        contour inside). Demo 2 (two cells): +1.5; demo 1 (gourd): -3.
    epsilon : float
        Half-width of the compact Dirac ``delta_eps`` (demos: 1.5).
    sigma : float
        Standard deviation of the 15 x 15 Gaussian that smooths the image for ``g`` (demo 2: 1.5).
    dt : float
        Time step of the explicit scheme (demo 2: 5; demo 1: 1).
    potential : {"double-well", "single-well"}
        Potential ``p`` of the distance regulariser: ``p2`` (Eq. (16), the default; keeps
        ``|grad phi| = 1`` near the contour and flat far away) or ``p1 = (s-1)^2/2`` (single well).
    max_iter : int
        Iterations of the main evolution, run as outer iterations of ``iter_inner`` steps (demo 2:
        40 x 5 = 200).
    iter_inner : int
        Steps per outer iteration; the stopping test (``tol``) is applied after each.
    iter_refine : int
        Steps of the final refinement with ``alpha = 0`` (the demos: ``iter_inner`` = 5);
        0 skips it.
    tol : float
        Stop the main evolution when fewer than ``tol * H * W`` pixels changed side of the zero
        level over one outer iteration. The reference runs a fixed budget, which is what the
        default 0 does.
    c0 : float
        Height of the binary-step initial function built from a mask or preset (phi0 = ``+c0``
        in the region, ``-c0`` outside); should exceed ``epsilon`` so that the evolution starts
        local to the contour.
    init : {"box", "circle"} or ndarray
        Initial region: a preset, a bool mask (-> binary step) or a float phi0 (positive inside).
    return_result : bool
        Return a :class:`~lsbench.types.LevelSetResult` instead of the mask.
    iter_callback : callable, optional
        ``iter_callback(IterInfo(iteration, phi, energy))`` after every step (refinement
        included); returning ``True`` stops the evolution at once (no refinement).
    track_energy : bool, optional
        Compute the DRLSE energy (:func:`drlse_energy`) before and after every step; by default
        only when ``return_result`` or ``iter_callback`` is given.
    backend : {"auto", "numpy", "numba"}
        Which implementation runs the steps (:mod:`lsbench.classic.backend`): the NumPy
        transliteration, the compiled kernel (:mod:`lsbench.classic.compiled.drlse`; rows in
        parallel from 160 x 160 pixels), or ``"auto"``: numba when it imports. Both give the same bits.

    Returns
    -------
    mask : (H, W) bool array
        ``phi > 0``; or a :class:`~lsbench.types.LevelSetResult` (``n_iter`` counts every step,
        refinement included; ``extras["g"]`` is the edge indicator).

    Notes
    -----
    Gradient flow of the edge-based energy ``E = mu R_p(phi) + lambda L_g(phi) + alpha A_g(phi)``:
    ``phi_t = mu div(d_p(|grad phi|) grad phi) + lambda delta_eps(phi) div(g grad phi/|grad phi|)
    + alpha g delta_eps(phi)``, with ``d_p(s) = p'(s)/s`` (Eq. (10); ``d_p(0) = 1``, Eq. (18)),
    written as in ``drlse_edge.m``: ``div(g N) = grad g . N + g div N`` with
    ``N = grad phi / (|grad phi| + 1e-10)``, the regulariser as ``4 del2(phi) - div N`` (single
    well, Eq. (13)) or ``div((d_p - 1) grad phi) + 4 del2(phi)`` (double well, Eq. (16)),
    ``delta_eps`` the compact cosine Dirac, and Li's ``NeumannBoundCond`` before every step
    (equation numbers as cited in ``drlse_edge.m``). There is no re-initialisation. The signs above are the reference code's (object = ``phi < 0``), which
    is why ``alpha > 0`` shrinks; lsbench returns ``-phi``.

    Deviations from the reference code: the image is min-max rescaled to 0-255 instead of read
    as 8-bit; ``tol`` adds an optional early stop (off by default).

    References
    ----------
    .. [1] C. Li, C. Xu, C. Gui, M. D. Fox, "Distance regularized level set evolution and its
       application to image segmentation", IEEE TIP 19(12):3243-3254, 2010,
       doi:10.1109/TIP.2010.2069690.

    Examples
    --------
    DRLSE shrinks (``alpha > 0``) from a region around the object onto its edges; the length
    term rounds the corners of a 14 x 14 square (196 pixels) and nothing outside it is kept:

    >>> import numpy as np
    >>> from lsbench.classic import drlse
    >>> image = np.zeros((30, 30))
    >>> image[8:22, 8:22] = 1.0
    >>> start = np.zeros((30, 30), dtype=bool)
    >>> start[3:27, 3:27] = True
    >>> mask = drlse(image, init=start, sigma=0.8)
    >>> int(mask.sum()), int((mask & (image == 0)).sum())
    (184, 0)
    >>> result = drlse(image, init=start, sigma=0.8, return_result=True)
    >>> result.n_iter, sorted(result.extras)
    (205, ['g'])
    """
    img = check_image_2d(image)
    lambda_, mu, alpha, epsilon, sigma, dt, potential, max_iter, iter_inner, iter_refine, tol, c0 = \
        check_drlse_params(lambda_=lambda_, mu=mu, alpha=alpha, epsilon=epsilon, sigma=sigma, dt=dt,
                           potential=potential, max_iter=max_iter, iter_inner=iter_inner,
                           iter_refine=iter_refine, tol=tol, c0=c0)
    check_callback(iter_callback)
    backend = resolve_backend(backend)

    phi0 = li_init(init, img.shape, c0)
    g = edge_indicator(to_255(img), sigma)
    stepper_class = _CompiledDrlseStepper if backend == "numba" else _DrlseStepper
    stepper = stepper_class(-phi0, g, lambda_=lambda_, mu=mu, epsilon=epsilon, dt=dt,
                            double_well=potential == "double-well")
    want_energy = wants_energy(track_energy, return_result, iter_callback)
    stepwise = want_energy or iter_callback is not None

    def energy_of(a: float) -> float:
        return drlse_energy(-stepper.u, g, lambda_=lambda_, mu=mu, alpha=a, epsilon=epsilon, potential=potential)

    energies: list[float] = []
    energy = energy_of(alpha) if want_energy else np.nan
    monitor = SignChangeMonitor(stepper.u, negate=True)
    n_iter = 0
    converged = stopped = False

    def run(steps: int, a: float) -> bool:
        nonlocal n_iter, energy
        if not stepwise:  # nobody looks between steps: all of them in one call
            stepper.advance(steps, a)
            n_iter += steps
            return False
        for _ in range(steps):
            stepper.step(a)
            n_iter += 1
            if want_energy:
                energies.append(energy)
                energy = energy_of(a)
            if iter_callback is not None and notify(iter_callback, n_iter, -stepper.u, energy):
                return True
        return False

    done = 0
    while done < max_iter and not stopped:
        steps = min(iter_inner, max_iter - done)
        stopped = run(steps, alpha)
        done += steps
        if not np.all(np.isfinite(stepper.u)):
            raise FloatingPointError(f"DRLSE diverged at iteration {n_iter} (non-finite phi); lower dt")
        if not stopped and tol > 0 and monitor.update(stepper.u) < tol * img.size:
            converged = done < max_iter
            break
    if not stopped and iter_refine:
        if want_energy:
            energy = energy_of(0.0)  # the refinement descends the energy without the area term
        run(iter_refine, 0.0)

    phi = -stepper.u
    mask = phi > 0
    if not return_result:
        return mask
    return LevelSetResult(mask=mask, phi=phi, energies=np.asarray(energies, dtype=np.float64),
                          n_iter=n_iter, converged=converged, extras={"g": g})


class _DrlseStepper:
    """One explicit step of ``drlse_edge.m`` per :meth:`step`, in the reference sign (object u < 0);
    the right-hand side band by band on large images (:func:`~lsbench.levelset.ops.row_bands`)."""

    def __init__(self, u0: np.ndarray, g: np.ndarray, *, lambda_: float, mu: float, epsilon: float,
                 dt: float, double_well: bool) -> None:
        self.u = np.array(u0, dtype=np.float64)
        self.g = g
        self.vy, self.vx = np.gradient(g)
        self.lambda_, self.mu, self.epsilon, self.dt = lambda_, mu, epsilon, dt
        self.double_well = double_well
        self.du = np.empty_like(self.u)
        # the scratch of one band (:func:`row_bands`, halo 2: the divergence of the gradient)
        rows = max(band[0].stop - band[0].start for band in row_bands(self.u.shape, halo=_HALO))
        e = lambda: np.empty((rows, self.u.shape[1]))  # noqa: E731
        self.ux, self.uy, self.s, self.nx, self.ny, self.curv, self.reg, self.t, self.w = (e() for _ in range(9))

    def advance(self, n_steps: int, alpha: float) -> None:
        for _ in range(n_steps):
            self.step(alpha)

    def step(self, alpha: float) -> None:
        neumann_bound_cond(self.u, out=self.u)
        for source, keep, target in row_bands(self.u.shape, halo=_HALO):  # the same numbers, in cache
            self.du[target] = self._increment(source, alpha)[keep]
        self.u += self.du

    def _increment(self, rows: slice, alpha: float) -> np.ndarray:
        """``dt`` times the right-hand side of the evolution on the image rows ``rows`` (a view of
        the band scratch; its first and last two rows are exact only at the image border)."""
        u, g, vx, vy = self.u[rows], self.g[rows], self.vx[rows], self.vy[rows]
        n = u.shape[0]
        ux, uy, s, nx, ny, curv, reg, t, w = (self.ux[:n], self.uy[:n], self.s[:n], self.nx[:n], self.ny[:n],
                                              self.curv[:n], self.reg[:n], self.t[:n], self.w[:n])
        gradient_into(u, uy, ux)
        np.multiply(ux, ux, out=s)
        s += uy * uy
        np.sqrt(s, out=s)
        np.add(s, _SMALL, out=t)
        np.divide(ux, t, out=nx)
        np.divide(uy, t, out=ny)
        divergence(ny, nx, out=curv, work=t)
        if self.double_well:
            # distReg_p2: d_p(s) = p2'(s)/s with p2'(s) = sin(2 pi s)/(2 pi) (s <= 1), s - 1 (s > 1)
            ps = np.where(s <= 1.0, np.sin(2.0 * np.pi * s) / (2.0 * np.pi), s - 1.0)
            dps = np.where(ps != 0, ps, 1.0) / np.where(s != 0, s, 1.0)
            np.multiply(dps, ux, out=t)
            t -= ux
            np.multiply(dps, uy, out=w)
            w -= uy
            divergence(w, t, out=reg, work=ux)  # ux, uy are no longer needed
            reg += laplacian_del2(u, out=t, work=w)
        else:
            laplacian_del2(u, out=reg, work=t)
            reg -= curv
        d = dirac_compact(u, self.epsilon)
        # edge term: d (vx Nx + vy Ny) + d g curv;  area term: d g
        np.multiply(vx, nx, out=t)
        t += vy * ny
        t *= d
        np.multiply(d, g, out=w)  # area term
        curv *= w
        t += curv  # edge term
        t *= self.lambda_
        reg *= self.mu
        t += reg
        if alpha:
            w *= alpha
            t += w
        t *= self.dt
        return t


class _CompiledDrlseStepper:
    """:class:`_DrlseStepper`'s interface on the compiled kernel :func:`lsbench.classic.compiled.drlse.drlse_steps`."""

    def __init__(self, u0: np.ndarray, g: np.ndarray, *, lambda_: float, mu: float, epsilon: float,
                 dt: float, double_well: bool) -> None:
        from lsbench.classic.compiled import drlse as kernels
        from lsbench.classic.compiled._kernels import scratch_planes

        self._steps = kernels.drlse_steps
        self.u = np.array(u0, dtype=np.float64, order="C")
        self.g = np.ascontiguousarray(g, dtype=np.float64)
        self.vy, self.vx = (np.ascontiguousarray(v) for v in np.gradient(self.g))
        self._params = (float(lambda_), float(mu), float(epsilon), float(dt), bool(double_well))
        self._work = scratch_planes(6, self.u.shape)
        self._threads = num_threads(self.u.size)

    def advance(self, n_steps: int, alpha: float) -> None:
        from lsbench.classic.compiled._kernels import threads

        lambda_, mu, epsilon, dt, double_well = self._params
        with threads(self._threads):
            self._steps(self.u, self.g, self.vx, self.vy, lambda_, mu, float(alpha), epsilon, dt, double_well,
                        int(n_steps), self._work)

    def step(self, alpha: float) -> None:
        self.advance(1, alpha)


def drlse_energy(
    phi: np.ndarray, g: np.ndarray, *, lambda_: float = 5.0, mu: float = 0.04, alpha: float = 1.5,
    epsilon: float = 1.5, potential: str = "double-well",
) -> float:
    """``E = mu sum p(|grad phi|) + lambda sum g delta_eps(phi)|grad phi| + alpha sum g H_eps(-phi)``.

    Li et al. (2010), the edge-based energy with the compact ``H_eps``/``delta_eps``, summed
    over pixels with MATLAB-style central differences. ``phi`` is in lsbench's sign (positive
    inside); ``A_g`` is the g-weighted area of the inside (the reference code's ``H(-u)``).
    """
    potential = check_choice("potential", potential, POTENTIALS)
    u = -np.asarray(phi, dtype=np.float64)
    uy, ux = np.gradient(u)
    s = np.sqrt(ux * ux + uy * uy)
    if potential == "single-well":
        p = 0.5 * (s - 1.0) ** 2
    else:
        p = np.where(s <= 1.0, (1.0 - np.cos(2.0 * np.pi * s)) / (2.0 * np.pi) ** 2, 0.5 * (s - 1.0) ** 2)
    energy = mu * np.sum(p) + lambda_ * np.sum(g * dirac_compact(u, epsilon) * s)
    if alpha:
        energy += alpha * np.sum(g * heaviside_compact(-u, epsilon))
    return float(energy)

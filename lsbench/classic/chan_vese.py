"""Chan–Vese "active contours without edges", semi-implicit scheme of Getreuer (IPOL 2012).

The same Jacobi update as ``skimage.segmentation.chan_vese`` (Getreuer's Eq. (22)), with the same
floating-point operations in the same order, so that for equal parameters and initial level set
phi, the energies and the masks equal scikit-image's bit for bit. It adds the area term ``nu`` of
the original model and an optional energy trace that is only computed when asked for. Two
backends run the update: :func:`getreuer_eq22` in NumPy (the readable reference) and the compiled
kernel :func:`lsbench.classic.compiled.chan_vese.getreuer_eq22` (numba), which gives the same bits;
:func:`chan_vese_batch` evolves several same-size images at once. The batched PyTorch twin is
:func:`lsbench.torchclassic.chan_vese_batch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lsbench.classic.backend import num_threads, resolve_backend
from lsbench.levelset.init import resolve_init, resolve_inits, signed_distance
from lsbench.levelset.iteration import IterCallback, notify, stall_report
from lsbench.levelset.ops import row_bands
from lsbench.levelset.validate import (
    check_finite,
    check_image_2d,
    check_nonnegative,
    check_positive,
    check_positive_int,
    check_same_size_images,
)
from lsbench.types import LevelSetResult

__all__ = ["chan_vese", "chan_vese_batch", "chan_vese_energy", "getreuer_eq22"]


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
    backend: str = "auto",
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
    backend : {"auto", "numpy", "numba"}
        Which implementation runs the iterations (:mod:`lsbench.classic.backend`): the NumPy
        reference, the compiled kernel (numba; rows swept by ``LSBENCH_NUM_THREADS`` threads from
        160 x 160 pixels), or ``"auto"``: numba when it imports. Both give the same bits.

    Returns
    -------
    mask : (H, W) bool array
        ``phi > 0``; or a :class:`~lsbench.types.LevelSetResult` if ``return_result``, whose
        ``extras`` hold ``moved_pixels`` (pixels on the other side of the zero level than in phi0)
        and ``stalled`` (see Notes); ``converged`` is False for a stall.

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

    Starting from a region (a bool mask, ``"box"``, ``"circle"``): phi0 is its signed distance in
    pixels, as in Chan & Vese, but the time step, the Dirac (epsilon = 1) and ``tol`` are
    scikit-image's and Getreuer's, made for a phi of amplitude about 1 (the checkerboard) on the
    ``[0, 1]``-normalised image (the paper's 0-255 intensities make the data force 255^2 times
    stronger). Ten pixels from the contour ``delta(phi) = 1/(1 + phi^2)`` is below 1e-2, so only a
    thin band moves, slowly, and the RMS change over the whole image is below ``tol`` at once.
    Measured with the defaults: on ``skimage.data.coins()`` (303 x 384) from ``"box"``,
    ``"circle"`` or a centred box mask, the rule fires after 1 iteration with 0-2 pixels changed;
    on every 9th synthetic test image (40) from its initial box, 38 % stop within 3 iterations, 45 %
    change fewer than 5 pixels, and the mean F is 48.6 % (the box itself: 46.6 %; ``tol=0`` and 500
    iterations: 48.7 %, so the evolution, not the stopping rule, stalls), against 83.7 % from the
    checkerboard. Rescaling the distance does not help (``/2``, ``/5``, ``/10``: 51-58 %), because
    a smaller ``|grad phi|`` raises the curvature coefficients ``C1..C4`` that damp the update
    (scikit-image's own ``"disk"`` stalls the same way, ``reference/classic-methods.md`` §1.3).
    lsbench keeps the scheme as scikit-image and Getreuer define it and reports the stall: when
    the rule fires while fewer than 1e-4 of the pixels have changed side since phi0 (Getreuer's
    threshold for an unchanged segmentation, :func:`lsbench.levelset.iteration.stall_report`),
    ``extras["stalled"]`` is True and ``converged`` False. On a high-contrast image the band does
    move (a disk on a flat ground reaches F > 0.95 from a region shifted by 4 pixels). The
    benchmark's ``cv`` starts from the checkerboard for this reason (:mod:`lsbench.methods`).

    References
    ----------
    .. [1] T. F. Chan and L. A. Vese, "Active contours without edges", IEEE TIP 10(2):266-277,
       2001, doi:10.1109/83.902291.
    .. [2] P. Getreuer, "Chan-Vese segmentation", Image Processing On Line 2:214-224, 2012,
       doi:10.5201/ipol.2012.g-cv.

    Examples
    --------
    A bright 10 x 10 square on a dark 20 x 20 background, from the checkerboard:

    >>> import numpy as np
    >>> from lsbench.classic import chan_vese
    >>> image = np.zeros((20, 20), dtype=np.float32)
    >>> image[5:15, 5:15] = 1.0
    >>> mask = chan_vese(image, max_iter=50)
    >>> mask.dtype, int(mask.sum()), bool(mask[5:15, 5:15].all())
    (dtype('bool'), 100, True)
    >>> result = chan_vese(image, max_iter=50, return_result=True)
    >>> result.n_iter, result.converged, result.phi.dtype, len(result.energies)
    (50, False, dtype('float32'), 50)
    >>> bool(result.energies[-1] < result.energies[0])
    True
    """
    img = check_image_2d(image)
    mu, lambda1, lambda2, nu, dt, tol, max_iter, eta = _checked_parameters(mu, lambda1, lambda2, nu, dt, tol,
                                                                           max_iter, eta)
    if iter_callback is not None and not callable(iter_callback):
        raise TypeError(f"iter_callback must be callable, got {type(iter_callback).__name__}")

    backend = resolve_backend(backend)

    phi0 = resolve_init(init, img.shape, mask_to_phi=signed_distance, dtype=img.dtype)
    inside0 = phi0 > 0
    img = _normalise(img)
    want_energy = (return_result or iter_callback is not None) if track_energy is None else bool(track_energy)
    solver_class = _CompiledCV if backend == "numba" else _NumpyCV
    solver = solver_class(img, phi0, mu=mu, lambda1=lambda1, lambda2=lambda2, nu=nu, dt=dt, eta=eta)
    # one iteration per call when someone looks after each; else all of them in one call
    stepwise = want_energy or iter_callback is not None
    energies: list[float] = []
    energy = chan_vese_energy(img, solver.phi, mu=mu, lambda1=lambda1, lambda2=lambda2, nu=nu) if want_energy else np.nan
    n_iter = 0
    converged = False
    stopped = False
    while n_iter < max_iter:
        steps, change = solver.advance(1 if stepwise else max_iter - n_iter, tol)
        n_iter += steps
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
    mask = phi > 0
    if not return_result:
        return mask
    converged, extras = stall_report(inside0, mask, converged)
    return LevelSetResult(mask=mask, phi=phi, energies=np.asarray(energies, dtype=np.float64),
                          n_iter=n_iter, converged=converged, extras=extras)


def _normalise(img: np.ndarray) -> np.ndarray:
    """scikit-image's min-max normalisation to ``[0, 1]``, operation for operation, in img's type."""
    img = img - np.min(img)
    if np.max(img) != 0:
        img = img / np.max(img)
    return np.ascontiguousarray(img)


def getreuer_eq22(phi: np.ndarray, image: np.ndarray, c1: Any, c2: Any, *, mu: float, lambda1: float,
                  lambda2: float, nu: float, dt: float, eta: float) -> np.ndarray:
    """phi at the next iteration: Getreuer (2012), Eq. (22), for every pixel (NumPy).

    With phi's right, left, down and up neighbours ``phi_r, phi_l, phi_d, phi_u`` (edge-replicated
    beyond the border)::

        C1 = 1 / sqrt(eta + (phi_r - phi)^2 + ((phi_d - phi_u)/2)^2)        right
        C2 = 1 / sqrt(eta + (phi - phi_l)^2 + ((phi_d - phi_u)/2)^2)        left
        C3 = 1 / sqrt(eta + ((phi_r - phi_l)/2)^2 + (phi_d - phi)^2)        down
        C4 = 1 / sqrt(eta + ((phi_r - phi_l)/2)^2 + (phi - phi_u)^2)        up
        delta = 1 / (1 + phi^2)
        phi' = (phi + dt delta (mu (phi_r C1 + phi_l C2 + phi_d C3 + phi_u C4)
                                - lambda1 (f - c1)^2 + lambda2 (f - c2)^2 - nu))
               / (1 + mu dt delta (C1 + C2 + C3 + C4))

    in scikit-image's operation order (``-lambda1 * a + b`` is ``b - a`` for ``lambda1 = 1``,
    exactly; ``nu = 0`` subtracts an exact zero). The compiled twin is
    :func:`lsbench.classic.compiled.chan_vese.getreuer_eq22`, one pixel at a time.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.classic.chan_vese import getreuer_eq22
    >>> phi = np.array([[1.0, -1.0, 1.0]] * 3)
    >>> new = getreuer_eq22(phi, np.zeros((3, 3)), 0.0, 0.0, mu=0.25, lambda1=1.0, lambda2=1.0,
    ...                     nu=0.0, dt=0.5, eta=1e-16)
    >>> bool(np.all(np.abs(new) < np.abs(phi)))  # curvature flow flattens the stripes
    True
    """
    P = np.pad(phi, 1, mode="edge")
    phi_r, phi_l, phi_d, phi_u = P[1:-1, 2:], P[1:-1, :-2], P[2:, 1:-1], P[:-2, 1:-1]
    f = image
    C1 = 1.0 / np.sqrt(eta + (phi_r - phi) ** 2 + ((phi_d - phi_u) / 2.0) ** 2)
    C2 = 1.0 / np.sqrt(eta + (phi - phi_l) ** 2 + ((phi_d - phi_u) / 2.0) ** 2)
    C3 = 1.0 / np.sqrt(eta + ((phi_r - phi_l) / 2.0) ** 2 + (phi_d - phi) ** 2)
    C4 = 1.0 / np.sqrt(eta + ((phi_r - phi_l) / 2.0) ** 2 + (phi - phi_u) ** 2)
    delta = 1.0 / (1.0 + phi**2)
    K = phi_r * C1 + phi_l * C2 + phi_d * C3 + phi_u * C4
    fit = -lambda1 * (f - c1) ** 2 + lambda2 * (f - c2) ** 2
    return (phi + dt * delta * (mu * K + fit - nu)) / (1.0 + mu * dt * delta * (C1 + C2 + C3 + C4))


def _region_means(image: np.ndarray, phi: np.ndarray) -> tuple[Any, Any]:
    """c1, c2 with the hard Heaviside ``phi > 0`` (Eq. (6)), reduced as scikit-image does
    (``sum(f H) / sum(H)``; an empty region keeps its sum, 0)."""
    H = (phi > 0).astype(image.dtype)
    Hinv = 1.0 - H
    n_in, n_out = np.sum(H), np.sum(Hinv)
    c1, c2 = np.sum(image * H), np.sum(image * Hinv)
    if n_in != 0:
        c1 /= n_in
    if n_out != 0:
        c2 /= n_out
    return c1, c2


class _NumpyCV:
    """The NumPy backend: :func:`getreuer_eq22` (band by band on large images,
    :func:`~lsbench.levelset.ops.row_bands`), the region means from the old phi."""

    def __init__(self, image: np.ndarray, phi0: np.ndarray, **params: float) -> None:
        self.image = image
        self.phi = np.array(phi0, dtype=image.dtype)
        self.params = params

    def advance(self, max_steps: int, tol: float) -> tuple[int, float]:
        """Up to ``max_steps`` iterations; stop after one whose RMS change is <= ``tol`` (or not
        finite). Returns ``(iterations, last RMS change)``."""
        change = np.nan
        for step in range(1, max_steps + 1):
            c1, c2 = _region_means(self.image, self.phi)
            new = np.empty_like(self.phi)
            for source, keep, target in row_bands(self.phi.shape, halo=1):  # the same numbers, in cache
                new[target] = getreuer_eq22(self.phi[source], self.image[source], c1, c2, **self.params)[keep]
            change = float(np.sqrt(((new - self.phi) ** 2).mean()))
            self.phi = new
            if not change > tol:
                return step, change
        return max_steps, change


class _CompiledCV:
    """The numba backend: :func:`lsbench.classic.compiled.chan_vese.cv_evolve` on preallocated buffers."""

    def __init__(self, image: np.ndarray, phi0: np.ndarray, *, mu: float, lambda1: float, lambda2: float,
                 nu: float, dt: float, eta: float) -> None:
        from lsbench.classic.compiled import chan_vese as kernels
        from lsbench.classic.compiled._kernels import scratch_planes

        self._kernels = kernels
        self.image = image
        self.phi = np.array(phi0, dtype=image.dtype, order="C")
        self._args = _typed_params(image.dtype, mu, lambda1, lambda2, nu, dt, eta)
        self._work = scratch_planes(4, (image.size,), image.dtype)
        self._c = kernels.cv_region_means(self.phi, image, self._work)
        self._threads = num_threads(image.size)

    def advance(self, max_steps: int, tol: float) -> tuple[int, float]:
        from lsbench.classic.compiled._kernels import threads

        with threads(self._threads):
            steps, change = self._kernels.cv_evolve(self.phi, self.image, *self._args, max_steps, tol,
                                                    self._c, self._work)
        return int(steps), float(change)


def _typed_params(dtype: Any, mu: float, lambda1: float, lambda2: float, nu: float, dt: float,
                  eta: float) -> tuple[Any, ...]:
    """The kernels' scalars in the image's type, as NumPy converts Python floats against a float32
    array (``mu * dt`` multiplied in float64 first, as scikit-image's Python expression does)."""
    t = np.dtype(dtype).type
    return t(mu), t(lambda1), t(lambda2), t(nu), t(dt), t(mu * dt), t(eta)


def chan_vese_batch(
    images: Sequence[np.ndarray] | np.ndarray,
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
    backend: str = "auto",
) -> list[LevelSetResult]:
    """:func:`chan_vese` of several same-size images in one call; with numba, images in parallel.

    Parameters
    ----------
    images : sequence of (H, W) arrays, or a (B, H, W) array
        Greyscale images of one size and one precision (float32 stays float32, anything else is
        float64); each is min-max normalised to ``[0, 1]`` on its own.
    mu, lambda1, lambda2, nu, dt, tol, max_iter, eta
        As in :func:`chan_vese` (same defaults).
    init : str or sequence
        One preset for all images or one init per image (a preset, a bool mask -> signed
        distance, or a float phi0), as :func:`lsbench.torchclassic.chan_vese_batch` takes it.
    backend : {"auto", "numpy", "numba"}
        ``"numba"`` evolves the images on ``LSBENCH_NUM_THREADS`` threads, one image per thread
        at a time, each with its own stopping rule; ``"numpy"`` calls :func:`chan_vese` on each.

    Returns
    -------
    list of LevelSetResult
        One per image, in order, equal (bit for bit) to :func:`chan_vese` on that image with
        ``return_result=True, track_energy=False``: ``energies`` is empty.

    Examples
    --------
    >>> from lsbench.classic.chan_vese import chan_vese_batch
    >>> from lsbench.levelset.init import disk
    >>> images = [disk((32, 32)) > 0, disk((32, 32)) > 0.5]
    >>> [int(r.mask.sum() > 0) for r in chan_vese_batch(images, max_iter=50)]
    [1, 1]
    """
    imgs = check_same_size_images(images)
    mu, lambda1, lambda2, nu, dt, tol, max_iter, eta = _checked_parameters(mu, lambda1, lambda2, nu, dt, tol,
                                                                           max_iter, eta)
    backend = resolve_backend(backend)
    dtype = np.result_type(*imgs)
    imgs = [img.astype(dtype, copy=False) for img in imgs]
    phi0 = resolve_inits(init, len(imgs), imgs[0].shape, dtype=dtype)
    if backend == "numpy":
        return [chan_vese(img, mu=mu, lambda1=lambda1, lambda2=lambda2, nu=nu, dt=dt, tol=tol, max_iter=max_iter,
                          init=phi0[b], eta=eta, return_result=True, track_energy=False, backend="numpy")
                for b, img in enumerate(imgs)]
    from lsbench.classic.compiled._kernels import threads
    from lsbench.classic.compiled.chan_vese import cv_evolve_batch

    stack = np.stack([_normalise(img) for img in imgs])
    inside0 = phi0 > 0
    phis = phi0
    n_iter = np.zeros(len(imgs), np.int64)
    converged = np.zeros(len(imgs), np.bool_)
    with threads(num_threads(stack.size)):
        cv_evolve_batch(phis, stack, *_typed_params(dtype, mu, lambda1, lambda2, nu, dt, eta), max_iter, tol,
                        n_iter, converged)
    bad = [b for b in range(len(imgs)) if not np.all(np.isfinite(phis[b]))]
    if bad:
        raise FloatingPointError(f"Chan-Vese diverged on image(s) {bad} (non-finite phi); lower dt")
    results = []
    for b in range(len(imgs)):
        mask = phis[b] > 0
        done, extras = stall_report(inside0[b], mask, bool(converged[b]))
        results.append(LevelSetResult(mask=mask, phi=phis[b].copy(), energies=np.zeros(0), n_iter=int(n_iter[b]),
                                      converged=done, extras=extras))
    return results


def _checked_parameters(mu: float, lambda1: float, lambda2: float, nu: float, dt: float, tol: float,
                        max_iter: int, eta: float) -> tuple[float, float, float, float, float, float, int, float]:
    """The scalar parameters of :func:`chan_vese` and :func:`chan_vese_batch`, checked (same order back)."""
    return (check_nonnegative("mu", mu), check_nonnegative("lambda1", lambda1), check_nonnegative("lambda2", lambda2),
            check_finite("nu", nu), check_positive("dt", dt), check_nonnegative("tol", tol),
            check_positive_int("max_iter", max_iter), check_positive("eta", eta))


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

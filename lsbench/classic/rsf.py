"""Li's region-scalable fitting (RSF, 2008; lsbench "li") and its bias-field successor LIC (2011).

NumPy transliterations of Chunming Li's ``RSF.m`` / ``Demo_RSF.m`` (RSF_v0) and ``lse_bfe.m``
(the ``heart_ct`` demo): a binary-step initial function, the arctan Heaviside/Dirac with
``epsilon = 1``, Li's mirror-Neumann boundary, the distance penalty ``mu (4 del2(u) - kappa)``
and the truncated zero-padded Gaussian kernel ``fspecial('gaussian', 2*round(2 sigma)+1,
sigma)`` with its ``K * 1`` border normalisation, applied separably. Both run on the 0-255 scale
their length weights assume, in float64 (the data terms subtract quantities of order 255^2).

The reference codes keep the object at ``u < 0`` (the initial region gets ``-c0``); internally
the level set is ``u = -phi`` so that every line matches the MATLAB, and lsbench's phi > 0
inside is restored at the boundary. As in the papers, index 1 (``lambda1``, ``f1``, ``c1``)
is the region ``u > 0``, i.e. **outside** the contour, and index 2 the inside.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage

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
    correlate_rows_zero,
    curvature_central,
    gaussian_kernel_1d,
    gradient_into,
    laplacian_del2,
    neumann_bound_cond,
    row_bands,
)
from lsbench.levelset.validate import (
    check_image_2d,
    check_nonnegative,
    check_positive,
    check_positive_int,
)
from lsbench.types import LevelSetResult

__all__ = ["lic", "lic_energy", "rsf", "rsf_energy"]

_SCALE2 = 255.0 * 255.0  # nu is given as a multiple of 255^2, as in every Li demo
_HALO = 2  # rows of context of a level-set step: the divergence of the normalised gradient
_RSF_WINDOW = 10  # iterations over which rsf's optional tol test counts sign changes


class _Gauss:
    """``conv2(A, fspecial('gaussian', 2*round(2 sigma)+1, sigma), 'same')`` as two 1-D passes.

    Short kernels use direct 1-D correlation (SciPy's, along the columns in row bands on large images:
    :func:`~lsbench.levelset.ops.correlate_rows_zero`); from ``FFT_MIN_TAPS`` taps on (sigma >= 5) each
    pass is a real FFT product over a length >= n + radius, which is the same zero-padded
    linear convolution (no wrap-around) to rounding, and 1.5-2x faster at sigma = 10, 128^2.
    """

    FFT_MIN_TAPS = 21

    def __init__(self, sigma: float, shape: tuple[int, int]) -> None:
        self.k = gaussian_kernel_1d(sigma)
        self.shape = tuple(shape)
        self._tmp = np.empty(shape, dtype=np.float64)
        r = len(self.k) // 2
        self._spectra: list[tuple[int, np.ndarray]] = []
        if len(self.k) >= self.FFT_MIN_TAPS:
            for n in self.shape:
                length = sp_fft.next_fast_len(n + r, real=True)
                wrapped = np.zeros(length)
                wrapped[: r + 1] = self.k[r:]
                wrapped[length - r:] = self.k[:r]
                self._spectra.append((length, sp_fft.rfft(wrapped)))

    def __call__(self, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if not self._spectra:
            correlate_rows_zero(a, self.k, out=self._tmp)
            return ndimage.correlate1d(self._tmp, self.k, axis=1, mode="constant", cval=0.0, output=out)
        (ly, ky), (lx, kx) = self._spectra
        h, w = self.shape
        t = sp_fft.irfft(sp_fft.rfft(a, n=ly, axis=0) * ky[:, None], n=ly, axis=0)[:h]
        t = sp_fft.irfft(sp_fft.rfft(t, n=lx, axis=1) * kx, n=lx, axis=1)[:, :w]
        if out is None:
            return np.ascontiguousarray(t)
        out[...] = t
        return out


class _LevelSetStep:
    """The phi-update shared by RSF.m and lse_bfe.m's ``updateLSF``, on preallocated buffers.

    ``u <- u + dt (nu delta(u) kappa + mu (4 del2(u) - kappa) - delta(u) F)`` after
    ``NeumannBoundCond``, where ``F`` is the data force (``lambda1 e1 - lambda2 e2``) supplied
    by the caller from the Neumann-corrected ``u``. The increment is computed band by band on
    large images (:func:`~lsbench.levelset.ops.row_bands`; the same numbers, with the temporaries
    in the cache).
    """

    def __init__(self, u0: np.ndarray, *, nu: float, mu: float, epsilon: float, dt: float) -> None:
        self.u = np.array(u0, dtype=np.float64)
        self.nu, self.mu, self.epsilon, self.dt = nu, mu, epsilon, dt
        self.du = np.empty_like(self.u)
        # the scratch of one band (halo 2: the divergence of the normalised gradient)
        rows = max(band[0].stop - band[0].start for band in row_bands(self.u.shape, halo=_HALO))
        e = lambda: np.empty((rows, self.u.shape[1]))  # noqa: E731
        self.curv, self.delta, self.t, self.a, self.w1, self.w2 = (e() for _ in range(6))

    def begin(self) -> np.ndarray:
        """Apply the Neumann condition and return ``u`` (for the caller's data force)."""
        return neumann_bound_cond(self.u, out=self.u)

    def finish(self, force: np.ndarray) -> None:
        """Complete the step with the data force ``force`` (computed from :meth:`begin`'s ``u``)."""
        for source, keep, target in row_bands(self.u.shape, halo=_HALO):
            self.du[target] = self._increment(source, force)[keep]
        self.u += self.du

    def _increment(self, rows: slice, force: np.ndarray) -> np.ndarray:
        """``dt (nu delta kappa + mu (4 del2(u) - kappa) - delta F)`` on the image rows ``rows`` (a
        view of the band scratch; its first and last two rows are exact only at the image border)."""
        u, F = self.u[rows], force[rows]
        n = u.shape[0]
        K, d, t, a, w1, w2 = (buf[:n] for buf in (self.curv, self.delta, self.t, self.a, self.w1, self.w2))
        np.multiply(u, u, out=d)  # delta_eps(u) = (eps/pi) / (eps^2 + u^2) (RSF Eq. (9))
        np.add(self.epsilon * self.epsilon, d, out=d)
        np.divide(self.epsilon / np.pi, d, out=d)
        curvature_central(u, out=K, work=(w1, w2))
        laplacian_del2(u, out=t, work=w1)
        t -= K
        t *= self.mu  # P = mu (4 del2(u) - K)
        K *= d
        K *= self.nu  # L = nu delta K
        np.multiply(F, d, out=a)
        np.negative(a, out=a)  # A = -delta F
        np.add(K, t, out=t)  # L + P + A, in the reference's order
        t += a
        t *= self.dt
        return t


def _common_checks(image, *, nu, mu, sigma, epsilon, dt, max_iter, tol, c0, iter_callback):
    img = check_image_2d(image)
    return (
        img,
        check_nonnegative("nu", nu),
        check_nonnegative("mu", mu),
        check_positive("sigma", sigma),
        check_positive("epsilon", epsilon),
        check_positive("dt", dt),
        check_positive_int("max_iter", max_iter),
        check_nonnegative("tol", tol),
        check_positive("c0", c0),
        check_callback(iter_callback),
    )


# -- RSF ---------------------------------------------------------------------------------------------
def rsf(
    image: np.ndarray,
    *,
    lambda1: float = 1.0,
    lambda2: float = 1.0,
    nu: float = 0.001,
    mu: float = 1.0,
    sigma: float = 3.0,
    epsilon: float = 1.0,
    dt: float = 0.1,
    max_iter: int = 300,
    tol: float = 0.0,
    c0: float = 2.0,
    init: str | np.ndarray = "box",
    return_result: bool = False,
    iter_callback: IterCallback | None = None,
    track_energy: bool | None = None,
    backend: str = "auto",
) -> np.ndarray | LevelSetResult:
    """Segmentation by minimising Li et al.'s region-scalable fitting (RSF) energy.

    Parameters
    ----------
    image : (H, W) array
        Greyscale image, any range; min-max rescaled to ``[0, 255]``.
    lambda1, lambda2 : float
        Weights of the local fitting energy **outside** (``f1``) and **inside** (``f2``) the
        contour, the paper's convention. Demo 1 uses ``lambda1=1, lambda2=2``.
    nu : float
        Length weight as a multiple of ``255^2`` (the code's ``nu = 0.001*255*255``; demos use
        0.001-0.004).
    mu : float
        Weight of the distance penalty ``P(phi) = int (|grad phi| - 1)^2 / 2``.
    sigma : float
        Scale of the Gaussian kernel ``K_sigma``, truncated to ``2*round(2 sigma)+1`` pixels as in
        the code (the paper truncates at a radius rho). Small sigma = more local, more
        sensitive to the initial contour.
    epsilon : float
        Width of the arctan Heaviside/Dirac (Eq. (8)-(9)).
    dt : float
        Time step of the explicit scheme (code: 0.1).
    max_iter : int
        Iterations (the demos: 150-1000, mostly 200-300; the code has no convergence test).
    tol : float
        Stop when fewer than ``tol * H * W`` pixels changed side of the zero level over the last
        10 iterations; 0 (default) runs ``max_iter`` iterations like the reference.
    c0 : float
        Height of the binary-step initial function built from a mask or preset (code: 2).
    init : {"box", "circle"} or ndarray
        Initial region: a preset, a bool mask (-> ``+c0`` inside, ``-c0`` outside) or a float
        phi0 (positive inside).
    return_result, iter_callback, track_energy
        As in :func:`lsbench.classic.chan_vese`; the energy is :func:`rsf_energy`.
    backend : {"auto", "numpy", "numba"}
        Which implementation runs the iterations (:mod:`lsbench.classic.backend`): the NumPy
        transliteration, the compiled kernel (:mod:`lsbench.classic.compiled.rsf`; rows in
        parallel from 160 x 160 pixels), or ``"auto"``: numba when it imports. Both give the same
        bits for ``sigma < 5`` (beyond, NumPy convolves by FFT: equal to rounding).

    Returns
    -------
    mask : (H, W) bool array
        ``phi > 0``; or a :class:`~lsbench.types.LevelSetResult` with ``extras["f_outside"]``,
        ``extras["f_inside"]`` (the fitting functions f1, f2 of the last iteration).

    Notes
    -----
    ``E = sum_i lambda_i int int K(x-y)|I(y) - f_i(x)|^2 M_i(phi(y)) dy dx + nu L(phi) + mu P(phi)``
    with ``M1 = H_eps(phi)``, ``M2 = 1 - H_eps(phi)``; the optimal fits are
    ``f_i = K*(M_i I) / K*M_i`` (Eq. (14); ``f2 = (K*I - K*(H I)) / (K*1 - K*H)``, Sec. IV-A) and
    the gradient flow is Eq. (15):
    ``phi_t = -delta(phi)(lambda1 e1 - lambda2 e2) + nu delta(phi) div(grad phi/|grad phi|)
    + mu (Laplacian phi - div(grad phi/|grad phi|))`` with
    ``lambda1 e1 - lambda2 e2 = (lambda1 - lambda2) (K*1) I^2 + K*(lambda1 f1^2 - lambda2 f2^2)
    - 2 I K*(lambda1 f1 - lambda2 f2)``, all in the code's sign (object = ``phi < 0``); equation
    numbers as cited in ``RSF.m``.

    Deviations from the reference code: the image is min-max rescaled to 0-255; the Gaussian
    is applied separably (the same kernel); ``tol`` adds an optional early stop (off by default).

    Sensitivity to rounding (measured). ``RSF.m``'s curvature ``div(grad phi / sqrt(|grad phi|^2 +
    1e-10))`` multiplies differences in the flat parts of phi (the plateaus of the binary step) by up
    to ``1e5``, and with ``nu delta(phi)`` about 4 at ``|phi| = 2`` the explicit step amplifies them
    about 1e4-fold per iteration until they saturate. On 8 synthetic test images (every 45th, each
    from its initial box, defaults, sigma = 3), a +-1 ulp change of the input pixels gives
    ``max |delta phi|`` of about 1e-14 after 1 iteration, 1e-10 after 2, 1e-5 after 3 and 0.1-1
    after 4-5 (factors of 0.8-4.8e4 per iteration). After 300 iterations those masks still agree on
    99.6-100 % of the pixels, but which side of the zero level large flat regions end on depends on
    how the Gaussian window is summed: the line-by-line port of ``RSF.m`` in
    ``tests/classic/test_rsf.py`` agrees with this function on 99.9-100 % of the pixels with the same
    separable window, and on 0.1-98.3 % (median 64 %) with MATLAB's 2-D ``conv2`` (relative
    differences of 1e-13): on two cell images one of them ends with the complementary phase. A
    larger sigma helps on most images but does not remove it (sigma = 8: median 100 %, but 73 %
    against the ulp change and 76 % against the ``conv2`` port on the cell images). So ``li``'s per-image scores are reproducible with this code in float64 only
    (the torch backend runs RSF in float64; float32 is not enough), and the tests compare ports over
    10-15 iterations.

    References
    ----------
    .. [1] C. Li, C.-Y. Kao, J. C. Gore, Z. Ding, "Minimization of region-scalable fitting energy
       for image segmentation", IEEE TIP 17(10):1940-1949, 2008, doi:10.1109/TIP.2008.2002304.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.classic import rsf
    >>> image = np.zeros((20, 20))
    >>> image[5:15, 5:15] = 1.0
    >>> mask = rsf(image, max_iter=50)            # from the default centred box
    >>> int(mask.sum()), bool((mask == (image > 0)).all())
    (100, True)
    >>> result = rsf(image, max_iter=50, return_result=True)
    >>> result.n_iter, sorted(result.extras), result.extras["f_inside"].shape
    (50, ['f_inside', 'f_outside'], (20, 20))
    """
    img, nu, mu, sigma, epsilon, dt, max_iter, tol, c0, _ = _common_checks(
        image, nu=nu, mu=mu, sigma=sigma, epsilon=epsilon, dt=dt, max_iter=max_iter, tol=tol, c0=c0,
        iter_callback=iter_callback)
    lambda1 = check_nonnegative("lambda1", lambda1)
    lambda2 = check_nonnegative("lambda2", lambda2)
    phi0 = li_init(init, img.shape, c0)

    backend = resolve_backend(backend)
    I = to_255(img)  # noqa: E741 - the papers' name
    stepper_class = _CompiledRSF if backend == "numba" else _NumpyRSF
    step = stepper_class(-phi0, I, lambda1=lambda1, lambda2=lambda2, nu=nu * _SCALE2, mu=mu, sigma=sigma,
                         epsilon=epsilon, dt=dt)

    want_energy = wants_energy(track_energy, return_result, iter_callback)
    stepwise = want_energy or iter_callback is not None

    def energy_of() -> float:
        return rsf_energy(I, -step.u, lambda1=lambda1, lambda2=lambda2, nu=nu, mu=mu, sigma=sigma,
                          epsilon=epsilon, rescale=False)

    energies: list[float] = []
    energy = energy_of() if want_energy else np.nan
    monitor = SignChangeMonitor(step.u, negate=True)
    n_iter = 0
    converged = False
    while n_iter < max_iter:
        # without observers, run up to the next check (finiteness every 50, tol every 10 iterations)
        steps = 1 if stepwise else min(max_iter, (n_iter // _RSF_WINDOW + 1) * _RSF_WINDOW) - n_iter
        step.advance(steps)
        n_iter += steps
        if want_energy:
            energies.append(energy)
            energy = energy_of()
        if iter_callback is not None and notify(iter_callback, n_iter, -step.u, energy):
            break
        if n_iter % 50 == 0 and not np.all(np.isfinite(step.u)):
            raise FloatingPointError(f"RSF diverged at iteration {n_iter} (non-finite phi); lower dt")
        if tol > 0 and n_iter % _RSF_WINDOW == 0 and monitor.update(step.u) < tol * I.size:
            converged = n_iter < max_iter
            break
    if not np.all(np.isfinite(step.u)):
        raise FloatingPointError(f"RSF diverged (non-finite phi after {n_iter} iterations); lower dt")

    phi = -step.u
    mask = phi > 0
    if not return_result:
        return mask
    return LevelSetResult(mask=mask, phi=phi, energies=np.asarray(energies, dtype=np.float64),
                          n_iter=n_iter, converged=converged,
                          extras={"f_outside": step.f1.copy(), "f_inside": step.f2.copy()})


class _NumpyRSF:
    """One iteration of ``RSF.m`` per :meth:`advance` step, on preallocated NumPy buffers."""

    def __init__(self, u0: np.ndarray, I: np.ndarray, *, lambda1: float, lambda2: float, nu: float,  # noqa: E741
                 mu: float, sigma: float, epsilon: float, dt: float) -> None:
        self.I, self.lambda1, self.lambda2, self.epsilon = I, lambda1, lambda2, epsilon
        self.G = _Gauss(sigma, I.shape)
        self.KI = self.G(I)
        self.KONE = self.G(np.ones_like(I))
        self.fixed = (lambda1 - lambda2) * self.KONE * I * I  # first term of the data force
        self.step = _LevelSetStep(u0, nu=nu, mu=mu, epsilon=epsilon, dt=dt)
        e = lambda: np.empty_like(I)  # noqa: E731
        self.Hu, self.c1, self.c2, self.f1, self.f2, self.s, self.force = (e() for _ in range(7))

    @property
    def u(self) -> np.ndarray:
        return self.step.u

    def advance(self, n_steps: int) -> None:
        for _ in range(n_steps):
            self._iterate()

    def _iterate(self) -> None:
        I, G, lambda1, lambda2 = self.I, self.G, self.lambda1, self.lambda2  # noqa: E741
        Hu, c1, c2, f1, f2, s, force = self.Hu, self.c1, self.c2, self.f1, self.f2, self.s, self.force
        u = self.step.begin()
        # localBinaryFit: Hu = H(u); f1 = K*(Hu I) / K*Hu; f2 = (KI - K*(Hu I)) / (KONE - K*Hu)
        np.divide(u, self.epsilon, out=Hu)
        np.arctan(Hu, out=Hu)
        Hu *= 2.0 / np.pi
        Hu += 1.0
        Hu *= 0.5
        G(Hu, out=c1)
        np.multiply(I, Hu, out=s)
        G(s, out=c2)
        np.divide(c2, c1, out=f1)
        np.subtract(self.KI, c2, out=f2)
        np.subtract(self.KONE, c1, out=s)
        f2 /= s
        # data force lambda1 e1 - lambda2 e2 (Eq. (15))
        np.multiply(f1, f1, out=s)
        s *= lambda1
        np.multiply(f2, f2, out=c1)
        c1 *= lambda2
        s -= c1
        G(s, out=force)  # K*(lambda1 f1^2 - lambda2 f2^2)
        force += self.fixed
        np.multiply(f1, lambda1, out=s)
        np.multiply(f2, lambda2, out=c1)
        s -= c1
        G(s, out=c2)  # K*(lambda1 f1 - lambda2 f2)
        c2 *= I
        c2 *= 2.0
        force -= c2
        self.step.finish(force)


class _CompiledRSF:
    """:class:`_NumpyRSF`'s interface on :func:`lsbench.classic.compiled.rsf.rsf_steps`."""

    def __init__(self, u0: np.ndarray, I: np.ndarray, *, lambda1: float, lambda2: float, nu: float,  # noqa: E741
                 mu: float, sigma: float, epsilon: float, dt: float) -> None:
        from lsbench.classic.compiled import rsf as kernels
        from lsbench.classic.compiled._kernels import scratch_planes

        self._kernels = kernels
        self.u = np.array(u0, dtype=np.float64, order="C")
        self.I = np.ascontiguousarray(I, dtype=np.float64)
        self.k = gaussian_kernel_1d(sigma)
        self._work = scratch_planes(8, I.shape)
        self._threads = num_threads(I.size)
        G = self.gaussian
        self.KI = G(self.I)
        self.KONE = G(np.ones_like(self.I))
        self.fixed = (lambda1 - lambda2) * self.KONE * self.I * self.I
        self._params = (float(lambda1), float(lambda2), float(nu), float(mu), float(epsilon), float(dt))

    def gaussian(self, a: np.ndarray) -> np.ndarray:
        """``K * a`` (zero padding) with the compiled separable filter."""
        from lsbench.classic.compiled._kernels import gaussian_filter_zero, threads

        out = np.empty_like(a)
        with threads(self._threads):
            gaussian_filter_zero(np.ascontiguousarray(a, dtype=np.float64), self.k, out, np.empty_like(out))
        return out

    @property
    def f1(self) -> np.ndarray:
        return self._work[0]

    @property
    def f2(self) -> np.ndarray:
        return self._work[1]

    def advance(self, n_steps: int) -> None:
        from lsbench.classic.compiled._kernels import threads

        with threads(self._threads):
            self._kernels.rsf_steps(self.u, self.I, self.KI, self.KONE, self.fixed, self.k, *self._params,
                                    int(n_steps), self._work)


def _length_and_penalty(u: np.ndarray, epsilon: float) -> tuple[float, float]:
    """``L = sum delta_eps(u)|grad u|`` and ``P = sum (|grad u| - 1)^2 / 2`` (RSF and LIC)."""
    gy, gx = gradient_into(u, np.empty_like(u), np.empty_like(u))
    s = np.sqrt(gx * gx + gy * gy)
    delta = (epsilon / np.pi) / (epsilon * epsilon + u * u)
    return float(np.sum(delta * s)), float(np.sum(0.5 * (s - 1.0) ** 2))


def rsf_energy(
    image: np.ndarray, phi: np.ndarray, *, lambda1: float = 1.0, lambda2: float = 1.0, nu: float = 0.001,
    mu: float = 1.0, sigma: float = 3.0, epsilon: float = 1.0, rescale: bool = True,
) -> float:
    """The RSF energy at ``phi`` (positive inside) with the optimal ``f1, f2``.

    ``sum_x sum_i lambda_i [f_i^2 K*M_i - 2 f_i K*(M_i I) + K*(M_i I^2)](x) + nu 255^2 L + mu P``:
    the double integral of the fitting energy with the code's truncated zero-padded kernel. ``rescale``
    puts ``image`` on the 0-255 scale first, as :func:`rsf` does.
    """
    I = to_255(image) if rescale else np.asarray(image, dtype=np.float64)  # noqa: E741
    u = -np.asarray(phi, dtype=np.float64)
    G = _Gauss(sigma, I.shape)
    H = 0.5 * (1.0 + (2.0 / np.pi) * np.arctan(u / epsilon))
    fit = 0.0
    for lam, M in ((lambda1, H), (lambda2, 1.0 - H)):
        KM, KMI, KMI2 = G(M), G(M * I), G(M * I * I)
        f = KMI / KM
        fit += lam * float(np.sum(f * f * KM - 2.0 * f * KMI + KMI2))
    length, penalty = _length_and_penalty(u, epsilon)
    return fit + nu * _SCALE2 * length + mu * penalty


# -- LIC ---------------------------------------------------------------------------------------------
def lic(
    image: np.ndarray,
    *,
    nu: float = 0.001,
    mu: float = 1.0,
    sigma: float = 4.0,
    epsilon: float = 1.0,
    dt: float = 0.1,
    max_iter: int = 500,
    iter_inner: int = 10,
    tol: float = 0.0,
    c0: float = 1.0,
    init: str | np.ndarray = "box",
    return_result: bool = False,
    iter_callback: IterCallback | None = None,
    track_energy: bool | None = None,
    backend: str = "auto",
) -> np.ndarray | LevelSetResult:
    """Segmentation with joint bias-field estimation (Li et al. 2011, "LIC"), two-phase.

    Parameters
    ----------
    image : (H, W) array
        Greyscale image, any range; min-max rescaled to ``[0, 255]`` (the demo's
        ``255*normalize01(Img)``).
    nu : float
        Length weight as a multiple of ``255^2`` (demo: 0.001).
    mu : float
        Weight of the distance penalty (demo: 1).
    sigma : float
        Scale of the Gaussian window ``K`` (demo: 4, a 17 x 17 kernel). It must be large
        against the object's detail, or the bias field absorbs object contrast.
    epsilon : float
        Width of the arctan Heaviside/Dirac (demo: 1).
    dt : float
        Time step of the level-set updates (demo: 0.1).
    max_iter : int
        Total level-set updates, run as outer iterations of ``iter_inner`` (demo: 50 x 10).
    iter_inner : int
        Level-set updates per outer iteration (``iter_lse``); the constants ``c`` are updated
        before and the bias field ``b`` after each outer iteration.
    tol : float
        Stop when fewer than ``tol * H * W`` pixels changed side over one outer iteration;
        0 (default) runs the full budget like the demo.
    c0 : float
        Height of the binary-step initial function (demo: 1).
    init : {"box", "circle"} or ndarray
        Initial region: a preset, a bool mask or a float phi0 (positive inside).
    return_result, iter_callback, track_energy
        As in :func:`lsbench.classic.chan_vese`; the energy is :func:`lic_energy` with the
        current ``b`` and ``c``.
    backend : {"auto", "numpy", "numba"}
        As in :func:`rsf` (the compiled kernels: :mod:`lsbench.classic.compiled.rsf`).

    Returns
    -------
    mask : (H, W) bool array
        ``phi > 0``; or a :class:`~lsbench.types.LevelSetResult` whose ``extras`` hold
        ``"bias"`` (the estimated bias field b, starting from ones; b and c are only
        determined up to a common scale), ``"c_inside"``, ``"c_outside"`` (the constants, on the
        0-255 scale) and ``"corrected"`` (the bias-corrected image ``I / b`` on 0-255).

    Notes
    -----
    Model ``I = b J + n`` with ``J = c1 M1 + c2 M2`` piecewise constant. Energy
    ``E = int sum_i e_i M_i(phi) + nu L(phi) + mu R_p(phi)`` (two-phase) with
    ``e_i = I^2 (K*1) - 2 c_i I (K*b) + c_i^2 (K*b^2)``. Minimised alternately:
    ``c_i = int (K*b) I M_i / int (K*b^2) M_i``, then ``iter_inner`` steps of
    ``phi_t = -delta(phi)(e1 - e2) + nu delta(phi) div(grad phi/|grad phi|) + mu (Laplacian phi
    - div(grad phi/|grad phi|))`` with e frozen, then
    ``b = K*(I J^(1)) / K*(J^(2))`` with ``J^(1) = sum c_i M_i``, ``J^(2) = sum c_i^2 M_i``
    as in ``lse_bfe.m``. Index 1 is the reference's ``u > 0`` region (outside).

    Deviations from the reference code: the image is min-max rescaled to 0-255; the Gaussian
    is separable; where ``sum (K*b^2) M_i`` or ``K*J^(2)`` is zero (a constant black image,
    where the reference divides 0 by 0) the previous ``c``/``b`` is kept; ``tol`` adds an
    optional early stop (off by default).

    References
    ----------
    .. [1] C. Li, R. Huang, Z. Ding, J. C. Gatenby, D. N. Metaxas, J. C. Gore, "A level set method
       for image segmentation in the presence of intensity inhomogeneities with application to
       MRI", IEEE TIP 20(7):2007-2016, 2011, doi:10.1109/TIP.2011.2146190.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.classic import lic
    >>> image = np.zeros((20, 20))
    >>> image[5:15, 5:15] = 1.0
    >>> mask = lic(image, max_iter=50)            # 5 outer x 10 inner iterations
    >>> int(mask.sum()), bool((mask == (image > 0)).all())
    (100, True)
    >>> result = lic(image, max_iter=50, return_result=True)
    >>> sorted(result.extras)
    ['bias', 'c_inside', 'c_outside', 'corrected']
    >>> result.extras["bias"].shape
    (20, 20)
    """
    img, nu, mu, sigma, epsilon, dt, max_iter, tol, c0, _ = _common_checks(
        image, nu=nu, mu=mu, sigma=sigma, epsilon=epsilon, dt=dt, max_iter=max_iter, tol=tol, c0=c0,
        iter_callback=iter_callback)
    iter_inner = check_positive_int("iter_inner", iter_inner)
    phi0 = li_init(init, img.shape, c0)

    backend = resolve_backend(backend)
    I = to_255(img)  # noqa: E741
    model_class = _CompiledLIC if backend == "numba" else _NumpyLIC
    step = model_class(-phi0, I, nu=nu * _SCALE2, mu=mu, sigma=sigma, epsilon=epsilon, dt=dt)
    b = np.ones_like(I)
    C = np.zeros(2)

    want_energy = wants_energy(track_energy, return_result, iter_callback)
    stepwise = want_energy or iter_callback is not None
    energies: list[float] = []
    energy = np.nan
    monitor = SignChangeMonitor(step.u, negate=True)
    n_iter = 0
    converged = stopped = False
    while n_iter < max_iter and not stopped:
        C = step.start_outer(b, C)  # c from K*b, K*b^2; then e1, e2 frozen for the inner loop
        if want_energy:
            energy = _lic_energy_u(step.u, step.e1, step.e2, nu, mu, epsilon)
        inner = min(iter_inner, max_iter - n_iter)
        if not stepwise:
            step.advance(inner)
            n_iter += inner
        for _ in range(inner if stepwise else 0):
            step.advance(1)
            n_iter += 1
            if want_energy:
                energies.append(energy)
                energy = _lic_energy_u(step.u, step.e1, step.e2, nu, mu, epsilon)
            if iter_callback is not None and notify(iter_callback, n_iter, -step.u, energy):
                stopped = True
                break
        if not np.all(np.isfinite(step.u)):
            raise FloatingPointError(f"LIC diverged at iteration {n_iter} (non-finite phi); lower dt")
        b = step.update_b(C, b)
        if not stopped and tol > 0 and monitor.update(step.u) < tol * I.size:
            converged = n_iter < max_iter
            break

    phi = -step.u
    mask = phi > 0
    if not return_result:
        return mask
    corrected = I / np.where(b == 0, 1.0, b)
    return LevelSetResult(mask=mask, phi=phi, energies=np.asarray(energies, dtype=np.float64),
                          n_iter=n_iter, converged=converged,
                          extras={"bias": b, "c_outside": float(C[0]), "c_inside": float(C[1]),
                                  "corrected": corrected})


class _NumpyLIC:
    """The steps of ``lse_bfe.m`` in NumPy: :meth:`start_outer` (``updateC`` and the frozen ``e1, e2``),
    :meth:`advance` (level-set steps), :meth:`update_b` (``updateB``)."""

    def __init__(self, u0: np.ndarray, I: np.ndarray, *, nu: float, mu: float, sigma: float, epsilon: float,  # noqa: E741
                 dt: float) -> None:
        self.I, self.epsilon = I, epsilon
        self.G = _Gauss(sigma, I.shape)
        self.KONE_I = I * I * self.G(np.ones_like(I))
        self.step = _LevelSetStep(u0, nu=nu, mu=mu, epsilon=epsilon, dt=dt)
        self.e1, self.e2, self.force = np.empty_like(I), np.empty_like(I), np.empty_like(I)

    @property
    def u(self) -> np.ndarray:
        return self.step.u

    def start_outer(self, b: np.ndarray, C: np.ndarray) -> np.ndarray:
        I, G = self.I, self.G  # noqa: E741
        KB1 = G(b)
        KB2 = G(b * b)
        C = _update_c(I, self.step.u, KB1, KB2, self.epsilon, C)
        # e_k = KONE_I - 2 I C_k KB1 + C_k^2 KB2, frozen for the inner loop
        for e_k, c_k in ((self.e1, C[0]), (self.e2, C[1])):
            np.multiply(I, 2.0 * c_k, out=e_k)
            e_k *= KB1
            np.subtract(self.KONE_I, e_k, out=e_k)
            e_k += (c_k * c_k) * KB2
        return C

    def advance(self, n_steps: int) -> None:
        for _ in range(n_steps):
            self.step.begin()
            np.subtract(self.e1, self.e2, out=self.force)
            self.step.finish(self.force)

    def update_b(self, C: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _update_b(self.I, self.step.u, C, self.G, self.epsilon, b)


class _CompiledLIC:
    """:class:`_NumpyLIC`'s interface on the kernels of :mod:`lsbench.classic.compiled.rsf`."""

    def __init__(self, u0: np.ndarray, I: np.ndarray, *, nu: float, mu: float, sigma: float, epsilon: float,  # noqa: E741
                 dt: float) -> None:
        from lsbench.classic.compiled import rsf as kernels
        from lsbench.classic.compiled._kernels import scratch_planes

        self._kernels = kernels
        self.u = np.array(u0, dtype=np.float64, order="C")
        self.I = np.ascontiguousarray(I, dtype=np.float64)
        self.k = gaussian_kernel_1d(sigma)
        self.epsilon = float(epsilon)
        self._threads = num_threads(I.size)
        self._work = scratch_planes(5, I.shape)
        self.KONE_I = self.I * self.I * self._gaussian(np.ones_like(self.I))
        self.e1, self.e2, self.force = np.empty_like(self.I), np.empty_like(self.I), np.empty_like(self.I)
        self._params = (float(nu), float(mu), float(epsilon), float(dt))
        self._H = np.empty_like(self.I)  # H(u) of the current u: from here, then from each update_b
        kernels.heaviside_field(self.u, self.epsilon, self._H)

    def _gaussian(self, a: np.ndarray) -> np.ndarray:
        from lsbench.classic.compiled._kernels import gaussian_filter_zero, threads

        out = np.empty_like(a)
        with threads(self._threads):
            gaussian_filter_zero(np.ascontiguousarray(a), self.k, out, self._work[4])
        return out

    def start_outer(self, b: np.ndarray, C: np.ndarray) -> np.ndarray:
        from lsbench.classic.compiled._kernels import threads

        KB1 = self._gaussian(b)
        KB2 = self._gaussian(b * b)
        with threads(self._threads):
            C = self._kernels.lic_update_c(self.I, self._H, KB1, KB2, np.asarray(C, dtype=np.float64),
                                           self._work[:4])
            self._kernels.lic_data_force(self.I, self.KONE_I, KB1, KB2, C, self.e1, self.e2, self.force)
        return C

    def advance(self, n_steps: int) -> None:
        from lsbench.classic.compiled._kernels import threads

        with threads(self._threads):
            self._kernels.lse_steps(self.u, self.force, *self._params, int(n_steps), self._work[:3])

    def update_b(self, C: np.ndarray, b: np.ndarray) -> np.ndarray:
        from lsbench.classic.compiled._kernels import threads

        with threads(self._threads):
            return self._kernels.lic_update_b(self.I, self.u, C, self.k, self.epsilon, np.ascontiguousarray(b),
                                              self._work, self._H)


def _heaviside(u: np.ndarray, epsilon: float) -> np.ndarray:
    return 0.5 * (1.0 + (2.0 / np.pi) * np.arctan(u / epsilon))


def _update_c(I: np.ndarray, u: np.ndarray, KB1: np.ndarray, KB2: np.ndarray, epsilon: float,  # noqa: E741
              previous: np.ndarray) -> np.ndarray:
    """lse_bfe.m's ``updateC``; keeps the previous value where the denominator is 0."""
    H = _heaviside(u, epsilon)
    C = np.empty(2)
    for k, M in enumerate((H, 1.0 - H)):
        num = float(np.sum(KB1 * I * M))
        den = float(np.sum(KB2 * M))
        C[k] = num / den if den != 0 else previous[k]
    return C


def _update_b(I: np.ndarray, u: np.ndarray, C: np.ndarray, G: _Gauss, epsilon: float,  # noqa: E741
              previous: np.ndarray) -> np.ndarray:
    """lse_bfe.m's ``updateB``; keeps the previous value where ``K*J^(2)`` is 0."""
    H = _heaviside(u, epsilon)
    PC1 = C[0] * H + C[1] * (1.0 - H)
    PC2 = (C[0] * C[0]) * H + (C[1] * C[1]) * (1.0 - H)
    num = G(PC1 * I)
    den = G(PC2)
    ok = den != 0
    if ok.all():
        return num / den
    return np.where(ok, num / np.where(ok, den, 1.0), previous)


def _lic_energy_u(u: np.ndarray, e1: np.ndarray, e2: np.ndarray, nu: float, mu: float,
                  epsilon: float) -> float:
    H = _heaviside(u, epsilon)
    length, penalty = _length_and_penalty(u, epsilon)
    return float(np.sum(e1 * H + e2 * (1.0 - H))) + nu * _SCALE2 * length + mu * penalty


def lic_energy(
    image: np.ndarray, phi: np.ndarray, bias: np.ndarray, c_inside: float, c_outside: float, *,
    nu: float = 0.001, mu: float = 1.0, sigma: float = 4.0, epsilon: float = 1.0, rescale: bool = True,
) -> float:
    """The LIC energy at ``phi`` (positive inside) for a bias field and constants.

    ``sum_x [e_out H(-phi) + e_in (1 - H(-phi))] + nu 255^2 L + mu P`` with
    ``e_i = I^2 (K*1) - 2 c_i I (K*b) + c_i^2 (K*b^2)``; ``rescale`` puts ``image`` on 0-255 first.
    """
    I = to_255(image) if rescale else np.asarray(image, dtype=np.float64)  # noqa: E741
    u = -np.asarray(phi, dtype=np.float64)
    G = _Gauss(sigma, I.shape)
    b = np.asarray(bias, dtype=np.float64)
    KONE, KB1, KB2 = G(np.ones_like(I)), G(b), G(b * b)
    e = [I * I * KONE - 2.0 * c * I * KB1 + c * c * KB2 for c in (c_outside, c_inside)]
    return _lic_energy_u(u, e[0], e[1], nu, mu, epsilon)

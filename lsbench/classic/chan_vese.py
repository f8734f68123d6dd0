"""Chan–Vese "active contours without edges", semi-implicit scheme of Getreuer (IPOL 2012).

The same Jacobi update as ``skimage.segmentation.chan_vese`` (Getreuer's Eq. (22)), written as one
cache-blocked pass per iteration over preallocated buffers with in-place NumPy operations (and
threads for large images), with the same floating-point operations in the same order, so that
for equal parameters and initial level set phi, the energies and the masks equal scikit-image's
bit for bit. It adds the area term ``nu`` of the original model and an optional energy trace that
is only computed when asked for. The batched PyTorch twin is
:func:`lsbench.torchclassic.chan_vese_batch`.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import numpy as np

from lsbench.levelset.init import resolve_init, signed_distance
from lsbench.levelset.iteration import IterCallback, notify, stall_report
from lsbench.levelset.validate import (
    check_finite,
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
    mu = check_nonnegative("mu", mu)
    lambda1 = check_nonnegative("lambda1", lambda1)
    lambda2 = check_nonnegative("lambda2", lambda2)
    nu = check_finite("nu", nu)
    dt = check_positive("dt", dt)
    tol = check_nonnegative("tol", tol)
    max_iter = check_positive_int("max_iter", max_iter)
    eta = check_positive("eta", eta)
    if iter_callback is not None and not callable(iter_callback):
        raise TypeError(f"iter_callback must be callable, got {type(iter_callback).__name__}")

    dtype = img.dtype
    phi0 = resolve_init(init, img.shape, mask_to_phi=signed_distance, dtype=dtype)
    inside0 = phi0 > 0
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
    converged, extras = stall_report(inside0, mask, converged)
    return LevelSetResult(mask=mask, phi=phi, energies=np.asarray(energies, dtype=np.float64),
                          n_iter=n_iter, converged=converged, extras=extras)


class _SemiImplicitCV:
    """One Jacobi sweep of Getreuer's Eq. (22) per :meth:`step`, in one cache-blocked pass.

    phi lives in the interior of an edge-padded ``(H+2) x (W+2)`` array that is also viewed
    flat, so that the four neighbours of every pixel are the *contiguous* 1-D slices at offsets
    +-1 and +-(W+2) (the two pad columns are computed too and overwritten by the edge padding,
    2/W of extra work). Two such arrays alternate (old -> new).

    The region means ``c1``, ``c2`` of an iteration depend only on the *old* phi, so they are
    reduced at the end of the previous iteration (and once from phi0) and every pixel of the
    update can then be computed in one pass. The pass runs over blocks of about
    :data:`BLOCK_ELEMENTS` pixels (whole rows), so that the dozen scratch arrays of a block stay
    in the core's L2 cache instead of streaming full images through memory ~55 times per
    iteration; every slice a block needs is made once, in ``__init__``. Each block also writes its
    rows of the three full-size arrays that the reductions read (``(new - old)**2`` for the RMS
    change, ``image * H`` and ``image - image * H`` for the next means). The blocks are split
    into contiguous ranges swept by a small thread pool (NumPy releases the GIL inside its loops);
    the reductions are single ``np.sum``/``mean``/``count_nonzero`` calls over contiguous
    ``H x W`` arrays in the main thread, the same pairwise sums as scikit-image.

    Every pixel goes through the same floating-point operations in the same order as
    ``skimage.segmentation.chan_vese`` (products are reordered only where multiplication is
    commutative; ``-1 * a + b`` is written ``b - a`` and ``1 * a`` as ``a``, which IEEE 754
    makes exact), so phi is bit-identical.
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
        # rows per block, and the rows of each worker thread
        rows = max(1, min(h, BLOCK_ELEMENTS // wp))
        n_workers = max(1, min(_n_threads(h * w), -(-h // rows)))
        bounds = np.linspace(0, h, n_workers + 1).round().astype(int)
        self._work: list[list[tuple[_Block, _Block]]] = []
        for r_a, r_b in itertools.pairwise(bounds):
            if r_b <= r_a:
                continue
            scratch = _Scratch(min(rows, int(r_b - r_a)) * wp, wp, dt_)
            blocks = []
            for r0 in range(int(r_a), int(r_b), rows):
                r1 = min(r0 + rows, int(r_b))
                blocks.append((self._block(r0, r1, scratch, 0), self._block(r0, r1, scratch, 1)))
            self._work.append(blocks)
        self._pool = None
        if len(self._work) > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=len(self._work) - 1, thread_name_prefix="lsbench-cv")
        np.greater(self.phi, 0, out=self.inside)
        np.multiply(self.image, self.inside, out=self.img_in)
        np.subtract(self.image, self.img_in, out=self.img_out)
        self._means()

    def _block(self, r0: int, r1: int, s: _Scratch, cur: int) -> _Block:
        """Every view one block needs when the old phi is ``self._pads[cur]``."""
        wp = self.wp
        a, n = r0 * wp, (r1 - r0) * wp
        o = wp + a  # flat index of the block's first centre pixel
        p = self._pads[cur].reshape(-1)
        q = self._pads[1 - cur].reshape(-1)
        new_rows = self._pads[1 - cur][1 + r0:1 + r1]
        return _Block(
            ex=s.ex[:n + 1], ex_r=s.ex[1:n + 1], ex_l=s.ex[:n], ey=s.ey[:n + wp], ey_d=s.ey[wp:n + wp],
            ey_u=s.ey[:n], ecx=s.ecx[:n], cy2=s.cy2[:n], c1=s.c1[:n], c3=s.c3[:n], csum=s.csum[:n],
            d=s.d[:n], f=s.f[:n], t=s.t[:n],
            p_x=p[o:o + n + 1], p_xm=p[o - 1:o + n], p_y=p[o:o + n + wp], p_ym=p[o - wp:o + n],
            p_r=p[o + 1:o + n + 1], p_l=p[o - 1:o + n - 1], p_d=p[o + wp:o + n + wp],
            p_u=p[o - wp:o + n - wp], centre=p[o:o + n], img=self.img_flat[a:a + n], new=q[o:o + n],
            new_rows=new_rows, new_in=new_rows[:, 1:-1], old_in=self._pads[cur][1 + r0:1 + r1, 1:-1],
            diff2=self.diff2[r0:r1], inside=self.inside[r0:r1], image=self.image[r0:r1],
            img_in=self.img_in[r0:r1], img_out=self.img_out[r0:r1],
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    @property
    def phi(self) -> np.ndarray:
        return self._pads[self._cur][1:-1, 1:-1]

    def _means(self) -> None:
        """c1, c2 with the hard Heaviside, as scikit-image reduces them (img * H, img * (1 - H))."""
        n_in = np.count_nonzero(self.inside)
        n_out = self.inside.size - n_in
        c1 = np.sum(self.img_in)
        c2 = np.sum(self.img_out)
        if n_in != 0:
            c1 /= self.image.dtype.type(n_in)
        if n_out != 0:
            c2 /= self.image.dtype.type(n_out)
        self._c1, self._c2 = c1, c2

    def _sweep(self, blocks: list[tuple[_Block, _Block]]) -> None:
        sub, sq, add, mul, div, sqrt = (np.subtract, np.square, np.add, np.multiply, np.divide, np.sqrt)
        eta, c1, c2, mu, dt, mu_dt, nu = self.eta, self._c1, self._c2, self.mu, self.dt, self.mu_dt, self.nu
        lambda1, lambda2 = self.lambda1, self.lambda2
        cur = self._cur
        for pair in blocks:
            b = pair[cur]
            ex, ey, ecx, cy2, t = b.ex, b.ey, b.ecx, b.cy2, b.t
            sub(b.p_x, b.p_xm, out=ex)  # ex[k] = phixn, ex[k+1] = phixp
            sq(ex, out=ex)
            add(ex, eta, out=ex)  # eta + phix{n,p}**2, shared by C2 and C1
            sub(b.p_y, b.p_ym, out=ey)  # ey[k] = phiyn, ey[k+wp] = phiyp
            sq(ey, out=ey)
            sub(b.p_r, b.p_l, out=ecx)
            ecx /= 2.0
            sq(ecx, out=ecx)
            add(ecx, eta, out=ecx)  # eta + phix0**2, shared by C3 and C4
            sub(b.p_d, b.p_u, out=cy2)
            cy2 /= 2.0
            sq(cy2, out=cy2)  # phiy0**2
            # C = 1 / sqrt((eta + x**2) + y**2), scikit-image's order; C2 and C4 overwrite the
            # buffers they are the last to read
            C1, C2, C3, C4 = b.c1, cy2, b.c3, ecx
            add(b.ex_r, cy2, out=C1)
            C2 += b.ex_l
            add(ecx, b.ey_d, out=C3)
            C4 += b.ey_u
            for c in (C1, C2, C3, C4):
                sqrt(c, out=c)
                div(1.0, c, out=c)
            csum = b.csum
            add(C1, C2, out=csum)
            csum += C3
            csum += C4
            K = C1  # ((P_r C1 + P_l C2) + P_d C3) + P_u C4
            K *= b.p_r
            C2 *= b.p_l
            K += C2
            C3 *= b.p_d
            K += C3
            C4 *= b.p_u
            K += C4
            d, F, centre = b.d, b.f, b.centre
            sq(centre, out=d)  # delta = 1 / (1 + phi**2)
            d += 1.0
            div(1.0, d, out=d)
            sub(b.img, c1, out=F)  # -lambda1 (I - c1)**2 + lambda2 (I - c2)**2
            sq(F, out=F)
            sub(b.img, c2, out=t)
            sq(t, out=t)
            if lambda2 != 1.0:
                t *= lambda2
            if lambda1 == 1.0:
                sub(t, F, out=F)
            else:
                F *= -lambda1
                F += t
            mul(K, mu, out=K)
            add(K, F, out=F)  # mu K + fit
            if nu:
                F -= nu
            new = b.new
            mul(d, dt, out=t)
            t *= F
            add(centre, t, out=new)
            mul(d, mu_dt, out=d)  # 1 + mu dt delta (C1 + C2 + C3 + C4)
            d *= csum
            d += 1.0
            new /= d
            rows = b.new_rows  # edge padding of these rows; top/bottom rows after all blocks
            rows[:, 0] = rows[:, 1]
            rows[:, -1] = rows[:, -2]
            sub(b.new_in, b.old_in, out=b.diff2)
            sq(b.diff2, out=b.diff2)
            np.greater(b.new_in, 0, out=b.inside)  # next iteration's H, img * H, img * (1 - H)
            mul(b.image, b.inside, out=b.img_in)
            sub(b.image, b.img_in, out=b.img_out)

    def step(self) -> float:
        """Advance one iteration; return the RMS change of phi."""
        if self._pool is None:
            self._sweep(self._work[0])
        else:  # the calling thread sweeps the first range while the pool sweeps the others
            futures = [self._pool.submit(self._sweep, blocks) for blocks in self._work[1:]]
            self._sweep(self._work[0])
            for fut in futures:
                fut.result()
        new_pad = self._pads[1 - self._cur]
        new_pad[0] = new_pad[1]
        new_pad[-1] = new_pad[-2]
        self._cur = 1 - self._cur
        self._means()
        return float(np.sqrt(self.diff2.mean()))


class _Scratch:
    """The scratch buffers of one worker, sized for its largest block of ``n`` padded pixels."""

    def __init__(self, n: int, wp: int, dtype: Any) -> None:
        self.ex = np.empty(n + 1, dtype)
        self.ey = np.empty(n + wp, dtype)
        self.ecx, self.cy2, self.c1, self.c3, self.csum, self.d, self.f, self.t = (
            np.empty(n, dtype) for _ in range(8))


class _Block:
    """Named views (scratch, old phi, new phi, image, reduction arrays) of one block of rows."""

    __slots__ = ("c1", "c3", "centre", "csum", "cy2", "d", "diff2", "ecx", "ex", "ex_l", "ex_r", "ey",
                 "ey_d", "ey_u", "f", "image", "img", "img_in", "img_out", "inside", "new", "new_in",
                 "new_rows", "old_in", "p_d", "p_l", "p_r", "p_u", "p_x", "p_xm", "p_y", "p_ym", "t")

    def __init__(self, **views: np.ndarray) -> None:
        for name, view in views.items():
            setattr(self, name, view)


#: pixels per block of the blocked sweep: ~15 scratch arrays of this size fit a 2 MiB L2 cache
BLOCK_ELEMENTS = 16384

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

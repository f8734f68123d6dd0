"""L2S (Legendre level sets): the basis, the ridge fits, the oracles of classic-methods.md §8."""

from math import comb

import numpy as np
import pytest

from lsbench.classic.l2s import _SeparableLegendre, l2s, l2s_energy, legendre_basis, legendre_fit
from lsbench.levelset import init, ops
from lsbench.metrics.binary import f_measure


def _ellipse(n, ramp=(1.0, 1.0), noise=0.0, seed=0):
    yy, xx = np.mgrid[0:n, 0:n]
    truth = ((yy - n / 2) / (0.25 * n)) ** 2 + ((xx - n / 2) / (0.33 * n)) ** 2 <= 1
    bias = ramp[0] + (ramp[1] - ramp[0]) * xx / (n - 1)
    rng = np.random.default_rng(seed)
    return np.where(truth, 0.7, 0.35) * bias + rng.normal(0, noise, (n, n)), truth


def _near_box(n):
    m = n // 10
    box = np.zeros((n, n), bool)
    box[n // 4 - m: 3 * n // 4 + m, n // 6 - m: 5 * n // 6 + m] = True
    return box


def _matlab_l2s(u, bw, *, max_its, length_term, poly_degree, l2_reg_term, thresh=1, count_lim=20):
    """A line-by-line NumPy port of ``creaseg_suvadip_fast.m`` (suvadip21/Legendre-Level-Sets), written
    without lsbench code: ``computeSDF``, ``LegendreBasis2D_vectorized`` (a dense ``B``), the
    ``ChanVeseLegendre_vectorized`` loop with its ``curvature_central``, ``SussmanReinitLS`` and
    ``NeumannBoundCond``, and the ``convergence`` counter. ``u`` is the image on its 0-255 scale;
    ``bw`` the initial mask. Returns phi (positive inside) and the number of loop passes.
    """
    from scipy import ndimage

    bw = bw.astype(float)
    phi = -(ndimage.distance_transform_edt(bw == 0) - ndimage.distance_transform_edt(bw != 0) + bw - 0.5)

    def legendre_1d(n, k):
        x = -1.0 + np.arange(n) * (2.0 / (n - 1))
        cols = [np.ones(n)]
        for deg in range(1, k + 1):
            cols.append(sum(comb(deg, j) ** 2 * (x - 1) ** (deg - j) * (x + 1) ** j for j in range(deg + 1)) / 2**deg)
        return np.stack(cols, axis=1)

    br, bc = legendre_1d(u.shape[0], poly_degree), legendre_1d(u.shape[1], poly_degree)
    B = np.stack([np.outer(br[:, i], bc[:, j]).ravel() for i in range(poly_degree + 1)
                  for j in range(poly_degree + 1)], axis=1)
    eye = np.eye(B.shape[1])

    def curvature_central(v):
        vy, vx = np.gradient(v)
        norm = np.sqrt(vx**2 + vy**2 + 1e-10)
        return np.gradient(vx / norm, axis=1) + np.gradient(vy / norm, axis=0)

    def sussman(D, dt):
        shift_r = np.concatenate([D[:, :1], D[:, :-1]], axis=1)
        shift_l = np.concatenate([D[:, 1:], D[:, -1:]], axis=1)
        shift_d = np.concatenate([D[:1], D[:-1]], axis=0)
        shift_u = np.concatenate([D[1:], D[-1:]], axis=0)
        a, b, c, d = D - shift_r, shift_l - D, D - shift_d, shift_u - D
        ap, an, bp, bn = np.maximum(a, 0), np.minimum(a, 0), np.maximum(b, 0), np.minimum(b, 0)
        cp, cn, dp, dn = np.maximum(c, 0), np.minimum(c, 0), np.maximum(d, 0), np.minimum(d, 0)
        dD = np.zeros_like(D)
        pos, neg = D > 0, D < 0
        dD[pos] = np.sqrt(np.maximum(ap[pos] ** 2, bn[pos] ** 2) + np.maximum(cp[pos] ** 2, dn[pos] ** 2)) - 1
        dD[neg] = np.sqrt(np.maximum(an[neg] ** 2, bp[neg] ** 2) + np.maximum(cn[neg] ** 2, dp[neg] ** 2)) - 1
        return D - dt * (D / np.sqrt(D**2 + 1)) * dD

    def neumann(f):
        g = f.copy()
        g[[0, -1]] = g[[2, -3]]
        g[:, [0, -1]] = g[:, [2, -3]]
        return g

    eps = np.finfo(float).eps
    its, count, passes = 0, 0, 0
    while its < max_its:
        passes += 1
        h_phi = 0.5 * (1 + (2 / np.pi) * np.arctan(phi / 2))
        A1 = B.T
        c1 = np.linalg.solve(A1 @ (B * h_phi.ravel()[:, None]) + l2_reg_term * eye, A1 @ (u * h_phi).ravel())
        c2 = np.linalg.solve(A1 @ (B * (1 - h_phi).ravel()[:, None]) + l2_reg_term * eye,
                             A1 @ (u * (1 - h_phi)).ravel())
        p1, p2 = (B @ c1).reshape(u.shape), (B @ c2).reshape(u.shape)
        delta_phi = (2 / np.pi) / (4 + phi**2)
        evolve_force = delta_phi * (-(u - p1) ** 2 + (u - p2) ** 2)
        dphi_dt = evolve_force / (np.abs(evolve_force).max() + eps) + length_term * curvature_central(phi)
        delta_t = 0.8 / (np.abs(dphi_dt).max() + eps)
        prev_mask = phi >= 0
        phi = neumann(sussman(phi + delta_t * dphi_dt, 0.5))
        count = count + 1 if np.sum(prev_mask != (phi >= 0)) < thresh else 0
        if count > count_lim:
            break
        its += 1
    return phi, passes


@pytest.mark.parametrize(("degree", "nu", "rho"), [(2, 0.2, 0.3), (1, 0.05, 0.0), (3, 0.5, 2.0)])
def test_equals_a_line_by_line_port_of_creaseg_suvadip_fast(degree, nu, rho):
    # classic-methods.md §4.2: 50 iterations of the reference loop from a mask, phi to ~1e-12
    image, _ = _ellipse(40, ramp=(0.6, 1.4), noise=0.04, seed=3)
    image = (image - image.min()) / (image.max() - image.min())  # spans [0, 1]: lsbench's 0-255 is 255 * image
    start = _near_box(40)
    expected, passes = _matlab_l2s(255.0 * image, start, max_its=50, length_term=nu, poly_degree=degree,
                                   l2_reg_term=rho)
    got = l2s(image, init=start, degree=degree, nu=nu, rho=rho, max_iter=50, return_result=True)
    assert got.n_iter == passes == 50  # the contour moved for all 50 iterations
    np.testing.assert_allclose(got.phi, expected, rtol=0, atol=1e-12)
    assert np.abs(expected - init.signed_distance(start)).max() > 1.0  # and it did move


def test_basis_is_the_reference_legendre_1d_outer_product():
    h, w, m = 7, 9, 3

    def legendre_1d(n_pts, k):  # the reference's legendre_1D, unnormalised columns
        x = np.linspace(-1, 1, n_pts)
        return np.stack([sum(comb(n, j) ** 2 * (x - 1) ** (n - j) * (x + 1) ** j for j in range(n + 1)) / 2**n
                         for n in range(k + 1)], axis=1)

    B = legendre_basis((h, w), m)
    by, bx = legendre_1d(h, m), legendre_1d(w, m)
    assert B.shape == (h * w, (m + 1) ** 2)
    for i in range(m + 1):
        for j in range(m + 1):
            np.testing.assert_allclose(B[:, i * (m + 1) + j], np.outer(by[:, i], bx[:, j]).ravel(), atol=1e-12)
    with pytest.raises(ValueError, match="degree"):
        legendre_basis((4, 4), -1)


def test_ridge_fit_equals_weighted_least_squares_and_the_separable_solver():
    rng = np.random.default_rng(0)
    shape, m = (12, 10), 2
    img, weight = rng.random(shape) * 255, rng.random(shape)
    B = legendre_basis(shape, m)
    c = legendre_fit(B, img, weight, 0.0)
    sw = np.sqrt(weight.ravel())
    ref = np.linalg.lstsq(B * sw[:, None], img.ravel() * sw, rcond=None)[0]
    np.testing.assert_allclose(c, ref, rtol=1e-9)
    sep = _SeparableLegendre(shape, m)
    for rho in (0.0, 0.3):
        ridge = rho * np.eye((m + 1) ** 2)
        np.testing.assert_allclose(sep.fit(img, weight, ridge), legendre_fit(B, img, weight, rho), rtol=1e-10)
    np.testing.assert_allclose(sep.evaluate(c), (B @ c).reshape(shape), rtol=1e-12)
    # polynomial reproduction: a degree-m polynomial on the weighted region is fitted exactly
    yy, xx = np.mgrid[0:12, 0:10] / 9.0
    poly = 3.0 + 2.0 * xx - yy + 0.5 * xx * yy + yy**2
    region = rng.random(shape) > 0.3
    fit = sep.evaluate(sep.fit(poly, region.astype(float), np.zeros(((m + 1) ** 2,) * 2)))
    np.testing.assert_allclose(fit, poly, atol=1e-9)


def test_degree_zero_fits_are_the_smooth_chan_vese_region_means():
    img, _ = _ellipse(32, noise=0.05)
    phi0 = init.signed_distance(_near_box(32))
    res = l2s(img, init=phi0, degree=0, rho=0.0, max_iter=1, return_result=True)
    I = ops.rescale(img, 255.0)  # noqa: E741
    H = ops.heaviside_arctan(phi0, 2.0)
    np.testing.assert_allclose(res.extras["p_inside"], np.sum(H * I) / np.sum(H), rtol=1e-12)
    np.testing.assert_allclose(res.extras["p_outside"], np.sum((1 - H) * I) / np.sum(1 - H), rtol=1e-12)


def test_a_strong_ramp_needs_degree_one_or_more():
    img, truth = _ellipse(64, ramp=(0.5, 1.5))
    box = _near_box(64)
    assert f_measure(l2s(img, init=box, degree=0), truth) < 0.8
    for degree in (1, 2):
        res = l2s(img, init=box, degree=degree, return_result=True)
        assert f_measure(res.mask, truth) >= 0.98
        assert res.converged and res.n_iter < 1200


def test_piecewise_polynomial_image_keeps_the_true_boundary():
    n = 48
    yy, xx = np.mgrid[0:n, 0:n] / (n - 1.0)
    truth = init.circle((n, n), 14.0) > 0
    img = np.where(truth, 0.6 + 0.3 * xx, 0.1 + 0.2 * yy)  # degree 1 inside and outside
    res = l2s(img, init=truth, degree=1, max_iter=60, tol=0.0, return_result=True)
    assert (res.mask ^ truth).sum() <= 0.02 * truth.sum()


def _band_gradient(phi):
    gy, gx = np.gradient(phi)
    band = np.abs(phi) < 1.0
    return np.hypot(gx, gy)[band].mean() if band.any() else np.nan


@pytest.mark.parametrize("reinit_dt", [0.5, 1e-9])
def test_sussman_keeps_a_distance_function_near_the_contour(reinit_dt):
    img, truth = _ellipse(48, noise=0.03)
    seen = []
    res = l2s(img, init=_near_box(48), degree=1, reinit_dt=reinit_dt, max_iter=150,
              iter_callback=lambda info: seen.append(_band_gradient(info.phi)), return_result=True)
    seen = np.array(seen)
    if reinit_dt == 0.5:
        # one Sussman step per iteration (the reference) holds |grad phi| near the contour at
        # 1-1.5: the normalised force steepens the contour by up to cfl per step, the smoothed
        # sign phi/sqrt(phi^2+1) slows the correction near phi = 0, and the two balance
        assert np.all((seen > 0.8) & (seen < 1.6)) and f_measure(res.mask, truth) >= 0.98
    else:  # control: with (almost) no re-initialisation the contour steepens without bound
        assert np.nanmax(seen) > 3.0


def test_curvature_flow_alone_shrinks_a_circle():
    circle = init.circle((40, 40), 12.0) > 0
    rng = np.random.default_rng(0)
    mask = l2s(rng.random((40, 40)), init=circle, lambda1=0.0, lambda2=0.0, max_iter=100)
    assert mask.sum() < circle.sum() and not (mask & ~circle).any()


def test_energy_is_non_increasing_where_the_model_fits_and_the_callback_sees_it():
    # the normalised force, the un-weighted curvature and the re-initialisation make L2S no
    # exact gradient flow (the paper promises no monotone energy); measured: on an image the
    # model fits, the energy falls at every step
    img, truth = _ellipse(40, ramp=(0.5, 1.5))
    seen = []
    res = l2s(img, init=_near_box(40), degree=1, iter_callback=lambda info: seen.append(info.energy),
              return_result=True)
    assert f_measure(res.mask, truth) >= 0.98
    assert len(seen) == res.n_iter == res.energies.size
    assert np.all(np.diff(res.energies) <= 1e-9 * res.energies[0])
    assert res.energies[-1] < 0.7 * res.energies[0]
    assert seen[-1] == pytest.approx(l2s_energy(img, res.phi, degree=1), rel=1e-9)


def _star_scene(n=48):
    """A constant 5-pointed star on a constant ground, and a box covering 80 % of the image."""
    from lsbench.datasets.scenes import _star

    truth = _star(n, n / 2, n / 2, 0.36 * n, 0.16 * n, 5, 0.3)
    img = np.where(truth, 0.7, 0.3) + np.random.default_rng(0).normal(0, 0.03, (n, n))
    box = np.zeros((n, n), bool)
    box[n // 10: n - n // 10, n // 10: n - n // 10] = True
    return img, truth, box


def test_degree_continuation_escapes_the_stall_of_a_high_degree():
    # classic-methods.md §4.3: a higher degree lets the inside fit bend into the background, so
    # degree 2 from a large box stalls with the ground between the star's arms inside
    # (measured F 0.455); degree 0 or 1 first, then 2, finds the star
    img, truth, box = _star_scene()
    assert f_measure(l2s(img, init=box, degree=2), truth) < 0.6
    for start in (0, 1):
        res = l2s(img, init=box, degree=2, start_degree=start, return_result=True)
        assert f_measure(res.mask, truth) >= 0.99
        assert res.converged
    # the fits at the end are the final degree's: 9 coefficients each
    assert res.extras["c_inside"].shape == (9,)


def test_continuation_counts_every_stage_and_stops_when_the_callback_asks():
    img, _, box = _star_scene()
    stages = [l2s(img, init=box, degree=0, return_result=True)]
    stages.append(l2s(img, init=stages[0].phi, degree=1, return_result=True))
    stages.append(l2s(img, init=stages[1].phi, degree=2, return_result=True))
    seen = []
    res = l2s(img, init=box, degree=2, start_degree=0, return_result=True,
              iter_callback=lambda info: seen.append(info.iteration))
    assert res.n_iter == sum(s.n_iter for s in stages) == len(seen) == res.energies.size
    assert seen == list(range(1, res.n_iter + 1))
    np.testing.assert_array_equal(res.phi, stages[-1].phi)
    # the same run without the continuation is the reference scheme, bit for bit
    plain, same = (l2s(img, init=box, degree=2, start_degree=s, return_result=True) for s in (None, 2))
    np.testing.assert_array_equal(plain.phi, same.phi)
    assert plain.n_iter == same.n_iter
    # a stop requested in the first stage ends the whole run there
    early = l2s(img, init=box, degree=2, start_degree=0, return_result=True,
                iter_callback=lambda info: info.iteration >= 10)
    assert early.n_iter == 10 and early.extras["c_inside"].shape == (1,)


def test_phi_is_positive_inside_and_a_constant_image_gives_no_nans():
    box = np.zeros((24, 24), bool)
    box[6:18, 5:19] = True
    res = l2s(np.full((24, 24), 0.5), init=box, max_iter=30, return_result=True)
    assert np.all(np.isfinite(res.phi))
    first = l2s(np.full((24, 24), 0.5), init=box, max_iter=1, return_result=True)
    assert (first.mask == box).mean() > 0.95 and first.phi[box].min() > -1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"degree": -1}, "degree"),
        ({"degree": 1.5}, "degree"),
        ({"nu": -0.2}, "nu"),
        ({"rho": -1.0}, "rho"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"cfl": 0.0}, "cfl"),
        ({"max_iter": 0}, "max_iter"),
        ({"patience": -1}, "patience"),
        ({"start_degree": -1}, "start_degree"),
        ({"degree": 1, "start_degree": 2}, "start_degree must be at most degree"),
        ({"init": np.zeros((3, 3), bool)}, "init has shape"),
        ({"init": "triangle"}, "init must be one of"),
    ],
)
def test_bad_input_raises_a_named_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        l2s(np.random.default_rng(0).random((12, 12)), **kwargs)

"""Li's RSF ("li") and LIC: parity with RSF.m / lse_bfe.m, the oracles of classic-methods.md §8."""

import numpy as np
import pytest
from scipy import ndimage

from lsbench.classic.chan_vese import chan_vese
from lsbench.classic.rsf import lic, lic_energy, rsf, rsf_energy
from lsbench.levelset import init, ops
from lsbench.metrics.binary import f_measure


def _ellipse(n, ramp=(1.0, 1.0), noise=0.0, seed=0):
    """An ellipse (0.7) on a ground (0.35) times a horizontal ramp ``ramp[0] -> ramp[1]``, plus noise."""
    yy, xx = np.mgrid[0:n, 0:n]
    truth = ((yy - n / 2) / (0.25 * n)) ** 2 + ((xx - n / 2) / (0.33 * n)) ** 2 <= 1
    bias = ramp[0] + (ramp[1] - ramp[0]) * xx / (n - 1)
    rng = np.random.default_rng(seed)
    return np.where(truth, 0.7, 0.35) * bias + rng.normal(0, noise, (n, n)), truth, bias


def _near_box(n):
    """A box around the ellipse, a tenth of the side away from it."""
    m = n // 10
    box = np.zeros((n, n), bool)
    box[n // 4 - m: 3 * n // 4 + m, n // 6 - m: 5 * n // 6 + m] = True
    return box


def _cv_oriented(img, region):
    mask = chan_vese(img, max_iter=500)
    return mask if f_measure(mask, region) >= f_measure(~mask, region) else ~mask


def _conv2(a, sigma):
    """MATLAB ``conv2(a, fspecial('gaussian', 2*round(2 sigma)+1, sigma), 'same')``, 2-D, zero padded."""
    k = ops.gaussian_kernel_1d(sigma)
    return ndimage.convolve(a, np.outer(k, k), mode="constant", cval=0.0)


# RSF's data force is of order 255^2, so the evolution amplifies rounding differences (1e-13
# between the 2-D and the separable convolution, 1e-16 from the order of additions) about
# tenfold per step after a few steps: the ports are compared over 10-15 steps, with the 2-D
# conv2 or with the (separable, equally exact) kernel.
_SEPARABLE = {"conv": lambda a, sigma: ops.gaussian_filter_zero(a, sigma)}


def _curvature(u):
    uy, ux = np.gradient(u)
    norm = np.sqrt(ux**2 + uy**2 + 1e-10)
    return np.gradient(ux / norm, axis=1) + np.gradient(uy / norm, axis=0)


# -- line-by-line ports of the reference code (MATLAB sign: the object is u < 0) -------------------------
def _matlab_rsf(u, img, sigma, nu, timestep, mu, lambda1, lambda2, epsilon, num_iter, conv=_conv2):
    KI = conv(img, sigma)
    KONE = conv(np.ones_like(img), sigma)
    for _ in range(num_iter):
        u = ops.neumann_bound_cond(u)
        K = _curvature(u)
        DrcU = (epsilon / np.pi) / (epsilon**2 + u**2)
        Hu = 0.5 * (1 + (2 / np.pi) * np.arctan(u / epsilon))
        c1 = conv(Hu, sigma)
        c2 = conv(img * Hu, sigma)
        f1 = c2 / c1
        f2 = (KI - c2) / (KONE - c1)
        s1 = lambda1 * f1**2 - lambda2 * f2**2
        s2 = lambda1 * f1 - lambda2 * f2
        data = (lambda1 - lambda2) * KONE * img * img + conv(s1, sigma) - 2 * img * conv(s2, sigma)
        u = u + timestep * (nu * DrcU * K + mu * (ops.laplacian_del2(u) - K) - DrcU * data)
    return u


def _matlab_lse_bfe(u, img, b, sigma, nu, timestep, mu, epsilon, iter_lse):
    KONE = _conv2(np.ones_like(img), sigma)
    KB1, KB2 = _conv2(b, sigma), _conv2(b**2, sigma)
    Hu = 0.5 * (1 + (2 / np.pi) * np.arctan(u / epsilon))
    M = [Hu, 1 - Hu]
    C = [np.sum(KB1 * img * m) / np.sum(KB2 * m) for m in M]
    e = [img**2 * KONE - 2 * img * c * KB1 + c**2 * KB2 for c in C]
    for _ in range(iter_lse):
        u = ops.neumann_bound_cond(u)
        K = _curvature(u)
        D = (epsilon / np.pi) / (epsilon**2 + u**2)
        u = u + timestep * (nu * D * K + mu * (ops.laplacian_del2(u) - K) - D * (e[0] - e[1]))
    Hu = 0.5 * (1 + (2 / np.pi) * np.arctan(u / epsilon))
    M = [Hu, 1 - Hu]
    b = _conv2((C[0] * M[0] + C[1] * M[1]) * img, sigma) / _conv2(C[0] ** 2 * M[0] + C[1] ** 2 * M[1], sigma)
    return u, b, C


def test_rsf_equals_a_line_by_line_port_of_rsf_m():
    img, _, _ = _ellipse(40, ramp=(0.6, 1.2), noise=0.03, seed=4)
    img255 = ops.rescale(img, 255.0)
    box = _near_box(40)
    u0 = np.where(box, -2.0, 2.0)
    args = (img255, 3.0, 0.002 * 255**2, 0.1, 1.0, 1.0, 2.0, 1.0)
    res = rsf(img, init=box, nu=0.002, lambda1=1.0, lambda2=2.0, max_iter=10, return_result=True)
    np.testing.assert_allclose(res.phi, -_matlab_rsf(u0, *args, 10), rtol=0, atol=1e-8)
    assert res.n_iter == 10
    long = rsf(img, init=box, nu=0.002, lambda1=1.0, lambda2=2.0, max_iter=15, return_result=True)
    np.testing.assert_allclose(long.phi, -_matlab_rsf(u0, *args, 15, **_SEPARABLE), rtol=0, atol=1e-9)


def test_lic_equals_a_line_by_line_port_of_lse_bfe_m():
    img, _, _ = _ellipse(40, ramp=(0.6, 1.2), noise=0.03, seed=5)
    img255 = ops.rescale(img, 255.0)
    box = _near_box(40)
    u, b = np.where(box, -1.0, 1.0), np.ones_like(img)
    for _ in range(3):
        u, b, C = _matlab_lse_bfe(u, img255, b, 4.0, 0.001 * 255**2, 0.1, 1.0, 1.0, 10)
    res = lic(img, init=box, max_iter=30, return_result=True)
    np.testing.assert_allclose(res.phi, -u, rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.extras["bias"], b, rtol=1e-9)
    assert res.extras["c_outside"] == pytest.approx(C[0], rel=1e-9)
    assert res.extras["c_inside"] == pytest.approx(C[1], rel=1e-9)


def test_rsf_data_force_is_lambda1_e1_minus_lambda2_e2_by_brute_force():
    """The reference's closed form of lambda1 e1 - lambda2 e2 against the double sum it stands for."""
    rng = np.random.default_rng(7)
    n, sigma, lam1, lam2 = 16, 1.5, 1.0, 2.0
    img = rng.random((n, n)) * 255
    u = rng.normal(0, 2, (n, n))
    k = ops.gaussian_kernel_1d(sigma)
    K = np.outer(k, k)
    r = len(k) // 2
    Hu = 0.5 * (1 + (2 / np.pi) * np.arctan(u))
    f1 = _conv2(Hu * img, sigma) / _conv2(Hu, sigma)
    f2 = _conv2((1 - Hu) * img, sigma) / _conv2(1 - Hu, sigma)
    np.testing.assert_allclose(f2, (_conv2(img, sigma) - _conv2(Hu * img, sigma))
                               / (_conv2(np.ones_like(img), sigma) - _conv2(Hu, sigma)), rtol=1e-10)
    # e_i(x) = sum_y K(y - x) |I(x) - f_i(y)|^2 over y in the image
    e = np.zeros((2, n, n))
    for i in range(n):
        for j in range(n):
            for di in range(-r, r + 1):
                for dj in range(-r, r + 1):
                    y, x = i + di, j + dj
                    if 0 <= y < n and 0 <= x < n:
                        w = K[di + r, dj + r]
                        e[0, i, j] += w * (img[i, j] - f1[y, x]) ** 2
                        e[1, i, j] += w * (img[i, j] - f2[y, x]) ** 2
    KONE = _conv2(np.ones_like(img), sigma)
    closed = ((lam1 - lam2) * KONE * img**2 + _conv2(lam1 * f1**2 - lam2 * f2**2, sigma)
              - 2 * img * _conv2(lam1 * f1 - lam2 * f2, sigma))
    np.testing.assert_allclose(closed, lam1 * e[0] - lam2 * e[1], rtol=1e-9, atol=1e-6)


def test_rsf_phi_is_positive_inside_the_initial_region():
    img, _, _ = _ellipse(32)
    box = np.zeros((32, 32), bool)
    box[6:26, 5:27] = True  # away from the border, which NeumannBoundCond overwrites
    # without data and length terms one step only smooths the binary step
    res = rsf(img, init=box, lambda1=0.0, lambda2=0.0, nu=0.0, max_iter=1, return_result=True)
    assert np.all(res.phi[box] > 0) and np.all(res.phi[~box] < 0)


def test_rsf_with_a_large_sigma_agrees_with_chan_vese_without_bias():
    img, truth, _ = _ellipse(64, noise=0.02)
    box = _near_box(64)
    mask = rsf(img, init=box, sigma=16.0)
    assert f_measure(mask, _cv_oriented(img, box)) >= 0.95
    assert f_measure(mask, truth) >= 0.95


def test_rsf_is_robust_to_a_bias_ramp_that_defeats_chan_vese():
    img, truth, _ = _ellipse(64, ramp=(0.45, 1.35))
    box = _near_box(64)
    assert f_measure(rsf(img, init=box), truth) >= 0.98
    assert f_measure(_cv_oriented(img, box), truth) < 0.8


def test_rsf_on_a_constant_image_moves_only_by_the_regularisers():
    img = np.full((24, 24), 0.3)
    box = _near_box(24)
    with_data = rsf(img, init=box, nu=0.0, max_iter=30, return_result=True).phi
    without = rsf(img, init=box, nu=0.0, lambda1=0.0, lambda2=0.0, max_iter=30, return_result=True).phi
    np.testing.assert_allclose(with_data, without, atol=1e-12)
    assert np.all(np.isfinite(with_data))


def test_rsf_label_symmetry():
    img, _, _ = _ellipse(48, ramp=(0.7, 1.2), noise=0.03, seed=2)
    phi0 = init.binary_step(_near_box(48), 2.0)
    a = rsf(img, init=phi0, max_iter=60)
    b = rsf(img, init=-phi0, max_iter=60)
    assert (a == ~b).mean() >= 0.999


def test_rsf_energy_is_non_increasing_with_a_small_time_step():
    img, _, _ = _ellipse(40, ramp=(0.7, 1.2), noise=0.02, seed=3)
    res = rsf(img, init=_near_box(40), dt=0.02, max_iter=80, return_result=True)
    e = res.energies
    assert e.size == 80 and np.all(np.diff(e) <= 1e-9 * e[0])
    assert e[-1] < e[0]
    assert e[-1] >= rsf_energy(img, res.phi) - 1e-9 * e[0]  # energy after the last step is no higher


@pytest.mark.parametrize("method", [rsf, lic])
def test_curvature_flow_alone_shrinks_a_circle(method):
    circle = init.circle((40, 40), 12.0) > 0
    kwargs = {"lambda1": 0.0, "lambda2": 0.0} if method is rsf else {}
    img = np.random.default_rng(0).random((40, 40)) if method is rsf else np.zeros((40, 40))
    mask = method(img, init=circle, max_iter=200, **kwargs)
    assert mask.sum() < circle.sum() and not (mask & ~circle).any()


# -- LIC ---------------------------------------------------------------------------------------------------
def test_lic_recovers_a_known_bias_field():
    img, truth, bias = _ellipse(64, ramp=(0.5, 1.5))
    res = lic(img, init=_near_box(64), sigma=8.0, return_result=True)
    assert f_measure(res.mask, truth) >= 0.98
    assert np.corrcoef(res.extras["bias"].ravel(), bias.ravel())[0, 1] >= 0.95
    assert f_measure(_cv_oriented(img, _near_box(64)), truth) < 0.8


def test_lic_on_a_bias_free_image_keeps_b_flat_and_finds_the_region_means():
    # noise keeps the ground above 0 after the min-max rescale (a black ground carries no bias)
    img, truth, _ = _ellipse(48, noise=0.05, seed=1)
    res = lic(img, init=_near_box(48), sigma=8.0, return_result=True)
    b = res.extras["bias"]
    assert f_measure(res.mask, truth) >= 0.99
    assert b.std() / b.mean() < 0.04
    img255 = ops.rescale(img, 255.0)
    assert res.extras["c_inside"] * b.mean() == pytest.approx(img255[truth].mean(), rel=0.03)
    assert res.extras["c_outside"] * b.mean() == pytest.approx(img255[~truth].mean(), rel=0.03)


def test_lic_energy_is_non_increasing_across_outer_iterations():
    # exact c and b updates never raise the energy; the explicit phi steps do not either at a
    # small time step (at the demo's dt = 0.1 an occasional step overshoots)
    img, _, _ = _ellipse(48, ramp=(0.6, 1.3), noise=0.02, seed=1)
    res = lic(img, init=_near_box(48), sigma=6.0, dt=0.02, max_iter=200, return_result=True)
    outer = res.energies[::10]  # the energy at the start of each outer iteration (after the c update)
    assert outer.size == 20 and np.all(np.diff(outer) <= 1e-9 * outer[0])
    assert res.energies[-1] < res.energies[0]
    e = lic_energy(img, res.phi, res.extras["bias"], res.extras["c_inside"], res.extras["c_outside"],
                   sigma=6.0)
    assert np.isfinite(e) and e <= outer[-1]


@pytest.mark.parametrize("method", [rsf, lic])
def test_constant_image_returns_without_nans(method):
    res = method(np.zeros((20, 20)), init=_near_box(20), max_iter=20, return_result=True)
    assert np.all(np.isfinite(res.phi))
    if method is lic:
        assert np.all(np.isfinite(res.extras["bias"]))


@pytest.mark.parametrize("method", [rsf, lic])
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sigma": -2.0}, "sigma"),
        ({"sigma": 0}, "sigma"),
        ({"dt": 0.0}, "dt"),
        ({"nu": -1.0}, "nu"),
        ({"mu": float("inf")}, "mu"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"max_iter": -3}, "max_iter"),
        ({"c0": 0.0}, "c0"),
        ({"init": np.zeros((4, 4), bool)}, "init has shape"),
        ({"init": "triangle"}, "init must be one of"),
    ],
)
def test_bad_input_raises_a_named_error(method, kwargs, match):
    with pytest.raises(ValueError, match=match):
        method(np.random.default_rng(0).random((12, 12)), **kwargs)


def test_method_specific_validation():
    img = np.random.default_rng(0).random((12, 12))
    with pytest.raises(ValueError, match="lambda2"):
        rsf(img, lambda2=-1.0)
    with pytest.raises(ValueError, match="iter_inner"):
        lic(img, iter_inner=0)
    with pytest.raises(TypeError, match="iter_callback"):
        rsf(img, iter_callback=3)


@pytest.mark.parametrize("sigma", [2.0, 8.0])
@pytest.mark.parametrize("shape", [(30, 23), (9, 40)])
def test_gaussian_window_is_matlab_conv2_for_short_and_fft_kernels(sigma, shape):
    from lsbench.classic.rsf import _Gauss

    a = np.random.default_rng(1).random(shape) * 255
    g = _Gauss(sigma, shape)
    assert bool(g._spectra) == (sigma == 8.0)
    np.testing.assert_allclose(g(a), _conv2(a, sigma), rtol=1e-12, atol=1e-10)
    out = np.empty(shape)
    assert g(a, out=out) is out


def test_rsf_energy_weighs_an_independent_length_and_penalty_by_nu_and_mu():
    # written for the mutation run (reports/mutation.md): E is affine in nu and mu, with slopes
    # 255^2 L and P computed here from np.gradient (MATLAB's gradient) of u = -phi
    rng = np.random.default_rng(5)
    img = rng.random((20, 23))
    phi = rng.normal(0.0, 2.0, img.shape)
    u = -phi
    gy, gx = np.gradient(u)
    s = np.hypot(gx, gy)
    eps = 1.5
    length = np.sum((eps / np.pi) / (eps**2 + u**2) * s)
    penalty = np.sum(0.5 * (s - 1.0) ** 2)

    def energy(nu, mu):
        return rsf_energy(img, phi, nu=nu, mu=mu, epsilon=eps, sigma=2.0, lambda1=1.2, lambda2=0.8)

    base = energy(0.0, 0.0)
    assert energy(0.0, 2.5) - base == pytest.approx(2.5 * penalty, rel=1e-9)
    assert energy(0.004, 0.0) - base == pytest.approx(0.004 * 255.0**2 * length, rel=1e-9)
    assert energy(0.004, 2.5) == pytest.approx(base + 2.5 * penalty + 0.004 * 255.0**2 * length, rel=1e-12)

import numpy as np
import pytest
from scipy import ndimage

from lsbench.levelset import ops


def test_arctan_heaviside_and_dirac_are_consistent():
    z = np.linspace(-5, 5, 2001)
    h = ops.heaviside_arctan(z, 1.0)
    d = ops.dirac_arctan(z, 1.0)
    assert ops.heaviside_arctan(np.array(0.0)) == 0.5
    np.testing.assert_allclose(np.gradient(h, z)[1:-1], d[1:-1], atol=1e-5)
    assert np.all(np.diff(h) > 0)


def test_compact_heaviside_and_dirac():
    eps = 1.5
    z = np.linspace(-3, 3, 6001)
    h = ops.heaviside_compact(z, eps)
    d = ops.dirac_compact(z, eps)
    assert h[0] == 0.0 and h[-1] == 1.0 and d[0] == 0.0 and d[-1] == 0.0
    np.testing.assert_allclose(np.trapezoid(d, z), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.gradient(h, z)[np.abs(z) < eps - 0.01], d[np.abs(z) < eps - 0.01], atol=1e-4)


def test_curvature_of_a_circle_is_minus_one_over_r():
    n, r = 64, 12.0
    yy, xx = np.mgrid[0:n, 0:n]
    phi = r - np.hypot(yy - 31.5, xx - 31.5)  # positive inside
    kappa = ops.curvature_central(phi)
    band = np.abs(phi) < 0.5
    np.testing.assert_allclose(kappa[band].mean(), -1.0 / r, rtol=0.05)


def test_laplacian_del2_interior_and_border_extrapolation():
    rng = np.random.default_rng(0)
    u = rng.random((7, 9))
    lap = ops.laplacian_del2(u)
    interior = u[2:, 1:-1] + u[:-2, 1:-1] + u[1:-1, 2:] + u[1:-1, :-2] - 4 * u[1:-1, 1:-1]
    np.testing.assert_allclose(lap[1:-1, 1:-1], interior, atol=1e-12)
    # a quadratic has a constant Laplacian, including on the border (linear extrapolation is exact)
    yy, xx = np.mgrid[0:7, 0:9].astype(float)
    np.testing.assert_allclose(ops.laplacian_del2(3 * yy**2 + 2 * xx**2 + xx * yy), 10.0, atol=1e-9)


def test_neumann_bound_cond_mirrors():
    f = np.arange(30, dtype=float).reshape(5, 6)
    g = ops.neumann_bound_cond(f)
    np.testing.assert_array_equal(g[0, 1:-1], f[2, 1:-1])
    np.testing.assert_array_equal(g[-1, 1:-1], f[-3, 1:-1])
    np.testing.assert_array_equal(g[1:-1, 0], f[1:-1, 2])
    assert g[0, 0] == f[2, 2] and g[-1, -1] == f[-3, -3]
    assert f[0, 0] == 0  # input untouched
    ops.neumann_bound_cond(f, out=f)
    np.testing.assert_array_equal(f, g)


def test_gaussian_filter_zero_equals_conv2_with_fspecial():
    rng = np.random.default_rng(1)
    img = rng.random((20, 17)) * 255
    sigma, size = 3.0, 13
    x = np.arange(size) - (size - 1) / 2
    k2 = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    k2 /= k2.sum()
    ref = ndimage.convolve(img, k2, mode="constant", cval=0.0)
    np.testing.assert_allclose(ops.gaussian_filter_zero(img, sigma, size), ref, rtol=1e-12, atol=1e-10)
    assert len(ops.gaussian_kernel_1d(3.0)) == 13  # 2*round(2 sigma)+1
    with pytest.raises(ValueError, match="sigma"):
        ops.gaussian_kernel_1d(-1.0)


def test_to_gray_and_rescale():
    rgb = np.zeros((2, 2, 3), np.float32)
    rgb[..., 0] = 1
    np.testing.assert_allclose(ops.to_gray(rgb), 0.299, rtol=1e-6)
    with pytest.raises(ValueError):
        ops.to_gray(np.zeros((2, 2, 5)))
    np.testing.assert_array_equal(ops.rescale(np.full((3, 3), 7.0)), 0.0)
    r = ops.rescale(np.array([[1.0, 3.0]]), 255)
    np.testing.assert_array_equal(r, [[0, 255]])


def test_gradient_into_is_bit_identical_to_numpy():
    rng = np.random.default_rng(2)
    for dtype in (np.float64, np.float32):
        u = rng.normal(size=(9, 7)).astype(dtype)
        gy, gx = ops.gradient(u)
        ry, rx = np.gradient(u)
        np.testing.assert_array_equal(gy, ry)
        np.testing.assert_array_equal(gx, rx)
        assert gy.dtype == dtype
    u = rng.normal(size=(6, 5))
    k_buffers = ops.curvature_central(u, out=np.empty_like(u), work=(np.empty_like(u), np.empty_like(u)))
    uy, ux = np.gradient(u)
    norm = np.sqrt(ux**2 + uy**2 + 1e-10)
    np.testing.assert_allclose(k_buffers, np.gradient(ux / norm, axis=1) + np.gradient(uy / norm, axis=0), rtol=1e-13)
    np.testing.assert_allclose(ops.divergence(uy, ux), np.gradient(ux, axis=1) + np.gradient(uy, axis=0), rtol=1e-15)


def test_laplacian_del2_with_buffers_and_small_sizes():
    rng = np.random.default_rng(3)
    u = rng.random((6, 8))
    out, work = np.empty_like(u), np.empty_like(u)
    np.testing.assert_array_equal(ops.laplacian_del2(u, out=out, work=work), ops.laplacian_del2(u))
    # n == 3 along an axis: the single interior value is copied to both borders
    v = np.array([[0.0, 1.0, 4.0]] * 4)  # second difference 4 - 2 + 0 = 2; rows are constant
    np.testing.assert_array_equal(ops.laplacian_del2(v), np.full((4, 3), 2.0))
    assert ops.laplacian_del2(np.arange(12).reshape(3, 4)).dtype == np.float64


def test_gaussian_kernel_size_rounds_half_away_from_zero_like_matlab():
    assert len(ops.gaussian_kernel_1d(1.25)) == 7  # round(2.5) = 3 in MATLAB (Python's round gives 2)
    assert len(ops.gaussian_kernel_1d(4.0)) == 17  # LIC's 17 x 17 window
    assert len(ops.gaussian_kernel_1d(1.5, 15)) == 15


def _sussman_transliteration(D, dt):
    """``SussmanReinitLS`` of creaseg_suvadip_fast.m, line by line (edge-replicating shifts)."""
    shift_r = lambda M: np.concatenate([M[:, :1], M[:, :-1]], axis=1)  # noqa: E731
    shift_l = lambda M: np.concatenate([M[:, 1:], M[:, -1:]], axis=1)  # noqa: E731
    a, b = D - shift_r(D), shift_l(D) - D
    c, d = D - shift_r(D.T).T, shift_l(D.T).T - D
    ap, an, bp, bn = np.where(a < 0, 0, a), np.where(a > 0, 0, a), np.where(b < 0, 0, b), np.where(b > 0, 0, b)
    cp, cn, dp, dn = np.where(c < 0, 0, c), np.where(c > 0, 0, c), np.where(d < 0, 0, d), np.where(d > 0, 0, d)
    dD = np.zeros_like(D)
    pos, neg = D > 0, D < 0
    dD[pos] = np.sqrt(np.maximum(ap[pos] ** 2, bn[pos] ** 2) + np.maximum(cp[pos] ** 2, dn[pos] ** 2)) - 1
    dD[neg] = np.sqrt(np.maximum(an[neg] ** 2, bp[neg] ** 2) + np.maximum(cn[neg] ** 2, dp[neg] ** 2)) - 1
    return D - dt * (D / np.sqrt(D**2 + 1)) * dD


def test_sussman_reinit_equals_the_reference_and_restores_a_distance():
    rng = np.random.default_rng(4)
    D = rng.normal(0, 3, (11, 13))
    D[2, 3] = 0.0
    np.testing.assert_array_equal(ops.sussman_reinit(D, 0.5), _sussman_transliteration(D, 0.5))
    # a steep signed distance relaxes to |grad phi| = 1 without moving its zero level
    n = 48
    yy, xx = np.mgrid[0:n, 0:n]
    sd = 14.0 - np.hypot(yy - 23.5, xx - 23.5)
    phi = 2.0 * sd
    for _ in range(60):
        phi = ops.sussman_reinit(phi, 0.5)
    gy, gx = np.gradient(phi)
    band = np.abs(phi) < 3
    np.testing.assert_allclose(np.hypot(gx, gy)[band].mean(), 1.0, atol=0.02)
    np.testing.assert_array_equal(phi > 0, sd > 0)
    # not periodic: a ramp's last column is not compared with its first
    ramp = np.tile(np.arange(8.0) - 3.5, (5, 1))
    np.testing.assert_allclose(ops.sussman_reinit(ramp, 0.5), ramp, atol=1e-12)


@pytest.mark.parametrize("sigma", [0.8, 3.0, 6.0])
@pytest.mark.parametrize("shape", [(67, 70), (8, 40), (300, 11)])
def test_correlate_rows_zero_is_scipys_axis_0_correlation_bit_for_bit(monkeypatch, sigma, shape):
    monkeypatch.setattr(ops, "BAND_PIXELS", 1)  # 8-row bands: many cuts, kernels wider than a band
    monkeypatch.setattr(ops, "ROWS_BANDED_MIN_PIXELS", 1)
    rng = np.random.default_rng(7)
    a = rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3, shape)  # another summation order shows
    a[0, :3] = -0.0  # signed zeros at the border
    k = ops.gaussian_kernel_1d(sigma)
    ref = ndimage.correlate1d(a, k, axis=0, mode="constant")
    out = np.full(shape, np.nan)
    assert ops.correlate_rows_zero(a, k, out=out) is out
    assert np.array_equal(out, ref)
    assert np.array_equal(np.signbit(out), np.signbit(ref))
    in_place = a.copy()  # the output over the input: SciPy's path (bands would read rows already written)
    assert np.array_equal(ops.correlate_rows_zero(in_place, k, out=in_place), ref)
    skew = k * np.linspace(0.5, 1.5, k.size)  # not symmetric: SciPy's own path
    assert np.array_equal(ops.correlate_rows_zero(a, skew), ndimage.correlate1d(a, skew, axis=0, mode="constant"))

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

"""lsbench.torchops equals the NumPy building blocks of lsbench.levelset, batched, in both precisions."""

import numpy as np
import pytest
import torch

from lsbench import torchops as T
from lsbench.levelset import ops
from lsbench.levelset.init import signed_distance

TOL = {torch.float32: 2e-5, torch.float64: 1e-12}


def _batch(seed=0, shape=(3, 9, 11)):
    return np.random.default_rng(seed).normal(size=shape)


def _each(fn, arr):
    return np.stack([fn(a) for a in arr])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradient_divergence_and_curvature_equal_numpy(dtype):
    u = _batch()
    t = torch.tensor(u, dtype=dtype)
    gy, gx = T.gradient(t)
    np.testing.assert_allclose(gy.numpy(), _each(lambda a: ops.gradient(a)[0], u), atol=TOL[dtype])
    np.testing.assert_allclose(gx.numpy(), _each(lambda a: ops.gradient(a)[1], u), atol=TOL[dtype])
    v = _batch(1)
    div = T.divergence(t, torch.tensor(v, dtype=dtype))
    np.testing.assert_allclose(div.numpy(), np.stack([ops.divergence(a, b) for a, b in zip(u, v, strict=True)]),
                               atol=TOL[dtype])
    # smooth maps keep |grad| away from 0, where float32 division is ill-conditioned
    yy, xx = np.mgrid[0:9, 0:11]
    smooth = np.stack([np.sin(0.3 * yy + k) + np.cos(0.4 * xx) + 0.05 * xx for k in range(3)])
    for eta in (1e-10, 1e-2):
        k = T.curvature_central(torch.tensor(smooth, dtype=dtype), eta=eta)
        assert k.dtype == dtype
        np.testing.assert_allclose(k.numpy(), _each(lambda a, e=eta: ops.curvature_central(a, e), smooth),
                                   atol=100 * TOL[dtype])


def test_single_map_and_batch_agree():
    u = torch.tensor(_batch())
    np.testing.assert_array_equal(T.curvature_central(u)[1].numpy(), T.curvature_central(u[1]).numpy())
    np.testing.assert_array_equal(T.neumann_pad(u)[2].numpy(), T.neumann_pad(u[2]).numpy())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_heaviside_dirac_equal_numpy(dtype):
    z = np.linspace(-6, 6, 241)
    for eps in (0.1, 1.0, 2.5):
        np.testing.assert_allclose(T.heaviside_arctan(torch.tensor(z, dtype=dtype), eps).numpy(),
                                   ops.heaviside_arctan(z, eps), atol=TOL[dtype])
        np.testing.assert_allclose(T.dirac_arctan(torch.tensor(z, dtype=dtype), eps).numpy(),
                                   ops.dirac_arctan(z, eps), atol=TOL[dtype])
    hard = T.heaviside(torch.tensor([-1.0, 0.0, 2.0]), "hard")
    assert hard.tolist() == [0.0, 0.0, 1.0]
    # the arctan Dirac is the derivative of the arctan Heaviside (autograd)
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    T.heaviside_arctan(zt, 0.7).sum().backward()
    np.testing.assert_allclose(zt.grad.numpy(), ops.dirac_arctan(z, 0.7), atol=1e-12)


def test_neumann_bound_cond_and_pad_equal_numpy():
    u = _batch(2, (2, 6, 7))
    t = torch.tensor(u)
    np.testing.assert_array_equal(T.neumann_bound_cond(t).numpy(), _each(ops.neumann_bound_cond, u))
    for w in (0, 1, 3):
        np.testing.assert_array_equal(T.neumann_pad(t, w).numpy(), _each(lambda a, w=w: np.pad(a, w, mode="edge"), u))
    assert torch.equal(t, torch.tensor(u))  # the input is untouched


def test_curvature_of_a_circle_is_minus_one_over_r():
    # learned-methods.md §5.2: phi = R - |x - x0| positive inside, R = 8 on 32 x 32
    yy, xx = np.mgrid[0:32, 0:32]
    phi = torch.tensor(8.0 - np.hypot(yy - 15.5, xx - 15.5))
    kappa = T.curvature_central(phi[None])[0].numpy()
    band = np.abs(phi.numpy()) < 0.5
    np.testing.assert_allclose(kappa[band].mean(), -1.0 / 8.0, rtol=0.1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_region_means_oracle(dtype):
    # learned-methods.md §5.3: a binary image and the SDF of its region give c1 = 1, c2 = 0 (hard H)
    mask = np.zeros((128, 128), bool)
    mask[32:96, 32:96] = True
    image = torch.tensor(mask[None], dtype=dtype)
    phi = torch.tensor(signed_distance(mask)[None], dtype=dtype)
    c1, c2 = T.region_means(image, phi, "hard")
    assert c1.shape == (1, 1, 1) and c1.item() == 1.0 and c2.item() == 0.0
    # arctan H: H_eps decays like eps / (pi |z|), so the error shrinks with eps (the note's 1e-2
    # at eps = 0.1 needs a region this large; measured 1.2e-2 and 2.9e-3 here)
    c1, c2 = T.region_means(image, phi, "arctan", eps=0.1)
    assert abs(c1.item() - 1) < 1.5e-2 and abs(c2.item()) < 1e-2
    c1, c2 = T.region_means(image, phi, "arctan", eps=0.01)
    assert abs(c1.item() - 1) < 2e-3 and abs(c2.item()) < 2e-3


def test_region_means_equal_numpy_and_handle_empty_regions():
    rng = np.random.default_rng(3)
    img, phi = rng.random((2, 8, 8)), rng.normal(size=(2, 8, 8))
    c1, c2 = T.region_means(torch.tensor(img), torch.tensor(phi), "arctan", 1.0)
    for b in range(2):
        h = ops.heaviside_arctan(phi[b])
        np.testing.assert_allclose(c1[b].item(), (img[b] * h).sum() / h.sum(), rtol=1e-12)
        np.testing.assert_allclose(c2[b].item(), (img[b] * (1 - h)).sum() / (1 - h).sum(), rtol=1e-12)
    c1, c2 = T.region_means(torch.tensor(img), -torch.ones(2, 8, 8, dtype=torch.float64), "hard")
    assert torch.all(c1 == 0) and torch.allclose(c2[:, 0, 0], torch.tensor(img.mean((1, 2))))


def test_curvature_gradcheck_float64():
    phi = torch.tensor(_batch(4, (2, 6, 6)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: T.curvature_central(p, eta=1e-2), (phi,))
    img = torch.rand(2, 6, 6, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: torch.cat(T.region_means(img, p, "arctan", 1.0), -1), (phi,))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda():
    u = torch.tensor(_batch())
    np.testing.assert_allclose(T.curvature_central(u.cuda()).cpu().numpy(), T.curvature_central(u).numpy(),
                               atol=1e-10)


def test_bad_input_is_rejected_clearly():
    with pytest.raises(TypeError, match="torch.Tensor"):
        T.curvature_central(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"\(H, W\) or \(B, H, W\)"):
        T.curvature_central(torch.zeros(1, 1, 4, 4))
    with pytest.raises(TypeError, match="floating-point"):
        T.gradient(torch.zeros(4, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="at least 2 x 2"):
        T.gradient(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="heaviside must be one of"):
        T.heaviside(torch.zeros(3), "step")
    with pytest.raises(ValueError, match="eps must be a positive"):
        T.heaviside_arctan(torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match="image has shape"):
        T.region_means(torch.zeros(2, 4, 4), torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="width must be"):
        T.neumann_pad(torch.zeros(4, 4), -1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compact_heaviside_and_dirac_equal_numpy(dtype):
    z = np.linspace(-3, 3, 241)
    for eps in (0.5, 1.5):
        np.testing.assert_allclose(T.heaviside_compact(torch.tensor(z, dtype=dtype), eps).numpy(),
                                   ops.heaviside_compact(z, eps), atol=TOL[dtype])
        np.testing.assert_allclose(T.dirac_compact(torch.tensor(z, dtype=dtype), eps).numpy(),
                                   ops.dirac_compact(z, eps), atol=TOL[dtype])


@pytest.mark.parametrize("shape", [(2, 9, 11), (1, 3, 7), (2, 2, 5), (1, 4, 4)])
def test_laplacian_del2_equals_numpy_for_every_border_rule(shape):
    u = _batch(5, shape)
    np.testing.assert_allclose(T.laplacian_del2(torch.tensor(u)).numpy(), _each(ops.laplacian_del2, u),
                               atol=1e-12)


@pytest.mark.parametrize(("sigma", "size"), [(1.5, 15), (3.0, None), (0.8, None)])
def test_gaussian_filter_zero_equals_numpy(sigma, size):
    u = _batch(6, (2, 20, 17))
    for dtype in (torch.float32, torch.float64):
        out = T.gaussian_filter_zero(torch.tensor(u, dtype=dtype), sigma, size).numpy()
        np.testing.assert_allclose(out, _each(lambda a: ops.gaussian_filter_zero(a, sigma, size), u),
                                   atol=10 * TOL[dtype])


# sides around the tile (32): shorter than one tile, than the kernel, not a multiple, several tiles;
# taps: 3, 13 (Li's sigma = 3) and 41 (sigma = 10, longer than a tile, so the tile grows to 2 r)
@pytest.mark.parametrize("taps", [3, 13, 41])
@pytest.mark.parametrize("shape", [(2, 5, 7), (1, 33, 31), (2, 70, 96), (1, 100, 45)])
def test_blocked_correlation_equals_scipy_along_each_axis(taps, shape):
    from scipy.ndimage import correlate1d

    from lsbench.torchops.ops import (
        banded_block_matrix,
        correlate_cols_zero,
        correlate_rows_zero,
        correlation_matrix,
    )

    rng = np.random.default_rng(taps)
    k = rng.uniform(0.1, 1.0, taps)  # not symmetric: a flipped kernel (convolution) would fail
    u = _batch(8, shape)
    t = banded_block_matrix(torch.tensor(k))
    assert t.shape == (max(32, taps - 1), max(32, taps - 1) + taps - 1)
    np.testing.assert_allclose(correlate_rows_zero(torch.tensor(u), t).numpy(),
                               correlate1d(u, k, axis=-2, mode="constant"), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(correlate_cols_zero(torch.tensor(u), t).numpy(),
                               correlate1d(u, k, axis=-1, mode="constant"), rtol=1e-12, atol=1e-12)
    dense = correlation_matrix(torch.tensor(k), shape[-2]) @ torch.tensor(u)
    np.testing.assert_allclose(correlate_rows_zero(torch.tensor(u), t).numpy(), dense.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sussman_reinit_equals_numpy(dtype):
    u = _batch(7, (2, 12, 13))
    u[0, 3, 4] = 0.0  # a pixel exactly on the zero level is left alone
    out = T.sussman_reinit(torch.tensor(u, dtype=dtype), 0.5).numpy()
    np.testing.assert_allclose(out, _each(lambda a: ops.sussman_reinit(a, 0.5), u), atol=10 * TOL[dtype])
    assert out[0, 3, 4] == 0.0

"""RLS and F-ConNet: the oracles of reference/learned-methods.md §5.1, §5.4 and §5.5."""

import itertools

import numpy as np
import pytest
import torch

from lsbench.learned.fconnet import FConNet
from lsbench.learned.rls import INITS, RLS, RLSCell, initial_phi
from lsbench.levelset import init as ls_init
from lsbench.levelset import ops


def _n_params(module):
    return sum(p.numel() for p in module.parameters())


def _two_tone(size=16, seed=0, noise=0.05):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    mask = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= (size / 4) ** 2
    image = np.clip(np.where(mask, 0.8, 0.2) + rng.normal(0, noise, mask.shape), 0, 1)
    return image, mask


def _numpy_cv_step(image, phi, *, dt, lambda1=1.0, lambda2=1.0, eps=1.0, eta=1e-2, dirac=False):
    """One explicit Chan–Vese step (learned-methods.md §1.1, mu = 1) from lsbench.levelset ops."""
    h = ops.heaviside_arctan(phi, eps)
    c1 = (image * h).sum() / h.sum()
    c2 = (image * (1 - h)).sum() / (1 - h).sum()
    force = ops.curvature_central(phi, eta) - lambda1 * (image - c1) ** 2 + lambda2 * (image - c2) ** 2
    if dirac:
        force = ops.dirac_arctan(phi, eps) * force
    return phi + dt * force


def _inputs(size=16, scale=1.0):
    image, _ = _two_tone(size)
    phi = scale * ls_init.circle((size, size), radius=size / 5) / (size / 2)
    return image, phi


@pytest.mark.parametrize("kind", ["dense", "conv"])
@pytest.mark.parametrize("dirac", [False, True])
def test_hand_set_cell_is_one_explicit_chan_vese_step(kind, dirac):
    # §5.1: U_g = l1 I, W_g = l2 I, z = 1/2, r = 1, U_h = 2 dt I, W_h = I, identity activation
    image, phi = _inputs()
    cell = RLSCell(kind, 16, 16, activation="identity", dirac=dirac, heaviside="arctan", eps=1.0,
                   curvature_eta=1e-2).double()
    cell.set_chan_vese(lambda1=1.3, lambda2=0.7, dt=0.25)
    out = cell(torch.tensor(image)[None], torch.tensor(phi)[None])[0].detach().numpy()
    expected = _numpy_cv_step(image, phi, dt=0.25, lambda1=1.3, lambda2=0.7, dirac=dirac)
    np.testing.assert_allclose(out, expected, atol=1e-6, rtol=0)
    assert np.abs(out - phi).max() > 1e-2  # the step did move phi


def test_hand_set_tanh_cell_is_close_at_small_amplitude_and_torch_gru_agrees():
    # §5.1: with tanh, at |phi|, |dt x| <= 0.05, the error is O(a^3)
    image, phi = _inputs(scale=0.02)
    dt = 0.01
    expected = _numpy_cv_step(image, phi, dt=dt)
    outs = {}
    for gru in ("rls", "torch"):
        cell = RLSCell("dense", 16, 16, gru=gru, activation="tanh").double()
        cell.set_chan_vese(dt=dt)
        outs[gru] = cell(torch.tensor(image)[None], torch.tensor(phi)[None])[0].detach().numpy()
    assert np.abs(phi).max() <= 0.05 and np.abs(expected - phi).max() <= 0.05
    rel = np.abs(outs["rls"] - expected).max() / np.abs(expected).max()
    assert rel <= 1e-3
    # r = 1: resetting before or after W_h is the same thing
    np.testing.assert_allclose(outs["torch"], outs["rls"], atol=1e-12)


def _np_gradient_curvature(phi, eta):
    """Li's ``curvature_central`` with MATLAB ``gradient`` (central inside, one-sided at the border)."""
    gy, gx = np.gradient(phi)
    norm = np.sqrt(gx**2 + gy**2 + eta)
    return np.gradient(gx / norm, axis=1) + np.gradient(gy / norm, axis=0)


def _np_rls_step(cell, image, phi):
    """One RLS step computed from the chapter's equations (learned-methods.md §1.2) with the weights of
    ``cell`` (dense, ``gru="rls"``, tanh), written in NumPy without any lsbench code:

    x = kappa(phi) - (U_g (I - c1)^2 + b_g) + (W_g (I - c2)^2 + c_g)   (Eq. 18, arctan H, eps = 1)
    z = sigmoid(U_z x + W_z phi + b_z),  r = sigmoid(U_r x + W_r phi + b_r)
    h~ = tanh(U_h x + W_h (r * phi) + b_h),  phi_t = (1 - z) h~ + z phi
    """
    def w(t):
        return t.detach().numpy()

    n = phi.size
    h = 0.5 * (1.0 + (2.0 / np.pi) * np.arctan(phi))
    c1 = (image * h).sum() / h.sum()
    c2 = (image * (1.0 - h)).sum() / (1.0 - h).sum()
    G, g = w(cell.force.G.weight), w(cell.force.G.bias)
    fit_in = G[:n] @ ((image - c1) ** 2).ravel() + g[:n]
    fit_out = G[n:] @ ((image - c2) ** 2).ravel() + g[n:]
    x = _np_gradient_curvature(phi, cell.force.curvature_eta).ravel() - fit_in + fit_out
    U, b = w(cell.U.weight), w(cell.U.bias)
    Wzr, Wh = w(cell.W_zr.weight), w(cell.W_h.weight)
    v = phi.ravel()
    z = 1.0 / (1.0 + np.exp(-(U[:n] @ x + b[:n] + Wzr[:n] @ v)))
    r = 1.0 / (1.0 + np.exp(-(U[n:2 * n] @ x + b[n:2 * n] + Wzr[n:] @ v)))
    h_tilde = np.tanh(U[2 * n:] @ x + b[2 * n:] + Wh @ (r * v))
    return ((1.0 - z) * h_tilde + z * v).reshape(phi.shape), z, r


def _random_cell(height, width, seed):
    """A dense RLS cell with random weights and biases large enough that the gates spread over (0, 1)."""
    torch.manual_seed(seed)
    cell = RLSCell("dense", height, width, gru="rls", activation="tanh", curvature_eta=1e-2).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.uniform_(-0.6, 0.6)
    return cell


@pytest.mark.parametrize("seed", [0, 1])
def test_gru_step_equals_the_chapter_equations_with_open_gates(seed):
    # the Chan–Vese oracles fix z = 1/2 and r = 1, where the reset gate's place and the update
    # gate's convention are invisible; with random weights both gates spread and every term counts
    rng = np.random.default_rng(seed)
    image = rng.random((5, 6))
    phi = rng.uniform(-1.0, 1.0, (5, 6))
    cell = _random_cell(5, 6, seed)
    expected, z, r = _np_rls_step(cell, image, phi)
    assert z.std() > 0.1 and np.abs(z - 0.5).max() > 0.3, z  # the update gate is far from 1/2 ...
    assert r.min() < 0.5 and r.max() > 0.5, r  # ... and the reset gate far from 1
    out = cell(torch.tensor(image)[None], torch.tensor(phi)[None])[0].detach().numpy()
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)


def test_three_tied_steps_follow_the_chapter_equations():
    rng = np.random.default_rng(7)
    image = rng.random((5, 6))
    phi = rng.uniform(-1.0, 1.0, (5, 6))
    model = RLS(5, 6, steps=3, kind="dense", gru="rls", init="zeros").double()
    cell = _random_cell(5, 6, 7)
    model.cells[0].load_state_dict(cell.state_dict())
    with torch.no_grad():
        got = [p[0].numpy() for p in model.evolve(torch.tensor(image)[None], torch.tensor(phi)[None])]
    for step in range(3):
        phi = _np_rls_step(cell, image, phi)[0]
        np.testing.assert_allclose(got[step], phi, rtol=0, atol=1e-12)


def _cv_energy(image, phi, lam):
    """Chan–Vese energy (mu = 1, nu = 0, lambda1 = lambda2 = lam) with the arctan H_eps, delta_eps (eps = 1)."""
    h = ops.heaviside_arctan(phi)
    c1, c2 = (image * h).sum() / h.sum(), (image * (1 - h)).sum() / (1 - h).sum()
    gy, gx = ops.gradient(phi)
    length = (ops.dirac_arctan(phi) * np.sqrt(gx**2 + gy**2)).sum()
    return length + lam * (((image - c1) ** 2 * h).sum() + ((image - c2) ** 2 * (1 - h)).sum())


def _evolve_hand_set(image, dt, lam, steps=10):
    """phi_0 a small circle inside the disk; ``steps`` applications of the oracle-1 cell (delta-weighted force)."""
    size = image.shape[0]
    phi = torch.tensor(ls_init.circle((size, size), radius=3.0) / 12.0)[None]
    model = RLS(size, size, steps=1, kind="dense", activation="identity", dirac=True, init="zeros").double()
    model.cells[0].set_chan_vese(dt=dt, lambda1=lam, lambda2=lam)
    phis = [phi]
    with torch.no_grad():
        for _ in range(steps):
            phis.append(model.evolve(torch.tensor(image)[None], phis[-1])[-1])
    return [p[0].numpy() for p in phis]


@pytest.mark.parametrize("dt", [0.05, 0.2])
@pytest.mark.parametrize("lam", [1.0, 10.0])
def test_hand_set_rls_descends_the_chan_vese_energy(dt, lam):
    # §5.4: under the hand-set cell of oracle 1 (phi_t = phi + dt delta(phi) x) with small steps, the
    # Chan–Vese energy whose gradient flow that is never increases over 10 steps
    image, mask = _two_tone(24, noise=0.1)
    phis = _evolve_hand_set(image, dt, lam)
    energies = [_cv_energy(image, p, lam) for p in phis]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(energies)), energies
    assert energies[-1] < energies[0] - 0.01 * dt / 0.05  # and it does move
    ious = [(p > 0)[mask].sum() / ((p > 0) | mask).sum() for p in phis]
    if lam == 10.0:
        # the fitting term drives the contour: the small circle grows onto the disk, IoU rises
        assert ious[-1] > ious[0] + (0.5 if dt == 0.2 else 0.05), ious
    else:
        # with lambda = 1 the unit-weight curvature dominates on this 24 x 24 image: the energy still
        # descends, by shortening the contour (the circle shrinks), so the IoU falls
        assert ious[-1] < ious[0], ious


def test_a_step_against_the_force_ascends_the_energy():
    # the control of the oracle above: the same cell with dt < 0 raises the energy, so the descent is
    # the cell's doing and not a property of any small change of phi
    image, _ = _two_tone(24, noise=0.1)
    energies = [_cv_energy(image, p, 10.0) for p in _evolve_hand_set(image, -0.05, 10.0, steps=3)]
    assert all(b > a for a, b in itertools.pairwise(energies)), energies


def test_output_shape_and_hidden_size():
    model = RLS(8, 8, steps=3)
    x = torch.rand(5, 8, 8)
    out = model(x)
    assert out.shape == (5, 2, 8, 8)
    per_step = model(x, all_steps=True)
    assert len(per_step) == 3 and all(o.shape == (5, 2, 8, 8) for o in per_step)
    assert torch.equal(per_step[-1], out)
    assert model.cells[0].U.weight.shape == (3 * 64, 64)  # hidden size N = H W
    phis = model.evolve(x)
    assert len(phis) == 3 and phis[0].shape == (5, 8, 8)


@pytest.mark.parametrize("n_side", [4, 8])
def test_parameter_count_matches_the_formula(n_side):
    n = n_side * n_side
    tied = RLS(n_side, n_side, steps=4, tie_weights=True)
    # GRU 3 (2N^2 + N) + U_g, W_g 2N^2 + 2N + V 2N^2 + 2N = 10 N^2 + 7 N
    assert _n_params(tied) == 10 * n * n + 7 * n
    untied = RLS(n_side, n_side, steps=4, tie_weights=False)
    assert _n_params(untied.cells) == 4 * _n_params(tied.cells)
    assert _n_params(untied.head) == _n_params(tied.head) == 2 * n * n + 2 * n
    torch_gru = RLS(n_side, n_side, steps=4, gru="torch")
    assert _n_params(torch_gru.cells) == (6 * n * n + 6 * n) + (2 * n * n + 2 * n)
    conv = RLS(n_side, n_side, kind="conv", kernel_size=3)
    # U (3 kernels + 3 biases), W_zr (2), W_h (1), U_g/W_g (2 + 2 biases), V (2 + 2 biases)
    assert _n_params(conv) == 9 * (3 + 2 + 1 + 2 + 2) + 3 + 2 + 2


def test_tied_weights_share_one_cell_and_untied_use_one_per_step():
    torch.manual_seed(0)
    tied = RLS(6, 6, steps=3, tie_weights=True)
    untied = RLS(6, 6, steps=3, tie_weights=False)
    assert len(tied.cells) == 1 and len(untied.cells) == 3
    assert not torch.equal(untied.cells[0].U.weight, untied.cells[1].U.weight)
    # untied cells all set to the tied cell's weights compute the tied model exactly
    for cell in untied.cells:
        cell.load_state_dict(tied.cells[0].state_dict())
    untied.head.load_state_dict(tied.head.state_dict())
    x = torch.rand(2, 6, 6)
    torch.testing.assert_close(untied(x), tied(x))
    # and gradients reach every untied step
    untied(x).sum().backward()
    assert all(c.U.weight.grad is not None and c.U.weight.grad.abs().sum() > 0 for c in untied.cells)


def test_gradcheck_float64_cell_and_model():
    # §5.5: torch.autograd.gradcheck on a 6 x 6 cell in float64, through inputs and weights
    torch.manual_seed(0)
    cell = RLSCell("dense", 6, 6).double()
    image = torch.rand(2, 6, 6, dtype=torch.float64, requires_grad=True)
    phi = torch.randn(2, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda i, p: cell(i, p), (image, phi))
    # the weights (thousands of entries): gradcheck's fast mode checks random projections
    names = ["force.G.weight", "U.weight", "W_h.weight"]
    params = tuple(dict(cell.named_parameters())[n].detach().clone().requires_grad_() for n in names)

    def with_weights(*ws):
        return torch.func.functional_call(cell, dict(zip(names, ws, strict=True)), (image.detach(), phi.detach()))

    assert torch.autograd.gradcheck(with_weights, params, fast_mode=True)
    model = RLS(6, 6, steps=2, kind="conv", kernel_size=3, heaviside="arctan").double()
    assert torch.autograd.gradcheck(lambda i: model(i), (image,), fast_mode=True)


@pytest.mark.parametrize("name", [i for i in INITS if i != "sample"])
def test_every_phi0_init_is_positive_inside(name):
    for shape in ((16, 16), (24, 20)):
        phi = initial_phi(name, shape)
        assert phi.shape == shape and np.all(np.abs(phi) <= 1.0 + 1e-12)
        h, w = shape
        if name == "disks":
            # radius-3 disks on an 8-px lattice (official gen_phi), +1 inside
            np.testing.assert_array_equal(phi, ls_init.disks(shape))
            assert phi[3, 3] == 1 and phi[3, 11] == 1 and phi[11, 3] == 1 and phi[7, 7] == -1
            assert phi[0, 3] == 1 and phi[3, 0] == 1 and phi[0, 0] == -1  # r = 3 reaches the edge
            disk = phi[:7, :7] > 0
            assert disk.sum() == 29  # the digital disk of radius 3
        elif name == "circle":
            assert phi[h // 2, w // 2] > 0 and phi[0, 0] < 0 and np.abs(phi).max() == pytest.approx(1.0)
        elif name == "checkerboard":
            np.testing.assert_allclose(phi, ls_init.checkerboard(shape, square_size=10.0))
            assert phi[5, 5] > 0 and phi[5, 15] < 0
        elif name == "random":
            # one seeded i.i.d. uniform draw in [-1, 1] per grid shape, the same at every call
            np.testing.assert_array_equal(phi, np.random.default_rng(0).uniform(-1.0, 1.0, shape))
            np.testing.assert_array_equal(phi, initial_phi("random", shape))
            assert 0.3 < (phi > 0).mean() < 0.7 and phi.min() < -0.5 and phi.max() > 0.5
        else:
            assert np.all(phi == 0)


def test_sample_init_needs_a_phi0_and_phi0_overrides_the_preset():
    model = RLS(8, 8, steps=2, init="sample")
    with pytest.raises(ValueError, match="pass phi0"):
        model(torch.rand(1, 8, 8))
    phi0 = torch.ones(1, 8, 8)
    assert model(torch.rand(1, 8, 8), phi0).shape == (1, 2, 8, 8)
    with pytest.raises(ValueError, match="phi0 has shape"):
        model(torch.rand(1, 8, 8), torch.ones(1, 8, 7))


def test_conv_rls_runs_at_any_size_and_dense_refuses_another_size():
    conv = RLS(8, 8, kind="conv", kernel_size=3, steps=2)
    assert conv(torch.rand(2, 13, 21)).shape == (2, 2, 13, 21)
    dense = RLS(8, 8, steps=2)
    with pytest.raises(ValueError, match="8 x 8"):
        dense(torch.rand(1, 9, 9))


def test_fconnet_shape_and_parameter_count():
    net = FConNet(8, 8, hidden=10)
    assert net(torch.rand(3, 8, 8)).shape == (3, 2, 8, 8)
    assert _n_params(net) == 64 * 10 + 10 + 10 * 128 + 128
    assert FConNet(4, 4).hidden == 16
    with pytest.raises(ValueError, match="F-ConNet works on"):
        net(torch.rand(3, 9, 8))


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"gru": "lstm"}, "gru must be one of"),
        ({"init": "noise"}, "init must be one of"),
        ({"heaviside": "step"}, "heaviside must be one of"),
        ({"kind": "sparse"}, "kind must be one of"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"eps": -1.0}, "eps must be a positive"),
        ({"kind": "conv", "gru": "torch"}, "needs kind='dense'"),
        ({"gru": "torch", "activation": "identity"}, "fixed tanh"),
        ({"kind": "conv", "kernel_size": 4}, "odd"),
        ({"weight_init": "xavier"}, "weight_init must be one of"),
    ],
)
def test_bad_configs_are_rejected_clearly(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        RLS(8, 8, **kwargs)

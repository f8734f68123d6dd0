"""DRLSE: transliteration parity with drlse_edge.m, the oracles of classic-methods.md §8, validation."""

import itertools
import math

import numpy as np
import pytest
from scipy import ndimage

from lsbench.classic.drlse import drlse, drlse_energy, edge_indicator
from lsbench.levelset import init, ops
from lsbench.metrics.binary import f_measure


def _disk_image(n=64, r=None, noise=0.0, seed=0, lo=0.3, hi=0.7):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n]
    r = n / 4 if r is None else r
    truth = (yy - n / 2) ** 2 + (xx - n / 2) ** 2 <= r**2
    return np.where(truth, hi, lo) + rng.normal(0, noise, (n, n)), truth


def _box(n, margin):
    m = np.zeros((n, n), bool)
    m[margin:n - margin, margin:n - margin] = True
    return m


# -- a line-by-line port of Li's drlse_edge.m (MATLAB sign: object = u < 0) ----------------------------
def _matlab_drlse_edge(u, g, lam, mu, alfa, epsilon, timestep, iters, potential):
    vy, vx = np.gradient(g)
    for _ in range(iters):
        u = ops.neumann_bound_cond(u)
        uy, ux = np.gradient(u)
        s = np.sqrt(ux**2 + uy**2)
        Nx = ux / (s + 1e-10)
        Ny = uy / (s + 1e-10)
        curvature = np.gradient(Nx, axis=1) + np.gradient(Ny, axis=0)
        if potential == "single-well":
            dist_reg = ops.laplacian_del2(u) - curvature
        else:
            a = (s >= 0) & (s <= 1)
            b = s > 1
            ps = a * np.sin(2 * np.pi * s) / (2 * np.pi) + b * (s - 1)
            dps = ((ps != 0) * ps + (ps == 0)) / ((s != 0) * s + (s == 0))
            fx, fy = dps * ux - ux, dps * uy - uy
            dist_reg = np.gradient(fx, axis=1) + np.gradient(fy, axis=0) + ops.laplacian_del2(u)
        f = (1 / 2 / epsilon) * (1 + np.cos(np.pi * u / epsilon))
        dirac = f * ((u <= epsilon) & (u >= -epsilon))
        area = dirac * g
        edge = dirac * (vx * Nx + vy * Ny) + dirac * g * curvature
        u = u + timestep * (mu * dist_reg + lam * edge + alfa * area)
    return u


@pytest.mark.parametrize("potential", ["double-well", "single-well"])
def test_equals_a_line_by_line_port_of_drlse_edge(potential):
    img, _ = _disk_image(48, noise=0.05, seed=3)
    img255 = ops.rescale(img, 255.0)
    g_ref = 1.0 / (1.0 + sum(d**2 for d in np.gradient(
        ndimage.convolve(img255, np.outer(*[ops.gaussian_kernel_1d(1.5, 15)] * 2), mode="constant"))))
    g = edge_indicator(img255, 1.5)
    np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-12)  # separable == 2-D zero-padded conv2
    # the evolution amplifies 1e-13 differences in g, so the port gets lsbench's g
    box = _box(48, 4)
    u = np.where(box, -2.0, 2.0)  # demo_2: c0 = 2 outside, -c0 in the region
    for _ in range(6):  # 6 outer x 5 inner, then the alpha = 0 refinement
        u = _matlab_drlse_edge(u, g, 5.0, 0.04, 1.5, 1.5, 5.0, 5, potential)
    u = _matlab_drlse_edge(u, g, 5.0, 0.04, 0.0, 1.5, 5.0, 5, potential)
    res = drlse(img, init=box, max_iter=30, potential=potential, return_result=True)
    assert res.n_iter == 35
    np.testing.assert_allclose(res.phi, -u, rtol=0, atol=1e-10)


def test_phi_is_positive_inside_the_initial_region():
    img, _ = _disk_image(32)
    box = _box(32, 3)
    res = drlse(img, init=box, max_iter=1, iter_refine=0, return_result=True)
    assert np.all(res.phi[box] > 0) and np.all(res.phi[~box] < 0)
    np.testing.assert_array_equal(drlse(img, init=box, max_iter=1, iter_refine=0), box)


def test_double_well_keeps_a_signed_distance_near_the_contour():
    img, truth = _disk_image(64)
    res = drlse(img, init=_box(64, 4), max_iter=300, return_result=True)
    gy, gx = np.gradient(res.phi)
    band = np.abs(res.phi) < 1.0
    assert abs(np.hypot(gx, gy)[band].mean() - 1.0) < 0.05
    assert np.abs(res.phi).max() < 5.0  # flat far from the contour (double-well), no blow-up
    assert f_measure(res.mask, truth) > 0.97


# (the zero-padded Gaussian of g makes the image border an edge, so the outer box keeps off it)
@pytest.mark.parametrize(("alpha", "margin", "inside"), [(1.5, 8, False), (-1.5, 36, True)])
def test_alpha_sign_rule_shrinks_from_outside_and_expands_from_inside(alpha, margin, inside):
    img, truth = _disk_image(96, r=24, noise=0.02, seed=1)
    init = _box(96, margin)
    assert (init <= truth).all() == inside  # the box is inside the disk only for alpha < 0
    res = drlse(img, init=init, alpha=alpha, max_iter=200, return_result=True)
    assert f_measure(res.mask, truth) > 0.97


def test_energy_is_non_increasing_over_outer_iterations_with_a_small_time_step():
    # "almost monotone" (classic-methods.md §8): the discrete length sum delta(phi)|grad phi|
    # wobbles by a few % from step to step as the contour crosses pixels, at any dt, but the
    # energy at the outer-iteration checkpoints (every iter_inner = 5 steps) never rises
    img, _ = _disk_image(48, seed=2)
    res = drlse(img, init=_box(48, 6), dt=1.0, mu=0.2, max_iter=100, iter_refine=0, return_result=True)
    assert res.energies.size == 100
    checkpoints = res.energies[::5]
    assert np.all(np.diff(checkpoints) <= 1e-9 * checkpoints[0])
    assert res.energies[-1] < 0.3 * res.energies[0]


def test_energy_function_matches_its_definition():
    img, _ = _disk_image(32)
    g = edge_indicator(ops.rescale(img, 255.0), 1.5)
    phi = init.signed_distance(_box(32, 6))
    e = drlse_energy(phi, g, lambda_=5.0, mu=0.04, alpha=1.5, epsilon=1.5, potential="single-well")
    gy, gx = np.gradient(-phi)
    s = np.hypot(gx, gy)
    ref = (0.04 * np.sum(0.5 * (s - 1) ** 2) + 5.0 * np.sum(g * ops.dirac_compact(phi, 1.5) * s)
           + 1.5 * np.sum(g * ops.heaviside_compact(phi, 1.5)))
    assert e == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize(("rows", "potential", "expected"), [
    # phi rises by 0.5 per row: |grad phi| = 0.5 everywhere (MATLAB gradient: one-sided at the border)
    # p1(0.5) = (0.5 - 1)^2 / 2 = 1/8; p2(0.5) = (1 - cos(pi)) / (2 pi)^2 = 1 / (2 pi^2);
    # delta_1.5(0, 0.5, 1) = (1 + cos(pi x / 1.5)) / 3 = 2/3, 1/2, 1/6;
    # H_1.5(x) = (1 + x / 1.5 + sin(pi x / 1.5) / pi) / 2 at 0, 0.5, 1
    ((0.0, 0.5, 1.0), "single-well",
     0.2 * 12 / 8 + 5 * 4 * 0.5 * (2 / 3 + 0.5 / 2 + 0.25 / 6)
     + 1.5 * 4 * (0.5 + 0.5 * (1 + 1 / 3 + math.sin(math.pi / 3) / math.pi) / 2
                  + 0.25 * (1 + 2 / 3 + math.sin(2 * math.pi / 3) / math.pi) / 2)),
    ((0.0, 0.5, 1.0), "double-well",
     0.2 * 12 / (2 * math.pi**2) + 5 * 4 * 0.5 * (2 / 3 + 0.5 / 2 + 0.25 / 6)
     + 1.5 * 4 * (0.5 + 0.5 * (1 + 1 / 3 + math.sin(math.pi / 3) / math.pi) / 2
                  + 0.25 * (1 + 2 / 3 + math.sin(2 * math.pi / 3) / math.pi) / 2)),
    # phi rises by 0.25 per row: the double well's cosine branch at s = 1/4, p2 = (1 - cos(pi/2)) / (2 pi)^2
    ((0.0, 0.25, 0.5), "double-well",
     0.2 * 12 / (4 * math.pi**2) + 5 * 4 * 0.25 * (2 / 3 + 0.5 * (1 + math.cos(math.pi / 6)) / 3 + 0.25 / 2)
     + 1.5 * 4 * (0.5 + 0.5 * (1 + 1 / 6 + math.sin(math.pi / 6) / math.pi) / 2
                  + 0.25 * (1 + 1 / 3 + math.sin(math.pi / 3) / math.pi) / 2)),
    # by 2 per row: |grad phi| = 2 > 1, where both potentials are (s - 1)^2 / 2 = 1/2; |phi| >= 2 > eps
    # puts delta at 0 and H at 1
    ((0.0, 2.0, 4.0), "single-well", 0.2 * 12 * 0.5 + 5 * 4 * 2 * (2 / 3) + 1.5 * 4 * (0.5 + 0.5 + 0.25)),
    ((0.0, 2.0, 4.0), "double-well", 0.2 * 12 * 0.5 + 5 * 4 * 2 * (2 / 3) + 1.5 * 4 * (0.5 + 0.5 + 0.25)),
], ids=["s=1/2-single", "s=1/2-double", "s=1/4-double", "s=2-single", "s=2-double"])
def test_energy_equals_a_hand_computed_value(rows, potential, expected):
    # E = mu sum p(|grad phi|) + lambda sum g delta(phi) |grad phi| + alpha sum g H(phi) (Li et al. 2010,
    # classic-methods.md §2.1), by hand on a 3 x 4 phi constant along rows, g = 1, 1/2, 1/4 by row
    phi = np.repeat(np.array(rows)[:, None], 4, axis=1)
    g = np.repeat(np.array([1.0, 0.5, 0.25])[:, None], 4, axis=1)
    e = drlse_energy(phi, g, lambda_=5.0, mu=0.2, alpha=1.5, epsilon=1.5, potential=potential)
    assert e == pytest.approx(expected, rel=1e-13, abs=0)


def test_without_data_terms_the_contour_stays_and_becomes_a_distance():
    img = np.zeros((48, 48))
    circle = init.circle((48, 48), 14.0) > 0
    res = drlse(img, init=circle, lambda_=0.0, alpha=0.0, max_iter=200, return_result=True)
    assert (res.mask ^ circle).sum() <= 0.05 * circle.sum()  # the zero level moves < 1 pixel
    edt = ndimage.distance_transform_edt
    assert np.all(edt(~circle)[res.mask] <= 1.0) and np.all(edt(circle)[~res.mask] <= 1.0)
    gy, gx = np.gradient(res.phi)
    band = np.abs(res.phi) < 1.0
    assert abs(np.hypot(gx, gy)[band].mean() - 1.0) < 0.05


def test_length_term_alone_shrinks_a_circle():
    circle = init.circle((48, 48), 14.0) > 0
    res = drlse(np.zeros((48, 48)), init=circle, alpha=0.0, max_iter=100, iter_refine=0, return_result=True)
    assert res.mask.sum() < circle.sum() and not (res.mask & ~circle).any()


def test_constant_image_returns_without_nans():
    res = drlse(np.full((24, 24), 0.4), init=_box(24, 4), max_iter=20, return_result=True)
    assert np.all(np.isfinite(res.phi)) and res.mask.dtype == bool


def test_callback_and_refinement_counting():
    img, _ = _disk_image(32)
    seen = []
    res = drlse(img, init=_box(32, 3), max_iter=12, iter_inner=5, iter_refine=3,
                iter_callback=lambda info: seen.append(info.iteration), return_result=True)
    assert seen == list(range(1, 16)) and res.n_iter == 15 and res.energies.size == 15
    stopped = drlse(img, init=_box(32, 3), iter_callback=lambda info: info.iteration == 4, return_result=True)
    assert stopped.n_iter == 4  # a callback stop skips the refinement
    quiet = drlse(img, init=_box(32, 3), max_iter=10, return_result=True, track_energy=False)
    assert quiet.energies.size == 0


def test_tol_stops_early_once_the_contour_is_still():
    img, _ = _disk_image(48)
    res = drlse(img, init=_box(48, 4), max_iter=2000, tol=1e-4, return_result=True)
    assert res.converged and res.n_iter < 2000


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dt": 10.0}, "dt=10.0 with mu=0.04 is unstable"),
        ({"mu": 0.05}, "mu\\*dt < 1/4"),
        ({"sigma": -1.0}, "sigma"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"potential": "triple-well"}, "potential"),
        ({"max_iter": 0}, "max_iter"),
        ({"iter_refine": -1}, "iter_refine"),
        ({"alpha": float("nan")}, "alpha"),
        ({"init": np.zeros((5, 5), bool)}, "init has shape"),
        ({"init": "checkerboard"}, "init must be one of"),
    ],
)
def test_bad_input_raises_a_named_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        drlse(np.random.default_rng(0).random((16, 16)), **kwargs)


def test_tol_stops_at_the_first_outer_iteration_with_fewer_than_tol_hw_changes():
    # written for the mutation run (reports/mutation.md): "fewer than tol * H * W pixels changed side",
    # strictly. The changes per outer iteration are counted here from a run without tol; tol is then set
    # to a count that occurs (H * W = 1024, so tol * H * W is that integer exactly)
    img, _ = _disk_image(32)
    kw = dict(init=_box(32, 3), iter_inner=5, iter_refine=0, max_iter=400, return_result=True)
    phis = []
    drlse(img, **kw, iter_callback=lambda info: phis.append(info.phi.copy()) if info.iteration % 5 == 0 else None)
    sides = [_box(32, 3) > 0] + [p > 0 for p in phis]
    counts = [int(np.count_nonzero(a != b)) for a, b in itertools.pairwise(sides)]
    # a count c that is a new running minimum (every earlier count is larger) and is later undercut
    record = next(k for k in range(1, len(counts)) if 0 < counts[k] < min(counts[:k])
                  and min(counts[k + 1:], default=counts[k]) < counts[k])
    c = counts[record]
    first_below = next(j for j, n in enumerate(counts) if n < c)
    res = drlse(img, **kw, tol=c / 1024)
    assert res.converged and res.n_iter == 5 * (first_below + 1) > 5 * (record + 1)

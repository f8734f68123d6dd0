"""The two backends of every classic method (NumPy and the compiled numba kernels): agreement at
default and non-default parameters, the backend switch, and NumPy alone when numba is missing.

Where the compiled kernel keeps the NumPy backend's floating-point operations and order (Chan–Vese,
RSF, LIC for sigma < 5, L2S, DRLSE with the single well), phi must be *identical*; RSF, LIC and L2S
take their Heaviside's arctangent from :func:`vector_atan` (within 1 ulp of the C library's), so
there the NumPy backend runs with that same arctangent in place of ``np.arctan`` for the identity
check. Where the operations differ (that arctangent against NumPy's own, DRLSE's double-well sine,
LIC's FFT convolutions for sigma >= 5), phi must agree to rounding over a few steps and the final
masks at least as well as the NumPy backend agrees with itself when its initial level set is
perturbed by 1e-12 (the floor the bench reports), computed here on the same image.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lsbench.classic import chan_vese, drlse, l2s, lic, rsf
from lsbench.classic.backend import BACKENDS, num_threads, resolve_backend
from lsbench.classic.chan_vese import chan_vese_batch
from lsbench.levelset.init import binary_step
from tests.conftest import two_phase_image

numba = pytest.importorskip("numba")

from lsbench.classic.compiled._kernels import vector_atan  # noqa: E402  (after the importorskip)

FUNCTIONS = {"cv": chan_vese, "drlse": drlse, "li": rsf, "lic": lic, "l2s": l2s}


def _ramp_image(side: int = 64, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A noisy disk under a multiplicative ramp, its mask and a box around it."""
    img, truth = two_phase_image(side, noise=0.1, seed=seed)
    xx = np.arange(side)[None, :]
    img = img * (0.75 + 0.5 * xx / side)
    box = np.zeros_like(truth)
    box[side // 8:-side // 8, side // 8:-side // 8] = True
    return img, truth, box


def _both(fn, img, *, same_arctan=False, **kw):
    """The numba and the NumPy result; with ``same_arctan`` the NumPy backend's ``np.arctan`` is
    the compiled kernels' :func:`vector_atan` (for the identity checks)."""
    a = fn(img, return_result=True, track_energy=False, backend="numba", **kw)
    with pytest.MonkeyPatch.context() as mp:
        if same_arctan:
            mp.setattr(np, "arctan", _vector_arctan)
        b = fn(img, return_result=True, track_energy=False, backend="numpy", **kw)
    return a, b


@numba.njit(cache=False)
def _vector_atan_into(x, out):
    for i in range(x.size):
        out[i] = vector_atan(x[i])


def _vector_arctan(x, out=None):
    """``np.arctan`` (the forms the NumPy backends call) computed by :func:`vector_atan`."""
    x = np.asarray(x, dtype=np.float64)
    res = np.empty_like(x) if out is None else out
    flat = np.ascontiguousarray(x).reshape(-1)
    result = np.empty_like(flat)
    _vector_atan_into(flat, result)
    res[...] = result.reshape(x.shape)
    return res


# -- identical where the float order is kept -------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, {"mu": 0.4, "lambda1": 2.0, "lambda2": 0.5, "nu": 0.05, "dt": 0.8, "eta": 1e-6,
                                     "tol": 1e-4, "init": "disk"}])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_chan_vese_backends_are_identical(kw, dtype):
    img, _, _ = _ramp_image()
    a, b = _both(chan_vese, img.astype(dtype), **kw)
    assert a.phi.dtype == dtype
    np.testing.assert_array_equal(a.phi, b.phi)
    assert (a.n_iter, a.converged) == (b.n_iter, b.converged)


@pytest.mark.parametrize("kw", [{}, {"lambda1": 1.0, "lambda2": 2.0, "sigma": 2.0, "nu": 0.003, "mu": 0.5,
                                     "dt": 0.05, "epsilon": 1.5, "max_iter": 80, "tol": 1e-3, "c0": 3.0}])
def test_rsf_backends_are_identical_with_the_same_arctan(kw):
    img, _, box = _ramp_image()
    a, b = _both(rsf, img, init=box, same_arctan=True, **kw)
    np.testing.assert_array_equal(a.phi, b.phi)
    np.testing.assert_array_equal(a.extras["f_outside"], b.extras["f_outside"])
    np.testing.assert_array_equal(a.extras["f_inside"], b.extras["f_inside"])
    assert (a.n_iter, a.converged) == (b.n_iter, b.converged)


@pytest.mark.parametrize("kw", [{"max_iter": 200}, {"sigma": 3.0, "nu": 0.002, "mu": 0.5, "dt": 0.05, "iter_inner": 5,
                                                    "max_iter": 120, "c0": 2.0, "epsilon": 1.5}])
def test_lic_backends_are_identical_for_direct_convolutions(kw):
    img, _, box = _ramp_image()
    a, b = _both(lic, img, init=box, same_arctan=True, **kw)
    np.testing.assert_array_equal(a.phi, b.phi)
    np.testing.assert_array_equal(a.extras["bias"], b.extras["bias"])
    assert a.extras["c_inside"] == b.extras["c_inside"] and a.extras["c_outside"] == b.extras["c_outside"]


@pytest.mark.parametrize("kw", [{"potential": "single-well"},
                                {"potential": "single-well", "alpha": -1.0, "dt": 2.0, "mu": 0.1, "lambda_": 3.0,
                                 "sigma": 0.8, "epsilon": 1.2, "iter_refine": 0}])
def test_drlse_single_well_backends_are_identical(kw):
    img, _, box = _ramp_image(seed=2)
    if kw.get("alpha", 1.5) < 0:  # an expanding contour starts inside the object
        box = np.zeros_like(box)
        box[26:38, 26:38] = True
    a, b = _both(drlse, img, init=box, **kw)
    np.testing.assert_array_equal(a.phi, b.phi)


@pytest.mark.parametrize("kw", [{}, {"degree": 1, "nu": 0.4, "rho": 1.0, "lambda2": 1.5, "cfl": 0.6, "epsilon": 1.5},
                                {"start_degree": 0, "max_iter": 60, "tol": 3.0, "patience": 5},
                                {"degree": 3, "max_iter": 150}])  # degree 3: the fitted rows in buffers
def test_l2s_backends_agree(kw):
    img, _, box = _ramp_image()
    a, b = _both(l2s, img, init=box, same_arctan=True, **kw)
    # the compiled fits sum the products of the NumPy backend's BLAS calls in another (fixed) order:
    # phi equal to rounding, the masks and the stopping iteration the same
    np.testing.assert_allclose(a.phi, b.phi, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert (a.n_iter, a.converged) == (b.n_iter, b.converged)


# -- to rounding where it is not -----------------------------------------------------------------------
def _self_agreement(fn, img, phi0, ref_mask, **kw) -> float:
    """How well the NumPy backend agrees with itself from phi0 + 1e-12 noise (the floor)."""
    noisy = phi0 + 1e-12 * np.random.default_rng(0).standard_normal(phi0.shape)
    return float((fn(img, init=noisy, backend="numpy", **kw) == ref_mask).mean())


@pytest.mark.parametrize("kw", [{}, {"alpha": -1.0, "dt": 2.0, "mu": 0.1, "lambda_": 3.0, "sigma": 0.8,
                                     "epsilon": 1.2, "max_iter": 120, "iter_inner": 4}])
def test_drlse_double_well_backends_agree_to_rounding(kw):
    img, _, box = _ramp_image(seed=2)
    if kw.get("alpha", 1.5) < 0:
        box = np.zeros_like(box)
        box[26:38, 26:38] = True
    short = {**kw, "max_iter": 5, "iter_refine": 0}
    a, b = _both(drlse, img, init=box, **short)
    np.testing.assert_allclose(a.phi, b.phi, rtol=0, atol=1e-12)
    a, b = _both(drlse, img, init=box, **kw)
    floor = _self_agreement(drlse, img, binary_step(box, 2.0), b.mask, **kw)
    assert (a.mask == b.mask).mean() >= floor


@pytest.mark.parametrize("fn, c0, kw", [(rsf, 2.0, {}), (lic, 1.0, {"max_iter": 200}), (l2s, None, {})],
                         ids=["li", "lic", "l2s"])
def test_arctan_heaviside_backends_agree_to_rounding(fn, c0, kw):
    """The compiled arctangent (1 ulp from the C library's) against NumPy's own: phi to rounding
    after 5 iterations (measured: 3e-12 for RSF with |phi| ~ 260, 0 for LIC, 1e-14 for L2S), the
    masks at the end at least as well as NumPy agrees with itself from a 1e-12-perturbed start."""
    from lsbench.levelset.init import signed_distance

    img, _, box = _ramp_image()
    a, b = _both(fn, img, init=box, **{**kw, "max_iter": 5})
    np.testing.assert_allclose(a.phi, b.phi, rtol=0, atol=1e-10)
    a, b = _both(fn, img, init=box, **kw)
    phi0 = signed_distance(box) if c0 is None else binary_step(box, c0)
    floor = _self_agreement(fn, img, phi0, b.mask, **kw)
    assert (a.mask == b.mask).mean() >= floor


def test_lic_fft_convolutions_agree_to_rounding():
    img, _, box = _ramp_image()
    kw = {"sigma": 6.0, "iter_inner": 5}  # sigma >= 5: the NumPy backend convolves by FFT
    a, b = _both(lic, img, init=box, max_iter=5, **kw)
    np.testing.assert_allclose(a.phi, b.phi, rtol=0, atol=1e-10)  # the FFT rounds energies of order 255^2
    a, b = _both(lic, img, init=box, max_iter=100, **kw)
    floor = _self_agreement(lic, img, binary_step(box, 1.0), b.mask, max_iter=100, **kw)
    assert (a.mask == b.mask).mean() >= min(floor, 0.999)


# -- the batched Chan-Vese ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_chan_vese_batch_equals_one_image_at_a_time(dtype):
    images = [_ramp_image(48, seed=s)[0].astype(dtype) for s in range(5)]
    inits = [_ramp_image(48, seed=s)[1] for s in range(5)]
    for init, tol in (("checkerboard", 2e-3), (inits, 1e-2)):
        kw = {"mu": 0.3, "lambda1": 1.5, "nu": 0.02, "max_iter": 300, "tol": tol}
        batch = chan_vese_batch(images, init=init, backend="numba", **kw)
        per_image = chan_vese_batch(images, init=init, backend="numpy", **kw)
        for k, (a, b) in enumerate(zip(batch, per_image, strict=True)):
            single = chan_vese(images[k], init=init if isinstance(init, str) else init[k], return_result=True,
                               track_energy=False, backend="numpy", **kw)
            np.testing.assert_array_equal(a.phi, b.phi)
            np.testing.assert_array_equal(a.phi, single.phi)
            assert (a.n_iter, a.converged) == (single.n_iter, single.converged)
    assert len({r.n_iter for r in batch}) > 1  # each image stopped on its own


@pytest.mark.parametrize(("images", "kw", "match"), [
    ([], {}, "empty"),
    ([np.zeros((8, 8)), np.zeros((9, 8))], {}, "one size"),
    ([np.zeros((8, 8))] * 2, {"init": [np.zeros((8, 8), bool)]}, "2 per-image inits"),
    ([np.zeros((8, 8))] * 2, {"init": np.zeros((8, 8))}, "preset name or one init per image"),
    ([np.zeros((8, 8))] * 2, {"backend": "gpu"}, "backend must be one of"),
    ([np.zeros((8, 8))] * 2, {"max_iter": 0}, "max_iter"),
])
def test_chan_vese_batch_bad_input(images, kw, match):
    with pytest.raises(ValueError, match=match):
        chan_vese_batch(images, **kw)


# -- threads and the backend switch ------------------------------------------------------------------
@pytest.mark.parametrize("threads", ["1", "3"])
def test_compiled_kernels_do_not_depend_on_the_thread_count(monkeypatch, threads):
    img, _, box = _ramp_image(168)  # >= 160^2 pixels: rows in parallel
    monkeypatch.setenv("LSBENCH_NUM_THREADS", threads)
    assert num_threads(img.size) == int(threads)
    for fn, kw in ((drlse, {"max_iter": 10, "iter_refine": 0}), (rsf, {"max_iter": 10}), (lic, {"max_iter": 20}),
                   (l2s, {"max_iter": 10})):
        a, b = _both(fn, img, init=box, same_arctan=True, **kw)
        if fn in (drlse, l2s):  # the double well's sine; L2S's fits summed in another order than BLAS's
            np.testing.assert_allclose(a.phi, b.phi, rtol=0, atol=1e-12)
        else:
            np.testing.assert_array_equal(a.phi, b.phi)
        with monkeypatch.context() as one:  # and bit for bit the one-thread result
            one.setenv("LSBENCH_NUM_THREADS", "1")
            np.testing.assert_array_equal(fn(img, init=box, return_result=True, track_energy=False, backend="numba",
                                             **kw).phi, a.phi)


def test_auto_is_numba_when_it_imports():
    assert resolve_backend("auto") == "numba"
    assert resolve_backend("numpy") == "numpy"
    assert BACKENDS == ("auto", "numpy", "numba")


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("backend", ["cuda", "NumPy", None, 1])
def test_unknown_backend_is_a_one_line_error_naming_the_choices(name, backend):
    with pytest.raises(ValueError, match=r"^backend must be one of 'auto', 'numpy', 'numba'; got .*$"):
        FUNCTIONS[name](np.zeros((8, 8)), backend=backend)


def test_numba_backend_without_numba_names_the_choices(monkeypatch):
    import lsbench.classic.backend as backend_module

    monkeypatch.setitem(sys.modules, "numba", None)  # import numba now raises ImportError
    backend_module._numba_importable.cache_clear()
    try:
        with pytest.raises(ValueError, match="needs numba.*'auto', 'numpy', 'numba'") as info:
            chan_vese(np.zeros((8, 8)), backend="numba")
        assert "\n" not in str(info.value)
        assert resolve_backend("auto") == "numpy"
    finally:
        backend_module._numba_importable.cache_clear()


def test_numpy_backend_works_without_numba():
    """In a fresh interpreter where ``import numba`` fails: every classic method runs with
    ``backend="numpy"`` and ``"auto"`` (which falls back to NumPy), and the registered methods say
    they ran on NumPy."""
    code = textwrap.dedent("""
        import json, sys
        sys.modules["numba"] = None  # hide numba: importing it raises ImportError
        import numpy as np
        from lsbench.classic import chan_vese, drlse, l2s, lic, rsf
        from lsbench.registry import METHODS
        img = np.zeros((24, 24)); img[6:18, 6:18] = 1.0
        out = {}
        for fn in (chan_vese, drlse, rsf, lic, l2s):
            a = fn(img, max_iter=5, backend="numpy")
            b = fn(img, max_iter=5, backend="auto")
            out[fn.__name__] = bool(np.array_equal(a, b))
        out["registered"] = [METHODS.build(n).backend for n in ("cv", "drlse", "li", "lic", "l2s")]
        out["numba_loaded"] = any(m == "numba" or m.startswith("numba.") for m in sys.modules
                                  if sys.modules[m] is not None)
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out.pop("registered") == ["numpy"] * 5
    assert out.pop("numba_loaded") is False
    assert all(out.values()), out


def test_threads_start_at_160_squared_pixels_and_default_to_the_cpu_count_capped_at_4(monkeypatch):
    # written for the mutation run (reports/mutation.md): the documented threshold (docs/performance.md)
    # and the default when $LSBENCH_NUM_THREADS is unset, also when the CPU count is unknown
    monkeypatch.setenv("LSBENCH_NUM_THREADS", "3")
    assert num_threads(160 * 160) == 3 and num_threads(160 * 160 - 1) == 1
    monkeypatch.delenv("LSBENCH_NUM_THREADS")
    monkeypatch.setattr("lsbench.classic.backend.free_cores", lambda: 64)  # a quiet machine (tests/test_cpu.py: a busy one)
    for cpus, expected in [(None, 1), (1, 1), (2, 2), (8, 4)]:
        monkeypatch.setattr("os.cpu_count", lambda cpus=cpus: cpus)
        assert num_threads(10**6) == expected, cpus


@pytest.mark.parametrize("shape", [(64, 64), (21, 9)])
def test_compiled_l2s_in_chunks_is_one_run(shape):
    """The compiled L2S swaps its level-set planes each iteration: odd and even chunks (one call of
    7 iterations, 3 + 4, seven of 1) leave the same phi and fits, bit for bit, and each call's count
    of pixels that changed side is NumPy's count between the last two level sets."""
    from lsbench.classic.l2s import _CompiledL2S

    img, _, box = _ramp_image(shape[0])
    img = np.ascontiguousarray(img[:, :shape[1]]) * 255.0
    phi0 = np.where(box[:, :shape[1]], 2.0, -2.0)
    kw = {"nu": 0.2, "rho": 0.3, "lambda1": 1.0, "lambda2": 1.0, "epsilon": 2.0, "cfl": 0.8, "reinit_dt": 0.5,
          "tol": 0.0, "patience": 20}
    runs = []
    for chunks in ((7,), (3, 4), (1,) * 7):
        stepper = _CompiledL2S(phi0, img, 2, **kw)
        for n in chunks:
            before = stepper.phi.copy()
            assert stepper.advance(n) == (n, False)
            if n == 1:
                assert stepper._state[1] == int(((stepper.phi >= 0) != (before >= 0)).sum())
        runs.append((stepper.phi.copy(), *stepper.fits()))
    for other in runs[1:]:
        for a, b in zip(runs[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize(("method", "kw"), [("cv", {"max_iter": 7}), ("drlse", {"max_iter": 7, "iter_inner": 3, "iter_refine": 2}),
                                             ("li", {"max_iter": 7}), ("lic", {"max_iter": 3}), ("l2s", {"max_iter": 7, "tol": 0})])
def test_tracking_the_energy_does_not_change_the_run(method, kw, backend):
    """With energies tracked the methods step one iteration at a time; without, they hand the kernel
    all the steps of a stage at once. Both report the same phi, bit for bit, and the same iteration
    count (a fast path that miscounted its steps passed every other test)."""
    img, _, _ = _ramp_image(40, seed=2)
    fast = FUNCTIONS[method](img, return_result=True, track_energy=False, backend=backend, **kw)
    stepwise = FUNCTIONS[method](img, return_result=True, track_energy=True, backend=backend, **kw)
    assert fast.n_iter == stepwise.n_iter == stepwise.energies.size > 0 and fast.energies.size == 0
    np.testing.assert_array_equal(fast.phi, stepwise.phi)

@pytest.mark.parametrize("method", ["chan_vese", "drlse", "rsf or lic", "l2s"])
def test_compiled_kernels_stay_in_bounds(method, tmp_path):
    """numba indexes without bounds checks: a kernel that reads or writes one row or column off (or
    through a slice of the wrong length) touches a neighbour's memory silently, and its results may
    still agree with NumPy's. This runs the method's tests above again with numba's bounds checks on
    (``NUMBA_BOUNDSCHECK=1``, every kernel compiled afresh in an empty cache), where such an index
    raises ``IndexError``. (Found by mutation: Chan–Vese's reduction slices with a wrong end passed
    every test, as its writes stayed in place.)"""
    if os.environ.get("NUMBA_BOUNDSCHECK") == "1":
        pytest.skip("this run already checks bounds")
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m",
                          "not slow and not bench", "-k", f"({method}) and not stay_in_bounds", __file__],
                         cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
                         timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1], run.stdout[-500:]


def test_kernels_are_cached_in_numba_cache_dir_when_it_is_set(tmp_path):
    """``NUMBA_CACHE_DIR`` decides where numba caches compiled code; the package's own cache locator
    (which makes the cache depend on all its sources) honours it too, so that a read-only install
    or an isolated run (the bounds check above) gets its kernels there, compiled afresh."""
    code = textwrap.dedent("""
        import numpy as np
        from lsbench.classic import drlse
        from lsbench.classic.compiled import _package_stamp, drlse as kernels
        drlse(np.ones((12, 12)), max_iter=1, backend="numba")
        locator = kernels.drlse_steps._cache._impl.locator  # numba's cache internals, read only here
        print(locator.get_cache_path(), locator.get_source_stamp() == _package_stamp())
    """)
    run = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path)), check=True,
                         cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=600)
    path, stamped = run.stdout.strip().rsplit(" ", 1)
    assert Path(path).is_relative_to(tmp_path) and stamped == "True", run.stdout  # kept fresh by all the sources
    cached = {p.name.split("-")[0] for p in tmp_path.rglob("*.nbi")}
    assert "drlse.drlse_steps" in cached, sorted(cached)

"""The performance suite of issues 8 and 17 (`make bench`): every figure of reports/performance.md.

Each benchmark records what the report needs in ``benchmark.extra_info`` (``table``, the image
side, the implementation, how many images one timed call processes, mask agreement); the report
is written from the pytest-benchmark JSON by ``python -m lsbench.perf`` (see the Makefile). All
timings are wall-clock (``time.perf_counter``); per-image figures of batched calls are the call's
time divided by its number of images, and say so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from skimage import data, transform
from skimage.segmentation import chan_vese as sk_chan_vese

from lsbench.classic.chan_vese import chan_vese
from lsbench.registry import METHODS

pytestmark = pytest.mark.bench

CV_ITER = 200  # the Chan-Vese protocol: 200 iterations, tol 0
CLASSIC = ("drlse", "li", "lic", "l2s")
SCALING_SIDES = (64, 128, 256, 512, 1024)
SCALING_ITER = 20
TORCH_THREADS = 1  # the registered *-torch methods' default (lsbench.torchclassic._batch.TorchThreads)
_FLOORS: dict[str, list[float]] = {}
_PREDS: dict[tuple[str, str, int], list] = {}


def _record(benchmark, **info):
    benchmark.extra_info.update(info)


# -- Chan-Vese (NumPy) against scikit-image -------------------------------------------------------------
_CAMERA: dict[int, np.ndarray] = {}
_SK_MASKS: dict[int, np.ndarray] = {}


def _camera(side: int) -> np.ndarray:
    if side not in _CAMERA:
        _CAMERA[side] = transform.resize(data.camera(), (side, side), anti_aliasing=True)  # float64 in [0, 1]
    return _CAMERA[side]


def _skimage_mask(side: int) -> np.ndarray:
    if side not in _SK_MASKS:
        _SK_MASKS[side] = sk_chan_vese(_camera(side), mu=0.25, dt=0.5, tol=0, max_num_iter=CV_ITER)
    return _SK_MASKS[side]


_SK_PHI: dict[int, np.ndarray] = {}


def _skimage_phi(side: int) -> np.ndarray:
    if side not in _SK_PHI:
        _SK_PHI[side] = sk_chan_vese(_camera(side), mu=0.25, dt=0.5, tol=0, max_num_iter=CV_ITER, extended_output=True)[1]
    return _SK_PHI[side]


@pytest.mark.parametrize("impl", ["skimage", "numpy", "numba", "numba-1-thread"])
@pytest.mark.parametrize("side", [128, 256, 512])
def test_chan_vese_against_scikit_image(benchmark, side, impl, monkeypatch):
    img = _camera(side)
    if impl == "skimage":
        def fn():
            return sk_chan_vese(img, mu=0.25, dt=0.5, tol=0, max_num_iter=CV_ITER)
    else:
        backend = impl.split("-")[0]
        if impl == "numba-1-thread":
            monkeypatch.setenv("LSBENCH_NUM_THREADS", "1")

        def fn():
            return chan_vese(img, mu=0.25, dt=0.5, tol=0, max_iter=CV_ITER, backend=backend)
    benchmark.group = f"chan_vese {side}x{side}, {CV_ITER} iterations"
    mask, used = _pedantic_threads(benchmark, fn, rounds={128: 7, 256: 5, 512: 3}[side], warmup_rounds=1,
                                   iterations=1)
    identical = bool(np.array_equal(mask, _skimage_mask(side)))
    info = {}
    if impl != "skimage":
        res = chan_vese(img, mu=0.25, dt=0.5, tol=0, max_iter=CV_ITER, backend=impl.split("-")[0], return_result=True,
                        track_energy=False)
        info["phi_max_abs_diff"] = float(np.max(np.abs(res.phi - _skimage_phi(side))))
    threads = 1 if impl in ("skimage", "numpy") else used
    _record(benchmark, table="cv_skimage", side=side, impl=impl, images=1, iterations=CV_ITER, dtype="float64",
            input="skimage.data.camera() resized", identical_masks=identical, threads=threads, **info)
    assert identical


def _pedantic_threads(benchmark, fn, **kwargs):
    """``benchmark.pedantic(fn, **kwargs)``, and the threads the compiled kernels chose during it
    (:func:`lsbench.classic.backend.thread_choices`: the default follows the load image by image):
    ``2``, or ``"2 (14 calls), 1 (2)"`` when it changed; 1 when no compiled kernel ran."""
    from lsbench.classic.backend import thread_choices

    thread_choices(reset=True)
    result = benchmark.pedantic(fn, **kwargs)
    counts = sorted(thread_choices(reset=True).items(), key=lambda kv: (-kv[1], -kv[0]))
    if len(counts) <= 1:
        return result, counts[0][0] if counts else 1
    (most, calls), *rest = counts
    return result, ", ".join([f"{most} ({calls} calls)", *(f"{t} ({n})" for t, n in rest)])


# -- batched Chan-Vese (numba, torch) against the scikit-image loop, 32 images of 128 x 128 ------------------
_BATCH_SK: list[np.ndarray] = []


def _batch_images(synthetic_test) -> list[np.ndarray]:
    return [synthetic_test[i].image for i in range(0, 352, 11)][:32]


@pytest.mark.parametrize("impl", ["skimage-loop", "numpy-loop", "numba-batch", "torch-compiled", "torch-eager"])
def test_chan_vese_batch_of_32_throughput(benchmark, impl, synthetic_test):
    from lsbench.classic.chan_vese import chan_vese_batch as numba_batch

    images = _batch_images(synthetic_test)
    if not _BATCH_SK:
        _BATCH_SK.extend(sk_chan_vese(im, tol=0, max_num_iter=CV_ITER) for im in images)
    threads = 1
    if impl == "skimage-loop":
        def fn():
            return [sk_chan_vese(im, tol=0, max_num_iter=CV_ITER) for im in images]
    elif impl == "numpy-loop":
        def fn():
            return [chan_vese(im, tol=0, max_iter=CV_ITER, backend="numpy") for im in images]
    elif impl == "numba-batch":
        numba_batch(images[:2], tol=0, max_iter=3, backend="numba")  # load the kernel outside the timing

        def fn():
            return [r.mask for r in numba_batch(images, tol=0, max_iter=CV_ITER, backend="numba")]
    else:
        from lsbench.torchclassic import chan_vese_batch
        from lsbench.torchclassic._batch import TorchThreads

        compiled = impl == "torch-compiled"
        batch = TorchThreads(chan_vese_batch, TORCH_THREADS)
        threads = TORCH_THREADS
        batch(images[:2], tol=0, max_iter=3, compile=compiled)  # compile outside the timing

        def fn():
            return [r.mask for r in batch(images, tol=0, max_iter=CV_ITER, compile=compiled)]
    benchmark.group = "chan_vese, 32 images of 128x128, per batch"
    rounds = {"skimage-loop": 2, "numpy-loop": 2, "numba-batch": 5, "torch-compiled": 5, "torch-eager": 1}[impl]
    masks, used = _pedantic_threads(benchmark, fn, rounds=rounds, iterations=1)
    threads = used if impl == "numba-batch" else threads
    # with lambda1 == lambda2 the model cannot tell a partition from its complement, and from the
    # checkerboard which phase ends up phi > 0 is decided by rounding: compare partitions
    agree = [float((m == r).mean()) for m, r in zip(masks, _BATCH_SK, strict=True)]
    partition = [max(a, 1.0 - a) for a in agree]
    _record(benchmark, table="cv_batch", impl=impl, images=len(images), side=128, iterations=CV_ITER,
            dtype="float32", input="32 synthetic test images (float32)",
            agreement_mean=float(np.mean(partition)), agreement_min=float(np.min(partition)),
            agreement_note="partition agreement (a mask or its complement)",
            polarity_flips=int(sum(a < 0.5 for a in agree)), threads=threads,
            device=_device() if impl.startswith("torch") else "cpu")
    assert np.mean(partition) >= 0.99


PAIRED_ROUNDS = 3


def test_chan_vese_batch_paired_with_scikit_image(benchmark, synthetic_test):
    """The batch target's ratio measured side by side in time: each round times the numba batch, the
    scikit-image loop, then the numba batch again, and its ratio is the loop's time over the mean of
    the two batches around it. A load that changes between the two halves of the suite (the
    unpaired rows above run minutes apart) then moves both sides of a ratio alike."""
    from lsbench.classic.chan_vese import chan_vese_batch as numba_batch

    images = _batch_images(synthetic_test)
    numba_batch(images[:2], tol=0, max_iter=3, backend="numba")  # load the kernel outside the timing
    rounds: list[dict[str, float]] = []

    def timed(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    def one_round() -> None:
        before = timed(lambda: numba_batch(images, tol=0, max_iter=CV_ITER, backend="numba"))
        loop = timed(lambda: [sk_chan_vese(im, tol=0, max_num_iter=CV_ITER) for im in images])
        after = timed(lambda: numba_batch(images, tol=0, max_iter=CV_ITER, backend="numba"))
        rounds.append({"skimage_s": loop, "numba_s": (before + after) / 2, "ratio": loop / ((before + after) / 2)})

    benchmark.group = "chan_vese, 32 images of 128x128, paired rounds"
    _, threads = _pedantic_threads(benchmark, one_round, rounds=PAIRED_ROUNDS, iterations=1)
    ratios = [r["ratio"] for r in rounds]
    _record(benchmark, table="cv_batch_paired", impl="numba-batch", images=len(images), side=128,
            iterations=CV_ITER, threads=threads,
            round_ratios=ratios, ratio_median=float(np.median(ratios)),
            skimage_per_image_median=float(np.median([r["skimage_s"] for r in rounds])) / len(images),
            numba_per_image_median=float(np.median([r["numba_s"] for r in rounds])) / len(images))
    assert min(ratios) > 1


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# -- DRLSE, RSF, LIC, L2S: seconds per image, NumPy, numba and torch, 128 and 256 ----------------------------------
@pytest.mark.parametrize("backend", ["numpy", "numba", "torch"])
@pytest.mark.parametrize("side", [128, 256])
@pytest.mark.parametrize("method", CLASSIC)
def test_classic_seconds_per_image(benchmark, method, side, backend, classic_samples):
    samples = classic_samples(side)
    if backend == "torch":
        seg = METHODS.build(f"{method}-torch")
        seg.predict_batch(samples[:1])  # compile outside the timing

        def fn():
            return [p.mask for p in seg.predict_batch(samples)]
    else:
        seg = METHODS.build(method, backend=backend)
        seg(samples[0])  # load the compiled kernels outside the timing

        def fn():
            return [seg(s).mask for s in samples]
    benchmark.group = f"{method} {side}x{side}, {len(samples)} images, registered defaults"
    slow = side == 256 and backend == "numpy" and method == "l2s"
    masks, used = _pedantic_threads(benchmark, fn, rounds=1 if slow else 2, iterations=1)
    _PREDS[(method, backend, side)] = masks
    info = {"table": "classic", "method": method, "backend": backend, "side": side, "images": len(samples),
            "input": "8 synthetic test images, sample initial regions", "params": "registered defaults"}
    if backend == "torch":
        info.update(device=_device(), dtype=seg.params["dtype"], batch=len(samples), threads=TORCH_THREADS)
    else:
        info.update(threads=used)
    ref = _PREDS.get((method, "numpy", side))
    if backend != "numpy" and ref is not None:
        agree = [float((a == b).mean()) for a, b in zip(ref, masks, strict=True)]
        info.update(agreement_mean=float(np.mean(agree)), agreement_min=float(np.min(agree)))
        if side == 256:
            if method not in _FLOORS:
                _FLOORS[method] = _numpy_self_agreement(method, samples, ref)
            floor = _FLOORS[method]
            info.update(numpy_self_agreement_mean=float(np.mean(floor)), numpy_self_agreement_min=float(np.min(floor)),
                        numpy_self_agreement_per_image=floor, agreement_per_image=agree)
    _record(benchmark, **info)


def _numpy_self_agreement(method: str, samples, ref) -> list[float]:
    """Agreement of the NumPy method with itself started from phi0 + 1e-12 noise: how far rounding
    alone moves its masks (the floor any other implementation can be held to)."""
    from lsbench import classic
    from lsbench.levelset.init import binary_step, signed_distance

    fn = {"drlse": classic.drlse, "li": classic.rsf, "lic": classic.lic, "l2s": classic.l2s}[method]
    params = {k: v for k, v in METHODS.get(method).defaults().items() if k not in ("init", "polarity")}
    params["backend"] = "numpy"
    rng = np.random.default_rng(0)
    out = []
    for s, r in zip(samples, ref, strict=True):
        phi0 = signed_distance(s.init) if method == "l2s" else binary_step(s.init, params["c0"])
        mask = fn(s.image, **params, init=phi0 + 1e-12 * rng.standard_normal(phi0.shape))
        out.append(float((mask == r).mean()))
    return out


# -- time against image size, fixed iterations -------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["numpy", "numba", "torch"])
@pytest.mark.parametrize("side", SCALING_SIDES)
@pytest.mark.parametrize("method", ("cv", *CLASSIC))
def test_time_against_image_side(benchmark, method, side, backend, classic_samples, monkeypatch):
    # one thread, so that the compiled kernels' switch to threads at 160^2 does not enter the fit
    monkeypatch.setenv("LSBENCH_NUM_THREADS", "1")
    samples = classic_samples(side)[:2]
    params = {"max_iter": SCALING_ITER} | ({"tol": 0.0} if method in ("cv", "l2s") else {})
    if backend == "torch":
        seg = METHODS.build(f"{method}-torch", **params)

        def fn():
            return seg.predict_batch(samples)
    else:
        seg = METHODS.build(method, backend=backend, **params)

        def fn():
            return [seg(s) for s in samples]
    benchmark.group = f"{method} {backend}, {SCALING_ITER} iterations, by side"
    benchmark.pedantic(fn, rounds=2 if side >= 512 else 3, warmup_rounds=1, iterations=1)
    _record(benchmark, table="scaling", method=method, backend=backend, side=side, images=len(samples),
            iterations=SCALING_ITER, threads=1)


# -- learned methods: images per second at batch 1 and 64 -----------------------------------------------------
@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("method", ["rls", "rls-conv", "fconnet"])
def test_learned_images_per_second(benchmark, method, batch, synthetic_test):
    import torch

    from lsbench.learned.models import build_model
    from lsbench.learned.segmenter import LEARNED_METHODS, LearnedSegmenter, configs_from_params

    config, _ = configs_from_params(method, METHODS.get(method).defaults())
    torch.manual_seed(0)  # throughput does not depend on the weights' values: freshly initialised
    seg = LearnedSegmenter(method, build_model(config), config, {}, torch.device(_device()))
    samples = [synthetic_test[i % len(synthetic_test)] for i in range(batch)]
    benchmark.group = f"learned, batch {batch}"
    benchmark.pedantic(seg.predict_batch, args=(samples,), rounds=20 if batch == 1 else 5, warmup_rounds=2,
                       iterations=1)
    assert method in LEARNED_METHODS
    _record(benchmark, table="learned", method=method, batch=batch, images=batch, side=128,
            input="synthetic test images (128x128, resized by the method as it does)", device=_device())


# -- instance methods (CRLS, Mask R-CNN) on shapes, when registered ----------------------------------------------
_USER_CACHE = os.environ.get("LSBENCH_CACHE")  # read at import, before the tests' autouse fixture replaces it
_INSTANCE = sorted(n for n in METHODS.names() if METHODS.get(n).kind == "instance")


@pytest.mark.parametrize("name", _INSTANCE)
def test_instance_methods_seconds_per_image(benchmark, name, data_root, monkeypatch):
    from lsbench.datasets import load
    from lsbench.datasets.shapes import build_shapes
    from lsbench.harness.runner import MethodRequest, run_benchmark

    if not (data_root / "shapes").exists():
        build_shapes(data_root)
    dataset = load("shapes", root=data_root, split="test")
    # the user's checkpoint cache, not the session's empty one (tests/conftest.py isolates the tests from it)
    if _USER_CACHE is None:
        monkeypatch.delenv("LSBENCH_CACHE", raising=False)
    else:
        monkeypatch.setenv("LSBENCH_CACHE", _USER_CACHE)
    if _cached_detector(name, data_root) is None:  # training it here would take 20-30 minutes
        pytest.skip(f"no cached {name} checkpoint for its defaults; `lsbench train {name} --dataset shapes` first")
    request = MethodRequest(name, {"train_root": str(data_root)})
    result = benchmark.pedantic(lambda: run_benchmark([request], dataset, limit=16, progress=False,
                                                      executor="local", trace_samples=0), rounds=1, iterations=1)
    per = result.per_sample
    ok = per[per["error"].fillna("") == ""]
    _record(benchmark, table="instance", method=name, images=len(per), n_failed=int(len(per) - len(ok)),
            seconds_per_image_median=float(ok["seconds"].median()) if len(ok) else float("nan"),
            input="shapes test split, first 16 images, registered defaults (build and training excluded)")


def _cached_detector(name: str, data_root):
    """The cached checkpoint `lsbench run --methods NAME --dataset shapes` would use, or None."""
    from lsbench.crls.segmenter import configs_from_params, training_data
    from lsbench.learned.weights import cached_checkpoint_path

    params = {**METHODS.get(name).defaults(), "train_root": str(data_root)}
    train_set, _ = training_data("shapes", "train", str(data_root), None)
    config, train_config = configs_from_params(name, params, train_set)
    path = cached_checkpoint_path(name, config, train_config.as_dict(), train_set.fingerprint())
    return path if path.is_file() else None


# -- the whole `make demo` -----------------------------------------------------------------------------------
def test_make_demo_wall_time(benchmark, tmp_path):
    """`make demo`'s command from a fresh dataset root (so it builds the synthetic set, as a fresh
    clone does), in a child process: Chan-Vese on the 360 synthetic test images, Table 2, figures."""
    env = {**os.environ, "LSBENCH_DATA": str(tmp_path / "data")}
    cmd = [sys.executable, "-m", "lsbench.cli", "run", "--methods", "cv", "--dataset", "synthetic", "--split",
           "test", "--out", str(tmp_path / "reports"), "--run-id", "demo", "--no-progress"]

    def run():
        started = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
        assert out.returncode == 0, out.stderr[-2000:]
        return time.perf_counter() - started

    benchmark.group = "make demo"
    benchmark.pedantic(run, rounds=1, iterations=1)
    assert (tmp_path / "reports" / "demo" / "table2.md").is_file()
    _record(benchmark, table="demo", images=360, command="lsbench run --methods cv --dataset synthetic --split test "
                                                         "(make demo), fresh dataset root")

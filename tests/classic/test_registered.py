"""The registered classic contour methods (drlse, li, lic, l2s) end to end in the harness."""

import inspect
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lsbench.classic import drlse, l2s, lic, rsf
from lsbench.datasets import load
from lsbench.harness.runner import MethodRequest, run_benchmark
from lsbench.metrics.binary import f_measure
from lsbench.registry import METHODS

FUNCTIONS = {"drlse": drlse, "li": rsf, "lic": lic, "l2s": l2s}
CALL_ONLY = {"image", "return_result", "iter_callback", "track_energy"}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_registered_defaults_are_the_function_defaults(name):
    fn_defaults = {k: p.default for k, p in inspect.signature(FUNCTIONS[name]).parameters.items()
                   if k not in CALL_ONLY}
    reg = METHODS.get(name).defaults()
    assert reg["init"] == "sample" and fn_defaults.pop("init") == "box"
    reg.pop("init")
    assert reg.pop("polarity", "phi") == "phi"  # the adapter's option (l2s): phi > 0 as is
    assert reg == fn_defaults


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_runs_in_the_harness_from_the_samples_initial_region(name, data_root):
    data = load("synthetic", root=data_root, split="test")
    result = run_benchmark([MethodRequest(name, {"max_iter": 30})], data, limit=2, limit_mode="first", progress=False,
                           warmup=False)
    per = result.per_sample
    assert len(per) == 2 and (per["error"].fillna("") == "").all()
    assert (per["n_iter"] >= 30).all() and per["f_measure"].between(0, 1).all()
    # one (small) step barely moves the contour: the prediction is the sample's initial box
    sample = data[0]
    tiny = {"drlse": {"iter_refine": 0}, "li": {"dt": 1e-6}, "lic": {"dt": 1e-6}, "l2s": {}}[name]
    pred = METHODS.build(name, max_iter=1, **tiny)(sample)
    assert f_measure(pred.mask, sample.init) > 0.9


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_bad_parameters_fail_when_the_method_is_built(name):
    with pytest.raises(ValueError, match="sigma" if name != "l2s" else "degree"):
        METHODS.build(name, **({"sigma": -1.0} if name != "l2s" else {"degree": -1}))


def test_a_sample_without_an_initial_region_starts_from_a_centred_box():
    from lsbench.types import Sample

    img = np.zeros((32, 32), np.float32)
    img[8:24, 8:24] = 1.0
    pred = METHODS.build("l2s", degree=0, max_iter=200)(Sample("x", img))
    truth = img > 0.5
    assert f_measure(pred.mask, truth) > 0.95


def test_building_and_running_them_never_imports_torch():
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from lsbench.registry import METHODS
        from lsbench.types import Sample
        s = Sample("x", np.random.default_rng(0).random((16, 16)).astype("float32"))
        for name in ("drlse", "li", "lic", "l2s"):
            METHODS.build(name, max_iter=3)(s)
        print("torch" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_l2s_from_the_checkerboard_takes_the_phase_in_the_samples_region():
    # like cv: a checkerboard start has no inside, so polarity="sample" takes as the object the
    # phase concentrated in the sample's initial region; polarity="phi" keeps phi > 0 as it is
    from lsbench.types import Sample

    yy, xx = np.mgrid[0:40, 0:40]
    disk = (yy - 22) ** 2 + (xx - 22) ** 2 <= 10**2
    img = np.where(disk, 0.8, 0.2).astype(np.float32)
    plain = l2s(img, init="checkerboard", degree=0)
    assert max(f_measure(plain, disk), f_measure(~plain, disk)) > 0.95  # two phases: disk and ground
    around, corner = np.zeros((40, 40), bool), np.zeros((40, 40), bool)
    around[10:35, 10:35] = True
    corner[:8, :8] = True
    sample = lambda region: Sample("x", img, disk, init=region)  # noqa: E731
    as_is = METHODS.build("l2s", degree=0, init="checkerboard", polarity="phi")
    oriented = METHODS.build("l2s", degree=0, init="checkerboard", polarity="sample")
    np.testing.assert_array_equal(as_is(sample(around)).mask, plain)
    assert f_measure(oriented(sample(around)).mask, disk) > 0.95
    assert f_measure(oriented(sample(corner)).mask, ~disk) > 0.95  # the ground is what lies in the corner
    with pytest.raises(ValueError, match="polarity must be one of 'phi', 'sample', 'border'"):
        METHODS.build("l2s", polarity="inside")

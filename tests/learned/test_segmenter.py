"""The learned methods as registered methods: train-or-load, the harness, throughput, any image."""

import json

import numpy as np
import pytest

from lsbench.datasets import load
from lsbench.harness.runner import MethodRequest, run_benchmark
from lsbench.learned.weights import CheckpointError, cache_dir
from lsbench.registry import METHODS
from lsbench.types import Sample

# small, fast configurations of the three methods (1 epoch on the synthetic train split)
TINY = {
    "rls": {"size": 8, "steps": 2, "epochs": 1, "batch_size": 64, "device": "cpu"},
    "rls-conv": {"size": 16, "kernel_size": 3, "steps": 2, "epochs": 1, "batch_size": 64, "device": "cpu"},
    "fconnet": {"size": 8, "hidden": 16, "epochs": 1, "batch_size": 64, "device": "cpu"},
}


def _tiny(name, data_root, **extra):
    """``TINY[name]`` on the test's data root, allowed to train a missing checkpoint (``train_missing``)."""
    return {**TINY[name], "train_root": str(data_root), "train_missing": True, **extra}


def test_learned_methods_are_registered_with_their_parameters():
    for name in ("rls", "rls-conv", "fconnet"):
        entry = METHODS.get(name)
        assert entry.kind == "binary" and "learned" in entry.tags
        d = entry.defaults()
        assert d["weights"] is None and d["epochs"] > 0 and d["device"] == "auto"
    assert METHODS.get("rls").defaults()["size"] == 64 and METHODS.get("rls").defaults()["steps"] == 5
    assert METHODS.get("rls").defaults()["tie_weights"] is True
    assert METHODS.get("rls-conv").defaults()["size"] is None  # native resolution


def test_trains_once_then_uses_the_cache(data_root, capsys):
    first = METHODS.build("rls", **_tiny("rls", data_root, seed=7))
    err = capsys.readouterr().err
    assert "training one now" in err and "validation F-measure" in err
    cached = sorted(cache_dir().glob("rls-*.pt"))
    assert first.checkpoint_info["path"] in map(str, cached)
    second = METHODS.build("rls", **_tiny("rls", data_root, seed=7))
    assert "training" not in capsys.readouterr().err
    sample = load("synthetic", root=data_root, split="test")[0]
    np.testing.assert_array_equal(first(sample).mask, second(sample).mask)
    info = second.checkpoint_info
    assert info["data"]["fingerprint"] == load("synthetic", root=data_root, split="train").fingerprint()
    assert info["train_config"]["seed"] == 7 and info["val_metrics"]["f_measure"] is not None
    assert len(info["data"]["val_groups"]) == 2  # two of the ten train scenes held out
    # another training config is another checkpoint
    METHODS.build("rls", **_tiny("rls", data_root, seed=8))
    assert "training one now" in capsys.readouterr().err


def test_explicit_weights_and_clear_errors(data_root, tmp_path):
    seg = METHODS.build("rls", **_tiny("rls", data_root))
    path = seg.checkpoint_info["path"]
    again = METHODS.build("rls", **_tiny("rls", data_root, weights=path, epochs=99))  # training params ignored
    assert again.checkpoint_info["path"] == path
    with pytest.raises(CheckpointError, match="steps: checkpoint 2, requested 3"):
        METHODS.build("rls", **_tiny("rls", data_root, weights=path, steps=3))
    with pytest.raises(CheckpointError, match="holds a 'rls' model, not 'fconnet'"):
        METHODS.build("fconnet", **_tiny("fconnet", data_root, weights=path))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="corrupt"):
        METHODS.build("rls", **_tiny("rls", data_root, weights=str(bad)))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        METHODS.build("rls", **_tiny("rls", data_root, weights=str(tmp_path / "none.pt")))


def test_a_corrupt_cached_checkpoint_is_replaced(data_root, capsys):
    seg = METHODS.build("fconnet", **_tiny("fconnet", data_root, seed=3))
    capsys.readouterr()
    with open(seg.checkpoint_info["path"], "r+b") as fh:
        fh.truncate(200)
    METHODS.build("fconnet", **_tiny("fconnet", data_root, seed=3))
    err = capsys.readouterr().err
    assert "ignoring the cached checkpoint" in err and "training one now" in err


def test_harness_runs_every_learned_method_and_records_throughput(data_root, tmp_path):
    ds = load("synthetic", root=data_root, split="test")
    requests = [MethodRequest(n, _tiny(n, data_root)) for n in ("rls", "rls-conv", "fconnet")]
    res = run_benchmark(requests, ds, out=tmp_path, run_id="r", limit=3, progress=False, throughput=True)
    per = res.per_sample
    assert len(per) == 9 and (per["error"] == "").all()
    assert per["f_measure"].between(0, 1).all() and (per["height"] == 128).all()
    assert list(per[per.method == "rls"]["n_iter"]) == [2, 2, 2]
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    for name in ("rls", "rls-conv", "fconnet"):
        tp = cfg["throughput"][name]
        assert tp["batch_size"] == 64 and tp["images_per_second"] > 0 and tp["seconds_per_batch"] > 0
    assert "cv" not in cfg["throughput"]
    table = (tmp_path / "r" / "table2.md").read_text()
    assert "Batched throughput" in table and "| `rls` | 64 |" in table


@pytest.fixture(scope="module")
def native_conv(data_root, tmp_path_factory):
    """rls-conv at native size with init="sample", trained briefly on 12 train images."""
    import torch

    from lsbench.datasets.base import Subset
    from lsbench.learned.segmenter import configs_from_params, train_and_save

    params = {**METHODS.get("rls-conv").defaults(), **_tiny("rls-conv", data_root, size=None, init="sample")}
    config, train = configs_from_params("rls-conv", params)
    subset = Subset(load("synthetic", root=data_root, split="train"), range(0, 360, 30))
    path = tmp_path_factory.mktemp("ckpt") / "conv.pt"
    train_and_save("rls-conv", config, train, subset, path, device=torch.device("cpu"), progress=False)
    return METHODS.build("rls-conv", **{**_tiny("rls-conv", data_root, size=None, init="sample"),
                                        "weights": str(path)})


def test_images_of_any_size_and_channels(data_root, native_conv):
    seg = METHODS.build("rls", **_tiny("rls", data_root))
    rng = np.random.default_rng(0)
    samples = [Sample("rgb", rng.random((40, 50, 3)).astype(np.float32)),
               Sample("one-channel", rng.random((33, 21, 1)).astype(np.float32)),
               Sample("grey-uint8", rng.integers(0, 255, (70, 90)).astype(np.uint8)),
               Sample("flat", np.zeros((12, 12), np.float32))]
    for s in (seg, native_conv):
        preds = s.predict_batch(samples)
        assert [p.mask.shape for p in preds] == [(40, 50), (33, 21), (70, 90), (12, 12)]
        assert all(p.mask.dtype == bool for p in preds)
        # batched and one-by-one predictions agree
        for p, sample in zip(preds, samples, strict=True):
            np.testing.assert_array_equal(p.mask, s(sample).mask)
    with pytest.raises(ValueError, match="NaN or infinite"):
        seg(Sample("nan", np.full((10, 10), np.nan, np.float32)))
    with pytest.raises(ValueError, match="at least 3 x 3"):
        seg(Sample("tiny", np.zeros((2, 8), np.float32)))


def test_sample_init_uses_the_samples_initial_region(data_root, native_conv):
    sample = load("synthetic", root=data_root, split="test")[0]
    assert native_conv.uses_sample_init
    no_init = Sample(sample.id, sample.image, mask=sample.mask)  # falls back to the disks phi_0
    assert native_conv(no_init).mask.shape == sample.shape and native_conv(sample).mask.shape == sample.shape
    moved = Sample(sample.id, sample.image, mask=sample.mask, init=np.roll(sample.init, 40, axis=1))
    assert not np.array_equal(native_conv(moved).mask, native_conv(sample).mask)


@pytest.mark.parametrize(("params", "needle"), [({"gru": "lstm"}, "gru must be one of"),
                                                ({"size": 2}, "size must be an integer >= 3"),
                                                ({"device": "tpu"}, "device must be"),
                                                ({"epochs": 0}, "epochs must be a positive integer"),
                                                ({"init": "noise"}, "init must be one of")])
def test_bad_parameters_fail_before_any_training(data_root, params, needle, capsys):
    with pytest.raises(ValueError, match=needle):
        METHODS.build("rls", **_tiny("rls", data_root, **params))
    assert "training" not in capsys.readouterr().err

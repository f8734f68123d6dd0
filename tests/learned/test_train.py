"""Training: scene-wise validation split, determinism, loss going down, model selection."""

import numpy as np
import pytest
import torch

from lsbench.datasets import load
from lsbench.learned.models import model_config
from lsbench.learned.train import TrainConfig, split_by_scene, train_model
from lsbench.types import Sample


def _toy_samples(n_scenes=6, per_scene=4, size=12, seed=0):
    """Bright disks on a dark ground; scene = disk radius, family alternates."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    out = []
    for s in range(n_scenes):
        for v in range(per_scene):
            cy, cx = rng.uniform(4, size - 4, 2)
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= (2 + s % 3) ** 2
            img = np.clip(np.where(mask, 0.8, 0.2) + rng.normal(0, 0.05, mask.shape), 0, 1).astype(np.float32)
            out.append(Sample(f"s{s}-{v}", img, mask=mask, init=np.ones_like(mask),
                              meta={"scene": f"s{s}", "family": f"f{s % 2}"}))
    return out


def test_split_by_scene_never_leaks_and_keeps_every_family():
    samples = _toy_samples(n_scenes=6)
    for seed in range(5):
        train, val, held = split_by_scene(samples, 0.34, seed)
        assert len(held) == 2 and sorted(train + val) == list(range(len(samples)))
        train_scenes = {samples[i].meta["scene"] for i in train}
        val_scenes = {samples[i].meta["scene"] for i in val}
        assert not train_scenes & val_scenes and val_scenes == set(held)
        assert {samples[i].meta["family"] for i in train} == {"f0", "f1"}
    assert split_by_scene(samples, 0.34, 3) == split_by_scene(samples, 0.34, 3)
    assert split_by_scene(samples, 0.0, 0)[1] == []
    no_meta = [Sample(f"x{i}", s.image, mask=s.mask) for i, s in enumerate(samples[:5])]
    train, val, held = split_by_scene(no_meta, 0.4, 0)
    assert len(val) == 2 and all(h.startswith("sample:") for h in held)


def test_split_of_the_synthetic_train_set_is_by_scene(data_root):
    ds = load("synthetic", root=data_root, split="train")
    samples = [ds[i] for i in range(0, len(ds), 9)]  # 4 variants of each of the 10 scenes
    train, val, held = split_by_scene(samples, 0.2, 0)
    assert len(held) == 2 and len(val) == 8
    assert not {samples[i].meta["scene"] for i in train} & set(held)


@pytest.mark.parametrize("arch,kwargs", [("rls", {"kind": "dense", "steps": 2}),
                                         ("rls", {"kind": "conv", "kernel_size": 3, "init": "sample"}),
                                         ("fconnet", {"hidden": 16})])
def test_training_is_deterministic_and_lowers_the_loss(arch, kwargs):
    samples = _toy_samples()
    size = None if kwargs.get("kind") == "conv" else 12
    config = model_config(arch, size, **kwargs)
    tc = TrainConfig(epochs=6, batch_size=4, lr=3e-3, seed=1, val_fraction=0.34)
    a = train_model(config, tc, samples, progress=False)
    b = train_model(config, tc, samples, progress=False)
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    assert a.history == [{**h, "seconds": a.history[i]["seconds"]} for i, h in enumerate(b.history)]
    losses = [h["loss"] for h in a.history]
    assert losses[-1] < losses[0]
    assert a.n_train == 16 and a.n_val == 8 and len(a.val_groups) == 2
    best = max(h["val_f_measure"] for h in a.history)
    assert a.val_metrics["f_measure"] == best  # the best validation epoch is kept
    other = train_model(config, TrainConfig(epochs=1, batch_size=4, seed=2), samples, progress=False)
    assert any(not torch.equal(v, other.model.state_dict()[k]) for k, v in a.model.state_dict().items())


def test_deep_supervision_and_no_validation():
    samples = _toy_samples(n_scenes=2, per_scene=3)
    config = model_config("rls", 12, kind="dense", steps=3)
    res = train_model(config, TrainConfig(epochs=2, batch_size=3, val_fraction=0.0, deep_supervision=True,
                                          augment=False), samples, progress=False)
    assert res.n_val == 0 and res.val_metrics["f_measure"] is None and res.val_metrics["epoch"] == 2
    assert all("val_f_measure" not in h for h in res.history)


@pytest.mark.parametrize(("kwargs", "needle"), [({"epochs": 0}, "epochs"), ({"lr": 0.0}, "lr must be a positive"),
                                                ({"val_fraction": 1.0}, "val_fraction"), ({"seed": -1}, "seed"),
                                                ({"batch_size": 2.5}, "batch_size")])
def test_bad_train_config(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        TrainConfig(**kwargs)


def test_training_needs_masks_and_one_size_for_native_models():
    samples = _toy_samples(n_scenes=2, per_scene=2)
    config = model_config("rls", None, kind="conv", kernel_size=3)
    mixed = [*samples, Sample("big", np.zeros((14, 14), np.float32), mask=np.zeros((14, 14), bool),
                              meta={"scene": "s0"})]
    with pytest.raises(ValueError, match="different sizes"):
        train_model(config, TrainConfig(epochs=1), mixed, progress=False)
    unlabelled = [Sample(s.id, s.image, meta=s.meta) for s in samples]
    with pytest.raises(ValueError, match="no ground-truth mask"):
        train_model(model_config("fconnet", 12), TrainConfig(epochs=1), unlabelled, progress=False)

"""rls-chapter (the chapter's RLS: random phi_0, uniform weights, no ground-truth input) and the
rls-untrained baseline (rls's initial weights, never trained)."""

import numpy as np
import pytest
import torch

from lsbench.datasets import load
from lsbench.learned.data import image_tensor
from lsbench.learned.maps import mkl_packed_gemm_available
from lsbench.learned.models import build_model
from lsbench.learned.rls import RLS, initial_phi
from lsbench.learned.segmenter import configs_from_params
from lsbench.learned.train import initial_model
from lsbench.learned.weights import cache_dir, save_checkpoint
from lsbench.registry import METHODS
from lsbench.types import Sample

TINY = {"size": 8, "steps": 2, "device": "cpu"}


# -- rls-chapter ----------------------------------------------------------------------------------
def test_rls_chapter_is_the_chapters_setting_with_rls_budget():
    chapter, rls = METHODS.get("rls-chapter").defaults(), METHODS.get("rls").defaults()
    assert "learned" in METHODS.get("rls-chapter").tags and METHODS.get("rls-chapter").kind == "binary"
    # the chapter: random phi_0, the official uniform weights, arctan H_eps (eps = 1), dense 64 x 64, T = 5, tied
    assert chapter["init"] == "random" and chapter["weight_init"] == "uniform"
    assert chapter["heaviside"] == "arctan" and chapter["eps"] == 1.0 and chapter["normalize"] is False
    assert (chapter["size"], chapter["steps"], chapter["tie_weights"], chapter["gru"]) == (64, 5, True, "rls")
    # the same budget as rls; no remedy that needs phi_0 to carry the object's polarity
    assert (chapter["epochs"], chapter["batch_size"]) == (rls["epochs"], rls["batch_size"])
    assert chapter["invert"] is False and chapter["shift"] == 0
    # every other parameter is rls's, with rls's default (written once, in rls's signature)
    assert list(chapter) == list(rls)
    changed = {k for k in rls if chapter[k] != rls[k]}
    assert changed == {"init", "heaviside", "normalize", "weight_init", "lr", "shift", "invert"}


def test_rls_chapter_refuses_the_sample_init_before_any_work(capsys):
    with pytest.raises(ValueError, match="rls-chapter takes no input derived from the ground truth.*not 'sample'"):
        METHODS.build("rls-chapter", **TINY, init="sample", epochs=1)
    assert "training" not in capsys.readouterr().err


def _untrained_checkpoint(tmp_path, method, **params):
    values = {**METHODS.get(method).defaults(), **params}
    config, train = configs_from_params(method, values)
    torch.manual_seed(3)
    path = save_checkpoint(tmp_path / f"{method}.pt", method=method, model_config=config,
                           train_config=train.as_dict(), state_dict=build_model(config).state_dict(), data={},
                           val_metrics={})
    return str(path)


@pytest.mark.parametrize("init", ["random", "disks"])
def test_rls_chapter_never_reads_the_samples_initial_region(data_root, tmp_path, init):
    weights = _untrained_checkpoint(tmp_path, "rls-chapter", size=16, steps=2, init=init)
    seg = METHODS.build("rls-chapter", size=16, steps=2, init=init, device="cpu", weights=weights)
    assert not seg.uses_sample_init and seg.model_config["init"] == init
    sample = load("synthetic", root=data_root, split="test")[0]
    moved = Sample(sample.id, sample.image, mask=sample.mask, init=np.roll(sample.init, 40, axis=1))
    bare = Sample(sample.id, sample.image, mask=sample.mask)
    masks = [seg(s).mask for s in (sample, moved, bare)]
    np.testing.assert_array_equal(masks[0], masks[1])
    np.testing.assert_array_equal(masks[0], masks[2])
    # config.json records the checkpoint and that phi_0 is not the sample's region
    described = seg.describe()
    assert described["checkpoint"] == weights and described["phi0_from_sample_init"] is False
    assert described["params"] == sum(p.numel() for p in seg.model.parameters()) and "untrained" not in described
    # the model starts from the preset: the prediction is that of RLS(phi0 = initial_phi(init))
    model = seg.model
    image = image_tensor([sample], 16)
    with torch.no_grad():
        want = model(image, torch.as_tensor(initial_phi(init, (16, 16)), dtype=torch.float32)[None])
        got = model(image)
    torch.testing.assert_close(got, want)


def test_random_phi0_does_not_depend_on_the_batch():
    torch.manual_seed(0)
    model = RLS(8, 8, steps=2, init="random").eval()
    images = torch.rand(3, 8, 8)
    with torch.no_grad():
        together = model(images)
        alone = torch.cat([model(images[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone)


# -- rls-untrained ----------------------------------------------------------------------------------
def test_rls_untrained_is_a_baseline_with_rls_model_parameters():
    entry, rls = METHODS.get("rls-untrained"), METHODS.get("rls").defaults()
    assert "baseline" in entry.tags and "learned" not in entry.tags and entry.kind == "binary"
    d = entry.defaults()
    model_params = list(rls)[:list(rls).index("epochs")]
    assert list(d) == [*model_params, "seed", "device"]
    assert all(d[k] == rls[k] for k in d)  # rls's defaults, written once
    assert not {"weights", "epochs", "lr", "train_dataset", "train_root"} & set(d)
    with pytest.raises(ValueError, match="'rls-untrained' has no parameter.*'weights'"):
        METHODS.build("rls-untrained", weights="x.pt")


def test_rls_untrained_never_trains_nor_touches_the_cache(data_root, capsys):
    before = sorted(cache_dir().glob("*")) if cache_dir().is_dir() else []
    seg = METHODS.build("rls-untrained", **TINY)
    sample = load("synthetic", root=data_root, split="test")[3]
    pred = seg(sample)
    assert pred.mask.shape == sample.shape and pred.n_iter == 2
    assert "train" not in capsys.readouterr().err
    assert (sorted(cache_dir().glob("*")) if cache_dir().is_dir() else []) == before
    assert seg.checkpoint_info["untrained"] is True and "path" not in seg.checkpoint_info
    # config.json says so, and that phi_0 is the sample's initial region
    packed = {"packed_gemm_batch": 64} if mkl_packed_gemm_available() else {}  # dense maps, on the CPU
    assert seg.describe() == {"params": sum(p.numel() for p in seg.model.parameters()),
                              "phi0_from_sample_init": True, "untrained": True,
                              "initial_weights": "weight_init='chan-vese', seed=0", **packed}
    # it reads the sample's initial region (rls's init="sample"): the complement region flips the polarity
    flipped = Sample(sample.id, sample.image, mask=sample.mask, init=~sample.init)
    assert (seg(flipped).mask != pred.mask).mean() > 0.5


def test_rls_untrained_weights_are_where_training_starts_and_depend_only_on_params_and_seed():
    # the Chan–Vese-set cell: no randomness, equal to the hand-set RLS whatever the seed
    a = METHODS.build("rls-untrained", **TINY, seed=1)
    b = METHODS.build("rls-untrained", **TINY, seed=2)
    oracle = RLS(8, 8, steps=2, init="sample", heaviside="hard", weight_init="chan-vese", cv_lambda=100.0,
                 cv_dt=2.0)
    for seg in (a, b):
        for (name, got), (_, want) in zip(seg.model.state_dict().items(), oracle.state_dict().items(), strict=True):
            torch.testing.assert_close(got, want, msg=name)
    # uniform weights: drawn with the seed, exactly those train_model starts from
    u1 = METHODS.build("rls-untrained", **TINY, weight_init="uniform", seed=1)
    u1_again = METHODS.build("rls-untrained", **TINY, weight_init="uniform", seed=1)
    u2 = METHODS.build("rls-untrained", **TINY, weight_init="uniform", seed=2)
    start = initial_model(u1.model_config, 1, torch.device("cpu"))
    for name, w in u1.model.state_dict().items():
        torch.testing.assert_close(w, u1_again.model.state_dict()[name])
        torch.testing.assert_close(w, start.state_dict()[name])
    differ = [n for n, w in u1.model.state_dict().items() if not torch.equal(w, u2.model.state_dict()[n])]
    assert "cells.0.U.weight" in differ
    # the caller's global RNG is untouched
    torch.manual_seed(5)
    METHODS.build("rls-untrained", **TINY, weight_init="uniform", seed=1)
    x = torch.rand(1)
    torch.manual_seed(5)
    assert torch.equal(torch.rand(1), x)


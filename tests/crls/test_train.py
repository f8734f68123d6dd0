"""Training CRLS / Mask R-CNN: the loop, model selection, determinism, resuming after an interruption."""

import pytest
import torch

from lsbench.crls import train as train_mod
from lsbench.crls.model import detector_config
from lsbench.crls.train import (
    DetectorTrainConfig,
    TrainStateError,
    evaluate_detector,
    train_detector,
)
from tests.instance_fixtures import TinyShapes

FAST = dict(representation_size=16, rpn_post_nms_train=30, rpn_post_nms_test=30, box_batch_size=16,
            anchor_sizes=[8, 16])


def _config(arch="crls", **kw):
    extra = dict(mask_channels=4, rls_steps=1) if arch == "crls" else dict(mask_layers=[8], mask_dim=8)
    return detector_config(arch, 2, ["disk", "square"], image_shape=(40, 48), **{**FAST, **extra, **kw})


def _states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def data():
    return TinyShapes(n=6, seed=1), TinyShapes(n=3, seed=2, split="val")


def test_trains_selects_on_validation_and_is_deterministic(data):
    train, val = data
    cfg, tc = _config(), DetectorTrainConfig(epochs=2, batch_size=3, warmup_iters=2, seed=5)
    a = train_detector(cfg, tc, train, val, method="crls", progress=False)
    assert [r["epoch"] for r in a.history] == [1, 2] and a.n_train == 6 and a.n_val == 3
    assert all(k in a.history[0] for k in ("loss_objectness", "loss_rpn_box_reg", "loss_classifier",
                                           "loss_box_reg", "loss_mask", "val_mAPr@0.5", "val_mAPr@0.7"))
    best = max(a.history, key=lambda r: r["val_mAPr@0.5"])
    assert a.val_metrics["epoch"] == best["epoch"] and a.val_metrics["mAPr@0.5"] == best["val_mAPr@0.5"]
    assert evaluate_detector(a.model, [val[i] for i in range(3)], ["disk", "square"]) == {
        k: a.val_metrics[k] for k in ("mAPr@0.5", "mAPr@0.7")}
    b = train_detector(cfg, tc, train, val, method="crls", progress=False)
    assert _states_equal(a.model.state_dict(), b.model.state_dict())
    assert a.cpu_seconds > 0 and a.seconds > 0


def test_without_a_validation_split_part_of_train_is_held_out(data):
    train, _ = data
    res = train_detector(_config("maskrcnn"), DetectorTrainConfig(epochs=1, batch_size=4, val_fraction=0.34),
                         train, None, method="maskrcnn", progress=False)
    assert (res.n_train, res.n_val) == (4, 2)


def test_an_interrupted_training_resumes_to_the_same_weights(data, tmp_path, monkeypatch):
    train, val = data
    cfg, tc = _config(), DetectorTrainConfig(epochs=2, batch_size=2, warmup_iters=1, seed=1)
    full = train_detector(cfg, tc, train, val, method="crls", progress=False)

    calls = {"n": 0}
    real = train_mod.evaluate_detector

    def interrupt_second_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed while validating epoch 2
        return real(*args, **kwargs)

    state = tmp_path / "crls.pt.state"
    monkeypatch.setattr(train_mod, "evaluate_detector", interrupt_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_detector(cfg, tc, train, val, method="crls", progress=False, state_path=state, checkpoint_seconds=0)
    assert state.is_file()
    monkeypatch.setattr(train_mod, "evaluate_detector", real)
    resumed = train_detector(cfg, tc, train, val, method="crls", progress=False, state_path=state)
    assert resumed.resumed_from == 6  # 2 epochs x 3 batches, all run before the interruption
    assert _states_equal(full.model.state_dict(), resumed.model.state_dict())
    assert [r["epoch"] for r in resumed.history] == [1, 2]

    other = DetectorTrainConfig(epochs=3, batch_size=2, warmup_iters=1, seed=1)
    with pytest.raises(TrainStateError, match="belongs to another run"):
        train_detector(cfg, other, train, val, method="crls", progress=False, state_path=state)


def test_training_config_is_checked():
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        DetectorTrainConfig(epochs=0)
    with pytest.raises(ValueError, match="lr_schedule must be one of 'cosine', 'step'"):
        DetectorTrainConfig(lr_schedule="poly")
    with pytest.raises(ValueError, match="lr must be a positive number"):
        DetectorTrainConfig(lr=0.0)
    with pytest.raises(TypeError, match="DetectorTrainConfig"):
        train_detector(_config(), {"epochs": 1}, TinyShapes(n=2), method="crls")

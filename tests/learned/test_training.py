"""lsbench.training.train_method: what `lsbench train` calls, usable without the CLI."""

import pytest

from lsbench.learned.weights import cached_checkpoint_path, load_checkpoint
from lsbench.training import train_method, trainable_params

TINY = {"epochs": 1, "size": 8, "steps": 2, "batch_size": 64, "seed": 4, "device": "cpu"}


def test_train_method_writes_the_named_file_or_the_cache_entry(data_root, tmp_path):
    said = []
    named = train_method("rls", root=data_root, params=TINY, out=tmp_path / "rls.pt", progress=False,
                         log=said.append)
    assert named.path == tmp_path / "rls.pt" and not named.cached and named.dataset == "synthetic"
    assert said == ["training rls on synthetic/train (360 images) for 1 epoch on cpu"]
    ckpt = load_checkpoint(named.path, method="rls")
    assert ckpt["train_config"] == named.checkpoint["train_config"] and ckpt["train_config"]["seed"] == 4
    cached = train_method("rls", root=data_root, params=TINY, progress=False, log=said.append)
    assert cached.cached and cached.path == cached_checkpoint_path(
        "rls", ckpt["model_config"], ckpt["train_config"], ckpt["data"]["fingerprint"])
    assert cached.path.read_bytes() != b"" and cached.checkpoint["val_metrics"] == ckpt["val_metrics"]


@pytest.mark.parametrize(("method", "kwargs", "error", "needle"), [
    ("cv", {}, ValueError, "'cv' is not a learned method"),
    ("rls", {"params": {"weights": "x.pt"}}, ValueError, "rls has no trainable parameter 'weights'"),
    ("rls", {"backbone": "small"}, ValueError, "--backbone applies to crls and maskrcnn only"),
    ("fconnet", {"resume": True}, ValueError, "--resume applies to crls and maskrcnn only"),
    ("crls", {"nproc": 2}, ValueError, "data-parallel training is for rls, rls-conv and fconnet"),
    ("rls", {"nproc": 0}, ValueError, "--nproc must be a positive integer"),
    ("crls", {"backbone_weights": "/nonexistent.pth"}, FileNotFoundError, "does not exist"),
    ("rls", {"dataset": "nope"}, LookupError, "valid datasets"),
])
def test_bad_requests_fail_before_any_work(tmp_path, method, kwargs, error, needle):
    with pytest.raises(error, match=needle):
        train_method(method, out=tmp_path / "x.pt", progress=False, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_trainable_params_leave_out_where_weights_and_data_come_from():
    params = trainable_params("crls")
    assert {"epochs", "lr", "backbone", "device"} <= set(params)
    assert not {"weights", "train_dataset", "train_root", "backbone_weights", "train_dataset_params"} & set(params)

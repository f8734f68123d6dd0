"""Checkpoints: round trip with weights_only=True, the cache location and key, clear errors."""

import pytest
import torch

from lsbench.learned import weights as W
from lsbench.learned.models import build_model, model_config


def _save(path, method="rls", config=None, **extra):
    config = config or model_config("rls", 8, kind="dense", steps=2)
    torch.manual_seed(0)
    model = build_model(config)
    W.save_checkpoint(path, method=method, model_config=config, train_config={"epochs": 1},
                      state_dict=model.state_dict(), data={"fingerprint": "abc"},
                      val_metrics={"f_measure": 0.5}, **extra)
    return model, config


def test_round_trip_and_contents(tmp_path):
    path = tmp_path / "sub" / "x.pt"
    model, config = _save(path, history=[{"epoch": 1, "loss": 0.3}], train_seconds=1.5)
    ckpt = W.load_checkpoint(path, method="rls", model_config=config)
    assert ckpt["format"] == "lsbench-checkpoint" and ckpt["format_version"] == 1
    assert ckpt["model_config"] == config and ckpt["train_config"] == {"epochs": 1}
    assert ckpt["data"]["fingerprint"] == "abc" and ckpt["val_metrics"]["f_measure"] == 0.5
    assert ckpt["versions"]["torch"] == torch.__version__ and ckpt["train_seconds"] == 1.5
    from lsbench.harness.environment import cpu_name, git_commit

    assert ckpt["versions"]["git"] == git_commit() and ckpt["versions"]["cpu"] == cpu_name()  # what trained it
    fresh = build_model(config)
    W.load_state(fresh, ckpt, path)
    for k, v in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v)
    # loadable by plain torch with weights_only=True (no pickled code)
    assert torch.load(path, weights_only=True)["method"] == "rls"
    assert not list(path.parent.glob(".*tmp"))  # written atomically


def test_cache_dir_and_key(tmp_path, monkeypatch):
    monkeypatch.setenv("LSBENCH_CACHE", str(tmp_path / "c"))
    assert W.cache_dir() == tmp_path / "c" / "checkpoints"
    monkeypatch.delenv("LSBENCH_CACHE")
    assert W.cache_dir().parts[-3:] == (".cache", "lsbench", "checkpoints")
    base = ("rls", {"steps": 5}, {"epochs": 3}, "fp")
    key = W.checkpoint_key(*base)
    assert W.checkpoint_key(*base) == key
    assert W.checkpoint_key("fconnet", *base[1:]) != key
    assert W.checkpoint_key("rls", {"steps": 4}, *base[2:]) != key
    assert W.checkpoint_key("rls", {"steps": 5}, {"epochs": 4}, "fp") != key
    assert W.checkpoint_key("rls", {"steps": 5}, {"epochs": 3}, "other") != key
    assert W.cached_checkpoint_path(*base).name.startswith("rls-")


def test_another_config_names_the_mismatch(tmp_path):
    path = tmp_path / "x.pt"
    _, config = _save(path)
    other = {**config, "steps": 3, "init": "circle"}
    with pytest.raises(W.CheckpointError, match=r"another model config: init: checkpoint 'disks', requested "
                                                r"'circle'; steps: checkpoint 2, requested 3"):
        W.load_checkpoint(path, method="rls", model_config=other)
    with pytest.raises(W.CheckpointError, match="holds a 'rls' model, not 'fconnet'"):
        W.load_checkpoint(path, method="fconnet")


def test_weights_that_do_not_fit_the_model(tmp_path):
    path = tmp_path / "x.pt"
    _save(path)
    ckpt = W.load_checkpoint(path)
    with pytest.raises(W.CheckpointError, match="do not fit the model"):
        W.load_state(build_model(model_config("rls", 6, kind="dense", steps=2)), ckpt, path)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "foreign", "old-format", "pickle"])
def test_corrupt_or_foreign_files_give_a_clear_error(tmp_path, damage):
    path = tmp_path / "x.pt"
    _save(path)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"this is not a checkpoint" * 10)
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    elif damage == "old-format":
        ckpt = torch.load(path, weights_only=True)
        torch.save({**ckpt, "format_version": 99}, path)
    else:  # a pickle with code in it is refused by weights_only=True
        import collections

        torch.save({"format": "lsbench-checkpoint", "x": collections.Counter("abc")}, path)
    needle = {"foreign": "not an lsbench checkpoint", "old-format": "format version 99"}.get(damage, "corrupt")
    with pytest.raises(W.CheckpointError, match=needle):
        W.load_checkpoint(path, method="rls")


def test_missing_file_and_directory_target(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        W.load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        _save(tmp_path)


class _Data:
    name, split = "toy", "train"

    def __init__(self, fingerprint):
        self._fingerprint = fingerprint

    def __len__(self):
        return 3

    def fingerprint(self):
        return self._fingerprint


def test_resolve_weights_given_then_cache_then_train(tmp_path, monkeypatch, capsys):
    """The one resolution order of every learned method: weights given -> cache -> train now."""
    monkeypatch.setenv("LSBENCH_CACHE", str(tmp_path / "cache"))
    config = model_config("rls", 8, kind="dense", steps=2)
    calls = []

    def train(data, path):
        calls.append(("train", data.fingerprint(), path))
        torch.manual_seed(len(calls))
        model = build_model(config)
        W.save_checkpoint(path, method="rls", model_config=config, train_config={"epochs": 1},
                          state_dict=model.state_dict(), data={"fingerprint": data.fingerprint()},
                          val_metrics={"f_measure": 0.25, "epoch": 1}, train_seconds=2.0)
        return model, W.load_checkpoint(path)

    def resolve(weights=None, fingerprint="fp1", train_missing=True):
        def training_set():
            calls.append(("data", fingerprint))
            return _Data(fingerprint)

        return W.resolve_weights("rls", config, {"epochs": 1}, weights=weights, build=lambda: build_model(config),
                                 training_set=training_set, train=train, score=("f_measure", "F-measure"),
                                 train_missing=train_missing, advice=lambda data: f"advice for {len(data)} images")

    with pytest.raises(W.MissingCheckpointError, match=r"^no rls checkpoint .* none in the cache .*; "
                                                       r"advice for 3 images$"):
        resolve(train_missing=False)  # by default nothing is trained
    assert calls == [("data", "fp1")]
    calls.clear()
    model, ckpt = resolve()  # nothing cached: trains and stores the checkpoint in the cache
    cached = W.cached_checkpoint_path("rls", config, {"epochs": 1}, "fp1")
    assert calls == [("data", "fp1"), ("train", "fp1", cached)] and ckpt["path"] == str(cached)
    err = capsys.readouterr().err
    assert "training one now on toy/train (3 images, 1 epoch)" in err
    assert "validation F-measure 25.0% (epoch 1)" in err
    again, ckpt = resolve()  # cached: loaded, not trained
    assert calls[2:] == [("data", "fp1")] and ckpt["path"] == str(cached)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())
    given, ckpt = resolve(weights=str(cached))
    assert all(torch.equal(v, given.state_dict()[k]) for k, v in model.state_dict().items())  # weights given: the training set is not even loaded
    assert calls[3:] == [] and ckpt["path"] == str(cached)
    with pytest.raises(TypeError, match="weights must be a checkpoint path"):
        resolve(weights=3)
    # a cache entry whose data fingerprint does not match is ignored and replaced
    other = W.cached_checkpoint_path("rls", config, {"epochs": 1}, "fp2")
    other.write_bytes(cached.read_bytes())
    capsys.readouterr()
    resolve(fingerprint="fp2")
    assert calls[3:] == [("data", "fp2"), ("train", "fp2", other)]
    assert "ignoring the cached checkpoint (checkpoint" in capsys.readouterr().err
    assert W.load_checkpoint(other)["data"]["fingerprint"] == "fp2"
    # an unusable cache entry without train_missing: the error says why, nothing is trained
    other.write_bytes(b"damaged")
    n_calls = len(calls)
    with pytest.raises(W.MissingCheckpointError, match="the cached one is unusable .*corrupt"):
        resolve(fingerprint="fp2", train_missing=False)
    assert calls[n_calls:] == [("data", "fp2")]

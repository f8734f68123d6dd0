"""Leave-scenes-out K-fold cross-validation (lsbench train METHOD --cv K)."""

import json
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

from lsbench.cli import main
from lsbench.datasets import load
from lsbench.learned import crossval
from lsbench.learned.crossval import cross_validate, scene_folds, scene_of
from lsbench.learned.segmenter import configs_from_params
from lsbench.learned.weights import cache_dir
from lsbench.registry import METHODS
from lsbench.training import cross_validate_method, cv_dir

TINY = {"size": 8, "steps": 2, "batch_size": 64, "epochs": 1, "device": "cpu"}
TINY_ARGS = ["-p", "size=8", "-p", "steps=2", "-p", "batch_size=64", "--epochs", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def train_samples(data_root):
    ds = load("synthetic", root=data_root, split="train")
    return [ds[i] for i in range(len(ds))]


@pytest.mark.parametrize("k", range(2, 11))
def test_folds_partition_the_training_scenes(train_samples, k):
    scenes = sorted({scene_of(s) for s in train_samples})
    assert len(scenes) == 10
    folds = scene_folds(train_samples, k, seed=0)
    assert len(folds) == k
    dealt = [s for f in folds for s in f]
    assert sorted(dealt) == scenes and len(dealt) == len(set(dealt))  # each scene in exactly one fold
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    family = {scene_of(s): s.meta["family"] for s in train_samples}
    for f in folds:  # every family here has <= 2 scenes: they never share a fold
        assert max(Counter(family[s] for s in f).values()) == 1


def test_folds_are_seeded(train_samples):
    assert scene_folds(train_samples, 5, seed=3) == scene_folds(train_samples, 5, seed=3)
    assert any(scene_folds(train_samples, 5, seed=s) != scene_folds(train_samples, 5, seed=0) for s in (1, 2, 3))


@pytest.mark.parametrize("k", [1, 0, -2, 11, 2.0, True, "5"])
def test_k_is_between_2_and_the_number_of_scenes(train_samples, k):
    with pytest.raises(ValueError, match=r"K must be an integer between 2 and the number of training scenes \(10\)"):
        scene_folds(train_samples, k)


def test_a_fold_never_trains_on_its_held_out_scenes(train_samples, monkeypatch):
    seen = []
    real_train = crossval.train_model

    def fake_train(model_config, config, samples, **kwargs):
        seen.append({"train": {scene_of(s) for s in samples}})
        return real_train(model_config, config, samples, **kwargs)

    def fake_score(model, model_config, samples, **kwargs):
        seen[-1]["scored"] = {scene_of(s) for s in samples}
        seen[-1]["n_scored"] = len(samples)
        return {"f_measure": 0.25 * len(seen), "loss": 1.0}

    monkeypatch.setattr(crossval, "train_model", fake_train)
    monkeypatch.setattr(crossval, "score_samples", fake_score)
    config, train = configs_from_params("rls", {**METHODS.get("rls").defaults(), **TINY})
    result = cross_validate(config, train, train_samples, 3, seed=1, progress=False)
    folds = scene_folds(train_samples, 3, seed=1)
    assert [set(f.val_scenes) for f in result.folds] == [set(f) for f in folds]
    for fold, held, record in zip(result.folds, folds, seen, strict=True):
        assert record["scored"] == set(held) and not record["train"] & set(held)
        assert record["train"] | record["scored"] == {scene_of(s) for s in train_samples}
        assert fold.n_val == record["n_scored"] == 36 * len(held) and fold.n_train + fold.n_val == 360
        assert not set(fold.inner_val_scenes) & set(held)  # the recipe's own validation is inside the fold
    assert result.scores == [0.25, 0.5, 0.75]
    assert result.mean == pytest.approx(0.5) and result.std == pytest.approx(0.25)  # ddof = 1


def test_cross_validation_is_reproducible_and_writes_no_checkpoint(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("LSBENCH_CACHE", str(tmp_path / "cache"))
    said = []
    a = cross_validate_method("rls", 2, root=data_root, params=TINY, out=tmp_path / "a.json", progress=False,
                              log=said.append)
    b = cross_validate_method("rls", 2, root=data_root, params=TINY, out=tmp_path / "b.json", progress=False,
                              log=lambda line: None)
    assert [f["f_measure"] for f in a.summary["folds"]] == [f["f_measure"] for f in b.summary["folds"]]
    assert said[0].startswith("cross-validating rls on synthetic/train (360 images, 10 scenes) with 2 leave-scenes-out")
    # rls's measured 282 s for 10 epochs of 360 images (baselines/durations.toml), scaled to K - 1 = 1
    # training's worth: 1 epoch of 360 images, 28.2 s
    assert "2 trainings of 1 epoch on cpu (about 28 s on an idle 2-core CPU" in said[0]
    assert said[1].startswith("fold 1/2: held-out ") and said[2].startswith("fold 2/2: held-out ")
    on_disk = json.loads(a.path.read_text())
    assert on_disk["format"] == "lsbench-cv" and on_disk["method"] == "rls" and on_disk["k"] == 2
    assert on_disk["dataset"]["split"] == "train" and on_disk["dataset"]["version"] == 2
    assert on_disk["params"]["epochs"] == 1 and on_disk["params"]["size"] == 8 and "weights" not in on_disk["params"]
    scores = [f["f_measure"] for f in on_disk["folds"]]
    assert on_disk["mean_f_measure"] == pytest.approx(np.mean(scores))
    assert on_disk["std_f_measure"] == pytest.approx(np.std(scores, ddof=1))
    assert sum(f["n_val"] for f in on_disk["folds"]) == 360
    assert not cache_dir().exists()  # no checkpoint was cached
    # another cv seed deals other folds
    c = cross_validate_method("rls", 2, root=data_root, params=TINY, cv_seed=1, out=tmp_path / "c.json",
                              progress=False, log=lambda line: None)
    assert [f["val_scenes"] for f in c.summary["folds"]] != [f["val_scenes"] for f in a.summary["folds"]]


def test_cross_validation_records_the_commit_it_started_from(data_root, tmp_path, monkeypatch):
    """A cv run takes half an hour; a commit landing meanwhile must not be recorded as the code that trained."""
    import lsbench.harness.environment as environment

    monkeypatch.setenv("LSBENCH_CACHE", str(tmp_path / "cache"))
    head = {"commit": "at-start", "dirty": False}
    monkeypatch.setattr(environment, "git_commit", lambda *a, **k: dict(head))
    train = crossval.cross_validate

    def training_during_which_a_commit_lands(*args, **kwargs):
        result = train(*args, **kwargs)
        head["commit"] = "landed-during-the-run"
        return result

    monkeypatch.setattr(crossval, "cross_validate", training_during_which_a_commit_lands)
    run = cross_validate_method("rls", 2, root=data_root, params=TINY, out=tmp_path / "a.json", progress=False,
                                log=lambda line: None)
    assert head["commit"] == "landed-during-the-run"  # the patched training ran
    assert json.loads(run.path.read_text())["versions"]["git"]["commit"] == "at-start"


def test_cli_cv_end_to_end(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("LSBENCH_CACHE", str(tmp_path / "cache"))
    res = CliRunner().invoke(main, ["train", "rls-chapter", "--root", str(data_root), "--cv", "2", *TINY_ARGS,
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "rls-chapter: leave-scenes-out 2-fold validation F-measure" in res.stdout and "±" in res.stdout
    assert "fold 1/2: held-out" in res.stderr and "no checkpoint is written" in res.stderr
    written = list(cv_dir().glob("rls-chapter-*-k2-seed0.json"))
    assert len(written) == 1 and f"summary: {written[0]}" in res.stdout
    assert not (tmp_path / "cache" / "checkpoints").exists()  # nothing for `lsbench run`
    summary = json.loads(written[0].read_text())
    assert summary["params"]["init"] == "random" and len(summary["folds"]) == 2


@pytest.mark.parametrize(("args", "needle"), [
    (["train", "rls", "--cv", "11"], "K must be an integer between 2 and the number of training scenes (10)"),
    (["train", "rls", "--cv", "1"], "number of training scenes (10)"),
    (["train", "rls", "--cv", "3", "--split", "test"], "refusing to cross-validate on the test split"),
    (["train", "crls", "--cv", "3"], "--cv is for the single-object learned methods, not 'crls'"),
    (["train", "rls", "--cv", "3", "--out", "x.pt"], "--out does not apply with --cv"),
    (["train", "rls", "--cv", "3", "--nproc", "2"], "--nproc does not apply with --cv"),
    (["train", "rls", "--cv-out", "x.json"], "--cv-out needs --cv K"),
    (["train", "rls", "--cv", "3", "--cv-out", "x.csv"], "must be a .json file"),
    (["train", "rls", "--cv", "3", "--cv-seed", "-1"], "--cv-seed must be a non-negative integer"),
    (["train", "rls", "--cv", "3", "-p", "bogus=1"], "no trainable parameter 'bogus'"),
])
def test_bad_cv_requests_exit_2_with_one_line(data_root, tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, [*args, "--root", str(data_root), "--no-progress"])
    assert res.exit_code == 2, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and needle in errors[0] and "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []  # nothing written

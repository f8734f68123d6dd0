"""`lsbench train` and `lsbench run --weights`: checkpoints from the command line, clear errors."""

import shlex

import pytest
from click.testing import CliRunner

from lsbench.cli import main

SMALL = ["-p", "size=8", "-p", "steps=2", "-p", "batch_size=64"]
RUN_SMALL = ["-p", "rls.size=8", "-p", "rls.steps=2", "-p", "rls.batch_size=64", "-p", "rls.device=cpu"]


@pytest.fixture(scope="module")
def trained(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "rls.pt"
    res = CliRunner().invoke(main, ["train", "rls", "--root", str(data_root), "--epochs", "1", "--seed", "4",
                                    *SMALL, "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    return out, res


def test_train_writes_a_checkpoint_and_reports_it(trained):
    out, res = trained
    assert out.is_file()
    assert f"checkpoint: {out}" in res.stdout and "validation F-measure" in res.stdout
    assert "held-out scenes" in res.stdout and f"--weights rls={out}" in res.stdout


def test_run_with_weights(trained, data_root, tmp_path):
    out, _ = trained
    res = CliRunner().invoke(main, ["run", "--methods", "rls", "--root", str(data_root), "--limit", "2",
                                    *RUN_SMALL, "--weights", str(out), "--out", str(tmp_path),
                                    "--run-id", "w", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "Batched throughput" in res.stdout and "training" not in res.stderr


def _printed_run(stdout: str) -> list[str]:
    """The arguments of the `lsbench run ...` command that `lsbench train` printed last."""
    line = [ln for ln in stdout.splitlines() if "lsbench run " in ln][-1]
    args = shlex.split(line[line.index("lsbench run "):])
    assert args[:2] == ["lsbench", "run"]
    return args[1:]


@pytest.mark.parametrize("into", ["cache", "file"])
def test_the_printed_run_command_reuses_the_checkpoint_without_training(data_root, tmp_path, monkeypatch, into):
    """`lsbench train rls-conv --epochs 1 ...` prints the run command; running exactly that (plus where to
    write and how many samples) trains nothing: without --train-missing a run cannot train, so it only
    succeeds when the printed parameters resolve to the checkpoint just written."""
    cache = tmp_path / "cache" / "checkpoints"
    monkeypatch.setenv("LSBENCH_CACHE", str(cache.parent))
    target = ["--out", str(tmp_path / "conv.pt")] if into == "file" else []
    res = CliRunner().invoke(main, ["train", "rls-conv", "--root", str(data_root), "--epochs", "1", "--device", "cpu",
                                    "-p", "size=16", "-p", "kernel_size=3", "-p", "steps=2", "-p", "batch_size=64",
                                    "--no-progress", *target])
    assert res.exit_code == 0, res.output
    command = _printed_run(res.stdout)
    assert "rls-conv.epochs=1" in command and "rls-conv.kernel_size=3" in command
    assert ("--weights" in command) == (into == "file")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in cache.glob("*")) if cache.exists() else []
    run = CliRunner().invoke(main, [*command, "--limit", "1", "--executor", "local", "--out", str(tmp_path / "runs"),
                                    "--no-progress", "--no-figures"])
    assert run.exit_code == 0, run.output
    assert "training" not in run.stderr
    after = sorted((p.name, p.stat().st_mtime_ns) for p in cache.glob("*")) if cache.exists() else []
    assert after == before  # nothing trained into the cache either
    # the case: the defaults but for the epochs must not resolve to the 20-epoch cache entry
    bare = CliRunner().invoke(main, ["run", "--methods", "rls-conv", "--root", str(data_root), "--limit", "1",
                                     "--out", str(tmp_path / "runs"), "--no-progress"])
    assert bare.exit_code == 1 and "lsbench train rls-conv --root" in bare.output


def test_a_missing_checkpoint_stops_the_run_before_any_sample(data_root, tmp_path, monkeypatch):
    """Empty cache: an error naming the train command (with the parameters that matter) and its expected
    duration, exit 1, no run directory; nothing is trained."""
    monkeypatch.setenv("LSBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "runs"
    res = CliRunner().invoke(main, ["run", "--methods", "cv,rls", "--root", str(data_root), "--limit", "2",
                                    "-p", "rls.steps=3", "-p", "rls.epochs=4", "--out", str(out)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    message = res.output.strip()
    assert len(message.splitlines()) == 1 and message.startswith("Error: no rls checkpoint for these parameters")
    assert f"`lsbench train rls --root {data_root} --epochs 4 -p steps=3`" in message
    assert "about 2 min on an idle 2-core CPU" in message  # 282 s for 10 epochs (durations.toml), 4 asked: 113 s
    assert "--train-missing" in message
    assert not out.exists() and not (tmp_path / "cache").exists()  # no run folder, not even an empty --out


def test_the_python_api_does_not_train_unless_asked(data_root, monkeypatch, tmp_path):
    from lsbench.learned.weights import MissingCheckpointError
    from lsbench.registry import METHODS

    monkeypatch.setenv("LSBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(MissingCheckpointError, match=r"lsbench train fconnet --root .* -p size=8.*train_missing=True"):
        METHODS.build("fconnet", size=8, train_root=str(data_root))
    assert not (tmp_path / "cache").exists()


def test_train_command_round_trips_through_lsbench_train(monkeypatch):
    """Every non-default parameter printed by `train_command` is read back by `lsbench train` as it was."""
    from lsbench import training
    from lsbench.checkpoint_commands import train_command
    from lsbench.registry import METHODS

    params = {**METHODS.get("crls").defaults(), "epochs": 3, "seed": 9, "device": "cpu", "lr": 0.0005,
              "hflip": False, "anchor_sizes": [8, 16, 32], "optimizer": "sgd", "backbone": "resnet18",
              "train_split": "val", "train_root": "/data/x", "train_dataset_params": {"train_images": 50},
              "train_missing": True, "weights": "ignored.pt"}
    seen = {}

    def fake_train(method, **kw):
        seen.update(method=method, **kw)
        raise ValueError("stop here")

    monkeypatch.setattr(training, "train_method", fake_train)
    command = shlex.split(train_command("crls", params))
    assert "ignored.pt" not in command and "train_missing" not in " ".join(command)
    res = CliRunner().invoke(main, command[1:])
    assert res.exit_code == 1 and "stop here" in res.output
    assert seen["method"] == "crls" and seen["dataset"] == "shapes" and seen["split"] == "val"
    assert str(seen["root"]) == "/data/x" and seen["backbone"] == "resnet18"
    assert seen["dataset_params"] == {"train_images": 50}
    assert seen["params"] == {"lr": 0.0005, "hflip": False, "anchor_sizes": [8, 16, 32], "optimizer": "sgd",
                              "epochs": 3, "seed": 9, "device": "cpu"}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "cv"], "not a learned method; choose from: crls, crls-e2e, crls-fcmask, crls-lite, fconnet, maskrcnn, rls, rls-chapter, rls-conv"),
        (["train", "rls-untrained"], "not a learned method"),
        (["train", "rls", "-p", "bogus=1"], "no trainable parameter 'bogus'"),
        (["train", "rls", "-p", "weights=x.pt"], "no trainable parameter 'weights'"),
        (["train", "rls", "-p", "lr"], "expected NAME=VALUE"),
        (["train", "rls", "-p", "steps=two"], "expected an integer"),
        (["train", "rls", "--dataset", "nope"], "valid datasets"),
        (["train", "rls", "--epochs", "0"], "epochs must be a positive integer"),
        (["run", "--methods", "rls,fconnet", "--weights", "x.pt"], "say which method"),
        (["run", "--methods", "cv", "--weights", "cv=x.pt"], "not a method in --methods that takes weights"),
        (["run", "--methods", "rls", "--weights", "rls=/nonexistent.pt"], "does not exist"),
    ],
)
def test_bad_input_exits_non_zero_with_a_clear_message(args, needle, tmp_path):
    args = [*args, "--out", str(tmp_path)] if args[0] == "run" else args
    res = CliRunner().invoke(main, args)
    assert res.exit_code != 0 and needle in res.output and "Traceback" not in res.output


def test_checkpoint_of_another_config_or_corrupt_file(trained, data_root, tmp_path):
    out, _ = trained
    base = ["run", "--methods", "rls", "--root", str(data_root), "--limit", "1", "--out", str(tmp_path),
            "--no-progress"]
    res = CliRunner().invoke(main, [*base, "-p", "rls.size=8", "--weights", str(out)])
    assert res.exit_code == 1 and "steps: checkpoint 2, requested 5" in res.output
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    res = CliRunner().invoke(main, [*base, *RUN_SMALL, "--weights", f"rls={bad}"])
    assert res.exit_code == 1 and "corrupt" in res.output and "Traceback" not in res.output
    assert [p.name for p in tmp_path.iterdir()] == ["bad.pt"]  # no run directory written


def test_process_run_trains_once_in_the_parent_and_workers_load_the_cache(data_root, tmp_path, monkeypatch, capfd):
    """No checkpoint cached: the parent trains (while it builds the methods), the worker processes load it.

    The workers' stderr is the inherited file descriptor 2 (the sandbox does not redirect it), which
    ``capfd`` captures, as it captures the child of the control below; a worker that trained would
    print the same "training one now" line there."""
    import subprocess
    import sys

    monkeypatch.setenv("LSBENCH_CACHE", str(tmp_path / "cache"))
    subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('child stderr is captured')"], check=True)
    res = CliRunner().invoke(main, ["run", "--methods", "fconnet", "--root", str(data_root), "--limit", "4",
                                    "-p", "fconnet.size=8", "-p", "fconnet.epochs=1", "-p", "fconnet.device=cpu",
                                    "--executor", "process", "--workers", "2", "--out", str(tmp_path / "runs"),
                                    "--run-id", "p", "--no-progress", "--no-figures", "--train-missing"])
    children = capfd.readouterr().err
    assert res.exit_code == 0, res.output
    assert "child stderr is captured" in children
    assert res.stderr.count("training one now") == 1  # the parent trained
    assert "training" not in children  # no worker did
    assert len(list((tmp_path / "cache" / "checkpoints").glob("fconnet-*.pt"))) == 1
    import json

    config = json.loads((tmp_path / "runs" / "p" / "config.json").read_text())
    assert config["executor"]["executor"] == "process" and config["timing"]["concurrent_workers"] == 2

"""`lsbench train` and `lsbench run --weights`: checkpoints from the command line, clear errors."""

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


def test_train_into_the_cache_then_run_uses_it(data_root, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["train", "rls", "--root", str(data_root), "--epochs", "1", *SMALL, "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "uses it from the cache" in res.stdout
    run = runner.invoke(main, ["run", "--methods", "rls", "--root", str(data_root), "--limit", "1", *RUN_SMALL,
                               "-p", "rls.epochs=1", "-p", f"rls.train_root={data_root}", "--out", str(tmp_path),
                               "--no-progress"])
    assert run.exit_code == 0, run.output
    assert "training one now" not in run.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "cv"], "not a learned method; choose from: crls, "),
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
                                    "--run-id", "p", "--no-progress", "--no-figures"])
    children = capfd.readouterr().err
    assert res.exit_code == 0, res.output
    assert "child stderr is captured" in children
    assert res.stderr.count("training one now") == 1  # the parent trained
    assert "training" not in children  # no worker did
    assert len(list((tmp_path / "cache" / "checkpoints").glob("fconnet-*.pt"))) == 1
    import json

    config = json.loads((tmp_path / "runs" / "p" / "config.json").read_text())
    assert config["executor"]["executor"] == "process" and config["timing"]["concurrent_workers"] == 2

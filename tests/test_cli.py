"""The command line: every command, and clear non-zero exits on bad input."""

import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from lsbench.cli import main


@pytest.fixture
def runner():
    return CliRunner()


def _run(runner, *args):
    return runner.invoke(main, list(args), catch_exceptions=False)


def test_list(runner):
    out = _run(runner, "list", "methods")
    assert out.exit_code == 0 and "cv" in out.output and "skimage-cv" in out.output
    out = _run(runner, "list", "methods", "-v")
    assert "mu = 0.25" in out.output
    assert "synthetic" in _run(runner, "list", "datasets").output
    assert "binary" in _run(runner, "list", "metrics").output


def test_run_and_report(runner, tmp_path, data_root):
    out = _run(runner, "run", "--methods", "cv", "--root", str(data_root), "--limit", "3", "--out", str(tmp_path),
               "--run-id", "t", "-p", "cv.mu=0.1", "-p", "cv.max_iter=40", "--no-progress")
    assert out.exit_code == 0, out.output
    assert "Table 2" in out.output and "Run directory" in out.output
    # what `make demo` promises: Table 2 and the Figure 7-style grid under the run directory
    assert (tmp_path / "t" / "figures" / "fig7_grid.png").is_file()
    assert f"Figure 7-style figure: {tmp_path / 't' / 'figures' / 'fig7_grid.png'}" in out.output
    per = pd.read_csv(tmp_path / "t" / "per_sample.csv")
    assert len(per) == 3 and (per["n_iter"] <= 40).all()
    (tmp_path / "t" / "table2.md").unlink()
    rep = _run(runner, "report", str(tmp_path / "t"))
    assert rep.exit_code == 0 and "Table 2" in rep.output
    assert (tmp_path / "t" / "table2.md").is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--methods", "nope"], "valid methods: "),
        (["run", "--methods", "cv,cv"], "twice"),
        (["run", "--dataset", "nope"], "valid datasets: "),
        (["run", "-p", "cv.mu"], "METHOD.NAME=VALUE"),
        (["run", "-p", "cv.bogus=1"], "no parameter 'bogus'"),
        (["run", "-p", "cv.mu=abc"], "expected a number"),
        (["run", "-p", "cv.max_iter=0"], "max_iter must be a positive integer"),
        (["run", "-p", "cv.dt=-1"], "dt must be a positive"),
        (["run", "-p", "drlse.mu=1"], "not in --methods"),
        (["run", "--limit", "0"], "positive integer"),
        (["run", "--split", "val"], "split must be one of"),
        (["report", "/nonexistent/run"], "does not exist"),
    ],
)
def test_bad_input_exits_non_zero_with_a_clear_message(runner, args, needle, tmp_path):
    args = [*args, "--out", str(tmp_path)] if args[0] == "run" else args
    out = runner.invoke(main, args)
    assert out.exit_code == 2  # a bad option value: click's usage error (issue 15)
    assert needle in out.output
    assert "Traceback" not in out.output
    assert list(tmp_path.glob("*")) == []


def test_unwritable_out_is_refused(runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = runner.invoke(main, ["run", "--out", str(blocker), "--limit", "1"])
    assert out.exit_code != 0 and "--out" in out.output and "Traceback" not in out.output
    out = runner.invoke(main, ["run", "--out", str(blocker / "sub"), "--limit", "1"])
    assert out.exit_code != 0 and "not writable" in out.output


def test_report_on_a_run_dir_missing_its_csv(runner, tmp_path):
    (tmp_path / "run").mkdir()
    out = runner.invoke(main, ["report", str(tmp_path / "run")])
    assert out.exit_code != 0 and "per_sample.csv is missing" in out.output


def test_datasets_build_verify_info(runner, tmp_path, data_root):
    shutil.copytree(data_root / "synthetic", tmp_path / "synthetic")
    ok = _run(runner, "datasets", "verify", "synthetic", "--root", str(tmp_path))
    assert ok.exit_code == 0 and "OK" in ok.output
    (tmp_path / "synthetic" / "test" / "images" / "hole-ring-00.png").write_bytes(b"garbage")
    bad = runner.invoke(main, ["datasets", "verify", "synthetic", "--root", str(tmp_path)])
    assert bad.exit_code != 0 and "hole-ring-00.png: sha256 mismatch" in bad.output
    info = _run(runner, "datasets", "info", "synthetic", "--root", str(data_root))
    assert "test: 360 samples" in info.output
    out = runner.invoke(main, ["datasets", "build", "weizmann"])
    assert out.exit_code != 0

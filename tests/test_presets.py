"""Parameter presets (baselines/presets/*.toml), `lsbench run --preset` and `lsbench tune`."""

import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from lsbench.cli import main
from lsbench.presets import RUN_PARAMS, load_preset, presets_dir, read_preset_file, write_tuned
from lsbench.registry import METHODS

SHIPPED = sorted(Path(__file__).resolve().parents[1].joinpath("baselines", "presets").glob("*.toml"))


def test_the_classic_methods_ship_presets():
    assert {p.stem for p in SHIPPED} >= {"cv", "drlse", "li", "lic", "l2s"}
    assert presets_dir() == SHIPPED[0].parent


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_defaults_are_the_registered_defaults(path):
    data = read_preset_file(path.stem)  # also validates every table against the registry
    registered = METHODS.get(path.stem).defaults()
    # TOML has no null: a None default (l2s's start_degree) is what an absent key loads as; how a
    # method runs (its backend) is no part of a preset
    assert data["defaults"] == {k: v for k, v in registered.items() if v is not None and k not in RUN_PARAMS}
    for dataset, table in data.get("datasets", {}).items():
        assert table, f"[datasets.{dataset}] is empty"
        assert "tuned by: lsbench tune" in path.read_text()  # the reproducing command is recorded


@pytest.fixture
def preset_root(tmp_path, monkeypatch):
    root = tmp_path / "presets"
    root.mkdir()
    monkeypatch.setenv("LSBENCH_PRESETS", str(root))
    return root


def test_load_default_and_tuned(preset_root):
    (preset_root / "cv.toml").write_text(textwrap.dedent("""
        [defaults]
        mu = 0.25
        max_iter = 500
        [datasets.synthetic]
        mu = 0.1
    """))
    assert load_preset("cv", dataset="synthetic", which="default") == {"mu": 0.25, "max_iter": 500}
    assert load_preset("cv", dataset="synthetic", which="tuned") == {"mu": 0.1, "max_iter": 500}
    assert load_preset("cv", dataset="other", which="tuned") == {"mu": 0.25, "max_iter": 500}
    assert load_preset("drlse", dataset="synthetic", which="tuned") == {}  # no file: registered defaults
    with pytest.raises(ValueError, match="preset must be one of"):
        load_preset("cv", dataset="synthetic", which="best")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[defaults]\nbogus = 1\n", "does not have"),
        ("[datasets.synthetic]\nsigma = 2.0\n", "does not have"),
        ("[extras]\nmu = 1.0\n", "unknown table"),
        ("[defaults\nmu = 1\n", "not valid TOML"),
    ],
)
def test_bad_preset_files_name_the_file(preset_root, text, match):
    (preset_root / "cv.toml").write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        load_preset("cv", dataset="synthetic", which="tuned")
    assert "cv.toml" in str(err.value)


def test_write_tuned_creates_and_rewrites_keeping_comments(preset_root):
    path = write_tuned("lic", "synthetic", {"sigma": 8.0}, ["tuned by: lsbench tune lic ...", "score"])
    data = tomllib.loads(path.read_text())
    assert data["defaults"] == {k: v for k, v in METHODS.get("lic").defaults().items() if k not in RUN_PARAMS}
    assert data["datasets"]["synthetic"] == {"sigma": 8.0}
    assert load_preset("lic-torch", dataset="synthetic", which="tuned")["sigma"] == 8.0  # the torch twin reads it
    text = path.read_text().replace("[defaults]", "# hand-written note\n[defaults]")
    path.write_text(text)
    for _ in range(3):
        write_tuned("lic", "synthetic", {"sigma": 6.0, "nu": 0.002}, ["tuned again"])
    write_tuned("lic", "other", {"sigma": 4.0}, ["another dataset"])
    text = path.read_text()
    assert "# hand-written note" in text and "tuned again" in text and "\n\n\n" not in text
    assert text.count("[datasets.synthetic]") == 1 and "tuned by: lsbench tune lic" not in text
    data = tomllib.loads(text)
    assert data["datasets"] == {"synthetic": {"sigma": 6.0, "nu": 0.002}, "other": {"sigma": 4.0}}


def test_run_with_a_tuned_preset_and_an_explicit_override(preset_root, tmp_path, data_root):
    (preset_root / "cv.toml").write_text("[defaults]\nmax_iter = 500\n[datasets.synthetic]\nmax_iter = 7\n")
    runner = CliRunner()
    args = ["run", "--methods", "cv", "--root", str(data_root), "--limit", "2", "--out", str(tmp_path),
            "--no-progress", "--preset", "tuned"]
    out = runner.invoke(main, [*args, "--run-id", "a"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "a" / "config.json").read_text())["methods"]["cv"]["max_iter"] == 7
    assert (pd.read_csv(tmp_path / "a" / "per_sample.csv")["n_iter"] <= 7).all()
    out = runner.invoke(main, [*args, "--run-id", "b", "-p", "cv.max_iter=3"], catch_exceptions=False)
    assert json.loads((tmp_path / "b" / "config.json").read_text())["methods"]["cv"]["max_iter"] == 3
    out = runner.invoke(main, [*args[:-1], "best"])
    assert out.exit_code != 0 and "best" in out.output


def test_tune_writes_the_winner_with_its_command(preset_root, data_root):
    runner = CliRunner()
    out = runner.invoke(main, ["tune", "cv", "--root", str(data_root), "--stride", "120",
                               "--grid", "mu=0.25,0.1", "-p", "max_iter=20", "--write"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "best on synthetic/train (3 samples)" in out.output
    text = (preset_root / "cv.toml").read_text()
    assert "# tuned by: lsbench tune cv --dataset synthetic --split train --stride 120 --grid mu=0.25,0.1 -p max_iter=20" in text
    table = tomllib.loads(text)["datasets"]["synthetic"]
    assert table["max_iter"] == 20 and table["mu"] in (0.25, 0.1)


def test_a_none_winner_is_left_out_of_the_table(preset_root):
    path = write_tuned("l2s", "synthetic", {"degree": 1, "start_degree": None}, ["tuned by: lsbench tune l2s ..."])
    assert tomllib.loads(path.read_text())["datasets"]["synthetic"] == {"degree": 1}
    assert "start_degree" not in load_preset("l2s", dataset="synthetic", which="tuned")
    path.write_text(path.read_text().replace("[defaults]", "[defaults]\nstart_degree = 1"))
    with pytest.raises(ValueError, match="cannot store start_degree = None"):
        write_tuned("l2s", "synthetic", {"start_degree": None}, ["again"])


def test_tune_scores_do_not_depend_on_the_executor(preset_root, data_root):
    tables = []
    for extra in (["--executor", "local"], ["--executor", "process", "--workers", "2"]):
        out = CliRunner().invoke(main, ["tune", "cv", "--root", str(data_root), "--stride", "120", "--no-write",
                                        "--grid", "mu=0.25,0.1", "-p", "max_iter=20", *extra], catch_exceptions=False)
        assert out.exit_code == 0, out.output
        tables.append([line.split()[:2] for line in out.output.splitlines() if line.startswith(" ")])
    assert tables[0] == tables[1] and len(tables[0]) == 2  # (mu, mean F) of both combinations
    assert list(preset_root.glob("*")) == []  # --no-write


def _git_status(folder):
    import subprocess

    done = subprocess.run(["git", "status", "--porcelain", "--", str(folder)], cwd=folder, capture_output=True,
                          text=True)
    return done.stdout if done.returncode == 0 else None


def test_tune_writes_nothing_unless_asked(data_root, tmp_path, monkeypatch):
    """A bare `lsbench tune` leaves the checkout's presets folder (bytes and `git status`) as it was and says how
    to write; `--write` writes, here into $LSBENCH_PRESETS."""
    from lsbench.presets import presets_dir

    monkeypatch.delenv("LSBENCH_PRESETS", raising=False)
    folder = presets_dir()
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    status = _git_status(folder)
    args = ["tune", "cv", "--root", str(data_root), "--stride", "120", "--grid", "mu=0.25,0.1", "-p", "max_iter=20",
            "--executor", "local"]
    try:
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, res.output
        assert "best on synthetic/train" in res.stdout and "not written: add --write" in res.stderr
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
        assert _git_status(folder) == status
    finally:  # never leave a damaged checkout behind, even when the default did write
        for name, data in before.items():
            if (folder / name).read_bytes() != data:
                (folder / name).write_bytes(data)
    own = tmp_path / "presets"
    own.mkdir()
    monkeypatch.setenv("LSBENCH_PRESETS", str(own))
    res = CliRunner().invoke(main, [*args, "--write"])
    assert res.exit_code == 0, res.output
    assert [p.name for p in own.iterdir()] == ["cv.toml"] and f"wrote {own / 'cv.toml'}" in res.stdout
    assert "tuned by: lsbench tune cv" in (own / "cv.toml").read_text()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["tune", "cv", "--grid", "mu=0.1", "--workers", "0"], "must be a positive integer"),
        (["tune", "cv", "--split", "test", "--grid", "mu=0.1"], "refusing to tune on 'test'"),
        (["tune", "cv", "--grid", "bogus=1,2"], "no parameter 'bogus'"),
        (["tune", "cv", "--grid", "mu=abc"], "expected a number"),
        (["tune", "cv"], "--grid is empty"),
        (["tune", "cv", "--grid", "mu=0.1", "-p", "mu=0.2"], "both as a fixed --param and in --grid"),
        (["tune", "cv", "--grid", "mu=-1"], "mu must be a non-negative"),
        (["tune", "nope", "--grid", "mu=1"], "valid methods"),
    ],
)
def test_tune_bad_input_exits_non_zero(preset_root, data_root, args, needle):
    out = CliRunner().invoke(main, [*args, "--root", str(data_root)])
    assert out.exit_code != 0 and needle in out.output and "Traceback" not in out.output
    assert list(preset_root.glob("*")) == []


def test_run_preset_never_imports_torch():
    code = "import sys; from lsbench.presets import load_preset; load_preset('li', dataset='synthetic', which='tuned'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

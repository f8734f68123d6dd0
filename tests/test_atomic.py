"""lsbench.atomic: never a half-written file, and modes that honour the umask (also end to end, through the CLI)."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lsbench.atomic import (
    atomic_dir,
    atomic_file,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)
from lsbench.cli import main


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.lstat().st_mode)


def modes_below(root: Path) -> tuple[set[int], set[int]]:
    """The modes of every file and every folder below ``root`` (``root`` itself not included)."""
    files, dirs = set(), set()
    for p in root.rglob("*"):
        (dirs if p.is_dir() else files).add(mode(p))
    return files, dirs


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_every_writer_gives_the_umask_modes(tmp_path, mask):
    with umask(mask):
        atomic_write_bytes(tmp_path / "new" / "a.bin", b"x")  # creates the parent folder too
        atomic_write_text(tmp_path / "b.txt", "x")
        atomic_write_json(tmp_path / "c.json", {"x": 1})
        with atomic_file(tmp_path / "d.npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, x=np.arange(3))
        with atomic_dir(tmp_path / "e") as tmp:
            (tmp / "inner").mkdir()
            (tmp / "inner" / "f.txt").write_text("x")
    files, dirs = modes_below(tmp_path)
    assert files == {0o666 & ~mask} and dirs == {0o777 & ~mask}
    assert np.load(tmp_path / "d.npz")["x"].tolist() == [0, 1, 2]


def test_an_error_leaves_the_old_file_and_no_temporary(tmp_path):
    target = atomic_write_text(tmp_path / "t.txt", "old")
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    with pytest.raises(KeyboardInterrupt), atomic_file(target) as tmp:
        raise KeyboardInterrupt
    with pytest.raises(TypeError):
        atomic_write_json(target, {"not serialisable": object()})
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["t.txt"]
    with pytest.raises(IsADirectoryError, match="is a directory"):
        atomic_write_text(tmp_path, "x")


def test_atomic_dir_replaces_only_when_asked_and_cleans_up(tmp_path):
    with atomic_dir(tmp_path / "d") as tmp:
        (tmp / "one").write_text("1")
    with pytest.raises(FileExistsError, match="already exists"), atomic_dir(tmp_path / "d") as tmp:
        (tmp / "two").write_text("2")
    with pytest.raises(ValueError), atomic_dir(tmp_path / "d", replace=True) as tmp:
        (tmp / "two").write_text("2")
        raise ValueError("build failed")
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["one"]
    with atomic_dir(tmp_path / "d", replace=True) as tmp:
        (tmp / "three").write_text("3")
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["three"]
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no temporary or old folder left


def test_text_is_written_verbatim(tmp_path):
    assert atomic_write_text(tmp_path / "t", "a\r\nb\n").read_bytes() == b"a\r\nb\n"
    assert atomic_write_json(tmp_path / "j", {"a": [1]}).read_text() == '{\n  "a": [\n    1\n  ]\n}\n'
    assert atomic_write_json(tmp_path / "k", {"a": 1}, indent=1).read_text() == '{\n "a": 1\n}\n'


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_run_report_train_and_datasets_build_honour_the_umask(tmp_path, data_root, monkeypatch, mask):
    """Files 0644 and folders 0755 under umask 022 (0600 / 0700 under 077): what every command writes."""
    out, cache, root = tmp_path / "runs", tmp_path / "cache", tmp_path / "data"
    monkeypatch.setenv("LSBENCH_CACHE", str(cache))
    runner = CliRunner()
    with umask(mask):
        built = runner.invoke(main, ["datasets", "build", "shapes", "--root", str(root), "--seed", "3",
                                     "--train-images", "2", "--val-images", "1", "--test-images", "1"])
        assert built.exit_code == 0, built.output
        run = runner.invoke(main, ["run", "--methods", "cv", "--root", str(data_root), "--limit", "2",
                                   "-p", "cv.max_iter=5", "--executor", "local", "--out", str(out), "--run-id", "r",
                                   "--html", "--no-progress"])
        assert run.exit_code == 0, run.output
        report = runner.invoke(main, ["report", str(out / "r"), "--html"])
        assert report.exit_code == 0, report.output
        small = ["--root", str(data_root), "--epochs", "1", "-p", "size=8", "-p", "steps=2", "-p", "batch_size=64",
                 "--no-progress"]
        for extra in (["--out", str(tmp_path / "ckpt" / "rls.pt")], []):  # a named file, and the cache
            trained = runner.invoke(main, ["train", "rls", *small, *extra])
            assert trained.exit_code == 0, trained.output
    written = {"datasets build": root, "run and report": out, "train --out": tmp_path / "ckpt", "train": cache}
    assert {p.name for p in (out / "r").iterdir()} >= {"per_sample.csv", "config.json", "figures", "masks",
                                                       "index.html", "table2.md", "samples.npz", "records.jsonl"}
    for what, folder in written.items():
        files, dirs = modes_below(folder)
        assert files and files == {0o666 & ~mask}, (what, sorted(map(oct, files)))
        assert dirs <= {0o777 & ~mask}, (what, sorted(map(oct, dirs)))
        assert mode(folder) == 0o777 & ~mask, what

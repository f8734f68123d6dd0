"""Your own images in one line: `lsbench run --dataset folder`, `lsbench segment` and `lsbench.segment`
give the same masks; `lsbench export` writes a run's masks as PNG; bad input fails in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

import lsbench
from lsbench.cli import main
from lsbench.datasets import fixtures
from lsbench.metrics.binary import f_measure
from lsbench.registry import METHODS
from lsbench.rundir import load_masks, write_masks
from lsbench.types import Sample

METHODS_RUN = ("cv", "drlse")


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path_factory.mktemp("own") / "mine"
    return root, fixtures.write_folder(root, inits=True)


def _without_inits(root: Path, tmp_path: Path) -> Path:
    """A copy of the folder without inits/."""
    import shutil

    copy = tmp_path / "no-inits"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("inits"))
    return copy


@pytest.mark.parametrize("with_inits", [False, True], ids=["no-init", "inits"])
def test_run_segment_and_python_give_the_same_masks(folder, tmp_path, with_inits):
    """The done-when of issue 16: five PNGs (two 16-bit, one RGB) with masks, three routes, one set of masks."""
    root, truth = folder
    root = root if with_inits else _without_inits(root, tmp_path)
    kinds = {s: _png(root / "images" / f"{s}.png") for s in truth}
    assert sum(a.dtype == np.uint16 for a in kinds.values()) == 2 and sum(a.ndim == 3 for a in kinds.values()) == 1

    run = _invoke("run", "--methods", ",".join(METHODS_RUN), "--dataset", "folder", "--root", root,
                  "--out", tmp_path / "runs", "--run-id", "r", "--no-progress", "--no-figures")
    assert run.exit_code == 0, run.output
    per_sample = pd.read_csv(tmp_path / "runs" / "r" / "per_sample.csv")
    assert (per_sample["f_measure"] > 0.85).all(), per_sample[["method", "sample_id", "f_measure"]]

    for method in METHODS_RUN:
        from_run = load_masks(tmp_path / "runs" / "r", method)
        out = tmp_path / f"seg-{method}"
        init = ["--init", root / "inits"] if with_inits else []
        seg = _invoke("segment", *sorted((root / "images").iterdir()), "--method", method, "--out", out,
                      "--no-progress", *init)
        assert seg.exit_code == 0, seg.output
        for stem, gt in truth.items():
            image = kinds[stem]                          # the array as the user has it: uint8, uint16, RGB uint8
            region = _png(root / "inits" / f"{stem}.png") if with_inits else None
            from_python = lsbench.segment(image, method=method, init=region)
            from_cli = _png(out / f"{stem}.png")
            assert set(np.unique(from_cli)) <= {0, 255}
            assert from_python.dtype == bool and from_python.shape == gt.shape
            np.testing.assert_array_equal(from_run[stem], from_python, err_msg=f"{method} {stem}: run vs Python")
            np.testing.assert_array_equal(from_cli == 255, from_python, err_msg=f"{method} {stem}: CLI vs Python")
            assert f_measure(from_python, gt) > 0.85  # the object, bright or dark, not its complement
            assert (out / f"{stem}-overlay.png").is_file()


def test_segment_is_the_registered_method_with_its_phase_rule():
    image = np.full((24, 24), 0.8, np.float32)
    image[6:18, 8:20] = 0.2                              # a dark object on a bright ground
    obj = image < 0.5
    as_is = METHODS.build("cv", max_iter=60)(Sample("x", image)).mask
    assert np.array_equal(lsbench.segment(image, "cv", max_iter=60), as_is)
    assert f_measure(as_is, obj) == 1.0                  # no region: the phase away from the border
    corner = np.zeros((24, 24), bool)
    corner[:4, :4] = True                                # a region in the ground makes the ground the object
    assert f_measure(lsbench.segment(image, "cv", init=corner, max_iter=60), ~obj) == 1.0
    raw = lsbench.classic.chan_vese(image, max_iter=60)  # the bare function keeps phi > 0 as it ends
    assert f_measure(raw, obj) in (0.0, 1.0)
    boxed = lsbench.segment(image, "drlse", init="box")  # an init name goes to the method's init parameter
    assert np.array_equal(boxed, METHODS.build("drlse", init="box")(Sample("x", image)).mask)


def test_segment_reads_files_and_scales_integer_arrays(folder):
    root, _ = folder
    for stem in ("cell-b", "leaf-d"):
        path = root / "images" / f"{stem}.png"
        raw = _png(path)
        a = lsbench.segment(path, "cv", max_iter=40)
        assert np.array_equal(a, lsbench.segment(str(path), "cv", max_iter=40))
        assert np.array_equal(a, lsbench.segment(raw, "cv", max_iter=40))
        scale = 65535.0 if raw.dtype == np.uint16 else 255.0
        assert np.array_equal(a, lsbench.segment((raw / scale).astype(np.float32), "cv", max_iter=40))
    region = root / "inits" / "cell-b.png"
    assert np.array_equal(lsbench.segment(root / "images" / "cell-b.png", "drlse", init=region),
                          lsbench.segment(root / "images" / "cell-b.png", "drlse", init=str(region)))


@pytest.mark.parametrize("call, error, match", [
    (lambda im: lsbench.segment(im, "nope"), ValueError, "unknown method 'nope'; valid methods: .*cv"),
    (lambda im: lsbench.segment(im, "crls"), ValueError, "'crls' predicts instances"),
    (lambda im: lsbench.segment(im, "cv", zeta=1), ValueError, "has no parameter\\(s\\) 'zeta'"),
    (lambda im: lsbench.segment(im, "cv", mu=-1.0), ValueError, "mu"),
    (lambda im: lsbench.segment(im, "fconnet", init="box"), ValueError, "'fconnet' takes no init parameter"),
    (lambda im: lsbench.segment(im, "cv", init=np.ones((3, 3), bool)), ValueError, "region has shape \\(3, 3\\)"),
    (lambda im: lsbench.segment(im, "cv", init=np.zeros(im.shape, bool)), ValueError, "region is empty"),
    (lambda im: lsbench.segment(im, "cv", init=np.full(im.shape, 0.5)), TypeError, "bool \\(or 0/1\\) mask"),
    (lambda im: lsbench.segment(np.dstack([im] * 4)), ValueError, "drop the alpha channel"),
    (lambda im: lsbench.segment(im > 0), TypeError, "dtype bool"),
    (lambda im: lsbench.segment(im.astype(np.complex64)), TypeError, "dtype complex64"),
    (lambda im: lsbench.segment(Path("/nonexistent/x.png")), ValueError, "/nonexistent/x.png: missing"),
    (lambda im: lsbench.segment(im, "cv", init="/nonexistent/r.png"), ValueError, "/nonexistent/r.png: missing"),
])
def test_segment_bad_input_names_the_problem(call, error, match):
    image = np.zeros((12, 12), np.float32)
    image[3:9, 3:9] = 1
    with pytest.raises(error, match=match):
        call(image)


def test_segment_cli_bad_input_fails_before_writing(folder, tmp_path):
    root, _ = folder
    images = sorted((root / "images").iterdir())
    out = tmp_path / "out"
    garbage = tmp_path / "broken.png"
    garbage.write_bytes(b"not an image")
    twin = tmp_path / "twin" / "cell-a.tif"
    twin.parent.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(twin)
    cases = [
        (["segment", tmp_path / "missing.png", "--out", out], "missing.png: missing"),
        (["segment", garbage, "--out", out], "broken.png: not a readable image"),
        (["segment", tmp_path / "notes.txt", "--out", out], "notes.txt: not an image file lsbench reads"),
        (["segment", images[0], twin, "--out", out], "cell-a.tif: has the same stem as"),
        (["segment", images[0], "--method", "nope", "--out", out], "unknown method 'nope'"),
        (["segment", images[0], "-p", "mu=abc", "--out", out], "mu=abc"),
        (["segment", images[0], "--init", tmp_path / "none", "--out", out], "--init .*none: no such file or folder"),
        (["segment", images[0], "--init", tmp_path, "--out", out], "holds no <image stem>.png"),
        (["segment", images[0], "--out", garbage], "is a file|exists and is not a folder"),
    ]
    for args, message in cases:
        result = _invoke(*args)
        assert result.exit_code != 0, (args, result.output)
        last = result.output.strip().splitlines()[-1]
        assert last.startswith("Error: ") and __import__("re").search(message, last), (args, result.output)
    assert not out.exists()


def test_segment_cli_reports_a_failing_image_and_writes_the_others(folder, tmp_path):
    root, _ = folder
    small = tmp_path / "small.png"
    Image.fromarray(np.ones((5, 5), np.uint8)).save(small)
    images = [root / "images" / "cell-a.png", root / "images" / "dark-c.png"]
    result = _invoke("segment", *images, "--method", "drlse", "--init", root / "inits" / "cell-a.png",
                     "--out", tmp_path / "out", "--no-overlay", "--no-progress")
    # dark-c's region file is cell-a's: same size, so both run; now one region for an image of another size
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cell-a.png", "dark-c.png"]
    result = _invoke("segment", images[0], small, "--init", root / "inits" / "cell-a.png",
                     "--out", tmp_path / "out2", "--no-progress")
    assert result.exit_code == 1
    assert "small.png: DatasetError:" in result.output and "differs from its image's 5 x 5" in result.output
    assert "1 of 2 image(s) failed" in result.output
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["cell-a-overlay.png", "cell-a.png"]


def test_export_writes_the_runs_masks_as_png(folder, tmp_path):
    root, _ = folder
    run = _invoke("run", "--methods", "cv", "--dataset", "folder", "--root", root, "--out", tmp_path / "runs",
                  "--run-id", "r", "--no-progress", "--no-figures", "--executor", "local")
    assert run.exit_code == 0, run.output
    run_dir = tmp_path / "runs" / "r"
    result = _invoke("export", run_dir, "--png", tmp_path / "png")
    assert result.exit_code == 0, result.output
    assert f"cv: 5 mask(s) in {tmp_path / 'png' / 'cv'}" in result.output
    masks = load_masks(run_dir, "cv")
    for stem, mask in masks.items():
        np.testing.assert_array_equal(_png(tmp_path / "png" / "cv" / f"{stem}.png"), mask.astype(np.uint8) * 255)
    again = _invoke("export", run_dir, "--png", tmp_path / "png")
    assert again.exit_code == 1 and "png/cv already exists" in again.output
    for args, message in (([run_dir, "--png", tmp_path / "p2", "--methods", "drlse"], "not in"),
                          ([tmp_path / "nope", "--png", tmp_path / "p3"], "does not exist"),
                          ([run_dir.parent, "--png", tmp_path / "p4"], "per_sample.csv is missing")):
        out = _invoke("export", *args)
        assert out.exit_code == 1 and message in out.output and out.output.count("\n") == 1, out.output
    assert not (tmp_path / "p2").exists()


def test_export_skips_failed_samples_and_refuses_instance_runs(tmp_path):
    run_dir = tmp_path / "fake"
    run_dir.mkdir()
    pd.DataFrame({"method": ["cv", "cv"], "dataset": "folder", "split": "all", "sample_id": ["a b", "c"],
                  "seconds": [0.1, float("nan")], "error": ["", "ValueError: x"]}).to_csv(run_dir / "per_sample.csv",
                                                                                         index=False)
    mask = np.eye(3, dtype=bool)
    write_masks(run_dir, "cv", [("a b", (3, 3), np.packbits(mask.reshape(-1))), ("c", (3, 3), None)])
    result = _invoke("export", run_dir, "--png", tmp_path / "png")
    assert result.exit_code == 0 and "cv: 1 mask(s)" in result.output and "1 sample(s) failed" in result.output
    assert [p.name for p in (tmp_path / "png" / "cv").iterdir()] == ["a_b.png"]
    (run_dir / "ground_truth.json").write_text("{}")
    refused = _invoke("export", run_dir, "--png", tmp_path / "png2")
    assert refused.exit_code == 1 and "is an instance run" in refused.output

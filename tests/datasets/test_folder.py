"""The folder dataset: your own images (PNG, JPEG, TIFF; 8/16-bit; grey or colour), optional masks and
initial regions, every bad input a one-line error naming the file, and `lsbench datasets` on it."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from lsbench.cli import main
from lsbench.datasets import DatasetError, fixtures, load
from lsbench.datasets.folder import FolderDataset, decode_image, decode_region, image_to_float
from lsbench.registry import DATASETS


def _save(path: Path, array: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, **kw).save(path)
    return path


def _listing(root: Path) -> list[tuple[str, int, float]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime) for p in root.rglob("*"))


@pytest.fixture
def folder(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path / "mine"
    return root, fixtures.write_folder(root)


def test_registered_binary_with_one_split():
    entry = DATASETS.get("folder")
    assert entry.kind == "binary" and entry.defaults() == {"root": None, "split": "all"}


def test_five_pngs_decode_by_their_sample_type(folder):
    root, truth = folder
    ds = load("folder", root=root)
    assert ds.ids() == sorted(fixtures.FOLDER_IMAGES) and len(ds) == 5 and ds.gt_names == ("gt",)
    for sample in ds:
        raw = np.asarray(Image.open(root / "images" / f"{sample.id}.png"))
        assert sample.image.dtype == np.float32 and sample.mask.dtype == bool
        np.testing.assert_array_equal(sample.mask, truth[sample.id])
        assert sample.init is None and sample.meta["file_name"] == f"images/{sample.id}.png"
        if raw.dtype == np.uint16:  # 16-bit: every level kept (v / 65535), not squeezed to 8 bits
            np.testing.assert_array_equal(sample.image, (raw / 65535.0).astype(np.float32))
            assert len(np.unique(sample.image)) > 256
        else:
            np.testing.assert_array_equal(sample.image, raw.astype(np.float32) / np.float32(255))
        assert sample.image.shape == raw.shape  # grey stays H x W, RGB stays H x W x 3
    assert ds[fixtures_kind("rgb")].image.ndim == 3


def fixtures_kind(kind: str) -> int:
    return sorted(fixtures.FOLDER_IMAGES).index(next(s for s, (k, _) in fixtures.FOLDER_IMAGES.items() if k == kind))


def test_jpeg_tiff_alpha_palette_and_label_masks(tmp_path):
    root = tmp_path / "kinds"
    ramp = np.linspace(0, 255, 6 * 8).reshape(6, 8).astype(np.uint8)
    _save(root / "images" / "a.jpg", np.stack([ramp] * 3, -1))
    _save(root / "images" / "b.TIF", (ramp.astype(np.uint16) * 257))                  # 16-bit TIFF
    _save(root / "images" / "c.tiff", ramp)                                            # 8-bit TIFF
    _save(root / "images" / "d.png", np.dstack([ramp, ramp, ramp, np.zeros_like(ramp)]))  # alpha ignored
    labels = np.zeros((6, 8), np.uint8)
    labels[1:3, 2:5] = 7                      # a label mask: nonzero = object
    _save(root / "masks" / "a.png", labels)
    red = np.zeros((6, 8, 3), np.uint8)
    red[2:4, 1:3, 0] = 200                    # an RGB mask: any channel nonzero
    _save(root / "masks" / "b.png", red)
    pal = Image.fromarray(labels, mode="P")
    pal.putpalette([255, 255, 255] * 256)     # white palette: the *index* decides, not the colour
    pal.save(root / "masks" / "c.png")
    ds = FolderDataset(root)
    a, b, c, d = (ds[i] for i in range(4))
    assert a.image.shape == (6, 8, 3) and d.image.shape == (6, 8, 3)
    np.testing.assert_array_equal(b.image, (ramp.astype(np.uint16) * 257 / 65535.0).astype(np.float32))
    np.testing.assert_array_equal(c.image, ramp / np.float32(255))
    np.testing.assert_array_equal(d.image[:, :, 0], ramp / np.float32(255))
    np.testing.assert_array_equal(a.mask, labels > 0)
    np.testing.assert_array_equal(b.mask, red[:, :, 0] > 0)
    np.testing.assert_array_equal(c.mask, labels > 0)
    assert d.mask is None
    assert "4 images, 3 with a mask, 0 with an initial region" == ds.contents()


def test_without_masks_no_ground_truth_and_inits_are_read(tmp_path):
    root = tmp_path / "plain"
    fixtures.write_folder(root, masks=False, inits=True)
    ds = FolderDataset(root)
    assert ds.gt_names == () and "no ground truth" in ds.contents()
    sample = ds[0]
    assert sample.mask is None and sample.init is not None and sample.init.any() and not sample.init.all()
    assert sample.meta["init_file"] == f"inits/{sample.id}.png" and sample.meta["mask_file"] == ""


def test_image_to_float_refuses_what_it_cannot_scale():
    assert image_to_float(np.array([[0.5, 2.0]], np.float64)).dtype == np.float32  # floats: any range, float32
    for bad, match in ((np.zeros((4, 4), bool), "dtype bool"), (np.zeros((4, 4), np.int32), "dtype int32"),
                       (np.zeros((4, 4), np.complex64), "dtype complex64"), (np.zeros((4, 4, 4)), "alpha"),
                       (np.zeros(4), "H x W"), (np.array([[np.nan, 0.0]]), "NaN")):
        with pytest.raises((TypeError, ValueError), match=match):
            image_to_float(bad, "x")


def test_unsupported_modes_are_refused_naming_the_file():
    buf = io.BytesIO()
    Image.fromarray(np.zeros((3, 3), np.float32)).save(buf, format="TIFF")
    with pytest.raises(DatasetError, match=r"^f\.tif: image mode 'F' is not read"):
        decode_image(buf.getvalue(), "f.tif")
    with pytest.raises(DatasetError, match=r"^m\.png: not a readable image"):
        decode_region(b"\x89PNG\r\n\x1a\n garbage", "m.png")


@pytest.mark.parametrize("damage, message", [
    ("no-images", r"images: no images/ folder; the folder dataset reads DIR/images/\*"),
    ("empty", r"images: no images \(\.png"),
    ("garbage", r"cell-a\.png: not a readable image"),
    ("truncated-ok-header", None),
    ("mask-size", r"masks/cell-b\.png: size 47 x 40 differs from its image cell-b\.png \(48 x 40\)"),
    ("mask-orphan", r"masks/zebra\.png: mask without an image \(no images/zebra\.\*"),
    ("init-orphan", r"inits/zebra\.png: initial region without an image"),
    ("mask-jpeg", r"masks/cell-a\.jpg: not a PNG"),
    ("suffix", r"images/notes\.txt: not an image file lsbench reads"),
    ("same-stem", r"images/cell-a\.tif: has the same stem as cell-a\.png"),
    ("float-tiff", r"images/z\.tif: image mode 'F' is not read"),
])
def test_bad_folders_fail_in_one_line_naming_the_file(folder, damage, message):
    root, _ = folder
    if damage == "no-images":
        (root / "images").rename(root / "pictures")
    elif damage == "empty":
        for p in (root / "images").iterdir():
            p.unlink()
        for p in (root / "masks").iterdir():
            p.unlink()
    elif damage == "garbage":
        (root / "images" / "cell-a.png").write_bytes(b"not a png at all")
    elif damage == "truncated-ok-header":  # the header reads, the pixels do not: fails when the sample loads
        data = (root / "images" / "cell-a.png").read_bytes()
        (root / "images" / "cell-a.png").write_bytes(data[: len(data) // 2])
    elif damage == "mask-size":
        _save(root / "masks" / "cell-b.png", np.zeros((40, 47), np.uint8))
    elif damage == "mask-orphan":
        _save(root / "masks" / "zebra.png", np.zeros((40, 48), np.uint8))
    elif damage == "init-orphan":
        _save(root / "inits" / "zebra.png", np.zeros((40, 48), np.uint8))
    elif damage == "mask-jpeg":
        _save(root / "masks" / "cell-a.jpg", np.zeros((40, 48), np.uint8))
    elif damage == "suffix":
        (root / "images" / "notes.txt").write_text("hello")
    elif damage == "same-stem":
        _save(root / "images" / "cell-a.tif", np.zeros((40, 48), np.uint8))
    elif damage == "float-tiff":
        _save(root / "images" / "z.tif", np.zeros((40, 48), np.float32))
    if message is None:
        ds = FolderDataset(root)
        with pytest.raises(DatasetError, match=r"cell-a\.png: not a readable image"):
            ds[0]
        return
    with pytest.raises(DatasetError, match=message) as info:
        FolderDataset(root)
    assert "\n" not in str(info.value)
    out = CliRunner().invoke(main, ["run", "--methods", "cv", "--dataset", "folder", "--root", str(root),
                                    "--out", str(root.parent / "runs")])
    assert out.exit_code == 1 and out.output.count("\n") == 1 and out.output.startswith("Error: ")
    assert not (root.parent / "runs").exists() or not any((root.parent / "runs").iterdir())


def test_empty_initial_region_is_refused_when_loaded(folder):
    root, _ = folder
    _save(root / "inits" / "cell-a.png", np.zeros((40, 48), np.uint8))
    with pytest.raises(DatasetError, match=r"inits/cell-a\.png: no nonzero pixel"):
        FolderDataset(root)[0]


def test_root_is_required_and_split_is_all(tmp_path):
    with pytest.raises(DatasetError, match="the folder dataset needs --root DIR"):
        load("folder")
    with pytest.raises(ValueError, match="split must be 'all'"):
        load("folder", root=tmp_path, split="test")
    out = CliRunner().invoke(main, ["run", "--methods", "cv", "--dataset", "folder", "--out", str(tmp_path / "r")])
    assert out.exit_code == 1 and "Error: the folder dataset needs --root DIR" in out.output


def test_datasets_commands_on_a_folder(folder):
    root, _ = folder
    runner = CliRunner()
    before = _listing(root)
    listed = runner.invoke(main, ["datasets", "list"])
    assert listed.exit_code == 0 and "folder      [binary]  your own images: give --root DIR" in listed.output
    listed = runner.invoke(main, ["datasets", "list", "--root", str(root)])
    assert f"folder      [binary]  present ({root})" in listed.output
    info = runner.invoke(main, ["datasets", "info", "folder", "--root", str(root)])
    assert info.exit_code == 0, info.output
    assert f"all: 5 samples at {root}" in info.output
    assert "contents: 5 images, 5 with a mask, 0 with an initial region" in info.output
    ok = runner.invoke(main, ["datasets", "verify", "folder", "--root", str(root)])
    assert ok.exit_code == 0 and f"folder: OK ({root})" in ok.output and "no manifest" in ok.output
    assert _listing(root) == before  # nothing written into the user's folder
    # a dataset name that cannot be built or fetched is a bad option value (exit 2, like click's
    # usage errors), as is a --rehash of nothing; a missing --root is a failed command (exit 1)
    for args, message, code in ((["datasets", "build", "folder", "--root", str(root)], "nothing to build", 2),
                                (["datasets", "fetch", "folder", "--root", str(root)], "nothing to fetch", 2),
                                (["datasets", "verify", "folder", "--root", str(root), "--rehash"],
                                 "keeps no manifest", 2),
                                (["datasets", "info", "folder"], "needs --root DIR", 1)):
        out = runner.invoke(main, args)
        assert out.exit_code == code and message in out.output, (args, out.output)


def test_verify_lists_every_problem_and_flags_odd_masks(folder):
    root, _ = folder
    _save(root / "masks" / "zebra.png", np.zeros((40, 48), np.uint8))
    _save(root / "masks" / "cell-b.png", np.zeros((40, 47), np.uint8))
    labels = np.zeros((40, 48), np.uint8)
    labels[5:9, 5:9], labels[20:25, 20:25] = 1, 2
    _save(root / "masks" / "dark-c.png", labels)
    _save(root / "masks" / "spot-e.png", np.zeros((40, 48), np.uint8))
    out = CliRunner().invoke(main, ["datasets", "verify", "folder", "--root", str(root)])
    assert out.exit_code == 1 and "folder: 2 problem(s) found" in out.output
    assert "masks/zebra.png: mask without an image" in out.output
    assert "masks/cell-b.png: size 47 x 40 differs" in out.output
    assert "masks/dark-c.png: 3 distinct values; every nonzero pixel counts as mask" in out.output
    assert "masks/spot-e.png: empty mask" in out.output


def test_run_without_masks_leaves_metrics_empty_and_says_so(tmp_path, monkeypatch):
    root = tmp_path / "plain"
    fixtures.write_folder(root, masks=False)
    monkeypatch.chdir(tmp_path)  # a relative --root: config.json records where the images are
    out = CliRunner().invoke(main, ["run", "--methods", "cv", "--dataset", "folder", "--root", "plain",
                                    "--out", str(tmp_path / "runs"), "--run-id", "r", "--executor", "local",
                                    "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "No ground truth: none of the samples has a mask" in out.output
    run = tmp_path / "runs" / "r"
    per_sample = pd.read_csv(run / "per_sample.csv")
    assert per_sample["f_measure"].isna().all() and per_sample["error"].isna().all()
    assert (per_sample["seconds"] > 0).all()
    summary = pd.read_csv(run / "summary.csv").set_index("metric")
    assert summary.loc["f_measure", "n"] == 0 and math.isnan(summary.loc["f_measure", "mean"])
    assert summary.loc["seconds", "n"] == 5
    assert not (run / "figures" / "fmeasure_box.png").exists() and (run / "figures" / "fig7_grid.png").exists()
    dataset = json.loads((run / "config.json").read_text())["dataset"]
    assert dataset["name"] == "folder" and dataset["root"] == str(root.resolve())


def test_run_with_some_masks_scores_those(tmp_path):
    root = tmp_path / "half"
    fixtures.write_folder(root)
    for stem in ("cell-a", "leaf-d"):
        (root / "masks" / f"{stem}.png").unlink()
    out = CliRunner().invoke(main, ["run", "--methods", "cv", "--dataset", "folder", "--root", str(root),
                                    "--out", str(tmp_path / "runs"), "--run-id", "r", "--executor", "local",
                                    "--no-progress", "--no-figures"])
    assert out.exit_code == 0, out.output
    assert "2 of 5 samples have no ground truth (no mask)" in out.output
    per_sample = pd.read_csv(tmp_path / "runs" / "r" / "per_sample.csv").set_index("sample_id")
    assert per_sample["f_measure"].isna().tolist() == [True, False, False, True, False]
    assert (per_sample["f_measure"].dropna() > 0.95).all()


def test_a_folder_root_is_not_where_learned_methods_train(folder, monkeypatch, data_root):
    """`--root` of `--dataset folder` is the user's folder: it must not become the learned methods'
    training-data root (they would build the synthetic set inside it)."""
    import lsbench.harness.runner as runner

    root, _ = folder
    seen = {}

    def capture(requests, data, **_):
        seen.update({r.name: r.params for r in requests})
        raise ValueError("captured")

    monkeypatch.setattr(runner, "run_benchmark", capture)
    out = CliRunner().invoke(main, ["run", "--methods", "rls,cv", "--dataset", "folder", "--root", str(root)])
    assert out.output.strip() == "Error: captured"
    assert "train_root" not in seen["rls"] and seen["cv"] == {}
    out = CliRunner().invoke(main, ["run", "--methods", "rls", "--root", str(data_root)])  # a datasets root: used
    assert out.output.strip() == "Error: captured" and seen["rls"]["train_root"] == str(data_root)

"""The synthetic/medical set: sizes, splits, determinism, integrity checks."""

import json
import shutil

import numpy as np
import pytest

from lsbench.datasets import DatasetError, load
from lsbench.datasets.augment import GEOMETRIC, PHOTOMETRIC, apply_ops, variant_ops
from lsbench.datasets.scenes import SCENES, render_scene
from lsbench.datasets.synthetic import SyntheticDataset, build_synthetic, verify_synthetic


def test_720_images_split_360_360_by_scene(data_root):
    train = load("synthetic", root=data_root, split="train")
    test = load("synthetic", root=data_root, split="test")
    assert len(train) == 360 and len(test) == 360
    train_scenes = {i.rsplit("-", 1)[0] for i in train.ids()}
    test_scenes = {i.rsplit("-", 1)[0] for i in test.ids()}
    assert len(train_scenes) == 10 and len(test_scenes) == 10
    assert not train_scenes & test_scenes  # split by source scene: no leakage
    assert {s.family for s in SCENES if s.split == "train"} == {s.family for s in SCENES if s.split == "test"}


def test_samples_are_well_formed(data_root):
    ds = SyntheticDataset(data_root, "test")
    s = ds[5]
    assert s.image.dtype == np.float32 and s.image.shape == (128, 128)
    assert 0.0 <= s.image.min() and s.image.max() <= 1.0
    assert s.mask.dtype == bool and 0 < s.mask.mean() < 1
    assert s.init is not None and s.init.any()
    assert s.meta["family"] and s.meta["ops"]
    # the initial region is the ground-truth box grown by a margin: it contains the object
    assert not (s.mask & ~s.init).any()
    assert ds[-1].id == ds.ids()[-1]
    with pytest.raises(IndexError):
        ds[360]


def test_every_variant_has_geometry_and_degradation_recorded():
    rng = np.random.default_rng(0)
    kinds = {tuple(op["op"] for op in variant_ops(v, rng, 128)) for v in range(36)}
    assert len(kinds) >= 30
    assert len(GEOMETRIC) * len(PHOTOMETRIC) == 36
    with pytest.raises(ValueError):
        variant_ops(36, rng, 128)


def test_geometry_moves_mask_with_image():
    img, mask = render_scene(SCENES[0], 2019, 0, 64)
    out_img, out_mask = apply_ops(img, mask, [{"op": "flip", "axis": 1}], np.random.default_rng(0))
    np.testing.assert_array_equal(out_mask, mask[:, ::-1])
    out_img, out_mask = apply_ops(img, mask, [{"op": "rotate", "degrees": 20.0}], np.random.default_rng(0))
    # the object stays brighter than the background after rotation
    assert out_img[out_mask].mean() > out_img[~out_mask].mean() + 0.2


def test_regenerates_bit_identically_and_verify_detects_changes(tmp_path, data_root):
    copy = tmp_path / "synthetic"
    shutil.copytree(data_root / "synthetic", copy)
    assert verify_synthetic(tmp_path, regenerate=True) == []
    victim = copy / "test" / "images" / "pc-horse-03.png"
    data = bytearray(victim.read_bytes())
    data[-20] ^= 0xFF
    victim.write_bytes(bytes(data))
    (copy / "train" / "masks" / "pc-star-01.png").unlink()
    problems = verify_synthetic(tmp_path)
    assert any("pc-horse-03.png: sha256 mismatch" in p for p in problems)
    assert any("pc-star-01.png: missing" in p for p in problems)
    ds = SyntheticDataset(tmp_path, "test")
    idx = ds.ids().index("pc-horse-03")
    with pytest.raises(DatasetError, match="pc-horse-03.png: sha256 mismatch"):
        ds[idx]


def test_damaged_manifest_is_reported(tmp_path):
    d = tmp_path / "synthetic"
    d.mkdir()
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match="manifest.json: not valid JSON"):
        SyntheticDataset(tmp_path, "test")
    assert "not valid JSON" in verify_synthetic(tmp_path)[0]
    (d / "manifest.json").write_text(json.dumps({"format_version": 99, "items": []}))
    with pytest.raises(DatasetError, match="format version"):
        SyntheticDataset(tmp_path, "test", build=False)


def test_build_is_deterministic_across_seeds(tmp_path):
    a = build_synthetic(tmp_path / "a", seed=7, size=48)
    b = build_synthetic(tmp_path / "b", seed=7, size=48)
    ma = json.loads((a / "manifest.json").read_text())
    mb = json.loads((b / "manifest.json").read_text())
    assert [i["sha256_image"] for i in ma["items"]] == [i["sha256_image"] for i in mb["items"]]
    c = build_synthetic(tmp_path / "c", seed=8, size=48)
    mc = json.loads((c / "manifest.json").read_text())
    assert [i["sha256_image"] for i in ma["items"]] != [i["sha256_image"] for i in mc["items"]]


def test_families_filter_and_bad_arguments(data_root):
    ds = SyntheticDataset(data_root, "test", families="vessel")
    assert len(ds) == 36 and all(i.startswith("vessel") for i in ds.ids())
    with pytest.raises(ValueError, match="valid families"):
        SyntheticDataset(data_root, "test", families=["nope"])
    with pytest.raises(ValueError, match="split"):
        SyntheticDataset(data_root, "val")
    with pytest.raises(ValueError, match="seed"):
        build_synthetic(data_root, seed=-1)


def test_fingerprint_identifies_the_split(data_root):
    a = SyntheticDataset(data_root, "train").fingerprint()
    assert a == SyntheticDataset(data_root, "train").fingerprint()
    assert a != SyntheticDataset(data_root, "test").fingerprint()


def test_the_set_version_is_recorded_and_an_old_folder_is_refused(tmp_path, data_root):
    from lsbench.datasets.synthetic import VERSION

    assert VERSION == 2
    manifest = json.loads((data_root / "synthetic" / "manifest.json").read_text())
    assert manifest["version"] == VERSION
    ds = SyntheticDataset(data_root, "test")
    assert ds.version == VERSION and ds.spec()["version"] == VERSION
    spec = dict(ds.spec())  # what a run's config.json records; workers rebuild the set from it
    again = load(spec.pop("name"), root=spec.pop("root"), split=spec.pop("split"), **spec)
    assert again.ids() == ds.ids() and again.fingerprint() == ds.fingerprint()
    with pytest.raises(ValueError, match="version 2, not 1"):
        load("synthetic", root=data_root, split="test", version=1)
    # a version-1 folder (its manifest has no "version" field) is never read nor silently kept
    old = tmp_path / "synthetic"
    old.mkdir()
    del manifest["version"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    rebuild = r"version 1, this lsbench reads version 2; rebuild with `lsbench datasets build synthetic --force`"
    with pytest.raises(DatasetError, match=rebuild):
        SyntheticDataset(tmp_path, "test")
    with pytest.raises(DatasetError, match=rebuild):
        build_synthetic(tmp_path)
    assert len(verify_synthetic(tmp_path)) == 1 and "version 1" in verify_synthetic(tmp_path)[0]
    build_synthetic(tmp_path, force=True)
    assert SyntheticDataset(tmp_path, "test").version == VERSION


def test_datasets_info_and_run_name_the_version(data_root):
    from click.testing import CliRunner

    from lsbench.cli import main

    out = CliRunner().invoke(main, ["datasets", "info", "synthetic", "--root", str(data_root)])
    assert out.exit_code == 0 and "  version: 2" in out.output

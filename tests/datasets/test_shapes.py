"""The shapes set: deterministic, COCO format read alike by lsbench and pycocotools, occlusion."""

import contextlib
import io
import itertools
import warnings

import numpy as np
import pytest

from lsbench.datasets import DatasetError, load
from lsbench.datasets.shapes import (
    CLASSES,
    ShapesDataset,
    build_shapes,
    dataset_dir,
    render_image,
    verify,
)

SMALL = {"seed": 7, "size": 64, "train_images": 8, "val_images": 3, "test_images": 4}


@pytest.fixture(scope="module")
def small_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    build_shapes(root, **SMALL)
    return root


def _files(directory):
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_regenerates_identically_from_its_seed(small_root, tmp_path):
    again = build_shapes(tmp_path, **SMALL)
    first = dataset_dir(small_root, 7, 64, {"train": 8, "val": 3, "test": 4})
    a, b = _files(first), _files(again)
    assert a == b and len(a) == 8 + 3 + 4 + 3 + 1  # images, 3 JSONs, the manifest
    report = verify(small_root, regenerate=True, **SMALL)
    assert report.ok, report.problems
    other = build_shapes(tmp_path / "other", **{**SMALL, "seed": 8})
    assert _files(other)["train/train_000000.png"] != a["train/train_000000.png"]


def test_lsbench_and_pycocotools_agree_on_every_mask(small_root):
    from pycocotools.coco import COCO

    for split in ("train", "val", "test"):
        ds = load("shapes", root=small_root, split=split, **SMALL)
        with contextlib.redirect_stdout(io.StringIO()):
            ref = COCO(str(ds.annotation_file))
        assert len(ds) == len(ref.getImgIds())
        for s in ds:
            anns = sorted(ref.loadAnns(ref.getAnnIds(imgIds=s.meta["image_id"])), key=lambda a: a["id"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                masks = np.stack([ref.annToMask(a).astype(bool) for a in anns])
            np.testing.assert_array_equal(s.instances.masks, masks)
            assert s.instances.labels.tolist() == [a["category_id"] for a in anns]  # ids 1..6 are contiguous


def test_instances_are_well_formed_and_occlusion_updates_visible_masks(small_root):
    occluded = 0
    counts = []
    for split in ("train", "val", "test"):
        ds = ShapesDataset(small_root, split, **SMALL)
        assert ds.categories.names == list(CLASSES)
        for s in ds:
            inst = s.instances
            counts.append(len(inst))
            assert 1 <= len(inst) <= 8 and set(inst.labels.tolist()) <= set(range(1, 7))
            assert not inst.iscrowd.any() and s.image.shape == (64, 64, 3)
            assert (inst.masks.sum(axis=(1, 2)) >= 25).all()
            for i, j in itertools.combinations(range(len(inst)), 2):  # visible parts never overlap
                assert not (inst.masks[i] & inst.masks[j]).any()
    for i in range(15):
        _, specs, visible = render_image(7, "train", i, 64)
        for spec, vis in zip(specs, visible, strict=True):
            assert spec["area_visible"] == vis.sum() <= spec["area_full"]
            occluded += spec["occlusion"] > 0
    assert occluded > 0 and max(counts) > 1


def test_damaged_copy_is_reported_and_refused(small_root, tmp_path):
    import shutil

    src = dataset_dir(small_root, 7, 64, {"train": 8, "val": 3, "test": 4})
    shutil.copytree(src, tmp_path / src.name)
    victim = tmp_path / src.name / "val" / "val_000001.png"
    victim.write_bytes(victim.read_bytes()[:100])
    problems = verify(tmp_path, **SMALL).problems
    assert "val/val_000001.png: sha256 mismatch (file modified or damaged)" in problems
    ds = ShapesDataset(tmp_path, "val", build=False, **SMALL)
    with pytest.raises(DatasetError, match="val_000001.png: sha256 differs from the dataset manifest"):
        ds[1]
    with pytest.raises(DatasetError, match="manifest.json: missing; build the set"):
        ShapesDataset(tmp_path / "empty", "val", build=False, **SMALL)
    with pytest.raises(ValueError, match="train_images must be a positive integer"):
        ShapesDataset(tmp_path, "val", build=False, **{**SMALL, "train_images": 0})

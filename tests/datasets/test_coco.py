"""COCO 2014: polygons, uncompressed (crowd) and compressed RLE, category mapping, sizes, verify."""

import json

import numpy as np
import pytest
from PIL import Image

from lsbench.datasets import DatasetError, load
from lsbench.datasets.categories import CategoryMap
from lsbench.datasets.coco import Coco2014Dataset, dataset_dir, verify

from .conftest import copy_of


def test_decodes_every_encoding_and_keeps_crowds_apart(coco_fixture):
    root, truths = coco_fixture
    for split in ("val", "train"):
        ds = load("coco2014", root=root, split=split)
        assert len(ds) == len(truths[split]) and ds.kind == "instance"
        for s in ds:
            t = truths[split][s.meta["image_id"]]
            np.testing.assert_array_equal(s.instances.masks, t["masks"])
            assert [ds.categories.id_of(label) for label in s.instances.labels] == t["category_ids"]
            assert s.instances.iscrowd.tolist() == t["iscrowd"]
            np.testing.assert_array_equal(s.instances.boxes, t["boxes"])
            assert s.meta["ann_ids"] == t["ann_ids"]
            assert s.id == t["file_name"].removesuffix(".jpg")
    first = Coco2014Dataset(root, "val")[0]
    assert len(first.instances) == 3
    assert first.instances.iscrowd.tolist() == [False, False, True]  # the crowd region is flagged
    assert first.instances.masks[0].sum() == 5 * 7 + 3 * 7            # two polygons of one object


def test_category_ids_map_to_contiguous_labels_and_back(coco_fixture):
    root, _ = coco_fixture
    cats = Coco2014Dataset(root, "val").categories
    assert cats.ids == [1, 18, 44, 90] and cats.names == ["person", "dog", "bottle", "toothbrush"]
    assert [cats.label_of(i) for i in (1, 18, 44, 90)] == [1, 2, 3, 4]
    assert cats.id_of(4) == 90 and cats.name_of(2) == "dog"
    with pytest.raises(KeyError, match="unknown category id 12"):
        cats.label_of(12)
    with pytest.raises(ValueError, match="distinct"):
        CategoryMap([(1, "a"), (1, "b")])


def test_skip_empty_drops_images_without_annotations(coco_fixture):
    root, truths = coco_fixture
    ds = Coco2014Dataset(root, "val", skip_empty=True)
    assert len(ds) == len(truths["val"]) - 1 and all(len(s.instances) for s in ds)


def test_damaged_copies_raise_naming_the_file(coco_fixture, tmp_path):
    src, _ = coco_fixture
    root = copy_of(src, "coco2014", tmp_path)
    base = dataset_dir(root)
    ann = base / "annotations" / "instances_val2014.json"
    # an image whose size differs from the one recorded in the JSON
    img = base / "val2014" / "COCO_val2014_000000000016.jpg"
    Image.open(img).resize((10, 10)).save(img)
    with pytest.raises(DatasetError, match="COCO_val2014_000000000016.jpg: size 10 x 10 differs from the 26 x 22"):
        Coco2014Dataset(root, "val")[1]
    # an annotation of an unknown category
    data = json.loads(ann.read_text())
    data["annotations"][0]["category_id"] = 12
    ann.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"instances_val2014.json: annotation \d+: category 12 out of range"):
        Coco2014Dataset(root, "val")
    # a truncated JSON
    ann.write_bytes(ann.read_bytes()[:200])
    with pytest.raises(DatasetError, match="instances_val2014.json: not valid JSON"):
        Coco2014Dataset(root, "val")


def test_verify_reports_every_problem_with_its_file(coco_fixture, tmp_path):
    src, _ = coco_fixture
    root = copy_of(src, "coco2014", tmp_path)
    report = verify(root)
    assert report.ok, report.problems
    base = dataset_dir(root)
    (base / "val2014" / "COCO_val2014_000000000009.jpg").unlink()                     # missing file
    img = base / "train2014" / "COCO_train2014_000000000016.jpg"
    Image.open(img).resize((10, 10)).save(img)                                          # size mismatch
    Image.open(base / "val2014" / "COCO_val2014_000000000023.jpg").save(
        base / "val2014" / "COCO_val2014_000000000023.jpg", quality=40)                 # modified after ingest
    train_ann = base / "annotations" / "instances_train2014.json"
    data = json.loads(train_ann.read_text())
    data["annotations"][0]["image_id"] = 4242                                          # id absent from images
    train_ann.write_text(json.dumps(data))
    val_ann = base / "annotations" / "instances_val2014.json"
    val_ann.write_bytes(val_ann.read_bytes()[:-40])                                      # truncated JSON
    problems = "\n".join(verify(root).problems)
    assert "annotations/instances_val2014.json: not valid JSON, truncated or damaged" in problems
    assert "train2014/COCO_train2014_000000000016.jpg: size 10 x 10 differs from the 26 x 22" in problems
    assert "annotations/instances_train2014.json: annotation" in problems and "image 4242, absent" in problems
    assert "val2014/COCO_val2014_000000000009.jpg: missing (listed in the sha256 manifest)" in problems
    assert "val2014/COCO_val2014_000000000023.jpg: sha256 differs from the manifest" in problems

"""PASCAL VOC 2012: palette indices, void excluded, instance classes, splits, verify."""

import numpy as np
import pytest
from PIL import Image

from lsbench.datasets import DatasetError, load
from lsbench.datasets.io import voc_colormap
from lsbench.datasets.voc import VOCDataset, devkit_dir, verify
from lsbench.metrics.binary import binary_metrics
from lsbench.types import Prediction, Sample

from .conftest import copy_of


def test_fixture_masks_are_palette_pngs_with_the_voc_colour_map(voc_fixture):
    root, _ = voc_fixture
    im = Image.open(devkit_dir(root) / "SegmentationClass" / "2007_000033.png")
    assert im.mode == "P"
    palette = np.array(im.getpalette(), np.uint8).reshape(-1, 3)
    np.testing.assert_array_equal(palette[:256], voc_colormap())
    assert tuple(palette[15]) == (192, 128, 128) and tuple(palette[255]) == (224, 224, 192)


def test_decodes_instances_labels_boxes_and_void_exactly(voc_fixture):
    root, truth = voc_fixture
    for split, n in (("train", 2), ("val", 3), ("trainval", 5)):
        ds = load("voc2012", root=root, split=split)
        assert len(ds) == n and ds.kind == "instance"
        for s in ds:
            t = truth[s.id]
            np.testing.assert_array_equal(s.instances.masks, t["masks"])
            assert s.instances.labels.tolist() == t["labels"]
            np.testing.assert_array_equal(s.meta["ignore"], t["void"])
            assert not (s.instances.masks & t["void"]).any()  # void pixels belong to no instance
            for m, box in zip(t["masks"], s.instances.boxes, strict=True):
                ys, xs = np.nonzero(m)
                assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            assert not s.instances.iscrowd.any()
            assert s.image.shape == (*t["void"].shape, 3) and s.image.dtype == np.float32
            assert np.abs(s.image * 255 - t["image"]).mean() < 8  # JPEG
    assert ds.categories.name_of(15) == "person" and len(ds.categories) == 20


def test_void_pixels_are_excluded_from_scoring(voc_fixture):
    root, _ = voc_fixture
    s = VOCDataset(root, "val")[0]
    obj = s.instances.masks[0]
    pred = obj | s.meta["ignore"]  # predicting the void band too costs nothing
    single = Sample(id="x", image=s.image, mask=obj, meta={"ignore": s.meta["ignore"]})
    assert binary_metrics(Prediction(mask=pred), single)["f_measure"] == 1.0


def test_masks_are_never_read_through_the_palette(voc_fixture, tmp_path):
    src, _ = voc_fixture
    root = copy_of(src, "voc2012", tmp_path)
    p = devkit_dir(root) / "SegmentationObject" / "2007_000032.png"
    Image.open(p).convert("RGB").save(p)  # what skimage/imageio would hand back
    with pytest.raises(DatasetError, match="2007_000032.png: mask must be a palette"):
        VOCDataset(root, "train")[0]
    with pytest.raises(ValueError, match="split must be one of"):
        VOCDataset(root, "test")


def test_verify_reports_every_problem_with_its_file(voc_fixture, tmp_path):
    src, _ = voc_fixture
    root = copy_of(src, "voc2012", tmp_path)
    assert verify(root).ok
    d = devkit_dir(root)
    (d / "JPEGImages" / "2007_000032.jpg").unlink()                                    # missing file
    Image.open(d / "SegmentationClass" / "2008_000008.png").convert("L").save(d / "SegmentationClass" / "2008_000008.png")  # wrong mode
    small = np.zeros((5, 7), np.uint8)
    from lsbench.datasets.io import encode_palette_png

    (d / "SegmentationObject" / "2009_000012.png").write_bytes(encode_palette_png(small))  # size mismatch
    cls = np.asarray(Image.open(d / "SegmentationClass" / "2011_003276.png")).copy()
    cls[0, 0] = 42
    (d / "SegmentationClass" / "2011_003276.png").write_bytes(encode_palette_png(cls))     # label out of range
    with open(d / "ImageSets" / "Segmentation" / "val.txt", "a") as f:
        f.write("2012_999999\n")                                                           # id in split, absent
    problems = "\n".join(verify(root).problems)
    assert "JPEGImages/2007_000032.jpg: missing (id listed in ImageSets/Segmentation/train.txt)" in problems
    assert "SegmentationClass/2008_000008.png: image mode 'L', expected 'P'" in problems
    assert "SegmentationObject/2009_000012.png: size (7, 5) differs from JPEGImages/2009_000012.jpg" in problems
    assert "SegmentationClass/2011_003276.png: SegmentationClass label(s) [42] out of range" in problems
    assert "JPEGImages/2012_999999.jpg: missing (id listed in ImageSets/Segmentation/val.txt)" in problems
    assert "SegmentationClass/2011_003276.png: sha256 differs from the manifest" in problems
    # the loader refuses each damaged item, naming its file
    val = VOCDataset(root, "val")
    with pytest.raises(DatasetError, match="2011_003276.png"):
        val[val.ids().index("2011_003276")]
    with pytest.raises(DatasetError, match="2012_999999.jpg: missing"):
        val[val.ids().index("2012_999999")]


def test_loading_a_damaged_copy_without_manifest_still_names_the_file(voc_fixture, tmp_path):
    from lsbench.datasets.io import encode_palette_png

    src, _ = voc_fixture
    root = copy_of(src, "voc2012", tmp_path)
    d = devkit_dir(root)
    cls = np.asarray(Image.open(d / "SegmentationClass" / "2007_000033.png")).copy()
    cls[cls == 0] = 21
    (d / "SegmentationClass" / "2007_000033.png").write_bytes(encode_palette_png(cls))
    (d / "SegmentationObject" / "2009_000012.png").write_bytes(encode_palette_png(np.zeros((4, 4), np.uint8)))
    (d / "JPEGImages" / "2011_003276.jpg").write_bytes(b"\xff\xd8\xff truncated")
    val = VOCDataset(root, "val")
    with pytest.raises(DatasetError, match=r"2007_000033.png: SegmentationClass label\(s\) \[21\] out of range"):
        val[0]
    with pytest.raises(DatasetError, match="SegmentationObject/2009_000012.png: size"):
        val[1]
    with pytest.raises(DatasetError, match="2011_003276.jpg: not a readable image"):
        val[2]

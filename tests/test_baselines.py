"""The sanity baselines otsu and box: exact answers on tiny images, and as registered methods."""

import numpy as np
import pytest

from lsbench.baselines import box, otsu
from lsbench.registry import METHODS
from lsbench.types import Sample


def _scene():
    """A bright 2 x 3 object in a 6 x 6 image whose right column is as bright (touching the border)."""
    img = np.full((6, 6), 0.2)
    img[2:4, 1:4] = 0.9
    img[:, 5] = 0.9
    obj = np.zeros((6, 6), bool)
    obj[2:4, 1:4] = True
    return img, obj


def test_otsu_thresholds_globally_and_orients_by_the_border():
    img, _ = _scene()
    bright = img > 0.5
    # the bright phase touches 6 border pixels, the dark one 14: the bright phase is the object
    np.testing.assert_array_equal(otsu(img, polarity="border"), bright)
    # inverted contrast: the dark phase now touches fewer border pixels and is returned
    np.testing.assert_array_equal(otsu(1.0 - img, polarity="border"), bright)
    # a bright frame around a dark object: the dark (inner) phase is the object
    frame = np.ones((5, 5))
    frame[1:4, 1:4] = 0.0
    np.testing.assert_array_equal(otsu(frame), frame < 0.5)


def test_otsu_uses_skimage_threshold_not_the_midpoint():
    # 6 x 0, 6 x 0.5, 2 x 1 per row. Between-class variance: {0} | {0.5, 1}: (6/14)(8/14)(0.625)^2 = 0.0957;
    # {0, 0.5} | {1}: (12/14)(2/14)(0.75)^2 = 0.0689, so Otsu splits at 0 | 0.5 (the range's midpoint,
    # 0.5 with ">", would keep only the 1s)
    img = np.array([[0.0] * 6 + [0.5] * 6 + [1.0] * 2] * 3)
    mask = otsu(img, polarity="sample", region=np.ones(img.shape, bool) & (img > 0.2))
    np.testing.assert_array_equal(mask, img > 0.2)


def test_otsu_sample_polarity_reads_the_region():
    img = np.full((6, 6), 0.2)
    img[2:4, 1:4] = 0.9
    region = np.zeros((6, 6), bool)
    region[1:5, 0:5] = True  # the object's box, grown: 6/6 bright pixels, 14/30 dark ones inside
    np.testing.assert_array_equal(otsu(img, polarity="sample", region=region), img > 0.5)
    np.testing.assert_array_equal(otsu(1.0 - img, polarity="sample", region=region), img > 0.5)
    region_right = np.zeros((6, 6), bool)
    region_right[:, 4:] = True  # over background only: the dark phase is "the object"
    np.testing.assert_array_equal(otsu(img, polarity="sample", region=region_right), img < 0.5)
    # with the bright border column, the bright phase has 6/12 of its pixels in the region and
    # the dark one 14/24: the region rule picks the dark phase where the border rule did not
    img2, _ = _scene()
    np.testing.assert_array_equal(otsu(img2, polarity="sample", region=region), img2 < 0.5)


def test_otsu_keeps_a_constant_image_empty_and_validates():
    assert not otsu(np.full((4, 4), 0.3)).any()
    with pytest.raises(ValueError, match="polarity"):
        otsu(np.zeros((4, 4)), polarity="phi")
    with pytest.raises(ValueError, match="region"):
        otsu(np.zeros((4, 4)), polarity="sample")
    with pytest.raises(ValueError, match="shape"):
        otsu(np.zeros((4, 4)), polarity="sample", region=np.ones((3, 4), bool))
    with pytest.raises(TypeError, match="boolean"):
        otsu(np.zeros((4, 4)), polarity="sample", region=np.ones((4, 4)))
    with pytest.raises(ValueError, match="2-D"):
        otsu(np.zeros((4, 4, 3)))


def test_box_returns_a_copy_of_the_region():
    region = np.zeros((4, 5), bool)
    region[1:3, 2:4] = True
    out = box(np.zeros((4, 5)), region=region)
    np.testing.assert_array_equal(out, region)
    out[0, 0] = True
    assert not region[0, 0]
    with pytest.raises(ValueError, match="region"):
        box(np.zeros((4, 5)), region=None)
    with pytest.raises(ValueError, match="shape"):
        box(np.zeros((4, 4)), region=region)


def test_registered_baselines():
    img, obj = _scene()
    region = np.zeros((6, 6), bool)
    region[1:5, 0:5] = True
    sample = Sample("s", img.astype(np.float32), mask=obj, init=region)
    assert METHODS.get("otsu").defaults() == {"polarity": "sample"}
    assert "baseline" in METHODS.get("otsu").tags and "baseline" in METHODS.get("box").tags
    # default polarity "sample" (cv's rule): here the dark phase (see test_otsu_sample_polarity_reads_the_region)
    np.testing.assert_array_equal(METHODS.build("otsu")(sample).mask, img < 0.5)
    np.testing.assert_array_equal(METHODS.build("otsu", polarity="border")(sample).mask, img > 0.5)
    np.testing.assert_array_equal(METHODS.build("box")(sample).mask, region)
    no_init = Sample("n", img.astype(np.float32), mask=obj)
    # polarity "sample" is orient_by_sample's rule, as for cv: the border for a sample without a region
    np.testing.assert_array_equal(METHODS.build("otsu")(no_init).mask, img > 0.5)
    with pytest.raises(ValueError, match="box: sample 'n'"):
        METHODS.build("box")(no_init)
    np.testing.assert_array_equal(METHODS.build("otsu", polarity="border")(no_init).mask, img > 0.5)
    with pytest.raises(ValueError, match="otsu: polarity must be one of"):
        METHODS.build("otsu", polarity="inside")


def test_baselines_in_the_harness_and_the_set_version_in_config(data_root, tmp_path):
    import json

    import pandas as pd

    from lsbench.datasets import load
    from lsbench.harness.runner import MethodRequest, run_benchmark
    from lsbench.metrics.binary import f_measure

    ds = load("synthetic", root=data_root, split="test")
    run_benchmark([MethodRequest("box", {}), MethodRequest("otsu", {"polarity": "border"})], ds, out=tmp_path,
                  run_id="b", limit=3, progress=False, warmup=False)
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    assert cfg["dataset"]["version"] == 2 and cfg["methods"]["otsu"] == {"polarity": "border"}
    per = pd.read_csv(tmp_path / "b" / "per_sample.csv")
    box = per[per.method == "box"]
    samples = {s.id: s for s in (ds[i] for i in range(len(ds)))}
    assert box["sample_id"].nunique() == 3  # --limit spreads over the families: any three samples
    np.testing.assert_allclose(box["f_measure"].to_numpy(),
                               [f_measure(samples[i].init, samples[i].mask) for i in box["sample_id"]])
    assert per["error"].isna().all()

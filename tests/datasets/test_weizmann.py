"""Weizmann 1obj: red-paint decoding, GT choice, 100-name completeness, augmentation, verify."""

import numpy as np
import pytest
from PIL import Image

from lsbench.datasets import DatasetError, load
from lsbench.datasets.augment import PHOTOMETRIC
from lsbench.datasets.weizmann import (
    N_VARIANTS,
    WEIZMANN_NAMES,
    WeizmannDataset,
    annotator_mask,
    variant_recipe,
    verify,
)
from lsbench.metrics.binary import binary_metrics
from lsbench.types import Prediction

from .conftest import copy_of


def test_annotator_mask_is_pure_red_not_r_positive():
    rgb = np.array([[[255, 0, 0], [255, 255, 255], [254, 0, 0], [255, 0, 40], [200, 10, 10]]], np.uint8)
    np.testing.assert_array_equal(annotator_mask(rgb), [[True, False, False, True, False]])


def test_decodes_every_image_exactly(weizmann_fixture):
    root, truth = weizmann_fixture
    ds = load("weizmann", root=root, split="all")
    assert len(ds) == 100 and ds.ids() == list(WEIZMANN_NAMES)
    for i in (0, 1, 57, 99):
        s = ds[i]
        t = truth[s.id]
        np.testing.assert_array_equal(s.image, t["gray"].astype(np.float32) / 255)
        assert s.image.dtype == np.float32 and s.image.ndim == 2
        np.testing.assert_array_equal(s.mask, t["consensus"])
        assert sorted(s.gts) == ["gt1", "gt2", "gt3"]
        for k in range(3):
            np.testing.assert_array_equal(s.gts[f"gt{k + 1}"], t["annotators"][k])
        assert s.meta["subjects"] == t["subjects"]
        # the white (grey 255) pixel is never object, for any annotator
        white = np.argwhere(t["gray"] == 255)[0]
        assert not any(m[tuple(white)] for m in s.gts.values())
        # the consensus really differs from each annotator (the 2-of-3 rule is exercised)
        assert all((s.gts[g] != s.mask).any() for g in s.gts)
        # the initial region contains the consensus
        assert not (s.mask & ~s.init).any()
    # annotators are ordered by subject id numerically: 9, 10, 31 (not "10" < "31" < "9")
    assert ds[0].meta["subjects"] == [9, 10, 31]


def test_colour_image_and_gt_choice(weizmann_fixture):
    root, truth = weizmann_fixture
    name = WEIZMANN_NAMES[3]
    s = WeizmannDataset(root, "all", image="color", gt=2)[3]
    np.testing.assert_array_equal(s.image, truth[name]["color"].astype(np.float32) / 255)
    np.testing.assert_array_equal(s.mask, truth[name]["annotators"][1])
    # Table 2's GT columns: f_measure (the chosen GT) and f_measure_gt1..3
    scores = binary_metrics(Prediction(mask=truth[name]["annotators"][0]), s)
    assert scores["f_measure_gt1"] == 1.0 and scores["f_measure"] < 1.0
    assert {"f_measure", "f_measure_gt1", "f_measure_gt2", "f_measure_gt3"} <= set(scores)
    with pytest.raises(ValueError, match="gt must be one of"):
        WeizmannDataset(root, "all", gt="4")
    with pytest.raises(ValueError, match="split must be one of"):
        WeizmannDataset(root, "val")


def test_source_split_50_50_and_augmented_2350_2350(weizmann_fixture):
    root, _ = weizmann_fixture
    train, test = WeizmannDataset(root, "train"), WeizmannDataset(root, "test")
    assert len(train) == len(test) == 50
    assert not set(train.ids()) & set(test.ids())
    aug_train = WeizmannDataset(root, "train", augment=True)
    aug_test = WeizmannDataset(root, "test", augment=True)
    assert len(aug_train) == len(aug_test) == 2350
    src = lambda ds: {i.rsplit("-", 1)[0] for i in ds.ids()}  # noqa: E731
    assert src(aug_train) == set(train.ids()) and not src(aug_train) & src(aug_test)


def test_variant_recipe_maps_47_onto_the_synthetic_ops():
    rng = np.random.default_rng(0)
    recipes = [variant_recipe(v, rng, 300) for v in range(N_VARIANTS)]
    assert recipes[0] == ([], "none")
    families = [f for _, f in recipes]
    assert families.count("none") == 11 and all(families.count(p) == 6 for p in PHOTOMETRIC)
    geometric_only = [ops for ops, _ in recipes[37:]]
    assert all(len(ops) == 1 and ops[0]["op"] in ("rotate", "translate", "scale", "flip", "affine") for ops in geometric_only)
    with pytest.raises(ValueError):
        variant_recipe(47, rng, 300)


def test_augmented_items_are_reproducible_and_geometry_moves_the_masks(weizmann_fixture):
    root, truth = weizmann_fixture
    ds = WeizmannDataset(root, "train", augment=True)
    a, b = ds[5], WeizmannDataset(root, "train", augment=True)[5]
    np.testing.assert_array_equal(a.image, b.image)
    assert a.meta == b.meta
    for i in range(N_VARIANTS):
        s = ds[i]
        flips = [op for op in s.meta["ops"] if op["op"] == "flip"]
        if flips and len(s.meta["ops"]) == 1:
            src = truth[s.meta["source"]]
            np.testing.assert_array_equal(s.mask, np.flip(src["consensus"], flips[0]["axis"]))
            np.testing.assert_array_equal(s.gts["gt2"], np.flip(src["annotators"][1], flips[0]["axis"]))
            break
    else:  # pragma: no cover - the recipe has two flip-only variants
        pytest.fail("no flip-only variant found")
    # consensus of warped annotators == warped consensus (nearest-neighbour geometry)
    for i in range(N_VARIANTS):
        s = ds[i]
        votes = sum(s.gts[g].astype(int) for g in ("gt1", "gt2", "gt3"))
        np.testing.assert_array_equal(s.mask, votes >= 2)


def test_completeness_and_damaged_files_name_the_file(weizmann_fixture, tmp_path):
    src_root, _ = weizmann_fixture
    root = copy_of(src_root, "weizmann", tmp_path)
    name = WEIZMANN_NAMES[0]
    folder = root / "weizmann" / "1obj" / name
    # an annotator file decoded in the wrong mode (grey) cannot hold red paint
    hs = folder / "human_seg" / f"{name}_9.png"
    Image.open(hs).convert("L").save(hs)
    with pytest.raises(DatasetError, match=f"{name}_9.png: image mode 'L'"):
        WeizmannDataset(root, "all")[0]
    import shutil

    shutil.rmtree(root / "weizmann" / "1obj" / "tendrils")
    with pytest.raises(DatasetError, match="1 of the 100 image folders are missing.*tendrils"):
        WeizmannDataset(root, "all")
    with pytest.raises(DatasetError, match="missing; unpack Weizmann_Seg_DB_1obj.ZIP"):
        WeizmannDataset(tmp_path / "nowhere", "all")


def test_verify_clean_writes_manifest_then_reports_every_problem(weizmann_fixture, tmp_path):
    src_root, _ = weizmann_fixture
    root = copy_of(src_root, "weizmann", tmp_path)
    first = verify(root)
    assert first.ok, first.problems
    assert (root / "weizmann" / "lsbench-manifest.json").is_file()
    assert verify(root).ok  # re-check against the manifest
    top = root / "weizmann" / "1obj"
    a, b, c = WEIZMANN_NAMES[1], WEIZMANN_NAMES[2], WEIZMANN_NAMES[4]
    (top / a / "src_bw" / f"{a}.png").unlink()                                      # missing file
    hs_b = sorted((top / b / "human_seg").iterdir())[0]
    Image.open(hs_b).convert("L").save(hs_b)                                          # wrong mode
    hs_c = sorted((top / c / "human_seg").iterdir())[1]
    Image.open(hs_c).resize((5, 5)).save(hs_c)                                        # size mismatch
    report = verify(root)
    text = "\n".join(report.problems)
    assert f"1obj/{a}/src_bw/{a}.png: missing" in text
    assert f"{hs_b.name}: image mode 'L'" in text
    assert f"{hs_c.name}: size (5, 5) differs" in text
    assert f"{hs_c.name}: sha256 differs from the manifest" in text
    # loading the damaged copy raises naming the file instead of returning wrong data
    ds = WeizmannDataset(root, "all")
    with pytest.raises(DatasetError, match=f"{hs_c.name}: sha256 differs from the dataset manifest"):
        ds[WEIZMANN_NAMES.index(c)]

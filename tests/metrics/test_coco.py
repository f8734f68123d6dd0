"""COCO mask AP, RLE and mask IoU against pycocotools (learned-methods.md §5.9-5.10)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from lsbench.metrics.coco import STAT_NAMES, COCOMaskAP, coco_mask_ap
from lsbench.metrics.masks import (
    decode_rles,
    encode_masks,
    mask_iou,
    mask_overlap,
    rle_areas,
    rle_boxes_xywh,
)
from lsbench.types import Instances, masks_to_boxes
from tests.metrics.test_instance import _random_image


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(11)
    return [_random_image(rng, 3) for _ in range(20)]


def _accumulate(images, backend="pycocotools"):
    acc = COCOMaskAP(classes=["a", "b", "c"], backend=backend)
    for i, (dt, gt) in enumerate(images):
        acc.update(dt, gt, sample_id=f"img{i}")
    return acc


def test_coco_ap_equals_cocoeval_stats_exactly(images):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    acc = _accumulate(images)
    res = acc.compute()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = acc.ground_truth()
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(acc.results()), iouType="segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert list(res.stats) == list(STAT_NAMES)
    for name, value in zip(STAT_NAMES, ev.stats, strict=True):
        assert res.stats[name] == value or (value == -1 and np.isnan(res.stats[name]))
    assert res.stats["AP"] > 0.05  # the random detections overlap their GTs: a non-trivial score
    assert res.n_images == 20 and set(res.per_class) == {1, 2, 3}
    assert acc.ground_truth()["images"][3]["sample_id"] == "img3"


def test_faster_coco_eval_backend_agrees(images):
    pytest.importorskip("faster_coco_eval")
    ref = _accumulate(images).compute()
    fast = _accumulate(images, backend="faster").compute()
    for name in STAT_NAMES:
        a, b = ref.stats[name], fast.stats[name]
        assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, abs=1e-9), name
    for k in ref.per_class:
        assert fast.per_class[k] == pytest.approx(ref.per_class[k], abs=1e-9)


def test_empty_results_and_bad_input():
    gt = {"images": [{"id": 1, "height": 8, "width": 8}], "categories": [{"id": 1, "name": "a"}],
          "annotations": []}
    m = np.zeros((1, 8, 8), bool)
    m[0, 2:5, 2:5] = True
    acc = COCOMaskAP(classes=1)
    acc.update({"masks": np.zeros((0, 8, 8), bool), "labels": [], "scores": []}, {"masks": m, "labels": [1]})
    res = acc.compute()
    assert res.stats["AP"] == 0.0
    with pytest.raises(ValueError, match="before any update"):
        COCOMaskAP().compute()
    with pytest.raises(ValueError, match="backend must be one of"):
        COCOMaskAP(backend="detectron")
    with pytest.raises(ValueError, match="image id"):
        coco_mask_ap(gt, [{"image_id": 5, "category_id": 1, "segmentation": encode_masks(m)[0], "score": 1.0}])
    with pytest.raises(ValueError, match="category id"):
        coco_mask_ap(gt, [{"image_id": 1, "category_id": 2, "segmentation": encode_masks(m)[0], "score": 1.0}])
    with pytest.raises(ValueError, match="unknown class id"):
        COCOMaskAP(classes=1).update({"masks": m, "labels": [2], "scores": [0.5]}, {"masks": m, "labels": [1]})


def test_rle_round_trip_area_and_boxes():
    rng = np.random.default_rng(3)
    masks = rng.random((6, 17, 23)) < 0.3
    masks[2] = False  # an empty mask
    rles = encode_masks(masks)
    assert all(isinstance(r["counts"], str) and r["size"] == [17, 23] for r in rles)
    np.testing.assert_array_equal(decode_rles(rles), masks)
    np.testing.assert_array_equal(rle_areas(rles), masks.sum(axis=(1, 2)))
    xyxy = masks_to_boxes(masks)
    xywh = np.c_[xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]]
    np.testing.assert_array_equal(rle_boxes_xywh(rles), xywh)
    assert decode_rles([], shape=(4, 5)).shape == (0, 4, 5)
    with pytest.raises(ValueError, match="uncompressed"):
        decode_rles([{"size": [2, 2], "counts": [0, 4]}])


@pytest.mark.parametrize("crowd", [False, True])
def test_mask_iou_equals_pycocotools(crowd):
    rng = np.random.default_rng(5)
    dt = rng.random((7, 31, 29)) < 0.4
    gt = rng.random((5, 31, 29)) < 0.5
    dt[0] = False  # empty detection: zero union against an empty GT
    gt[1] = False
    iscrowd = np.array([crowd, False, crowd, True, False])
    ours = mask_iou(dt, gt, iscrowd)
    to_rle = lambda m: mask_utils.encode(np.asfortranarray(m.transpose(1, 2, 0).astype(np.uint8)))  # noqa: E731
    ref = mask_utils.iou(to_rle(dt), to_rle(gt), iscrowd.astype(np.uint8).tolist())
    np.testing.assert_array_equal(ours, ref)
    assert mask_iou(dt[:0], gt).shape == (0, 5)
    with pytest.raises(ValueError, match="H, W must match"):
        mask_iou(dt, gt[:, :30])


def test_mask_overlap_in_box_windows_equals_full_image_iou():
    rng = np.random.default_rng(9)
    for _ in range(20):
        full = np.zeros((2, 40, 40), bool)
        boxes = []
        for k in range(2):
            x1, y1 = rng.integers(0, 25, 2)
            x2, y2 = x1 + rng.integers(3, 15), y1 + rng.integers(3, 15)
            full[k, y1:y2 + 1, x1:x2 + 1] = rng.random((y2 - y1 + 1, x2 - x1 + 1)) < 0.7
            boxes.append((int(x1), int(y1), int(x2), int(y2)))
        crops = [full[k, b[1]:b[3] + 1, b[0]:b[2] + 1] for k, b in enumerate(boxes)]
        assert mask_overlap(boxes[0], boxes[1], crops[0], crops[1]) == pytest.approx(
            mask_iou(full[:1], full[1:])[0, 0], abs=1e-15)
    with pytest.raises(ValueError, match="needs a mask of shape"):
        mask_overlap((0, 0, 3, 3), (0, 0, 3, 3), np.ones((3, 3)), np.ones((4, 4)))


def test_mask_stacks_of_integers_must_hold_only_zeros_and_ones():
    # written for the mutation run (reports/mutation.md): an all-background 0/1 stack is valid, a 2 is not
    empty = np.zeros((1, 4, 5), dtype=np.uint8)
    assert decode_rles(encode_masks(empty)).sum() == 0
    ones = np.ones((1, 4, 5), dtype=np.int64)
    assert decode_rles(encode_masks(ones)).all()
    with pytest.raises(ValueError, match="must be boolean"):
        encode_masks(np.array([[[0, 1], [2, 0]]], dtype=np.uint8))


def test_no_rles_have_no_boxes_and_no_areas():
    assert rle_boxes_xywh([]).shape == (0, 4)
    assert rle_areas([]).shape == (0,)


def test_mask_overlap_of_one_pixel_with_itself_is_one():
    one = np.ones((1, 1), dtype=bool)
    assert mask_overlap([3, 4, 3, 4], [3, 4, 3, 4], one, one) == 1.0
    assert mask_overlap([3, 4, 3, 4], [5, 4, 5, 4], one, one) == 0.0  # disjoint boxes
    assert mask_overlap([0, 0, 1, 0], [1, 0, 2, 0], np.ones((1, 2), bool), np.ones((1, 2), bool)) == 1 / 3


def test_a_class_count_must_be_positive():
    from lsbench.metrics.coco import coco_categories

    assert [c["id"] for c in coco_categories(2)] == [1, 2]
    for bad in (0, -1):
        with pytest.raises(ValueError, match="classes must be positive"):
            coco_categories(bad)


def test_per_class_ap_counts_up_to_100_detections_per_image():
    # one image, twelve objects of one class found exactly: AP 1 at COCO's 100 detections per image
    # (at 10 the last two would be missed); with one class its AP is the mean AP
    masks = np.zeros((12, 64, 64), bool)
    for k in range(12):
        masks[k, 16 * (k // 4) + 2:16 * (k // 4) + 10, 16 * (k % 4) + 2:16 * (k % 4) + 10] = True
    gt = Instances(masks, np.ones(12, int), iscrowd=np.zeros(12, bool))
    dt = Instances(masks, np.ones(12, int), scores=np.linspace(1.0, 0.45, 12))
    acc = COCOMaskAP(classes=["a"])
    acc.update(dt, gt, sample_id="twelve")
    res = acc.compute()
    assert res.stats["AP"] == pytest.approx(1.0) and res.stats["AR10"] < 1.0
    assert res.per_class == {1: pytest.approx(1.0)}

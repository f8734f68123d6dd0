"""Scores from COCO-format files (lsbench.metrics.scoring) and the metric catalog, against the
in-memory accumulators fed the same masks (written for the mutation run, reports/mutation.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("pycocotools")

from lsbench.metrics.coco import COCOMaskAP, COCOResult
from lsbench.metrics.instance import VARIANTS, MaskAP, MaskAPResult
from lsbench.metrics.scoring import InstanceScores, mask_ap_from_coco, score_instances
from lsbench.registry import METRICS
from tests.metrics.test_instance import _random_image


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(23)  # 12 images of 0-4 GTs (some crowd) and jittered detections
    return [_random_image(rng, 3) for _ in range(12)]


def _files(images):
    acc = COCOMaskAP(classes=["a", "b", "c"])
    for i, (dt, gt) in enumerate(images):
        acc.update(dt, gt, sample_id=f"img{i}")
    return acc.ground_truth(), acc.results()


def _same(a: MaskAPResult, b: MaskAPResult) -> None:
    assert a.class_names == b.class_names and a.n_gt == b.n_gt and a.n_det == b.n_det
    assert a.n_images == b.n_images and a.iou_thresholds == b.iou_thresholds
    for t, v in a.mean_ap.items():
        assert v == pytest.approx(b.mean_ap[t], abs=1e-12), t
    for k, per_t in a.per_class.items():
        for t, v in per_t.items():
            assert (math.isnan(v) and math.isnan(b.per_class[k][t])) or v == pytest.approx(b.per_class[k][t], abs=1e-12)


@pytest.mark.parametrize("variant", VARIANTS)
def test_map_from_coco_files_equals_maskap_fed_the_masks(images, variant):
    # IoUs on RLEs (pycocotools) vs on the decoded masks (MaskAP.update): the same numbers
    ground_truth, results = _files(images)
    from_files = mask_ap_from_coco(ground_truth, results, variant=variant)
    direct = MaskAP(variant=variant, classes=["a", "b", "c"])
    for dt, gt in images:
        direct.update(dt, gt)
    _same(from_files, direct.compute())
    assert from_files.class_names == {1: "a", 2: "b", 3: "c"}  # the names come from the categories
    assert 0.05 < from_files.mean_ap[0.5] < 0.999
    assert any(len(gt.masks) == 0 for _, gt in images)  # an image without ground truth is scored too


def test_categories_not_numbered_one_to_k_keep_their_ids(images):
    ground_truth, results = _files(images)
    ground_truth = {**ground_truth, "categories": [{**c, "id": c["id"] + 10} for c in ground_truth["categories"]],
                    "annotations": [{**a, "category_id": a["category_id"] + 10} for a in ground_truth["annotations"]]}
    results = [{**r, "category_id": r["category_id"] + 10} for r in results]
    res = mask_ap_from_coco(ground_truth, results)
    assert set(res.n_gt) <= {11, 12, 13} and "a" not in res.class_names.values()


def test_score_instances_holds_every_variant_and_coco_ap(images):
    ground_truth, results = _files(images)
    scores = score_instances(ground_truth, results)
    assert isinstance(scores, InstanceScores)
    assert set(scores.mapr) == set(VARIANTS) and all(isinstance(v, MaskAPResult) for v in scores.mapr.values())
    assert isinstance(scores.coco, COCOResult) and 0.0 < scores.coco.stats["AP"] < 1.0
    assert scores.n_images == len(images) and scores.n_detections == len(results) > len(images)
    _same(scores.mapr["mnc"], mask_ap_from_coco(ground_truth, results))


def test_coco_ground_truth_numbers_its_annotations_one_to_n(images):
    ground_truth, _ = _files(images)
    assert [a["id"] for a in ground_truth["annotations"]] == list(range(1, len(ground_truth["annotations"]) + 1))
    assert [img["id"] for img in ground_truth["images"]] == list(range(1, len(images) + 1))


def test_the_mapr_metric_defaults_to_the_chapter_s_thresholds():
    # the chapter reports mAPr@0.5 and @0.7 (reference/learned-methods.md, the instance-segmentation table)
    assert METRICS.get("mapr").defaults()["iou_thresholds"] == (0.5, 0.7)
    metric = METRICS.build("mapr")
    assert isinstance(metric, MaskAP) and tuple(metric.iou_thresholds) == (0.5, 0.7)


def test_annotations_without_iscrowd_are_not_crowd(images):
    # COCO's rule: a missing "iscrowd" is 0 (files written by other tools often leave it out)
    ground_truth, results = _files(images)
    assert any(a["iscrowd"] for a in ground_truth["annotations"])  # crowd regions stay crowd
    stripped = {**ground_truth, "annotations": [a if a["iscrowd"] else {k: v for k, v in a.items() if k != "iscrowd"}
                                                for a in ground_truth["annotations"]]}
    _same(mask_ap_from_coco(stripped, results), mask_ap_from_coco(ground_truth, results))

"""Region AP (MaskAP): the hand-computed oracles of learned-methods.md §5.7-5.9 and bad input."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from lsbench.metrics.instance import AP_VOL_THRESHOLDS, MaskAP, instance_metrics
from lsbench.types import Instances, Prediction, Sample


def strip(a: int, b: int) -> np.ndarray:
    """A 20 x 20 mask whose row-major pixels a..b-1 are set: IoUs of strips are exact ratios."""
    m = np.zeros(400, dtype=bool)
    m[a:b] = True
    return m.reshape(20, 20)


GT = {"masks": np.stack([strip(0, 100), strip(200, 300)]), "labels": [1, 1]}


def toy_prediction(det3_end: int) -> dict:
    # IoUs: det1 -> GT1 = 0.8, det2 -> GT1 = 0.6 (a duplicate), det3 -> GT2 = (det3_end - 200) / 100
    return {"masks": np.stack([strip(0, 80), strip(0, 60), strip(200, det3_end)]),
            "labels": [1, 1, 1], "scores": [0.9, 0.8, 0.7]}


@pytest.mark.parametrize(("variant", "expected_05", "expected_07"),
                         [("sds", 0.8333, 0.5000), ("mnc", 0.8485, 0.5455), ("coco101", 0.8350, 0.5050)])
def test_hand_computed_toy_case(variant, expected_05, expected_07):
    """§5.7: TP, FP (duplicate), TP at t = 0.5; with det3 at IoU 0.65, TP, FP, FP at t = 0.7."""
    ap = MaskAP(iou_thresholds=(0.5,), variant=variant)
    ap.update(toy_prediction(275), GT)
    assert ap.compute().mean_ap[0.5] == pytest.approx(expected_05, abs=5e-5)
    ap = MaskAP(iou_thresholds=(0.7,), variant=variant)
    ap.update(toy_prediction(265), GT)
    res = ap.compute()
    assert res.mean_ap[0.7] == pytest.approx(expected_07, abs=5e-5)
    assert res.as_dict()["mAPr@0.7"] == res.mean_ap[0.7]


def test_exact_fractions_of_the_toy_case():
    ap = MaskAP(iou_thresholds=(0.5,), variant="sds")
    ap.update(toy_prediction(275), GT)
    assert ap.compute().mean_ap[0.5] == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-12)
    ap = MaskAP(iou_thresholds=(0.5,), variant="mnc")
    ap.update(toy_prediction(275), GT)
    assert ap.compute().mean_ap[0.5] == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-12)
    ap = MaskAP(iou_thresholds=(0.5,), variant="coco101")
    ap.update(toy_prediction(275), GT)
    assert ap.compute().mean_ap[0.5] == pytest.approx((51 + 50 * (2 / 3 - 1e-16)) / 101, abs=1e-12)


@pytest.mark.parametrize(("variant", "det2_is_tp"), [("mnc", False), ("sds", True), ("coco101", True)])
def test_matching_rule_discriminator(variant, det2_is_tp):
    """§5.8: det1 IoU(A)=.9, IoU(B)=.55; det2 IoU(A)=.7, IoU(B)=.6. MNC's argmax for det2 is A, taken."""
    ap = MaskAP(iou_thresholds=(0.5,), variant=variant)
    ap.update_from_ious([[0.9, 0.55], [0.7, 0.6]], [1, 1], [0.9, 0.8], [1, 1])
    res = ap.compute()
    # two GTs: det1 TP; det2 TP -> recall 1 at precision 1 -> AP 1; det2 FP -> recall stops at .5
    assert (res.mean_ap[0.5] == pytest.approx(1.0)) is det2_is_tp


@pytest.mark.parametrize(("variant", "is_tp"), [("mnc", True), ("coco101", True), ("sds", False)])
def test_iou_exactly_at_the_threshold(variant, is_tp):
    ap = MaskAP(iou_thresholds=(0.5,), variant=variant)
    ap.update({"masks": strip(0, 50)[None], "labels": [1], "scores": [1.0]},
              {"masks": strip(0, 100)[None], "labels": [1]})
    assert ap.compute().mean_ap[0.5] == pytest.approx(1.0 if is_tp else 0.0, abs=1e-12)


def _random_image(rng: np.random.Generator, n_classes: int, size: int = 48):
    """Random GT blobs (some crowd) and detections: jittered copies of GTs plus false positives."""
    yy, xx = np.mgrid[0:size, 0:size]

    def blob():
        cy, cx = rng.uniform(4, size - 4, 2)
        ry, rx = rng.uniform(3, 14, 2)
        return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1

    n_gt = int(rng.integers(0, 5))
    gt_masks = [blob() for _ in range(n_gt)]
    gt_labels = rng.integers(1, n_classes + 1, n_gt)
    crowd = rng.random(n_gt) < 0.15
    dt_masks, dt_labels = [], []
    for m, lab in zip(gt_masks, gt_labels, strict=True):
        for _ in range(int(rng.integers(0, 3))):
            shifted = np.roll(m, tuple(rng.integers(-4, 5, 2)), axis=(0, 1))
            dt_masks.append(shifted)
            dt_labels.append(lab if rng.random() < 0.85 else rng.integers(1, n_classes + 1))
    for _ in range(int(rng.integers(0, 3))):
        dt_masks.append(blob())
        dt_labels.append(rng.integers(1, n_classes + 1))
    n_dt = len(dt_masks)
    # scores rounded to 0.1 so that ties are frequent and their order is exercised too
    scores = np.round(rng.uniform(0, 1, n_dt), 1)
    gt = Instances(np.array(gt_masks, dtype=bool).reshape(n_gt, size, size), gt_labels, iscrowd=crowd)
    dt = Instances(np.array(dt_masks, dtype=bool).reshape(n_dt, size, size), np.array(dt_labels), scores=scores)
    return dt, gt


def _cocoeval_on(images, params):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from lsbench.metrics.coco import coco_categories, ground_truth_annotations, result_annotations

    gt_ds = {"images": [], "categories": coco_categories(3), "annotations": []}
    results = []
    for i, (dt, gt) in enumerate(images, start=1):
        gt_ds["images"].append({"id": i, "height": 48, "width": 48})
        gt_ds["annotations"] += ground_truth_annotations(gt, i, len(gt_ds["annotations"]) + 1)
        results += result_annotations(dt, i)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt_ds
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, iouType="segm")
        for k, v in params.items():
            setattr(ev.params, k, v)
        ev.evaluate()
        ev.accumulate()
        if not params:  # summarize() only knows the default parameters
            ev.summarize()
    return ev


def test_coco101_equals_pycocotools_per_class_and_stats():
    """§5.9: 20 random images, 3 classes, crowd regions and tied scores; per-class AP to 1e-9."""
    rng = np.random.default_rng(7)
    images = [_random_image(rng, 3) for _ in range(20)]
    ev = _cocoeval_on(images, {"iouThrs": np.array([0.5, 0.7]), "areaRng": [[0, 1e10]],
                               "areaRngLbl": ["all"], "maxDets": [10000]})
    ours = MaskAP(iou_thresholds=(0.5, 0.7), variant="coco101", classes=3)
    for dt, gt in images:
        ours.update(dt, gt)
    res = ours.compute()
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    checked = 0
    for ti, t in enumerate((0.5, 0.7)):
        for k in range(3):
            p = precision[ti, :, k, 0, 0]
            if (p > -1).any():
                assert res.per_class[k + 1][t] == pytest.approx(p.mean(), abs=1e-9)
                checked += 1
            else:
                assert np.isnan(res.per_class[k + 1][t])
    assert checked == 6

    # default COCOeval parameters: stats[0] = AP@[.5:.95] with maxDets 100
    ev = _cocoeval_on(images, {})
    thresholds = tuple(np.linspace(0.5, 0.95, 10))
    ours = MaskAP(iou_thresholds=thresholds, variant="coco101", classes=3, max_dets=100)
    for dt, gt in images:
        ours.update(dt, gt)
    res = ours.compute()
    assert np.mean([res.mean_ap[t] for t in thresholds]) == pytest.approx(ev.stats[0], abs=1e-9)
    assert res.mean_ap[thresholds[0]] == pytest.approx(ev.stats[1], abs=1e-9)
    assert res.mean_ap[thresholds[5]] == pytest.approx(ev.stats[2], abs=1e-9)


def test_ap_vol_and_per_class_bookkeeping():
    ap = MaskAP(variant="mnc", classes=["disk", "square"])
    ap.update(toy_prediction(275), GT)
    res = ap.compute()
    assert set(res.mean_ap) >= set(AP_VOL_THRESHOLDS) | {0.5, 0.7}
    assert res.ap_vol == pytest.approx(np.mean([res.mean_ap[t] for t in AP_VOL_THRESHOLDS]))
    assert res.class_names == {1: "disk", 2: "square"}
    assert res.n_gt == {1: 2, 2: 0} and res.n_det == {1: 3, 2: 0}
    assert np.isnan(res.per_class[2][0.5])  # no GT: left out of the mean
    assert res.mean_ap[0.5] == res.per_class[1][0.5]
    assert res.n_images == 1 and set(res.as_dict()) == {"mAPr@0.5", "mAPr@0.7", "AP_vol"}


def test_no_detections_and_false_positives_only():
    ap = MaskAP(variant="mnc")
    ap.update({"masks": np.zeros((0, 20, 20), bool), "labels": [], "scores": []}, GT)
    ap.update({"masks": strip(300, 400)[None], "labels": [1], "scores": [0.5]},
              {"masks": np.zeros((0, 20, 20), bool), "labels": []})
    res = ap.compute()
    assert res.mean_ap[0.5] == 0.0 and res.n_images == 2


def test_accepts_predictions_samples_and_torchvision_shapes():
    gt = Instances(GT["masks"], GT["labels"])
    sample = Sample("s", np.zeros((20, 20), np.float32), instances=gt)
    pred = Prediction(instances=Instances(toy_prediction(275)["masks"], [1, 1, 1], scores=[0.9, 0.8, 0.7]))
    a = MaskAP()
    a.update(pred, sample)
    b = MaskAP()
    tv = toy_prediction(275)
    tv["masks"] = tv["masks"][:, None].astype(np.uint8)  # N x 1 x H x W, 0/1
    b.update(tv, gt)
    assert a.compute().mean_ap == b.compute().mean_ap


@pytest.mark.parametrize(
    ("prediction", "target", "kwargs", "needle"),
    [
        ({"masks": np.zeros((1, 10, 10), bool), "labels": [1], "scores": [0.5]}, GT, {}, "pasted at image size"),
        ({**toy_prediction(275), "scores": [0.9, 1.2, 0.1]}, GT, {}, "scores must lie in [0, 1]"),
        ({**toy_prediction(275), "scores": [0.9, np.nan, 0.1]}, GT, {}, "scores must lie in [0, 1]"),
        ({k: v for k, v in toy_prediction(275).items() if k != "scores"}, GT, {}, "needs scores"),
        ({**toy_prediction(275), "labels": [1, 4, 1]}, GT, {"classes": 3}, "unknown class id(s) [4]"),
        ({**toy_prediction(275), "labels": [0, 1, 1]}, GT, {}, "unknown class id(s) [0]"),
        (toy_prediction(275), {**GT, "labels": [1, 9]}, {"classes": 3}, "valid class ids: 1..3"),
        ({**toy_prediction(275), "masks": toy_prediction(275)["masks"] * 0.7}, GT, {}, "binarise soft masks"),
        ({"labels": [1]}, GT, {}, "lacks key(s) masks"),
        ("not a prediction", GT, {}, "must be a Prediction"),
    ],
)
def test_bad_input_is_refused_clearly(prediction, target, kwargs, needle):
    ap = MaskAP(**kwargs)
    with pytest.raises((ValueError, TypeError)) as err:
        ap.update(prediction, target)
    assert needle in str(err.value)
    assert len(ap) == 0


def test_bad_construction_and_compute_before_update():
    with pytest.raises(ValueError, match="variant must be one of mnc, sds, coco101"):
        MaskAP(variant="voc")
    with pytest.raises(ValueError, match="iou_thresholds"):
        MaskAP(iou_thresholds=(0.0,))
    with pytest.raises(ValueError, match="max_dets"):
        MaskAP(max_dets=0)
    with pytest.raises(ValueError, match="before any update"):
        MaskAP().compute()
    with pytest.raises(ValueError, match="expected"):
        MaskAP().update_from_ious([[0.5]], [1, 1], [0.5, 0.5], [1])


def test_instance_metrics_per_sample():
    out = instance_metrics(Prediction(instances=Instances(**toy_prediction(275))),
                           Sample("s", np.zeros((20, 20), np.float32), instances=Instances(**GT)))
    assert out["n_gt"] == 2 and out["n_pred"] == 3
    assert out["best_iou_mean"] == pytest.approx((0.8 + 0.75) / 2)

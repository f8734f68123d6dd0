"""Dataset-level scores of instance results saved in COCO format (a run's ``predictions/*.json``).

The harness and ``lsbench report`` score instance runs from the same files: the ground truth
(``ground_truth.json``) and each method's COCO results, both with masks as compressed RLE. Region
IoUs are computed on the RLEs with ``pycocotools.mask.iou`` (no mask is decoded) and fed to
:class:`~lsbench.metrics.instance.MaskAP` for every mAPr variant; COCO AP goes through
``COCOeval`` (:func:`~lsbench.metrics.coco.coco_mask_ap`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lsbench.metrics.coco import COCOResult, coco_mask_ap
from lsbench.metrics.instance import VARIANTS, MaskAP, MaskAPResult
from lsbench.optional import require

__all__ = ["InstanceScores", "mask_ap_from_coco", "score_instances"]


def _rles(anns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for a in anns:
        seg = a["segmentation"]
        if not isinstance(seg, dict) or isinstance(seg.get("counts"), list):
            raise ValueError(f"annotation {a.get('id', '?')} of image {a['image_id']} is not compressed RLE")
        counts = seg["counts"]
        out.append({"size": seg["size"], "counts": counts.encode("ascii") if isinstance(counts, str) else counts})
    return out


def mask_ap_from_coco(ground_truth: dict[str, Any], results: list[dict[str, Any]], *, variant: str = "mnc",
                      iou_thresholds: Sequence[float] = (0.5, 0.7), max_dets: int | None = None) -> MaskAPResult:
    """:class:`MaskAP` over COCO-format ground truth and results (images in ground-truth order).

    Detections keep their order in ``results`` within an image, so score ties break as they do
    when the same predictions are passed to :meth:`MaskAP.update`.
    """
    mask_utils = require("pycocotools.mask", "region AP of instance results")

    names = [c.get("name", f"class {c['id']}") for c in sorted(ground_truth["categories"], key=lambda c: c["id"])]
    ids = sorted(c["id"] for c in ground_truth["categories"])
    classes: Any = names if ids == list(range(1, len(ids) + 1)) else None
    ap = MaskAP(iou_thresholds=iou_thresholds, variant=variant, classes=classes, max_dets=max_dets)
    gts: dict[int, list[dict[str, Any]]] = defaultdict(list)
    dts: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for a in ground_truth["annotations"]:
        gts[a["image_id"]].append(a)
    for r in results:
        dts[r["image_id"]].append(r)
    known = {img["id"] for img in ground_truth["images"]}
    unknown = sorted(set(dts) - known)
    if unknown:
        raise ValueError(f"results refer to image id(s) {unknown[:5]} absent from the ground truth")
    for img in ground_truth["images"]:
        g, d = gts.get(img["id"], []), dts.get(img["id"], [])
        crowd = [int(a.get("iscrowd", 0)) for a in g]
        ious = (np.asarray(mask_utils.iou(_rles(d), _rles(g), crowd), dtype=np.float64).reshape(len(d), len(g))
                if d and g else np.zeros((len(d), len(g))))
        ap.update_from_ious(ious, [r["category_id"] for r in d], [r["score"] for r in d],
                            [a["category_id"] for a in g], np.asarray(crowd, dtype=bool))
    return ap.compute()


@dataclass(frozen=True)
class InstanceScores:
    """Every dataset-level score of one method: mAPr per variant and COCO AP."""

    mapr: dict[str, MaskAPResult]
    coco: COCOResult
    n_images: int
    n_detections: int


def score_instances(ground_truth: dict[str, Any], results: list[dict[str, Any]], *,
                    variants: Sequence[str] = VARIANTS, coco_backend: str = "pycocotools") -> InstanceScores:
    """mAPr (each variant, thresholds 0.5 and 0.7, AP_vol) and COCO mask AP of one method's results."""
    mapr = {v: mask_ap_from_coco(ground_truth, results, variant=v) for v in variants}
    coco = coco_mask_ap(ground_truth, results, backend=coco_backend)
    return InstanceScores(mapr, coco, len(ground_truth["images"]), len(results))

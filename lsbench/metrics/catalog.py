"""Registered metrics (`lsbench list metrics`): per-sample functions and dataset-level accumulators (tag `dataset-level`)."""

from __future__ import annotations

from typing import Any

from lsbench.metrics.binary import binary_metrics
from lsbench.metrics.coco import COCOMaskAP
from lsbench.metrics.instance import MaskAP, instance_metrics
from lsbench.registry import METRICS

METRICS.add(
    "binary",
    lambda: binary_metrics,
    kind="binary",
    summary="precision, recall, F-measure (beta=1, = Dice) and IoU per ground truth",
)


# -- dataset-level instance metrics (mAPr variants, COCO AP): registered below ------------------------
METRICS.add(
    "instance",
    lambda: instance_metrics,
    kind="instance",
    summary="per image: ground-truth and predicted instance counts, mean best IoU per GT instance",
)


@METRICS.register("mapr", kind="instance", tags=("dataset-level",),
                  summary="region AP (mAPr@0.5/@0.7, AP_vol) over a dataset; variants mnc (default), sds, coco101")
def _mapr(iou_thresholds: tuple[float, ...] = (0.5, 0.7), variant: str = "mnc", classes: Any = None,
          max_dets: int | None = None) -> MaskAP:
    return MaskAP(iou_thresholds=iou_thresholds, variant=variant, classes=classes, max_dets=max_dets)


@METRICS.register("coco-ap", kind="instance", tags=("dataset-level",),
                  summary="COCO mask AP @[.5:.95], @.5, @.75, by size, via COCOeval(iouType='segm')")
def _coco_ap(classes: Any = None, backend: str = "pycocotools") -> COCOMaskAP:
    return COCOMaskAP(classes=classes, backend=backend)

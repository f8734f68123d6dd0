"""Metrics: per-sample functions ``(Prediction, Sample) -> dict`` and dataset-level accumulators."""

from lsbench.metrics.binary import binary_metrics, binary_scores, f_measure, iou, pooled_scores
from lsbench.metrics.coco import COCOMaskAP, coco_mask_ap
from lsbench.metrics.instance import MaskAP, instance_metrics

__all__ = ["COCOMaskAP", "MaskAP", "binary_metrics", "binary_scores", "coco_mask_ap", "f_measure",
           "instance_metrics", "iou", "pooled_scores"]

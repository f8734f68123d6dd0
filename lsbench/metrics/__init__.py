"""Metrics: per-sample functions ``(Prediction, Sample) -> dict`` and dataset-level accumulators."""

from lsbench.metrics.binary import binary_metrics, binary_scores, f_measure, iou, pooled_scores

__all__ = ["binary_metrics", "binary_scores", "f_measure", "iou", "pooled_scores"]

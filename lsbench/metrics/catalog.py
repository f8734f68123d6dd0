"""Registered per-sample metrics (``lsbench list metrics``)."""

from __future__ import annotations

from lsbench.metrics.binary import binary_metrics
from lsbench.registry import METRICS

METRICS.add(
    "binary",
    lambda: binary_metrics,
    kind="binary",
    summary="precision, recall, F-measure (beta=1, = Dice) and IoU per ground truth",
)


# -- dataset-level instance metrics (mAPr variants, COCO AP): registered below ------------------------

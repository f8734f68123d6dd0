"""Batched throughput of segmenters that can predict many samples at once (``predict_batch``).

The per-sample timing of the harness is batch 1, the way a classic method runs. Learned methods
also declare a native ``predict_batch(samples) -> list[Prediction]``
(:func:`lsbench.segmenter.batches_natively`); for them the harness measures images per second at
batch 64 as well, in a stage of its own after the per-sample runs: one untimed warm-up batch, then
the best of a few timed batches (the minimum is the least disturbed by other processes). The batch
is the run's first 64 samples that load and pass the harness's input check
(:func:`lsbench.levelset.validate.check_image`), cycled when the run has fewer.
"""

from __future__ import annotations

import time
from typing import Any

from lsbench.datasets.base import Dataset
from lsbench.levelset.validate import check_image, check_positive_int

__all__ = ["BATCH_SIZE", "measure_throughput"]

BATCH_SIZE = 64


def measure_throughput(segmenter: Any, dataset: Dataset, *, batch_size: int = BATCH_SIZE,
                       repeats: int = 3) -> dict[str, Any]:
    """Images per second of ``segmenter.predict_batch`` on one batch of ``batch_size`` samples.

    Returns
    -------
    dict
        ``batch_size``, ``repeats``, ``seconds_per_batch`` (best of ``repeats``),
        ``images_per_second``, ``clock``.
    """
    check_positive_int("batch_size", batch_size)
    check_positive_int("repeats", repeats)
    if len(dataset) == 0:
        raise ValueError("cannot measure throughput on an empty dataset")
    first = []
    for i in range(len(dataset)):  # the samples every method is called with (a bad one is a failed record)
        try:
            sample = dataset[i]
            check_image(sample.image)
        except (ValueError, TypeError, OSError):
            continue
        first.append(sample)
        if len(first) == batch_size:
            break
    if not first:
        raise ValueError(f"cannot measure throughput: none of the {len(dataset)} samples passes the input check")
    n = len(first)
    batch = [first[i % n] for i in range(batch_size)]
    preds = segmenter.predict_batch(batch)  # warm-up (and a check)
    if len(preds) != batch_size:
        raise ValueError(f"predict_batch returned {len(preds)} predictions for {batch_size} samples")
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        segmenter.predict_batch(batch)
        best = min(best, time.perf_counter() - t0)
    return {"batch_size": batch_size, "repeats": repeats, "seconds_per_batch": best,
            "images_per_second": batch_size / best if best > 0 else float("inf"),
            "clock": "time.perf_counter, best of repeats after one warm-up batch"}

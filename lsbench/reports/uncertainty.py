"""How uncertain a mean per-image score is: the bootstrap interval the tables and figures show.

A mean F-measure over a few hundred images moves by a point or more when other images are drawn;
the tables give each mean a 95 % percentile bootstrap interval over the images (resampled with
replacement, :func:`scipy.stats.bootstrap`), computed from ``per_sample.csv`` with a fixed seed,
so a rebuilt report shows the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["BOOTSTRAP_CONFIDENCE", "BOOTSTRAP_RESAMPLES", "BOOTSTRAP_SEED", "bootstrap_interval"]

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0


def bootstrap_interval(values: Sequence[float] | np.ndarray, *, n_resamples: int = BOOTSTRAP_RESAMPLES,
                       confidence: float = BOOTSTRAP_CONFIDENCE, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of ``values`` (NaNs dropped): ``(low, high)``.

    Each of ``n_resamples`` resamples draws ``len(values)`` values with replacement (the unit is
    the image); the interval is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    quantiles of the resampled means. ``(nan, nan)`` for fewer than two values (no spread to
    resample); ``(v, v)`` when every value is ``v``.

    References
    ----------
    Efron & Tibshirani, *An Introduction to the Bootstrap*, Chapman & Hall 1993, ch. 13
    (percentile interval), doi:10.1201/9780429246593.

    Examples
    --------
    >>> from lsbench.reports.uncertainty import bootstrap_interval
    >>> bootstrap_interval([0.5, 0.5, 0.5])
    (0.5, 0.5)
    >>> low, high = bootstrap_interval([0.0, 1.0] * 50)
    >>> 0.39 < low < 0.5 < high < 0.61
    True
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples}")
    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[np.isfinite(data)]
    if data.size < 2:
        return (math.nan, math.nan)
    if np.all(data == data[0]):
        return (float(data[0]), float(data[0]))
    from scipy.stats import bootstrap

    result = bootstrap((data,), np.mean, n_resamples=int(n_resamples), confidence_level=confidence,
                       method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))

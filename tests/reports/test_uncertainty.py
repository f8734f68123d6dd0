"""The bootstrap interval of a mean score, against exact and independent answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lsbench.reports.uncertainty import bootstrap_interval


def test_two_values_exact():
    """Resampling [0, 1] twice gives means 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: the 2.5 % and 97.5 %
    quantiles are exactly 0 and 1 (a 90 % or 50 % interval would still be, so the next tests pin the width)."""
    assert bootstrap_interval([0.0, 1.0]) == (0.0, 1.0)


def test_degenerate_inputs():
    assert all(math.isnan(v) for v in bootstrap_interval([0.7]))
    assert all(math.isnan(v) for v in bootstrap_interval([]))
    assert bootstrap_interval([0.25, 0.25, float("nan"), 0.25]) == (0.25, 0.25)  # NaNs dropped
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_interval([0.1, 0.2], confidence=95)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_width_matches_the_normal_approximation(seed):
    """For 400 normal values the 95 % interval of the mean is mean ± 1.96 s / sqrt(n) (s with ddof 0, the
    bootstrap's plug-in), to within the Monte Carlo error of 2000 resamples (~3 %): a 90 % interval (0.84 of the
    width), a 99 % one (1.31) or one of the values rather than the mean would fail."""
    x = np.random.default_rng(seed).normal(0.8, 0.2, 400)
    low, high = bootstrap_interval(x)
    half = 1.96 * x.std() / math.sqrt(x.size)
    assert 0.94 < (high - low) / (2 * half) < 1.06
    assert abs((low + high) / 2 - x.mean()) < 0.1 * half


def test_agrees_with_a_port_on_skewed_scores():
    """A direct port of the percentile bootstrap (20000 resamples) on skewed F-measure-like values."""
    rng = np.random.default_rng(7)
    x = rng.beta(8, 1.5, 250)
    means = x[rng.integers(0, x.size, (20000, x.size))].mean(axis=1)
    port = np.percentile(means, [2.5, 97.5])
    se = x.std() / math.sqrt(x.size)
    low, high = bootstrap_interval(x)
    assert abs(low - port[0]) < 0.25 * se and abs(high - port[1]) < 0.25 * se


def test_seeded():
    x = np.random.default_rng(3).random(50)
    assert bootstrap_interval(x) == bootstrap_interval(x)
    assert bootstrap_interval(x, seed=1) != bootstrap_interval(x)

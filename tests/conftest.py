"""Shared fixtures: every test runs against datasets under a temporary root, never the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide dataset root holding the reference synthetic set (built once, ~5 s)."""
    root = tmp_path_factory.mktemp("lsbench-data")
    from lsbench.datasets.synthetic import build_synthetic

    build_synthetic(root)
    return root


@pytest.fixture(autouse=True)
def _isolated_data_root(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Point $LSBENCH_DATA at an empty temp folder so no test writes into the checkout."""
    if "LSBENCH_TEST_KEEP_ENV" not in os.environ:
        monkeypatch.setenv("LSBENCH_DATA", str(tmp_path_factory.getbasetemp() / "default-root"))


@pytest.fixture(autouse=True)
def _isolated_cache(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Point $LSBENCH_CACHE (learned-method checkpoints) at a temp folder shared by the session."""
    if "LSBENCH_TEST_KEEP_ENV" not in os.environ:
        monkeypatch.setenv("LSBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def two_phase_image(size: int = 64, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A disk on a flat background plus Gaussian noise: (image, true mask)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    mask = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= (size / 4) ** 2
    image = np.where(mask, 0.7, 0.3) + rng.normal(0, noise, (size, size))
    return image, mask

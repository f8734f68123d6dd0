"""Fixtures of the performance suite (`make bench`): inputs shared by every benchmark, and what the
pytest-benchmark JSON records about the machine (read back by `python -m lsbench.perf`)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from lsbench.cpu import configure_openmp
from lsbench.types import Sample

# how OpenMP's waiting threads wait (torch and numba read it when they start OpenMP): lsbench's
# default, set before either starts (the report states the values in force)
configure_openmp()

_LOAD_AT_START = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
_STARTED = time.time()

#: the synthetic test images of the classic-method benchmarks: one every 45, across the scene families
SAMPLE_INDICES = tuple(range(0, 360, 45))


def pytest_configure(config):
    """Create the folder of ``--benchmark-json`` now: pytest-benchmark writes the file only when the
    suite ends and fails there, losing the whole run, if the folder is missing."""
    path = config.getoption("benchmark_json", None)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def synthetic_test(data_root):
    from lsbench.datasets import load

    return load("synthetic", root=data_root, split="test")


_RESIZED: dict[tuple[str, int], Sample] = {}


def _resized(sample: Sample, side: int) -> Sample:
    from skimage.transform import resize

    if sample.shape == (side, side):
        return sample
    key = (sample.id, side)
    if key not in _RESIZED:
        image = resize(sample.image, (side, side), order=1, anti_aliasing=side < sample.shape[0]).astype(np.float32)
        near = {k: resize(getattr(sample, k).astype(float), (side, side), order=0) > 0.5 for k in ("mask", "init")}
        _RESIZED[key] = Sample(f"{sample.id}@{side}", image, mask=near["mask"], init=near["init"],
                               meta=dict(sample.meta))
    return _RESIZED[key]


@pytest.fixture(scope="session")
def classic_samples(synthetic_test):
    """``side -> the 8 benchmark samples`` (bilinear image, nearest-neighbour masks and initial regions)."""
    base = [synthetic_test[i] for i in SAMPLE_INDICES]
    return lambda side: [_resized(s, side) for s in base]


def _numba_threading_layer() -> str:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run in this process
        return "not started"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip()
    except OSError:
        return ""


def pytest_benchmark_update_machine_info(config, machine_info):
    """What the performance report states about the machine and the conditions of the run."""
    import numpy
    import scipy
    import skimage
    import torch

    try:
        import numba

        from lsbench.classic.backend import num_threads

        numba_info = {"version": numba.__version__, "threads": num_threads(256 * 256),
                      "threading_layer": _numba_threading_layer()}
    except ImportError:
        numba_info = {}

    machine_info["lsbench"] = {
        "load_average_at_start": [round(x, 2) for x in _LOAD_AT_START],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else [],
        "wall_seconds": round(time.time() - _STARTED, 1),
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_method_threads": 1,  # the registered *-torch methods' default (their threads parameter)
        "numba": numba_info,
        "env": {k: os.environ.get(k, "") for k in ("LSBENCH_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY",
                                                     "GOMP_SPINCOUNT", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "versions": {"python": platform.python_version(), "numpy": numpy.__version__, "scipy": scipy.__version__,
                     "scikit-image": skimage.__version__, "torch": torch.__version__,
                     "numba": numba_info.get("version", "not installed")},
        "git_commit": _git_commit(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "",
    }

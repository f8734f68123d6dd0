"""`pip install .` into a fresh virtual environment, without extras, runs the classic half of lsbench.

Why in ``make bench`` (marker ``slow``) and not in ``make test``: it builds a new virtual environment
and installs lsbench's core dependencies into it from the package index (numpy, scipy,
scikit-image, pandas, matplotlib, pillow, ...: about a hundred megabytes, one to several minutes
depending on the pip cache and the network), so it needs the index to be reachable and is too slow
for the 15-minute test suite. ``tests/test_package.py`` checks the same behaviour in ``make test``
by blocking the optional modules inside the test environment, which needs neither.

What it checks, in the fresh environment: torch, torchvision, Dask and pycocotools are not
installed; ``import lsbench.classic`` works; ``lsbench run --methods cv --limit 2`` on the synthetic
set and ``lsbench run --methods cv,drlse --dataset folder`` finish with their tables; ``lsbench
segment`` writes a mask; a learned method says which extra to install. The source is copied
first, so the build writes nothing into the checkout. The time of each step is printed (``-s``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

from lsbench.datasets import fixtures

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _runner(env: dict[str, str], cwd: Path):
    """``run(args, timeout, ok=True)`` in ``cwd`` (from the checkout, ``python -c`` would import its lsbench)."""

    def run(args: list[object], timeout: float, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=cwd)
        if ok and done.returncode != 0:
            pytest.fail(f"{' '.join(map(str, args))} exited {done.returncode}:\n{(done.stdout + done.stderr)[-4000:]}")
        return done

    return run


def test_pip_install_without_extras_runs_classic_methods(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT / "lsbench", source / "lsbench", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(LSBENCH_DATA=str(tmp_path / "data"), LSBENCH_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    times = {}
    _run = _runner(env, tmp_path)

    start = time.perf_counter()
    venv.EnvBuilder(with_pip=True, clear=True).create(tmp_path / "venv")
    bin_dir = tmp_path / "venv" / "bin"
    python, lsbench = bin_dir / "python", bin_dir / "lsbench"
    times["venv"] = time.perf_counter() - start

    start = time.perf_counter()
    _run([python, "-m", "pip", "install", "--disable-pip-version-check", str(source)], timeout=1800)
    times["pip install ."] = time.perf_counter() - start

    probe = _run([python, "-c", "import importlib.util, sys, lsbench.classic, lsbench.metrics, lsbench.reports; "
                  "print(sorted(m for m in ('torch', 'torchvision', 'dask', 'distributed', 'pycocotools') "
                  "if importlib.util.find_spec(m)), lsbench.classic.chan_vese.__module__, "
                  "'torch' in sys.modules, lsbench.__file__)"], timeout=120)
    assert probe.stdout.split()[:3] == ["[]", "lsbench.classic.chan_vese", "False"], probe.stdout
    assert str(tmp_path / "venv") in probe.stdout  # the installed copy, not the checkout

    start = time.perf_counter()
    synthetic = _run([lsbench, "run", "--methods", "cv", "--limit", "2", "--out", tmp_path / "runs", "--run-id", "s",
                      "--no-progress"], timeout=600)
    times["lsbench run --methods cv --limit 2"] = time.perf_counter() - start
    assert "| `cv` |" in synthetic.stdout and (tmp_path / "runs" / "s" / "figures" / "fig7_grid.png").is_file()

    folder = tmp_path / "mine"
    fixtures.write_folder(folder)
    start = time.perf_counter()
    own = _run([lsbench, "run", "--methods", "cv,drlse", "--dataset", "folder", "--root", folder, "--out",
                tmp_path / "runs", "--run-id", "f", "--no-progress"], timeout=600)
    times["lsbench run --methods cv,drlse --dataset folder"] = time.perf_counter() - start
    assert "| `drlse` |" in own.stdout

    _run([lsbench, "segment", folder / "images" / "cell-b.png", "--out", tmp_path / "seg", "--no-progress"],
         timeout=300)
    assert (tmp_path / "seg" / "cell-b.png").is_file()
    learned = _run([lsbench, "run", "--methods", "rls", "--limit", "1", "--out", tmp_path / "runs"], timeout=300,
                   ok=False)
    assert learned.returncode == 1
    assert learned.stderr.strip().splitlines()[-1] == "Error: rls needs PyTorch: pip install 'lsbench[torch]'"
    print("\nfresh install without extras, seconds: "
          + ", ".join(f"{k}: {v:.1f}" for k, v in times.items()) + f" (python {sys.version.split()[0]})")

"""lsbench: benchmark classic variational level-set segmentation against learned recurrent
level-set networks (RLS / CRLS, Le et al.).

Data flows one way: dataset -> method -> metric -> table/figure. Importing :mod:`lsbench` is
cheap and never imports torch: the subpackages (``lsbench.classic``, ``lsbench.metrics``,
``lsbench.datasets``, ``lsbench.levelset``, ``lsbench.reports``, ...) and :func:`segment` are
imported on first attribute access (PEP 562), so ``import lsbench; lsbench.classic.chan_vese``
works and only loads what it names.

Examples
--------
>>> import numpy as np
>>> import lsbench
>>> image = np.zeros((20, 20), np.float32)
>>> image[5:15, 5:15] = 1.0
>>> int(lsbench.classic.chan_vese(image, max_iter=50).sum()), int(lsbench.segment(image, "cv").sum())
(100, 100)
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from lsbench.types import Instances, LevelSetResult, Prediction, Sample

__version__ = "0.1.0"

__all__ = ["Instances", "LevelSetResult", "Prediction", "Sample", "__version__", "segment"]


def _submodules() -> frozenset[str]:
    """The modules and subpackages of lsbench (a directory listing: nothing is imported)."""
    return frozenset(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))


def __getattr__(name: str) -> Any:
    if name == "segment":
        from lsbench.api import segment

        return segment
    if name in _submodules():
        return importlib.import_module(f"lsbench.{name}")
    raise AttributeError(f"module 'lsbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*__all__, "__version__", *_submodules()})

"""Optional dependencies: which extra of ``pip install lsbench[...]`` provides what, and the one error
every place that needs one raises when it is missing.

``pip install lsbench`` gives the classic methods, the metrics of single-object segmentation, the
datasets that need nothing else, the harness (local and process executors) and the reports. The
rest comes with extras (:data:`EXTRAS`), each named in ``pyproject.toml``:

``torch``
    PyTorch and torchvision: the learned methods (``rls``, ``rls-conv``, ``fconnet``, ``crls``,
    ``maskrcnn``), the batched classic backends (``cv-torch`` ...), training.
``dask``
    Dask's distributed scheduler: ``--executor dask``.
``coco``
    pycocotools: COCO-format datasets (``coco2014``, ``shapes``), instance runs (their ground truth
    and predictions are stored as COCO RLE), region AP and COCO AP.
``coco-fast``
    faster-coco-eval, the optional C++ COCOeval backend.
``all``
    torch, dask and coco.

A module that needs one of them imports it through :func:`require` (or turns the
``ModuleNotFoundError`` of a deeper import into one with :func:`missing_dependency`), so that a
missing package is a one-line :class:`MissingDependencyError` naming the extra to install, e.g.
``rls needs PyTorch: pip install 'lsbench[torch]'``.

Examples
--------
>>> from lsbench.optional import missing_dependency, require
>>> require("math", "an example").pi > 3
True
>>> missing = ModuleNotFoundError("No module named 'torch'", name="torch")   # as `import torch` raises it
>>> print(missing_dependency(missing, "rls"))
rls needs PyTorch: pip install 'lsbench[torch]'
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "MissingDependencyError", "extra_for", "missing_dependency", "require"]

#: extra -> (what it provides in words, the top-level modules it installs)
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "torch": ("PyTorch", ("torch", "torchvision")),
    "dask": ("Dask's distributed scheduler", ("dask", "distributed")),
    "coco": ("pycocotools", ("pycocotools",)),
    "coco-fast": ("faster-coco-eval", ("faster_coco_eval",)),
}


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message names the ``lsbench[...]`` extra."""


def extra_for(module: str) -> str | None:
    """The extra that installs ``module`` (a dotted name), or None for a module of no extra.

    >>> from lsbench.optional import extra_for
    >>> extra_for("torchvision.ops"), extra_for("distributed"), extra_for("numpy")
    ('torch', 'dask', None)
    """
    top = module.split(".")[0]
    return next((extra for extra, (_, modules) in EXTRAS.items() if top in modules), None)


def missing_dependency(exc: ModuleNotFoundError, what: str) -> ImportError:
    """The error to raise for ``exc``: a :class:`MissingDependencyError` naming the extra when the
    missing module belongs to one, else ``exc`` itself (a missing module of no extra is a bug, not a
    choice of install, and keeps its traceback)."""
    extra = extra_for(exc.name or "")
    if extra is None:
        return exc
    label = EXTRAS[extra][0]
    return MissingDependencyError(f"{what} needs {label}: pip install 'lsbench[{extra}]'")


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` for ``what`` (e.g. ``"rls"``, ``"COCO AP"``); a missing package of an extra
    raises :class:`MissingDependencyError` naming the extra."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise missing_dependency(exc, what) from None

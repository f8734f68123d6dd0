"""Datasets: loaders that read each benchmark set exactly as it is on disk and yield Samples."""

from __future__ import annotations

from typing import Any

from lsbench.datasets.base import Dataset, Subset
from lsbench.datasets.io import DatasetError, default_root

__all__ = ["Dataset", "DatasetError", "Subset", "default_root", "load"]


def load(name: str, root: Any = None, split: str | None = None, **params: Any) -> Dataset:
    """Load split ``split`` of the registered dataset ``name`` from ``root``.

    ``split=None`` takes the dataset's evaluation split (the factory's default: ``test`` for
    synthetic, weizmann and shapes, ``val`` for voc2012, sbd and coco2014).

    ``root`` defaults to :func:`default_root`; unknown names raise an error listing the valid
    ones. Extra ``params`` go to the dataset's factory (e.g. ``families="vessel"``).
    """
    from lsbench.registry import DATASETS

    if split is None:
        split = DATASETS.get(name).defaults().get("split") or "test"
    return DATASETS.build(name, root=root, split=split, **params)

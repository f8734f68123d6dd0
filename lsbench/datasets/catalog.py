"""Registered datasets (``lsbench list datasets``). Factories take ``root``, ``split`` and options."""

from __future__ import annotations

from typing import Any

from lsbench.registry import DATASETS


@DATASETS.register("synthetic", kind="binary",
                   summary="lsbench's synthetic/medical set: 20 scenes x 36 variants, 360 train / 360 test")
def _synthetic(root: Any = None, split: str = "test", seed: int = 2019, size: int = 128,
               families: Any = None) -> Any:
    from lsbench.datasets.synthetic import SyntheticDataset

    return SyntheticDataset(root, split, seed=seed, size=size, families=families)


# -- real benchmark sets (Weizmann, VOC 2012, SBD, COCO 2014) and the multi-instance shapes set ------

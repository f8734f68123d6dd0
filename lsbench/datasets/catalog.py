"""Registered datasets (``lsbench list datasets``). Factories take ``root``, ``split`` and options."""

from __future__ import annotations

from typing import Any

from lsbench.registry import DATASETS


@DATASETS.register("synthetic", kind="binary",
                   summary="lsbench's synthetic/medical set: 20 scenes x 36 variants, 360 train / 360 test")
def _synthetic(root: Any = None, split: str = "test", seed: int = 2019, size: int = 128,
               families: Any = None, version: Any = None) -> Any:
    from lsbench.datasets.synthetic import SyntheticDataset

    return SyntheticDataset(root, split, seed=seed, size=size, families=families, version=version)


# -- real benchmark sets (Weizmann, VOC 2012, SBD, COCO 2014) and the multi-instance shapes set ------


@DATASETS.register("weizmann", kind="binary",
                   summary="Weizmann segmentation DB, 1obj: 100 images, GT per annotator or 2-of-3 consensus "
                           "(augment=True: 47 variants each, 2350 train / 2350 test)")
def _weizmann(root: Any = None, split: str = "test", gt: Any = "consensus", image: str = "bw",
              augment: bool = False, seed: int = 2019) -> Any:
    from lsbench.datasets.weizmann import WeizmannDataset

    return WeizmannDataset(root, split, gt=gt, image=image, augment=augment, seed=seed)


@DATASETS.register("voc2012", kind="instance",
                   summary="PASCAL VOC 2012 segmentation as instances: 1464 train / 1449 val, 20 classes, void excluded")
def _voc2012(root: Any = None, split: str = "val") -> Any:
    from lsbench.datasets.voc import VOCDataset

    return VOCDataset(root, split)


@DATASETS.register("sbd", kind="instance",
                   summary="SBD instances: SDS/MNC split 5623 train / 5732 val (protocol=sds) or SBD's 8498 / 2857")
def _sbd(root: Any = None, split: str = "val", protocol: str = "sds", boundaries: bool = False) -> Any:
    from lsbench.datasets.sbd import SBDDataset

    return SBDDataset(root, split, protocol=protocol, boundaries=boundaries)


@DATASETS.register("coco2014", kind="instance",
                   summary="MS COCO 2014 instances: 82783 train / 40504 val, 80 classes, crowd regions flagged")
def _coco2014(root: Any = None, split: str = "val", skip_empty: bool = False) -> Any:
    from lsbench.datasets.coco import Coco2014Dataset

    return Coco2014Dataset(root, split, skip_empty=skip_empty)


@DATASETS.register("shapes", kind="instance",
                   summary="lsbench's multi-instance shapes (COCO format): 6 classes, 1-8 per image, "
                           "2000 train / 200 val / 500 test, 128 px RGB")
def _shapes(root: Any = None, split: str = "test", seed: int = 2019, size: int = 128, train_images: int = 2000,
            val_images: int = 200, test_images: int = 500) -> Any:
    from lsbench.datasets.shapes import ShapesDataset

    return ShapesDataset(root, split, seed=seed, size=size, train_images=train_images, val_images=val_images,
                         test_images=test_images)


# -- your own images -------------------------------------------------------------------------------------
@DATASETS.register("folder", kind="binary",
                   summary="your own images: --root DIR with DIR/images/* (PNG, JPEG, TIFF; 8/16-bit; grey or "
                           "colour), optional DIR/masks/<stem>.png (nonzero = object) and DIR/inits/<stem>.png")
def _folder(root: Any = None, split: str = "all") -> Any:
    from lsbench.datasets.folder import FolderDataset

    return FolderDataset(root, split)

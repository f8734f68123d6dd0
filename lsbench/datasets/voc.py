"""PASCAL VOC 2012 segmentation (instance targets from ``SegmentationObject`` + ``SegmentationClass``).

On disk (``VOCtrainval_11-May-2012.tar`` unpacked into ``<root>/voc2012/``)::

    <root>/voc2012/VOCdevkit/VOC2012/JPEGImages/<id>.jpg
    <root>/voc2012/VOCdevkit/VOC2012/SegmentationClass/<id>.png    palette PNG: 0 bg, 1..20 class, 255 void
    <root>/voc2012/VOCdevkit/VOC2012/SegmentationObject/<id>.png   palette PNG: 0 bg, i = i-th object, 255 void
    <root>/voc2012/VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val,trainval}.txt   1464 / 1449 / 2913 ids

Masks are read as palette *indices* with Pillow (``decode_palette_png``), never through readers
that expand the palette to RGB; any other mode is an error naming the file. Instance ``i`` is
``object == i``; its class is the most frequent class index under its pixels (void and
background excluded), as in the devkit. Void (255) pixels belong to no instance and are returned
as ``Sample.meta["ignore"]`` so metrics exclude them. Labels are the VOC indices 1..20 (already
contiguous; ``dataset.categories`` maps them to names).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from lsbench.datasets.base import Dataset
from lsbench.datasets.categories import CategoryMap
from lsbench.datasets.integrity import (
    Report,
    Resource,
    check_archives,
    finish_verification,
    manifest_digests,
    open_checked,
)
from lsbench.datasets.io import (
    DatasetError,
    decode_palette_png,
    decode_rgb,
    default_root,
    read_bytes,
)
from lsbench.types import Instances, Sample

__all__ = ["ARCHIVES", "VOCDataset", "dataset_dir", "devkit_dir", "instances_from_voc_masks", "verify"]

ARCHIVES = (Resource("VOCtrainval_11-May-2012.tar",
                     "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
                     "6cd6e144f989b92b3379bac3b3de84fd", size="1.9 GB"),)
#: segmentation split sizes of the official release
OFFICIAL_COUNTS = {"train": 1464, "val": 1449, "trainval": 2913}
SPLITS = ("train", "val", "trainval")
VOID = 255
N_CLASSES = 20


def dataset_dir(root: str | os.PathLike[str] | None) -> Path:
    return (Path(root).expanduser() if root is not None else default_root()) / "voc2012"


def devkit_dir(root: str | os.PathLike[str] | None) -> Path:
    return dataset_dir(root) / "VOCdevkit" / "VOC2012"


def read_id_list(path: Path) -> list[str]:
    """Ids of a split file (one per line, surrounding blanks ignored); a missing or empty file is a
    :class:`DatasetError` naming it."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing split file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from None
    ids = [line.split()[0] for line in text.splitlines() if line.strip()]
    if not ids:
        raise DatasetError(f"{path}: empty split file")
    return ids


def label_problems(cls: np.ndarray, obj: np.ndarray) -> list[str]:
    """What is wrong with a pair of VOC masks (empty list when they are consistent)."""
    out = []
    bad_cls = np.setdiff1d(np.unique(cls), [*range(N_CLASSES + 1), VOID])
    if bad_cls.size:
        out.append(f"SegmentationClass label(s) {bad_cls.tolist()} out of range (valid: 0..{N_CLASSES}, {VOID} void)")
    if cls.shape != obj.shape:
        out.append(f"SegmentationClass size {cls.shape[::-1]} differs from SegmentationObject {obj.shape[::-1]}")
        return out
    for i in np.setdiff1d(np.unique(obj), [0, VOID]).tolist():
        under = cls[obj == i]
        if not np.any((under > 0) & (under <= N_CLASSES)):
            out.append(f"SegmentationObject instance {i} has no class in SegmentationClass")
    return out


def instances_from_voc_masks(cls: np.ndarray, obj: np.ndarray) -> tuple[Instances, np.ndarray]:
    """(instances, void mask) from a class-index and an object-index mask of one image."""
    ids = np.setdiff1d(np.unique(obj), [0, VOID])
    masks = obj[None, :, :] == ids[:, None, None] if ids.size else np.zeros((0, *obj.shape), bool)
    labels = []
    for m in masks:
        under = cls[m]
        under = under[(under > 0) & (under <= N_CLASSES)]
        labels.append(int(np.bincount(under, minlength=N_CLASSES + 1).argmax()))
    inst = Instances(masks=masks, labels=np.asarray(labels, np.int64), iscrowd=np.zeros(len(labels), bool))
    return inst, obj == VOID


class VOCDataset(Dataset):
    """One segmentation split of PASCAL VOC 2012 as instance targets.

    Parameters
    ----------
    root : path, optional
        Parent folder; the set lives in ``<root>/voc2012/VOCdevkit/VOC2012``.
    split : {"train", "val", "trainval"}
    """

    name = "voc2012"
    kind = "instance"

    def __init__(self, root: str | os.PathLike[str] | None = None, split: str = "val") -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))} for voc2012; got {split!r} "
                             "(the test split is only on the evaluation server)")
        self.split = split
        self.directory = devkit_dir(root)
        self.root = dataset_dir(root).parent
        if not self.directory.is_dir():
            raise DatasetError(f"{self.directory}: missing; unpack VOCtrainval_11-May-2012.tar into "
                               f"{dataset_dir(root)} (see README, or `lsbench datasets fetch voc2012`)")
        self.categories = CategoryMap.voc()
        self.class_names = tuple(c.name for c in self.categories)
        self._ids = read_id_list(self.directory / "ImageSets" / "Segmentation" / f"{split}.txt")
        self._digests = manifest_digests(dataset_dir(root))

    def __len__(self) -> int:
        return len(self._ids)

    def ids(self) -> list[str]:
        return list(self._ids)

    def item_digests(self) -> list[tuple[str, str]]:
        d = self._digests
        return [(i, d.get(self._rel("JPEGImages", f"{i}.jpg"), "") + d.get(self._rel("SegmentationObject", f"{i}.png"), ""))
                for i in self._ids]

    def _rel(self, folder: str, file: str) -> str:
        return f"VOCdevkit/VOC2012/{folder}/{file}"

    def _read(self, folder: str, file: str) -> tuple[bytes, str]:
        path = self.directory / folder / file
        data = read_bytes(path, self._digests.get(self._rel(folder, file)))
        return data, str(path)

    def _load(self, index: int) -> Sample:
        image_id = self._ids[index]
        image = decode_rgb(*self._read("JPEGImages", f"{image_id}.jpg"))
        cls = decode_palette_png(*self._read("SegmentationClass", f"{image_id}.png"))
        obj_data, obj_name = self._read("SegmentationObject", f"{image_id}.png")
        obj = decode_palette_png(obj_data, obj_name)
        for mask, folder in ((cls, "SegmentationClass"), (obj, "SegmentationObject")):
            if mask.shape != image.shape[:2]:
                raise DatasetError(f"{self.directory / folder / (image_id + '.png')}: size {mask.shape[::-1]} "
                                   f"differs from its JPEG's {image.shape[1::-1]}")
        problems = label_problems(cls, obj)
        if problems:
            raise DatasetError(f"{self.directory / 'SegmentationClass' / (image_id + '.png')}: {'; '.join(problems)}")
        inst, void = instances_from_voc_masks(cls, obj)
        return Sample(id=image_id, image=image.astype(np.float32) / np.float32(255.0), instances=inst,
                      meta={"ignore": void, "image_id": image_id})


def verify(root: str | os.PathLike[str] | None = None, *, rehash: bool = False, **_: Any) -> Report:
    """Structural checks of ``<root>/voc2012`` plus archive md5 and the sha256 manifest.

    For every id of every segmentation split: the JPEG exists and opens as RGB; both masks exist,
    are palette ("P") PNGs of the JPEG's size, class indices lie in 0..20 or 255, and every object
    has a class. Split sizes other than the official 1464 / 1449 / 2913 are warnings.
    """
    base = dataset_dir(root)
    report = Report("voc2012", base)
    devkit = devkit_dir(root)
    if not devkit.is_dir():
        report.problem(devkit, "missing; unpack VOCtrainval_11-May-2012.tar here (see README)")
        return report
    check_archives(base, ARCHIVES, report)
    seg_dir = devkit / "ImageSets" / "Segmentation"
    listed: dict[str, str] = {}
    splits: dict[str, list[str]] = {}
    for split in SPLITS:
        path = seg_dir / f"{split}.txt"
        try:
            ids = read_id_list(path)
        except DatasetError as exc:
            report.problem(path, str(exc).split(": ", 1)[-1])
            continue
        splits[split] = ids
        if len(ids) != OFFICIAL_COUNTS[split]:
            report.warn(path, f"{len(ids)} ids; the official release has {OFFICIAL_COUNTS[split]}")
        if len(set(ids)) != len(ids):
            report.problem(path, "lists an id more than once")
        for i in ids:
            listed.setdefault(i, path.name)
    if {"train", "val", "trainval"} <= set(splits) and set(splits["trainval"]) != set(splits["train"]) | set(splits["val"]):
        report.warn(seg_dir / "trainval.txt", "is not the union of train.txt and val.txt")
    for image_id, split_file in listed.items():
        jpeg_path = devkit / "JPEGImages" / f"{image_id}.jpg"
        jpeg = None
        if not jpeg_path.is_file():
            report.problem(jpeg_path, f"missing (id listed in ImageSets/Segmentation/{split_file})")
        else:
            jpeg = open_checked(report, jpeg_path, ("RGB", "L"), load=False)
        masks = {}
        for folder in ("SegmentationClass", "SegmentationObject"):
            path = devkit / folder / f"{image_id}.png"
            if not path.is_file():
                report.problem(path, f"missing (id listed in ImageSets/Segmentation/{split_file})")
                continue
            im = open_checked(report, path, ("P",))
            if im is None:
                continue
            if jpeg is not None and im.size != jpeg.size:
                report.problem(path, f"size {im.size} differs from JPEGImages/{image_id}.jpg {jpeg.size}")
                continue
            masks[folder] = np.asarray(im)
        if len(masks) == 2:
            for p in label_problems(masks["SegmentationClass"], masks["SegmentationObject"]):
                report.problem(devkit / "SegmentationClass" / f"{image_id}.png", p)
    n_jpeg = sum(1 for _ in (devkit / "JPEGImages").glob("*.jpg")) if (devkit / "JPEGImages").is_dir() else 0
    report.notes.append(f"{len(listed)} segmentation ids checked; {n_jpeg} JPEGs in JPEGImages (official: 17125)")
    finish_verification(report, rehash=rehash, archives=ARCHIVES)
    return report

"""SBD, the Semantic Boundaries Dataset (Hariharan et al., ICCV 2011), as instance targets.

On disk (``benchmark.tgz`` unpacked into ``<root>/sbd/``)::

    <root>/sbd/benchmark_RELEASE/dataset/img/<id>.jpg     11,355 images (VOC 2011 train/val)
    <root>/sbd/benchmark_RELEASE/dataset/cls/<id>.mat     struct GTcls
    <root>/sbd/benchmark_RELEASE/dataset/inst/<id>.mat    struct GTinst
    <root>/sbd/benchmark_RELEASE/dataset/{train,val}.txt  8,498 / 2,857 ids
    <root>/sbd/sds/{train,val}.txt                        SDS/MNC instance split, 5,623 / 5,732 ids

``GTinst.Segmentation`` (H x W): value i = i-th instance; ``GTinst.Categories(i)``: its class
(1..20, VOC order); ``GTinst.Boundaries{i}``: its boundary as a sparse matrix.
``GTcls.Segmentation``: class per pixel (0..20); ``GTcls.Boundaries{k}``: boundary of class k;
``GTcls.CategoriesPresent``. The two structs order their fields differently
(GTcls = Boundaries, Segmentation, CategoriesPresent; GTinst = Segmentation, Boundaries,
Categories), so lsbench reads fields **by name**, never by position. ``scipy.io.loadmat`` returns
the boundaries as ``scipy.sparse`` arrays (``csc_array`` in scipy >= 1.15, ``csc_matrix`` before);
both are accepted. SBD has no void label.

Split protocols (``protocol``):

* ``"sds"`` (default): the instance split of SDS (Hariharan et al., ECCV 2014) used by MNC and
  by the chapter's Table 3: 5,623 train / 5,732 val images, the files ``train.txt`` (published
  as ``train_noval.txt``, md5 ``79bff800c5f0b1ec6b21080a3c066722``) and MNC's ``val.txt``
  (md5 ``905db61182fcaaf6b981af6ae6dd7ff2``). They are looked for in ``<root>/sbd/sds/`` and
  then in this checkout's ``datasets/splits/sds/``, and must match those md5s.
* ``"sbd"``: SBD's own ``train.txt`` / ``val.txt`` (8,498 / 2,857; SBD train overlaps VOC 2012 val).
"""

from __future__ import annotations

import io
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
from lsbench.datasets.io import DatasetError, decode_rgb, default_root, md5_file, read_bytes
from lsbench.datasets.voc import read_id_list
from lsbench.levelset.validate import check_bool
from lsbench.types import Instances, Sample

__all__ = ["ARCHIVES", "SDS_SPLITS", "SBDDataset", "dataset_dir", "read_gtcls", "read_gtinst", "sds_split_file",
           "verify"]

ARCHIVES = (
    Resource("benchmark.tgz",
             "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz",
             "82b4d87ceb2ed10f6038a1cba92111cb", size="1.4 GB"),
    Resource("train_noval.txt", "http://home.bharathh.info/pubs/codes/SBD/train_noval.txt",
             "79bff800c5f0b1ec6b21080a3c066722", extract=False, dest="sds/train.txt", size="5,623 ids"),
    Resource("val.txt", "https://raw.githubusercontent.com/daijifeng001/MNC/master/data/VOCdevkitSDS/val.txt",
             "905db61182fcaaf6b981af6ae6dd7ff2", extract=False, dest="sds/val.txt", size="5,732 ids"),
)
#: SDS/MNC split files: name -> (md5 of the official file, number of ids)
SDS_SPLITS = {"train": ("79bff800c5f0b1ec6b21080a3c066722", 5623),
              "val": ("905db61182fcaaf6b981af6ae6dd7ff2", 5732)}
OFFICIAL_COUNTS = {"train": 8498, "val": 2857, "images": 11355}
PROTOCOLS = ("sds", "sbd")
SPLITS = ("train", "val")
N_CLASSES = 20


def dataset_dir(root: str | os.PathLike[str] | None) -> Path:
    return (Path(root).expanduser() if root is not None else default_root()) / "sbd"


def release_dir(root: str | os.PathLike[str] | None) -> Path:
    return dataset_dir(root) / "benchmark_RELEASE" / "dataset"


def _checkout_splits() -> Path:
    return Path(__file__).resolve().parents[2] / "datasets" / "splits" / "sds"


def sds_split_file(root: str | os.PathLike[str] | None, split: str) -> Path:
    """The SDS/MNC split file for ``split``: ``<root>/sbd/sds/<split>.txt``, else the checkout's
    ``datasets/splits/sds/<split>.txt``; a :class:`DatasetError` when neither exists."""
    candidates = [dataset_dir(root) / "sds" / f"{split}.txt", _checkout_splits() / f"{split}.txt"]
    for c in candidates:
        if c.is_file():
            return c
    raise DatasetError(f"{candidates[0]}: missing SDS/MNC split file ({SDS_SPLITS[split][1]} ids, md5 "
                       f"{SDS_SPLITS[split][0]}); `lsbench datasets fetch sbd` downloads it, or copy "
                       "train_noval.txt (as train.txt) / MNC's data/VOCdevkitSDS/val.txt there (see README)")


def read_sds_split(root: str | os.PathLike[str] | None, split: str) -> list[str]:
    """Ids of an SDS/MNC split file after checking its md5 against the official file's."""
    path = sds_split_file(root, split)
    digest = md5_file(path)
    if digest != SDS_SPLITS[split][0]:
        raise DatasetError(f"{path}: md5 {digest} is not the official SDS/MNC {split} split's "
                           f"{SDS_SPLITS[split][0]}; replace it with the official file")
    return [i.removesuffix(".jpg") for i in read_id_list(path)]


def _struct(data: bytes, path: Path, name: str, fields: tuple[str, ...]) -> dict[str, Any]:
    import scipy.io as sio

    try:
        mat = sio.loadmat(io.BytesIO(data))
    except Exception as exc:
        raise DatasetError(f"{path}: not a readable MATLAB file ({exc})") from None
    if name not in mat:
        raise DatasetError(f"{path}: no struct {name!r} (found {sorted(k for k in mat if not k.startswith('__'))})")
    s = mat[name]
    names = s.dtype.names or ()
    missing = [f for f in fields if f not in names]
    if missing:
        raise DatasetError(f"{path}: struct {name} lacks field(s) {missing} (has {list(names)})")
    return {f: s[f].flat[0] for f in fields}  # by name: GTcls and GTinst order their fields differently


def _cell_masks(cell: Any, shape: tuple[int, int], path: Path) -> np.ndarray:
    """A MATLAB cell of sparse (or dense) boundary maps -> K x H x W bool."""
    import scipy.sparse as sp

    items = np.asarray(cell, dtype=object).reshape(-1)
    out = np.zeros((len(items), *shape), bool)
    for k, item in enumerate(items):
        arr = item.toarray() if sp.issparse(item) else np.asarray(item)
        if arr.shape != shape:
            raise DatasetError(f"{path}: boundary map {k + 1} has shape {arr.shape}, segmentation {shape}")
        out[k] = arr != 0
    return out


def read_gtinst(data: bytes, path: Path, boundaries: bool = False) -> dict[str, Any]:
    """``segmentation`` (H x W), ``categories`` (N,), optionally ``boundaries`` (N x H x W bool)."""
    s = _struct(data, path, "GTinst", ("Segmentation", "Boundaries", "Categories"))
    seg = np.asarray(s["Segmentation"])
    if seg.ndim != 2:
        raise DatasetError(f"{path}: GTinst.Segmentation has shape {seg.shape}, expected H x W")
    out = {"segmentation": seg, "categories": np.asarray(s["Categories"]).reshape(-1).astype(np.int64)}
    if boundaries:
        out["boundaries"] = _cell_masks(s["Boundaries"], seg.shape, path)
    return out


def read_gtcls(data: bytes, path: Path, boundaries: bool = False) -> dict[str, Any]:
    """``segmentation`` (H x W class indices), ``present`` (categories), optionally ``boundaries`` (20 x H x W)."""
    s = _struct(data, path, "GTcls", ("Boundaries", "Segmentation", "CategoriesPresent"))
    seg = np.asarray(s["Segmentation"])
    if seg.ndim != 2:
        raise DatasetError(f"{path}: GTcls.Segmentation has shape {seg.shape}, expected H x W")
    out = {"segmentation": seg, "present": np.asarray(s["CategoriesPresent"]).reshape(-1).astype(np.int64)}
    if boundaries:
        out["boundaries"] = _cell_masks(s["Boundaries"], seg.shape, path)
    return out


def inst_problems(gt: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(problems, warnings) of a decoded GTinst."""
    problems, warnings = [], []
    cats, seg = gt["categories"], gt["segmentation"]
    bad = cats[(cats < 1) | (cats > N_CLASSES)]
    if bad.size:
        problems.append(f"GTinst.Categories {sorted(set(bad.tolist()))} out of range 1..{N_CLASSES}")
    top = int(seg.max()) if seg.size else 0
    if top > len(cats):
        problems.append(f"GTinst.Segmentation has instance {top} but Categories lists {len(cats)}")
    elif top < len(cats):
        warnings.append(f"GTinst.Categories lists {len(cats)} instances, Segmentation's largest is {top}")
    return problems, warnings


class SBDDataset(Dataset):
    """One split of SBD as instance targets.

    Parameters
    ----------
    root : path, optional
        Parent folder; the set lives in ``<root>/sbd``.
    split : {"train", "val"}
    protocol : {"sds", "sbd"}
        Which split files (module docstring).
    boundaries : bool
        Also return each instance's boundary map (``GTinst.Boundaries``) as
        ``Sample.meta["boundaries"]`` (N x H x W bool).
    """

    name = "sbd"
    kind = "instance"

    def __init__(self, root: str | os.PathLike[str] | None = None, split: str = "val", *,
                 protocol: str = "sds", boundaries: bool = False) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))} for sbd; got {split!r}")
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(map(repr, PROTOCOLS))}; got {protocol!r}")
        check_bool("boundaries", boundaries)
        self.split, self.protocol, self.boundaries = split, protocol, boundaries
        self.directory = release_dir(root)
        self.root = dataset_dir(root).parent
        if not self.directory.is_dir():
            raise DatasetError(f"{self.directory}: missing; unpack benchmark.tgz into {dataset_dir(root)} "
                               "(see README, or `lsbench datasets fetch sbd`)")
        self.categories = CategoryMap.voc()
        self.class_names = tuple(c.name for c in self.categories)
        if protocol == "sds":
            self._ids = read_sds_split(root, split)
        else:
            self._ids = read_id_list(self.directory / f"{split}.txt")
        self._digests = manifest_digests(dataset_dir(root))

    def __len__(self) -> int:
        return len(self._ids)

    def ids(self) -> list[str]:
        return list(self._ids)

    def params(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "boundaries": self.boundaries}

    def item_digests(self) -> list[tuple[str, str]]:
        d = self._digests
        return [(i, d.get(f"benchmark_RELEASE/dataset/img/{i}.jpg", "") + d.get(f"benchmark_RELEASE/dataset/inst/{i}.mat", ""))
                for i in self._ids]

    def _read(self, folder: str, file: str) -> tuple[bytes, Path]:
        path = self.directory / folder / file
        return read_bytes(path, self._digests.get(f"benchmark_RELEASE/dataset/{folder}/{file}")), path

    def _load(self, index: int) -> Sample:
        image_id = self._ids[index]
        data, img_path = self._read("img", f"{image_id}.jpg")
        image = decode_rgb(data, str(img_path))
        data, inst_path = self._read("inst", f"{image_id}.mat")
        gt = read_gtinst(data, inst_path, boundaries=self.boundaries)
        seg = gt["segmentation"]
        if seg.shape != image.shape[:2]:
            raise DatasetError(f"{inst_path}: segmentation size {seg.shape[::-1]} differs from {img_path.name}'s "
                               f"{image.shape[1::-1]}")
        problems, _ = inst_problems(gt)
        if problems:
            raise DatasetError(f"{inst_path}: {'; '.join(problems)}")
        ids = np.arange(1, len(gt["categories"]) + 1)
        masks = seg[None, :, :] == ids[:, None, None]
        keep = masks.any(axis=(1, 2))  # instances listed in Categories but absent from the mask are dropped
        inst = Instances(masks=masks[keep], labels=gt["categories"][keep], iscrowd=np.zeros(int(keep.sum()), bool))
        meta: dict[str, Any] = {"image_id": image_id}
        if self.boundaries:
            meta["boundaries"] = gt["boundaries"][keep]
        return Sample(id=image_id, image=image.astype(np.float32) / np.float32(255.0), instances=inst, meta=meta)


def verify(root: str | os.PathLike[str] | None = None, *, rehash: bool = False, **_: Any) -> Report:
    """Structural checks of ``<root>/sbd`` plus archive md5, SDS split md5s and the sha256 manifest.

    For every id of SBD's train/val (and the SDS files when present): the image opens; ``cls`` and
    ``inst`` ``.mat`` files have their structs and fields (read by name), segmentations of the
    image's size, class indices <= 20, boundary cells of the right shape; every SDS id exists.
    ``len(Categories) != max(Segmentation)`` is a warning (a few SBD instance masks are known to
    be inconsistent); counts other than the official ones are warnings.
    """
    base = dataset_dir(root)
    report = Report("sbd", base)
    rel = release_dir(root)
    if not rel.is_dir():
        report.problem(rel, "missing; unpack benchmark.tgz here (see README)")
        return report
    check_archives(base, [a for a in ARCHIVES if a.extract], report)
    listed: dict[str, str] = {}
    for split in SPLITS:
        path = rel / f"{split}.txt"
        try:
            ids = read_id_list(path)
        except DatasetError as exc:
            report.problem(path, str(exc).split(": ", 1)[-1])
            continue
        if len(ids) != OFFICIAL_COUNTS[split]:
            report.warn(path, f"{len(ids)} ids; the official release has {OFFICIAL_COUNTS[split]}")
        for i in ids:
            listed.setdefault(i, f"{split}.txt")
    for split, (md5, count) in SDS_SPLITS.items():
        try:
            path = sds_split_file(root, split)
        except DatasetError:
            report.notes.append(f"sds/{split}.txt: not present (needed for protocol=sds; `lsbench datasets fetch sbd` "
                                "or copy the official file there)")
            continue
        digest = md5_file(path)
        if digest != md5:
            report.problem(path, f"md5 {digest} is not the official SDS/MNC {split} split's {md5}")
        ids = [i.removesuffix(".jpg") for i in read_id_list(path)]
        if len(ids) != count:
            report.warn(path, f"{len(ids)} ids; the SDS/MNC split has {count}")
        for i in ids:
            listed.setdefault(i, f"{path.name} (SDS)")
    for image_id, split_file in listed.items():
        img_path = rel / "img" / f"{image_id}.jpg"
        if not img_path.is_file():
            report.problem(img_path, f"missing (id listed in {split_file})")
            img = None
        else:
            img = open_checked(report, img_path, ("RGB", "L"), load=False)
        shape = (img.size[1], img.size[0]) if img is not None else None
        for folder, reader in (("cls", read_gtcls), ("inst", read_gtinst)):
            path = rel / folder / f"{image_id}.mat"
            if not path.is_file():
                report.problem(path, f"missing (id listed in {split_file})")
                continue
            try:
                gt = reader(path.read_bytes(), path, boundaries=True)
            except DatasetError as exc:
                report.problem(path, str(exc).split(": ", 1)[-1])
                continue
            seg = gt["segmentation"]
            if shape is not None and seg.shape != shape:
                report.problem(path, f"segmentation size {seg.shape[::-1]} differs from img/{image_id}.jpg {shape[::-1]}")
            if folder == "cls":
                top = int(seg.max()) if seg.size else 0
                if top > N_CLASSES:
                    report.problem(path, f"GTcls.Segmentation label {top} out of range 0..{N_CLASSES}")
                if len(gt["boundaries"]) != N_CLASSES:
                    report.problem(path, f"GTcls.Boundaries has {len(gt['boundaries'])} cells, expected {N_CLASSES}")
            else:
                problems, warnings = inst_problems(gt)
                for p in problems:
                    report.problem(path, p)
                for w in warnings:
                    report.warn(path, w)
                if len(gt["boundaries"]) != len(gt["categories"]):
                    report.problem(path, f"GTinst.Boundaries has {len(gt['boundaries'])} cells for "
                                         f"{len(gt['categories'])} instances")
    for folder in ("img", "cls", "inst"):
        n = sum(1 for _ in (rel / folder).iterdir()) if (rel / folder).is_dir() else 0
        if n != OFFICIAL_COUNTS["images"]:
            report.warn(rel / folder, f"{n} files; the official release has {OFFICIAL_COUNTS['images']}")
    report.notes.append(f"{len(listed)} ids checked")
    finish_verification(report, rehash=rehash, archives=ARCHIVES)
    return report

"""MS COCO 2014 instances, and the reader shared by every COCO-format set (lsbench's shapes too).

On disk (``train2014.zip``, ``val2014.zip`` and ``annotations_trainval2014.zip`` unpacked into
``<root>/coco2014/``)::

    <root>/coco2014/train2014/COCO_train2014_<id:012d>.jpg     82,783 images
    <root>/coco2014/val2014/COCO_val2014_<id:012d>.jpg         40,504 images
    <root>/coco2014/annotations/instances_{train,val}2014.json

Annotations are decoded with pycocotools (``COCO.annToMask``): polygons (several per object when
it is occluded), uncompressed RLE (``counts`` a list, the crowd regions) and compressed RLE
(``counts`` a string). Category ids (1..90 with gaps) are mapped to contiguous labels 1..80 in
increasing id order; ``dataset.categories`` maps them back (:class:`CategoryMap`). Crowd regions
(``iscrowd = 1``) stay in ``Sample.instances`` flagged by ``Instances.iscrowd`` — never true-positive
targets, as in COCOeval — so metrics can keep them apart. Boxes are the recorded ``bbox``
(x, y, w, h) as ``x1, y1, x2, y2``. Every image is checked against its recorded width and height.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
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
from lsbench.datasets.io import DatasetError, decode_rgb, default_root, read_bytes
from lsbench.levelset.validate import check_bool
from lsbench.types import Instances, Sample

__all__ = ["ARCHIVES", "Coco2014Dataset", "CocoFormatDataset", "check_coco_split", "dataset_dir", "load_coco_json",
           "verify"]

ARCHIVES = (
    Resource("train2014.zip", "http://images.cocodataset.org/zips/train2014.zip",
             "0da8c0bd3d6becc4dcb32757491aca88", size="13 GB"),
    Resource("val2014.zip", "http://images.cocodataset.org/zips/val2014.zip",
             "a3d79f5ed8d289b7a7554ce06a5782b3", size="6 GB"),
    Resource("annotations_trainval2014.zip", "http://images.cocodataset.org/annotations/annotations_trainval2014.zip",
             "0a379cfc70b0e71301e0f377548639bd", size="253 MB"),
)
OFFICIAL_IMAGES = {"train": 82783, "val": 40504}
SPLITS = ("train", "val")


def dataset_dir(root: str | os.PathLike[str] | None) -> Path:
    return (Path(root).expanduser() if root is not None else default_root()) / "coco2014"


def load_coco_json(data: bytes, path: Path) -> dict[str, Any]:
    """Parse an instances JSON; a :class:`DatasetError` naming ``path`` if it is truncated or not
    COCO-shaped, or if an annotation refers to an unknown image or category."""
    try:
        dataset = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON, truncated or damaged ({exc})") from None
    if not isinstance(dataset, dict):
        raise DatasetError(f"{path}: not a COCO instances file (top level is not an object)")
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(dataset.get(k), list)]
    if missing:
        raise DatasetError(f"{path}: not a COCO instances file (no list {', '.join(repr(k) for k in missing)})")
    problems, _ = coco_problems(dataset)
    if problems:
        more = f" (and {len(problems) - 3} more; run `lsbench datasets verify`)" if len(problems) > 3 else ""
        raise DatasetError(f"{path}: {'; '.join(problems[:3])}{more}")
    return dataset


def coco_problems(dataset: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(problems, warnings) of a parsed instances file.

    Polygons with fewer than 3 points or an odd number of coordinates are warnings: the real COCO
    files contain a few, and pycocotools decodes them its own way (detectron2 filters them).
    """
    out: list[str] = []
    warn: list[str] = []
    try:
        images = {int(im["id"]): im for im in dataset["images"]}
        cat_ids = {int(c["id"]) for c in dataset["categories"]}
    except (KeyError, TypeError, ValueError) as exc:
        return [f"an image or category entry lacks a valid id ({exc!r})"], warn
    if len(images) != len(dataset["images"]):
        out.append("image ids are not unique")
    for im in dataset["images"]:
        if not all(isinstance(im.get(k), int) and im[k] > 0 for k in ("width", "height")) or not im.get("file_name"):
            out.append(f"image {im.get('id')} lacks a positive width/height or a file_name")
    for ann in dataset["annotations"]:
        aid = ann.get("id")
        if ann.get("image_id") not in images:
            out.append(f"annotation {aid} refers to image {ann.get('image_id')!r}, absent from 'images'")
            continue
        if ann.get("category_id") not in cat_ids:
            out.append(f"annotation {aid}: category {ann.get('category_id')!r} out of range (not in 'categories')")
        if ann.get("iscrowd", 0) not in (0, 1):
            out.append(f"annotation {aid}: iscrowd {ann.get('iscrowd')!r} is not 0 or 1")
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4):
            out.append(f"annotation {aid}: bbox {bbox!r} is not [x, y, w, h]")
        seg = ann.get("segmentation")
        im = images[ann["image_id"]]
        if isinstance(seg, dict):
            if list(seg.get("size", [])) != [im.get("height"), im.get("width")]:
                out.append(f"annotation {aid}: RLE size {seg.get('size')} differs from image {im['id']}'s "
                           f"[{im.get('height')}, {im.get('width')}]")
        elif not (isinstance(seg, list) and all(isinstance(p, list) for p in seg)):
            out.append(f"annotation {aid}: segmentation is neither RLE nor a list of polygons")
        elif not seg or not all(len(p) >= 6 and len(p) % 2 == 0 for p in seg):
            warn.append(f"annotation {aid}: a polygon with fewer than 3 points or an odd number of coordinates")
    return out, warn


def _coco_index(dataset: dict[str, Any]) -> Any:
    from lsbench.optional import require

    COCO = require("pycocotools.coco", "reading COCO annotations").COCO

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco = COCO()
        coco.dataset = dataset
        coco.createIndex()
    return coco


class CocoFormatDataset(Dataset):
    """Instances of one COCO-format split: an annotation JSON plus a folder of images.

    Subclasses (:class:`Coco2014Dataset`, :class:`~lsbench.datasets.shapes.ShapesDataset`) find
    the files; this class reads and checks them. ``digests`` maps paths relative to
    ``digest_base`` to sha256 (the dataset's manifest): every file read is checked against it.
    """

    kind = "instance"

    def _setup(self, annotation_file: Path, image_dir: Path, *, digests: dict[str, str], digest_base: Path,
               skip_empty: bool = False) -> None:
        self.annotation_file = annotation_file
        self.image_dir = image_dir
        self._digests = digests
        self._digest_base = digest_base
        dataset = load_coco_json(self._read(annotation_file), annotation_file)
        self.coco = _coco_index(dataset)
        self.categories = CategoryMap((c["id"], c["name"], c.get("supercategory", "")) for c in dataset["categories"])
        self.class_names = tuple(c.name for c in self.categories)
        image_ids = sorted(self.coco.imgs)
        if skip_empty:
            image_ids = [i for i in image_ids if self.coco.imgToAnns.get(i)]
        self._image_ids = image_ids

    def _read(self, path: Path) -> bytes:
        try:
            rel = path.relative_to(self._digest_base).as_posix()
        except ValueError:
            rel = ""
        return read_bytes(path, self._digests.get(rel))

    def __len__(self) -> int:
        return len(self._image_ids)

    def image_ids(self) -> list[int]:
        """The COCO image ids of the split, in sample order."""
        return list(self._image_ids)

    def ids(self) -> list[str]:
        return [Path(self.coco.imgs[i]["file_name"]).stem for i in self._image_ids]

    def item_digests(self) -> list[tuple[str, str]]:
        base = self.image_dir.relative_to(self._digest_base).as_posix() if self._digests else ""
        return [(Path(self.coco.imgs[i]["file_name"]).stem, self._digests.get(f"{base}/{self.coco.imgs[i]['file_name']}", ""))
                for i in self._image_ids]

    def _load(self, index: int) -> Sample:
        image_id = self._image_ids[index]
        info = self.coco.imgs[image_id]
        path = self.image_dir / info["file_name"]
        image = decode_rgb(self._read(path), str(path))
        h, w = int(info["height"]), int(info["width"])
        if image.shape[:2] != (h, w):
            raise DatasetError(f"{path}: size {image.shape[1]} x {image.shape[0]} differs from the {w} x {h} recorded in "
                               f"{self.annotation_file.name}")
        anns = sorted(self.coco.imgToAnns.get(image_id, []), key=lambda a: a["id"])
        masks = np.zeros((len(anns), h, w), bool)
        for k, ann in enumerate(anns):
            with warnings.catch_warnings():  # pycocotools 2.0.x's decode trips numpy 2's __array__(copy=) deprecation
                warnings.simplefilter("ignore", DeprecationWarning)
                m = self.coco.annToMask(ann)
            if m.shape != (h, w):
                raise DatasetError(f"{self.annotation_file}: annotation {ann['id']} decodes to {m.shape}, image is {(h, w)}")
            masks[k] = m.astype(bool)
        boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                          for a in anns], np.float32).reshape(-1, 4)
        inst = Instances(masks=masks, labels=np.array([self.categories.label_of(a["category_id"]) for a in anns], np.int64),
                         boxes=boxes, iscrowd=np.array([bool(a.get("iscrowd", 0)) for a in anns], bool))
        meta = {"image_id": image_id, "file_name": info["file_name"], "ann_ids": [a["id"] for a in anns],
                "license": info.get("license")}
        return Sample(id=Path(info["file_name"]).stem, image=image.astype(np.float32) / np.float32(255.0),
                      instances=inst, meta=meta)


class Coco2014Dataset(CocoFormatDataset):
    """One split of MS COCO 2014 instances.

    Parameters
    ----------
    root : path, optional
        Parent folder; the set lives in ``<root>/coco2014``.
    split : {"train", "val"}
    skip_empty : bool
        Leave out images without any annotation (as torchvision's detection references do for
        training); default keeps all images.
    """

    name = "coco2014"

    def __init__(self, root: str | os.PathLike[str] | None = None, split: str = "val", *,
                 skip_empty: bool = False) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))} for coco2014; got {split!r}")
        check_bool("skip_empty", skip_empty)
        self.split, self.skip_empty = split, skip_empty
        base = dataset_dir(root)
        self.root = base.parent
        ann = base / "annotations" / f"instances_{split}2014.json"
        if not ann.is_file():
            raise DatasetError(f"{ann}: missing; unpack annotations_trainval2014.zip and {split}2014.zip into {base} "
                               "(see README, or `lsbench datasets fetch coco2014`)")
        self._setup(ann, base / f"{split}2014", digests=manifest_digests(base), digest_base=base, skip_empty=skip_empty)

    def params(self) -> dict[str, Any]:
        return {"skip_empty": self.skip_empty} if self.skip_empty else {}


def check_coco_split(report: Report, annotation_file: Path, image_dir: Path,
                     official_images: int | None = None) -> dict[str, Any] | None:
    """Verify one COCO-format split: the JSON parses and is consistent; every image file exists
    with its recorded size. Problems name the file (and annotation id). Returns the dataset."""
    if not annotation_file.is_file():
        report.problem(annotation_file, "missing")
        return None
    try:
        dataset = json.loads(annotation_file.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        report.problem(annotation_file, f"not valid JSON, truncated or damaged ({exc})")
        return None
    if not isinstance(dataset, dict) or any(not isinstance(dataset.get(k), list) for k in ("images", "annotations", "categories")):
        report.problem(annotation_file, "not a COCO instances file (needs lists 'images', 'annotations', 'categories')")
        return None
    problems, warnings = coco_problems(dataset)
    for p in problems:
        report.problem(annotation_file, p)
    for w in warnings[:20]:
        report.warn(annotation_file, w)
    if len(warnings) > 20:
        report.warn(annotation_file, f"... and {len(warnings) - 20} more degenerate polygons")
    if official_images is not None and len(dataset["images"]) != official_images:
        report.warn(annotation_file, f"{len(dataset['images'])} images; the official release has {official_images}")
    for im in dataset["images"]:
        path = image_dir / str(im.get("file_name", ""))
        if not path.is_file():
            report.problem(path, f"missing (image {im.get('id')} of {annotation_file.name})")
            continue
        opened = open_checked(report, path, ("RGB", "L", "CMYK"), load=False)
        if opened is not None and opened.size != (im.get("width"), im.get("height")):
            report.problem(path, f"size {opened.size[0]} x {opened.size[1]} differs from the {im.get('width')} x "
                                 f"{im.get('height')} recorded in {annotation_file.name}")
    report.notes.append(f"{report.relative(annotation_file)}: {len(dataset['images'])} images, "
                        f"{len(dataset['annotations'])} annotations, {len(dataset['categories'])} categories checked")
    return dataset


def verify(root: str | os.PathLike[str] | None = None, *, rehash: bool = False, **_: Any) -> Report:
    """Structural checks of ``<root>/coco2014`` (each split whose JSON or image folder is present),
    archive md5s and the sha256 manifest."""
    base = dataset_dir(root)
    report = Report("coco2014", base)
    if not base.is_dir():
        report.problem(base, "missing; unpack the COCO 2014 zips here (see README)")
        return report
    check_archives(base, ARCHIVES, report)
    present = [s for s in SPLITS if (base / "annotations" / f"instances_{s}2014.json").exists() or (base / f"{s}2014").is_dir()]
    if not present:
        report.problem(base / "annotations", "no instances_{train,val}2014.json found")
    for split in present:
        check_coco_split(report, base / "annotations" / f"instances_{split}2014.json", base / f"{split}2014",
                         OFFICIAL_IMAGES[split])
    finish_verification(report, rehash=rehash, archives=ARCHIVES)
    return report

"""Writers of tiny datasets in the exact on-disk formats of the real benchmark sets.

Each writer creates the folder layout a loader expects under ``root`` (the same layout the real
archive unpacks to), fills it with a few small synthetic images whose ground truth is known
exactly, and returns that ground truth so a test can compare what a loader decodes with what was
written. They are what lsbench's tests run on (no real dataset can be downloaded on the build
machines), and a user can call them to make a small test set of their own, e.g.::

    from lsbench.datasets import fixtures, load
    truth = fixtures.write_voc2012("/tmp/voc-fixture")
    ds = load("voc2012", root="/tmp/voc-fixture", split="val")

Formats reproduced (``../shared/reference/datasets.md`` sections 2-5):

* **Weizmann 1obj**: ``weizmann/1obj/<name>/{src_color,src_bw,human_seg}``; ``src_bw`` is the grey
  image replicated to three channels, each ``human_seg/<name>_<subject>.png`` is that RGB image
  with the annotator's object painted pure red (255, 0, 0). The 100 official folder names; the
  annotators' masks differ so the at-least-2-of-3 consensus differs from each; every image has a
  background pixel of grey 255 (white), which a ``R > 0`` decoder would wrongly call object.
* **PASCAL VOC 2012**: ``voc2012/VOCdevkit/VOC2012/`` with JPEGs, palette ("P") PNGs with the
  devkit colour map for ``SegmentationClass`` and ``SegmentationObject`` (a one-pixel void band,
  index 255, around every object, as in the real masks), ``ImageSets/Segmentation/*.txt`` and
  ``Annotations/<id>.xml``.
* **SBD**: ``sbd/benchmark_RELEASE/dataset/{img,cls,inst}`` with MATLAB v5 ``.mat`` files whose
  structs keep the real field order (``GTcls``: Boundaries, Segmentation, CategoriesPresent;
  ``GTinst``: Segmentation, Boundaries, Categories), boundaries as cell arrays of sparse
  matrices, and ``train.txt``/``val.txt``.
* **COCO 2014**: ``coco2014/annotations/instances_<split>2014.json`` with polygon (several polygons
  for an occluded object), compressed-RLE and crowd uncompressed-RLE annotations, category ids
  with gaps, an image without annotations; JPEGs named ``COCO_<split>2014_<id:012d>.jpg``.
* **a folder of your own images** (the ``folder`` dataset): ``images/<stem>.png`` in three kinds
  (8-bit grey, 16-bit grey, 8-bit RGB), ``masks/<stem>.png`` (0/255) and optionally
  ``inits/<stem>.png`` (0/1).
"""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lsbench.datasets.categories import VOC_CLASSES
from lsbench.datasets.io import encode_palette_png

__all__ = ["write_coco2014", "write_folder", "write_sbd", "write_sds_splits", "write_voc2012", "write_weizmann"]

RED = np.array([255, 0, 0], np.uint8)


def _png(arr: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode="RGB").save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)


def _ellipse(h: int, w: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A colourful RGB uint8 image (smooth gradient plus noise) that is never pure red."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = rng.uniform(60, 180, 3)
    img = base + 60 * np.stack([yy, xx, 1 - yy], -1) + rng.normal(0, 8, (h, w, 3))
    return np.clip(np.round(img), 0, 254).astype(np.uint8)


# -- Weizmann 1obj -------------------------------------------------------------------------------------
def write_weizmann(root: str | os.PathLike[str], *, names: Sequence[str] | None = None, seed: int = 0,
                   size: tuple[int, int] = (14, 18)) -> dict[str, dict[str, Any]]:
    """Write ``root/weizmann/1obj/<name>/...`` for ``names`` (default: the 100 official names).

    Returns, per name: ``subjects`` (annotator ids, sorted), ``annotators`` (their masks in that
    order), ``consensus`` (pixels marked by at least 2), ``gray`` (H x W uint8) and ``color``
    (H x W x 3 uint8). Image sizes alternate between ``size`` and its transpose.
    """
    from lsbench.datasets.weizmann import WEIZMANN_NAMES

    names = list(WEIZMANN_NAMES if names is None else names)
    base = Path(root) / "weizmann" / "1obj"
    rng = np.random.default_rng(seed)
    truth: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(names):
        h, w = size if k % 2 == 0 else size[::-1]
        color = _texture(rng, h, w)
        luma = np.round(color @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
        obj = _ellipse(h, w, h / 2 + rng.uniform(-1, 1), w / 2 + rng.uniform(-1, 1), h / 4 + 1, w / 4 + 1)
        white = (0, 0) if not obj[0, 0] else (h - 1, w - 1)
        luma[white] = 255  # grey 255 = (255, 255, 255): object only to a buggy `R > 0` decoder
        gray_rgb = np.repeat(luma[:, :, None], 3, axis=2)
        # three annotators: each adds their own blob to the object and drops a different corner of it
        extra = [np.zeros((h, w), bool) for _ in range(3)]
        extra[0][1:3, 1:4] = True
        extra[1][h - 3:h - 1, 1:3] = True
        extra[2][1:3, w - 4:w - 1] = True
        extra[1][1:2, 2:4] = True  # annotators 1 and 2 agree on two pixels: they enter the consensus
        ann = []
        for a in range(3):
            m = obj | extra[a]
            cut = np.zeros((h, w), bool)
            cut[int(h / 2) + (a - 1), :] = True
            ann.append(m & ~(cut & obj & (np.arange(w)[None, :] < w // 2)))
        ann[0][white] = False
        subjects = sorted(int(s) for s in rng.choice(np.arange(2, 40), 3, replace=False))
        if k == 0:
            subjects = [9, 10, 31]  # lexical order ("10" < "31" < "9") differs from numeric order
        d = base / name
        _write(d / "src_color" / f"{name}.png", _png(color, "RGB"))
        _write(d / "src_bw" / f"{name}.png", _png(gray_rgb, "RGB"))
        for subject, m in zip(subjects, ann, strict=True):
            painted = gray_rgb.copy()
            painted[m] = RED
            _write(d / "human_seg" / f"{name}_{subject}.png", _png(painted, "RGB"))
        votes = np.sum(ann, axis=0)
        truth[name] = {"subjects": subjects, "annotators": ann, "consensus": votes >= 2, "gray": luma,
                       "color": color}
    return truth


# -- PASCAL VOC 2012 ----------------------------------------------------------------------------------
def _boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it (the inner one-pixel band)."""
    p = np.pad(mask, 1)
    interior = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return mask & ~interior


def _voc_scene(rng: np.random.Generator, h: int, w: int, n_obj: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(class index mask, object index mask, classes): objects drawn back to front, void bands 255."""
    cls = np.zeros((h, w), np.uint8)
    obj = np.zeros((h, w), np.uint8)
    classes = [int(c) for c in rng.choice(np.arange(1, 21), n_obj, replace=False)]
    for i, c in enumerate(classes, start=1):
        if i % 2:
            y0, x0 = int(rng.integers(1, h // 2)), int(rng.integers(1, w // 2))
            m = np.zeros((h, w), bool)
            m[y0:y0 + h // 2, x0:x0 + w // 2] = True
        else:
            m = _ellipse(h, w, rng.uniform(h / 3, 2 * h / 3), rng.uniform(w / 3, 2 * w / 3), h / 4, w / 4)
        cls[m] = c
        obj[m] = i
    # the void band: the boundary of every visible object, in both masks (as the annotators drew it)
    void = np.zeros((h, w), bool)
    for i in range(1, n_obj + 1):
        void |= _boundary(obj == i)
    void[h - 1, : w // 3] = True  # plus a region nobody could label
    cls[void] = 255
    obj[void] = 255
    return cls, obj, classes


def _voc_xml(image_id: str, h: int, w: int, obj: np.ndarray, classes: list[int]) -> str:
    ann = ET.Element("annotation")
    ET.SubElement(ann, "folder").text = "VOC2012"
    ET.SubElement(ann, "filename").text = f"{image_id}.jpg"
    size = ET.SubElement(ann, "size")
    for tag, v in (("width", w), ("height", h), ("depth", 3)):
        ET.SubElement(size, tag).text = str(v)
    ET.SubElement(ann, "segmented").text = "1"
    for i, c in enumerate(classes, start=1):
        ys, xs = np.nonzero(obj == i)
        o = ET.SubElement(ann, "object")
        ET.SubElement(o, "name").text = VOC_CLASSES[c - 1]
        for tag in ("pose", "truncated", "difficult"):
            ET.SubElement(o, tag).text = "Unspecified" if tag == "pose" else "0"
        box = ET.SubElement(o, "bndbox")
        if xs.size:  # devkit boxes are 1-based, inclusive
            for tag, v in (("xmin", xs.min() + 1), ("ymin", ys.min() + 1), ("xmax", xs.max() + 1), ("ymax", ys.max() + 1)):
                ET.SubElement(box, tag).text = str(int(v))
    return ET.tostring(ann, encoding="unicode")


def write_voc2012(root: str | os.PathLike[str], *, splits: dict[str, Sequence[str]] | None = None,
                  seed: int = 0, size: tuple[int, int] = (18, 24)) -> dict[str, dict[str, Any]]:
    """Write ``root/voc2012/VOCdevkit/VOC2012/`` for the ids of ``splits`` (``trainval`` = train + val).

    Returns, per id: ``masks`` (N x H x W bool, void excluded), ``labels`` (VOC indices),
    ``void`` (H x W bool), ``image`` (H x W x 3 uint8, before JPEG compression), ``class_mask`` and
    ``object_mask`` (the index arrays written).
    """
    splits = dict(splits or {"train": ["2007_000032", "2008_000008"], "val": ["2007_000033", "2009_000012", "2011_003276"]})
    base = Path(root) / "voc2012" / "VOCdevkit" / "VOC2012"
    rng = np.random.default_rng(seed)
    truth: dict[str, dict[str, Any]] = {}
    all_ids = [i for ids in splits.values() for i in ids]
    for k, image_id in enumerate(all_ids):
        h, w = size if k % 2 == 0 else (size[0] + 4, size[1] - 2)
        cls, obj, classes = _voc_scene(rng, h, w, 1 + k % 3)
        image = _texture(rng, h, w)
        _write(base / "JPEGImages" / f"{image_id}.jpg", _jpeg(image))
        _write(base / "SegmentationClass" / f"{image_id}.png", encode_palette_png(cls))
        _write(base / "SegmentationObject" / f"{image_id}.png", encode_palette_png(obj))
        _write(base / "Annotations" / f"{image_id}.xml", _voc_xml(image_id, h, w, obj, classes))
        present = [i for i in range(1, len(classes) + 1) if (obj == i).any()]
        truth[image_id] = {"masks": np.stack([obj == i for i in present]) if present else np.zeros((0, h, w), bool),
                           "labels": [classes[i - 1] for i in present], "void": obj == 255, "image": image,
                           "class_mask": cls, "object_mask": obj}
    seg = base / "ImageSets" / "Segmentation"
    if "trainval" not in splits and {"train", "val"} <= set(splits):
        splits["trainval"] = sorted([*splits["train"], *splits["val"]])
    for name, ids in splits.items():
        _write(seg / f"{name}.txt", "".join(f"{i}\n" for i in ids))
    return truth


# -- SBD ----------------------------------------------------------------------------------------------
def _cell(masks: Sequence[np.ndarray]) -> np.ndarray:
    import scipy.sparse as sp

    cell = np.empty((len(masks), 1), dtype=object)
    for i, m in enumerate(masks):
        cell[i, 0] = sp.csc_matrix(_boundary(m).astype(np.uint8))
    return cell


def write_sbd(root: str | os.PathLike[str], *, splits: dict[str, Sequence[str]] | None = None, seed: int = 1,
              size: tuple[int, int] = (16, 20)) -> dict[str, dict[str, Any]]:
    """Write ``root/sbd/benchmark_RELEASE/dataset/`` for the ids of ``splits`` (SBD's ``train``/``val``).

    Returns, per id: ``masks`` (N x H x W bool), ``labels``, ``class_mask``, ``instance_mask``,
    ``boundaries`` (N x H x W bool, the instance boundaries stored as sparse cells) and ``image``.
    """
    import scipy.io as sio

    splits = dict(splits or {"train": ["2008_000002", "2008_000003", "2010_000050"], "val": ["2008_000009", "2011_001000"]})
    base = Path(root) / "sbd" / "benchmark_RELEASE" / "dataset"
    rng = np.random.default_rng(seed)
    truth: dict[str, dict[str, Any]] = {}
    all_ids = [i for ids in splits.values() for i in ids]
    for k, image_id in enumerate(all_ids):
        h, w = size if k % 2 == 0 else size[::-1]
        _, obj, classes = _voc_scene(rng, h, w, 1 + k % 3)
        obj[obj == 255] = 0  # SBD has no void label
        present = [i for i in range(1, len(classes) + 1) if (obj == i).any()]
        inst = np.zeros((h, w), np.uint8)
        labels = []
        for j, i in enumerate(present, start=1):
            inst[obj == i] = j
            labels.append(classes[i - 1])
        cls = np.zeros((h, w), np.uint8)
        for j, c in enumerate(labels, start=1):
            cls[inst == j] = c
        masks = [inst == j for j in range(1, len(labels) + 1)]
        image = _texture(rng, h, w)
        _write(base / "img" / f"{image_id}.jpg", _jpeg(image))
        (base / "cls").mkdir(parents=True, exist_ok=True)
        (base / "inst").mkdir(parents=True, exist_ok=True)
        cls_masks = [cls == c for c in range(1, 21)]
        # field order as in the release: GTcls = (Boundaries, Segmentation, CategoriesPresent)
        sio.savemat(base / "cls" / f"{image_id}.mat", {"GTcls": {
            "Boundaries": _cell(cls_masks), "Segmentation": cls,
            "CategoriesPresent": np.array(sorted(set(labels)), np.uint8).reshape(-1, 1)}})
        # ... and GTinst = (Segmentation, Boundaries, Categories)
        sio.savemat(base / "inst" / f"{image_id}.mat", {"GTinst": {
            "Segmentation": inst, "Boundaries": _cell(masks),
            "Categories": np.array(labels, np.uint8).reshape(-1, 1)}})
        truth[image_id] = {"masks": np.stack(masks) if masks else np.zeros((0, h, w), bool), "labels": labels,
                           "class_mask": cls, "instance_mask": inst, "image": image,
                           "boundaries": np.stack([_boundary(m) for m in masks]) if masks else np.zeros((0, h, w), bool)}
    for name, ids in splits.items():
        _write(base / f"{name}.txt", "".join(f"{i}\n" for i in ids))
    return truth


def write_sds_splits(directory: str | os.PathLike[str], train: Sequence[str], val: Sequence[str]) -> dict[str, str]:
    """Write SDS/MNC-style split files ``train.txt`` and ``val.txt`` (one id per line) into
    ``directory``; returns their md5 (to stand in for the official ones in tests)."""
    from lsbench.datasets.io import md5_file

    d = Path(directory)
    out = {}
    for name, ids in (("train", train), ("val", val)):
        _write(d / f"{name}.txt", "".join(f"{i}\n" for i in ids))
        out[name] = md5_file(d / f"{name}.txt")
    return out


# -- COCO 2014 ----------------------------------------------------------------------------------------
#: fixture categories: real COCO ids and names, with the gaps of the real numbering
COCO_FIXTURE_CATEGORIES = ((1, "person", "person"), (18, "dog", "animal"), (44, "bottle", "kitchen"),
                           (90, "toothbrush", "indoor"))


def _rect_polygon(x0: int, y0: int, x1: int, y1: int) -> list[float]:
    """A COCO polygon whose rasterisation by pycocotools is exactly ``mask[y0:y1, x0:x1]``."""
    return [float(x0), float(y0), float(x1), float(y0), float(x1), float(y1), float(x0), float(y1)]


def _uncompressed_rle(mask: np.ndarray) -> dict[str, Any]:
    """Uncompressed RLE as in COCO's crowd annotations: runs over the column-major mask, from a 0-run."""
    f = mask.ravel(order="F").astype(np.uint8)
    change = np.flatnonzero(np.diff(f)) + 1
    bounds = np.concatenate([[0], change, [f.size]])
    runs = np.diff(bounds).tolist()
    if f.size and f[0]:
        runs = [0, *runs]
    return {"counts": [int(r) for r in runs], "size": [int(mask.shape[0]), int(mask.shape[1])]}


def write_coco2014(root: str | os.PathLike[str], *, split: str = "val", seed: int = 2,
                   n_images: int = 3, size: tuple[int, int] = (20, 30)) -> dict[int, dict[str, Any]]:
    """Write ``root/coco2014/annotations/instances_<split>2014.json`` and the images of ``<split>2014/``.

    Image 1 has an object split into two polygons (occluded), a compressed-RLE object and a crowd
    region (uncompressed RLE); image 2 has a polygon object and a crowd; the last image has no
    annotation. Returns, per image id: ``masks`` (N x H x W bool in annotation order),
    ``category_ids`` (original ids), ``iscrowd``, ``boxes`` (xyxy), ``ann_ids``, ``image``,
    ``file_name``.
    """
    from lsbench.optional import require

    mask_utils = require("pycocotools.mask", "the COCO fixture")
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if n_images < 2:
        raise ValueError(f"n_images must be at least 2, got {n_images}")
    base = Path(root) / "coco2014"
    rng = np.random.default_rng(seed)
    images, anns, truth = [], [], {}
    ann_id = 100
    for k in range(n_images):
        image_id = 9 + 7 * k  # sparse ids, like COCO's
        h, w = size if k % 2 == 0 else (size[0] + 2, size[1] - 4)
        file_name = f"COCO_{split}2014_{image_id:012d}.jpg"
        image = _texture(rng, h, w)
        _write(base / f"{split}2014" / file_name, _jpeg(image))
        images.append({"license": 3, "file_name": file_name, "coco_url": "", "height": h, "width": w,
                       "date_captured": "2013-11-14 11:18:45", "flickr_url": "", "id": image_id})
        entries: list[tuple[int, Any, int, np.ndarray]] = []
        if k < n_images - 1:
            # polygon object, occluded: two rectangles -> two polygons of one annotation
            m = np.zeros((h, w), bool)
            m[2:7, 2:9] = True
            m[9:12, 2:9] = True
            entries.append((18, [_rect_polygon(2, 2, 9, 7), _rect_polygon(2, 9, 9, 12)], 0, m))
            if k == 0:
                # compressed RLE (iscrowd 0): an arbitrary shape, exactly encoded
                m2 = _ellipse(h, w, 6, 20, 4, 5)
                rle = mask_utils.encode(np.asfortranarray(m2.astype(np.uint8)))
                entries.append((90, {"size": rle["size"], "counts": rle["counts"].decode("ascii")}, 0, m2))
            # crowd region: uncompressed RLE, iscrowd 1
            crowd = np.zeros((h, w), bool)
            crowd[13:h - 1, 12:w - 2] = True
            crowd[h - 2, w - 3] = False
            entries.append((1, _uncompressed_rle(crowd), 1, crowd))
        masks, cids, crowds, boxes, ids = [], [], [], [], []
        for cat, seg, iscrowd, m in entries:
            if isinstance(seg, dict) and isinstance(seg["counts"], str):  # compressed RLE: used as is
                rle = {"size": seg["size"], "counts": seg["counts"].encode("ascii")}
            else:
                rle = mask_utils.frPyObjects(seg, h, w)
                rle = mask_utils.merge(rle) if isinstance(rle, list) else rle
            x, y, bw, bh = mask_utils.toBbox(rle).tolist()
            anns.append({"segmentation": seg, "area": float(mask_utils.area(rle)), "iscrowd": iscrowd,
                         "image_id": image_id, "bbox": [x, y, bw, bh], "category_id": cat, "id": ann_id})
            masks.append(m)
            cids.append(cat)
            crowds.append(bool(iscrowd))
            boxes.append([x, y, x + bw, y + bh])
            ids.append(ann_id)
            ann_id += 1
        truth[image_id] = {"masks": np.stack(masks) if masks else np.zeros((0, h, w), bool),
                           "category_ids": cids, "iscrowd": crowds, "boxes": np.array(boxes, np.float32).reshape(-1, 4),
                           "ann_ids": ids, "image": image, "file_name": file_name}
    rng.shuffle(anns)  # annotation order in the JSON is not grouped by image (as in the real files)
    dataset = {
        "info": {"description": "lsbench COCO-format fixture", "url": "", "version": "1.0", "year": 2014,
                 "contributor": "lsbench", "date_created": "2015-01-27 09:11:52.357475"},
        "images": images,
        "licenses": [{"url": "http://creativecommons.org/licenses/by/2.0/", "id": 3, "name": "Attribution License"}],
        "annotations": anns,
        "categories": [{"supercategory": s, "id": i, "name": n} for i, n, s in COCO_FIXTURE_CATEGORIES],
    }
    _write(base / "annotations" / f"instances_{split}2014.json", json.dumps(dataset))
    return truth


# -- a folder of your own images ------------------------------------------------------------------------
#: the images :func:`write_folder` writes: stem -> (kind, object brighter than the background)
FOLDER_IMAGES = {"cell-a": ("grey8", True), "cell-b": ("grey16", True), "dark-c": ("grey16", False),
                 "leaf-d": ("rgb", True), "spot-e": ("grey8", False)}


def write_folder(root: str | os.PathLike[str], *, size: tuple[int, int] = (40, 48), masks: bool = True,
                 inits: bool = False, seed: int = 3) -> dict[str, np.ndarray]:
    """Write a ``folder`` dataset: ``root/images/<stem>.png`` for the five stems of
    :data:`FOLDER_IMAGES` (two 8-bit grey, two 16-bit grey (values scaled to 0-65535), one 8-bit
    RGB; two with a dark object on a bright background), each an ellipse with noise and a smooth
    shading; ``root/masks/<stem>.png`` (0/255, when ``masks``) and ``root/inits/<stem>.png`` (the
    ellipse's box grown by 3 pixels, 0/1, when ``inits``). Returns the object mask by stem.
    """
    from lsbench.atomic import atomic_write_bytes

    root = Path(root)
    h, w = size
    rng = np.random.default_rng(seed)
    truth: dict[str, np.ndarray] = {}
    for k, (stem, (kind, bright)) in enumerate(FOLDER_IMAGES.items()):
        obj = _ellipse(h, w, h * rng.uniform(0.4, 0.6), w * rng.uniform(0.4, 0.6), h * rng.uniform(0.18, 0.3),
                       w * rng.uniform(0.18, 0.3))
        xx = np.mgrid[0:h, 0:w][1]
        inside, outside = (0.75, 0.25) if bright else (0.25, 0.75)
        value = np.where(obj, inside, outside) + 0.05 * (xx / w) + rng.normal(0, 0.04, (h, w))
        value = np.clip(value, 0, 1)
        if kind == "grey8":
            data = _png(np.round(value * 255).astype(np.uint8), "L")
        elif kind == "grey16":
            buf = io.BytesIO()
            Image.fromarray(np.round(value * 65535).astype(np.uint16)).save(buf, format="PNG")
            data = buf.getvalue()
        else:
            tint = np.array([1.0, 0.8, 0.5]) if k % 2 else np.array([0.6, 1.0, 0.7])
            data = _png(np.round(np.clip(value[:, :, None] * tint, 0, 1) * 255).astype(np.uint8), "RGB")
        atomic_write_bytes(root / "images" / f"{stem}.png", data)
        if masks:
            atomic_write_bytes(root / "masks" / f"{stem}.png", _png(obj.astype(np.uint8) * 255, "L"))
        if inits:
            rows, cols = np.flatnonzero(obj.any(1)), np.flatnonzero(obj.any(0))
            box = np.zeros((h, w), np.uint8)
            box[max(0, rows[0] - 3):rows[-1] + 4, max(0, cols[0] - 3):cols[-1] + 4] = 1
            atomic_write_bytes(root / "inits" / f"{stem}.png", _png(box, "L"))
        truth[stem] = obj
    return truth

"""The Weizmann segmentation evaluation database, single-object part ("1obj"; Alpert et al. 2007).

On disk (``Weizmann_Seg_DB_1obj.ZIP`` unpacked into ``<root>/weizmann/``)::

    <root>/weizmann/1obj/<name>/src_color/<name>.png      RGB
    <root>/weizmann/1obj/<name>/src_bw/<name>.png         grey stored as RGB (R = G = B)
    <root>/weizmann/1obj/<name>/human_seg/<name>_<k>.png  one per annotator (subject id k)

Each ``human_seg`` image is the grey image with the annotator's object painted pure red; the
object of annotator k is ``(R == 255) & (G == 0)``, exactly the rule of the database's own
``ComputeFMeasure.m`` (``im(:,:,1)==1 & im(:,:,2)==0`` after ``im2double``), never ``R > 0``
(white background pixels are (255, 255, 255)). The official ground truth is the consensus of
the annotators: a pixel is object when at least 2 of them marked it (``GetHSeg``: ``mask >= 2``).
The folder ``human_seg`` is matched case-insensitively, and the ``Humen_seg`` spelling of the
MATLAB code is accepted. The 100 folder names hard-coded in ``ComputeFMeasure.m`` are the
completeness manifest (:data:`WEIZMANN_NAMES`).

Ground truths of a :class:`~lsbench.types.Sample` (the chapter's Table 2 reports "GT1" and "GT2",
which the chapter does not define; lsbench exposes every choice):

* ``Sample.gts = {"gt1": ..., "gt2": ..., "gt3": ...}``: the annotators in increasing order of
  their subject id (the number in the file name), so Table 2 shows FM (GT1), FM (GT2), FM (GT3);
* ``Sample.mask``: the ground truth chosen by ``gt`` (``"consensus"`` by default, or ``1``, ``2``,
  ``3`` for one annotator); Table 2 shows it as FM (GT);
* ``Sample.init``: the consensus' bounding box grown by 8 % of the longer side (as the synthetic
  set does), the dataset-chosen initial region of every method.

Splits: the 100 source images are split 50 / 50 by a seeded permutation (``train``, ``test``;
``all`` gives the 100). With ``augment=True`` every source image yields 47 variants
(:func:`variant_recipe`), the chapter's 4700 images, 2350 train / 2350 test, split by source
image so no image leaks between splits.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from lsbench.datasets.augment import GEOMETRIC, PHOTOMETRIC, apply_ops, variant_ops
from lsbench.datasets.base import Dataset, grown_box
from lsbench.datasets.integrity import (
    Report,
    Resource,
    check_archives,
    finish_verification,
    manifest_digests,
    open_checked,
)
from lsbench.datasets.io import DatasetError, default_root, open_image, read_bytes
from lsbench.levelset.validate import check_bool, check_nonnegative_int
from lsbench.types import Sample

__all__ = ["ARCHIVES", "N_VARIANTS", "WEIZMANN_NAMES", "WeizmannDataset", "annotator_mask", "dataset_dir",
           "variant_recipe", "verify"]

#: the 100 image folders of the 1obj set, in the order of ``ComputeFMeasure.m``
WEIZMANN_NAMES = (
    "0677845-R1-067-32_a", "100_0109", "100_0497", "110016671724", "112255696146", "113334665744",
    "114591144943", "20060319_087", "aaa", "animal_5_bg_020803", "b14pavel013", "b19objects118",
    "b1chesnuttame", "b1snake001", "b20nature_landscapes129", "b2chopper008", "b2pods001",
    "b4nature_animals_land009", "b7nature_trees002", "BBMF_Lancaster_july_06", "beltaine_4_bg_050502",
    "boy_float_lake", "Bream_In_Basin", "broom07", "buggy_005", "BW4", "carriage",
    "Carrigafoyle_Castle_Ext", "caterpiller", "chain98", "chaom38", "Cheeky_Penguin", "CRW_0384",
    "culzeancastle", "DSC01236", "DSC01239_d", "DSC04575", "DSCF0034_l", "DSCF0459", "DSCF3583",
    "DSCF3623", "DSCF3772", "DSCN0756", "DSCN1908", "DSCN2064", "DSCN2154", "DSCN6805", "DSC_0769",
    "DSC_0959", "DSC_422910022", "egret_face", "ESTB_IMG_6461_", "europe_holiday_484", "FullIceWater",
    "hot_air_balloons_05", "HPIM1242", "HPIM5083_morguefile", "Imagen_072__1_", "IMGP2712", "IMG_1516",
    "IMG_1965", "IMG_2528", "IMG_2577", "IMG_2592_f", "Img_3083_modif", "img_3803", "IMG_4214",
    "Img_4730_modif", "IMG_7359_copia", "ireland_62_bg_061502", "kconnors030466", "leafpav",
    "London_Zoo3", "matsumt060102_DYJ08", "mexico3", "Moth061304_0679", "nitpix_P1280114",
    "osaka060102_DYJSN071", "oscar2005_05_07", "outside_guggenheim_walls", "palovigna", "PIC0203VN0092",
    "PIC0203VN0105", "PIC106470172014", "PIC1080629574", "PIC109250805856", "PIC1092515922117",
    "PICT2272", "PICT2605", "Picture_458", "postjp", "REDBERRY_RB03", "San_Andres_130",
    "SG_01_IMG_1943_tratada", "Sharp_image", "Skookumchuk_starfish1", "snow2_004", "tendrils",
    "windowCN_0078", "yokohm060409_DYJSN191",
)

ARCHIVES = (Resource("Weizmann_Seg_DB_1obj.ZIP",
                     "https://www.wisdom.weizmann.ac.il/~vision/Seg_Evaluation_DB/Weizmann_Seg_DB_1obj.ZIP",
                     None, size="small (100 images of ~300 px)"),)

N_VARIANTS = 47
INIT_MARGIN = 0.08
DEFAULT_SEED = 2019
SPLITS = ("train", "test", "all")
GT_CHOICES = ("consensus", "1", "2", "3")
IMAGE_CHOICES = ("bw", "color")
_HUMAN_SEG_NAMES = ("human_seg", "humen_seg")


def dataset_dir(root: str | os.PathLike[str] | None) -> Path:
    return (Path(root).expanduser() if root is not None else default_root()) / "weizmann"


def images_dir(root: str | os.PathLike[str] | None) -> Path:
    return dataset_dir(root) / "1obj"


def annotator_mask(rgb: np.ndarray) -> np.ndarray:
    """The object an annotator painted: ``(R == 255) & (G == 0)`` on an H x W x 3 uint8 image."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 image, got {rgb.dtype} {rgb.shape}")
    return (rgb[:, :, 0] == 255) & (rgb[:, :, 1] == 0)


def variant_recipe(variant: int, rng: np.random.Generator, size: int) -> tuple[list[dict[str, Any]], str]:
    """The ops of augmentation variant ``variant`` (0..46) and its degradation group.

    The chapter gives 47 variants per image but not their list; lsbench maps them onto the
    synthetic set's recipe (:mod:`lsbench.datasets.augment`):

    * 0: the original image (no op);
    * 1..36: ``variant_ops(variant - 1)``, the 6 geometric ops (identity, rotation, translation,
      scale, flip, affine) x 6 degradations (low/high Gaussian noise, speckle, salt-and-pepper,
      Poisson, blur + noise) of the synthetic set;
    * 37..46: each of the 5 non-identity geometric ops twice, without degradation.

    The group is the degradation (``"none"`` for 0 and 37..46), recorded as ``meta["family"]``
    so Table 2 breaks the F-measure down by degradation.
    """
    family = variant_family(variant)
    if variant == 0:
        return [], family
    if variant <= 36:
        return variant_ops(variant - 1, rng, size), family
    g = 1 + (variant - 37) // 2  # rotate, translate, scale, flip, affine: two each
    ops = variant_ops(g * len(PHOTOMETRIC), rng, size)
    return [op for op in ops if op["op"] in GEOMETRIC], family


def variant_family(variant: int) -> str:
    """The degradation group of augmentation variant ``variant`` (:func:`variant_recipe`): ``"none"``
    for 0 and 37..46, else its photometric degradation."""
    if not 0 <= variant < N_VARIANTS:
        raise ValueError(f"variant must be in 0..{N_VARIANTS - 1}, got {variant}")
    return PHOTOMETRIC[(variant - 1) % len(PHOTOMETRIC)] if 1 <= variant <= 36 else "none"


def _human_seg_dir(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    for child in sorted(folder.iterdir()):
        if child.is_dir() and child.name.lower() in _HUMAN_SEG_NAMES:
            return child
    return None


def _annotator_files(hs_dir: Path, name: str) -> tuple[list[tuple[int, Path]], list[Path]]:
    """(subject id, path) of ``<name>_<k>.png`` sorted by subject id, and the other files."""
    pattern = re.compile(re.escape(name) + r"_(\d+)\.png", re.IGNORECASE)
    found, other = [], []
    for p in sorted(hs_dir.iterdir()):
        if p.is_dir():
            continue
        m = pattern.fullmatch(p.name)
        if m:
            found.append((int(m.group(1)), p))
        else:
            other.append(p)
    return sorted(found), other


def source_split(names: tuple[str, ...], split: str, seed: int) -> list[str]:
    """The source images of ``split``: a seeded 50 / 50 permutation of the 100 names (``all``: all)."""
    if split == "all":
        return list(names)
    perm = np.random.default_rng([seed, 0x5EED]).permutation(len(names))
    half = len(names) // 2
    chosen = sorted(perm[:half] if split == "train" else perm[half:])
    return [names[i] for i in chosen]


class WeizmannDataset(Dataset):
    """One split of Weizmann 1obj, optionally augmented to 47 variants per image.

    Parameters
    ----------
    root : path, optional
        Parent folder; the set lives in ``<root>/weizmann/1obj``.
    split : {"train", "test", "all"}
        Source images: a seeded 50 / 50 split (``all``: the 100).
    gt : {"consensus", 1, 2, 3}
        Which ground truth is ``Sample.mask`` (the others are always in ``Sample.gts``).
    image : {"bw", "color"}
        ``src_bw`` as a grey H x W image (what the level-set methods take) or ``src_color``.
    augment : bool
        47 variants per source image (:func:`variant_recipe`): 2350 train / 2350 test.
    seed : int
        Seed of the split permutation and of the augmentation streams (item = ``(seed, image, variant)``).
    """

    name = "weizmann"
    kind = "binary"

    def __init__(self, root: str | os.PathLike[str] | None = None, split: str = "test", *,
                 gt: Any = "consensus", image: str = "bw", augment: bool = False, seed: int = DEFAULT_SEED) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))} for weizmann; got {split!r}")
        gt = str(gt).lower()
        if gt not in GT_CHOICES:
            raise ValueError(f"gt must be one of {', '.join(GT_CHOICES)} (an annotator or the 2-of-3 consensus); got {gt!r}")
        if image not in IMAGE_CHOICES:
            raise ValueError(f"image must be one of {', '.join(IMAGE_CHOICES)}; got {image!r}")
        check_bool("augment", augment)
        check_nonnegative_int("seed", seed)
        self.split, self.gt, self.image, self.augment, self.seed = split, gt, image, augment, seed
        self.directory = images_dir(root)
        self.root = self.directory.parent.parent
        if not self.directory.is_dir():
            raise DatasetError(f"{self.directory}: missing; unpack Weizmann_Seg_DB_1obj.ZIP into "
                               f"{self.directory.parent} (see README, or `lsbench datasets fetch weizmann`)")
        missing = [n for n in WEIZMANN_NAMES if not (self.directory / n).is_dir()]
        if missing:
            raise DatasetError(f"{self.directory}: {len(missing)} of the 100 image folders are missing "
                               f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); "
                               "run `lsbench datasets verify weizmann`")
        self._digests = manifest_digests(self.directory.parent)
        sources = source_split(WEIZMANN_NAMES, split, seed)
        variants = range(N_VARIANTS) if augment else range(1)
        self._items = [(n, v) for n in sources for v in variants]
        self.gt_names = ("gt", "gt1", "gt2", "gt3")

    def __len__(self) -> int:
        return len(self._items)

    def ids(self) -> list[str]:
        return [n if not self.augment else f"{n}-{v:02d}" for n, v in self._items]

    def groups(self) -> list[str]:
        return [variant_family(v) if self.augment else "" for _, v in self._items]

    def params(self) -> dict[str, Any]:
        return {"gt": self.gt, "image": self.image, "augment": self.augment, "seed": self.seed}

    def item_digests(self) -> list[tuple[str, str]]:
        out = []
        for item_id, (name, _) in zip(self.ids(), self._items, strict=True):
            prefix = f"1obj/{name}/"
            out.append((item_id, "".join(d for rel, d in sorted(self._digests.items()) if rel.startswith(prefix))))
        return out

    def _read(self, path: Path) -> bytes:
        rel = path.relative_to(self.directory.parent).as_posix()
        return read_bytes(path, self._digests.get(rel))

    def _read_rgb(self, path: Path, modes: tuple[str, ...]) -> np.ndarray:
        im = open_image(self._read(path), str(path))
        if im.mode not in modes:
            raise DatasetError(f"{path}: image mode {im.mode!r}, expected {' or '.join(map(repr, modes))}")
        return np.asarray(im.convert("RGB") if im.mode != "RGB" else im)

    def load_source(self, name: str) -> dict[str, Any]:
        """The files of one source image, decoded and checked: ``color``, ``bw`` (uint8),
        ``annotators`` (K x H x W bool, by subject id), ``subjects``, ``consensus``."""
        folder = self.directory / name
        color = self._read_rgb(folder / "src_color" / f"{name}.png", ("RGB", "RGBA", "P"))
        bw = self._read_rgb(folder / "src_bw" / f"{name}.png", ("RGB", "L", "P"))[:, :, 0]
        if bw.shape != color.shape[:2]:
            raise DatasetError(f"{folder / 'src_bw' / (name + '.png')}: size {bw.shape} differs from src_color {color.shape[:2]}")
        hs_dir = _human_seg_dir(folder)
        if hs_dir is None:
            raise DatasetError(f"{folder / 'human_seg'}: missing (the annotators' segmentations)")
        files, _ = _annotator_files(hs_dir, name)
        if len(files) < 3:
            raise DatasetError(f"{hs_dir}: {len(files)} annotator file(s) {name}_<k>.png, expected 3")
        masks = []
        for _, path in files:
            rgb = self._read_rgb(path, ("RGB", "RGBA", "P"))
            if rgb.shape[:2] != bw.shape:
                raise DatasetError(f"{path}: size {rgb.shape[:2]} differs from the image's {bw.shape}")
            masks.append(annotator_mask(rgb))
        annotators = np.stack(masks)
        consensus = annotators.sum(axis=0) >= 2
        if not consensus.any():
            raise DatasetError(f"{hs_dir}: no pixel is marked by 2 annotators (empty consensus)")
        return {"color": color, "bw": bw, "annotators": annotators, "subjects": [s for s, _ in files],
                "consensus": consensus}

    def _load(self, index: int) -> Sample:
        name, variant = self._items[index]
        src = self.load_source(name)
        img8 = src["bw"] if self.image == "bw" else src["color"]
        stack = np.concatenate([src["annotators"], src["consensus"][None]])
        ops: list[dict[str, Any]] = []
        family = ""
        if self.augment:
            rng = np.random.default_rng([self.seed, WEIZMANN_NAMES.index(name), variant])
            ops, family = variant_recipe(variant, rng, max(img8.shape[:2]))
            img, stack = apply_ops(img8.astype(np.float64) / 255.0, stack, ops, rng)
            img = img.astype(np.float32)
        else:
            img = img8.astype(np.float32) / np.float32(255.0)
        gts = {f"gt{k + 1}": stack[k] for k in range(len(stack) - 1)}
        consensus = stack[-1]
        mask = consensus if self.gt == "consensus" else gts.get(f"gt{self.gt}")
        if mask is None:  # pragma: no cover - guarded by the >= 3 annotators check
            raise DatasetError(f"{self.directory / name}: no annotator {self.gt}")
        x1, y1, x2, y2 = grown_box(consensus, INIT_MARGIN)
        init = np.zeros(consensus.shape, bool)
        init[y1:y2, x1:x2] = True
        item_id = name if not self.augment else f"{name}-{variant:02d}"
        meta: dict[str, Any] = {"source": name, "subjects": src["subjects"], "gt": self.gt,
                                "init_box": [x1, y1, x2, y2]}
        if self.augment:
            meta.update(variant=variant, ops=ops, family=family)
        return Sample(id=item_id, image=img, mask=mask, gts=gts, init=init, meta=meta)


def verify(root: str | os.PathLike[str] | None = None, *, rehash: bool = False, **_: Any) -> Report:
    """Structural checks of ``<root>/weizmann`` plus the sha256 manifest (see :mod:`lsbench.datasets.integrity`).

    Checks: the 100 folders; in each, ``src_color/<name>.png`` (RGB), ``src_bw/<name>.png`` (grey as
    RGB or L), a ``human_seg`` folder with at least 3 annotator images ``<name>_<k>.png`` (RGB),
    all of one size, and a non-empty 2-of-3 consensus.
    """
    base = dataset_dir(root)
    report = Report("weizmann", base)
    top = images_dir(root)
    if not top.is_dir():
        report.problem(top, "missing; unpack Weizmann_Seg_DB_1obj.ZIP here (see README)")
        return report
    check_archives(base, ARCHIVES, report)
    present = {p.name for p in top.iterdir() if p.is_dir()}
    for extra in sorted(present - set(WEIZMANN_NAMES)):
        report.warn(top / extra, "not one of the 100 official 1obj folders (ignored)")
    for name in WEIZMANN_NAMES:
        folder = top / name
        if name not in present:
            report.problem(folder, "missing image folder (one of the 100 of ComputeFMeasure.m)")
            continue
        color = open_checked(report, folder / "src_color" / f"{name}.png", ("RGB",))
        bw = open_checked(report, folder / "src_bw" / f"{name}.png", ("RGB", "L"))
        size = color.size if color is not None else (bw.size if bw is not None else None)
        if bw is not None and size is not None and bw.size != size:
            report.problem(folder / "src_bw" / f"{name}.png", f"size {bw.size} differs from src_color {size}")
        hs_dir = _human_seg_dir(folder)
        if hs_dir is None:
            report.problem(folder / "human_seg", "missing (the annotators' segmentations)")
            continue
        files, other = _annotator_files(hs_dir, name)
        for p in other:
            report.warn(p, f"not an annotator file {name}_<k>.png (ignored)")
        if len(files) < 3:
            report.problem(hs_dir, f"{len(files)} annotator file(s) {name}_<k>.png, expected 3")
        votes = None
        for _, path in files:
            im = open_checked(report, path, ("RGB",))
            if im is None:
                continue
            if size is not None and im.size != size:
                report.problem(path, f"size {im.size} differs from the image's {size}")
                continue
            m = annotator_mask(np.asarray(im)).astype(np.int32)
            votes = m if votes is None else votes + m
        if votes is not None and len(files) >= 2 and votes.max() < 2:
            report.problem(hs_dir, "no pixel is marked by 2 annotators (empty consensus)")
    finish_verification(report, rehash=rehash, archives=ARCHIVES)
    return report

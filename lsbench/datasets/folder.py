"""A folder of your own images, with or without masks: the ``folder`` dataset.

On disk (``--dataset folder --root DIR``; ``DIR`` is the folder itself)::

    DIR/images/<stem>.png|.jpg|.jpeg|.tif|.tiff   the images (8- or 16-bit, grey or colour)
    DIR/masks/<stem>.png                           optional: the ground truth, object = nonzero
    DIR/inits/<stem>.png                           optional: the initial region, region = nonzero

Reading rules (each written once, here, and used by the dataset, ``lsbench segment`` and
:func:`lsbench.segment`):

* **images** (:func:`decode_image`): 8-bit grey, palette and bilevel images are divided by 255;
  16-bit grey (PNG or TIFF) by 65535, at full precision; colour (RGB, RGBA, CMYK, YCbCr JPEGs,
  palette) is converted to 8-bit RGB by Pillow and divided by 255, kept as H x W x 3 (the
  level-set methods convert it to grey, ITU-R 601 luma); an alpha channel is ignored; 16-bit colour
  is read at 8 bits (Pillow's RGB). 32-bit integer and floating-point images are refused.
  The result is float32 in [0, 1] (:func:`image_to_float` for arrays).
* **masks and initial regions** (:func:`decode_region`): PNGs of the image's size; every nonzero
  pixel is object (region): grey value > 0, palette *index* > 0, any of R, G, B > 0 (alpha
  ignored). So 0/1, 0/255 and label masks all work; a mask with more than two values is accepted
  and flagged by ``lsbench datasets verify folder``.
* An image without a mask has no ground truth: methods run on it and its metrics are left empty
  (NaN, not counted in ``n``). An image without an initial region gives ``Sample.init = None``:
  the contour methods start from their own preset (e.g. a centred box) and Chan–Vese's phase
  choice uses the image border (:func:`lsbench.levelset.polarity.orient_by_sample`).

The user's initial regions are not derived from a ground truth unless the user made them so;
lsbench records which samples had one (``meta["init_file"]``).

Bad input is a :class:`~lsbench.datasets.io.DatasetError` naming the file: no ``images/`` folder,
a file that is not a readable image of a supported kind, two images with one stem, a mask or
initial region without an image, or whose size differs from its image's, or that is not a PNG.
The dataset checks every file's header when it is opened (so a run fails before any method
runs), and decodes the pixels when a sample is loaded. Nothing is ever written into ``DIR``.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> import numpy as np
>>> from PIL import Image
>>> from lsbench.datasets.folder import FolderDataset
>>> folder = Path(tempfile.mkdtemp())
>>> (folder / "images").mkdir(); (folder / "masks").mkdir()
>>> image = np.zeros((8, 8), np.uint16); image[2:6, 2:6] = 60000
>>> Image.fromarray(image).save(folder / "images" / "square.png")        # 16-bit grey
>>> Image.fromarray(((image > 0) * 255).astype(np.uint8)).save(folder / "masks" / "square.png")
>>> ds = FolderDataset(folder)
>>> sample = ds[0]
>>> sample.id, sample.image.dtype, round(float(sample.image.max()), 4), int(sample.mask.sum())
('square', dtype('float32'), 0.9155, 16)
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lsbench.datasets.base import Dataset
from lsbench.datasets.integrity import Report
from lsbench.datasets.io import DatasetError, read_bytes
from lsbench.types import Sample

__all__ = ["IMAGE_SUFFIXES", "FolderDataset", "FolderItem", "check_image_file", "dataset_dir", "decode_image",
           "decode_region", "image_to_float", "read_image", "read_region", "scan", "verify"]

#: file name endings read from ``images/`` (case-insensitive)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: the sub-folders of the dataset folder
IMAGES, MASKS, INITS = "images", "masks", "inits"
SPLITS = ("all",)

_GREY8 = ("1", "L", "LA")
_GREY16 = ("I;16", "I;16B", "I;16L")
_COLOUR = ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "P", "PA")


def dataset_dir(root: str | os.PathLike[str] | None) -> Path:
    """The dataset folder: ``root`` itself (``--root DIR``); there is no default."""
    if root is None:
        raise DatasetError("the folder dataset needs --root DIR: a folder holding images/ (and optionally "
                           "masks/ and inits/ with <image stem>.png files)")
    return Path(root).expanduser()


# -- reading one file ------------------------------------------------------------------------------------
def _open(data: bytes, name: str) -> Image.Image:
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except Exception as exc:
        raise DatasetError(f"{name}: not a readable image ({exc})") from None
    return im


def _kind(im: Image.Image, name: str) -> str:
    """``"grey8"``, ``"grey16"`` or ``"colour"`` for a Pillow image; a :class:`DatasetError` otherwise."""
    if im.mode in _GREY8:
        return "grey8"
    if im.mode in _GREY16 or (im.mode == "I" and im.format == "PNG"):  # Pillow opens some 16-bit PNGs as "I"
        return "grey16"
    if im.mode in _COLOUR:
        return "colour"
    raise DatasetError(f"{name}: image mode {im.mode!r} is not read (want 8- or 16-bit grey, or 8-bit colour; "
                       "32-bit and floating-point images are refused)")


def image_to_float(image: Any, name: str = "image") -> np.ndarray:
    """An image array as lsbench's methods take it: float32 in [0, 1] for integer images.

    ``uint8`` is divided by 255 and ``uint16`` by 65535 (the range of the type, whatever the
    values); a floating-point array is returned as float32 unchanged (the level-set methods
    rescale as their papers do). H x W and H x W x 3 are accepted; any other shape, a bool,
    complex or other integer type, or a non-finite value is a ``ValueError``/``TypeError`` naming
    ``name``.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.datasets.folder import image_to_float
    >>> image_to_float(np.array([[0, 51, 255]], np.uint8)).tolist()
    [[0.0, 0.20000000298023224, 1.0]]
    >>> image_to_float(np.array([[0, 65535]], np.uint16)).tolist()
    [[0.0, 1.0]]
    """
    array = np.asarray(image)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3) or 0 in array.shape:
        raise ValueError(f"{name}: expected an H x W (grey) or H x W x 3 (colour) image, got shape {array.shape}"
                         + (" (drop the alpha channel)" if array.ndim == 3 and array.shape[2] == 4 else ""))
    if array.dtype == np.uint8:
        return (array.astype(np.float32) / np.float32(255.0)).astype(np.float32)
    if array.dtype.kind == "u" and array.dtype.itemsize == 2:
        return (array.astype(np.float64) / 65535.0).astype(np.float32)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name}: the image holds NaN or infinite values")
        return array.astype(np.float32, copy=False)
    raise TypeError(f"{name}: image dtype {array.dtype} is not read (want uint8, uint16 or floating point)")


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """float32 image in [0, 1] (H x W grey, H x W x 3 colour) from PNG, JPEG or TIFF bytes.

    Decoded by the range of the file's sample type (module docstring); a :class:`DatasetError`
    naming ``name`` for unreadable bytes or an unsupported mode.
    """
    im = _open(data, name)
    kind = _kind(im, name)
    if kind == "grey8":
        array = np.asarray(im.convert("L"))
    elif kind == "grey16":
        array = np.asarray(im)
        if array.dtype != np.uint16:  # "I" (int32) or a big-endian "I;16B" array
            if array.min() < 0 or array.max() > 65535:
                raise DatasetError(f"{name}: 16-bit image holds values outside 0..65535")
            array = array.astype(np.uint16)
    else:
        array = np.asarray(im.convert("RGB"))
    return image_to_float(array, name)


def decode_region(data: bytes, name: str = "mask") -> np.ndarray:
    """bool H x W from PNG bytes: every nonzero pixel (grey value, palette index, any of R, G, B;
    alpha ignored) is True. A :class:`DatasetError` naming ``name`` otherwise."""
    im = _open(data, name)
    if im.mode in ("1", "L", "P", *_GREY16, "I"):
        array = np.asarray(im)
        return array != 0
    if im.mode in ("LA", "PA"):
        return np.asarray(im)[:, :, 0] != 0
    if im.mode in ("RGB", "RGBA", "RGBX"):
        return np.asarray(im)[:, :, :3].any(axis=2)
    raise DatasetError(f"{name}: mask mode {im.mode!r} is not read (want a grey, palette or RGB PNG; "
                       "nonzero = object)")


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """:func:`decode_image` of a file; a :class:`DatasetError` naming it when missing or unreadable."""
    return decode_image(read_bytes(path), str(path))


def read_region(path: str | os.PathLike[str], shape: tuple[int, int] | None = None) -> np.ndarray:
    """:func:`decode_region` of a file, checked against ``shape`` (the image's H x W) when given."""
    region = decode_region(read_bytes(path), str(path))
    if shape is not None and region.shape != tuple(shape):
        raise DatasetError(f"{path}: size {region.shape[1]} x {region.shape[0]} differs from its image's "
                           f"{shape[1]} x {shape[0]}")
    return region


# -- the folder ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FolderItem:
    """One image of the folder and its optional mask and initial region; ``size`` is (W, H)."""

    stem: str
    image: Path
    size: tuple[int, int]
    mask: Path | None = None
    init: Path | None = None


def _header(path: Path) -> tuple[tuple[int, int], str] | str:
    """``((W, H), kind)`` of an image file from its header, or the problem as text."""
    try:
        with Image.open(path) as im:
            size, kind = im.size, _kind(im, str(path))
    except DatasetError as exc:
        return str(exc).removeprefix(f"{path}: ")
    except OSError as exc:
        return f"not a readable image ({exc})"
    return size, kind


def check_image_file(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(W, H)`` of an image file read from its header; a :class:`DatasetError` naming the file when
    it is missing, unreadable or of a kind :func:`decode_image` refuses."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: missing" if not path.exists() else f"{path}: not a file")
    header = _header(path)
    if isinstance(header, str):
        raise DatasetError(f"{path}: {header}")
    return header[0]


def _listing(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def scan(root: str | os.PathLike[str] | None) -> tuple[list[FolderItem], list[tuple[Path, str]]]:
    """Every image of the folder with its mask and initial region, and every problem found
    (``(path, what)``), reading only file headers."""
    base = dataset_dir(root)
    problems: list[tuple[Path, str]] = []
    images = base / IMAGES
    if not images.is_dir():
        what = "missing" if not base.is_dir() else "no images/ folder"
        problems.append((images if base.is_dir() else base,
                         f"{what}; the folder dataset reads DIR/images/* ({', '.join(IMAGE_SUFFIXES)}) and "
                         "optionally DIR/masks/<stem>.png and DIR/inits/<stem>.png"))
        return [], problems
    found: dict[str, tuple[Path, tuple[int, int]]] = {}
    for path in _listing(images):
        if path.is_dir():
            problems.append((path, "a folder inside images/ (images/ holds the image files only)"))
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            problems.append((path, f"not an image file lsbench reads (want {', '.join(IMAGE_SUFFIXES)})"))
            continue
        if path.stem in found:
            problems.append((path, f"has the same stem as {found[path.stem][0].name}; masks and initial regions "
                                   "are matched by stem, so each stem names one image"))
            continue
        header = _header(path)
        if isinstance(header, str):
            problems.append((path, header))
            continue
        found[path.stem] = (path, header[0])
    if not found and not problems:
        problems.append((images, f"no images ({', '.join(IMAGE_SUFFIXES)})"))
    extras: dict[str, dict[str, Path]] = {MASKS: {}, INITS: {}}
    for sub, what in ((MASKS, "mask"), (INITS, "initial region")):
        folder = base / sub
        if not folder.is_dir():
            continue
        for path in _listing(folder):
            if path.is_dir() or path.suffix.lower() != ".png":
                problems.append((path, f"not a PNG; {sub}/ holds one <image stem>.png per image"))
                continue
            if path.stem not in found:
                problems.append((path, f"{what} without an image (no images/{path.stem}.* among "
                                       f"{', '.join(IMAGE_SUFFIXES)})"))
                continue
            header = _header(path)
            if isinstance(header, str):
                problems.append((path, header))
                continue
            image_path, image_size = found[path.stem]
            if header[0] != image_size:
                problems.append((path, f"size {header[0][0]} x {header[0][1]} differs from its image "
                                       f"{image_path.name} ({image_size[0]} x {image_size[1]})"))
                continue
            extras[sub][path.stem] = path
    items = [FolderItem(stem, path, size, extras[MASKS].get(stem), extras[INITS].get(stem))
             for stem, (path, size) in sorted(found.items())]
    return items, problems


class FolderDataset(Dataset):
    """The images of ``DIR/images/`` as samples, with ``DIR/masks/`` as ground truth and
    ``DIR/inits/`` as initial regions when present (module docstring).

    Parameters
    ----------
    root : path
        The folder (``--root DIR``); required.
    split : {"all"}
        The one split: every image.
    """

    name = "folder"
    kind = "binary"

    def __init__(self, root: str | os.PathLike[str] | None, split: str = "all") -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be 'all' for the folder dataset (every image of DIR/images/); got {split!r}")
        self.split = split
        self.root = dataset_dir(root)
        items, problems = scan(self.root)
        if problems:
            path, what = problems[0]
            more = f" (and {len(problems) - 1} more problem(s): lsbench datasets verify folder --root {self.root})"
            raise DatasetError(f"{path}: {what}{more if len(problems) > 1 else ''}")
        self._items = items
        self.gt_names = ("gt",) if any(i.mask is not None for i in items) else ()

    def __len__(self) -> int:
        return len(self._items)

    def ids(self) -> list[str]:
        return [i.stem for i in self._items]

    def spec(self) -> dict[str, Any]:
        """As :meth:`Dataset.spec`, with the folder as an absolute path (worker processes, ``--resume``
        from another directory and ``config.json`` find the images wherever they run)."""
        return {**super().spec(), "root": str(self.root.resolve())}

    def items(self) -> list[FolderItem]:
        """The images with their mask and initial-region files."""
        return list(self._items)

    def contents(self) -> str:
        """One line for ``lsbench datasets info``: how many images have a mask and an initial region."""
        n = len(self._items)
        masks = sum(i.mask is not None for i in self._items)
        inits = sum(i.init is not None for i in self._items)
        note = "" if masks else " (no ground truth: methods run, metrics stay empty)"
        return f"{n} images, {masks} with a mask, {inits} with an initial region{note}"

    def initial_regions(self) -> list[bool]:
        """Which images have an initial region (``DIR/inits/<stem>.png``), in order."""
        return [i.init is not None for i in self._items]

    def initial_regions_hint(self) -> str:
        return f"an image's initial region is {self.root / INITS}/<stem>.png (nonzero = region)"

    def _load(self, index: int) -> Sample:
        item = self._items[index]
        image = read_image(item.image)
        shape = image.shape[:2]
        mask = read_region(item.mask, shape) if item.mask is not None else None
        init = read_region(item.init, shape) if item.init is not None else None
        if init is not None and not init.any():
            raise DatasetError(f"{item.init}: no nonzero pixel (an empty initial region)")
        meta: dict[str, Any] = {"file_name": f"{IMAGES}/{item.image.name}",
                                "mask_file": f"{MASKS}/{item.mask.name}" if item.mask is not None else "",
                                "init_file": f"{INITS}/{item.init.name}" if item.init is not None else ""}
        return Sample(id=item.stem, image=image, mask=mask, init=init, meta=meta)


def verify(root: str | os.PathLike[str] | None = None, *, rehash: bool = False, **_: Any) -> Report:
    """Every problem of the folder (:func:`scan`), then every file decoded: unreadable pixels are
    problems; masks with more than two values, empty masks and empty initial regions are flagged.

    The folder is the user's: no manifest is written into it (``rehash`` is refused).
    """
    if rehash:
        raise ValueError("--rehash: the folder dataset keeps no manifest (nothing is written into your folder)")
    base = dataset_dir(root)
    report = Report("folder", base)
    items, problems = scan(base)
    for path, what in problems:
        report.problem(path, what)
    for item in items:
        try:
            shape = read_image(item.image).shape[:2]
        except DatasetError as exc:
            report.problem(item.image, str(exc).removeprefix(f"{item.image}: "))
            continue
        for path, what in ((item.mask, "mask"), (item.init, "initial region")):
            if path is None:
                continue
            try:
                values = np.unique(np.asarray(Image.open(path)))
                region = read_region(path, shape)
            except (DatasetError, OSError) as exc:
                report.problem(path, str(exc).removeprefix(f"{path}: "))
                continue
            if not region.any():
                (report.problem if what == "initial region" else report.warn)(path, f"empty {what} (no nonzero pixel)")
            elif len(values) > 2:
                report.warn(path, f"{len(values)} distinct values; every nonzero pixel counts as {what}")
    n_masks = sum(i.mask is not None for i in items)
    n_inits = sum(i.init is not None for i in items)
    report.notes.append(f"{len(items)} images, {n_masks} with a mask, {n_inits} with an initial region "
                        "(no manifest: the folder is yours)")
    return report


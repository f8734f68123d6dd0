"""Segment your own images with a registered method: :func:`segment` (``lsbench.segment``) and what
``lsbench segment`` runs (:func:`segment_files`).

Both take the path the benchmark takes: the method is built from the registry
(``METHODS.build(method, **params)``, its registered defaults and phase rule included), the image
becomes a :class:`~lsbench.types.Sample` read and scaled exactly as the ``folder`` dataset reads
it (:mod:`lsbench.datasets.folder`), and the mask is the segmenter's ``Prediction.mask``. So one
image gives the same mask through ``lsbench run --dataset folder``, ``lsbench segment`` and
``lsbench.segment``.

The initial region (``init=``, ``--init``) is the sample's ``Sample.init``: the contour methods
(``drlse``, ``li``, ``lic``, ``l2s``) start from it, and Chan–Vese (``cv``, which starts from the
checkerboard) takes as the object the phase concentrated in it. Without one, the contour methods
start from their own preset (a centred box) and ``cv`` takes as the object the phase touching less
of the image border (:func:`lsbench.levelset.polarity.orient_by_sample`): an object inside the
frame on a surrounding background, bright or dark. A method-specific start is a string
(``init="checkerboard"``, the methods' ``init`` parameter).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lsbench.types import Prediction, Sample

__all__ = ["SegmentedFile", "build_segmenter", "read_input_image", "read_input_region", "segment",
           "segment_files", "segment_image"]


def _is_file_name(value: Any) -> bool:
    """A path object, or a string naming an image file (init names never end in an image suffix)."""
    from lsbench.datasets.folder import IMAGE_SUFFIXES

    return isinstance(value, os.PathLike) or (isinstance(value, str) and Path(value).suffix.lower() in IMAGE_SUFFIXES)


def read_input_image(image: Any, name: str = "image") -> np.ndarray:
    """``image`` as the methods take it: a file (path) decoded as the folder dataset decodes it, or an
    array scaled by its type (:func:`lsbench.datasets.folder.image_to_float`)."""
    from lsbench.datasets.folder import image_to_float, read_image

    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    if isinstance(image, Sample):
        raise TypeError(f"{name}: pass the image array (sample.image), not a Sample")
    return image_to_float(image, name)


def read_input_region(init: Any, shape: tuple[int, int], name: str = "init") -> np.ndarray:
    """An initial region as a bool H x W mask: a PNG file (nonzero = region, as the folder dataset's
    ``inits/``) or an array (bool, integer: nonzero = region, or floating point holding only 0 and 1).
    Refuses another size, an empty region and a non-binary float array, naming ``name``."""
    from lsbench.datasets.folder import read_region

    if isinstance(init, (str, os.PathLike)):
        region = read_region(init, shape)
        name = str(init)
    else:
        array = np.asarray(init)
        if array.dtype == bool or array.dtype.kind in "iu":
            region = array != 0
        elif array.dtype.kind == "f" and np.isin(array, (0.0, 1.0)).all():
            region = array == 1.0
        else:
            raise TypeError(f"{name}: an initial region is a bool (or 0/1) mask, got an array of dtype {array.dtype}")
        if region.shape != tuple(shape):
            raise ValueError(f"{name}: region has shape {region.shape}, the image is {tuple(shape)}")
    if not region.any():
        raise ValueError(f"{name}: the initial region is empty (no nonzero pixel)")
    return region


def build_segmenter(method: str = "cv", init: str | None = None, **params: Any) -> Any:
    """The registered single-object method ``method`` built with ``params`` (and ``init`` as its
    ``init`` parameter when given as a string); errors name the method, parameter or init."""
    from lsbench.registry import METHODS

    entry = METHODS.get(method)
    if entry.kind != "binary":
        raise ValueError(f"method {method!r} predicts instances; segment returns one mask per image "
                         f"(single-object methods: {', '.join(METHODS.names(kind='binary'))})")
    if init is not None:
        if "init" not in entry.defaults():
            raise ValueError(f"method {method!r} takes no init parameter, so init={init!r} cannot be given "
                             "(pass an initial region as an array or a PNG file instead)")
        params = {**params, "init": init}
    return METHODS.build(method, **params)


def segment_image(segmenter: Any, image: np.ndarray, region: np.ndarray | None, name: str = "image") -> np.ndarray:
    """The mask ``segmenter`` predicts for ``image`` started from ``region`` (``Sample.init``)."""
    prediction = segmenter(Sample(id=name, image=image, init=region))
    if not isinstance(prediction, Prediction) or prediction.mask is None:
        raise TypeError(f"{name}: the method returned {type(prediction).__name__}, not a Prediction with a mask")
    if prediction.mask.shape != image.shape[:2]:
        raise ValueError(f"{name}: the method returned a mask of shape {prediction.mask.shape} for an image "
                         f"of shape {image.shape[:2]}")
    return np.asarray(prediction.mask, dtype=bool)


def segment(image: Any, method: str = "cv", *, init: Any = None, **params: Any) -> np.ndarray:
    """Segment one image with a registered method; return the object as a bool mask.

    Parameters
    ----------
    image : array_like or path
        H x W (grey) or H x W x 3 (colour). ``uint8`` is divided by 255, ``uint16`` by 65535,
        floating point is taken as it is (float32); a path (PNG, JPEG, TIFF) is read as the
        ``folder`` dataset reads it.
    method : str
        A registered single-object method (``lsbench list methods``): ``cv``, ``drlse``, ``li``,
        ``lic``, ``l2s``, ``skimage-cv``, the ``*-torch`` backends or a learned method.
    init : array_like, path or str, optional
        The initial region (a bool or 0/1 mask of the image's size, or a PNG file: nonzero =
        region), used as the benchmark uses ``Sample.init``; or a string, the method's own ``init``
        (e.g. ``"checkerboard"``, ``"box"``). Without it, see the module docstring.
    **params
        The method's parameters (``lsbench list methods -v``), e.g. ``mu=0.1, max_iter=200``.

    Returns
    -------
    ndarray of bool, shape (H, W)
        True = object.

    Examples
    --------
    A bright square, and the same square dark on a bright ground: Chan–Vese's two phases have no
    inside, and with no initial region the object is the phase away from the image border:

    >>> import numpy as np
    >>> import lsbench
    >>> image = np.zeros((20, 20), np.uint8)
    >>> image[5:15, 5:15] = 200
    >>> mask = lsbench.segment(image, method="cv", max_iter=50)
    >>> int(mask.sum()), bool(mask[10, 10]), bool(mask[0, 0])
    (100, True, False)
    >>> int(lsbench.segment(255 - image, max_iter=50).sum())
    100

    DRLSE from an initial region (the square grown by 2 pixels) shrinks onto the square:

    >>> region = np.zeros((20, 20), bool)
    >>> region[3:17, 3:17] = True
    >>> mask = lsbench.segment(image, method="drlse", init=region)
    >>> bool(mask[10, 10]), bool(mask[1, 1]), 80 <= int(mask.sum()) <= 144
    (True, False, True)
    """
    pixels = read_input_image(image)
    region = None
    if init is not None and (not isinstance(init, str) or _is_file_name(init)):
        region = read_input_region(init, pixels.shape[:2])
        init = None
    segmenter = build_segmenter(method, init, **params)
    return segment_image(segmenter, pixels, region)


# -- many files: lsbench segment ------------------------------------------------------------------------
@dataclass(frozen=True)
class SegmentedFile:
    """What :func:`segment_files` wrote for one image (or why it could not)."""

    image: Path
    mask: Path | None
    overlay: Path | None
    error: str = ""


def _inits_for(images: Sequence[Path], init: str | os.PathLike[str] | None) -> dict[Path, Path | None]:
    """The region file of each image: one file for all, or ``<folder>/<stem>.png`` per image."""
    if init is None:
        return dict.fromkeys(images)
    init = Path(init)
    if init.is_dir():
        out: dict[Path, Path | None] = {}
        for path in images:
            candidate = init / f"{path.stem}.png"
            out[path] = candidate if candidate.is_file() else None
        missing = [p.name for p, r in out.items() if r is None]
        if len(missing) == len(images):
            raise FileNotFoundError(f"--init {init}: holds no <image stem>.png for any image (e.g. {images[0].stem}.png)")
        return out
    if not init.is_file():
        raise FileNotFoundError(f"--init {init}: no such file or folder")
    return dict.fromkeys(images, init)


def segment_files(images: Iterable[str | os.PathLike[str]], out: str | os.PathLike[str], method: str = "cv", *,
                  params: dict[str, Any] | None = None, init: str | os.PathLike[str] | None = None,
                  overlay: bool = True, progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None
                  ) -> list[SegmentedFile]:
    """Segment image files and write ``out/<stem>.png`` (0/255) and ``out/<stem>-overlay.png``.

    Everything is checked before anything is written: the method and its parameters, every
    image's header and stem (two images with one stem would write one mask), the ``init`` files.
    Each image is then read, segmented (:func:`segment_image`) and its files written atomically; an
    image that fails is reported in its :class:`SegmentedFile` and the others go on.

    Parameters
    ----------
    images : paths
        PNG, JPEG or TIFF files.
    out : path
        Folder of the masks (created).
    method, params
        A registered single-object method and its parameters.
    init : path, optional
        A region PNG for every image, or a folder of ``<image stem>.png`` regions (images without
        one start without a region).
    overlay : bool
        Also write each image with the mask's contour drawn.
    progress : callable, optional
        Wraps the iteration over images (a progress bar).
    """
    from lsbench.datasets.folder import IMAGE_SUFFIXES, check_image_file
    from lsbench.export import write_mask_png, write_overlay_png

    paths = [Path(p) for p in images]
    if not paths:
        raise ValueError("no images given")
    seen: dict[str, Path] = {}
    for path in paths:
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(f"{path}: not an image file lsbench reads (want {', '.join(IMAGE_SUFFIXES)})")
        check_image_file(path)
        if path.stem in seen:
            raise ValueError(f"{path}: has the same stem as {seen[path.stem]}; both would write "
                             f"{Path(out) / (path.stem + '.png')}")
        seen[path.stem] = path
    regions = _inits_for(paths, init)
    segmenter = build_segmenter(method, **(params or {}))
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    results: list[SegmentedFile] = []
    for path in (progress or (lambda x: x))(paths):
        try:
            pixels = read_input_image(path)
            region_file = regions[path]
            region = read_input_region(region_file, pixels.shape[:2]) if region_file is not None else None
            mask = segment_image(segmenter, pixels, region, path.stem)
            mask_path = write_mask_png(out / f"{path.stem}.png", mask)
            overlay_path = write_overlay_png(out / f"{path.stem}-overlay.png", pixels, mask) if overlay else None
        except Exception as exc:  # one bad image must not stop the others
            results.append(SegmentedFile(path, None, None, f"{type(exc).__name__}: {exc}".replace("\n", " ")))
            continue
        results.append(SegmentedFile(path, mask_path, overlay_path))
    return results

"""Masks as image files: PNG masks (0/255) and contour overlays, and a finished run's masks exported
(``lsbench export RUN_DIR --png DIR``).

Every file is written atomically (:mod:`lsbench.atomic`): a mask file is complete or absent. A run
is exported one method at a time into ``DIR/<method>/<sample id>.png``; each method's folder is
assembled under a temporary name and renamed into place (:func:`lsbench.atomic.atomic_dir`), so
an interrupted export leaves no half-filled folder, and an existing folder is never mixed with or
overwritten.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> import numpy as np
>>> from PIL import Image
>>> from lsbench.export import write_mask_png, write_overlay_png
>>> mask = np.zeros((6, 8), bool)
>>> mask[1:5, 2:6] = True
>>> folder = Path(tempfile.mkdtemp())
>>> np.unique(np.asarray(Image.open(write_mask_png(folder / "a.png", mask)))).tolist()
[0, 255]
>>> overlay = np.asarray(Image.open(write_overlay_png(folder / "a-overlay.png", np.full((6, 8), 0.5), mask)))
>>> overlay.shape, overlay[1, 2].tolist(), overlay[2, 3].tolist()   # contour pixel, inside pixel
((6, 8, 3), [255, 215, 0], [128, 128, 128])
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from lsbench.atomic import atomic_dir, atomic_write_bytes

__all__ = ["CONTOUR_RGB", "ExportedMethod", "export_run", "file_stem", "mask_png", "overlay_png", "write_mask_png",
           "write_overlay_png"]

#: colour of the contour in overlays (the figures' contour colour)
CONTOUR_RGB = (255, 215, 0)


def file_stem(name: str) -> str:
    """A file name for a sample id or method name: letters, digits, ``-``, ``_`` and ``.`` kept, any
    other character replaced by ``_``.

    >>> from lsbench.export import file_stem
    >>> file_stem("scene 01/variant:3")
    'scene_01_variant_3'
    """
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))


def _png(array: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def _checked_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != bool:
        raise ValueError(f"a mask must be a 2-D bool array, got {mask.dtype} {mask.shape}")
    return mask


def mask_png(mask: np.ndarray) -> bytes:
    """8-bit grey PNG bytes of a bool mask: object 255, background 0."""
    return _png(_checked_mask(mask).astype(np.uint8) * 255, "L")


def overlay_png(image: np.ndarray, mask: np.ndarray) -> bytes:
    """RGB PNG bytes of ``image`` (grey or RGB, values in [0, 1], clipped) with the inner boundary
    of ``mask`` painted in :data:`CONTOUR_RGB` (``skimage.segmentation.find_boundaries``)."""
    from skimage.segmentation import find_boundaries

    mask = _checked_mask(mask)
    image = np.asarray(image, dtype=np.float64)
    if image.shape[:2] != mask.shape or image.ndim not in (2, 3):
        raise ValueError(f"image of shape {image.shape} does not match a mask of shape {mask.shape}")
    rgb = np.round(np.clip(np.nan_to_num(image), 0.0, 1.0) * 255).astype(np.uint8)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    rgb = rgb.copy()
    rgb[find_boundaries(mask, mode="inner")] = CONTOUR_RGB
    return _png(rgb, "RGB")


def write_mask_png(path: str | os.PathLike[str], mask: np.ndarray) -> Path:
    """Write :func:`mask_png` to ``path`` atomically; return the path."""
    return atomic_write_bytes(path, mask_png(mask))


def write_overlay_png(path: str | os.PathLike[str], image: np.ndarray, mask: np.ndarray) -> Path:
    """Write :func:`overlay_png` to ``path`` atomically; return the path."""
    return atomic_write_bytes(path, overlay_png(image, mask))


@dataclass(frozen=True)
class ExportedMethod:
    """One method's exported masks: its folder, how many masks were written, and the samples it
    failed on (no mask to export)."""

    method: str
    folder: Path
    written: int
    failed: tuple[str, ...]


def export_run(run_dir: str | os.PathLike[str], out: str | os.PathLike[str],
               methods: Sequence[str] | None = None) -> list[ExportedMethod]:
    """Write a finished single-object run's predicted masks as PNG: ``out/<method>/<sample id>.png``.

    Parameters
    ----------
    run_dir : path
        A finished run directory (``masks/<method>.npz``, read by :func:`lsbench.rundir.load_masks`).
    out : path
        Parent folder of the per-method folders (created); a method folder that exists already is
        an error.
    methods : sequence of str, optional
        The methods to export (default: every method of the run).

    Returns
    -------
    list of ExportedMethod
    """
    from lsbench.rundir import GROUND_TRUTH_FILE, load_masks, load_run

    run_dir = Path(run_dir)
    per_sample, config = load_run(run_dir)
    if config.get("kind") == "instance" or (run_dir / GROUND_TRUTH_FILE).is_file():
        raise ValueError(f"{run_dir} is an instance run: its predictions are COCO results "
                         "(predictions/<method>.json); export --png writes single-object masks")
    in_run = [str(m) for m in dict.fromkeys(per_sample["method"])]
    chosen = list(methods) if methods else in_run
    unknown = [m for m in chosen if m not in in_run]
    if unknown:
        raise ValueError(f"method(s) {', '.join(map(repr, unknown))} not in {run_dir}; its methods: {', '.join(in_run)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--png {out} exists and is not a folder")
    targets = {m: out / file_stem(m) for m in chosen}
    for m, folder in targets.items():
        if folder.exists():
            raise FileExistsError(f"{folder} already exists (masks of {m!r}); choose another --png folder or remove it")
    loaded = {m: load_masks(run_dir, m) for m in chosen}  # every file read before anything is written
    for m, masks in loaded.items():
        names = [file_stem(sid) for sid in masks]
        if len(set(names)) != len(names):
            raise ValueError(f"{run_dir}: sample ids of {m!r} collide as file names ({len(names) - len(set(names))} "
                             "duplicate(s) after replacing characters other than letters, digits, '-', '_', '.')")
    exported = []
    for m, masks in loaded.items():
        failed = tuple(sid for sid, mask in masks.items() if mask is None)
        with atomic_dir(targets[m]) as tmp:
            for sid, mask in masks.items():
                if mask is not None:
                    atomic_write_bytes(tmp / f"{file_stem(sid)}.png", mask_png(mask))
        exported.append(ExportedMethod(m, targets[m], len(masks) - len(failed), failed))
    return exported

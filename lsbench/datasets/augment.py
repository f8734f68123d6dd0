"""The chapter's augmentation recipe: degradations (noise, blur) and affine ops (rotation,
translation, scale, flip), recorded as data so every variant can be regenerated.

A variant is a list of op dicts, e.g. ``[{"op": "rotate", "degrees": 12.5}, {"op": "gaussian",
"sigma": 0.05}]``. Geometric ops move image *and* mask (bilinear for the image, nearest for
the mask, same boundary mode); photometric ops touch the image only and come after the
geometry so noise is never interpolated. Images may be grey (H x W) or colour (H x W x 3: the
geometry and the blur act per channel); masks may be one H x W mask or a stack K x H x W (e.g.
one per annotator), all moved alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage
from skimage import transform

__all__ = ["GEOMETRIC", "PHOTOMETRIC", "apply_ops", "variant_ops"]

GEOMETRIC = ("identity", "rotate", "translate", "scale", "flip", "affine")
PHOTOMETRIC = ("gaussian-low", "gaussian-high", "speckle", "salt-pepper", "poisson", "blur-noise")


def variant_ops(variant: int, rng: np.random.Generator, size: int) -> list[dict[str, Any]]:
    """The ops of variant ``variant`` (0..35): geometry ``variant // 6`` x degradation ``variant % 6``.

    Magnitudes are drawn from ``rng`` and stored in the returned dicts (rounded to 4 decimals, so
    the recorded recipe is exactly what is applied).
    """
    if not 0 <= variant < len(GEOMETRIC) * len(PHOTOMETRIC):
        raise ValueError(f"variant must be in 0..{len(GEOMETRIC) * len(PHOTOMETRIC) - 1}, got {variant}")
    g = GEOMETRIC[variant // len(PHOTOMETRIC)]
    p = PHOTOMETRIC[variant % len(PHOTOMETRIC)]

    def u(lo: float, hi: float) -> float:
        return round(float(rng.uniform(lo, hi)), 4)

    ops: list[dict[str, Any]] = []
    shift = size / 10
    if g == "rotate":
        ops.append({"op": "rotate", "degrees": u(-30, 30)})
    elif g == "translate":
        ops.append({"op": "translate", "dy": u(-shift, shift), "dx": u(-shift, shift)})
    elif g == "scale":
        ops.append({"op": "scale", "factor": u(0.8, 1.2)})
    elif g == "flip":
        ops.append({"op": "flip", "axis": int(rng.integers(0, 2))})
    elif g == "affine":
        ops.append({"op": "affine", "degrees": u(-25, 25), "factor": u(0.85, 1.15),
                    "dy": u(-shift / 2, shift / 2), "dx": u(-shift / 2, shift / 2)})
    if p == "gaussian-low":
        ops.append({"op": "gaussian", "sigma": u(0.02, 0.06)})
    elif p == "gaussian-high":
        ops.append({"op": "gaussian", "sigma": u(0.1, 0.18)})
    elif p == "speckle":
        ops.append({"op": "speckle", "sigma": u(0.1, 0.25)})
    elif p == "salt-pepper":
        ops.append({"op": "salt-pepper", "amount": u(0.02, 0.08)})
    elif p == "poisson":
        ops.append({"op": "poisson", "peak": u(15, 60)})
    elif p == "blur-noise":
        ops.append({"op": "blur", "sigma": u(0.8, 2.0)})
        ops.append({"op": "gaussian", "sigma": u(0.03, 0.06)})
    return ops


def _affine(image: np.ndarray, mask: np.ndarray, degrees: float = 0.0, factor: float = 1.0,
            dy: float = 0.0, dx: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    t = (transform.AffineTransform(translation=-centre)
         + transform.AffineTransform(rotation=np.deg2rad(degrees), scale=factor)
         + transform.AffineTransform(translation=centre + np.array([dx, dy])))
    inv = t.inverse
    img = transform.warp(image, inv, order=1, mode="reflect", preserve_range=True)
    if mask.ndim == 3:  # a stack K x H x W: warp as channels H x W x K
        stack = np.moveaxis(mask, 0, -1).astype(float)
        msk = np.moveaxis(transform.warp(stack, inv, order=0, mode="reflect", preserve_range=True) > 0.5, -1, 0)
    else:
        msk = transform.warp(mask.astype(float), inv, order=0, mode="reflect", preserve_range=True) > 0.5
    return img, msk


def apply_ops(image: np.ndarray, mask: np.ndarray, ops: list[dict[str, Any]], rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """Apply recorded ops in order; noise draws come from ``rng``. Returns (image in [0, 1], mask).

    ``image`` is H x W or H x W x 3; ``mask`` is H x W or a stack K x H x W moved alike.
    """
    img = np.asarray(image, dtype=np.float64)
    msk = np.asarray(mask, dtype=bool)
    if img.ndim not in (2, 3) or msk.shape[-2:] != img.shape[:2] or msk.ndim not in (2, 3):
        raise ValueError(f"apply_ops: image {img.shape} and mask {msk.shape} must be H x W (x 3) and (K x) H x W")
    for op in ops:
        kind = op["op"]
        if kind == "rotate":
            img, msk = _affine(img, msk, degrees=op["degrees"])
        elif kind == "translate":
            img, msk = _affine(img, msk, dy=op["dy"], dx=op["dx"])
        elif kind == "scale":
            img, msk = _affine(img, msk, factor=op["factor"])
        elif kind == "affine":
            img, msk = _affine(img, msk, degrees=op["degrees"], factor=op["factor"], dy=op["dy"], dx=op["dx"])
        elif kind == "flip":
            img = np.flip(img, op["axis"]).copy()
            msk = np.flip(msk, op["axis"] + msk.ndim - 2).copy()
        elif kind == "gaussian":
            img = img + rng.normal(0.0, op["sigma"], img.shape)
        elif kind == "speckle":
            img = img * (1.0 + rng.normal(0.0, op["sigma"], img.shape))
        elif kind == "salt-pepper":
            u = rng.random(img.shape)
            img = img.copy()
            img[u < op["amount"] / 2] = 0.0
            img[u > 1 - op["amount"] / 2] = 1.0
        elif kind == "poisson":
            img = rng.poisson(np.clip(img, 0, 1) * op["peak"]) / op["peak"]
        elif kind == "blur":
            sigma = op["sigma"] if img.ndim == 2 else (op["sigma"], op["sigma"], 0.0)
            img = ndimage.gaussian_filter(img, sigma, mode="reflect")
        else:
            raise ValueError(f"unknown augmentation op {kind!r}")
        img = np.clip(img, 0.0, 1.0)
    return img, msk

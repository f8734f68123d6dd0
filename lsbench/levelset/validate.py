"""Input validation shared by the classic methods (house rule: validate at the top, name the parameter)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = [
    "check_choice",
    "check_finite",
    "check_image_2d",
    "check_nonnegative",
    "check_nonnegative_int",
    "check_positive",
    "check_positive_int",
    "check_same_size_images",
]


def check_image_2d(image: Any, name: str = "image") -> np.ndarray:
    """Return ``image`` as a 2-D float array (float32 kept, anything else -> float64).

    Raises ``TypeError`` for non-numeric data and ``ValueError`` for a wrong number of
    dimensions, an empty array or non-finite pixels.
    """
    arr = np.asarray(image)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D greyscale array, got {arr.ndim}-D shape {arr.shape}"
            + ("; convert colour images with lsbench.levelset.ops.to_gray" if arr.ndim == 3 else "")
        )
    if arr.size == 0 or min(arr.shape) < 1:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if min(arr.shape) < 3:
        raise ValueError(f"{name} must be at least 3 x 3 pixels, got shape {arr.shape}")
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    arr = arr.astype(dtype, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite pixel(s)")
    return arr


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive(name: str, value: Any) -> float:
    if not _is_real(value) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_nonnegative(name: str, value: Any) -> float:
    if not _is_real(value) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return float(value)


def check_finite(name: str, value: Any) -> float:
    if not _is_real(value) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_nonnegative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_same_size_images(images: Any) -> list[np.ndarray]:
    """``images`` (a sequence of 2-D arrays or one ``(B, H, W)`` array) as a list of checked 2-D
    arrays (:func:`check_image_2d`) of one size; a ``ValueError`` names the first one that differs."""
    if isinstance(images, np.ndarray):
        if images.ndim != 3:
            raise ValueError(f"images must be a (B, H, W) array or a sequence of 2-D images, got shape {images.shape}")
        images = list(images)
    if not isinstance(images, (list, tuple)):
        raise TypeError(f"images must be a sequence of 2-D arrays, got {type(images).__name__}")
    if len(images) == 0:
        raise ValueError("images is empty: a batch needs at least one image")
    out = [check_image_2d(img, name=f"images[{i}]") for i, img in enumerate(images)]
    shape = out[0].shape
    for i, img in enumerate(out):
        if img.shape != shape:
            raise ValueError(f"every image of a batch must have one size: images[0] is {shape}, "
                             f"images[{i}] is {img.shape} (group images by size)")
    return out

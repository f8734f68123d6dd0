"""The validators of lsbench: every bool, integer, number and choice check goes through this module.

House rule: validate at the top of a public function and name the parameter and the value
received. One rule, one message: :func:`check_int` and :func:`check_number` describe their bounds
themselves ("a positive integer", "a non-negative finite number", "an integer between 32 and
1024"); ``what`` replaces that description where an option says more (units, what ``None`` or 0
means). Bools and integers are checked by type (``True`` is not an integer); numbers must be real
and finite.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = [
    "check_bool",
    "check_choice",
    "check_finite",
    "check_image",
    "check_image_2d",
    "check_int",
    "check_nonnegative",
    "check_nonnegative_int",
    "check_number",
    "check_positive",
    "check_positive_int",
    "check_same_size_images",
]


#: the smallest image side every method takes (central differences and the curvature's 3 x 3 stencil)
MIN_IMAGE_SIDE = 3


def _check_real_dtype(arr: np.ndarray, name: str, *, allow_bool: bool) -> None:
    """``TypeError`` unless ``arr`` holds real numbers: integers or floats (and bools when allowed);
    complex numbers are refused, never silently cast to their real part."""
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be a real array, got dtype {arr.dtype}; pass np.real(image) or np.abs(image)")
    if arr.dtype == bool and not allow_bool:
        raise TypeError(f"{name} must hold intensities, got a bool array (a mask?); pass image.astype(np.float32)")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")


def _check_finite_pixels(arr: np.ndarray, name: str) -> None:
    if np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite pixel(s)")


def check_image(image: Any, name: str = "image") -> np.ndarray:
    """The input check every method meets in the harness, before it is called: ``image`` as an array, unchanged.

    An image is a real numeric array (integers or floats: not bool, complex, object or text),
    ``H x W``, ``H x W x 1`` or ``H x W x 3``, at least :data:`MIN_IMAGE_SIDE` pixels along each
    side, with finite pixels (no NaN or infinity). Raises ``TypeError`` for the kind of data,
    ``ValueError`` for its shape or values, naming the problem. A bool array is refused (it is a
    mask, not intensities), though the classic functions themselves take one.

    Examples
    --------
    >>> check_image(np.zeros((4, 5, 3), np.float32)).shape
    (4, 5, 3)
    >>> check_image(np.full((4, 4), 0.5 + 1j))
    Traceback (most recent call last):
    ...
    TypeError: image must be a real array, got dtype complex128; pass np.real(image) or np.abs(image)
    >>> check_image(np.array([[np.nan, 0, 0]] * 3))
    Traceback (most recent call last):
    ...
    ValueError: image contains 3 NaN or infinite pixel(s)
    """
    arr = np.asarray(image)
    _check_real_dtype(arr, name, allow_bool=False)
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3))):
        raise ValueError(f"{name} must be H x W, H x W x 1 or H x W x 3, got shape {arr.shape}")
    if min(arr.shape[:2]) < MIN_IMAGE_SIDE:
        raise ValueError(f"{name} must be at least {MIN_IMAGE_SIDE} x {MIN_IMAGE_SIDE} pixels, got shape {arr.shape}")
    _check_finite_pixels(arr, name)
    return arr


def check_image_2d(image: Any, name: str = "image") -> np.ndarray:
    """Return ``image`` as a 2-D float array (float32 kept, anything else -> float64).

    Raises ``TypeError`` for non-numeric or complex data and ``ValueError`` for a wrong number of
    dimensions, an empty array or non-finite pixels.
    """
    arr = np.asarray(image)
    _check_real_dtype(arr, name, allow_bool=True)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D greyscale array, got {arr.ndim}-D shape {arr.shape}"
            + ("; convert colour images with lsbench.levelset.ops.to_gray" if arr.ndim == 3 else "")
        )
    if arr.size == 0 or min(arr.shape) < 1:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if min(arr.shape) < MIN_IMAGE_SIDE:
        raise ValueError(f"{name} must be at least {MIN_IMAGE_SIDE} x {MIN_IMAGE_SIDE} pixels, got shape {arr.shape}")
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    arr = arr.astype(dtype, copy=False)
    _check_finite_pixels(arr, name)
    return arr


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _number_words(minimum: float | None, maximum: float | None, min_open: bool, max_open: bool) -> str:
    if minimum is not None and maximum is not None:
        return f"a number in {'(' if min_open else '['}{minimum}, {maximum}{')' if max_open else ']'}"
    if minimum == 0:
        return "a positive finite number" if min_open else "a non-negative finite number"
    if minimum is not None:
        return f"a finite number {'>' if min_open else '>='} {minimum}"
    if maximum is not None:
        return f"a finite number {'<' if max_open else '<='} {maximum}"
    return "a finite number"


def check_number(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None,
                 min_open: bool = False, max_open: bool = False, what: str | None = None) -> float:
    """``value`` as a float: a real, finite number (not a bool) within the bounds.

    ``min_open`` / ``max_open`` exclude the bound itself. Raises ``ValueError``
    ``"NAME must be WHAT, got VALUE"``, ``WHAT`` describing the bounds unless given.

    Examples
    --------
    >>> check_number("lr", 1e-3, minimum=0, min_open=True)
    0.001
    >>> check_number("val_fraction", 1.0, minimum=0, maximum=1, max_open=True)
    Traceback (most recent call last):
    ...
    ValueError: val_fraction must be a number in [0, 1), got 1.0
    """
    ok = _is_real(value) and bool(np.isfinite(value))
    if ok and minimum is not None:
        ok = value > minimum if min_open else value >= minimum
    if ok and maximum is not None:
        ok = value < maximum if max_open else value <= maximum
    if not ok:
        raise ValueError(f"{name} must be {what or _number_words(minimum, maximum, min_open, max_open)}, "
                         f"got {value!r}")
    return float(value)


def check_positive(name: str, value: Any) -> float:
    return check_number(name, value, minimum=0, min_open=True)


def check_nonnegative(name: str, value: Any) -> float:
    return check_number(name, value, minimum=0)


def check_finite(name: str, value: Any) -> float:
    return check_number(name, value)


def _int_words(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer between {minimum} and {maximum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
        minimum, f"an integer >= {minimum}")


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None,
              what: str | None = None) -> int:
    """``value`` as an int: an integer (not a bool, not a float) within ``[minimum, maximum]``.

    Raises ``ValueError`` ``"NAME must be WHAT, got VALUE"``, ``WHAT`` describing the bounds
    unless given.

    Examples
    --------
    >>> check_int("size", 128, minimum=32, maximum=1024)
    128
    >>> check_int("epochs", 0, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be a positive integer, got 0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {what or _int_words(minimum, maximum)}, got {value!r}")
    return int(value)


def check_positive_int(name: str, value: Any) -> int:
    return check_int(name, value, minimum=1)


def check_nonnegative_int(name: str, value: Any) -> int:
    return check_int(name, value, minimum=0)


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (a NumPy bool too); else ``TypeError``.

    Examples
    --------
    >>> check_bool("augment", 1)
    Traceback (most recent call last):
    ...
    TypeError: augment must be True or False, got 1
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


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

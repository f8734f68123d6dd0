"""Pieces shared by the classic methods: intensity scale, Li-family initialisation, stopping.

Private to :mod:`lsbench.classic`; the public building blocks live in :mod:`lsbench.levelset`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lsbench.levelset.init import binary_step, box_mask, resolve_init
from lsbench.levelset.ops import rescale

__all__ = ["SignChangeMonitor", "check_callback", "li_init", "to_255", "wants_energy"]


def to_255(image: np.ndarray) -> np.ndarray:
    """Min-max rescale to float64 ``[0, 255]``: the scale Li's parameters (nu, g) assume.

    lsbench images are ``[0, 1]``, so for an image that spans its range this is ``255 * image``,
    the 8-bit intensities the reference demos read. A constant image maps to zeros.
    """
    return rescale(image, 255.0, dtype=np.float64)


def _circle_mask(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    return np.hypot(yy - (h - 1) / 2.0, xx - (w - 1) / 2.0) <= min(h, w) / 3.0


def li_init(init: Any, shape: tuple[int, int], c0: float) -> np.ndarray:
    """phi0 (positive inside, float64) for the Li family: a binary step ``+-c0``.

    ``init`` is ``"box"`` (a centred rectangle with 1/8 margins), ``"circle"`` (a centred disk
    of radius 1/3 of the short side), a bool mask (-> ``binary_step(mask, c0)``) or a float
    array used as phi0 as is (positive inside).
    """
    presets: dict[str, Callable[..., np.ndarray]] = {
        "box": lambda s, dtype=np.float64: binary_step(box_mask(s), c0).astype(dtype),
        "circle": lambda s, dtype=np.float64: binary_step(_circle_mask(s), c0).astype(dtype),
    }
    return resolve_init(init, shape, mask_to_phi=lambda m: binary_step(m, c0), presets=presets,
                        dtype=np.float64)


def check_callback(iter_callback: Any) -> None:
    if iter_callback is not None and not callable(iter_callback):
        raise TypeError(f"iter_callback must be callable, got {type(iter_callback).__name__}")


def wants_energy(track_energy: bool | None, return_result: bool, iter_callback: Any) -> bool:
    """chan_vese's rule: by default the energy is traced only when someone can see it."""
    if track_energy is None:
        return bool(return_result or iter_callback is not None)
    return bool(track_energy)


class SignChangeMonitor:
    """Counts the pixels whose side of the zero level changed since the last :meth:`update`.

    ``inside`` is tested as ``phi > 0`` (pass ``-u`` or use ``negate=True`` for a reference
    code that keeps the object at ``u < 0``).
    """

    def __init__(self, phi: np.ndarray, *, negate: bool = False, inclusive: bool = False) -> None:
        self.negate = negate
        self.inclusive = inclusive
        self._prev = self._side(phi)
        self._cur = np.empty_like(self._prev)

    def _side(self, phi: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if self.negate:
            return np.less_equal(phi, 0, out=out) if self.inclusive else np.less(phi, 0, out=out)
        return np.greater_equal(phi, 0, out=out) if self.inclusive else np.greater(phi, 0, out=out)

    def update(self, phi: np.ndarray) -> int:
        """Number of pixels that changed side since the previous call (or construction)."""
        self._side(phi, out=self._cur)
        n = int(np.count_nonzero(self._cur != self._prev))
        self._prev, self._cur = self._cur, self._prev
        return n

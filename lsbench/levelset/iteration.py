"""The per-iteration callback contract shared by every classic method."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = ["IterCallback", "IterInfo", "notify"]


class IterInfo(NamedTuple):
    """What a method reports after each iteration.

    Attributes
    ----------
    iteration : int
        1-based index of the iteration just finished.
    phi : ndarray
        The current level set (phi > 0 inside). A read-only view: copy it to keep it.
    energy : float
        The method's energy *after* this iteration (NaN where the method defines none).
    """

    iteration: int
    phi: np.ndarray
    energy: float


#: ``iter_callback(info) -> bool | None``; returning ``True`` stops the evolution early.
IterCallback = Callable[[IterInfo], "bool | None"]


def notify(callback: IterCallback | None, iteration: int, phi: np.ndarray, energy: float) -> bool:
    """Call ``callback`` with a read-only view of ``phi``; True means "stop now"."""
    if callback is None:
        return False
    view = phi.view()
    view.flags.writeable = False
    return bool(callback(IterInfo(iteration, view, float(energy))))

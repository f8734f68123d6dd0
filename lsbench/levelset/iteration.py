"""The per-iteration callback contract shared by every classic method, and the stall report."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = ["STALL_FRACTION", "IterCallback", "IterInfo", "notify", "stall_report"]


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


#: Getreuer's stopping threshold (IPOL 2012): fewer than this fraction of the pixels changing side
#: of the zero level counts as "the segmentation did not change"
STALL_FRACTION = 1e-4


def stall_report(inside0: np.ndarray, mask: np.ndarray, converged: bool) -> tuple[bool, dict[str, object]]:
    """Say whether a stopping rule that fired had moved the segmentation at all.

    A stopping rule on the *size* of the update (scikit-image's RMS change of phi) also fires when
    phi moves slowly everywhere, e.g. Chan–Vese from a pixel-unit signed distance on a ``[0, 1]``
    image, where the global Dirac ``1/(1 + phi^2)`` is tiny away from the contour: the result is
    then the initial region, which is not a converged segmentation.

    Parameters
    ----------
    inside0 : bool array
        ``phi0 > 0``, the initial region.
    mask : bool array
        The final ``phi > 0``.
    converged : bool
        Whether the method's stopping rule fired before ``max_iter``.

    Returns
    -------
    converged : bool
        ``converged``, except False for a stall.
    extras : dict
        ``moved_pixels``: pixels on the other side of the zero level than in phi0; ``stalled``:
        the stopping rule fired while fewer than :data:`STALL_FRACTION` of the pixels had changed
        side (Getreuer's own criterion for an unchanged segmentation), i.e. phi did not move.

    >>> stall_report(np.eye(4, dtype=bool), np.eye(4, dtype=bool), True)
    (False, {'moved_pixels': 0, 'stalled': True})
    """
    moved = int(np.count_nonzero(np.asarray(mask, dtype=bool) != np.asarray(inside0, dtype=bool)))
    stalled = bool(converged) and moved < STALL_FRACTION * np.size(mask)
    return bool(converged) and not stalled, {"moved_pixels": moved, "stalled": stalled}

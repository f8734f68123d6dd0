"""Choosing which phase of a two-phase segmentation is the object.

Two-phase models such as Chan–Vese started from a checkerboard have no intrinsic "inside":
the object may end up as phi > 0 or phi < 0. lsbench never picks the better of ``F(S)`` and
``F(not S)`` against the ground truth (a polarity oracle); instead the object is the phase that
is concentrated in the dataset-chosen initial region, the same region every other method starts
from (``Sample.init``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["orient_by_region", "prefers_complement"]


def prefers_complement(mask: np.ndarray, region: np.ndarray | None) -> bool:
    """True when the complement of ``mask`` has the larger share of its pixels in ``region``.

    Ties and a missing region keep ``mask`` (False).

    Examples
    --------
    >>> region = np.zeros((4, 4), bool); region[:2] = True
    >>> prefers_complement(~region, region), prefers_complement(region, region), prefers_complement(region, None)
    (True, False, False)
    """
    mask = np.asarray(mask, dtype=bool)
    if region is None:
        return False
    region = np.asarray(region, dtype=bool)
    if region.shape != mask.shape:
        raise ValueError(f"region has shape {region.shape}, mask has shape {mask.shape}")
    n_fg, n_bg = int(mask.sum()), int((~mask).sum())
    frac_fg = (mask & region).sum() / n_fg if n_fg else 0.0
    frac_bg = (~mask & region).sum() / n_bg if n_bg else 0.0
    return bool(frac_bg > frac_fg)


def orient_by_region(mask: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    """Return ``mask`` or its complement: whichever phase has the larger share of its pixels in ``region``.

    Ties and a missing region keep ``mask``.

    Examples
    --------
    Chan–Vese from the checkerboard ended with the left column as ``phi > 0``, but the sample's
    initial region lies in the other phase, so the complement is the object:

    >>> import numpy as np
    >>> from lsbench.levelset.polarity import orient_by_region
    >>> mask = np.zeros((4, 4), dtype=bool)
    >>> mask[:, 0] = True
    >>> region = np.zeros((4, 4), dtype=bool)
    >>> region[1:3, 1:3] = True
    >>> orient_by_region(mask, region).astype(int)
    array([[0, 1, 1, 1],
           [0, 1, 1, 1],
           [0, 1, 1, 1],
           [0, 1, 1, 1]])
    >>> bool((orient_by_region(mask, None) == mask).all())   # no region: unchanged
    True
    """
    mask = np.asarray(mask, dtype=bool)
    return ~mask if prefers_complement(mask, region) else mask

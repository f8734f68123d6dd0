"""Choosing which phase of a two-phase segmentation is the object.

Two-phase models such as Chan–Vese started from a checkerboard have no intrinsic "inside":
the object may end up as phi > 0 or phi < 0. lsbench never picks the better of ``F(S)`` and
``F(not S)`` against the ground truth (a polarity oracle); instead the object is the phase that
is concentrated in the dataset-chosen initial region, the same region every other method starts
from (``Sample.init``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["border_counts", "orient_by_border", "orient_by_region", "orient_by_sample", "prefers_complement",
           "sample_prefers_complement"]


def prefers_complement(mask: np.ndarray, region: np.ndarray | None) -> bool:
    """True when the complement of ``mask`` has the larger share of its pixels in ``region``.

    Ties and a missing region keep ``mask`` (False).

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.levelset.polarity import prefers_complement
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


def border_counts(mask: np.ndarray) -> tuple[int, int]:
    """Pixels of the image border (first and last rows and columns, each pixel once) in ``mask``
    and in its complement.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.levelset.polarity import border_counts
    >>> border_counts(np.eye(3, dtype=bool))
    (2, 6)
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"mask must be a non-empty 2-D array, got shape {mask.shape}")
    ring = np.ones(mask.shape, bool)
    ring[1:-1, 1:-1] = False
    on = int(np.count_nonzero(mask & ring))
    return on, int(np.count_nonzero(ring)) - on


def orient_by_border(mask: np.ndarray) -> np.ndarray:
    """Return ``mask`` or its complement: whichever phase has fewer pixels on the image border.

    The rule reads no ground truth: the object is assumed to lie inside the frame, surrounded by
    background. Border pixels are the first and last rows and columns, each counted once; a phase
    touching no border at all is therefore the object. Ties keep ``mask`` (so a global threshold's
    ``image > t`` stays the object when both phases touch the border equally).

    Parameters
    ----------
    mask : (H, W) array_like of bool
        One phase of a two-phase segmentation.

    Returns
    -------
    (H, W) ndarray of bool
        ``mask`` or ``~mask``.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.levelset.polarity import orient_by_border
    >>> ring = np.ones((4, 4), bool)
    >>> ring[1:3, 1:3] = False          # the phase on the border is the background
    >>> orient_by_border(ring).astype(int)
    array([[0, 0, 0, 0],
           [0, 1, 1, 0],
           [0, 1, 1, 0],
           [0, 0, 0, 0]])
    """
    mask = np.asarray(mask, dtype=bool)
    on, off = border_counts(mask)
    return ~mask if on > off else mask


def sample_prefers_complement(mask: np.ndarray, region: np.ndarray | None) -> bool:
    """True when :func:`orient_by_sample` takes the complement of ``mask``: by ``region``
    (:func:`prefers_complement`) when there is one, else by the border (:func:`orient_by_border`).

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.levelset.polarity import sample_prefers_complement
    >>> frame = np.ones((4, 4), bool); frame[1:3, 1:3] = False
    >>> sample_prefers_complement(frame, None), sample_prefers_complement(frame, frame)
    (True, False)
    """
    mask = np.asarray(mask, dtype=bool)
    if region is not None:
        return prefers_complement(mask, region)
    on, off = border_counts(mask)
    return on > off


def orient_by_sample(mask: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    """The phase choice of ``polarity="sample"``: :func:`orient_by_region` with the sample's initial
    region, or :func:`orient_by_border` for a sample without one.

    Examples
    --------
    Chan–Vese from the checkerboard on an image with no initial region: the phase on the frame is
    the background, whichever sign the level set gave it:

    >>> import numpy as np
    >>> from lsbench.levelset.polarity import orient_by_sample
    >>> frame = np.ones((5, 5), bool)
    >>> frame[1:4, 1:4] = False
    >>> orient_by_sample(frame, None).astype(int)
    array([[0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 0, 0, 0]])
    >>> bool((orient_by_sample(frame, frame) == frame).all())   # a region decides when there is one
    True
    """
    mask = np.asarray(mask, dtype=bool)
    return ~mask if sample_prefers_complement(mask, region) else mask

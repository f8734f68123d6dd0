"""Sanity baselines for the single-object benchmark: a global threshold and the initial box.

A level-set method earns its place in Table 2 by what it adds to what it was given. Two
baselines make that visible, registered like any method (``otsu`` and ``box``, tag
``"baseline"``):

* :func:`otsu`: scikit-image's :func:`~skimage.filters.threshold_otsu` on the grey image, one
  global threshold, oriented by a named polarity rule (:mod:`lsbench.levelset.polarity`). A
  family of scenes that this solves does not test what a level set adds over a global model.
* :func:`box`: the sample's initial region itself used as the mask (on the synthetic set the
  ground-truth box grown by 8 %), i.e. the prior every box-initialised method starts from.

Both are pure functions of NumPy arrays in the style of the classic methods.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lsbench.levelset.polarity import orient_by_border, orient_by_region
from lsbench.levelset.validate import check_choice, check_image_2d

__all__ = ["POLARITIES", "box", "otsu"]

#: polarity rules of :func:`otsu`: ``"border"`` needs no ground truth, ``"sample"`` reads the
#: sample's initial region (ground-truth-derived on the synthetic set)
POLARITIES = ("border", "sample")


def _check_region(region: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(region)
    if arr.dtype != bool:
        raise TypeError(f"region must be a boolean array, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"region has shape {arr.shape}, the image has shape {shape}")
    return arr


def otsu(image: Any, *, polarity: str = "border", region: Any = None) -> np.ndarray:
    """Segment ``image`` by one global Otsu threshold; the object phase is chosen by ``polarity``.

    Parameters
    ----------
    image : (H, W) array_like
        Grey image, any range (Otsu's threshold is invariant to affine rescaling).
    polarity : {"border", "sample"}
        Which phase is the object. ``"border"``: the phase touching less of the image border
        (:func:`lsbench.levelset.polarity.orient_by_border`), no ground-truth input.
        ``"sample"``: the phase concentrated in ``region``
        (:func:`lsbench.levelset.polarity.orient_by_region`), the rule ``cv`` uses.
    region : (H, W) ndarray of bool, optional
        The sample's initial region; required by ``polarity="sample"``, ignored otherwise.

    Returns
    -------
    (H, W) ndarray of bool
        ``image > t`` or its complement, ``t = threshold_otsu(image)``. A constant image gives
        an empty ``image > t`` (and its orientation by the rule).

    Notes
    -----
    Otsu's threshold maximises the between-class variance of the grey-level histogram (256
    bins, scikit-image's implementation).

    References
    ----------
    N. Otsu, "A threshold selection method from gray-level histograms", IEEE Trans. Systems,
    Man, and Cybernetics 9(1):62-66, 1979. doi:10.1109/TSMC.1979.4310076

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((5, 5))
    >>> img[1:4, 1:4] = 0.8
    >>> otsu(img).astype(int)
    array([[0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 0, 0, 0]])
    >>> otsu(1 - img).astype(int)[2]        # a dark object: the border rule still finds it
    array([0, 1, 1, 1, 0])
    """
    from skimage.filters import threshold_otsu

    img = check_image_2d(image)
    check_choice("polarity", polarity, POLARITIES)
    if polarity == "sample" and region is None:
        raise ValueError('polarity="sample" needs the sample\'s initial region (region=None was given); '
                         'use polarity="border" for a rule that needs none')
    mask = img > threshold_otsu(img)
    if polarity == "border":
        return orient_by_border(mask)
    return orient_by_region(mask, _check_region(region, img.shape))


def box(image: Any, *, region: Any) -> np.ndarray:
    """The initial region itself as the segmentation (the prior a box-initialised method starts from).

    Parameters
    ----------
    image : (H, W) array_like
        Grey image; only its shape is used.
    region : (H, W) ndarray of bool
        The sample's initial region.

    Returns
    -------
    (H, W) ndarray of bool
        A copy of ``region``.

    Examples
    --------
    >>> import numpy as np
    >>> region = np.zeros((3, 4), bool)
    >>> region[1, 1:3] = True
    >>> box(np.zeros((3, 4)), region=region).astype(int)
    array([[0, 0, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 0, 0]])
    """
    img = check_image_2d(image)
    if region is None:
        raise ValueError("box needs the sample's initial region (region=None was given)")
    return _check_region(region, img.shape).copy()

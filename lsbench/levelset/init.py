"""Initial level-set functions (phi > 0 inside) and the resolver shared by the classic methods.

Each classic method accepts ``init`` as a preset name, a float array (used as phi0 as is) or a
bool mask (converted the way that method's reference code converts its initial region: a
signed distance for CV and L2S, a binary step +-c0 for the Li family).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = [
    "PRESETS",
    "binary_step",
    "box",
    "box_mask",
    "checkerboard",
    "circle",
    "disk",
    "disks",
    "resolve_init",
    "resolve_inits",
    "signed_distance",
    "small_disk",
]


def checkerboard(shape: tuple[int, int], square_size: float = 5.0, dtype: Any = np.float64) -> np.ndarray:
    """``sin(pi y / s) sin(pi x / s)`` in ``[-1, 1]`` (Getreuer 2012; scikit-image's default).

    Built with the same floating-point operations as scikit-image (``arange * (pi / s)``), which
    keeps :func:`lsbench.classic.chan_vese` bit-compatible with ``skimage.segmentation.chan_vese``.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.levelset import checkerboard
    >>> np.round(checkerboard((4, 4), square_size=4), 3)
    array([[0.   , 0.   , 0.   , 0.   ],
           [0.   , 0.5  , 0.707, 0.5  ],
           [0.   , 0.707, 1.   , 0.707],
           [0.   , 0.5  , 0.707, 0.5  ]])
    """
    yv = np.arange(shape[0], dtype=dtype).reshape(shape[0], 1)
    xv = np.arange(shape[1], dtype=dtype)
    sf = np.pi / square_size
    xv *= sf
    yv *= sf
    return np.sin(yv) * np.sin(xv)


def _centre_distance(shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    cy, cx = int((shape[0] - 1) / 2), int((shape[1] - 1) / 2)
    res = np.ones(shape)
    res[cy, cx] = 0.0
    return ndimage.distance_transform_edt(res), float(min(cx, cy))


def disk(shape: tuple[int, int], dtype: Any = np.float64) -> np.ndarray:
    """scikit-image's ``'disk'``: ``(R - dist) / R`` with R = min half-size, values in ``[-, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.levelset import disk
    >>> np.round(disk((5, 5)), 3)
    array([[-0.414, -0.118,  0.   , -0.118, -0.414],
           [-0.118,  0.293,  0.5  ,  0.293, -0.118],
           [ 0.   ,  0.5  ,  1.   ,  0.5  ,  0.   ],
           [-0.118,  0.293,  0.5  ,  0.293, -0.118],
           [-0.414, -0.118,  0.   , -0.118, -0.414]])
    """
    dist, radius = _centre_distance(shape)
    radius = max(radius, 1.0)
    return ((radius - dist) / radius).astype(dtype, copy=False)


def small_disk(shape: tuple[int, int], dtype: Any = np.float64) -> np.ndarray:
    """scikit-image's ``'small disk'``: ``(R/2 - dist) / (3R/2)``.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.levelset import small_disk
    >>> phi = small_disk((5, 5))
    >>> round(float(phi[2, 2]), 3), int((phi > 0).sum())
    (0.333, 1)
    """
    dist, radius = _centre_distance(shape)
    radius = max(radius, 1.0) / 2.0
    return ((radius - dist) / (radius * 3)).astype(dtype, copy=False)


def circle(shape: tuple[int, int], radius: float | None = None, dtype: Any = np.float64) -> np.ndarray:
    """Signed distance (pixel units) to a centred circle, default radius 1/3 of the short side.

    Examples
    --------
    >>> from lsbench.levelset import circle
    >>> phi = circle((9, 9), radius=3)
    >>> float(phi[4, 4]), float(phi[4, 0]), int((phi > 0).sum())
    (3.0, -1.0, 25)
    """
    h, w = shape
    r = min(h, w) / 3.0 if radius is None else float(radius)
    yy, xx = np.mgrid[0:h, 0:w]
    return (r - np.hypot(yy - (h - 1) / 2.0, xx - (w - 1) / 2.0)).astype(dtype, copy=False)


def disks(shape: tuple[int, int], radius: int = 3) -> np.ndarray:
    """RLS's phi0: a {0, 1} lattice of disks of ``radius`` every ``2 (radius + 1)`` pixels.

    Le et al.'s ``generate_data.py::gen_phi(shape, 'whole')`` (dilation of a point lattice by
    ``disk(3)``, cropped to H x W). Returned as ``+1`` inside the disks and ``-1`` outside so that
    it follows lsbench's phi > 0 inside convention.

    Examples
    --------
    >>> from lsbench.levelset import disks
    >>> (disks((8, 8), radius=1) > 0).astype(int)
    array([[0, 1, 0, 0, 0, 1, 0, 0],
           [1, 1, 1, 0, 1, 1, 1, 0],
           [0, 1, 0, 0, 0, 1, 0, 0],
           [0, 0, 0, 0, 0, 0, 0, 0],
           [0, 1, 0, 0, 0, 1, 0, 0],
           [1, 1, 1, 0, 1, 1, 1, 0],
           [0, 1, 0, 0, 0, 1, 0, 0],
           [0, 0, 0, 0, 0, 0, 0, 0]])
    """
    h, w = shape
    step = 2 * (radius + 1)
    seeds = np.zeros((h + step, w + step), dtype=bool)
    seeds[radius::step, radius::step] = True
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    footprint = (yy * yy + xx * xx) <= radius * radius
    grown = ndimage.binary_dilation(seeds, structure=footprint)[:h, :w]
    return np.where(grown, 1.0, -1.0)


def box_mask(shape: tuple[int, int], margin: float = 0.125) -> np.ndarray:
    """A centred rectangle leaving ``margin`` (fraction of each side) free on every side.

    Examples
    --------
    >>> from lsbench.levelset import box_mask
    >>> box_mask((8, 8), margin=0.25).astype(int)
    array([[0, 0, 0, 0, 0, 0, 0, 0],
           [0, 0, 0, 0, 0, 0, 0, 0],
           [0, 0, 1, 1, 1, 1, 0, 0],
           [0, 0, 1, 1, 1, 1, 0, 0],
           [0, 0, 1, 1, 1, 1, 0, 0],
           [0, 0, 1, 1, 1, 1, 0, 0],
           [0, 0, 0, 0, 0, 0, 0, 0],
           [0, 0, 0, 0, 0, 0, 0, 0]])
    """
    h, w = shape
    my, mx = round(h * margin), round(w * margin)
    m = np.zeros(shape, dtype=bool)
    m[my : max(h - my, my + 1), mx : max(w - mx, mx + 1)] = True
    return m


def box(shape: tuple[int, int], margin: float = 0.125, dtype: Any = np.float64) -> np.ndarray:
    """Signed distance to :func:`box_mask`.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.levelset import box
    >>> np.round(box((6, 6), margin=1/3), 2)
    array([[-2.33, -1.74, -1.5 , -1.5 , -1.74, -2.33],
           [-1.74, -0.91, -0.5 , -0.5 , -0.91, -1.74],
           [-1.5 , -0.5 ,  0.5 ,  0.5 , -0.5 , -1.5 ],
           [-1.5 , -0.5 ,  0.5 ,  0.5 , -0.5 , -1.5 ],
           [-1.74, -0.91, -0.5 , -0.5 , -0.91, -1.74],
           [-2.33, -1.74, -1.5 , -1.5 , -1.74, -2.33]])
    """
    return signed_distance(box_mask(shape, margin)).astype(dtype, copy=False)


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Signed Euclidean distance in pixels, positive inside, zero level between pixel centres.

    ``phi = d_in - 1/2`` inside and ``-(d_out - 1/2)`` outside, i.e. Mukherjee & Acton's
    ``-(bwdist(m) - bwdist(1-m) + m - 0.5)``. An all-True (all-False) mask gives a constant
    ``+max(H, W)`` (``-max(H, W)``).

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.levelset import signed_distance
    >>> mask = np.array([[0, 0, 1, 1, 1, 0, 0]], dtype=bool)
    >>> signed_distance(mask)
    array([[-1.5, -0.5,  0.5,  1.5,  0.5, -0.5, -1.5]])
    >>> signed_distance(np.ones((2, 3), dtype=bool))
    array([[3., 3., 3.],
           [3., 3., 3.]])
    """
    m = np.asarray(mask, dtype=bool)
    if m.all():
        return np.full(m.shape, float(max(m.shape)))
    if not m.any():
        return np.full(m.shape, -float(max(m.shape)))
    inside = ndimage.distance_transform_edt(m)
    outside = ndimage.distance_transform_edt(~m)
    return inside - outside - m + 0.5


def binary_step(mask: np.ndarray, c0: float = 2.0) -> np.ndarray:
    """The Li-family initial function: ``+c0`` in the region, ``-c0`` outside (phi > 0 inside).

    Li's MATLAB code uses the opposite sign (``-c0`` inside); lsbench flips it at the boundary.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.levelset import binary_step
    >>> binary_step(np.array([[0, 0, 1, 1, 1, 0, 0]], dtype=bool), c0=2.0)
    array([[-2., -2.,  2.,  2.,  2., -2., -2.]])
    """
    return np.where(np.asarray(mask, dtype=bool), float(c0), -float(c0))


#: Preset name -> builder called as ``builder(shape, dtype=dtype)``.
PRESETS: dict[str, Callable[..., np.ndarray]] = {
    "checkerboard": checkerboard,
    "disk": disk,
    "small disk": small_disk,
    "circle": circle,
    "box": box,
}


def resolve_init(
    init: Any,
    shape: tuple[int, int],
    *,
    mask_to_phi: Callable[[np.ndarray], np.ndarray] = signed_distance,
    presets: dict[str, Callable[..., np.ndarray]] | None = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """Turn ``init`` into a fresh float array phi0 of ``shape``.

    Parameters
    ----------
    init : str or ndarray
        A preset name, a bool mask (converted with ``mask_to_phi``) or a float array used as is.
    shape : tuple of int
        The image's ``(H, W)``.
    mask_to_phi : callable
        How this method turns an initial region into phi0.
    presets : dict, optional
        Preset name -> builder ``f(shape, dtype=...)``; defaults to :data:`PRESETS`.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.levelset import binary_step, resolve_init
    >>> mask = np.array([[0, 0, 1, 1, 1, 0, 0]], dtype=bool)
    >>> resolve_init(mask, (1, 7))                          # a bool mask -> signed distance
    array([[-1.5, -0.5,  0.5,  1.5,  0.5, -0.5, -1.5]])
    >>> resolve_init(mask, (1, 7), mask_to_phi=binary_step)  # the Li family's conversion
    array([[-2., -2.,  2.,  2.,  2., -2., -2.]])
    >>> resolve_init("box", (4, 4), dtype=np.float32).dtype
    dtype('float32')
    >>> resolve_init("square", (4, 4))
    Traceback (most recent call last):
        ...
    ValueError: init must be one of 'checkerboard', 'disk', 'small disk', 'circle', 'box' or an array; got 'square'
    """
    presets = PRESETS if presets is None else presets
    if isinstance(init, str):
        if init not in presets:
            raise ValueError(
                f"init must be one of {', '.join(map(repr, presets))} or an array; got {init!r}"
            )
        phi = presets[init](tuple(shape), dtype=dtype)
    else:
        arr = np.asarray(init)
        if arr.shape != tuple(shape):
            raise ValueError(f"init has shape {arr.shape}, expected the image's shape {tuple(shape)}")
        if arr.dtype == bool:
            phi = mask_to_phi(arr)
        elif np.issubdtype(arr.dtype, np.number):
            phi = arr
            if not np.all(np.isfinite(phi)):
                raise ValueError("init contains NaN or infinite values")
        else:
            raise TypeError(f"init must be a preset name, a bool mask or a float array, got dtype {arr.dtype}")
    return np.array(phi, dtype=dtype, copy=True)


def resolve_inits(
    init: Any,
    n: int,
    shape: tuple[int, int],
    *,
    mask_to_phi: Callable[[np.ndarray], np.ndarray] = signed_distance,
    presets: dict[str, Callable[..., np.ndarray]] | None = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """phi0 of every image of a batch of ``n`` same-size images, ``(n, H, W)`` in ``dtype``.

    ``init`` is one preset name for all images, or a sequence of ``n`` per-image inits, each
    resolved by :func:`resolve_init` (a preset name, a bool mask converted with ``mask_to_phi``,
    or a float phi0). One 2-D array is refused: it is ambiguous between "the same init for every
    image" and a mistake, so the caller says which (``[init] * n``).

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.levelset import binary_step, resolve_inits
    >>> resolve_inits("box", 3, (4, 4)).shape
    (3, 4, 4)
    >>> mask = np.array([[0, 1, 1, 0]], dtype=bool)
    >>> resolve_inits([mask, ~mask], 2, (1, 4), mask_to_phi=binary_step)
    array([[[-2.,  2.,  2., -2.]],
    <BLANKLINE>
           [[ 2., -2., -2.,  2.]]])
    >>> resolve_inits(mask, 2, (1, 4))
    Traceback (most recent call last):
        ...
    ValueError: init for a batch must be a preset name or one init per image (got one (1, 4) array; pass [init] * len(images) to use it for every image)
    """
    if isinstance(init, str):
        one = resolve_init(init, shape, mask_to_phi=mask_to_phi, presets=presets, dtype=dtype)
        return np.broadcast_to(one, (n, *shape)).copy()  # writable, even for n == 1
    if isinstance(init, np.ndarray) and init.ndim == 2:
        raise ValueError(f"init for a batch must be a preset name or one init per image (got one {init.shape} "
                         "array; pass [init] * len(images) to use it for every image)")
    if not isinstance(init, (Sequence, np.ndarray)) or len(init) != n:
        got = len(init) if isinstance(init, (Sequence, np.ndarray)) else type(init).__name__
        raise ValueError(f"init must be a preset name or a sequence of {n} per-image inits, got {got}")
    return np.stack([resolve_init(i, shape, mask_to_phi=mask_to_phi, presets=presets, dtype=dtype) for i in init])

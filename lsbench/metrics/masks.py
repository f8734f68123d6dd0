"""Instance masks as data: compressed RLE (COCO's encoding), region IoU and MNC's boxed overlap.

Masks are ``bool`` arrays ``(N, H, W)``. Run-length encoding goes through ``pycocotools.mask``
(the encoding COCO's JSON files and ``COCOeval`` use); the RLE dicts returned here are
JSON-ready (``counts`` is an ASCII ``str``, not ``bytes``).

Region IoU (the overlap every instance metric matches on) is computed densely in NumPy:
intersections are one matrix product of the flattened masks, so the counts are exact
integers and the ratios are bit-identical to ``pycocotools.mask.iou`` on the RLEs, including
its crowd rule (``iou = |d & g| / |d|`` when ``g`` is a crowd region) and its zero-union rule.

References
----------
Lin et al., "Microsoft COCO: Common objects in context", ECCV 2014, doi:10.1007/978-3-319-10602-1_48.
Dai, He, Sun, "Instance-aware semantic segmentation via multi-task network cascades", CVPR 2016,
doi:10.1109/CVPR.2016.343 (``mask_overlap`` in ``lib/transform/mask_transform.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from lsbench.optional import require

__all__ = ["decode_rles", "encode_masks", "mask_iou", "mask_overlap", "rle_areas", "rle_boxes_xywh"]

#: exact float32 integer range: intersections of masks up to this many pixels are exact in float32
_F32_EXACT = 1 << 24


def _mask_utils() -> Any:
    """``pycocotools.mask`` (a one-line error naming the ``coco`` extra when it is not installed)."""
    return require("pycocotools.mask", "COCO RLE masks (instance datasets and metrics)")


def _as_mask_stack(name: str, masks: Any) -> np.ndarray:
    arr = np.asarray(masks)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"{name} must be a (N, H, W) stack of masks, got shape {arr.shape}")
    if arr.dtype != bool:
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must be boolean (or 0/1); binarise soft masks first")
        arr = arr.astype(bool)
    return arr


def encode_masks(masks: np.ndarray) -> list[dict[str, Any]]:
    """Compressed RLE of each mask, JSON-ready: ``{"size": [H, W], "counts": str}``.

    Parameters
    ----------
    masks : ndarray of bool, shape (N, H, W) or (H, W)

    Returns
    -------
    list of dict
        One RLE per mask, in order.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.metrics.masks import encode_masks
    >>> masks = np.zeros((1, 8, 8), dtype=bool)
    >>> masks[0, 2:6, 2:6] = True
    >>> encode_masks(masks)
    [{'size': [8, 8], 'counts': 'b04400000>'}]
    """
    mask_utils = _mask_utils()

    arr = _as_mask_stack("masks", masks)
    if arr.shape[0] == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(arr.transpose(1, 2, 0).astype(np.uint8)))
    out = []
    for rle in rles:
        counts = rle["counts"]
        out.append({"size": [int(rle["size"][0]), int(rle["size"][1])],
                    "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts})
    return out


def _to_pycoco(rles: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, rle in enumerate(rles):
        if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
            raise ValueError(f"RLE #{i} must be a dict with 'size' and 'counts', got {rle!r:.80}")
        counts = rle["counts"]
        if isinstance(counts, list):
            raise ValueError(f"RLE #{i} is uncompressed (counts is a list); "
                             "convert it with pycocotools.mask.frPyObjects first")
        out.append({"size": list(rle["size"]),
                    "counts": counts.encode("ascii") if isinstance(counts, str) else counts})
    return out


def decode_rles(rles: Sequence[dict[str, Any]], shape: tuple[int, int] | None = None) -> np.ndarray:
    """Decode compressed RLEs into a ``(N, H, W)`` bool stack.

    ``shape`` gives ``(H, W)`` for an empty list (so that zero instances still have a size).

    Examples
    --------
    >>> from lsbench.metrics.masks import decode_rles
    >>> masks = decode_rles([{"size": [8, 8], "counts": "b04400000>"}])
    >>> masks.shape, int(masks.sum()), bool(masks[0, 2:6, 2:6].all())
    ((1, 8, 8), 16, True)
    >>> decode_rles([], shape=(8, 8)).shape
    (0, 8, 8)
    """
    mask_utils = _mask_utils()

    if len(rles) == 0:
        if shape is None:
            raise ValueError("decode_rles: an empty list needs shape=(H, W)")
        return np.zeros((0, *shape), dtype=bool)
    with warnings.catch_warnings():  # pycocotools 2.0.x vs NumPy 2's __array__(copy=...) protocol
        warnings.simplefilter("ignore", DeprecationWarning)
        masks = mask_utils.decode(_to_pycoco(rles))
    return np.ascontiguousarray(masks.transpose(2, 0, 1)).astype(bool)


def rle_areas(rles: Sequence[dict[str, Any]]) -> np.ndarray:
    """Pixel counts of RLE masks (``pycocotools.mask.area``)."""
    mask_utils = _mask_utils()

    if len(rles) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(mask_utils.area(_to_pycoco(rles)), dtype=np.int64).reshape(-1)


def rle_boxes_xywh(rles: Sequence[dict[str, Any]]) -> np.ndarray:
    """Tight ``[x, y, w, h]`` boxes of RLE masks (``pycocotools.mask.toBbox``)."""
    mask_utils = _mask_utils()

    if len(rles) == 0:
        return np.zeros((0, 4), dtype=np.float64)
    return np.asarray(mask_utils.toBbox(_to_pycoco(rles)), dtype=np.float64).reshape(-1, 4)


def mask_iou(dt: np.ndarray, gt: np.ndarray, iscrowd: Sequence[bool] | np.ndarray | None = None) -> np.ndarray:
    """Region IoU between every detection mask and every ground-truth mask.

    Parameters
    ----------
    dt : ndarray of bool, shape (N, H, W)
    gt : ndarray of bool, shape (M, H, W)
    iscrowd : sequence of bool, length M, optional
        Crowd ground truths use ``|d & g| / |d|`` (COCO's rule: a detection inside a crowd
        region is not penalised for the crowd's extent).

    Returns
    -------
    ndarray of float64, shape (N, M)
        0 where the union is empty (pycocotools' convention).

    Notes
    -----
    ``|d & g|`` for all pairs is ``D @ G.T`` on the flattened 0/1 masks; float32 products are
    exact while a mask has fewer than 2**24 pixels (float64 is used beyond), and the work is
    split into blocks of detections so the float copy stays below ~64 MB.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.metrics.masks import mask_iou
    >>> square = np.zeros((1, 8, 8), dtype=bool)
    >>> square[0, 2:6, 2:6] = True
    >>> half = np.zeros((1, 8, 8), dtype=bool)
    >>> half[0, 2:6, 2:4] = True
    >>> mask_iou(np.concatenate([square, half]), square)
    array([[1. ],
           [0.5]])
    >>> mask_iou(half, square, iscrowd=[True])     # inside a crowd region: not penalised
    array([[1.]])
    """
    d = _as_mask_stack("dt", dt)
    g = _as_mask_stack("gt", gt)
    if d.shape[1:] != g.shape[1:]:
        raise ValueError(f"dt masks are {d.shape[1:]} but gt masks are {g.shape[1:]} (H, W must match)")
    n, m = d.shape[0], g.shape[0]
    crowd = np.zeros(m, dtype=bool) if iscrowd is None else np.asarray(iscrowd, dtype=bool).reshape(-1)
    if crowd.shape[0] != m:
        raise ValueError(f"iscrowd has {crowd.shape[0]} entries for {m} ground-truth masks")
    if n == 0 or m == 0:
        return np.zeros((n, m), dtype=np.float64)
    hw = d.shape[1] * d.shape[2]
    ftype = np.float32 if hw < _F32_EXACT else np.float64
    gf = g.reshape(m, hw).astype(ftype)
    block = max(1, (1 << 24) // max(hw, 1))
    inter = np.empty((n, m), dtype=np.float64)
    for start in range(0, n, block):
        df = d[start:start + block].reshape(-1, hw).astype(ftype)
        inter[start:start + block] = df @ gf.T
    area_d = d.reshape(n, hw).sum(axis=1, dtype=np.int64).astype(np.float64)
    area_g = g.reshape(m, hw).sum(axis=1, dtype=np.int64).astype(np.float64)
    union = area_d[:, None] + area_g[None, :] - inter
    union[:, crowd] = area_d[:, None]
    out = np.zeros((n, m), dtype=np.float64)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def mask_overlap(box_a: Sequence[int], box_b: Sequence[int], mask_a: np.ndarray, mask_b: np.ndarray) -> float:
    """IoU of two masks stored as crops of their boxes (MNC's ``mask_overlap``).

    Parameters
    ----------
    box_a, box_b : sequence of 4 int
        Inclusive integer boxes ``x1, y1, x2, y2`` in image pixels.
    mask_a, mask_b : ndarray of bool
        The masks inside their boxes, of shape ``(y2 - y1 + 1, x2 - x1 + 1)``.

    Returns
    -------
    float
        ``|a & b| / (|a| + |b| - |a & b|)``, counted over the boxes' common window; 0 for
        disjoint boxes or an empty union. Equal to the full-image IoU of the pasted masks.

    Examples
    --------
    A 4 x 4 box and the 4 x 2 box of its left half, each with a full mask:

    >>> import numpy as np
    >>> from lsbench.metrics.masks import mask_overlap
    >>> mask_overlap([2, 2, 5, 5], [2, 2, 3, 5], np.ones((4, 4), dtype=bool), np.ones((4, 2), dtype=bool))
    0.5
    """
    boxes = []
    for name, box, mask in (("box_a", box_a, mask_a), ("box_b", box_b, mask_b)):
        b = np.asarray(box)
        if b.shape != (4,) or not np.all(np.equal(np.round(b), b)):
            raise ValueError(f"{name} must be 4 integers x1, y1, x2, y2 (inclusive), got {box!r}")
        b = b.astype(np.int64)
        shape = (int(b[3] - b[1] + 1), int(b[2] - b[0] + 1))
        if np.shape(mask) != shape:
            raise ValueError(f"{name} {b.tolist()} needs a mask of shape {shape}, got {np.shape(mask)}")
        boxes.append(b)
    a, b = boxes
    ma, mb = np.asarray(mask_a, dtype=bool), np.asarray(mask_b, dtype=bool)
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    if x1 > x2 or y1 > y2:
        return 0.0
    h, w = y2 - y1 + 1, x2 - x1 + 1
    wa = ma[y1 - a[1]:y1 - a[1] + h, x1 - a[0]:x1 - a[0] + w]
    wb = mb[y1 - b[1]:y1 - b[1] + h, x1 - b[0]:x1 - b[0] + w]
    inter = int(np.count_nonzero(wa & wb))
    union = int(np.count_nonzero(ma)) + int(np.count_nonzero(mb)) - inter
    return 0.0 if union < 1 else inter / union

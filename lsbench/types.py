"""Plain data types that flow between datasets, methods, metrics and reports.

Everything here is NumPy-only so that importing :mod:`lsbench.types` never pulls in torch.
The conventions are fixed once for the whole package:

* images are ``float32`` arrays, ``H x W`` (grey) or ``H x W x 3`` (colour), values in ``[0, 1]``;
* masks are ``bool`` arrays, ``True`` = object;
* level sets follow **phi > 0 inside** (the object), whatever the method's reference code uses;
* instance targets and predictions use torchvision's keys: ``masks`` (N x H x W bool),
  ``labels`` (N, int64), ``boxes`` (N x 4 float32, ``x1, y1, x2, y2`` in pixels), ``scores`` (N).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Instances", "LevelSetResult", "Prediction", "Sample"]


def _as_bool_mask(name: str, value: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D mask, got an array of shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}, expected {shape} (the image's H x W)")
    return arr.astype(bool, copy=False)


@dataclass
class Instances:
    """A set of object instances in one image, in torchvision's layout.

    Parameters
    ----------
    masks : ndarray of bool, shape (N, H, W)
    labels : ndarray of int64, shape (N,)
        Contiguous class labels, ``1..K`` (0 is background and never appears here).
    boxes : ndarray of float32, shape (N, 4), optional
        ``x1, y1, x2, y2`` in pixels; computed from the masks when omitted.
    scores : ndarray of float32, shape (N,), optional
        Confidence in ``[0, 1]`` (predictions only).
    iscrowd : ndarray of bool, shape (N,), optional
        COCO crowd regions (targets only); crowd instances are never true-positive targets.
    """

    masks: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray | None = None
    scores: np.ndarray | None = None
    iscrowd: np.ndarray | None = None

    def __post_init__(self) -> None:
        masks = np.asarray(self.masks)
        if masks.ndim != 3:
            raise ValueError(f"Instances.masks must have shape (N, H, W), got {masks.shape}")
        self.masks = masks.astype(bool, copy=False)
        n = masks.shape[0]
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if self.labels.shape[0] != n:
            raise ValueError(f"Instances.labels has {self.labels.shape[0]} entries for {n} masks")
        if self.boxes is None:
            self.boxes = masks_to_boxes(self.masks)
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        if self.boxes.shape[0] != n:
            raise ValueError(f"Instances.boxes has {self.boxes.shape[0]} rows for {n} masks")
        if self.scores is not None:
            self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
            if self.scores.shape[0] != n:
                raise ValueError(f"Instances.scores has {self.scores.shape[0]} entries for {n} masks")
        if self.iscrowd is not None:
            self.iscrowd = np.asarray(self.iscrowd, dtype=bool).reshape(-1)
            if self.iscrowd.shape[0] != n:
                raise ValueError(f"Instances.iscrowd has {self.iscrowd.shape[0]} entries for {n} masks")

    def __len__(self) -> int:
        return int(self.masks.shape[0])


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight ``x1, y1, x2, y2`` boxes of bool masks (N, H, W); x2/y2 are exclusive pixel edges.

    Empty masks get an all-zero box.
    """
    masks = np.asarray(masks, dtype=bool)
    boxes = np.zeros((masks.shape[0], 4), dtype=np.float32)
    for i, m in enumerate(masks):
        rows = np.flatnonzero(m.any(axis=1))
        cols = np.flatnonzero(m.any(axis=0))
        if rows.size:
            boxes[i] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return boxes


@dataclass
class Sample:
    """One item of a dataset.

    Parameters
    ----------
    id : str
        Unique within its dataset split.
    image : ndarray of float32
        ``H x W`` or ``H x W x 3`` in ``[0, 1]``.
    mask : ndarray of bool, optional
        The single-object ground truth (``H x W``).
    gts : dict of str to ndarray, optional
        Alternative ground truths (per annotator, e.g. ``{"gt1": ..., "gt2": ...}``).
    instances : Instances, optional
        Multi-instance ground truth.
    init : ndarray of bool, optional
        A dataset-chosen initial region, so that every level-set method starts alike.
    meta : dict
        Free-form provenance (source scene, augmentation ops, file names, ...).
    """

    id: str
    image: np.ndarray
    mask: np.ndarray | None = None
    gts: dict[str, np.ndarray] | None = None
    instances: Instances | None = None
    init: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        image = np.asarray(self.image)
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
            raise ValueError(
                f"Sample {self.id!r}: image must be H x W or H x W x 3, got shape {image.shape}"
            )
        self.image = image
        hw = image.shape[:2]
        if self.mask is not None:
            self.mask = _as_bool_mask(f"Sample {self.id!r} mask", self.mask, hw)
        if self.gts is not None:
            self.gts = {k: _as_bool_mask(f"Sample {self.id!r} gts[{k!r}]", v, hw) for k, v in self.gts.items()}
        if self.init is not None:
            self.init = _as_bool_mask(f"Sample {self.id!r} init", self.init, hw)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.image.shape[0]), int(self.image.shape[1]))

    def ground_truths(self) -> dict[str, np.ndarray]:
        """All single-object ground truths by name: ``{"gt": mask}`` plus any per-annotator masks."""
        out: dict[str, np.ndarray] = {}
        if self.mask is not None:
            out["gt"] = self.mask
        if self.gts:
            out.update(self.gts)
        return out


@dataclass
class Prediction:
    """What a method returns for one sample.

    Exactly one of ``mask`` (single object) or ``instances`` is set.
    """

    mask: np.ndarray | None = None
    instances: Instances | None = None
    n_iter: int | None = None
    converged: bool | None = None
    phi: np.ndarray | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.mask is None) == (self.instances is None):
            raise ValueError("Prediction needs exactly one of mask or instances")
        if self.mask is not None:
            self.mask = _as_bool_mask("Prediction.mask", self.mask)


@dataclass
class LevelSetResult:
    """Full output of a classic level-set method (``return_result=True``).

    Attributes
    ----------
    mask : ndarray of bool
        ``phi > 0`` (the object).
    phi : ndarray
        The final level-set function, positive inside.
    energies : ndarray of float64
        Energy before each iteration (length ``n_iter``), as the method defines it.
    n_iter : int
        Iterations run.
    converged : bool
        True when the stopping rule fired before ``max_iter``.
    extras : dict
        Method-specific outputs (e.g. LIC's bias field ``"bias"``).
    """

    mask: np.ndarray
    phi: np.ndarray
    energies: np.ndarray
    n_iter: int
    converged: bool
    extras: dict[str, Any] = field(default_factory=dict)

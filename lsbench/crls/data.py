"""From :class:`~lsbench.types.Sample` to torchvision detection inputs and targets, and back.

* images: ``float32`` ``(3, H, W)`` in ``[0, 1]``; a grey ``H x W`` (or ``H x W x 1``) image is
  repeated to three channels; RGBA and other channel counts are a ``ValueError``;
* targets: torchvision's keys, ``boxes`` (N, 4) float32 ``x1, y1, x2, y2``, ``labels`` (N,)
  int64 in ``1..K``, ``masks`` (N, H, W) uint8. Crowd regions (COCO ``iscrowd``) and instances
  whose mask is empty are left out of training targets (torchvision rejects zero-area boxes; a
  crowd region is not one object). An image without instances gives ``N = 0``, which is a valid
  (all-background) training image;
* predictions: the model's per-image ``boxes``, ``labels``, ``scores`` and pasted mask
  probabilities ``(N, 1, H, W)`` become :class:`~lsbench.types.Instances` with masks thresholded at
  ``mask_threshold`` (torchvision's 0.5; MNC binarises at 0.4).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lsbench.types import Instances, Prediction, Sample

__all__ = ["image_tensor", "target_dict", "to_prediction"]


def image_tensor(image: Any, where: str = "image") -> torch.Tensor:
    """``(3, H, W)`` float32 tensor of an ``H x W`` / ``H x W x 1`` / ``H x W x 3`` image in [0, 1]."""
    arr = np.asarray(image)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{where}: image must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        hint = "; drop the alpha channel of an RGBA image (image[..., :3])" if arr.ndim == 3 and arr.shape[2] == 4 else ""
        raise ValueError(f"{where}: image must be H x W (grey) or H x W x 3 (RGB), got shape {arr.shape}{hint}")
    if min(arr.shape[:2]) < 8:
        raise ValueError(f"{where}: image must be at least 8 x 8 pixels, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):  # in the input's own type: 1e308 is finite, only float32 overflows
        raise ValueError(f"{where}: image contains NaN or infinite pixels")
    if arr.size and float(np.abs(arr).max()) > float(np.finfo(np.float32).max):
        raise ValueError(f"{where}: image values reach {float(np.abs(arr).max()):.3g}, beyond float32's range; "
                         "images are expected in [0, 1]")
    arr = arr.astype(np.float32, copy=False)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def target_dict(sample: Sample) -> dict[str, torch.Tensor]:
    """The training target of an instance sample (crowd and empty instances left out)."""
    h, w = sample.shape
    inst = sample.instances
    if inst is None:
        raise ValueError(f"sample {sample.id!r} has no instance annotations (Sample.instances); "
                         "CRLS and Mask R-CNN train on instance datasets such as shapes, sbd or coco2014")
    masks = np.asarray(inst.masks, dtype=bool)
    if masks.shape[1:] != (h, w):
        raise ValueError(f"sample {sample.id!r}: instance masks are {masks.shape[1:]}, the image is {(h, w)}")
    boxes = np.asarray(inst.boxes, dtype=np.float32).reshape(-1, 4)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]) & masks.reshape(len(masks), -1).any(1)
    if inst.iscrowd is not None:
        keep &= ~np.asarray(inst.iscrowd, dtype=bool)
    labels = np.asarray(inst.labels, dtype=np.int64)[keep]
    if labels.size and labels.min() < 1:
        raise ValueError(f"sample {sample.id!r}: instance labels must be 1..K, got {sorted(set(labels.tolist()))}")
    return {"boxes": torch.from_numpy(boxes[keep].copy()), "labels": torch.from_numpy(labels.copy()),
            "masks": torch.from_numpy(masks[keep].astype(np.uint8))}


def to_prediction(output: dict[str, torch.Tensor], shape: tuple[int, int], mask_threshold: float = 0.5) -> Prediction:
    """One image's detector output as an instance :class:`~lsbench.types.Prediction`."""
    probs = output["masks"].detach().float().cpu()
    masks = (probs[:, 0] >= mask_threshold).numpy() if len(probs) else np.zeros((0, *shape), dtype=bool)
    inst = Instances(masks=masks, labels=output["labels"].detach().cpu().numpy(),
                     boxes=output["boxes"].detach().float().cpu().numpy(),
                     scores=output["scores"].detach().float().cpu().numpy().clip(0.0, 1.0))
    return Prediction(instances=inst)

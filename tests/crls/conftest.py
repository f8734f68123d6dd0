"""Tiny detector inputs: a 2-conv stub backbone, 3 classes, 64 px images (reference §5.12)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lsbench.crls.model import build_detector, detector_config

N_CLASSES = 3
SIZE = 64


class StubBackbone(nn.Sequential):
    """Two 3 x 3 convolutions, stride 4, 8 channels."""

    out_channels = 8
    stride = 4

    def __init__(self) -> None:
        super().__init__(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU())


def tiny_config(arch: str, **kw):
    defaults = dict(min_size=SIZE, max_size=SIZE, anchor_sizes=[8, 16, 32], representation_size=32,
                    rpn_post_nms_train=50, rpn_post_nms_test=50, box_batch_size=16)
    if arch == "crls":
        defaults.update(mask_channels=4, rls_steps=2)
    elif arch == "crls-fcmask":
        defaults.update(mask_channels=4, mask_hidden=16)
    else:
        defaults.update(mask_layers=[8, 8], mask_dim=8)
    return detector_config(arch, N_CLASSES, ["disk", "square", "bar"], **{**defaults, **kw})


def tiny_model(arch: str, seed: int = 0, **kw):
    torch.manual_seed(seed)
    return build_detector(tiny_config(arch, **kw), backbone=StubBackbone())


def scene(seed: int = 0, n: int = 3, size: tuple[int, int] = (SIZE, SIZE)):
    """An image with ``n`` bright rectangles and its torchvision target."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    image = 0.2 + 0.05 * torch.rand(3, h, w, generator=g)
    boxes, masks = [], []
    for _ in range(n):
        x1, y1 = (int(v) for v in torch.randint(0, w // 2, (2,), generator=g))
        bw, bh = (int(v) for v in torch.randint(8, w // 2, (2,), generator=g))
        m = torch.zeros(h, w, dtype=torch.uint8)
        m[y1:y1 + bh, x1:x1 + bw] = 1
        image[:, m.bool()] = 0.8
        ys, xs = torch.nonzero(m, as_tuple=True)
        boxes.append([float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)])
        masks.append(m)
    target = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
              "labels": torch.randint(1, N_CLASSES + 1, (n,), generator=g),
              "masks": torch.stack(masks) if masks else torch.zeros(0, h, w, dtype=torch.uint8)}
    return image, target


@pytest.fixture(params=["crls", "maskrcnn", "crls-fcmask"])
def arch(request):
    return request.param

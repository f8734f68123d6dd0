"""A small model and loss for the DDP tests (module-level, so spawned ranks can import them).

It mirrors the contract of lsbench's training loops: a model factory, a mean loss over a batch
of (input, target) tensors, cross-entropy per pixel on a two-class output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TinySegNet(nn.Module):
    """Two 3x3 convolutions and a 1x1 two-class head on 1-channel images."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.Tanh(), nn.Conv2d(6, 6, 3, padding=1), nn.Tanh())
        self.head = nn.Conv2d(6, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def make_model() -> nn.Module:
    return TinySegNet()


def pixel_ce(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel cross-entropy of the two-class logits against the bool masks."""
    return F.cross_entropy(model(x), y.long())


def toy_data(n: int = 20, size: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy bright squares on a dark background: images (n, 1, size, size) and masks (n, size, size)."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    for i in range(n):
        y0, x0 = torch.randint(0, size // 2, (2,), generator=g).tolist()
        s = int(torch.randint(3, size // 2, (1,), generator=g))
        masks[i, y0:y0 + s, x0:x0 + s] = True
    images = masks.float() * 0.6 + 0.2 + 0.1 * torch.randn(n, size, size, generator=g)
    return images.unsqueeze(1), masks


def failing_rank(ctx, message: str) -> None:
    """A training function that raises on rank 1 (to test error reporting)."""
    if ctx.rank == 1:
        raise ValueError(message)
    ctx.barrier()

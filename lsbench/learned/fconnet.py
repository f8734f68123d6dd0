"""F-ConNet, the chapter's non-recurrent control for RLS (section 6.2).

"A simple neural network with two fully-connected layers followed by a ReLU layer in between":
the same 64 x 64 input as RLS, ``Linear(N, hidden) -> ReLU -> Linear(hidden, 2 N)`` and the same
per-pixel two-class softmax head. The chapter gives no widths beyond "the number of units in
fully-connected layers ... is 4096", so ``hidden`` defaults to ``N = H W`` and is configurable
(``reference/learned-methods.md`` §1.3). Its capacity is about that of one dense RLS step; it
exists to show that the recurrence and the level-set input carry the gain.

References
----------
.. [1] T. H. N. Le, K. Luu, C. Zhu, M. Savvides, "Recurrent level set networks for instance
   segmentation", IntechOpen, 2019, doi:10.5772/intechopen.84675.
"""

from __future__ import annotations

import torch
from torch import nn

from lsbench.levelset.validate import check_positive_int

__all__ = ["FConNet"]


class FConNet(nn.Module):
    """Two fully connected layers with a ReLU between them; logits ``(B, 2, H, W)``.

    Parameters
    ----------
    height, width : int
        Input grid (the chapter: 64 x 64).
    hidden : int, optional
        Width of the hidden layer (default ``N = H W``).

    Examples
    --------
    >>> import torch
    >>> from lsbench.learned.fconnet import FConNet
    >>> model = FConNet(8, 8)                       # Linear(64, 64), ReLU, Linear(64, 128)
    >>> sum(p.numel() for p in model.parameters())
    12480
    >>> model(torch.zeros(2, 8, 8)).shape
    torch.Size([2, 2, 8, 8])
    """

    def __init__(self, height: int = 64, width: int = 64, *, hidden: int | None = None) -> None:
        super().__init__()
        for name, value in (("height", height), ("width", width)):
            check_positive_int(name, value)
        n = height * width
        hidden = n if hidden is None else hidden
        check_positive_int("hidden", hidden)
        self.height, self.width, self.hidden = height, width, hidden
        self.layers = nn.Sequential(nn.Linear(n, hidden), nn.ReLU(), nn.Linear(hidden, 2 * n))

    def forward(self, image: torch.Tensor, phi0: torch.Tensor | None = None,
                all_steps: bool = False) -> torch.Tensor | list[torch.Tensor]:
        """Logits ``(B, 2, H, W)`` for images ``(B, H, W)``; ``phi0`` is ignored (no level set)."""
        if image.dim() != 3 or tuple(image.shape[-2:]) != (self.height, self.width):
            raise ValueError(f"F-ConNet works on (B, {self.height}, {self.width}) images, got {tuple(image.shape)}")
        out = self.layers(image.flatten(1)).view(image.shape[0], 2, self.height, self.width)
        return [out] if all_steps else out

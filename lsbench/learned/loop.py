"""What the two training loops share (:mod:`lsbench.learned.train`, :mod:`lsbench.crls.train`).

Deterministic algorithms while training, the progress bar, and a training config as the plain
dict that checkpoints store and cache keys hash.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import torch

__all__ = ["config_dict", "deterministic", "progress_bar"]


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` inside the block; the caller's setting after."""
    was_on = torch.are_deterministic_algorithms_enabled()
    was_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_on, warn_only=was_warn)


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int, desc: str, initial: int = 0) -> Iterator[Any]:
    """A tqdm bar on stderr counting batches (``None`` when not ``enabled``), closed when the block ends."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=initial, desc=desc, unit="batch", file=sys.stderr, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()


def config_dict(config: Any) -> dict[str, Any]:
    """A training-config dataclass as a plain dict, its floats as ``float`` (what checkpoints store).

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Config:
    ...     epochs: int = 2
    ...     lr: float = 1e-3
    >>> config_dict(Config())
    {'epochs': 2, 'lr': 0.001}
    """
    return {k: (float(v) if isinstance(v, float) else v) for k, v in asdict(config).items()}

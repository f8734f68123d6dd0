"""What the two training loops share (:mod:`lsbench.learned.train`, :mod:`lsbench.crls.train`).

Deterministic algorithms while training, the progress bar, the checks of a training config's
fields, and a training config as the plain dict that checkpoints store and cache keys hash.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import torch

from lsbench.levelset.validate import check_nonnegative_int, check_number, check_positive_int

__all__ = ["check_train_config", "config_dict", "deterministic", "progress_bar"]


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


def check_train_config(config: Any, *, nonnegative_ints: tuple[str, ...], nonnegative: tuple[str, ...]) -> None:
    """Check the fields every training config has (``epochs`` and ``batch_size`` positive integers, ``seed``
    a non-negative integer, ``lr`` positive, ``weight_decay`` and ``grad_clip`` non-negative,
    ``val_fraction`` in [0, 1)) and its own ``nonnegative_ints`` and ``nonnegative`` numbers."""
    for name in ("epochs", "batch_size"):
        check_positive_int(name, getattr(config, name))
    for name in ("seed", *nonnegative_ints):
        check_nonnegative_int(name, getattr(config, name))
    check_number("lr", config.lr, minimum=0, min_open=True, what="a positive number")
    for name in ("weight_decay", "grad_clip", *nonnegative):
        check_number(name, getattr(config, name), minimum=0, what="a non-negative number")
    check_number("val_fraction", config.val_fraction, minimum=0, maximum=1, max_open=True, what="in [0, 1)")

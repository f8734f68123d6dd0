"""What the batched PyTorch classic methods share: precision (devices: :mod:`lsbench.device`), inputs, compilation, retiring.

A batched method evolves ``B`` images of one size as one ``(B, H, W)`` tensor. An image leaves
the batch when its own stopping rule fires (:class:`Retirer`): its final phi and iteration count
are recorded, and the remaining images go on in a smaller batch, so a converged image stops
changing and costs nothing more.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from lsbench.levelset.validate import check_same_size_images
from lsbench.types import LevelSetResult

__all__ = [
    "DTYPES",
    "Retirer",
    "TorchThreads",
    "check_batch",
    "maybe_compiled",
    "resolve_dtype",
]

#: precision choices of the batched methods (float32 is the default)
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def resolve_dtype(dtype: Any) -> torch.dtype:
    """``"float32"`` / ``"float64"`` (or the torch dtypes) -> the torch dtype."""
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise ValueError(f"dtype must be one of {', '.join(map(repr, DTYPES))}; got {dtype!r}")


def check_batch(images: Any) -> list[np.ndarray]:
    """``images`` (a sequence of 2-D arrays, one ``(B, H, W)`` array or tensor) as checked 2-D arrays of one size."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    if isinstance(images, Sequence) and not isinstance(images, (str, bytes)):
        images = list(images)
    return check_same_size_images(images)


class TorchThreads:
    """``fn`` run on ``threads`` torch threads (the process-wide setting is restored afterwards).

    The batched classic methods default to one thread on the CPU: on a machine shared with other
    jobs a second thread mostly waits for a core (with OpenMP's default spin-waiting, which
    :mod:`lsbench.torchclassic` turns off, a two-thread Chan-Vese batch ran 30x slower than on one
    thread under a load of 15 on 2 cores, measured; passive waiting still made it 2x slower).
    """

    def __init__(self, fn: Callable[..., Any], threads: int) -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        self.fn = fn
        self.threads = threads

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return self.fn(*args, **kwargs)
        finally:
            torch.set_num_threads(before)


class _Compiled:
    """``torch.compile(fn)``, falling back to ``fn`` (with one warning) if compiling fails.

    The batch axis (axis 0 of every argument with 3 or more axes: per-image tensors are
    ``(B, ...)``, maps shared by all images must be passed as 2-D) is marked *unbacked*: one
    compilation serves every batch size, so a batch that shrinks as images stop (down to one
    image) never recompiles, while the image axes stay static, which gives the compiler the
    fastest loops (10-25 % faster than fully dynamic shapes, measured). A new image size
    compiles once more.
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.compiled = torch.compile(fn)
        self.failed = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.failed:
            for a in args:  # the batch axis of every per-image tensor may take any size
                if isinstance(a, torch.Tensor) and a.dim() >= 3:
                    torch._dynamo.decorators.mark_unbacked(a, 0)
            try:
                return self.compiled(*args, **kwargs)
            except Exception as exc:  # no C++ compiler, unsupported platform, ...
                self.failed = True
                warnings.warn(f"torch.compile of {self.fn.__name__} failed ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}); running it eagerly",
                              RuntimeWarning, stacklevel=2)
        return self.fn(*args, **kwargs)


_COMPILED: dict[Callable[..., Any], _Compiled] = {}


def maybe_compiled(fn: Callable[..., Any], enabled: bool) -> Callable[..., Any]:
    """``fn`` itself, or (``enabled``) its process-wide compiled twin."""
    if not enabled:
        return fn
    if fn not in _COMPILED:
        _COMPILED[fn] = _Compiled(fn)
    return _COMPILED[fn]


class Retirer:
    """Bookkeeping of per-image stopping: which images are still evolving, and their results.

    ``ids`` are the original batch positions of the images still in the batch. :meth:`retire`
    records the images flagged ``done`` and returns the index of those that go on, to be applied
    to every per-image tensor (``t[keep]``).
    """

    def __init__(self, n: int) -> None:
        self.ids = list(range(n))
        self.results: list[LevelSetResult | None] = [None] * n

    @property
    def active(self) -> int:
        return len(self.ids)

    def retire(self, done: torch.Tensor, phi: torch.Tensor, n_iter: int | Sequence[int], converged: bool | Sequence[bool],
               extras: Callable[[int], dict[str, Any]] | None = None) -> torch.Tensor | None:
        """Record the images where ``done`` (a ``(b,)`` bool tensor) is True.

        ``phi`` is the current ``(b, H, W)`` level set (positive inside); ``n_iter`` and
        ``converged`` are one value for all or one per image in the batch; ``extras(k)`` gives
        the method extras of batch row ``k``. Returns the row index of the images that go on
        (None when none was retired, i.e. keep everything).
        """
        flags = done.detach().cpu().numpy().astype(bool)
        if not flags.any():
            return None
        rows = np.flatnonzero(flags)
        phis = phi[torch.as_tensor(rows, device=phi.device)].detach().cpu().numpy()
        for j, k in enumerate(rows):
            n = n_iter if isinstance(n_iter, int) else int(n_iter[k])
            c = converged if isinstance(converged, bool) else bool(converged[k])
            p = phis[j]
            self.results[self.ids[k]] = LevelSetResult(
                mask=p > 0, phi=p, energies=np.zeros(0), n_iter=n, converged=c,
                extras=extras(int(k)) if extras is not None else {})
        keep = np.flatnonzero(~flags)
        self.ids = [self.ids[k] for k in keep]
        return torch.as_tensor(keep, device=phi.device, dtype=torch.long)

    def finish(self) -> list[LevelSetResult]:
        missing = [i for i, r in enumerate(self.results) if r is None]
        if missing:  # pragma: no cover - every loop retires all images before returning
            raise RuntimeError(f"images {missing} were never retired")
        return list(self.results)  # type: ignore[arg-type]

"""Where lsbench's PyTorch code runs: the one rule that turns a ``device`` parameter into a ``torch.device``.

Every method with a ``device`` parameter (the batched classic methods of
:mod:`lsbench.torchclassic`, the learned methods, CRLS and Mask R-CNN, ``lsbench train
--device``) resolves it with :func:`resolve_device`:

* ``"auto"``: the first CUDA GPU when ``torch.cuda.is_available()``, else the CPU;
* ``"cpu"``: the CPU;
* ``"cuda"`` or ``"cuda:N"``: that GPU, which must exist (an error says so otherwise: a run never
  falls back to the CPU silently when a GPU was asked for);
* a ``torch.device`` is taken as its string.

This module imports torch only when :func:`resolve_device` is called, so a run of the NumPy
methods alone never imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["DEVICES", "resolve_device"]

#: device choices ("cuda:N" is accepted too)
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: Any = "auto") -> torch.device:
    """The ``torch.device`` for ``device``: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (module docstring).

    Raises
    ------
    TypeError
        ``device`` is neither a string nor a ``torch.device``.
    ValueError
        Any other string, or a GPU that is not there.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("tpu")
    Traceback (most recent call last):
    ...
    ValueError: device must be one of 'auto', 'cpu', 'cuda' or 'cuda:N'; got 'tpu'
    """
    import torch

    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string, got {type(device).__name__}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was asked for but CUDA is not available "
                             "(torch.cuda.is_available() is False); use device='cpu' or 'auto'")
        index = int(device[5:]) if device != "cuda" else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r} was asked for but this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
        return torch.device(device)
    raise ValueError(f"device must be one of {', '.join(map(repr, DEVICES))} or 'cuda:N'; got {device!r}")

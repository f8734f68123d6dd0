"""Model configurations: the plain dicts stored in checkpoints, and the models they build.

A model config is a JSON-able dict ``{"arch": "rls" | "fconnet", "input_size": int | None,
**constructor keywords}``. ``input_size`` is the grid the segmenter resizes images to (the
chapter's 64 for ``rls`` and ``fconnet``; ``None`` = each image's own size, for ``rls-conv``).
A checkpoint only loads into a model built from an equal config (:mod:`lsbench.learned.weights`).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from lsbench.learned.fconnet import FConNet
from lsbench.learned.rls import RLS
from lsbench.levelset.validate import check_int

__all__ = ["ARCHS", "build_model", "model_config"]

ARCHS = ("rls", "fconnet")


def model_config(arch: str, input_size: int | None, **kwargs: Any) -> dict[str, Any]:
    """A checked model config; dense models get ``height = width = input_size``."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(map(repr, ARCHS))}; got {arch!r}")
    if input_size is not None:
        check_int("size", input_size, minimum=3, what="an integer >= 3 (or None for the image's own size)")
    dense = arch == "fconnet" or kwargs.get("kind", "dense") == "dense"
    if dense:
        if input_size is None:
            raise ValueError(f"{arch} with dense layers needs a fixed size (N = size^2); got size=None")
        kwargs = {**kwargs, "height": input_size, "width": input_size}
    # canonical: every constructor keyword present, so equal models have equal configs
    cls = RLS if arch == "rls" else FConNet
    defaults = {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
                if p.kind is p.KEYWORD_ONLY or (p.default is not p.empty and name not in ("self",))}
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise ValueError(f"{arch} has no model parameter(s) {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(sorted(defaults))}")
    config = {"arch": arch, "input_size": input_size, **defaults, **kwargs}
    # validate every keyword now, before any work, on a cheap 8 x 8 twin of a dense model (its random
    # initialisation must not advance the caller's global RNG)
    probe = {**config, "height": 8, "width": 8}
    with torch.random.fork_rng(devices=[]):
        build_model(probe)
    return config


def build_model(config: dict[str, Any]) -> nn.Module:
    """The (freshly initialised) model a config describes."""
    if not isinstance(config, dict) or "arch" not in config:
        raise ValueError(f"a model config is a dict with an 'arch' key, got {config!r}")
    kwargs = {k: v for k, v in config.items() if k not in ("arch", "input_size")}
    try:
        if config["arch"] == "rls":
            return RLS(**kwargs)
        if config["arch"] == "fconnet":
            return FConNet(**kwargs)
    except TypeError as exc:  # an unknown keyword
        raise ValueError(f"model config {config!r}: {exc}") from None
    raise ValueError(f"arch must be one of {', '.join(map(repr, ARCHS))}; got {config['arch']!r}")

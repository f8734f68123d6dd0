"""Local checkpoints of the learned methods: save, load, check, and the cache folder.

A checkpoint is ``torch.save`` of one plain dict, read back with
``torch.load(path, weights_only=True)`` (no pickled code is ever executed)::

    {"format": "lsbench-checkpoint", "format_version": 1,
     "method": "rls",                       # the registered method it belongs to
     "model_config": {...},                 # lsbench.learned.models.model_config(...)
     "train_config": {...},                 # lsbench.learned.train.TrainConfig as a dict
     "data": {"name", "split", "fingerprint", "n_train", "n_val", "val_groups"},
     "val_metrics": {"f_measure": ..., "loss": ..., "epoch": ...},
     "history": [{"epoch", "loss", "val_loss", "val_f_measure", "seconds"}, ...],
     "train_seconds": float, "versions": {"python", "torch", "lsbench"},
     "state_dict": {...}}

Cache: ``$LSBENCH_CACHE/checkpoints/`` when ``$LSBENCH_CACHE`` is set, else
``~/.cache/lsbench/checkpoints/``. A cached file is named ``<method>-<key>.pt`` where ``key``
hashes the method, the model config, the training config and the training set's fingerprint
(:meth:`lsbench.datasets.base.Dataset.fingerprint`), so any change to one of them selects
(or trains) another checkpoint. Nothing is ever downloaded.

Where a learned method's weights come from (:func:`resolve_weights`, the same for RLS,
rls-conv, F-ConNet, CRLS and Mask R-CNN):

1. ``weights=PATH``: that checkpoint, which must hold the same method and model config;
2. the cache: a checkpoint whose method, model config, training config and training-set
   fingerprint all match;
3. none: a :class:`MissingCheckpointError` that names the ``lsbench train`` command writing the
   missing checkpoint and its expected duration, before any work; only when the caller opts in
   (``train_missing=True``, ``lsbench run --train-missing``) is one trained right now on the
   training set (saying so on stderr, with a progress bar) and stored in the cache for the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from lsbench.atomic import atomic_file
from lsbench.errors import DataError
from lsbench.progress import count

__all__ = [
    "CheckpointError",
    "MissingCheckpointError",
    "cache_dir",
    "cached_checkpoint_path",
    "check_config",
    "checkpoint_key",
    "load_checkpoint",
    "load_state",
    "load_weights",
    "resolve_weights",
    "save_checkpoint",
]

FORMAT = "lsbench-checkpoint"
FORMAT_VERSION = 1
ENV_CACHE = "LSBENCH_CACHE"


class CheckpointError(DataError, ValueError):
    """A checkpoint file that cannot be used: unreadable, not lsbench's, or for another config."""


class MissingCheckpointError(DataError, LookupError):
    """A learned method has no weights given and no matching checkpoint in the cache, and was not
    allowed to train one (``train_missing=False``). A :class:`~lsbench.errors.DataError`: the request is
    valid, the cache lacks what it needs (exit status 1, not a refused request)."""


def cache_dir() -> Path:
    """``$LSBENCH_CACHE/checkpoints`` or ``~/.cache/lsbench/checkpoints`` (not created here)."""
    env = os.environ.get(ENV_CACHE)
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "lsbench"
    return base / "checkpoints"


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def checkpoint_key(method: str, model_config: dict[str, Any], train_config: dict[str, Any],
                   data_fingerprint: str) -> str:
    """sha256 over everything that determines a trained model (hex)."""
    payload = _canonical({"format_version": FORMAT_VERSION, "method": method, "model": model_config,
                          "train": train_config, "data": data_fingerprint})
    return hashlib.sha256(payload.encode()).hexdigest()


def cached_checkpoint_path(method: str, model_config: dict[str, Any], train_config: dict[str, Any],
                           data_fingerprint: str) -> Path:
    key = checkpoint_key(method, model_config, train_config, data_fingerprint)
    return cache_dir() / f"{method}-{key[:20]}.pt"


def _versions() -> dict[str, Any]:
    """Where the weights come from: versions, the lsbench commit (training arithmetic changes with the
    code even where the maths does not) and the CPU (its kernels round differently)."""
    from lsbench.harness.environment import cpu_name, git_commit

    try:
        lsbench_version: str | None = metadata.version("lsbench")
    except metadata.PackageNotFoundError:
        lsbench_version = None
    return {"python": sys.version.split()[0], "torch": str(torch.__version__), "lsbench": lsbench_version,
            "git": git_commit(), "cpu": cpu_name()}


def save_checkpoint(path: str | os.PathLike[str], *, method: str, model_config: dict[str, Any],
                    train_config: dict[str, Any], state_dict: dict[str, torch.Tensor],
                    data: dict[str, Any], val_metrics: dict[str, Any],
                    history: list[dict[str, Any]] | None = None, train_seconds: float | None = None) -> Path:
    """Write a checkpoint atomically (a temp file in the same folder, then a rename)."""
    path = Path(path).expanduser()
    if path.exists() and path.is_dir():
        raise IsADirectoryError(f"checkpoint path {path} is a directory; give a file name such as {path / 'rls.pt'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": method,
        "model_config": dict(model_config),
        "train_config": dict(train_config),
        "data": dict(data),
        "val_metrics": dict(val_metrics),
        "history": list(history or []),
        "train_seconds": None if train_seconds is None else float(train_seconds),
        "versions": _versions(),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in state_dict.items()},
    }
    with atomic_file(path) as tmp:
        torch.save(payload, tmp)
    return path


def check_config(path: str | os.PathLike[str], saved: dict[str, Any], requested: dict[str, Any], what: str) -> None:
    """Raise :class:`CheckpointError` listing every key where ``saved`` and ``requested`` differ."""
    diffs = []
    for key in sorted(set(saved) | set(requested)):
        a, b = saved.get(key, "<absent>"), requested.get(key, "<absent>")
        if a != b:
            diffs.append(f"{key}: checkpoint {a!r}, requested {b!r}")
    if diffs:
        raise CheckpointError(f"checkpoint {path} was saved for another {what}: " + "; ".join(diffs)
                              + " (pass matching parameters, or train one for this config with `lsbench train`)")


def load_checkpoint(path: str | os.PathLike[str], *, method: str | None = None,
                    model_config: dict[str, Any] | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint; raise a clear error for a bad file or another config.

    Parameters
    ----------
    path : path
    method : str, optional
        The registered method the checkpoint must belong to.
    model_config : dict, optional
        The model config it must have been saved with (every key compared).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    CheckpointError
        The file is corrupt or truncated, not an lsbench checkpoint, of another format version,
        of another method, or of another model config (the message lists the differing keys).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint {path} is a directory, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError,
            AttributeError, ImportError, IndexError, UnicodeDecodeError) as exc:
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
        detail = [ln for ln in lines if "WeightsUnpickler error" in ln]  # why weights_only refused it
        msg = (detail or lines or [type(exc).__name__])[0]
        raise CheckpointError(f"checkpoint {path} is corrupt or not a PyTorch file ({msg})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not an lsbench checkpoint (no 'format': {FORMAT!r} entry)")
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {ckpt.get('format_version')!r}; "
                              f"this lsbench reads version {FORMAT_VERSION}")
    for key in ("method", "model_config", "train_config", "state_dict"):
        if key not in ckpt:
            raise CheckpointError(f"checkpoint {path} lacks its {key!r} entry")
    if method is not None and ckpt["method"] != method:
        raise CheckpointError(f"checkpoint {path} holds a {ckpt['method']!r} model, not {method!r}")
    if model_config is not None:
        check_config(path, ckpt["model_config"], model_config, "model config")
    return ckpt


def load_state(model: torch.nn.Module, ckpt: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """``model.load_state_dict(ckpt["state_dict"])`` with a :class:`CheckpointError` on mismatch."""
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except (RuntimeError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(f"checkpoint {path}: its weights do not fit the model "
                              f"({' '.join(first[:3])})") from None


def load_weights(path: str | os.PathLike[str], *, method: str, model_config: dict[str, Any],
                 build: Callable[[], torch.nn.Module]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """``(model, checkpoint)``: the checkpoint at ``path`` (checked against ``method`` and ``model_config``)
    loaded into a fresh ``build()``."""
    ckpt = load_checkpoint(path, method=method, model_config=model_config)
    model = build()
    load_state(model, ckpt, path)
    return model, ckpt


def resolve_weights(method: str, model_config: dict[str, Any], train_config: dict[str, Any], *,
                    weights: str | os.PathLike[str] | None, build: Callable[[], torch.nn.Module],
                    training_set: Callable[[], Any],
                    train: Callable[[Any, Path], tuple[torch.nn.Module, dict[str, Any]]],
                    score: tuple[str, str], detail: str = "", train_missing: bool = False,
                    advice: Callable[[Any], str] | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A learned method's model and checkpoint: ``weights`` given, else the cache, else (only with
    ``train_missing``) trained now.

    Parameters
    ----------
    method, model_config, train_config
        What the checkpoint must match (``train_config`` as a dict).
    weights : path or None
        A checkpoint file to use (``None`` or ``""``: look in the cache, else train).
    build : callable
        A fresh, untrained model of ``model_config``.
    training_set : callable
        Returns the training set (a dataset with a ``fingerprint()``); called only when no
        ``weights`` are given.
    train : callable
        ``train(training_set, path) -> (model, checkpoint)`` trains and writes the checkpoint to ``path``.
    score : (str, str)
        The validation metric in the checkpoint's ``val_metrics`` and its name, reported after training.
    detail : str
        Appended to the "training one now" line (e.g. the backbone).
    train_missing : bool
        Train (and cache) a checkpoint when none is given or cached; by default that is a
        :class:`MissingCheckpointError` instead, raised before any training.
    advice : callable, optional
        ``advice(training_set) -> str``: appended to that error (the ``lsbench train`` command and
        its expected duration, :func:`lsbench.training.training_advice`).

    Returns
    -------
    (model, checkpoint)
        The checkpoint dict carries ``"path"``, the file the weights came from.

    Raises
    ------
    MissingCheckpointError
        No ``weights``, no usable cached checkpoint, and ``train_missing`` is False.
    """
    if weights is not None and weights != "":
        if not isinstance(weights, (str, os.PathLike)):
            raise TypeError(f"weights must be a checkpoint path, got {type(weights).__name__}")
        model, ckpt = load_weights(weights, method=method, model_config=model_config, build=build)
        return model, {**ckpt, "path": str(weights)}
    dataset = training_set()
    fingerprint = dataset.fingerprint()
    path = cached_checkpoint_path(method, model_config, train_config, fingerprint)
    unusable = ""
    if path.is_file():
        try:
            ckpt = load_checkpoint(path, method=method, model_config=model_config)
            if ckpt.get("data", {}).get("fingerprint") != fingerprint:
                raise CheckpointError(f"checkpoint {path} was trained on other data")
            model = build()
            load_state(model, ckpt, path)
            return model, {**ckpt, "path": str(path)}
        except CheckpointError as exc:
            unusable = str(exc)
    if not train_missing:
        found = f"the cached one is unusable ({unusable})" if unusable else f"none in the cache ({cache_dir()})"
        hint = f"; {advice(dataset)}" if advice is not None else "; pass train_missing=True to train it now"
        raise MissingCheckpointError(f"no {method} checkpoint for these parameters: no weights given and "
                                     f"{found}{hint}")
    if unusable:
        print(f"lsbench: ignoring the cached checkpoint ({unusable}); training a new one", file=sys.stderr)
    print(f"lsbench: no cached {method} checkpoint for this config and training set; training one now on "
          f"{dataset.name}/{dataset.split} ({len(dataset)} images, {count(train_config['epochs'], 'epoch')}{detail}) -> {path}",
          file=sys.stderr)
    model, ckpt = train(dataset, path)
    key, name = score
    val = ckpt.get("val_metrics", {})
    if val.get(key) is not None:
        print(f"lsbench: {method} trained in {ckpt['train_seconds']:.0f} s; validation {name} "
              f"{100 * val[key]:.1f}% (epoch {val['epoch']})", file=sys.stderr)
    return model, {**ckpt, "path": str(path)}

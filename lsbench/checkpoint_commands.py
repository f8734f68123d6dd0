"""The command lines that go with a learned method's checkpoint, and how long training takes.

* :func:`train_command`: the ``lsbench train ...`` that writes the cache entry a learned method
  looks up for given parameters, which the error of a run without weights prints
  (:func:`training_advice`, with :func:`expected_duration`);
* :func:`run_command`: the ``lsbench run ...`` that reuses what ``lsbench train`` just wrote,
  which ``lsbench train`` prints last.

Both spell every parameter that differs from the method's registered defaults, so the run
resolves exactly the checkpoint that was trained (the epochs, seed, ... are part of the cache
key, :mod:`lsbench.learned.weights`). Nothing here imports torch.
"""

from __future__ import annotations

import ast
import math
import os
import shlex
from collections.abc import Mapping
from typing import Any

from lsbench.registry import METHODS

__all__ = ["expected_duration", "run_command", "train_command", "training_advice"]

#: parameters set by a dedicated option of ``lsbench train`` (the others are ``-p NAME=VALUE``)
_TRAIN_OPTIONS = {"train_dataset": "--dataset", "train_split": "--split", "train_root": "--root", "epochs": "--epochs",
                  "seed": "--seed", "device": "--device", "backbone": "--backbone",
                  "backbone_weights": "--backbone-weights"}
#: parameters that never go into a printed command: where the weights come from, not what they are
_NOT_IN_COMMANDS = ("weights", "train_missing")


def _cli_value(value: Any) -> str:
    """``value`` as ``NAME=VALUE`` options spell it (:func:`lsbench.params.parse_value` reads it back)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        try:  # a string that would read back as another literal (e.g. "3") keeps its quotes
            ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
        return repr(value)
    return repr(value)


def _differs(value: Any, default: Any) -> bool:
    try:
        return bool(value != default)
    except Exception:  # values that do not compare (arrays): say they differ
        return True


def _non_default(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``params`` that differ from ``method``'s registered defaults (less :data:`_NOT_IN_COMMANDS`)."""
    defaults = METHODS.get(method).defaults()
    return {k: v for k, v in params.items()
            if k in defaults and k not in _NOT_IN_COMMANDS and _differs(v, defaults[k])}


def train_command(method: str, params: Mapping[str, Any]) -> str:
    """The ``lsbench train`` command that writes the cache entry the factory of ``method`` looks up for
    ``params`` (its parameters; those at their registered defaults are left out).

    Examples
    --------
    >>> from lsbench.checkpoint_commands import train_command
    >>> train_command("rls-conv", {"epochs": 2, "kernel_size": 3, "weights": None, "device": "auto"})
    'lsbench train rls-conv --epochs 2 -p kernel_size=3'
    """
    if "learned" not in METHODS.get(method).tags:
        raise ValueError(f"{method!r} is not a learned method: it has no checkpoint to train")
    non_default = _non_default(method, params)
    options = [a for key, option in _TRAIN_OPTIONS.items() if key in non_default
               for a in (option, _cli_value(non_default[key]))]
    options += [a for k, v in dict(non_default.get("train_dataset_params") or {}).items()
                for a in ("--dataset-param", f"{k}={_cli_value(v)}")]
    assignments = [a for key, value in non_default.items() if key not in (*_TRAIN_OPTIONS, "train_dataset_params")
                   for a in ("-p", f"{key}={_cli_value(value)}")]
    return shlex.join(["lsbench", "train", method, *options, *assignments])


def run_command(method: str, params: Mapping[str, Any], checkpoint: str | os.PathLike[str] | None = None) -> str:
    """The ``lsbench run`` command that uses what :func:`train_method` wrote for ``params``: the cache
    entry (``checkpoint=None``) or the file ``checkpoint`` (``--weights``).

    Every parameter that differs from the registered defaults is given with ``-p`` (the training
    data with ``--root`` and, for the instance methods, ``--dataset``/``--dataset-param``, which
    ``lsbench run`` passes on as their training data), so the run resolves the same checkpoint.

    Examples
    --------
    >>> from lsbench.checkpoint_commands import run_command
    >>> run_command("rls-conv", {"epochs": 2, "weights": None})
    'lsbench run --methods rls-conv -p rls-conv.epochs=2'
    >>> run_command("rls", {"steps": 3, "train_root": "data"}, checkpoint="rls.pt")
    'lsbench run --methods rls --root data --weights rls=rls.pt -p rls.steps=3'
    """
    entry = METHODS.get(method)
    instance = entry.kind == "instance"
    non_default = _non_default(method, params)
    args = ["lsbench", "run", "--methods", method]
    if instance:
        args += ["--dataset", str(params.get("train_dataset") or entry.defaults().get("train_dataset"))]
    if params.get("train_root"):
        args += ["--root", str(params["train_root"])]
    if instance:
        args += [a for k, v in dict(params.get("train_dataset_params") or {}).items()
                 for a in ("--dataset-param", f"{k}={_cli_value(v)}")]
    if checkpoint is not None:
        args += ["--weights", f"{method}={checkpoint}"]
    given_by_options = ("train_root", *(("train_dataset", "train_dataset_params") if instance else ()))
    for key, value in non_default.items():
        if key not in given_by_options:
            args += ["-p", f"{method}.{key}={_cli_value(value)}"]
    return shlex.join(args)


def expected_duration(method: str, params: Mapping[str, Any], n_images: int) -> str:
    """How long training ``method`` with ``params`` on ``n_images`` images should take, in words.

    Scaled (by epochs and images) from the measured training of the registered defaults on a
    2-core CPU (:func:`lsbench.durations.training_seconds`, ``baselines/durations.toml``); a
    bigger model, a busy machine or another CPU changes it, a GPU shortens it.

    Examples
    --------
    >>> from lsbench.checkpoint_commands import expected_duration
    >>> expected_duration("rls-conv", {"epochs": 20}, 360)
    'about 3 min on an idle 2-core CPU, scaled from the measured default training'
    """
    from lsbench.durations import format_duration, training_seconds

    epochs = params.get("epochs", METHODS.get(method).defaults().get("epochs"))
    seconds, note = training_seconds(method, epochs, n_images)
    if math.isnan(seconds):
        return "duration not measured"
    source = "the measured default training"
    if note != "measured":  # "as <other>, not measured": borrowed from another method's measurement
        other = note.split(",")[0].removeprefix("as ")
        source = f"{other}'s measured default training ({method}'s own not measured)"
    return f"about {format_duration(seconds)} on an idle 2-core CPU, scaled from {source}"


def training_advice(method: str, params: Mapping[str, Any], n_images: int) -> str:
    """What to do when a learned method has neither weights nor a cached checkpoint: the ``lsbench
    train`` command, its expected duration, and the opt-in that trains on the spot."""
    return (f"train it first with `{train_command(method, params)}` ({expected_duration(method, params, n_images)}), "
            "or add --train-missing to train it now (Python: train_missing=True)")

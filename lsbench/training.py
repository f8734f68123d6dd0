"""Train a registered learned method by name and write its checkpoint: what ``lsbench train`` runs.

:func:`train_method` takes a method's parameters as registered (``lsbench list methods -v``),
trains it on a registered dataset split and writes the checkpoint either to a named file or to
the cache entry that ``lsbench run`` (and the method's factory) looks up
(:mod:`lsbench.learned.weights`). The single-object methods (``rls``, ``rls-conv``,
``fconnet``) train with :mod:`lsbench.learned.train`, optionally data-parallel on ``nproc``
processes; the instance methods (``crls``, ``maskrcnn``) with :mod:`lsbench.crls.train`,
resumable from their state file. Nothing here imports torch until a training starts.
"""

from __future__ import annotations

import ast
import os
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsbench.levelset.validate import check_positive_int
from lsbench.params import check_name
from lsbench.registry import DATASETS, METHODS

__all__ = ["SOURCE_PARAMS", "TrainedCheckpoint", "default_training_dataset", "expected_duration", "learned_methods",
           "run_command", "train_command", "train_method", "trainable_params", "training_advice"]

#: registered parameters that say where weights and training data come from, and whether a missing
#: checkpoint may be trained on the spot: set by :func:`train_method`'s own arguments, never trained
SOURCE_PARAMS = ("weights", "train_missing", "train_dataset", "train_split", "train_root", "backbone_weights",
                 "train_dataset_params")
#: parameters set by a dedicated option of ``lsbench train`` (the others are ``-p NAME=VALUE``)
_TRAIN_OPTIONS = {"train_dataset": "--dataset", "train_split": "--split", "train_root": "--root", "epochs": "--epochs",
                  "seed": "--seed", "device": "--device", "backbone": "--backbone",
                  "backbone_weights": "--backbone-weights"}
#: parameters that never go into a printed command: where the weights come from, not what they are
_NOT_IN_COMMANDS = ("weights", "train_missing")
#: measured training of each built-in learned method at its registered defaults: (wall seconds,
#: epochs, training-split images), on the 2-core CPU of reports/results.md ("Learned
#: single-object methods", c6df5c8; "CRLS and Mask R-CNN on shapes", 870ca46, one core each)
MEASURED_TRAINING = {"rls": (242.0, 10, 360), "rls-conv": (223.0, 20, 360), "fconnet": (124.0, 30, 360),
                     "crls": (27.9 * 60, 7, 2000), "maskrcnn": (20.4 * 60, 7, 2000)}
#: arguments of :func:`train_method` that only the instance methods take, as ``lsbench train`` spells them
_INSTANCE_ONLY = {"backbone": "--backbone", "backbone_weights": "--backbone-weights",
                  "dataset_params": "--dataset-param", "resume": "--resume"}


@dataclass(frozen=True)
class TrainedCheckpoint:
    """What :func:`train_method` wrote: the checkpoint file and its contents."""

    method: str
    path: Path
    checkpoint: dict[str, Any]
    dataset: str
    #: True when written to the cache entry that ``lsbench run`` looks up (no ``out`` given)
    cached: bool
    #: every parameter of the method's factory the checkpoint was trained with (for :func:`run_command`)
    params: dict[str, Any]


def learned_methods() -> list[str]:
    """The registered methods that can be trained (tagged ``learned``)."""
    return [n for n in METHODS.names() if "learned" in METHODS.get(n).tags]


def trainable_params(method: str) -> dict[str, Any]:
    """The registered defaults of ``method`` less :data:`SOURCE_PARAMS`; ``ValueError`` for a method
    that does not learn.

    Examples
    --------
    >>> "epochs" in trainable_params("rls") and "weights" not in trainable_params("rls")
    True
    >>> trainable_params("cv")
    Traceback (most recent call last):
    ...
    ValueError: 'cv' is not a learned method; choose from: crls, fconnet, maskrcnn, rls, rls-conv
    """
    learned = learned_methods()
    if method not in learned:
        raise ValueError(f"{method!r} is not a learned method; choose from: {', '.join(learned)}")
    return {k: v for k, v in METHODS.get(method).defaults().items() if k not in SOURCE_PARAMS}


def default_training_dataset(method: str) -> str:
    """The dataset ``method`` trains on unless told otherwise (its registered ``train_dataset``)."""
    trainable_params(method)
    return str(METHODS.get(method).defaults().get("train_dataset", "synthetic"))


def train_method(method: str, *, dataset: str | None = None, split: str = "train",
                 root: str | os.PathLike[str] | None = None, params: Mapping[str, Any] | None = None,
                 backbone: str | None = None, backbone_weights: str | os.PathLike[str] | None = None,
                 dataset_params: Mapping[str, Any] | None = None, out: str | os.PathLike[str] | None = None,
                 nproc: int = 1, resume: bool = False, progress: bool = True,
                 log: Callable[[str], None] | None = None) -> TrainedCheckpoint:
    """Train ``method`` on ``dataset``/``split`` and write its checkpoint.

    Parameters
    ----------
    method : str
        A learned method (:func:`learned_methods`).
    dataset, split, root
        The training data (default dataset: :func:`default_training_dataset`).
    params : mapping
        Any of :func:`trainable_params` (``epochs``, ``seed``, ``device``, ``lr``, ...); the
        others keep their registered defaults.
    backbone, backbone_weights, dataset_params, resume
        Instance methods only: the backbone, a local state dict it starts from, the dataset's
        options, and whether to continue an interrupted training from its state file
        (``<checkpoint>.state``; without ``resume`` an old state file is deleted).
    out : path, optional
        The checkpoint file; default: the cache entry ``lsbench run`` looks up.
    nproc : int
        Single-object methods: train data-parallel on this many processes.
    progress : bool
        Progress bars on stderr.
    log : callable, optional
        Receives the lines said before and during training (default: printed to stderr).

    Returns
    -------
    TrainedCheckpoint
    """
    say = log or (lambda line: print(line, file=sys.stderr))
    trainable = trainable_params(method)
    instance = METHODS.get(method).kind == "instance"
    dataset = dataset or default_training_dataset(method)
    DATASETS.get(dataset)
    if not instance:
        _refuse_instance_options(method, backbone=backbone is not None, backbone_weights=backbone_weights is not None,
                                 dataset_params=bool(dataset_params), resume=resume)
    for name in params or {}:
        check_name(name, "params", name, trainable, owner=method, what="trainable parameter")
    values = _factory_params(method, params or {}, backbone=backbone, backbone_weights=backbone_weights)
    values.update(train_dataset=dataset, train_split=split, train_root=None if root is None else str(root),
                  weights=None, **({"train_dataset_params": dict(dataset_params)} if dataset_params else {}))
    target = None if out is None else Path(out)
    if target is not None and target.is_dir():
        raise IsADirectoryError(f"--out {target} is a directory; give a checkpoint file name")
    check_positive_int("--nproc", nproc)
    if instance:
        if nproc != 1:
            raise ValueError(f"data-parallel training is for rls, rls-conv and fconnet, not {method!r}")
        path, ckpt, name = _train_detector(method, values, target, resume=resume, progress=progress, say=say)
    else:
        path, ckpt, name = _train_single(method, values, target, nproc=nproc, progress=progress, say=say)
    return TrainedCheckpoint(method=method, path=path, checkpoint=ckpt, dataset=name, cached=out is None,
                             params=values)


def _refuse_instance_options(method: str, **given: bool) -> None:
    for key, flag in _INSTANCE_ONLY.items():
        if given[key]:
            raise ValueError(f"{flag} applies to crls and maskrcnn only, not {method!r}")


def _factory_params(method: str, params: Mapping[str, Any], *, backbone: str | None,
                    backbone_weights: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The registered defaults of ``method`` with ``params`` and the backbone options applied."""
    values = {**METHODS.get(method).defaults(), **params}
    if backbone is not None:
        values["backbone"] = backbone
    if backbone_weights is not None:
        if not Path(backbone_weights).expanduser().is_file():
            raise FileNotFoundError(f"--backbone-weights {backbone_weights} does not exist")
        values["backbone_weights"] = str(backbone_weights)
    return values


def _train_single(method: str, values: dict[str, Any], out: Path | None, *, nproc: int, progress: bool,
                  say: Callable[[str], None]) -> tuple[Path, dict[str, Any], str]:
    """rls, rls-conv, fconnet: train (on ``nproc`` processes) and write the checkpoint."""
    from lsbench.datasets import load
    from lsbench.device import resolve_device
    from lsbench.learned.segmenter import configs_from_params, train_and_save
    from lsbench.learned.weights import cached_checkpoint_path

    config, train_config = configs_from_params(method, values)
    device = resolve_device(values["device"])
    data = load(values["train_dataset"], root=values["train_root"], split=values["train_split"])
    target = out if out is not None else cached_checkpoint_path(method, config, train_config.as_dict(),
                                                                data.fingerprint())
    where = f"{device}" if nproc == 1 else f"{nproc} processes ({device})"
    say(f"training {method} on {data.name}/{data.split} ({len(data)} images) for {train_config.epochs} epochs on "
        f"{where}")
    _, ckpt = train_and_save(method, config, train_config, data, target, device=device, progress=progress,
                             nproc=nproc)
    return target, ckpt, data.name


def _train_detector(method: str, values: dict[str, Any], out: Path | None, *, resume: bool, progress: bool,
                    say: Callable[[str], None]) -> tuple[Path, dict[str, Any], str]:
    """crls, maskrcnn: train (resuming the state file when asked) and write the checkpoint."""
    from lsbench.crls.segmenter import (
        configs_from_params,
        state_path_for,
        train_and_save,
        training_data,
    )
    from lsbench.device import resolve_device
    from lsbench.learned.weights import cached_checkpoint_path

    device = resolve_device(values["device"])
    train_set, val_set = training_data(values["train_dataset"], values["train_split"], values["train_root"],
                                       values.get("train_dataset_params"))
    config, train_config = configs_from_params(method, values, train_set)
    target = out if out is not None else cached_checkpoint_path(method, config, train_config.as_dict(),
                                                                train_set.fingerprint())
    state = state_path_for(target)
    if state.is_file() and not resume:
        say(f"note: {state} holds an interrupted training; starting over (pass --resume to continue it)")
        state.unlink()
    val_desc = f"{val_set.name}/{val_set.split}" if val_set is not None else \
        f"{100 * train_config.val_fraction:g}% of the training split"
    say(f"training {method} ({config['backbone']} backbone, {config['num_classes']} classes) on "
        f"{train_set.name}/{train_set.split} ({len(train_set)} images) for {train_config.epochs} epochs on "
        f"{device}; model selection on {val_desc}; state saved to {state}")
    _, ckpt = train_and_save(method, config, train_config, train_set, val_set, target, device=device,
                             progress=progress, resume=resume, backbone_weights=values.get("backbone_weights"))
    return target, ckpt, train_set.name


# -- the commands that go with a checkpoint -------------------------------------------------------------
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
    >>> train_command("rls-conv", {"epochs": 2, "kernel_size": 3, "weights": None, "device": "auto"})
    'lsbench train rls-conv --epochs 2 -p kernel_size=3'
    """
    trainable_params(method)
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
    >>> run_command("rls-conv", {"epochs": 2, "weights": None})
    'lsbench run --methods rls-conv -p rls-conv.epochs=2'
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


def _duration_text(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds / 10) * 10):.0f} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60):.0f} min"
    return f"{seconds / 3600:.1f} h"


def expected_duration(method: str, params: Mapping[str, Any], n_images: int) -> str:
    """How long training ``method`` with ``params`` on ``n_images`` images should take, in words.

    Scaled (by epochs and images) from :data:`MEASURED_TRAINING`, the measured training of the
    registered defaults on a 2-core CPU; a bigger model, a busy machine or another CPU changes
    it, a GPU shortens it.

    Examples
    --------
    >>> expected_duration("rls-conv", {"epochs": 20}, 360)
    'about 4 min on an idle 2-core CPU, scaled from the measured default training'
    """
    measured = MEASURED_TRAINING.get(method)
    if measured is None:
        return "duration not measured"
    seconds, epochs, images = measured
    epochs_now = params.get("epochs", METHODS.get(method).defaults().get("epochs", epochs))
    estimate = seconds / (epochs * images) * float(epochs_now) * n_images
    return f"about {_duration_text(estimate)} on an idle 2-core CPU, scaled from the measured default training"


def training_advice(method: str, params: Mapping[str, Any], n_images: int) -> str:
    """What to do when a learned method has neither weights nor a cached checkpoint: the ``lsbench
    train`` command, its expected duration, and the opt-in that trains on the spot."""
    return (f"train it first with `{train_command(method, params)}` ({expected_duration(method, params, n_images)}), "
            "or add --train-missing to train it now (Python: train_missing=True)")

"""Train a registered learned method by name and write its checkpoint: what ``lsbench train`` runs.

:func:`train_method` takes a method's parameters as registered (``lsbench list methods -v``),
trains it on a registered dataset split and writes the checkpoint either to a named file or to
the cache entry that ``lsbench run`` (and the method's factory) looks up
(:mod:`lsbench.learned.weights`). The single-object methods (``rls``, ``rls-conv``,
``fconnet``) train with :mod:`lsbench.learned.train`, optionally data-parallel on ``nproc``
processes; the instance methods (``crls``, ``maskrcnn``) with :mod:`lsbench.crls.train`,
resumable from their state file. :func:`cross_validate_method` (``lsbench train --cv K``)
scores a single-object method's recipe by leave-scenes-out K-fold cross-validation on the
training split (:mod:`lsbench.learned.crossval`) and writes a JSON summary, never a checkpoint.
Nothing here imports torch until a training starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsbench.errors import refusing
from lsbench.levelset.validate import check_nonnegative_int, check_positive_int
from lsbench.optional import require
from lsbench.params import check_name
from lsbench.progress import count
from lsbench.registry import DATASETS, METHODS

__all__ = ["SOURCE_PARAMS", "CrossValidation", "TrainedCheckpoint", "cross_validate_method", "cv_dir",
           "default_training_dataset", "learned_methods", "train_method", "trainable_params"]

#: registered parameters that say where weights and training data come from, and whether a missing
#: checkpoint may be trained on the spot: set by :func:`train_method`'s own arguments, never trained
SOURCE_PARAMS = ("weights", "train_missing", "train_dataset", "train_split", "train_root", "backbone_weights",
                 "train_dataset_params")
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
    #: every parameter of the method's factory the checkpoint was trained with
    #: (:func:`lsbench.checkpoint_commands.run_command` prints the run that reuses it)
    params: dict[str, Any]


def learned_methods() -> list[str]:
    """The registered methods that can be trained (tagged ``learned``)."""
    return [n for n in METHODS.names() if "learned" in METHODS.get(n).tags]


def trainable_params(method: str) -> dict[str, Any]:
    """The registered defaults of ``method`` less :data:`SOURCE_PARAMS`; ``ValueError`` for a method
    that does not learn.

    Examples
    --------
    >>> from lsbench.training import trainable_params
    >>> "epochs" in trainable_params("rls") and "weights" not in trainable_params("rls")
    True
    >>> trainable_params("cv")
    Traceback (most recent call last):
    ...
    ValueError: 'cv' is not a learned method; choose from: crls, crls-e2e, crls-fcmask, crls-lite, fconnet, maskrcnn, rls, rls-chapter, rls-conv
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

    Raises
    ------
    ValueError, TypeError, LookupError
        A refused request (:class:`lsbench.errors.RequestError`: the command line exits 2), found
        before any training: an unknown method or dataset, a bad option or parameter value, a
        device that is not there. Damaged data or checkpoints raise a
        :class:`lsbench.errors.DataError` instead, and ``OSError`` an unusable path.
    """
    say = log or (lambda line: print(line, file=sys.stderr))
    require("torch", f"training {method}")
    with refusing():  # a refused request (lsbench.errors): the options, before any work
        trainable = trainable_params(method)
        instance = METHODS.get(method).kind == "instance"
        dataset = dataset or default_training_dataset(method)
        DATASETS.get(dataset)
        if not instance:
            _refuse_instance_options(method, backbone=backbone is not None,
                                     backbone_weights=backbone_weights is not None,
                                     dataset_params=bool(dataset_params), resume=resume)
        for name in params or {}:
            check_name(name, "params", name, trainable, owner=method, what="trainable parameter")
        values = _factory_params(method, params or {}, backbone=backbone, backbone_weights=backbone_weights)
        values.update(train_dataset=dataset, train_split=split, train_root=None if root is None else str(root),
                      weights=None, **({"train_dataset_params": dict(dataset_params)} if dataset_params else {}))
        check_positive_int("--nproc", nproc)
        if instance and nproc != 1:
            raise ValueError(f"data-parallel training is for rls, rls-conv and fconnet, not {method!r}")
    target = None if out is None else Path(out)
    if target is not None and target.is_dir():
        raise IsADirectoryError(f"--out {target} is a directory; give a checkpoint file name")
    if instance:
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

    with refusing():  # the model, training and data options (damaged data is a DataError, left alone)
        config, train_config = configs_from_params(method, values)
        device = resolve_device(values["device"])
        data = load(values["train_dataset"], root=values["train_root"], split=values["train_split"])
    target = out if out is not None else cached_checkpoint_path(method, config, train_config.as_dict(),
                                                                data.fingerprint())
    where = f"{device}" if nproc == 1 else f"{nproc} processes ({device})"
    say(f"training {method} on {data.name}/{data.split} ({len(data)} images) for {count(train_config.epochs, 'epoch')} on "
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

    with refusing():  # the model, training and data options (damaged data is a DataError, left alone)
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
        f"{train_set.name}/{train_set.split} ({len(train_set)} images) for {count(train_config.epochs, 'epoch')} on "
        f"{device}; model selection on {val_desc}; state saved to {state}")
    _, ckpt = train_and_save(method, config, train_config, train_set, val_set, target, device=device,
                             progress=progress, resume=resume, backbone_weights=values.get("backbone_weights"))
    return target, ckpt, train_set.name


# -- cross-validation of a recipe (lsbench train --cv K) ----------------------------------------------
CV_FORMAT = "lsbench-cv"


@dataclass(frozen=True)
class CrossValidation:
    """What :func:`cross_validate_method` measured and where it wrote the summary."""

    method: str
    path: Path
    summary: dict[str, Any]

    @property
    def mean(self) -> float:
        return float(self.summary["mean_f_measure"])

    @property
    def std(self) -> float:
        return float(self.summary["std_f_measure"])


def cv_dir() -> Path:
    """Where cross-validation summaries go by default: ``cv/`` beside the checkpoint cache
    (``$LSBENCH_CACHE/cv`` or ``~/.cache/lsbench/cv``)."""
    from lsbench.learned.weights import cache_dir

    return cache_dir().parent / "cv"


def cross_validate_method(method: str, k: int, *, dataset: str | None = None, split: str = "train",
                          root: str | os.PathLike[str] | None = None, params: Mapping[str, Any] | None = None,
                          cv_seed: int = 0, out: str | os.PathLike[str] | None = None, progress: bool = True,
                          log: Callable[[str], None] | None = None) -> CrossValidation:
    """Leave-scenes-out K-fold cross-validation of ``method``'s recipe on ``dataset``/``split``.

    The recipe is the method's registered parameters with ``params`` applied, as for
    :func:`train_method`. ``k`` models are trained (one per fold, progress shown), each scored on
    the scenes it never saw (:func:`lsbench.learned.crossval.cross_validate`); the per-fold
    scores and their mean and spread are written as JSON to ``out`` (default: a file under
    :func:`cv_dir` named after the method, the recipe's cache key, ``k`` and ``cv_seed``). No
    checkpoint is written, so ``lsbench run`` is unaffected.

    Parameters
    ----------
    method : str
        A single-object learned method (``rls``, ``rls-chapter``, ``rls-conv``, ``fconnet``).
    k : int
        Number of folds: between 2 and the number of scenes of the split (10 on synthetic/train).
    dataset, split, root, params
        As for :func:`train_method`; the ``test`` split is refused.
    cv_seed : int
        Seeds how the scenes are dealt into folds (recipes compared with one seed see the same folds).
    out : path, optional
        The JSON summary to write.
    progress : bool
        Progress bars on stderr.
    log : callable, optional
        Receives the lines said before and after each fold (default: printed to stderr).

    Returns
    -------
    CrossValidation

    Raises
    ------
    ValueError, TypeError, LookupError
        A refused request (exit 2 on the command line), found before any training: an unknown
        or instance method, the test split, ``k`` out of range (the message names the number of
        scenes), a bad parameter.
    """
    say = log or (lambda line: print(line, file=sys.stderr))
    require("torch", f"cross-validating {method}")
    with refusing():
        trainable = trainable_params(method)
        if METHODS.get(method).kind == "instance":
            raise ValueError(f"--cv is for the single-object learned methods, not {method!r}")
        if split == "test":
            raise ValueError("refusing to cross-validate on the test split: recipes are chosen on training data")
        check_nonnegative_int("--cv-seed", cv_seed)
        for name in params or {}:
            check_name(name, "params", name, trainable, owner=method, what="trainable parameter")
        dataset = dataset or default_training_dataset(method)
        DATASETS.get(dataset)
        values = _factory_params(method, params or {}, backbone=None, backbone_weights=None)
        values.update(train_dataset=dataset, train_split=split, train_root=None if root is None else str(root),
                      weights=None)
        target = None if out is None else Path(out).expanduser()
        if target is not None and target.suffix != ".json":
            raise ValueError(f"--cv-out {target} must be a .json file")
        if target is not None and target.is_dir():
            raise ValueError(f"--cv-out {target} is a directory; give a .json file name")

    from lsbench.atomic import atomic_write_json
    from lsbench.checkpoint_commands import expected_duration
    from lsbench.datasets import load
    from lsbench.device import resolve_device
    from lsbench.learned.crossval import cross_validate, scene_folds
    from lsbench.learned.segmenter import configs_from_params
    from lsbench.learned.weights import checkpoint_key

    with refusing():  # the model, training and data options, and K against the split's scenes
        config, train_config = configs_from_params(method, values)
        device = resolve_device(values["device"])
        data = load(values["train_dataset"], root=values["train_root"], split=values["train_split"])
        folds = scene_folds([data[i] for i in range(len(data))], k, cv_seed)
    fingerprint = data.fingerprint()
    key = checkpoint_key(method, config, train_config.as_dict(), fingerprint)[:20]
    target = target if target is not None else cv_dir() / f"{method}-{key}-k{k}-seed{cv_seed}.json"
    # each fold trains on the other K - 1 folds: (K - 1) x the split's images in all
    duration = expected_duration(method, values, (k - 1) * len(data))
    say(f"cross-validating {method} on {data.name}/{data.split} ({len(data)} images, "
        f"{sum(len(f) for f in folds)} scenes) with {k} leave-scenes-out folds: {k} trainings of "
        f"{count(train_config.epochs, 'epoch')} on {device} ({duration}); no checkpoint is written")

    def report(fold: Any) -> None:
        inner = "" if fold.inner_val_f_measure is None else \
            f", inner validation {100 * fold.inner_val_f_measure:.2f}% on {', '.join(fold.inner_val_scenes)}"
        say(f"fold {fold.fold}/{k}: held-out {', '.join(fold.val_scenes)} ({fold.n_val} images): "
            f"F {100 * fold.f_measure:.2f}% (epoch {fold.best_epoch}{inner}; {fold.n_train} training images, "
            f"{fold.seconds:.0f} s)")

    versions = _cv_versions()  # the code that trains: read before a long run, not after it (a commit may land meanwhile)
    result = cross_validate(config, train_config, data, k, seed=cv_seed, device=device, progress=progress,
                            desc=f"cv {method}", on_fold=report)
    summary = {"format": CV_FORMAT, "method": method,
               "dataset": {"name": data.name, "split": data.split, "fingerprint": fingerprint,
                           **({"version": data.version} if hasattr(data, "version") else {})},
               "params": {k_: v for k_, v in values.items() if k_ not in SOURCE_PARAMS},
               "model_config": config, "train_config": train_config.as_dict(), **result.as_dict(),
               "seconds": sum(f.seconds for f in result.folds), "versions": versions}
    atomic_write_json(target, summary)
    return CrossValidation(method=method, path=target, summary=summary)


def _cv_versions() -> dict[str, Any]:
    import torch

    from lsbench.harness.environment import cpu_name, git_commit

    return {"torch": str(torch.__version__), "git": git_commit(), "cpu": cpu_name()}

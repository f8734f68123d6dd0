"""Training CRLS and the Mask R-CNN baseline end to end: one summed loss, resumable, seeded.

The chapter trains CRLS with the unified loss of Eq. (32), the sum of the RPN's objectness and
box losses, the mask loss and the classification and box-refinement losses (torchvision's
``loss_objectness + loss_rpn_box_reg + loss_mask + loss_classifier + loss_box_reg``), by SGD at
learning rates 0.001 then 0.0001 (§5). lsbench's protocol, the same for both methods:

* AdamW (``optimizer="adamw"``, learning rate 1e-3, the default) or the chapter's SGD with
  momentum (``"sgd"``), a linear warm-up over the first ``warmup_iters`` iterations, then a
  cosine decay to zero (``lr_schedule="cosine"``) or the chapter's step to a tenth after 80 %
  of the iterations (``"step"``); weight decay on all weights; the global gradient norm clipped
  to ``grad_clip``; random horizontal flips. AdamW is lsbench's deviation for training from
  scratch on a CPU budget: on shapes, CRLS reached validation mAPr@0.5 0.232 after one epoch of
  a 5-epoch schedule with AdamW (lr 1e-3) against 0.114 with SGD (lr 0.02, momentum 0.9;
  0.218 after two);
* **model selection on held-out data**: after each epoch the model is scored on the validation
  images (mAPr@0.5, MNC protocol); the weights of the best epoch are kept. The validation images
  are the dataset's ``val`` split when its evaluation split is another one (shapes), otherwise a
  seeded ``val_fraction`` of the training split (SBD and COCO evaluate on ``val``, so it must
  not be used for selection). ``patience`` stops early after that many epochs without gain;
* **resumable**: every ``checkpoint_seconds`` and at each epoch's end the full training state
  (model, optimizer, scheduler, epoch and batch position, the epoch's permutation, every RNG
  state, the best weights so far, the history) is written atomically to a state file; training
  started again with the same configuration and data continues from it (on the CPU with
  deterministic algorithms, to the same weights);
* **determinism**: weights from ``torch.manual_seed(seed)``; shuffling and flips from a
  ``torch.Generator``; torchvision's RoI/anchor samplers draw from the global torch RNG, which
  is seeded too (all inside :func:`torch.random.fork_rng`, so the caller's RNG is untouched).
  Nothing else is random (the RLS's phi_0 is the fixed disk lattice), so on the CPU two
  trainings of the same code and configuration give bit-identical weights and validation
  histories, in one process or two (``tests/crls/test_determinism.py``). The float rounding,
  and with it every later step, does depend on the intra-op thread count
  (``torch.get_num_threads()``, recorded in each history row; ``OMP_NUM_THREADS=1`` and ``=2``
  differ after 8 steps), on the CPU and on code that changes the arithmetic without changing the
  maths, and training amplifies a last-bit difference into a different model. Measured with
  ``lsbench train crls --dataset shapes`` on one thread, validation mAPr@0.5 after epoch 1: 0.297
  at commit 86f1bba (curvature differences by ``torch.gradient``, RoI warp by matrix products),
  0.272 from merge ba109d1 on (the same differences by slices: equal forward, backward differing
  by 2e-6), 0.288 from 9cace64 (``roi_align`` for boxes without gradient), against 0.304 in the
  first measurement of unrecorded code; the final validation mAPr@0.5 of two such trainings
  differed by 0.5 and their test mAPr@0.5 by 1.9 points (84.1 and 82.2 %). So checkpoints record
  the lsbench commit and the CPU (:mod:`lsbench.learned.weights`), and two trainings that differ
  only in rounding should be read as two seeds.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lsbench.atomic import atomic_file
from lsbench.crls.data import image_tensor, target_dict, to_prediction
from lsbench.crls.model import build_detector
from lsbench.errors import DataError
from lsbench.learned.loop import check_train_config, config_dict, deterministic, progress_bar
from lsbench.levelset.validate import (
    check_choice,
)
from lsbench.types import Prediction, Sample

__all__ = [
    "STATE_FORMAT",
    "DetectorTrainConfig",
    "DetectorTrainResult",
    "TrainStateError",
    "evaluate_detector",
    "predict",
    "train_detector",
]

STATE_FORMAT = "lsbench-train-state"
LOSS_KEYS = ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask")
_SHORT = {"loss_objectness": "obj", "loss_rpn_box_reg": "rpn", "loss_classifier": "cls", "loss_box_reg": "box",
          "loss_mask": "mask"}
SCHEDULES = ("cosine", "step")
OPTIMIZERS = ("sgd", "adamw")


class TrainStateError(DataError, ValueError):
    """A training-state file that does not belong to this training run."""


@dataclass(frozen=True)
class DetectorTrainConfig:
    """Training hyper-parameters (stored in every checkpoint and part of its cache key).

    Parameters
    ----------
    epochs : int
    batch_size : int
        Images per SGD step.
    optimizer : {"sgd", "adamw"}
        SGD with momentum (the chapter's) or AdamW (``torch.optim.AdamW``; ``momentum`` unused).
    lr : float
        Peak learning rate (after the warm-up).
    momentum, weight_decay : float
    warmup_iters : int
        Linear warm-up from ``lr / 100``.
    lr_schedule : {"cosine", "step"}
    grad_clip : float
        Maximum global gradient norm (0: no clipping).
    seed : int
    hflip : bool
        Flip a random half of the training images horizontally.
    val_fraction : float
        Fraction of the training split held out for model selection when the dataset has no
        separate validation split (module docstring); 0 disables selection (last epoch kept).
    val_limit : int
        Score at most this many validation images per epoch (0: all).
    patience : int
        Stop after this many epochs without a better validation mAPr (0: never).
    backbone_weights_sha256 : str or None
        The sha256 of the ``--backbone-weights`` file the backbone started from (None: from scratch).
    """

    epochs: int = 7
    batch_size: int = 8
    optimizer: str = "adamw"
    lr: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int = 100
    lr_schedule: str = "cosine"
    grad_clip: float = 10.0
    seed: int = 0
    hflip: bool = True
    val_fraction: float = 0.1
    val_limit: int = 0
    patience: int = 0
    backbone_weights_sha256: str | None = None

    def __post_init__(self) -> None:
        check_train_config(self, nonnegative_ints=("warmup_iters", "val_limit", "patience"), nonnegative=("momentum",))
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("lr_schedule", self.lr_schedule, SCHEDULES)

    def as_dict(self) -> dict[str, Any]:
        return config_dict(self)


@dataclass
class DetectorTrainResult:
    """What :func:`train_detector` returns: the selected model and how it was obtained."""

    model: nn.Module
    val_metrics: dict[str, Any]
    history: list[dict[str, Any]]
    seconds: float
    cpu_seconds: float
    n_train: int
    n_val: int
    resumed_from: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# -- data --------------------------------------------------------------------------------------------
class _Images:
    """A dataset's images and targets as tensors, decoded once and kept (uint8 images)."""

    def __init__(self, samples: Any, indices: Sequence[int]) -> None:
        self.samples, self.indices = samples, list(indices)
        self._cache: dict[int, tuple[torch.Tensor, dict[str, torch.Tensor]]] = {}

    def __len__(self) -> int:
        return len(self.indices)

    def get(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if i not in self._cache:
            sample = self.samples[self.indices[i]]
            image = image_tensor(sample.image, f"sample {sample.id!r}")
            self._cache[i] = ((image * 255.0).round().to(torch.uint8), target_dict(sample))
        image, target = self._cache[i]
        return image.float() / 255.0, target


def _flip(image: torch.Tensor, target: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    w = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = w - target["boxes"][:, [2, 0]]
    return image.flip(-1), {**target, "boxes": boxes, "masks": target["masks"].flip(-1)}


def _to(target: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in target.items()}


# -- inference and scoring ---------------------------------------------------------------------------
@torch.inference_mode()
def predict(model: nn.Module, samples: Sequence[Sample], *, device: torch.device | str = "cpu",
            batch_size: int = 8, mask_threshold: float = 0.5) -> list[Prediction]:
    """Instance predictions of ``model`` (eval mode) for ``samples``, in order."""
    model.eval()
    out: list[Prediction] = []
    for start in range(0, len(samples), batch_size):
        part = samples[start:start + batch_size]
        images = [image_tensor(s.image, f"sample {s.id!r}").to(device) for s in part]
        for s, o in zip(part, model(images), strict=True):
            out.append(to_prediction(o, s.shape, mask_threshold))
    return out


def evaluate_detector(model: nn.Module, samples: Sequence[Sample], class_names: Sequence[str], *,
                      device: torch.device | str = "cpu", batch_size: int = 8) -> dict[str, float]:
    """mAPr@0.5 and @0.7 (MNC protocol) of ``model`` on ``samples``."""
    from lsbench.metrics.instance import MaskAP

    ap = MaskAP(variant="mnc", classes=list(class_names))
    for sample, pred in zip(samples, predict(model, samples, device=device, batch_size=batch_size), strict=True):
        ap.update(pred, sample)
    res = ap.compute()
    return {"mAPr@0.5": float(res.mean_ap[0.5]), "mAPr@0.7": float(res.mean_ap[0.7])}


# -- state file ----------------------------------------------------------------------------------------
def load_train_state(path: str | os.PathLike[str], *, method: str, model_config: dict[str, Any],
                     train_config: dict[str, Any], fingerprint: str | None) -> dict[str, Any]:
    """Read a training-state file and check it belongs to this run (method, configs, data)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file is reported the same way
        raise TrainStateError(f"training state {path} is unreadable ({type(exc).__name__}); delete it to start "
                              "over") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise TrainStateError(f"{path} is not an lsbench training-state file")
    for key, want in (("method", method), ("model_config", model_config), ("train_config", train_config),
                      ("fingerprint", fingerprint)):
        if state.get(key) != want:
            raise TrainStateError(f"training state {path} belongs to another run (its {key} differs); "
                                  "delete it or train with the same settings")
    return state


def _lr_factor(config: DetectorTrainConfig, total_iters: int) -> Any:
    warm, total = config.warmup_iters, max(1, total_iters)

    def factor(it: int) -> float:
        if it < warm:
            return 0.01 + 0.99 * it / warm
        if config.lr_schedule == "step":
            return 1.0 if it < 0.8 * total else 0.1
        progress = min(1.0, (it - warm) / max(1, total - warm))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def train_detector(model_config: dict[str, Any], config: DetectorTrainConfig, train_set: Any,
                   val_set: Any | None = None, *, method: str, device: str | torch.device = "cpu",
                   progress: bool = True, state_path: str | os.PathLike[str] | None = None,
                   resume: bool = True, checkpoint_seconds: float = 300.0,
                   backbone_weights: str | None = None) -> DetectorTrainResult:
    """Train a detector of ``model_config`` on ``train_set`` (an instance dataset or list of samples).

    The steps: the validation images (:func:`_validation_split`), the seeded model and optimizer
    (:class:`_DetectorRun`), resumed from the state file when there is one, then per epoch
    :meth:`_DetectorRun.train_epoch` (one optimizer step per shuffled, flipped batch, the state
    saved every ``checkpoint_seconds``) and :meth:`_DetectorRun.end_epoch` (validation, model
    selection, the state saved, early stopping).

    Parameters
    ----------
    model_config : dict
        :func:`lsbench.crls.model.detector_config`.
    config : DetectorTrainConfig
    train_set, val_set : Dataset or sequence of Sample
        ``val_set=None`` holds out ``config.val_fraction`` of ``train_set`` (seeded).
    method : str
        ``"crls"`` or ``"maskrcnn"`` (recorded in the state file).
    device : str or torch.device
    progress : bool
        A tqdm bar on stderr with the running mean of each loss term and the best validation mAPr.
    state_path : path, optional
        Where the resumable training state is written (module docstring); None: not written.
    resume : bool
        Continue from ``state_path`` when it exists (it must belong to this run, else
        :class:`TrainStateError`).
    checkpoint_seconds : float
        Write the state at least this often (and at every epoch's end).
    backbone_weights : path, optional
        A local state dict the backbone starts from (``model_config["backbone_pretrained"]``
        must be True).

    Returns
    -------
    DetectorTrainResult
    """
    if not isinstance(config, DetectorTrainConfig):
        raise TypeError(f"config must be a DetectorTrainConfig, got {type(config).__name__}")
    device = torch.device(device)
    started, cpu_started = time.perf_counter(), time.process_time()
    train, val_samples = _validation_split(train_set, val_set, config)
    fingerprint = train_set.fingerprint() if hasattr(train_set, "fingerprint") else None
    state_file = None if state_path is None else Path(state_path)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        run = _DetectorRun(model_config, config, method=method, device=device, backbone_weights=backbone_weights,
                           steps_per_epoch=math.ceil(len(train) / config.batch_size), fingerprint=fingerprint,
                           state_file=state_file, started=(started, cpu_started))
        if state_file is not None and resume and state_file.is_file():
            run.restore(load_train_state(state_file, method=method, model_config=model_config,
                                         train_config=config.as_dict(), fingerprint=fingerprint))
            print(f"lsbench: resuming {method} training from {state_file} (epoch {run.epoch}, batch {run.batch} of "
                  f"{run.steps_per_epoch})", file=sys.stderr)
        else:
            torch.manual_seed(config.seed + 1)  # the samplers' draws
        with progress_bar(progress, run.steps_per_epoch * config.epochs, f"train {method}",
                          initial=run.iteration) as bar, deterministic():
            run.last_save = time.perf_counter()
            while run.epoch <= config.epochs:
                row, t0 = run.train_epoch(train, bar, checkpoint_seconds)
                if run.end_epoch(row, t0, val_samples, model_config["class_names"], bar):
                    break
    return run.result(n_train=len(train), n_val=len(val_samples))


def _validation_split(train_set: Any, val_set: Any | None, config: DetectorTrainConfig) -> tuple[_Images, list[Sample]]:
    """The training images and the validation samples: ``val_set``, else a seeded ``val_fraction`` of ``train_set``."""
    n_all = len(train_set)
    if n_all < 1:
        raise ValueError("the training set is empty")
    if val_set is None and config.val_fraction > 0 and n_all >= 2:
        perm = np.random.default_rng(config.seed).permutation(n_all)
        n_val = max(1, round(config.val_fraction * n_all))
        val_idx, train_idx = sorted(perm[:n_val].tolist()), sorted(perm[n_val:].tolist())
        val_samples = [train_set[i] for i in val_idx]
    else:
        train_idx = list(range(n_all))
        val_samples = [] if val_set is None else [val_set[i] for i in range(len(val_set))]
    if config.val_limit:
        val_samples = val_samples[:config.val_limit]
    return _Images(train_set, train_idx), val_samples


def _optimizer(config: DetectorTrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


class _DetectorRun:
    """One detector training: the model, optimizer, schedule and position (all the state file holds), and its steps.

    Built inside the caller's ``fork_rng`` after ``torch.manual_seed(seed)``, which seeds the
    initial weights.
    """

    def __init__(self, model_config: dict[str, Any], config: DetectorTrainConfig, *, method: str,
                 device: torch.device, backbone_weights: str | None, steps_per_epoch: int, fingerprint: str | None,
                 state_file: Path | None, started: tuple[float, float]) -> None:
        self.model_config, self.config, self.method, self.device = model_config, config, method, device
        self.model = build_detector(model_config, backbone_weights=backbone_weights).to(device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = _optimizer(config, self.params)
        self.steps_per_epoch = steps_per_epoch
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer,
                                                           _lr_factor(config, steps_per_epoch * config.epochs))
        self.gen = torch.Generator().manual_seed(config.seed)
        self.epoch, self.batch, self.perm = 1, 0, None
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.stale = 0
        self.resumed_from: int | None = None
        self.spent, self.cpu_spent = 0.0, 0.0
        self.fingerprint, self.state_file = fingerprint, state_file
        self.started, self.cpu_started = started
        self.last_save = time.perf_counter()

    @property
    def iteration(self) -> int:
        """Batches trained so far (over all epochs)."""
        return (self.epoch - 1) * self.steps_per_epoch + self.batch

    # -- the state file --------------------------------------------------------------------------------
    def restore(self, st: dict[str, Any]) -> None:
        """Continue from a state written by :meth:`save_state` (checked by :func:`load_train_state`)."""
        self.model.load_state_dict(st["model"])
        self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        self.gen.set_state(st["generator"])
        torch.set_rng_state(st["torch_rng"])
        self.epoch, self.batch, self.perm = int(st["epoch"]), int(st["batch"]), st["perm"]
        self.history, self.best, self.stale = list(st["history"]), st["best"], int(st["stale"])
        self.spent, self.cpu_spent = float(st["seconds"]), float(st["cpu_seconds"])
        self.resumed_from = self.iteration

    def save_state(self) -> None:
        """Write the full training state atomically (nothing without a state file)."""
        if self.state_file is not None:
            with atomic_file(self.state_file) as tmp:
                torch.save({
                    "format": STATE_FORMAT, "method": self.method, "model_config": self.model_config,
                    "train_config": self.config.as_dict(), "fingerprint": self.fingerprint, "epoch": self.epoch,
                    "batch": self.batch, "perm": self.perm, "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                    "generator": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
                    "history": self.history, "best": self.best, "stale": self.stale,
                    "seconds": self.seconds(), "cpu_seconds": self.cpu_seconds(),
                }, tmp)
        self.last_save = time.perf_counter()

    def seconds(self) -> float:
        return self.spent + time.perf_counter() - self.started

    def cpu_seconds(self) -> float:
        return self.cpu_spent + time.process_time() - self.cpu_started

    # -- training ----------------------------------------------------------------------------------------
    def train_epoch(self, train: _Images, bar: Any, checkpoint_seconds: float) -> tuple[dict[str, Any], float]:
        """The rest of the current epoch (all of it unless resumed mid-epoch): its history row and start time."""
        self.model.train()
        t0 = time.perf_counter()
        if self.perm is None:
            self.perm = torch.randperm(len(train), generator=self.gen)
        sums = dict.fromkeys(LOSS_KEYS, 0.0)
        count = 0
        while self.batch < self.steps_per_epoch:
            losses = self._step(*self._batch(train))
            self.batch += 1
            count += 1
            for k in LOSS_KEYS:
                sums[k] += float(losses[k].detach())
            if bar is not None:
                post = {_SHORT[k]: f"{sums[k] / count:.3f}" for k in LOSS_KEYS}
                post["ep"] = self.epoch
                if self.best is not None and self.best.get("metrics"):
                    post["val"] = f"{self.best['metrics']['mAPr@0.5']:.3f}"
                bar.update(1)
                bar.set_postfix(post, refresh=False)
            if time.perf_counter() - self.last_save > checkpoint_seconds:
                self.save_state()
        row = {"epoch": self.epoch, "lr": self.optimizer.param_groups[0]["lr"],
               "threads": torch.get_num_threads(),
               **{k: sums[k] / max(count, 1) for k in LOSS_KEYS}, "loss": sum(sums.values()) / max(count, 1)}
        return row, t0

    def _batch(self, train: _Images) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
        """The current batch of the epoch's permutation, each image flipped at random (``hflip``), on the device."""
        size = self.config.batch_size
        idx = self.perm[self.batch * size:(self.batch + 1) * size].tolist()
        flips = torch.rand(len(idx), generator=self.gen) < 0.5
        images, targets = [], []
        for i, flip in zip(idx, flips.tolist(), strict=True):
            image, target = train.get(i)
            if self.config.hflip and flip:
                image, target = _flip(image, target)
            images.append(image.to(self.device))
            targets.append(_to(target, self.device))
        return images, targets

    def _step(self, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """One optimizer and schedule step on the summed loss (Eq. 32); returns the loss terms."""
        losses = self.model(images, targets)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            terms = ", ".join(f"{k} {v.item():.4g}" for k, v in losses.items())
            raise FloatingPointError(f"{self.method} training diverged at epoch {self.epoch} ({terms}); "
                                     "lower lr or grad_clip")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return losses

    def end_epoch(self, row: dict[str, Any], t0: float, val_samples: Sequence[Sample], class_names: Sequence[str],
                  bar: Any) -> bool:
        """Validate, keep the best weights, record the epoch, save the state; True when patience ran out."""
        if val_samples:
            metrics = evaluate_detector(self.model, val_samples, class_names, device=self.device)
            row.update({f"val_{k}": v for k, v in metrics.items()})
            if self.best is None or metrics["mAPr@0.5"] > self.best["metrics"]["mAPr@0.5"]:
                self.best = {"epoch": self.epoch, "metrics": metrics, "state": copy.deepcopy(self.model.state_dict())}
                self.stale = 0
            else:
                self.stale += 1
            if bar is not None:
                bar.write(f"{self.method} epoch {self.epoch}: loss {row['loss']:.3f}, validation mAPr@0.5 "
                          f"{metrics['mAPr@0.5']:.3f} (@0.7 {metrics['mAPr@0.7']:.3f})")
        row["seconds"] = time.perf_counter() - t0
        self.history.append(row)
        self.epoch, self.batch, self.perm = self.epoch + 1, 0, None
        self.save_state()
        return bool(self.config.patience and self.stale >= self.config.patience)

    def result(self, *, n_train: int, n_val: int) -> DetectorTrainResult:
        """The best epoch's weights (the last epoch's without validation) and how they were obtained."""
        if self.best is not None:
            self.model.load_state_dict(self.best["state"])
            val_metrics = {**self.best["metrics"], "epoch": self.best["epoch"], "n_images": n_val}
        else:
            val_metrics = {"mAPr@0.5": None, "mAPr@0.7": None, "epoch": len(self.history), "n_images": 0}
        self.model.eval()
        return DetectorTrainResult(model=self.model, val_metrics=val_metrics, history=copy.deepcopy(self.history),
                                   seconds=self.seconds(), cpu_seconds=self.cpu_seconds(), n_train=n_train,
                                   n_val=n_val, resumed_from=self.resumed_from)

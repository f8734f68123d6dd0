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

import contextlib
import copy
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lsbench.crls.data import image_tensor, target_dict, to_prediction
from lsbench.crls.model import build_detector
from lsbench.learned.weights import atomic_torch_save
from lsbench.levelset.validate import check_nonnegative_int, check_positive_int
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


class TrainStateError(ValueError):
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
        for name in ("epochs", "batch_size"):
            check_positive_int(name, getattr(self, name))
        for name in ("warmup_iters", "seed", "val_limit", "patience"):
            check_nonnegative_int(name, getattr(self, name))
        for name, positive in (("lr", True), ("momentum", False), ("weight_decay", False), ("grad_clip", False)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 \
                    or (positive and v == 0):
                raise ValueError(f"{name} must be a {'positive' if positive else 'non-negative'} number, got {v!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}; got {self.optimizer!r}")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(map(repr, SCHEDULES))}; got {self.lr_schedule!r}")
        if isinstance(self.val_fraction, bool) or not isinstance(self.val_fraction, (int, float)) \
                or not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")

    def as_dict(self) -> dict[str, Any]:
        return {k: (float(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}


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


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    was_on = torch.are_deterministic_algorithms_enabled()
    was_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_on, warn_only=was_warn)


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
    train = _Images(train_set, train_idx)
    class_names = model_config["class_names"]
    fingerprint = train_set.fingerprint() if hasattr(train_set, "fingerprint") else None
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total_iters = steps_per_epoch * config.epochs
    state_file = None if state_path is None else Path(state_path)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_detector(model_config, backbone_weights=backbone_weights).to(device)
        params = [p for p in model.parameters() if p.requires_grad]
        if config.optimizer == "sgd":
            optimizer: torch.optim.Optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                                               weight_decay=config.weight_decay)
        else:
            optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(config, total_iters))
        gen = torch.Generator().manual_seed(config.seed)
        epoch, batch_pos, perm_t = 1, 0, None
        history: list[dict[str, Any]] = []
        best: dict[str, Any] | None = None
        stale, resumed_from, spent, cpu_spent = 0, None, 0.0, 0.0
        if state_file is not None and resume and state_file.is_file():
            st = load_train_state(state_file, method=method, model_config=model_config,
                                  train_config=config.as_dict(), fingerprint=fingerprint)
            model.load_state_dict(st["model"])
            optimizer.load_state_dict(st["optimizer"])
            scheduler.load_state_dict(st["scheduler"])
            gen.set_state(st["generator"])
            torch.set_rng_state(st["torch_rng"])
            epoch, batch_pos, perm_t = int(st["epoch"]), int(st["batch"]), st["perm"]
            history, best, stale = list(st["history"]), st["best"], int(st["stale"])
            spent, cpu_spent = float(st["seconds"]), float(st["cpu_seconds"])
            resumed_from = (epoch - 1) * steps_per_epoch + batch_pos
            print(f"lsbench: resuming {method} training from {state_file} (epoch {epoch}, batch {batch_pos} of "
                  f"{steps_per_epoch})", file=sys.stderr)
        else:
            torch.manual_seed(config.seed + 1)  # the samplers' draws

        def save_state() -> None:
            if state_file is None:
                return
            atomic_torch_save({
                "format": STATE_FORMAT, "method": method, "model_config": model_config,
                "train_config": config.as_dict(), "fingerprint": fingerprint, "epoch": epoch, "batch": batch_pos,
                "perm": perm_t, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
                "history": history, "best": best, "stale": stale,
                "seconds": spent + time.perf_counter() - started,
                "cpu_seconds": cpu_spent + time.process_time() - cpu_started,
            }, state_file)

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total_iters, initial=(epoch - 1) * steps_per_epoch + batch_pos, desc=f"train {method}",
                       unit="batch", file=sys.stderr, dynamic_ncols=True)
        last_save = time.perf_counter()
        try:
            with _deterministic():
                while epoch <= config.epochs:
                    model.train()
                    t0 = time.perf_counter()
                    if perm_t is None:
                        perm_t = torch.randperm(len(train), generator=gen)
                    sums = dict.fromkeys(LOSS_KEYS, 0.0)
                    count = 0
                    while batch_pos < steps_per_epoch:
                        idx = perm_t[batch_pos * config.batch_size:(batch_pos + 1) * config.batch_size].tolist()
                        flips = torch.rand(len(idx), generator=gen) < 0.5
                        images, targets = [], []
                        for i, flip in zip(idx, flips.tolist(), strict=True):
                            image, target = train.get(i)
                            if config.hflip and flip:
                                image, target = _flip(image, target)
                            images.append(image.to(device))
                            targets.append(_to(target, device))
                        losses = model(images, targets)
                        loss = sum(losses.values())
                        if not torch.isfinite(loss):
                            terms = ", ".join(f"{k} {v.item():.4g}" for k, v in losses.items())
                            raise FloatingPointError(f"{method} training diverged at epoch {epoch} ({terms}); "
                                                     "lower lr or grad_clip")
                        optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        if config.grad_clip > 0:
                            nn.utils.clip_grad_norm_(params, config.grad_clip)
                        optimizer.step()
                        scheduler.step()
                        batch_pos += 1
                        count += 1
                        for k in LOSS_KEYS:
                            sums[k] += float(losses[k].detach())
                        if bar is not None:
                            bar.update(1)
                            post = {_SHORT[k]: f"{sums[k] / count:.3f}" for k in LOSS_KEYS}
                            post["ep"] = epoch
                            if best is not None and best.get("metrics"):
                                post["val"] = f"{best['metrics']['mAPr@0.5']:.3f}"
                            bar.set_postfix(post, refresh=False)
                        if time.perf_counter() - last_save > checkpoint_seconds:
                            save_state()
                            last_save = time.perf_counter()
                    row: dict[str, Any] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"],
                                           "threads": torch.get_num_threads(),
                                           **{k: sums[k] / max(count, 1) for k in LOSS_KEYS},
                                           "loss": sum(sums.values()) / max(count, 1)}
                    if val_samples:
                        metrics = evaluate_detector(model, val_samples, class_names, device=device)
                        row.update({f"val_{k}": v for k, v in metrics.items()})
                        if best is None or metrics["mAPr@0.5"] > best["metrics"]["mAPr@0.5"]:
                            best = {"epoch": epoch, "metrics": metrics, "state": copy.deepcopy(model.state_dict())}
                            stale = 0
                        else:
                            stale += 1
                        if bar is not None:
                            bar.write(f"{method} epoch {epoch}: loss {row['loss']:.3f}, validation mAPr@0.5 "
                                      f"{metrics['mAPr@0.5']:.3f} (@0.7 {metrics['mAPr@0.7']:.3f})")
                    row["seconds"] = time.perf_counter() - t0
                    history.append(row)
                    epoch, batch_pos, perm_t = epoch + 1, 0, None
                    save_state()
                    last_save = time.perf_counter()
                    if config.patience and stale >= config.patience:
                        break
        finally:
            if bar is not None:
                bar.close()

    if best is not None:
        model.load_state_dict(best["state"])
        val_metrics = {**best["metrics"], "epoch": best["epoch"], "n_images": len(val_samples)}
    else:
        val_metrics = {"mAPr@0.5": None, "mAPr@0.7": None, "epoch": len(history), "n_images": 0}
    model.eval()
    return DetectorTrainResult(model=model, val_metrics=val_metrics, history=copy.deepcopy(history),
                               seconds=spent + time.perf_counter() - started,
                               cpu_seconds=cpu_spent + time.process_time() - cpu_started,
                               n_train=len(train), n_val=len(val_samples), resumed_from=resumed_from)

"""Training the learned single-object methods (RLS, rls-conv, F-ConNet) on a dataset split.

The chapter's Algorithm 1: unroll T steps from phi_0, per-pixel cross-entropy of the softmax
output against the ground truth, back-propagate, update. lsbench's protocol around it:

* **held-out validation by scene**: a fraction of the split's source scenes
  (``Sample.meta["scene"]``; each sample is its own group when there is none) is set aside,
  so no variant of a validation scene is trained on. Scenes are drawn with the seed, preferring
  scenes whose family (``meta["family"]``) keeps another scene for training;
* **model selection**: the weights of the epoch with the best validation F-measure (scored
  like the harness: mask restored to the sample's size) are kept;
* **determinism**: the initial weights come from ``torch.manual_seed(seed)`` (inside
  :func:`torch.random.fork_rng`, so the caller's global RNG is untouched), shuffling and
  augmentation from a ``torch.Generator`` seeded with ``seed``, and
  ``torch.use_deterministic_algorithms`` is on while training (warn-only); on the CPU a re-run
  with the same seed gives the same weights;
* Adam (the chapter used SGD; Adam needs no schedule tuning), optional gradient clipping,
  optional deep supervision (the loss averaged over the outputs of every step) and optional
  dihedral augmentation (random flips and 90-degree rotations, applied alike to image, target
  and phi_0);
* **data parallelism** (:func:`train_distributed`, ``lsbench train --nproc N``): N processes of
  :mod:`lsbench.learned.distributed` (DDP) each draw the same shuffled, augmented *global* batch
  and train on their contiguous part of it, so the trajectory is the single-process one up to
  floating-point summation order.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lsbench.datasets.base import Dataset, Subset
from lsbench.learned.data import image_tensor, mask_tensor, phi0_tensor, restore_masks
from lsbench.learned.distributed import DistContext, launch
from lsbench.learned.loop import check_train_config, config_dict, deterministic, progress_bar
from lsbench.learned.models import build_model
from lsbench.learned.rls import initial_phi
from lsbench.learned.weights import save_checkpoint
from lsbench.levelset.validate import check_positive_int
from lsbench.metrics.binary import f_measure
from lsbench.types import Sample

__all__ = ["TrainConfig", "TrainResult", "initial_model", "save_trained", "score_samples", "split_by_scene",
           "train_distributed", "train_model"]


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (stored in every checkpoint and part of its cache key).

    Parameters
    ----------
    epochs : int
        Passes over the training part of the split.
    batch_size : int
    lr : float
        Adam's learning rate.
    weight_decay : float
        Adam's L2 penalty.
    grad_clip : float
        Clip the global gradient norm to this value (0: no clipping).
    seed : int
        Seeds the initial weights, the validation scenes, shuffling and augmentation.
    val_fraction : float
        Fraction of the split's scenes held out for validation (at least one scene when the
        split has two or more; 0 disables validation and keeps the last epoch).
    deep_supervision : bool
        Average the loss over the outputs of every RLS step, not only the last.
    augment : bool
        Random flips and 90-degree rotations of each training sample.
    shift : int
        Random translations of each training sample by up to ``shift`` pixels of the model grid
        along each axis (edge-replicating padding), which breaks position priors; 0 disables.
    invert : bool
        Invert the intensities of a random half of the training samples (``I -> 1 - I``), so
        that the object's polarity has to come from phi_0 (useful with ``init="sample"``).
    """

    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    val_fraction: float = 0.2
    deep_supervision: bool = False
    augment: bool = True
    shift: int = 0
    invert: bool = False

    def __post_init__(self) -> None:
        check_train_config(self, nonnegative_ints=("shift",), nonnegative=())

    def as_dict(self) -> dict[str, Any]:
        return config_dict(self)


@dataclass
class TrainResult:
    """What :func:`train_model` returns: the selected model and how it was obtained."""

    model: nn.Module
    val_metrics: dict[str, Any]
    history: list[dict[str, Any]]
    seconds: float
    n_train: int
    n_val: int
    val_groups: list[str] = field(default_factory=list)


def split_by_scene(samples: Sequence[Sample], val_fraction: float, seed: int) -> tuple[list[int], list[int], list[str]]:
    """Indices ``(train, val)`` and the held-out group names, splitting by ``meta["scene"]``.

    Samples without a ``scene`` are their own group. Scenes are shuffled with ``seed``; scenes
    whose family would lose its last training scene are taken only when no other is left.
    """
    groups = [str(s.meta.get("scene", f"sample:{s.id}")) for s in samples]
    families = {g: str(s.meta.get("family", "")) for g, s in zip(groups, samples, strict=True)}
    names = sorted(set(groups))
    n_val = 0 if val_fraction == 0 or len(names) < 2 else max(1, round(val_fraction * len(names)))
    n_val = min(n_val, len(names) - 1)
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    per_family: dict[str, int] = {}
    for g in names:
        per_family[families[g]] = per_family.get(families[g], 0) + 1
    chosen: list[str] = []
    for g in order:  # first pass: keep every family in training
        if len(chosen) < n_val and per_family[families[g]] > 1:
            chosen.append(g)
            per_family[families[g]] -= 1
    for g in order:
        if len(chosen) < n_val and g not in chosen:
            chosen.append(g)
    held = set(chosen)
    train = [i for i, g in enumerate(groups) if g not in held]
    val = [i for i, g in enumerate(groups) if g in held]
    return train, val, sorted(held)


def _dihedral(t: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 symmetries of the square on the last two axes (k in 0..7)."""
    if k >= 4:
        t = t.flip(-1)
    return torch.rot90(t, k % 4, dims=(-2, -1))


def _augment(tensors: list[torch.Tensor | None], gen: torch.Generator) -> list[torch.Tensor | None]:
    ref = next(t for t in tensors if t is not None)
    ks = torch.randint(0, 8, (ref.shape[0],), generator=gen)
    if ref.shape[-1] != ref.shape[-2]:  # rotations need a square grid: flips only
        ks = ks - ks % 4 + (ks % 4 == 2) * 2
    out: list[torch.Tensor | None] = []
    for t in tensors:
        if t is None:
            out.append(None)
            continue
        parts = t.clone()
        for k in ks.unique().tolist():
            sel = (ks == k).nonzero().flatten().to(t.device)
            parts[sel] = _dihedral(t[sel], int(k))
        out.append(parts)
    return out


def _shift(tensors: list[torch.Tensor | None], max_shift: int, gen: torch.Generator) -> list[torch.Tensor | None]:
    """Translate each sample by a random (dy, dx) in [-max_shift, max_shift] (edge padding)."""
    ref = next(t for t in tensors if t is not None)
    b, h, w = ref.shape
    offsets = torch.randint(0, 2 * max_shift + 1, (b, 2), generator=gen).tolist()
    out: list[torch.Tensor | None] = []
    for t in tensors:
        if t is None:
            out.append(None)
            continue
        padded = F.pad(t.unsqueeze(1).float(), (max_shift,) * 4, mode="replicate").squeeze(1).to(t.dtype)
        out.append(torch.stack([padded[i, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets)]))
    return out


def _loss(outputs: torch.Tensor | list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    if isinstance(outputs, list):
        return torch.stack([F.cross_entropy(o, target) for o in outputs]).mean()
    return F.cross_entropy(outputs, target)


class _Prepared:
    """A split's samples as tensors on the model grid, plus the full-size masks for scoring."""

    def __init__(self, samples: Sequence[Sample], model_config: dict[str, Any], device: torch.device) -> None:
        size = model_config.get("input_size")
        self.images = image_tensor(samples, size, device)
        self.targets = mask_tensor(samples, size, device)
        self.phi0: torch.Tensor | None = None
        if model_config.get("init") == "sample":
            shape = tuple(self.images.shape[-2:])
            self.phi0 = phi0_tensor(samples, size, initial_phi("disks", shape), device)
        self.masks = [np.asarray(s.mask, dtype=bool) for s in samples]
        self.shapes = [s.shape for s in samples]

    def __len__(self) -> int:
        return int(self.images.shape[0])


@torch.no_grad()
def evaluate(model: nn.Module, data: _Prepared, batch_size: int = 64) -> dict[str, float]:
    """Mean cross-entropy and mean per-image F-measure (masks restored to full size)."""
    model.eval()
    losses, scores = [], []
    for start in range(0, len(data), batch_size):
        sl = slice(start, start + batch_size)
        phi0 = None if data.phi0 is None else data.phi0[sl]
        logits = model(data.images[sl], phi0)
        losses.append(F.cross_entropy(logits, data.targets[sl], reduction="none").mean((1, 2)))
        prob = torch.softmax(logits, dim=1)[:, 1]
        for mask, gt in zip(restore_masks(prob, data.shapes[sl]), data.masks[sl], strict=True):
            scores.append(f_measure(mask, gt))
    return {"loss": float(torch.cat(losses).mean()), "f_measure": float(np.mean(scores))}


def score_samples(model: nn.Module, model_config: dict[str, Any], samples: Sequence[Sample], *,
                  device: str | torch.device = "cpu") -> dict[str, float]:
    """Mean cross-entropy and mean per-image F-measure of ``model`` on ``samples``, scored as validation is."""
    return evaluate(model, _Prepared(list(samples), model_config, torch.device(device)))


def train_model(model_config: dict[str, Any], config: TrainConfig, dataset: Dataset | Sequence[Sample], *,
                device: str | torch.device = "cpu", progress: bool = True, desc: str = "train",
                dist: DistContext | None = None) -> TrainResult:
    """Train a freshly initialised model of ``model_config`` on ``dataset``.

    The steps: split by scene (:func:`split_by_scene`), the seeded initial model, then per epoch
    :func:`_train_epoch` (shuffled, augmented batches, one optimizer step each) and the
    validation that keeps the best epoch's weights.

    Parameters
    ----------
    model_config : dict
        From :func:`lsbench.learned.models.model_config`.
    config : TrainConfig
    dataset : Dataset or sequence of Sample
        Single-object samples with ground-truth masks (all of one size for ``input_size=None``).
    device : str or torch.device
    progress : bool
        Show a tqdm progress bar on stderr with the running loss and the validation F-measure.
    dist : DistContext, optional
        This process's rank in a data-parallel run (:func:`train_distributed`): the model is
        wrapped in DDP and each step trains on this rank's part of the global batch. ``None``:
        one process.

    Returns
    -------
    TrainResult
        The model at the epoch with the best validation F-measure (the last epoch without
        validation), the validation metrics of that epoch and the per-epoch history.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    device = torch.device(device)
    started = time.perf_counter()
    train, val, val_groups = _prepare_split(dataset, model_config, config, device)
    dist = DistContext(device=device) if dist is None else dist
    model = initial_model(model_config, config.seed, device)
    net = dist.wrap(model)  # DDP averages the gradients over ranks (unchanged for one process)
    gen = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history: list[dict[str, Any]] = []
    best: _Best | None = None
    total = config.epochs * math.ceil(len(train) / config.batch_size)
    with progress_bar(progress, total, desc) as bar, deterministic():
        for epoch in range(1, config.epochs + 1):
            t0 = time.perf_counter()
            loss = _train_epoch(net, model, optimizer, train, config, gen, dist, epoch, bar,
                                None if best is None else best.metrics["f_measure"])
            row: dict[str, Any] = {"epoch": epoch, "loss": loss}
            if val is not None:  # every rank validates (the same model), so all keep the same best epoch
                metrics = evaluate(model, val)
                row.update(val_loss=metrics["loss"], val_f_measure=metrics["f_measure"])
                best = _keep_best(best, model, metrics, epoch)
            row["seconds"] = time.perf_counter() - t0
            history.append(row)
    val_metrics = _select_best(model, best, config.epochs)
    model.eval()
    return TrainResult(model=model, val_metrics=val_metrics, history=copy.deepcopy(history),
                       seconds=time.perf_counter() - started, n_train=len(train),
                       n_val=0 if val is None else len(val), val_groups=val_groups)


def _prepare_split(dataset: Dataset | Sequence[Sample], model_config: dict[str, Any], config: TrainConfig,
                   device: torch.device) -> tuple[_Prepared, _Prepared | None, list[str]]:
    """The training and validation parts (split by scene) as tensors, and the held-out scene names."""
    samples = [dataset[i] for i in range(len(dataset))]
    if len(samples) < 2:
        raise ValueError(f"training needs at least 2 samples, got {len(samples)}")
    train_idx, val_idx, val_groups = split_by_scene(samples, config.val_fraction, config.seed)
    train = _Prepared([samples[i] for i in train_idx], model_config, device)
    val = _Prepared([samples[i] for i in val_idx], model_config, device) if val_idx else None
    return train, val, val_groups


def initial_model(model_config: dict[str, Any], seed: int, device: torch.device) -> nn.Module:
    """The model's initial weights from ``torch.manual_seed(seed)``, leaving the caller's global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(model_config).to(device)


def _train_epoch(net: nn.Module, model: nn.Module, optimizer: torch.optim.Optimizer, train: _Prepared,
                 config: TrainConfig, gen: torch.Generator, dist: DistContext, epoch: int, bar: Any,
                 best_f: float | None) -> float:
    """One pass over ``train`` in a fresh shuffled order; returns the epoch's mean training loss."""
    net.train()
    perm = torch.randperm(len(train), generator=gen)
    total, count = 0.0, 0
    for b in range(math.ceil(len(train) / config.batch_size)):
        # the global batch, shuffled and augmented alike on every rank
        idx = perm[b * config.batch_size:(b + 1) * config.batch_size].to(train.images.device)
        x, y, phi0 = _training_batch(train, idx, config, gen)
        batch_loss = _train_step(net, model, optimizer, x, y, phi0, config, dist, epoch)
        total += batch_loss * len(idx)
        count += len(idx)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{total / count:.4f}",
                            val_f="-" if best_f is None else f"{best_f:.3f}")
    return total / count


def _training_batch(train: _Prepared, idx: torch.Tensor, config: TrainConfig,
                    gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Images, targets and phi_0 of the samples ``idx``, augmented as ``config`` says (draws from ``gen``)."""
    x, y = train.images[idx], train.targets[idx]
    phi0 = None if train.phi0 is None else train.phi0[idx]
    if config.augment:
        x, y, phi0 = _augment([x, y, phi0], gen)
    if config.shift:
        x, y, phi0 = _shift([x, y, phi0], config.shift, gen)
    if config.invert:
        flip = torch.rand(x.shape[0], generator=gen).to(x.device) < 0.5
        x = torch.where(flip[:, None, None], 1.0 - x, x)
    return x, y, phi0


def _train_step(net: nn.Module, model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                y: torch.Tensor, phi0: torch.Tensor | None, config: TrainConfig, dist: DistContext,
                epoch: int) -> float:
    """One optimizer step on this rank's part of the global batch; returns the global batch's mean loss."""
    (xs, ys, phis), weight = dist.shard(x, y, phi0)
    if weight == 0:  # fewer samples than ranks: join the gradient all-reduce with a zero loss
        xs, ys, phis, weight = x[:1], y[:1], None if phi0 is None else phi0[:1], 0.0
    loss = _loss(net(xs, phis, all_steps=config.deep_supervision), ys) * weight
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    batch_loss = dist.mean(loss.detach())  # the global batch's mean loss, alike on every rank
    if not math.isfinite(batch_loss):
        raise FloatingPointError(f"training diverged at epoch {epoch} (loss {batch_loss}); "
                                 "lower lr or enable grad_clip")
    if config.grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    return batch_loss


class _Best(NamedTuple):
    """The best validation epoch so far: its metrics and a copy of its weights."""

    epoch: int
    metrics: dict[str, float]
    state: dict[str, torch.Tensor]


def _keep_best(best: _Best | None, model: nn.Module, metrics: dict[str, float], epoch: int) -> _Best:
    """``best``, or this epoch when its validation F-measure is higher (the earlier epoch wins a tie)."""
    if best is None or metrics["f_measure"] > best.metrics["f_measure"]:
        return _Best(epoch, metrics, {k: v.detach().clone() for k, v in model.state_dict().items()})
    return best


def _select_best(model: nn.Module, best: _Best | None, epochs: int) -> dict[str, Any]:
    """Load the best epoch's weights into ``model`` (the last epoch's stay without validation); its metrics."""
    if best is None:
        return {"f_measure": None, "loss": None, "epoch": epochs}
    model.load_state_dict(best.state)
    return {"f_measure": best.metrics["f_measure"], "loss": best.metrics["loss"], "epoch": best.epoch}


def save_trained(path: str | Path, method: str, model_config: dict[str, Any], train_config: TrainConfig,
                 dataset: Dataset | Sequence[Sample], result: TrainResult, **extra_data: Any) -> Path:
    """Write ``result`` as an lsbench checkpoint (:mod:`lsbench.learned.weights`) and return its path.

    The checkpoint's ``data`` entry records the training set (name, split, spec, fingerprint),
    the train/validation sizes, the held-out scenes and ``extra_data`` (e.g. ``nproc``).
    """
    data = {"name": getattr(dataset, "name", ""), "split": getattr(dataset, "split", ""),
            "spec": dataset.spec() if hasattr(dataset, "spec") else {},
            "fingerprint": dataset.fingerprint() if hasattr(dataset, "fingerprint") else None,
            "n_train": result.n_train, "n_val": result.n_val, "val_groups": result.val_groups, **extra_data}
    return save_checkpoint(path, method=method, model_config=model_config, train_config=train_config.as_dict(),
                           state_dict=result.model.state_dict(), data=data, val_metrics=result.val_metrics,
                           history=result.history, train_seconds=result.seconds)


def _dataset_from(data: tuple[dict[str, Any], list[str]] | Sequence[Sample]) -> Dataset | Sequence[Sample]:
    """A registered dataset rebuilt from ``(spec, ids)`` (checked to hold those ids), or the samples themselves."""
    if not isinstance(data, tuple):
        return data
    from lsbench.datasets import load

    spec, ids = dict(data[0]), data[1]
    dataset = load(spec.pop("name"), root=spec.pop("root", None), split=spec.pop("split", None), **spec)
    if list(dataset.ids()) != ids:
        raise ValueError(f"{dataset!r} as read by this training process holds other samples than the parent's "
                         "(is the dataset root shared?)")
    return dataset


def _train_ranks(ctx: DistContext, method: str, model_config: dict[str, Any], config: TrainConfig,
                 data: tuple[dict[str, Any], list[str]] | Sequence[Sample], out: str, desc: str,
                 progress: bool) -> dict[str, Any]:
    """One rank of :func:`train_distributed` (module level: spawned processes import it by name)."""
    dataset = _dataset_from(data)  # each rank reads the data itself
    result = train_model(model_config, config, dataset, device=ctx.device, progress=progress and ctx.is_main,
                         desc=desc, dist=ctx)
    if ctx.is_main:
        save_trained(out, method, model_config, config, dataset, result, nproc=ctx.world_size)
    ctx.barrier()  # the checkpoint exists before any rank returns
    return {"path": out, "seconds": result.seconds, "val_metrics": result.val_metrics}


def train_distributed(method: str, model_config: dict[str, Any], config: TrainConfig,
                      dataset: Dataset | Sequence[Sample], out: str | Path, *, nproc: int,
                      device: str | torch.device = "cpu", progress: bool = True, desc: str = "train") -> Path:
    """Train on ``nproc`` processes (DDP, :func:`lsbench.learned.distributed.launch`); rank 0 writes ``out``.

    A registered dataset travels as its spec and each rank loads it (and checks that it holds the
    same sample ids); samples given as a sequence, a subset or an unregistered dataset are pickled
    to the ranks. ``config.batch_size`` is the *global* batch, so the result does not depend on
    ``nproc`` beyond floating-point summation order. ``nproc=1`` trains in this process.
    Returns the checkpoint path.
    """
    check_positive_int("--nproc", nproc)
    data: tuple[dict[str, Any], list[str]] | Sequence[Sample]
    if isinstance(dataset, Dataset) and not isinstance(dataset, Subset) and _is_registered(dataset.name):
        data = (dataset.spec(), list(dataset.ids()))
    else:
        data = [dataset[i] for i in range(len(dataset))]
    launch(_train_ranks, nproc, method, model_config, config, data, str(out), desc, progress,
           device=torch.device(device))
    return Path(out)


def _is_registered(name: str) -> bool:
    from lsbench.registry import DATASETS

    return name in DATASETS.names()

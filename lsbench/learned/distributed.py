"""Data-parallel training with ``torch.distributed``: N processes, one model replica each (DDP).

:func:`launch` starts ``nproc`` processes (``torch.multiprocessing``, spawn), joins them in a
process group (``gloo`` on the CPU, ``nccl`` on CUDA; rendezvous through a file in a private
temporary folder, so no port is needed) and calls ``fn(ctx, *args)`` in each with a
:class:`DistContext`. ``nproc=1`` calls ``fn`` in this process with a context whose helpers
are no-ops, so one training function serves both.

A training loop becomes data-parallel with three calls on the context:

``ctx.wrap(model)``
    :class:`torch.nn.parallel.DistributedDataParallel` around the model (every rank starts from
    rank 0's weights; gradients are averaged over ranks during ``backward``);
``ctx.shard(*batch)``
    this rank's contiguous part of the *global* batch, and the weight its loss is multiplied by,
    ``n_local * world_size / n_global``: with the loss a mean over the local samples, the
    averaged gradient is then exactly the gradient of the mean over the global batch, even when
    the batch does not split evenly. Every rank draws the same global batch (same seeded
    ``torch.Generator``), like :class:`~torch.utils.data.distributed.DistributedSampler` with a
    shared permutation;
``ctx.mean(loss)``
    the global batch loss (all-reduced), for logging.

With the same seed, global batch size and optimiser, N processes therefore follow the
single-process trajectory up to floating-point summation order (gradients are summed across
ranks in another order). Layers that use batch statistics (``BatchNorm``) would differ:
``ctx.wrap(model, sync_batchnorm=True)`` converts them to ``SyncBatchNorm``.

Checkpoints are written by rank 0 only (:func:`save_checkpoint`, atomically: temporary file,
then rename) and read with ``torch.load(weights_only=True)`` (:func:`load_checkpoint`), which
names what is wrong with a bad file.

:func:`train_data_parallel` is a complete loop over in-memory tensors built from these pieces
(a model factory, a loss function, a global batch size, SGD or Adam); the tests train a small
model with it on 1 and 2 processes and compare the losses.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from lsbench.atomic import atomic_file
from lsbench.errors import DataError
from lsbench.levelset.validate import check_number, check_positive_int

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "DistContext", "TrainJob", "TrainOutcome", "default_backend",
           "launch", "load_checkpoint", "save_checkpoint", "shard_bounds", "train_data_parallel"]

CHECKPOINT_FORMAT = "lsbench-ddp-checkpoint"


class CheckpointError(DataError, ValueError):
    """A checkpoint that cannot be used: unreadable, not written by this module, or for another model."""


def default_backend(device: str | torch.device) -> str:
    """``nccl`` for CUDA devices (when built with NCCL), ``gloo`` otherwise."""
    device = torch.device(device)
    if device.type == "cuda" and dist.is_nccl_available():
        return "nccl"
    return "gloo"


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[start, stop)`` of rank ``rank``'s contiguous part of ``n`` items (sizes differ by at most one,
    the first ``n % world_size`` ranks get the extra item; as ``torch.tensor_split``)."""
    if world_size <= 0 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of size {world_size}")
    if n < 0:
        raise ValueError(f"cannot shard {n} items")
    q, r = divmod(n, world_size)
    start = rank * q + min(rank, r)
    return start, start + q + (1 if rank < r else 0)


@dataclass
class DistContext:
    """One rank's view of the process group (module docstring).

    Attributes
    ----------
    rank, world_size : int
    device : torch.device
        This rank's device (``cuda:<local rank>`` on GPUs).
    backend : str
        ``gloo`` or ``nccl`` (``"none"`` for a single process).
    """

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str = "none"

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that logs and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def wrap(self, model: nn.Module, sync_batchnorm: bool = False) -> nn.Module:
        """``model`` wrapped in DDP (unchanged for one process)."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        if sync_batchnorm:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def shard(self, *batch: torch.Tensor | None) -> tuple[list[torch.Tensor | None], float]:
        """This rank's contiguous part of each global-batch tensor, and its loss weight.

        Parameters
        ----------
        *batch : Tensor or None
            Tensors of one global batch (samples along dimension 0); ``None`` entries (an optional
            input such as an initial level set) pass through as ``None``.

        Returns
        -------
        parts : list of Tensor or None
            ``t[start:stop]`` of each tensor (:func:`shard_bounds`); empty when the global batch
            has fewer items than ranks.
        weight : float
            ``n_local * world_size / n_global`` (1 for one process).
        """
        sizes = [int(t.shape[0]) for t in batch if t is not None]
        if not sizes:
            raise ValueError("shard needs at least one tensor")
        if len(set(sizes)) != 1:
            raise ValueError(f"batch tensors differ in length: {sizes}")
        n = sizes[0]
        start, stop = shard_bounds(n, self.rank, self.world_size)
        weight = (stop - start) * self.world_size / n if n else 0.0
        return [None if t is None else t[start:stop] for t in batch], weight

    def mean(self, value: torch.Tensor | float) -> float:
        """The mean of ``value`` over ranks (this rank's value for one process)."""
        t = torch.as_tensor(value, dtype=torch.float64, device=self.device).detach().clone().reshape(())
        if self.distributed:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            t /= self.world_size
        return float(t.item())

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


# -- launching ------------------------------------------------------------------------------------------
def _device_for(device: str | torch.device, rank: int) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but no CUDA device is available")
        return torch.device("cuda", rank % torch.cuda.device_count())
    return device


def _rank_main(rank: int, fn: Callable[..., Any], world_size: int, init_file: str, result_path: str,
               backend: str, device: str, args: tuple[Any, ...]) -> None:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    dev = _device_for(device, rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(backend, init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        ctx = DistContext(rank=rank, world_size=world_size, device=dev, backend=backend)
        try:
            result = fn(ctx, *args)
        except BaseException as exc:
            # the parent re-raises rank 0's error with its traceback (spawn would only say "exited")
            with open(f"{result_path}.error.{rank}", "wb") as f:
                pickle.dump((time.time(), type(exc).__name__, str(exc), traceback.format_exc()), f)
            raise
        if rank == 0:
            with open(result_path, "wb") as f:
                pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
        dist.barrier()
    except BaseException:
        dist.destroy_process_group()
        raise
    # Done, and every rank knows it (the barrier). Leave without tearing the process group down:
    # a gloo rank whose peer has already closed its sockets can abort in its own teardown
    # ("terminate called without an active exception", SIGABRT; seen once in a fresh-clone make test),
    # which would fail a finished training. Process exit releases the sockets (and GPUs) anyway.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def launch(fn: Callable[..., Any], nproc: int, *args: Any, backend: str | None = None,
           device: str | torch.device = "cpu") -> Any:
    """Run ``fn(ctx, *args)`` on ``nproc`` ranks and return rank 0's result.

    Parameters
    ----------
    fn : callable
        A module-level function (spawned processes import it by name); its result must pickle.
    nproc : int
        Processes; 1 runs ``fn`` here, without a process group.
    backend : {"gloo", "nccl"}, optional
        Default :func:`default_backend` of ``device``.
    device : str or torch.device
        ``cpu`` or ``cuda`` (rank ``r`` uses GPU ``r % device_count``).

    Raises
    ------
    ValueError
        A bad ``nproc``, ``backend`` or ``device``.
    RuntimeError
        A rank failed; the message carries the failing rank's error and traceback.
    """
    check_positive_int("--nproc", nproc)
    backend = backend or default_backend(device)
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl', got {backend!r}")
    if backend == "nccl" and torch.device(device).type != "cuda":
        raise ValueError("the nccl backend needs device='cuda'; use gloo on the CPU")
    if nproc == 1:
        return fn(DistContext(device=_device_for(device, 0)), *args)
    if not dist.is_available():  # pragma: no cover - torch built without distributed
        raise RuntimeError("this torch build has no torch.distributed")
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="lsbench-ddp-") as tmp:
        init_file = os.path.join(tmp, "rendezvous")
        result_path = os.path.join(tmp, "result.pkl")
        try:
            mp.start_processes(_rank_main, args=(fn, nproc, init_file, result_path, backend, str(device), args),
                               nprocs=nproc, join=True, start_method="spawn")
        except mp.ProcessRaisedException as exc:
            raise RuntimeError(_rank_error(tmp) or str(exc)) from None
        except mp.ProcessExitedException as exc:
            raise RuntimeError(_rank_error(tmp) or f"a training process died: {exc}") from None
        with open(result_path, "rb") as f:
            return pickle.load(f)


def _rank_error(tmp: str) -> str | None:
    """The error of the rank that failed first (the others usually fail after it, on a closed connection)."""
    errors = []
    for path in Path(tmp).glob("result.pkl.error.*"):
        with contextlib.suppress(Exception), open(path, "rb") as f:
            errors.append((*pickle.load(f), path.suffix[1:]))
    if not errors:
        return None
    _, name, message, tb, rank = min(errors)
    return f"rank {rank} failed: {name}: {message}\n{tb}"


# -- checkpoints ----------------------------------------------------------------------------------------
def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any], ctx: DistContext | None = None) -> Path | None:
    """Write ``state`` (tensors and plain data) with ``torch.save``, on rank 0 only, atomically.

    ``state`` gets ``format`` added; returns the path (None on other ranks).
    """
    if ctx is not None and not ctx.is_main:
        return None
    path = Path(path)
    with atomic_file(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
    return path


def load_checkpoint(path: str | os.PathLike[str], model: nn.Module | None = None,
                    required: Sequence[str] = ("state_dict", "step")) -> dict[str, Any]:
    """Read a checkpoint of :func:`save_checkpoint` (``weights_only=True``: no code is unpickled).

    Parameters
    ----------
    model : nn.Module, optional
        Load the weights into it (strictly: every key, every shape).
    required : sequence of str
        Keys the checkpoint must hold.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    CheckpointError
        The file is not a readable checkpoint, lacks a required key, or does not fit ``model``.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint {path} is a directory, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        what = type(state).__name__ if not isinstance(state, dict) else f"format {state.get('format')!r}"
        raise CheckpointError(f"{path} is not an lsbench DDP checkpoint (found {what}, expected a dict with "
                              f"format {CHECKPOINT_FORMAT!r})")
    missing = [k for k in required if k not in state]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}")
    if model is not None:
        weights = state.get("state_dict")
        if not isinstance(weights, dict):
            raise CheckpointError(f"{path}: state_dict is {type(weights).__name__}, not a dict of tensors")
        try:
            model.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{path} does not fit {type(model).__name__}: "
                                  f"{' '.join(str(exc).split())}") from None
    return state


# -- a complete data-parallel loop over in-memory tensors ----------------------------------------------
@dataclass(frozen=True)
class TrainJob:
    """What :func:`train_data_parallel` trains.

    Parameters
    ----------
    model_fn : callable
        ``() -> nn.Module``, a module-level function (it runs in every rank). Called under
        ``torch.manual_seed(seed)``, so every rank builds the same initial weights.
    loss_fn : callable
        ``(model, *batch) -> loss``: the *mean* loss over the given samples (a module-level function).
    tensors : tuple of Tensor
        The training data, samples along the first dimension (e.g. inputs and targets).
    batch_size : int
        The *global* batch size (split across ranks).
    steps : int
        Optimiser steps (epochs are reshuffled with a seeded ``torch.Generator`` as needed).
    lr : float
    optimizer : {"sgd", "adam"}
    momentum : float
        SGD momentum.
    grad_clip : float
        Clip the global gradient norm (0: off); after averaging, so the same on every rank.
    seed : int
    """

    model_fn: Callable[[], nn.Module]
    loss_fn: Callable[..., torch.Tensor]
    tensors: tuple[torch.Tensor, ...]
    batch_size: int = 8
    steps: int = 10
    lr: float = 0.05
    optimizer: str = "sgd"
    momentum: float = 0.0
    grad_clip: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.tensors or any(not isinstance(t, torch.Tensor) for t in self.tensors):
            raise TypeError("tensors must be a non-empty tuple of torch.Tensor")
        n = int(self.tensors[0].shape[0])
        if any(int(t.shape[0]) != n for t in self.tensors):
            raise ValueError(f"tensors differ in length: {[int(t.shape[0]) for t in self.tensors]}")
        for name in ("batch_size", "steps"):
            check_positive_int(name, getattr(self, name))
        if self.batch_size > n:
            raise ValueError(f"batch_size {self.batch_size} exceeds the {n} training samples")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        for name in ("lr", "momentum", "grad_clip"):
            check_number(name, getattr(self, name), minimum=0, min_open=name == "lr")


@dataclass
class TrainOutcome:
    """Rank 0's result: final weights, the global loss of every step, and the processes used."""

    state_dict: dict[str, torch.Tensor]
    losses: list[float]
    world_size: int


def _train_rank(ctx: DistContext, job: TrainJob, checkpoint: str | None) -> TrainOutcome:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(job.seed)
        model = job.model_fn().to(ctx.device)
    net = ctx.wrap(model)
    params = list(model.parameters())
    opt: torch.optim.Optimizer = (torch.optim.SGD(params, lr=job.lr, momentum=job.momentum)
                                  if job.optimizer == "sgd" else torch.optim.Adam(params, lr=job.lr))
    data = [t.to(ctx.device) for t in job.tensors]
    n = int(data[0].shape[0])
    gen = torch.Generator().manual_seed(job.seed)
    perm, cursor = torch.randperm(n, generator=gen), 0
    losses: list[float] = []
    for _ in range(job.steps):
        if cursor + job.batch_size > n:  # a new epoch: every rank reshuffles alike
            perm, cursor = torch.randperm(n, generator=gen), 0
        idx = perm[cursor:cursor + job.batch_size].to(ctx.device)
        cursor += job.batch_size
        parts, weight = ctx.shard(*[t[idx] for t in data])
        if weight > 0:
            loss = job.loss_fn(net, *parts) * weight
        else:  # fewer samples than ranks: take part in the gradient all-reduce with a zero loss
            loss = job.loss_fn(net, *[t[idx[:1]] for t in data]) * 0.0
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if job.grad_clip > 0:
            nn.utils.clip_grad_norm_(params, job.grad_clip)
        opt.step()
        losses.append(ctx.mean(loss.detach()))
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if checkpoint is not None:
        save_checkpoint(checkpoint, {"state_dict": state, "step": job.steps, "losses": losses,
                                     "world_size": ctx.world_size, "seed": job.seed,
                                     "batch_size": job.batch_size}, ctx)
    ctx.barrier()
    return TrainOutcome(state_dict=state, losses=losses, world_size=ctx.world_size)


def train_data_parallel(job: TrainJob, nproc: int = 1, *, device: str | torch.device = "cpu",
                        backend: str | None = None, checkpoint: str | os.PathLike[str] | None = None
                        ) -> TrainOutcome:
    """Train ``job`` on ``nproc`` processes (DDP) and return rank 0's :class:`TrainOutcome`.

    ``checkpoint``: where rank 0 writes the final weights (:func:`save_checkpoint`).
    """
    if not isinstance(job, TrainJob):
        raise TypeError(f"job must be a TrainJob, got {type(job).__name__}")
    return launch(_train_rank, nproc, job, None if checkpoint is None else str(checkpoint),
                  backend=backend, device=device)

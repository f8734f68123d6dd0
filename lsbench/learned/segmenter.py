"""The adapter between a trained model and the harness: ``Sample -> Prediction``, one or many.

:func:`learned_segmenter` is what the registered factories (``rls``, ``rls-chapter``,
``rls-conv``, ``fconnet`` in :mod:`lsbench.methods`) call. It finds the weights as every learned method does
(:func:`lsbench.learned.weights.resolve_weights`): ``weights=PATH``, else the cache, else it
stops with the ``lsbench train`` command that writes the missing checkpoint; only with
``train_missing=True`` does it train one right now on the training split (saying so on stderr,
with a progress bar) and store it in the cache for the next run. Nothing is downloaded on any path.
:func:`build_untrained` (the ``rls-untrained`` baseline) wraps a model's initial weights instead
and never touches the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lsbench.device import resolve_device
from lsbench.learned.data import image_tensor, phi0_tensor, restore_masks
from lsbench.learned.maps import pack_dense_maps
from lsbench.learned.models import build_model, model_config
from lsbench.learned.rls import initial_phi
from lsbench.learned.train import (
    TrainConfig,
    initial_model,
    save_trained,
    train_distributed,
    train_model,
)
from lsbench.learned.weights import load_checkpoint, load_weights, resolve_weights
from lsbench.segmenter import Segmenter
from lsbench.types import Prediction, Sample

__all__ = [
    "LEARNED_METHODS",
    "LearnedSegmenter",
    "TrainedSegmenter",
    "build_from_params",
    "build_untrained",
    "configs_from_params",
    "learned_segmenter",
    "train_and_save",
]

#: registered learned method -> (model arch, model keywords it fixes)
LEARNED_METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "rls": ("rls", {"kind": "dense"}),
    "rls-conv": ("rls", {"kind": "conv", "gru": "rls"}),
    "rls-chapter": ("rls", {"kind": "dense"}),
    "fconnet": ("fconnet", {}),
}
#: factory parameters that configure training (lsbench.learned.train.TrainConfig)
TRAIN_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "grad_clip", "seed", "val_fraction",
              "deep_supervision", "augment", "shift", "invert")
#: factory parameters that say where weights and training data come from, and where to run
SOURCE_KEYS = ("weights", "train_missing", "device", "train_dataset", "train_split", "train_root")

#: largest batch one forward pass takes in :meth:`LearnedSegmenter.predict_batch`
MAX_BATCH = 64


class TrainedSegmenter(Segmenter):
    """What the segmenters of trained models share (RLS, F-ConNet, CRLS, Mask R-CNN).

    The model in eval mode on its device, the method's parameters and where the weights came
    from (``checkpoint_info``, for the record). ``segmenter(sample)`` is
    ``segmenter.predict_batch([sample])[0]``; subclasses define :meth:`predict_batch`.
    """

    def __init__(self, name: str, model: nn.Module, model_config: dict[str, Any], params: dict[str, Any],
                 device: torch.device, checkpoint: dict[str, Any] | None = None) -> None:
        self.name = name
        self.model = model.to(device).eval()
        self.model_config = dict(model_config)
        self.params = dict(params)
        self.device = device
        #: where the weights came from and how they were validated (for the record)
        self.checkpoint_info = {k: v for k, v in (checkpoint or {}).items() if k != "state_dict"}

    #: defined by each subclass: the predictions of many samples, in order
    predict_batch: Callable[[Sequence[Sample]], list[Prediction]]

    def __call__(self, sample: Sample) -> Prediction:
        return self.predict_batch([sample])[0]


class LearnedSegmenter(TrainedSegmenter):
    """A trained RLS / F-ConNet model as a :class:`~lsbench.segmenter.Segmenter`.

    ``segmenter(sample)`` predicts one sample (batch 1); :meth:`predict_batch` predicts many in
    batches of up to 64, which is how the harness measures throughput.
    """

    kind = "binary"

    def __init__(self, name: str, model: nn.Module, model_config: dict[str, Any], params: dict[str, Any],
                 device: torch.device, checkpoint: dict[str, Any] | None = None) -> None:
        super().__init__(name, model, model_config, params, device, checkpoint)
        self.size: int | None = model_config.get("input_size")
        self.uses_sample_init = model_config.get("init") == "sample"
        self.n_iter = int(model_config["steps"]) if model_config["arch"] == "rls" else None
        #: dense maps that multiply full batches (MAX_BATCH images) with MKL's packed GEMM on the CPU
        #: (:func:`lsbench.learned.maps.pack_dense_maps`; 0 for conv models or without MKL)
        self.packed_dense_maps = pack_dense_maps(self.model, MAX_BATCH) if device.type == "cpu" else 0

    def describe(self) -> dict[str, Any]:
        """What the run's ``config.json`` records of the model (under ``models``): its trainable
        parameter count, whether phi_0 is the sample's initial region (an input derived from the
        ground truth on the synthetic set), and where the weights came from: the checkpoint file
        with its validation F-measure, or ``untrained`` with the initial weights (``rls-untrained``);
        ``packed_gemm_batch`` where full batches of a dense model use MKL's packed GEMM."""
        info = self.checkpoint_info
        if info.get("untrained"):
            origin: dict[str, Any] = {"untrained": True, "initial_weights": info.get("initial_weights")}
        else:
            origin = {"checkpoint": info.get("path"), "val_f_measure": (info.get("val_metrics") or {}).get("f_measure")}
        packed = {"packed_gemm_batch": MAX_BATCH} if self.packed_dense_maps else {}
        return {"params": sum(p.numel() for p in self.model.parameters() if p.requires_grad),
                "phi0_from_sample_init": self.uses_sample_init, **origin, **packed}

    @torch.inference_mode()
    def predict_batch(self, samples: Sequence[Sample]) -> list[Prediction]:
        """Predictions for ``samples``, in order (native-size models batch equal sizes together)."""
        samples = list(samples)
        if not samples:
            return []
        if self.size is None:  # group by shape: a batch needs one size
            groups: dict[tuple[int, int], list[int]] = {}
            for i, s in enumerate(samples):
                groups.setdefault(s.shape, []).append(i)
            batches = [idx[k:k + MAX_BATCH] for idx in groups.values() for k in range(0, len(idx), MAX_BATCH)]
        else:
            batches = [list(range(k, min(k + MAX_BATCH, len(samples)))) for k in range(0, len(samples), MAX_BATCH)]
        out: list[Prediction | None] = [None] * len(samples)
        for idx in batches:
            part = [samples[i] for i in idx]
            for i, pred in zip(idx, self._predict(part), strict=True):
                out[i] = pred
        return [p for p in out if p is not None]

    def _predict(self, samples: list[Sample]) -> list[Prediction]:
        images = image_tensor(samples, self.size, self.device)
        phi0 = None
        if self.uses_sample_init:
            fallback = initial_phi("disks", tuple(images.shape[-2:]))
            phi0 = phi0_tensor(samples, self.size, fallback, self.device)
        logits = self.model(images, phi0)
        prob = torch.softmax(logits.float(), dim=1)[:, 1]
        masks = restore_masks(prob, [s.shape for s in samples])
        return [Prediction(mask=m, n_iter=self.n_iter, converged=None) for m in masks]


def train_and_save(method: str, model_config: dict[str, Any], train_config: TrainConfig, dataset: Any,
                   out: str | Path, *, device: torch.device, progress: bool = True,
                   nproc: int = 1) -> tuple[nn.Module, dict[str, Any]]:
    """Train on ``dataset`` and write the checkpoint to ``out``; return the model and the checkpoint dict.

    ``nproc > 1`` trains data-parallel on that many processes (:func:`~lsbench.learned.train.train_distributed`)
    and reads the model back from the checkpoint rank 0 wrote.
    """
    desc = f"train {method}"
    if nproc == 1:
        result = train_model(model_config, train_config, dataset, device=device, progress=progress, desc=desc)
        path = save_trained(out, method, model_config, train_config, dataset, result)
        ckpt = load_checkpoint(path, method=method, model_config=model_config)
        return result.model, ckpt
    path = train_distributed(method, model_config, train_config, dataset, out, nproc=nproc, device=device,
                             progress=progress, desc=f"{desc} ({nproc} processes)")
    model, ckpt = load_weights(path, method=method, model_config=model_config,
                               build=lambda: build_model(model_config))
    return model.to(device).eval(), ckpt


def configs_from_params(method: str, params: dict[str, Any]) -> tuple[dict[str, Any], TrainConfig]:
    """Sort a learned method's factory parameters into its model config and training config.

    ``size`` becomes ``input_size``; :data:`TRAIN_KEYS` go to :class:`TrainConfig`;
    :data:`SOURCE_KEYS` are left out; everything else is a model keyword.
    """
    if method not in LEARNED_METHODS:
        raise ValueError(f"{method!r} is not a learned method; valid: {', '.join(LEARNED_METHODS)}")
    arch, fixed = LEARNED_METHODS[method]
    model = {k: v for k, v in params.items() if k not in (*TRAIN_KEYS, *SOURCE_KEYS, "size")}
    config = model_config(arch, params.get("size"), **{**model, **fixed})
    train = TrainConfig(**{k: params[k] for k in TRAIN_KEYS if k in params})
    return config, train


def build_from_params(method: str, params: dict[str, Any], *, progress: bool = True) -> LearnedSegmenter:
    """What the registered factory of ``method`` returns for its (complete) parameters."""
    config, train = configs_from_params(method, params)
    return learned_segmenter(method, config, train, weights=params.get("weights"),
                             device=params.get("device", "auto"),
                             train_dataset=params.get("train_dataset", "synthetic"),
                             train_split=params.get("train_split", "train"),
                             train_root=params.get("train_root"), params=params, progress=progress)


def build_untrained(method: str, arch_of: str, params: dict[str, Any]) -> LearnedSegmenter:
    """``method`` (e.g. ``rls-untrained``): the model of the learned method ``arch_of`` with the weights
    its training starts from, never trained and never read from or written to the cache.

    The weights are :func:`~lsbench.learned.train.initial_model` of the model config with
    ``params["seed"]``: exactly those :func:`~lsbench.learned.train.train_model` starts from with
    the same seed (``weight_init="chan-vese"`` sets them without randomness). ``params`` holds the
    model parameters of ``arch_of``, ``seed`` and ``device``.
    """
    config, train = configs_from_params(arch_of, params)
    dev = resolve_device(params.get("device", "auto"))
    model = initial_model(config, train.seed, dev)
    origin = {"untrained": True, "initial_weights": f"weight_init={config.get('weight_init')!r}, seed={train.seed}"}
    return LearnedSegmenter(method, model, config, params, dev, origin)


def learned_segmenter(method: str, model_config: dict[str, Any], train_config: TrainConfig, *,
                      weights: str | None, device: str, train_dataset: str, train_split: str,
                      train_root: str | None, params: dict[str, Any], progress: bool = True) -> LearnedSegmenter:
    """Build the segmenter of a learned method: given weights, cached weights, or (``params["train_missing"]``)
    train now (:func:`lsbench.learned.weights.resolve_weights`)."""
    dev = resolve_device(device)

    def training_set() -> Any:
        from lsbench.datasets import load

        return load(train_dataset, root=train_root, split=train_split)

    def train(dataset: Any, path: Path) -> tuple[nn.Module, dict[str, Any]]:
        return train_and_save(method, model_config, train_config, dataset, path, device=dev, progress=progress)

    def advice(dataset: Any) -> str:
        from lsbench.checkpoint_commands import training_advice

        return training_advice(method, params, len(dataset))

    model, ckpt = resolve_weights(method, model_config, train_config.as_dict(), weights=weights,
                                  build=lambda: build_model(model_config), training_set=training_set, train=train,
                                  score=("f_measure", "F-measure"), train_missing=bool(params.get("train_missing")),
                                  advice=advice)
    return LearnedSegmenter(method, model, model_config, params, dev, ckpt)

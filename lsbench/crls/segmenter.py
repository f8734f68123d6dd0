"""CRLS and Mask R-CNN as registered instance methods: weights given, cached, or (opt-in) trained now.

:func:`build_from_params` is what the factories ``crls`` and ``maskrcnn`` (and the variants
``crls-fcmask``, ``crls-lite``, ``crls-e2e``, :data:`DETECTOR_METHODS`) in
:mod:`lsbench.methods` call. It resolves the weights as the single-object learned methods do, with
the same checkpoint format and cache (:func:`lsbench.learned.weights.resolve_weights`):
``weights=PATH`` (the same method and an equal model config: backbone, class count, ...; a
mismatch is a :class:`~lsbench.learned.weights.CheckpointError` listing the differing keys), else
the cache, else stop with the ``lsbench train`` command that writes the missing checkpoint, or,
with ``train_missing=True``, train one now on ``train_dataset``/``train_split`` (saying so on
stderr, with a progress bar), resuming an interrupted run of the same configuration from its state
file (``<checkpoint>.state``), and store it in the cache.

The model's class count and names come from the training dataset (shapes: 6 classes). Nothing
is downloaded on any path; ``backbone_weights`` is a local file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lsbench.crls.model import (
    build_detector,
    count_parameters,
    detector_config,
    mask_stage_parameters,
)
from lsbench.crls.train import DetectorTrainConfig, predict, train_detector
from lsbench.device import resolve_device
from lsbench.learned.segmenter import TrainedSegmenter
from lsbench.learned.weights import load_checkpoint, resolve_weights, save_checkpoint
from lsbench.types import Prediction, Sample

__all__ = ["DETECTOR_METHODS", "DetectorSegmenter", "build_from_params", "configs_from_params", "state_path_for",
           "train_and_save", "training_data"]

#: registered detector methods -> the model arch each builds (crls-lite and crls-e2e are crls with other defaults)
DETECTOR_METHODS = {"crls": "crls", "maskrcnn": "maskrcnn", "crls-fcmask": "crls-fcmask", "crls-lite": "crls",
                    "crls-e2e": "crls"}
#: factory parameters that configure training (DetectorTrainConfig)
TRAIN_KEYS = ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "warmup_iters", "lr_schedule", "grad_clip",
              "seed", "hflip", "val_fraction", "val_limit", "patience")
#: factory parameters that say where weights and data come from, where to run and how to threshold
SOURCE_KEYS = ("weights", "train_missing", "backbone_weights", "device", "train_dataset", "train_split", "train_root",
               "train_dataset_params", "mask_threshold", "inference_batch")


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(Path(path).expanduser(), "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def training_data(name: str, split: str, root: str | None,
                  params: dict[str, Any] | None = None) -> tuple[Any, Any | None]:
    """``(train set, validation set or None)`` for a registered instance dataset (``params``: its options).

    The validation set is the dataset's ``val`` split when the dataset evaluates on another split
    (shapes: ``test``) and ``split`` is not ``val`` itself; otherwise None, and the trainer holds
    out part of the training split (SBD and COCO evaluate on ``val``).
    """
    from lsbench.datasets import load
    from lsbench.registry import DATASETS

    entry = DATASETS.get(name)
    if entry.kind != "instance":
        raise ValueError(f"dataset {name!r} is a {entry.kind} dataset; CRLS and Mask R-CNN train on instance "
                         f"datasets ({', '.join(n for n in DATASETS.names() if DATASETS.get(n).kind == 'instance')})")
    if params is not None and not isinstance(params, dict):
        raise TypeError(f"train_dataset_params must be a dict of dataset options, got {params!r}")
    train = load(name, root=root, split=split, **(params or {}))
    val = None
    if entry.defaults().get("split") not in ("val", split) and split != "val":
        try:
            val = load(name, root=root, split="val", **(params or {}))
        except (ValueError, LookupError, OSError):
            val = None
    return train, val


def configs_from_params(method: str, params: dict[str, Any], train_set: Any) -> tuple[dict[str, Any], DetectorTrainConfig]:
    """Sort a detector method's factory parameters into its model config and training config."""
    if method not in DETECTOR_METHODS:
        raise ValueError(f"{method!r} is not a detector method; valid: {', '.join(DETECTOR_METHODS)}")
    class_names = list(getattr(train_set, "class_names", ()) or ())
    if not class_names:
        raise ValueError(f"training dataset {getattr(train_set, 'name', '?')!r} does not name its classes")
    first = train_set[0]
    bw = params.get("backbone_weights")
    model_keys = {k: v for k, v in params.items() if k not in (*TRAIN_KEYS, *SOURCE_KEYS)}
    if bw:
        model_keys["backbone_pretrained"] = True
    config = detector_config(DETECTOR_METHODS[method], len(class_names), class_names, image_shape=first.shape, **model_keys)
    train = DetectorTrainConfig(**{k: params[k] for k in TRAIN_KEYS if k in params},
                                backbone_weights_sha256=_sha256(bw) if bw else None)
    return config, train


def state_path_for(checkpoint: str | Path) -> Path:
    """The resumable training-state file that goes with a checkpoint path."""
    p = Path(checkpoint)
    return p.with_name(p.name + ".state")


class DetectorSegmenter(TrainedSegmenter):
    """A trained CRLS / Mask R-CNN as an instance :class:`~lsbench.segmenter.Segmenter`.

    ``segmenter(sample)`` predicts one image; :meth:`predict_batch` predicts many, ``inference_batch``
    images per forward pass (the harness's throughput measurement).
    """

    kind = "instance"

    def __init__(self, name: str, model: nn.Module, model_config: dict[str, Any], params: dict[str, Any],
                 device: torch.device, checkpoint: dict[str, Any] | None = None) -> None:
        super().__init__(name, model, model_config, params, device, checkpoint)
        self.mask_threshold = float(params.get("mask_threshold", 0.5))
        self.inference_batch = int(params.get("inference_batch", 8))

    def describe(self) -> dict[str, Any]:
        """What the run's ``config.json`` records of the model: its size, total and of the mask stage."""
        return {"params": count_parameters(self.model), "mask_params": mask_stage_parameters(self.model)}

    def predict_batch(self, samples: Sequence[Sample]) -> list[Prediction]:
        return predict(self.model, list(samples), device=self.device, batch_size=self.inference_batch,
                       mask_threshold=self.mask_threshold)


def train_and_save(method: str, model_config: dict[str, Any], train_config: DetectorTrainConfig, train_set: Any,
                   val_set: Any | None, out: str | Path, *, device: torch.device, progress: bool = True,
                   resume: bool = True, backbone_weights: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Train (resuming ``<out>.state`` when it matches), write the checkpoint to ``out``, remove the state."""
    state = state_path_for(out)
    result = train_detector(model_config, train_config, train_set, val_set, method=method, device=device,
                            progress=progress, state_path=state, resume=resume, backbone_weights=backbone_weights)
    data = {"name": getattr(train_set, "name", ""), "split": getattr(train_set, "split", ""),
            "spec": train_set.spec() if hasattr(train_set, "spec") else {},
            "fingerprint": train_set.fingerprint() if hasattr(train_set, "fingerprint") else None,
            "n_train": result.n_train, "n_val": result.n_val,
            "val_split": getattr(val_set, "split", None) if val_set is not None else "held out from train",
            "val_groups": []}
    history = [{**row, "cpu_seconds_total": result.cpu_seconds} if i == len(result.history) - 1 else row
               for i, row in enumerate(result.history)]
    path = save_checkpoint(out, method=method, model_config=model_config, train_config=train_config.as_dict(),
                           state_dict=result.model.state_dict(), data=data, val_metrics=result.val_metrics,
                           history=history, train_seconds=result.seconds)
    state.unlink(missing_ok=True)
    ckpt = load_checkpoint(path, method=method, model_config=model_config)
    ckpt["cpu_seconds"] = result.cpu_seconds
    return result.model, ckpt


def build_from_params(method: str, params: dict[str, Any], *, progress: bool = True) -> DetectorSegmenter:
    """What the registered factory of ``method`` returns for its (complete) parameters."""
    dev = resolve_device(params.get("device", "auto"))
    train_set, val_set = training_data(params.get("train_dataset", "shapes"), params.get("train_split", "train"),
                                       params.get("train_root"), params.get("train_dataset_params"))
    config, train_config = configs_from_params(method, params, train_set)

    def train(dataset: Any, path: Path) -> tuple[nn.Module, dict[str, Any]]:
        return train_and_save(method, config, train_config, dataset, val_set, path, device=dev, progress=progress,
                              backbone_weights=params.get("backbone_weights") or None)

    def advice(dataset: Any) -> str:
        from lsbench.checkpoint_commands import training_advice

        return training_advice(method, params, len(dataset))

    model, ckpt = resolve_weights(method, config, train_config.as_dict(), weights=params.get("weights"),
                                  build=lambda: build_detector(config), training_set=lambda: train_set, train=train,
                                  score=("mAPr@0.5", "mAPr@0.5"), detail=f", backbone {config['backbone']}",
                                  train_missing=bool(params.get("train_missing")), advice=advice)
    return DetectorSegmenter(method, model, config, params, dev, ckpt)

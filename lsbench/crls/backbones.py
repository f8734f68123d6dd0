"""Convolutional trunks for CRLS and the Mask R-CNN baseline: ``small``, ``vgg16``, any torchvision classifier.

A backbone here is an ``nn.Module`` mapping ``(B, 3, H, W)`` to one feature map ``(B, C, H/s, W/s)``
with the attributes ``out_channels`` (``C``) and ``stride`` (``s``), which is what torchvision's
``GeneralizedRCNN`` accepts (it wraps a single tensor as ``{"0": features}``).

* ``"small"`` (the CPU default, :class:`SmallBackbone`): seven 3 x 3 conv + BatchNorm + ReLU
  layers, 128 channels, stride 4 (0.48 GMAC for a 128 x 128 image, receptive field 49 px).
  Stride 4 on 128 px images keeps the feature map as fine, relative to the objects, as the
  chapter's VGG-16 at stride 16 on 600 px images (a 32 x 32 map against VGG's 38 x 50): the
  shapes set's objects are 10-50 px, 2.5-12 cells at stride 4 but 1-6 at stride 8, and a 12 px
  object at stride 16 would span less than one cell. The first conv has stride 2, so no layer
  runs at full resolution. Measured on the shapes validation split after one epoch (AdamW,
  same settings otherwise): mAPr@0.5 0.289 at stride 4 with 32 RoIs per image against 0.232 at
  stride 8 with 64, and 20 % less CPU time per batch. ``"small-s8"`` is the stride-8 variant
  (two more max-pools' worth of saving in the RPN and the warps); ``"small-s4"`` names the
  default explicitly.
* ``"vgg16"``: the chapter's trunk (§3.1, §5): VGG-16 ``conv1_1 ... relu5_3`` (13 conv layers,
  4 max-pools, stride 16, 512 channels), ``torchvision.models.vgg16(weights=None).features[:30]``.
  With pretrained weights, ``conv1`` and ``conv2`` (``features[:10]``) are frozen, as in MNC
  (``lr_mult: 0``).
* any other name of ``torchvision.models.list_models(module=torchvision.models)`` (``resnet18``,
  ``resnet50``, ``mobilenet_v3_large``, ``convnext_tiny``, ...): built with ``weights=None`` and cut
  to its longest leading part of stride at most 16 (ResNets: ``conv1 ... layer3``, the "C4" trunk
  of Faster R-CNN). With pretrained weights, BatchNorm layers become
  ``torchvision.ops.FrozenBatchNorm2d`` and a ResNet's ``conv1`` and ``layer1`` are frozen, as in
  torchvision's detection builders (``trainable_backbone_layers=3``).

No code path downloads: models are always built with ``weights=None``; pretrained weights come
only from a local file (:func:`load_backbone_weights`, read with ``torch.load(weights_only=True)``).

References
----------
.. [1] K. Simonyan, A. Zisserman, "Very deep convolutional networks for large-scale image
   recognition", ICLR 2015, arXiv:1409.1556.
.. [2] K. He, X. Zhang, S. Ren, J. Sun, "Deep residual learning for image recognition", CVPR 2016,
   doi:10.1109/CVPR.2016.90.
"""

from __future__ import annotations

import math
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["BACKBONES", "MAX_STRIDE", "SmallBackbone", "backbone_names", "build_backbone", "check_backbone_name",
           "load_backbone_weights"]

#: backbones built into lsbench; any torchvision classification model name works as well
BACKBONES = ("small", "small-s4", "small-s8", "vgg16")
SMALL_STRIDES = {"small": 4, "small-s4": 4, "small-s8": 8}
#: the trunk of a torchvision classifier is cut where its stride would exceed this
MAX_STRIDE = 16
#: a trunk that downsamples less than this is not a detection backbone
MIN_STRIDE = 8
_PROBE_SIZE = (96, 128)  # a non-square probe, so a channels-last output cannot pass as a feature map


def _conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallBackbone(nn.Sequential):
    """The CPU-sized trunk: 7 conv layers (3 x 3, BatchNorm, ReLU), 128 channels, stride 4 or 8.

    ``conv 3->32 /2, conv 32->32, maxpool, conv 32->64, conv 64->64, [maxpool,] conv 64->128,
    conv 128->128, conv 128->128``; the second max-pool only at stride 8.
    """

    out_channels = 128

    def __init__(self, stride: int = 4) -> None:
        if stride not in (4, 8):
            raise ValueError(f"the small backbone has stride 4 or 8, got {stride!r}")
        pool = [nn.MaxPool2d(2)] if stride == 8 else []
        super().__init__(*_conv(3, 32, stride=2), *_conv(32, 32), nn.MaxPool2d(2),
                         *_conv(32, 64), *_conv(64, 64), *pool,
                         *_conv(64, 128), *_conv(128, 128), *_conv(128, 128))
        self.stride = stride
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def backbone_names() -> list[str]:
    """``small``, ``vgg16`` and every torchvision classification model name."""
    import torchvision

    return sorted(set(BACKBONES) | set(torchvision.models.list_models(module=torchvision.models)))


def check_backbone_name(name: str) -> str:
    """``name`` if it is one of :func:`backbone_names`; else a ``ValueError`` listing them."""
    names = backbone_names()
    if name not in names:
        raise ValueError(f"unknown backbone {name!r}; choose 'small', 'vgg16' or a torchvision classification "
                         f"model: {', '.join(n for n in names if n not in BACKBONES)}")
    return name


class _Trunk(nn.Sequential):
    """A cut classification network with ``out_channels`` and ``stride``."""

    def __init__(self, layers: list[nn.Module], out_channels: int, stride: int) -> None:
        super().__init__(*layers)
        self.out_channels = int(out_channels)
        self.stride = int(stride)


def _stride_of(shape: torch.Size) -> int | None:
    """The stride of a probe output, or None when it is not an NCHW map with one stride on both axes."""
    if len(shape) != 4:
        return None
    h, w = int(shape[-2]), int(shape[-1])
    if h == 0 or w == 0:
        return None
    # strides are powers of two; padding may leave a cell over or short (AlexNet: 96 px -> 11 cells)
    sh, sw = (2 ** round(math.log2(n / m)) for n, m in zip(_PROBE_SIZE, (h, w), strict=True))
    return sh if sh == sw else None


def _cut(modules: list[nn.Module], x: torch.Tensor, max_stride: int) -> tuple[list[nn.Module], torch.Tensor]:
    """The longest prefix of ``modules`` (descending into Sequentials) whose output stride <= max_stride."""
    kept: list[nn.Module] = []
    for m in modules:
        try:
            y = m(x)
        except (RuntimeError, ValueError, TypeError, AssertionError, IndexError):
            y = None  # not applicable to an image tensor: the trunk ends before it
        stride = None if not isinstance(y, torch.Tensor) else _stride_of(y.shape)
        if y is not None and stride is not None and stride <= max_stride:
            kept.append(m)
            x = y
            continue
        if isinstance(m, nn.Sequential):  # keep the part of this stage that stays fine enough
            inner, x = _cut(list(m.children()), x, max_stride)
            kept.extend(inner)
        break
    return kept, x


def _torchvision_trunk(name: str, max_stride: int = MAX_STRIDE) -> tuple[nn.Module, _Trunk]:
    """(the full classifier, its trunk) for a torchvision classification model name."""
    import torchvision

    check_backbone_name(name)
    model = torchvision.models.get_model(name, weights=None)
    if isinstance(getattr(model, "features", None), nn.Sequential):
        candidates = list(model.features.children())
    else:
        head_types = (nn.Linear, nn.Dropout, nn.Flatten, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
        candidates = [m for m in model.children() if not isinstance(m, head_types)]
    model.eval()
    with torch.no_grad():
        kept, out = _cut(candidates, torch.zeros(1, 3, *_PROBE_SIZE), max_stride)
    n_conv = sum(isinstance(m, nn.Conv2d) for k in kept for m in k.modules())
    stride = _stride_of(out.shape) or 0
    if n_conv < 2 or stride < MIN_STRIDE:
        raise ValueError(f"backbone {name!r}: found no convolutional trunk of stride {MIN_STRIDE} to {max_stride} in this "
                         "torchvision model (it is not a CNN that maps images to NCHW feature maps); choose "
                         "'small', 'vgg16', a ResNet, MobileNet, EfficientNet, ConvNeXt, DenseNet or RegNet")
    return model, _Trunk(kept, out.shape[1], stride)


def _read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights {path} do not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"backbone weights {path} are not a readable PyTorch state dict ({first})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"backbone weights {path} must hold a state dict (parameter name -> tensor)")
    return state


def load_backbone_weights(module: nn.Module, path: str | os.PathLike[str], name: str) -> None:
    """Load a local state dict into ``module`` (strictly); a clear error names what does not fit."""
    state = _read_state_dict(path)
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing:
        raise ValueError(f"backbone weights {path} do not fit backbone {name!r}: {len(missing)} of its "
                         f"{len(own)} entries are missing (e.g. {', '.join(missing[:3])})"
                         + (f"; the file has e.g. {', '.join(unexpected[:3])}" if unexpected else ""))
    shapes = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if shapes:
        k = shapes[0]
        raise ValueError(f"backbone weights {path} do not fit backbone {name!r}: {k} has shape "
                         f"{tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the model")
    module.load_state_dict({k: state[k] for k in own}, strict=True)


def _freeze_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d by torchvision's FrozenBatchNorm2d with the same statistics."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    for child_name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            frozen.weight.copy_(child.weight.detach())
            frozen.bias.copy_(child.bias.detach())
            frozen.running_mean.copy_(child.running_mean)
            frozen.running_var.copy_(child.running_var)
            setattr(module, child_name, frozen)
        else:
            _freeze_batchnorm(child)
    return module


def _freeze(modules: list[nn.Module]) -> None:
    for m in modules:
        for p in m.parameters():
            p.requires_grad_(False)


def build_backbone(name: str = "small", *, pretrained: bool = False,
                   weights: str | os.PathLike[str] | None = None) -> nn.Module:
    """A feature trunk with ``out_channels`` and ``stride`` (module docstring).

    Parameters
    ----------
    name : str
        ``"small"`` (``"small-s4"``), ``"small-s8"``, ``"vgg16"`` or a torchvision classification
        model name.
    pretrained : bool
        Build the variant meant for pretrained weights (frozen early layers, frozen BatchNorm);
        implied by ``weights``. A checkpoint trained from such weights records it, so the same
        variant is rebuilt without the file.
    weights : path, optional
        A local state dict: of the whole torchvision classifier (as its ``.pth`` files hold) or of
        the trunk itself; read with ``torch.load(weights_only=True)``. Nothing is downloaded.

    Raises
    ------
    ValueError
        An unknown name, a model without a convolutional trunk, or weights that do not fit.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"backbone must be a non-empty name, got {name!r}")
    pretrained = bool(pretrained) or weights is not None
    if name in SMALL_STRIDES:
        small = SmallBackbone(SMALL_STRIDES[name])
        if weights is not None:
            load_backbone_weights(small, weights, name)
        return _freeze_batchnorm(small) if pretrained else small
    model, trunk = _torchvision_trunk(name)
    if weights is not None:
        state = _read_state_dict(weights)
        target: nn.Module = trunk if set(trunk.state_dict()) <= set(state) else model
        load_backbone_weights(target, weights, name)
    if not pretrained:
        return trunk
    _freeze_batchnorm(trunk)
    layers = list(trunk.children())
    if name.startswith("vgg"):
        _freeze(layers[:10])  # conv1_1 ... relu2_2 (MNC: lr_mult 0)
    elif hasattr(model, "conv1") and hasattr(model, "layer1"):
        _freeze([model.conv1, model.layer1])  # torchvision's trainable_backbone_layers=3
    return trunk


def describe(backbone: nn.Module) -> dict[str, Any]:
    """``{"out_channels", "stride"}`` of a built backbone."""
    return {"out_channels": int(backbone.out_channels), "stride": int(backbone.stride)}

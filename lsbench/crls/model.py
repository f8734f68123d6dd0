"""CRLS and the Mask R-CNN baseline, composed from torchvision's detection parts, and their configs.

Both models are ``torchvision.models.detection.generalized_rcnn.GeneralizedRCNN``\\ s built from
the same parts (``reference/learned-methods.md`` §2.2):

* ``GeneralizedRCNNTransform`` (resize so the shorter side is ``min_size``, longer at most
  ``max_size``; ImageNet mean/std), a backbone (:mod:`lsbench.crls.backbones`);
* an RPN: ``AnchorGenerator`` (3 sizes x 3 ratios = 9 anchors), ``RPNHead``,
  ``RegionProposalNetwork`` (IoU 0.7 / 0.3, 256 anchors per image, NMS 0.7, 300 proposals after
  NMS in training and testing, top 12000 / 6000 before: MNC's ``mnc_5stage`` settings);
* RoI heads. **CRLS** (:class:`CRLS`): RoI warping (:class:`~lsbench.crls.roi_warp.RoIWarp`,
  ``roi_op="warp"``, or ``MultiScaleRoIAlign``, ``roi_op="align"``) to 14 x 14, then
  :class:`~lsbench.crls.heads.CRLSRoIHeads` (RLS mask, then masked classification; 64 RoIs per
  image as in MNC (32 with the small CPU backbone, which halves the cost of the RLS and the FC
  layers), 25 % foreground (Fast R-CNN's and MNC's ``FG_FRACTION``), test NMS 0.3).
  **Mask R-CNN** (:class:`MaskRCNNBaseline`): torchvision's ``MaskRCNN`` with the same backbone,
  transform, anchors, RPN and RoI sampling, RoIAlign 7 x 7 (boxes) and 14 x 14 (masks),
  ``TwoMLPHead`` of the same width, and a ``MaskRCNNHeads`` FCN mask head (4 conv layers, 28 x 28
  per-class masks; on the small backbone 64 channels, a mask stage of 0.20 M parameters against
  CRLS's 4.72 M, which ``crls-lite`` matches).
* **CRLS with MNC's mask stage** (``arch="crls-fcmask"``, the ablation of the RLS): the same
  :class:`CRLS` with :class:`~lsbench.crls.heads.FCMaskHead` (``fc6_maskest`` 256 + ReLU ->
  ``mask_pred`` ``m^2``) in place of the RLS mask head; every other part and key is CRLS's.

:func:`mask_stage_parameters` counts the mask stage of any of them (CRLS: the RoI-feature
reduction, ``fc6_maskest`` and the RLS; Mask R-CNN: the FCN mask head and its predictor), the
number the parameter-matched comparison of ``crls-lite`` and ``maskrcnn`` is made on.

A model config is a plain JSON-able dict (stored in every checkpoint; a checkpoint only loads into
a model of an equal config): :func:`detector_config` fills in and checks every key,
:func:`build_detector` builds the (randomly initialised) model. Building never downloads.

``CRLS`` and ``MaskRCNNBaseline`` check their inputs (:func:`check_images`, :func:`check_targets`)
before torchvision sees them: a greyscale image is repeated to three channels, an RGBA image, a
target without ``boxes``/``labels``/``masks`` or with degenerate boxes is a ``ValueError``
naming what is wrong; an image without objects (zero boxes) is a valid training image.

References
----------
.. [1] S. Ren, K. He, R. Girshick, J. Sun, "Faster R-CNN: towards real-time object detection with
   region proposal networks", NeurIPS 2015, arXiv:1506.01497.
.. [2] K. He, G. Gkioxari, P. Dollar, R. Girshick, "Mask R-CNN", ICCV 2017, doi:10.1109/ICCV.2017.322.
.. [3] T. H. N. Le, K. Luu, C. Zhu, M. Savvides, "Recurrent level set networks for instance
   segmentation", IntechOpen, 2019, doi:10.5772/intechopen.84675 (§3, §5).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.mask_rcnn import MaskRCNN, MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import (
    RegionProposalNetwork,
    RPNHead,
    concat_box_prediction_layers,
)
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import MultiScaleRoIAlign

from lsbench.crls.backbones import build_backbone, check_backbone_name
from lsbench.crls.heads import CRLSRoIHeads, FCMaskHead, MaskedFeatureClassifier, RLSMaskHead
from lsbench.crls.roi_warp import RoIWarp
from lsbench.learned.rls import GRUS, INITS
from lsbench.levelset.validate import check_int, check_number, check_positive_int

__all__ = ["ARCHS", "CRLS", "MaskRCNNBaseline", "ProposalNetwork", "build_detector", "check_images",
           "check_targets", "count_parameters", "detector_config", "mask_stage_parameters"]

ARCHS = ("crls", "maskrcnn", "crls-fcmask")
#: the archs built by :class:`CRLS` (the chapter's cascade; they differ in the mask stage only)
CRLS_ARCHS = ("crls", "crls-fcmask")
ROI_OPS = ("warp", "align")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
#: images whose longer side is at most this are used at their own size (no upscaling to 600)
NATIVE_MAX = 256

#: keys of every config, with their defaults (None: resolved from the backbone or the image size)
COMMON_DEFAULTS: dict[str, Any] = {
    "backbone": "small", "backbone_pretrained": False,
    "min_size": None, "max_size": None, "anchor_sizes": None, "aspect_ratios": [0.5, 1.0, 2.0],
    "rpn_fg_iou": 0.7, "rpn_bg_iou": 0.3, "rpn_batch_size": 256, "rpn_positive_fraction": 0.5,
    "rpn_pre_nms_train": None, "rpn_pre_nms_test": None, "rpn_post_nms_train": 300, "rpn_post_nms_test": 300,
    "rpn_nms": 0.7,
    "box_fg_iou": 0.5, "box_bg_iou": 0.5, "box_batch_size": None, "box_positive_fraction": 0.25,
    "box_score_thresh": 0.05, "box_nms": 0.3, "detections_per_img": 100,
    "representation_size": None,
}
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "crls": {"roi_op": "warp", "detach_proposals": True, "roi_size": 14, "sampling_ratio": 2, "mask_size": 21,
             "mask_channels": None, "rls_steps": 5, "rls_init": "disks", "rls_tie_weights": True, "rls_gru": "rls"},
    "crls-fcmask": {"roi_op": "warp", "detach_proposals": True, "roi_size": 14, "sampling_ratio": 2, "mask_size": 21,
                    "mask_channels": None, "mask_hidden": 256},
    "maskrcnn": {"mask_layers": None, "mask_dim": None},
}
#: per-backbone defaults of the keys left None above
_BACKBONE_DEFAULTS: dict[str, dict[str, Any]] = {
    **{name: {"representation_size": 256, "mask_channels": 32, "mask_layers": [64, 64, 64, 64], "mask_dim": 64,
              "box_batch_size": 32} for name in ("small", "small-s4", "small-s8")},
    "vgg16": {"representation_size": 4096, "mask_channels": 0, "mask_layers": [256, 256, 256, 256],
              "mask_dim": 256, "box_batch_size": 64},
}
_OTHER_BACKBONE = {"representation_size": 1024, "mask_channels": 64, "mask_layers": [256, 256, 256, 256],
                   "mask_dim": 256, "box_batch_size": 64}


def auto_sizes(image_shape: tuple[int, int] | None) -> dict[str, Any]:
    """``min_size``, ``max_size``, ``anchor_sizes`` and the RPN's pre-NMS counts for images of ``image_shape``.

    Images at most :data:`NATIVE_MAX` px (the shapes set) are used at their own size with anchors
    of 16, 32 and 64 px (objects of 10-60 px) and the top 1000 proposals before NMS (a 128 px
    image has 2304 anchors, so MNC's 12000 would keep all of them and NMS would take a quarter
    of a training step); larger images get the chapter's 600 / 1000 px, MNC's anchors of 128,
    256 and 512 px and its 12000 (training) / 6000 (testing) proposals before NMS.
    """
    if image_shape is not None and max(image_shape) <= NATIVE_MAX:
        return {"min_size": int(min(image_shape)), "max_size": int(max(image_shape)), "anchor_sizes": [16, 32, 64],
                "rpn_pre_nms_train": 1000, "rpn_pre_nms_test": 1000}
    return {"min_size": 600, "max_size": 1000, "anchor_sizes": [128, 256, 512],
            "rpn_pre_nms_train": 12000, "rpn_pre_nms_test": 6000}


def detector_config(arch: str, num_classes: int, class_names: Sequence[str] | None = None, *,
                    image_shape: tuple[int, int] | None = None, **kwargs: Any) -> dict[str, Any]:
    """A complete, checked model config for ``arch`` (``"crls"``, ``"maskrcnn"`` or ``"crls-fcmask"``).

    Parameters
    ----------
    arch : {"crls", "maskrcnn", "crls-fcmask"}
    num_classes : int
        ``K``, object classes without the background.
    class_names : sequence of str, optional
        Stored with the model (default ``class 1 ... class K``).
    image_shape : (int, int), optional
        A typical training image's ``(H, W)``, to resolve ``min_size``, ``max_size`` and
        ``anchor_sizes`` left as None (:func:`auto_sizes`).
    **kwargs
        Any key of :data:`COMMON_DEFAULTS` or of the arch's :data:`ARCH_DEFAULTS`.
    """
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(map(repr, ARCHS))}; got {arch!r}")
    check_positive_int("num_classes", num_classes)
    names = [f"class {k}" for k in range(1, num_classes + 1)] if class_names is None else [str(c) for c in class_names]
    if len(names) != num_classes:
        raise ValueError(f"class_names has {len(names)} names for num_classes={num_classes}")
    defaults = {**COMMON_DEFAULTS, **ARCH_DEFAULTS[arch]}
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise ValueError(f"{arch} has no model parameter(s) {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(sorted(defaults))}")
    cfg = {**defaults, **kwargs}
    backbone = cfg["backbone"]
    if not isinstance(backbone, str) or not backbone:
        raise ValueError(f"backbone must be a name, got {backbone!r}")
    check_backbone_name(backbone)
    fill = _BACKBONE_DEFAULTS.get(backbone, _OTHER_BACKBONE)
    for key, value in {**fill, **auto_sizes(image_shape)}.items():
        if key in cfg and cfg[key] is None:
            cfg[key] = value
    for key in ("min_size", "max_size", "representation_size", "rpn_batch_size", "rpn_pre_nms_train",
                "rpn_pre_nms_test", "rpn_post_nms_train", "rpn_post_nms_test", "box_batch_size", "detections_per_img"):
        check_positive_int(key, cfg[key])
    if cfg["max_size"] < cfg["min_size"]:
        raise ValueError(f"max_size ({cfg['max_size']}) must be at least min_size ({cfg['min_size']})")
    for key in ("anchor_sizes", "aspect_ratios"):
        v = cfg[key]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = [v]
        if not isinstance(v, (list, tuple)) or not v or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in v):
            raise ValueError(f"{key} must be a non-empty list of positive numbers, got {cfg[key]!r}")
        cfg[key] = [int(x) if key == "anchor_sizes" else float(x) for x in v]
    for key in ("rpn_fg_iou", "rpn_bg_iou", "rpn_positive_fraction", "rpn_nms", "box_fg_iou", "box_bg_iou",
                "box_positive_fraction", "box_score_thresh", "box_nms"):
        cfg[key] = check_number(key, cfg[key], minimum=0, maximum=1)
    if cfg["rpn_bg_iou"] > cfg["rpn_fg_iou"] or cfg["box_bg_iou"] > cfg["box_fg_iou"]:
        raise ValueError("the background IoU thresholds must not exceed the foreground ones")
    cfg["backbone_pretrained"] = bool(cfg["backbone_pretrained"])
    if arch in CRLS_ARCHS:
        if cfg["roi_op"] not in ROI_OPS:
            raise ValueError(f"roi_op must be one of {', '.join(map(repr, ROI_OPS))}; got {cfg['roi_op']!r}")
        for key in ("roi_size", "sampling_ratio", "mask_size"):
            check_positive_int(key, cfg[key])
        if cfg["roi_size"] < 2 or cfg["roi_size"] % 2:
            raise ValueError(f"roi_size must be an even number >= 2 (the classifier max-pools it by 2), "
                             f"got {cfg['roi_size']}")
        if cfg["mask_size"] < 3:
            raise ValueError(f"mask_size must be at least 3, got {cfg['mask_size']}")
        check_int("mask_channels", cfg["mask_channels"], minimum=0, what="a non-negative integer (0: no reduction)")
        cfg["detach_proposals"] = bool(cfg["detach_proposals"])
    if arch == "crls-fcmask":
        check_positive_int("mask_hidden", cfg["mask_hidden"])
    elif arch == "crls":
        check_positive_int("rls_steps", cfg["rls_steps"])
        if cfg["rls_init"] not in INITS or cfg["rls_init"] == "sample":
            valid = [i for i in INITS if i != "sample"]
            raise ValueError(f"rls_init must be one of {', '.join(map(repr, valid))}; got {cfg['rls_init']!r}")
        if cfg["rls_gru"] not in GRUS:
            raise ValueError(f"rls_gru must be one of {', '.join(map(repr, GRUS))}; got {cfg['rls_gru']!r}")
        cfg["rls_tie_weights"] = bool(cfg["rls_tie_weights"])
    else:
        layers = cfg["mask_layers"]
        if not isinstance(layers, (list, tuple)) or not layers:
            raise ValueError(f"mask_layers must be a non-empty list of channel counts, got {layers!r}")
        cfg["mask_layers"] = [check_positive_int("mask_layers", int(c) if isinstance(c, float) else c) for c in layers]
        check_positive_int("mask_dim", cfg["mask_dim"])
    return {"arch": arch, "num_classes": int(num_classes), "class_names": names, **cfg}


# -- input checks shared by both models ---------------------------------------------------------------
def check_images(images: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Images as a list of ``(3, H, W)`` float tensors; grey ``(H, W)``/``(1, H, W)`` repeated to RGB.

    Raises
    ------
    TypeError, ValueError
        Not a list of tensors, integer images, or images that are not grey or RGB (e.g. RGBA).
    """
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        images = list(images)
    if not isinstance(images, (list, tuple)) or not all(isinstance(im, torch.Tensor) for im in images):
        raise TypeError("images must be a list of (C, H, W) tensors")
    out = []
    for i, im in enumerate(images):
        if not im.is_floating_point():
            raise TypeError(f"image {i} has dtype {im.dtype}; pass float images in [0, 1]")
        if im.dim() == 2:
            im = im.unsqueeze(0)
        if im.dim() != 3 or im.shape[0] not in (1, 3):
            hint = " (RGBA: drop the alpha channel, e.g. image[:3])" if im.dim() == 3 and im.shape[0] == 4 else ""
            raise ValueError(f"image {i} has shape {tuple(im.shape)}; expected (3, H, W) RGB or (H, W) / "
                             f"(1, H, W) greyscale{hint}")
        if min(im.shape[-2:]) < 8:
            raise ValueError(f"image {i} is {tuple(im.shape[-2:])} px; both sides must be at least 8 px")
        out.append(im.expand(3, -1, -1) if im.shape[0] == 1 else im)
    return out


def check_targets(targets: Sequence[dict[str, torch.Tensor]], images: Sequence[torch.Tensor]) -> None:
    """Raise a clear ``ValueError`` for a training target torchvision would reject obscurely."""
    if len(targets) != len(images):
        raise ValueError(f"got {len(targets)} targets for {len(images)} images")
    for i, (t, im) in enumerate(zip(targets, images, strict=True)):
        if not isinstance(t, dict):
            raise TypeError(f"target {i} must be a dict with boxes, labels and masks")
        for key in ("boxes", "labels", "masks"):
            if key not in t:
                raise ValueError(f"target {i} has no {key!r} (every training image needs boxes (N, 4), "
                                 "labels (N,) and masks (N, H, W); N = 0 for an image without objects)")
        boxes, labels, masks = t["boxes"], t["labels"], t["masks"]
        if boxes.dim() != 2 or boxes.shape[1] != 4:
            raise ValueError(f"target {i}: boxes must have shape (N, 4), got {tuple(boxes.shape)}")
        n = boxes.shape[0]
        if labels.shape != (n,) or masks.dim() != 3 or masks.shape[0] != n:
            raise ValueError(f"target {i}: {n} boxes but labels {tuple(labels.shape)} and masks {tuple(masks.shape)}")
        if tuple(masks.shape[-2:]) != tuple(im.shape[-2:]):
            raise ValueError(f"target {i}: masks are {tuple(masks.shape[-2:])}, the image is {tuple(im.shape[-2:])}")
        if n and bool((boxes[:, 2:] <= boxes[:, :2]).any()):
            bad = boxes[(boxes[:, 2:] <= boxes[:, :2]).any(1)][0].tolist()
            raise ValueError(f"target {i} has a box of zero width or height {bad}; drop empty instances")
        if n and bool((labels < 1).any()):
            raise ValueError(f"target {i}: labels must be 1..K (0 is the background), got {labels.tolist()}")


class _CheckedInputs:
    """Mixin: validate images (and targets in training) before ``GeneralizedRCNN.forward``."""

    def forward(self, images: Sequence[torch.Tensor], targets: list[dict[str, torch.Tensor]] | None = None) -> Any:
        images = check_images(images)
        if self.training:  # type: ignore[attr-defined]
            if targets is None:
                raise ValueError("training mode needs targets (boxes, labels, masks per image)")
            check_targets(targets, images)
            num_classes = self.config["num_classes"]  # type: ignore[attr-defined]
            for i, t in enumerate(targets):
                if t["labels"].numel() and int(t["labels"].max()) > num_classes:
                    raise ValueError(f"target {i} has label {int(t['labels'].max())} but the model has "
                                     f"{num_classes} classes")
        return super().forward(images, targets)  # type: ignore[misc]


class ProposalNetwork(RegionProposalNetwork):
    """torchvision's RPN with an option to keep the proposals' gradient.

    With ``detach_proposals=False`` the decoded proposals are not detached from the RPN's box
    deltas, so a loss computed on warped features (``roi_op="warp"``) back-propagates to the
    RPN's regression (MNC's end-to-end training through box coordinates). Otherwise identical
    to ``RegionProposalNetwork.forward``.
    """

    def __init__(self, *args: Any, detach_proposals: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.detach_proposals = bool(detach_proposals)

    def forward(self, images: Any, features: dict[str, torch.Tensor],
                targets: list[dict[str, torch.Tensor]] | None = None) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        if self.detach_proposals:
            return super().forward(images, features, targets)
        feats = list(features.values())
        objectness, pred_bbox_deltas = self.head(feats)
        anchors = self.anchor_generator(images, feats)
        num_images = len(anchors)
        num_anchors_per_level = [o[0].shape[0] * o[0].shape[1] * o[0].shape[2] for o in objectness]
        objectness, pred_bbox_deltas = concat_box_prediction_layers(objectness, pred_bbox_deltas)
        proposals = self.box_coder.decode(pred_bbox_deltas, anchors).view(num_images, -1, 4)  # not detached
        boxes, _scores = self.filter_proposals(proposals, objectness, images.image_sizes, num_anchors_per_level)
        losses: dict[str, torch.Tensor] = {}
        if self.training:
            if targets is None:
                raise ValueError("targets should not be None")
            labels, matched_gt_boxes = self.assign_targets_to_anchors(anchors, targets)
            regression_targets = self.box_coder.encode(matched_gt_boxes, anchors)
            loss_objectness, loss_rpn_box_reg = self.compute_loss(objectness, pred_bbox_deltas, labels,
                                                                  regression_targets)
            losses = {"loss_objectness": loss_objectness, "loss_rpn_box_reg": loss_rpn_box_reg}
        return boxes, losses


def _transform(cfg: dict[str, Any]) -> GeneralizedRCNNTransform:
    return GeneralizedRCNNTransform(cfg["min_size"], cfg["max_size"], IMAGENET_MEAN, IMAGENET_STD)


def _anchors(cfg: dict[str, Any]) -> AnchorGenerator:
    return AnchorGenerator(sizes=(tuple(cfg["anchor_sizes"]),), aspect_ratios=(tuple(cfg["aspect_ratios"]),))


def _rpn_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    return dict(fg_iou_thresh=cfg["rpn_fg_iou"], bg_iou_thresh=cfg["rpn_bg_iou"],
                batch_size_per_image=cfg["rpn_batch_size"], positive_fraction=cfg["rpn_positive_fraction"],
                pre_nms_top_n={"training": cfg["rpn_pre_nms_train"], "testing": cfg["rpn_pre_nms_test"]},
                post_nms_top_n={"training": cfg["rpn_post_nms_train"], "testing": cfg["rpn_post_nms_test"]},
                nms_thresh=cfg["rpn_nms"])


def _backbone(cfg: dict[str, Any], given: nn.Module | None) -> nn.Module:
    """The config's backbone, or a given trunk (any module with ``out_channels``, e.g. a test stub)."""
    if given is None:
        return build_backbone(cfg["backbone"], pretrained=cfg["backbone_pretrained"])
    if not isinstance(getattr(given, "out_channels", None), int):
        raise TypeError("a custom backbone must be an nn.Module with an integer out_channels attribute")
    return given


class CRLS(_CheckedInputs, GeneralizedRCNN):
    """Contextual Recurrent Level Sets: RPN -> RoI warp -> RLS mask -> masked classification.

    Build it with :func:`build_detector` from a :func:`detector_config`. Train mode returns
    ``loss_objectness``, ``loss_rpn_box_reg``, ``loss_classifier``, ``loss_box_reg`` and
    ``loss_mask`` (their sum is the chapter's unified loss, Eq. (32)); eval mode returns per
    image ``boxes`` (N, 4), ``labels`` (N,), ``scores`` (N,) and ``masks`` (N, 1, H, W)
    probabilities pasted into the image.
    """

    def __init__(self, config: dict[str, Any], backbone: nn.Module | None = None) -> None:
        if config.get("arch") not in CRLS_ARCHS:
            raise ValueError(f"CRLS needs a {' or '.join(map(repr, CRLS_ARCHS))} config, got arch "
                             f"{config.get('arch')!r}")
        self.config = dict(config)
        cfg = config
        backbone = _backbone(cfg, backbone)
        c = backbone.out_channels
        anchors = _anchors(cfg)
        rpn = ProposalNetwork(anchors, RPNHead(c, anchors.num_anchors_per_location()[0]), **_rpn_kwargs(cfg),
                              detach_proposals=cfg["detach_proposals"])
        roi = cfg["roi_size"]
        pool: nn.Module = (RoIWarp("0", roi, cfg["sampling_ratio"]) if cfg["roi_op"] == "warp"
                           else MultiScaleRoIAlign(["0"], roi, cfg["sampling_ratio"]))
        mask_head: nn.Module
        if cfg["arch"] == "crls-fcmask":
            mask_head = FCMaskHead(c, roi, cfg["mask_size"], mask_channels=cfg["mask_channels"],
                                   hidden=cfg["mask_hidden"])
        else:
            mask_head = RLSMaskHead(c, roi, cfg["mask_size"], mask_channels=cfg["mask_channels"],
                                    steps=cfg["rls_steps"], init=cfg["rls_init"], tie_weights=cfg["rls_tie_weights"],
                                    gru=cfg["rls_gru"])
        classifier = MaskedFeatureClassifier(c, roi, cfg["representation_size"], cfg["num_classes"] + 1)
        heads = CRLSRoIHeads(pool, mask_head, classifier, fg_iou_thresh=cfg["box_fg_iou"],
                             bg_iou_thresh=cfg["box_bg_iou"], batch_size_per_image=cfg["box_batch_size"],
                             positive_fraction=cfg["box_positive_fraction"], bbox_reg_weights=None,
                             score_thresh=cfg["box_score_thresh"], nms_thresh=cfg["box_nms"],
                             detections_per_img=cfg["detections_per_img"])
        super().__init__(backbone, rpn, heads, _transform(cfg))


class MaskRCNNBaseline(_CheckedInputs, MaskRCNN):
    """torchvision's ``MaskRCNN`` on the same backbone, transform, anchors, RPN and RoI sampling as CRLS."""

    def __init__(self, config: dict[str, Any], backbone: nn.Module | None = None) -> None:
        if config.get("arch") != "maskrcnn":
            raise ValueError(f"MaskRCNNBaseline needs a 'maskrcnn' config, got arch {config.get('arch')!r}")
        self.config = dict(config)
        cfg = config
        backbone = _backbone(cfg, backbone)
        c, k1, rep = backbone.out_channels, cfg["num_classes"] + 1, cfg["representation_size"]
        anchors = _anchors(cfg)
        rpn_head = RPNHead(c, anchors.num_anchors_per_location()[0])
        rpn = _rpn_kwargs(cfg)
        super().__init__(
            backbone, num_classes=None, min_size=cfg["min_size"], max_size=cfg["max_size"],
            image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD, rpn_anchor_generator=anchors, rpn_head=rpn_head,
            rpn_pre_nms_top_n_train=rpn["pre_nms_top_n"]["training"], rpn_pre_nms_top_n_test=rpn["pre_nms_top_n"]["testing"],
            rpn_post_nms_top_n_train=rpn["post_nms_top_n"]["training"],
            rpn_post_nms_top_n_test=rpn["post_nms_top_n"]["testing"], rpn_nms_thresh=cfg["rpn_nms"],
            rpn_fg_iou_thresh=cfg["rpn_fg_iou"], rpn_bg_iou_thresh=cfg["rpn_bg_iou"],
            rpn_batch_size_per_image=cfg["rpn_batch_size"], rpn_positive_fraction=cfg["rpn_positive_fraction"],
            box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2), box_head=TwoMLPHead(c * 49, rep),
            box_predictor=FastRCNNPredictor(rep, k1), box_score_thresh=cfg["box_score_thresh"],
            box_nms_thresh=cfg["box_nms"], box_detections_per_img=cfg["detections_per_img"],
            box_fg_iou_thresh=cfg["box_fg_iou"], box_bg_iou_thresh=cfg["box_bg_iou"],
            box_batch_size_per_image=cfg["box_batch_size"], box_positive_fraction=cfg["box_positive_fraction"],
            mask_roi_pool=MultiScaleRoIAlign(["0"], 14, 2), mask_head=MaskRCNNHeads(c, cfg["mask_layers"], 1),
            mask_predictor=MaskRCNNPredictor(cfg["mask_layers"][-1], cfg["mask_dim"], k1))


def build_detector(config: dict[str, Any], *, backbone_weights: str | None = None,
                   backbone: nn.Module | None = None) -> nn.Module:
    """The randomly initialised model of a :func:`detector_config` (optionally a pretrained trunk).

    ``backbone_weights`` (a local state-dict file) initialises the backbone; the config must then
    say ``backbone_pretrained=True`` (frozen early layers and BatchNorm, as in the chapter's
    ImageNet-initialised VGG-16). ``backbone`` replaces the config's trunk by a given module
    (with an ``out_channels`` attribute).
    """
    if not isinstance(config, dict) or config.get("arch") not in ARCHS:
        raise ValueError(f"a detector config is a dict with 'arch' in {ARCHS}; got {config!r:.200}")
    model: nn.Module = (CRLS(config, backbone) if config["arch"] in CRLS_ARCHS else MaskRCNNBaseline(config, backbone))
    if backbone_weights is not None:
        if not config["backbone_pretrained"]:
            raise ValueError("backbone weights need a config with backbone_pretrained=True")
        trained = build_backbone(config["backbone"], weights=backbone_weights)
        model.backbone.load_state_dict(trained.state_dict())
    return model


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def mask_stage_parameters(model: nn.Module) -> int:
    """Trainable parameters of the mask stage of a :class:`CRLS` or :class:`MaskRCNNBaseline`.

    CRLS: ``roi_heads.mask_head`` (the 1 x 1 reduction, ``fc6_maskest`` and the RLS, or MNC's two
    FC layers); Mask R-CNN: ``roi_heads.mask_head`` (the FCN) and ``roi_heads.mask_predictor``
    (the deconvolution and the per-class 1 x 1 output). RoI pooling has no parameters.

    Examples
    --------
    >>> cfg = detector_config("maskrcnn", 2, image_shape=(64, 64), mask_layers=[4], mask_dim=4)
    >>> mask_stage_parameters(build_detector(cfg))  # 3x3 conv 128->4: 4612, 2x2 deconv: 68, 1x1 4->3: 15
    4695
    """
    if not isinstance(model, (CRLS, MaskRCNNBaseline)):
        raise TypeError(f"expected a CRLS or MaskRCNNBaseline, got {type(model).__name__}")
    parts = [model.roi_heads.mask_head]
    if isinstance(model, MaskRCNNBaseline):
        parts.append(model.roi_heads.mask_predictor)
    return int(sum(p.numel() for part in parts for p in part.parameters() if p.requires_grad))


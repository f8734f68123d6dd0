"""CRLS's RoI stages 2 and 3 and the RoI head that runs them in the chapter's order.

Stage 2 (:class:`RLSMaskHead`, chapter §3.2, official ``fc6_maskest`` -> ``ls_layer``/``gru_layer``
x T -> ``mask_pred``): the warped RoI features go through a fully connected layer (ReLU) to an
``m x m`` "image" ``I`` (``m = 21``), which the recurrent level set (:class:`lsbench.learned.rls.RLS`,
dense, ``N = m^2 = 441``, T steps from phi_0) segments into one class-agnostic mask. Its ablation
(:class:`FCMaskHead`, the ``crls-fcmask`` method) is MNC's plain stage 2 on the same features:
``fc6_maskest`` (256, ReLU) -> ``mask_pred`` (``m^2``), no RLS.

Stage 3 (:class:`MaskedFeatureClassifier`, §3.3, Figure 6): the warped features multiplied by the
predicted mask (resized to the RoI grid, ``f_MSK = f_ROI * f_SEG``) and the plain warped
features each go through a max-pool and two fully connected layers; the two vectors are joined
and two sibling layers give the ``K + 1`` class scores and the box refinement.

:class:`CRLSRoIHeads` subclasses torchvision's ``RoIHeads`` (sampling, target assignment,
``fastrcnn_loss``, ``maskrcnn_loss``, ``postprocess_detections``) and replaces its ``forward``,
which classifies *before* masking, with the chapter's cascade: segment, then classify with the
mask. The mask loss is on positive RoIs only, the classification loss on all sampled RoIs; both
back-propagate through the mask into the RLS (the "dependent" losses of §4).

Deviations from the official Caffe/MNC code, and why:

* the fully connected widths are configurable (the official 4096 suits VGG-16 on a GPU; the
  CPU configuration uses 256) and an optional 1 x 1 convolution (``mask_channels``) reduces the
  RoI features before ``fc6_maskest`` (14 x 14 x 128 -> 441 would be 11 M weights per RoI);
* a positive RoI for the mask loss is box IoU >= 0.5 (torchvision's rule); MNC also requires the
  predicted mask's IoU >= 0.5 (``FG_SEG_THRESH``);
* at inference the masks are predicted again on the refined, non-maximum-suppressed boxes
  (like MNC's 5-stage test and torchvision's Mask R-CNN), so each mask is aligned with its final
  box; the class scores come from the proposals' masks, as in the chapter;
* no "mask voting" (MNC's test-time mask merging).

References
----------
.. [1] T. H. N. Le, K. Luu, C. Zhu, M. Savvides, "Recurrent level set networks for instance
   segmentation", IntechOpen, 2019, doi:10.5772/intechopen.84675 (§3.2, §3.3, §4).
.. [2] J. Dai, K. He, J. Sun, "Instance-aware semantic segmentation via multi-task network
   cascades", CVPR 2016, doi:10.1109/CVPR.2016.343.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss, maskrcnn_loss

from lsbench.learned.rls import RLS

__all__ = ["CRLSRoIHeads", "FCMaskHead", "MaskedFeatureClassifier", "RLSMaskHead"]


class RLSMaskHead(nn.Module):
    """Stage 2: RoI features -> fully connected ``m x m`` image -> RLS -> one mask logit per pixel.

    Parameters
    ----------
    in_channels : int
        Channels of the warped RoI features.
    roi_size : int
        Side of the warped RoI grid (official: 14).
    mask_size : int
        ``m``, side of the RLS grid (official: 21, ``N = 441``).
    mask_channels : int or None
        Reduce the RoI features to this many channels by a 1 x 1 convolution + ReLU before the
        fully connected layer (0 or None: no reduction, as the official ``fc6_maskest``).
    steps, init, tie_weights, gru, heaviside, eps, curvature_eta
        The RLS's (:class:`lsbench.learned.rls.RLS`; official: 5 steps, ``disks`` phi_0).

    Notes
    -----
    The RLS outputs two logits per pixel (background, object) for a softmax; their difference
    ``o_1 - o_0`` is the equivalent single sigmoid logit, which is what torchvision's
    ``maskrcnn_loss`` and ``paste_masks_in_image`` take (``softmax([o0, o1])_1 = sigmoid(o1 - o0)``).
    """

    def __init__(self, in_channels: int, roi_size: int = 14, mask_size: int = 21, *,
                 mask_channels: int | None = None, steps: int = 5, init: str = "disks", tie_weights: bool = True,
                 gru: str = "rls", heaviside: str = "arctan", eps: float = 1.0,
                 curvature_eta: float = 1e-2) -> None:
        super().__init__()
        self.roi_size, self.mask_size = int(roi_size), int(mask_size)
        if mask_channels:
            self.reduce: nn.Module = nn.Sequential(nn.Conv2d(in_channels, mask_channels, 1), nn.ReLU(inplace=True))
            channels = int(mask_channels)
        else:
            self.reduce = nn.Identity()
            channels = int(in_channels)
        self.fc_maskest = nn.Linear(channels * roi_size * roi_size, mask_size * mask_size)
        self.rls = RLS(mask_size, mask_size, steps=steps, kind="dense", init=init, tie_weights=tie_weights,
                       gru=gru, heaviside=heaviside, eps=eps, curvature_eta=curvature_eta)

    def image(self, features: torch.Tensor) -> torch.Tensor:
        """The RLS input ``I`` (K, m, m): ``relu(fc6_maskest(features))``."""
        x = self.reduce(features).flatten(1)
        return F.relu(self.fc_maskest(x)).view(-1, self.mask_size, self.mask_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Mask logits ``(K, 1, m, m)`` for RoI features ``(K, C, roi, roi)``."""
        if features.shape[0] == 0:
            return features.new_zeros((0, 1, self.mask_size, self.mask_size))
        logits = self.rls(self.image(features))  # (K, 2, m, m)
        return (logits[:, 1] - logits[:, 0]).unsqueeze(1)


class FCMaskHead(nn.Module):
    """MNC's stage 2 (the ablation of the RLS): RoI features -> FC (ReLU) -> FC to ``m x m`` mask logits.

    MNC's ``mnc_5stage`` mask estimation is ``fc6_maskest`` (256, ReLU) then ``mask_pred``
    (``m^2 = 441``) on the warped 14 x 14 features, one class-agnostic sigmoid mask per RoI. CRLS
    widens ``fc6_maskest`` to ``m^2`` and puts the RLS between it and the output; this head is the
    same stage without the RLS, on the same (optionally 1 x 1-reduced) RoI features, so that
    ``crls-fcmask`` differs from ``crls`` only in the mask stage.

    Parameters
    ----------
    in_channels : int
        Channels of the warped RoI features.
    roi_size : int
        Side of the warped RoI grid (official: 14).
    mask_size : int
        ``m`` (MNC and CRLS: 21).
    mask_channels : int or None
        The 1 x 1 convolution + ReLU of :class:`RLSMaskHead` (0 or None: none).
    hidden : int
        Width of ``fc6_maskest`` (MNC: 256).

    Examples
    --------
    >>> head = FCMaskHead(8, roi_size=4, mask_size=5, hidden=16)
    >>> tuple(head(torch.zeros(3, 8, 4, 4)).shape)
    (3, 1, 5, 5)
    """

    def __init__(self, in_channels: int, roi_size: int = 14, mask_size: int = 21, *,
                 mask_channels: int | None = None, hidden: int = 256) -> None:
        super().__init__()
        self.roi_size, self.mask_size = int(roi_size), int(mask_size)
        if mask_channels:
            self.reduce: nn.Module = nn.Sequential(nn.Conv2d(in_channels, mask_channels, 1), nn.ReLU(inplace=True))
            channels = int(mask_channels)
        else:
            self.reduce = nn.Identity()
            channels = int(in_channels)
        self.fc_maskest = nn.Linear(channels * roi_size * roi_size, int(hidden))
        self.mask_pred = nn.Linear(int(hidden), mask_size * mask_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Mask logits ``(K, 1, m, m)`` for RoI features ``(K, C, roi, roi)``."""
        if features.shape[0] == 0:
            return features.new_zeros((0, 1, self.mask_size, self.mask_size))
        hidden = F.relu(self.fc_maskest(self.reduce(features).flatten(1)))
        return self.mask_pred(hidden).view(-1, 1, self.mask_size, self.mask_size)


class MaskedFeatureClassifier(nn.Module):
    """Stage 3: box path and mask path (max-pool, two FC layers each), joined, then scores and boxes.

    Parameters
    ----------
    in_channels : int
    roi_size : int
        Side of the warped RoI grid; both paths max-pool it by 2 (official: 14 -> 7).
    representation_size : int
        Width of the two FC layers of each path (official: 4096).
    num_classes : int
        ``K + 1`` (background included).
    """

    def __init__(self, in_channels: int, roi_size: int, representation_size: int, num_classes: int) -> None:
        super().__init__()
        pooled = roi_size // 2
        self.box_path = TwoMLPHead(in_channels * pooled * pooled, representation_size)   # fc6, fc7
        self.mask_path = TwoMLPHead(in_channels * pooled * pooled, representation_size)  # fc6_mask, fc7_mask
        self.predictor = FastRCNNPredictor(2 * representation_size, num_classes)         # cls_score, bbox_pred

    def forward(self, features: torch.Tensor, mask_prob: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(class_logits (K, K+1), box_regression (K, 4 (K+1)))`` from RoI features and mask probabilities."""
        mask = F.interpolate(mask_prob, size=features.shape[-2:], mode="bilinear", align_corners=False)
        box_vec = self.box_path(_max_pool2(features))
        mask_vec = self.mask_path(_max_pool2(features * mask))
        return self.predictor(torch.cat([mask_vec, box_vec], dim=1))


def _max_pool2(x: torch.Tensor) -> torch.Tensor:
    """2 x 2 max-pooling with stride 2 of (K, C, 2h, 2w) maps (``nn.MaxPool2d(2)``).

    Without autograd it is the element-wise maximum of the four strided sub-grids, equal to
    ``F.max_pool2d`` and about 3x faster on a CPU for the thousands of RoIs of inference (its
    backward, though, is slower than max-pooling's, hence ``F.max_pool2d`` when a gradient is
    needed).
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return F.max_pool2d(x, 2)
    return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                         torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))


class CRLSRoIHeads(RoIHeads):
    """torchvision's ``RoIHeads`` with CRLS's forward: warp -> RLS mask -> masked classification.

    Parameters
    ----------
    box_roi_pool : nn.Module
        :class:`~lsbench.crls.roi_warp.RoIWarp` or ``MultiScaleRoIAlign`` (output ``roi_size``).
    mask_head : RLSMaskHead or FCMaskHead
    classifier : MaskedFeatureClassifier
    **kwargs
        ``RoIHeads``' sampling and inference settings (``fg_iou_thresh``, ``bg_iou_thresh``,
        ``batch_size_per_image``, ``positive_fraction``, ``bbox_reg_weights``, ``score_thresh``,
        ``nms_thresh``, ``detections_per_img``).

    Notes
    -----
    Training returns ``loss_classifier``, ``loss_box_reg`` (``fastrcnn_loss``) and ``loss_mask``
    (``maskrcnn_loss`` on the positives, the class-agnostic mask expanded over the classes).
    Proposals that carry a gradient (``detach_proposals=False`` in the RPN) keep it through the
    warp; the regression and mask targets are computed from detached copies.
    """

    def __init__(self, box_roi_pool: nn.Module, mask_head: nn.Module, classifier: MaskedFeatureClassifier,
                 **kwargs: Any) -> None:
        super().__init__(box_roi_pool, None, None, **kwargs)
        self.mask_head = mask_head
        self.classifier = classifier

    def has_mask(self) -> bool:
        return True

    def _sample(self, proposals: list[torch.Tensor], targets: list[dict[str, torch.Tensor]]
                ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """``select_training_samples`` that keeps the proposals' gradient (targets from detached boxes)."""
        self.check_targets(targets)
        dtype = proposals[0].dtype
        gt_boxes = [t["boxes"].to(dtype) for t in targets]
        gt_labels = [t["labels"] for t in targets]
        proposals = self.add_gt_proposals(proposals, gt_boxes)
        detached = [p.detach() for p in proposals]
        matched_idxs, labels = self.assign_targets_to_proposals(detached, gt_boxes, gt_labels)
        sampled = self.subsample(labels)
        out_props, out_matched, out_labels, matched_gt, det_sampled = [], [], [], [], []
        for i, inds in enumerate(sampled):
            out_props.append(proposals[i][inds])
            det_sampled.append(detached[i][inds])
            out_labels.append(labels[i][inds])
            out_matched.append(matched_idxs[i][inds])
            boxes = gt_boxes[i] if gt_boxes[i].numel() else torch.zeros((1, 4), dtype=dtype, device=detached[i].device)
            matched_gt.append(boxes[out_matched[-1]])
        regression_targets = list(self.box_coder.encode(matched_gt, det_sampled))
        return out_props, out_matched, out_labels, regression_targets

    def forward(self, features: dict[str, torch.Tensor], proposals: list[torch.Tensor],
                image_shapes: list[tuple[int, int]], targets: list[dict[str, torch.Tensor]] | None = None
                ) -> tuple[list[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
        if self.training:
            if targets is None:
                raise ValueError("CRLS needs targets in training mode")
            for t in targets:
                if not t["boxes"].is_floating_point():
                    raise TypeError(f"target boxes must be floating point, got {t['boxes'].dtype}")
                if t["labels"].dtype != torch.int64:
                    raise TypeError(f"target labels must be int64, got {t['labels'].dtype}")
            proposals, matched_idxs, labels, regression_targets = self._sample(proposals, targets)

        roi_features = self.box_roi_pool(features, proposals, image_shapes)      # stage 1 -> warp
        mask_logits = self.mask_head(roi_features)                                # stage 2: RLS
        class_logits, box_regression = self.classifier(roi_features, mask_logits.sigmoid())  # stage 3

        if self.training:
            loss_classifier, loss_box_reg = fastrcnn_loss(class_logits, box_regression, labels, regression_targets)
            pos = [torch.where(lab > 0)[0] for lab in labels]
            offsets = torch.cumsum(torch.tensor([0] + [len(p) for p in proposals[:-1]]), 0).tolist()
            pos_rows = torch.cat([p + o for p, o in zip(pos, offsets, strict=True)])
            num_classes = class_logits.shape[1]
            pos_logits = mask_logits[pos_rows].expand(-1, num_classes, -1, -1)
            loss_mask = maskrcnn_loss(pos_logits, [p[i].detach() for p, i in zip(proposals, pos, strict=True)],
                                      [t["masks"] for t in targets], [t["labels"] for t in targets],
                                      [m[i] for m, i in zip(matched_idxs, pos, strict=True)])
            return [], {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg, "loss_mask": loss_mask}

        boxes, scores, labels_out = self.postprocess_detections(class_logits, box_regression, proposals, image_shapes)
        # masks of the final boxes (MNC's second warp of the regressed boxes)
        final = self.mask_head(self.box_roi_pool(features, boxes, image_shapes)).sigmoid()
        per_image = final.split([len(b) for b in boxes])
        return [{"boxes": b, "labels": lab, "scores": s, "masks": m}
                for b, lab, s, m in zip(boxes, labels_out, scores, per_image, strict=True)], {}

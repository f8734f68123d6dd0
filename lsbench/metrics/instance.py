"""Region AP (AP^r) for instance segmentation: the mAPr of SDS, MNC and CRLS, three ways.

Detections of class ``k`` over all images are ranked by score; each one is a true positive if
it matches a still-unmatched ground-truth instance of class ``k`` in its image with region IoU
(mask IoU) above the threshold; AP is integrated from the precision/recall curve; mAPr is the
mean of the per-class APs over the classes that have ground truth. The published numbers come
from three evaluation codes that disagree in the matching and integration rules, so lsbench
implements all three and names them (``variant``):

========== ================================================== ======== ==========================
variant    matching                                           TP test  AP integration
========== ================================================== ======== ==========================
``mnc``    each detection against its argmax-IoU GT over all  IoU >= t VOC07 11-point:
           GTs of the class; FP when that GT is taken                  mean over r in {0, .1, .., 1}
                                                                       of max_{r' >= r} p(r')
``sds``    greedy, by descending score: the max-IoU GT among  IoU > t  area under the monotone
           those not yet covered                                       precision envelope (VOCap)
``coco101`` the best unmatched GT (pycocotools' evaluateImg)  IoU >= t 101-point interpolated
                                                                       precision (0 beyond max recall)
========== ================================================== ======== ==========================

``mnc`` (MNC's ``voc_eval_sds``, used by MNC's and most likely CRLS's published numbers) is the
default for Table 3. ``AP_vol`` is SDS's AP^r_vol: the mean of mAPr over t = 0.1, 0.2, ..., 0.9.

Conventions fixed here (where the reference codes leave them open):

* ties in score are broken by input order (stable sorts; MNC's ``np.argsort`` is unstable);
* a class without ground-truth instances has AP = NaN and is left out of mAPr (COCO's rule);
  its detections are still counted in ``n_det``;
* crowd regions (``iscrowd``) never count as ground truth; as in COCO, a detection that is not
  a true positive but overlaps a crowd region at the threshold (IoU = |d & g| / |d|) is ignored
  rather than counted false. VOC/SBD, the sets the ``mnc``/``sds`` codes were written for, have
  no crowd regions, so this extension never changes a published protocol.

References
----------
Hariharan, Arbeláez, Girshick, Malik, "Simultaneous detection and segmentation", ECCV 2014,
doi:10.1007/978-3-319-10584-0_20 (``sds_eccv2014/evaluation/generalized_det_eval.m``).
Dai, He, Sun, "Instance-aware semantic segmentation via multi-task network cascades", CVPR 2016,
doi:10.1109/CVPR.2016.343 (``MNC/lib/utils/voc_eval.py::voc_eval_sds``).
Lin et al., "Microsoft COCO: Common objects in context", ECCV 2014,
doi:10.1007/978-3-319-10602-1_48 (``pycocotools/cocoeval.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lsbench.levelset.validate import check_int
from lsbench.metrics.masks import mask_iou
from lsbench.types import Instances, Prediction, Sample

__all__ = ["AP_VOL_THRESHOLDS", "VARIANTS", "MaskAP", "MaskAPResult", "as_instances", "checked_pair",
           "instance_metrics"]

VARIANTS = ("mnc", "sds", "coco101")
#: SDS's AP^r_vol thresholds
AP_VOL_THRESHOLDS = tuple(round(0.1 * k, 1) for k in range(1, 10))
_COCO_REC_THRS = np.linspace(0.0, 1.0, 101)


# -- input coercion ------------------------------------------------------------------------------------
def as_instances(obj: Any, role: str) -> Instances:
    """An :class:`Instances` from a Prediction/Sample, an Instances, or a mapping in torchvision keys.

    A mapping needs ``masks`` (N x H x W, or N x 1 x H x W as torchvision returns them) with
    boolean or 0/1 values, and ``labels``; ``scores``, ``boxes`` and ``iscrowd`` are optional.
    Soft masks must be binarised by the caller (MNC uses 0.4, torchvision 0.5).
    """
    if isinstance(obj, Instances):
        return obj
    if isinstance(obj, Prediction | Sample):
        if obj.instances is None:
            raise ValueError(f"{role} has no instances (a single-object {type(obj).__name__}?)")
        return obj.instances
    if isinstance(obj, Mapping):
        missing = [k for k in ("masks", "labels") if k not in obj]
        if missing:
            raise ValueError(f"{role} lacks key(s) {', '.join(missing)}; expected torchvision keys "
                             "masks (N x H x W), labels, scores")
        masks = np.asarray(obj["masks"])
        if masks.ndim == 4 and masks.shape[1] == 1:
            masks = masks[:, 0]
        if masks.ndim != 3:
            raise ValueError(f"{role} masks must be N x H x W (or N x 1 x H x W), got shape {masks.shape}")
        if masks.dtype != bool and masks.size and not np.isin(masks, (0, 1)).all():
            raise ValueError(f"{role} masks hold values other than 0/1: binarise soft masks first "
                             "(MNC thresholds at 0.4, torchvision at 0.5)")
        def opt(key: str) -> np.ndarray | None:
            return None if obj.get(key) is None else np.asarray(obj[key])

        return Instances(masks=masks.astype(bool), labels=np.asarray(obj["labels"]), boxes=opt("boxes"),
                         scores=opt("scores"), iscrowd=opt("iscrowd"))
    raise TypeError(f"{role} must be a Prediction, Sample, Instances or a mapping of torchvision keys, "
                    f"got {type(obj).__name__}")


def _check_labels(labels: np.ndarray, role: str, n_classes: int | None) -> None:
    if labels.size == 0:
        return
    bad = labels[labels < 1] if n_classes is None else labels[(labels < 1) | (labels > n_classes)]
    if bad.size:
        valid = "positive integers (0 is background)" if n_classes is None else f"1..{n_classes}"
        raise ValueError(f"{role} has unknown class id(s) {sorted(set(bad.tolist()))}; valid class ids: {valid}")


def _check_scores(scores: np.ndarray | None, role: str) -> np.ndarray:
    if scores is None:
        raise ValueError(f"{role} needs scores (one confidence per instance, in [0, 1])")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size and (not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1):
        bad = scores[~np.isfinite(scores) | (scores < 0) | (scores > 1)]
        raise ValueError(f"{role} scores must lie in [0, 1]; got {bad[:5].tolist()}")
    return scores


def checked_pair(prediction: Any, target: Any, n_classes: int | None
                 ) -> tuple[Instances, Instances, np.ndarray, np.ndarray]:
    """Validate one image's prediction and target for the dataset-level metrics.

    Returns
    -------
    pred, gt : Instances
    scores : ndarray of float64
        The prediction's scores, checked to lie in [0, 1].
    crowd : ndarray of bool
        The target's crowd flags (all False when it has none).

    Raises
    ------
    ValueError
        Mismatched mask sizes, missing or out-of-range scores, class ids outside ``1..n_classes``.
    """
    pred = as_instances(prediction, "prediction")
    gt = as_instances(target, "target")
    if pred.masks.shape[1:] != gt.masks.shape[1:]:
        raise ValueError(f"prediction masks are {pred.masks.shape[1:]} (H, W) but the target's are "
                         f"{gt.masks.shape[1:]}; predictions must be pasted at image size")
    scores = _check_scores(pred.scores, "prediction")
    _check_labels(pred.labels, "prediction", n_classes)
    _check_labels(gt.labels, "target", n_classes)
    crowd = np.zeros(len(gt), dtype=bool) if gt.iscrowd is None else gt.iscrowd.astype(bool)
    return pred, gt, scores, crowd


# -- matching (one image, one class, one threshold; detections sorted by descending score) --------------
def _match_mnc(ious: np.ndarray, crowd: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    nd = ious.shape[0]
    tp = np.zeros(nd, dtype=bool)
    ig = np.zeros(nd, dtype=bool)
    real = ious[:, ~crowd]
    taken = np.zeros(real.shape[1], dtype=bool)
    for d in range(nd):
        if real.shape[1]:
            j = int(np.argmax(real[d]))  # first maximum, as MNC's strict ">" scan
            if real[d, j] >= t and not taken[j]:
                tp[d] = taken[j] = True
        if not tp[d] and crowd.any() and ious[d, crowd].max() >= t:
            ig[d] = True
    return tp, ig


def _match_sds(ious: np.ndarray, crowd: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    nd = ious.shape[0]
    tp = np.zeros(nd, dtype=bool)
    ig = np.zeros(nd, dtype=bool)
    real = ious[:, ~crowd]
    covered = np.zeros(real.shape[1], dtype=bool)
    for d in range(nd):
        if real.shape[1] and not covered.all():
            free = np.flatnonzero(~covered)
            j = free[int(np.argmax(real[d, free]))]  # MATLAB max: first maximum among the uncovered
            if real[d, j] > t:
                tp[d] = covered[j] = True
        if not tp[d] and crowd.any() and ious[d, crowd].max() > t:
            ig[d] = True
    return tp, ig


def _match_coco(ious: np.ndarray, crowd: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools ``evaluateImg`` (area range "all"): crowd GTs are ignored and may match many dets."""
    nd, ng = ious.shape
    tp = np.zeros(nd, dtype=bool)
    ig = np.zeros(nd, dtype=bool)
    matched = np.zeros(ng, dtype=bool)
    thr = min(t, 1 - 1e-10)
    for d in range(nd):
        for group in (~crowd, crowd):  # non-ignored GTs first; ignored ones only if none matched
            cand = group & (~matched | crowd) & (ious[d] >= thr)
            if cand.any():
                idx = np.flatnonzero(cand)
                vals = ious[d, idx]
                j = idx[np.flatnonzero(vals == vals.max())[-1]]  # ties: the last, as evaluateImg
                if crowd[j]:
                    ig[d] = True
                else:
                    tp[d] = matched[j] = True
                break
    return tp, ig


_MATCHERS = {"mnc": _match_mnc, "sds": _match_sds, "coco101": _match_coco}


# -- integration ----------------------------------------------------------------------------------------
def _ap_from_ranked(tp: np.ndarray, ig: np.ndarray, n_pos: int, variant: str) -> float:
    """AP of one class from its detections ranked by descending score."""
    if n_pos == 0:
        return math.nan
    if variant == "coco101":  # pycocotools accumulate(), ignored detections kept as no-ops
        tps = np.cumsum(tp & ~ig).astype(float)
        fps = np.cumsum(~tp & ~ig).astype(float)
        if tps.size == 0:
            return 0.0
        rc = tps / n_pos
        pr = tps / (fps + tps + np.spacing(1))
        pr = np.maximum.accumulate(pr[::-1])[::-1]
        inds = np.searchsorted(rc, _COCO_REC_THRS, side="left")
        q = np.zeros(_COCO_REC_THRS.size)
        valid = inds < pr.size
        q[valid] = pr[inds[valid]]
        return float(q.mean())
    keep = ~ig
    tps = np.cumsum(tp[keep]).astype(float)
    fps = np.cumsum(~tp[keep]).astype(float)
    rec = tps / n_pos
    if variant == "mnc":  # voc_ap(rec, prec, use_07_metric=True)
        prec = tps / np.maximum(tps + fps, np.finfo(np.float64).eps)
        ap = 0.0
        for r in np.arange(0.0, 1.1, 0.1):
            sel = rec >= r
            ap += (prec[sel].max() if sel.any() else 0.0) / 11.0
        return float(ap)
    # sds: VOCap, area under the monotone envelope
    prec = tps / np.maximum(tps + fps, 1.0)
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


# -- the accumulator ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MaskAPResult:
    """What :meth:`MaskAP.compute` returns. APs are fractions in [0, 1].

    Attributes
    ----------
    variant : str
    iou_thresholds : tuple of float
    mean_ap : dict float -> float
        mAPr per IoU threshold (``iou_thresholds`` and the AP_vol thresholds).
    ap_vol : float
        Mean of mAPr over t = 0.1, ..., 0.9.
    per_class : dict int -> dict float -> float
        AP per class label and threshold (NaN for classes without ground truth).
    class_names : dict int -> str
    n_gt, n_det : dict int -> int
        Ground-truth instances (crowd excluded) and detections per class.
    n_images : int
    """

    variant: str
    iou_thresholds: tuple[float, ...]
    mean_ap: dict[float, float]
    ap_vol: float
    per_class: dict[int, dict[float, float]]
    class_names: dict[int, str]
    n_gt: dict[int, int]
    n_det: dict[int, int]
    n_images: int

    def as_dict(self) -> dict[str, float]:
        """Flat summary: ``mAPr@0.5``, ``mAPr@0.7`` (one per threshold) and ``AP_vol``."""
        out = {f"mAPr@{t:g}": self.mean_ap[t] for t in self.iou_thresholds}
        out["AP_vol"] = self.ap_vol
        return out


@dataclass
class _ImageRecord:
    dt_labels: np.ndarray
    dt_scores: np.ndarray
    gt_labels: np.ndarray
    gt_crowd: np.ndarray
    ious: np.ndarray = field(repr=False)


class MaskAP:
    """Dataset-level region AP accumulator: ``update(prediction, target)`` per image, then ``compute()``.

    Parameters
    ----------
    iou_thresholds : sequence of float
        Thresholds reported as ``mAPr@t`` (default 0.5 and 0.7, the chapter's Table 3). AP_vol
        (0.1-0.9) is always computed as well.
    variant : {"mnc", "sds", "coco101"}
        Matching and integration rules (module docstring). ``"mnc"`` is Table 3's protocol.
    classes : int or sequence of str, optional
        ``K`` (labels ``1..K``) or the class names (label ``k`` is ``classes[k - 1]``); labels
        outside the range raise ``ValueError``. None accepts any positive label and takes the
        classes from the ground truth seen.
    max_dets : int, optional
        Keep only the ``max_dets`` highest-scoring detections per image and class (COCO's
        ``maxDets``); None keeps all (the VOC protocols).

    Examples
    --------
    Two images, one ground-truth square each: the first detection covers it (IoU 1), the
    second only half of it (IoU 0.5), so both count at IoU 0.5 and only the first at 0.7
    (precision 1 up to recall 0.5: 6 of VOC07's 11 recall points):

    >>> import numpy as np
    >>> from lsbench.metrics.instance import MaskAP
    >>> square = np.zeros((1, 8, 8), dtype=bool)
    >>> square[0, 2:6, 2:6] = True
    >>> half = np.zeros((1, 8, 8), dtype=bool)
    >>> half[0, 2:6, 2:4] = True
    >>> target = {"masks": square, "labels": np.array([1])}
    >>> ap = MaskAP(variant="mnc", classes=2)
    >>> ap.update({"masks": square, "labels": np.array([1]), "scores": np.array([0.9])}, target)
    >>> ap.update({"masks": half, "labels": np.array([1]), "scores": np.array([0.8])}, target)
    >>> {k: round(v, 4) for k, v in ap.compute().as_dict().items()}
    {'mAPr@0.5': 1.0, 'mAPr@0.7': 0.5455, 'AP_vol': 0.798}
    """

    def __init__(self, iou_thresholds: Sequence[float] = (0.5, 0.7), variant: str = "mnc",
                 classes: int | Sequence[str] | None = None, max_dets: int | None = None) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        thresholds = tuple(float(t) for t in np.atleast_1d(np.asarray(iou_thresholds, dtype=float)))
        if not thresholds or any(not 0.0 < t <= 1.0 for t in thresholds):
            raise ValueError(f"iou_thresholds must be values in (0, 1], got {iou_thresholds!r}")
        if max_dets is not None:
            check_int("max_dets", max_dets, minimum=1, what="a positive integer or None")
        self.variant = variant
        self.iou_thresholds = thresholds
        self.max_dets = max_dets
        if classes is None:
            self.n_classes: int | None = None
            self._names: dict[int, str] = {}
        elif isinstance(classes, int) and not isinstance(classes, bool):
            if classes <= 0:
                raise ValueError(f"classes must be a positive count, got {classes}")
            self.n_classes = classes
            self._names = {k: f"class {k}" for k in range(1, classes + 1)}
        elif isinstance(classes, Sequence) and not isinstance(classes, str) and len(classes) > 0:
            self.n_classes = len(classes)
            self._names = {k + 1: str(n) for k, n in enumerate(classes)}
        else:
            raise ValueError(f"classes must be a positive int, a non-empty sequence of names or None, got {classes!r}")
        self.reset()

    def reset(self) -> None:
        """Forget every image seen."""
        self._images: list[_ImageRecord] = []

    def __len__(self) -> int:
        return len(self._images)

    def update(self, prediction: Any, target: Any) -> None:
        """Add one image: its predicted instances (with scores) and its ground-truth instances.

        Parameters
        ----------
        prediction : Prediction, Instances or mapping
            Masks ``(N, H, W)`` bool, ``labels`` (N,), ``scores`` (N,) in [0, 1].
        target : Sample, Instances or mapping
            Masks ``(M, H, W)`` bool, ``labels`` (M,), optional ``iscrowd``.
        """
        pred, gt, scores, crowd = checked_pair(prediction, target, self.n_classes)
        keep = self._kept(pred.labels, scores)
        ious = mask_iou(pred.masks[keep], gt.masks, crowd)
        self._images.append(_ImageRecord(pred.labels[keep], scores[keep], gt.labels.copy(), crowd, ious))

    def update_from_ious(self, ious: Any, dt_labels: Any, dt_scores: Any, gt_labels: Any,
                         gt_iscrowd: Any = None) -> None:
        """Add one image from a precomputed IoU matrix instead of masks.

        For IoUs computed elsewhere: on compressed RLE with ``pycocotools.mask.iou`` (what
        ``lsbench report`` does with saved predictions), or on box crops with
        :func:`~lsbench.metrics.masks.mask_overlap`.

        Parameters
        ----------
        ious : array, shape (N, M)
            IoU of detection ``i`` with ground truth ``j`` (crowd columns: ``|d & g| / |d|``).
        dt_labels, dt_scores : array, shape (N,)
        gt_labels : array, shape (M,)
        gt_iscrowd : array of bool, shape (M,), optional
        """
        dt_labels = np.asarray(dt_labels, dtype=np.int64).reshape(-1)
        gt_labels = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
        scores = _check_scores(np.asarray(dt_scores).reshape(-1), "prediction")
        ious = np.asarray(ious, dtype=np.float64)
        if ious.size == 0:
            ious = ious.reshape(dt_labels.size, gt_labels.size)
        if ious.shape != (dt_labels.size, gt_labels.size) or scores.size != dt_labels.size:
            raise ValueError(f"ious has shape {ious.shape}; expected (detections, ground truths) = "
                             f"({dt_labels.size}, {gt_labels.size}) with {scores.size} scores")
        if ious.size and (not np.all(np.isfinite(ious)) or ious.min() < 0 or ious.max() > 1):
            raise ValueError("ious must lie in [0, 1]")
        _check_labels(dt_labels, "prediction", self.n_classes)
        _check_labels(gt_labels, "target", self.n_classes)
        crowd = (np.zeros(gt_labels.size, dtype=bool) if gt_iscrowd is None
                 else np.asarray(gt_iscrowd, dtype=bool).reshape(-1))
        if crowd.size != gt_labels.size:
            raise ValueError(f"gt_iscrowd has {crowd.size} entries for {gt_labels.size} ground truths")
        keep = self._kept(dt_labels, scores)
        self._images.append(_ImageRecord(dt_labels[keep], scores[keep], gt_labels, crowd, ious[keep]))

    def _kept(self, labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Indices of the detections kept, by descending score (stable), at most max_dets per class."""
        order = np.argsort(-scores, kind="mergesort")
        if self.max_dets is None:
            return order
        ranked = labels[order]
        keep = np.zeros(order.size, dtype=bool)
        for c in np.unique(ranked):
            keep[np.flatnonzero(ranked == c)[: self.max_dets]] = True
        return order[keep]

    def _classes(self) -> list[int]:
        if self.n_classes is not None:
            return list(range(1, self.n_classes + 1))
        seen: set[int] = set()
        for rec in self._images:
            seen.update(rec.gt_labels.tolist())
            seen.update(rec.dt_labels.tolist())
        return sorted(seen)

    def compute(self) -> MaskAPResult:
        """Per-class AP, mAPr at each threshold and AP_vol over every image seen."""
        if not self._images:
            raise ValueError("MaskAP.compute() called before any update(); add at least one image")
        thresholds = tuple(dict.fromkeys([*self.iou_thresholds, *AP_VOL_THRESHOLDS]))
        matcher = _MATCHERS[self.variant]
        per_class: dict[int, dict[float, float]] = {}
        n_gt: dict[int, int] = {}
        n_det: dict[int, int] = {}
        for c in self._classes():
            scores, tps, igs = [], {t: [] for t in thresholds}, {t: [] for t in thresholds}
            n_pos = 0
            for rec in self._images:
                d = rec.dt_labels == c
                g = rec.gt_labels == c
                n_pos += int(np.count_nonzero(g & ~rec.gt_crowd))
                if not d.any():
                    continue
                ious = rec.ious[np.ix_(d, g)]
                crowd = rec.gt_crowd[g]
                scores.append(rec.dt_scores[d])
                for t in thresholds:
                    tp, ig = matcher(ious, crowd, t)
                    tps[t].append(tp)
                    igs[t].append(ig)
            all_scores = np.concatenate(scores) if scores else np.zeros(0)
            rank = np.argsort(-all_scores, kind="mergesort")
            per_class[c] = {}
            for t in thresholds:
                tp = np.concatenate(tps[t])[rank] if scores else np.zeros(0, dtype=bool)
                ig = np.concatenate(igs[t])[rank] if scores else np.zeros(0, dtype=bool)
                per_class[c][t] = _ap_from_ranked(tp, ig, n_pos, self.variant)
            n_gt[c] = n_pos
            n_det[c] = int(all_scores.size)
        mean_ap = {}
        for t in thresholds:
            vals = [per_class[c][t] for c in per_class if n_gt[c] > 0]
            mean_ap[t] = float(np.mean(vals)) if vals else math.nan
        ap_vol = float(np.mean([mean_ap[t] for t in AP_VOL_THRESHOLDS]))
        names = {c: self._names.get(c, f"class {c}") for c in per_class}
        return MaskAPResult(self.variant, self.iou_thresholds, mean_ap, ap_vol, per_class, names,
                            n_gt, n_det, len(self._images))


# -- per-sample instance metrics (one row of per_sample.csv) ----------------------------------------------
def instance_metrics(prediction: Prediction, sample: Sample) -> dict[str, float]:
    """Per-image counts and overlap for ``per_sample.csv``; the dataset-level AP is MaskAP's job.

    Returns ``n_gt`` (non-crowd ground-truth instances), ``n_pred`` (predicted instances) and
    ``best_iou_mean``: the mean over ground-truth instances of the highest IoU reached by a
    prediction of the same class (NaN for an image without ground truth).

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.metrics.instance import instance_metrics
    >>> from lsbench.types import Instances, Prediction, Sample
    >>> square = np.zeros((1, 8, 8), dtype=bool)
    >>> square[0, 2:6, 2:6] = True
    >>> half = np.zeros((1, 8, 8), dtype=bool)
    >>> half[0, 2:6, 2:4] = True
    >>> sample = Sample(id="s0", image=np.zeros((8, 8, 3), dtype=np.float32),
    ...                 instances=Instances(masks=square, labels=np.array([1])))
    >>> pred = Prediction(instances=Instances(masks=half, labels=np.array([1]), scores=np.array([0.8])))
    >>> instance_metrics(pred, sample)
    {'n_gt': 1.0, 'n_pred': 1.0, 'best_iou_mean': 0.5}
    """
    pred = as_instances(prediction, "prediction")
    gt = as_instances(sample, "target")
    if pred.masks.shape[1:] != gt.masks.shape[1:]:
        raise ValueError(f"sample {sample.id!r}: prediction masks are {pred.masks.shape[1:]}, "
                         f"ground truth {gt.masks.shape[1:]}")
    crowd = np.zeros(len(gt), dtype=bool) if gt.iscrowd is None else gt.iscrowd.astype(bool)
    real = ~crowd
    ious = mask_iou(pred.masks, gt.masks[real])
    same = pred.labels[:, None] == gt.labels[real][None, :]
    best = np.where(same, ious, 0.0).max(axis=0) if len(pred) else np.zeros(int(real.sum()))
    return {"n_gt": float(real.sum()), "n_pred": float(len(pred)),
            "best_iou_mean": float(best.mean()) if best.size else math.nan}

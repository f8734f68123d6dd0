"""Binary (single-object) segmentation scores: precision, recall, F-measure (beta = 1) and IoU.

Conventions (stated once, used everywhere):

* over foreground pixels, ``P = |S & G| / |S|``, ``R = |S & G| / |G|``,
  ``F = 2PR / (P + R) = 2|S & G| / (|S| + |G|)`` (the Dice coefficient) and
  ``IoU = |S & G| / |S | G|``, so ``F = 2 IoU / (1 + IoU)``;
* both masks empty: every score is 1 (a correct "nothing here");
  exactly one empty: every score is 0;
* pixels where ``ignore`` is True (e.g. VOC's void label 255) are left out of every count;
* per-image scores are averaged over a dataset (the mean of per-image F, the chapter's Table 2);
  the pooled alternative is :func:`pooled_scores`.
This is F_1, not the saliency-style F_beta with beta^2 = 0.3.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from lsbench.types import Prediction, Sample

__all__ = ["binary_metrics", "binary_scores", "f_measure", "iou", "pooled_scores", "precision_recall"]


def _counts(pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None) -> tuple[int, int, int]:
    pred = np.asarray(pred, dtype=bool)
    gt = np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground-truth shape {gt.shape}")
    if ignore is not None:
        ignore = np.asarray(ignore, dtype=bool)
        if ignore.shape != gt.shape:
            raise ValueError(f"ignore shape {ignore.shape} differs from ground-truth shape {gt.shape}")
        keep = ~ignore
        pred, gt = pred & keep, gt & keep
    tp = int(np.count_nonzero(pred & gt))
    return tp, int(np.count_nonzero(pred)), int(np.count_nonzero(gt))


def _scores_from_counts(tp: int, n_pred: int, n_gt: int) -> dict[str, float]:
    if n_pred == 0 and n_gt == 0:
        return {"precision": 1.0, "recall": 1.0, "f_measure": 1.0, "iou": 1.0}
    if n_pred == 0 or n_gt == 0:
        return {"precision": 0.0, "recall": 0.0, "f_measure": 0.0, "iou": 0.0}
    return {
        "precision": tp / n_pred,
        "recall": tp / n_gt,
        "f_measure": 2.0 * tp / (n_pred + n_gt),
        "iou": tp / (n_pred + n_gt - tp),
    }


def binary_scores(pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None = None) -> dict[str, float]:
    """Precision, recall, F-measure and IoU of a predicted mask against a ground truth.

    Examples
    --------
    The top half against the left half of a 4 x 4 image (4 of 8 pixels shared):

    >>> import numpy as np
    >>> from lsbench.metrics.binary import binary_scores
    >>> pred = np.zeros((4, 4), dtype=bool)
    >>> pred[:2, :] = True
    >>> gt = np.zeros((4, 4), dtype=bool)
    >>> gt[:, :2] = True
    >>> {k: round(v, 4) for k, v in binary_scores(pred, gt).items()}
    {'precision': 0.5, 'recall': 0.5, 'f_measure': 0.5, 'iou': 0.3333}
    >>> ignore = np.zeros((4, 4), dtype=bool)
    >>> ignore[0, 2:] = True                           # two void pixels, both predicted
    >>> {k: round(v, 4) for k, v in binary_scores(pred, gt, ignore).items()}
    {'precision': 0.6667, 'recall': 0.5, 'f_measure': 0.5714, 'iou': 0.4}
    """
    return _scores_from_counts(*_counts(pred, gt, ignore))


def precision_recall(pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None = None) -> tuple[float, float]:
    """Precision and recall of a predicted mask against a ground truth (see :func:`binary_scores`).

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.metrics.binary import precision_recall
    >>> pred = np.array([[1, 1, 1, 0]], dtype=bool)
    >>> gt = np.array([[1, 1, 0, 0]], dtype=bool)
    >>> precision_recall(pred, gt)
    (0.6666666666666666, 1.0)
    """
    s = binary_scores(pred, gt, ignore)
    return s["precision"], s["recall"]


def f_measure(pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """F_1 = Dice = 2|S & G| / (|S| + |G|), with the empty-mask conventions of this module.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.metrics.binary import f_measure
    >>> pred = np.array([[1, 1, 1, 0]], dtype=bool)
    >>> gt = np.array([[1, 1, 0, 0]], dtype=bool)
    >>> f_measure(pred, gt)                            # 2 * 2 / (3 + 2)
    0.8
    >>> empty = np.zeros((1, 4), dtype=bool)
    >>> f_measure(empty, empty), f_measure(empty, gt)  # both empty: 1; one empty: 0
    (1.0, 0.0)
    """
    return binary_scores(pred, gt, ignore)["f_measure"]


def iou(pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """Intersection over union ``|S & G| / |S | G|`` (see :func:`binary_scores`).

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.metrics.binary import iou
    >>> iou(np.array([[1, 1, 1, 0]], dtype=bool), np.array([[1, 1, 0, 0]], dtype=bool))
    0.6666666666666666
    """
    return binary_scores(pred, gt, ignore)["iou"]


def pooled_scores(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Scores of one confusion matrix pooled over all ``(pred, gt)`` pairs (dataset-level).

    Examples
    --------
    One confusion matrix over both pairs, not the mean of per-image scores:

    >>> import numpy as np
    >>> from lsbench.metrics.binary import pooled_scores
    >>> pred = np.zeros((4, 4), dtype=bool)
    >>> pred[:2, :] = True
    >>> gt = np.zeros((4, 4), dtype=bool)
    >>> gt[:, :2] = True
    >>> pooled_scores([(pred, gt), (gt, gt)])
    {'precision': 0.75, 'recall': 0.75, 'f_measure': 0.75, 'iou': 0.6}
    """
    tp = n_pred = n_gt = 0
    for pred, gt in pairs:
        a, b, c = _counts(pred, gt, None)
        tp, n_pred, n_gt = tp + a, n_pred + b, n_gt + c
    return _scores_from_counts(tp, n_pred, n_gt)


def binary_metrics(prediction: Prediction, sample: Sample) -> dict[str, float]:
    """Per-sample metrics against every ground truth the sample carries.

    The primary ground truth (``Sample.mask``) gives ``precision``, ``recall``, ``f_measure``
    and ``iou``; each alternative one (``Sample.gts``, e.g. per annotator) gives the same keys
    suffixed with its name (``f_measure_gt1``, ...). Void pixels listed in
    ``sample.meta["ignore"]`` are excluded. A sample without any ground truth (an image of a
    ``folder`` dataset without a mask) gets NaN for each key: not measured, which is not a failure;
    the tables leave it out of the means and counts.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.metrics.binary import binary_metrics
    >>> from lsbench.types import Prediction, Sample
    >>> gt = np.zeros((4, 4), dtype=bool)
    >>> gt[:, :2] = True
    >>> sample = Sample(id="s0", image=np.zeros((4, 4), dtype=np.float32), mask=gt,
    ...                 gts={"gt1": gt, "gt2": np.ones((4, 4), dtype=bool)})
    >>> scores = binary_metrics(Prediction(mask=gt), sample)
    >>> scores["f_measure"], scores["f_measure_gt1"], round(scores["f_measure_gt2"], 4)
    (1.0, 1.0, 0.6667)
    >>> binary_metrics(Prediction(mask=gt), Sample(id="no-gt", image=np.zeros((4, 4), np.float32)))
    {'precision': nan, 'recall': nan, 'f_measure': nan, 'iou': nan}
    """
    if prediction.mask is None:
        raise ValueError("binary metrics need a mask prediction, got instances")
    gts = sample.ground_truths()
    if not gts:
        return dict.fromkeys(("precision", "recall", "f_measure", "iou"), math.nan)
    ignore = sample.meta.get("ignore")
    out: dict[str, float] = {}
    for name, gt in gts.items():
        if prediction.mask.shape != gt.shape:
            raise ValueError(
                f"sample {sample.id!r}: predicted mask has shape {prediction.mask.shape}, "
                f"ground truth {name!r} has shape {gt.shape}"
            )
        scores = binary_scores(prediction.mask, gt, ignore)
        suffix = "" if name == "gt" else f"_{name}"
        out.update({f"{k}{suffix}": v for k, v in scores.items()})
    return out

"""COCO mask AP through ``COCOeval(iouType="segm")``, with faster-coco-eval as an optional backend.

lsbench does not re-implement COCO's evaluation: predictions and ground truth are converted to
COCO's JSON structures (masks as compressed RLE) and handed to ``pycocotools.cocoeval.COCOeval``
(``backend="pycocotools"``, the default) or to faster-coco-eval's C++ ``COCOeval_faster``
(``backend="faster"``, ``pip install 'lsbench[coco-fast]'``); ``evaluate() / accumulate() /
summarize()`` run with their printing silenced and ``stats`` is returned by name.

Conventions:

* category ids are lsbench's contiguous labels ``1..K`` (a dataset that maps its own category
  ids, like COCO's 1..90, maps them back before submitting results to an official server);
* image ids are ``1..N`` in the order images were added; the lsbench sample id is kept in each
  image record as ``sample_id``;
* a ground-truth ``area`` is the mask's pixel count. COCO's own annotation files carry polygon
  areas, which differ slightly from mask areas, so APs/APm/APl can differ from an evaluation
  against the original JSON for instances at the 32^2 / 96^2 boundaries; AP, AP50 and AP75 do not
  depend on areas.

References
----------
Lin et al., "Microsoft COCO: Common objects in context", ECCV 2014, doi:10.1007/978-3-319-10602-1_48.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lsbench.metrics.instance import checked_pair
from lsbench.metrics.masks import encode_masks, rle_areas, rle_boxes_xywh
from lsbench.optional import require
from lsbench.types import Instances

__all__ = ["BACKENDS", "STAT_NAMES", "COCOMaskAP", "COCOResult", "coco_categories", "coco_mask_ap",
           "ground_truth_annotations", "result_annotations"]

BACKENDS = ("pycocotools", "faster")
#: names of ``COCOeval.stats`` in order
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def _backend(name: str) -> tuple[Any, Any]:
    if name == "pycocotools":
        return (require("pycocotools.coco", "COCO AP").COCO,
                require("pycocotools.cocoeval", "COCO AP").COCOeval)
    if name == "faster":
        module = require("faster_coco_eval", "COCO AP with backend 'faster'")
        return module.COCO, module.COCOeval_faster
    raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")


def coco_categories(classes: int | Sequence[str]) -> list[dict[str, Any]]:
    """COCO ``categories`` for labels ``1..K`` (names ``class k`` when only K is given)."""
    if isinstance(classes, int) and not isinstance(classes, bool):
        if classes <= 0:
            raise ValueError(f"classes must be positive, got {classes}")
        names = [f"class {k}" for k in range(1, classes + 1)]
    else:
        names = [str(n) for n in classes]
        if not names:
            raise ValueError("classes must not be empty")
    return [{"id": k, "name": n, "supercategory": ""} for k, n in enumerate(names, start=1)]


def ground_truth_annotations(gt: Instances, image_id: int, first_ann_id: int) -> list[dict[str, Any]]:
    """COCO ``annotations`` of one image's ground truth (RLE, mask area, bbox, iscrowd)."""
    rles = encode_masks(gt.masks)
    areas = rle_areas(rles)
    boxes = rle_boxes_xywh(rles)
    crowd = np.zeros(len(gt), dtype=bool) if gt.iscrowd is None else gt.iscrowd
    return [{"id": first_ann_id + i, "image_id": int(image_id), "category_id": int(gt.labels[i]),
             "segmentation": rles[i], "area": float(areas[i]), "bbox": [float(v) for v in boxes[i]],
             "iscrowd": int(bool(crowd[i]))} for i in range(len(gt))]


def result_annotations(pred: Instances, image_id: int) -> list[dict[str, Any]]:
    """COCO results (``image_id, category_id, segmentation, score, bbox``) of one image's prediction."""
    if pred.scores is None:
        raise ValueError("predictions need scores to be written as COCO results")
    rles = encode_masks(pred.masks)
    boxes = rle_boxes_xywh(rles)
    return [{"image_id": int(image_id), "category_id": int(pred.labels[i]), "segmentation": rles[i],
             "score": float(pred.scores[i]), "bbox": [float(v) for v in boxes[i]]} for i in range(len(pred))]


@dataclass(frozen=True)
class COCOResult:
    """Named ``COCOeval.stats`` (fractions; NaN where COCOeval reports -1) and per-class AP@[.5:.95]."""

    stats: dict[str, float]
    per_class: dict[int, float]
    backend: str
    n_images: int
    precision: np.ndarray = field(repr=False)

    def as_dict(self) -> dict[str, float]:
        return dict(self.stats)


def _index(coco_cls: Any, dataset: dict[str, Any]) -> Any:
    api = coco_cls()
    api.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        api.createIndex()
    return api


def coco_mask_ap(ground_truth: dict[str, Any], results: list[dict[str, Any]], *,
                 backend: str = "pycocotools") -> COCOResult:
    """Evaluate COCO mask AP with ``COCOeval(iouType="segm")`` and its default parameters.

    Parameters
    ----------
    ground_truth : dict
        A COCO ground-truth dataset (``images``, ``categories``, ``annotations`` with RLE
        ``segmentation``, ``area``, ``bbox``, ``iscrowd``), e.g. a run's ``ground_truth.json``.
    results : list of dict
        COCO results (``image_id``, ``category_id``, ``segmentation`` as compressed RLE, ``score``).
    backend : {"pycocotools", "faster"}

    Returns
    -------
    COCOResult
    """
    coco_cls, eval_cls = _backend(backend)
    for key in ("images", "categories", "annotations"):
        if key not in ground_truth:
            raise ValueError(f"ground truth lacks '{key}' (not a COCO dataset dict)")
    known = {img["id"] for img in ground_truth["images"]}
    unknown = sorted({r["image_id"] for r in results} - known)
    if unknown:
        raise ValueError(f"results refer to image id(s) {unknown[:5]} absent from the ground truth")
    cats = {c["id"] for c in ground_truth["categories"]}
    bad = sorted({r["category_id"] for r in results} - cats)
    if bad:
        raise ValueError(f"results use category id(s) {bad} absent from the ground truth's categories")
    gt_api = _index(coco_cls, copy.deepcopy(ground_truth))
    with contextlib.redirect_stdout(io.StringIO()):
        if results:
            dt_api = gt_api.loadRes(copy.deepcopy(results))
        else:  # pycocotools' loadRes cannot take an empty list: an empty result set, built alike
            dt_api = _index(coco_cls, {"images": list(ground_truth["images"]),
                                       "categories": copy.deepcopy(ground_truth["categories"]),
                                       "annotations": []})
        ev = eval_cls(gt_api, dt_api, iouType="segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = {name: (math.nan if float(v) < 0 else float(v)) for name, v in zip(STAT_NAMES, ev.stats, strict=False)}
    precision = np.asarray(ev.eval["precision"])
    per_class: dict[int, float] = {}
    for k, cat in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        valid = p[p > -1]
        per_class[int(cat)] = float(valid.mean()) if valid.size else math.nan
    return COCOResult(stats, per_class, backend, len(ground_truth["images"]), precision)


class COCOMaskAP:
    """Accumulator form of :func:`coco_mask_ap`: ``update(prediction, target)`` per image, ``compute()``.

    Parameters
    ----------
    classes : int or sequence of str, optional
        ``K`` or the class names (labels ``1..K``); None takes the categories from the labels
        seen (ground truth and predictions).
    backend : {"pycocotools", "faster"}
    """

    def __init__(self, classes: int | Sequence[str] | None = None, backend: str = "pycocotools") -> None:
        _backend(backend)
        self.backend = backend
        self.categories = None if classes is None else coco_categories(classes)
        self.n_classes = None if self.categories is None else len(self.categories)
        self.reset()

    def reset(self) -> None:
        self._images: list[dict[str, Any]] = []
        self._gt: list[dict[str, Any]] = []
        self._dt: list[dict[str, Any]] = []
        self._labels: set[int] = set()

    def update(self, prediction: Any, target: Any, sample_id: str | None = None) -> None:
        """Add one image (validated like :class:`~lsbench.metrics.instance.MaskAP`)."""
        pred, gt, _scores, _crowd = checked_pair(prediction, target, self.n_classes)
        image_id = len(self._images) + 1
        h, w = gt.masks.shape[1:]
        self._images.append({"id": image_id, "height": int(h), "width": int(w),
                             "sample_id": sample_id or str(image_id)})
        self._gt += ground_truth_annotations(gt, image_id, len(self._gt) + 1)
        self._dt += result_annotations(pred, image_id)
        self._labels.update(gt.labels.tolist())
        self._labels.update(pred.labels.tolist())

    def ground_truth(self) -> dict[str, Any]:
        """The COCO ground-truth dataset built so far."""
        cats = self.categories
        if cats is None:
            cats = [{"id": k, "name": f"class {k}", "supercategory": ""} for k in sorted(self._labels)]
        return {"images": list(self._images), "categories": cats, "annotations": list(self._gt)}

    def results(self) -> list[dict[str, Any]]:
        return list(self._dt)

    def compute(self) -> COCOResult:
        if not self._images:
            raise ValueError("COCOMaskAP.compute() called before any update(); add at least one image")
        return coco_mask_ap(self.ground_truth(), self.results(), backend=self.backend)

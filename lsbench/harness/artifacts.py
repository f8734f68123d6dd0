"""What a run saves besides its tables, so that every report and figure is rebuilt without re-running.

Files in a run directory (besides ``per_sample.csv``, ``summary.csv`` and ``config.json``):

``masks/<method>.npz`` (single-object runs)
    Every predicted mask, bit-packed: ``sample_ids``, ``shapes`` (N x 2), ``present`` (False where
    the method failed on the sample), ``offsets`` (N + 1 byte offsets into ``bits``) and ``bits``
    (``np.packbits`` of each row-major mask, one after another).
``predictions/<method>.json`` (instance runs)
    The method's detections in COCO results format: ``image_id, category_id, segmentation``
    (compressed RLE), ``score, bbox`` (x, y, w, h). A sample the method failed on has none.
``ground_truth.json`` (instance runs)
    The ground truth in COCO format (images with their lsbench ``sample_id``, categories,
    annotations as compressed RLE with area, bbox and iscrowd), so AP is recomputed from the
    run directory alone.
``samples.npz``
    The few samples the figures show (one per scene family first, then evenly spaced):
    ``sample_ids``, ``groups`` and per sample ``image_<k>`` (uint8, the image scaled by 255 and
    rounded: for display only) and, in single-object runs, ``gt_<k>`` (the primary ground truth).
``traces.csv``
    Energy and F-measure per iteration of each classic method on the first figure samples
    (:mod:`lsbench.harness.convergence`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lsbench.atomic import atomic_file, atomic_write_text
from lsbench.harness.convergence import TRACE_COLUMNS, empty_traces, supports_trace, trace
from lsbench.types import Prediction, Sample

__all__ = ["FigureSample", "RunDirError", "RunRecorder", "load_figure_samples", "load_instance_predictions",
           "load_masks", "load_traces"]

#: columns of the figures (at most)
N_FIGURE_SAMPLES = 6
#: samples traced per classic method
N_TRACE_SAMPLES = 3


class RunDirError(FileNotFoundError):
    """A run directory is missing a file (or holds a damaged one) that a report needs."""


@dataclass(frozen=True)
class FigureSample:
    """A sample as the figures need it: id, scene family, image (float in [0, 1]), primary GT."""

    id: str
    group: str
    image: np.ndarray
    mask: np.ndarray | None


def _method_file(name: str) -> str:
    """File stem for a method name (registry names are plain words; anything else is escaped)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class RunRecorder:
    """Collects, during a run, what :func:`write` saves: masks or COCO results, GT, figure samples.

    Parameters
    ----------
    kind : {"binary", "instance"}
    n_samples : int
        Size of the dataset (for the evenly spaced figure samples).
    class_names : sequence of str
        Instance class names, label ``k`` = ``class_names[k - 1]`` (empty: taken from the labels seen).
    n_figure_samples : int
    """

    def __init__(self, kind: str, n_samples: int, class_names: Sequence[str] = (),
                 n_figure_samples: int = N_FIGURE_SAMPLES) -> None:
        if kind not in ("binary", "instance"):
            raise ValueError(f"kind must be 'binary' or 'instance', got {kind!r}")
        self.kind = kind
        self.class_names = tuple(class_names)
        self.n_figure_samples = max(0, int(n_figure_samples))
        k = min(self.n_figure_samples, n_samples)
        self._even = set(np.linspace(0, n_samples - 1, k).round().astype(int).tolist()) if k else set()
        self._by_group: list[int] = []
        self._groups: set[str] = set()
        self._evenly: list[int] = []
        self._samples: dict[int, Sample] = {}
        self._image_ids: dict[str, int] = {}
        self._gt_images: list[dict[str, Any]] = []
        self._gt_anns: list[dict[str, Any]] = []
        self._labels: set[int] = set()
        self._results: dict[str, list[dict[str, Any]]] = {}
        self._masks: dict[str, list[tuple[str, tuple[int, int], np.ndarray | None]]] = {}
        self.traces: pd.DataFrame = empty_traces()

    # -- during the run ------------------------------------------------------------------------------------
    def add_sample(self, index: int, sample: Sample) -> None:
        """Register a dataset sample (once, in dataset order, before any prediction for it)."""
        annotations = None
        if self.kind == "instance":
            from lsbench.metrics.coco import ground_truth_annotations

            annotations = ([] if sample.instances is None
                           else ground_truth_annotations(sample.instances, index + 1, 1))
        if self.add_sample_info(index, sample.id, str(sample.meta.get("family", "")), sample.shape,
                                str(sample.meta.get("file_name", sample.id)), annotations):
            self._samples[index] = sample

    def add_sample_info(self, index: int, sample_id: str, group: str, shape: tuple[int, int],
                        file_name: str = "", annotations: Sequence[dict[str, Any]] | None = None) -> bool:
        """Register a sample from plain data (in dataset order): its scene family decides whether the
        figures may show it, and instance runs keep its ground truth (COCO ``annotations``; their
        ``id`` and ``image_id`` are renumbered here, the image id being ``index + 1``).

        Returns True when the sample is a figure candidate (give it with :meth:`set_figure_samples`).
        """
        candidate = False
        if group and group not in self._groups and len(self._by_group) < self.n_figure_samples:
            self._groups.add(group)
            self._by_group.append(index)
            candidate = True
        elif index in self._even:
            self._evenly.append(index)
            candidate = True
        if self.kind == "instance":
            image_id = index + 1
            self._image_ids[sample_id] = image_id
            h, w = shape
            self._gt_images.append({"id": image_id, "sample_id": sample_id, "height": int(h), "width": int(w),
                                    "file_name": file_name or sample_id})
            for ann in annotations or ():
                self._gt_anns.append({**ann, "id": len(self._gt_anns) + 1, "image_id": image_id})
                self._labels.add(int(ann["category_id"]))
        return candidate

    def figure_indices(self) -> list[int]:
        """Dataset indices of the figure samples: the first of each family, then evenly spaced ones."""
        chosen = list(self._by_group)
        for index in self._evenly:
            if len(chosen) >= self.n_figure_samples:
                break
            if index not in chosen:
                chosen.append(index)
        return sorted(chosen)

    def set_figure_samples(self, samples: dict[int, Sample]) -> None:
        """Give the samples of :meth:`figure_indices` (by index) when they were registered as info only."""
        self._samples.update(samples)

    def add_prediction(self, method: str, sample: Sample, pred: Prediction | None) -> None:
        """Keep one prediction (None: the method failed on this sample)."""
        if self.kind == "instance":
            from lsbench.metrics.coco import result_annotations

            results = []
            if pred is not None and pred.instances is not None:
                results = result_annotations(pred.instances, self._image_ids[sample.id])
            self.add_results(method, results)
            return
        packed = None if pred is None or pred.mask is None else np.packbits(pred.mask.reshape(-1))
        self.add_mask_bits(method, sample.id, sample.shape, packed)

    def add_mask_bits(self, method: str, sample_id: str, shape: tuple[int, int], packed: np.ndarray | None) -> None:
        """Keep one single-object prediction as ``np.packbits`` of the row-major mask (None: failed)."""
        self._masks.setdefault(method, []).append((sample_id, (int(shape[0]), int(shape[1])), packed))

    def add_results(self, method: str, results: Sequence[dict[str, Any]]) -> None:
        """Keep one sample's detections of ``method`` in COCO results format (empty: none or failed)."""
        self._results.setdefault(method, []).extend(results)
        self._labels.update(int(r["category_id"]) for r in results)

    def figure_samples(self) -> list[Sample]:
        """The samples the figures show, in dataset order (those given so far)."""
        return [self._samples[i] for i in self.figure_indices() if i in self._samples]

    def record_traces(self, methods: Sequence[tuple[str, Any]], n_samples: int = N_TRACE_SAMPLES) -> None:
        """Trace every traceable method on the first ``n_samples`` figure samples (untimed)."""
        if self.kind != "binary" or n_samples <= 0:
            return
        frames = [self.traces]
        samples = [s for s in self.figure_samples() if s.ground_truths()][:n_samples]
        for name, segmenter in methods:
            if not supports_trace(segmenter):
                continue
            for sample in samples:
                try:
                    frames.append(trace(segmenter, sample, method=name))
                except Exception:  # a trace is an extra: a failure here is already in per_sample.csv
                    continue
        self.traces = pd.concat([f for f in frames if len(f)], ignore_index=True) if len(frames) > 1 else self.traces
        if not len(self.traces):
            self.traces = empty_traces()

    # -- results -------------------------------------------------------------------------------------------
    def categories(self) -> list[dict[str, Any]]:
        from lsbench.metrics.coco import coco_categories

        if self.class_names:
            return coco_categories(self.class_names)
        return [{"id": k, "name": f"class {k}", "supercategory": ""} for k in sorted(self._labels)]

    def ground_truth(self) -> dict[str, Any]:
        """The instance ground truth in COCO format (instance runs)."""
        return {"images": list(self._gt_images), "categories": self.categories(),
                "annotations": list(self._gt_anns)}

    def results(self) -> dict[str, list[dict[str, Any]]]:
        """COCO results per method (instance runs)."""
        return {m: list(r) for m, r in self._results.items()}

    def write(self, run_dir: str | Path) -> list[Path]:
        """Write the files described in the module docstring into ``run_dir``; return their paths."""
        run_dir = Path(run_dir)
        written: list[Path] = []
        if self.kind == "instance":
            (run_dir / "predictions").mkdir(exist_ok=True)
            written.append(atomic_write_text(run_dir / "ground_truth.json", json.dumps(self.ground_truth())))
            for method, results in self._results.items():
                written.append(atomic_write_text(run_dir / "predictions" / f"{_method_file(method)}.json",
                                                 json.dumps(results)))
        else:
            (run_dir / "masks").mkdir(exist_ok=True)
            for method, rows in self._masks.items():
                path = run_dir / "masks" / f"{_method_file(method)}.npz"
                sizes = [0 if p is None else p.size for _, _, p in rows]
                with atomic_file(path) as tmp, open(tmp, "wb") as f:
                    np.savez_compressed(
                        f,
                        sample_ids=np.array([r[0] for r in rows], dtype=str),
                        shapes=np.array([r[1] for r in rows], dtype=np.int64).reshape(-1, 2),
                        present=np.array([r[2] is not None for r in rows], dtype=bool),
                        offsets=np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
                        bits=np.concatenate([p for _, _, p in rows if p is not None] or [np.zeros(0, np.uint8)]),
                    )
                written.append(path)
        samples = self.figure_samples()
        arrays: dict[str, np.ndarray] = {"sample_ids": np.array([s.id for s in samples], dtype=str),
                                         "groups": np.array([str(s.meta.get("family", "")) for s in samples],
                                                            dtype=str)}
        for k, s in enumerate(samples):
            arrays[f"image_{k}"] = _display_image(s)
            gts = s.ground_truths()
            if self.kind == "binary" and gts:
                arrays[f"gt_{k}"] = next(iter(gts.values()))
        path = run_dir / "samples.npz"
        with atomic_file(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        written.append(path)
        if len(self.traces):
            path = run_dir / "traces.csv"
            with atomic_file(path) as tmp:
                self.traces.to_csv(tmp, index=False)
            written.append(path)
        return written


def _display_image(sample: Sample) -> np.ndarray:
    """The sample's image as uint8 for the figures: scaled by 255 and rounded; NaN shown as 0, and an
    image that is not numeric at all (a sample every method failed on) as black."""
    try:
        image = np.asarray(sample.image, dtype=np.float64)
    except (TypeError, ValueError):
        return np.zeros(sample.shape, dtype=np.uint8)
    image = np.nan_to_num(image, nan=0.0, posinf=1.0, neginf=0.0)
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


# -- readers (used by the reports) -----------------------------------------------------------------------
def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise RunDirError(f"{path} is missing: {what}")
    return path


def load_masks(run_dir: str | Path, method: str) -> dict[str, np.ndarray | None]:
    """Predicted masks of ``method`` by sample id (None where the method failed)."""
    path = _require(Path(run_dir) / "masks" / f"{_method_file(method)}.npz",
                    f"the predicted masks of {method!r} (written by lsbench run)")
    try:
        with np.load(path) as z:
            ids, shapes, present = z["sample_ids"], z["shapes"], z["present"]
            offsets, bits = z["offsets"], z["bits"]
    except (OSError, KeyError, ValueError) as exc:
        raise RunDirError(f"{path} is damaged: {exc}") from None
    out: dict[str, np.ndarray | None] = {}
    for i, sid in enumerate(ids.tolist()):
        if not present[i]:
            out[sid] = None
            continue
        h, w = (int(v) for v in shapes[i])
        out[sid] = np.unpackbits(bits[offsets[i]:offsets[i + 1]], count=h * w).astype(bool).reshape(h, w)
    return out


def load_figure_samples(run_dir: str | Path) -> list[FigureSample]:
    """The figure samples saved by the run (images as floats in [0, 1])."""
    path = _require(Path(run_dir) / "samples.npz", "the images the figures show (written by lsbench run)")
    try:
        with np.load(path) as z:
            ids, groups = z["sample_ids"].tolist(), z["groups"].tolist()
            return [FigureSample(sid, groups[k], z[f"image_{k}"].astype(np.float32) / 255.0,
                                 z[f"gt_{k}"] if f"gt_{k}" in z else None) for k, sid in enumerate(ids)]
    except (OSError, KeyError, ValueError) as exc:
        raise RunDirError(f"{path} is damaged: {exc}") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path} is not valid JSON: {exc}") from None


def load_instance_predictions(run_dir: str | Path, methods: Sequence[str]
                              ) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """``(ground_truth, {method: results})`` of an instance run, in COCO format."""
    run_dir = Path(run_dir)
    gt = _read_json(_require(run_dir / "ground_truth.json", "the instance ground truth (written by lsbench run)"))
    if not isinstance(gt, dict) or not {"images", "categories", "annotations"} <= set(gt):
        raise RunDirError(f"{run_dir / 'ground_truth.json'} is not a COCO dataset (images, categories, annotations)")
    results = {}
    for m in methods:
        path = _require(run_dir / "predictions" / f"{_method_file(m)}.json",
                        f"the predictions of {m!r} (written by lsbench run)")
        res = _read_json(path)
        if not isinstance(res, list):
            raise RunDirError(f"{path} is not a list of COCO results")
        results[m] = res
    return gt, results


def load_traces(run_dir: str | Path) -> pd.DataFrame:
    """``traces.csv`` (an empty table when the run traced nothing)."""
    path = Path(run_dir) / "traces.csv"
    if not path.is_file():
        return empty_traces()
    try:
        frame = pd.read_csv(path, dtype={"method": str, "sample_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise RunDirError(f"{path} is not a readable CSV: {exc}") from None
    missing = [c for c in TRACE_COLUMNS if c not in frame]
    if missing:
        raise RunDirError(f"{path} lacks column(s) {', '.join(missing)}")
    return frame


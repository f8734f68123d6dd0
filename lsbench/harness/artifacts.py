"""What a run saves besides its tables, assembled from the result store, so that every report and
figure is rebuilt without re-running.

:class:`RunRecorder` collects, from the stored records, every predicted mask (single-object runs)
or every detection with the ground truth (instance runs), the figure samples and the convergence
traces, and writes them through :mod:`lsbench.rundir` (which documents the files).
:func:`figure_positions` chooses the samples the figures show.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lsbench.rundir import (
    empty_traces,
    write_figure_samples,
    write_ground_truth,
    write_instance_results,
    write_masks,
    write_traces,
)

__all__ = ["N_FIGURE_SAMPLES", "N_TRACE_SAMPLES", "RunRecorder", "figure_positions"]

#: columns of the figures (at most)
N_FIGURE_SAMPLES = 6
#: samples traced per classic method
N_TRACE_SAMPLES = 3


def figure_positions(groups: Sequence[str | None], n_figure_samples: int = N_FIGURE_SAMPLES) -> list[int]:
    """Positions of the samples the figures show, sorted: the first sample of each scene family (up
    to ``n_figure_samples`` families), then evenly spaced ones up to ``n_figure_samples`` in all.

    ``groups[i]`` is sample ``i``'s scene family (``""`` for none), or None for a sample no worker
    could load (never shown).

    Examples
    --------
    >>> figure_positions(["a", "a", "b", "a", "b", "c", "a", "a"], 4)
    [0, 2, 5, 7]
    >>> figure_positions(["", "", "", "", ""], 2), figure_positions(["a", None, "b"], 6)
    ([0, 4], [0, 2])
    """
    n = max(0, int(n_figure_samples))
    k = min(n, len(groups))
    even = set(np.linspace(0, len(groups) - 1, k).round().astype(int).tolist()) if k else set()
    by_group: list[int] = []
    seen: set[str] = set()
    evenly: list[int] = []
    for index, group in enumerate(groups):
        if group is None:
            continue
        if group and group not in seen and len(by_group) < n:
            seen.add(group)
            by_group.append(index)
        elif index in even:
            evenly.append(index)
    chosen = list(by_group)
    for index in evenly:
        if len(chosen) >= n:
            break
        if index not in chosen:
            chosen.append(index)
    return sorted(chosen)


class RunRecorder:
    """Collects from a run's records what :meth:`write` saves: masks or COCO results, GT, figure samples, traces.

    Parameters
    ----------
    kind : {"binary", "instance"}
    class_names : sequence of str
        Instance class names, label ``k`` = ``class_names[k - 1]`` (empty: taken from the labels seen).
    """

    def __init__(self, kind: str, class_names: Sequence[str] = ()) -> None:
        if kind not in ("binary", "instance"):
            raise ValueError(f"kind must be 'binary' or 'instance', got {kind!r}")
        self.kind = kind
        self.class_names = tuple(class_names)
        self._figure_samples: list[tuple[str, str, np.ndarray, np.ndarray | None]] = []
        self._gt_images: list[dict[str, Any]] = []
        self._gt_anns: list[dict[str, Any]] = []
        self._labels: set[int] = set()
        self._results: dict[str, list[dict[str, Any]]] = {}
        self._masks: dict[str, list[tuple[str, tuple[int, int], np.ndarray | None]]] = {}
        self.traces: pd.DataFrame = empty_traces()

    def add_sample_info(self, index: int, sample_id: str, shape: tuple[int, int], file_name: str = "",
                        annotations: Sequence[dict[str, Any]] | None = None) -> None:
        """Instance runs: keep a sample's ground truth (in dataset order): COCO ``annotations``, whose
        ``id`` and ``image_id`` are renumbered here, the image id being ``index + 1``."""
        if self.kind != "instance":
            return
        image_id = index + 1
        h, w = shape
        self._gt_images.append({"id": image_id, "sample_id": sample_id, "height": int(h), "width": int(w),
                                "file_name": file_name or sample_id})
        for ann in annotations or ():
            self._gt_anns.append({**ann, "id": len(self._gt_anns) + 1, "image_id": image_id})
            self._labels.add(int(ann["category_id"]))

    def add_figure_sample(self, sample_id: str, group: str, image: np.ndarray, gt: np.ndarray | None) -> None:
        """Keep a figure sample (in dataset order): its uint8 display image and primary ground truth."""
        self._figure_samples.append((sample_id, group, image, gt if self.kind == "binary" else None))

    def add_mask_bits(self, method: str, sample_id: str, shape: tuple[int, int], packed: np.ndarray | None) -> None:
        """Keep one single-object prediction as ``np.packbits`` of the row-major mask (None: failed)."""
        self._masks.setdefault(method, []).append((sample_id, (int(shape[0]), int(shape[1])), packed))

    def add_results(self, method: str, results: Sequence[dict[str, Any]]) -> None:
        """Keep one sample's detections of ``method`` in COCO results format (empty: none or failed)."""
        self._results.setdefault(method, []).extend(results)
        self._labels.update(int(r["category_id"]) for r in results)

    def set_traces(self, frames: Sequence[pd.DataFrame]) -> None:
        """The convergence traces, one frame (:data:`lsbench.rundir.TRACE_COLUMNS`) per method and sample."""
        kept = [f for f in frames if len(f)]
        self.traces = pd.concat(kept, ignore_index=True) if kept else empty_traces()

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
        """Write the files (:mod:`lsbench.rundir`) into ``run_dir``; return their paths."""
        written: list[Path] = []
        if self.kind == "instance":
            written.append(write_ground_truth(run_dir, self.ground_truth()))
            written += [write_instance_results(run_dir, m, r) for m, r in self._results.items()]
        else:
            written += [write_masks(run_dir, m, rows) for m, rows in self._masks.items()]
        written.append(write_figure_samples(run_dir, self._figure_samples))
        traces = write_traces(run_dir, self.traces)
        return written + ([traces] if traces is not None else [])

"""The run-directory format: file names, column schemas, readers and writers.

A run directory is the only thing the harness (:mod:`lsbench.harness`, which writes it) and the
reports (:mod:`lsbench.reports`, which read it) share; both go through this module, and neither
imports the other's internals. Files:

``per_sample.csv``
    One row per (method, sample): :data:`FIXED_COLUMNS`, then one column per metric.
``summary.csv``
    :data:`SUMMARY_COLUMNS`: per method, mean, std and count of every metric (and of seconds and
    n_iter) over the samples without error, and the number of failed samples
    (:func:`summarize`); ``protocol`` is the run's initialisation protocol (:mod:`lsbench.protocols`;
    absent from runs written before protocols were named).
``config.json``
    Resolved parameters, dataset spec, executor and timing protocol, versions, machine, the
    initialisation ``protocol`` and per method the ``ground_truth_inputs`` it received.
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
    rounded: for display only, :func:`display_image`) and, in single-object runs, ``gt_<k>``
    (the primary ground truth).
``traces.csv``
    :data:`TRACE_COLUMNS`: energy and F-measure per iteration of each traceable method on the
    first figure samples.
``records.jsonl``, ``extras.jsonl``
    The harness's result store (:mod:`lsbench.harness.store`): one record per (method, sample),
    and the side records (figure samples, traces, throughput) the files above are written from.

Examples
--------
>>> import pandas as pd
>>> rows = pd.DataFrame({"method": ["cv", "cv"], "dataset": "d", "split": "test", "sample_id": ["a", "b"],
...                      "seconds": [1.0, 3.0], "error": ["", "ValueError: bad"], "f_measure": [0.5, 0.0]})
>>> metric_columns(rows), failed_mask(rows).tolist()
(['f_measure'], [False, True])
>>> summarize(rows)[["metric", "mean", "n", "n_failed"]].values.tolist()
[['f_measure', 0.5, 1, 1], ['seconds', 1.0, 1, 1]]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from lsbench.atomic import atomic_file, atomic_write_text

__all__ = ["CONFIG_FILE", "EXTRAS_FILE", "FIXED_COLUMNS", "GROUND_TRUTH_FILE", "MASKS_DIR", "PER_SAMPLE_FILE",
           "PREDICTIONS_DIR", "SAMPLES_FILE", "STORE_FILE", "SUMMARY_COLUMNS", "SUMMARY_FILE", "TRACES_FILE",
           "TRACE_COLUMNS", "FigureSample", "RunDirError", "RunTables", "display_image", "empty_traces",
           "failed_mask", "load_figure_samples", "load_instance_predictions", "load_masks", "load_run",
           "load_summary", "load_traces", "method_file", "metric_columns", "summarize", "write_figure_samples",
           "write_ground_truth", "write_instance_results", "write_masks", "write_traces"]

PER_SAMPLE_FILE = "per_sample.csv"
SUMMARY_FILE = "summary.csv"
CONFIG_FILE = "config.json"
MASKS_DIR = "masks"
PREDICTIONS_DIR = "predictions"
GROUND_TRUTH_FILE = "ground_truth.json"
SAMPLES_FILE = "samples.npz"
TRACES_FILE = "traces.csv"
#: the result store: one record per (method, sample)
STORE_FILE = "records.jsonl"
#: the store of side records: figure samples, convergence traces, batched throughput
EXTRAS_FILE = "extras.jsonl"

#: per_sample columns that are not metrics
FIXED_COLUMNS = ("method", "dataset", "split", "sample_id", "group", "height", "width", "seconds",
                 "batch_size", "n_iter", "converged", "error")
#: columns of summary.csv
SUMMARY_COLUMNS = ("method", "dataset", "split", "protocol", "metric", "mean", "std", "n", "n_failed")
#: the columns of :data:`SUMMARY_COLUMNS` that runs written before they existed lack
_LATER_SUMMARY_COLUMNS = ("protocol",)
#: columns of traces.csv
TRACE_COLUMNS = ("method", "sample_id", "iteration", "energy", "f_measure")
_SUMMARISED_EXTRAS = ("seconds", "n_iter")


class RunDirError(FileNotFoundError):
    """A run directory is missing a file (or holds a damaged one) that a report needs."""


@dataclass(frozen=True)
class FigureSample:
    """A sample as the figures need it: id, scene family, image (float in [0, 1]), primary GT."""

    id: str
    group: str
    image: np.ndarray
    mask: np.ndarray | None


class RunTables(NamedTuple):
    """``per_sample.csv`` and ``config.json`` of a run directory (:func:`load_run`)."""

    per_sample: pd.DataFrame
    config: dict[str, Any]


def method_file(name: str) -> str:
    """File stem for a method name (registry names are plain words; anything else is escaped)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


# -- the per-sample table and its summary ----------------------------------------------------------------
def metric_columns(per_sample: pd.DataFrame) -> list[str]:
    """The metric columns of a per-sample table (every column not in :data:`FIXED_COLUMNS`)."""
    return [c for c in per_sample.columns if c not in FIXED_COLUMNS]


def failed_mask(per_sample: pd.DataFrame) -> pd.Series:
    """True for the rows with a non-empty ``error``."""
    err = per_sample["error"] if "error" in per_sample else pd.Series("", index=per_sample.index)
    return err.fillna("").astype(str).str.len() > 0


def summarize(per_sample: pd.DataFrame, protocol: str | None = None) -> pd.DataFrame:
    """Mean, standard deviation and count of every metric (and seconds, n_iter) per method.

    Failed samples (non-empty ``error``) are excluded from the statistics and counted in
    ``n_failed``; ``n`` counts the successful samples. ``protocol`` (the run's initialisation
    protocol) fills the ``protocol`` column; without it the column is left out.
    """
    cols = [c for c in SUMMARY_COLUMNS if protocol is not None or c != "protocol"]
    if per_sample.empty:
        return pd.DataFrame(columns=cols)
    failed = failed_mask(per_sample)
    rows = []
    keys = ["method", "dataset", "split"]
    for (method, dataset, split), group in per_sample.groupby(keys, sort=False):
        ok = group[~failed.loc[group.index]]
        n_failed = int(failed.loc[group.index].sum())
        for metric in [*metric_columns(per_sample), *_SUMMARISED_EXTRAS]:
            if metric not in group:
                continue
            values = pd.to_numeric(ok[metric], errors="coerce").dropna()
            rows.append({"method": method, "dataset": dataset, "split": split, "protocol": protocol, "metric": metric,
                         "mean": float(values.mean()) if len(values) else float("nan"),
                         "std": float(values.std(ddof=0)) if len(values) else float("nan"),
                         "n": len(values), "n_failed": n_failed})
    return pd.DataFrame(rows, columns=cols)


# -- readers -----------------------------------------------------------------------------------------------
def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise RunDirError(f"{path} is missing: {what}")
    return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path} is not valid JSON: {exc}") from None


def load_run(run_dir: str | Path) -> RunTables:
    """Read ``per_sample.csv`` and ``config.json`` (optional) from a run directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} does not exist")
    per_sample_path = run_dir / PER_SAMPLE_FILE
    if not per_sample_path.is_file():
        raise RunDirError(f"{per_sample_path} is missing: not an lsbench run directory, or an incomplete one")
    try:
        per_sample = pd.read_csv(per_sample_path, dtype={"sample_id": str, "group": str, "error": str,
                                                         "method": str, "dataset": str, "split": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{per_sample_path} is not a readable CSV: {exc}") from None
    missing = [c for c in ("method", "dataset", "split", "sample_id", "seconds") if c not in per_sample]
    if missing:
        raise RunDirError(f"{per_sample_path} lacks column(s) {', '.join(missing)}")
    for col in ("error", "group"):
        if col in per_sample:
            per_sample[col] = per_sample[col].fillna("")
    config: dict[str, Any] = {}
    config_path = run_dir / CONFIG_FILE
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text())
        except json.JSONDecodeError as exc:
            raise RunDirError(f"{config_path} is not valid JSON: {exc}") from None
    return RunTables(per_sample, config)


def load_summary(run_dir: str | Path) -> pd.DataFrame:
    """``summary.csv`` of a run directory (columns :data:`SUMMARY_COLUMNS`)."""
    path = _require(Path(run_dir) / SUMMARY_FILE, "the summary table (written by lsbench run)")
    try:
        frame = pd.read_csv(path, dtype={"method": str, "dataset": str, "split": str, "metric": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path} is not a readable CSV: {exc}") from None
    missing = [c for c in SUMMARY_COLUMNS if c not in frame and c not in _LATER_SUMMARY_COLUMNS]
    if missing:
        raise RunDirError(f"{path} lacks column(s) {', '.join(missing)}")
    return frame


def load_masks(run_dir: str | Path, method: str) -> dict[str, np.ndarray | None]:
    """Predicted masks of ``method`` by sample id (None where the method failed)."""
    path = _require(Path(run_dir) / MASKS_DIR / f"{method_file(method)}.npz",
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
    path = _require(Path(run_dir) / SAMPLES_FILE, "the images the figures show (written by lsbench run)")
    try:
        with np.load(path) as z:
            ids, groups = z["sample_ids"].tolist(), z["groups"].tolist()
            return [FigureSample(sid, groups[k], z[f"image_{k}"].astype(np.float32) / 255.0,
                                 z[f"gt_{k}"] if f"gt_{k}" in z else None) for k, sid in enumerate(ids)]
    except (OSError, KeyError, ValueError) as exc:
        raise RunDirError(f"{path} is damaged: {exc}") from None


def load_instance_predictions(run_dir: str | Path, methods: Sequence[str]
                              ) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """``(ground_truth, {method: results})`` of an instance run, in COCO format."""
    run_dir = Path(run_dir)
    gt = _read_json(_require(run_dir / GROUND_TRUTH_FILE, "the instance ground truth (written by lsbench run)"))
    if not isinstance(gt, dict) or not {"images", "categories", "annotations"} <= set(gt):
        raise RunDirError(f"{run_dir / GROUND_TRUTH_FILE} is not a COCO dataset (images, categories, annotations)")
    results = {}
    for m in methods:
        path = _require(run_dir / PREDICTIONS_DIR / f"{method_file(m)}.json",
                        f"the predictions of {m!r} (written by lsbench run)")
        res = _read_json(path)
        if not isinstance(res, list):
            raise RunDirError(f"{path} is not a list of COCO results")
        results[m] = res
    return gt, results


def empty_traces() -> pd.DataFrame:
    """A trace table with no rows (the columns of :data:`TRACE_COLUMNS`)."""
    return pd.DataFrame({c: pd.Series(dtype=float if c in ("iteration", "energy", "f_measure") else object)
                         for c in TRACE_COLUMNS})


def load_traces(run_dir: str | Path) -> pd.DataFrame:
    """``traces.csv`` (an empty table when the run traced nothing)."""
    path = Path(run_dir) / TRACES_FILE
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


# -- writers (the harness's; each writes one file of a run directory being assembled) ------------------------
def display_image(image: Any, shape: tuple[int, int]) -> np.ndarray:
    """A sample's image as ``samples.npz`` keeps it: uint8, scaled by 255 and rounded; NaN shown as 0,
    and an image that is not numeric at all (a sample every method failed on) as a black ``shape``."""
    try:
        array = np.asarray(image, dtype=np.float64)
    except (TypeError, ValueError):
        return np.zeros(shape, dtype=np.uint8)
    array = np.nan_to_num(array, nan=0.0, posinf=1.0, neginf=0.0)
    return np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)


def write_masks(run_dir: str | Path, method: str,
                rows: Sequence[tuple[str, tuple[int, int], np.ndarray | None]]) -> Path:
    """``masks/<method>.npz`` from ``(sample_id, (H, W), packed bits or None)`` rows, in order."""
    folder = Path(run_dir) / MASKS_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"{method_file(method)}.npz"
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
    return path


def write_instance_results(run_dir: str | Path, method: str, results: Sequence[dict[str, Any]]) -> Path:
    """``predictions/<method>.json``: the method's COCO results."""
    folder = Path(run_dir) / PREDICTIONS_DIR
    folder.mkdir(exist_ok=True)
    return atomic_write_text(folder / f"{method_file(method)}.json", json.dumps(list(results)))


def write_ground_truth(run_dir: str | Path, ground_truth: dict[str, Any]) -> Path:
    """``ground_truth.json``: the instance ground truth in COCO format."""
    return atomic_write_text(Path(run_dir) / GROUND_TRUTH_FILE, json.dumps(ground_truth))


def write_figure_samples(run_dir: str | Path,
                         samples: Sequence[tuple[str, str, np.ndarray, np.ndarray | None]]) -> Path:
    """``samples.npz`` from ``(sample_id, group, uint8 image, primary ground truth or None)``, in order."""
    arrays: dict[str, np.ndarray] = {"sample_ids": np.array([s[0] for s in samples], dtype=str),
                                     "groups": np.array([s[1] for s in samples], dtype=str)}
    for k, (_, _, image, gt) in enumerate(samples):
        arrays[f"image_{k}"] = image
        if gt is not None:
            arrays[f"gt_{k}"] = gt
    path = Path(run_dir) / SAMPLES_FILE
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def write_traces(run_dir: str | Path, traces: pd.DataFrame) -> Path | None:
    """``traces.csv`` (columns :data:`TRACE_COLUMNS`); nothing for an empty table."""
    if not len(traces):
        return None
    path = Path(run_dir) / TRACES_FILE
    with atomic_file(path) as tmp:
        traces[list(TRACE_COLUMNS)].to_csv(tmp, index=False)
    return path

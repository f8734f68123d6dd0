"""Run methods x samples, time each call, score it, and write a run directory atomically.

The harness knows nothing of how a method works: it builds each registered method once, calls
it on every sample (after one untimed warm-up call), scores the prediction with the dataset's
metric and collects one row per (method, sample). Its only contract with the reports is the
two tidy tables written to the run directory:

* ``per_sample.csv``: method, dataset, split, sample_id, group, height, width, seconds, n_iter,
  converged, error, then one column per metric;
* ``summary.csv``: method, dataset, split, metric, mean, std, n, n_failed;

plus ``config.json`` (resolved parameters, dataset spec, versions, git commit, machine, and the
batched throughput of methods that have ``predict_batch``, :mod:`lsbench.harness.throughput`), the
tables (``lsbench.reports``) and what the reports need to be rebuilt without re-running
(:mod:`lsbench.harness.artifacts`): every predicted mask (single-object runs) or every detection
in COCO results format with the ground truth (instance runs), the figure samples and the
convergence traces. Everything is written to a temporary folder that is renamed into place at the
end, so an interrupted or failed run never leaves a half-written run directory.

Instance datasets (``kind == "instance"``) get a per-sample row too (instance counts and mean
best IoU, :func:`lsbench.metrics.instance.instance_metrics`); their AP is a dataset-level
score, computed once per method from the saved COCO results
(:func:`lsbench.metrics.scoring.score_instances`): a sample the method failed on contributes
no detections while its ground truth still counts.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lsbench.datasets.base import Dataset, Subset
from lsbench.harness.artifacts import N_FIGURE_SAMPLES, N_TRACE_SAMPLES, RunRecorder
from lsbench.harness.environment import environment
from lsbench.harness.summary import FIXED_COLUMNS, summarize
from lsbench.harness.throughput import has_predict_batch, measure_throughput
from lsbench.registry import METHODS, METRICS, check_params
from lsbench.types import Prediction, Sample

__all__ = ["MethodRequest", "RunResult", "check_output_dir", "run_benchmark"]


@dataclass(frozen=True)
class MethodRequest:
    """A method name and the parameters that override its defaults."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    """What :func:`run_benchmark` returns.

    Attributes
    ----------
    per_sample, summary : DataFrame
        The two tidy tables (module docstring).
    config : dict
        What ``config.json`` holds.
    run_dir : Path or None
        The run directory, when one was written.
    recorder : RunRecorder
        Saved predictions, figure samples and convergence traces.
    instance_scores : dict
        Instance runs: method -> :class:`~lsbench.metrics.scoring.InstanceScores` (mAPr per
        variant, COCO AP); empty for single-object runs.
    """

    per_sample: pd.DataFrame
    summary: pd.DataFrame
    config: dict[str, Any]
    run_dir: Path | None = None
    recorder: RunRecorder | None = None
    instance_scores: dict[str, Any] = field(default_factory=dict)


def check_output_dir(out: str | os.PathLike[str]) -> Path:
    """Create ``out`` if needed and prove it is writable; raise ``OSError`` naming it otherwise."""
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"--out {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".lsbench-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(f"--out {path} is not writable: {exc.strerror or exc}") from None
    return path


def _default_metric(dataset: Dataset) -> str:
    return "binary" if dataset.kind == "binary" else "instance"


def _json_safe(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return f"<array {value.dtype} {value.shape}>"
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _new_run_id(dataset: Dataset) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{dataset.name}-{dataset.split}"


def _record(method: str, dataset: Dataset, sample: Sample, seconds: float, pred: Prediction | None,
            metrics: dict[str, float], error: str) -> dict[str, Any]:
    return {
        "method": method,
        "dataset": dataset.name,
        "split": dataset.split,
        "sample_id": sample.id,
        "group": sample.meta.get("family", ""),
        "height": sample.shape[0],
        "width": sample.shape[1],
        "seconds": seconds,
        "n_iter": np.nan if pred is None or pred.n_iter is None else pred.n_iter,
        "converged": None if pred is None else pred.converged,
        "error": error,
        **metrics,
    }


def _check_prediction(pred: Any, sample: Sample, kind: str = "binary", n_classes: int | None = None) -> Prediction:
    if not isinstance(pred, Prediction):
        raise TypeError(f"method returned {type(pred).__name__}, expected lsbench.types.Prediction")
    if kind == "instance":
        if pred.instances is None:
            raise ValueError("an instance dataset needs Prediction.instances, the method returned a mask")
        from lsbench.metrics.instance import checked_pair

        target = sample.instances if sample.instances is not None else {
            "masks": np.zeros((0, *sample.shape), bool), "labels": []}
        checked_pair(pred.instances, target, n_classes)
    elif pred.mask is None:
        raise ValueError("a single-object dataset needs Prediction.mask, the method returned instances")
    if pred.mask is not None and pred.mask.shape != sample.shape:
        raise ValueError(f"predicted mask has shape {pred.mask.shape}, image is {sample.shape}")
    if pred.phi is not None and not np.all(np.isfinite(pred.phi)):
        raise FloatingPointError("prediction phi contains NaN or inf")
    return pred


def run_benchmark(
    methods: Sequence[MethodRequest],
    dataset: Dataset,
    *,
    out: str | os.PathLike[str] | None = None,
    run_id: str | None = None,
    limit: int | None = None,
    metric: str | None = None,
    progress: bool = True,
    warmup: bool = True,
    command: str | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    figures: bool = False,
    html: bool = False,
    figure_samples: int = N_FIGURE_SAMPLES,
    trace_samples: int = N_TRACE_SAMPLES,
) -> RunResult:
    """Run every method on every sample of ``dataset`` and (optionally) write a run directory.

    Parameters
    ----------
    methods : sequence of MethodRequest
        Registered method names with parameter overrides; all are built (and their parameters
        validated) before any sample is processed.
    dataset : Dataset
    out : path, optional
        Parent folder of the run directory ``out/<run_id>``; nothing is written when None.
    run_id : str, optional
        Name of the run directory (default: timestamp-dataset-split).
    limit : int, optional
        Only the first ``limit`` samples.
    metric : str, optional
        Registered per-sample metric (default: ``binary`` for single-object datasets).
    warmup : bool
        Call each method once on the first sample, untimed, before timing.
    figures : bool
        Also draw the figures into the run directory (``lsbench report`` can draw them later).
    html : bool
        Also write the one-page ``index.html`` (implies drawing the figures).
    figure_samples : int
        How many samples the figures show (saved in ``samples.npz``).
    trace_samples : int
        How many of those each classic method is traced on (energy and F-measure per
        iteration, ``traces.csv``), after the timed loop; 0 disables tracing.
    """
    if not methods:
        raise ValueError("no methods given; choose from: " + ", ".join(METHODS.names()))
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"method listed twice in {names}")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ValueError(f"--limit must be a positive integer, got {limit!r}")
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    if len(dataset) == 0:
        raise ValueError(f"dataset {dataset.name}/{dataset.split} has no samples")
    metric_name = metric or _default_metric(dataset)
    metric_entry = METRICS.get(metric_name)
    if "dataset-level" in metric_entry.tags:
        raise ValueError(f"metric {metric_name!r} is a dataset-level accumulator; the per-sample metric of "
                         f"{dataset.kind} datasets is {_default_metric(dataset)!r} (AP is computed for "
                         "instance runs anyway)")
    if metric_entry.kind and metric_entry.kind != dataset.kind:
        raise ValueError(f"metric {metric_name!r} scores {metric_entry.kind} targets but dataset "
                         f"{dataset.name!r} is {dataset.kind}")
    metric_fn = METRICS.build(metric_name)
    class_names = tuple(getattr(dataset, "class_names", ()) or ())
    n_classes = len(class_names) or None

    out_dir = check_output_dir(out) if out is not None else None
    run_id = run_id or _new_run_id(dataset)
    if out_dir is not None:
        if "/" in run_id or run_id in ("", ".", ".."):
            raise ValueError(f"run id {run_id!r} must be a plain folder name")
        base_id, k = run_id, 2
        while (out_dir / run_id).exists():
            run_id, k = f"{base_id}-{k}", k + 1

    # build every method first: bad parameters fail before any work is done
    built: list[tuple[str, Any, dict[str, Any]]] = []
    for req in methods:
        entry = METHODS.get(req.name)
        check_params(entry, req.params)
        if entry.kind and entry.kind != dataset.kind:
            raise ValueError(f"method {req.name!r} segments {entry.kind} targets but dataset "
                             f"{dataset.name!r} is {dataset.kind}")
        resolved = {**entry.defaults(), **req.params}
        segmenter = entry.factory(**req.params)
        built.append((req.name, segmenter, resolved))

    rows: list[dict[str, Any]] = []
    recorder = RunRecorder(dataset.kind, len(dataset), class_names, n_figure_samples=figure_samples)
    throughput: dict[str, dict[str, Any]] = {}
    total = len(built) * len(dataset)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="lsbench run", unit="img", file=sys.stderr, dynamic_ncols=True)
    started = time.time()
    try:
        for m, (name, segmenter, _) in enumerate(built):
            if bar is not None:
                bar.set_postfix_str(name)
            if warmup:
                with contextlib.suppress(Exception):
                    segmenter(dataset[0])
            for i in range(len(dataset)):
                sample = dataset[i]
                if m == 0:
                    recorder.add_sample(i, sample)
                pred: Prediction | None = None
                metrics: dict[str, float] = {}
                error = ""
                t0 = time.perf_counter()
                try:
                    pred = segmenter(sample)
                    seconds = time.perf_counter() - t0
                    pred = _check_prediction(pred, sample, dataset.kind, n_classes)
                    metrics = metric_fn(pred, sample)
                except Exception as exc:  # one failing sample must not stop the run
                    seconds = time.perf_counter() - t0
                    error = f"{type(exc).__name__}: {exc}".replace("\n", " ")
                    if os.environ.get("LSBENCH_DEBUG"):
                        traceback.print_exc()
                    pred = None
                recorder.add_prediction(name, sample, pred)
                row = _record(name, dataset, sample, seconds, pred, metrics, error)
                rows.append(row)
                if on_record is not None:
                    on_record(row)
                if bar is not None:
                    bar.update(1)
            if has_predict_batch(segmenter):  # learned methods: images/s at batch 64 as well
                throughput[name] = measure_throughput(segmenter, dataset)
    finally:
        if bar is not None:
            bar.close()

    recorder.record_traces([(name, seg) for name, seg, _ in built], trace_samples)
    instance_scores: dict[str, Any] = {}
    if dataset.kind == "instance":
        from lsbench.metrics.scoring import score_instances

        gt = recorder.ground_truth()
        instance_scores = {name: score_instances(gt, res) for name, res in recorder.results().items()}

    per_sample = pd.DataFrame(rows)
    metric_cols = [c for c in per_sample.columns if c not in FIXED_COLUMNS]
    per_sample = per_sample[[c for c in FIXED_COLUMNS if c in per_sample.columns] + metric_cols]
    summary = summarize(per_sample)
    config = {
        "run_id": run_id,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "wall_seconds": round(time.time() - started, 3),
        "dataset": _json_safe(dataset.spec()),
        "dataset_fingerprint": dataset.fingerprint(),
        "n_samples": len(dataset),
        "kind": dataset.kind,
        "class_names": list(class_names),
        "metric": metric_name,
        "methods": {name: _json_safe(params) for name, _, params in built},
        "timing": {"clock": "time.perf_counter", "unit": "seconds per image (batch 1)",
                   "warmup": warmup, "includes": "the method call only (not loading or scoring)"},
        "throughput": _json_safe(throughput),
        **environment(),
    }
    result = RunResult(per_sample=per_sample, summary=summary, config=config, recorder=recorder,
                       instance_scores=instance_scores)
    if out_dir is not None:
        result.run_dir = write_run_dir(out_dir, run_id, result, figures=figures, html=html)
    return result


def write_run_dir(out_dir: Path, run_id: str, result: RunResult, figures: bool = False,
                  html: bool = False) -> Path:
    """Write the run's files into ``out_dir/run_id`` atomically (temp folder, then rename).

    The tables (and, with ``figures``, the figures) are built from the files just written, by
    the same code as ``lsbench report``.
    """
    from lsbench.reports.build import build_report

    final = out_dir / run_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.tmp-", dir=out_dir))
    try:
        result.per_sample.to_csv(tmp / "per_sample.csv", index=False)
        result.summary.to_csv(tmp / "summary.csv", index=False)
        (tmp / "config.json").write_text(json.dumps(result.config, indent=2) + "\n")
        if result.recorder is not None:
            result.recorder.write(tmp)
        build_report(tmp, figures=figures, html=html, instance_scores=result.instance_scores or None,
                     require_table=False)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final

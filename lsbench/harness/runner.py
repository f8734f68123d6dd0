"""Run methods x samples, time each call, score it, and write a run directory atomically.

The harness knows nothing of how a method works: it builds each registered method once, calls
it on every sample (after one untimed warm-up call), scores the prediction with the dataset's
metric and collects one row per (method, sample). Its only contract with the reports is the
two tidy tables written to the run directory:

* ``per_sample.csv``: method, dataset, split, sample_id, group, height, width, seconds, n_iter,
  converged, error, then one column per metric;
* ``summary.csv``: method, dataset, split, metric, mean, std, n, n_failed;

plus ``config.json`` (resolved parameters, dataset spec, versions, git commit, machine, and the
batched throughput of methods that have ``predict_batch``, :mod:`lsbench.harness.throughput`)
and ``table2.md``. Everything is written to a temporary folder that is renamed into place at the
end, so an interrupted or failed run never leaves a half-written run directory.
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
    per_sample: pd.DataFrame
    summary: pd.DataFrame
    config: dict[str, Any]
    run_dir: Path | None = None


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


def _check_prediction(pred: Any, sample: Sample) -> Prediction:
    if not isinstance(pred, Prediction):
        raise TypeError(f"method returned {type(pred).__name__}, expected lsbench.types.Prediction")
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
    metric_fn = METRICS.build(metric_name)

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
    throughput: dict[str, dict[str, Any]] = {}
    total = len(built) * len(dataset)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="lsbench run", unit="img", file=sys.stderr, dynamic_ncols=True)
    started = time.time()
    try:
        for name, segmenter, _ in built:
            if bar is not None:
                bar.set_postfix_str(name)
            if warmup:
                with contextlib.suppress(Exception):
                    segmenter(dataset[0])
            for i in range(len(dataset)):
                sample = dataset[i]
                pred: Prediction | None = None
                metrics: dict[str, float] = {}
                error = ""
                t0 = time.perf_counter()
                try:
                    pred = segmenter(sample)
                    seconds = time.perf_counter() - t0
                    pred = _check_prediction(pred, sample)
                    metrics = metric_fn(pred, sample)
                except Exception as exc:  # one failing sample must not stop the run
                    seconds = time.perf_counter() - t0
                    error = f"{type(exc).__name__}: {exc}".replace("\n", " ")
                    if os.environ.get("LSBENCH_DEBUG"):
                        traceback.print_exc()
                    pred = None
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
        "metric": metric_name,
        "methods": {name: _json_safe(params) for name, _, params in built},
        "timing": {"clock": "time.perf_counter", "unit": "seconds per image (batch 1)",
                   "warmup": warmup, "includes": "the method call only (not loading or scoring)"},
        "throughput": _json_safe(throughput),
        **environment(),
    }
    result = RunResult(per_sample=per_sample, summary=summary, config=config)
    if out_dir is not None:
        result.run_dir = write_run_dir(out_dir, run_id, result)
    return result


def write_run_dir(out_dir: Path, run_id: str, result: RunResult) -> Path:
    """Write the run's files into ``out_dir/run_id`` atomically (temp folder, then rename)."""
    from lsbench.reports.tables import write_tables

    final = out_dir / run_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.tmp-", dir=out_dir))
    try:
        result.per_sample.to_csv(tmp / "per_sample.csv", index=False)
        result.summary.to_csv(tmp / "summary.csv", index=False)
        (tmp / "config.json").write_text(json.dumps(result.config, indent=2) + "\n")
        write_tables(tmp, result.per_sample, result.config)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final

"""Run methods x samples on an executor, keep every result in a store, and write a run directory.

The harness knows nothing of how a method works. It validates and builds every requested method
once (so bad parameters fail before any work), cuts the run into *work units* (one sample of
one method, :mod:`lsbench.harness.work`) and hands them to an executor
(:mod:`lsbench.harness.executors`: ``local`` in this process, ``process`` a pool of killable
child processes, ``dask`` a Dask cluster). Each worker rebuilds the dataset and the method
itself, times the call (after one untimed warm-up call per method and worker, on the worker's
first sample of that method), scores the
prediction with the dataset's metric and sends back a *record*: the per-sample row and the
prediction (a packed mask, or COCO detections). Every record is appended to the run's result
store (:mod:`lsbench.harness.store`) as it arrives; everything the run writes is then computed
from the store. Its only contract with the reports is the two tidy tables:

* ``per_sample.csv``: method, dataset, split, sample_id, group, height, width, seconds, batch_size,
  n_iter, converged, error, then one column per metric (methods that take batches, the batched
  classic backends, run in batches of same-size samples: ``seconds`` is then the batch's wall time
  divided by ``batch_size``, see :mod:`lsbench.harness.work`);
* ``summary.csv``: method, dataset, split, metric, mean, std, n, n_failed;

plus ``config.json`` (resolved parameters, the backend each classic method ran on, dataset spec,
executor and timing protocol, versions, git commit, machine, and the batched throughput of methods that have ``predict_batch``,
:mod:`lsbench.harness.throughput`), the tables (``lsbench.reports``) and what the reports need to be rebuilt
without re-running (:mod:`lsbench.harness.artifacts`): every predicted mask (single-object runs)
or every detection in COCO results format with the ground truth (instance runs), the figure
samples and the convergence traces.

Run directory lifecycle: while it runs, a run lives in ``<out>/<run-id>.partial/`` holding
``config.json`` (with the plan a resume needs) and ``records.jsonl`` (the store). When every unit
has a record, the files above are written into it and it is renamed to ``<out>/<run-id>/``: a
finished run directory only ever appears complete. A run that was interrupted (Ctrl-C, SIGKILL,
a crash, a lost cluster) keeps its ``.partial`` directory; :func:`resume_benchmark`
(``lsbench run --resume DIR``) runs only the units without a record and finishes it, and since
the tables come from the store, the result equals an uninterrupted run (timings aside).

Failures never stop a run: an exception, a bad or non-finite prediction, a timeout or a worker
that died (after its retries) is a record with a non-empty ``error``; the summary counts them in
``n_failed``. Instance datasets (``kind == "instance"``) get a per-sample row too (instance counts
and mean best IoU, :func:`lsbench.metrics.instance.instance_metrics`); their AP is a dataset-level
score, computed once per method from the stored COCO results
(:func:`lsbench.metrics.scoring.score_instances`): a sample the method failed on contributes no
detections while its ground truth still counts.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lsbench.datasets.base import Dataset, Subset
from lsbench.harness.artifacts import N_FIGURE_SAMPLES, N_TRACE_SAMPLES, RunDirError, RunRecorder
from lsbench.harness.environment import environment
from lsbench.harness.executors import Executor, make_executor, shippable
from lsbench.harness.store import STORE_FILE, ResultStore, StoreError, record_key
from lsbench.harness.summary import FIXED_COLUMNS, summarize
from lsbench.harness.throughput import has_predict_batch, measure_throughput
from lsbench.harness.work import (
    DatasetRef,
    MethodSpec,
    WorkUnit,
    decode_mask,
    harness_batch_size,
    json_safe,
    params_hash,
)
from lsbench.registry import DATASETS, METHODS, METRICS, check_params

__all__ = ["PARTIAL_SUFFIX", "MethodRequest", "RunResult", "check_output_dir", "find_partial_run",
           "resume_benchmark", "run_benchmark", "write_run_dir", "write_run_files"]

#: suffix of a run directory while the run is in progress (or was interrupted)
PARTIAL_SUFFIX = ".partial"


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


def _new_run_id(dataset: Dataset) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{dataset.name}-{dataset.split}"


def _unwrap(dataset: Dataset) -> tuple[Dataset, list[int]]:
    """The innermost dataset of nested :class:`Subset` s and the run's indices into it."""
    indices = list(range(len(dataset)))
    while isinstance(dataset, Subset):
        indices = [dataset.indices[i] for i in indices]
        dataset = dataset.base
    return dataset, indices


def _dataset_ref(base: Dataset) -> DatasetRef:
    spec = json_safe(base.spec(), nonfinite="keep")
    registered = spec.get("name") in DATASETS
    return DatasetRef(spec=spec, fingerprint="" if registered else base.fingerprint(),
                      obj=None if registered else base)


# -- planning: everything checked and built before any work -------------------------------------------
@dataclass
class RunPlan:
    """A validated run: built methods, the dataset, and the work units it consists of."""

    requests: list[MethodRequest]
    built: list[tuple[str, Any, dict[str, Any]]]  # name, segmenter, resolved parameters
    specs: list[MethodSpec]
    dataset: Dataset
    base: Dataset
    base_ref: DatasetRef
    base_indices: list[int]
    ids: list[str]
    metric: str
    class_names: tuple[str, ...]
    limit: int | None
    warmup: bool
    figure_samples: int
    trace_samples: int

    @property
    def kind(self) -> str:
        return self.dataset.kind

    def units(self) -> list[WorkUnit]:
        """Every unit of the run: method by method, samples in dataset order."""
        n_classes = len(self.class_names) or None
        return [WorkUnit(method=spec, dataset=self.base_ref, index=self.base_indices[pos], position=pos,
                         sample_id=self.ids[pos], dataset_name=self.dataset.name, split=self.dataset.split,
                         kind=self.kind, metric=self.metric, n_classes=n_classes, warmup=self.warmup)
                for spec in self.specs for pos in range(len(self.ids))]

    def built_by_key(self) -> dict[tuple[str, str, str], Any]:
        return {spec.cache_key(): seg for spec, (_, seg, _) in zip(self.specs, self.built, strict=True)}

    def describe(self) -> dict[str, Any]:
        """What ``config.json`` keeps so that :func:`resume_benchmark` can rebuild this plan."""
        return {"methods": [{"name": r.name, "params": json_safe(r.params, nonfinite="keep"),
                             "params_hash": s.params_hash} for r, s in zip(self.requests, self.specs, strict=True)],
                "limit": self.limit, "metric": self.metric, "warmup": self.warmup,
                "figure_samples": self.figure_samples, "trace_samples": self.trace_samples,
                "sample_ids_sha256": _ids_digest(self.ids)}


def _ids_digest(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def _plan(methods: Sequence[MethodRequest], dataset: Dataset, *, limit: int | None, metric: str | None,
          warmup: bool, figure_samples: int, trace_samples: int) -> RunPlan:
    if not methods:
        raise ValueError("no methods given; choose from: " + ", ".join(METHODS.names()))
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"method listed twice in {names}")
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be an lsbench Dataset, got {type(dataset).__name__}")
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
    for name, value in (("figure_samples", figure_samples), ("trace_samples", trace_samples)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    ids = list(dataset.ids())
    if len(set(ids)) != len(ids):
        dup = next(i for i, c in Counter(ids).items() if c > 1)
        raise ValueError(f"dataset {dataset.name}/{dataset.split} repeats sample id {dup!r}; results are "
                         "keyed by sample id")

    # build every method first: bad parameters fail before any work is done
    built: list[tuple[str, Any, dict[str, Any]]] = []
    specs: list[MethodSpec] = []
    for req in methods:
        entry = METHODS.get(req.name)
        check_params(entry, req.params)
        if entry.kind and entry.kind != dataset.kind:
            raise ValueError(f"method {req.name!r} segments {entry.kind} targets but dataset "
                             f"{dataset.name!r} is {dataset.kind}")
        resolved = {**entry.defaults(), **req.params}
        segmenter = entry.factory(**req.params)
        built.append((req.name, segmenter, resolved))
        specs.append(shippable(MethodSpec(req.name, dict(req.params), params_hash(resolved), entry.factory)))
    base, base_indices = _unwrap(dataset)
    return RunPlan(requests=list(methods), built=built, specs=specs, dataset=dataset, base=base,
                   base_ref=_dataset_ref(base), base_indices=base_indices, ids=ids, metric=metric_name,
                   class_names=tuple(getattr(dataset, "class_names", ()) or ()), limit=limit, warmup=warmup,
                   figure_samples=figure_samples, trace_samples=trace_samples)


def _timing(warmup: bool, sessions: Sequence[dict[str, Any]], batched: dict[str, int] | None = None
            ) -> dict[str, Any]:
    """The timing protocol; ``concurrent_workers`` is the most workers any session ran at once;
    ``batched`` maps the methods the harness ran in batches to their batch size."""
    n = max([int(x.get("concurrent_workers") or 1) for x in sessions] or [1])
    timing = {"clock": "time.perf_counter", "unit": "seconds per image (batch 1)", "warmup": warmup,
              "includes": "the method call only (not loading or scoring)", "concurrent_workers": n}
    if batched:
        timing["batched_methods"] = dict(batched)
        timing["batch_note"] = ("the methods in batched_methods ran in batches of up to that many same-size "
                                "images (one predict_batch call per batch): their per-image seconds are the "
                                "batch's wall time divided by its size (per_sample.csv column batch_size)")
    if n > 1:
        kinds = ", ".join(dict.fromkeys(str(x.get("executor")) for x in sessions))
        timing["note"] = (f"each image was timed alone in its worker, but up to {n} workers ran at once "
                          f"({kinds} executor on a machine with {os.cpu_count()} logical cores): per-image "
                          "seconds include contention between workers; use --executor local (or --workers 1) "
                          "for one-at-a-time timings")
    return timing


def _begin_session(config: dict[str, Any], executor: Executor, command: str | None) -> dict[str, Any]:
    """Record a session (this process's share of the run) in ``config`` before it does any work, so that
    even a session that is killed is on record."""
    session = {"started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "command": command,
               "finished": False, **executor.describe()}
    config.setdefault("sessions", []).append(session)
    config["executor"] = executor.describe()
    return session


def _end_session(session: dict[str, Any], executor: Executor, started: float, n_units: int) -> None:
    session.update(executor.describe())
    session.update(finished=True, wall_seconds=round(time.time() - started, 3), units_run=n_units)


def _atomic_json(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- running -------------------------------------------------------------------------------------------
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
    executor: str | Executor = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    timeout_per_sample: float | None = None,
    retries: int = 2,
    on_start: Callable[[Path], None] | None = None,
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
        Call each method once, untimed, on the first sample each worker gets for it, before timing
        that sample (the local executor: on the first sample of the run).
    on_record : callable, optional
        Called with each per-sample row as its record is stored.
    figures : bool
        Also draw the figures into the run directory (``lsbench report`` can draw them later).
    html : bool
        Also write the one-page ``index.html`` (implies drawing the figures).
    figure_samples : int
        How many samples the figures show (saved in ``samples.npz``).
    trace_samples : int
        How many of those each classic method is traced on (energy and F-measure per
        iteration, ``traces.csv``), after the timed runs; 0 disables tracing.
    executor : {"local", "process", "dask"} or Executor
        Where samples run (:mod:`lsbench.harness.executors`); the Python default is ``local``,
        the command line's is ``process``.
    workers, scheduler, timeout_per_sample, retries
        Executor options (:func:`lsbench.harness.executors.make_executor`).
    on_start : callable, optional
        Called with the in-progress directory ``out/<run_id>.partial`` once it exists.

    Notes
    -----
    With ``out``, the run lives in ``out/<run_id>.partial/`` until it is complete, then is renamed
    to ``out/<run_id>/``; an interrupted run is continued with :func:`resume_benchmark`.
    """
    plan = _plan(methods, dataset, limit=limit, metric=metric, warmup=warmup, figure_samples=figure_samples,
                 trace_samples=trace_samples)
    ex = executor if isinstance(executor, Executor) else make_executor(
        executor, workers=workers, scheduler=scheduler, timeout=timeout_per_sample, retries=retries)
    out_dir = check_output_dir(out) if out is not None else None
    run_id = run_id or _new_run_id(plan.dataset)
    if out_dir is not None and ("/" in run_id or os.sep in run_id or run_id in ("", ".", "..")
                                or run_id.endswith(PARTIAL_SUFFIX)):
        raise ValueError(f"run id {run_id!r} must be a plain folder name (not ending in {PARTIAL_SUFFIX})")
    with _opened(ex, owned=not isinstance(executor, Executor)):
        return _run(plan, ex, out_dir=out_dir, run_id=run_id, progress=progress, command=command, on_record=on_record,
                    figures=figures, html=html, on_start=on_start)


@contextlib.contextmanager
def _opened(executor: Executor, owned: bool) -> Iterator[None]:
    """Open ``executor`` (connect to a cluster, ...) and close it afterwards when this run made it."""
    executor.open()
    try:
        yield
    finally:
        if owned:
            executor.close()


def _free_run_id(out_dir: Path, run_id: str) -> str:
    """``run_id``, or ``run_id-2``, ``-3``, ... : a name used by no run in ``out_dir``, finished or not."""
    base_id, k = run_id, 2
    while (out_dir / run_id).exists() or (out_dir / f"{run_id}{PARTIAL_SUFFIX}").exists():
        run_id, k = f"{base_id}-{k}", k + 1
    return run_id


def _run(plan: RunPlan, ex: Executor, *, out_dir: Path | None, run_id: str, progress: bool,
         command: str | None, on_record: Callable[[dict[str, Any]], None] | None, figures: bool, html: bool,
         on_start: Callable[[Path], None] | None) -> RunResult:
    run_id = _free_run_id(out_dir, run_id) if out_dir is not None else run_id

    started = time.time()
    config = {
        "run_id": run_id,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "status": "running",
        "dataset": json_safe(plan.dataset.spec()),
        "dataset_fingerprint": plan.dataset.fingerprint(),
        "n_samples": len(plan.dataset),
        "kind": plan.kind,
        "class_names": list(plan.class_names),
        "metric": plan.metric,
        "methods": {name: json_safe(params) for name, _, params in plan.built},
        # which implementation ran each method that has several (backend="auto" resolved here)
        "backends": {name: seg.backend for name, seg, _ in plan.built if getattr(seg, "backend", "")},
        "executor": ex.describe(),
        "plan": plan.describe(),
        "sessions": [],
        **environment(),
    }
    session = _begin_session(config, ex, command)
    partial: Path | None = None
    if out_dir is not None:
        partial = out_dir / f"{run_id}{PARTIAL_SUFFIX}"
        partial.mkdir()
        _atomic_json(partial / "config.json", config)
        if on_start is not None:
            on_start(partial)
    store = ResultStore(None if partial is None else partial / STORE_FILE)
    try:
        n_run = _execute(plan, store, ex, progress=progress, on_record=on_record)
        _end_session(session, ex, started, n_run)
        return _finish(plan, store, config, partial, figures=figures, html=html)
    finally:
        store.close()


def find_partial_run(run_dir: str | os.PathLike[str]) -> Path:
    """The ``<run-id>.partial`` directory of ``run_dir`` (given with or without the suffix).

    Raises
    ------
    ValueError
        ``run_dir`` is a finished run (nothing to resume).
    FileNotFoundError
        No run in progress there.
    """
    path = Path(run_dir).expanduser()
    candidates = [path] if path.name.endswith(PARTIAL_SUFFIX) else [path.with_name(path.name + PARTIAL_SUFFIX), path]
    for cand in candidates:
        if cand.is_dir() and (cand / STORE_FILE).exists() and cand.name.endswith(PARTIAL_SUFFIX):
            if not (cand / "config.json").is_file():
                raise RunDirError(f"{cand / 'config.json'} is missing: the run cannot be resumed")
            return cand
    if path.is_dir() and (path / "per_sample.csv").is_file():
        raise ValueError(f"--resume {path}: this run is finished (it has per_sample.csv); nothing to resume")
    raise FileNotFoundError(f"--resume {path}: no run in progress there (expected a <run-id>{PARTIAL_SUFFIX} "
                            f"directory holding {STORE_FILE}, written by lsbench run --out)")


def resume_benchmark(
    run_dir: str | os.PathLike[str],
    *,
    dataset: Dataset | None = None,
    progress: bool = True,
    command: str | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    figures: bool = False,
    html: bool = False,
    executor: str | Executor = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    timeout_per_sample: float | None = None,
    retries: int = 2,
) -> RunResult:
    """Finish an interrupted run: run only the units without a record, then write the run directory.

    Parameters
    ----------
    run_dir : path
        ``<out>/<run-id>.partial`` (or ``<out>/<run-id>``, the suffix is added).
    dataset : Dataset, optional
        The run's dataset, for datasets that are not registered (registered ones are rebuilt from
        the spec in ``config.json``); it must have the fingerprint the run recorded.
    timeout_per_sample : float, optional
        Default: the timeout the run was started with.
    progress, command, on_record, figures, html, executor, workers, scheduler, retries
        As for :func:`run_benchmark`.

    Raises
    ------
    ValueError
        The dataset or a method's resolved parameters differ from those the run started with, or
        the store holds records that are not part of this run.
    """
    partial = find_partial_run(run_dir)
    try:
        config = json.loads((partial / "config.json").read_text())
        saved = config["plan"]
        spec = dict(config["dataset"])
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{partial / 'config.json'} is damaged or not from lsbench run: {exc}") from None
    if dataset is None:
        if spec.get("name") not in DATASETS:
            raise ValueError(f"the run's dataset {spec.get('name')!r} is not registered, so it cannot be rebuilt "
                             "from config.json; pass it: resume_benchmark(run_dir, dataset=...)")
        from lsbench.datasets import load

        dataset = load(spec.pop("name"), root=spec.pop("root", None), split=spec.pop("split", None), **spec)
    requests = [MethodRequest(m["name"], dict(m.get("params") or {})) for m in saved["methods"]]
    plan = _plan(requests, dataset, limit=saved.get("limit"), metric=config.get("metric"),
                 warmup=bool(saved.get("warmup", True)), figure_samples=int(saved.get("figure_samples", 6)),
                 trace_samples=int(saved.get("trace_samples", 3)))
    if plan.dataset.fingerprint() != config.get("dataset_fingerprint") or \
            _ids_digest(plan.ids) != saved.get("sample_ids_sha256"):
        raise ValueError(f"the dataset {plan.dataset.name}/{plan.dataset.split} differs from the one the run "
                         f"started with (fingerprint or sample ids changed): {partial} cannot be resumed on it")
    for m, s in zip(saved["methods"], plan.specs, strict=True):
        if m.get("params_hash") != s.params_hash:
            raise ValueError(f"method {s.name!r} now resolves to other parameters than when the run started "
                             f"(hash {s.params_hash} vs {m.get('params_hash')}): its defaults changed; "
                             "start a new run")
    if timeout_per_sample is None:
        timeout_per_sample = (config.get("executor") or {}).get("timeout_per_sample")
    ex = executor if isinstance(executor, Executor) else make_executor(
        executor, workers=workers, scheduler=scheduler, timeout=timeout_per_sample, retries=retries)
    with _opened(ex, owned=not isinstance(executor, Executor)):
        return _resume(plan, ex, partial, config, progress=progress, command=command, on_record=on_record,
                       figures=figures, html=html)


def _resume(plan: RunPlan, ex: Executor, partial: Path, config: dict[str, Any], *, progress: bool,
            command: str | None, on_record: Callable[[dict[str, Any]], None] | None, figures: bool,
            html: bool) -> RunResult:
    started = time.time()
    store = ResultStore(partial / STORE_FILE)
    try:
        expected = {u.key() for u in plan.units()}
        foreign = [k for k in store.keys() if k not in expected]
        if foreign:
            raise StoreError(f"{partial / STORE_FILE} holds {len(foreign)} record(s) that are not part of this "
                             f"run, e.g. {foreign[0]}")
        config["resumed"] = int(config.get("resumed", 0)) + 1
        session = _begin_session(config, ex, command)
        _atomic_json(partial / "config.json", config)
        n_run = _execute(plan, store, ex, progress=progress, on_record=on_record)
        _end_session(session, ex, started, n_run)
        return _finish(plan, store, config, partial, figures=figures, html=html)
    finally:
        store.close()


def _execute(plan: RunPlan, store: ResultStore, executor: Executor, *, progress: bool,
             on_record: Callable[[dict[str, Any]], None] | None) -> int:
    """Run the units that have no record yet; append each record as it arrives. Returns their count."""
    units = plan.units()
    todo = [u for u in units if u.key() not in store]
    expected = {u.key(): u for u in todo}
    executor.seed(plan.built_by_key())
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(units), initial=len(units) - len(todo), desc="lsbench run", unit="img",
                   file=sys.stderr, dynamic_ncols=True)
    records = executor.run(todo)
    n = 0
    try:
        for record in records:
            key = record_key(record)
            if expected.pop(key, None) is None:
                raise RuntimeError(f"the {executor.name} executor returned a record for {key}, which was not "
                                   "asked for or was already stored")
            store.append(record)
            n += 1
            if on_record is not None:
                on_record(record["row"])
            if bar is not None:
                bar.set_postfix_str(key[0], refresh=False)
                bar.update(1)
    finally:
        with contextlib.suppress(Exception):
            records.close()  # type: ignore[attr-defined]
        if bar is not None:
            bar.close()
    if expected:
        raise RuntimeError(f"the {executor.name} executor finished without a record for {len(expected)} "
                           f"unit(s), e.g. {next(iter(expected))}; resume the run to retry them")
    return n


# -- finishing: every output computed from the store ------------------------------------------------------
def _finish(plan: RunPlan, store: ResultStore, config: dict[str, Any], partial: Path | None, *,
            figures: bool, html: bool) -> RunResult:
    units = plan.units()
    records = []
    for unit in units:
        record = store.get(unit.key())
        if record is None:
            raise RuntimeError(f"no record for {unit.key()}; the run is incomplete")
        records.append(record)
    n = len(plan.ids)
    positions = [unit.position for unit in units]  # from the plan, not from the stored records
    by_position: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for r, pos in zip(records, positions, strict=True):
        by_position[pos].append(r)

    # what is known about each sample (from any record that loaded it)
    info: list[dict[str, Any]] = []
    truth: list[dict[str, Any] | None] = []
    for recs in by_position:
        known = next((r["row"] for r in recs if not _isnan(r["row"].get("height"))), None)
        info.append({} if known is None else {k: known[k] for k in ("group", "height", "width")})
        truth.append(next((r["ground_truth"] for r in recs if r.get("ground_truth") is not None), None))

    rows = []
    for r, pos in zip(records, positions, strict=True):
        row = dict(r["row"])
        if _isnan(row.get("height")) and info[pos]:
            row.update(info[pos])
        rows.append(row)

    recorder = RunRecorder(plan.kind, n, plan.class_names, n_figure_samples=plan.figure_samples)
    for pos in range(n):
        if not info[pos] and truth[pos] is None:
            continue  # no worker could load this sample: it is failed for every method
        shape = (int(info[pos].get("height", 0)), int(info[pos].get("width", 0)))
        gt = truth[pos] or {}
        recorder.add_sample_info(pos, plan.ids[pos], str(info[pos].get("group", "")), shape,
                                 str(gt.get("file_name", "")), gt.get("annotations"))
    chosen = {}
    for pos in recorder.figure_indices():
        with contextlib.suppress(Exception):  # a sample that cannot be loaded is simply not shown
            chosen[pos] = plan.dataset[pos]
    recorder.set_figure_samples(chosen)
    for r, pos in zip(records, positions, strict=True):
        method = r["key"]["method"]
        payload = r.get("prediction")
        if plan.kind == "instance":
            recorder.add_results(method, [] if payload is None else payload.get("detections", []))
        elif payload is None:
            recorder.add_mask_bits(method, plan.ids[pos], (int(info[pos].get("height", 0) or 0),
                                                           int(info[pos].get("width", 0) or 0)), None)
        else:
            shape, bits = decode_mask(payload)
            recorder.add_mask_bits(method, plan.ids[pos], shape, bits)

    recorder.record_traces([(name, seg) for name, seg, _ in plan.built], plan.trace_samples)
    # learned methods: images/s at batch 64 too, measured here in the parent, one method at a time
    # (methods the harness already ran in batches have their batched timing in per_sample.csv)
    throughput = {name: measure_throughput(seg, plan.dataset) for name, seg, _ in plan.built
                  if has_predict_batch(seg) and harness_batch_size(seg) == 1}
    instance_scores: dict[str, Any] = {}
    if plan.kind == "instance":
        from lsbench.metrics.scoring import score_instances

        gt = recorder.ground_truth()
        results = recorder.results()
        instance_scores = {name: score_instances(gt, results.get(name, [])) for name, _, _ in plan.built}

    per_sample = pd.DataFrame(rows)
    metric_cols = [c for c in per_sample.columns if c not in FIXED_COLUMNS]
    per_sample = per_sample[[c for c in FIXED_COLUMNS if c in per_sample.columns] + metric_cols]
    summary = summarize(per_sample)
    sessions = config.get("sessions") or []
    config = {**config, "status": "complete",
              "wall_seconds": round(sum(float(x.get("wall_seconds") or 0) for x in sessions), 3),
              "timing": _timing(plan.warmup, sessions,
                                {name: harness_batch_size(seg) for name, seg, _ in plan.built
                                 if harness_batch_size(seg) > 1}),
              "throughput": json_safe(throughput),
              "n_failed": int((per_sample["error"].astype(str).str.len() > 0).sum())}
    result = RunResult(per_sample=per_sample, summary=summary, config=config, recorder=recorder,
                       instance_scores=instance_scores)
    if partial is not None:
        final = partial.with_name(partial.name[:-len(PARTIAL_SUFFIX)])
        if final.exists():
            raise FileExistsError(f"{final} already exists; the finished run stays in {partial}")
        write_run_files(partial, result, figures=figures, html=html)
        os.replace(partial, final)
        result.run_dir = final
    return result


def _isnan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def write_run_files(run_dir: Path, result: RunResult, figures: bool = False, html: bool = False) -> None:
    """Write the tables, config, saved predictions and (optionally) figures of ``result`` into ``run_dir``.

    Each file is written under a temporary name and renamed, so a file is never half written; the
    tables (and figures) are built from the files just written, by the same code as ``lsbench report``.
    """
    from lsbench.reports.build import build_report

    for name, write in (("per_sample.csv", lambda p: result.per_sample.to_csv(p, index=False)),
                        ("summary.csv", lambda p: result.summary.to_csv(p, index=False))):
        tmp = run_dir / f".{name}.tmp"
        write(tmp)
        os.replace(tmp, run_dir / name)
    _atomic_json(run_dir / "config.json", result.config)
    if result.recorder is not None:
        result.recorder.write(run_dir)
    build_report(run_dir, figures=figures, html=html, instance_scores=result.instance_scores or None,
                 require_table=False)


def write_run_dir(out_dir: Path, run_id: str, result: RunResult, figures: bool = False,
                  html: bool = False) -> Path:
    """Write the run's files into ``out_dir/run_id`` atomically (temp folder, then rename)."""
    final = out_dir / run_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.tmp-", dir=out_dir))
    try:
        write_run_files(tmp, result, figures=figures, html=html)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


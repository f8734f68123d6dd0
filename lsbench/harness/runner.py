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
* ``summary.csv``: method, dataset, split, protocol, metric, mean, std, n, n_failed;

plus ``config.json`` (the initialisation protocol and, per method, the ground-truth-derived inputs
it received (:mod:`lsbench.protocols`), resolved parameters, the backend each classic method ran on,
dataset spec, executor and timing protocol, versions, git commit, machine, when asked
(``throughput=True``) the batched throughput of methods that declare a native ``predict_batch``
(:mod:`lsbench.harness.throughput`), and under ``models`` what a segmenter says of itself through
``describe()``, e.g. a detector's parameter counts ``params`` and ``mask_params``), the tables
(``lsbench.reports``) and what the reports need to be rebuilt
without re-running (:mod:`lsbench.harness.artifacts`): every predicted mask (single-object runs)
or every detection in COCO results format with the ground truth (instance runs), the figure
samples and the convergence traces. Every file's format is :mod:`lsbench.rundir`'s.

Stages: (1) the sample units, on the executor; (2) the figure samples, loaded here; (3) the trace
units (each traceable method on the first figure samples, :mod:`lsbench.harness.convergence`), on
the executor; (4) only when asked (``throughput=True``, ``lsbench run --throughput``), the batch-64
throughput, measured here. Each stage, and the writing of the tables, figures and HTML page after
them, shows its own progress bar on stderr (:func:`lsbench.progress.stage`) unless
``progress=False``.
Stages 2-4 keep their results as side records in ``extras.jsonl`` (the store's format), so a
resumed run skips what is there, and finishing (the tables and files) only reads the two stores:
no method runs again after its results are stored.

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
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lsbench.atomic import atomic_file, atomic_write_json
from lsbench.datasets.base import Dataset, Subset
from lsbench.errors import as_data_error, refusing
from lsbench.harness.artifacts import (
    N_FIGURE_SAMPLES,
    N_TRACE_SAMPLES,
    RunRecorder,
    figure_positions,
)
from lsbench.harness.convergence import trace_frame
from lsbench.harness.environment import environment
from lsbench.harness.executors import Executor, make_executor, shippable
from lsbench.harness.recheck import recheck_records
from lsbench.harness.selection import LIMIT_MODES, describe_selection, select_positions
from lsbench.harness.store import ResultStore, StoreError, record_key
from lsbench.harness.throughput import measure_throughput
from lsbench.harness.work import (
    DatasetRef,
    MethodSpec,
    WorkUnit,
    decode_array,
    decode_mask,
    encode_array,
    encode_mask,
    json_safe,
    params_hash,
)
from lsbench.levelset.validate import check_nonnegative_int, check_positive_int
from lsbench.optional import require
from lsbench.progress import stage
from lsbench.protocols import apply_protocol, resolve_protocol
from lsbench.registry import DATASETS, METHODS, METRICS, check_params
from lsbench.rundir import (
    CONFIG_FILE,
    EXTRAS_FILE,
    FIXED_COLUMNS,
    PER_SAMPLE_FILE,
    STORE_FILE,
    SUMMARY_FILE,
    RunDirError,
    display_image,
    summarize,
)
from lsbench.segmenter import Segmenter, batches_natively, can_trace, harness_batch_size

__all__ = ["PARTIAL_SUFFIX", "MethodRequest", "RunResult", "check_output_dir", "check_run_id", "find_partial_run",
           "resume_benchmark", "run_benchmark", "write_run_files"]

#: suffix of a run directory while the run is in progress (or was interrupted)
PARTIAL_SUFFIX = ".partial"


@dataclass(frozen=True)
class MethodRequest:
    """A method name and the parameters that override its defaults.

    ``preset`` says where preset parameters among ``params`` came from
    (:func:`lsbench.presets.load_preset_with_source`): recorded in ``config.json``, and named in
    the error when the method refuses them.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    preset: dict[str, Any] | None = None


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


def check_output_dir(out: str | os.PathLike[str], *, create: bool = True) -> Path:
    """Prove that ``out`` is, or can be made, a writable folder; raise ``OSError`` naming it otherwise.

    With ``create`` the folder is made (with its parents) and a file written into it and removed.
    Without, nothing is made: an existing ``out`` is probed the same way, a missing one must have a
    nearest existing ancestor that is a writable folder (so a command can check ``--out`` before it
    validates the rest of its request, and a refused request leaves no empty folder behind).
    """
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"--out {path} exists and is not a directory")
    if not create and not path.exists():
        parent = next(p for p in path.absolute().parents if p.exists())
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise PermissionError(f"--out {path} is not writable: {parent} is not a writable folder")
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".lsbench-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(f"--out {path} is not writable: {exc.strerror or exc}") from None
    return path


#: the longest run id (in UTF-8 bytes) kept clear of the file-name limit of 255 bytes
MAX_RUN_ID_BYTES = 200


def check_run_id(run_id: Any) -> str:
    """``run_id`` if it is a plain folder name for a run directory; else a ``ValueError`` saying why.

    Refused: anything but a non-empty string, ``.`` and ``..``, a path separator, a control
    character (a newline, a tab, NUL, ...), leading or trailing white space, the suffix of a run
    in progress (:data:`PARTIAL_SUFFIX`) and names longer than :data:`MAX_RUN_ID_BYTES` bytes.

    Examples
    --------
    >>> check_run_id("cv-vs-rls")
    'cv-vs-rls'
    >>> check_run_id("../cv")
    Traceback (most recent call last):
    ...
    ValueError: run id '../cv' must be a plain folder name: not '.', '..' or a path
    """
    if not isinstance(run_id, str) or not run_id:
        raise ValueError(f"run id {run_id!r} must be a non-empty folder name")
    control = next((c for c in run_id if unicodedata.category(c) == "Cc"), None)
    if control is not None:
        why = f"it holds the control character {control!r}"
    elif run_id in (".", "..") or "/" in run_id or os.sep in run_id or (os.altsep and os.altsep in run_id):
        why = "not '.', '..' or a path"
    elif run_id != run_id.strip():
        why = "no leading or trailing white space"
    elif run_id.endswith(PARTIAL_SUFFIX):
        why = f"not ending in {PARTIAL_SUFFIX}, the suffix of a run in progress"
    elif len(run_id.encode("utf-8", "surrogateescape")) > MAX_RUN_ID_BYTES:
        why = f"at most {MAX_RUN_ID_BYTES} bytes"
    else:
        return run_id
    raise ValueError(f"run id {run_id!r} must be a plain folder name: {why}")


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
    #: how a limited run chose its samples (:func:`lsbench.harness.selection.describe_selection`); None: all
    selection: dict[str, Any] | None = None
    #: the initialisation protocol (:mod:`lsbench.protocols`) and, per method, the labels of the
    #: ground-truth-derived inputs it receives under it
    protocol: str = "box"
    ground_truth_inputs: dict[str, list[str]] = field(default_factory=dict)

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
        chosen = {} if self.selection is None else {"limit_mode": self.selection["mode"],
                                                    "limit_seed": self.selection["seed"],
                                                    "sample_ids": list(self.ids)}
        return {"methods": [{"name": r.name, "params": json_safe(r.params, nonfinite="keep"),
                             "params_hash": s.params_hash, **({"preset": r.preset} if r.preset else {})}
                            for r, s in zip(self.requests, self.specs, strict=True)],
                "limit": self.limit, **chosen, "metric": self.metric, "warmup": self.warmup,
                "figure_samples": self.figure_samples, "trace_samples": self.trace_samples,
                "sample_ids_sha256": _ids_digest(self.ids)}


def _ids_digest(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def _select(dataset: Dataset, limit: int | None, limit_mode: str, limit_seed: int,
            sample_ids: Sequence[str] | None) -> tuple[Dataset, dict[str, Any] | None]:
    """The samples a run takes: all, ``limit`` of them (:mod:`lsbench.harness.selection`), or (a resumed
    run) exactly the ``sample_ids`` it recorded."""
    if limit is None:
        return dataset, None
    check_positive_int("--limit", limit)
    groups = dataset.groups()
    if sample_ids is not None:
        where = {sid: i for i, sid in enumerate(dataset.ids())}
        missing = [sid for sid in sample_ids if sid not in where]
        if missing:
            raise ValueError(f"the run's sample {missing[0]!r} (and {len(missing) - 1} more) is not in "
                             f"{dataset.name}/{dataset.split} any more")
        positions = [where[sid] for sid in sample_ids]
    else:
        positions = select_positions(groups, limit, limit_mode, limit_seed)
    return Subset(dataset, positions), describe_selection(groups, positions, limit, limit_mode, limit_seed)


def _plan(methods: Sequence[MethodRequest], dataset: Dataset, *, limit: int | None, metric: str | None,
          warmup: bool, figure_samples: int, trace_samples: int, limit_mode: str = "spread", limit_seed: int = 0,
          sample_ids: Sequence[str] | None = None, protocol: str | None = None) -> RunPlan:
    if not methods:
        raise ValueError("no methods given; choose from: " + ", ".join(METHODS.names()))
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"method listed twice in {names}")
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be an lsbench Dataset, got {type(dataset).__name__}")
    if limit_mode not in LIMIT_MODES:
        raise ValueError(f"limit_mode must be one of {', '.join(LIMIT_MODES)}; got {limit_mode!r}")
    dataset, selection = _select(dataset, limit, limit_mode, limit_seed, sample_ids)
    if len(dataset) == 0:
        raise ValueError(f"dataset {dataset.name}/{dataset.split} has no samples")
    protocol = resolve_protocol(protocol, dataset.kind)
    if dataset.kind == "instance":  # predictions and ground truth are stored, and AP computed, as COCO RLE
        require("pycocotools.mask", f"an instance run ({dataset.name})")
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
        check_nonnegative_int(name, value)
    ids = list(dataset.ids())
    if len(set(ids)) != len(ids):
        dup = next(i for i, c in Counter(ids).items() if c > 1)
        raise ValueError(f"dataset {dataset.name}/{dataset.split} repeats sample id {dup!r}; results are "
                         "keyed by sample id")

    # build every method first: bad parameters fail before any work is done
    built: list[tuple[str, Any, dict[str, Any]]] = []
    specs: list[MethodSpec] = []
    received: dict[str, list[str]] = {}
    checked = []
    regions = dataset.initial_regions() if protocol == "box" else None  # which samples carry Sample.init
    for req in methods:  # names, kinds and the protocol of every method, before any is built (a build may train)
        entry = METHODS.get(req.name)
        check_params(entry, req.params)
        if entry.kind and entry.kind != dataset.kind:
            raise ValueError(f"method {req.name!r} segments {entry.kind} targets but dataset "
                             f"{dataset.name!r} is {dataset.kind}")
        # the protocol's replacements (blind: no ground-truth-derived input) or its refusal
        under = apply_protocol(entry, req.params, protocol, regions, dataset.initial_regions_hint())
        received[req.name] = under.inputs
        checked.append((req, entry, under.params))
    for req, entry, params in checked:
        resolved = {**entry.defaults(), **params}
        try:
            segmenter = entry.factory(**params)
        except (ValueError, TypeError) as exc:
            if not (req.preset or {}).get("file"):
                raise
            raise as_data_error(type(exc)(f"{exc} (method {req.name!r} took parameters from the preset file "
                                          f"{req.preset['file']})")) from None
        built.append((req.name, segmenter, resolved))
        specs.append(shippable(MethodSpec(req.name, dict(params), params_hash(resolved), entry.factory)))
    base, base_indices = _unwrap(dataset)
    return RunPlan(requests=list(methods), built=built, specs=specs, dataset=dataset, base=base,
                   base_ref=_dataset_ref(base), base_indices=base_indices, ids=ids, metric=metric_name,
                   class_names=tuple(getattr(dataset, "class_names", ()) or ()), limit=limit, warmup=warmup,
                   figure_samples=figure_samples, trace_samples=trace_samples, selection=selection,
                   protocol=protocol, ground_truth_inputs=received)


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


# -- running -------------------------------------------------------------------------------------------
def run_benchmark(
    methods: Sequence[MethodRequest],
    dataset: Dataset,
    *,
    out: str | os.PathLike[str] | None = None,
    run_id: str | None = None,
    limit: int | None = None,
    limit_mode: str = "spread",
    limit_seed: int = 0,
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
    throughput: bool = False,
    protocol: str | None = None,
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
        Name of the run directory (default: timestamp-dataset-split); a plain folder name
        (:func:`check_run_id`).
    limit : int, optional
        Only ``limit`` samples: spread evenly over the scene families (``limit_mode="spread"``,
        seeded by ``limit_seed``; a dataset without families keeps its order) or the first
        ``limit`` (``"first"``), :mod:`lsbench.harness.selection`. ``config.json`` records the
        choice (``selection``) and the chosen ids (``plan.sample_ids``, which a resume reuses).
    limit_mode : {"spread", "first"}
    limit_seed : int
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
    throughput : bool
        After the per-sample runs, also measure the batched throughput of every method with a
        native ``predict_batch`` that the harness ran one sample at a time (images per second at
        batch 64, :mod:`lsbench.harness.throughput`; recorded in ``config.json`` and Table 2).
        Off by default (it takes minutes for the detectors): ``config.json`` then records such a
        method's throughput as ``null`` and the tables say "not measured".
    protocol : {"box", "blind"}, optional
        The initialisation protocol (:mod:`lsbench.protocols`): ``box`` (the default for a
        single-object dataset) lets each method use the sample's initial region; ``blind`` gives
        no method any ground-truth-derived input and refuses the methods that cannot run without
        (instance runs are always ``blind``). Recorded in ``config.json`` with the inputs each
        method received, in ``summary.csv`` and in the table captions.

    Raises
    ------
    ValueError, TypeError, LookupError
        A request refused before any work and before ``out`` is created: an unknown method or
        metric, a bad parameter value, executor option, protocol or run id, a method that cannot
        run under the protocol. These are
        :class:`lsbench.errors.RequestError` s (the command line exits 2), except a bad value
        from a preset file, which is a :class:`lsbench.errors.DataError`.

    Notes
    -----
    With ``out``, the run lives in ``out/<run_id>.partial/`` until it is complete, then is renamed
    to ``out/<run_id>/``; an interrupted run is continued with :func:`resume_benchmark`.
    """
    with refusing():  # the request (methods, parameters, dataset, executor, run id): checked before any work
        plan = _plan(methods, dataset, limit=limit, metric=metric, warmup=warmup, figure_samples=figure_samples,
                     trace_samples=trace_samples, limit_mode=limit_mode, limit_seed=limit_seed, protocol=protocol)
        ex = executor if isinstance(executor, Executor) else make_executor(
            executor, workers=workers, scheduler=scheduler, timeout=timeout_per_sample, retries=retries)
        run_id = check_run_id(run_id) if run_id is not None else _new_run_id(plan.dataset)
    if progress and plan.selection is not None:
        print(f"lsbench: {plan.selection['text']}", file=sys.stderr)
    out_dir = check_output_dir(out) if out is not None else None
    with _opened(ex, owned=not isinstance(executor, Executor)):
        return _run(plan, ex, out_dir=out_dir, run_id=run_id, progress=progress, command=command, on_record=on_record,
                    figures=figures, html=html, on_start=on_start, throughput=throughput)


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
         on_start: Callable[[Path], None] | None, throughput: bool) -> RunResult:
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
        **({"selection": plan.selection} if plan.selection is not None else {}),
        "kind": plan.kind,
        "class_names": list(plan.class_names),
        "metric": plan.metric,
        # the initialisation protocol, and what each method received that derives from the ground truth
        "protocol": plan.protocol,
        "ground_truth_inputs": {name: list(inputs) for name, inputs in plan.ground_truth_inputs.items()},
        "methods": {name: json_safe(params) for name, _, params in plan.built},
        "models": {name: json_safe(seg.describe()) for name, seg, _ in plan.built
                   if isinstance(seg, Segmenter) and seg.describe()},
        # which implementation ran each method that has several (backend="auto" resolved here)
        "backends": {name: seg.backend for name, seg, _ in plan.built
                     if isinstance(seg, Segmenter) and seg.backend},
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
        atomic_write_json(partial / CONFIG_FILE, config)
        if on_start is not None:
            on_start(partial)
    store = ResultStore(None if partial is None else partial / STORE_FILE)
    try:
        n_run = _execute(plan, store, ex, progress=progress, on_record=on_record)
        _end_session(session, ex, started, n_run)
        return _complete(plan, store, ex, config, partial, progress=progress, throughput=throughput,
                         figures=figures, html=html)
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
            if not (cand / CONFIG_FILE).is_file():
                raise RunDirError(f"{cand / CONFIG_FILE} is missing: the run cannot be resumed")
            return cand
    if path.is_dir() and (path / PER_SAMPLE_FILE).is_file():
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
    throughput: bool = False,
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
    progress, command, on_record, figures, html, executor, workers, scheduler, retries, throughput
        As for :func:`run_benchmark`.

    Raises
    ------
    ValueError
        The dataset or a method's resolved parameters differ from those the run started with, or
        the store holds records that are not part of this run.
    """
    partial = find_partial_run(run_dir)
    try:
        config = json.loads((partial / CONFIG_FILE).read_text())
        saved = config["plan"]
        spec = dict(config["dataset"])
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{partial / CONFIG_FILE} is damaged or not from lsbench run: {exc}") from None
    if dataset is None:
        if spec.get("name") not in DATASETS:
            raise ValueError(f"the run's dataset {spec.get('name')!r} is not registered, so it cannot be rebuilt "
                             "from config.json; pass it: resume_benchmark(run_dir, dataset=...)")
        from lsbench.datasets import load

        dataset = load(spec.pop("name"), root=spec.pop("root", None), split=spec.pop("split", None), **spec)
    requests = [MethodRequest(m["name"], dict(m.get("params") or {})) for m in saved["methods"]]
    plan = _plan(requests, dataset, limit=saved.get("limit"), metric=config.get("metric"),
                 warmup=bool(saved.get("warmup", True)), figure_samples=int(saved.get("figure_samples", 6)),
                 trace_samples=int(saved.get("trace_samples", 3)),
                 limit_mode="spread" if str(saved.get("limit_mode", "first")).startswith("spread") else "first",
                 limit_seed=int(saved.get("limit_seed") or 0), sample_ids=saved.get("sample_ids"),
                 protocol=config.get("protocol"))
    if plan.dataset.fingerprint() != config.get("dataset_fingerprint") or \
            _ids_digest(plan.ids) != saved.get("sample_ids_sha256"):
        raise ValueError(f"the dataset {plan.dataset.name}/{plan.dataset.split} differs from the one the run "
                         f"started with (fingerprint or sample ids changed): {partial} cannot be resumed on it")
    for m, s in zip(saved["methods"], plan.specs, strict=True):
        if m.get("params_hash") != s.params_hash:
            raise ValueError(f"method {s.name!r} now resolves to other parameters than when the run started "
                             f"(hash {s.params_hash} vs {m.get('params_hash')}): its defaults changed; "
                             "start a new run")
    # the protocol the run started with (runs from before protocols were named ran as box)
    config["protocol"] = plan.protocol
    config["ground_truth_inputs"] = {name: list(inputs) for name, inputs in plan.ground_truth_inputs.items()}
    if timeout_per_sample is None:
        timeout_per_sample = (config.get("executor") or {}).get("timeout_per_sample")
    ex = executor if isinstance(executor, Executor) else make_executor(
        executor, workers=workers, scheduler=scheduler, timeout=timeout_per_sample, retries=retries)
    with _opened(ex, owned=not isinstance(executor, Executor)):
        return _resume(plan, ex, partial, config, progress=progress, command=command, on_record=on_record,
                       figures=figures, html=html, throughput=throughput)


def _resume(plan: RunPlan, ex: Executor, partial: Path, config: dict[str, Any], *, progress: bool,
            command: str | None, on_record: Callable[[dict[str, Any]], None] | None, figures: bool,
            html: bool, throughput: bool) -> RunResult:
    started = time.time()
    store = ResultStore(partial / STORE_FILE)
    try:
        expected = {u.key() for u in plan.units()}
        foreign = [k for k in store.keys() if k not in expected]
        if foreign:
            raise StoreError(f"{partial / STORE_FILE} holds {len(foreign)} record(s) that are not part of this "
                             f"run, e.g. {foreign[0]}")
        recheck_records(plan, store, partial / STORE_FILE)  # an edited record cannot smuggle a score in
        config["resumed"] = int(config.get("resumed", 0)) + 1
        session = _begin_session(config, ex, command)
        atomic_write_json(partial / CONFIG_FILE, config)
        n_run = _execute(plan, store, ex, progress=progress, on_record=on_record)
        _end_session(session, ex, started, n_run)
        return _complete(plan, store, ex, config, partial, progress=progress, throughput=throughput,
                         figures=figures, html=html)
    finally:
        store.close()


def _execute(plan: RunPlan, store: ResultStore, executor: Executor, *, progress: bool,
             on_record: Callable[[dict[str, Any]], None] | None) -> int:
    """Stage 1: run the sample units that have no record yet; append each record as it arrives.
    Returns their count."""
    return _run_units(plan, plan.units(), store, executor, desc="lsbench run", progress=progress,
                      on_record=on_record)


def _run_units(plan: RunPlan, units: list[WorkUnit], store: ResultStore, executor: Executor, *, desc: str,
               progress: bool, on_record: Callable[[dict[str, Any]], None] | None) -> int:
    """Run the ``units`` that have no record in ``store`` on ``executor``; store each record as it
    arrives (and pass its per-sample row to ``on_record``). Returns how many ran."""
    todo = [u for u in units if u.key() not in store]
    expected = {u.key(): u for u in todo}
    if not todo:
        return 0
    executor.seed(plan.built_by_key())
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(units), initial=len(units) - len(todo), desc=desc, unit="img",
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


# -- after the sample units: figure samples, traces, throughput, each a side record ------------------------
@dataclass
class _Samples:
    """What the stored records say about each sample of the run: the records of each unit, in plan
    order, with their positions; per position the row fields ``group, height, width`` (empty when
    no worker could load the sample) and, for instance runs, the ground truth."""

    records: list[dict[str, Any]]
    positions: list[int]
    info: list[dict[str, Any]]
    truth: list[dict[str, Any] | None]

    def groups(self) -> list[str | None]:
        """Scene family per position; None where no worker could load the sample."""
        return [None if not i and t is None else str(i.get("group", "")) for i, t in zip(self.info, self.truth,
                                                                                        strict=True)]


def _samples(plan: RunPlan, store: ResultStore) -> _Samples:
    units = plan.units()
    records = []
    for unit in units:
        record = store.get(unit.key())
        if record is None:
            raise RuntimeError(f"no record for {unit.key()}; the run is incomplete")
        records.append(record)
    positions = [unit.position for unit in units]  # from the plan, not from the stored records
    by_position: list[list[dict[str, Any]]] = [[] for _ in plan.ids]
    for r, pos in zip(records, positions, strict=True):
        by_position[pos].append(r)
    info: list[dict[str, Any]] = []
    truth: list[dict[str, Any] | None] = []
    for recs in by_position:
        known = next((r["row"] for r in recs if not _isnan(r["row"].get("height"))), None)
        info.append({} if known is None else {k: known[k] for k in ("group", "height", "width")})
        truth.append(next((r["ground_truth"] for r in recs if r.get("ground_truth") is not None), None))
    return _Samples(records, positions, info, truth)


def _side_key(plan: RunPlan, record: str, method: str = "", params_hash: str = "", sample_id: str = "") -> dict[str, str]:
    return {"record": record, "method": method, "params_hash": params_hash, "dataset": plan.dataset.name,
            "split": plan.dataset.split, "sample_id": sample_id}


def _figure_keys(plan: RunPlan, samples: _Samples) -> list[tuple[int, dict[str, str]]]:
    """(position, side-record key) of every figure sample."""
    return [(pos, _side_key(plan, "figure_sample", sample_id=plan.ids[pos]))
            for pos in figure_positions(samples.groups(), plan.figure_samples)]


def _record_figure_samples(plan: RunPlan, samples: _Samples, extras: ResultStore, *, progress: bool) -> None:
    """Stage 2: load the figure samples (in this process) and keep what the figures show of them: the
    display image and the primary ground truth. A sample that cannot be loaded is simply not shown."""
    todo = [(pos, key) for pos, key in _figure_keys(plan, samples) if record_key({"key": key}) not in extras]
    with stage("figure samples", len(todo), enabled=progress, unit="img") as bar:
        for pos, key in todo:
            bar.show(key["sample_id"])
            try:
                sample = plan.dataset[pos]
                gts = sample.ground_truths() if plan.kind == "binary" else {}
                image = display_image(sample.image, sample.shape)
            except Exception:
                bar.step()
                continue
            gt = encode_mask(next(iter(gts.values()))) if gts else None
            extras.append({"key": key, "position": pos, "group": str(sample.meta.get("family", "")),
                           "image": encode_array(image), "gt": gt})
            bar.step()


def _trace_units(plan: RunPlan, samples: _Samples, extras: ResultStore) -> list[WorkUnit]:
    """The trace units: every traceable method on the first ``trace_samples`` figure samples that have
    a ground truth (single-object runs only)."""
    if plan.kind != "binary" or plan.trace_samples <= 0:
        return []
    positions = []
    for pos, key in _figure_keys(plan, samples):
        record = extras.get(record_key({"key": key}))
        if record is not None and record.get("gt") is not None:
            positions.append(pos)
    positions = positions[:plan.trace_samples]
    units = {(u.method.name, u.position): u for u in plan.units()}
    return [replace(units[(spec.name, pos)], task="trace", warmup=False)
            for spec, (_, seg, _) in zip(plan.specs, plan.built, strict=True) if can_trace(seg) for pos in positions]


def _throughput_methods(plan: RunPlan) -> list[tuple[MethodSpec, Any]]:
    """Methods with a native ``predict_batch`` that the harness ran one sample at a time (the methods it ran
    in batches have their batched timing in per_sample.csv)."""
    return [(spec, seg) for spec, (_, seg, _) in zip(plan.specs, plan.built, strict=True)
            if batches_natively(seg) and harness_batch_size(seg) == 1]


def _measure_throughput(plan: RunPlan, extras: ResultStore, *, progress: bool) -> None:
    """Stage 4 (asked for): images/s at batch 64 of :func:`_throughput_methods`, measured here in the
    parent, one method at a time."""
    todo = [(spec, seg) for spec, seg in _throughput_methods(plan)
            if record_key({"key": _side_key(plan, "throughput", spec.name, spec.params_hash)}) not in extras]
    with stage("throughput (batch 64)", len(todo), enabled=progress, unit="method") as bar:
        for spec, seg in todo:
            bar.show(spec.name)
            key = _side_key(plan, "throughput", spec.name, spec.params_hash)
            extras.append({"key": key, "throughput": json_safe(measure_throughput(seg, plan.dataset),
                                                               nonfinite="keep")})
            bar.step()


def _complete(plan: RunPlan, store: ResultStore, ex: Executor, config: dict[str, Any], partial: Path | None, *,
              progress: bool, throughput: bool, figures: bool, html: bool) -> RunResult:
    """The stages after the sample units (figure samples, traces on the executor, throughput), each kept
    as side records in ``extras.jsonl`` (a resumed run skips those already there), then :func:`_finish`."""
    with ResultStore(None if partial is None else partial / EXTRAS_FILE) as extras:
        samples = _samples(plan, store)
        _record_figure_samples(plan, samples, extras, progress=progress)
        _run_units(plan, _trace_units(plan, samples, extras), extras, ex, desc="lsbench traces", progress=progress,
                   on_record=None)
        if throughput:
            _measure_throughput(plan, extras, progress=progress)
        return _finish(plan, samples, extras, config, partial, figures=figures, html=html, progress=progress)


# -- finishing: every output computed from the stores -----------------------------------------------------
def _finish(plan: RunPlan, samples: _Samples, extras: ResultStore, config: dict[str, Any], partial: Path | None, *,
            figures: bool, html: bool, progress: bool = False) -> RunResult:
    records, positions, info, truth = samples.records, samples.positions, samples.info, samples.truth
    n = len(plan.ids)
    rows = []
    for r, pos in zip(records, positions, strict=True):
        row = dict(r["row"])
        if _isnan(row.get("height")) and info[pos]:
            row.update(info[pos])
        rows.append(row)

    recorder = RunRecorder(plan.kind, plan.class_names)
    for pos in range(n):
        if not info[pos] and truth[pos] is None:
            continue  # no worker could load this sample: it is failed for every method
        shape = (int(info[pos].get("height", 0)), int(info[pos].get("width", 0)))
        gt = truth[pos] or {}
        recorder.add_sample_info(pos, plan.ids[pos], shape, str(gt.get("file_name", "")), gt.get("annotations"))
    for _, key in _figure_keys(plan, samples):
        fig = extras.get(record_key({"key": key}))
        if fig is not None:
            recorder.add_figure_sample(key["sample_id"], fig["group"], decode_array(fig["image"]),
                                       None if fig["gt"] is None else _unpack(fig["gt"]))
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
    traces = []
    for unit in _trace_units(plan, samples, extras):
        traced = extras.get(unit.key())
        if traced is not None and not traced["error"]:  # a trace is an extra: a failure here is skipped
            traces.append(trace_frame(unit.method.name, unit.sample_id, traced["trace"]))
    recorder.set_traces(traces)
    measured: dict[str, Any] = {}  # None: a method that could have been measured, but was not asked
    for spec, _ in _throughput_methods(plan):
        record = extras.get(record_key({"key": _side_key(plan, "throughput", spec.name, spec.params_hash)}))
        measured[spec.name] = None if record is None else record["throughput"]
    instance_scores: dict[str, Any] = {}
    if plan.kind == "instance":
        from lsbench.metrics.scoring import score_instances

        gt = recorder.ground_truth()
        results = recorder.results()
        with stage("scoring (AP)", len(plan.built), enabled=progress, unit="method") as bar:
            for name, _, _ in plan.built:
                bar.show(name)
                instance_scores[name] = score_instances(gt, results.get(name, []))
                bar.step()

    per_sample = pd.DataFrame(rows)
    metric_cols = [c for c in per_sample.columns if c not in FIXED_COLUMNS]
    per_sample = per_sample[[c for c in FIXED_COLUMNS if c in per_sample.columns] + metric_cols]
    summary = summarize(per_sample, plan.protocol)
    sessions = config.get("sessions") or []
    config = {**config, "status": "complete",
              "wall_seconds": round(sum(float(x.get("wall_seconds") or 0) for x in sessions), 3),
              "timing": _timing(plan.warmup, sessions,
                                {name: harness_batch_size(seg) for name, seg, _ in plan.built
                                 if harness_batch_size(seg) > 1}),
              "throughput": json_safe(measured),
              "n_failed": int((per_sample["error"].astype(str).str.len() > 0).sum())}
    result = RunResult(per_sample=per_sample, summary=summary, config=config, recorder=recorder,
                       instance_scores=instance_scores)
    if partial is not None:
        final = partial.with_name(partial.name[:-len(PARTIAL_SUFFIX)])
        if final.exists():
            raise FileExistsError(f"{final} already exists; the finished run stays in {partial}")
        write_run_files(partial, result, figures=figures, html=html, progress=progress)
        os.replace(partial, final)
        result.run_dir = final
    return result


def _unpack(payload: dict[str, Any]) -> np.ndarray:
    """The bool mask of a payload written by :func:`~lsbench.harness.work.encode_mask`."""
    (h, w), bits = decode_mask(payload)
    return np.unpackbits(bits, count=h * w).astype(bool).reshape(h, w)


def _isnan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def write_run_files(run_dir: Path, result: RunResult, figures: bool = False, html: bool = False,
                    progress: bool = False) -> None:
    """Write the tables, config, saved predictions and (optionally) figures of ``result`` into ``run_dir``.

    Each file is written under a temporary name and renamed, so a file is never half written; the
    tables (and figures) are built from the files just written, by the same code as ``lsbench report``.
    ``progress`` shows a bar per step on stderr.
    """
    from lsbench.reports.build import build_report

    with stage("saving results", 1, enabled=progress, unit="step") as bar:
        bar.show("per_sample.csv, summary.csv, config.json, predictions")
        for name, frame in ((PER_SAMPLE_FILE, result.per_sample), (SUMMARY_FILE, result.summary)):
            with atomic_file(run_dir / name) as tmp:
                frame.to_csv(tmp, index=False)
        atomic_write_json(run_dir / CONFIG_FILE, result.config)
        if result.recorder is not None:
            result.recorder.write(run_dir)
        bar.step()
    build_report(run_dir, figures=figures, html=html, instance_scores=result.instance_scores or None,
                 require_table=False, progress=progress)

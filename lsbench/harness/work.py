"""Work units and what a worker does with one: rebuild the dataset and method, run, score, record.

The harness ships work to its executors (:mod:`lsbench.harness.executors`) as
:class:`WorkUnit` s: a method spec (registered name, parameters, the hash of the resolved
parameters), a dataset spec (:meth:`lsbench.datasets.base.Dataset.spec`) and a sample index. A
worker, whether the calling process, a sandboxed child process or a Dask worker on another
machine, rebuilds the dataset and the method itself and keeps both in a :class:`WorkerCache`,
so a method (a learned model's weights included) is built once per worker, not once per sample.

:func:`execute_unit` never raises for a problem of the method or the sample: an exception, a
prediction of the wrong kind or shape, a non-finite level set or score all become a *failed
record* with the error text, so one bad sample never stops a run. Every method meets the same
input check before it is called (:func:`lsbench.levelset.validate.check_image`: a real numeric
``H x W`` or ``H x W x 3`` image of at least 3 x 3 finite pixels); a sample that fails it is a
failed record of every method, whatever the method would have done with it. The record (a JSON-ready
dict, stored by :mod:`lsbench.harness.store`) holds

``key``
    ``method, params_hash, dataset, split, sample_id``: what the result store is keyed by;
``position``
    the sample's position in the run (after ``--limit``), which orders the tables;
``row``
    the ``per_sample.csv`` row (``method, dataset, split, sample_id, group, height, width,
    seconds, batch_size, n_iter, converged, error``, then the metrics);
``prediction``
    single-object runs: ``{"shape": [H, W], "packbits": base64}`` (``np.packbits`` of the
    row-major mask); instance runs: ``{"detections": [...]}`` (COCO results, compressed RLE,
    ``image_id = position + 1``); ``None`` when the sample failed;
``ground_truth``
    instance runs: the sample's ground truth as COCO annotations (``image_id = position + 1``),
    so that the run's ``ground_truth.json`` is rebuilt from the store without reloading data;
``worker``
    host and process id of the worker, and how many attempts the sample took.

A *trace unit* (``task="trace"``) records instead the convergence trace of a traceable method on
one of the figure samples (:func:`execute_trace`): ``key`` (with ``record: "trace"``),
``position``, ``trace`` (rows of iteration, energy, F-measure), ``error`` and ``worker``; the
runner keeps it in the run's side store (``extras.jsonl``).

Batches: a method whose segmenter declares a native ``predict_batch`` with a ``batch_size`` above 1
(:func:`lsbench.segmenter.harness_batch_size`: the batched classic backends, ``cv-torch`` ...) is
run in batches: consecutive units of that method
are grouped (:func:`group_batches`) and a worker runs a group with one ``predict_batch`` call
(:func:`execute_batch`). Its records say so: ``seconds`` is the batch's wall time divided by
the number of samples in it and ``batch_size`` that number (1 for a sample run alone), so a
per-image time is never mistaken for a batch-1 timing.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import os
import socket
import time
import traceback
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lsbench.datasets.base import Dataset
from lsbench.levelset.validate import check_image
from lsbench.types import Prediction, Sample

__all__ = ["DatasetRef", "MethodSpec", "WorkItem", "WorkUnit", "WorkerCache", "check_prediction", "decode_array",
           "decode_mask", "encode_array", "encode_mask", "execute_batch", "execute_item", "execute_trace",
           "execute_unit", "failure_record", "group_batches",
           "json_safe", "params_hash"]


def json_safe(value: Any, *, nonfinite: str = "str") -> Any:
    """``value`` with NumPy scalars as Python numbers and arrays as a short description.

    ``nonfinite="str"`` writes NaN and infinities as strings (standard JSON, for ``config.json``);
    ``"keep"`` leaves them as floats (the result store's rows, read back by Python).
    """
    if isinstance(value, np.ndarray):
        return f"<array {value.dtype} {value.shape}>"
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if isinstance(value, dict):
        return {str(k): json_safe(v, nonfinite=nonfinite) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, nonfinite=nonfinite) for v in value]
    if isinstance(value, float) and not math.isfinite(value) and nonfinite == "str":
        return str(value)
    return value


def _canonical(value: Any) -> Any:
    """JSON-ready ``value`` for hashing: arrays by dtype, shape and a digest of their bytes."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {"array": str(data.dtype), "shape": list(data.shape),
                "sha256": hashlib.sha256(data.tobytes()).hexdigest()}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return json_safe(value)


def params_hash(params: dict[str, Any]) -> str:
    """A short sha256 of the resolved parameters (canonical JSON; arrays by content), part of every
    record's key: results of different parameters never share a key."""
    text = json.dumps(_canonical(params), sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- specs --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodSpec:
    """What a worker needs to build a method.

    Attributes
    ----------
    name : str
        Registered name.
    params : dict
        The overrides the factory is called with (the defaults fill the rest).
    params_hash : str
        :func:`params_hash` of the resolved parameters (defaults and overrides).
    factory : callable, optional
        The registered factory, shipped with the unit (pickled by reference when importable, by
        value otherwise) so that methods registered at run time or by a plugin build the same in
        every worker; ``None`` looks ``name`` up in the worker's registry.
    token : str
        Identifies the factory in the worker caches (a digest of its pickle).
    """

    name: str
    params: dict[str, Any]
    params_hash: str
    factory: Callable[..., Any] | None = None
    token: str = ""

    def cache_key(self) -> tuple[str, str, str]:
        return (self.name, self.params_hash, self.token)

    def build(self) -> Any:
        if self.factory is not None:
            return self.factory(**self.params)
        from lsbench.registry import METHODS

        return METHODS.build(self.name, **self.params)


@dataclass(frozen=True)
class DatasetRef:
    """What a worker needs to rebuild a dataset: its spec, or the object itself when unregistered.

    A registered dataset is rebuilt with :func:`lsbench.datasets.load` from ``spec`` (so workers
    read the data themselves, from the same path: a cluster needs a shared filesystem, or the
    same data at the same path on every machine). A dataset that is not registered (built in
    Python, e.g. a test fixture) travels as ``obj``.
    """

    spec: dict[str, Any]
    fingerprint: str = ""
    obj: Dataset | None = None

    def cache_key(self) -> str:
        return json.dumps(json_safe(self.spec), sort_keys=True, default=repr) + "|" + self.fingerprint

    def build(self) -> Dataset:
        if self.obj is not None:
            return self.obj
        from lsbench.datasets import load

        spec = dict(self.spec)
        return load(spec.pop("name"), root=spec.pop("root", None), split=spec.pop("split", None), **spec)


@dataclass(frozen=True)
class WorkUnit:
    """One sample of one method: the unit of work every executor runs.

    Attributes
    ----------
    method : MethodSpec
    dataset : DatasetRef
        The *base* dataset (a ``--limit`` subset is unwrapped; ``index`` is into the base).
    index : int
        Index of the sample in the base dataset.
    position : int
        Position of the sample in the run (orders the tables, gives the COCO ``image_id``).
    sample_id : str
        The id the run expects at ``index`` (a worker whose data differs fails the sample).
    dataset_name, split : str
        The run's dataset name and split (record key).
    kind : {"binary", "instance"}
    metric : str
        Registered per-sample metric.
    n_classes : int or None
        Instance runs: number of classes (labels outside ``1..n_classes`` are refused).
    warmup : bool
        Call the method once, untimed, on the first sample a worker gets for it, before timing
        that sample (so that one-off costs, lazy imports, caches, JIT, are not timed).
    task : {"sample", "trace"}
        ``"sample"``: time, check and score the prediction (:func:`execute_unit`); ``"trace"``:
        record the method's convergence trace on the sample instead (:func:`execute_trace`,
        untimed), a side record of the run.
    """

    method: MethodSpec
    dataset: DatasetRef
    index: int
    position: int
    sample_id: str
    dataset_name: str
    split: str
    kind: str
    metric: str
    n_classes: int | None = None
    warmup: bool = True
    task: str = "sample"

    def key_dict(self) -> dict[str, str]:
        """The record's key (:func:`lsbench.harness.store.record_key`); a trace names its kind."""
        key = {"method": self.method.name, "params_hash": self.method.params_hash,
               "dataset": self.dataset_name, "split": self.split, "sample_id": self.sample_id}
        return key if self.task == "sample" else {"record": self.task, **key}

    def key(self) -> tuple[str, ...]:
        base = (self.method.name, self.method.params_hash, self.dataset_name, self.split, self.sample_id)
        return base if self.task == "sample" else (self.task, *base)


@dataclass
class WorkerCache:
    """Datasets, built methods and warm-up state of one worker (one per process, or per run for
    the local executor). A method whose construction failed is cached as its exception."""

    datasets: dict[str, Dataset] = field(default_factory=dict)
    methods: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    warmed: set[tuple[str, str, str]] = field(default_factory=set)
    metrics: dict[str, Callable[..., dict[str, float]]] = field(default_factory=dict)

    def dataset(self, ref: DatasetRef) -> Dataset:
        key = ref.cache_key()
        if key not in self.datasets:
            self.datasets[key] = ref.build()
        return self.datasets[key]

    def segmenter(self, spec: MethodSpec) -> Any:
        key = spec.cache_key()
        if key not in self.methods:
            try:
                self.methods[key] = spec.build()
            except Exception as exc:
                self.methods[key] = exc
        built = self.methods[key]
        if isinstance(built, BaseException):
            raise RuntimeError(f"building method {spec.name!r} failed in this worker: "
                               f"{type(built).__name__}: {built}") from built
        return built

    def metric(self, name: str) -> Callable[..., dict[str, float]]:
        if name not in self.metrics:
            from lsbench.registry import METRICS

            self.metrics[name] = METRICS.build(name)
        return self.metrics[name]


#: the cache of a worker process (sandbox children and Dask workers)
PROCESS_CACHE = WorkerCache()


# -- checking and encoding predictions -------------------------------------------------------------
def check_prediction(pred: Any, sample: Sample, kind: str = "binary", n_classes: int | None = None) -> Prediction:
    """Refuse a prediction of the wrong type, kind or size, or with a non-finite level set.

    Raises
    ------
    TypeError, ValueError, FloatingPointError
        Naming what is wrong; the harness records it as the sample's error.
    """
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


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """``{"shape": [H, W], "packbits": base64}`` of a bool mask."""
    packed = np.packbits(np.asarray(mask, dtype=bool).reshape(-1))
    return {"shape": [int(mask.shape[0]), int(mask.shape[1])], "packbits": base64.b64encode(packed.tobytes()).decode()}


def decode_mask(payload: dict[str, Any]) -> tuple[tuple[int, int], np.ndarray]:
    """``((H, W), packed bits)`` of a payload written by :func:`encode_mask`."""
    h, w = (int(v) for v in payload["shape"])
    return (h, w), np.frombuffer(base64.b64decode(payload["packbits"]), dtype=np.uint8)


def encode_array(array: np.ndarray) -> dict[str, Any]:
    """``{"shape", "dtype", "zlib": base64}`` of any array (a figure sample's image in the store)."""
    array = np.ascontiguousarray(array)
    return {"shape": list(array.shape), "dtype": str(array.dtype),
            "zlib": base64.b64encode(zlib.compress(array.tobytes())).decode()}


def decode_array(payload: dict[str, Any]) -> np.ndarray:
    """The array of a payload written by :func:`encode_array`."""
    data = zlib.decompress(base64.b64decode(payload["zlib"]))
    return np.frombuffer(data, dtype=np.dtype(payload["dtype"])).reshape(payload["shape"]).copy()


def _encode_prediction(pred: Prediction, kind: str, position: int) -> dict[str, Any]:
    if kind == "instance":
        from lsbench.metrics.coco import result_annotations

        assert pred.instances is not None
        return {"detections": result_annotations(pred.instances, position + 1)}
    assert pred.mask is not None
    return encode_mask(pred.mask)


def _ground_truth(sample: Sample, position: int) -> dict[str, Any]:
    from lsbench.metrics.coco import ground_truth_annotations

    h, w = sample.shape
    anns = [] if sample.instances is None else ground_truth_annotations(sample.instances, position + 1, 1)
    return {"sample_id": sample.id, "height": h, "width": w,
            "file_name": str(sample.meta.get("file_name", sample.id)), "annotations": anns,
            "labels": [] if sample.instances is None else sorted({int(v) for v in sample.instances.labels})}


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")


def sample_info(sample: Sample) -> dict[str, Any]:
    """The row fields that describe a sample (``group, height, width``)."""
    return {"group": str(sample.meta.get("family", "")), "height": sample.shape[0], "width": sample.shape[1]}


def _row(unit: WorkUnit, info: dict[str, Any], seconds: float, pred: Prediction | None,
         metrics: dict[str, float], error: str, batch_size: int = 1) -> dict[str, Any]:
    return json_safe({
        "method": unit.method.name,
        "dataset": unit.dataset_name,
        "split": unit.split,
        "sample_id": unit.sample_id,
        "group": info.get("group", ""),
        "height": info.get("height", math.nan),
        "width": info.get("width", math.nan),
        "seconds": float(seconds),
        "batch_size": int(batch_size),
        "n_iter": math.nan if pred is None or pred.n_iter is None else pred.n_iter,
        "converged": None if pred is None else pred.converged,
        "error": error,
        **metrics,
    }, nonfinite="keep")


def _worker_info(attempts: int = 1) -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "attempts": attempts}


def failure_record(unit: WorkUnit, error: str, *, seconds: float = math.nan,
                   info: dict[str, Any] | None = None, attempts: int = 1) -> dict[str, Any]:
    """The record of a sample that failed outside :func:`execute_unit` (timeout, dead worker); for a
    trace unit, a trace record with the error and no rows."""
    if unit.task == "trace":
        return _trace_record(unit, [], error, attempts)
    return {"key": unit.key_dict(), "position": unit.position,
            "row": _row(unit, info or {}, seconds, None, {}, error),
            "prediction": None, "ground_truth": None, "worker": _worker_info(attempts)}


def _load_unit(unit: WorkUnit, cache: WorkerCache) -> tuple[Any, Sample]:
    """The unit's segmenter and sample, built and loaded through ``cache``; a ``LookupError`` when the
    worker's dataset holds another sample at the unit's index."""
    dataset = cache.dataset(unit.dataset)
    segmenter = cache.segmenter(unit.method)
    sample = dataset[unit.index]
    if sample.id != unit.sample_id:
        raise LookupError(f"this worker's dataset has sample {sample.id!r} at index {unit.index}, the run "
                          f"expects {unit.sample_id!r}: the worker reads different data (check --root "
                          "and that every worker sees the same dataset files)")
    return segmenter, sample


def execute_unit(unit: WorkUnit, cache: WorkerCache | None = None,
                 on_phase: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run one work unit and return its record (module docstring); never raises for a bad sample.

    Parameters
    ----------
    unit : WorkUnit
    cache : WorkerCache, optional
        Built methods and datasets to reuse (default: this process's :data:`PROCESS_CACHE`).
    on_phase : callable, optional
        ``on_phase(phase, info)`` with the sample's ``group, height, width`` once the dataset and
        method are built and the sample is loaded: ``"warmup"`` before the untimed warm-up call
        (first sample of this method in this worker only), ``"timed"`` just before the timed
        call. A sandbox restarts its timeout at each.
    """
    cache = PROCESS_CACHE if cache is None else cache
    info: dict[str, Any] = {}
    pred: Prediction | None = None
    metrics: dict[str, float] = {}
    error = ""
    payload: dict[str, Any] | None = None
    ground_truth: dict[str, Any] | None = None
    seconds = math.nan
    try:
        segmenter, sample = _load_unit(unit, cache)
        info = sample_info(sample)
        if unit.kind == "instance":
            ground_truth = _ground_truth(sample, unit.position)
        check_image(sample.image)  # the same input check for every method, before it is called
        key = unit.method.cache_key()
        if unit.warmup and key not in cache.warmed:
            cache.warmed.add(key)
            if on_phase is not None:
                on_phase("warmup", info)
            with contextlib.suppress(Exception):  # an error here is recorded by the timed call below
                segmenter(sample)
        if on_phase is not None:
            on_phase("timed", info)
        t0 = time.perf_counter()
        try:
            pred = segmenter(sample)
        finally:
            seconds = time.perf_counter() - t0
        pred = check_prediction(pred, sample, unit.kind, unit.n_classes)
        metrics = cache.metric(unit.metric)(pred, sample)
        payload = _encode_prediction(pred, unit.kind, unit.position)
    except Exception as exc:  # one failing sample must not stop the run
        error = _error_text(exc)
        if os.environ.get("LSBENCH_DEBUG"):
            traceback.print_exc()
        pred, metrics, payload = None, {}, None
    return {"key": unit.key_dict(), "position": unit.position,
            "row": _row(unit, info, seconds, pred, metrics, error),
            "prediction": payload, "ground_truth": ground_truth, "worker": _worker_info()}


def _trace_record(unit: WorkUnit, rows: list[list[float]], error: str, attempts: int = 1) -> dict[str, Any]:
    return {"key": unit.key_dict(), "position": unit.position, "trace": rows, "error": error,
            "worker": _worker_info(attempts)}


def execute_trace(unit: WorkUnit, cache: WorkerCache | None = None,
                  on_phase: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Record the convergence trace of a trace unit's method on its sample (untimed); never raises.

    The record holds ``trace``, the rows ``[iteration, energy, f_measure]``
    (:func:`lsbench.harness.convergence.trace_rows`), and ``error`` (empty, or why there is no
    trace). ``on_phase("trace", info)`` is called just before the traced call.
    """
    from lsbench.harness.convergence import trace_rows

    cache = PROCESS_CACHE if cache is None else cache
    try:
        segmenter, sample = _load_unit(unit, cache)
        check_image(sample.image)
        if on_phase is not None:
            on_phase("trace", sample_info(sample))
        rows = [[int(i), float(e), float(f)] for i, e, f in trace_rows(segmenter, sample)]
    except Exception as exc:  # a trace is an extra: its failure is recorded, never raised
        if os.environ.get("LSBENCH_DEBUG"):
            traceback.print_exc()
        return _trace_record(unit, [], _error_text(exc))
    return _trace_record(unit, rows, "")


# -- batches ---------------------------------------------------------------------------------------------
#: a unit, or a batch of units of one method run with one ``predict_batch`` call
WorkItem = WorkUnit | list[WorkUnit]


def group_batches(units: list[WorkUnit], sizes: Mapping[tuple[str, str, str], int]) -> list[WorkItem]:
    """``units`` as work items: runs of consecutive units of a method with ``sizes[key] > 1`` are cut
    into batches of at most that many; every other unit stays alone. Order is kept."""
    items: list[WorkItem] = []
    batch: list[WorkUnit] = []
    for unit in units:
        size = sizes.get(unit.method.cache_key(), 1) if unit.task == "sample" else 1
        if batch and (batch[0].method.cache_key() != unit.method.cache_key() or len(batch) >= size):
            items.append(batch)
            batch = []
        if size > 1:
            batch.append(unit)
        else:
            items.append(unit)
    if batch:
        items.append(batch)
    return items


def execute_item(item: WorkItem, cache: WorkerCache | None = None,
                 on_phase: Callable[[str, dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """The records of a work item (one unit, or a batch): :func:`execute_unit` (:func:`execute_trace`
    for a trace unit) or :func:`execute_batch`."""
    if isinstance(item, WorkUnit):
        if item.task == "trace":
            return [execute_trace(item, cache, on_phase)]
        return [execute_unit(item, cache, on_phase)]
    return execute_batch(item, cache, on_phase)


def execute_batch(units: list[WorkUnit], cache: WorkerCache | None = None,
                  on_phase: Callable[[str, dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run a batch of units of one method with one ``predict_batch`` call; one record per unit.

    The samples are loaded, the method is warmed up once per worker (an untimed
    ``predict_batch`` of the first sample), and the batch is timed as a whole: every record gets
    ``seconds`` = wall time / number of samples and ``batch_size`` = number of samples. Never
    raises for a bad sample: when the batched call fails, every unit is run again on its own
    (:func:`execute_unit`), so the failing sample gets its own error and the others their
    results. ``on_phase`` is called as in :func:`execute_unit`, with the first sample's info.
    """
    if not units:
        return []
    key = units[0].method.cache_key()
    if any(u.method.cache_key() != key for u in units):
        raise ValueError("a batch must hold units of one method")
    cache = PROCESS_CACHE if cache is None else cache
    try:
        dataset = cache.dataset(units[0].dataset)
        segmenter = cache.segmenter(units[0].method)
        samples = [dataset[u.index] for u in units]
        for u, sample in zip(units, samples, strict=True):
            if sample.id != u.sample_id:
                raise LookupError(f"sample id mismatch at index {u.index}")
            check_image(sample.image)
    except Exception:  # let each unit report its own problem
        return [execute_unit(u, cache, on_phase) for u in units]
    infos = [sample_info(s) for s in samples]
    if units[0].warmup and key not in cache.warmed:
        cache.warmed.add(key)
        if on_phase is not None:
            on_phase("warmup", infos[0])
        with contextlib.suppress(Exception):  # an error here shows in the timed call
            segmenter.predict_batch(samples[:1])
    if on_phase is not None:
        on_phase("timed", infos[0])
    t0 = time.perf_counter()
    try:
        preds = list(segmenter.predict_batch(samples))
        seconds = (time.perf_counter() - t0) / len(units)
        if len(preds) != len(units):
            raise ValueError(f"predict_batch returned {len(preds)} predictions for {len(units)} samples")
    except Exception:
        if os.environ.get("LSBENCH_DEBUG"):
            traceback.print_exc()
        cache.warmed.add(key)
        return [execute_unit(u, cache, on_phase) for u in units]
    records = []
    for unit, sample, info, pred in zip(units, samples, infos, preds, strict=True):
        metrics: dict[str, float] = {}
        payload: dict[str, Any] | None = None
        error = ""
        try:
            pred = check_prediction(pred, sample, unit.kind, unit.n_classes)
            metrics = cache.metric(unit.metric)(pred, sample)
            payload = _encode_prediction(pred, unit.kind, unit.position)
        except Exception as exc:
            error, pred, metrics, payload = _error_text(exc), None, {}, None
        ground_truth = _ground_truth(sample, unit.position) if unit.kind == "instance" else None
        records.append({"key": unit.key_dict(), "position": unit.position,
                        "row": _row(unit, info, seconds, pred, metrics, error, len(units)),
                        "prediction": payload, "ground_truth": ground_truth, "worker": _worker_info()})
    return records

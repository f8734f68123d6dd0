"""Executors: where a run's work units are executed. Local, a process pool, or a Dask cluster.

All three take :class:`~lsbench.harness.work.WorkUnit` s and yield their records as they finish
(in any order); the runner appends each to the run's result store. They differ in where the
sample runs and in what they can survive:

============  =====================================  ===================  =====================
executor      where                                  --timeout-per-sample a worker that dies
============  =====================================  ===================  =====================
``local``     this process, one sample at a time     not enforced         ends the run (resume
                                                     (refused)            it with ``--resume``)
``process``   ``workers`` child processes on this    enforced: the child  retried in a fresh
              machine (default: one per core)        is killed            child, ``retries``
                                                                          times
``dask``      the workers of a ``dask.distributed``  enforced: each Dask  retried on another
              cluster (``--scheduler``), or a        worker runs samples  worker by Dask
              ``LocalCluster`` of ``workers``        in a killable child  (``allowed-failures``
              processes                                                   = ``retries``)
============  =====================================  ===================  =====================

Python code cannot be pre-empted inside the process that runs it, which is why the local
executor refuses a timeout instead of pretending to enforce one.

Timing: each sample is timed alone in its worker (``time.perf_counter`` around the method
call), but with ``process`` and ``dask`` several workers run at once; :meth:`Executor.describe`
says how many, and the runner writes it into ``config.json`` so per-image seconds measured under
contention are never mistaken for one-at-a-time timings.

Batches: every executor runs a method whose segmenter takes batches
(:func:`~lsbench.segmenter.harness_batch_size` > 1, learned from the methods the runner built,
:meth:`Executor.seed`) in batches of consecutive samples, each batch one work item for one worker
(:func:`~lsbench.harness.work.group_batches`); a timeout then applies per sample of the batch
(the timed call of a batch of n samples may take n times ``--timeout-per-sample``).
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import logging
import os
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from lsbench.harness.sandbox import Sandbox, worker_environment
from lsbench.harness.work import (
    PROCESS_CACHE,
    MethodSpec,
    WorkerCache,
    WorkItem,
    WorkUnit,
    execute_item,
    failure_record,
    group_batches,
)
from lsbench.levelset.validate import check_int, check_number
from lsbench.optional import require
from lsbench.segmenter import harness_batch_size

__all__ = ["EXECUTORS", "DaskExecutor", "Executor", "LocalExecutor", "ProcessExecutor", "make_executor",
           "shippable"]

EXECUTORS = ("local", "process", "dask")


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    return check_number("--timeout-per-sample", timeout, minimum=0, min_open=True,
                        what="a positive number of seconds")


def _check_count(value: int | None, name: str, minimum: int) -> int | None:
    if value is None:
        return None
    return check_int(name, value, minimum=minimum, what=f"an integer >= {minimum}")


def shippable(spec: MethodSpec) -> MethodSpec:
    """``spec`` with a factory token (digest of its cloudpickle), or without a factory when it
    cannot be pickled (the worker then looks the method up by name)."""
    if spec.factory is None:
        return spec
    import cloudpickle

    try:
        blob = cloudpickle.dumps(spec.factory)
    except Exception:
        return replace(spec, factory=None, token="registry")
    return replace(spec, token=hashlib.sha256(blob).hexdigest()[:16])


class Executor(abc.ABC):
    """Runs work units and yields their records as they finish (see the module docstring)."""

    name = ""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """What ``config.json`` records: executor, concurrent workers, timeout, retries."""

    @abc.abstractmethod
    def run(self, units: Iterable[WorkUnit]) -> Iterator[dict[str, Any]]:
        """Yield one record per unit, in completion order."""

    #: method cache key -> how many samples one work item holds (set by :meth:`seed`; none: 1)
    batch_sizes: Mapping[tuple[str, str, str], int] = MappingProxyType({})

    def seed(self, built: dict[tuple[str, str, str], Any]) -> None:
        """Offer the methods the caller built: every executor learns from them which methods run in
        batches (and how large); the local executor also reuses them."""
        self.batch_sizes = {key: harness_batch_size(seg) for key, seg in built.items()
                            if not isinstance(seg, BaseException)}

    def items(self, units: Iterable[WorkUnit]) -> list[WorkItem]:
        """``units`` cut into work items: batches for batched methods, single units otherwise."""
        return group_batches(list(units), self.batch_sizes)

    def open(self) -> None:  # noqa: B027 - an optional hook, a no-op by default
        """Acquire what the executor needs (a Dask cluster connection); errors here name the problem
        before the run writes anything. Idempotent; :meth:`run` opens when needed."""

    def close(self) -> None:  # noqa: B027 - an optional hook, a no-op by default
        """Release it (close the Dask client and any ``LocalCluster`` this executor started)."""

    def __enter__(self) -> Executor:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    """Every unit in this process, one after another (no timeout, no isolation from crashes)."""

    name = "local"

    def __init__(self, timeout: float | None = None) -> None:
        if _check_timeout(timeout) is not None:
            raise ValueError("--timeout-per-sample needs --executor process or dask: the local executor runs "
                             "each sample in this process and cannot interrupt it")
        self.cache = WorkerCache()

    def seed(self, built: dict[tuple[str, str, str], Any]) -> None:
        super().seed(built)
        self.cache.methods.update(built)

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "concurrent_workers": 1, "timeout_per_sample": None, "retries": 0}

    def run(self, units: Iterable[WorkUnit]) -> Iterator[dict[str, Any]]:
        for item in self.items(units):
            yield from execute_item(item, self.cache)


class ProcessExecutor(Executor):
    """``workers`` sandboxed child processes on this machine (:class:`~lsbench.harness.sandbox.Sandbox`).

    Parameters
    ----------
    workers : int, optional
        Child processes (default: the number of logical cores).
    timeout : float, optional
        Seconds the timed call of a sample may take (a worker's untimed warm-up call gets the same
        budget; building the method and loading the sample ``max(timeout, SETUP_SECONDS)``, see
        :mod:`lsbench.harness.sandbox`); the child is killed and the sample recorded as failed when
        it runs over.
    retries : int
        Times a sample is re-run in a fresh child after its child died.
    """

    name = "process"

    def __init__(self, workers: int | None = None, timeout: float | None = None, retries: int = 2) -> None:
        self.workers = _check_count(workers, "--workers", 1) or max(1, os.cpu_count() or 1)
        self.timeout = _check_timeout(timeout)
        self.retries = _check_count(retries, "--retries", 0)
        self.threads_per_worker = max(1, (os.cpu_count() or 1) // self.workers)
        self._active: int | None = None  # children actually started (fewer when there are fewer units)

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "concurrent_workers": self._active or self.workers,
                "timeout_per_sample": self.timeout,
                "retries": self.retries, "threads_per_worker": self.threads_per_worker,
                "logical_cores": os.cpu_count()}

    def run(self, units: Iterable[WorkUnit]) -> Iterator[dict[str, Any]]:
        items = self.items(units)
        if not items:
            return
        n = self._active = min(self.workers, len(items))
        env = worker_environment(self.threads_per_worker)
        idle: queue.SimpleQueue[Sandbox] = queue.SimpleQueue()
        sandboxes = [Sandbox(env) for _ in range(n)]
        for s in sandboxes:
            idle.put(s)

        def job(item: WorkItem) -> list[dict[str, Any]]:
            sandbox = idle.get()
            try:
                return sandbox.run_item(item, self.timeout, self.retries)
            finally:
                idle.put(sandbox)

        pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="lsbench-sandbox")
        pending: dict[Future[list[dict[str, Any]]], WorkItem] = {}
        todo = iter(items)
        try:
            for item in todo:  # keep every child busy, and a little more queued
                pending[pool.submit(job, item)] = item
                if len(pending) >= 2 * n:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    item = pending.pop(fut)
                    try:
                        records = fut.result()
                    except Exception as exc:  # a bug in the sandbox plumbing: still recorded failures
                        records = [failure_record(u, f"{type(exc).__name__}: {exc}") for u in _units(item)]
                    nxt = next(todo, None)
                    if nxt is not None:
                        pending[pool.submit(job, nxt)] = nxt
                    yield from records
        finally:
            for fut in pending:
                fut.cancel()
            for s in sandboxes:
                s.close()
            pool.shutdown(wait=True, cancel_futures=True)


def _units(item: WorkItem) -> list[WorkUnit]:
    return [item] if isinstance(item, WorkUnit) else list(item)


# -- Dask ---------------------------------------------------------------------------------------------
_SANDBOXES: dict[int, Sandbox] = {}
_SANDBOXES_LOCK = threading.Lock()


def _dask_task(item: WorkItem, timeout: float | None, retries: int) -> list[dict[str, Any]]:
    """What a Dask worker runs for one work item: in its own process, or in a killable child (one
    per worker thread, kept between items) when a timeout is set."""
    if timeout is None:
        return execute_item(item, PROCESS_CACHE)
    with _SANDBOXES_LOCK:
        sandbox = _SANDBOXES.setdefault(threading.get_ident(), Sandbox(worker_environment(1)))
    return sandbox.run_item(item, timeout, retries)


class DaskExecutor(Executor):
    """The workers of a ``dask.distributed`` cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://HOST:PORT``); without one a ``LocalCluster`` of
        ``workers`` single-threaded worker processes is started for the run and closed after it.
    workers : int, optional
        ``LocalCluster`` only: worker processes (default: the number of logical cores).
    timeout : float, optional
        Per-sample timeout, enforced by running samples in a killable child inside each worker.
    retries : int
        ``LocalCluster``: how many workers may die running a sample before it is recorded as
        failed (Dask's ``distributed.scheduler.allowed-failures``); an existing cluster keeps its
        scheduler's setting (default 3). With a timeout, a child that dies is also retried
        ``retries`` times inside the worker.
    connect_timeout : float
        Seconds to wait for ``scheduler`` to answer.
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None, timeout: float | None = None,
                 retries: int = 2, connect_timeout: float = 20.0) -> None:
        if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
            raise ValueError(f"--scheduler must be an address such as tcp://HOST:8786, got {scheduler!r}")
        if scheduler is not None and workers is not None:
            raise ValueError("--workers starts a LocalCluster of that size; with --scheduler the cluster's own "
                             "workers are used (start more with `dask worker`)")
        require("dask", "--executor dask")
        require("distributed", "--executor dask")
        self.scheduler = scheduler.strip() if scheduler else None
        self.workers = _check_count(workers, "--workers", 1) or max(1, os.cpu_count() or 1)
        self.timeout = _check_timeout(timeout)
        self.retries = _check_count(retries, "--retries", 0)
        self.connect_timeout = connect_timeout
        self._threads: int | None = None
        self._client: Any = None
        self._cluster: Any = None

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "scheduler": self.scheduler or "LocalCluster",
                "concurrent_workers": self._threads if self._threads is not None else self.workers,
                "timeout_per_sample": self.timeout, "retries": self.retries}

    def open(self) -> None:
        if self._client is not None:
            return
        import dask
        from distributed import Client, LocalCluster

        if self.scheduler is not None:
            try:
                self._client = Client(self.scheduler, timeout=self.connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise OSError(f"cannot reach the Dask scheduler at {self.scheduler}: {exc}") from None
        else:
            # worker-saturation 1.0: a worker holds only the sample it runs, so a worker that dies
            # takes no innocent queued sample down with it (Dask counts those as failures too)
            with dask.config.set({"distributed.scheduler.allowed-failures": self.retries,
                                  "distributed.scheduler.worker-saturation": 1.0}):
                self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                             dashboard_address=None, silence_logs=logging.ERROR)
            self._client = Client(self._cluster)
        self._threads = sum(self._client.nthreads().values()) or self.workers

    def close(self) -> None:
        client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()

    def run(self, units: Iterable[WorkUnit]) -> Iterator[dict[str, Any]]:
        items = self.items(units)
        if not items:
            return
        from distributed import as_completed

        self.open()
        client = self._client
        window = max(8, 4 * (self._threads or 1))
        todo = iter(items)
        in_flight: dict[str, tuple[Any, WorkItem]] = {}
        ac = as_completed()

        def submit(item: WorkItem) -> None:
            fut = client.submit(_dask_task, item, self.timeout, self.retries, pure=False)
            in_flight[fut.key] = (fut, item)
            ac.add(fut)

        for item in todo:
            submit(item)
            if len(in_flight) >= window:
                break
        try:
            for fut in ac:
                _, item = in_flight.pop(fut.key)
                try:
                    records = fut.result()
                except Exception as exc:  # KilledWorker after allowed-failures, a lost connection, ...
                    error = f"{type(exc).__name__}: {exc}".replace("\n", " ")
                    records = [failure_record(u, error) for u in _units(item)]
                fut.release()
                nxt = next(todo, None)
                if nxt is not None:
                    submit(nxt)
                yield from records
        finally:
            if in_flight:
                with contextlib.suppress(Exception):
                    client.cancel([f for f, _ in in_flight.values()])


def make_executor(name: str = "process", *, workers: int | None = None, scheduler: str | None = None,
                  timeout: float | None = None, retries: int = 2) -> Executor:
    """Build the executor ``name`` (one of :data:`EXECUTORS`), validating every option.

    Raises
    ------
    ValueError
        An unknown name, an option the executor does not take (``scheduler`` without ``dask``,
        ``timeout`` with ``local``), or an out-of-range value.
    """
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}")
    if scheduler is not None and name != "dask":
        raise ValueError(f"--scheduler is for --executor dask, not {name!r}")
    if name == "local":
        if workers not in (None, 1):
            raise ValueError("--workers is for --executor process or dask; the local executor runs one sample at a time")
        return LocalExecutor(timeout)
    if name == "process":
        return ProcessExecutor(workers, timeout, retries)
    return DaskExecutor(scheduler, workers, timeout, retries)

"""A killable worker process: run work units in a child interpreter, with a timeout and retries.

A :class:`Sandbox` owns one child process (a fresh Python running :func:`main`) that executes
:class:`~lsbench.harness.work.WorkUnit` s one at a time with
:func:`~lsbench.harness.work.execute_unit`, keeping its built methods and datasets between units.
Because the sample runs in another process, the parent can enforce a per-sample timeout (the
child is killed with SIGKILL and a fresh one started for the next unit) and survives a child
that dies (a segfault, ``os._exit``, the out-of-memory killer): the unit is retried in a fresh
child up to ``retries`` times before it is recorded as failed. The process executor runs one
sandbox per worker; the Dask executor runs one inside each Dask worker when a timeout is set.

The child is a fresh interpreter (``subprocess``, not ``fork``), so it works from a process
with threads and from a daemonic Dask worker alike; it imports the same ``lsbench`` (the
parent's ``sys.path`` is passed on). Units travel to it with ``cloudpickle`` (so methods
registered at run time, even lambdas, work), records come back pickled, both framed by an
8-byte length over the child's stdin/stdout; anything a method prints goes to stderr. The child
ignores SIGINT (the parent decides when to stop it) and exits when its parent disappears.

Timeout protocol (when a timeout is set): a fresh child first imports lsbench and its built-in
methods and metrics and says it is ready (up to :data:`STARTUP_SECONDS`; not charged to any
sample). For each unit, building the dataset and the method (once per child) and loading the
sample may take up to ``max(timeout, SETUP_SECONDS)`` (a slow first load of weights or of a large
annotation file is not a hang); the untimed warm-up call (the first sample of a method in this
child) gets ``timeout`` seconds, and the timed call another ``timeout`` seconds (a trace unit's
traced call too).
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import selectors
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import IO, Any

from lsbench.harness.work import WorkItem, WorkUnit, execute_item, failure_record

__all__ = ["Sandbox", "worker_environment"]

_HEADER = struct.Struct(">Q")
_CHILD = "from lsbench.harness.sandbox import main; main()"
#: seconds a fresh child may take to import lsbench and say it is ready
STARTUP_SECONDS = 300.0
#: seconds (at least) for building a unit's dataset and method and loading its sample, under a timeout
SETUP_SECONDS = 600.0


def worker_environment(threads: int | None = None) -> dict[str, str]:
    """The environment of a child: this one, with the parent's ``sys.path`` as ``PYTHONPATH``
    and, when ``threads`` is given, per-worker thread counts (those not already set)."""
    env = dict(os.environ)
    paths = [os.path.abspath(p or os.curdir) for p in sys.path]
    paths = [p for p in paths if os.path.exists(p)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    if threads is not None:
        for var in ("LSBENCH_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, str(max(1, int(threads))))
    return env


def _write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int) -> bytes | None:
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    return _read_exact(fd, _HEADER.unpack(header)[0])


class Sandbox:
    """One child process that runs work units (module docstring).

    Parameters
    ----------
    env : dict, optional
        The child's environment (default :func:`worker_environment`).
    """

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = env if env is not None else worker_environment()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._ready = False  # the current child has said it is ready
        self.started = 0  # child processes started so far

    # -- the child process ----------------------------------------------------------------------------
    def _ensure_started(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._reap()
            self._proc = subprocess.Popen([sys.executable, "-c", _CHILD],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env)
            self._ready = False
            self.started += 1
        return self._proc

    def _reap(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        with contextlib.suppress(OSError):
            proc.kill()
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        return proc.returncode

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def close(self) -> None:
        """Stop the child (SIGKILL) for good: a unit running now, or submitted later, is recorded as
        failed instead of being retried in a new child (the run is being stopped).

        Safe to call from another thread while :meth:`run` waits on the child: the child is killed,
        and the waiting thread sees its pipe close and cleans up (closing the pipe here would leave
        that thread waiting on a descriptor that no longer exists)."""
        self._closed = True
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.kill()
        if self._lock.acquire(blocking=False):
            try:
                self._reap()
            finally:
                self._lock.release()

    # -- running a unit -----------------------------------------------------------------------------
    def run(self, unit: WorkUnit, timeout: float | None = None, retries: int = 2) -> dict[str, Any]:
        """Run ``unit`` in the child and return its record; never raises for the unit's sake.

        A timeout kills the child and records ``TimeoutError`` (not retried: the sample would hang
        again). A child that dies is replaced and the unit retried up to ``retries`` times; after
        that the sample is recorded as failed with the child's exit status.
        """
        return self.run_item(unit, timeout, retries)[0]

    def run_item(self, item: WorkItem, timeout: float | None = None, retries: int = 2) -> list[dict[str, Any]]:
        """Run a work item (a unit, or a batch of units of one method) in the child; one record per
        unit, as :meth:`run`. A batch of n samples gets n times ``timeout`` for its timed call (and
        for its warm-up call); a timeout or a dead child fails every unit of the batch."""
        import cloudpickle

        units = [item] if isinstance(item, WorkUnit) else list(item)
        request = cloudpickle.dumps(("run", item))
        per_call = None if timeout is None else timeout * len(units)
        records = self._run_request(request, units, per_call, retries, timeout)
        return records

    def _run_request(self, request: bytes, units: list[WorkUnit], timeout: float | None, retries: int,
                     sample_timeout: float | None) -> list[dict[str, Any]]:
        with self._lock:
            attempts = 0
            while True:
                if self._closed:
                    self._reap()
                    return [failure_record(u, "Interrupted: the run was stopped while this sample was running",
                                           attempts=attempts) for u in units]
                attempts += 1
                outcome, value, info, elapsed = self._attempt(request, timeout)
                if outcome == "done":
                    for record in value:
                        record["worker"]["attempts"] = attempts
                    return value
                if outcome == "timeout":
                    self._reap()
                    return [failure_record(u, _timeout_message(value, sample_timeout, len(units)),
                                           seconds=elapsed / len(units) if value == "timed" else math.nan,
                                           info=info if len(units) == 1 else None, attempts=attempts)
                            for u in units]
                code = self._reap() if self._proc is not None else value
                if attempts > retries:
                    how = _describe_exit(code)
                    return [failure_record(u, f"WorkerDied: the worker process {how} while running this "
                                              f"sample{'' if len(units) == 1 else f' (in a batch of {len(units)})'}, "
                                              f"on each of {attempts} attempts",
                                           info=info if len(units) == 1 else None, attempts=attempts)
                            for u in units]

    def _attempt(self, request: bytes, timeout: float | None
                 ) -> tuple[str, Any, dict[str, Any] | None, float]:
        """One try: ``(outcome, value, sample info, seconds of the timed call)``; ``value`` is the
        record (``done``), the phase that ran over (``timeout``) or the exit status (``died``)."""
        proc = self._ensure_started()
        assert proc.stdin is not None and proc.stdout is not None
        if self._closed:  # close() ran while the child started: it may not have seen this child
            with contextlib.suppress(OSError):
                proc.kill()
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            if not self._ready:
                if not sel.select(STARTUP_SECONDS):
                    return "died", None, None, math.nan
                frame = _read_frame(fd)
                if frame is None or pickle.loads(frame)[0] != "ready":
                    return "died", proc.wait(), None, math.nan
                self._ready = True
            try:
                _write_frame(proc.stdin, request)
            except OSError:
                return "died", proc.poll(), None, math.nan
            info: dict[str, Any] | None = None
            phase = "setup"
            started_at = time.monotonic()
            deadline = None if timeout is None else started_at + max(timeout, SETUP_SECONDS)
            while True:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not sel.select(wait):
                    return "timeout", phase, info, time.monotonic() - started_at
                frame = _read_frame(fd)
                if frame is None:
                    return "died", proc.wait(), info, math.nan
                kind, value = pickle.loads(frame)
                if kind in ("warmup", "timed", "trace"):
                    phase, info, started_at = kind, value, time.monotonic()
                    if timeout is not None:
                        deadline = started_at + timeout
                elif kind == "done":
                    return "done", value, info, math.nan


def _timeout_message(phase: str, timeout: float | None, n: int = 1) -> str:
    batch = "" if n == 1 else f" x {n} samples in its batch"
    what = {"timed": f"the timed call exceeded --timeout-per-sample {timeout:g} s{batch}",
            "warmup": f"the untimed warm-up call on this sample exceeded --timeout-per-sample {timeout:g} s{batch}",
            "trace": f"the traced call on this sample exceeded --timeout-per-sample {timeout:g} s",
            "setup": f"building the method or loading the sample took over "
                     f"{max(timeout or 0.0, SETUP_SECONDS):g} s"}[phase]
    return f"TimeoutError: {what}; the worker process was killed"


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "stopped responding"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with status {code}"


# -- the child ------------------------------------------------------------------------------------------
def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(3)


def main() -> None:
    """Child loop: say ready, then read a unit, execute it, write its record; exit at end of input."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # what a method prints must not corrupt the channel
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    fd = sys.stdin.buffer.fileno()

    def send(kind: str, value: Any) -> None:
        _write_frame(channel, pickle.dumps((kind, value), protocol=pickle.HIGHEST_PROTOCOL))

    from lsbench.registry import METHODS, METRICS

    METHODS.names()  # import the built-in methods and metrics now, not inside a sample's budget
    METRICS.names()
    send("ready", None)
    while True:
        frame = _read_frame(fd)
        if frame is None:
            return
        _, item = pickle.loads(frame)
        send("done", execute_item(item, on_phase=send))


if __name__ == "__main__":
    main()

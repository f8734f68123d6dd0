"""The CPU as lsbench's parallel kernels see it: how OpenMP's idle threads wait, and how many cores
other processes leave free.

Both decide whether a second thread helps. A parallel kernel forks and joins its threads several
times per iteration (once for Chan–Vese, five times for L2S), and between two parallel regions a
worker thread waits:

* if it **sleeps** at once (``OMP_WAIT_POLICY=PASSIVE``), waking it costs a system call and, in a
  virtual machine, waking the idle virtual CPU: measured 80–130 µs per parallel region on a 2-core
  Firecracker VM, where it made every compiled method slower on two threads than on one
  (Chan–Vese 256², 200 iterations: 92 against 87 ms);
* if it **spins** (``ACTIVE``, or libgomp's default of about 3 ms), it holds a core; on a machine
  whose other cores are busy it takes the core the thread it waits for needs (RSF 256² on two
  threads beside one busy process: 1.5–2.0 s spinning 0.1–0.2 ms, 0.52 s sleeping);
* lsbench lets it spin for :data:`SPIN_COUNT` rounds (libgomp's ``GOMP_SPINCOUNT``; about 0.2 ms
  at libgomp's own estimate of 100 000 rounds per ms), long enough to bridge the serial gap between
  two regions of one iteration, and runs a kernel on several threads only on cores that no other
  process is using (:func:`free_cores`; :func:`lsbench.classic.backend.num_threads`). On the quiet
  VM above: Chan–Vese 55 ms on two threads, RSF 0.22 s (0.68 s sleeping at once).

OpenMP reads these settings once, when a library first loads it (numba's threading layer and torch
share one ``libgomp``), so :func:`configure_openmp` runs when :mod:`lsbench.classic.compiled` or
:mod:`lsbench.torchclassic` is imported, and a value the user set is kept.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

__all__ = ["SPIN_COUNT", "LoadMeter", "configure_openmp", "free_cores"]

#: libgomp's spin rounds before a waiting thread sleeps (``GOMP_SPINCOUNT``)
SPIN_COUNT = 20_000

#: shortest window over which :class:`LoadMeter` measures the other processes' load (seconds)
MIN_WINDOW_S = 0.1

#: a window this long or longer is replaced by a new one at the next reading (seconds)
WINDOW_S = 0.5


def configure_openmp() -> None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` and ``GOMP_SPINCOUNT`` = :data:`SPIN_COUNT` unless set.

    With GNU OpenMP the spin count decides (its waiting threads spin that long, then sleep);
    other OpenMP runtimes read the policy (sleep at once).

    >>> import os
    >>> from lsbench.cpu import configure_openmp
    >>> configure_openmp()
    >>> os.environ["OMP_WAIT_POLICY"], os.environ["GOMP_SPINCOUNT"] != ""
    ('PASSIVE', True)
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("GOMP_SPINCOUNT", str(SPIN_COUNT))


def read_proc_stat(path: str = "/proc/stat") -> dict[int, float]:
    """Busy seconds of each CPU since boot (user, nice, system, irq, softirq and steal time) from
    Linux's ``/proc/stat``; raises ``OSError`` where there is none."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy: dict[int, float] = {}
    with open(path, encoding="ascii") as stat:
        for line in stat:
            name, *fields = line.split()
            if not (name.startswith("cpu") and name[3:].isdigit()):
                continue
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
            busy[int(name[3:])] = (user + nice + system + irq + softirq + steal) / ticks
    return busy


def _own_cpu_seconds() -> float:
    """CPU time of this process, all its threads (user + system)."""
    t = os.times()
    return t.user + t.system


def _allowed_cpus() -> set[int] | None:
    return set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


class LoadMeter:
    """Cores kept busy by *other* processes on the CPUs this process may run on.

    Each reading compares the CPUs' busy time (:func:`read_proc_stat`) with this process's own CPU
    time since the previous window began: what the CPUs did beyond this process is the others'
    load, in cores. A window spans at least :data:`MIN_WINDOW_S` (the first reading waits for that
    much time since the meter was made, if need be) and is renewed once it is :data:`WINDOW_S`
    old, so a reading costs one read of ``/proc/stat`` and reflects the last half second or so.
    Where ``/proc/stat`` cannot be read the others' load reads as 0.

    >>> from lsbench.cpu import LoadMeter
    >>> clock = iter([0.0, 1.0]).__next__
    >>> stats = iter([{0: 10.0, 1: 10.0}, {0: 10.5, 1: 11.0}]).__next__
    >>> own = iter([3.0, 3.5]).__next__        # this process used 0.5 s of the 1.5 busy seconds
    >>> LoadMeter(stat=stats, own=own, clock=clock, cpus=lambda: {0, 1}).others()
    1.0
    """

    def __init__(self, stat: Callable[[], dict[int, float]] = read_proc_stat,
                 own: Callable[[], float] = _own_cpu_seconds, clock: Callable[[], float] = time.monotonic,
                 cpus: Callable[[], set[int] | None] = _allowed_cpus,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._stat, self._own, self._clock, self._cpus, self._sleep = stat, own, clock, cpus, sleep
        self._value = 0.0
        self._start = self._sample()
        self._measured = False

    def _sample(self) -> tuple[float, float, float] | None:
        try:
            busy = self._stat()
        except (OSError, ValueError):
            return None
        allowed = self._cpus()
        total = sum(v for cpu, v in busy.items() if allowed is None or cpu in allowed)
        return self._clock(), total, self._own()

    def others(self) -> float:
        """Cores busy with other processes over the current window (0 where unknown)."""
        if self._start is None:
            return 0.0
        now = self._sample()
        if now is None:
            return self._value
        elapsed = now[0] - self._start[0]
        if not self._measured and elapsed < MIN_WINDOW_S:
            self._sleep(MIN_WINDOW_S - elapsed)
            now = self._sample()
            if now is None:
                return self._value
            elapsed = now[0] - self._start[0]
        if elapsed >= MIN_WINDOW_S:
            busy, own = now[1] - self._start[1], now[2] - self._start[2]
            self._value = max(0.0, (busy - own) / elapsed)
            self._measured = True
            if elapsed >= WINDOW_S:
                self._start = now
        return self._value


#: the process's meter, started when lsbench.cpu is imported (so that its first window has usually
#: run long before the first parallel kernel asks)
_METER = LoadMeter()


def free_cores() -> int:
    """CPUs this process may use less the cores other processes keep busy (a core whose load is
    more than half counts as busy), at least 1.

    >>> from lsbench.cpu import free_cores
    >>> free_cores() >= 1
    True
    """
    allowed = _allowed_cpus()
    cpus = len(allowed) if allowed else (os.cpu_count() or 1)
    return max(1, int(cpus - _METER.others() + 0.5))

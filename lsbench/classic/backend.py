"""Which implementation of a classic method runs: the NumPy reference or the compiled (numba) kernels.

Every classic function takes ``backend="auto" | "numpy" | "numba"``:

* ``"numpy"``: the plain NumPy transliteration of the reference code, the readable reference;
* ``"numba"``: the kernels of :mod:`lsbench.classic.compiled` (numba, compiled on first use and
  cached on disk), one loop body per equation of the paper; needs numba;
* ``"auto"`` (the default): ``"numba"`` when numba imports, else ``"numpy"``.

The compiled kernels run on ``LSBENCH_NUM_THREADS`` threads for images of at least
:data:`PARALLEL_MIN_PIXELS` pixels and on one thread below. Unset, the count is the CPU count (at
most 4) less the cores other processes keep busy (:func:`lsbench.cpu.free_cores`), read again for
every image: a second thread helps only on a free core (see :mod:`lsbench.cpu`). The threads never
change a result: the kernels cut an image into the same runs of rows on any number of threads.
"""

from __future__ import annotations

import collections
import functools
import importlib
import os
from typing import Any

from lsbench.cpu import free_cores

__all__ = ["BACKENDS", "PARALLEL_MIN_PIXELS", "num_threads", "numba_available", "resolve_backend", "thread_choices"]

#: the values of every classic function's ``backend`` parameter
BACKENDS = ("auto", "numpy", "numba")

#: images with at least this many pixels are swept by several threads (the compiled kernels)
PARALLEL_MIN_PIXELS = 160 * 160


@functools.cache
def _numba_importable() -> bool:
    try:
        importlib.import_module("numba")
    except ImportError:
        return False
    return True


def numba_available() -> bool:
    """Whether numba imports in this process (checked once, then remembered)."""
    return _numba_importable()


def resolve_backend(backend: Any) -> str:
    """``"numpy"`` or ``"numba"``: what ``backend`` (one of :data:`BACKENDS`) runs here.

    Raises a one-line ``ValueError`` naming the choices for anything else, and for ``"numba"``
    when numba does not import.
    """
    choices = ", ".join(repr(b) for b in BACKENDS)
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be one of {choices}; got {backend!r}")
    if backend == "auto":
        return "numba" if numba_available() else "numpy"
    if backend == "numba" and not numba_available():
        raise ValueError(f"backend='numba' needs numba, which does not import here (pip install numba); "
                         f"choose from {choices}")
    return backend


def num_threads(n_pixels: int) -> int:
    """Threads for one image of ``n_pixels``: ``$LSBENCH_NUM_THREADS``, else the CPU count (at most 4)
    less the cores other processes keep busy (:func:`lsbench.cpu.free_cores`); one below
    :data:`PARALLEL_MIN_PIXELS`.

    >>> from lsbench.classic.backend import num_threads
    >>> num_threads(256 * 256) >= 1
    True
    """
    env = os.environ.get("LSBENCH_NUM_THREADS")
    if env:
        try:
            wanted = int(env)
        except ValueError:
            wanted = 0
        if wanted < 1:
            raise ValueError(f"LSBENCH_NUM_THREADS must be a positive integer, got {env!r}")
    if n_pixels < PARALLEL_MIN_PIXELS:
        chosen = 1
    else:
        chosen = wanted if env else min(4, os.cpu_count() or 1, free_cores())
    _CHOSEN[chosen] += 1
    return chosen


#: how many times :func:`num_threads` returned each count (see :func:`thread_choices`)
_CHOSEN: collections.Counter[int] = collections.Counter()


def thread_choices(*, reset: bool = False) -> dict[int, int]:
    """``{threads: calls}``: what :func:`num_threads` chose since the last reset, one call per image (or
    batch) a compiled kernel sweeps. The default count follows the machine's load image by image, so
    a benchmark records these rather than one count read afterwards (``make bench``'s report).

    >>> from lsbench.classic.backend import num_threads, thread_choices
    >>> _ = thread_choices(reset=True)
    >>> num_threads(100), num_threads(100)
    (1, 1)
    >>> thread_choices(reset=True), thread_choices()
    ({1: 2}, {})
    """
    counts = dict(_CHOSEN)
    if reset:
        _CHOSEN.clear()
    return counts

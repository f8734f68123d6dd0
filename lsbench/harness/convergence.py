"""Convergence traces: energy and F-measure after every iteration of a traceable method.

A segmenter that declares :meth:`lsbench.segmenter.Segmenter.trace` (the classic level-set
adapters) runs the benchmarked call with ``callback(IterInfo)`` after each iteration
(:mod:`lsbench.levelset.iteration`), with the same initialisation and the same phase choice, so
``IterInfo.phi > 0`` is the object as the prediction takes it. Every method registered that way
plugs in by name with no code here.

The harness records traces for a few samples of each run as trace units run by its executor
(:func:`lsbench.harness.work.execute_trace`), kept in the run's side store and written to
``traces.csv`` (:mod:`lsbench.rundir`); the convergence figure is drawn from that file.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from lsbench.levelset.iteration import IterInfo
from lsbench.metrics.binary import f_measure
from lsbench.segmenter import can_trace
from lsbench.types import Sample

__all__ = ["supports_trace", "trace", "trace_frame", "trace_method", "trace_rows"]


def supports_trace(segmenter: Any) -> bool:
    """True for a segmenter that declares :meth:`~lsbench.segmenter.Segmenter.trace`."""
    return can_trace(segmenter)


def trace_rows(segmenter: Any, sample: Sample) -> list[tuple[int, float, float]]:
    """``(iteration, energy, f_measure)`` after every iteration of ``segmenter`` on ``sample``.

    Raises
    ------
    TypeError
        ``segmenter`` cannot be traced (:func:`supports_trace`).
    ValueError
        ``sample`` has no single-object ground truth to score the trace against.
    """
    if not supports_trace(segmenter):
        raise TypeError(f"{type(segmenter).__name__} has no iter_callback to trace "
                        "(only classic methods built on ClassicSegmenter do)")
    gts = sample.ground_truths()
    if not gts:
        raise ValueError(f"sample {sample.id!r} has no single-object ground truth to score the trace")
    gt = next(iter(gts.values()))
    rows: list[tuple[int, float, float]] = []

    def record(info: IterInfo) -> None:
        rows.append((int(info.iteration), float(info.energy), f_measure(info.phi > 0, gt)))

    segmenter.trace(sample, record)
    return rows


def trace_frame(method: str, sample_id: str, rows: list[Any]) -> pd.DataFrame:
    """The rows of one trace as a table with the columns of :data:`lsbench.rundir.TRACE_COLUMNS`."""
    frame = pd.DataFrame(rows, columns=["iteration", "energy", "f_measure"])
    frame.insert(0, "sample_id", sample_id)
    frame.insert(0, "method", method)
    return frame


def trace(segmenter: Any, sample: Sample, method: str | None = None) -> pd.DataFrame:
    """Run ``segmenter`` on ``sample`` once more, recording energy and F-measure per iteration.

    Parameters
    ----------
    segmenter : Segmenter
        A built method that can be traced (see :func:`supports_trace`).
    sample : Sample
        Needs a single-object ground truth (the F-measure is against ``Sample.ground_truths()``'s
        first mask).
    method : str, optional
        Name written in the ``method`` column (default: ``segmenter.name``).

    Returns
    -------
    DataFrame
        Columns :data:`lsbench.rundir.TRACE_COLUMNS`, one row per iteration; ``energy`` is the
        method's own energy after the iteration (NaN where the method defines none).
    """
    rows = trace_rows(segmenter, sample)
    return trace_frame(method or segmenter.name or type(segmenter).__name__, sample.id, rows)


def trace_method(name: str, sample: Sample, **params: Any) -> pd.DataFrame:
    """Trace the registered method ``name`` (built with ``params``) on ``sample``.

    Examples
    --------
    Chan–Vese on a bright disk, started from a box around it (the sample's initial region):

    >>> import numpy as np
    >>> from lsbench.harness.convergence import trace_method
    >>> from lsbench.types import Sample
    >>> yy, xx = np.mgrid[:32, :32]
    >>> disk = (yy - 16) ** 2 + (xx - 16) ** 2 < 64
    >>> sample = Sample("disk", disk * 1.0, mask=disk, init=np.pad(np.ones((20, 20), bool), 6))
    >>> frame = trace_method("cv", sample, max_iter=30, tol=0)
    >>> list(frame.columns), len(frame)
    (['method', 'sample_id', 'iteration', 'energy', 'f_measure'], 30)
    >>> bool(frame.f_measure.iloc[0] < 0.5 < frame.f_measure.iloc[-1] == 1.0)
    True
    >>> bool(frame.energy.is_monotonic_decreasing)
    True
    """
    from lsbench.registry import METHODS

    return trace(METHODS.build(name, **params), sample, method=name)

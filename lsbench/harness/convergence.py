"""Convergence traces: energy and F-measure after every iteration of a classic level-set method.

Every classic method in lsbench takes ``iter_callback`` (:mod:`lsbench.levelset.iteration`),
called with ``IterInfo(iteration, phi, energy)`` after each iteration. A registered method
built on :class:`~lsbench.methods.ClassicSegmenter` is traced by re-running it on a sample with
a callback added to the call, so every method registered that way (``cv`` today; DRLSE, RSF,
LIC and L2S as they are added) plugs in by name with no code here: the trace uses the same
initialisation and the same phase choice (``polarity``) as the benchmarked call.

The harness records traces for a few samples of each run (``traces.csv``); the convergence
figure is drawn from that file.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import pandas as pd

from lsbench.levelset.iteration import IterInfo
from lsbench.levelset.polarity import orient_by_region
from lsbench.metrics.binary import f_measure
from lsbench.types import Sample

__all__ = ["TRACE_COLUMNS", "empty_traces", "supports_trace", "trace", "trace_method"]

TRACE_COLUMNS = ("method", "sample_id", "iteration", "energy", "f_measure")


def supports_trace(segmenter: Any) -> bool:
    """True for a segmenter that wraps a classic function taking ``iter_callback``."""
    fn = getattr(segmenter, "fn", None)
    if fn is None or not isinstance(getattr(segmenter, "extra_call", None), dict):
        return False
    try:
        return "iter_callback" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def trace(segmenter: Any, sample: Sample, method: str | None = None) -> pd.DataFrame:
    """Run ``segmenter`` on ``sample`` once more, recording energy and F-measure per iteration.

    Parameters
    ----------
    segmenter : ClassicSegmenter
        A built classic method (see :func:`supports_trace`).
    sample : Sample
        Needs a single-object ground truth (the F-measure is against ``Sample.ground_truths()``'s
        first mask).
    method : str, optional
        Name written in the ``method`` column (default: ``segmenter.name``).

    Returns
    -------
    DataFrame
        Columns :data:`TRACE_COLUMNS`, one row per iteration; ``energy`` is the method's own
        energy after the iteration (NaN where the method defines none).
    """
    if not supports_trace(segmenter):
        raise TypeError(f"{type(segmenter).__name__} has no iter_callback to trace "
                        "(only classic methods built on ClassicSegmenter do)")
    gts = sample.ground_truths()
    if not gts:
        raise ValueError(f"sample {sample.id!r} has no single-object ground truth to score the trace")
    gt = next(iter(gts.values()))
    orient = getattr(segmenter, "polarity", "phi") == "sample"
    rows: list[tuple[int, float, float]] = []

    def record(info: IterInfo) -> None:
        mask = info.phi > 0
        if orient:
            mask = orient_by_region(mask, sample.init)
        rows.append((int(info.iteration), float(info.energy), f_measure(mask, gt)))

    traced = copy.copy(segmenter)
    extra = {k: v for k, v in segmenter.extra_call.items() if k not in ("track_energy", "iter_callback")}
    if "track_energy" in inspect.signature(segmenter.fn).parameters:
        extra["track_energy"] = True
    traced.extra_call = {**extra, "iter_callback": record}
    traced(sample)
    name = method or getattr(segmenter, "name", "") or type(segmenter).__name__
    frame = pd.DataFrame(rows, columns=["iteration", "energy", "f_measure"])
    frame.insert(0, "sample_id", sample.id)
    frame.insert(0, "method", name)
    return frame


def trace_method(name: str, sample: Sample, **params: Any) -> pd.DataFrame:
    """Trace the registered method ``name`` (built with ``params``) on ``sample``.

    Examples
    --------
    >>> trace_method("cv", sample, max_iter=100)        # doctest: +SKIP
    """
    from lsbench.registry import METHODS

    return trace(METHODS.build(name, **params), sample, method=name)


def empty_traces() -> pd.DataFrame:
    """A trace table with no rows (the columns of :data:`TRACE_COLUMNS`)."""
    return pd.DataFrame({c: pd.Series(dtype=float if c in ("iteration", "energy", "f_measure") else object)
                         for c in TRACE_COLUMNS})

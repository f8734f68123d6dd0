"""Re-checking a run's stored records before it is resumed.

A record's checksum (:mod:`lsbench.harness.store`) catches damage, not an edit: anyone can
rewrite a line and recompute its sha256. So before :func:`lsbench.harness.runner.resume_benchmark`
builds on records written by another session, each stored mask is checked against its sample
(its shape, and a bit string exactly as long as that shape needs) and the per-sample metrics are
recomputed from the stored mask with the run's metric; a record whose numbers are not those of
its own mask, or whose mask does not fit its sample, stops the resume with an error naming the
store, the line and the sample. Instance runs are scored from their stored detections at the end
of every run anyway (AP), so only their record structure is checked here.
"""

from __future__ import annotations

import binascii
import math
from pathlib import Path
from typing import Any

import numpy as np

from lsbench.harness.store import ResultStore, StoreError
from lsbench.types import Prediction

__all__ = ["recheck_records"]


def _same(stored: Any, fresh: float) -> bool:
    if isinstance(stored, bool) or not isinstance(stored, (int, float)):
        return False
    return stored == fresh or (math.isnan(stored) and math.isnan(fresh))


def recheck_records(plan: Any, store: ResultStore, path: Path) -> int:
    """Check every successful stored record of a single-object run against its sample; return how
    many were recomputed.

    Parameters
    ----------
    plan : lsbench.harness.runner.RunPlan
        The rebuilt plan of the run (its units, dataset, metric and kind).
    store : ResultStore
        The run's store, opened.
    path : Path
        The store's file, for the messages.

    Raises
    ------
    StoreError
        A stored mask whose shape or length does not fit its sample, or a stored metric that is
        not the one its mask scores.
    """
    if plan.kind != "binary":
        return 0
    from lsbench.registry import METRICS

    metric = METRICS.build(plan.metric)
    units = {u.key(): u for u in plan.units()}
    n = 0
    for lineno, key in enumerate(store.keys(), start=1):
        record = store.get(key)
        unit = units.get(key)
        if record is None or unit is None:
            continue  # foreign records are refused by the caller
        row = record.get("row") or {}
        payload = record.get("prediction")
        where = f"{path}: line {lineno} (method {key[0]!r}, sample {key[4]!r})"
        if row.get("error"):
            continue  # a failed sample is run again by no one and scored as failed
        if not isinstance(payload, dict):
            raise StoreError(f"{where} has no stored mask although it records no error; the store was "
                             "modified by something other than lsbench: start a new run")
        sample = plan.dataset[unit.position]
        try:
            h, w = (int(v) for v in payload["shape"])
            bits = np.frombuffer(binascii.a2b_base64(payload["packbits"]), dtype=np.uint8)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise StoreError(f"{where}: the stored mask cannot be decoded ({exc})") from None
        if (h, w) != tuple(sample.shape):
            raise StoreError(f"{where}: the stored mask is {h} x {w}, the sample is {sample.shape[0]} x "
                             f"{sample.shape[1]}; the store was modified by something other than lsbench")
        if bits.size != (h * w + 7) // 8:
            raise StoreError(f"{where}: the stored mask holds {bits.size} bytes, a {h} x {w} mask needs "
                             f"{(h * w + 7) // 8}; the store was modified by something other than lsbench")
        mask = np.unpackbits(bits, count=h * w).astype(bool).reshape(h, w)
        fresh = metric(Prediction(mask=mask), sample)
        for name, value in fresh.items():
            if not _same(row.get(name), float(value)):
                raise StoreError(f"{where} says {name} = {row.get(name)!r}, but its stored mask scores "
                                 f"{float(value)!r}; the store was modified by something other than lsbench: "
                                 "start a new run")
        n += 1
    return n

"""Test-only methods that misbehave on chosen samples (raise, hang, return NaN, kill their process)
or count how often they are built.

They are module-level factories (importable by worker processes, which rebuild methods
themselves) that tests register for one test with :func:`register`. On every other sample they
return the ground truth, so the samples they do not sabotage score exactly F = 1.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from lsbench.registry import Registry
from lsbench.types import Prediction, Sample


def _ids(text: str) -> set[str]:
    return {t for t in text.split(",") if t}


class _Faulty:
    def __init__(self, on: str) -> None:
        self.on = _ids(on)

    def truth(self, sample: Sample) -> Prediction:
        return Prediction(mask=sample.mask, n_iter=1, converged=True)


class Raising(_Faulty):
    def __call__(self, sample: Sample) -> Prediction:
        if sample.id in self.on:
            raise RuntimeError(f"failing on purpose on {sample.id}")
        return self.truth(sample)


class Hanging(_Faulty):
    def __call__(self, sample: Sample) -> Prediction:
        if sample.id in self.on:
            time.sleep(3600)
        return self.truth(sample)


class NanPhi(_Faulty):
    def __call__(self, sample: Sample) -> Prediction:
        if sample.id in self.on:
            return Prediction(mask=sample.mask, phi=np.full(sample.shape, np.nan))
        return self.truth(sample)


class Dying(_Faulty):
    """Kills its own process (``os._exit``) on the chosen samples, the first ``times`` times each
    (attempts are counted with marker files in ``marker_dir``, so they survive the process)."""

    def __init__(self, on: str, marker_dir: str, times: int) -> None:
        super().__init__(on)
        self.marker_dir, self.times = Path(marker_dir), times

    def __call__(self, sample: Sample) -> Prediction:
        if sample.id in self.on:
            done = len(list(self.marker_dir.glob(f"{sample.id}.*")))
            if done < self.times:
                (self.marker_dir / f"{sample.id}.{done}").touch()
                os._exit(17)
        return self.truth(sample)


class Counting(_Faulty):
    """Records every construction as a file ``build-<pid>-<n>`` in ``marker_dir``."""

    def __init__(self, marker_dir: str) -> None:
        super().__init__("")
        folder = Path(marker_dir)
        n = len(list(folder.glob(f"build-{os.getpid()}-*")))
        (folder / f"build-{os.getpid()}-{n}").touch()

    def __call__(self, sample: Sample) -> Prediction:
        return self.truth(sample)


def counting(marker_dir: str = "") -> Counting:
    return Counting(marker_dir)


def raising(fail_on: str = "") -> Raising:
    return Raising(fail_on)


def hanging(hang_on: str = "") -> Hanging:
    return Hanging(hang_on)


def nan_phi(nan_on: str = "") -> NanPhi:
    return NanPhi(nan_on)


def dying(die_on: str = "", marker_dir: str = "", times: int = 1) -> Dying:
    return Dying(die_on, marker_dir, times)


def register(methods: Registry) -> None:
    """Register every faulty method in ``methods`` (a test's throw-away copy of the registry)."""
    for name, factory in (("raising", raising), ("hanging", hanging), ("nan-phi", nan_phi), ("dying", dying),
                          ("counting", counting)):
        methods.add(name, factory, kind="binary")

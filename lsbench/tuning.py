"""Grid search of a method's parameters on a dataset's training split (``lsbench tune``).

Every combination of the grid is run through the ordinary harness on the same samples (every
``stride``-th one of the split); the combination with the highest mean per-image F-measure wins
(ties go to the combination listed first, so put the defaults first). Tuning on a test split is
refused: the presets it writes are what ``lsbench run --preset tuned`` evaluates on test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lsbench.datasets.base import Dataset, Subset
from lsbench.errors import refusing
from lsbench.harness.runner import MethodRequest, run_benchmark
from lsbench.levelset.validate import check_positive_int
from lsbench.params import check_name, parse_value, split_assignment
from lsbench.registry import METHODS, check_params

__all__ = ["TuneResult", "parse_grid", "tune"]

FORBIDDEN_SPLITS = ("test",)


@dataclass
class TuneResult:
    """``table``: one row per combination (its parameters, ``f_measure`` mean, per-group means,
    ``seconds`` per image, ``n``, ``n_failed``), in grid order; ``best``: the winner's grid
    values; ``best_score``: its mean F-measure; ``n_samples``: samples per combination."""

    table: pd.DataFrame
    best: dict[str, Any]
    best_score: float
    n_samples: int


def parse_grid(assignments: Iterable[str], method: str) -> dict[str, list[Any]]:
    """``["sigma=3,6", "nu=0.001,0.003"]`` -> ``{"sigma": [3.0, 6.0], "nu": [0.001, 0.003]}``.

    Values are converted to the type of the parameter's registered default.
    """
    entry = METHODS.get(method)
    defaults = entry.defaults()
    grid: dict[str, list[Any]] = {}
    for raw in assignments:
        name, values = split_assignment(raw, "--grid", form="NAME=V1,V2,...", example="sigma=3,6")
        check_name(raw, "--grid", name, defaults, owner=f"method {method!r}")
        if name in grid:
            raise ValueError(f"--grid lists {name!r} twice")
        items = [v for v in values.split(",") if v.strip()]
        if not items:
            raise ValueError(f"--grid {raw!r}: no values")
        grid[name] = [parse_value(v, defaults[name], f"--grid {raw!r}") for v in items]
    if not grid:
        raise ValueError("--grid is empty: give at least one NAME=V1,V2,...")
    return grid


def tune(
    method: str,
    dataset: Dataset,
    grid: dict[str, list[Any]],
    *,
    fixed: dict[str, Any] | None = None,
    stride: int = 1,
    progress: Callable[[str], None] | None = None,
    executor: str = "local",
    workers: int | None = None,
) -> TuneResult:
    """Evaluate every combination of ``grid`` (plus ``fixed``) on every ``stride``-th sample.

    ``executor`` and ``workers`` are :func:`lsbench.harness.runner.run_benchmark`'s: how the
    samples of one combination are spread over processes (the scores do not depend on it). Every
    combination is built before any is run; a refused one (or split, stride, ``fixed``) raises a
    :class:`lsbench.errors.RequestError` (a ``ValueError`` or ``TypeError``)."""
    with refusing():  # a refused request (lsbench.errors): every check before any work
        if dataset.split in FORBIDDEN_SPLITS:
            raise ValueError(f"refusing to tune on the {dataset.split!r} split of {dataset.name!r}: "
                             "presets must be chosen on training data (use --split train)")
        check_positive_int("--stride", stride)
        fixed = dict(fixed or {})
        overlap = sorted(set(fixed) & set(grid))
        if overlap:
            raise ValueError(f"{', '.join(overlap)} given both as a fixed --param and in --grid")
        entry = METHODS.get(method)
        names = list(grid)
        combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]
        for combo in combos:  # bad values fail before any work
            check_params(entry, {**fixed, **combo})
            entry.factory(**fixed, **combo)
    subset = Subset(dataset, range(0, len(dataset), stride))
    if len(subset) == 0:
        raise ValueError(f"dataset {dataset.name}/{dataset.split} has no samples")

    rows = []
    for k, combo in enumerate(combos, 1):
        result = run_benchmark([MethodRequest(method, {**fixed, **combo})], subset, out=None,
                               progress=False, warmup=False, executor=executor, workers=workers)
        per = result.per_sample
        ok = per[per["error"].astype(str).str.len() == 0]
        row: dict[str, Any] = dict(combo)
        row["f_measure"] = float(ok["f_measure"].mean()) if len(ok) else float("nan")
        for group, frame in ok.groupby("group", sort=False):
            if group:
                row[f"f_{group}"] = float(frame["f_measure"].mean())
        row["seconds"] = float(per["seconds"].mean())
        row["n"] = len(ok)
        row["n_failed"] = len(per) - len(ok)
        rows.append(row)
        if progress is not None:
            shown = ", ".join(f"{n}={combo[n]!r}" for n in names)
            progress(f"[{k}/{len(combos)}] {shown}: F = {100 * row['f_measure']:.2f} % "
                     f"({row['seconds']:.3f} s/image, {row['n_failed']} failed)")
    table = pd.DataFrame(rows)
    scores = table["f_measure"].fillna(-1.0) - table["n_failed"].gt(0).astype(float) * 2.0
    best_idx = int(scores.to_numpy().argmax())  # first maximum: ties go to the earlier combination
    best = {n: combos[best_idx][n] for n in names}
    return TuneResult(table=table, best=best, best_score=float(table["f_measure"].iloc[best_idx]),
                      n_samples=len(subset))

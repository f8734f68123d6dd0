"""Which samples a limited run takes (``--limit N`` / ``--limit-first N``).

A dataset's split is ordered by scene (the synthetic test split starts with 72 piecewise images),
so its first N samples are one family and a small run would say little about the rest. By default
(``mode="spread"``) the N samples are spread evenly over the scene families
(:meth:`lsbench.datasets.base.Dataset.groups`): the families in sorted order take turns, each
giving its next sample from a seeded random order of its own samples, until N are taken; the
chosen samples then run in dataset order. The choice depends only on the families, ``N`` and the
seed. A dataset without families (every group ``""``) keeps the split's order, as
``mode="first"`` (``--limit-first N``) always does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from lsbench.levelset.validate import check_positive_int

__all__ = ["LIMIT_MODES", "describe_selection", "select_positions"]

#: ``spread``: over the scene families (seeded); ``first``: the split's first N samples
LIMIT_MODES = ("spread", "first")


def select_positions(groups: Sequence[str], limit: int, mode: str = "spread", seed: int = 0) -> list[int]:
    """Positions (sorted) of the ``limit`` samples a limited run takes; ``groups[i]`` is sample ``i``'s family.

    Examples
    --------
    >>> from lsbench.harness.selection import select_positions
    >>> groups = ["a"] * 4 + ["b"] * 4 + ["c"] * 2
    >>> sorted({groups[i] for i in select_positions(groups, 3)})
    ['a', 'b', 'c']
    >>> select_positions(groups, 3, mode="first"), select_positions([""] * 10, 3)
    ([0, 1, 2], [0, 1, 2])
    """
    check_positive_int("limit", limit)
    if mode not in LIMIT_MODES:
        raise ValueError(f"limit mode must be one of {', '.join(LIMIT_MODES)}; got {mode!r}")
    n = min(limit, len(groups))
    families = sorted(set(groups))
    if mode == "first" or families in ([], [""]):
        return list(range(n))
    rng = np.random.default_rng(seed)
    queues = []
    for family in families:
        members = [i for i, g in enumerate(groups) if g == family]
        queues.append([members[k] for k in rng.permutation(len(members))])
    chosen: list[int] = []
    turn = 0
    while len(chosen) < n:
        for queue in queues:
            if turn < len(queue) and len(chosen) < n:
                chosen.append(queue[turn])
        turn += 1
    return sorted(chosen)


def describe_selection(groups: Sequence[str], positions: Sequence[int], limit: int, mode: str,
                       seed: int) -> dict[str, Any]:
    """What ``config.json`` records of a limited run's choice, and the line said on stderr (``text``)."""
    picked = Counter(groups[i] for i in positions)
    families = sorted(set(groups))
    spread = mode == "spread" and families not in ([], [""])
    info: dict[str, Any] = {"limit": limit, "mode": mode if spread or mode == "first" else "first (no families)",
                            "seed": seed if spread else None, "n_selected": len(positions),
                            "n_available": len(groups), "families": dict(sorted(picked.items())) if spread else {}}
    if spread:
        counts = ", ".join(f"{f} {k}" for f, k in sorted(picked.items()))
        info["text"] = (f"limit {limit}: {len(positions)} of {len(groups)} samples spread over {len(picked)} of the "
                        f"{len(families)} scene families ({counts}; seed {seed}); --limit-first {limit} takes the "
                        f"first {limit} instead")
    elif mode == "first":
        info["text"] = f"limit {limit}: the first {len(positions)} of {len(groups)} samples, in the split's order"
    else:
        info["text"] = (f"limit {limit}: the first {len(positions)} of {len(groups)} samples (the dataset has no "
                        "scene families to spread over)")
    return info

"""The dataset interface every loader implements."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lsbench.types import Sample

__all__ = ["Dataset", "Subset", "grown_box"]


class Dataset(Sequence[Sample]):
    """A sized, indexable collection of :class:`~lsbench.types.Sample` for one split.

    Subclasses set ``name``, ``split``, ``root`` and ``kind`` (``"binary"`` for single-object
    sets, ``"instance"`` for multi-instance sets) and implement :meth:`__len__`,
    :meth:`_load` and :meth:`ids`.
    """

    name: str = ""
    kind: str = "binary"
    split: str = ""
    root: Path
    #: names of the single-object ground truths a sample carries (``Sample.ground_truths()``)
    gt_names: tuple[str, ...] = ("gt",)
    #: instance datasets: class names, label ``k`` is ``class_names[k - 1]`` (used by the AP
    #: metrics to refuse unknown labels and to name per-class results; empty = infer from labels)
    class_names: tuple[str, ...] = ()

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def ids(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load(self, index: int) -> Sample:  # pragma: no cover - abstract
        raise NotImplementedError

    def groups(self) -> list[str]:
        """The scene family of each item, in order (``Sample.meta["family"]``), read without loading any
        image; ``""`` for every item of a dataset without families (the default)."""
        return [""] * len(self)

    def initial_regions(self) -> list[bool] | None:
        """Which items carry an initial region (``Sample.init``), in order, read without loading any
        image; None (the default): every item does (the synthetic set and Weizmann make one from the
        ground truth). The harness reads it for ``--protocol box`` (:mod:`lsbench.protocols`)."""
        return None

    def initial_regions_hint(self) -> str:
        """Where this dataset's initial regions come from, for a message about items without one."""
        return ""

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        if not isinstance(index, int):
            raise TypeError(f"dataset index must be an int, got {type(index).__name__}")
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {self.name}/{self.split} with {n} samples")
        return self._load(index)

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self._load(i)

    def params(self) -> dict[str, Any]:
        """Constructor parameters besides ``root`` and ``split`` (recorded with results)."""
        return {}

    def spec(self) -> dict[str, Any]:
        """Enough to rebuild this dataset in another process: name, root, split, params."""
        return {"name": self.name, "root": str(self.root), "split": self.split, **self.params()}

    def item_digests(self) -> list[tuple[str, str]]:
        """``(id, digest)`` per item; the default digests only the ids."""
        return [(i, "") for i in self.ids()]

    def fingerprint(self) -> str:
        """A sha256 over the split's item ids and content digests (identifies training data)."""
        payload = json.dumps({"name": self.name, "split": self.split, "params": self.params(),
                              "items": self.item_digests()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}/{self.split}: {len(self)} samples at {self.root}>"


class Subset(Dataset):
    """A view of some indices of another dataset (used for ``--limit`` and validation splits)."""

    def __init__(self, base: Dataset, indices: Sequence[int], split: str | None = None) -> None:
        self.base = base
        self.indices = list(indices)
        self.name = base.name
        self.kind = base.kind
        self.split = split or base.split
        self.root = base.root
        self.gt_names = base.gt_names
        self.class_names = tuple(getattr(base, "class_names", ()) or ())

    def __len__(self) -> int:
        return len(self.indices)

    def ids(self) -> list[str]:
        all_ids = self.base.ids()
        return [all_ids[i] for i in self.indices]

    def _load(self, index: int) -> Sample:
        return self.base[self.indices[index]]

    def groups(self) -> list[str]:
        groups = self.base.groups()
        return [groups[i] for i in self.indices]

    def initial_regions(self) -> list[bool] | None:
        regions = self.base.initial_regions()
        return None if regions is None else [regions[i] for i in self.indices]

    def initial_regions_hint(self) -> str:
        return self.base.initial_regions_hint()

    def params(self) -> dict[str, Any]:
        return self.base.params()

    def item_digests(self) -> list[tuple[str, str]]:
        digests = self.base.item_digests()
        return [digests[i] for i in self.indices]


def grown_box(mask: Any, margin: float) -> tuple[int, int, int, int]:
    """The tight ``x1, y1, x2, y2`` box of ``mask`` (exclusive x2/y2) grown by ``margin`` of the
    longer image side (at least 2 pixels) and clipped to the image.

    The synthetic set and Weizmann use it (``margin=0.08``) for the dataset-chosen initial region
    ``Sample.init``; an empty mask gives the whole image.
    """
    import numpy as np

    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    rows = np.flatnonzero(mask.any(1))
    cols = np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return (0, 0, w, h)
    m = max(2, round(margin * max(h, w)))
    return (max(0, int(cols[0]) - m), max(0, int(rows[0]) - m),
            min(w, int(cols[-1]) + 1 + m), min(h, int(rows[-1]) + 1 + m))

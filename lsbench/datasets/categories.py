"""Category maps: contiguous training labels ``1..K`` <-> a dataset's own category ids <-> names.

COCO numbers its 80 categories 1..90 with gaps (12, 26, 29, ...); VOC and SBD use 1..20 in
alphabetical order; lsbench's shapes set uses 1..6. Every instance dataset exposes a
:class:`CategoryMap` as ``dataset.categories`` so that predictions (contiguous labels, as
torchvision's detectors produce them) can be mapped back to the original ids for COCO-style result
files and to names for reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["VOC_CLASSES", "Category", "CategoryMap"]

#: PASCAL VOC class names in index order (index 1..20); 0 is background, 255 void.
VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor")


@dataclass(frozen=True)
class Category:
    """One category: contiguous ``label`` (1..K), the dataset's own ``id`` and its ``name``."""

    label: int
    id: int
    name: str
    supercategory: str = ""


class CategoryMap:
    """Contiguous labels ``1..K`` assigned to categories in increasing order of their ids.

    Parameters
    ----------
    categories : iterable of (id, name) or (id, name, supercategory)
        The dataset's categories in any order; ids must be distinct positive integers.
    """

    def __init__(self, categories: Iterable[tuple[Any, ...]]) -> None:
        rows = sorted((int(c[0]), str(c[1]), str(c[2]) if len(c) > 2 else "") for c in categories)
        ids = [r[0] for r in rows]
        if len(set(ids)) != len(ids):
            raise ValueError(f"category ids must be distinct, got {ids}")
        if ids and ids[0] < 1:
            raise ValueError(f"category ids must be positive integers, got {ids[0]}")
        self._cats = tuple(Category(i + 1, cid, name, sup) for i, (cid, name, sup) in enumerate(rows))
        self._by_id = {c.id: c for c in self._cats}

    @classmethod
    def voc(cls) -> CategoryMap:
        """The 20 PASCAL VOC classes; label == VOC index == id."""
        return cls((i + 1, name) for i, name in enumerate(VOC_CLASSES))

    def __len__(self) -> int:
        return len(self._cats)

    def __iter__(self) -> Iterator[Category]:
        return iter(self._cats)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CategoryMap) and self._cats == other._cats

    def __hash__(self) -> int:
        return hash(self._cats)

    @property
    def names(self) -> list[str]:
        """Names in label order (``names[label - 1]``)."""
        return [c.name for c in self._cats]

    @property
    def ids(self) -> list[int]:
        return [c.id for c in self._cats]

    def label_of(self, category_id: int) -> int:
        """Contiguous label of an original category id."""
        try:
            return self._by_id[int(category_id)].label
        except KeyError:
            raise KeyError(f"unknown category id {category_id!r}; valid ids: {self.ids}") from None

    def id_of(self, label: int) -> int:
        """Original category id of a contiguous label."""
        return self._get(label).id

    def name_of(self, label: int) -> str:
        return self._get(label).name

    def _get(self, label: int) -> Category:
        label = int(label)
        if not 1 <= label <= len(self._cats):
            raise KeyError(f"label {label} out of range 1..{len(self._cats)}")
        return self._cats[label - 1]

    def records(self) -> list[dict[str, Any]]:
        """``[{"label", "id", "name", "supercategory"}, ...]`` (for config.json and reports)."""
        return [{"label": c.label, "id": c.id, "name": c.name, "supercategory": c.supercategory}
                for c in self._cats]

    def __repr__(self) -> str:
        return f"CategoryMap({len(self)} categories: {', '.join(self.names[:5])}{', ...' if len(self) > 5 else ''})"

"""Leave-scenes-out K-fold cross-validation of a training recipe (rls, rls-chapter, rls-conv, fconnet).

A *recipe* is a model config plus a :class:`~lsbench.learned.train.TrainConfig`. Its score is
the mean F-measure on scenes it never saw, so that recipes can be compared on the training split
alone (the test split is never used to choose anything):

1. the split's samples are grouped by source scene (``Sample.meta["scene"]``; a sample without
   one is its own group) and the scenes are dealt into K folds (:func:`scene_folds`): every
   variant of a scene lands in the same fold, so no scene straddles the training and validation
   parts of a fold;
2. for each fold, the recipe is trained exactly as ``lsbench train`` trains it
   (:func:`~lsbench.learned.train.train_model`) on the samples of the other K - 1 folds, which
   includes its own held-out scenes (``val_fraction``) and its choice of the best epoch, so
   the score is that of the whole recipe;
3. the trained model is scored on the fold's scenes (mean per-image F-measure, masks restored to
   full size, as the harness scores), and dropped: nothing is written to the checkpoint cache.

Examples
--------
Ten scenes in three families, dealt into five folds of two scenes; the two scenes of a family
never share a fold:

>>> from lsbench.types import Sample
>>> import numpy as np
>>> scenes = {"a1": "a", "a2": "a", "b1": "b", "b2": "b", "c1": "c", "c2": "c", "c3": "c", "d1": "d",
...           "e1": "e", "e2": "e"}
>>> samples = [Sample(f"{s}-{v}", np.zeros((4, 4), np.float32), mask=np.zeros((4, 4), bool),
...                   meta={"scene": s, "family": f}) for s, f in scenes.items() for v in range(3)]
>>> folds = scene_folds(samples, 5, seed=0)
>>> [len(f) for f in folds], sorted(s for f in folds for s in f) == sorted(scenes)
([2, 2, 2, 2, 2], True)
>>> any(f[0][0] == f[1][0] for f in folds)  # the same family twice in one fold
False
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from lsbench.datasets.base import Dataset
from lsbench.learned.train import TrainConfig, score_samples, train_model
from lsbench.types import Sample

__all__ = ["CVResult", "FoldResult", "cross_validate", "scene_folds", "scene_of"]


def scene_of(sample: Sample) -> str:
    """The group a sample belongs to: its ``meta["scene"]``, else the sample itself."""
    return str(sample.meta.get("scene", f"sample:{sample.id}"))


def scene_folds(samples: Sequence[Sample], k: int, seed: int = 0) -> list[list[str]]:
    """Deal the scenes of ``samples`` into ``k`` folds (lists of scene names), seeded.

    Families (``meta["family"]``) are taken in a seeded random order and the scenes of each
    family in a seeded random order; the scenes are then dealt round-robin, so the folds differ
    in size by at most one scene and a family with at most ``k`` scenes has them in different
    folds (a fold never holds out a family that another fold could keep).

    Raises
    ------
    ValueError
        ``k`` is not an integer between 2 and the number of scenes.
    """
    groups = {scene_of(s): str(s.meta.get("family", "")) for s in samples}
    n = len(groups)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k <= n:
        raise ValueError(f"--cv {k!r}: K must be an integer between 2 and the number of training scenes ({n})")
    rng = np.random.default_rng(seed)
    families: dict[str, list[str]] = {}
    for scene, family in sorted(groups.items()):
        families.setdefault(family, []).append(scene)
    names = sorted(families)
    order = [scene for i in rng.permutation(len(names)) for scene in
             (families[names[i]][j] for j in rng.permutation(len(families[names[i]])))]
    folds: list[list[str]] = [[] for _ in range(int(k))]
    for i, scene in enumerate(order):
        folds[i % int(k)].append(scene)
    return [sorted(f) for f in folds]


@dataclass(frozen=True)
class FoldResult:
    """One fold: the held-out scenes, the sizes, the held-out F-measure and how the model was chosen."""

    fold: int
    val_scenes: list[str]
    n_train: int
    n_val: int
    f_measure: float
    loss: float
    best_epoch: int
    #: the scenes the recipe itself held out inside the fold's training part (``val_fraction``)
    inner_val_scenes: list[str]
    inner_val_f_measure: float | None
    seconds: float


@dataclass(frozen=True)
class CVResult:
    """K folds of one recipe; ``mean`` and ``std`` of the held-out F-measure over the folds."""

    k: int
    seed: int
    folds: list[FoldResult]

    @property
    def scores(self) -> list[float]:
        return [f.f_measure for f in self.folds]

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        """Sample standard deviation over the folds (``ddof=1``)."""
        return float(np.std(self.scores, ddof=1)) if len(self.folds) > 1 else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {"k": self.k, "cv_seed": self.seed, "mean_f_measure": self.mean, "std_f_measure": self.std,
                "folds": [asdict(f) for f in self.folds]}


def cross_validate(model_config: dict[str, Any], config: TrainConfig, dataset: Dataset | Sequence[Sample], k: int,
                   *, seed: int = 0, device: str | torch.device = "cpu", progress: bool = True,
                   desc: str = "cv", on_fold: Callable[[FoldResult], None] | None = None) -> CVResult:
    """Leave-scenes-out K-fold cross-validation of one recipe (module docstring).

    Parameters
    ----------
    model_config : dict
        From :func:`lsbench.learned.models.model_config`.
    config : TrainConfig
        The recipe's training config (its ``seed`` seeds each fold's training, as in ``lsbench train``).
    dataset : Dataset or sequence of Sample
        The training split (single-object samples with masks).
    k : int
        Number of folds, between 2 and the number of scenes.
    seed : int
        Seeds the dealing of the scenes into folds (:func:`scene_folds`), independent of the
        recipe's seed, so that recipes compared with one ``seed`` see the same folds.
    device, progress
        As for :func:`~lsbench.learned.train.train_model`; one progress bar per fold.
    desc : str
        Progress-bar label (``"<desc> fold i/K"``).
    on_fold : callable, optional
        Called with each :class:`FoldResult` as soon as it is known.

    Returns
    -------
    CVResult
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    samples = [dataset[i] for i in range(len(dataset))]
    folds = scene_folds(samples, k, seed)
    results: list[FoldResult] = []
    for i, held in enumerate(folds, start=1):
        started = time.perf_counter()
        held_set = set(held)
        train_part = [s for s in samples if scene_of(s) not in held_set]
        val_part = [s for s in samples if scene_of(s) in held_set]
        trained = train_model(model_config, config, train_part, device=device, progress=progress,
                              desc=f"{desc} fold {i}/{len(folds)}")
        metrics = score_samples(trained.model, model_config, val_part, device=device)
        fold = FoldResult(fold=i, val_scenes=list(held), n_train=len(train_part), n_val=len(val_part),
                          f_measure=metrics["f_measure"], loss=metrics["loss"],
                          best_epoch=int(trained.val_metrics["epoch"]), inner_val_scenes=list(trained.val_groups),
                          inner_val_f_measure=trained.val_metrics["f_measure"],
                          seconds=time.perf_counter() - started)
        del trained
        results.append(fold)
        if on_fold is not None:
            on_fold(fold)
    return CVResult(k=int(k), seed=int(seed), folds=results)

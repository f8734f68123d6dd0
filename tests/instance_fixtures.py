"""A tiny in-memory instance dataset and test-only instance methods (no real instance set is needed).

``TinyShapes`` draws 1-4 disks (class 1) and squares (class 2) per image, deterministically from
its seed. ``JitteredGT`` predicts the ground truth shifted by up to ``shift`` pixels with random
scores, sometimes the wrong class, plus a spurious detection: AP is high but not perfect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lsbench.datasets.base import Dataset
from lsbench.types import Instances, Prediction, Sample


class TinyShapes(Dataset):
    name = "tiny-shapes"
    kind = "instance"
    class_names = ("disk", "square")

    def __init__(self, n: int = 8, size: tuple[int, int] = (40, 48), seed: int = 0, split: str = "test") -> None:
        self.n, self.size, self.seed, self.split = n, size, seed, split
        self.root = Path("/nonexistent/tiny-shapes")

    def __len__(self) -> int:
        return self.n

    def ids(self) -> list[str]:
        return [f"tiny-{i:02d}" for i in range(self.n)]

    def params(self) -> dict[str, Any]:
        return {"n": self.n, "size": list(self.size), "seed": self.seed}

    def _load(self, index: int) -> Sample:
        rng = np.random.default_rng([self.seed, index])
        h, w = self.size
        yy, xx = np.mgrid[0:h, 0:w]
        image = 0.25 + 0.05 * rng.standard_normal((h, w))
        masks, labels = [], []
        for _ in range(int(rng.integers(1, 5))):
            cy, cx = rng.integers(6, h - 6), rng.integers(6, w - 6)
            r = int(rng.integers(3, 7))
            if rng.random() < 0.5:
                m = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
                labels.append(1)
            else:
                m = (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
                labels.append(2)
            for prev in masks:  # later shapes occlude earlier ones
                prev &= ~m
            masks.append(m)
            image[m] = 0.6 + 0.2 * labels[-1] / 2
        keep = [k for k, m in enumerate(masks) if m.sum() > 4]
        inst = Instances(np.array([masks[k] for k in keep]), np.array([labels[k] for k in keep]))
        family = "crowded" if len(keep) > 2 else "sparse"
        return Sample(self.ids()[index], np.clip(image, 0, 1).astype(np.float32), instances=inst,
                      meta={"family": family})


class JitteredGT:
    """Ground truth shifted by up to ``shift`` px, random scores, some label noise, one false positive."""

    name = "jitter"
    kind = "instance"

    def __init__(self, shift: int = 1, seed: int = 0, wrong_label: float = 0.1, fail_on: str = "",
                 bad_scores: bool = False, bad_label: bool = False) -> None:
        self.shift, self.seed, self.wrong_label = shift, seed, wrong_label
        self.fail_on, self.bad_scores, self.bad_label = fail_on, bad_scores, bad_label
        self.params = {"shift": shift, "seed": seed}

    def __call__(self, sample: Sample) -> Prediction:
        if self.fail_on and sample.id == self.fail_on:
            raise RuntimeError("failing on purpose")
        rng = np.random.default_rng([self.seed, int(sample.id[-2:])])
        gt = sample.instances
        masks = [np.roll(m, tuple(rng.integers(-self.shift, self.shift + 1, 2)), axis=(0, 1)) for m in gt.masks]
        labels = [lab if rng.random() >= self.wrong_label else 3 - lab for lab in gt.labels]
        fp = np.zeros(sample.shape, bool)
        y, x = rng.integers(0, sample.shape[0] - 5), rng.integers(0, sample.shape[1] - 5)
        fp[y:y + 5, x:x + 5] = True
        masks.append(fp)
        labels.append(int(rng.integers(1, 3)))
        scores = rng.uniform(0.3, 1.0, len(masks))
        scores[-1] = rng.uniform(0.0, 0.6)
        if self.bad_scores:
            scores[0] = 1.5
        if self.bad_label:
            labels[0] = 7
        return Prediction(instances=Instances(np.array(masks), np.array(labels), scores=scores))


def perfect(sample: Sample) -> Prediction:
    gt = sample.instances
    return Prediction(instances=Instances(gt.masks, gt.labels, scores=np.ones(len(gt))))

"""The harness runs batched methods (predict_batch + batch_size) in batches, labels their timing,
and falls back to one sample at a time when a batch fails."""

from __future__ import annotations

import numpy as np
import pytest

from lsbench.datasets import load
from lsbench.harness.runner import MethodRequest, run_benchmark
from lsbench.harness.work import DatasetRef, MethodSpec, WorkUnit, group_batches
from lsbench.registry import METHODS
from lsbench.rundir import load_masks
from lsbench.segmenter import Segmenter
from lsbench.types import Prediction

TORCH_CV = {"max_iter": 20, "compile": False, "device": "cpu", "batch_size": 3}


@pytest.fixture(scope="module")
def synthetic(data_root):
    return load("synthetic", root=data_root, split="test")


def _unit(name: str, i: int) -> WorkUnit:
    spec = MethodSpec(name, {}, "h")
    return WorkUnit(spec, DatasetRef({}), i, i, f"s{i}", "d", "test", "binary", "binary")


def test_group_batches_cuts_runs_of_a_batched_method_and_keeps_order():
    units = [_unit("a", i) for i in range(5)] + [_unit("b", i) for i in range(3)] + [_unit("a", 9)]
    items = group_batches(units, {("a", "h", ""): 2})
    shape = [len(x) if isinstance(x, list) else 1 for x in items]
    assert shape == [2, 2, 1, 1, 1, 1, 1]
    flat = [u for x in items for u in (x if isinstance(x, list) else [x])]
    assert flat == units
    assert isinstance(items[2], list) and items[2][0].index == 4  # a short last batch stays a batch
    assert group_batches(units, {}) == units


@pytest.mark.parametrize("executor", ["local", "process"])
def test_batched_method_runs_in_labelled_batches(synthetic, executor, tmp_path):
    res = run_benchmark([MethodRequest("cv-torch", TORCH_CV), MethodRequest("cv", {"max_iter": 20})], synthetic,
                        limit=5, limit_mode="first", progress=False, trace_samples=0, executor=executor,
                        workers=1 if executor == "process" else None, out=tmp_path, run_id="r")
    per = res.per_sample
    assert (per["error"].fillna("") == "").all()
    t = per[per["method"] == "cv-torch"].reset_index(drop=True)
    assert t["batch_size"].tolist() == [3, 3, 3, 2, 2]
    assert t["seconds"].iloc[:3].nunique() == 1 and t["seconds"].iloc[3:].nunique() == 1  # wall time / batch
    assert (per.loc[per["method"] == "cv", "batch_size"] == 1).all()
    assert res.config["timing"]["batched_methods"] == {"cv-torch": 3}
    # the batched predictions are those of one-at-a-time calls
    seg = METHODS.build("cv-torch", **TORCH_CV)
    masks = load_masks(res.run_dir, "cv-torch")
    for i in range(5):
        np.testing.assert_array_equal(masks[synthetic[i].id], seg(synthetic[i]).mask)


class _Fussy(Segmenter):
    """Batched toy: a batch holding sample ``bad`` fails as a whole; alone, only ``bad`` fails."""

    name = "fussy"
    batch_size = 4

    def __init__(self, bad: str) -> None:
        self.bad = bad
        self.params = {}

    def __call__(self, sample):
        if sample.id == self.bad:
            raise RuntimeError("cannot segment this one")
        return Prediction(mask=sample.image.mean(-1) > 0.5 if sample.image.ndim == 3 else sample.image > 0.5)

    def predict_batch(self, samples):
        if any(s.id == self.bad for s in samples):
            raise RuntimeError("the batch failed")
        return [self(s) for s in samples]


def test_a_failing_batch_is_rerun_one_sample_at_a_time(synthetic, monkeypatch):
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
    bad = synthetic[2].id
    METHODS.add("fussy", lambda: _Fussy(bad), kind="binary")
    per = run_benchmark([MethodRequest("fussy")], synthetic, limit=6, limit_mode="first", progress=False, trace_samples=0,
                        executor="local").per_sample
    errors = per["error"].fillna("").tolist()
    assert [bool(e) for e in errors] == [False, False, True, False, False, False]
    assert "cannot segment this one" in errors[2]
    assert per["batch_size"].tolist() == [1, 1, 1, 1, 2, 2]  # the failed batch ran sample by sample

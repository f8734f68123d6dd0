"""The harness: one row per (method, sample), failures recorded, atomic run directories."""

import json

import numpy as np
import pandas as pd
import pytest

from lsbench.datasets import load
from lsbench.harness.runner import MethodRequest, run_benchmark
from lsbench.registry import METHODS
from lsbench.rundir import summarize
from lsbench.types import Prediction


@pytest.fixture
def temp_methods(monkeypatch):
    """Register throw-away methods for one test only."""
    entries = dict(METHODS._entries)
    monkeypatch.setattr(METHODS, "_entries", entries)
    return METHODS


def test_run_writes_every_file(tmp_path, data_root):
    ds = load("synthetic", root=data_root, split="test")
    res = run_benchmark([MethodRequest("cv", {"max_iter": 50}), MethodRequest("skimage-cv", {"max_iter": 50})],
                        ds, out=tmp_path, run_id="r1", limit=4, limit_mode="first", progress=False)
    d = tmp_path / "r1"
    assert res.run_dir == d
    for name in ("per_sample.csv", "summary.csv", "config.json", "table2.md", "table2.csv"):
        assert (d / name).is_file(), name
    per = pd.read_csv(d / "per_sample.csv")
    assert len(per) == 8 and set(per["method"]) == {"cv", "skimage-cv"}
    assert {"f_measure", "precision", "recall", "iou", "seconds", "n_iter", "group"} <= set(per.columns)
    assert (per["seconds"] > 0).all() and per["error"].isna().all()
    # same scheme, same init, same polarity rule: identical masks, so identical scores
    a = per[per.method == "cv"]["f_measure"].to_numpy()
    b = per[per.method == "skimage-cv"]["f_measure"].to_numpy()
    np.testing.assert_allclose(a, b)
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["methods"]["cv"]["max_iter"] == 50 and cfg["methods"]["cv"]["mu"] == 0.25
    from lsbench.classic.backend import resolve_backend

    assert cfg["methods"]["cv"]["backend"] == "auto"
    assert cfg["backends"] == {"cv": resolve_backend("auto")}  # what ran; skimage-cv has one implementation
    assert cfg["dataset"]["name"] == "synthetic" and cfg["n_samples"] == 4
    assert cfg["versions"]["numpy"] and cfg["machine"]["cpu"]
    table = (d / "table2.md").read_text()
    assert "`cv`" in table and "FM (GT)" in table
    assert not list(tmp_path.glob(".*tmp*"))


def test_failures_are_recorded_and_the_run_goes_on(tmp_path, data_root, temp_methods):
    class Flaky:
        def __init__(self):
            self.calls = 0

        def __call__(self, sample):
            self.calls += 1
            if sample.id.endswith("-01"):
                raise RuntimeError("boom on purpose")
            return Prediction(mask=sample.mask)

    temp_methods.add("flaky", lambda: Flaky(), kind="binary")
    ds = load("synthetic", root=data_root, split="test")
    res = run_benchmark([MethodRequest("flaky")], ds, out=tmp_path, run_id="f", limit=3, limit_mode="first", progress=False)
    per = res.per_sample
    assert per["error"].str.contains("boom on purpose").sum() == 1
    ok = per[per["error"] == ""]
    assert (ok["f_measure"] == 1.0).all()
    s = summarize(per)
    row = s[(s.metric == "f_measure")].iloc[0]
    assert row["n"] == 2 and row["n_failed"] == 1
    assert "| 2 | 1 |" in (tmp_path / "f" / "table2.md").read_text()


def test_interrupted_run_leaves_only_its_resumable_partial_directory(tmp_path, data_root, temp_methods):
    def interrupting():
        def call(sample):
            raise KeyboardInterrupt
        return call

    temp_methods.add("interrupting", interrupting, kind="binary")
    ds = load("synthetic", root=data_root, split="test")
    with pytest.raises(KeyboardInterrupt):
        run_benchmark([MethodRequest("interrupting")], ds, out=tmp_path, run_id="x", limit=2, limit_mode="first", progress=False,
                      warmup=False)
    # no finished run directory: only x.partial, holding the plan and an empty store
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.partial"]
    assert sorted(p.name for p in (tmp_path / "x.partial").iterdir()) == ["config.json", "records.jsonl"]
    assert (tmp_path / "x.partial" / "records.jsonl").read_bytes() == b""


def test_bad_requests_fail_before_any_work(tmp_path, data_root):
    ds = load("synthetic", root=data_root, split="test")
    with pytest.raises(ValueError, match="valid parameters"):
        run_benchmark([MethodRequest("cv", {"bogus": 1})], ds, out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="dt"):
        run_benchmark([MethodRequest("cv", {"dt": -1.0})], ds, out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="no methods"):
        run_benchmark([], ds, progress=False)
    with pytest.raises(ValueError, match="limit"):
        run_benchmark([MethodRequest("cv")], ds, limit=0, limit_mode="first", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_run_ids_never_overwrite(tmp_path, data_root):
    ds = load("synthetic", root=data_root, split="test")
    a = run_benchmark([MethodRequest("cv", {"max_iter": 5})], ds, out=tmp_path, run_id="same", limit=1, limit_mode="first", progress=False)
    b = run_benchmark([MethodRequest("cv", {"max_iter": 5})], ds, out=tmp_path, run_id="same", limit=1, limit_mode="first", progress=False)
    assert a.run_dir.name == "same" and b.run_dir.name == "same-2"

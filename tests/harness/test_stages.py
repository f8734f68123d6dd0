"""The stages after the sample units: figure samples, traces run by the executor's workers, throughput;
each kept as a side record (extras.jsonl), so finishing a run only reads the stores."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from lsbench.datasets import load
from lsbench.harness.runner import MethodRequest, resume_benchmark, run_benchmark
from lsbench.harness.store import ResultStore
from lsbench.levelset.iteration import IterInfo
from lsbench.registry import METHODS
from lsbench.rundir import EXTRAS_FILE, STORE_FILE, load_traces
from lsbench.segmenter import Segmenter
from lsbench.types import Prediction


class NotInParent(Segmenter):
    """Predicts the ground truth, and traces two iterations, anywhere but in the process that built the run."""

    name = "not-in-parent"

    def __init__(self, parent_pid: int = 0) -> None:
        self.parent_pid = parent_pid
        self.params = {"parent_pid": parent_pid}

    def _check(self) -> None:
        if os.getpid() == self.parent_pid:
            raise AssertionError("the method ran in the parent process")

    def __call__(self, sample):
        self._check()
        return Prediction(mask=sample.mask.copy(), n_iter=2, converged=True)

    def trace(self, sample, callback):
        self._check()
        phi = np.where(sample.mask, 1.0, -1.0)
        callback(IterInfo(1, -phi, 2.0))
        callback(IterInfo(2, phi, 1.0))
        return self(sample)


@pytest.fixture()
def synthetic(data_root):
    return load("synthetic", root=data_root, split="test")


@pytest.fixture()
def temp_methods(monkeypatch):
    """Register throw-away methods for one test only (the built-in ones loaded first)."""
    METHODS.names()
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
    return METHODS


def _side_records(run_dir) -> dict[str, list[dict]]:
    with ResultStore(run_dir / EXTRAS_FILE, writable=False) as extras:
        out: dict[str, list[dict]] = {}
        for r in extras.records():
            out.setdefault(r["key"]["record"], []).append(r)
        return out


def test_traces_run_in_the_workers_and_finishing_runs_no_method(synthetic, tmp_path, temp_methods):
    temp_methods.add("not-in-parent", NotInParent, kind="binary")
    res = run_benchmark([MethodRequest("not-in-parent", {"parent_pid": os.getpid()})], synthetic, limit=4, limit_mode="first",
                        progress=False, executor="process", workers=1, out=tmp_path, run_id="r", trace_samples=2,
                        warmup=False)
    assert (res.per_sample["error"] == "").all() and (res.per_sample["f_measure"] == 1.0).all()
    side = _side_records(res.run_dir)
    assert len(side["trace"]) == 2 and len(side["figure_sample"]) == 4
    assert {r["worker"]["pid"] for r in side["trace"]}.isdisjoint({os.getpid()})
    traces = load_traces(res.run_dir)
    assert traces["sample_id"].tolist() == [s for s in synthetic.ids()[:2] for _ in range(2)]
    assert traces["f_measure"].tolist() == [0.0, 1.0, 0.0, 1.0] and traces["energy"].tolist() == [2.0, 1.0] * 2
    with ResultStore(res.run_dir / STORE_FILE, writable=False) as store:
        assert len(store) == 4  # one record per sample; the side records are elsewhere


def test_a_run_resumed_in_its_trace_stage_ends_like_an_uninterrupted_one(synthetic, tmp_path):
    res = run_benchmark([MethodRequest("cv", {"max_iter": 15})], synthetic, limit=3, limit_mode="first", progress=False, out=tmp_path,
                        run_id="done", trace_samples=2)
    before = load_traces(res.run_dir)
    assert before["sample_id"].nunique() == 2
    # as if it had been stopped after the first trace: a partial directory with two stores
    partial = tmp_path / "again.partial"
    partial.mkdir()
    shutil.copy(res.run_dir / STORE_FILE, partial / STORE_FILE)
    config = json.loads((res.run_dir / "config.json").read_text())
    (partial / "config.json").write_text(json.dumps({**config, "status": "running"}))
    lines = (res.run_dir / EXTRAS_FILE).read_bytes().splitlines(keepends=True)
    traces = [ln for ln in lines if b'"record":"trace"' in ln]
    assert len(traces) == 2
    (partial / EXTRAS_FILE).write_bytes(b"".join(ln for ln in lines if ln != traces[1]))
    again = resume_benchmark(partial, dataset=synthetic, progress=False)
    pd.testing.assert_frame_equal(load_traces(again.run_dir), before)
    assert len(_side_records(again.run_dir)["trace"]) == 2


def test_throughput_is_its_own_stage_and_can_be_left_out(synthetic, tmp_path, temp_methods):
    class Batched(Segmenter):
        def __call__(self, sample):
            return Prediction(mask=sample.mask)

        def predict_batch(self, samples):
            return [self(s) for s in samples]

    temp_methods.add("batched", Batched, kind="binary")
    res = run_benchmark([MethodRequest("batched")], synthetic, limit=2, limit_mode="first", progress=False, out=tmp_path, run_id="t",
                        throughput=True)
    assert set(res.config["throughput"]) == {"batched"} and res.config["throughput"]["batched"]["batch_size"] == 64
    assert [r["key"]["method"] for r in _side_records(res.run_dir)["throughput"]] == ["batched"]
    off = run_benchmark([MethodRequest("batched")], synthetic, limit=2, limit_mode="first", progress=False, out=tmp_path, run_id="u")
    assert off.config["throughput"] == {"batched": None} and "throughput" not in _side_records(off.run_dir)


def test_every_stage_after_the_samples_shows_its_own_progress(synthetic, tmp_path, temp_methods, capsys):
    """Figure samples, traces, throughput (asked for), saving, tables, figures and the HTML page each announce
    themselves on stderr with a bar of their own; progress=False shows none of them."""
    class Batched(Segmenter):
        def __call__(self, sample):
            return Prediction(mask=sample.mask)

        def predict_batch(self, samples):
            return [self(s) for s in samples]

    temp_methods.add("batched", Batched, kind="binary")
    requests = [MethodRequest("batched"), MethodRequest("cv", {"max_iter": 5})]
    run_benchmark(requests, synthetic, limit=3, limit_mode="first", out=tmp_path, run_id="on", throughput=True, figures=True, html=True,
                  trace_samples=1)
    err = capsys.readouterr().err
    stages = ["lsbench run", "lsbench figure samples", "lsbench traces", "lsbench throughput (batch 64)",
              "lsbench saving results", "lsbench tables", "lsbench figures", "lsbench HTML page"]
    found = [err.find(name + ":") for name in stages]
    assert -1 not in found, [s for s, i in zip(stages, found, strict=True) if i < 0]
    assert found == sorted(found)  # in the order they run
    assert "batched" in err[found[3]:found[4]] and "cv" not in err[found[3]:found[4]]  # the method measured
    run_benchmark(requests, synthetic, limit=3, limit_mode="first", out=tmp_path, run_id="off", throughput=True, figures=True,
                  html=True, trace_samples=1, progress=False)
    assert capsys.readouterr().err == ""

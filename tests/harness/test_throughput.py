"""Batched throughput: measured for segmenters with predict_batch, recorded and shown in Table 2."""

import json

import pytest

from lsbench.datasets import load
from lsbench.harness.runner import MethodRequest, run_benchmark
from lsbench.harness.throughput import measure_throughput
from lsbench.registry import METHODS
from lsbench.segmenter import Segmenter
from lsbench.types import Prediction


class _Batched(Segmenter):  # declares a native predict_batch by overriding it
    def __init__(self):
        self.batches = []

    def __call__(self, sample):
        return Prediction(mask=sample.mask)

    def predict_batch(self, samples):
        self.batches.append([s.id for s in samples])
        return [Prediction(mask=s.mask) for s in samples]


def test_measure_throughput_cycles_a_short_dataset(data_root):
    ds = load("synthetic", root=data_root, split="test")
    from lsbench.datasets.base import Subset

    seg = _Batched()
    out = measure_throughput(seg, Subset(ds, range(5)), batch_size=12, repeats=2)
    assert out["batch_size"] == 12 and out["repeats"] == 2
    assert out["images_per_second"] == pytest.approx(12 / out["seconds_per_batch"])
    assert len(seg.batches) == 3 and all(len(b) == 12 for b in seg.batches)  # warm-up + 2 timed
    assert seg.batches[0][:6] == [*ds.ids()[:5], ds.ids()[0]]
    with pytest.raises(ValueError, match="batch_size"):
        measure_throughput(seg, ds, batch_size=0)


def test_runner_records_throughput_only_for_batched_methods(data_root, tmp_path, monkeypatch):
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
    METHODS.add("batched", _Batched, kind="binary")
    ds = load("synthetic", root=data_root, split="test")
    res = run_benchmark([MethodRequest("batched"), MethodRequest("cv", {"max_iter": 5})], ds, out=tmp_path,
                        run_id="t", limit=2, progress=False, throughput=True)
    cfg = json.loads((tmp_path / "t" / "config.json").read_text())
    assert set(cfg["throughput"]) == {"batched"} and cfg["throughput"]["batched"]["batch_size"] == 64
    assert res.config["throughput"]["batched"]["images_per_second"] > 0
    table = (tmp_path / "t" / "table2.md").read_text()
    assert "Batched throughput" in table and "| `batched` | 64 |" in table and "| `cv` | 64" not in table
    assert "not measured" not in table


def test_throughput_is_opt_in_and_the_tables_say_not_measured(data_root, tmp_path, monkeypatch):
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
    METHODS.add("batched", _Batched, kind="binary")
    ds = load("synthetic", root=data_root, split="test")
    calls = []
    monkeypatch.setattr("lsbench.harness.runner.measure_throughput", lambda *a, **k: calls.append(a))
    res = run_benchmark([MethodRequest("batched"), MethodRequest("cv", {"max_iter": 5})], ds, out=tmp_path,
                        run_id="t", limit=2, progress=False, html=True)
    assert calls == [] and res.config["throughput"] == {"batched": None}
    table = (tmp_path / "t" / "table2.md").read_text()
    assert "| `batched` | not measured | not measured | not measured |" in table and "--throughput" in table
    page = (tmp_path / "t" / "index.html").read_text()
    assert page.count('<td class="num">not measured</td>') == 3

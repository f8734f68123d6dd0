"""Resumable runs: killed with SIGKILL (or interrupted) part-way, then resumed, a run ends exactly like an
uninterrupted one, with one record per sample."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from click.testing import CliRunner

from lsbench.cli import main
from lsbench.datasets import load
from lsbench.harness.runner import MethodRequest, resume_benchmark, run_benchmark
from lsbench.harness.selection import select_positions
from lsbench.harness.store import ResultStore
from lsbench.registry import METHODS
from tests.instance_fixtures import JitteredGT, TinyShapes

SLOW_CV = {"max_iter": 600, "tol": 0.0}  # about 0.15 s per 128 x 128 image: slow enough to kill part-way
N = 12


def _without_timing(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["seconds"]).reset_index(drop=True)


def _summary_without_timing(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame.metric != "seconds"].reset_index(drop=True)


def _records(run_dir: Path) -> list[dict]:
    with ResultStore(run_dir / "records.jsonl", writable=False) as store:
        return list(store.records())


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path, data_root):
    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), *sys.path])}
    cmd = [sys.executable, "-m", "lsbench.cli", "run", "--methods", "cv", "-p", "cv.max_iter=600", "-p", "cv.tol=0",
           "--root", str(data_root), "--limit", str(N), "--out", str(out), "--run-id", "k", "--no-progress",
           "--no-figures", "--executor", "process", "--workers", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = out / "k.partial" / "records.jsonl"
    deadline = time.monotonic() + 120
    n = 0
    while time.monotonic() < deadline and proc.poll() is None:
        n = len(store.read_bytes().splitlines()) if store.exists() else 0
        if n >= 3:
            break
        time.sleep(0.02)
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    assert 3 <= n < N, "the run must be killed part-way"
    assert children, "the process executor runs samples in child processes"
    _, alive = psutil.wait_procs(children, timeout=15)  # orphaned workers exit on their own
    assert not alive
    assert not (out / "k").exists() and (out / "k.partial" / "config.json").is_file()

    # as if the kill had hit in the middle of writing a record: a torn last line
    with open(store, "ab") as f:
        f.write(b"0" * 64 + b' {"key": {"method": "cv", "params_ha')
    res = CliRunner().invoke(main, ["run", "--resume", str(out / "k.partial"), "--no-progress", "--no-figures",
                                    "--executor", "local"])
    assert res.exit_code == 0, res.output
    final = out / "k"
    assert not (out / "k.partial").exists() and (final / "table2.md").is_file()
    records = _records(final)
    ds = load("synthetic", root=data_root, split="test")
    ids = [ds.ids()[i] for i in select_positions(ds.groups(), N)]  # --limit: spread over the scene families
    assert len({ds.groups()[i] for i in select_positions(ds.groups(), N)}) == 6
    assert sorted(r["key"]["sample_id"] for r in records) == sorted(ids)  # exactly one record per sample
    assert len(final.joinpath("records.jsonl").read_bytes().splitlines()) == N

    ds = load("synthetic", root=data_root, split="test")
    ref = run_benchmark([MethodRequest("cv", SLOW_CV)], ds, limit=N, progress=False, trace_samples=3)
    per = pd.read_csv(final / "per_sample.csv", dtype={"error": str}).fillna({"error": ""})
    ref_per = ref.per_sample.copy()
    pd.testing.assert_frame_equal(_without_timing(per), _without_timing(ref_per), check_dtype=False)
    pd.testing.assert_frame_equal(_summary_without_timing(pd.read_csv(final / "summary.csv")),
                                  _summary_without_timing(ref.summary), check_dtype=False)
    import json

    cfg = json.loads((final / "config.json").read_text())
    assert cfg["status"] == "complete" and cfg["resumed"] == 1
    assert cfg["plan"]["sample_ids"] == ids and cfg["plan"]["limit_mode"] == "spread"  # what the resume reused
    assert cfg["selection"]["families"] == dict.fromkeys(sorted(set(ds.groups())), 2)
    killed, resumed = cfg["sessions"]  # the killed session is on record, unfinished
    assert (killed["executor"], killed["finished"], resumed["executor"], resumed["finished"]) == (
        "process", False, "local", True)
    assert resumed["units_run"] == N - n
    assert cfg["timing"]["concurrent_workers"] == 1  # --workers 1, then local: no contention between workers


def test_interrupted_instance_run_resumes_to_the_same_scores(tmp_path, monkeypatch):
    """An instance run on an unregistered dataset, interrupted after 4 of 10 samples and resumed: the
    ground truth and AP are rebuilt from the store and equal those of an uninterrupted run."""
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
    METHODS.add("jitter", lambda shift=1, seed=0: JitteredGT(shift, seed), kind="instance")
    dataset = TinyShapes(n=10)
    seen = []

    def stop_after_four(row):
        seen.append(row)
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_benchmark([MethodRequest("jitter", {"shift": 2})], dataset, out=tmp_path, run_id="i", progress=False,
                      on_record=stop_after_four)
    assert len(_records(tmp_path / "i.partial")) == 4
    with pytest.raises(ValueError, match="not registered"):
        resume_benchmark(tmp_path / "i", progress=False)
    res = resume_benchmark(tmp_path / "i", dataset=dataset, progress=False)
    ref = run_benchmark([MethodRequest("jitter", {"shift": 2})], dataset, out=tmp_path, run_id="ref", progress=False)
    pd.testing.assert_frame_equal(_without_timing(res.per_sample), _without_timing(ref.per_sample))
    for variant in ("mnc", "sds", "coco101"):
        assert res.instance_scores["jitter"].mapr[variant].mean_ap == ref.instance_scores["jitter"].mapr[variant].mean_ap
    assert res.instance_scores["jitter"].coco.stats == ref.instance_scores["jitter"].coco.stats
    assert (tmp_path / "i" / "ground_truth.json").read_text() == (tmp_path / "ref" / "ground_truth.json").read_text()
    assert len(_records(tmp_path / "i")) == 10

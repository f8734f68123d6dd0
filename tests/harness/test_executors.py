"""Executors: the same per-sample results locally, in a process pool and on a Dask cluster; faults
(exceptions, NaN output, hangs, dying workers) isolated to their samples."""

from __future__ import annotations

import logging
import os
import re
import time

import pandas as pd
import pytest

from lsbench.datasets import load
from lsbench.harness.executors import DaskExecutor, ProcessExecutor, make_executor
from lsbench.harness.runner import MethodRequest, run_benchmark
from lsbench.harness.store import ResultStore
from lsbench.registry import METHODS
from tests.harness import faulty_methods

TIMING = ["seconds"]


@pytest.fixture
def faulty(monkeypatch):
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
    faulty_methods.register(METHODS)
    return METHODS


@pytest.fixture(scope="module")
def synthetic(data_root):
    return load("synthetic", root=data_root, split="test")


@pytest.fixture(scope="module")
def local_run(synthetic):
    """The reference: cv and skimage-cv, 20 iterations, 6 samples, in this process."""
    return run_benchmark([MethodRequest("cv", {"max_iter": 20}), MethodRequest("skimage-cv", {"max_iter": 20})],
                         synthetic, limit=6, limit_mode="first", progress=False, executor="local", trace_samples=0)


@pytest.fixture(scope="module")
def cluster():
    """A 2-worker LocalCluster (processes, one thread each) shared by the Dask fault tests."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.scheduler.worker-saturation": 1.0}):
        c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                         silence_logs=logging.CRITICAL)
    yield c
    c.close()


def _same_results(a: pd.DataFrame, b: pd.DataFrame) -> None:
    cols = [c for c in a.columns if c not in TIMING]
    pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), b[cols].reset_index(drop=True))


def test_dask_local_cluster_equals_local(tmp_path, synthetic, local_run):
    res = run_benchmark([MethodRequest("cv", {"max_iter": 20}), MethodRequest("skimage-cv", {"max_iter": 20})],
                        synthetic, limit=6, limit_mode="first", progress=False, executor="dask", workers=2, out=tmp_path, run_id="d",
                        trace_samples=0)
    assert len(res.per_sample) == 12 and (res.per_sample["error"] == "").all()
    _same_results(res.per_sample, local_run.per_sample)
    saved = pd.read_csv(tmp_path / "d" / "per_sample.csv")
    assert saved["sample_id"].tolist() == local_run.per_sample["sample_id"].tolist()
    cfg = res.config
    assert cfg["executor"]["executor"] == "dask" and cfg["executor"]["scheduler"] == "LocalCluster"
    assert cfg["timing"]["concurrent_workers"] == 2 and "contention" in cfg["timing"]["note"]
    with ResultStore(tmp_path / "d" / "records.jsonl", writable=False) as store:
        assert len(store) == 12
        assert {r["worker"]["pid"] for r in store.records()}.isdisjoint({os.getpid()})  # ran in the workers


def test_process_pool_equals_local(synthetic, local_run):
    res = run_benchmark([MethodRequest("cv", {"max_iter": 20}), MethodRequest("skimage-cv", {"max_iter": 20})],
                        synthetic, limit=6, limit_mode="first", progress=False, executor="process", workers=2, trace_samples=0)
    _same_results(res.per_sample, local_run.per_sample)
    assert res.config["executor"]["concurrent_workers"] == 2


def _check_faults(per: pd.DataFrame, ids: list[str], timeout: float) -> None:
    """raising fails on ids[1], hanging on ids[2] (timeout), nan-phi on ids[3]; all else is exact."""
    err = {(m, s): e for m, s, e in zip(per["method"], per["sample_id"], per["error"], strict=True)}
    assert "RuntimeError: failing on purpose" in err[("raising", ids[1])]
    # the timed call, or the untimed warm-up call when ids[2] was its worker's first hanging sample
    assert re.match(r"TimeoutError: the (timed|untimed warm-up) call (on this sample )?exceeded "
                    rf"--timeout-per-sample {timeout:g} s; the worker process was killed", err[("hanging", ids[2])])
    assert "phi contains NaN" in err[("nan-phi", ids[3])]
    failed = per["error"] != ""
    assert failed.sum() == 3
    assert (per.loc[~failed, "f_measure"] == 1.0).all()
    hung = per[(per.method == "hanging") & (per.sample_id == ids[2])].iloc[0]
    assert hung["group"] != ""
    if "timed call" in hung["error"]:
        assert timeout <= hung["seconds"] < timeout + 5


def test_process_executor_isolates_exceptions_nan_and_hangs(tmp_path, synthetic, faulty):
    ids = synthetic.ids()
    res = run_benchmark([MethodRequest("raising", {"fail_on": ids[1]}), MethodRequest("hanging", {"hang_on": ids[2]}),
                         MethodRequest("nan-phi", {"nan_on": ids[3]})], synthetic, limit=5, limit_mode="first", progress=False,
                        executor="process", workers=2, timeout_per_sample=1.5, out=tmp_path, run_id="f")
    _check_faults(res.per_sample, ids, 1.5)
    s = res.summary[res.summary.metric == "f_measure"].set_index("method")
    assert s.loc["hanging", "n_failed"] == 1 and s.loc["hanging", "n"] == 4
    assert "| 4 | 1 |" in (tmp_path / "f" / "table2.md").read_text()  # failures are in every table


def test_dask_executor_isolates_exceptions_nan_and_hangs(synthetic, faulty, cluster):
    ids = synthetic.ids()
    ex = DaskExecutor(cluster.scheduler_address, timeout=1.5)
    res = run_benchmark([MethodRequest("raising", {"fail_on": ids[1]}), MethodRequest("hanging", {"hang_on": ids[2]}),
                         MethodRequest("nan-phi", {"nan_on": ids[3]})], synthetic, limit=5, limit_mode="first", progress=False,
                        executor=ex)
    ex.close()
    _check_faults(res.per_sample, ids, 1.5)


def test_a_dying_process_worker_is_retried_then_counted_as_failed(tmp_path, synthetic, faulty):
    ids = synthetic.ids()
    (tmp_path / "once").mkdir()
    (tmp_path / "always").mkdir()
    res = run_benchmark([MethodRequest("dying", {"die_on": ids[2], "marker_dir": str(tmp_path / "once"), "times": 1}),
                         MethodRequest("cv", {"max_iter": 20})],
                        synthetic, limit=4, limit_mode="first", progress=False, executor="process", workers=2, retries=1)
    per = res.per_sample
    assert (per["error"] == "").all()  # died once, retried in a fresh process, succeeded
    assert len(list((tmp_path / "once").iterdir())) == 1
    res = run_benchmark([MethodRequest("dying", {"die_on": ids[2], "marker_dir": str(tmp_path / "always"),
                                                 "times": 99})],
                        synthetic, limit=4, limit_mode="first", progress=False, executor="process", workers=2, retries=1)
    per = res.per_sample.set_index("sample_id")
    assert per.loc[ids[2], "error"] == ("WorkerDied: the worker process exited with status 17 while running this "
                                        "sample, on each of 2 attempts")
    assert (per.drop(index=ids[2])["f_measure"] == 1.0).all()
    assert len(list((tmp_path / "always").iterdir())) == 2  # first try + one retry


def test_a_dying_dask_worker_is_retried_then_counted_as_failed(tmp_path, synthetic, faulty, cluster):
    ids = synthetic.ids()
    (tmp_path / "once").mkdir()
    (tmp_path / "always").mkdir()
    ex = DaskExecutor(cluster.scheduler_address)  # no timeout: samples run in the Dask worker itself
    res = run_benchmark([MethodRequest("dying", {"die_on": ids[1], "marker_dir": str(tmp_path / "once"), "times": 1}),
                         MethodRequest("cv", {"max_iter": 20})],
                        synthetic, limit=3, limit_mode="first", progress=False, executor=ex, warmup=False)
    assert (res.per_sample["error"] == "").all()  # the worker died, the nanny restarted it, Dask re-ran the sample
    res = run_benchmark([MethodRequest("dying", {"die_on": ids[1], "marker_dir": str(tmp_path / "always"),
                                                 "times": 99})],
                        synthetic, limit=3, limit_mode="first", progress=False, executor=ex, warmup=False)
    ex.close()
    per = res.per_sample.set_index("sample_id")
    assert per.loc[ids[1], "error"].startswith("KilledWorker:")
    assert (per.drop(index=ids[1])["error"] == "").all(), per["error"].tolist()
    assert (per.drop(index=ids[1])["f_measure"] == 1.0).all()
    assert len(list((tmp_path / "always").iterdir())) == 2  # allowed-failures=1: two workers died on it


def test_executor_options_are_validated():
    with pytest.raises(ValueError, match="valid executors: local, process, dask"):
        make_executor("threads")
    with pytest.raises(ValueError, match="needs --executor process or dask"):
        make_executor("local", timeout=3)
    with pytest.raises(ValueError, match="--scheduler is for --executor dask"):
        make_executor("process", scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="positive number of seconds"):
        ProcessExecutor(timeout=float("nan"))
    with pytest.raises(ValueError, match="--workers must be an integer >= 1"):
        ProcessExecutor(workers=0)
    with pytest.raises(ValueError, match="--retries must be an integer >= 0"):
        ProcessExecutor(retries=-1)
    with pytest.raises(ValueError, match="with --scheduler the cluster's own workers"):
        DaskExecutor("tcp://127.0.0.1:8786", workers=2)


def test_an_unreachable_scheduler_fails_before_anything_is_written(tmp_path, synthetic):
    ex = DaskExecutor("tcp://127.0.0.1:9", connect_timeout=1.0)
    with pytest.raises(OSError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        run_benchmark([MethodRequest("cv", {"max_iter": 5})], synthetic, limit=2, limit_mode="first", progress=False, executor=ex,
                      out=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_methods_are_built_once_per_worker(tmp_path, synthetic, faulty):
    """Workers keep their built methods (a learned model loads once per worker, not once per sample)."""
    res = run_benchmark([MethodRequest("counting", {"marker_dir": str(tmp_path)})], synthetic, limit=6, limit_mode="first",
                        progress=False, executor="process", workers=2)
    assert (res.per_sample["error"] == "").all()
    builds = [p.name.split("-")[1] for p in tmp_path.iterdir()]  # one file per build, named by process id
    assert len(builds) == len(set(builds)) <= 3  # this process (to validate) + at most one per worker
    assert str(os.getpid()) in builds


def test_interrupting_a_process_run_stops_its_workers_at_once(tmp_path, synthetic, faulty):
    """Ctrl-C while a worker is stuck in a sample without timeout: the run stops promptly, its child
    processes are killed, and the partial run keeps the records stored so far."""
    import psutil

    ids = synthetic.ids()
    seen = []

    def interrupt_after_two(row):
        seen.append(row)
        if len(seen) == 2:
            raise KeyboardInterrupt

    me = psutil.Process()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_benchmark([MethodRequest("hanging", {"hang_on": ids[0]})], synthetic, limit=6, limit_mode="first", progress=False,
                      executor="process", workers=2, warmup=False, out=tmp_path, run_id="x",
                      on_record=interrupt_after_two)
    assert time.monotonic() - t0 < 30
    assert not _live_sandbox_workers(me)
    with ResultStore(tmp_path / "x.partial" / "records.jsonl", writable=False) as store:
        assert len(store) == 2


def _live_sandbox_workers(process) -> list:
    """Sandbox worker processes still running under ``process``; exited (zombie or reaped) ones
    have stopped and do not count."""
    import psutil

    live = []
    for child in process.children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            if "lsbench.harness.sandbox" in " ".join(child.cmdline()):
                live.append(child)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue
    return live

"""What a single-object run saves (masks, figure samples, convergence traces) and how reports read it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lsbench.cli import main
from lsbench.datasets import load
from lsbench.harness.convergence import supports_trace, trace_method
from lsbench.harness.runner import MethodRequest, run_benchmark
from lsbench.registry import METHODS
from lsbench.rundir import RunDirError, load_figure_samples, load_masks, load_traces
from lsbench.types import Prediction


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory, data_root):
    ds = load("synthetic", root=data_root, split="test")
    out = tmp_path_factory.mktemp("runs")
    res = run_benchmark([MethodRequest("cv", {"max_iter": 40}), MethodRequest("skimage-cv", {"max_iter": 40})],
                        ds, out=out, run_id="b", limit=6, limit_mode="first", progress=False, figures=True, trace_samples=2)
    return ds, res


def test_saved_masks_round_trip_exactly(binary_run):
    ds, res = binary_run
    cv = METHODS.build("cv", max_iter=40)
    saved = load_masks(res.run_dir, "cv")
    assert list(saved) == ds.ids()[:6]
    for i in range(6):
        sample = ds[i]
        np.testing.assert_array_equal(saved[sample.id], cv(sample).mask)
    assert (res.run_dir / "masks" / "cv.npz").stat().st_size < 6 * 128 * 128 / 8 + 2000  # bit-packed


def test_failed_samples_are_saved_as_missing(tmp_path, data_root, monkeypatch):
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))

    def flaky(sample):
        if sample.id.endswith("-01"):
            raise RuntimeError("no")
        return Prediction(mask=sample.mask)

    METHODS.add("flaky", lambda: flaky, kind="binary")
    ds = load("synthetic", root=data_root, split="test")
    res = run_benchmark([MethodRequest("flaky")], ds, out=tmp_path, run_id="f", limit=3, limit_mode="first", progress=False)
    saved = load_masks(res.run_dir, "flaky")
    assert saved[ds.ids()[1]] is None
    np.testing.assert_array_equal(saved[ds.ids()[2]], ds[2].mask)


def test_figure_samples_and_traces(binary_run):
    ds, res = binary_run
    samples = load_figure_samples(res.run_dir)
    assert [s.id for s in samples] == ds.ids()[:6]  # 6 samples, one family: evenly spaced = all of them
    first = ds[0]
    np.testing.assert_array_equal(samples[0].mask, first.mask)
    assert np.abs(samples[0].image - first.image).max() <= 0.5 / 255 + 1e-6
    traces = load_traces(res.run_dir)
    assert set(traces["method"]) == {"cv"}  # skimage-cv has no iter_callback
    assert list(dict.fromkeys(traces["sample_id"])) == ds.ids()[:2]
    per = res.per_sample.set_index(["method", "sample_id"])
    for sid, t in traces.groupby("sample_id"):
        assert len(t) == per.loc[("cv", sid), "n_iter"]
        # the trace's last F-measure is the benchmarked mask's: same init, same polarity rule
        assert t["f_measure"].iloc[-1] == pytest.approx(per.loc[("cv", sid), "f_measure"], abs=1e-12)
        assert np.isfinite(t["energy"]).all()


def test_trace_by_name_and_support_detection(data_root):
    sample = load("synthetic", root=data_root, split="test")[40]
    t = trace_method("cv", sample, max_iter=15)
    assert list(t.columns) == ["method", "sample_id", "iteration", "energy", "f_measure"]
    assert t["iteration"].tolist() == list(range(1, len(t) + 1)) and len(t) <= 15
    assert t["energy"].iloc[-1] < t["energy"].iloc[0]
    assert supports_trace(METHODS.build("cv")) and not supports_trace(METHODS.build("skimage-cv"))
    with pytest.raises(TypeError, match="iter_callback"):
        trace_method("skimage-cv", sample)


def test_report_names_a_missing_masks_file(binary_run, tmp_path):
    import shutil

    _, res = binary_run
    d = tmp_path / "copy"
    shutil.copytree(res.run_dir, d)
    (d / "masks" / "skimage-cv.npz").unlink()
    runner = CliRunner()
    out = runner.invoke(main, ["report", str(d)])
    assert out.exit_code != 0 and "masks/skimage-cv.npz is missing" in out.output and "--no-figures" in out.output
    assert "Traceback" not in out.output
    out = runner.invoke(main, ["report", str(d), "--no-figures", "--table", "2"])
    assert out.exit_code == 0, out.output
    (d / "samples.npz").write_bytes(b"junk")
    with pytest.raises(RunDirError, match="samples.npz is damaged"):
        load_figure_samples(d)
    out = runner.invoke(main, ["report", str(d), "--table", "3"])
    assert out.exit_code != 0 and "table 3 needs an instance-segmentation run" in out.output


def test_report_html_and_every_output(binary_run, tmp_path):
    import shutil

    _, res = binary_run
    d = tmp_path / "copy"
    shutil.copytree(res.run_dir, d)
    before = (d / "table2.csv").read_text()
    for f in list(d.glob("table2.*")) + list((d / "figures").glob("*")):
        f.unlink()
    out = CliRunner().invoke(main, ["report", str(d), "--html"])
    assert out.exit_code == 0, out.output
    assert "Table 2" in out.output
    for name in ("table2.md", "table2.csv", "table2.tex", "index.html"):
        assert (d / name).is_file()
    assert {p.name for p in (d / "figures").iterdir()} == {
        f"{n}.{e}" for n in ("fig7_grid", "convergence", "fmeasure_box", "accuracy_vs_time") for e in ("png", "pdf")}
    assert (d / "table2.csv").read_text() == before
    assert not [p for p in d.rglob(".*") if p.is_file()]
    assert pd.read_csv(d / "table2.csv")["Method"].tolist()[:2] == ["cv", "skimage-cv"]


def test_a_run_where_every_sample_failed_is_still_written(tmp_path, data_root, monkeypatch):
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))

    def boom(sample):
        raise RuntimeError("always")

    METHODS.add("boom", lambda: boom, kind="binary")
    ds = load("synthetic", root=data_root, split="test")
    res = run_benchmark([MethodRequest("boom")], ds, out=tmp_path, run_id="x", limit=2, limit_mode="first", progress=False,
                        figures=True, html=True)
    assert res.per_sample["error"].str.contains("always").all()
    assert {p.name for p in (res.run_dir / "figures").iterdir()} == {"fig7_grid.png", "fig7_grid.pdf"}
    assert (res.run_dir / "index.html").is_file() and not (res.run_dir / "table2.md").exists()
    assert all(v is None for v in load_masks(res.run_dir, "boom").values())

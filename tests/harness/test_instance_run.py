"""Instance datasets in the harness: per-sample rows, saved COCO results, Tables 3/4 rebuilt from files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lsbench.cli import main
from lsbench.harness.runner import MethodRequest, run_benchmark
from lsbench.metrics.coco import COCOMaskAP
from lsbench.metrics.instance import VARIANTS, MaskAP
from lsbench.registry import METHODS
from tests.instance_fixtures import JitteredGT, TinyShapes, perfect


@pytest.fixture
def instance_methods(monkeypatch):
    entries = dict(METHODS._entries)
    monkeypatch.setattr(METHODS, "_entries", entries)
    METHODS.add("jitter", lambda shift=1, seed=0, fail_on="", bad_scores=False, bad_label=False:
                JitteredGT(shift, seed, fail_on=fail_on, bad_scores=bad_scores, bad_label=bad_label),
                kind="instance")
    METHODS.add("perfect", lambda: perfect, kind="instance")
    return METHODS


@pytest.fixture(scope="module")
def dataset():
    return TinyShapes(n=10)


def test_instance_run_writes_predictions_tables_and_figures(tmp_path, dataset, instance_methods):
    res = run_benchmark([MethodRequest("jitter", {"shift": 1}), MethodRequest("perfect")], dataset,
                        out=tmp_path, run_id="inst", progress=False, figures=True)
    d = res.run_dir
    for name in ("per_sample.csv", "summary.csv", "config.json", "ground_truth.json", "predictions/jitter.json",
                 "predictions/perfect.json", "samples.npz", "table3.md", "table3.csv", "table3.tex",
                 "table4.md", "table4.csv", "table4.tex", "figures/fig8_instances.png",
                 "figures/fig8_instances.pdf"):
        assert (d / name).is_file(), name
    assert not (d / "figures" / "time_vs_size.png").exists()  # every image has one size: nothing to plot
    assert not (d / "table2.md").exists() and not (d / "masks").exists()
    per = pd.read_csv(d / "per_sample.csv")
    assert len(per) == 20 and {"n_gt", "n_pred", "best_iou_mean"} <= set(per.columns)
    assert (per[per.method == "perfect"]["best_iou_mean"] == 1.0).all()
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["kind"] == "instance" and cfg["class_names"] == ["disk", "square"]
    gt = json.loads((d / "ground_truth.json").read_text())
    assert [img["sample_id"] for img in gt["images"]] == dataset.ids()
    assert [c["name"] for c in gt["categories"]] == ["disk", "square"]
    n_gt = sum(len(dataset[i].instances) for i in range(len(dataset)))
    assert len(gt["annotations"]) == n_gt
    assert isinstance(gt["annotations"][0]["segmentation"]["counts"], str)

    perfect_scores = res.instance_scores["perfect"]
    assert all(s.mean_ap[0.5] == pytest.approx(1.0) for s in perfect_scores.mapr.values())
    assert perfect_scores.coco.stats["AP"] == pytest.approx(1.0)
    jitter = res.instance_scores["jitter"]
    assert 0.3 < jitter.mapr["mnc"].mean_ap[0.5] < 1.0

    table3 = (d / "table3.md").read_text()
    assert "`perfect` | 100.0 | 100.0 | 100.0 | – | – |" in table3  # no describe(): sizes not recorded
    assert "models" in cfg and "perfect" not in cfg["models"]
    assert "CRLS (chapter) | 66.7 | 44.6" in table3 and "published B" in table3
    assert "mnc: argmax-IoU matching" in table3 and "Per-class AP@0.5" in table3
    table4 = (d / "table4.md").read_text()
    assert "`perfect` | 100.0 | 100.0 | 100.0" in table4 and "| 20.5 | 40.1 |" in table4


def test_scores_from_saved_rle_equal_scores_from_masks(tmp_path, dataset, instance_methods):
    """The harness scores RLEs (pycocotools IoU); MaskAP.update on the dense masks must agree exactly."""
    res = run_benchmark([MethodRequest("jitter", {"shift": 2, "seed": 3})], dataset, out=tmp_path,
                        run_id="eq", progress=False)
    seg = JitteredGT(shift=2, seed=3)
    dense = {v: MaskAP(variant=v, classes=list(dataset.class_names)) for v in VARIANTS}
    coco = COCOMaskAP(classes=list(dataset.class_names))
    for i in range(len(dataset)):
        sample = dataset[i]
        pred = seg(sample)
        for acc in dense.values():
            acc.update(pred, sample)
        coco.update(pred, sample)
    saved = res.instance_scores["jitter"]
    for v in VARIANTS:
        ours = dense[v].compute()
        assert saved.mapr[v].mean_ap == ours.mean_ap
        assert saved.mapr[v].per_class == ours.per_class
    assert saved.coco.stats == coco.compute().stats


def test_report_rebuilds_tables_3_and_4_without_rerunning(tmp_path, dataset, instance_methods):
    res = run_benchmark([MethodRequest("jitter"), MethodRequest("perfect")], dataset, out=tmp_path,
                        run_id="rep", progress=False)
    d = res.run_dir
    before = {n: (d / n).read_text() for n in ("table3.md", "table3.csv", "table4.md", "table4.tex")}
    for n in before:
        (d / n).unlink()
    runner = CliRunner()
    out = runner.invoke(main, ["report", str(d), "--no-figures"])
    assert out.exit_code == 0, out.output
    assert "Table 3" in out.output and "Table 4" in out.output
    assert {n: (d / n).read_text() for n in before} == before
    out = runner.invoke(main, ["report", str(d), "--table", "2"])
    assert out.exit_code != 0 and "table 2 needs a single-object run" in out.output


def test_failed_samples_count_as_no_detections(tmp_path, dataset, instance_methods):
    res = run_benchmark([MethodRequest("jitter", {"shift": 0, "fail_on": "tiny-03"}), MethodRequest("perfect")],
                        dataset, out=tmp_path, run_id="fail", progress=False)
    per = res.per_sample
    assert per.loc[per.method == "jitter", "error"].str.contains("failing on purpose").sum() == 1
    preds = json.loads((res.run_dir / "predictions" / "jitter.json").read_text())
    assert 4 not in {p["image_id"] for p in preds}  # tiny-03 is image 4
    assert res.instance_scores["jitter"].mapr["mnc"].n_gt == res.instance_scores["perfect"].mapr["mnc"].n_gt
    assert "| 9 | 1 |" in (res.run_dir / "table3.md").read_text()


@pytest.mark.parametrize(("params", "needle"), [({"bad_scores": True}, "scores must lie in [0, 1]"),
                                                ({"bad_label": True}, "unknown class id(s) [7]")])
def test_bad_instance_predictions_are_recorded_failures(tmp_path, dataset, instance_methods, params, needle):
    res = run_benchmark([MethodRequest("jitter", params)], dataset, limit=3, progress=False)
    assert res.per_sample["error"].str.contains(needle, regex=False).all()


def test_missing_files_are_named(tmp_path, dataset, instance_methods):
    res = run_benchmark([MethodRequest("jitter")], dataset, out=tmp_path, run_id="miss", progress=False)
    d = res.run_dir
    runner = CliRunner()
    (d / "predictions" / "jitter.json").rename(d / "jitter.json.bak")
    out = runner.invoke(main, ["report", str(d), "--no-figures"])
    assert out.exit_code != 0 and "predictions/jitter.json is missing" in out.output
    (d / "jitter.json.bak").rename(d / "predictions" / "jitter.json")
    (d / "ground_truth.json").write_text("{not json")
    out = runner.invoke(main, ["report", str(d)])
    assert out.exit_code != 0 and "ground_truth.json is not valid JSON" in out.output
    (d / "ground_truth.json").unlink()
    out = runner.invoke(main, ["report", str(d)])
    assert out.exit_code != 0 and "ground_truth.json is missing" in out.output
    assert "Traceback" not in out.output


def test_a_dataset_level_metric_is_not_a_per_sample_metric(dataset, instance_methods):
    with pytest.raises(ValueError, match="dataset-level accumulator"):
        run_benchmark([MethodRequest("perfect")], dataset, metric="mapr", progress=False)
    with pytest.raises(ValueError, match="scores binary targets"):
        run_benchmark([MethodRequest("perfect")], dataset, metric="binary", progress=False)


def test_figure_samples_one_per_family_then_evenly_spaced(tmp_path, dataset, instance_methods):
    res = run_benchmark([MethodRequest("perfect")], dataset, out=tmp_path, run_id="fs", progress=False,
                        figure_samples=4)
    with np.load(res.run_dir / "samples.npz") as z:
        ids = z["sample_ids"].tolist()
        groups = z["groups"].tolist()
        assert z["image_0"].dtype == np.uint8
    assert len(ids) == 4 and set(groups) == {"crowded", "sparse"}
    assert ids == sorted(ids)

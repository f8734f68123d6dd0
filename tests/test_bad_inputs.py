"""Bad input, case by case: images, masks, datasets, parameters, checkpoints, CLI arguments, output paths.

Each case gives a clear error naming the problem (or, for a problem of one sample, a recorded failure
while the run goes on), a non-zero exit from the command line, no traceback, and no partial or
corrupted file in the output folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from lsbench.cli import main
from lsbench.datasets import load
from lsbench.datasets.base import Dataset
from lsbench.harness.runner import MethodRequest, resume_benchmark, run_benchmark
from lsbench.harness.store import StoreError
from lsbench.learned.distributed import CheckpointError, load_checkpoint, save_checkpoint
from lsbench.metrics.binary import f_measure
from lsbench.registry import METHODS
from lsbench.segmenter import ClassicSegmenter
from lsbench.types import Instances, LevelSetResult, Prediction, Sample


def _files(folder: Path) -> list[str]:
    """Everything under ``folder`` (relative paths); [] when it does not exist."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _cli(args: list[str]) -> Any:
    res = CliRunner().invoke(main, args)
    assert "Traceback" not in res.output, res.output
    return res


class ListDataset(Dataset):
    """An unregistered in-memory single-object dataset (for inputs no loader would produce)."""

    name, kind, split = "listed", "binary", "test"

    def __init__(self, samples: list[Sample]) -> None:
        self.samples, self.root = samples, Path("/nonexistent/listed")

    def __len__(self) -> int:
        return len(self.samples)

    def ids(self) -> list[str]:
        return [s.id for s in self.samples]

    def _load(self, index: int) -> Sample:
        return self.samples[index]


def _square(sample_id: str, image: Any = None, size: int = 16) -> Sample:
    mask = np.zeros((size, size), bool)
    mask[4:12, 4:12] = True
    img = np.where(mask, 0.8, 0.2).astype(np.float32) if image is None else image
    return Sample(sample_id, img, mask=mask if np.shape(img)[:2] == (size, size) else None)


@pytest.fixture
def temp_methods(monkeypatch):
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
    return METHODS


def _one_bad_sample_run(tmp_path: Path, bad: Sample, needle: str) -> None:
    """A dataset with one bad sample among good ones: the bad one is a recorded failure, the run completes."""
    ds = ListDataset([_square("good-0"), bad, _square("good-2")])
    res = run_benchmark([MethodRequest("cv", {"max_iter": 20})], ds, out=tmp_path, run_id="r", progress=False)
    per = res.per_sample.set_index("sample_id")
    assert needle in per.loc[bad.id, "error"]
    assert (per.drop(index=bad.id)["error"] == "").all() and (per.drop(index=bad.id)["f_measure"] > 0.8).all()
    assert _files(tmp_path)[0] == "r" and not (tmp_path / "r.partial").exists()
    assert pd.read_csv(tmp_path / "r" / "summary.csv").query("metric == 'f_measure'")["n_failed"].tolist() == [1]


# -- images -------------------------------------------------------------------------------------------
def test_image_with_nan_pixels_is_a_recorded_failure(tmp_path):
    image = np.full((16, 16), 0.5, np.float32)
    image[3, 3] = np.nan
    _one_bad_sample_run(tmp_path, _square("nan-1", image), "image contains 1 NaN or infinite pixel(s)")


def test_image_too_small_is_a_recorded_failure(tmp_path):
    _one_bad_sample_run(tmp_path, Sample("tiny-1", np.zeros((2, 2), np.float32)), "at least 3 x 3 pixels")


def test_non_numeric_image_is_a_recorded_failure(tmp_path):
    _one_bad_sample_run(tmp_path, Sample("text-1", np.full((16, 16), "a")), "must be a numeric array")


def test_image_with_four_channels_is_refused():
    with pytest.raises(ValueError, match=r"image must be H x W or H x W x 3, got shape \(8, 8, 4\)"):
        Sample("rgba", np.zeros((8, 8, 4), np.float32))


def test_damaged_image_file_is_a_recorded_failure_naming_the_file(tmp_path, data_root):
    root = tmp_path / "data"
    shutil.copytree(data_root / "synthetic", root / "synthetic")
    victim = load("synthetic", root=root, split="test").ids()[1]
    (root / "synthetic" / "test" / "images" / f"{victim}.png").write_bytes(b"\x89PNG garbage")
    out = tmp_path / "out"
    res = _cli(["run", "--root", str(root), "--limit", "3", "--out", str(out), "--run-id", "d", "--no-progress",
                "--no-figures", "-p", "cv.max_iter=10", "--executor", "local"])
    assert res.exit_code == 1 and "1 sample(s) failed" in res.output
    per = pd.read_csv(out / "d" / "per_sample.csv", dtype={"error": str}).fillna({"error": ""}).set_index("sample_id")
    assert f"{victim}.png" in per.loc[victim, "error"]
    assert (per.drop(index=victim)["error"] == "").all()
    assert _files(out)[0] == "d"  # the complete run directory, no .partial


# -- masks and predictions -----------------------------------------------------------------------------
def test_ground_truth_mask_of_another_size_is_refused():
    with pytest.raises(ValueError, match=r"mask has shape \(4, 4\), expected \(8, 8\)"):
        Sample("m", np.zeros((8, 8), np.float32), mask=np.zeros((4, 4), bool))


@pytest.mark.parametrize(("returned", "needle"), [
    (lambda s: Prediction(mask=np.zeros((3, 3), bool)), "predicted mask has shape (3, 3), image is (16, 16)"),
    (lambda s: s.mask, "method returned ndarray, expected lsbench.types.Prediction"),
    (lambda s: Prediction(instances=Instances(np.zeros((1, 16, 16), bool), [1], scores=[0.5])),
     "a single-object dataset needs Prediction.mask"),
])
def test_a_bad_prediction_is_a_recorded_failure(tmp_path, temp_methods, returned, needle):
    temp_methods.add("bad", lambda: (lambda s: returned(s) if s.id == "x-1" else Prediction(mask=s.mask)),
                     kind="binary")
    ds = ListDataset([_square("x-0"), _square("x-1")])
    res = run_benchmark([MethodRequest("bad")], ds, out=tmp_path, run_id="p", progress=False)
    per = res.per_sample.set_index("sample_id")
    assert needle in per.loc["x-1", "error"] and per.loc["x-0", "error"] == ""


def test_a_diverged_level_set_is_a_recorded_failure(tmp_path, temp_methods):
    def fake_method(image, *, init=None, return_result=False):
        phi = np.full(image.shape, np.nan) if image.shape == (16, 16) and image[0, 0] < 0.1 else np.ones(image.shape)
        return LevelSetResult(phi > 0, phi, np.zeros(3), 3, False)

    temp_methods.add("fake", lambda: ClassicSegmenter("fake", fake_method, {}), kind="binary")
    dark = _square("dark-1", np.zeros((16, 16), np.float32))
    ds = ListDataset([_square("ok-0"), dark])
    res = run_benchmark([MethodRequest("fake")], ds, progress=False)
    assert "fake: the level set phi is NaN or infinite after 3 iterations" in res.per_sample["error"].iloc[1]
    assert res.per_sample["error"].iloc[0] == ""


def test_prediction_needs_exactly_one_of_mask_and_instances():
    with pytest.raises(ValueError, match="exactly one of mask or instances"):
        Prediction()
    with pytest.raises(ValueError, match="exactly one of mask or instances"):
        Prediction(mask=np.zeros((2, 2), bool), instances=Instances(np.zeros((0, 2, 2), bool), []))


def test_instance_masks_must_be_a_stack():
    with pytest.raises(ValueError, match=r"Instances.masks must have shape \(N, H, W\)"):
        Instances(np.zeros((8, 8), bool), [1])


def test_metric_on_masks_of_different_sizes_is_refused():
    with pytest.raises(ValueError, match=r"prediction shape \(3, 3\) differs from ground-truth shape \(4, 4\)"):
        f_measure(np.zeros((3, 3), bool), np.zeros((4, 4), bool))


# -- datasets -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "needle"), [
    (["--split", "bogus"], "split must be one of 'train', 'test' for the synthetic set; got 'bogus'"),
    (["--dataset-param", "families=nofamily"], "families: unknown ['nofamily']"),
    (["--dataset", "weizmann", "--root", "/nonexistent/lsbench-root"], "weizmann/1obj: missing"),
])
def test_bad_dataset_choices_exit_non_zero(tmp_path, data_root, args, needle):
    root = [] if "--root" in args else ["--root", str(data_root)]
    out = tmp_path / "out"
    res = _cli(["run", *args, *root, "--out", str(out), "--no-progress"])
    assert res.exit_code != 0 and needle in res.output
    assert _files(out) == []


def test_duplicate_sample_ids_are_refused(tmp_path):
    ds = ListDataset([_square("same"), _square("same")])
    with pytest.raises(ValueError, match="repeats sample id 'same'; results are keyed by sample id"):
        run_benchmark([MethodRequest("cv")], ds, out=tmp_path, progress=False)
    assert _files(tmp_path) == []


def test_an_empty_dataset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="dataset listed/test has no samples"):
        run_benchmark([MethodRequest("cv")], ListDataset([]), out=tmp_path, progress=False)
    assert _files(tmp_path) == []


# -- parameters ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("param", "needle"), [
    ("cv.init=bogus", "init must be one of 'checkerboard'"),
    ("cv.mu=nan", "mu must be a non-negative finite number, got nan"),
    ("cv.max_iter=1.5", "expected an integer, got '1.5'"),
    ("cv.polarity=up", "polarity must be 'phi' or 'sample', got 'up'"),
])
def test_bad_method_parameters_fail_before_any_work(tmp_path, data_root, param, needle):
    out = tmp_path / "out"
    res = _cli(["run", "-p", param, "--root", str(data_root), "--out", str(out), "--limit", "2", "--no-progress"])
    assert res.exit_code != 0 and needle in res.output
    assert _files(out) == []


# -- checkpoints ------------------------------------------------------------------------------------------
def test_checkpoints_bad_files_are_named(tmp_path):
    model = torch.nn.Linear(3, 2)
    good = save_checkpoint(tmp_path / "good.pt", {"state_dict": model.state_dict(), "step": 5})
    assert load_checkpoint(good, torch.nn.Linear(3, 2))["step"] == 5

    torch.save({"weights": [1, 2, 3]}, tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match=r"junk.pt is not an lsbench DDP checkpoint \(found format None"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(CheckpointError, match="found Tensor"):
        load_checkpoint(tmp_path / "tensor.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a zip file at all")
    with pytest.raises(CheckpointError, match="garbage.pt is not a readable checkpoint"):
        load_checkpoint(tmp_path / "garbage.pt")
    data = good.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.pt is not a readable checkpoint"):
        load_checkpoint(tmp_path / "truncated.pt")
    with pytest.raises(CheckpointError, match=r"good.pt does not fit Linear: .*size mismatch for weight"):
        load_checkpoint(good, torch.nn.Linear(4, 2))
    save_checkpoint(tmp_path / "nostep.pt", {"state_dict": model.state_dict()})
    with pytest.raises(CheckpointError, match="nostep.pt lacks step"):
        load_checkpoint(tmp_path / "nostep.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # atomic writes left no temp file


# -- CLI arguments ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "needle"), [
    (["--executor", "threads"], "'threads' is not one of 'local', 'process', 'dask'"),
    (["--timeout-per-sample", "0"], "must be a positive number of seconds"),
    (["--timeout-per-sample", "5", "--executor", "local"], "needs --executor process or dask"),
    (["--workers", "0"], "must be a positive integer, got 0"),
    (["--retries", "-1"], "must be 0 or more"),
    (["--scheduler", "tcp://127.0.0.1:8786", "--executor", "process"], "--scheduler needs --executor dask"),
    (["--executor", "local", "--workers", "2"], "--workers is for --executor process or dask"),
    (["--methods", ""], "--methods is empty"),
    (["--resume", "{tmp}/nowhere"], "no run in progress there"),
])
def test_bad_run_arguments_exit_non_zero(tmp_path, args, needle):
    out = tmp_path / "out"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = _cli(["run", *args, *([] if "--resume" in args else ["--out", str(out)]), "--no-progress"])
    assert res.exit_code != 0 and needle in res.output
    assert _files(out) == []


# -- output paths, run directories and resuming ------------------------------------------------------------
@pytest.mark.parametrize("run_id", ["a/b", "x.partial", ".."])
def test_a_run_id_that_is_not_a_plain_folder_name_is_refused(tmp_path, data_root, run_id):
    out = tmp_path / "out"
    res = _cli(["run", "--run-id", run_id, "--root", str(data_root), "--out", str(out), "--limit", "1",
                "--no-progress", "--executor", "local"])
    assert res.exit_code != 0 and "must be a plain folder name" in res.output
    assert _files(out) == []


@pytest.fixture
def interrupted(tmp_path, data_root):
    """A run of cv on 4 samples, interrupted after 2: ``out/r.partial``."""
    ds = load("synthetic", root=data_root, split="test")
    count = []

    def stop(row):
        count.append(row)
        if len(count) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_benchmark([MethodRequest("cv", {"max_iter": 10})], ds, out=tmp_path / "out", run_id="r", limit=4,
                      progress=False, on_record=stop)
    return tmp_path / "out" / "r.partial"


def _unchanged(partial: Path) -> dict[str, bytes]:
    return {p: (partial / p).read_bytes() for p in ("config.json", "records.jsonl")}


def test_resume_refuses_data_options(interrupted):
    res = _cli(["run", "--resume", str(interrupted), "--methods", "cv", "--limit", "3"])
    assert res.exit_code != 0 and "drop --methods, --limit" in res.output


def test_resume_refuses_a_changed_dataset(interrupted):
    config = json.loads((interrupted / "config.json").read_text())
    config["dataset_fingerprint"] = "0" * 64
    (interrupted / "config.json").write_text(json.dumps(config))
    before = _unchanged(interrupted)
    res = _cli(["run", "--resume", str(interrupted), "--executor", "local", "--no-progress"])
    assert res.exit_code != 0 and "differs from the one the run started with" in res.output
    assert _unchanged(interrupted) == before


def test_resume_refuses_changed_method_defaults(interrupted):
    config = json.loads((interrupted / "config.json").read_text())
    config["plan"]["methods"][0]["params_hash"] = "feedfacefeedface"
    (interrupted / "config.json").write_text(json.dumps(config))
    res = _cli(["run", "--resume", str(interrupted), "--executor", "local", "--no-progress"])
    assert res.exit_code != 0 and "its defaults changed; start a new run" in res.output


def test_resume_refuses_a_damaged_store(interrupted):
    store = interrupted / "records.jsonl"
    lines = store.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0][:80] + b"#" + lines[0][81:]
    store.write_bytes(b"".join(lines))
    before = _unchanged(interrupted)
    res = _cli(["run", "--resume", str(interrupted), "--executor", "local", "--no-progress"])
    assert res.exit_code != 0 and "records.jsonl: line 1 is damaged" in res.output
    assert _unchanged(interrupted) == before


def test_resume_refuses_foreign_records(interrupted):
    store = interrupted / "records.jsonl"
    line = store.read_bytes().splitlines(keepends=True)[0]
    from lsbench.harness.store import ResultStore

    record = json.loads(line[65:])
    record["key"]["sample_id"] = "not-in-this-run"
    with ResultStore(store) as s:
        s.append(record)
    with pytest.raises(StoreError, match="1 record\\(s\\) that are not part of this run"):
        resume_benchmark(interrupted, progress=False)


def test_resume_while_another_process_writes_is_refused(interrupted):
    from lsbench.harness.store import ResultStore

    with ResultStore(interrupted / "records.jsonl"):
        res = _cli(["run", "--resume", str(interrupted), "--executor", "local", "--no-progress"])
    assert res.exit_code != 0 and "being written by another lsbench process" in res.output


def test_resume_of_a_finished_run_and_report_of_a_partial_one(interrupted):
    res = _cli(["report", str(interrupted)])
    assert res.exit_code != 0 and "not an lsbench run directory, or an incomplete one" in res.output
    ok = _cli(["run", "--resume", str(interrupted), "--executor", "local", "--no-progress", "--no-figures"])
    assert ok.exit_code == 0, ok.output
    finished = interrupted.with_name("r")
    res = _cli(["run", "--resume", str(finished)])
    assert res.exit_code != 0 and "this run is finished" in res.output
    assert len((finished / "records.jsonl").read_bytes().splitlines()) == 4

"""Bad input, case by case: images, masks, datasets, parameters, checkpoints, CLI arguments, output paths.

Each case gives a clear error naming the problem (or, for a problem of one sample, a recorded failure
while the run goes on), a non-zero exit from the command line, no traceback, and no partial or
corrupted file in the output folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import lsbench
from lsbench.cli import main
from lsbench.datasets import load
from lsbench.datasets.base import Dataset
from lsbench.harness.runner import MethodRequest, resume_benchmark, run_benchmark
from lsbench.harness.store import StoreError
from lsbench.learned.distributed import CheckpointError, load_checkpoint, save_checkpoint
from lsbench.metrics.binary import f_measure
from lsbench.registry import METHODS
from lsbench.segmenter import ClassicSegmenter, Segmenter
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
    METHODS.names()  # load the built-in methods first, or the copy (and what is restored) would be empty
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
    res = _cli(["run", "--root", str(root), "--limit-first", "3", "--out", str(out), "--run-id", "d", "--no-progress",
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
@pytest.mark.parametrize(("args", "needle", "code"), [
    (["--split", "bogus"], "split must be one of 'train', 'test' for the synthetic set; got 'bogus'", 2),
    (["--dataset-param", "families=nofamily"], "families: unknown ['nofamily']", 2),
    (["--dataset", "weizmann", "--root", "/nonexistent/lsbench-root"], "weizmann/1obj: missing", 1),  # data, not usage
])
def test_bad_dataset_choices_exit_non_zero(tmp_path, data_root, args, needle, code):
    root = [] if "--root" in args else ["--root", str(data_root)]
    out = tmp_path / "out"
    res = _cli(["run", *args, *root, "--out", str(out), "--no-progress"])
    assert res.exit_code == code and needle in res.output
    assert not out.exists()  # not even an empty --out folder


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
    ("cv.polarity=up", "polarity must be one of 'phi', 'sample', 'border', got 'up'"),
])
def test_bad_method_parameters_fail_before_any_work(tmp_path, data_root, param, needle):
    out = tmp_path / "out"
    res = _cli(["run", "-p", param, "--root", str(data_root), "--out", str(out), "--limit", "2", "--no-progress"])
    assert res.exit_code == 2 and needle in res.output
    assert not out.exists()  # not even an empty --out folder


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
    (["--protocol", "open"], "Invalid value for '--protocol': 'open' is not one of 'box', 'blind'"),
    (["--methods", "otsu,box", "--protocol", "blind"],
     "Error: method 'box' cannot run under protocol blind: its output is the sample's initial region itself"),
    (["--methods", "rls", "--protocol", "blind"],
     "Error: method 'rls' cannot run under protocol blind: init='sample' gives it a ground-truth-derived input"),
    (["--methods", "cv", "-p", "cv.polarity=sample", "--protocol", "blind"],
     "Error: method 'cv': polarity='sample' gives it a ground-truth-derived input"),
])
def test_bad_run_arguments_exit_non_zero(tmp_path, args, needle):
    out = tmp_path / "out"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = _cli(["run", *args, *([] if "--resume" in args else ["--out", str(out)]), "--no-progress"])
    assert res.exit_code == 2 and needle in res.output
    assert not out.exists()


# -- output paths, run directories and resuming ------------------------------------------------------------
@pytest.mark.parametrize(("run_id", "needle"), [
    ("a/b", "must be a plain folder name: not '.', '..' or a path"),
    ("x.partial", "must be a plain folder name: not ending in .partial"),
    ("..", "must be a plain folder name: not '.', '..' or a path"),
    ("two\nlines", "it holds the control character '\\n'"),  # issue 15, case 8: control characters
    ("bell\a", "it holds the control character '\\x07'"),
    ("nul\0", "it holds the control character '\\x00'"),
    ("", "run id '' must be a non-empty folder name"),  # was silently replaced by the default id
    (" padded", "no leading or trailing white space"),
    ("x" * 201, "at most 200 bytes"),
], ids=["slash", "partial", "dotdot", "newline", "bell", "nul", "empty", "space", "long"])
def test_a_run_id_that_is_not_a_plain_folder_name_is_refused(tmp_path, data_root, run_id, needle):
    out = tmp_path / "out"
    res = _cli(["run", "--run-id", run_id, "--root", str(data_root), "--out", str(out), "--limit", "1",
                "--no-progress", "--executor", "local", "-p", "cv.max_iter=2"])
    assert res.exit_code == 2 and needle in res.output, res.output
    assert not out.exists()
    with pytest.raises(ValueError, match="must be a"):  # the Python API refuses it too
        run_benchmark([MethodRequest("cv", {"max_iter": 2})], ListDataset([_square("a")]), out=out, run_id=run_id,
                      progress=False)
    assert not out.exists()


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


# -- issue 15: image files of other bit depths ---------------------------------------------------------------
def _png(arr: np.ndarray, color_type: int) -> bytes:
    """PNG bytes of a uint8/uint16 array written by hand (Pillow cannot write 16-bit RGB):
    colour type 0 = grey, 2 = RGB, 4 = grey + alpha."""
    import struct
    import zlib

    arr = np.asarray(arr)
    big = arr.astype(arr.dtype.newbyteorder(">"))
    raw = b"".join(b"\x00" + big[y].tobytes() for y in range(arr.shape[0]))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", arr.shape[1], arr.shape[0], arr.dtype.itemsize * 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


_GREY8 = np.array([[0, 51, 102], [153, 204, 255]], np.uint8)


@pytest.mark.parametrize(("data", "expected"), [
    (_png(_GREY8, 0), _GREY8 / 255.0),
    (_png(_GREY8.astype(np.uint16) * 257, 0), _GREY8 / 255.0),  # the same picture at 16 bits
    (_png(np.array([[0, 1000, 65535]], np.uint16), 0), np.array([[0, 1000, 65535]]) / 65535.0),  # full precision
    (_png(np.repeat(_GREY8[:, :, None], 3, 2), 2), _GREY8 / 255.0),
    (_png(np.repeat(_GREY8[:, :, None], 3, 2).astype(np.uint16) * 257, 2), _GREY8 / 255.0),
], ids=["grey8", "grey16", "grey16-full-precision", "rgb8", "rgb16"])
def test_grey_and_rgb_pngs_of_8_and_16_bits_decode_by_their_range(data, expected):
    from lsbench.datasets.io import decode_gray_png, decode_rgb

    grey = decode_gray_png(data, "x.png")
    assert grey.dtype == np.float32
    np.testing.assert_allclose(grey, expected, atol=1e-7, rtol=0)
    rgb = decode_rgb(data, "x.png")
    assert rgb.dtype == np.uint8 and rgb.shape == (*expected.shape, 3)
    np.testing.assert_array_equal(rgb[:, :, 1], np.round(expected * 255))


def test_an_undecodable_image_mode_is_refused_naming_the_file():
    from lsbench.datasets.io import DatasetError, decode_gray_png

    with pytest.raises(DatasetError, match=r"x\.png: image mode 'LA' cannot be read as a greyscale image"):
        decode_gray_png(_png(np.stack([_GREY8, _GREY8], axis=2), 4), "x.png")


def test_a_16_bit_copy_of_a_dataset_image_loads_as_the_8_bit_one(tmp_path, data_root):
    from lsbench.datasets.io import sha256_bytes

    root = tmp_path / "data"
    shutil.copytree(data_root / "synthetic", root / "synthetic")
    manifest_path = root / "synthetic" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    item = next(it for it in manifest["items"] if it["id"] == "pc-shapes-03")
    original = load("synthetic", root=root, split=item["split"])
    index = original.ids().index("pc-shapes-03")
    before = original[index].image
    data = _png(np.round(before * 255).astype(np.uint16) * 257, 0)  # the same picture, 16 bits per pixel
    (root / "synthetic" / item["image"]).write_bytes(data)
    item["sha256_image"] = sha256_bytes(data)
    manifest_path.write_text(json.dumps(manifest))
    after = load("synthetic", root=root, split=item["split"])[index].image
    assert after.dtype == np.float32 and not (after == 1.0).all()  # main clipped every pixel to 255 -> 1.0
    np.testing.assert_allclose(after, before, atol=1e-7, rtol=0)


# -- issue 15: downloads (datasets fetch) ----------------------------------------------------------------------
class _Mirror:
    """A loopback HTTP server with misbehaving archives: ``/slow/<name>`` sends a byte every 0.2 s,
    ``/short/<name>`` announces the full Content-Length and closes after half the bytes."""

    def __init__(self, body: bytes) -> None:
        import http.server
        import threading
        import time

        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(mirror.body)))
                self.end_headers()
                try:
                    if self.path.startswith("/slow/"):
                        for k in range(len(mirror.body)):
                            self.wfile.write(mirror.body[k:k + 1])
                            self.wfile.flush()
                            time.sleep(0.2)
                    else:
                        self.wfile.write(mirror.body[: len(mirror.body) // 2])
                except OSError:  # the client hung up
                    pass
                self.close_connection = True

        self.body = body
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def weizmann_mirror(tmp_path, monkeypatch):
    import io
    import zipfile

    from lsbench.datasets import weizmann
    from lsbench.datasets.integrity import Resource

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("1obj/readme.txt", "x" * 200)
    monkeypatch.setattr(weizmann, "ARCHIVES", (Resource("Weizmann_Seg_DB_1obj.ZIP", "http://unreachable.invalid/w.zip",
                                                        None),))
    mirror = _Mirror(buf.getvalue())
    yield mirror
    mirror.close()


def test_fetch_timeout_bounds_the_whole_download(tmp_path, weizmann_mirror):
    import time

    dest = tmp_path / "data"
    t0 = time.monotonic()
    res = _cli(["datasets", "fetch", "weizmann", "--root", str(dest), "--mirror", weizmann_mirror.url + "/slow",
                "--timeout", "1"])
    elapsed = time.monotonic() - t0
    assert res.exit_code != 0 and "did not finish within --timeout 1 s" in res.output, res.output
    assert elapsed < 5, f"a server sending a byte every 0.2 s kept the download going for {elapsed:.1f} s"
    assert not [p for p in dest.rglob("*") if p.is_file()]  # no archive, no .part left


def test_a_truncated_download_is_reported_as_truncated(tmp_path, weizmann_mirror):
    dest = tmp_path / "data"
    res = _cli(["datasets", "fetch", "weizmann", "--root", str(dest), "--mirror", weizmann_mirror.url + "/short"])
    assert res.exit_code != 0 and "is truncated" in res.output, res.output
    assert "neither a" not in res.output
    assert not [p for p in dest.rglob("*") if p.is_file()]


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_fetch_refuses_a_timeout_that_is_not_a_positive_number_when_parsing_options(tmp_path, value):
    res = _cli(["datasets", "fetch", "weizmann", "--root", str(tmp_path / "data"), "--timeout", value])
    assert res.exit_code == 2 and "Invalid value for '--timeout'" in res.output
    assert "must be a positive, finite number of seconds" in res.output and "downloading" not in res.output
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("member", ["archives/Weizmann_Seg_DB_1obj.ZIP", "lsbench-manifest.json",
                                    "./archives/evil.txt"])
@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_archive_members_that_would_replace_the_dataset_folders_own_files_are_refused(tmp_path, member, kind):
    import io
    import tarfile
    import zipfile

    from lsbench.datasets import DatasetError
    from lsbench.datasets.fetch import extract

    into = tmp_path / "weizmann"
    (into / "archives").mkdir(parents=True)
    (into / "archives" / "Weizmann_Seg_DB_1obj.ZIP").write_bytes(b"the real archive")
    (into / "lsbench-manifest.json").write_text("{}")
    bad = tmp_path / f"bad.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(bad, "w") as z:
            z.writestr("1obj/ok.txt", "x")
            z.writestr(member, "forged")
    else:
        with tarfile.open(bad, "w") as t:
            for name in ("1obj/ok.txt", member):
                info = tarfile.TarInfo(name)
                info.size = 6
                t.addfile(info, io.BytesIO(b"forged"))
    with pytest.raises(DatasetError, match="would replace the dataset folder's own"):
        extract(bad, into)
    assert (into / "archives" / "Weizmann_Seg_DB_1obj.ZIP").read_bytes() == b"the real archive"
    assert (into / "lsbench-manifest.json").read_text() == "{}" and not (into / "1obj").exists()


# -- issue 15: presets ---------------------------------------------------------------------------------------
def _preset_run(tmp_path: Path, data_root: Path, *extra: str) -> Any:
    return _cli(["run", "--preset", "tuned", "--root", str(data_root), "--out", str(tmp_path / "out"), "--limit", "1",
                 "--no-progress", "--no-figures", "--executor", "local", "-p", "cv.max_iter=5", *extra])


def test_a_missing_presets_folder_is_an_error_naming_it(tmp_path, data_root, monkeypatch):
    monkeypatch.setenv("LSBENCH_PRESETS", str(tmp_path / "no-such-presets"))
    res = _preset_run(tmp_path, data_root)
    assert res.exit_code == 1 and f"preset folder {tmp_path / 'no-such-presets'}" in res.output
    assert not (tmp_path / "out").exists()


def test_a_preset_path_that_is_a_folder_is_an_error_naming_it(tmp_path, data_root, monkeypatch):
    (tmp_path / "presets" / "cv.toml").mkdir(parents=True)
    monkeypatch.setenv("LSBENCH_PRESETS", str(tmp_path / "presets"))
    res = _preset_run(tmp_path, data_root)
    assert res.exit_code == 1 and f"{tmp_path / 'presets' / 'cv.toml'}: is a folder" in res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("content", "needle"), [
    ("[defaults]\nmu = 0.25\n".encode("utf-16"), "not UTF-8 text"),
    (b'[defaults]\nmu = "strong"\n', "[defaults] mu = 'strong' is not a number"),
    (b"[defaults]\nmax_iter = 1.5\n", "[defaults] max_iter = 1.5 is not an integer"),
    (b"[datasets.synthetic]\nmu = -1.0\n", "mu must be a non-negative finite number, got -1.0"),
], ids=["utf16", "string-for-float", "float-for-int", "negative-mu"])
def test_a_bad_preset_value_names_the_preset_file(tmp_path, data_root, monkeypatch, content, needle):
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "cv.toml").write_bytes(content)
    monkeypatch.setenv("LSBENCH_PRESETS", str(tmp_path / "presets"))
    res = _preset_run(tmp_path, data_root)
    # a bad preset file is damaged data (exit 1), not a bad option value (2)
    assert res.exit_code == 1 and needle in res.output and str(tmp_path / "presets" / "cv.toml") in res.output, \
        res.output
    assert not (tmp_path / "out").exists()


def test_config_records_the_preset_file_and_its_sha256(tmp_path, data_root, monkeypatch):
    import hashlib

    (tmp_path / "presets").mkdir()
    preset = tmp_path / "presets" / "cv.toml"
    preset.write_text("[defaults]\nmu = 0.25\n\n[datasets.synthetic]\nmu = 0.125\n")
    monkeypatch.setenv("LSBENCH_PRESETS", str(tmp_path / "presets"))
    res = _preset_run(tmp_path, data_root, "--run-id", "p")
    assert res.exit_code == 0, res.output
    config = json.loads((tmp_path / "out" / "p" / "config.json").read_text())
    method = config["plan"]["methods"][0]
    assert method["params"]["mu"] == 0.125 and config["methods"]["cv"]["mu"] == 0.125
    assert method["preset"] == {"preset": "tuned", "file": str(preset), "table": "datasets.synthetic",
                                "sha256": hashlib.sha256(preset.read_bytes()).hexdigest()}


def test_a_full_disk_while_writing_a_preset_names_the_file(tmp_path, monkeypatch):
    import errno

    from lsbench.presets import write_tuned

    monkeypatch.setenv("LSBENCH_PRESETS", str(tmp_path))

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)  # the disk fills up while the new preset is flushed
    with pytest.raises(OSError, match=r"cv\.toml: cannot be written \(No space left on device\)"):
        write_tuned("cv", "synthetic", {"mu": 0.1}, ["tuned by: a test"])
    assert list(tmp_path.iterdir()) == []


# -- issue 15: the result store ---------------------------------------------------------------------------------
def _rewrite_record(store: Path, index: int, edit) -> None:
    """Edit record ``index`` of ``store`` with ``edit(record)`` and recompute its checksum, as a forger would."""
    import hashlib

    lines = store.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[index][65:])
    edit(record)
    text = json.dumps(record, separators=(",", ":")).encode()
    lines[index] = hashlib.sha256(text).hexdigest().encode() + b" " + text + b"\n"
    store.write_bytes(b"".join(lines))


def _drop_half_the_mask(record: dict) -> None:
    import base64

    bits = base64.b64decode(record["prediction"]["packbits"])
    record["prediction"]["packbits"] = base64.b64encode(bits[: len(bits) // 2]).decode()


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda r: r["row"].update(f_measure=0.999), "says f_measure = 0.999, but its stored mask scores"),
    (_drop_half_the_mask, "the stored mask holds 1024 bytes, a 128 x 128 mask needs 2048"),
    (lambda r: r["prediction"].update(shape=[64, 256]), "the stored mask is 64 x 256, the sample is 128 x 128"),
], ids=["altered-F", "short-mask", "other-shape"])
def test_resume_recomputes_each_stored_record_from_its_mask(interrupted, edit, needle):
    _rewrite_record(interrupted / "records.jsonl", 0, edit)
    before = _unchanged(interrupted)
    res = _cli(["run", "--resume", str(interrupted), "--executor", "local", "--no-progress", "--no-figures"])
    assert res.exit_code != 0 and "records.jsonl: line 1" in res.output and needle in res.output, res.output
    assert _unchanged(interrupted) == before and not interrupted.with_name("r").exists()


def test_resume_of_an_untouched_store_recomputes_and_agrees(interrupted):
    ok = _cli(["run", "--resume", str(interrupted), "--executor", "local", "--no-progress", "--no-figures"])
    assert ok.exit_code == 0, ok.output


def test_a_symlinked_store_is_not_followed(interrupted, tmp_path):
    elsewhere = tmp_path / "elsewhere.jsonl"
    store = interrupted / "records.jsonl"
    elsewhere.write_bytes(store.read_bytes())
    store.unlink()
    store.symlink_to(elsewhere)
    before = elsewhere.read_bytes()
    res = _cli(["run", "--resume", str(interrupted), "--executor", "local", "--no-progress", "--no-figures"])
    assert res.exit_code != 0 and "records.jsonl is a symbolic link" in res.output, res.output
    assert elsewhere.read_bytes() == before


def test_a_full_disk_while_storing_a_record_names_the_store(tmp_path, monkeypatch):
    import errno

    from lsbench.harness import store as store_module

    real_write = os.write

    def write(fd, data):
        if bytes(data[:64]).isalnum():  # a record line (64 hex digits of its checksum first)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(store_module.os, "write", write)
    with pytest.raises(OSError, match=r"No space left on device: '.*r\.partial/records\.jsonl'"):
        run_benchmark([MethodRequest("cv", {"max_iter": 5})], ListDataset([_square("a")]), out=tmp_path, run_id="r",
                      progress=False)


# -- issue 15: learned methods' inputs and checkpoints -------------------------------------------------------------
def test_learned_methods_take_finite_values_beyond_float32_and_name_real_nan():
    from lsbench.crls.data import image_tensor
    from lsbench.learned.data import _gray01

    huge = np.where(_square("h").mask, 1e308, -1e308)
    np.testing.assert_array_equal(_gray01(huge, "img"), _square("h").mask.astype(np.float32))
    with pytest.raises(ValueError, match="image contains NaN or infinite pixels"):
        _gray01(np.where(_square("h").mask, np.inf, 0.0), "img")
    with pytest.raises(ValueError, match=r"image values reach 1e\+308, beyond float32's range"):
        image_tensor(np.full((8, 8), 1e308))


def test_weights_that_are_a_directory_are_named_as_such(tmp_path):
    from lsbench.learned.distributed import load_checkpoint as load_ddp_checkpoint
    from lsbench.learned.weights import load_checkpoint as load_weights

    with pytest.raises(IsADirectoryError, match=f"checkpoint {tmp_path} is a directory, not a checkpoint file"):
        load_weights(tmp_path)
    with pytest.raises(IsADirectoryError, match="is a directory, not a checkpoint file"):
        load_ddp_checkpoint(tmp_path)
    res = _cli(["run", "--methods", "rls", "--weights", str(tmp_path), "--out", str(tmp_path / "out"), "--no-progress"])
    assert res.exit_code != 0 and "is a directory, not a checkpoint file" in res.output and "does not exist" not in \
        res.output


# -- issue 14: cross-validation (lsbench train --cv K), rls-chapter, rls-untrained -------------------------------------
@pytest.mark.parametrize("k", ["11", "1", "0", "-3"])
def test_cv_outside_2_to_the_number_of_training_scenes_is_refused_before_any_work(tmp_path, data_root, monkeypatch, k):
    monkeypatch.setenv("LSBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    res = _cli(["train", "rls", "--cv", k, "--root", str(data_root), "--no-progress"])
    assert res.exit_code == 2
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: --cv {k}: K must be an integer between 2 and the number of training scenes (10)"]
    assert "cross-validating" not in res.output and _files(tmp_path) == []  # no fold, summary, cache or checkpoint


@pytest.mark.parametrize(("args", "needle"), [
    (["train", "rls", "--cv", "five"], "'five' is not a valid integer"),
    (["train", "rls-untrained"], "'rls-untrained' is not a learned method"),
    (["run", "--methods", "rls-chapter", "-p", "rls-chapter.init=sample"],
     "rls-chapter takes no input derived from the ground truth: init must be one of 'random', 'disks'"),
    (["run", "--methods", "rls-untrained", "-p", "rls-untrained.weights=x.pt"],
     "'rls-untrained' has no parameter 'weights'"),
    (["run", "--methods", "rls-untrained", "-p", "rls-untrained.train_missing=true"],
     "'rls-untrained' has no parameter 'train_missing'"),
])
def test_bad_requests_for_the_issue_14_methods_exit_2_with_one_line(tmp_path, data_root, monkeypatch, args, needle):
    monkeypatch.setenv("LSBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    out = ["--out", str(tmp_path / "runs")] if args[0] == "run" else []
    res = _cli([*args, "--root", str(data_root), *out, "--no-progress"])
    assert res.exit_code == 2
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and needle in errors[0], res.output
    assert _files(tmp_path) == []


# -- issue 15: a huge iteration count (case 1) ------------------------------------------------------------------
def _lsbench_python(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` with the lsbench under test first on the path, killed after ``timeout`` seconds (a hang
    fails the test with ``TimeoutExpired`` instead of hanging it)."""
    env = {**os.environ, "PYTHONPATH": str(Path(lsbench.__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_a_huge_iteration_count_is_bounded_by_the_timeout_per_sample(tmp_path, data_root):
    """The parameter check used to run cv with the full max_iter in the parent, where no timeout applies."""
    out = tmp_path / "out"
    res = _lsbench_python(["-m", "lsbench.cli", "run", "--methods", "cv", "--limit", "1", "--workers", "1",
                           "--timeout-per-sample", "5", "-p", "cv.max_iter=1000000000000", "-p", "cv.tol=0",
                           "--root", str(data_root), "--out", str(out), "--run-id", "huge", "--no-progress",
                           "--no-figures"], timeout=180)  # start-up and compiling under load take most of it
    assert res.returncode == 1 and "1 sample(s) failed" in res.stderr, res.stderr
    per = pd.read_csv(out / "huge" / "per_sample.csv")
    assert per["error"].str.startswith("TimeoutError").tolist() == [True]
    assert "exceeded --timeout-per-sample 5 s" in per["error"][0]


def test_every_classic_method_checks_huge_iteration_counts_without_running_them():
    """drlse (tol 0), li, lic, l2s and the batched backends with 1e8-1e12 iterations build in seconds."""
    script = """if True:
        import time
        from lsbench.registry import METHODS
        huge = {"cv": {"max_iter": 10**12, "tol": 0.0}, "drlse": {"max_iter": 10**8, "iter_inner": 10**9},
                "li": {"max_iter": 10**8}, "lic": {"max_iter": 10**8, "iter_inner": 10**9},
                "l2s": {"max_iter": 10**8, "tol": 0.0}, "drlse-torch": {"iter_refine": 10**9, "compile": False},
                "lic-torch": {"max_iter": 10**8, "iter_inner": 10**9, "compile": False}}
        huge["drlse-2"] = {"iter_refine": 10**9}
        for name, params in huge.items():
            t0 = time.perf_counter()
            METHODS.build(name.removesuffix("-2"), **params)
            print(name, round(time.perf_counter() - t0, 2))
    """
    res = _lsbench_python(["-c", script], timeout=90)
    assert res.returncode == 0, res.stderr
    assert [line.split()[0] for line in res.stdout.splitlines()] == [
        "cv", "drlse", "li", "lic", "l2s", "drlse-torch", "lic-torch", "drlse-2"]


@pytest.mark.parametrize(("method", "param", "value", "needle"), [
    ("cv", "max_iter", 0, "max_iter must be a positive integer, got 0"),
    ("drlse", "iter_inner", -1, "iter_inner must be a positive integer, got -1"),
    ("drlse", "iter_refine", 1.5, "iter_refine must be a non-negative integer, got 1.5"),
    ("lic", "iter_inner", True, "iter_inner must be a positive integer, got True"),
    ("l2s", "max_iter", "many", "max_iter must be a positive integer, got 'many'"),
    ("li-torch", "max_iter", -3, "max_iter must be a positive integer, got -3"),
])
def test_a_bad_iteration_count_is_still_refused_at_construction(method, param, value, needle):
    with pytest.raises(ValueError, match=needle):
        METHODS.build(method, **{param: value})


# -- issue 15: every method meets the same input check (case 3) --------------------------------------------------
def _with_nan(image: np.ndarray, value: float = np.nan) -> np.ndarray:
    image = image.copy()
    image[3, 3] = value
    return image


_GOOD = np.where(_square("g").mask, 0.8, 0.2).astype(np.float32)
BAD_IMAGES = {  # image -> the harness's message
    "nan": (_with_nan(_GOOD), "image contains 1 NaN or infinite pixel(s)"),
    "inf": (_with_nan(_GOOD, -np.inf), "image contains 1 NaN or infinite pixel(s)"),
    "complex": (_GOOD + 1j * _GOOD, "image must be a real array, got dtype complex64"),
    "object": (_GOOD.astype(object), "image must be a numeric array, got dtype object"),
    "text": (np.full((16, 16), "a"), "image must be a numeric array, got dtype <U1"),
    "bool": (_square("b").mask, "image must hold intensities, got a bool array"),
    "1x1": (np.full((1, 1), 0.5, np.float32), "image must be at least 3 x 3 pixels, got shape (1, 1)"),
    "2x16": (_GOOD[:2], "image must be at least 3 x 3 pixels, got shape (2, 16)"),
}


class _Spy(Segmenter):
    """A method that records the images it is called with (and segments by thresholding at 0.5)."""

    name, params = "spy", {}

    def __init__(self, batch_size: int = 1) -> None:
        self.batch_size, self.seen = batch_size, []

    def __call__(self, sample: Sample) -> Prediction:
        self.seen.append(sample.id)
        return Prediction(mask=np.asarray(sample.image, dtype=float) > 0.5)

    def predict_batch(self, samples):  # a native batched path: the harness runs execute_batch
        return [self(s) for s in samples]


@pytest.mark.parametrize("batch_size", [1, 3])
def test_no_method_is_called_with_an_image_that_fails_the_input_check(tmp_path, temp_methods, batch_size):
    spy = _Spy(batch_size)
    temp_methods.add("spy", lambda: spy, kind="binary")
    bad = [Sample(f"bad-{name}", image) for name, (image, _) in BAD_IMAGES.items()]
    ds = ListDataset([_square("good-0"), *bad, _square("good-9")])
    res = run_benchmark([MethodRequest("spy")], ds, progress=False, throughput=False)
    per = res.per_sample.set_index("sample_id")
    for name, (_, needle) in BAD_IMAGES.items():
        assert needle in per.loc[f"bad-{name}", "error"], (name, per.loc[f"bad-{name}", "error"])
    assert (per.loc[["good-0", "good-9"], "f_measure"] == 1.0).all()
    assert not [s for s in spy.seen if s.startswith("bad-")]


@pytest.mark.parametrize("case", ["nan", "inf", "object", "1x1"])
def test_skimage_cv_records_a_bad_image_as_a_failure_not_as_f_0(tmp_path, case):
    image, needle = BAD_IMAGES[case]
    ds = ListDataset([_square("good-0"), Sample("bad-1", image)])
    res = run_benchmark([MethodRequest("skimage-cv", {"max_iter": 20})], ds, progress=False)
    per = res.per_sample.set_index("sample_id")
    assert needle in per.loc["bad-1", "error"] and np.isnan(per.loc["bad-1", "f_measure"])
    row = res.summary.query("metric == 'f_measure'").iloc[0]
    assert (row["n"], row["n_failed"]) == (1, 1) and row["mean"] == per.loc["good-0", "f_measure"] > 0.8


@pytest.mark.parametrize("method", ["cv", "drlse", "li", "lic", "l2s", "skimage-cv"])
def test_a_complex_image_is_a_recorded_failure_of_every_classic_method(method):
    ds = ListDataset([_square("good-0"), Sample("complex-1", 0.5 + 1j * _square("c").mask)])
    res = run_benchmark([MethodRequest(method, {"max_iter": 5})], ds, progress=False)
    assert "image must be a real array, got dtype complex128" in res.per_sample["error"].iloc[1]
    assert res.per_sample["error"].iloc[0] == ""


@pytest.mark.parametrize("name", ["chan_vese", "drlse", "rsf", "lic", "l2s"])
def test_the_classic_functions_refuse_a_complex_image(name):
    import lsbench.classic as classic

    square = _square("c").mask
    with pytest.raises(TypeError, match="image must be a real array, got dtype complex128"):
        getattr(classic, name)(0.5 + 1j * square, max_iter=5)


# -- issue 15: a repeated parameter, and exit status 2 for every bad option value (case 8) ----------------------
_RUN = ["run", "--limit", "1", "--no-progress", "--no-figures", "--executor", "local"]
_NO_WRITE = ["--no-write", "--stride", "0"]  # on a build that accepted the request: fail at once, write nothing


@pytest.mark.parametrize(("args", "needle"), [
    ([*_RUN, "-p", "cv.mu=0.5", "-p", "cv.mu=1"], "--param 'cv.mu=1': cv.mu is already set by --param 'cv.mu=0.5'"),
    ([*_RUN, "-p", "cv.max_iter=2", "-p", " cv . max_iter =3"], "cv.max_iter is already set by --param 'cv.max_iter=2'"),
    ([*_RUN, "--dataset-param", "size=64", "--dataset-param", "size=32"],
     "--dataset-param 'size=32': size is already set by --dataset-param 'size=64'"),
    ([*_RUN, "--methods", "rls", "--weights", "rls={pt}", "--weights", "rls={pt}"], "rls's weights are already given"),
    (["tune", "cv", "--grid", "mu=0.1", "-p", "max_iter=1", "-p", "max_iter=2", *_NO_WRITE],
     "--param 'max_iter=2': max_iter is already set by --param 'max_iter=1'"),
    (["train", "rls", "-p", "lr=0.1", "-p", "lr=0.2", "--epochs", "0"], "lr is already set by --param 'lr=0.1'"),
], ids=["run-p", "run-p-spaced", "dataset-param", "weights", "tune-p", "train-p"])
def test_a_repeated_parameter_is_an_error_naming_it(tmp_path, data_root, args, needle):
    (tmp_path / "w.pt").write_bytes(b"x")
    out = tmp_path / "out"
    args = [a.replace("{pt}", str(tmp_path / "w.pt")) for a in args]
    res = _cli([*args, "--root", str(data_root), *(["--out", str(out)] if args[0] == "run" else [])])
    assert res.exit_code == 2 and needle in res.output, res.output
    assert not out.exists()


# Every bad option or argument VALUE exits 2 (click's usage error), in every command; the failures
# of the work (damaged data, a bad preset or checkpoint file, a failed sample) exit 1 (next test).
BAD_VALUES = {
    "run --methods nosuch": ([*_RUN, "--methods", "nosuch"], "unknown method 'nosuch'; valid methods:"),
    "run --methods cv,cv": ([*_RUN, "--methods", "cv,cv"], "--methods lists 'cv' twice"),
    "run --dataset nosuch": ([*_RUN, "--dataset", "nosuch"], "unknown dataset 'nosuch'; valid datasets:"),
    "run --split bogus": ([*_RUN, "--split", "bogus"], "split must be one of 'train', 'test'"),
    "run --preset nosuch": ([*_RUN, "--preset", "nosuch"], "'nosuch' is not one of 'default', 'tuned'"),
    "run -p syntax": ([*_RUN, "-p", "mu=1"], "expected METHOD.NAME=VALUE"),
    "run -p name": ([*_RUN, "-p", "cv.nosuch=1"], "method 'cv' has no parameter 'nosuch'"),
    "run -p type": ([*_RUN, "-p", "cv.max_iter=many"], "expected an integer, got 'many'"),
    "run -p value": ([*_RUN, "-p", "cv.dt=-1"], "dt must be a positive finite number, got -1.0"),
    "run -p method": ([*_RUN, "-p", "drlse.mu=1"], "method 'drlse' is not in --methods (cv)"),
    "run --weights which": ([*_RUN, "--methods", "rls,fconnet", "--weights", "x.pt"], "say which method it is for"),
    "run --weights taker": ([*_RUN, "--weights", "cv=x.pt"], "'cv' is not a method in --methods that takes weights"),
    "run --weights missing": ([*_RUN, "--methods", "rls", "--weights", "rls=/nonexistent.pt"],
                              "checkpoint /nonexistent.pt does not exist"),
    "run --dataset-param name": ([*_RUN, "--dataset-param", "nosuch=1"], "dataset 'synthetic' has no option 'nosuch'"),
    "run --dataset-param type": ([*_RUN, "--dataset-param", "size=big"], "expected an integer, got 'big'"),
    "run --dataset-param value": ([*_RUN, "--dataset-param", "families=nofamily"], "families: unknown ['nofamily']"),
    "run --executor local --timeout": ([*_RUN, "--timeout-per-sample", "5"], "needs --executor process or dask"),
    "run --executor local --workers": ([*_RUN, "--workers", "2"], "--workers is for --executor process or dask"),
    "run --out FILE": ([*_RUN, "--out", "{file}"], "is a file"),
    "run --resume NOWHERE": (["run", "--resume", "{tmp}/nowhere"], "no run in progress there"),
    "tune METHOD": (["tune", "nosuch", "--grid", "mu=0.1", *_NO_WRITE], "unknown method 'nosuch'"),
    "tune --grid syntax": (["tune", "cv", "--grid", "mu", *_NO_WRITE], "--grid 'mu': expected NAME=V1,V2,..."),
    "tune --grid name": (["tune", "cv", "--grid", "nosuch=1,2", *_NO_WRITE], "method 'cv' has no parameter 'nosuch'"),
    "tune --grid value": (["tune", "cv", "--grid", "mu=-1,0.5", "--no-write"], "mu must be a non-negative finite"),
    "tune --grid twice": (["tune", "cv", "--grid", "mu=0.1", "--grid", "mu=0.2", *_NO_WRITE], "--grid lists 'mu' twice"),
    "tune --grid and -p": (["tune", "cv", "--grid", "mu=0.1", "-p", "mu=0.2", "--no-write"],
                           "mu given both as a fixed --param and in --grid"),
    "tune --stride": (["tune", "cv", "--grid", "mu=0.1", *_NO_WRITE], "--stride must be a positive integer, got 0"),
    "tune --dataset": (["tune", "cv", "--grid", "mu=0.1", "--dataset", "nosuch", *_NO_WRITE], "unknown dataset"),
    "tune --split": (["tune", "cv", "--grid", "mu=0.1", "--split", "bogus", *_NO_WRITE], "split must be one of"),
    "train -p name": (["train", "rls", "-p", "nosuch=1"], "rls has no trainable parameter 'nosuch'"),
    "train -p type": (["train", "rls", "-p", "lr=abc"], "expected a number, got 'abc'"),
    "train -p value": (["train", "rls", "-p", "lr=-1"], "lr must be a positive"),
    "train --epochs": (["train", "rls", "--epochs", "0"], "epochs must be a positive integer, got 0"),
    "train --dataset": (["train", "rls", "--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    "train --split": (["train", "rls", "--split", "bogus"], "split must be one of 'train', 'test'"),
    "train --nproc": (["train", "rls", "--nproc", "0"], "--nproc must be a positive integer, got 0"),
    "train --backbone (rls)": (["train", "rls", "--backbone", "small"], "--backbone applies to crls and maskrcnn only"),
    "train --backbone-weights": (["train", "crls", "--backbone-weights", "/nonexistent.pth"],
                                 "/nonexistent.pth does not exist"),
    "train --dataset-param": (["train", "crls", "--dataset-param", "colour=1"], "dataset 'shapes' has no option"),
    "report RUN_DIR": (["report", "{tmp}/nowhere"], "does not exist"),
    "datasets info": (["datasets", "info", "nosuch"], "unknown dataset 'nosuch'"),
    "datasets verify": (["datasets", "verify", "nosuch"], "unknown dataset 'nosuch'"),
    "datasets verify --regenerate": (["datasets", "verify", "weizmann", "--regenerate", "--root", "{tmp}"],
                                     "--regenerate applies to the generated sets"),
    "datasets build": (["datasets", "build", "weizmann"], "`datasets build` generates synthetic, shapes"),
    "datasets fetch": (["datasets", "fetch", "synthetic"], "`datasets fetch` downloads"),
    "datasets fetch --mirror": (["datasets", "fetch", "weizmann", "--mirror", "ftp://x", "--root", "{tmp}/r"],
                                "download URL must be http(s)"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_every_bad_option_value_exits_2(tmp_path, data_root, monkeypatch, case):
    monkeypatch.setenv("LSBENCH_CACHE", str(tmp_path / "cache"))
    args, needle = BAD_VALUES[case]
    (tmp_path / "file").write_text("x")
    args = [a.replace("{tmp}", str(tmp_path)).replace("{file}", str(tmp_path / "file")) for a in args]
    if args[0] in ("run", "tune", "train") and "--resume" not in args and "--root" not in args:
        args = [*args, "--root", str(data_root)]
    if args[0] == "run" and "--out" not in args and "--resume" not in args:
        args = [*args, "--out", str(tmp_path / "out")]
    res = _cli(args)
    assert res.exit_code == 2 and needle in res.output, res.output
    assert "Usage:" in res.output and not (tmp_path / "out").exists()


def test_a_failure_of_the_work_exits_1(tmp_path, data_root, monkeypatch):
    """Damaged data and a bad preset file are not usage errors: exit 1, as for a failed sample."""
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "cv.toml").write_text("[defaults]\nmu = -1.0\n")
    monkeypatch.setenv("LSBENCH_PRESETS", str(tmp_path / "presets"))
    base = ["run", "--limit", "1", "--no-progress", "--no-figures", "--executor", "local", "--out", str(tmp_path / "o")]
    res = _cli([*base, "--root", str(data_root), "--preset", "default"])
    assert res.exit_code == 1 and "cv.toml" in res.output and "Usage:" not in res.output
    damaged = tmp_path / "data"
    shutil.copytree(data_root / "synthetic", damaged / "synthetic")
    (damaged / "synthetic" / "manifest.json").write_text("{")
    res = _cli([*base, "--root", str(damaged)])
    assert res.exit_code == 1 and "manifest.json: not valid JSON" in res.output and "Usage:" not in res.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["chan_vese_batch", "drlse_batch", "rsf_batch", "lic_batch", "l2s_batch"])
def test_the_batched_torch_backends_refuse_a_complex_image(name):
    import lsbench.torchclassic as torchclassic

    square = _square("c").mask
    with pytest.raises(TypeError, match=r"images\[1\] must be a real array, got dtype complex128"):
        getattr(torchclassic, name)([square.astype(float), 0.5 + 1j * square], max_iter=2, device="cpu")

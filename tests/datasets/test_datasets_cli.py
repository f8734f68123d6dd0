"""`lsbench datasets list|info|verify|build` on fixtures, and `lsbench run` on Weizmann."""

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from lsbench.cli import main
from lsbench.datasets.voc import devkit_dir

from .conftest import copy_of


@pytest.fixture
def runner():
    return CliRunner()


def test_list_shows_every_dataset_and_its_state(runner, voc_fixture):
    root, _ = voc_fixture
    out = runner.invoke(main, ["datasets", "list", "--root", str(root)])
    assert out.exit_code == 0
    for name in ("coco2014", "sbd", "shapes", "synthetic", "voc2012", "weizmann"):
        assert name in out.output
    assert "voc2012     [instance]  present" in out.output and "absent" in out.output


def test_info_describes_splits_and_categories(runner, coco_fixture, tmp_path):
    root, _ = coco_fixture
    out = runner.invoke(main, ["datasets", "info", "coco2014", "--root", str(root)])
    assert out.exit_code == 0, out.output
    assert "val: 3 samples" in out.output and "train: 2 samples" in out.output
    assert "4: 90 toothbrush" in out.output
    missing = runner.invoke(main, ["datasets", "info", "voc2012", "--root", str(tmp_path)])
    assert missing.exit_code == 0 and "val: unavailable" in missing.output and "missing; unpack" in missing.output


def test_verify_exits_non_zero_listing_files(runner, voc_fixture, weizmann_fixture, tmp_path):
    w_root, _ = weizmann_fixture
    ok = runner.invoke(main, ["datasets", "verify", "weizmann", "--root", str(copy_of(w_root, "weizmann", tmp_path / "w"))])
    assert ok.exit_code == 0 and "weizmann: OK" in ok.output and "written with 500 sha256 digests" in ok.output
    v_root, _ = voc_fixture
    root = copy_of(v_root, "voc2012", tmp_path / "v")
    d = devkit_dir(root)
    Image.open(d / "SegmentationObject" / "2008_000008.png").convert("RGB").save(d / "SegmentationObject" / "2008_000008.png")
    (d / "JPEGImages" / "2009_000012.jpg").unlink()
    bad = runner.invoke(main, ["datasets", "verify", "voc2012", "--root", str(root)])
    assert bad.exit_code == 1
    assert "SegmentationObject/2008_000008.png: image mode 'RGB', expected 'P'" in bad.output
    assert "JPEGImages/2009_000012.jpg: missing" in bad.output
    assert "voc2012: 2 problem(s) found" in bad.output and "Traceback" not in bad.output
    absent = runner.invoke(main, ["datasets", "verify", "coco2014", "--root", str(tmp_path / "none")])
    assert absent.exit_code == 1 and "missing; unpack the COCO 2014 zips" in absent.output


def test_info_never_builds(runner, tmp_path):
    """`datasets info` of a generated set that is not there says so and how to build it, and writes nothing."""
    for name, extra in (("synthetic", ["--seed", "5"]), ("shapes", ["--train-images", "2"])):
        out = runner.invoke(main, ["datasets", "info", name, "--root", str(tmp_path / "data"), *extra])
        assert out.exit_code == 0, out.output
        assert f"not built yet: `lsbench datasets build {name} --root {tmp_path / 'data'} {' '.join(extra)}`" \
            in out.output
        assert "samples" not in out.output
    assert not (tmp_path / "data").exists()


def test_build_and_verify_shapes_and_bad_requests(runner, tmp_path):
    args = ["--root", str(tmp_path), "--seed", "3", "--train-images", "2", "--val-images", "1", "--test-images", "1"]
    out = runner.invoke(main, ["datasets", "build", "shapes", *args])
    assert out.exit_code == 0 and "shapes-s3-128px-2-1-1" in out.output
    ok = runner.invoke(main, ["datasets", "verify", "shapes", *args, "--regenerate"])
    assert ok.exit_code == 0 and "regenerated bit-identically" in ok.output
    info = runner.invoke(main, ["datasets", "info", "shapes", *args])
    assert "train: 2 samples" in info.output and "6: 6 ellipse" in info.output
    refused = runner.invoke(main, ["datasets", "build", "voc2012"])
    assert refused.exit_code != 0 and "datasets fetch voc2012" in refused.output
    wrong = runner.invoke(main, ["datasets", "build", "synthetic", "--train-images", "3"])
    assert wrong.exit_code != 0 and "only the shapes set takes split sizes" in wrong.output
    generated = runner.invoke(main, ["datasets", "fetch", "shapes"])
    assert generated.exit_code != 0 and "datasets build shapes" in generated.output


def test_run_chan_vese_on_weizmann_reports_every_gt(runner, weizmann_fixture, tmp_path):
    root, _ = weizmann_fixture
    out = runner.invoke(main, ["run", "--methods", "cv", "--dataset", "weizmann", "--split", "all", "--root", str(root),
                               "--limit", "2", "--out", str(tmp_path), "--run-id", "w", "-p", "cv.max_iter=20",
                               "--dataset-param", "gt=consensus", "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "FM (GT)" in out.output and "FM (GT1)" in out.output and "FM (GT3)" in out.output
    per = pd.read_csv(tmp_path / "w" / "per_sample.csv")
    assert len(per) == 2 and {"f_measure", "f_measure_gt1", "f_measure_gt2", "f_measure_gt3"} <= set(per.columns)

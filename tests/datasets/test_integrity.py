"""The sha256 manifest (first ingest, re-check, rehash) and archive md5 checks."""

import hashlib
import json

from click.testing import CliRunner

from lsbench.cli import main
from lsbench.datasets import voc
from lsbench.datasets.integrity import MANIFEST_NAME, Resource, list_files

from .conftest import copy_of


def test_archive_md5_is_checked_and_kept_out_of_the_manifest(voc_fixture, tmp_path, monkeypatch):
    src, _ = voc_fixture
    root = copy_of(src, "voc2012", tmp_path)
    base = root / "voc2012"
    archive = base / "VOCtrainval_11-May-2012.tar"
    archive.write_bytes(b"pretend archive")
    good = hashlib.md5(b"pretend archive").hexdigest()
    monkeypatch.setattr(voc, "ARCHIVES", (Resource(archive.name, "http://unreachable.invalid/", good),))
    report = voc.verify(root)
    assert report.ok and any("matches the official release" in n for n in report.notes)
    manifest = json.loads((base / MANIFEST_NAME).read_text())
    assert archive.name not in manifest["files"] and len(manifest["files"]) == len(list_files(base, [archive.name]))
    monkeypatch.setattr(voc, "ARCHIVES", (Resource(archive.name, "http://unreachable.invalid/", "f" * 32),))
    assert f"{archive.name}: md5 differs from the official release's {'f' * 32}" in voc.verify(root).problems[0]


def test_rehash_records_a_deliberate_change_and_extra_files_warn(voc_fixture, tmp_path):
    src, _ = voc_fixture
    root = copy_of(src, "voc2012", tmp_path)
    runner = CliRunner()
    args = ["datasets", "verify", "voc2012", "--root", str(root)]
    assert runner.invoke(main, args).exit_code == 0
    seg = root / "voc2012" / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation"
    (seg / "val.txt").write_text("2007_000033\n")
    (seg / "mine.txt").write_text("2007_000033\n")
    changed = runner.invoke(main, args)
    assert changed.exit_code == 1 and "val.txt: sha256 differs from the manifest" in changed.output
    assert "warning:" in changed.output and "mine.txt: not in lsbench-manifest.json" in changed.output
    assert "trainval.txt: is not the union of train.txt and val.txt" in changed.output
    assert runner.invoke(main, [*args, "--rehash"]).exit_code == 0
    again = runner.invoke(main, args)
    assert again.exit_code == 0 and "re-checked" in again.output
    (root / "voc2012" / MANIFEST_NAME).write_text("{broken")
    broken = runner.invoke(main, args)
    assert broken.exit_code == 1 and "lsbench-manifest.json: not valid JSON" in broken.output

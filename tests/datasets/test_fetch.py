"""`lsbench datasets fetch` against a loopback HTTP server serving fixture archives (no real network)."""

import functools
import hashlib
import http.server
import tarfile
import threading
import zipfile

import pytest
from click.testing import CliRunner

from lsbench.cli import main
from lsbench.datasets import DatasetError, fixtures, load, sbd, voc
from lsbench.datasets.fetch import extract
from lsbench.datasets.integrity import Resource


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields (www dir, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def _voc_archive(tmp_path, www):
    truth = fixtures.write_voc2012(tmp_path / "src")
    archive = www / "VOCtrainval_11-May-2012.tar"
    with tarfile.open(archive, "w") as t:
        t.add(tmp_path / "src" / "voc2012" / "VOCdevkit", arcname="VOCdevkit")
    return archive, truth


def test_fetch_downloads_checks_md5_unpacks_and_verifies(tmp_path, server, monkeypatch):
    www, url = server
    archive, truth = _voc_archive(tmp_path, www)
    monkeypatch.setattr(voc, "ARCHIVES", (Resource(archive.name, "http://unreachable.invalid/x.tar", _md5(archive)),))
    dest = tmp_path / "data"
    out = CliRunner().invoke(main, ["datasets", "fetch", "voc2012", "--root", str(dest), "--mirror", url])
    assert out.exit_code == 0, out.output
    assert "fetched and verified" in out.output and "downloaded, md5 checked" in out.output
    base = dest / "voc2012"
    assert (base / "archives" / archive.name).is_file() and (base / "lsbench-manifest.json").is_file()
    s = load("voc2012", root=dest, split="val")[0]
    assert s.instances.labels.tolist() == truth[s.id]["labels"]
    # a second fetch reuses the archive with the right md5 instead of downloading it again
    again = CliRunner().invoke(main, ["datasets", "fetch", "voc2012", "--root", str(dest), "--mirror", url,
                                      "--remove-archives"])
    assert again.exit_code == 0 and "not downloaded again" in again.output
    assert not (base / "archives" / archive.name).exists()


def test_fetch_refuses_an_archive_with_the_wrong_md5(tmp_path, server, monkeypatch):
    www, url = server
    archive, _ = _voc_archive(tmp_path, www)
    monkeypatch.setattr(voc, "ARCHIVES", (Resource(archive.name, "http://unreachable.invalid/x.tar", "0" * 32),))
    dest = tmp_path / "data"
    out = CliRunner().invoke(main, ["datasets", "fetch", "voc2012", "--root", str(dest), "--mirror", url])
    assert out.exit_code != 0 and "is not the official 000" in out.output and "Traceback" not in out.output
    assert not (dest / "voc2012" / "VOCdevkit").exists()
    assert not list((dest / "voc2012").rglob("*.part"))
    missing = CliRunner().invoke(main, ["datasets", "fetch", "voc2012", "--root", str(dest), "--mirror", url + "/nope"])
    assert missing.exit_code != 0 and "download failed" in missing.output


def test_fetch_sbd_archive_plus_split_files(tmp_path, server, monkeypatch):
    www, url = server
    truth = fixtures.write_sbd(tmp_path / "src")
    archive = www / "benchmark.tgz"
    with tarfile.open(archive, "w:gz") as t:
        t.add(tmp_path / "src" / "sbd" / "benchmark_RELEASE", arcname="benchmark_RELEASE")
    md5s = fixtures.write_sds_splits(www, ["2008_000002", "2010_000050"], ["2008_000009"])
    (www / "train_noval.txt").write_bytes((www / "train.txt").read_bytes())
    monkeypatch.setattr(sbd, "ARCHIVES", (
        Resource("benchmark.tgz", "http://unreachable.invalid/b.tgz", _md5(archive)),
        Resource("train_noval.txt", "http://unreachable.invalid/t.txt", md5s["train"], extract=False, dest="sds/train.txt"),
        Resource("val.txt", "http://unreachable.invalid/v.txt", md5s["val"], extract=False, dest="sds/val.txt")))
    monkeypatch.setitem(sbd.SDS_SPLITS, "train", (md5s["train"], 2))
    monkeypatch.setitem(sbd.SDS_SPLITS, "val", (md5s["val"], 1))
    dest = tmp_path / "data"
    out = CliRunner().invoke(main, ["datasets", "fetch", "sbd", "--root", str(dest), "--mirror", url])
    assert out.exit_code == 0, out.output
    ds = load("sbd", root=dest, split="train")
    assert ds.ids() == ["2008_000002", "2010_000050"]
    assert ds[1].instances.labels.tolist() == truth["2010_000050"]["labels"]


def test_extract_refuses_members_outside_the_folder(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("../evil.txt", "x")
    with pytest.raises(DatasetError, match="would unpack outside"):
        extract(bad, tmp_path / "into")
    assert not (tmp_path / "evil.txt").exists()
    bad_tar = tmp_path / "bad.tar"
    with tarfile.open(bad_tar, "w") as t:
        info = tarfile.TarInfo("../evil.txt")
        t.addfile(info, fileobj=None)
    with pytest.raises(DatasetError, match="unsafe member"):
        extract(bad_tar, tmp_path / "into")
    assert not (tmp_path / "evil.txt").exists()

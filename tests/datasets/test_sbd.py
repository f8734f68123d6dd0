"""SBD: .mat structs read by field name, sparse boundaries, SBD and SDS/MNC splits, verify."""

import hashlib

import numpy as np
import pytest
import scipy.io as sio

from lsbench.datasets import DatasetError, fixtures, load, sbd
from lsbench.datasets.sbd import SBDDataset, read_sds_split, release_dir, verify

from .conftest import copy_of


def test_fixture_keeps_the_real_field_order(sbd_fixture):
    root, _ = sbd_fixture
    d = release_dir(root)
    cls = sio.loadmat(d / "cls" / "2008_000002.mat")["GTcls"]
    inst = sio.loadmat(d / "inst" / "2008_000002.mat")["GTinst"]
    assert cls.dtype.names == ("Boundaries", "Segmentation", "CategoriesPresent")
    assert inst.dtype.names == ("Segmentation", "Boundaries", "Categories")
    # positional access means different things in the two structs: a reader must use names
    assert cls[0][0][0].shape == (20, 1) and inst[0][0][0].ndim == 2


def test_decodes_instances_labels_and_sparse_boundaries(sbd_fixture):
    root, truth = sbd_fixture
    for split, n in (("train", 3), ("val", 2)):
        ds = load("sbd", root=root, split=split, protocol="sbd", boundaries=True)
        assert len(ds) == n and ds.kind == "instance"
        for s in ds:
            t = truth[s.id]
            np.testing.assert_array_equal(s.instances.masks, t["masks"])
            assert s.instances.labels.tolist() == t["labels"]
            np.testing.assert_array_equal(s.meta["boundaries"], t["boundaries"])
            assert s.meta["boundaries"].any()
    assert ds.categories.name_of(20) == "tvmonitor"
    gt = sbd.read_gtcls((release_dir(root) / "cls" / "2008_000003.mat").read_bytes(), release_dir(root) / "cls" / "x.mat",
                        boundaries=True)
    np.testing.assert_array_equal(gt["segmentation"], truth["2008_000003"]["class_mask"])
    assert gt["boundaries"].shape[0] == 20


def test_shipped_sds_split_files_are_the_official_ones(tmp_path):
    train, val = read_sds_split(tmp_path, "train"), read_sds_split(tmp_path, "val")
    assert len(train) == 5623 and len(val) == 5732
    assert not set(train) & set(val)
    assert train[0] == "2008_000008" and val[0] == "2008_000002"
    path = sbd.sds_split_file(tmp_path, "train")
    assert hashlib.md5(path.read_bytes()).hexdigest() == "79bff800c5f0b1ec6b21080a3c066722"


def test_sds_protocol_reads_split_files_and_checks_their_md5(sbd_fixture, tmp_path, monkeypatch):
    src, truth = sbd_fixture
    root = copy_of(src, "sbd", tmp_path)
    md5s = fixtures.write_sds_splits(root / "sbd" / "sds", ["2008_000003", "2011_001000"], ["2008_000009"])
    # a local split file that is not the official one is refused, naming it
    with pytest.raises(DatasetError, match=r"sds/train.txt: md5 .* is not the official SDS/MNC train split"):
        SBDDataset(root, "train")
    monkeypatch.setitem(sbd.SDS_SPLITS, "train", (md5s["train"], 2))
    monkeypatch.setitem(sbd.SDS_SPLITS, "val", (md5s["val"], 1))
    ds = SBDDataset(root, "train")
    assert ds.ids() == ["2008_000003", "2011_001000"]
    np.testing.assert_array_equal(ds[1].instances.masks, truth["2011_001000"]["masks"])
    # an SDS id absent from the copy is a verify problem naming the file and the split
    fixtures.write_sds_splits(root / "sbd" / "sds", ["2008_000003", "2011_001000"], ["2008_000009", "2009_004444"])
    monkeypatch.setitem(sbd.SDS_SPLITS, "val", (hashlib.md5(b"2008_000009\n2009_004444\n").hexdigest(), 2))
    problems = "\n".join(verify(root).problems)
    assert "dataset/img/2009_004444.jpg: missing (id listed in val.txt (SDS))" in problems


def _fixture_sds_splits(root, monkeypatch):
    """SDS split files over the fixture's ids, standing in for the official ones."""
    md5s = fixtures.write_sds_splits(root / "sbd" / "sds", ["2008_000002", "2008_000003", "2010_000050"],
                                     ["2008_000009", "2011_001000"])
    monkeypatch.setitem(sbd.SDS_SPLITS, "train", (md5s["train"], 3))
    monkeypatch.setitem(sbd.SDS_SPLITS, "val", (md5s["val"], 2))


def test_verify_checks_every_sds_id_against_the_copy(sbd_fixture, tmp_path):
    src, _ = sbd_fixture
    root = copy_of(src, "sbd", tmp_path)
    # the shipped (official) SDS lists name 11,355 images; the 5-image fixture lacks almost all
    problems = verify(root).problems
    assert len(problems) > 11000
    assert "benchmark_RELEASE/dataset/img/2008_000008.jpg: missing (id listed in train.txt (SDS))" in problems


def test_verify_reports_damaged_mat_files(sbd_fixture, tmp_path, monkeypatch):
    src, _ = sbd_fixture
    root = copy_of(src, "sbd", tmp_path)
    _fixture_sds_splits(root, monkeypatch)
    report = verify(root)
    assert report.ok, report.problems
    d = release_dir(root)
    (d / "cls" / "2008_000009.mat").unlink()
    bad = {"GTinst": {"Segmentation": np.ones((16, 20), np.uint8), "Boundaries": np.empty((1, 1), object),
                      "Categories": np.array([[33]], np.uint8)}}
    bad["GTinst"]["Boundaries"][0, 0] = np.zeros((16, 20))
    sio.savemat(d / "inst" / "2008_000002.mat", bad)
    (d / "inst" / "2010_000050.mat").write_bytes(b"MATLAB 5.0 truncated")
    problems = "\n".join(verify(root).problems)
    assert "dataset/cls/2008_000009.mat: missing (id listed in val.txt)" in problems
    assert "dataset/inst/2008_000002.mat: GTinst.Categories [33] out of range 1..20" in problems
    assert "dataset/inst/2010_000050.mat: not a readable MATLAB file" in problems
    with pytest.raises(DatasetError, match="2008_000002.mat"):
        SBDDataset(root, "train", protocol="sbd")[0]

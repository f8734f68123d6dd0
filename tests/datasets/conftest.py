"""Tiny datasets in the exact real formats, written once per session by lsbench.datasets.fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lsbench.datasets import fixtures


@pytest.fixture(scope="session")
def weizmann_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("weizmann")
    return root, fixtures.write_weizmann(root)


@pytest.fixture(scope="session")
def voc_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("voc")
    return root, fixtures.write_voc2012(root)


@pytest.fixture(scope="session")
def sbd_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("sbd")
    return root, fixtures.write_sbd(root)


@pytest.fixture(scope="session")
def coco_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("coco")
    return root, {"val": fixtures.write_coco2014(root, split="val"),
                  "train": fixtures.write_coco2014(root, split="train", n_images=2, seed=5)}


def copy_of(src_root: Path, name: str, dest_root: Path) -> Path:
    """A private copy of ``src_root/name`` under ``dest_root`` (tests damage copies, never the fixture)."""
    shutil.copytree(src_root / name, dest_root / name)
    return dest_root

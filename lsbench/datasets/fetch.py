"""Download the official archives of a dataset, check their md5 and unpack them (``lsbench datasets fetch``).

Nothing in lsbench downloads at run time: loaders only read what is on disk. This module is the
one explicit way to get the real sets, for users whose machine can reach the dataset hosts:

1. each archive of the dataset's ``ARCHIVES`` is streamed to ``<dataset dir>/archives/<name>.part``,
   hashed on the way, and renamed into place only when its md5 equals the official one (a
   mismatch deletes it and raises, naming the file and the URL); an archive already present with
   the right md5 is not downloaded again;
2. it is unpacked into a temporary folder beside the dataset (tar members are filtered with
   Python's ``"data"`` filter, zip members must stay inside the folder), then its top-level
   entries are moved into the dataset folder;
3. ``verify`` runs, which writes the sha256 manifest on this first ingest.

``mirror`` replaces the host: ``<mirror>/<archive name>`` (a local copy of the archives, and how
the tests exercise this module against a loopback HTTP server).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from lsbench.datasets.integrity import ARCHIVE_DIR, Report, Resource
from lsbench.datasets.io import DatasetError, md5_file

__all__ = ["download", "extract", "fetch_resources"]

CHUNK = 1 << 20


def download(url: str, dest: Path, md5: str | None, *, timeout: float = 60.0, progress: bool = False) -> Path:
    """Stream ``url`` to ``dest`` (via ``dest.part``), checking ``md5`` before renaming into place."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"download URL must be http(s), got {url!r}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h = hashlib.md5(usedforsecurity=False)
    done = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0)
            while block := response.read(CHUNK):
                f.write(block)
                h.update(block)
                done += len(block)
                if progress and total:
                    print(f"\r  {dest.name}: {done / 1e6:.1f} / {total / 1e6:.1f} MB", end="", file=sys.stderr)
        if progress and total:
            print(file=sys.stderr)
    except (urllib.error.URLError, OSError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise OSError(f"{url}: download failed ({reason})") from None
    digest = h.hexdigest()
    if md5 is not None and digest != md5:
        part.unlink(missing_ok=True)
        raise DatasetError(f"{dest.name}: md5 {digest} of the file downloaded from {url} is not the official {md5}; "
                           "deleted (retry, or check the URL / mirror)")
    os.replace(part, dest)
    return dest


def _safe_zip_members(archive: zipfile.ZipFile, name: str) -> None:
    for member in archive.namelist():
        p = Path(member)
        if p.is_absolute() or ".." in p.parts:
            raise DatasetError(f"{name}: member {member!r} would unpack outside the dataset folder; refusing")


def extract(archive: Path, into: Path) -> list[str]:
    """Unpack a tar(.gz) or zip ``archive`` into ``into`` (via a temporary folder); returns the
    top-level entries moved into place (an existing entry of the same name is replaced)."""
    into.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".lsbench-extract-", dir=into))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                _safe_zip_members(z, archive.name)
                z.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as t:
                try:
                    t.extractall(tmp, filter="data")
                except tarfile.FilterError as exc:
                    raise DatasetError(f"{archive.name}: unsafe member refused ({exc})") from None
        else:
            raise DatasetError(f"{archive}: neither a zip nor a tar archive")
        moved = []
        for entry in sorted(tmp.iterdir()):
            target = into / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(entry, target)
            moved.append(entry.name)
        return moved
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_resources(name: str, base: Path, resources: tuple[Resource, ...], *, mirror: str | None = None,
                    keep_archives: bool = True, timeout: float = 60.0, progress: bool = True) -> dict[str, Any]:
    """Download, check and unpack ``resources`` of dataset ``name`` into ``base``.

    Returns ``{"downloaded": [...], "reused": [...], "extracted": {archive: [entries]}}``.
    """
    out: dict[str, Any] = {"downloaded": [], "reused": [], "extracted": {}}
    for res in resources:
        url = res.url if mirror is None else f"{mirror.rstrip('/')}/{res.filename}"
        dest = base / ARCHIVE_DIR / res.filename if res.extract else base / (res.dest or res.filename)
        if dest.is_file() and res.md5 is not None and md5_file(dest) == res.md5:
            out["reused"].append(res.filename)
        else:
            if progress:
                print(f"lsbench: downloading {url} ({res.size or 'size unknown'}) ...", file=sys.stderr)
            download(url, dest, res.md5, timeout=timeout, progress=progress)
            out["downloaded"].append(res.filename)
        if res.extract:
            out["extracted"][res.filename] = extract(dest, base)
            if not keep_archives:
                dest.unlink()
    return out


def fetch_report(name: str, report: Report, fetched: dict[str, Any]) -> Report:
    """Add what ``fetch_resources`` did to a verification report."""
    for f in fetched["downloaded"]:
        report.notes.insert(0, f"{f}: downloaded, md5 checked")
    for f in fetched["reused"]:
        report.notes.insert(0, f"{f}: already present with the official md5, not downloaded again")
    for f, entries in fetched["extracted"].items():
        report.notes.append(f"{f}: unpacked {', '.join(entries)}")
    return report

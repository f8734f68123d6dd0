"""Download the official archives of a dataset, check their md5 and unpack them (``lsbench datasets fetch``).

Nothing in lsbench downloads at run time: loaders only read what is on disk. This module is the
one explicit way to get the real sets, for users whose machine can reach the dataset hosts:

1. each archive of the dataset's ``ARCHIVES`` is streamed to ``<dataset dir>/archives/<name>.part``,
   hashed on the way, and renamed into place only when all of it arrived (as many bytes as the
   server's ``Content-Length``) within ``timeout`` seconds for the *whole* download, and its md5
   equals the official one (a mismatch, a truncated body or a timeout deletes it and raises,
   naming the file and the URL); an archive already present with the right md5 is not
   downloaded again;
2. it is unpacked into a temporary folder beside the dataset (tar members are filtered with
   Python's ``"data"`` filter, zip members must stay inside the folder, and no member may
   replace the folder's own ``archives/`` or manifest), then its top-level entries are moved
   into the dataset folder;
3. ``verify`` runs, which writes the sha256 manifest on this first ingest.

``mirror`` replaces the host: ``<mirror>/<archive name>`` (a local copy of the archives, and how
the tests exercise this module against a loopback HTTP server).
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import math
import os
import shutil
import socket
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Any

from lsbench.datasets.integrity import ARCHIVE_DIR, MANIFEST_NAME, Report, Resource
from lsbench.datasets.io import DatasetError, md5_file

__all__ = ["check_timeout", "download", "extract", "fetch_resources"]

CHUNK = 1 << 20
#: top-level names of a dataset folder that belong to lsbench, never to an archive's contents
RESERVED_NAMES = (ARCHIVE_DIR, MANIFEST_NAME)


def check_timeout(timeout: float) -> float:
    """``timeout`` as a float; a ``ValueError`` unless it is a positive, finite number of seconds."""
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}") from None
    if isinstance(timeout, bool) or not (value > 0 and math.isfinite(value)):
        raise ValueError(f"timeout must be a positive, finite number of seconds, got {timeout!r}")
    return value


class _Deadline:
    """Cuts every socket opened through it when ``seconds`` have passed since it was made.

    ``urlopen``'s own timeout bounds each blocking socket call, not the transfer: a server that
    sends a byte per second never trips it. At the deadline a timer shuts the connections down,
    which wakes any read blocked on them; :attr:`expired` then tells the caller why.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                self._shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def cancel(self) -> None:
        self._timer.cancel()

    def opener(self) -> urllib.request.OpenerDirector:
        """A urllib opener (proxies and redirects as usual) whose connections this deadline can cut."""
        deadline = self

        class _HTTPConnection(http.client.HTTPConnection):
            def connect(self) -> None:
                super().connect()
                deadline.add(self.sock)

        class _HTTPSConnection(http.client.HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                deadline.add(self.sock)

        class _HTTPHandler(urllib.request.HTTPHandler):
            def http_open(self, req: urllib.request.Request) -> Any:
                return self.do_open(_HTTPConnection, req)

        class _HTTPSHandler(urllib.request.HTTPSHandler):
            def https_open(self, req: urllib.request.Request) -> Any:
                return self.do_open(functools.partial(_HTTPSConnection, context=self._context), req)

        return urllib.request.build_opener(_HTTPHandler, _HTTPSHandler)


def download(url: str, dest: Path, md5: str | None, *, timeout: float = 60.0, progress: bool = False) -> Path:
    """Stream ``url`` to ``dest`` (via ``dest.part``), checking it before renaming into place.

    ``timeout`` (seconds) bounds the whole download, connecting included. The body must be as
    long as the server's ``Content-Length`` (when it sends one) and, when ``md5`` is given, have
    that md5. Anything else deletes the partial file and raises (``OSError`` for the network,
    :class:`DatasetError` for a truncated or wrong file), naming the URL.
    """
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"download URL must be http(s), got {url!r}")
    timeout = check_timeout(timeout)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h = hashlib.md5(usedforsecurity=False)
    done = total = 0
    started = time.monotonic()
    deadline = _Deadline(timeout)
    try:
        with deadline.opener().open(url, timeout=timeout) as response, open(part, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0)
            while block := response.read1(CHUNK):
                f.write(block)
                h.update(block)
                done += len(block)
                if progress and total:
                    print(f"\r  {dest.name}: {done / 1e6:.1f} / {total / 1e6:.1f} MB", end="", file=sys.stderr)
                if time.monotonic() - started > timeout:
                    break
        if progress and total:
            print(file=sys.stderr)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        part.unlink(missing_ok=True)
        if deadline.expired:
            raise OSError(f"{url}: download did not finish within --timeout {timeout:g} s "
                          f"({done} bytes received); deleted") from None
        reason = getattr(exc, "reason", None) or exc
        raise OSError(f"{url}: download failed ({reason})") from None
    finally:
        deadline.cancel()
    if deadline.expired or time.monotonic() - started > timeout:
        part.unlink(missing_ok=True)
        raise OSError(f"{url}: download did not finish within --timeout {timeout:g} s "
                      f"({done} of {total or 'an unknown number of'} bytes received); deleted")
    if total and done != total:
        part.unlink(missing_ok=True)
        raise DatasetError(f"{dest.name}: the download from {url} is truncated ({done} of the {total} bytes "
                           "the server announced); deleted (retry, or check the URL / mirror)")
    digest = h.hexdigest()
    if md5 is not None and digest != md5:
        part.unlink(missing_ok=True)
        raise DatasetError(f"{dest.name}: md5 {digest} of the file downloaded from {url} is not the official {md5}; "
                           "deleted (retry, or check the URL / mirror)")
    os.replace(part, dest)
    return dest


def _check_member(name: str, member: str) -> None:
    """Refuse a member that would land outside the folder or replace lsbench's own files there."""
    p = Path(member)
    if p.is_absolute() or ".." in p.parts:
        raise DatasetError(f"{name}: member {member!r} would unpack outside the dataset folder; refusing")
    _check_reserved(name, member)


def _check_reserved(name: str, member: str) -> None:
    """Refuse a member that would replace the dataset folder's ``archives/`` or manifest."""
    parts = [x for x in Path(member).parts if x not in ("", ".", "/")]
    if parts and parts[0] in RESERVED_NAMES:
        raise DatasetError(f"{name}: member {member!r} would replace the dataset folder's own {parts[0]} "
                           f"(lsbench's downloaded archives and manifest); refusing this archive")


def _safe_zip_members(archive: zipfile.ZipFile, name: str) -> None:
    for member in archive.namelist():
        _check_member(name, member)


def extract(archive: Path, into: Path) -> list[str]:
    """Unpack a tar(.gz) or zip ``archive`` into ``into`` (via a temporary folder); returns the
    top-level entries moved into place (an existing entry of the same name is replaced)."""
    into.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".lsbench-extract-", dir=into))
    try:
        if zipfile.is_zipfile(archive):
            try:
                with zipfile.ZipFile(archive) as z:
                    _safe_zip_members(z, archive.name)
                    z.extractall(tmp)
            except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
                raise DatasetError(f"{archive}: the zip archive is truncated or damaged ({exc}); delete it "
                                   "and fetch again") from None
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as t:
                try:
                    for member in t.getnames():  # escapes are refused by the "data" filter below
                        _check_reserved(archive.name, member)
                    t.extractall(tmp, filter="data")
                except tarfile.FilterError as exc:
                    raise DatasetError(f"{archive.name}: unsafe member refused ({exc})") from None
                except (tarfile.ReadError, EOFError, zlib.error) as exc:
                    raise DatasetError(f"{archive}: the tar archive is truncated or damaged ({exc}); delete it "
                                       "and fetch again") from None
        else:
            raise DatasetError(f"{archive}: neither a complete zip nor a tar archive (a truncated or damaged "
                               "download?); delete it and fetch again")
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

    ``timeout`` bounds each download as a whole (:func:`download`). An archive without an official
    md5 that does not unpack is deleted, so a damaged download is never kept.

    Returns ``{"downloaded": [...], "reused": [...], "extracted": {archive: [entries]}}``.
    """
    timeout = check_timeout(timeout)
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
            try:
                out["extracted"][res.filename] = extract(dest, base)
            except DatasetError:
                if res.md5 is None:  # nothing vouches for this file: do not keep a damaged download
                    dest.unlink(missing_ok=True)
                raise
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

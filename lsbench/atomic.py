"""Atomic writes that honour the umask: the one place where lsbench writes a file or a folder.

Every writer in lsbench (run directories, reports, checkpoints and training states, datasets,
presets, the performance report) goes through this module, so that

* a file or folder is **never half written**: it is written under a temporary name beside its
  final path (``.<name>.<random>.tmp``, hidden, in the same folder and so on the same file
  system) and renamed into place (:func:`os.replace`, atomic on POSIX); on any error, or an
  interrupt, the temporary is removed and the old file, if any, is left as it was;
* files are created with mode ``0o666 & ~umask`` and folders with ``0o777 & ~umask``, like
  ``open(path, "w")`` and ``mkdir``: 0644 / 0755 under the usual umask 022, so colleagues and Dask
  workers running as another user can read a run. (:func:`tempfile.mkstemp` and
  :func:`tempfile.mkdtemp`, which the earlier helpers used, create 0600 / 0700 whatever the
  umask.) The umask is never read or changed: the kernel applies it when the temporary is
  created with :func:`os.open` / :func:`os.mkdir`;
* the data reach the disk before the rename (``fsync``), so a crash never leaves an empty file
  under the final name.

Writers that take a file name (``torch.save``, ``DataFrame.to_csv``, ``Figure.savefig``) write
to the temporary path that :func:`atomic_file` yields; writers that would append an extension
to a name (``numpy.savez``) are given the open file instead (``open(tmp, "wb")``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_dir", "atomic_file", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]

_ATTEMPTS = 100


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def _create_temp_file(path: Path) -> tuple[int, Path]:
    """Create a new, empty temporary file beside ``path`` (mode 0o666 less the umask); return (fd, path)."""
    for _ in range(_ATTEMPTS):
        tmp = _temp_name(path)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")  # pragma: no cover - 48 random bits


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prepare(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise IsADirectoryError(f"{path} is a directory, not a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without error, rename it to ``path``.

    The temporary file exists (empty, mode ``0o666 & ~umask``) when the block starts; a writer
    that replaces its contents keeps that mode. The parent folders of ``path`` are created
    (``0o777 & ~umask``). On an error the temporary is deleted and ``path`` is untouched.

    Parameters
    ----------
    path : path
        The final file name.
    fsync : bool
        Flush the file to disk before the rename (default).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with atomic_file(Path(folder) / "numbers.csv") as tmp:
    ...         _ = tmp.write_text("a,b\\n1,2\\n")
    ...     sorted(p.name for p in Path(folder).iterdir())  # no temporary left
    ['numbers.csv']
    """
    path = _prepare(path)
    fd, tmp = _create_temp_file(path)
    os.close(fd)
    try:
        yield tmp
        if fsync:
            _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_file`); return the path.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     atomic_write_bytes(Path(folder) / "sub" / "blob.bin", b"\\x00\\x01").read_bytes()
    b'\\x00\\x01'
    """
    path = _prepare(path)
    fd, tmp = _create_temp_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8",
                      fsync: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically (no newline translation); return the path.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     atomic_write_text(Path(folder) / "table.md", "| a |\\n").read_text()
    '| a |\\n'
    """
    return atomic_write_bytes(path, text.encode(encoding), fsync=fsync)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2,
                      fsync: bool = True) -> Path:
    """Write ``obj`` as JSON (``indent`` spaces, then a newline) to ``path`` atomically; return the path.

    Examples
    --------
    >>> import json, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = atomic_write_json(Path(folder) / "config.json", {"method": "cv", "mu": 0.25})
    ...     json.loads(path.read_text())
    {'method': 'cv', 'mu': 0.25}
    """
    return atomic_write_text(path, json.dumps(obj, indent=indent) + "\n", fsync=fsync)


def _create_temp_dir(path: Path) -> Path:
    for _ in range(_ATTEMPTS):
        tmp = _temp_name(path)
        try:
            os.mkdir(tmp, 0o777)
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")  # pragma: no cover - 48 random bits


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, replace: bool = False) -> Iterator[Path]:
    """Yield a new temporary folder beside ``path``; when the block ends without error, rename it to ``path``.

    The folder is created with mode ``0o777 & ~umask``, as are the parents of ``path``. On an
    error the temporary folder and everything in it is deleted. An existing ``path`` is an error
    (``FileExistsError``, raised when the block ends), unless ``replace``: then the old folder is
    moved aside, the new one renamed into place, and the old one deleted.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> parent = Path(folder.name)
    >>> with atomic_dir(parent / "dataset") as tmp:
    ...     _ = (tmp / "images.txt").write_text("a.png\\n")
    >>> sorted(p.name for p in (parent / "dataset").iterdir())
    ['images.txt']
    >>> with atomic_dir(parent / "dataset", replace=True) as tmp:
    ...     _ = (tmp / "other.txt").write_text("b\\n")
    >>> sorted(p.name for p in (parent / "dataset").iterdir()), sorted(p.name for p in parent.iterdir())
    (['other.txt'], ['dataset'])
    >>> folder.cleanup()
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp_dir(path)
    try:
        yield tmp
        if path.exists() or path.is_symlink():
            if not replace:
                raise FileExistsError(f"{path} already exists")
            old = _create_temp_dir(path)
            os.replace(path, old / "old")
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old / "old", path)  # put the old folder back
                old.rmdir()
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

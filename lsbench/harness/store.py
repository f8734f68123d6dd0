"""The result store of a run: an append-only file of checksummed records, one per finished sample.

Every sample a method finishes (or fails on) becomes one *record* (a JSON object built by
:func:`lsbench.harness.work.execute_unit`): its key ``(method, params_hash, dataset, split,
sample_id)``, the per-sample row, and the prediction payload the reports need (a bit-packed mask
or COCO detections). The run's tables and files are computed from the store alone, so a run that
was interrupted and resumed ends exactly like one that was not.

File format (``records.jsonl`` in the run directory, and ``extras.jsonl`` for the side records:
figure samples, convergence traces, batched throughput), one line per record::

    <sha256 of the JSON text, 64 hex digits> <JSON text>\\n

Each line is written with a single ``write`` on a file opened ``O_APPEND`` and then ``fsync``'d,
so a record is either entirely on disk or not at all, except the last line of a process killed
mid-write (SIGKILL, power loss). Such a *torn tail* (no newline, or a checksum that does not
match) is detected on opening and discarded; a damaged line anywhere else is an error naming
the file and line, never silently skipped. A key is stored at most once: :meth:`ResultStore.append`
refuses a key the store already holds.

Only one process writes a store: opening it for writing takes an exclusive ``flock`` (released
by the kernel when the process dies, so a killed run can be resumed at once), and a second
writer gets an error instead of interleaving records. A store opened for writing must be a
regular file: a symbolic link is refused (``O_NOFOLLOW``), never followed to append elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lsbench.rundir import RunDirError

__all__ = ["RecordKey", "ResultStore", "StoreError", "record_key"]

RecordKey = tuple[str, ...]
_KEY_FIELDS = ("method", "params_hash", "dataset", "split", "sample_id")


class StoreError(RunDirError):
    """The store is damaged, or another process is writing it."""


def record_key(record: dict[str, Any]) -> RecordKey:
    """``(method, params_hash, dataset, split, sample_id)`` of a record; a side record (a figure sample,
    a trace, a throughput measurement, kept in ``extras.jsonl``) names its kind first:
    ``(record, method, params_hash, dataset, split, sample_id)``."""
    try:
        key = record["key"]
        fields = tuple(str(key[f]) for f in _KEY_FIELDS)
        return (str(key["record"]), *fields) if "record" in key else fields
    except (KeyError, TypeError):
        raise ValueError(f"a record needs key fields {', '.join(_KEY_FIELDS)}; got {record!r:.200}") from None


def _encode(record: dict[str, Any]) -> bytes:
    text = json.dumps(record, separators=(",", ":"), allow_nan=True).encode()
    if b"\n" in text:  # json.dumps escapes newlines in strings; this cannot happen
        raise ValueError("a record's JSON text contains a newline")
    return hashlib.sha256(text).hexdigest().encode() + b" " + text + b"\n"


def _decode(line: bytes) -> dict[str, Any] | None:
    """The record of one complete line, or None when the line is damaged."""
    if len(line) < 66 or line[64:65] != b" " or not line.endswith(b"\n"):
        return None
    digest, text = line[:64], line[65:-1]
    if hashlib.sha256(text).hexdigest().encode() != digest:
        return None
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


class ResultStore:
    """The records of one run, on disk (``path``) or in memory (``path=None``).

    Parameters
    ----------
    path : path or None
        The store file (created when missing). ``None`` keeps the records in memory only (runs
        without an output directory).
    writable : bool
        Open for appending: takes the writer lock and cuts off a torn tail. A read-only store
        ignores a torn tail without touching the file.

    Raises
    ------
    StoreError
        A damaged line other than the last, or another process holding the writer lock.
    """

    def __init__(self, path: str | os.PathLike[str] | None, *, writable: bool = True) -> None:
        self.path = None if path is None else Path(path)
        self.writable = writable
        self._records: dict[RecordKey, dict[str, Any]] = {}
        self._fd: int | None = None
        self.discarded_tail = 0  # bytes of a torn last line that were dropped
        if self.path is None:
            return
        if writable:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW,
                                   0o666)  # less the umask
            except OSError:
                if self.path.is_symlink():
                    raise StoreError(f"{self.path} is a symbolic link; lsbench appends results only to a "
                                     "regular file in the run directory and does not follow it") from None
                raise
            try:
                import fcntl
                import stat

                if not stat.S_ISREG(os.fstat(self._fd).st_mode):
                    raise StoreError(f"{self.path} is not a regular file; lsbench appends results only to one")
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._fd)
                self._fd = None
                raise StoreError(f"{self.path} is being written by another lsbench process; "
                                 "wait for it to finish (or stop it) before resuming") from None
            except BaseException:
                os.close(self._fd)
                self._fd = None
                raise
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    # -- reading ------------------------------------------------------------------------------------
    def _load(self) -> None:
        assert self.path is not None
        if self._fd is not None:  # read the file that was opened (and locked), not whatever the path names now
            chunks, offset = [], 0
            while chunk := os.pread(self._fd, 1 << 20, offset):
                chunks.append(chunk)
                offset += len(chunk)
            data = b"".join(chunks)
        else:
            data = self.path.read_bytes() if self.path.exists() else b""
        offset, lineno = 0, 0
        while offset < len(data):
            end = data.find(b"\n", offset)
            line = data[offset:] if end < 0 else data[offset:end + 1]
            lineno += 1
            record = _decode(line)
            last = end < 0 or end + 1 == len(data)
            if record is None:
                if last:  # a torn tail: the write of this record never completed
                    self.discarded_tail = len(line)
                    if self.writable and self._fd is not None:
                        os.ftruncate(self._fd, offset)
                        os.fsync(self._fd)
                    break
                raise StoreError(f"{self.path}: line {lineno} is damaged (checksum or JSON); the store "
                                 "was modified by something other than lsbench")
            key = record_key(record)
            if key in self._records:
                raise StoreError(f"{self.path}: line {lineno} repeats the record {key}")
            self._records[key] = record
            offset += len(line)

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, key: object) -> bool:
        return key in self._records

    def keys(self) -> list[RecordKey]:
        """Keys in the order they were stored."""
        return list(self._records)

    def records(self) -> Iterator[dict[str, Any]]:
        """Records in the order they were stored."""
        return iter(self._records.values())

    def get(self, key: RecordKey) -> dict[str, Any] | None:
        return self._records.get(key)

    # -- writing ------------------------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> None:
        """Store ``record`` durably (written and fsync'd before returning).

        Raises
        ------
        ValueError
            The store already holds a record with this key (a result is never stored twice).
        """
        if not self.writable:
            raise StoreError(f"{self.path} was opened read-only")
        key = record_key(record)
        if key in self._records:
            raise ValueError(f"the store already holds a record for {key}; refusing a duplicate")
        line = _encode(record)
        # the record stored in memory is the one decoded from the line, so a run's tables are the
        # same whether its records come from this session or from the file
        decoded = _decode(line)
        assert decoded is not None
        if self._fd is not None:
            view = memoryview(line)
            try:
                while view:
                    n = os.write(self._fd, view)
                    view = view[n:]
                os.fsync(self._fd)
            except OSError as exc:  # e.g. a full disk: say which file (a torn line is cut off on resume)
                raise OSError(exc.errno, exc.strerror, str(self.path)) from None
        self._records[key] = decoded

    def close(self) -> None:
        """Release the writer lock (the records stay readable)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Integrity of datasets on disk: verification reports, archive md5s and the sha256 manifest.

Every dataset lsbench reads but does not generate (Weizmann, VOC 2012, SBD, COCO 2014) gets a
manifest ``<dataset dir>/lsbench-manifest.json`` written the first time ``lsbench datasets verify``
(or ``fetch``) finds the copy structurally sound: the sha256 of every file under the dataset
folder. Later verifications re-check every digest, and the loaders check each file they read
against it, so a file damaged after ingest raises an error naming it instead of returning wrong
data. Archives (``archives/<name>`` or ``<name>`` in the dataset folder) are checked against the
md5 that downstream loaders record for the official releases (``../shared/reference/datasets.md``
section 0).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsbench.atomic import atomic_write_json
from lsbench.datasets.io import DatasetError, md5_file, sha256_file

__all__ = [
    "ARCHIVE_DIR",
    "MANIFEST_NAME",
    "Report",
    "Resource",
    "check_archives",
    "finish_verification",
    "list_files",
    "manifest_digests",
    "open_checked",
    "read_manifest",
    "write_manifest",
]

MANIFEST_NAME = "lsbench-manifest.json"
MANIFEST_VERSION = 1
#: sub-folder of a dataset folder where ``lsbench datasets fetch`` keeps the downloaded archives
ARCHIVE_DIR = "archives"


@dataclass(frozen=True)
class Resource:
    """One downloadable file of a dataset.

    ``md5`` is ``None`` where no checksum of the official file is known (Weizmann); ``extract``
    says whether the file is an archive to unpack into the dataset folder (else it is copied to
    ``dest``, relative to the dataset folder).
    """

    filename: str
    url: str
    md5: str | None
    extract: bool = True
    dest: str = ""
    size: str = ""


@dataclass
class Report:
    """What ``verify`` found: ``problems`` (the copy is unusable or damaged: exit non-zero),
    ``warnings`` (unusual but usable) and ``notes`` (what was checked). Every entry starts with
    the file it concerns, relative to ``directory``."""

    name: str
    directory: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, where: str | os.PathLike[str], what: str) -> None:
        self.problems.append(f"{self.relative(where)}: {what}")

    def warn(self, where: str | os.PathLike[str], what: str) -> None:
        self.warnings.append(f"{self.relative(where)}: {what}")

    def relative(self, where: str | os.PathLike[str]) -> str:
        """``where`` relative to the dataset folder (as problems name files)."""
        p = Path(where)
        if p.is_absolute():
            try:
                return p.relative_to(self.directory).as_posix() or "."
            except ValueError:
                return str(p)
        return p.as_posix()


def list_files(directory: Path, exclude: Iterable[str] = ()) -> list[str]:
    """Every regular file under ``directory`` (relative posix paths, sorted), except the manifest,
    the ``archives/`` folder, lsbench's own temporary files (``.*.tmp``) and the top-level files
    named in ``exclude`` (official archives kept beside the data)."""
    exclude = set(exclude)
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(directory):
        rel_dir = Path(dirpath).relative_to(directory)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d != ARCHIVE_DIR and not d.startswith(".lsbench-")]
        dirnames.sort()
        for f in filenames:
            if rel_dir == Path(".") and (f == MANIFEST_NAME or f in exclude):
                continue
            if f.startswith(".") and f.endswith(".tmp"):
                continue
            out.append((rel_dir / f).as_posix())
    return sorted(out)


def write_manifest(directory: Path, name: str, files: Iterable[str] | None = None,
                   exclude: Iterable[str] = ()) -> Path:
    """Hash every file (or ``files``) under ``directory`` and write the manifest atomically."""
    rels = list_files(directory, exclude) if files is None else sorted(files)
    digests = {rel: sha256_file(directory / rel) for rel in rels}
    path = directory / MANIFEST_NAME
    atomic_write_json(path, {"name": name, "format_version": MANIFEST_VERSION,
                             "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                             "algorithm": "sha256", "files": digests}, indent=1)
    return path


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of ``directory``, ``None`` if there is none; a damaged one is a :class:`DatasetError`."""
    path = directory / MANIFEST_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc}); delete it and re-run `lsbench datasets verify`") from None
    if not isinstance(data, dict) or data.get("format_version") != MANIFEST_VERSION or not isinstance(data.get("files"), dict):
        raise DatasetError(f"{path}: not an lsbench manifest (format {MANIFEST_VERSION}); delete it and re-run "
                           "`lsbench datasets verify`")
    return data


def manifest_digests(directory: Path) -> dict[str, str]:
    """``{relative path: sha256}`` from the manifest, empty if there is none (loaders check reads against it)."""
    manifest = read_manifest(directory)
    return dict(manifest["files"]) if manifest else {}


def check_archives(directory: Path, resources: Iterable[Resource], report: Report) -> None:
    """md5 of every official archive present in ``directory/archives/`` or ``directory``."""
    for res in resources:
        for candidate in (directory / ARCHIVE_DIR / res.filename, directory / res.filename):
            if not candidate.is_file():
                continue
            if res.md5 is None:
                report.notes.append(f"{report.relative(candidate)}: present (no published checksum to compare)")
            elif md5_file(candidate) != res.md5:
                report.problem(candidate, f"md5 differs from the official release's {res.md5} "
                                          "(incomplete download or a different file)")
            else:
                report.notes.append(f"{report.relative(candidate)}: md5 {res.md5} matches the official release")
            break


def finish_verification(report: Report, rehash: bool = False, archives: Iterable[Resource] = ()) -> None:
    """Re-check the sha256 manifest, or write it on first ingest when the copy is sound.

    With ``rehash=True`` a sound copy's manifest is rewritten (after a deliberate change).
    ``archives`` kept at the top of the dataset folder are left out (their md5 is checked instead).
    """
    exclude = [a.filename for a in archives if a.extract]
    directory = report.directory
    try:
        manifest = read_manifest(directory)
    except DatasetError as exc:
        report.problems.append(str(exc))
        return
    if manifest is not None and not rehash:
        digests: dict[str, str] = manifest["files"]
        for rel, digest in digests.items():
            path = directory / rel
            if not path.is_file():
                report.problem(rel, "missing (listed in the sha256 manifest)")
            elif sha256_file(path) != digest:
                report.problem(rel, "sha256 differs from the manifest written at first ingest (file modified or damaged)")
        extra = sorted(set(list_files(directory, exclude)) - set(digests))
        for rel in extra[:20]:
            report.warn(rel, f"not in {MANIFEST_NAME} (added after the first ingest; `--rehash` records it)")
        if len(extra) > 20:
            report.warnings.append(f"... and {len(extra) - 20} more files not in {MANIFEST_NAME}")
        report.notes.append(f"{MANIFEST_NAME}: {len(digests)} sha256 digests re-checked")
        return
    if report.problems:
        report.notes.append(f"{MANIFEST_NAME}: not written, fix the problems above first")
        return
    try:
        write_manifest(directory, report.name, exclude=exclude)
    except OSError as exc:
        report.warnings.append(f"{MANIFEST_NAME}: could not be written ({exc.strerror or exc}); "
                               "the copy is checked structurally only")
        return
    n = len(read_manifest(directory)["files"])  # type: ignore[index]
    report.notes.append(f"{MANIFEST_NAME}: written with {n} sha256 digests (first ingest); later runs re-check them")


def open_checked(report: Report, path: Path, modes: Iterable[str], *, load: bool = True) -> Any:
    """Open an image for verification; record a problem naming ``path`` (missing, unreadable, wrong
    mode) and return ``None`` on failure, else the Pillow image (pixels decoded when ``load``)."""
    from PIL import Image

    modes = tuple(modes)
    if not path.is_file():
        report.problem(path, "missing")
        return None
    try:
        im = Image.open(path)
        if load:
            im.load()
    except Exception as exc:
        report.problem(path, f"not a readable image ({exc})")
        return None
    if im.mode not in modes:
        report.problem(path, f"image mode {im.mode!r}, expected {' or '.join(repr(m) for m in modes)}")
        return None
    return im

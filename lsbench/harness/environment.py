"""What a run records about where it ran: package versions, git commit, machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["checkout_dir", "cpu_name", "environment", "git_commit", "package_versions", "uncommitted_changes"]

_PACKAGES = ("lsbench", "numpy", "scipy", "scikit-image", "pillow", "pandas", "matplotlib", "click",
             "torch", "torchvision", "pycocotools")


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str | None]:
    """Installed versions (from package metadata: nothing is imported, so torch stays unloaded)."""
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in (*_PACKAGES, *extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def checkout_dir() -> Path | None:
    """The git checkout lsbench runs from (the folder holding ``lsbench/``), or None for an installed copy."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / ".git").exists() else None


def git_commit(checkout: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of ``checkout`` (default: the one lsbench runs from), if any."""
    here = checkout_dir() if checkout is None else Path(checkout)
    if here is None:
        return None
    try:
        sha = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha, "dirty": dirty}


def uncommitted_changes(checkout: str | os.PathLike[str] | None = None) -> tuple[list[str], str] | None:
    """``(files, diff_sha256)``: the tracked files of ``checkout`` (default: the one lsbench runs
    from) that differ from its commit (``git status --porcelain``, untracked files left out) and
    the sha256 of ``git diff HEAD`` (``""`` when there are none); None outside a git checkout."""
    import hashlib

    here = checkout_dir() if checkout is None else Path(checkout)
    if here is None:
        return None
    try:
        status = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=30, check=True).stdout
        files = [line[3:].strip() for line in status.splitlines() if line.strip()]
        if not files:
            return [], ""
        diff = subprocess.run(["git", "-C", str(here), "diff", "--binary", "HEAD"], capture_output=True,
                              timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return files, hashlib.sha256(diff).hexdigest()


def environment() -> dict[str, Any]:
    return {
        "versions": package_versions(),
        "git": git_commit(),
        "machine": {
            "cpu": cpu_name(),
            "logical_cores": os.cpu_count(),
            "platform": platform.platform(),
        },
    }

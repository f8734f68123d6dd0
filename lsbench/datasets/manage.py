"""What ``lsbench datasets list|info|verify|build|fetch`` do, per dataset (the CLI stays thin).

Each dataset module provides ``dataset_dir(root)`` and ``verify(root, ...) -> Report``; the
real sets also provide ``ARCHIVES`` (official downloads) and the generated ones a builder.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from lsbench.datasets.integrity import MANIFEST_NAME, Report

__all__ = ["BUILDABLE", "FETCHABLE", "MODULES", "build", "describe", "fetch", "location", "status", "verify"]

MODULES = {
    "synthetic": "lsbench.datasets.synthetic",
    "weizmann": "lsbench.datasets.weizmann",
    "voc2012": "lsbench.datasets.voc",
    "sbd": "lsbench.datasets.sbd",
    "coco2014": "lsbench.datasets.coco",
    "shapes": "lsbench.datasets.shapes",
    "folder": "lsbench.datasets.folder",
}
BUILDABLE = ("synthetic", "shapes")
FETCHABLE = ("weizmann", "voc2012", "sbd", "coco2014")
#: datasets whose --root is the dataset folder itself (the user's own images), not a folder of datasets
USER_FOLDERS = ("folder",)
#: what ``datasets build`` of a generated set costs (said by ``datasets info``, which never builds)
BUILD_COST = {"synthetic": "720 images, a few seconds, about 14 MB",
              "shapes": "2700 images at the default sizes, about 20 s, about 100 MB"}
#: splits listed by ``info`` (the loaders accept these)
SPLITS = {"synthetic": ("train", "test"), "weizmann": ("train", "test", "all"), "voc2012": ("train", "val", "trainval"),
          "sbd": ("train", "val"), "coco2014": ("train", "val"), "shapes": ("train", "val", "test"),
          "folder": ("all",)}


def _module(name: str, action: str) -> Any:
    from lsbench.registry import DATASETS

    DATASETS.get(name)  # unknown names: an error listing the valid ones
    if name not in MODULES:
        raise ValueError(f"`datasets {action}` knows lsbench's built-in datasets ({', '.join(MODULES)}), not {name!r}")
    return importlib.import_module(MODULES[name])


def _shapes_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k in ("seed", "size", "train_images", "val_images", "test_images")}


def location(name: str, root: str | os.PathLike[str] | None, **params: Any) -> Path:
    """The folder the dataset lives in under ``root``."""
    module = _module(name, "info")
    if name == "synthetic":
        return module.dataset_dir(root, params.get("seed", module.DEFAULT_SEED))
    if name == "shapes":
        kw = _shapes_kwargs(params)
        counts = {k: kw.get(f"{k}_images", v) for k, v in module.DEFAULT_COUNTS.items()}
        return module.dataset_dir(root, kw.get("seed", module.DEFAULT_SEED), kw.get("size", module.DEFAULT_SIZE), counts)
    return module.dataset_dir(root)


def status(name: str, root: str | os.PathLike[str] | None) -> str:
    """One word or phrase for ``datasets list``: where it is and whether a manifest exists."""
    if name in USER_FOLDERS:
        if root is None:
            return "your own images: give --root DIR (a folder holding images/)"
        where = location(name, root)
        return f"present ({where})" if (where / "images").is_dir() else f"absent (no {where / 'images'})"
    where = location(name, root)
    if not where.exists():
        return f"absent ({where})"
    manifest = "manifest.json" if name in BUILDABLE else MANIFEST_NAME
    if (where / manifest).is_file():
        return f"present, manifest ({where})"
    return f"present, not yet verified ({where})"


def verify(name: str, root: str | os.PathLike[str] | None, *, rehash: bool = False, regenerate: bool = False,
           **params: Any) -> Report:
    """Run the dataset's checks; see each module's ``verify``."""
    module = _module(name, "verify")
    if name == "synthetic":
        seed = params.get("seed", module.DEFAULT_SEED)
        report = Report("synthetic", module.dataset_dir(root, seed))
        report.problems.extend(module.verify_synthetic(root, seed=seed, regenerate=regenerate))
        if regenerate and not report.problems:
            report.notes.append("regenerated bit-identically")
        return report
    if name == "shapes":
        return module.verify(root, regenerate=regenerate, **_shapes_kwargs(params))
    if regenerate:
        raise ValueError(f"--regenerate applies to the generated sets ({', '.join(BUILDABLE)}), not {name!r}")
    if name in USER_FOLDERS:
        module.dataset_dir(root)  # a one-line error without --root
    return module.verify(root, rehash=rehash)


def build(name: str, root: str | os.PathLike[str] | None, *, force: bool = False, **params: Any) -> Path:
    """Generate a set lsbench builds itself (synthetic, shapes)."""
    module = _module(name, "build")
    if name in USER_FOLDERS:
        raise ValueError(f"{name!r} reads your own images (--root DIR); there is nothing to build")
    if name == "synthetic":
        return module.build_synthetic(root, seed=params.get("seed", module.DEFAULT_SEED), force=force)
    if name == "shapes":
        return module.build_shapes(root, force=force, **_shapes_kwargs(params))
    raise ValueError(f"`datasets build` generates {', '.join(BUILDABLE)}; {name!r} is read from its official "
                     f"archives: `lsbench datasets fetch {name}` (see README)")


def fetch(name: str, root: str | os.PathLike[str] | None, *, mirror: str | None = None, keep_archives: bool = True,
          timeout: float = 60.0, progress: bool = True) -> Report:
    """Download, md5-check and unpack the official archives, then verify (writing the manifest)."""
    from lsbench.datasets.fetch import fetch_report, fetch_resources

    module = _module(name, "fetch")
    if name in USER_FOLDERS:
        raise ValueError(f"{name!r} reads your own images (--root DIR); there is nothing to fetch")
    if name not in FETCHABLE:
        raise ValueError(f"`datasets fetch` downloads {', '.join(FETCHABLE)}; {name!r} is generated: "
                         f"`lsbench datasets build {name}`")
    base = module.dataset_dir(root)
    fetched = fetch_resources(name, base, module.ARCHIVES, mirror=mirror, keep_archives=keep_archives,
                              timeout=timeout, progress=progress)
    return fetch_report(name, module.verify(root), fetched)


def build_command(name: str, root: str | os.PathLike[str] | None, **params: Any) -> str:
    """The ``lsbench datasets build`` command that generates ``name`` with these options."""
    import shlex

    module = _module(name, "build")
    args = ["lsbench", "datasets", "build", name, *(["--root", str(root)] if root is not None else [])]
    if params.get("seed", module.DEFAULT_SEED) != module.DEFAULT_SEED:
        args += ["--seed", str(params["seed"])]
    for key in ("train_images", "val_images", "test_images"):
        if params.get(key) is not None:
            args += [f"--{key.replace('_', '-')}", str(params[key])]
    return shlex.join(args)


def describe(name: str, root: str | os.PathLike[str] | None, **params: Any) -> list[str]:
    """Lines for ``datasets info``: summary, location, per split its size (or why it is unavailable).

    Never builds anything: a generated set that is not built yet is described as such, with the
    command that builds it.
    """
    from lsbench.datasets import load
    from lsbench.datasets.io import DatasetError
    from lsbench.registry import DATASETS

    entry = DATASETS.get(name)
    lines = [f"{name} [{entry.kind}]: {entry.summary}"]
    if name in MODULES:
        lines.append(f"  location: {location(name, root, **params)}")
    if name in BUILDABLE and not (location(name, root, **params) / "manifest.json").is_file():
        lines.append(f"  not built yet: `{build_command(name, root, **params)}` generates it ({BUILD_COST[name]}); "
                     "`lsbench run` also builds it on first use")
        return lines
    categories = None
    version = None
    for split in SPLITS.get(name, ("test",)):
        try:
            ds = load(name, root=root, split=split, **params)
        except (DatasetError, OSError) as exc:
            lines.append(f"  {split}: unavailable ({exc})")
            continue
        groups: dict[str, int] = {}
        for item in getattr(ds, "_items", []):
            if isinstance(item, dict) and item.get("family"):
                groups[item["family"]] = groups.get(item["family"], 0) + 1
        lines.append(f"  {split}: {len(ds)} samples at {ds.root}" + (f"  {groups}" if groups else ""))
        if hasattr(ds, "contents"):
            lines.append(f"  contents: {ds.contents()}")
        categories = getattr(ds, "categories", categories)
        version = getattr(ds, "version", version)
    if version is not None:
        lines.append(f"  version: {version}")
    if categories is not None:
        lines.append(f"  categories ({len(categories)}, label: id name): "
                     + ", ".join(f"{c.label}: {c.id} {c.name}" for c in categories))
    return lines

"""lsbench's synthetic/medical set: 20 base scenes x 36 variants = 720 images (360 / 360).

The chapter (Le et al., section 6.1.1) built 720 images by degrading and affinely transforming
about 20 figures of Chan & Vese (2001) and Li et al. (2008). Those figures are not
redistributable, so lsbench draws its own 20 scenes (:mod:`lsbench.datasets.scenes`) with exact
ground truth, 10 feeding the train split and 10 the test split (split by source scene, so no
scene leaks), and renders each in 36 variants: 6 geometric ops (identity, rotation,
translation, scale, flip, a combined affine map) x 6 degradations (low/high Gaussian noise,
speckle, salt-and-pepper, Poisson, blur + noise), :mod:`lsbench.datasets.augment`.

The set is versioned (:data:`VERSION`, written into ``manifest.json`` and exposed as
``SyntheticDataset.version`` and in its ``spec()``, which a run's ``config.json`` records). A
version changes whenever the same seed renders other images:

* version 1: the first scenes; on the 360 test images a global Otsu threshold scored 82.4 % F,
  83.2 % on the "inhomogeneous" family, whose bias fields left the object globally separable.
* version 2: the inhomogeneous and vessel scenes are redrawn so that their bias fields defeat a
  global threshold (:mod:`lsbench.datasets.scenes`); the other 13 scenes are unchanged.

A folder built by another version is refused with a one-line error telling to rebuild it.

On disk (built on first use, atomically)::

    <root>/synthetic/
      manifest.json                   version, seed, size, library versions, one record per item
      sources/<scene>.png, <scene>_mask.png
      {train,test}/images/<id>.png    8-bit grey ("L")
      {train,test}/masks/<id>.png     palette ("P"): 0 background, 1 object

Each manifest record holds the scene, the ops with their parameters, the seed of its random
stream, the sha256 of both files and ``init_box``: the dataset-chosen initial region
(the ground-truth bounding box grown by ``INIT_MARGIN`` of the side), so that every method
starts alike. Every file read is checked against its sha256.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from lsbench.atomic import atomic_dir, atomic_write_json
from lsbench.datasets.augment import apply_ops, variant_ops
from lsbench.datasets.base import Dataset
from lsbench.datasets.io import (
    DatasetError,
    decode_gray_png,
    decode_palette_png,
    default_root,
    encode_gray_png,
    encode_palette_png,
    sha256_bytes,
    sha256_file,
)
from lsbench.datasets.scenes import SCENES, render_scene
from lsbench.levelset.validate import check_int, check_nonnegative_int
from lsbench.types import Sample

__all__ = ["FORMAT_VERSION", "VERSION", "SyntheticDataset", "build_synthetic", "verify_synthetic"]

#: layout of the folder and its manifest (file names, record fields)
FORMAT_VERSION = 1
#: version of the set's content: which images the scenes and the seed render (module docstring)
VERSION = 2
_REBUILD = "rebuild with `lsbench datasets build synthetic --force`"
DEFAULT_SEED = 2019
DEFAULT_SIZE = 128
VARIANTS = 36
INIT_MARGIN = 0.08
SPLITS = ("train", "test")


def dataset_dir(root: str | os.PathLike[str] | None, seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE) -> Path:
    base = Path(root).expanduser() if root is not None else default_root()
    suffix = "" if (seed, size) == (DEFAULT_SEED, DEFAULT_SIZE) else f"-s{seed}-{size}px"
    return base / f"synthetic{suffix}"


def _init_box(mask: np.ndarray, margin: float) -> list[int]:
    h, w = mask.shape
    rows = np.flatnonzero(mask.any(1))
    cols = np.flatnonzero(mask.any(0))
    m = max(2, round(margin * max(h, w)))
    return [max(0, int(cols[0]) - m), max(0, int(rows[0]) - m), min(w, int(cols[-1]) + 1 + m), min(h, int(rows[-1]) + 1 + m)]


def _render_item(scene_index: int, variant: int, seed: int, size: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    scene = SCENES[scene_index]
    base_img, base_mask = render_scene(scene, seed, scene_index, size)
    stream = [seed, scene_index, 1 + variant]
    rng = np.random.default_rng(stream)
    ops = variant_ops(variant, rng, size)
    img, mask = apply_ops(base_img, base_mask, ops, rng)
    if not mask.any():  # pragma: no cover - guarded by scene margins
        raise RuntimeError(f"{scene.name} variant {variant}: the object left the image")
    img8 = np.round(img * 255.0).astype(np.uint8)
    record = {"scene": scene.name, "family": scene.family, "variant": variant, "ops": ops, "seed": stream,
              "init_box": _init_box(mask, INIT_MARGIN)}
    return img8, mask, record


def _versions() -> dict[str, str]:
    import PIL
    import scipy
    import skimage

    return {"python": sys.version.split()[0], "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit-image": skimage.__version__, "pillow": PIL.__version__, "platform": platform.platform()}


def _generate(seed: int, size: int) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Render every file in memory: (manifest, relative path -> bytes)."""
    files: dict[str, bytes] = {}
    items: list[dict[str, Any]] = []
    for si, scene in enumerate(SCENES):
        src_img, src_mask = render_scene(scene, seed, si, size)
        files[f"sources/{scene.name}.png"] = encode_gray_png(np.round(src_img * 255).astype(np.uint8))
        files[f"sources/{scene.name}_mask.png"] = encode_palette_png(src_mask.astype(np.uint8))
        for v in range(VARIANTS):
            img8, mask, rec = _render_item(si, v, seed, size)
            item_id = f"{scene.name}-{v:02d}"
            img_path = f"{scene.split}/images/{item_id}.png"
            mask_path = f"{scene.split}/masks/{item_id}.png"
            files[img_path] = encode_gray_png(img8)
            files[mask_path] = encode_palette_png(mask.astype(np.uint8))
            items.append({"id": item_id, "split": scene.split, **rec, "image": img_path, "mask": mask_path,
                          "sha256_image": sha256_bytes(files[img_path]), "sha256_mask": sha256_bytes(files[mask_path])})
    manifest = {
        "name": "synthetic", "format_version": FORMAT_VERSION, "version": VERSION, "seed": seed, "size": size,
        "variants_per_scene": VARIANTS, "init_margin": INIT_MARGIN,
        "scenes": [{"name": s.name, "family": s.family, "split": s.split, "description": s.description} for s in SCENES],
        "generator": _versions(),
        "sources": {p: sha256_bytes(b) for p, b in files.items() if p.startswith("sources/")},
        "items": items,
    }
    return manifest, files


def build_synthetic(root: str | os.PathLike[str] | None = None, *, seed: int = DEFAULT_SEED,
                    size: int = DEFAULT_SIZE, force: bool = False) -> Path:
    """Generate the set under ``<root>/synthetic`` (atomically: a temp dir renamed into place).

    An existing, complete set is kept unless ``force``. Returns the dataset directory.
    """
    check_nonnegative_int("seed", seed)
    check_int("size", size, minimum=32, maximum=1024)
    target = dataset_dir(root, seed, size)
    if (target / "manifest.json").is_file() and not force:
        _read_manifest(target)  # a set of another version is an error, never kept silently
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    manifest, files = _generate(seed, size)
    with atomic_dir(target, replace=True) as tmp:
        for rel, data in files.items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        atomic_write_json(tmp / "manifest.json", manifest, indent=1)
    return target


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing; build the set with `lsbench datasets build synthetic`") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc}); {_REBUILD}") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION or "items" not in manifest:
        found = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise DatasetError(f"{path}: format version {found!r} is not {FORMAT_VERSION}; {_REBUILD}")
    version = manifest.get("version", 1)  # version 1 manifests had no "version" field
    if version != VERSION:
        raise DatasetError(f"{path}: the synthetic set on disk is version {version!r}, this lsbench reads "
                           f"version {VERSION}; {_REBUILD}")
    return manifest


def verify_synthetic(root: str | os.PathLike[str] | None = None, *, seed: int = DEFAULT_SEED,
                     size: int = DEFAULT_SIZE, regenerate: bool = False) -> list[str]:
    """Check the set on disk; return a list of problems (empty when intact).

    Checks the manifest, item counts per split, the presence and sha256 of every file, and, with
    ``regenerate=True``, that regenerating from the seed reproduces every file bit for bit.
    """
    directory = dataset_dir(root, seed, size)
    try:
        manifest = _read_manifest(directory)
    except DatasetError as exc:
        return [str(exc)]
    problems: list[str] = []
    items = manifest["items"]
    expected = len(SCENES) * VARIANTS
    if len(items) != expected:
        problems.append(f"manifest.json lists {len(items)} items, expected {expected}")
    for split in SPLITS:
        n = sum(1 for it in items if it["split"] == split)
        if n != expected // 2:
            problems.append(f"split {split!r} has {n} items, expected {expected // 2}")
    checks = [(it["image"], it["sha256_image"]) for it in items] + [(it["mask"], it["sha256_mask"]) for it in items]
    checks += list(manifest.get("sources", {}).items())
    for rel, digest in checks:
        path = directory / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif sha256_file(path) != digest:
            problems.append(f"{rel}: sha256 mismatch (file modified or damaged)")
    if regenerate:
        fresh, files = _generate(manifest["seed"], manifest["size"])
        for rel, data in files.items():
            path = directory / rel
            if path.is_file() and path.read_bytes() != data:
                problems.append(f"{rel}: differs from the file regenerated from seed {manifest['seed']}")
        if [it["ops"] for it in fresh["items"]] != [it["ops"] for it in items]:
            problems.append("manifest ops differ from those regenerated from the seed")
    return problems


class SyntheticDataset(Dataset):
    """One split of the synthetic/medical set (built on first use).

    Parameters
    ----------
    root : path, optional
        Parent folder; the set lives in ``<root>/synthetic``. Defaults to
        :func:`lsbench.datasets.io.default_root`.
    split : {"train", "test"}
    seed, size : int
        Generator seed and image side (the defaults give the reference set).
    families : sequence of str, optional
        Keep only these scene families (``piecewise``, ``inhomogeneous``, ``vessel``, ``cells``,
        ``mri``, ``holes``).
    build : bool
        Build the set when it is missing (default); otherwise raise :class:`DatasetError`.
    version : int, optional
        The set version the caller expects (a run's ``config.json`` records it); anything but
        :data:`VERSION` is a ``ValueError``. ``None`` takes the current version.

    Attributes
    ----------
    version : int
        The set's version (:data:`VERSION`), also in :meth:`params` and so in ``spec()``.
    """

    name = "synthetic"
    kind = "binary"
    gt_names = ("gt",)

    def __init__(self, root: str | os.PathLike[str] | None = None, split: str = "test", *,
                 seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE, families: Any = None,
                 build: bool = True, version: int | None = None) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))} for the synthetic set; got {split!r}")
        if version is not None and (isinstance(version, bool) or version != VERSION):
            raise ValueError(f"version: this lsbench builds and reads synthetic set version {VERSION}, "
                             f"not {version!r} (results of another version are not comparable)")
        self.version = VERSION
        self.split = split
        self.seed, self.size = seed, size
        self.directory = dataset_dir(root, seed, size)
        self.root = self.directory.parent
        if build and not (self.directory / "manifest.json").is_file():
            print(f"lsbench: building the synthetic set (720 images) in {self.directory} ...", file=sys.stderr)
            build_synthetic(self.root, seed=seed, size=size)
        self.manifest = _read_manifest(self.directory)
        all_families = sorted({s["family"] for s in self.manifest["scenes"]})
        if isinstance(families, str):
            families = [f for f in families.split("+") if f]
        if families is not None:
            unknown = sorted(set(families) - set(all_families))
            if unknown:
                raise ValueError(f"families: unknown {unknown}; valid families: {', '.join(all_families)}")
        self.families = tuple(sorted(families)) if families is not None else None
        self._items = [it for it in self.manifest["items"] if it["split"] == split
                       and (self.families is None or it["family"] in self.families)]

    def __len__(self) -> int:
        return len(self._items)

    def ids(self) -> list[str]:
        return [it["id"] for it in self._items]

    def groups(self) -> list[str]:
        return [it["family"] for it in self._items]

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version}
        if (self.seed, self.size) != (DEFAULT_SEED, DEFAULT_SIZE):
            out.update(seed=self.seed, size=self.size)
        if self.families is not None:
            out["families"] = "+".join(self.families)
        return out

    def item_digests(self) -> list[tuple[str, str]]:
        return [(it["id"], it["sha256_image"] + it["sha256_mask"]) for it in self._items]

    def _read_checked(self, rel: str, digest: str) -> bytes:
        path = self.directory / rel
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise DatasetError(f"{path}: missing; run `lsbench datasets verify synthetic` "
                               "or rebuild with `lsbench datasets build synthetic --force`") from None
        if sha256_bytes(data) != digest:
            raise DatasetError(f"{path}: sha256 mismatch, the file was modified or damaged; "
                               "rebuild with `lsbench datasets build synthetic --force`")
        return data

    def _load(self, index: int) -> Sample:
        it = self._items[index]
        image = decode_gray_png(self._read_checked(it["image"], it["sha256_image"]), it["image"])
        labels = decode_palette_png(self._read_checked(it["mask"], it["sha256_mask"]), it["mask"])
        if labels.shape != image.shape:
            raise DatasetError(f"{self.directory / it['mask']}: size {labels.shape} differs from its image {image.shape}")
        x1, y1, x2, y2 = it["init_box"]
        init = np.zeros(image.shape, bool)
        init[y1:y2, x1:x2] = True
        meta = {"scene": it["scene"], "family": it["family"], "variant": it["variant"], "ops": it["ops"],
                "init_box": it["init_box"]}
        return Sample(id=it["id"], image=image, mask=labels == 1,
                      init=init, meta=meta)

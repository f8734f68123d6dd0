"""lsbench's multi-instance "shapes" set, generated deterministically and stored in COCO format.

The chapter's instance experiments (PASCAL VOC / SBD, COCO) need a GPU-scale detector; "shapes"
is the CPU-scale stand-in on which a small CRLS (a Faster R-CNN-style detector with an RLS mask
head on a small conv backbone) can be trained and scored on a 2-core machine. Each 128 x 128 RGB
image holds 1-8 instances of 6 classes — disk, square, triangle, star, ring (with a hole),
ellipse — of varied size (radius 7-24 px) and rotation, each with its own colour and texture
(flat, stripes, checker or mottled), on a textured background, under a smooth multiplicative
intensity inhomogeneity (a random quadratic bias field, +-10-35 %), a slight blur and Gaussian
noise. About 40 % of the instances after the first are placed against an existing one, so
objects touch and occlude; instances are painted back to front and each annotation is the
*visible* part (occluders update the masks of the instances below). An instance stays only while
at least 30 % (and 25 px) of it is visible.

Sizes: 2000 train / 200 val / 500 test images (9,041 / 829 / 2,249 instances with the default
seed, 4.5 per image, 38.5 % of them partly occluded; 102 MB of PNGs, built in about 20 s). 2000
training images of 128 px are a few epochs' work for a small detector on a CPU in tens of
minutes; 200 validation images suffice for early stopping and 500 test images give mask AP with
a standard error of about a point. ``train_images`` etc. make smaller variants (tests).

On disk (built on first use, atomically: a temporary folder renamed into place)::

    <root>/shapes/manifest.json                    seed, sizes, versions, sha256 of every file
    <root>/shapes/annotations/instances_<split>.json   COCO instances (compressed-RLE masks)
    <root>/shapes/<split>/<split>_<i:06d>.png      RGB images

Masks are stored as compressed RLE (exact, and rings have holes, which COCO polygons cannot
express); pycocotools and lsbench's COCO reader decode them identically. Every item is
reproducible from ``(seed, split, index)``; the set regenerates bit-identically on the same
library versions (``lsbench datasets verify shapes --regenerate``).
"""

from __future__ import annotations

import io
import json
import os
import platform
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lsbench.atomic import atomic_dir, atomic_write_json
from lsbench.datasets.coco import CocoFormatDataset, check_coco_split
from lsbench.datasets.integrity import Report
from lsbench.datasets.io import (
    DatasetError,
    default_root,
    sha256_bytes,
    sha256_file,
)
from lsbench.levelset.validate import check_int, check_nonnegative_int, check_positive_int

__all__ = ["CLASSES", "DEFAULT_COUNTS", "ShapesDataset", "build_shapes", "dataset_dir", "render_image", "verify"]

FORMAT_VERSION = 1
DEFAULT_SEED = 2019
DEFAULT_SIZE = 128
CLASSES = ("disk", "square", "triangle", "star", "ring", "ellipse")  # category ids 1..6
DEFAULT_COUNTS = {"train": 2000, "val": 200, "test": 500}
SPLITS = ("train", "val", "test")
MAX_INSTANCES = 8
MIN_VISIBLE_FRACTION = 0.3
MIN_VISIBLE_PIXELS = 25
TOUCH_PROBABILITY = 0.4


def _counts(train_images: int, val_images: int, test_images: int) -> dict[str, int]:
    counts = {"train": train_images, "val": val_images, "test": test_images}
    for k, v in counts.items():
        check_positive_int(f"{k}_images", v)
    return counts


def dataset_dir(root: str | os.PathLike[str] | None, seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE,
                counts: dict[str, int] | None = None) -> Path:
    base = Path(root).expanduser() if root is not None else default_root()
    counts = counts or DEFAULT_COUNTS
    if (seed, size, counts) == (DEFAULT_SEED, DEFAULT_SIZE, DEFAULT_COUNTS):
        return base / "shapes"
    return base / f"shapes-s{seed}-{size}px-{counts['train']}-{counts['val']}-{counts['test']}"


# -- rendering ---------------------------------------------------------------------------------------
def _smooth_field(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Smooth random texture in [-1, 1]."""
    from scipy import ndimage

    f = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return f / max(float(np.abs(f).max()), 1e-12)


def _texture(rng: np.random.Generator, size: int, yy: np.ndarray, xx: np.ndarray) -> tuple[str, np.ndarray]:
    kind = ("flat", "stripes", "checker", "mottled")[int(rng.integers(0, 4))]
    if kind == "flat":
        return kind, np.zeros((size, size))
    if kind == "mottled":
        return kind, _smooth_field(rng, size, float(rng.uniform(1.5, 3.0)))
    period = float(rng.uniform(4.0, 10.0))
    phi = float(rng.uniform(0, np.pi))
    u = xx * np.cos(phi) + yy * np.sin(phi)
    if kind == "stripes":
        return kind, np.sin(2 * np.pi * u / period)
    v = -xx * np.sin(phi) + yy * np.cos(phi)
    return kind, np.sign(np.sin(2 * np.pi * u / period) * np.sin(2 * np.pi * v / period))


def _shape_mask(spec: dict[str, Any], size: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    from skimage.draw import polygon2mask

    cy, cx, r, th = spec["cy"], spec["cx"], spec["r"], spec["theta"]
    dx, dy = xx - cx, yy - cy
    u = dx * np.cos(th) + dy * np.sin(th)
    v = -dx * np.sin(th) + dy * np.cos(th)
    kind = spec["class"]
    if kind == "disk":
        return u * u + v * v <= r * r
    if kind == "ellipse":
        return (u / r) ** 2 + (v / (r * spec["aspect"])) ** 2 <= 1.0
    if kind == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8 * r
    if kind == "ring":
        d2 = u * u + v * v
        return (d2 <= r * r) & (d2 >= (spec["inner"] * r) ** 2)
    if kind == "triangle":
        angles, radii = th + np.arange(3) * 2 * np.pi / 3, np.full(3, r)
    else:  # star: 5 points, alternating outer / inner radius
        angles = th + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, r, spec["inner"] * r)
    vertices = np.stack([cy + radii * np.sin(angles), cx + radii * np.cos(angles)], axis=1)
    return polygon2mask((size, size), vertices)


def _draw_spec(rng: np.random.Generator, size: int, placed: list[dict[str, Any]]) -> dict[str, Any]:
    kind = CLASSES[int(rng.integers(0, len(CLASSES)))]
    scale = size / 128.0
    r = float(rng.uniform(7.0, 24.0)) * scale
    spec: dict[str, Any] = {"class": kind, "r": round(r, 3), "theta": round(float(rng.uniform(0, 2 * np.pi)), 4)}
    if kind == "ellipse":
        spec["aspect"] = round(float(rng.uniform(0.45, 0.8)), 3)
    elif kind == "ring":
        spec["inner"] = round(float(rng.uniform(0.45, 0.65)), 3)
    elif kind == "star":
        spec["inner"] = round(float(rng.uniform(0.4, 0.55)), 3)
    if placed and rng.random() < TOUCH_PROBABILITY:  # against an existing object: touching or occluding
        other = placed[int(rng.integers(0, len(placed)))]
        dist = (r + other["r"]) * float(rng.uniform(0.55, 1.0))
        a = float(rng.uniform(0, 2 * np.pi))
        cy, cx = other["cy"] + dist * np.sin(a), other["cx"] + dist * np.cos(a)
    else:
        cy, cx = rng.uniform(r, size - r, 2)
    spec.update(cy=round(float(cy), 3), cx=round(float(cx), 3))
    return spec


def _colour(rng: np.random.Generator, avoid: np.ndarray) -> np.ndarray:
    for _ in range(20):
        c = rng.uniform(0.08, 0.92, 3)
        if np.linalg.norm(c - avoid) >= 0.3:
            return c
    return 1.0 - avoid


def render_image(seed: int, split: str, index: int, size: int = DEFAULT_SIZE
                 ) -> tuple[np.ndarray, list[dict[str, Any]], np.ndarray]:
    """One item: (uint8 H x W x 3 image, instance specs in paint order, visible masks N x H x W).

    Each spec holds the class, geometry, colour, texture, its full and visible areas and
    ``occlusion`` (the fraction hidden by instances above it). Reproducible from its arguments.
    """
    from scipy import ndimage

    rng = np.random.default_rng([seed, SPLITS.index(split), index])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    bg = rng.uniform(0.1, 0.9, 3)
    _, bg_tex = _texture(rng, size, yy, xx)
    grad = (rng.uniform(-1, 1) * (xx / size - 0.5) + rng.uniform(-1, 1) * (yy / size - 0.5))
    image = bg[None, None, :] + (0.06 * bg_tex + 0.15 * grad)[:, :, None]

    n_target = int(rng.integers(1, MAX_INSTANCES + 1))
    label = np.zeros((size, size), np.int16)
    placed: list[dict[str, Any]] = []
    full: list[np.ndarray] = []
    for _ in range(n_target):
        for _attempt in range(30):
            spec = _draw_spec(rng, size, placed)
            if not (0.5 * spec["r"] <= spec["cy"] <= size - 0.5 * spec["r"]
                    and 0.5 * spec["r"] <= spec["cx"] <= size - 0.5 * spec["r"]):
                continue
            m = _shape_mask(spec, size, yy, xx)
            if m.sum() < MIN_VISIBLE_PIXELS:
                continue
            trial = label.copy()
            trial[m] = len(placed) + 1
            areas = np.bincount(trial.ravel(), minlength=len(placed) + 2)[1:]
            fulls = [int(f.sum()) for f in full] + [int(m.sum())]
            if all(a >= max(MIN_VISIBLE_PIXELS, MIN_VISIBLE_FRACTION * f) for a, f in zip(areas, fulls, strict=True)):
                label = trial
                placed.append(spec)
                full.append(m)
                break
    visible = np.stack([label == k + 1 for k in range(len(placed))])
    for k, (spec, m) in enumerate(zip(placed, full, strict=True)):
        colour = _colour(rng, bg)
        tex_kind, tex = _texture(rng, size, yy, xx)
        amp = float(rng.uniform(0.05, 0.15)) if tex_kind != "flat" else 0.0
        image[m] = colour[None, :] + amp * tex[m][:, None]
        spec.update(colour=[round(float(c), 4) for c in colour], texture=tex_kind, z=k,
                    area_full=int(m.sum()), area_visible=int(visible[k].sum()),
                    occlusion=round(1.0 - float(visible[k].sum()) / float(m.sum()), 4))
    # smooth multiplicative inhomogeneity: a random quadratic bias field
    x1, y1 = xx / (size - 1) * 2 - 1, yy / (size - 1) * 2 - 1
    c = rng.uniform(-1, 1, 5)
    field = c[0] * x1 + c[1] * y1 + c[2] * x1 * y1 + c[3] * x1 * x1 + c[4] * y1 * y1
    field /= max(float(np.abs(field).max()), 1e-12)
    image *= (1.0 + float(rng.uniform(0.1, 0.35)) * field)[:, :, None]
    image = ndimage.gaussian_filter(image, (float(rng.uniform(0.3, 0.7)),) * 2 + (0.0,), mode="reflect")
    image += rng.normal(0.0, float(rng.uniform(0.01, 0.05)), image.shape)
    img8 = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    return img8, placed, visible


# -- generation ----------------------------------------------------------------------------------------
def _png(img8: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img8, mode="RGB").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _versions() -> dict[str, str]:
    import PIL
    import scipy
    import skimage

    from lsbench.optional import require

    pycocotools = require("pycocotools", "the shapes dataset (COCO format)")

    return {"python": sys.version.split()[0], "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit-image": skimage.__version__, "pillow": PIL.__version__,
            "pycocotools": getattr(pycocotools, "__version__", "unknown"), "platform": platform.platform()}


def _generate(seed: int, size: int, counts: dict[str, int]) -> Iterator[tuple[str, bytes]]:
    """Every file of the set (relative path, bytes), images first, then each split's JSON."""
    from lsbench.optional import require

    mask_utils = require("pycocotools.mask", "the shapes dataset (COCO format)")

    categories = [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(CLASSES)]
    for split in SPLITS:
        images, anns = [], []
        for i in range(counts[split]):
            img8, specs, visible = render_image(seed, split, i, size)
            file_name = f"{split}_{i:06d}.png"
            yield f"{split}/{file_name}", _png(img8)
            image_id = i + 1
            images.append({"id": image_id, "file_name": file_name, "width": size, "height": size, "license": 1})
            for spec, m in zip(specs, visible, strict=True):
                rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
                x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
                anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": CLASSES.index(spec["class"]) + 1,
                             "segmentation": {"size": [size, size], "counts": rle["counts"].decode("ascii")},
                             "area": float(mask_utils.area(rle)), "bbox": [x, y, w, h], "iscrowd": 0,
                             "occlusion": spec["occlusion"], "shape": spec})
        dataset = {"info": {"description": f"lsbench shapes, {split} split", "version": str(FORMAT_VERSION),
                            "year": 2019, "contributor": "lsbench", "seed": seed, "size": size},
                   "licenses": [{"id": 1, "name": "CC0 1.0 (generated by lsbench)", "url": ""}],
                   "images": images, "annotations": anns, "categories": categories}
        yield f"annotations/instances_{split}.json", json.dumps(dataset, separators=(",", ":")).encode()


def build_shapes(root: str | os.PathLike[str] | None = None, *, seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE,
                 train_images: int = DEFAULT_COUNTS["train"], val_images: int = DEFAULT_COUNTS["val"],
                 test_images: int = DEFAULT_COUNTS["test"], force: bool = False) -> Path:
    """Generate the set (atomically: a temporary folder renamed into place); returns its folder.

    An existing set is kept unless ``force``.
    """
    check_nonnegative_int("seed", seed)
    check_int("size", size, minimum=64, maximum=1024)
    counts = _counts(train_images, val_images, test_images)
    target = dataset_dir(root, seed, size, counts)
    if (target / "manifest.json").is_file() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(target, replace=True) as tmp:
        digests: dict[str, str] = {}
        for rel, data in _generate(seed, size, counts):
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
            digests[rel] = sha256_bytes(data)
        atomic_write_json(tmp / "manifest.json", {
            "name": "shapes", "format_version": FORMAT_VERSION, "seed": seed, "size": size, "counts": counts,
            "classes": list(CLASSES), "generator": _versions(), "files": digests}, indent=1)
    return target


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing; build the set with `lsbench datasets build shapes`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc}); rebuild with `lsbench datasets build shapes --force`") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION or not isinstance(manifest.get("files"), dict):
        raise DatasetError(f"{path}: not a shapes manifest of format {FORMAT_VERSION}; rebuild with "
                           "`lsbench datasets build shapes --force`")
    return manifest


class ShapesDataset(CocoFormatDataset):
    """One split of the shapes set (built on first use), read through the COCO reader.

    Parameters
    ----------
    root : path, optional
        Parent folder; the set lives in ``<root>/shapes`` (or ``shapes-s<seed>-...`` for
        non-default parameters).
    split : {"train", "val", "test"}
    seed, size, train_images, val_images, test_images : int
        Generator parameters (defaults: the reference set, 2000 / 200 / 500 images of 128 px).
    build : bool
        Build the set when missing (default); otherwise raise :class:`DatasetError`.
    """

    name = "shapes"

    def __init__(self, root: str | os.PathLike[str] | None = None, split: str = "test", *, seed: int = DEFAULT_SEED,
                 size: int = DEFAULT_SIZE, train_images: int = DEFAULT_COUNTS["train"],
                 val_images: int = DEFAULT_COUNTS["val"], test_images: int = DEFAULT_COUNTS["test"],
                 build: bool = True) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))} for shapes; got {split!r}")
        counts = _counts(train_images, val_images, test_images)
        self.split, self.seed, self.size, self.counts = split, seed, size, counts
        self.directory = dataset_dir(root, seed, size, counts)
        self.root = self.directory.parent
        if build and not (self.directory / "manifest.json").is_file():
            print(f"lsbench: building the shapes set ({sum(counts.values())} images) in {self.directory} ...",
                  file=sys.stderr)
            build_shapes(self.root, seed=seed, size=size, force=False, **{f"{k}_images": v for k, v in counts.items()})
        self.manifest = _read_manifest(self.directory)
        self._setup(self.directory / "annotations" / f"instances_{split}.json", self.directory / split,
                    digests=self.manifest["files"], digest_base=self.directory)

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if (self.seed, self.size, self.counts) != (DEFAULT_SEED, DEFAULT_SIZE, DEFAULT_COUNTS):
            out.update(seed=self.seed, size=self.size, **{f"{k}_images": v for k, v in self.counts.items()})
        return out


def verify(root: str | os.PathLike[str] | None = None, *, seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE,
           train_images: int = DEFAULT_COUNTS["train"], val_images: int = DEFAULT_COUNTS["val"],
           test_images: int = DEFAULT_COUNTS["test"], regenerate: bool = False, **_: Any) -> Report:
    """Check the set against its manifest (every sha256), the COCO structure of each split, and with
    ``regenerate=True`` that regenerating from the seed reproduces every file bit for bit."""
    counts = _counts(train_images, val_images, test_images)
    directory = dataset_dir(root, seed, size, counts)
    report = Report("shapes", directory)
    try:
        manifest = _read_manifest(directory)
    except DatasetError as exc:
        report.problem(directory / "manifest.json", str(exc).split(": ", 1)[-1])
        return report
    for rel, digest in manifest["files"].items():
        path = directory / rel
        if not path.is_file():
            report.problem(rel, "missing (listed in manifest.json)")
        elif sha256_file(path) != digest:
            report.problem(rel, "sha256 mismatch (file modified or damaged)")
    for split in SPLITS:
        dataset = check_coco_split(report, directory / "annotations" / f"instances_{split}.json", directory / split)
        if dataset is not None and len(dataset["images"]) != manifest["counts"][split]:
            report.problem(f"annotations/instances_{split}.json",
                           f"{len(dataset['images'])} images, manifest.json says {manifest['counts'][split]}")
    report.notes.append(f"manifest.json: {len(manifest['files'])} sha256 digests checked")
    if regenerate:
        n = 0
        for rel, data in _generate(manifest["seed"], manifest["size"], manifest["counts"]):
            n += 1
            path = directory / rel
            if path.is_file() and path.read_bytes() != data:
                report.problem(rel, f"differs from the file regenerated from seed {manifest['seed']}")
        report.notes.append(f"regenerated {n} files from seed {manifest['seed']} and compared them bit for bit")
    return report

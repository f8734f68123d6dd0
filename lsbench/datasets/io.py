"""File I/O shared by the dataset loaders: one mask reader, checksums, roots (writes: :mod:`lsbench.atomic`).

Masks are palette ("P") PNGs read as *indices* with Pillow, never through readers that expand
the palette to RGB (``skimage.io.imread`` and ``imageio`` do). 255 means void / ignore.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from lsbench.errors import DataError

__all__ = [
    "DatasetError",
    "decode_gray_png",
    "decode_palette_png",
    "decode_rgb",
    "default_root",
    "encode_gray_png",
    "encode_palette_png",
    "md5_file",
    "open_image",
    "read_bytes",
    "sha256_bytes",
    "sha256_file",
    "voc_colormap",
]

ENV_ROOT = "LSBENCH_DATA"


class DatasetError(DataError, ValueError):
    """A dataset on disk is missing, incomplete or damaged; the message names the file."""


def default_root() -> Path:
    """Where datasets live when no ``--root`` is given.

    ``$LSBENCH_DATA`` if set; else the ``datasets/`` folder of the lsbench checkout when the
    package runs from one (an editable install); else ``~/.cache/lsbench/datasets``.
    """
    env = os.environ.get(ENV_ROOT)
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[2] / "datasets"
    if (checkout / "README.md").is_file():
        return checkout
    return Path.home() / ".cache" / "lsbench" / "datasets"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def md5_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """md5 of a file, as the archive checksums of VOC, SBD and COCO are recorded."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_bytes(path: str | os.PathLike[str], digest: str | None = None) -> bytes:
    """The bytes of ``path``; a :class:`DatasetError` naming the file if it is missing, unreadable
    or (when ``digest`` is given) its sha256 differs from ``digest``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if digest is not None and sha256_bytes(data) != digest:
        raise DatasetError(f"{path}: sha256 differs from the dataset manifest (file modified or damaged); "
                           "run `lsbench datasets verify` to list every problem")
    return data


def voc_colormap(n: int = 256) -> np.ndarray:
    """PASCAL VOC devkit ``VOClabelcolormap`` (bit-interleaved), ``n x 3`` uint8."""
    cmap = np.zeros((n, 3), np.uint8)
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= (c & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


def encode_gray_png(image: np.ndarray) -> bytes:
    """8-bit greyscale ("L") PNG bytes of a uint8 array."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 2:
        raise ValueError(f"expected a 2-D uint8 array, got {arr.dtype} {arr.shape}")
    buf = io.BytesIO()
    Image.fromarray(arr, mode="L").save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def encode_palette_png(labels: np.ndarray) -> bytes:
    """Palette ("P") PNG bytes of a uint8 label array, with the VOC colour map."""
    arr = np.asarray(labels)
    if arr.dtype != np.uint8 or arr.ndim != 2:
        raise ValueError(f"expected a 2-D uint8 label array, got {arr.dtype} {arr.shape}")
    im = Image.fromarray(arr, mode="P")
    im.putpalette(voc_colormap().ravel().tolist())
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def _open_png(data: bytes, name: str) -> Image.Image:
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except Exception as exc:
        raise DatasetError(f"{name}: not a readable image ({exc})") from None
    return im


def open_image(data: bytes, name: str) -> Image.Image:
    """A fully decoded Pillow image from encoded bytes; :class:`DatasetError` naming ``name`` if the
    bytes are not a readable image (truncated, wrong format)."""
    return _open_png(data, name)


#: Pillow modes of 16-bit greyscale PNGs ("I" is how older Pillow versions open them)
_GRAY16_MODES = ("I;16", "I;16B", "I;16L", "I")


def _is_gray16(im: Image.Image) -> bool:
    # a PNG holds at most 16 bits per sample, so an integer-mode PNG is 16-bit greyscale
    return im.mode in _GRAY16_MODES and (im.mode != "I" or im.format == "PNG")


def decode_rgb(data: bytes, name: str = "image") -> np.ndarray:
    """uint8 H x W x 3 array from JPEG/PNG bytes (greyscale and palette images are expanded).

    Decoded by the range of the file's sample type: 8-bit files as they are, a 16-bit greyscale
    PNG as ``round(v / 257)`` (0-65535 onto 0-255), a 16-bit RGB PNG by Pillow (its high byte).
    Any other mode (32-bit float, CMYK ...) is a :class:`DatasetError` naming ``name``.
    """
    im = _open_png(data, name)
    if _is_gray16(im):
        gray = np.round(np.asarray(im, dtype=np.float64) / 257.0).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if im.mode not in ("RGB", "L", "P", "RGBA", "CMYK", "YCbCr", "1"):
        raise DatasetError(f"{name}: unexpected image mode {im.mode!r} (want 8-bit RGB or grey, or 16-bit grey)")
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im)


def decode_gray_png(data: bytes, name: str = "image") -> np.ndarray:
    """float32 H x W greyscale image in ``[0, 1]`` from PNG bytes, decoded by the file's sample type.

    8-bit grey (``L``), palette and bilevel images are divided by 255; 16-bit grey (``I;16``) by
    65535, at full precision; RGB (8 or 16 bit: Pillow keeps 16-bit colour's high byte) is
    converted to luma (ITU-R 601, Pillow's ``convert("L")``) and divided by 255. Any other mode
    (grey or colour with alpha, 32-bit float ...) is a :class:`DatasetError` naming ``name``.

    >>> decode_gray_png(encode_gray_png(np.array([[0, 51, 255]], np.uint8))).tolist()
    [[0.0, 0.20000000298023224, 1.0]]
    """
    im = _open_png(data, name)
    if _is_gray16(im):
        return (np.asarray(im, dtype=np.float64) / 65535.0).astype(np.float32)
    if im.mode not in ("L", "P", "RGB", "1"):
        raise DatasetError(f"{name}: image mode {im.mode!r} cannot be read as a greyscale image "
                           "(want 8- or 16-bit grey, palette or RGB without alpha)")
    if im.mode != "L":
        im = im.convert("L")
    return (np.asarray(im, dtype=np.float32) / np.float32(255.0)).astype(np.float32)


def decode_palette_png(data: bytes, name: str = "mask") -> np.ndarray:
    """uint8 label indices from palette ("P") PNG bytes; other modes are a :class:`DatasetError`."""
    im = _open_png(data, name)
    if im.mode != "P":
        raise DatasetError(f"{name}: mask must be a palette ('P') PNG, found mode {im.mode!r}")
    return np.asarray(im)

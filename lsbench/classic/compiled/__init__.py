"""Compiled (numba) kernels of the classic methods: the ``backend="numba"`` of :mod:`lsbench.classic`.

Each module holds one method's update as the paper writes it, one jitted function per equation
(named as in the paper), and the drivers that sweep it over an image (rows in parallel) or over a
batch of images (images in parallel). The per-pixel floating-point operations are the NumPy
reference's, in the same order, and reductions use NumPy's pairwise summation, so the compiled
backend reproduces the NumPy one bit for bit wherever both call the same elementary functions
(see each module; L2S's fits are sums of the same products in another order than the BLAS calls of
its NumPy backend). Parallel kernels cut the image into runs of rows whose results do not depend
on how many threads run them. Kernels are compiled on first use and cached on disk (numba's ``cache=True``,
next to this package or in ``NUMBA_CACHE_DIR``).

Importing this package imports numba; :mod:`lsbench.classic.backend` decides whether it is used.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from lsbench.cpu import configure_openmp

_PACKAGE_DIR = Path(__file__).resolve().parent

# numba's OpenMP threading layer reads how its waiting threads wait when it starts (the first
# parallel kernel): briefly spinning, then sleeping (lsbench.cpu explains the measurements). A
# value the user set is kept.
configure_openmp()


def _package_stamp() -> bytes:
    """SHA-256 of every module of this package: a kernel's cached machine code embeds the helpers
    it calls from :mod:`._kernels`, so editing any module must invalidate every cache entry."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.digest()


def _register_package_cache_locator() -> None:
    """Make numba's on-disk cache of this package's kernels fresh only while *all* its sources are
    unchanged (numba's default checks the kernel's own file only), in the place numba itself would
    use: ``NUMBA_CACHE_DIR`` when it is set, else ``__pycache__`` next to this package (when that is
    not writable, numba's other locators take over). Without numba's cache API (a future version),
    numba's default locators stay."""
    try:
        from numba.core.caching import CacheImpl, InTreeCacheLocator, UserProvidedCacheLocator
    except ImportError:  # pragma: no cover - numba without the public cache classes
        return

    class _PackageStamp:
        @classmethod
        def from_function(cls, py_func, py_file):
            if Path(os.path.abspath(py_file)).parent != _PACKAGE_DIR:
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self):
            return _package_stamp()

    class PackageUserCacheLocator(_PackageStamp, UserProvidedCacheLocator):
        """In ``NUMBA_CACHE_DIR`` (none when it is not set)."""

    class PackageCacheLocator(_PackageStamp, InTreeCacheLocator):
        """In ``__pycache__`` next to this package."""

    if not any(k.__name__ == "PackageCacheLocator" for k in CacheImpl._locator_classes):
        CacheImpl._locator_classes[:0] = [PackageUserCacheLocator, PackageCacheLocator]


_register_package_cache_locator()

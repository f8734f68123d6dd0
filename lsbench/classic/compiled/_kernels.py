"""Building blocks of the compiled kernels: the jit settings, a typed constant, NumPy's pairwise sum,
MATLAB's finite differences, Li's Neumann boundary and the zero-padded Gaussian, each with the
floating-point operations of its NumPy twin in :mod:`lsbench.levelset.ops`, in the same order.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

__all__ = ["d_dx_row", "d_dy_row", "del2_at", "divergence_at", "gaussian_filter_zero", "gradient_at", "jit",
           "lanes8", "laplacian_5", "like", "neumann_bound_cond", "pairwise_combine", "pairwise_leaves", "pairwise_sum",
           "pairwise_sum3", "pixel", "scratch_planes", "threads", "vector_atan",
           "vector_sin"]

#: every kernel: nopython, no fast-math (IEEE operations in the order written, no fused
#: multiply-add), compiled once and cached on disk
jit = functools.partial(numba.njit, cache=True, fastmath=False, error_model="numpy", nogil=True)

#: a per-pixel function (an equation of a paper): inlined where it is called, so that the loop
#: around it sees its operations and vectorises (LLVM alone declines to inline the larger ones)
pixel = functools.partial(jit, inline="always")


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Run the parallel kernels in this block on ``n`` threads (at most numba's pool size)."""
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(before)


#: bytes between the end of one scratch plane and the start of the next (one cache line)
PLANE_GAP = 64


def scratch_planes(n: int, shape: tuple[int, ...], dtype: type = np.float64) -> tuple[np.ndarray, ...]:
    """``n`` zeroed, C-contiguous scratch arrays of ``shape`` for a kernel, cut from one buffer, each
    on a cache-line boundary with :data:`PLANE_GAP` bytes between them.

    Not one ``(n, *shape)`` array: its planes lie a multiple of the plane size apart, and for a
    power-of-two image the same pixel of every plane then maps to the same cache sets, so a loop
    that reads and writes several planes at once evicts its own lines. Measured (one process,
    medians): the zero-padded Gaussian with its input, output and scratch on three planes of one
    array ran at 6.0 ns per pixel against 1.9 on these planes (256², two threads); an RSF
    iteration at 1024² at 60 against 30.5 ns per pixel (one thread), 15.5 against 14.9 at 256²
    (two threads). Results are the same bits.

    Examples
    --------
    >>> import numpy as np
    >>> from lsbench.classic.compiled._kernels import PLANE_GAP, scratch_planes
    >>> a, b = scratch_planes(2, (256, 256))
    >>> a.shape, a.flags.c_contiguous, float(b.sum())
    ((256, 256), True, 0.0)
    >>> (b.ctypes.data - a.ctypes.data) - a.nbytes == PLANE_GAP, a.ctypes.data % 64
    (True, 0)
    """
    item = np.dtype(dtype).itemsize
    size = int(np.prod(shape, dtype=np.int64))
    line = 64 // item  # elements per cache line
    step = -(-size // line) * line + PLANE_GAP // item  # a plane, rounded up to whole lines, then the gap
    buf = np.zeros(n * step + line, dtype)
    start = (-buf.ctypes.data % 64) // item  # the first plane on a line boundary
    return tuple(buf[start + p * step:start + p * step + size].reshape(shape) for p in range(n))


def like(x, value):  # pragma: no cover - replaced by the overload in compiled code
    """``value`` as a number of ``x``'s floating-point type (float32 stays float32)."""
    return type(x)(value)


@overload(like, inline="always")
def _like(x, value):
    if isinstance(x, types.Float):
        target = x

        def impl(x, value):
            return target(value)

        return impl
    return None


# -- reductions -------------------------------------------------------------------------------------------
@intrinsic
def lanes8(typingctx, a, lo, rows):
    """The eight interleaved accumulators of NumPy's pairwise-sum leaf, as one vector of eight lanes:
    ``r_k = a[lo + k] + a[lo + 8 + k] + ... + a[lo + 8 (rows - 1) + k]`` (``k = 0..7``, added in
    that order, ``rows >= 1``) for a 1-D C-contiguous ``a``; returns the tuple ``(r_0, ..., r_7)``.

    The same additions, in the same order, as eight scalar accumulators (NumPy's loop), but as vector
    instructions: LLVM does not vectorise that loop itself (a floating-point reduction with no store
    to start from), so this writes the vector loop in LLVM IR. Measured for Chan–Vese's three sums of
    128² float32 images: 0.40 against 0.84 ns per element, one Zen 4 core.
    """
    if not (isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and isinstance(a.dtype, types.Float)):
        return None
    sig = types.UniTuple(a.dtype, 8)(a, lo, rows)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        start = context.cast(builder, args[1], signature.args[1], types.intp)
        n_rows = context.cast(builder, args[2], signature.args[2], types.intp)
        element = context.get_value_type(signature.args[0].dtype)
        vector = ir.VectorType(element, 8)
        one, eight = ir.Constant(start.type, 1), ir.Constant(start.type, 8)

        def row(t):
            pointer = builder.gep(data, [builder.add(start, builder.mul(t, eight))], inbounds=True)
            return builder.load(builder.bitcast(pointer, vector.as_pointer()), align=context.get_abi_sizeof(element))

        acc = cgutils.alloca_once(builder, vector)
        builder.store(row(ir.Constant(start.type, 0)), acc)
        with cgutils.for_range_slice(builder, one, n_rows, one) as (t, _):
            builder.store(builder.fadd(builder.load(acc), row(t)), acc)
        total = builder.load(acc)
        lanes = [builder.extract_element(total, ir.Constant(ir.IntType(32), k)) for k in range(8)]
        return context.make_tuple(builder, signature.return_type, lanes)

    return sig, codegen


@jit
def _pairwise_block(a, lo, n):
    """A leaf of NumPy's pairwise sum (``n <= 128``): eight interleaved accumulators
    (:func:`lanes8`), then the rest."""
    if n < 8:
        res = like(a[lo], 0.0)
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3, r4, r5, r6, r7 = lanes8(a, lo, n // 8)
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(lo + n - n % 8, lo + n):
        res += a[i]
    return res


@jit
def pairwise_leaves(n):
    """The runs of NumPy's pairwise sum of ``n`` elements, left to right: ``(starts, sizes)``.

    NumPy sums a run of at most 128 elements with eight interleaved accumulators
    (:func:`_pairwise_block`); a longer run is split in two at a multiple of 8 below its middle and
    the halves' sums are added (``pairwise_sum`` in NumPy's ``loops_utils.h``; the recursion is
    unrolled onto a stack here). :func:`pairwise_combine` adds the runs' sums in that order.
    """
    n_leaves = 0
    starts = np.empty(max(1, n // 32 + 1), np.int64)  # runs are longer than 64 elements (or the only one)
    sizes = np.empty_like(starts)
    todo_lo = np.empty(128, np.int64)  # depth-first: the runs still to split, the left one on top
    todo_n = np.empty(128, np.int64)
    todo_lo[0], todo_n[0] = 0, n
    top = 1
    while top > 0:
        top -= 1
        start, size = todo_lo[top], todo_n[top]
        if size <= 128:
            starts[n_leaves], sizes[n_leaves] = start, size
            n_leaves += 1
        else:
            half = size // 2
            half -= half % 8
            todo_lo[top], todo_n[top] = start + half, size - half
            todo_lo[top + 1], todo_n[top + 1] = start, half
            top += 2
    return starts[:n_leaves], sizes[:n_leaves]


@jit
def pairwise_combine(leaf_sums, n):
    """NumPy's pairwise sum of ``n`` elements from the sums of its runs (:func:`pairwise_leaves`, in
    that order): each split's two halves added as NumPy's recursion returns them."""
    todo = np.empty(128, np.int64)  # depth-first: sizes of the runs still to visit; -1: "add the last two sums"
    sums = np.empty(64, leaf_sums.dtype)
    todo[0] = n
    top, n_sums, leaf = 1, 0, 0
    while top > 0:
        top -= 1
        size = todo[top]
        if size < 0:
            sums[n_sums - 2] = sums[n_sums - 2] + sums[n_sums - 1]
            n_sums -= 1
        elif size <= 128:
            sums[n_sums] = leaf_sums[leaf]
            n_sums += 1
            leaf += 1
        else:
            half = size // 2
            half -= half % 8
            todo[top], todo[top + 1], todo[top + 2] = -1, size - half, half
            top += 3
    return sums[0]


@jit
def pairwise_sum(a, lo, n):
    """``np.sum(a[lo:lo + n])`` of a 1-D array, bit for bit: NumPy's pairwise summation
    (:func:`pairwise_leaves`, :func:`pairwise_combine`). The accumulator has ``a``'s type (float32
    sums in float32, as NumPy)."""
    if n <= 128:
        return _pairwise_block(a, lo, n)
    starts, sizes = pairwise_leaves(n)
    leaf_sums = np.empty(starts.size, a.dtype)
    for k in range(starts.size):
        leaf_sums[k] = _pairwise_block(a, lo + starts[k], sizes[k])
    return pairwise_combine(leaf_sums, n)


@jit
def pairwise_sum3(a, b, c, leaves, scratch):
    """``(np.sum(a), np.sum(b), np.sum(c))`` of three 1-D arrays of ``n`` elements, bit for bit:
    :func:`pairwise_sum` of each, the runs' sums of all three kept for :func:`pairwise_combine`.
    ``leaves`` is :func:`pairwise_leaves` of ``n`` (computed once by a caller that sums often) and
    ``scratch`` a ``(3, len(leaves[0]))`` array of the arrays' type."""
    starts, sizes = leaves
    n = starts[-1] + sizes[-1]
    if n < 8:
        return _pairwise_block(a, 0, n), _pairwise_block(b, 0, n), _pairwise_block(c, 0, n)
    for k in range(starts.size):
        scratch[0, k] = _pairwise_block(a, starts[k], sizes[k])
        scratch[1, k] = _pairwise_block(b, starts[k], sizes[k])
        scratch[2, k] = _pairwise_block(c, starts[k], sizes[k])
    return pairwise_combine(scratch[0], n), pairwise_combine(scratch[1], n), pairwise_combine(scratch[2], n)


# -- finite differences (MATLAB's gradient and 4*del2, Li's NeumannBoundCond), one row at a time ---------
# Each writes row i of its result into a 1-D ``out``; the inner columns are a branch-free loop that the
# compiler vectorises, the two border columns are done apart.
@jit
def d_dx_row(f, i, out):
    """Row ``i`` of ``np.gradient(f, axis=1)``: ``(f[j+1] - f[j-1]) * 0.5``, one-sided at both ends."""
    w = f.shape[1]
    r = f[i]
    out[0] = r[1] - r[0]
    for j in range(1, w - 1):
        out[j] = (r[j + 1] - r[j - 1]) * like(r[j], 0.5)
    out[w - 1] = r[w - 1] - r[w - 2]


@jit
def d_dy_row(f, i, out):
    """Row ``i`` of ``np.gradient(f, axis=0)``: ``(f[i+1] - f[i-1]) * 0.5``, one-sided on the first/last row."""
    h, w = f.shape
    if i == 0:
        for j in range(w):
            out[j] = f[1, j] - f[0, j]
    elif i == h - 1:
        for j in range(w):
            out[j] = f[h - 1, j] - f[h - 2, j]
    else:
        for j in range(w):
            out[j] = (f[i + 1, j] - f[i - 1, j]) * like(f[i, j], 0.5)


@jit
def gradient_at(f, i, j):
    """``(f_x, f_y)`` at any pixel, MATLAB's ``gradient``: central inside, one-sided on the border
    (for the border pixels; the kernels sweep the inner ones with the central formula inline)."""
    h, w = f.shape
    if j == 0:
        fx = f[i, 1] - f[i, 0]
    elif j == w - 1:
        fx = f[i, w - 1] - f[i, w - 2]
    else:
        fx = (f[i, j + 1] - f[i, j - 1]) * like(f[i, j], 0.5)
    if i == 0:
        fy = f[1, j] - f[0, j]
    elif i == h - 1:
        fy = f[h - 1, j] - f[h - 2, j]
    else:
        fy = (f[i + 1, j] - f[i - 1, j]) * like(f[i, j], 0.5)
    return fx, fy


@jit
def divergence_at(fx, fy, i, j):
    """``d fx/dx + d fy/dy`` at any pixel (Li's ``div`` with MATLAB's gradient)."""
    return gradient_at(fx, i, j)[0] + gradient_at(fy, i, j)[1]


@jit
def _second_diff(u_prev, u, u_next):
    return (u_next - u * like(u, 2.0)) + u_prev


@jit
def _second_diff_rows_at(u, i, j):
    """``del2``'s second difference along axis 0: 3-point inside; on the first and last row linearly
    extrapolated from the two nearest inner ones (``g[0] = 2 g[1] - g[2]``; a copy of ``g[1]`` for 3 rows)."""
    h = u.shape[0]
    if 0 < i < h - 1:
        return _second_diff(u[i - 1, j], u[i, j], u[i + 1, j])
    if h == 3:
        return _second_diff(u[0, j], u[1, j], u[2, j])
    a = 1 if i == 0 else h - 2
    b = 2 if i == 0 else h - 3
    g1 = _second_diff(u[a - 1, j], u[a, j], u[a + 1, j])
    return g1 * like(g1, 2.0) - _second_diff(u[b - 1, j], u[b, j], u[b + 1, j])


@jit
def _second_diff_cols_at(r, j):
    """:func:`_second_diff_rows_at` along a row ``r``."""
    w = r.size
    if 0 < j < w - 1:
        return _second_diff(r[j - 1], r[j], r[j + 1])
    if w == 3:
        return _second_diff(r[0], r[1], r[2])
    a = 1 if j == 0 else w - 2
    b = 2 if j == 0 else w - 3
    g1 = _second_diff(r[a - 1], r[a], r[a + 1])
    return g1 * like(g1, 2.0) - _second_diff(r[b - 1], r[b], r[b + 1])


@jit
def del2_at(u, i, j):
    """MATLAB's ``4*del2(u)`` at any pixel (:func:`lsbench.levelset.ops.laplacian_del2`): the
    second difference along axis 0 plus the one along axis 1."""
    return _second_diff_rows_at(u, i, j) + _second_diff_cols_at(u[i], j)


@jit
def laplacian_5(u, u_l, u_r, u_u, u_d):
    """``4*del2(u)`` at an inner pixel from its four neighbours: ``((u_d - 2u) + u_u) + ((u_r - 2u) + u_l)``."""
    return _second_diff(u_u, u, u_d) + _second_diff(u_l, u, u_r)


@jit
def neumann_bound_cond(g):
    """Li's ``NeumannBoundCond`` in place: rows 2 and -3 onto the first and last row, then columns
    2 and -3 onto the first and last column (corners included)."""
    nrow, ncol = g.shape
    if nrow >= 3:
        for j in range(ncol):
            g[0, j] = g[2, j]
            g[nrow - 1, j] = g[nrow - 3, j]
    if ncol >= 3:
        for i in range(nrow):
            g[i, 0] = g[i, 2]
            g[i, ncol - 1] = g[i, ncol - 3]


# -- a sine the compiler can vectorise ----------------------------------------------------------------
@pixel
def vector_sin(x):
    """``sin(x)`` for ``|x| < 2^19 pi/2``, branch-free so that a loop of it vectorises.

    fdlibm's argument reduction by pi/2 (``__ieee754_rem_pio2``, the 33 + 33-bit split of pi/2,
    exact for these quotients) and its polynomial kernels ``__kernel_sin`` / ``__kernel_cos``,
    the quadrant chosen by selects. Within 1 ulp of the C library's ``sin`` (equal on ~97 % of
    arguments in ``[0, 2 pi]``, measured); 3-4x faster in a loop.
    """
    n = math.floor(x * 6.36619772367581382433e-01 + 0.5)  # nearest multiple of pi/2
    r = x - n * 1.57079632673412561417e00
    w = n * 6.07710050650619224932e-11
    y0 = r - w  # x - n pi/2 = y0 + y1
    y1 = (r - y0) - w
    z = y0 * y0
    v = z * y0
    ps = 8.33333333332248946124e-03 + z * (-1.98412698298579493134e-04 + z * (
        2.75573137070700676789e-06 + z * (-2.50507602534068634195e-08 + z * 1.58969099521155010221e-10)))
    sin_y = y0 - ((z * (0.5 * y1 - v * ps) - y1) - v * -1.66666666666666324348e-01)
    pc = z * (4.16666666666666019037e-02 + z * (-1.38888888888741095749e-03 + z * (2.48015872894767294178e-05 + z * (
        -2.75573143513906633035e-07 + z * (2.08757232129817482790e-09 + z * -1.13596475577881948265e-11)))))
    hz = 0.5 * z
    one_hz = 1.0 - hz
    cos_y = one_hz + (((1.0 - one_hz) - hz) + (z * pc - y0 * y1))
    quadrant = n - 4.0 * math.floor(n * 0.25)
    value = cos_y if quadrant == 1.0 or quadrant == 3.0 else sin_y
    return -value if quadrant >= 2.0 else value


@pixel
def vector_atan(x):
    """``atan(x)`` for any ``x`` (NaN propagates), branch-free so that a loop of it vectorises.

    fdlibm's ``s_atan.c``: ``|x|`` reduced by the breakpoint of its interval (``< 7/16``: none;
    ``< 11/16``: 1/2; ``< 19/16``: 1; ``< 39/16``: 3/2; beyond: infinity) to ``t`` with
    ``|t| <= 7/16``, then ``atan(b) + atan(t)`` with the odd degree-21 polynomial and ``atan(b)``
    split into a high and a low part, every choice by selects, so that its five cases become one
    formula (for ``|x| < 7/16``, ``0 - ((t s - 0) - t)`` is fdlibm's ``t - t s`` exactly). Within
    1 ulp of the C library's ``atan`` (glibc's, which differs from fdlibm's on ~1 % of arguments in
    ``[-10, 10]``, measured); 5-8x faster in a loop.
    """
    ax = abs(x)
    t1 = ax < 0.6875
    t2 = ax < 1.1875
    t3 = ax < 2.4375
    num = (2.0 * ax - 1.0) if t1 else ((ax - 1.0) if t2 else ((ax - 1.5) if t3 else -1.0))
    den = (2.0 + ax) if t1 else ((ax + 1.0) if t2 else ((1.0 + 1.5 * ax) if t3 else ax))
    hi = 4.63647609000806093515e-01 if t1 else (7.85398163397448278999e-01 if t2 else (
        9.82793723247329054082e-01 if t3 else 1.57079632679489655800e00))
    lo = 2.26987774529616870924e-17 if t1 else (3.06161699786838301793e-17 if t2 else (
        1.39033110312309984516e-17 if t3 else 6.12323399573676603587e-17))
    small = ax < 0.4375
    t = ax if small else num / den
    hi = 0.0 if small else hi
    lo = 0.0 if small else lo
    z = t * t
    w = z * z
    s1 = z * (3.33333333333329318027e-01 + w * (1.42857142725034663711e-01 + w * (9.09088713343650656196e-02 + w * (
        6.66107313738753120669e-02 + w * (4.97687799461593236017e-02 + w * 1.62858201153657823623e-02)))))
    s2 = w * (-1.99999999998764832476e-01 + w * (-1.11111104054623557880e-01 + w * (-7.69187620504482999495e-02 + w * (
        -5.83357013379057348645e-02 + w * -3.65315727442169155270e-02))))
    value = hi - ((t * (s1 + s2) - lo) - t)
    return math.copysign(value, x) if value == value else x + x


# -- Gaussian smoothing with zero padding -------------------------------------------------------------------
@jit(parallel=True)
def gaussian_filter_zero(a, k, out, tmp):
    """``conv2(a, k k^T, 'same')`` (zero padding) as two 1-D passes, rows then columns, into ``out``.

    Each pass is ``scipy.ndimage.correlate1d(mode="constant")`` for a symmetric kernel, in its
    order: ``a[i] k[r] + sum_{t=r..1} (a[i-t] + a[i+t]) k[r-t]``, samples beyond the border 0.
    ``tmp`` is a scratch array of ``a``'s shape. The loops run along rows (whole-row slices), which
    the compiler vectorises; the pass along axis 1 reads each row from a zero-padded copy, so that
    one loop serves the border columns too (``0 + a`` is SciPy's ``zero + a``, bit for bit).
    """
    h, w = a.shape
    r = k.size // 2
    zero = like(k[0], 0.0)
    for i in prange(h):  # along axis 0
        acc = tmp[i]
        src = a[i]
        for j in range(w):
            acc[j] = src[j] * k[r]
        for t in range(r, 0, -1):
            kt = k[r - t]
            if i - t >= 0 and i + t < h:
                up, down = a[i - t], a[i + t]
                for j in range(w):
                    acc[j] += (up[j] + down[j]) * kt
            elif i + t < h:
                down = a[i + t]
                for j in range(w):
                    acc[j] += (zero + down[j]) * kt
            elif i - t >= 0:
                up = a[i - t]
                for j in range(w):
                    acc[j] += (up[j] + zero) * kt
            else:
                for j in range(w):
                    acc[j] += zero * kt
    n_chunks = min(h, 64)  # chunks of rows: one padded row per chunk
    for c in prange(n_chunks):  # along axis 1, each row copied into the middle of a zero-padded row
        padded = np.zeros(w + 2 * r, a.dtype)
        for i in range(c * h // n_chunks, (c + 1) * h // n_chunks):
            src, acc = tmp[i], out[i]
            padded[r:r + w] = src
            for j in range(w):
                acc[j] = src[j] * k[r]
            for t in range(r, 0, -1):  # a[j - t] + a[j + t], 0 beyond the border (zero + a, a + zero as SciPy)
                kt = k[r - t]
                left, right = padded[r - t:r - t + w], padded[r + t:r + t + w]
                for j in range(w):
                    acc[j] += (left[j] + right[j]) * kt

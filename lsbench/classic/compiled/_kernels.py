"""Building blocks of the compiled kernels: the jit settings, a typed constant, NumPy's pairwise sum,
MATLAB's finite differences, Li's Neumann boundary and the zero-padded Gaussian, each with the
floating-point operations of its NumPy twin in :mod:`lsbench.levelset.ops`, in the same order.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import numba
import numpy as np
from numba import prange, types
from numba.extending import overload

__all__ = ["central_diff", "del2_at", "gaussian_filter_zero", "jit", "like", "neumann_bound_cond",
           "pairwise_sum", "threads"]

#: every kernel: nopython, no fast-math (IEEE operations in the order written, no fused
#: multiply-add), compiled once and cached on disk
jit = functools.partial(numba.njit, cache=True, fastmath=False, error_model="numpy", nogil=True)


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Run the parallel kernels in this block on ``n`` threads (at most numba's pool size)."""
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(before)


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
@jit
def _pairwise_block(a, lo, n):
    """A leaf of NumPy's pairwise sum (``n <= 128``): eight interleaved accumulators, then the rest."""
    if n < 8:
        res = like(a[lo], 0.0)
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = lo + 8
    stop = lo + n - n % 8
    while i < stop:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        res += a[i]
        i += 1
    return res


@jit
def pairwise_sum(a, lo, n):
    """``np.sum(a[lo:lo + n])`` of a 1-D array, bit for bit: NumPy's pairwise summation.

    Runs of at most 128 elements are summed with eight interleaved accumulators; longer runs are
    split in two at a multiple of 8 below the middle and the halves' sums added (``pairwise_sum``
    in NumPy's ``loops_utils.h``; the recursion is unrolled onto a stack here). The accumulator
    has ``a``'s type (float32 sums in float32, as NumPy).
    """
    if n <= 128:
        return _pairwise_block(a, lo, n)
    todo_lo = np.empty(128, np.int64)  # depth-first: runs still to sum; n < 0 marks "add the last two sums"
    todo_n = np.empty(128, np.int64)
    sums = np.empty(64, a.dtype)
    todo_lo[0], todo_n[0] = lo, n
    top, n_sums = 1, 0
    while top > 0:
        top -= 1
        start, size = todo_lo[top], todo_n[top]
        if size < 0:
            sums[n_sums - 2] = sums[n_sums - 2] + sums[n_sums - 1]
            n_sums -= 1
        elif size <= 128:
            sums[n_sums] = _pairwise_block(a, start, size)
            n_sums += 1
        else:
            half = size // 2
            half -= half % 8
            todo_lo[top], todo_n[top] = start, -1
            todo_lo[top + 1], todo_n[top + 1] = start + half, size - half
            todo_lo[top + 2], todo_n[top + 2] = start, half
            top += 3
    return sums[0]


@jit(parallel=True)
def pairwise_sum_parallel(a):
    """:func:`pairwise_sum` of all of ``a`` (1-D), its four top-level subtrees summed in parallel.

    The subtrees are NumPy's own (its first two halvings), so the result is the same bits.
    """
    n = a.size
    if n <= 1024:
        return pairwise_sum(a, 0, n)
    half = n // 2
    half -= half % 8
    rest = n - half
    q1 = half // 2
    q1 -= q1 % 8
    q3 = rest // 2
    q3 -= q3 % 8
    bounds = np.empty(5, np.int64)  # the four subtrees: [bounds[k], bounds[k + 1])
    bounds[0], bounds[1], bounds[2], bounds[3], bounds[4] = 0, q1, half, half + q3, n
    parts = np.empty(4, a.dtype)
    for k in prange(4):
        parts[k] = pairwise_sum(a, bounds[k], bounds[k + 1] - bounds[k])
    return (parts[0] + parts[1]) + (parts[2] + parts[3])


# -- finite differences (MATLAB's gradient and 4*del2, Li's NeumannBoundCond) ---------------------------
@jit
def central_diff(f_prev, f_next, at_start, at_end, f):
    """One entry of ``np.gradient`` along an axis: ``(f_next - f_prev) * 0.5`` inside, one-sided
    ``f_next - f`` at the first and ``f - f_prev`` at the last sample."""
    if at_start:
        return f_next - f
    if at_end:
        return f - f_prev
    return (f_next - f_prev) * like(f, 0.5)


@jit
def _second_diff(u_prev, u, u_next):
    return (u_next - u * like(u, 2.0)) + u_prev


@jit
def _second_diff_rows(u, i, j):
    """``del2``'s second difference along axis 0 at ``(i, j)``: 3-point inside; on the first and
    last row linearly extrapolated from the two nearest inner ones (``g[0] = 2 g[1] - g[2]``)."""
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
def _second_diff_cols(u, i, j):
    """:func:`_second_diff_rows` along axis 1."""
    w = u.shape[1]
    if 0 < j < w - 1:
        return _second_diff(u[i, j - 1], u[i, j], u[i, j + 1])
    if w == 3:
        return _second_diff(u[i, 0], u[i, 1], u[i, 2])
    a = 1 if j == 0 else w - 2
    b = 2 if j == 0 else w - 3
    g1 = _second_diff(u[i, a - 1], u[i, a], u[i, a + 1])
    return g1 * like(g1, 2.0) - _second_diff(u[i, b - 1], u[i, b], u[i, b + 1])


@jit
def del2_at(u, i, j):
    """MATLAB's ``4*del2(u)`` at ``(i, j)`` (:func:`lsbench.levelset.ops.laplacian_del2`)."""
    return _second_diff_rows(u, i, j) + _second_diff_cols(u, i, j)


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


# -- Gaussian smoothing with zero padding -------------------------------------------------------------------
@jit(parallel=True)
def gaussian_filter_zero(a, k, out, tmp):
    """``conv2(a, k k^T, 'same')`` (zero padding) as two 1-D passes, rows then columns, into ``out``.

    Each pass is ``scipy.ndimage.correlate1d(mode="constant")`` for a symmetric kernel, in its
    order: ``a[i] k[r] + sum_{t=r..1} (a[i-t] + a[i+t]) k[r-t]``, samples beyond the border 0.
    ``tmp`` is a scratch array of ``a``'s shape.
    """
    h, w = a.shape
    r = k.size // 2
    for i in prange(h):  # along axis 0: whole rows at a time
        for j in range(w):
            tmp[i, j] = a[i, j] * k[r]
        for t in range(r, 0, -1):
            kt = k[r - t]
            if i - t >= 0 and i + t < h:
                for j in range(w):
                    tmp[i, j] += (a[i - t, j] + a[i + t, j]) * kt
            elif i + t < h:
                for j in range(w):
                    tmp[i, j] += (like(kt, 0.0) + a[i + t, j]) * kt
            elif i - t >= 0:
                for j in range(w):
                    tmp[i, j] += (a[i - t, j] + like(kt, 0.0)) * kt
            else:
                for j in range(w):
                    tmp[i, j] += like(kt, 0.0) * kt
    for i in prange(h):  # along axis 1
        row, o = tmp[i], out[i]
        for j in range(w):
            o[j] = row[j] * k[r]
        for t in range(r, 0, -1):
            kt = k[r - t]
            for j in range(min(t, w)):  # left border: a[j - t] is 0
                o[j] += (like(kt, 0.0) + (row[j + t] if j + t < w else like(kt, 0.0))) * kt
            for j in range(t, w - t):
                o[j] += (row[j - t] + row[j + t]) * kt
            for j in range(max(w - t, t), w):  # right border: a[j + t] is 0
                o[j] += (row[j - t] + like(kt, 0.0)) * kt

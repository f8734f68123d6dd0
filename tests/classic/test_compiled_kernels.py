"""The building blocks of the compiled kernels against their NumPy/SciPy twins, bit for bit."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import ndimage

pytest.importorskip("numba")

from lsbench.classic.compiled._kernels import (
    PLANE_GAP,
    gaussian_filter_zero,
    pairwise_leaves,
    pairwise_sum,
    pairwise_sum3,
    scratch_planes,
    threads,
    vector_atan,
    vector_sin,
)
from lsbench.levelset.ops import gaussian_kernel_1d


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pairwise_sum_is_numpys_sum(dtype):
    rng = np.random.default_rng(0)
    sizes = [*range(1, 300), 1000, 4095, 65536, 65537, 100003]
    for n in sizes:  # magnitudes spread over six decades: a different summation order shows
        a = (rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3, n)).astype(dtype)
        assert pairwise_sum(a, 0, n) == np.sum(a), n
    a = rng.standard_normal((77, 130)).astype(dtype)
    assert pairwise_sum(a.ravel(), 0, a.size) == np.sum(a)  # a 2-D array: one flat pairwise sum
    assert pairwise_sum(a.ravel(), 10, 500) == np.sum(a.ravel()[10:510])


def _numpy_runs(lo: int, n: int) -> list[tuple[int, int]]:
    """The runs NumPy's recursive pairwise sum adds with its eight-accumulator loop (a port of
    ``pairwise_sum`` in ``loops_utils.h``)."""
    if n <= 128:
        return [(lo, n)]
    half = n // 2 - (n // 2) % 8
    return _numpy_runs(lo, half) + _numpy_runs(lo + half, n - half)


def test_pairwise_leaves_are_numpys_runs_left_to_right():
    for n in [1, 7, 8, 128, 129, 136, 255, 1000, 16384, 65536 + 13, 100003]:
        starts, sizes = pairwise_leaves(n)
        assert list(zip(starts.tolist(), sizes.tolist(), strict=True)) == _numpy_runs(0, n), n


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pairwise_sum3_is_numpys_sum_of_each_array(dtype):
    rng = np.random.default_rng(2)
    for n in [*range(1, 140), 255, 1000, 4095, 16384, 65537]:  # one run, two, and deep trees
        a, b, c = ((rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3, n)).astype(dtype) for _ in range(3))
        leaves = pairwise_leaves(n)
        sums = pairwise_sum3(a, b, c, leaves, np.empty((3, leaves[0].size), dtype))
        assert sums == (np.sum(a), np.sum(b), np.sum(c)), n


@pytest.mark.parametrize(("shape", "dtype"), [((256, 256), np.float64), ((128 * 128,), np.float32), ((5, 7), np.float64)])
def test_scratch_planes_are_separate_aligned_zeroed_and_not_a_power_of_two_apart(shape, dtype):
    planes = scratch_planes(5, shape, dtype)
    assert len(planes) == 5
    starts = [p.ctypes.data for p in planes]
    for p, start in zip(planes, starts, strict=True):
        assert p.shape == shape and p.dtype == dtype and p.flags.c_contiguous and p.flags.writeable
        assert start % 64 == 0 and not p.any()
    for a, b in itertools.pairwise(starts):  # in order, not overlapping, and never a multiple of 4 KiB apart
        assert b - a >= planes[0].nbytes + PLANE_GAP and (b - a) % 4096 != 0
    planes[0][...] = 1  # writing one plane leaves the others alone
    assert not any(p.any() for p in planes[1:])


def test_lic_update_c_is_numpys_sums_of_the_products():
    """LIC's ``c_i = sum (K*b) I M_i / sum (K*b^2) M_i`` in NumPy's order (``rsf._update_c``): the
    products of one pairwise run made and summed together, the runs in parallel."""
    from lsbench.classic.compiled.rsf import lic_update_c

    rng = np.random.default_rng(3)
    previous = np.array([-1.0, -2.0])
    for shape in [(1, 1), (1, 7), (2, 4), (3, 3), (8, 16), (11, 13), (1, 129), (129, 67), (256, 256)]:
        I = rng.random(shape) * 255  # noqa: E741
        H = rng.random(shape)
        KB1, KB2 = (rng.random(shape) * 10.0 ** rng.uniform(-3, 3, shape) for _ in range(2))
        expected = [np.sum(KB1 * I * M) / np.sum(KB2 * M) for M in (H, 1.0 - H)]
        for n_threads in (1, 2):
            with threads(n_threads):
                got = lic_update_c(I, H, KB1, KB2, previous, scratch_planes(4, shape))
            assert got.tolist() == expected, (shape, n_threads)
    H = np.ones((9, 9))  # no pixel outside: the second denominator is 0 and c2 keeps its value
    I, KB1, KB2 = (np.ascontiguousarray(a[:9, :9]) for a in (I, KB1, KB2))  # noqa: E741
    got = lic_update_c(I, H, KB1, KB2, previous, scratch_planes(4, (9, 9)))
    assert got[1] == previous[1] and got[0] == np.sum(KB1 * I) / np.sum(KB2)


@pytest.mark.parametrize("sigma", [0.8, 3.0, 4.0])
@pytest.mark.parametrize("shape", [(40, 37), (5, 64), (64, 3)])
def test_gaussian_is_scipys_correlation_with_zero_padding(sigma, shape):
    a = np.random.default_rng(1).random(shape)
    k = gaussian_kernel_1d(sigma)
    ref = ndimage.correlate1d(ndimage.correlate1d(a, k, axis=0, mode="constant"), k, axis=1, mode="constant")
    out, tmp = np.empty_like(a), np.empty_like(a)
    with threads(2):
        gaussian_filter_zero(a, k, out, tmp)
    np.testing.assert_array_equal(out, ref)


def test_gaussian_border_columns_read_zeros_whatever_memory_held_before():
    """The row pass pads each row with zeros in a scratch row: after a wider image full of NaN has
    left its rows in the allocator, a narrower finite image still gets SciPy's result."""
    k = gaussian_kernel_1d(3.0)
    a = np.random.default_rng(2).random((40, 37))
    ref = ndimage.correlate1d(ndimage.correlate1d(a, k, axis=0, mode="constant"), k, axis=1, mode="constant")
    for n_threads in (1, 2):
        with threads(n_threads):
            wide = np.full((40, 45), np.nan)
            gaussian_filter_zero(wide, k, np.empty_like(wide), np.empty_like(wide))
            out = np.empty_like(a)
            gaussian_filter_zero(a, k, out, np.empty_like(a))
        np.testing.assert_array_equal(out, ref)


def test_vector_sin_is_within_one_ulp_of_the_c_library():
    x = np.concatenate([np.linspace(0.0, 2.0 * math.pi, 100_001), np.random.default_rng(2).uniform(-20, 20, 10_000),
                        [math.pi / 2, math.pi, 1.5 * math.pi, 1e-300, -1e-8]])
    ours = np.array([vector_sin(v) for v in x])
    ref = np.sin(x)
    # within 1 ulp; near the zeros of sin (x = k pi) within the reduction's absolute error, 2^-52 of
    # pi/2's 66-bit split times |x| (sin(2 pi) = -2.4492935981e-16 here, -2.4492935982947e-16 exactly)
    assert np.all(np.abs(ours - ref) <= np.maximum(np.spacing(np.abs(ref)), 2e-25 * np.abs(x)))
    assert (ours == ref).mean() > 0.9


def test_vector_atan_is_within_one_ulp_of_the_c_library():
    breaks = np.array([0.4375, 0.6875, 1.1875, 2.4375])  # fdlibm's interval ends, and their neighbours
    x = np.concatenate([np.linspace(-10.0, 10.0, 200_001), np.geomspace(1e-300, 1e300, 20_001),
                        -np.geomspace(1e-300, 1e300, 20_001), breaks, np.nextafter(breaks, 0.0),
                        np.nextafter(breaks, 3.0), -breaks, [5e-324, 1.7976931348623157e308, 1e17, 3e-9]])
    ours = np.array([vector_atan(v) for v in x])
    ref = np.arctan(x)
    assert np.all(np.abs(ours - ref) <= np.spacing(np.abs(ref)))
    assert (ours == ref).mean() > 0.9
    for v, expected in [(math.inf, math.pi / 2), (-math.inf, -math.pi / 2)]:
        assert vector_atan(v) == expected
    assert math.isnan(vector_atan(math.nan))
    assert vector_atan(0.0) == 0.0 and math.copysign(1.0, vector_atan(0.0)) == 1.0
    assert vector_atan(-0.0) == 0.0 and math.copysign(1.0, vector_atan(-0.0)) == -1.0


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
@pytest.mark.parametrize("shape", [(23, 41), (64, 7), (40, 9)])
def test_legendre_fit_from_column_sums_is_the_dense_ridge_fit(degree, shape):
    """The compiled L2S fit (column sums accumulated row by row in blocks, the blocks added, then the
    contraction and a solve) against :func:`lsbench.classic.l2s.legendre_fit` on the dense basis
    ``B`` (an independent formula: ``(B^T W B + rho 1)^-1 B^T W I``), and the fitted image row by
    row against ``B c``. Shapes with more rows than a block, and a partial last block."""
    from lsbench.classic.compiled.l2s import (
        FIT_BLOCK_ROWS,
        dot,
        legendre_accumulate_row,
        legendre_block_sums,
        legendre_evaluate_row,
        legendre_fit,
    )
    from lsbench.classic.l2s import _SeparableLegendre, legendre_basis
    from lsbench.classic.l2s import legendre_fit as dense_fit

    rng = np.random.default_rng(degree)
    h, w = shape
    image, weight = rng.random(shape) * 255.0, rng.random(shape)
    basis = _SeparableLegendre(shape, degree)
    py_t, px_t, pyy_t, pxx_t = (np.ascontiguousarray(b.T) for b in (basis.py, basis.px, basis.pyy, basis.pxx))
    m = degree + 1
    n_blocks = -(-h // FIT_BLOCK_ROWS)
    partial = np.zeros((n_blocks, m * m + m, w))
    for y in range(h):
        legendre_accumulate_row(weight[y], weight[y] * image[y], np.ascontiguousarray(pyy_t[:, y]),
                                np.ascontiguousarray(py_t[:, y]), partial[y // FIT_BLOCK_ROWS])
    sums = np.full((m * m + m, w), np.nan)  # the pairs i > k stay unused
    legendre_block_sums(partial, m, sums)
    c = legendre_fit(sums, pxx_t, px_t, 0.7)
    B = legendre_basis(shape, degree)
    expected = dense_fit(B, image, weight, 0.7)
    np.testing.assert_allclose(c, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())
    fitted = np.empty(shape)
    for y in range(h):
        legendre_evaluate_row(np.ascontiguousarray(py_t[:, y]), px_t, c, np.empty(m), fitted[y])
    np.testing.assert_allclose(fitted, (B @ c).reshape(shape), rtol=1e-12, atol=1e-9)
    # and bit for bit the sum term by term, in the order of j (a NumPy port: one pass per term)
    q = np.zeros((h, m))
    for i in range(m):
        q += py_t[i][:, None] * c[i * m:(i + 1) * m][None, :]
    by_term = q[:, :1] * px_t[0]
    for j in range(1, m):
        by_term = by_term + q[:, j:j + 1] * px_t[j]
    np.testing.assert_array_equal(fitted, by_term)
    # dot: eight interleaved partial sums, added pairwise, then the remainder (a port, bit for bit)
    for n in (3, 8, 13, 256):
        a, b = rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3, n), rng.standard_normal(n)
        s = [0.0] * 8
        for j in range(0, n - n % 8, 8):
            for k in range(8):
                s[k] += float(a[j + k]) * float(b[j + k])
        expected = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
        for j in range(n - n % 8, n):
            expected += float(a[j]) * float(b[j])
        assert dot(a, b) == expected, n
        assert dot(a, b) == pytest.approx(float(a @ b), rel=1e-12)


def test_max_abs_is_numpys_maximum_of_the_absolute_values():
    """L2S's maximum through the bit patterns: exactly ``np.abs(a).max()`` on rows of mixed signs,
    magnitudes, subnormals, signed zeros and infinities; 0 when empty; NaN when any element is."""
    from lsbench.classic.compiled.l2s import max_abs

    rng = np.random.default_rng(5)
    rows = [rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n) for n in (1, 7, 8, 9, 256, 1001)]
    rows += [np.array([-0.0, 0.0]), np.array([-5e-324, 1e-310]), np.array([-np.inf, 3.0]), np.array([2.0, -3.0, 1.0])]
    for row in rows:
        assert max_abs(row) == np.abs(row).max()
    assert max_abs(np.empty(0)) == 0.0
    assert np.isnan(max_abs(np.array([1.0, np.nan, -np.inf])))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lanes8_are_the_eight_accumulators_added_row_by_row(dtype):
    """The vector loop of NumPy's leaf against a scalar port: lane k adds a[lo + 8 t + k] for t = 0,
    1, ... in that order (bit for bit, unaligned starts included); only 1-D contiguous float arrays."""
    import numba

    from lsbench.classic.compiled._kernels import jit, lanes8

    @jit
    def lanes(a, lo, rows):
        return lanes8(a, lo, rows)

    rng = np.random.default_rng(8)
    a = (rng.standard_normal(200) * 10.0 ** rng.uniform(-4, 4, 200)).astype(dtype)
    for lo, rows in [(0, 1), (3, 2), (5, 16), (0, 24)]:
        expected = list(a[lo:lo + 8].copy())
        for t in range(1, rows):
            for k in range(8):
                expected[k] = dtype(expected[k] + a[lo + 8 * t + k])
        assert list(lanes(a, lo, rows)) == expected, (lo, rows)
    with pytest.raises(numba.core.errors.TypingError):
        lanes(a[::2], 0, 1)


@pytest.mark.parametrize("shape", [(3, 3), (3, 6), (6, 3), (4, 7), (7, 4)])
def test_del2_at_every_pixel_is_matlabs_del2_on_small_images(shape):
    """The compiled ``4*del2`` pixel by pixel against :func:`lsbench.levelset.ops.laplacian_del2`,
    on images of 3 rows or columns (MATLAB's special case: a copy of the one inner difference) and
    of 4 (the extrapolation from the two nearest)."""
    from lsbench.classic.compiled._kernels import del2_at
    from lsbench.levelset.ops import laplacian_del2

    u = np.random.default_rng(sum(shape)).standard_normal(shape) * 100.0
    ours = np.array([[del2_at(u, i, j) for j in range(shape[1])] for i in range(shape[0])])
    np.testing.assert_allclose(ours, laplacian_del2(u), rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_accumulate_rows_adds_the_rows_one_after_another(n, m):
    """:func:`legendre_accumulate_rows` (up to four rows in one pass) against a NumPy port of the
    row-by-row sums (``out[i m + k] += W P_i P_k(y)`` for ``i <= k``, ``out[m^2 + i] += W I P_i(y)``,
    row after row), bit for bit, from nonzero sums; the pairs ``i > k`` untouched."""
    from lsbench.classic.compiled.l2s import ACCUMULATE_ROWS, legendre_accumulate_rows

    assert ACCUMULATE_ROWS == 4
    rng = np.random.default_rng(10 * n + m)
    w = 37
    W, WI = rng.random((n, w)), rng.random((n, w)) * 255.0
    pyy, py = rng.standard_normal((n, m * m)), rng.standard_normal((n, m))
    out = rng.standard_normal((m * m + m, w))
    expected = out.copy()
    for r in range(n):
        for i in range(m):
            for k in range(i, m):
                expected[i * m + k] = expected[i * m + k] + W[r] * pyy[r, i * m + k]
            expected[m * m + i] = expected[m * m + i] + WI[r] * py[r, i]
    legendre_accumulate_rows(W, WI, pyy, py, out)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (6, 1), (2, 2), (2, 5), (3, 3), (7, 4)])
def test_border_changes_counts_each_border_pixel_once(shape):
    """The side changes of the first and last row and column (L2S's count after the Neumann
    boundary) against a NumPy count over the border mask, any shape."""
    from lsbench.classic.compiled.l2s import border_changes

    rng = np.random.default_rng(shape[0] * 10 + shape[1])
    new, old = rng.standard_normal(shape), rng.standard_normal(shape)
    new[0, 0] = old[0, 0] = 0.0  # phi >= 0: zero is inside, no change
    border = np.ones(shape, bool)
    border[1:-1, 1:-1] = False
    assert border_changes(new, old) == int(((new >= 0) != (old >= 0))[border].sum())


@pytest.mark.parametrize("shape", [(2, 5), (3, 3), (17, 9), (40, 23)])
def test_curvature_from_bands_of_normals_is_lis_curvature_central(shape):
    """L2S's curvature as its sweep computes it: the unit normals of a band of rows (a block and the
    rows above and below it, :func:`unit_normals_row`), then :func:`curvature_row` of the block's rows
    within the band, one-sided only where the band edge is the image's. Bit for bit NumPy's
    :func:`lsbench.levelset.ops.curvature_central`, for every band split of small images."""
    from lsbench.classic.compiled.l2s import curvature_row, unit_normals_row
    from lsbench.levelset.ops import curvature_central

    h, w = shape
    phi = np.random.default_rng(h * w).standard_normal(shape) * 3.0
    expected = curvature_central(phi)
    for block in (1, 2, 5, 16):
        kappa = np.full(shape, np.nan)
        for r0 in range(0, h, block):
            r1 = min(h, r0 + block)
            lo, hi = max(r0 - 1, 0), min(r1 + 1, h)
            nx, ny = np.full((hi - lo, w), np.nan), np.full((hi - lo, w), np.nan)
            for i in range(lo, hi):
                unit_normals_row(phi, i, nx[i - lo], ny[i - lo])
            for i in range(r0, r1):
                curvature_row(nx, ny, i - lo, kappa[i])
        np.testing.assert_array_equal(kappa, expected, err_msg=f"blocks of {block} rows")


def test_l2s_steps_refuses_row_buffers_of_another_width():
    """The kernel writes its row buffers unchecked: buffers for another width (or too few rows) are
    refused up front instead of writing past them."""
    from lsbench.classic.compiled._kernels import scratch_planes
    from lsbench.classic.compiled.l2s import THREAD_ROWS, l2s_steps, thread_row_buffers
    from lsbench.classic.l2s import _SeparableLegendre

    h, w = 12, 10
    basis = _SeparableLegendre((h, w), 2)
    bases = tuple(np.ascontiguousarray(b.T) for b in (basis.py, basis.px, basis.pyy, basis.pxx))
    for rows in (thread_row_buffers(w - 1), thread_row_buffers(w)[:, :THREAD_ROWS - 1]):
        with pytest.raises(ValueError, match="thread_row_buffers"):
            l2s_steps(np.ones((h, w)), np.ones((h, w)), *bases, 0.2, 0.3, 1.0, 1.0, 2.0, 0.8, 0.5, 1, 0.0, 20,
                      np.zeros(2, np.int64), np.zeros((2, 9)), scratch_planes(5, (h, w)), np.ascontiguousarray(rows))

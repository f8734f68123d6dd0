"""The NumPy backends of Chan–Vese, DRLSE, RSF, LIC and L2S run their update band by band on large images
(:func:`lsbench.levelset.ops.row_bands`, for the cache): the numbers must be those of the whole
image, to the bit, at every band height, including bands cut through the object."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import lsbench.levelset.ops as ops
from lsbench.classic import chan_vese, drlse, l2s, lic, rsf
from lsbench.levelset.init import binary_step
from lsbench.levelset.ops import row_bands
from tests.conftest import two_phase_image


def _whole_and_banded(monkeypatch, run, band_pixels):
    monkeypatch.setattr(ops, "BAND_PIXELS", 10**9)
    whole = run()
    monkeypatch.setattr(ops, "BAND_PIXELS", band_pixels)
    return whole, run()


@pytest.mark.parametrize("band_pixels", [1, 9 * 70, 30 * 70])  # 8-row bands (the least), 9 rows, 30 rows
def test_chan_vese_numpy_banded_equals_whole(monkeypatch, band_pixels):
    img, _ = two_phase_image(70, noise=0.2, seed=3)
    img = img[:67]  # a height that does not split evenly

    def run():
        return chan_vese(img, mu=0.1, dt=0.7, max_iter=40, tol=0.0, backend="numpy", return_result=True).phi

    whole, banded = _whole_and_banded(monkeypatch, run, band_pixels)
    assert np.array_equal(whole, banded)


@pytest.mark.parametrize("potential", ["double-well", "single-well"])
@pytest.mark.parametrize("band_pixels", [1, 13 * 60])
def test_drlse_numpy_banded_equals_whole(monkeypatch, potential, band_pixels):
    img, _truth = two_phase_image(60, noise=0.05, seed=4)
    img = img[:, :57]
    init = np.zeros(img.shape, bool)
    init[8:50, 6:52] = True  # the evolving front crosses every band cut

    def run():
        return drlse(img, potential=potential, alpha=-2.0, max_iter=6, iter_inner=4, iter_refine=3,
                     init=binary_step(init, 2.0), backend="numpy", return_result=True).phi

    whole, banded = _whole_and_banded(monkeypatch, run, band_pixels)
    assert np.array_equal(whole, banded)


@pytest.mark.parametrize("method", [rsf, lic])
@pytest.mark.parametrize("band_pixels", [1, 11 * 58])  # 8-row bands (the least), 11 rows
def test_rsf_and_lic_numpy_banded_equal_whole(monkeypatch, method, band_pixels):
    img, _truth = two_phase_image(64, noise=0.1, seed=5)
    img = img[:61, :58]  # a height that does not split evenly
    init = np.zeros(img.shape, bool)
    init[10:50, 12:46] = True  # the evolving front crosses every band cut

    def run():  # non-default weights, so that every term of the level-set step counts
        return method(img, nu=0.01, mu=1.3, sigma=2.0, dt=0.05, max_iter=12, init=init, backend="numpy",
                      return_result=True).phi

    whole, banded = _whole_and_banded(monkeypatch, run, band_pixels)
    assert np.array_equal(whole, banded)
    assert not np.array_equal(whole > 0, init)  # the contour moved


@pytest.mark.parametrize("band_pixels", [1, 10 * 58])  # 8-row bands (the least), 10 rows
def test_l2s_numpy_banded_equals_whole(monkeypatch, band_pixels):
    img, _truth = two_phase_image(64, noise=0.1, seed=6)
    img = img[:61, :58] + np.linspace(0.0, 0.3, 58)  # a height that does not split evenly; a smooth bias
    init = np.zeros(img.shape, bool)
    init[12:48, 10:44] = True  # the evolving front crosses every band cut

    def run():  # curvature (halo 2) and Sussman's re-initialisation (halo 1) run in bands
        return l2s(img, degree=2, nu=0.3, max_iter=15, tol=0, init=init, backend="numpy", return_result=True).phi

    whole, banded = _whole_and_banded(monkeypatch, run, band_pixels)
    assert np.array_equal(whole, banded)
    assert not np.array_equal(whole > 0, init)  # the contour moved


@pytest.mark.parametrize(("shape", "halo", "pixels"), [((10, 3), 1, 24), ((67, 70), 2, 1), ((7, 5), 2, 1),
                                                      ((1024, 1024), 2, None), ((256, 256), 1, None),
                                                      ((300, 300), 1, None)])
def test_row_bands_cover_each_row_once_with_their_halo(shape, halo, pixels):
    h, w = shape
    bands = list(row_bands(shape, halo=halo, pixels=pixels))
    targets = [t for _, _, t in bands]
    assert targets[0].start == 0 and targets[-1].stop == h
    assert all(a.stop == b.start for a, b in itertools.pairwise(targets))
    heights = [t.stop - t.start for t in targets]
    assert max(heights) - min(heights) <= 1  # an even split
    assert min(heights) >= min(4, h)  # one-sided border formulas see four rows
    for source, keep, target in bands:
        assert source.start == max(target.start - halo, 0) and source.stop == min(target.stop + halo, h)
        assert keep.start == target.start - source.start and keep.stop - keep.start == target.stop - target.start
    limit = ops.BAND_PIXELS if pixels is None else pixels
    if h * w <= limit:
        assert len(bands) == 1
    else:
        assert max(heights) <= max(8, limit // w) + 1

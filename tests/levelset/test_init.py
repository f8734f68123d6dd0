import numpy as np
import pytest
from skimage.segmentation import _chan_vese as skcv

from lsbench.levelset import init


def test_checkerboard_matches_scikit_image_bit_for_bit():
    for dtype in (np.float32, np.float64):
        np.testing.assert_array_equal(init.checkerboard((33, 47), dtype=dtype),
                                      skcv._cv_checkerboard((33, 47), 5, dtype))


def test_disk_presets_match_scikit_image():
    np.testing.assert_allclose(init.disk((30, 40)), skcv._cv_large_disk((30, 40)))
    np.testing.assert_allclose(init.small_disk((30, 40)), skcv._cv_small_disk((30, 40)))


def test_signed_distance_sign_and_slope():
    m = np.zeros((40, 40), bool)
    m[10:30, 12:28] = True
    phi = init.signed_distance(m)
    assert np.all(phi[m] > 0) and np.all(phi[~m] < 0)
    np.testing.assert_array_equal(phi > 0, m)
    gy, gx = np.gradient(phi)
    near = (np.abs(phi) < 3) & (np.abs(phi) > 0.6)
    assert abs(np.median(np.hypot(gy, gx)[near]) - 1) < 0.05
    assert np.all(init.signed_distance(np.ones((3, 3), bool)) > 0)
    assert np.all(init.signed_distance(np.zeros((3, 3), bool)) < 0)


def test_binary_step_is_positive_inside():
    m = np.zeros((5, 5), bool)
    m[1:3, 1:3] = True
    step = init.binary_step(m, 2.0)
    assert set(np.unique(step)) == {-2.0, 2.0}
    np.testing.assert_array_equal(step > 0, m)


def test_rls_disks_lattice():
    d = init.disks((32, 32), radius=3)
    assert set(np.unique(d)) == {-1.0, 1.0}
    assert d[3, 3] == 1 and d[3, 11] == 1 and d[11, 3] == 1  # centres every 8 px
    assert d[7, 7] == -1  # between disks
    assert d[0, 3] == 1 and d[3, 0] == 1 and d[0, 0] == -1  # radius 3 around (3, 3)
    assert (d > 0).sum() == 16 * 29  # 16 full disks of 29 pixels


@pytest.mark.parametrize("name", sorted(init.PRESETS))
def test_presets_follow_phi_positive_inside(name):
    phi = init.resolve_init(name, (40, 40))
    assert phi.shape == (40, 40)
    if name != "checkerboard":
        assert phi[20, 20] > 0 and phi[0, 0] < 0


def test_resolve_init_validation():
    with pytest.raises(ValueError, match="init must be one of"):
        init.resolve_init("triangle", (4, 4))
    with pytest.raises(ValueError, match="shape"):
        init.resolve_init(np.zeros((3, 3)), (4, 4))
    with pytest.raises(ValueError, match="NaN"):
        init.resolve_init(np.full((4, 4), np.nan), (4, 4))
    arr = np.ones((4, 4))
    out = init.resolve_init(arr, (4, 4))
    out[0, 0] = 5
    assert arr[0, 0] == 1  # a copy

"""The helpers every Li-family method shares (lsbench.classic._common), against hand-written oracles.

Written for the mutation run (reports/mutation.md): the method tests start from these helpers but
cannot see a disk one ring smaller, or a monitor that counts pixels passing through phi = 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from lsbench.classic._common import SignChangeMonitor, li_init


@pytest.mark.parametrize("shape", [(9, 9), (9, 15), (15, 9)])
def test_circle_init_is_the_closed_centred_disk_of_a_third_of_the_short_side(shape):
    h, w = shape  # short side 9: radius 3, so the four pixels at distance exactly 3 are inside
    yy, xx = np.mgrid[0:h, 0:w]
    inside = (2 * yy - (h - 1)) ** 2 + (2 * xx - (w - 1)) ** 2 <= 36  # integers: (2 r)^2 = 36, exact
    phi = li_init("circle", shape, c0=2.0)
    assert phi.dtype == np.float64 and phi.shape == shape
    np.testing.assert_array_equal(phi, np.where(inside, 2.0, -2.0))
    assert inside.sum() == 29  # the lattice points with y^2 + x^2 <= 9
    # the four boundary pixels on the axes are the ones a strict '<' would drop
    cy, cx = (h - 1) // 2, (w - 1) // 2
    assert all(phi[cy + dy, cx + dx] == 2.0 for dy, dx in [(3, 0), (-3, 0), (0, 3), (0, -3)])


@pytest.mark.parametrize(("negate", "inclusive", "expected"),
                         [(False, False, [1, 0, 1]), (False, True, [0, 1, 1]),
                          (True, False, [0, 1, 1]), (True, True, [1, 0, 1])])
def test_sign_change_monitor_counts_the_pixels_that_cross_zero_by_its_side_rule(negate, inclusive, expected):
    # one pixel per case: +1 -> 0 (leaves phi > 0, enters phi <= 0), 0 -> -1, -1 -> +1 (crosses)
    monitor = SignChangeMonitor(np.array([1.0, 0.0, -1.0]), negate=negate, inclusive=inclusive)
    # inside is phi > 0 (phi >= 0 inclusive); negate: phi < 0 (phi <= 0 inclusive). Worked by hand:
    # phi > 0: T->F, F->F, F->T; phi >= 0: T->T, T->F, F->T; phi < 0: F->F, F->T, T->F; phi <= 0: F->T, T->T, T->F
    assert monitor.update(np.array([0.0, -1.0, 1.0])) == sum(expected)
    for i, flips in enumerate(expected):  # pixel by pixel
        one = SignChangeMonitor(np.array([[1.0, 0.0, -1.0][i]]), negate=negate, inclusive=inclusive)
        assert one.update(np.array([[0.0, -1.0, 1.0][i]])) == flips
    assert monitor.update(np.array([0.0, -1.0, 1.0])) == 0  # compared with the previous call now

"""The two polarity rules: the phase in the sample's region, the phase touching less of the border."""

import numpy as np
import pytest

from lsbench.levelset.polarity import border_counts, orient_by_border, orient_by_region


def _grid(rows):
    return np.array([[c == "#" for c in r] for r in rows])


def test_border_counts_count_each_border_pixel_once():
    m = _grid(["#...",
               "....",
               "...#"])
    # the ring of a 3 x 4 image has 3 * 4 - 1 * 2 = 10 pixels; corners counted once
    assert border_counts(m) == (2, 8)
    assert border_counts(np.ones((1, 5), bool)) == (5, 0)  # a single row is all border
    assert border_counts(np.zeros((2, 2), bool)) == (0, 4)
    with pytest.raises(ValueError, match="2-D"):
        border_counts(np.zeros(4, bool))


def test_a_phase_touching_no_border_is_the_object():
    inner = _grid(["....",
                   ".##.",
                   ".#..",
                   "...."])
    np.testing.assert_array_equal(orient_by_border(inner), inner)
    np.testing.assert_array_equal(orient_by_border(~inner), inner)


def test_the_phase_with_fewer_border_pixels_wins_even_when_larger():
    # the mask touches the border with 3 pixels (top row), its complement with 9 of the 12
    m = _grid(["###.",
               "###.",
               "###.",
               "...."])
    assert border_counts(m) == (5, 7)
    np.testing.assert_array_equal(orient_by_border(m), m)  # 5 < 7: kept although it is the larger phase
    np.testing.assert_array_equal(orient_by_border(~m), m)


def test_ties_keep_the_mask():
    left = _grid(["##..",
                  "##..",
                  "##..",
                  "##.."])
    assert border_counts(left) == (6, 6)
    np.testing.assert_array_equal(orient_by_border(left), left)
    np.testing.assert_array_equal(orient_by_border(~left), ~left)
    empty = np.zeros((3, 3), bool)  # an empty phase touches nothing: kept
    np.testing.assert_array_equal(orient_by_border(empty), empty)
    np.testing.assert_array_equal(orient_by_border(~empty), empty)


def test_orient_by_region_takes_the_phase_concentrated_in_the_region():
    m = _grid(["##..",
               "##..",
               "....",
               "...."])
    region = _grid(["###.",
                    "###.",
                    "###.",
                    "...."])
    # the mask has 4/4 of its pixels in the region, the complement 5/12
    np.testing.assert_array_equal(orient_by_region(m, region), m)
    np.testing.assert_array_equal(orient_by_region(~m, region), m)
    np.testing.assert_array_equal(orient_by_region(~m, None), ~m)
    with pytest.raises(ValueError, match="shape"):
        orient_by_region(m, region[:3])

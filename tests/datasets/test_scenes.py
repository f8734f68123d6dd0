"""Properties the scene families of the synthetic set (version 2) are built to have, computed from
the rendered images: the families whose difficulty is an intensity inhomogeneity are not separable
by any global threshold, yet their object is locally brighter (or darker) everywhere."""

import numpy as np
import pytest

from lsbench.datasets.scenes import SCENES, render_scene

SEEDS = range(8)


def best_global_threshold_f(image, mask):
    """The best F-measure any global threshold reaches (either polarity): an oracle, from the ground truth."""
    v = image.ravel()
    order = np.argsort(v, kind="stable")
    vs, ms = v[order], mask.ravel()[order]
    n, n_obj = vs.size, int(ms.sum())
    below = np.concatenate([[0], np.cumsum(ms)])  # object pixels among the k darkest
    cuts = np.concatenate([[0], np.flatnonzero(np.diff(vs)) + 1, [n]])  # never split equal values
    bright = 2 * (n_obj - below[cuts]) / ((n - cuts) + n_obj)  # object = pixels above the cut
    dark = 2 * below[cuts] / (cuts + n_obj)  # object = pixels below the cut
    return float(max(bright.max(), dark.max()))


def local_contrasts(image, mask, win=16, step=8, min_pixels=16):
    """Object mean / background mean in every win x win window holding both phases."""
    out = []
    for y in range(0, image.shape[0] - win + 1, step):
        for x in range(0, image.shape[1] - win + 1, step):
            m, im = mask[y:y + win, x:x + win], image[y:y + win, x:x + win]
            if m.sum() >= min_pixels and (~m).sum() >= min_pixels:
                out.append(im[m].mean() / im[~m].mean())
    return np.array(out)


def test_the_oracle_threshold_helper():
    img = np.array([[0.1, 0.2, 0.9, 0.8]])
    assert best_global_threshold_f(img, img > 0.5) == 1.0
    assert best_global_threshold_f(img, img < 0.5) == 1.0  # either polarity
    # object {0.2, 0.9}: the best cut keeps 0.2, 0.9 and 0.8 (F = 2*2/(3+2)) or 0.9 alone (2*1/(1+2))
    assert best_global_threshold_f(img, np.array([[False, True, True, False]])) == pytest.approx(0.8)


def _family(name):
    return [(i, s) for i, s in enumerate(SCENES) if s.family == name]


@pytest.mark.parametrize("family,per_scene,overall", [("inhomogeneous", 0.85, 0.8), ("vessel", 0.96, 0.9)])
def test_no_global_threshold_separates_the_biased_families(family, per_scene, overall):
    scores = []
    for index, scene in _family(family):
        f = [best_global_threshold_f(*render_scene(scene, seed, index, 128)) for seed in SEEDS]
        assert np.mean(f) <= per_scene, f"{scene.name}: a global threshold reaches F = {np.mean(f):.3f}"
        scores += f
    assert np.mean(scores) <= overall


@pytest.mark.parametrize("family,min_ratio", [("inhomogeneous", 1.2), ("vessel", 1.5)])
def test_the_object_is_locally_separable_everywhere(family, min_ratio):
    for index, scene in _family(family):
        for seed in SEEDS:
            image, mask = render_scene(scene, seed, index, 128)
            c = local_contrasts(image, mask)
            assert c.size >= 5
            # one polarity in every window (bright objects; the retina's vessels are dark), never faint
            sign = 1 if np.median(c) > 1 else -1
            assert (sign * np.log(c) >= np.log(min_ratio)).all(), (scene.name, seed, c.min(), c.max())


def test_the_inhomogeneous_ranges_overlap_across_the_image():
    """A good part of the object is darker than the brightest part of the background."""
    for index, scene in _family("inhomogeneous"):
        overlap = []
        for seed in SEEDS:
            image, mask = render_scene(scene, seed, index, 128)
            overlap.append(np.mean(image[mask] < np.percentile(image[~mask], 95)))
        assert min(overlap) > 0 and np.mean(overlap) >= 0.2, (scene.name, overlap)


def test_every_family_is_in_both_splits_with_its_version_2_scenes():
    assert len(SCENES) == 20 and len({s.name for s in SCENES}) == 20
    by_family = {}
    for s in SCENES:
        by_family.setdefault(s.family, set()).add(s.split)
    assert all(v == {"train", "test"} for v in by_family.values()) and len(by_family) == 6

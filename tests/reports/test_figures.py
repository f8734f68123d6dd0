"""Figures: at most 8 inches wide, PNG and PDF written, not blank, drawn from saved data only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from lsbench.reports.figures import (
    DPI,
    MAX_WIDTH_IN,
    convergence_plot,
    fmeasure_distribution,
    instance_overlays,
    save_figure,
    segmentation_grid,
    time_vs_size,
)
from lsbench.rundir import FigureSample
from lsbench.types import Instances


def _disk(h=24, w=32, r=6, cy=12, cx=14):
    yy, xx = np.mgrid[0:h, 0:w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _samples(n=3):
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        m = _disk(cx=10 + 3 * k)
        out.append(FigureSample(f"s{k}", "fam" if k else "", (0.3 + 0.4 * m + 0.05 * rng.random(m.shape))
                                .astype(np.float32), m))
    return out


def _check_saved(fig: Figure, tmp_path, name: str) -> None:
    paths = save_figure(fig, tmp_path / "figures" / name)
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert paths[1].read_bytes().startswith(b"%PDF")
    with Image.open(paths[0]) as im:
        assert im.width <= MAX_WIDTH_IN * DPI
        grey = np.asarray(im.convert("L"), dtype=float)
    assert grey.std() > 10  # something was drawn
    assert not list((tmp_path / "figures").glob(".*"))  # no temporary files left


def test_segmentation_grid(tmp_path):
    samples = _samples()
    masks = {"a": {s.id: s.mask for s in samples}, "b": {"s0": np.zeros((24, 32), bool), "s1": None}}
    fig = segmentation_grid(samples, masks)
    assert fig.get_figwidth() <= MAX_WIDTH_IN
    axes = fig.get_axes()
    assert len(axes) == 3 * 4  # columns = samples; rows = input, a, b, ground truth
    assert [ax.get_ylabel() for ax in axes[::3]] == ["Input", "a", "b", "Ground truth"]
    assert any(t.get_text() == "failed" for ax in axes for t in ax.texts)  # b failed on s1 and lacks s2
    _check_saved(fig, tmp_path, "grid")
    wide = segmentation_grid(_samples(12), {"a": {}})
    assert wide.get_figwidth() <= MAX_WIDTH_IN


def test_instance_overlays(tmp_path):
    samples = _samples(2)
    gt = {s.id: Instances(np.stack([s.mask, ~s.mask & _disk(r=3, cy=4, cx=28)]), [1, 2]) for s in samples}
    pred = {s.id: Instances(np.stack([s.mask, _disk(r=2)]), [1, 2], scores=[0.9, 0.2]) for s in samples}
    fig = instance_overlays(samples, gt, {"A": pred, "B": {"s0": None}}, {1: "disk", 2: "dot"})
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes[:4]] == ["Input", "A", "B", "Ground truth"]
    labels = [t.get_text() for t in axes[1].texts]
    assert labels == ["disk 0.90"]  # the 0.2-score detection is below the 0.5 display threshold
    assert sorted(t.get_text() for t in axes[3].texts) == ["disk", "dot"]
    _check_saved(fig, tmp_path, "overlays")


def test_convergence_plot(tmp_path):
    it = np.arange(1, 21)
    traces = pd.concat([pd.DataFrame({"method": m, "sample_id": s, "iteration": it,
                                      "energy": 100 / it + k, "f_measure": 1 - 0.5 / it})
                        for k, m in enumerate(("cv", "drlse")) for s in ("x", "y")])
    fig = convergence_plot(traces)
    axes = fig.get_axes()
    assert len(axes) == 4
    lines = axes[0].get_lines()
    assert len(lines) == 2 and lines[0].get_linestyle() != lines[1].get_linestyle()  # greyscale-safe
    y = lines[0].get_ydata()
    assert y[0] == pytest.approx(1.0) and y[-1] == pytest.approx(0.0)  # normalised energy
    _check_saved(fig, tmp_path, "conv")
    with pytest.raises(ValueError, match="no convergence traces"):
        convergence_plot(traces.iloc[:0])


def test_distribution_and_time_plots(tmp_path):
    rows = [{"method": m, "sample_id": f"s{i}", "height": h, "width": h, "seconds": 0.01 * h * (k + 1),
             "error": "boom" if (m == "b" and i == 0) else "", "f_measure": 0.5 + 0.05 * i}
            for k, m in enumerate(("a", "b")) for i, h in enumerate((16, 32, 64, 128))]
    per = pd.DataFrame(rows)
    fig = fmeasure_distribution(per)
    ax = fig.get_axes()[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a\n(n = 4)", "b\n(n = 3)"]
    _check_saved(fig, tmp_path, "box")
    fig = time_vs_size(per)
    ax = fig.get_axes()[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    _check_saved(fig, tmp_path, "time")
    with pytest.raises(ValueError, match="no f_measure"):
        fmeasure_distribution(per.drop(columns="f_measure"))


def test_save_figure_refuses_wide_figures(tmp_path):
    with pytest.raises(ValueError, match="at most 8"):
        save_figure(Figure(figsize=(9, 3)), tmp_path / "wide")
    assert not list(tmp_path.iterdir())

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
    accuracy_vs_time,
    convergence_plot,
    fmeasure_distribution,
    instance_overlays,
    method_style,
    save_figure,
    segmentation_grid,
    sizes_vary,
    time_vs_size,
)
from lsbench.reports.uncertainty import bootstrap_interval
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


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_segmentation_grid_writes_each_panels_f_measure(tmp_path):
    samples = _samples()
    masks = {"a": {s.id: s.mask for s in samples}, "b": {"s0": np.zeros((24, 32), bool), "s1": None}}
    scores = {"a": {"s0": 0.973, "s1": 1.0, "s2": 0.5}, "b": {"s0": 0.0}}
    fig = segmentation_grid(samples, masks, scores=scores)
    axes = np.array(fig.get_axes()).reshape(4, 3)  # rows input, a, b, ground truth
    assert [_texts(ax) for ax in axes[1]] == [["F 97.3"], ["F 100.0"], ["F 50.0"]]
    assert [_texts(ax) for ax in axes[2]] == [["F 0.0"], ["failed"], ["failed"]]
    assert all(_texts(ax) == [] for ax in (*axes[0], *axes[3]))  # no score on the input or ground truth
    _check_saved(fig, tmp_path, "grid-scores")


def test_empty_instance_panels_say_so(tmp_path):
    samples = _samples(2)
    none = Instances(np.zeros((0, 24, 32), bool), np.zeros(0, np.int64))
    gt = {"s0": Instances(samples[0].mask[None], [1]), "s1": none}
    low = {s.id: Instances(samples[0].mask[None], [1], scores=[0.3]) for s in samples}  # below the 0.5 shown
    fig = instance_overlays(samples, gt, {"A": low, "B": {"s0": None}}, {1: "disk"})
    axes = np.array(fig.get_axes()).reshape(2, 4)
    assert _texts(axes[0, 1]) == ["no detection"] and _texts(axes[1, 1]) == ["no detection"]
    assert _texts(axes[0, 2]) == ["failed"] and _texts(axes[1, 3]) == ["no object"]
    assert _texts(axes[0, 3]) == ["disk"]
    _check_saved(fig, tmp_path, "overlays-empty")


def test_every_method_has_its_own_marker_and_colour():
    styles = [method_style(i) for i in range(30)]
    assert len({m for _, m, _ in styles}) == 30
    assert len({c for _, _, c in styles[:20]}) == 20
    per = pd.DataFrame([{"method": f"m{k}", "sample_id": f"s{i}", "height": h, "width": h, "seconds": 0.01 * (k + 1),
                         "error": "", "f_measure": 0.5 + 0.04 * k} for k in range(9) for i, h in enumerate((16, 32))])
    scatter = time_vs_size(per).get_axes()[0]
    points = accuracy_vs_time(per).get_axes()[0]
    for markers in ([line.get_marker() for line in scatter.get_lines() if not line.get_label().startswith("_")],
                    [container[0].get_marker() for container in points.containers]):
        assert len(markers) == 9 and len(set(markers)) == 9  # the reference run has 9 methods


def test_accuracy_vs_time_shows_mean_f_against_time_with_intervals(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for k, (m, secs) in enumerate((("fast", 0.01), ("slow", 2.0), ("broken", 0.5))):
        for i in range(20):
            rows.append({"method": m, "sample_id": f"s{i}", "height": 64, "width": 64,
                         "seconds": secs * (1 + 0.5 * rng.random()), "error": "boom" if m == "broken" else "",
                         "f_measure": 0.6 + 0.3 * k * rng.random()})
    per = pd.DataFrame(rows)
    fig = accuracy_vs_time(per)
    ax = fig.get_axes()[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert "F-measure" in ax.get_ylabel() and "seconds per image" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fast (n = 20)", "slow (n = 20)"]  # failed: out
    containers = ax.containers
    assert len(containers) == 2
    colours = set()
    for container, m in zip(containers, ("fast", "slow"), strict=True):
        t = per[per.method == m]
        line, _, (xbar, ybar) = container
        assert line.get_xdata()[0] == pytest.approx(t["seconds"].median())
        assert line.get_ydata()[0] == pytest.approx(100 * t["f_measure"].mean())
        low, high = bootstrap_interval(t["f_measure"].to_numpy())
        (y0, y1) = sorted(ybar.get_segments()[0][:, 1])
        assert (y0, y1) == (pytest.approx(100 * low), pytest.approx(100 * high))
        (x0, x1) = sorted(xbar.get_segments()[0][:, 0])
        assert (x0, x1) == (pytest.approx(t["seconds"].quantile(0.25)), pytest.approx(t["seconds"].quantile(0.75)))
        colours.add(tuple(line.get_color()) if not isinstance(line.get_color(), str) else line.get_color())
    assert len(colours) == 2 and containers[0][0].get_marker() != containers[1][0].get_marker()
    _check_saved(fig, tmp_path, "accuracy")
    with pytest.raises(ValueError, match="no method has a successful sample"):
        accuracy_vs_time(per[per.method == "broken"])


def test_time_vs_size_is_only_worth_drawing_when_sizes_vary():
    same = pd.DataFrame({"method": "a", "height": [128, 128], "width": [128, 128], "error": ""})
    assert not sizes_vary(same)
    assert sizes_vary(same.assign(width=[128, 96]))
    assert not sizes_vary(same.assign(width=[128, 96], error=["", "boom"]))  # only successful samples count

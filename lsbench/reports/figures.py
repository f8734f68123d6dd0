"""The chapter's figures, drawn from a run directory's saved data (matplotlib, no pyplot state).

* :func:`segmentation_grid` — Figure 7 style: one column per sample; rows input, each method,
  ground truth; the method's (or ground truth's) contour drawn over the image, and the
  sample's F-measure written on each method's panel.
* :func:`instance_overlays` — Figures 8-9 style: rows of samples; columns input, method A,
  method B, ground truth; instances filled in class colours with a text label (class, score);
  a panel without instances says "no detection" (or "no object" for the ground truth).
* :func:`accuracy_vs_time` — mean F-measure against seconds per image (log), one point per
  method with its bootstrap interval and the spread of its times.
* :func:`convergence_plot` — normalised energy and F-measure against iteration, per classic method.
* :func:`fmeasure_distribution` — per-image F-measure per method (box plots, mean marked).
* :func:`time_vs_size` — seconds per image against image size, log-log, per method (drawn by the
  reports only when the run's image sizes vary, :func:`sizes_vary`).

Every figure is at most 8 inches wide and stays readable in greyscale: each method has a marker
of its own (no two methods of a figure share one) and a line style, besides its colour
(:func:`method_style`); contours are drawn light on a dark outline, instance classes carry text
labels. Figures are saved as PNG (150 dpi) and PDF by :func:`save_figure`.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.figure import Figure

from lsbench.atomic import atomic_file
from lsbench.rundir import FigureSample, failed_mask
from lsbench.types import Instances

__all__ = ["MAX_WIDTH_IN", "accuracy_vs_time", "convergence_plot", "fmeasure_distribution", "instance_overlays",
           "method_style", "primary_f_column", "save_figure", "segmentation_grid", "sizes_vary", "time_vs_size"]

MAX_WIDTH_IN = 8.0
DPI = 150
#: one marker per method, in order: distinguishable without colour (methods beyond these get numbers)
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "p", "h", "<", ">", "d", "8", "H", "1", "2", "3", "4", "x"]
#: line styles, cycled (the marker tells methods apart where a line style repeats)
LINESTYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2)), (0, (3, 1, 1, 1))]
_OUTLINE = [patheffects.Stroke(linewidth=2.6, foreground="black"), patheffects.Normal()]


def method_style(i: int) -> tuple[Any, str, tuple[float, float, float]]:
    """``(line style, marker, colour)`` of the ``i``-th method of a figure: the marker and colour are
    the method's own for any ``i`` (markers from :data:`MARKERS`, then ``$i$``; colours from tab20)."""
    from matplotlib import colormaps

    marker = MARKERS[i] if i < len(MARKERS) else f"${i + 1}$"
    tab20 = colormaps["tab20"]
    colour = tab20((2 * i) % 20 + (i // 10) % 2)[:3]  # the ten strong colours first, then their light pairs
    return LINESTYLES[i % len(LINESTYLES)], marker, colour


def _show(ax: Any, image: np.ndarray) -> None:
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _contour(ax: Any, mask: np.ndarray, color: str = "#ffd700", linestyle: Any = "-") -> None:
    if not mask.any() or mask.all():
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cs = ax.contour(mask.astype(np.float32), levels=[0.5], colors=[color], linewidths=1.3,
                        linestyles=[linestyle])
    cs.set_path_effects(_OUTLINE)


def _panel_note(ax: Any, text: str, where: str = "center") -> None:
    """White text on black in a panel: centred (a state: failed, no detection) or bottom-left (a score)."""
    x, y, ha, va = (0.5, 0.5, "center", "center") if where == "center" else (0.03, 0.03, "left", "bottom")
    ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, color="white", fontsize=6 if where != "center" else 7,
            bbox={"facecolor": "black", "alpha": 0.75 if where != "center" else 1.0, "pad": 1.2, "linewidth": 0})


def segmentation_grid(samples: Sequence[FigureSample], masks: Mapping[str, Mapping[str, np.ndarray | None]],
                      methods: Sequence[str] | None = None,
                      scores: Mapping[str, Mapping[str, float]] | None = None) -> Figure:
    """Figure 7 style grid: columns = samples; rows = input, each method, ground truth.

    Parameters
    ----------
    samples : sequence of FigureSample
    masks : mapping method -> (sample id -> mask or None)
        None (or a missing id) marks a sample the method failed on.
    methods : sequence of str, optional
        Row order (default: the order of ``masks``).
    scores : mapping method -> (sample id -> F-measure in [0, 1]), optional
        Written on each method's panel as ``F 97.3`` (%; from ``per_sample.csv``).
    """
    if not samples:
        raise ValueError("segmentation_grid needs at least one sample")
    methods = list(methods or masks)
    rows = ["Input", *methods, "Ground truth"]
    n_cols, n_rows = len(samples), len(rows)
    cell = min(1.35, (MAX_WIDTH_IN - 0.9) / n_cols)
    fig = Figure(figsize=(min(MAX_WIDTH_IN, 0.9 + cell * n_cols), 0.35 + cell * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for j, s in enumerate(samples):
        for i, row in enumerate(rows):
            ax = axes[i, j]
            _show(ax, s.image)
            if row == "Ground truth":
                if s.mask is not None:
                    _contour(ax, s.mask, color="#00e5ff")
                else:  # e.g. an image of a folder dataset without a mask
                    ax.text(0.5, 0.5, "no ground truth", transform=ax.transAxes, ha="center", va="center",
                            color="white", fontsize=7, bbox={"facecolor": "black", "pad": 1.5})
            elif row != "Input":
                m = masks.get(row, {}).get(s.id)
                if m is None:
                    _panel_note(ax, "failed")
                else:
                    _contour(ax, m)
                    f = (scores or {}).get(row, {}).get(s.id)
                    if f is not None and math.isfinite(f):
                        _panel_note(ax, f"F {100 * f:.1f}", where="corner")
            if i == 0:
                ax.set_title(f"{s.id}\n{s.group}" if s.group else s.id, fontsize=6)
            if j == 0:
                ax.set_ylabel(row, fontsize=7)
    return fig


def _class_colour(label: int) -> tuple[float, float, float]:
    from matplotlib import colormaps

    return colormaps["tab10"](int(label - 1) % 10)[:3]


def _draw_instances(ax: Any, image: np.ndarray, inst: Instances | None, class_names: Mapping[int, str],
                    score_threshold: float, empty: str = "no detection") -> None:
    _show(ax, image)
    if inst is None:
        _panel_note(ax, "failed")
        return
    keep = np.ones(len(inst), dtype=bool) if inst.scores is None else inst.scores >= score_threshold
    if not keep.any():
        _panel_note(ax, empty)
        return
    h, w = inst.masks.shape[1:]
    overlay = np.zeros((h, w, 4), dtype=np.float32)
    for k in np.flatnonzero(keep):
        overlay[inst.masks[k]] = (*_class_colour(inst.labels[k]), 0.45)
    ax.imshow(overlay, interpolation="nearest")
    for k in np.flatnonzero(keep):
        colour = _class_colour(inst.labels[k])
        _contour(ax, inst.masks[k], color=colour)
        x1, y1 = inst.boxes[k][:2]
        text = class_names.get(int(inst.labels[k]), str(int(inst.labels[k])))
        if inst.scores is not None:
            text += f" {inst.scores[k]:.2f}"
        ax.text(x1, y1, text, fontsize=5, va="bottom", ha="left", color="black",
                bbox={"facecolor": "white", "edgecolor": colour, "pad": 0.8, "alpha": 0.85, "linewidth": 0.8})


def instance_overlays(samples: Sequence[FigureSample], ground_truth: Mapping[str, Instances],
                      predictions: Mapping[str, Mapping[str, Instances | None]], class_names: Mapping[int, str],
                      methods: Sequence[str] | None = None, score_threshold: float = 0.5) -> Figure:
    """Figures 8-9 style: rows = samples; columns = input, up to two methods, ground truth.

    Predicted instances below ``score_threshold`` are not drawn (the figure says so); a panel left
    without instances says "no detection" (the ground truth's: "no object").
    """
    if not samples:
        raise ValueError("instance_overlays needs at least one sample")
    methods = list(methods or predictions)[:2]
    cols = ["Input", *methods, "Ground truth"]
    cell = min(1.9, (MAX_WIDTH_IN - 0.4) / len(cols))
    aspect = samples[0].image.shape[0] / samples[0].image.shape[1]
    fig = Figure(figsize=(min(MAX_WIDTH_IN, 0.4 + cell * len(cols)), 0.5 + cell * aspect * len(samples)),
                 layout="constrained")
    axes = fig.subplots(len(samples), len(cols), squeeze=False)
    for i, s in enumerate(samples):
        for j, col in enumerate(cols):
            ax = axes[i, j]
            if col == "Input":
                _show(ax, s.image)
            elif col == "Ground truth":
                _draw_instances(ax, s.image, ground_truth.get(s.id), class_names, 0.0, empty="no object")
            else:
                _draw_instances(ax, s.image, predictions.get(col, {}).get(s.id), class_names, score_threshold)
            if i == 0:
                ax.set_title(col, fontsize=8)
            if j == 0:
                ax.set_ylabel(s.id, fontsize=6)
    fig.suptitle(f"predictions with score ≥ {score_threshold:g}; label = class and score", fontsize=7)
    return fig


def _order(present: Sequence[str], methods: Sequence[str] | None) -> list[str]:
    """``methods`` (the run's order, which fixes each method's style) followed by any other present method."""
    order = [str(m) for m in (methods or ())]
    return order + [m for m in dict.fromkeys(present) if m not in order]


def convergence_plot(traces: pd.DataFrame, max_samples: int = 3, methods: Sequence[str] | None = None) -> Figure:
    """Energy (normalised to [0, 1] per trace) and F-measure against iteration, per method and sample.

    Each method's energy is its own functional, so energies are rescaled per trace:
    ``(E - min E) / (E_first - min E)``, which keeps the shape of the descent comparable.
    ``methods`` (the run's methods, in order) gives each method the style it has in the other figures.
    """
    if traces is None or not len(traces):
        raise ValueError("no convergence traces (the run traced no classic method)")
    samples = list(dict.fromkeys(traces["sample_id"].astype(str)))[:max_samples]
    methods = _order(traces["method"].astype(str).tolist(), methods)
    fig = Figure(figsize=(MAX_WIDTH_IN, 0.6 + 2.1 * len(samples)), layout="constrained")
    axes = fig.subplots(len(samples), 2, squeeze=False)
    for i, sid in enumerate(samples):
        for k, m in enumerate(methods):
            t = traces[(traces["method"].astype(str) == m) & (traces["sample_id"].astype(str) == sid)]
            if not len(t):
                continue
            ls, marker, colour = method_style(k)
            it = t["iteration"].to_numpy(dtype=float)
            every = max(1, len(it) // 8)
            e = t["energy"].to_numpy(dtype=float)
            if np.isfinite(e).sum() >= 2:
                lo, first = np.nanmin(e), e[np.isfinite(e)][0]
                span = first - lo
                norm = (e - lo) / span if span > 0 else np.zeros_like(e)
                axes[i, 0].plot(it, norm, linestyle=ls, marker=marker, markevery=every, markersize=4,
                                color=colour, markeredgecolor="black", markeredgewidth=0.5, linewidth=1.1, label=m)
            axes[i, 1].plot(it, 100 * t["f_measure"].to_numpy(dtype=float), linestyle=ls, marker=marker,
                            markevery=every, markersize=4, color=colour, markeredgecolor="black",
                            markeredgewidth=0.5, linewidth=1.1, label=m)
        axes[i, 0].set_ylabel(f"{sid}\nenergy (normalised)", fontsize=7)
        axes[i, 1].set_ylabel("F-measure %", fontsize=7)
        for ax in axes[i]:
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("iteration", fontsize=8)
    axes[0, 1].legend(fontsize=7, loc="lower right")
    axes[0, 0].set_title("energy (each method's own functional)", fontsize=8)
    axes[0, 1].set_title("F-measure against the ground truth", fontsize=8)
    return fig


def primary_f_column(per_sample: pd.DataFrame) -> str:
    """The F-measure column the figures show: ``f_measure``, else the first ``f_measure_<gt>``."""
    for c in per_sample.columns:
        if c == "f_measure":
            return c
    for c in per_sample.columns:
        if c.startswith("f_measure_"):
            return c
    raise ValueError("per_sample has no f_measure column (not a single-object run)")


def fmeasure_distribution(per_sample: pd.DataFrame) -> Figure:
    """Box plots of per-image F-measure (%) per method; the mean is marked with a diamond."""
    col = primary_f_column(per_sample)
    ok = per_sample[~failed_mask(per_sample)]
    if not len(ok):
        raise ValueError("every sample failed: no F-measure to plot")
    methods = list(dict.fromkeys(per_sample["method"].astype(str)))
    data = [100 * pd.to_numeric(ok.loc[ok["method"].astype(str) == m, col], errors="coerce").dropna().to_numpy()
            for m in methods]
    fig = Figure(figsize=(min(MAX_WIDTH_IN, max(3.6, 1.6 + 0.9 * len(methods))), 3.2), layout="constrained")
    ax = fig.subplots()
    labels = [f"{m}\n(n = {d.size})" for m, d in zip(methods, data, strict=True)]
    ax.boxplot(data, tick_labels=labels, widths=0.55, medianprops={"color": "black", "linewidth": 1.5},
               flierprops={"marker": ".", "markersize": 3, "markerfacecolor": "0.3", "markeredgecolor": "0.3"},
               patch_artist=True, boxprops={"facecolor": "0.85", "edgecolor": "black"})
    means = [d.mean() if d.size else math.nan for d in data]
    ax.plot(range(1, len(methods) + 1), means, linestyle="none", marker="D", markersize=5,
            markerfacecolor="white", markeredgecolor="black", label="mean")
    lowest = min((d.min() for d in data if d.size), default=0.0)
    ax.set_ylim(max(0.0, 10 * math.floor(lowest / 10) - 2), 101)
    ax.set_ylabel(f"F-measure % ({col})", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("per-image F-measure (failed samples excluded)", fontsize=8)
    ax.legend(fontsize=7, loc="lower left")
    return fig


def sizes_vary(per_sample: pd.DataFrame) -> bool:
    """True when the successful samples of a run have more than one image size (H x W): only then does
    :func:`time_vs_size` show more than one vertical stripe."""
    ok = per_sample[~failed_mask(per_sample)]
    if not {"height", "width"} <= set(ok.columns):
        return False
    sizes = pd.DataFrame({"h": pd.to_numeric(ok["height"], errors="coerce"),
                          "w": pd.to_numeric(ok["width"], errors="coerce")}).dropna().drop_duplicates()
    return len(sizes) > 1


def time_vs_size(per_sample: pd.DataFrame, methods: Sequence[str] | None = None) -> Figure:
    """Seconds per image against image size (pixels), log-log, one marker and colour per method."""
    ok = per_sample[~failed_mask(per_sample)]
    if not (pd.to_numeric(ok["seconds"], errors="coerce") > 0).any():
        raise ValueError("no successful sample with a positive time to plot")
    methods = _order(per_sample["method"].astype(str).tolist(), methods)
    fig = Figure(figsize=(min(MAX_WIDTH_IN, 5.5), 3.6), layout="constrained")
    ax = fig.subplots()
    for k, m in enumerate(methods):
        t = ok[ok["method"].astype(str) == m]
        if not len(t):
            continue
        px = pd.to_numeric(t["height"], errors="coerce") * pd.to_numeric(t["width"], errors="coerce")
        secs = pd.to_numeric(t["seconds"], errors="coerce")
        linestyle, marker, colour = method_style(k)
        ax.plot(px, secs, linestyle="none", marker=marker, markersize=4, markerfacecolor=colour,
                markeredgecolor="black", markeredgewidth=0.6, alpha=0.8, label=m)
        med = pd.DataFrame({"px": px, "s": secs}).groupby("px")["s"].median()
        ax.plot(med.index, med.to_numpy(), linestyle=linestyle, color=colour, linewidth=1.0,
                marker="_", markersize=16, markeredgewidth=1.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("image size (pixels, H × W)", fontsize=8)
    ax.set_ylabel("seconds per image", fontsize=8)
    ax.tick_params(which="both", labelsize=7)
    ax.grid(which="both", alpha=0.25)
    ax.legend(fontsize=7, title="method (bar/line: median)", title_fontsize=7)
    return fig


def accuracy_vs_time(per_sample: pd.DataFrame, methods: Sequence[str] | None = None) -> Figure:
    """Mean F-measure (%) against seconds per image (log axis): one point per method, each with its own
    marker and colour.

    The point is (median seconds per image, mean F); the vertical bar is the 95 % bootstrap interval
    of the mean F (:func:`lsbench.reports.uncertainty.bootstrap_interval`, as in Table 2), the
    horizontal bar the interquartile range of the per-image seconds. Failed samples are left out.
    """
    from lsbench.reports.uncertainty import bootstrap_interval

    col = primary_f_column(per_sample)
    ok = per_sample[~failed_mask(per_sample)]
    methods = _order(per_sample["method"].astype(str).tolist(), methods)
    points = []
    for k, m in enumerate(methods):
        t = ok[ok["method"].astype(str) == m]
        f = pd.to_numeric(t[col], errors="coerce").dropna().to_numpy(dtype=float)
        secs = pd.to_numeric(t["seconds"], errors="coerce").to_numpy(dtype=float)
        secs = secs[np.isfinite(secs) & (secs > 0)]
        if f.size and secs.size:
            points.append((k, m, f, secs))
    if not points:
        raise ValueError("no method has a successful sample with an F-measure and a positive time")
    fig = Figure(figsize=(min(MAX_WIDTH_IN, 6.4), 4.0), layout="constrained")
    ax = fig.subplots()
    for k, m, f, secs in points:
        _, marker, colour = method_style(k)
        mean = 100 * f.mean()
        low, high = (100 * v for v in bootstrap_interval(f))
        q25, med, q75 = np.percentile(secs, [25, 50, 75])
        yerr = [[max(0.0, mean - low)], [max(0.0, high - mean)]] if math.isfinite(low) else None
        ax.errorbar([med], [mean], xerr=[[max(0.0, med - q25)], [max(0.0, q75 - med)]], yerr=yerr, linestyle="none", marker=marker,
                    markersize=8, color=colour, markeredgecolor="black", markeredgewidth=0.7, ecolor=colour,
                    elinewidth=1.2, capsize=3, label=f"{m} (n = {f.size})")
        ax.annotate(m, (med, mean), textcoords="offset points", xytext=(6, 5), fontsize=7)
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.2, 0.5, 1, 2, ... not 10^k
    ax.set_xlabel("seconds per image (median; bar: interquartile range)", fontsize=8)
    ax.set_ylabel(f"mean F-measure % ({col}; bar: 95 % bootstrap interval)", fontsize=8)
    ax.tick_params(which="both", labelsize=7)
    ax.grid(which="both", alpha=0.25)
    ax.set_title("accuracy against time (failed samples excluded)", fontsize=8)
    ax.legend(fontsize=7, loc="best", title="method", title_fontsize=7)
    return fig


def save_figure(fig: Figure, stem: str | os.PathLike[str]) -> list[Path]:
    """Save ``fig`` as ``<stem>.png`` (150 dpi) and ``<stem>.pdf``, each atomically; return the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    width = fig.get_figwidth()
    if width > MAX_WIDTH_IN + 1e-9:
        raise ValueError(f"figure {stem.name} is {width:.2f} in wide; at most {MAX_WIDTH_IN} in")
    out = []
    for ext in ("png", "pdf"):
        final = stem.with_suffix(f".{ext}")
        # no creation date in the PDF, so that regenerated reference figures diff cleanly
        meta = {"Software": "lsbench"} if ext == "png" else {"Creator": "lsbench", "CreationDate": None}
        with atomic_file(final) as tmp:
            fig.savefig(tmp, dpi=DPI, format=ext, metadata=meta)
        out.append(final)
    return out

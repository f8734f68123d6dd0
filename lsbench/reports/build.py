"""``lsbench report``: rebuild a run directory's tables, figures and one-page HTML from its files.

Nothing is re-run: tables come from ``per_sample.csv``, ``config.json`` and (instance runs) the
saved COCO results; figures from ``samples.npz``, ``masks/*.npz``, ``predictions/*.json``,
``ground_truth.json`` and ``traces.csv`` (the run-directory format, :mod:`lsbench.rundir`). Every input a
requested output needs is read before anything is written, so a missing or damaged file is an
error naming it and leaves the run directory as it was; every output is written to a temporary
file and renamed into place.

Outputs: ``table<N>.md``, ``table<N>.csv``, ``table<N>.tex`` per table the run fills,
``figures/<name>.png`` and ``.pdf``, and with ``html=True`` ``index.html``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lsbench.atomic import atomic_write_text
from lsbench.progress import stage
from lsbench.reports.render import ReportTable, to_csv, to_latex, to_markdown
from lsbench.reports.tables import TABLES, build_tables, fillable_tables, run_label
from lsbench.rundir import (
    RunDirError,
    failed_mask,
    load_figure_samples,
    load_instance_predictions,
    load_masks,
    load_run,
    load_traces,
)

__all__ = ["Report", "build_report", "write_table_files"]


def write_table_files(run_dir: str | Path, table: ReportTable) -> list[Path]:
    """``<name>.md``, ``<name>.csv`` and ``<name>.tex`` of one table."""
    run_dir = Path(run_dir)
    return [atomic_write_text(run_dir / f"{table.name}.md", to_markdown(table)),
            atomic_write_text(run_dir / f"{table.name}.csv", to_csv(table)),
            atomic_write_text(run_dir / f"{table.name}.tex", to_latex(table))]


class Report:
    """What :func:`build_report` produced: the tables (for printing) and every path written."""

    def __init__(self, tables: list[ReportTable], written: list[Path]) -> None:
        self.tables = tables
        self.written = written

    def markdown(self) -> str:
        return "\n".join(to_markdown(t) for t in self.tables)

    def path(self, name: str) -> Path | None:
        return next((p for p in self.written if p.name == name), None)


def _is_instance(run_dir: Path, config: dict[str, Any]) -> bool:
    return config.get("kind") == "instance" or (run_dir / "ground_truth.json").is_file()


def _figure_jobs(run_dir: Path, per_sample: pd.DataFrame, config: dict[str, Any]
                 ) -> list[tuple[str, Callable[[], Any]]]:
    """Load every figure's data now (so missing files fail early); return (name, draw) pairs."""
    from lsbench.reports import figures as F

    methods = [str(m) for m in dict.fromkeys(per_sample["method"])]
    any_ok = bool((~failed_mask(per_sample)).any())
    instance = _is_instance(run_dir, config)
    jobs: list[tuple[str, Callable[[], Any]]] = []
    try:
        samples = load_figure_samples(run_dir)
        if instance:
            jobs.append(("fig8_instances", _overlay_job(run_dir, samples, methods)))
        else:
            masks = {m: load_masks(run_dir, m) for m in methods}
            scored = [c for c in per_sample.columns if c == "f_measure" or c.startswith("f_measure_")]
            # a run without ground truth (a folder of images without masks) has F columns, all empty
            has_f = any(pd.to_numeric(per_sample[c], errors="coerce").notna().any() for c in scored)
            if samples:
                scores = _sample_scores(per_sample) if has_f else None
                jobs.append(("fig7_grid", lambda: F.segmentation_grid(samples, masks, methods, scores=scores)))
            traces = load_traces(run_dir)
            if len(traces):
                jobs.append(("convergence", lambda: F.convergence_plot(traces, methods=methods)))
            if any_ok and has_f:
                jobs.append(("accuracy_vs_time", lambda: F.accuracy_vs_time(per_sample, methods)))
                jobs.append(("fmeasure_box", lambda: F.fmeasure_distribution(per_sample)))
    except RunDirError as exc:
        raise RunDirError(f"{exc}; `lsbench report --no-figures` rebuilds the tables alone") from None
    if any_ok and F.sizes_vary(per_sample):
        jobs.append(("time_vs_size", lambda: F.time_vs_size(per_sample, methods)))
    return jobs


def _sample_scores(per_sample: pd.DataFrame) -> dict[str, dict[str, float]]:
    """method -> sample id -> the primary F-measure of each successful sample (written on the Figure 7 panels)."""
    from lsbench.reports.figures import primary_f_column

    col = primary_f_column(per_sample)
    ok = per_sample[~failed_mask(per_sample)]
    values = pd.to_numeric(ok[col], errors="coerce")
    out: dict[str, dict[str, float]] = {}
    for method, sample_id, value in zip(ok["method"].astype(str), ok["sample_id"].astype(str), values, strict=True):
        if pd.notna(value):
            out.setdefault(method, {})[sample_id] = float(value)
    return out


def _overlay_job(run_dir: Path, samples: list[Any], methods: list[str]) -> Callable[[], Any]:
    from lsbench.metrics.masks import decode_rles
    from lsbench.reports.figures import instance_overlays
    from lsbench.types import Instances

    gt, results = load_instance_predictions(run_dir, methods)
    ids = {img["sample_id"]: img for img in gt["images"]}
    names = {int(c["id"]): str(c.get("name", c["id"])) for c in gt["categories"]}
    wanted = [s for s in samples if s.id in ids][:4]

    def instances(anns: list[dict[str, Any]], shape: tuple[int, int], scored: bool) -> Instances:
        masks = decode_rles([a["segmentation"] for a in anns], shape=shape)
        return Instances(masks, [a["category_id"] for a in anns],
                         scores=[a["score"] for a in anns] if scored else None)

    gts, preds = {}, {m: {} for m in methods}
    for s in wanted:
        img = ids[s.id]
        shape = (int(img["height"]), int(img["width"]))
        gts[s.id] = instances([a for a in gt["annotations"] if a["image_id"] == img["id"]], shape, False)
        for m in methods:
            preds[m][s.id] = instances([r for r in results[m] if r["image_id"] == img["id"]], shape, True)
    return lambda: instance_overlays(wanted, gts, preds, names, methods)


def build_report(run_dir: str | Path, tables: Sequence[str] | None = None, figures: bool = True,
                 html: bool = False, instance_scores: dict[str, Any] | None = None,
                 require_table: bool = True, progress: bool = False) -> Report:
    """Rebuild tables (and figures, and the HTML page) of a run directory from its files.

    Parameters
    ----------
    run_dir : path
    tables : sequence of {"2", "3", "4"}, optional
        Only these tables (each must be one the run can fill); default: every fillable table.
    figures : bool
        Draw the figures (``figures/*.png`` and ``*.pdf``).
    html : bool
        Write ``index.html`` with every table and figure embedded (implies drawing the figures).
    instance_scores : dict, optional
        Scores already computed from the same predictions (the harness passes them to avoid
        scoring twice); by default they are computed from ``predictions/*.json``.
    require_table : bool
        Raise when no table can be filled (e.g. every sample failed); the harness passes False
        so that such a run is still written, with its errors.
    progress : bool
        A progress bar on stderr for each step: the tables, the figures (one step each), the page.

    Returns
    -------
    Report
    """
    run_dir = Path(run_dir)
    per_sample, config = load_run(run_dir)
    fillable = fillable_tables(run_dir, per_sample, config)
    if tables:
        for n in tables:
            if str(n) not in TABLES:
                raise ValueError(f"unknown table {n!r}; lsbench builds tables {', '.join(TABLES)}")
            if str(n) not in fillable:
                kind = "an instance-segmentation run" if str(n) in ("3", "4") else "a single-object run"
                raise ValueError(f"table {n} needs {kind}; {run_dir} can fill table(s) "
                                 f"{', '.join(fillable) or 'none'}")
    numbers = list(dict.fromkeys(str(n) for n in tables)) if tables else fillable
    if not numbers and require_table:
        raise ValueError(f"{run_dir}: no table can be filled from this run's metrics")
    jobs = _figure_jobs(run_dir, per_sample, config) if (figures or html) else []
    with stage("tables", len(numbers), enabled=progress, unit="table") as bar:
        bar.show(", ".join(f"table {n}" for n in numbers))
        built = build_tables(run_dir, per_sample, config, numbers, instance_scores=instance_scores)
        written: list[Path] = []
        for t in built:
            written += write_table_files(run_dir, t)
            bar.step(t.name)

    from lsbench.reports.figures import save_figure

    # a single-object figure says which dataset, split and protocol it shows, in the image itself (the
    # instance overlays' title is their score threshold; an instance run's protocol, always blind, is in
    # its tables' captions)
    label = "" if _is_instance(run_dir, config) else run_label(per_sample, config)
    pngs = []
    with stage("figures", len(jobs), enabled=progress, unit="fig") as bar:
        for name, draw in jobs:
            bar.show(name)
            fig = draw()
            if label:
                fig.suptitle(label, fontsize=7)
            paths = save_figure(fig, run_dir / "figures" / name)
            pngs.append(paths[0])
            written += paths
            bar.step()
    if html:
        from lsbench.reports.html import html_page

        with stage("HTML page", 1, enabled=progress, unit="page") as bar:
            bar.show("index.html")
            written.append(atomic_write_text(run_dir / "index.html", html_page(run_dir, built, pngs, config, label=label)))
            bar.step()
    return Report(built, written)

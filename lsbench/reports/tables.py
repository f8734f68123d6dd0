"""Tables rebuilt from a run's ``per_sample.csv`` (and ``config.json`` for the machine).

Table 2 (the chapter's single-object comparison): per method, the mean per-image F-measure
against each ground truth, IoU, wall seconds per image, iterations, n and failures; then the
F-measure per scene family when the dataset has families.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from lsbench.harness.summary import FIXED_COLUMNS, failed_mask

__all__ = ["load_run", "table2_frame", "table2_markdown", "write_tables"]


class RunDirError(FileNotFoundError):
    """A run directory is missing a file the reports need."""


def load_run(run_dir: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read ``per_sample.csv`` and ``config.json`` (optional) from a run directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} does not exist")
    per_sample_path = run_dir / "per_sample.csv"
    if not per_sample_path.is_file():
        raise RunDirError(f"{per_sample_path} is missing: not an lsbench run directory, or an incomplete one")
    try:
        per_sample = pd.read_csv(per_sample_path, dtype={"sample_id": str, "group": str, "error": str,
                                                         "method": str, "dataset": str, "split": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{per_sample_path} is not a readable CSV: {exc}") from None
    missing = [c for c in ("method", "dataset", "split", "sample_id", "seconds") if c not in per_sample]
    if missing:
        raise RunDirError(f"{per_sample_path} lacks column(s) {', '.join(missing)}")
    for col in ("error", "group"):
        if col in per_sample:
            per_sample[col] = per_sample[col].fillna("")
    config: dict[str, Any] = {}
    config_path = run_dir / "config.json"
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text())
        except json.JSONDecodeError as exc:
            raise RunDirError(f"{config_path} is not valid JSON: {exc}") from None
    return per_sample, config


def _gt_columns(per_sample: pd.DataFrame) -> list[tuple[str, str]]:
    """(column, label) of the F-measure columns: ``f_measure`` -> FM (GT), ``f_measure_gt1`` -> FM (GT1)."""
    out = []
    for col in per_sample.columns:
        if col == "f_measure":
            out.append((col, "FM (GT)"))
        elif col.startswith("f_measure_"):
            out.append((col, f"FM ({col[len('f_measure_'):].upper()})"))
    return out


def table2_frame(per_sample: pd.DataFrame) -> pd.DataFrame:
    """One row per method: F-measure per ground truth (mean and std, in %), IoU, time, n, failures."""
    failed = failed_mask(per_sample)
    rows = []
    for method, group in per_sample.groupby("method", sort=False):
        ok = group[~failed.loc[group.index]]
        row: dict[str, Any] = {"method": method}
        for col, label in _gt_columns(per_sample):
            vals = pd.to_numeric(ok[col], errors="coerce").dropna()
            row[f"{label} mean %"] = 100 * vals.mean() if len(vals) else math.nan
            row[f"{label} std %"] = 100 * vals.std(ddof=0) if len(vals) else math.nan
        if "iou" in ok:
            row["IoU mean %"] = 100 * pd.to_numeric(ok["iou"], errors="coerce").mean()
        secs = pd.to_numeric(ok["seconds"], errors="coerce")
        row["seconds per image"] = secs.mean() if len(secs) else math.nan
        row["seconds median"] = secs.median() if len(secs) else math.nan
        if "n_iter" in ok:
            row["iterations mean"] = pd.to_numeric(ok["n_iter"], errors="coerce").mean()
        row["n"] = len(ok)
        row["failed"] = int(failed.loc[group.index].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def _fmt_time(x: float) -> str:
    if x is None or math.isnan(x):
        return "–"
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}"


def _machine_line(config: dict[str, Any]) -> str:
    m = config.get("machine", {})
    parts = []
    if m.get("cpu"):
        parts.append(m["cpu"])
    if m.get("logical_cores"):
        parts.append(f"{m['logical_cores']} logical cores")
    return ", ".join(parts) or "unknown machine"


def table2_markdown(per_sample: pd.DataFrame, config: dict[str, Any] | None = None) -> str:
    """Markdown for Table 2 (and the per-family breakdown), from per-sample rows alone."""
    config = config or {}
    frame = table2_frame(per_sample)
    datasets = ", ".join(sorted(per_sample["dataset"].astype(str).unique()))
    splits = ", ".join(sorted(per_sample["split"].astype(str).unique()))
    n_samples = per_sample.groupby("method")["sample_id"].nunique().max()
    git = config.get("git") or {}
    lines = [
        f"# Table 2 — single-object segmentation ({datasets} / {splits})",
        "",
        f"Measured here: dataset `{datasets}`, split `{splits}`, {n_samples} images per method; "
        f"machine: {_machine_line(config)}"
        + (f"; lsbench commit `{git['commit'][:10]}`{' (dirty)' if git.get('dirty') else ''}" if git.get("commit") else "")
        + ".",
        "",
        "FM = mean of per-image F-measure (F1 = Dice, in %) ± one standard deviation; time = mean wall "
        "seconds per image at batch 1 after one warm-up call (median in brackets); failed samples are "
        "excluded from the means and counted.",
        "",
    ]
    gt_cols = _gt_columns(per_sample)
    header = ["Method", *[label for _, label in gt_cols], "IoU %", "Time / image (s)", "Iterations", "n", "Failed"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for _, r in frame.iterrows():
        cells = [f"`{r['method']}`"]
        for _, label in gt_cols:
            cells.append(f"{_fmt(r[f'{label} mean %'])} ± {_fmt(r[f'{label} std %'], 1)}")
        cells.append(_fmt(r.get("IoU mean %", math.nan)))
        cells.append(f"{_fmt_time(r['seconds per image'])} ({_fmt_time(r['seconds median'])})")
        cells.append(_fmt(r.get("iterations mean", math.nan), 0))
        cells.append(str(r["n"]))
        cells.append(str(r["failed"]))
        lines.append("| " + " | ".join(cells) + " |")

    lines += _throughput_lines(config)
    if "group" in per_sample and per_sample["group"].fillna("").astype(str).str.len().gt(0).any() and gt_cols:
        col = gt_cols[0][0]
        failed = failed_mask(per_sample)
        ok = per_sample[~failed].copy()
        ok[col] = pd.to_numeric(ok[col], errors="coerce")
        pivot = ok.pivot_table(index="method", columns="group", values=col, aggfunc="mean", sort=False)
        pivot = pivot.reindex(frame["method"])
        lines += ["", f"## {gt_cols[0][1]} by scene family (mean %)", "",
                  "| Method | " + " | ".join(map(str, pivot.columns)) + " |",
                  "|---|" + "|".join(["---:"] * len(pivot.columns)) + "|"]
        for method, r in pivot.iterrows():
            lines.append(f"| `{method}` | " + " | ".join(_fmt(100 * v) for v in r.values) + " |")
    return "\n".join(lines) + "\n"


def _throughput_lines(config: dict[str, Any]) -> list[str]:
    """Batched throughput of the methods that have ``predict_batch`` (``config["throughput"]``)."""
    rows = config.get("throughput") or {}
    if not rows:
        return []
    lines = ["", "Batched throughput (`predict_batch`, best of repeated batches after a warm-up):", "",
             "| Method | Batch | Images / s | Seconds / image |", "|---|---:|---:|---:|"]
    for method, r in rows.items():
        ips = float(r.get("images_per_second", math.nan))
        lines.append(f"| `{method}` | {r.get('batch_size', '–')} | {_fmt(ips, 1)} | "
                     f"{_fmt_time(1.0 / ips) if ips > 0 else '–'} |")
    return lines


def write_tables(run_dir: str | Path, per_sample: pd.DataFrame, config: dict[str, Any] | None = None) -> list[Path]:
    """Write ``table2.md`` and ``table2.csv`` for a single-object run; return the paths written."""
    run_dir = Path(run_dir)
    written: list[Path] = []
    metric_cols = [c for c in per_sample.columns if c not in FIXED_COLUMNS]
    if any(c == "f_measure" or c.startswith("f_measure_") for c in metric_cols):
        (run_dir / "table2.md").write_text(table2_markdown(per_sample, config))
        table2_frame(per_sample).to_csv(run_dir / "table2.csv", index=False)
        written += [run_dir / "table2.md", run_dir / "table2.csv"]
    return written

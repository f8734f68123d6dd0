"""The chapter's Tables 2-4 rebuilt from a run directory, beside the published numbers.

* **Table 2** (single-object segmentation): per method, the mean per-image F-measure against each
  ground truth with its 95 % bootstrap interval (:mod:`lsbench.reports.uncertainty`), IoU, wall
  seconds per image, iterations, n and failures, from ``per_sample.csv``, and the
  ground-truth-derived inputs the method received (``config.json``); then F-measure per scene
  family. When ``otsu`` ran too, ``table2_margins`` gives each method's margin over it per scene
  family (:func:`table2_margins`).
* **Table 3** (instance segmentation, VOC-style): mAPr@0.5, mAPr@0.7 and AP_vol under one AP
  definition (default ``mnc``, MNC's 11-point protocol) and seconds per image; sections compare
  the three AP definitions and list per-class AP.
* **Table 4** (instance segmentation, COCO-style): mask AP @[.5:.95], @.5, @.75 and by size.

Every table's caption names the dataset (with its version when it has one), the split and the
run's initialisation protocol (:mod:`lsbench.protocols`). Every table has a "measured here" column
group (dataset, split, n and how a limited run chose its samples, machine) and one column group per
published protocol (``baselines/published.toml``), so numbers measured differently never share a
column. Its notes state, per method, the preset and every parameter that differs from the
registered defaults (from ``config.json``). Instance scores come from the run's saved COCO results
(:func:`lsbench.metrics.scoring.score_instances`).
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lsbench.reports.published import Published, PublishedEntry, load_published
from lsbench.reports.render import Column, ColumnGroup, ReportTable, fmt_num, fmt_time
from lsbench.reports.uncertainty import (
    BOOTSTRAP_CONFIDENCE,
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    bootstrap_interval,
)
from lsbench.rundir import failed_mask, load_instance_predictions, metric_columns

__all__ = ["TABLES", "build_tables", "fillable_tables", "instance_scores_from_run", "margins_over",
           "parameter_notes", "run_label", "table2", "table2_frame", "table2_margins", "table3", "table4"]

TABLES = ("2", "3", "4")


# -- shared pieces ---------------------------------------------------------------------------------------
def _gt_columns(per_sample: pd.DataFrame) -> list[tuple[str, str]]:
    """(column, label) of the F-measure columns: ``f_measure`` -> FM (GT), ``f_measure_gt1`` -> FM (GT1)."""
    out = []
    for col in per_sample.columns:
        if col == "f_measure":
            out.append((col, "FM (GT)"))
        elif col.startswith("f_measure_"):
            out.append((col, f"FM ({col[len('f_measure_'):].upper()})"))
    return out


def _machine_line(config: dict[str, Any]) -> str:
    m = config.get("machine", {})
    parts = []
    if m.get("gpu"):
        parts.append(str(m["gpu"]))
    if m.get("cpu"):
        parts.append(m["cpu"])
    if m.get("logical_cores"):
        parts.append(f"{m['logical_cores']} logical cores")
    return ", ".join(parts) or "unknown machine"


def _measured_description(per_sample: pd.DataFrame, config: dict[str, Any], extra: str = "") -> str:
    datasets = ", ".join(sorted(per_sample["dataset"].astype(str).unique()))
    splits = ", ".join(sorted(per_sample["split"].astype(str).unique()))
    n = per_sample.groupby("method")["sample_id"].nunique().max() if len(per_sample) else 0
    git = config.get("git") or {}
    commit = (f"; lsbench commit {git['commit'][:10]}{' (dirty)' if git.get('dirty') else ''}"
              if git.get("commit") else "")
    workers = int((config.get("timing") or {}).get("concurrent_workers") or 1)
    concurrent = f", with {workers} workers running at once" if workers > 1 else ""
    return (f"dataset {datasets}, split {splits}, {n} images per method{_selection_text(config)}{extra}; time = "
            f"wall seconds per image at batch 1 after one warm-up call{concurrent}, on {_machine_line(config)}{commit}")


def _selection_text(config: dict[str, Any]) -> str:
    """How a limited run chose its images (``config["selection"]``), for the caption; "" for a full split."""
    sel = config.get("selection")
    if not sel:
        return ""
    of = f"{sel.get('n_selected')} of {sel.get('n_available')}"
    if sel.get("mode") == "spread":
        return f" ({of}, spread over {len(sel.get('families') or {})} scene families, seed {sel.get('seed')})"
    return f" (the first {of} of the split)"


def _format_param(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parameter_notes(config: dict[str, Any]) -> list[str]:
    """One caption line per method: the preset it started from and every parameter that differs from
    the registered defaults (the run's requested parameters, ``config["plan"]["methods"]``).

    A requested value equal to the registered default is not listed; a method that is no longer
    registered lists every requested value.
    """
    from lsbench.registry import METHODS

    planned = (config.get("plan") or {}).get("methods") or [{"name": m} for m in config.get("methods") or {}]
    notes = []
    for entry in planned:
        name = str(entry.get("name"))
        try:
            defaults = METHODS.get(name).defaults()
        except LookupError:
            defaults = {}
        changed = {k: v for k, v in (entry.get("params") or {}).items() if k not in defaults or defaults[k] != v}
        preset = entry.get("preset") or {}
        if preset.get("preset"):
            source = Path(str(preset["file"])).name if preset.get("file") else "no preset file"
            table = f" [{preset['table']}]" if preset.get("table") else ""
            start = f"preset {preset['preset']} ({source}{table})"
        else:
            start = "no preset"
        shown = ", ".join(f"{k}={_format_param(v)}" for k, v in changed.items()) or "none (registered defaults)"
        notes.append(f"Parameters of {name}: {start}; non-default: {shown}.")
    return notes


def run_label(per_sample: pd.DataFrame, config: dict[str, Any]) -> str:
    """What a caption says of the run: dataset (and its version), split and protocol.

    >>> run_label(pd.DataFrame({"dataset": ["synthetic"], "split": ["test"]}),
    ...           {"dataset": {"name": "synthetic", "version": 2}, "protocol": "blind"})
    'synthetic v2 / test, protocol blind'
    >>> run_label(pd.DataFrame({"dataset": ["weizmann"], "split": ["test"]}), {})
    'weizmann / test, protocol not recorded'
    """
    datasets = ", ".join(sorted(per_sample["dataset"].astype(str).unique()))
    version = (config.get("dataset") or {}).get("version")
    if version is not None:
        datasets += f" v{version}"
    splits = ", ".join(sorted(per_sample["split"].astype(str).unique()))
    return f"{datasets} / {splits}, protocol {config.get('protocol') or 'not recorded'}"


def _ground_truth_text(config: dict[str, Any], method: str) -> str | None:
    """The ground-truth-derived inputs ``method`` received (``config.json``), "none", or None when the run
    did not record them."""
    recorded = config.get("ground_truth_inputs")
    if not isinstance(recorded, dict) or method not in recorded:
        return None
    return "; ".join(map(str, recorded[method])) or "none"


def _time_stats(per_sample: pd.DataFrame) -> dict[str, dict[str, Any]]:
    failed = failed_mask(per_sample)
    out = {}
    for method, group in per_sample.groupby("method", sort=False):
        ok = group[~failed.loc[group.index]]
        secs = pd.to_numeric(ok["seconds"], errors="coerce").dropna()
        out[str(method)] = {"seconds": secs.mean() if len(secs) else math.nan,
                            "seconds_median": secs.median() if len(secs) else math.nan,
                            "n": len(ok), "failed": int(failed.loc[group.index].sum())}
    return out


_PUB_LABELS = {
    2: [("fm_gt1", "FM (GT1) %", fmt_num(2)), ("fm_gt2", "FM (GT2) %", fmt_num(2)), ("seconds", "Time (s)", fmt_time)],
    3: [("mapr50", "mAPr@0.5 %", fmt_num(1)), ("mapr70", "mAPr@0.7 %", fmt_num(1)), ("seconds", "Time (s)", fmt_time)],
    4: [("ap", "AP %", fmt_num(1)), ("ap50", "AP50 %", fmt_num(1))],
}


def _add_published(table: ReportTable, number: int, published: Published | None,
                   rows_by_method: dict[str, dict[str, Any]]) -> None:
    """Add one column group per published protocol; merge entries into rows of the same lsbench method."""
    if published is None:
        table.notes.append("Published numbers not shown: baselines/published.toml was not found "
                           "(it is read from the lsbench checkout, or from $LSBENCH_PUBLISHED).")
        return
    entries = published.for_table(number)
    for k, proto in enumerate(published.protocols_for(number)):
        tag = string.ascii_uppercase[k]
        gkey = f"pub-{proto.key}"
        table.groups.append(ColumnGroup(
            gkey, f"published {tag} ({proto.label})",
            f"{proto.dataset}; split: {proto.split}; {proto.metric}; time: {proto.time}; "
            f"source: {published.source_text(proto.source)}", tag))
        table.columns.append(Column(f"{gkey}:label", "As published", gkey, text=True))
        for field_name, label, fmt in _PUB_LABELS[number]:
            if any(field_name in e.values for e in entries if e.protocol == proto.key):
                table.columns.append(Column(f"{gkey}:{field_name}", label, gkey, fmt))
        if number == 3:
            table.columns.append(Column(f"{gkey}:ap_definition", "AP definition", gkey, text=True))
        if proto.ambiguity:
            table.notes.append(f"{tag}: {' '.join(proto.ambiguity.split())}")
        for e in (e for e in entries if e.protocol == proto.key):
            row = rows_by_method.get(e.method) if e.method else None
            if row is None or f"{gkey}:label" in row:
                row = {"method": e.label, "measured": False}
                table.rows.append(row)
            _fill(row, gkey, e)
            if e.note:
                table.notes.append(f"{tag}, {e.label}: {e.note}")
            if e.status != "chapter":
                table.notes.append(f"{tag}, {e.label}: {e.status} — {published.source_text(e.source)}")


def _fill(row: dict[str, Any], gkey: str, e: PublishedEntry) -> None:
    row[f"{gkey}:label"] = e.label
    for name, value in e.values.items():
        row[f"{gkey}:{name}"] = value
    if e.ap_definition:
        row[f"{gkey}:ap_definition"] = e.ap_definition


# -- Table 2 -----------------------------------------------------------------------------------------------
def table2_frame(per_sample: pd.DataFrame) -> pd.DataFrame:
    """One row per method: F-measure per ground truth (mean, std and the 95 % bootstrap interval of the mean,
    in %), IoU, time, n, failures."""
    failed = failed_mask(per_sample)
    rows = []
    for method, group in per_sample.groupby("method", sort=False):
        ok = group[~failed.loc[group.index]]
        row: dict[str, Any] = {"method": method}
        for col, label in _gt_columns(per_sample):
            vals = pd.to_numeric(ok[col], errors="coerce").dropna()
            row[f"{label} mean %"] = 100 * vals.mean() if len(vals) else math.nan
            row[f"{label} std %"] = 100 * vals.std(ddof=0) if len(vals) else math.nan
            low, high = bootstrap_interval(vals.to_numpy())
            row[f"{label} ci low %"], row[f"{label} ci high %"] = 100 * low, 100 * high
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


def _unscored_note(per_sample: pd.DataFrame, gt_cols: list[tuple[str, str]]) -> str:
    """A note when samples that ran have no primary score (images without a ground-truth mask)."""
    if not gt_cols or not len(per_sample):
        return ""
    ok = per_sample[~failed_mask(per_sample)]
    scores = pd.to_numeric(ok[gt_cols[0][0]], errors="coerce")
    missing = ok.loc[scores.isna(), "sample_id"].astype(str).unique()
    if not len(missing):
        return ""
    total = ok["sample_id"].astype(str).nunique()
    if len(missing) == total:
        return ("No ground truth: none of the samples has a mask, so the F-measure and IoU columns are "
                "empty; the methods ran and their times and masks are recorded.")
    return (f"{len(missing)} of {total} samples have no ground truth (no mask): their metrics are empty and "
            "left out of the means; n counts every sample that ran.")


def table2(per_sample: pd.DataFrame, config: dict[str, Any] | None = None,
           published: Published | None = None) -> ReportTable:
    """Table 2 with its per-family section, measured beside the chapter's numbers."""
    config = config or {}
    frame = table2_frame(per_sample)
    gt_cols = _gt_columns(per_sample)
    cols = [Column("method", "Method", code=True)]
    for _, label in gt_cols:
        cols += [Column(f"{label} mean %", f"{label} %", "measured", fmt_num(2)),
                 Column(f"{label} std %", "± std", "measured", fmt_num(1)), *_interval_columns(label)]
    cols += [Column("IoU mean %", "IoU %", "measured", fmt_num(2)),
             Column("seconds per image", "Time / image (s)", "measured", fmt_time),
             Column("seconds median", "median (s)", "measured", fmt_time),
             Column("iterations mean", "Iterations", "measured", fmt_num(0)),
             Column("n", "n", "measured"), Column("failed", "Failed", "measured"),
             Column("ground_truth_inputs", "Ground-truth inputs", "measured", text=True)]
    rows = [{**r, "measured": True, "ground_truth_inputs": _ground_truth_text(config, str(r["method"]))}
            for r in frame.to_dict("records")]
    table = ReportTable(
        "table2", f"Table 2 — single-object segmentation ({run_label(per_sample, config)})",
        ["FM = mean of per-image F-measure (F1 = Dice, in %) ± one standard deviation; time = mean wall "
         "seconds per image at batch 1 after one warm-up call (median beside it); failed samples are "
         "excluded from the means and counted. Ground-truth inputs = what the method received that derives "
         "from the ground truth under the run's protocol (docs/protocols.md; 'none': nothing, '–': not "
         "recorded).", _INTERVAL_TEXT],
        cols, rows,
        groups=[ColumnGroup("measured", "measured here", _measured_description(per_sample, config))])
    unscored = _unscored_note(per_sample, gt_cols)
    if unscored:
        table.notes.append(unscored)
    table.notes += parameter_notes(config)
    _add_published(table, 2, published, {r["method"]: r for r in rows})

    if "group" in per_sample and per_sample["group"].fillna("").astype(str).str.len().gt(0).any() and gt_cols:
        col = gt_cols[0][0]
        failed = failed_mask(per_sample)
        ok = per_sample[~failed].copy()
        ok[col] = pd.to_numeric(ok[col], errors="coerce")
        pivot = ok.pivot_table(index="method", columns="group", values=col, aggfunc="mean", sort=False)
        pivot = pivot.reindex(frame["method"])
        fam_cols = [Column("method", "Method", code=True)] + [
            Column(str(g), str(g), "measured", fmt_num(2)) for g in pivot.columns]
        fam_rows = [{"method": m, **{str(g): 100 * v for g, v in r.items()}} for m, r in pivot.iterrows()]
        table.sections.append(ReportTable("table2-families", f"{gt_cols[0][1]} by scene family (mean %; "
                                          f"{run_label(per_sample, config)})", [], fam_cols, fam_rows))
    throughput = _throughput_section(config, run_label(per_sample, config))
    if throughput is not None:
        table.sections.append(throughput)
    return table


_INTERVAL_TEXT = (f"{100 * BOOTSTRAP_CONFIDENCE:g} % CI = percentile bootstrap interval of the mean FM over the "
                  f"images ({BOOTSTRAP_RESAMPLES} resamples of the per-image values, seed {BOOTSTRAP_SEED}), "
                  "computed from per_sample.csv.")


def _interval_columns(label: str) -> list[Column]:
    """The two columns of the bootstrap interval of ``label``'s mean (``table2_frame``'s ``ci low/high``)."""
    return [Column(f"{label} ci low %", f"{100 * BOOTSTRAP_CONFIDENCE:g} % CI low", "measured", fmt_num(2)),
            Column(f"{label} ci high %", "CI high", "measured", fmt_num(2))]


# -- Tables 3 and 4 ------------------------------------------------------------------------------------------
def instance_scores_from_run(run_dir: str | Path, per_sample: pd.DataFrame) -> dict[str, Any]:
    """Score every method of an instance run from its saved predictions (``predictions/*.json``)."""
    from lsbench.metrics.scoring import score_instances

    methods = [str(m) for m in dict.fromkeys(per_sample["method"])]
    gt, results = load_instance_predictions(run_dir, methods)
    return {m: score_instances(gt, results[m]) for m in methods}


_VARIANT_TEXT = {"mnc": "mnc: argmax-IoU matching, IoU ≥ t, VOC07 11-point AP (MNC's voc_eval_sds)",
                 "sds": "sds: greedy matching, IoU > t, area under the PR envelope (SDS benchmark)",
                 "coco101": "coco101: best unmatched GT, IoU ≥ t, 101-point AP (pycocotools)"}


def table3(per_sample: pd.DataFrame, config: dict[str, Any], scores: dict[str, Any],
           published: Published | None = None, variant: str = "mnc") -> ReportTable:
    """Table 3: mAPr@0.5/@0.7 and AP_vol under ``variant``, time per image; published beside."""
    times = _time_stats(per_sample)
    models = config.get("models") or {}
    rows = []
    for m, s in scores.items():
        res = s.mapr[variant]
        size = {k: models.get(m, {}).get(k) for k in ("params", "mask_params")}
        rows.append({"method": m, "measured": True, "mapr50": 100 * res.mean_ap[0.5], "mapr70": 100 * res.mean_ap[0.7],
                     "ap_vol": 100 * res.ap_vol, **{k: None if v is None else v / 1e6 for k, v in size.items()},
                     **times.get(m, {})})
    cols = [Column("method", "Method", code=True),
            Column("mapr50", "mAPr@0.5 %", "measured", fmt_num(1)),
            Column("mapr70", "mAPr@0.7 %", "measured", fmt_num(1)),
            Column("ap_vol", "AP_vol %", "measured", fmt_num(1)),
            Column("params", "Params (M)", "measured", fmt_num(2)),
            Column("mask_params", "Mask stage (M)", "measured", fmt_num(2)),
            Column("seconds", "Time / image (s)", "measured", fmt_time),
            Column("n", "n", "measured"), Column("failed", "Failed", "measured")]
    table = ReportTable(
        "table3", f"Table 3 — instance segmentation, region AP ({run_label(per_sample, config)})",
        [f"mAPr@t = mean over classes of the region AP at mask IoU t; AP_vol = mean of mAPr over "
         f"t = 0.1..0.9. Measured with AP definition {_VARIANT_TEXT[variant]}. A sample a method failed on "
         "counts as no detections. Params = trainable parameters of the model, mask stage = of its mask "
         "branch (CRLS: RoI-feature reduction, fc6_maskest and the RLS; Mask R-CNN: FCN mask head and "
         "predictor), as the method described itself in config.json ('–': not recorded)."],
        cols, rows,
        groups=[ColumnGroup("measured", "measured here", _measured_description(
            per_sample, config, f"; AP definition: {variant}"))])
    table.notes += parameter_notes(config)
    _add_published(table, 3, published, {r["method"]: r for r in rows})

    var_rows = []
    for m, s in scores.items():
        for v, res in s.mapr.items():
            var_rows.append({"method": m, "variant": v, "mapr50": 100 * res.mean_ap[0.5],
                             "mapr70": 100 * res.mean_ap[0.7], "ap_vol": 100 * res.ap_vol})
    table.sections.append(ReportTable(
        "table3-variants", f"The three AP definitions on the same predictions (%; {run_label(per_sample, config)})",
        [" ".join(f"{_VARIANT_TEXT[v]}." for v in _VARIANT_TEXT)],
        [Column("method", "Method", code=True), Column("variant", "AP definition"),
         Column("mapr50", "mAPr@0.5", "measured", fmt_num(2)), Column("mapr70", "mAPr@0.7", "measured", fmt_num(2)),
         Column("ap_vol", "AP_vol", "measured", fmt_num(2))], var_rows))

    if scores:
        first = next(iter(scores.values())).mapr[variant]
        class_rows = []
        for c, name in first.class_names.items():
            row: dict[str, Any] = {"class": name, "n_gt": first.n_gt[c]}
            for m, s in scores.items():
                row[m] = 100 * s.mapr[variant].per_class[c][0.5]
            class_rows.append(row)
        table.sections.append(ReportTable(
            "table3-classes", f"Per-class AP@0.5 ({variant}, %; {run_label(per_sample, config)})", [],
            [Column("class", "Class"), Column("n_gt", "GT instances", "measured")]
            + [Column(m, m, "measured", fmt_num(1)) for m in scores], class_rows))
    return table


def table4(per_sample: pd.DataFrame, config: dict[str, Any], scores: dict[str, Any],
           published: Published | None = None) -> ReportTable:
    """Table 4: COCO mask AP @[.5:.95], @.5, @.75 and by object size, time per image; published beside."""
    times = _time_stats(per_sample)
    keys = [("AP", "AP %"), ("AP50", "AP50 %"), ("AP75", "AP75 %"), ("APs", "APs %"), ("APm", "APm %"),
            ("APl", "APl %")]
    rows = []
    for m, s in scores.items():
        rows.append({"method": m, "measured": True, **{k: 100 * s.coco.stats[k] for k, _ in keys},
                     **times.get(m, {})})
    cols = [Column("method", "Method", code=True)] + [Column(k, label, "measured", fmt_num(1)) for k, label in keys] + [
        Column("seconds", "Time / image (s)", "measured", fmt_time), Column("n", "n", "measured"),
        Column("failed", "Failed", "measured")]
    table = ReportTable(
        "table4", f"Table 4 — instance segmentation, COCO mask AP ({run_label(per_sample, config)})",
        ["AP = COCOeval(iouType='segm') mask AP averaged over IoU 0.50:0.05:0.95 (AP50, AP75 at one "
         "threshold; APs/APm/APl for objects below 32², between 32² and 96², above 96² pixels), at most "
         "100 detections per image; ground-truth areas are mask pixel counts. '–' = no ground truth in "
         "that size range."],
        cols, rows,
        groups=[ColumnGroup("measured", "measured here", _measured_description(
            per_sample, config, "; pycocotools COCOeval"))])
    table.notes += parameter_notes(config)
    _add_published(table, 4, published, {r["method"]: r for r in rows})
    return table


# -- which tables a run can fill ------------------------------------------------------------------------------
def fillable_tables(run_dir: str | Path, per_sample: pd.DataFrame, config: dict[str, Any]) -> list[str]:
    """Table numbers this run can fill: 2 for single-object runs, 3 and 4 for instance runs."""
    metric_cols = metric_columns(per_sample)
    out = []
    if any(c == "f_measure" or c.startswith("f_measure_") for c in metric_cols):
        out.append("2")
    if config.get("kind") == "instance" or (Path(run_dir) / "ground_truth.json").is_file():
        out += ["3", "4"]
    return out


def build_tables(run_dir: str | Path, per_sample: pd.DataFrame, config: dict[str, Any],
                 numbers: Sequence[str], instance_scores: dict[str, Any] | None = None,
                 published: Published | None = None) -> list[ReportTable]:
    """The requested tables (numbers among :data:`TABLES`), published numbers read once."""
    if published is None:
        published = load_published()
    out = []
    scores = instance_scores
    for n in numbers:
        if n == "2":
            out.append(table2(per_sample, config, published))
            margins = table2_margins(per_sample, config)
            if margins is not None:
                out.append(margins)
            continue
        if scores is None:
            scores = instance_scores_from_run(run_dir, per_sample)
        out.append(table3(per_sample, config, scores, published) if n == "3"
                   else table4(per_sample, config, scores, published))
    return out


NOT_MEASURED = "not measured"


def _throughput_section(config: dict[str, Any], label: str) -> ReportTable | None:
    """Batched throughput of the methods that have ``predict_batch`` (``config["throughput"]``): a method
    recorded as ``None`` was not measured (``lsbench run`` without ``--throughput``) and says so."""
    measured = config.get("throughput") or {}
    if not measured:
        return None
    cols = [Column("method", "Method", code=True), Column("batch_size", "Batch", "measured"),
            Column("images_per_second", "Images / s", "measured", fmt_num(1)),
            Column("seconds_per_image", "Seconds / image", "measured", fmt_time)]
    rows = []
    for method, r in measured.items():
        if r is None:
            rows.append({"method": method, **dict.fromkeys(("batch_size", "images_per_second", "seconds_per_image"),
                                                           NOT_MEASURED)})
            continue
        ips = float(r.get("images_per_second", math.nan))
        rows.append({"method": method, "batch_size": r.get("batch_size"), "images_per_second": ips,
                     "seconds_per_image": 1.0 / ips if ips > 0 else math.nan})
    intro = ([f"'{NOT_MEASURED}': the run was not asked to measure it (`lsbench run --throughput`)."]
             if any(r is None for r in measured.values()) else [])
    return ReportTable("table2-throughput",
                       f"Batched throughput (`predict_batch`, best of repeated batches after a warm-up; {label})",
                       intro, cols, rows)


# -- Table 2: margins over the global threshold -------------------------------------------------------------
#: the baseline every method's margin is measured against (:func:`table2_margins`)
MARGIN_BASELINE = "otsu"


def margins_over(per_sample: pd.DataFrame, baseline: str = MARGIN_BASELINE, metric: str | None = None
                 ) -> pd.DataFrame:
    """Per method and scene family: the mean over images of ``100 (F_method - F_baseline)``, in F points.

    Only the images both the method and ``baseline`` scored (no error, a score) count, so a method's
    failures never shift its margin; ``all`` is the same over every family. ``metric`` defaults to
    the primary F-measure column. Rows: the methods other than ``baseline`` in run order; columns: the
    families in order of appearance, then ``all`` (and ``n``, the paired images).

    Examples
    --------
    >>> rows = [("otsu", "a", "x", 0.5), ("otsu", "b", "y", 0.9), ("cv", "a", "x", 0.75), ("cv", "b", "y", 0.8)]
    >>> ps = pd.DataFrame(rows, columns=["method", "sample_id", "group", "f_measure"]).assign(error="")
    >>> margins_over(ps).round(6).to_dict("index")
    {'cv': {'x': 25.0, 'y': -10.0, 'all': 7.5, 'n': 2}}
    """
    col = metric or (_gt_columns(per_sample) or [("f_measure", "")])[0][0]
    ok = per_sample[~failed_mask(per_sample)].copy()
    ok[col] = pd.to_numeric(ok[col], errors="coerce")
    ok = ok.dropna(subset=[col])
    groups = ok["group"].fillna("").astype(str) if "group" in ok else pd.Series("", index=ok.index)
    ok = ok.assign(group=groups.where(groups.str.len() > 0, "(none)"))
    base = ok[ok["method"] == baseline].set_index("sample_id")[col]
    families = list(dict.fromkeys(ok["group"]))
    rows = {}
    for method, group in ok[ok["method"] != baseline].groupby("method", sort=False):
        paired = group[group["sample_id"].isin(base.index)]
        diff = 100 * (paired[col].to_numpy() - base.loc[paired["sample_id"]].to_numpy())
        by_family = pd.Series(diff, index=paired["group"].to_numpy()).groupby(level=0).mean()
        rows[str(method)] = {**{f: by_family.get(f, math.nan) for f in families},
                             "all": diff.mean() if len(diff) else math.nan, "n": len(diff)}
    return pd.DataFrame.from_dict(rows, orient="index", columns=[*families, "all", "n"])


def table2_margins(per_sample: pd.DataFrame, config: dict[str, Any] | None = None) -> ReportTable | None:
    """``table2_margins``: each method's margin over ``otsu`` per scene family, in F points; None when
    ``otsu`` did not run (or scored nothing) or the run has no F-measure."""
    config = config or {}
    gt_cols = _gt_columns(per_sample)
    if not gt_cols or MARGIN_BASELINE not in set(per_sample["method"].astype(str)):
        return None
    margins = margins_over(per_sample, MARGIN_BASELINE, gt_cols[0][0])
    if margins.empty or not margins["n"].gt(0).any():
        return None
    families = [c for c in margins.columns if c not in ("all", "n")]
    cols = ([Column("method", "Method", code=True)]
            + [Column(f, f, "measured", fmt_signed) for f in families]
            + [Column("all", "all families", "measured", fmt_signed), Column("n", "n (paired)", "measured")])
    rows = [{"method": m, "measured": True, **r} for m, r in margins.to_dict("index").items()]
    return ReportTable(
        "table2_margins",
        f"Table 2 — margin over `{MARGIN_BASELINE}` by scene family ({gt_cols[0][1]}, F points; "
        f"{run_label(per_sample, config)})",
        [f"Margin = mean over the images of a family of (F of the method − F of `{MARGIN_BASELINE}`), in "
         f"percentage points, on the images both scored (n paired); `{MARGIN_BASELINE}` is one global "
         "threshold, so a margin near zero or below says the family does not test what a level set adds. "
         "Computed from per_sample.csv."],
        cols, rows,
        groups=[ColumnGroup("measured", "measured here", _measured_description(per_sample, config))])


def fmt_signed(x: Any) -> str:
    """A margin in points with its sign, one decimal ('–' when missing)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:+.1f}"

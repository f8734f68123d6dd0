"""A self-contained one-page report: ``index.html`` with every table and figure embedded.

Figures are embedded as base64 PNG data URIs and the style sheet is inline, so the page opens
from disk in any browser with no server and no network; it holds no scripts.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lsbench.reports.render import ReportTable, to_html

__all__ = ["FIGURE_CAPTIONS", "html_page"]

FIGURE_CAPTIONS = {
    "fig7_grid": "Figure 7 style: input (top row), each method's final contour with the sample's F-measure (%), "
                 "ground truth (bottom row).",
    "accuracy_vs_time": "Accuracy against time: mean F-measure against median seconds per image (log axis), one "
                        "marker and colour per method; vertical bars: 95 % bootstrap interval of the mean F, "
                        "horizontal bars: interquartile range of the seconds.",
    "fig8_instances": "Figures 8–9 style: input, two methods' instances (class colour and label with score), "
                      "ground truth.",
    "convergence": "Convergence of the classic methods on the first figure samples: normalised energy and "
                   "F-measure against iteration.",
    "fmeasure_box": "Per-image F-measure per method (box: quartiles, line: median, diamond: mean).",
    "time_vs_size": "Seconds per image against image size (log-log); the line joins the medians.",
}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 72rem; margin: 2rem auto;
       padding: 0 1rem; color: #111; line-height: 1.4; }
div.table-wrap { overflow-x: auto; }
table.lsbench { border-collapse: collapse; margin: 0.5rem 0 0.5rem; font-size: 0.85rem; }
table.lsbench th, table.lsbench td { border: 1px solid #bbb; padding: 0.2rem 0.45rem; }
table.lsbench thead th { background: #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
ul.notes { font-size: 0.8rem; color: #333; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85rem; color: #333; }
dl.run { display: grid; grid-template-columns: max-content auto; gap: 0.1rem 1rem; font-size: 0.85rem; }
dl.run dt { font-weight: 600; }
"""


def html_page(run_dir: Path, tables: Sequence[ReportTable], figures: Sequence[Path], config: dict[str, Any],
              label: str = "") -> str:
    """The page's HTML text: run facts, every table, every figure (PNG files, embedded).

    ``label`` (dataset, split and protocol, :func:`lsbench.reports.tables.run_label`) ends every
    figure's caption when given.
    """
    e = html.escape
    ds = config.get("dataset") or {}
    machine = config.get("machine") or {}
    facts = [("run", config.get("run_id") or run_dir.name),
             ("dataset", f"{ds.get('name', '?')} / {ds.get('split', '?')} ({config.get('n_samples', '?')} samples)"),
             ("methods", ", ".join(config.get("methods", {}))),
             ("machine", ", ".join(str(v) for v in (machine.get("gpu"), machine.get("cpu"),
                                                    machine.get("logical_cores") and
                                                    f"{machine['logical_cores']} logical cores") if v)),
             ("command", config.get("command") or ""),
             ("created", config.get("created") or "")]
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>lsbench report — {e(str(facts[0][1]))}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
             f"<h1>lsbench report — {e(str(facts[0][1]))}</h1>", '<dl class="run">']
    parts += [f"<dt>{e(k)}</dt><dd>{e(str(v))}</dd>" for k, v in facts if v]
    parts.append("</dl>")
    for t in tables:
        parts.append(to_html(t))
    if figures:
        parts.append("<h2>Figures</h2>")
    for path in figures:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        caption = FIGURE_CAPTIONS.get(path.stem, path.stem) + (f" Run: {label}." if label else "")
        parts.append(f'<figure data-figure="{e(path.stem)}"><img alt="{e(caption)}" '
                     f'src="data:image/png;base64,{data}"><figcaption>{e(caption)} '
                     f"(<code>figures/{e(path.name)}</code>, PDF beside it)</figcaption></figure>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"

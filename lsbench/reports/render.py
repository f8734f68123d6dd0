"""One table model, four renderings: Markdown, CSV, LaTeX (booktabs) and HTML.

A :class:`ReportTable` holds raw values (the CSV keeps them unrounded) and, per column, a
formatter for the human renderings. Columns belong to *groups* ("measured here", one group per
published protocol); Markdown lists the groups in a legend and prefixes the published columns
with the group's letter, LaTeX and HTML draw a spanning group header.
"""

from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Column", "ColumnGroup", "ReportTable", "fmt_num", "fmt_time", "to_csv", "to_html", "to_latex",
           "to_markdown"]


def fmt_num(digits: int = 2) -> Callable[[Any], str]:
    def f(x: Any) -> str:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "–"
        if isinstance(x, str):
            return x
        return f"{x:.{digits}f}"
    return f


def fmt_time(x: Any) -> str:
    """Seconds with three significant digits (whole seconds from 100 s); text (e.g. "not measured") as is."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, str):
        return x
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


def fmt_text(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return str(x)


@dataclass(frozen=True)
class ColumnGroup:
    key: str
    title: str           # short header ("measured here", "published A")
    description: str     # dataset, split, n, protocol, hardware
    tag: str = ""        # prefix of the group's column labels in Markdown ("A")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    group: str = ""                                   # "" = the row-label columns
    fmt: Callable[[Any], str] = fmt_text
    code: bool = False      # Markdown: `code` (rows with "measured": False are published labels, kept plain)
    text: bool = False      # a text column inside a group (left-aligned)

    @property
    def numeric(self) -> bool:
        return bool(self.group) and not self.text


@dataclass
class ReportTable:
    name: str
    title: str
    intro: list[str]
    columns: list[Column]
    rows: list[dict[str, Any]]
    groups: list[ColumnGroup] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sections: list[ReportTable] = field(default_factory=list)

    def group(self, key: str) -> ColumnGroup | None:
        return next((g for g in self.groups if g.key == key), None)

    def cell(self, row: dict[str, Any], col: Column) -> str:
        return col.fmt(row.get(col.key))


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(table: ReportTable, level: int = 1) -> str:
    lines = [f"{'#' * level} {table.title}", ""]
    for para in table.intro:
        lines += [para, ""]
    if table.groups:
        lines.append("Column groups:")
        lines.append("")
        for g in table.groups:
            tag = f" (columns marked {g.tag}:)" if g.tag else ""
            lines.append(f"- **{g.title}**{tag}: {g.description}")
        lines.append("")
    headers = []
    for c in table.columns:
        g = table.group(c.group)
        headers.append(f"{g.tag}: {c.label}" if g is not None and g.tag else c.label)
    lines.append("| " + " | ".join(_md_escape(h) for h in headers) + " |")
    lines.append("|" + "|".join("---:" if c.numeric else "---" for c in table.columns) + "|")
    for row in table.rows:
        cells = []
        for c in table.columns:
            text = table.cell(row, c)
            code = c.code and row.get("measured", True) and text != "–"
            cells.append(f"`{text}`" if code else _md_escape(text))
        lines.append("| " + " | ".join(cells) + " |")
    if table.notes:
        lines.append("")
        lines += [f"- {n}" for n in table.notes]
    text = "\n".join(lines) + "\n"
    for sec in table.sections:
        text += "\n" + to_markdown(sec, level + 1)
    return text


def _csv_header(table: ReportTable, c: Column) -> str:
    g = table.group(c.group)
    return f"{g.title}: {c.label}" if g is not None else c.label


def to_csv(table: ReportTable) -> str:
    """The main table with raw (unrounded) values; column names carry their group."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([_csv_header(table, c) for c in table.columns])
    for row in table.rows:
        out = []
        for c in table.columns:
            v = row.get(c.key)
            out.append("" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
        w.writerow(out)
    return buf.getvalue()


_TEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                "±": r"$\pm$", "`": "", "–": "--", "—": "---", "≥": r"$\geq$", "≤": r"$\leq$", "²": r"$^2$"}


def tex_escape(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in str(text))


def _group_spans(table: ReportTable) -> list[tuple[str, int]]:
    spans: list[tuple[str, int]] = []
    for c in table.columns:
        if spans and spans[-1][0] == c.group:
            spans[-1] = (c.group, spans[-1][1] + 1)
        else:
            spans.append((c.group, 1))
    return spans


def to_latex(table: ReportTable) -> str:
    """A ``table`` float with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    align = "".join("r" if c.numeric else "l" for c in table.columns)
    out = ["\\begin{table}[t]", "\\centering", "\\small",
           f"\\caption{{{tex_escape(table.title)}}}", f"\\label{{tab:lsbench-{table.name}}}",
           f"\\begin{{tabular}}{{{align}}}", "\\toprule"]
    if table.groups:
        cells, rules, col = [], [], 1
        for key, n in _group_spans(table):
            g = table.group(key)
            cells.append(f"\\multicolumn{{{n}}}{{c}}{{{tex_escape(g.title)}}}" if g else
                         (" & " * (n - 1)).rstrip())
            if g:
                rules.append(f"\\cmidrule(lr){{{col}-{col + n - 1}}}")
            col += n
        out.append(" & ".join(cells) + " \\\\")
        out.append(" ".join(rules))
    out.append(" & ".join(tex_escape(c.label) for c in table.columns) + " \\\\")
    out.append("\\midrule")
    for row in table.rows:
        out.append(" & ".join(tex_escape(table.cell(row, c)) for c in table.columns) + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}"]
    notes = [f"{g.title}: {g.description}" for g in table.groups] + table.notes
    if notes:
        out.append("\\par\\smallskip\\footnotesize\\raggedright")
        out += [tex_escape(n) + "\\par" for n in notes]
    out.append("\\end{table}")
    text = "\n".join(out) + "\n"
    for sec in table.sections:
        text += "\n" + to_latex(sec)
    return text


def to_html(table: ReportTable, level: int = 2) -> str:
    """An HTML fragment: heading, intro, the table with grouped headers, notes, sections."""
    e = html.escape
    parts = [f"<h{level}>{e(table.title)}</h{level}>"]
    parts += [f"<p>{e(p)}</p>" for p in table.intro]
    parts.append(f'<div class="table-wrap"><table class="lsbench" data-table="{e(table.name)}">')
    parts.append("<thead>")
    if table.groups:
        cells = []
        for key, n in _group_spans(table):
            g = table.group(key)
            title = f' title="{e(g.description)}"' if g else ""
            cells.append(f'<th colspan="{n}"{title}>{e(g.title) if g else ""}</th>')
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("<tr>" + "".join(f"<th>{e(c.label)}</th>" for c in table.columns) + "</tr>")
    parts.append("</thead><tbody>")
    for row in table.rows:
        parts.append("<tr>" + "".join(
            f'<td class="{"num" if c.numeric else "label"}">{e(table.cell(row, c))}</td>' for c in table.columns)
            + "</tr>")
    parts.append("</tbody></table></div>")
    notes = [f"{g.title}: {g.description}" for g in table.groups] + table.notes
    if notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    for sec in table.sections:
        parts.append(to_html(sec, min(level + 1, 6)))
    return "\n".join(parts)

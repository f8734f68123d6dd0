"""The committed reference report is what `lsbench report` builds from its own files (regenerate with `make reference`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from lsbench.reports.build import build_report

REFERENCE = Path(__file__).resolve().parents[2] / "reports" / "reference" / "synthetic-test"


def test_reference_tables_rebuild_identically(tmp_path):
    copy = tmp_path / "ref"
    shutil.copytree(REFERENCE, copy)
    names = ("table2.md", "table2.csv", "table2.tex")
    for n in names:
        (copy / n).unlink()
    report = build_report(copy, figures=False)
    assert [p.name for p in report.written] == list(names)
    for n in names:
        assert (copy / n).read_text() == (REFERENCE / n).read_text(), f"{n} is stale: run `make reference`"
    for fig in ("fig7_grid", "convergence", "fmeasure_box", "accuracy_vs_time"):
        assert (REFERENCE / "figures" / f"{fig}.png").is_file() and (REFERENCE / "figures" / f"{fig}.pdf").is_file()
    assert not (REFERENCE / "figures" / "time_vs_size.png").exists()  # all 128 x 128: not drawn
    assert (REFERENCE / "index.html").is_file()

"""The committed reference report is what `lsbench report` builds from its own files (regenerate with `make reference`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lsbench.reports.build import build_report

REFERENCE = Path(__file__).resolve().parents[2] / "reports" / "reference"
#: the committed single-object run folders (one per protocol since `make reference` became `lsbench reference`)
RUNS = sorted(p for p in REFERENCE.iterdir() if (p / "table2.md").is_file()) if REFERENCE.is_dir() else []


def test_the_reference_holds_a_table2_run():
    assert RUNS, f"{REFERENCE} holds no run folder with table2.md: run `make reference`"


@pytest.mark.parametrize("run", RUNS, ids=[p.name for p in RUNS])
def test_reference_tables_rebuild_identically(tmp_path, run):
    copy = tmp_path / "ref"
    shutil.copytree(run, copy)
    names = ("table2.md", "table2.csv", "table2.tex")
    if (run / "table2_margins.md").is_file():  # written when otsu ran (each method's margin over it per family)
        names += ("table2_margins.md", "table2_margins.csv", "table2_margins.tex")
    for n in names:
        (copy / n).unlink()
    report = build_report(copy, figures=False)
    assert [p.name for p in report.written] == list(names)
    for n in names:
        assert (copy / n).read_text() == (run / n).read_text(), f"{n} is stale: run `make reference`"
    for fig in ("fig7_grid", "convergence", "fmeasure_box", "accuracy_vs_time"):
        assert (run / "figures" / f"{fig}.png").is_file() and (run / "figures" / f"{fig}.pdf").is_file()
    assert not (run / "figures" / "time_vs_size.png").exists()  # all 128 x 128: not drawn
    assert (run / "index.html").is_file()

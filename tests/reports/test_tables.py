"""Tables 2-4: measured beside published, protocols in separate column groups, four renderings."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from lsbench.registry import METHODS
from lsbench.reports.published import load_published
from lsbench.reports.render import to_csv, to_html, to_latex, to_markdown
from lsbench.reports.tables import parameter_notes, table2, table3
from lsbench.reports.uncertainty import bootstrap_interval


def _per_sample(methods=("cv", "mystery")):
    rows = []
    for m in methods:
        for i, f in enumerate((0.9, 0.7, 0.8)):
            rows.append({"method": m, "dataset": "synthetic", "split": "test", "sample_id": f"s{i}",
                         "group": "cells" if i else "vessel", "height": 8, "width": 8, "seconds": 0.1 * (i + 1),
                         "n_iter": 10, "converged": True, "error": "", "precision": f, "recall": f,
                         "f_measure": f, "iou": f / (2 - f)})
    return pd.DataFrame(rows)


def test_published_numbers_are_the_chapters():
    pub = load_published()
    assert pub is not None
    t2 = {e.label: e for e in pub.for_table(2)}
    assert (t2["CV [10]"].values == {"fm_gt1": 88.51, "fm_gt2": 87.51, "seconds": 13.5})
    assert t2["DRLSE [23]"].value("fm_gt2") == 71.76 and t2["L2S [25]"].value("seconds") == 10.2
    assert t2["Li et al. [24]"].values == {"fm_gt1": 79.65, "fm_gt2": 63.87, "seconds": 20.4}
    assert t2["RLS (chapter)"].value("seconds") == 0.008 and math.isnan(t2["RLS (chapter)"].value("fm_gt1"))
    assert t2["F-ConNet"].value("seconds") == 0.001
    t3 = {e.label: e for e in pub.for_table(3)}
    assert t3["SDS (AlexNet) [27]"].values == {"mapr50": 49.7, "mapr70": 25.3, "seconds": 48}
    assert t3["CRLS (chapter)"].values == {"mapr50": 66.7, "mapr70": 44.6, "seconds": 0.54}
    assert all(e.status in ("chapter", "verified", "aggregator") for e in pub.entries)
    assert all(e.source for e in pub.entries)
    t4 = pub.for_table(4)
    assert [(e.label, e.values) for e in t4] == [("CRLS (chapter)", {"ap": 20.5, "ap50": 40.1})]
    proto = pub.protocols["chapter-t2"]
    assert "Weizmann" in proto.dataset and "ambiguous" in proto.ambiguity


@pytest.mark.parametrize(("text", "needle"), [
    ('[protocols.p]\ntable = 2\nlabel = "x"\n', "lacks 'dataset'"),
    ('[[table2]]\nlabel = "x"\nprotocol = "nope"\nstatus = "chapter"\n', "unknown protocol 'nope'"),
    ('[protocols.p]\ntable = 2\nlabel="l"\ndataset="d"\nsplit="s"\nmetric="m"\ntime="t"\nsource="c"\n'
     '[[table2]]\nlabel = "x"\nprotocol = "p"\nstatus = "chapter"\nfm_gt1 = "high"\n', "fm_gt1 must be a non-negative"),
    ('[protocols.p]\ntable = 2\nlabel="l"\ndataset="d"\nsplit="s"\nmetric="m"\ntime="t"\nsource="c"\n'
     '[[table2]]\nlabel = "x"\nprotocol = "p"\nstatus = "chapter"\nmapr50 = 3\n', "unknown field(s) mapr50"),
    ("not toml [", "not valid TOML"),
])
def test_malformed_published_file_is_named(tmp_path, text, needle):
    path = tmp_path / "published.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match="published.toml") as err:
        load_published(path)
    assert needle in str(err.value)


def test_table2_puts_measured_beside_published_in_separate_groups():
    t = table2(_per_sample(), {"machine": {"cpu": "Test CPU", "logical_cores": 2}}, load_published())
    assert [g.title for g in t.groups] == ["measured here", "published A (chapter Table 2)"]
    groups = {c.label: c.group for c in t.columns}
    assert groups["FM (GT) %"] == "measured" and groups["FM (GT1) %"] == "pub-chapter-t2"
    rows = {r["method"]: r for r in t.rows}
    assert rows["cv"]["FM (GT) mean %"] == pytest.approx(80.0)
    assert rows["cv"]["pub-chapter-t2:fm_gt1"] == 88.51  # merged into the measured method's row
    assert "pub-chapter-t2:label" not in rows["mystery"]
    assert rows["DRLSE [23]"]["measured"] is False and "FM (GT) mean %" not in rows["DRLSE [23]"]
    md = to_markdown(t)
    assert "| `cv` | 80.00 | 8.2 |" in md and "| A: FM (GT1) % |" in md
    assert "Test CPU, 2 logical cores" in md and "ambiguous" in md
    assert "| DRLSE [23] | – |" in md  # published labels are not code-formatted
    assert "## FM (GT) by scene family (mean %; synthetic / test, protocol not recorded)" in md and "| `cv` | 90.00 | 75.00 |" in md
    csv = to_csv(t).splitlines()
    assert csv[0].startswith("Method,measured here: FM (GT) %,measured here: ± std")
    assert "published A (chapter Table 2): FM (GT1) %" in csv[0]
    assert csv[1].startswith("cv,80.0") and ",88.51,87.51,13.5" in csv[1]
    tex = to_latex(t)
    assert r"\multicolumn{11}{c}{measured here}" in tex and r"\cmidrule(lr){2-12}" in tex  # + ground-truth inputs
    assert r"FM (GT) \%" in tex and "`" not in tex and r"\begin{tabular}{lrrrrrrrrrrllrrr}" in tex
    html = to_html(t)
    assert '<th colspan="11"' in html and "<td class=\"num\">80.00</td>" in html


def test_table2_without_published_numbers_says_so():
    t = table2(_per_sample(("cv",)), {}, None)
    assert len(t.groups) == 1 and any("published.toml was not found" in n for n in t.notes)


def test_table2_gives_the_bootstrap_interval_of_each_mean():
    per = _per_sample()
    per.loc[per.method == "mystery", "f_measure"] = [0.2, 0.6, 0.95]
    t = table2(per, {}, None)
    rows = {r["method"]: r for r in t.rows}
    for method, values in (("cv", [0.9, 0.7, 0.8]), ("mystery", [0.2, 0.6, 0.95])):
        low, high = bootstrap_interval(values)  # the same seeded resampling, from the per-image values
        assert rows[method]["FM (GT) ci low %"] == pytest.approx(100 * low)
        assert rows[method]["FM (GT) ci high %"] == pytest.approx(100 * high)
        assert 100 * min(values) - 1e-9 <= rows[method]["FM (GT) ci low %"] < rows[method]["FM (GT) mean %"]
        assert rows[method]["FM (GT) mean %"] < rows[method]["FM (GT) ci high %"] <= 100 * max(values) + 1e-9
    md = to_markdown(t)
    header = next(line for line in md.splitlines() if line.startswith("| Method"))
    assert "| FM (GT) % | ± std | 95 % CI low | CI high |" in header
    assert "percentile bootstrap interval of the mean FM over the images (2000 resamples" in md
    assert f"| `cv` | 80.00 | 8.2 | {100 * bootstrap_interval([0.9, 0.7, 0.8])[0]:.2f} |" in md


def test_tables_state_the_preset_and_every_non_default_parameter():
    defaults = METHODS.get("cv").defaults()
    config = {"plan": {"methods": [
        {"name": "cv", "params": {"mu": 0.1, "max_iter": defaults["max_iter"]},
         "preset": {"preset": "tuned", "file": "/repo/baselines/presets/cv.toml", "table": "datasets.synthetic"}},
        {"name": "mystery", "params": {"alpha": 2}}]},
        "selection": {"limit": 3, "mode": "spread", "seed": 0, "n_selected": 3, "n_available": 360,
                      "families": {"cells": 2, "vessel": 1}}}
    notes = parameter_notes(config)
    assert notes == ["Parameters of cv: preset tuned (cv.toml [datasets.synthetic]); non-default: mu=0.1.",
                     "Parameters of mystery: no preset; non-default: alpha=2."]  # max_iter at its default: left out
    assert parameter_notes({"plan": {"methods": [{"name": "cv", "params": {}}]}}) == [
        "Parameters of cv: no preset; non-default: none (registered defaults)."]
    t = table2(_per_sample(), config, None)
    md, html = to_markdown(t), to_html(t)
    for text in (md, html):
        assert "Parameters of cv: preset tuned (cv.toml [datasets.synthetic]); non-default: mu=0.1." in text
        assert "3 images per method (3 of 360, spread over 2 scene families, seed 0)" in text
    assert all(n in to_markdown(table3(_per_sample(), config, {}, None)) for n in notes)  # Tables 3, 4 too

"""The chapter's claims (lsbench.reports.claims), each verdict computed from small synthetic run directories:
holds, does not hold when the numbers are flipped, not distinguishable when they tie, not testable (and why)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lsbench.reports.claims import (
    DOES_NOT_HOLD,
    HOLDS,
    NOT_TESTABLE,
    RunView,
    claim_crls_beats_mnc,
    claims_html,
    claims_markdown,
    evaluate_claims,
    paired_difference,
    run_protocol,
)
from lsbench.reports.published import load_published

FAMILIES = ("piecewise", "inhomogeneous")
N_PER_FAMILY = 20


def write_run(path: Path, means: dict[str, float | dict[str, float]], *, seconds: dict[str, float] | None = None,
              protocol: str | None = "box", families=FAMILIES, noise: float = 0.02, config: dict | None = None) -> Path:
    """A finished single-object run directory: per-image F = the method's mean (per family when a dict) + noise,
    or the given per-image values (an array, families in order)."""
    rng = np.random.default_rng(7)
    rows = []
    for method, mean in means.items():
        for i, family in enumerate(families):
            for k in range(N_PER_FAMILY):
                if isinstance(mean, np.ndarray):
                    f = mean[i * N_PER_FAMILY + k]
                else:
                    f = (mean[family] if isinstance(mean, dict) else mean) + rng.normal(0, noise)
                rows.append({"method": method, "dataset": "synthetic", "split": "test",
                             "sample_id": f"{family}-{k:02d}", "group": family, "f_measure": float(np.clip(f, 0, 1)),
                             "seconds": (seconds or {}).get(method, 0.05), "error": ""})
    path.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(path / "per_sample.csv", index=False)
    cfg = {"dataset": {"name": "synthetic", "split": "test"}, "machine": {"cpu": "test cpu", "logical_cores": 2},
           **({"protocol": protocol} if protocol else {}), **(config or {})}
    (path / "config.json").write_text(json.dumps(cfg))
    return path


CLASSIC = {"cv": 0.80, "skimage-cv": 0.78, "drlse": 0.75, "li": 0.79, "lic": 0.77, "l2s": 0.76}


def _rows(rows, claim, subject=None):
    return [r for r in rows if r.claim == claim and (subject is None or r.subject == subject)]


@pytest.fixture(scope="module")
def published():
    return load_published()


def test_rls_beats_every_classic_method_holds_then_flips(tmp_path, published):
    good = RunView.load(write_run(tmp_path / "good", {"rls-chapter": 0.90, "fconnet": 0.70, **CLASSIC}))
    rows = evaluate_claims([good.path], published)
    (row,) = _rows(rows, "rls-beats-classic", "rls-chapter")
    assert row.verdict == HOLDS and row.protocol == "box"
    assert all(f"vs `{m}`" in row.measured for m in CLASSIC) and "closest is `cv`" in row.why
    (fc,) = _rows(rows, "rls-beats-fconnet", "rls-chapter")
    assert fc.verdict == HOLDS

    flipped = write_run(tmp_path / "flipped", {"rls-chapter": 0.70, "fconnet": 0.90, **CLASSIC})
    rows = evaluate_claims([flipped], published)
    (row,) = _rows(rows, "rls-beats-classic", "rls-chapter")
    assert row.verdict == DOES_NOT_HOLD and "lower than `cv`, `li`, `skimage-cv`" in row.why
    assert _rows(rows, "rls-beats-fconnet", "rls-chapter")[0].verdict == DOES_NOT_HOLD


def test_a_tie_is_not_distinguishable(tmp_path, published):
    f = np.random.default_rng(3).uniform(0.6, 0.9, 2 * N_PER_FAMILY)
    tie = write_run(tmp_path / "tie", {"rls-chapter": f, "cv": f + np.resize([0.05, -0.05], f.size)})
    (row,) = _rows(evaluate_claims([tie], published), "rls-beats-classic", "rls-chapter")
    assert row.verdict == DOES_NOT_HOLD and "not distinguishable from `cv` (interval contains zero)" in row.why


def test_without_the_chapters_rls_the_claim_is_not_testable_and_variants_do_not_decide_it(tmp_path, published):
    run = write_run(tmp_path / "box", {"rls": 0.90, "rls-untrained": 0.70, **CLASSIC})
    rows = _rows(evaluate_claims([run], published), "rls-beats-classic")
    assert [(r.subject, r.verdict) for r in rows] == [("rls-chapter", NOT_TESTABLE), ("rls", HOLDS),
                                                       ("rls-untrained", DOES_NOT_HOLD)]
    assert "is not in the box run" in rows[0].why and "not the chapter's RLS" in rows[1].why
    nothing = write_run(tmp_path / "classic", CLASSIC)
    (row,) = _rows(evaluate_claims([nothing], published), "rls-beats-classic")
    assert row.verdict == NOT_TESTABLE and "no RLS" in row.why


def test_inhomogeneity_methods_against_cv_on_the_inhomogeneous_family_only(tmp_path, published):
    # li, lic and l2s lose overall (piecewise) but win where the bias field is: the claim reads that family
    means = {"cv": {"piecewise": 0.95, "inhomogeneous": 0.60},
             **{m: {"piecewise": 0.70, "inhomogeneous": 0.85} for m in ("li", "lic", "l2s")}}
    (row,) = _rows(evaluate_claims([write_run(tmp_path / "a", means)], published), "inhomogeneity-beats-cv")
    assert row.verdict == HOLDS and row.measured.startswith(f"{N_PER_FAMILY} images: ")

    means["lic"] = {"piecewise": 0.99, "inhomogeneous": 0.40}
    (row,) = _rows(evaluate_claims([write_run(tmp_path / "b", means)], published), "inhomogeneity-beats-cv")
    assert row.verdict == DOES_NOT_HOLD and "`lic` below `cv`" in row.why and "`li`, `l2s` beat `cv`" in row.why

    no_family = write_run(tmp_path / "c", {"cv": 0.6, "li": 0.9, "lic": 0.9, "l2s": 0.9}, families=("piecewise", "vessel"))
    (row,) = _rows(evaluate_claims([no_family], published), "inhomogeneity-beats-cv")
    assert row.verdict == NOT_TESTABLE and "no 'inhomogeneous' scene family" in row.why

    partial = write_run(tmp_path / "d", {"cv": 0.6, "li": 0.9})
    (row,) = _rows(evaluate_claims([partial], published), "inhomogeneity-beats-cv")
    assert row.verdict == NOT_TESTABLE and "`lic`, `l2s` not in the run" in row.why


def test_rls_time_against_the_chapters_0008_s(tmp_path, published):
    fast = write_run(tmp_path / "fast", {"rls-chapter": 0.9, "cv": 0.8}, seconds={"rls-chapter": 0.004})
    (row,) = _rows(evaluate_claims([fast], published), "rls-time", "rls-chapter")
    assert row.verdict == HOLDS and "within 0.008 s on test cpu, 2 logical cores" in row.why
    slow = write_run(tmp_path / "slow", {"rls-chapter": 0.9, "cv": 0.8}, seconds={"rls-chapter": 0.02})
    (row,) = _rows(evaluate_claims([slow], published), "rls-time", "rls-chapter")
    assert row.verdict == DOES_NOT_HOLD and "0.02 s per image at batch 1" in row.measured


def test_each_protocol_gets_its_own_rows(tmp_path, published):
    box = write_run(tmp_path / "box", {"rls-chapter": 0.9, **CLASSIC}, protocol="box")
    blind = write_run(tmp_path / "blind", {"rls-chapter": 0.6, **CLASSIC}, protocol="blind")
    rows = _rows(evaluate_claims([box, blind], published), "rls-beats-classic", "rls-chapter")
    assert [(r.protocol, r.verdict) for r in rows] == [("box", HOLDS), ("blind", DOES_NOT_HOLD)]
    assert run_protocol({}) == "box" and run_protocol({"protocol": {"name": "blind"}}) == "blind"


def _scores(at50: float, at70: float, ap: float = 0.3) -> SimpleNamespace:
    return SimpleNamespace(mapr={"mnc": SimpleNamespace(mean_ap={0.5: at50, 0.7: at70})},
                           coco=SimpleNamespace(stats={"AP": ap}))


def test_crls_against_the_mnc_style_ablation(tmp_path, published):
    run = SimpleNamespace(name="shapes-test", dataset="shapes")
    (row,) = claim_crls_beats_mnc(run, published, {"crls": _scores(0.84, 0.65), "crls-fcmask": _scores(0.80, 0.60)})
    assert row.verdict == HOLDS and "+4.0 points at IoU 0.5, +5.0 at 0.7" in row.why
    (row,) = claim_crls_beats_mnc(run, published, {"crls": _scores(0.84, 0.55), "crls-fcmask": _scores(0.80, 0.60)})
    assert row.verdict == DOES_NOT_HOLD and "does not help at both" in row.why  # better at 0.5 only
    (row,) = claim_crls_beats_mnc(run, published, {"crls": _scores(0.84, 0.65)})
    assert row.verdict == NOT_TESTABLE and "`crls-fcmask` not in the instance run" in row.why


def test_claims_without_an_instance_run_and_the_pages(tmp_path, published):
    run = write_run(tmp_path / "box", {"rls-chapter": 0.9, "fconnet": 0.7, **CLASSIC})
    rows = evaluate_claims([run], published)
    assert {r.claim for r in rows} == {"rls-beats-classic", "rls-beats-fconnet", "inhomogeneity-beats-cv",
                                       "crls-beats-mnc", "rls-time", "crls-time"}
    crls = [r for r in rows if r.claim.startswith("crls")]
    assert all(r.verdict == NOT_TESTABLE and r.why == "no instance run in the reference" for r in crls)
    md = claims_markdown(rows, [{"folder": "box", "description": "synthetic/test"}])
    table = [line for line in md.splitlines() if line.startswith("| ") and "Verdict" not in line]
    assert len(table) == len(rows) and "**holds**" in md and "[`box`](box/index.html)" in md
    html = claims_html(rows)
    assert html.count("<tr data-claim=") == len(rows) and 'data-verdict="holds"' in html


def test_paired_difference_needs_two_pairs_and_drops_missing_ones():
    d = paired_difference(np.array([0.9, np.nan, 0.8]), np.array([0.5, 0.4, np.nan]), "a", "b")
    assert d.n == 1 and np.isnan(d.low)
    same = paired_difference(np.array([0.9, 0.8, 0.7]), np.array([0.8, 0.7, 0.6]), "a", "b")
    assert same.low == pytest.approx(0.1) and same.high == pytest.approx(0.1) and same.beats
    with pytest.raises(ValueError, match="same length"):
        paired_difference(np.zeros(2), np.zeros(3), "a", "b")

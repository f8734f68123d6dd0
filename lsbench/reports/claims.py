"""The chapter's claims, tested: one verdict per claim and protocol, computed from run directories.

Every number comes from a finished run directory (``per_sample.csv``, ``config.json`` and, for
instance runs, the saved COCO results: :mod:`lsbench.rundir`) or from the published numbers
(``baselines/published.toml``, :mod:`lsbench.reports.published`); nothing here is typed by hand.
:func:`evaluate_claims` returns one :class:`ClaimRow` per claim and protocol (and per lsbench
method that stands for the claim's subject); :func:`claims_markdown` and :func:`claims_html`
render them (``reports/reference/claims.md`` and the section of ``reports/reference/index.html``
that :mod:`lsbench.reference` writes).

Definitions (the docstring of each claim function repeats the one it uses):

* **RLS** is ``rls-chapter``, the chapter's RLS (its phi_0, its weight initialisation, the same
  training budget). ``rls`` (lsbench's variant, started from the sample's box) and
  ``rls-untrained`` are reported in rows of their own, never in place of it.
* **A beats B** on a set of images: A's mean per-image F-measure is higher, and the 95 %
  percentile bootstrap interval of the mean paired difference A - B (over the images both scored,
  :data:`BOOTSTRAP_RESAMPLES` resamples, seed :data:`BOOTSTRAP_SEED`) lies above zero. An interval
  that contains zero is "does not hold: not distinguishable".
* **Instance claims** compare mAPr under MNC's AP definition (``mnc``, Table 3's) at IoU 0.5 and
  0.7; AP is a score of the whole set, so it has no paired interval, and "beats" is "higher at
  both thresholds".
* **Time claims** compare the mean wall seconds per image at batch 1 (Table 2's time column) with
  the chapter's number, on the machine named in the run; the batched throughput is shown beside.

Verdicts: :data:`HOLDS`, :data:`DOES_NOT_HOLD`, :data:`NOT_TESTABLE` (with the reason: a method
not run, a scene family the dataset lacks, a setting that differs from the chapter's).

Examples
--------
>>> import numpy as np
>>> d = paired_difference(np.array([0.9, 0.8, 0.95, 0.85]), np.array([0.5, 0.6, 0.55, 0.45]), "a", "b")
>>> round(d.difference, 3), d.low > 0, d.n
(0.35, True, 4)
"""

from __future__ import annotations

import html as _html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lsbench.reports.published import Published, PublishedEntry, load_published
from lsbench.rundir import failed_mask, load_run

__all__ = ["BOOTSTRAP_RESAMPLES", "BOOTSTRAP_SEED", "CLAIMS", "DOES_NOT_HOLD", "HOLDS", "NOT_TESTABLE", "ClaimRow",
           "Difference", "RunView", "claims_html", "claims_markdown", "evaluate_claims", "paired_difference",
           "run_protocol"]

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
NOT_TESTABLE = "not testable here"

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
BOOTSTRAP_CONFIDENCE = 0.95

#: the lsbench methods that stand for the chapter's RLS, the chapter's own first
RLS_SUBJECTS = ("rls-chapter", "rls", "rls-untrained")
#: the classic Table 2 methods the chapter compares RLS with (and lic, its "Li et al. [24]")
CLASSIC_METHODS = ("cv", "skimage-cv", "drlse", "li", "lic", "l2s")
#: "the inhomogeneity approach" of §6.2 and the Chan–Vese baseline it is set against
INHOMOGENEITY_METHODS = ("li", "lic", "l2s")
INHOMOGENEOUS_FAMILY = "inhomogeneous"
#: datasets and backbone on which the chapter timed CRLS
CRLS_TIMED_DATASETS = ("voc2012", "sbd")
CRLS_TIMED_BACKBONE = "vgg16"

#: claim id -> (the claim, where the chapter makes it)
CLAIMS: dict[str, tuple[str, str]] = {
    "rls-beats-classic": ("RLS beats every classic level-set method (F-measure)",
                          "§6.2 and Table 2: 'RLS achieves the best segmentation performance'"),
    "rls-beats-fconnet": ("RLS beats F-ConNet (F-measure)", "§6.2 and Table 2"),
    "inhomogeneity-beats-cv": ("RSF (li), LIC and L2S beat Chan–Vese on intensity-inhomogeneous images",
                               "§6.2: Li et al. and L2S 'as for the inhomogeneity approach'"),
    "crls-beats-mnc": ("CRLS beats the MNC-style baseline (mAPr at IoU 0.5 and 0.7)",
                       "§6.3 and Table 3: 'higher mAPr (about 3%) at both 0.5 and 0.7'; Table 4"),
    "rls-time": ("RLS segments an image in the chapter's time", "§6.2: 'RLS takes 0.008 s'"),
    "crls-time": ("CRLS segments an image in the chapter's time", "§6.3: '0.54 second per image'"),
}


@dataclass(frozen=True)
class ClaimRow:
    """One verdict: a claim under one protocol (run), for one lsbench subject."""

    claim: str
    protocol: str
    run: str
    subject: str
    measured: str
    chapter: str
    verdict: str
    why: str

    @property
    def statement(self) -> str:
        return CLAIMS[self.claim][0]


@dataclass(frozen=True)
class Difference:
    """Mean of ``a`` minus mean of ``b`` over paired images, with its bootstrap interval (fractions)."""

    a: str
    b: str
    mean_a: float
    mean_b: float
    n: int
    low: float
    high: float

    @property
    def difference(self) -> float:
        return self.mean_a - self.mean_b

    @property
    def beats(self) -> bool:
        return self.low > 0

    @property
    def loses(self) -> bool:
        return self.high < 0

    def text(self) -> str:
        """``a 81.9 vs b 78.1: +3.8 points (95 % CI +1.2 … +6.1, n = 360)``."""
        return (f"`{self.a}` {100 * self.mean_a:.2f} vs `{self.b}` {100 * self.mean_b:.2f}: "
                f"{100 * self.difference:+.2f} points (95 % CI {100 * self.low:+.2f} … {100 * self.high:+.2f}, "
                f"n = {self.n})")


def paired_difference(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str, *,
                      n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> Difference:
    """The mean paired difference ``a - b`` and its 95 % percentile bootstrap interval.

    ``a`` and ``b`` are per-image scores of the same images, in the same order; pairs with a
    non-finite value are dropped. The images are resampled with replacement ``n_resamples``
    times (:func:`scipy.stats.bootstrap` on the differences, which is the paired bootstrap),
    from ``numpy.random.default_rng(seed)``. Fewer than two pairs give a NaN interval; pairs
    that all differ by the same amount give that amount as both ends.

    References
    ----------
    Efron & Tibshirani, *An Introduction to the Bootstrap*, Chapman & Hall 1993, ch. 13
    (percentile interval), doi:10.1201/9780429246593.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired scores must have the same length, got {a.size} and {b.size}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    d = a - b
    mean_a = float(a.mean()) if a.size else math.nan
    mean_b = float(b.mean()) if b.size else math.nan
    if d.size < 2:
        low = high = math.nan
    elif np.all(d == d[0]):
        low = high = float(d[0])
    else:
        from scipy.stats import bootstrap

        res = bootstrap((d,), np.mean, n_resamples=int(n_resamples), confidence_level=BOOTSTRAP_CONFIDENCE,
                        method="percentile", vectorized=True, rng=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return Difference(name_a, name_b, mean_a, mean_b, int(d.size), low, high)


# -- reading the runs ----------------------------------------------------------------------------------
def run_protocol(config: dict[str, Any]) -> str:
    """The initialisation protocol a single-object run recorded (``box`` / ``blind``).

    ``config["protocol"]`` is a name, or a mapping with a ``name``; a run that recorded none
    predates the named protocols, when every method that takes an initial region got the
    sample's box: ``box``.
    """
    value = config.get("protocol")
    if isinstance(value, dict):
        value = value.get("name")
    return str(value) if value else "box"


@dataclass
class RunView:
    """A finished run directory as the claims read it."""

    path: Path
    per_sample: pd.DataFrame
    config: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> RunView:
        per_sample, config = load_run(path)
        return cls(Path(path), per_sample, config)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def instance(self) -> bool:
        return self.config.get("kind") == "instance" or (self.path / "ground_truth.json").is_file()

    @property
    def protocol(self) -> str:
        return "" if self.instance else run_protocol(self.config)

    @property
    def methods(self) -> list[str]:
        return [str(m) for m in dict.fromkeys(self.per_sample["method"])]

    @property
    def dataset(self) -> str:
        return str((self.config.get("dataset") or {}).get("name") or ", ".join(
            sorted(self.per_sample["dataset"].astype(str).unique())))

    def f_column(self) -> str | None:
        cols = [c for c in self.per_sample.columns if c == "f_measure"]
        cols += [c for c in self.per_sample.columns if c.startswith("f_measure_")]
        return cols[0] if cols else None

    def scores(self, method: str, family: str | None = None) -> pd.Series:
        """Per-image F-measure of ``method`` by sample id (failed samples: NaN), optionally one scene family."""
        col = self.f_column()
        rows = self.per_sample[self.per_sample["method"] == method]
        if family is not None:
            rows = rows[rows.get("group", pd.Series("", index=rows.index)).astype(str) == family]
        values = pd.to_numeric(rows[col], errors="coerce") if col else pd.Series(np.nan, index=rows.index)
        values = values.where(~failed_mask(rows), np.nan)
        return pd.Series(values.to_numpy(), index=rows["sample_id"].astype(str).to_numpy())

    def difference(self, a: str, b: str, family: str | None = None) -> Difference:
        sa, sb = self.scores(a, family), self.scores(b, family)
        common = sa.index.intersection(sb.index)
        return paired_difference(sa.loc[common].to_numpy(), sb.loc[common].to_numpy(), a, b)

    def seconds(self, method: str) -> float:
        rows = self.per_sample[(self.per_sample["method"] == method)]
        rows = rows[~failed_mask(rows)]
        secs = pd.to_numeric(rows["seconds"], errors="coerce").dropna()
        return float(secs.mean()) if len(secs) else math.nan

    def batched_seconds(self, method: str) -> float:
        ips = float(((self.config.get("throughput") or {}).get(method) or {}).get("images_per_second", math.nan))
        return 1.0 / ips if ips > 0 else math.nan

    def machine(self) -> str:
        m = self.config.get("machine") or {}
        parts = [str(v) for v in (m.get("gpu"), m.get("cpu")) if v]
        if m.get("logical_cores"):
            parts.append(f"{m['logical_cores']} logical cores")
        return ", ".join(parts) or "an unrecorded machine"

    def family_sizes(self) -> dict[str, int]:
        if "group" not in self.per_sample:
            return {}
        groups = self.per_sample.drop_duplicates("sample_id")["group"].astype(str)
        return {str(k): int(v) for k, v in groups.value_counts().items() if k}


# -- published numbers ---------------------------------------------------------------------------------
def _published_entry(published: Published | None, table: int, methods: Sequence[str]) -> PublishedEntry | None:
    if published is None:
        return None
    for m in methods:
        for e in published.for_table(table):
            if e.method == m:
                return e
    return None


def _pub(entry: PublishedEntry | None, field: str) -> float:
    return entry.value(field) if entry is not None else math.nan


def _num(value: float, digits: int = 2) -> str:
    return "not printed" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _chapter_fm(published: Published | None, methods: Sequence[str]) -> str:
    """``CV [10] 88.51 / 87.51`` for the published Table 2 rows of ``methods`` (GT1 / GT2)."""
    if published is None:
        return "published numbers not found"
    parts = []
    for e in published.for_table(2):
        if e.method in methods and "fm_gt1" in e.values:
            parts.append(f"{e.label} {_num(e.value('fm_gt1'))} / {_num(e.value('fm_gt2'))}")
    return "; ".join(parts)


def _rls_entry(published: Published | None) -> PublishedEntry | None:
    return _published_entry(published, 2, ("rls-chapter", "rls"))


# -- the claims ----------------------------------------------------------------------------------------
def _present(run: RunView, names: Sequence[str]) -> list[str]:
    have = set(run.methods)
    return [n for n in names if n in have]


def _beats_all(run: RunView, subject: str, others: Sequence[str], family: str | None = None
               ) -> tuple[str, str, str]:
    """(measured, verdict, why) for "``subject`` beats each of ``others``"."""
    diffs = sorted((run.difference(subject, o, family) for o in others), key=lambda d: -d.mean_b)
    measured = "; ".join(d.text() for d in diffs)
    if any(math.isnan(d.low) for d in diffs):
        short = [d.b for d in diffs if math.isnan(d.low)]
        return measured, NOT_TESTABLE, f"fewer than two images scored by both `{subject}` and {_names(short)}"
    lost = [d for d in diffs if d.loses]
    tied = [d for d in diffs if not d.beats and not d.loses]
    if not lost and not tied:
        closest = min(diffs, key=lambda d: d.low)
        return measured, HOLDS, (f"higher than every one, each interval above zero; the closest is `{closest.b}` "
                                 f"({100 * closest.difference:+.2f} points)")
    reasons = []
    if lost:
        reasons.append(f"lower than {_names([d.b for d in lost])}")
    if tied:
        reasons.append(f"not distinguishable from {_names([d.b for d in tied])} (interval contains zero)")
    return measured, DOES_NOT_HOLD, "; ".join(reasons)


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _claim_rls_beats(run: RunView, claim: str, others_fn: Any, chapter: str) -> list[ClaimRow]:
    subjects = _present(run, RLS_SUBJECTS)
    others = others_fn(run)
    if not subjects or not others:
        missing = "no RLS (`" + "`, `".join(RLS_SUBJECTS) + "`)" if not subjects else \
            "none of the methods it is compared with"
        return [ClaimRow(claim, run.protocol, run.name, "–", "–", chapter, NOT_TESTABLE,
                         f"{missing} in the {run.protocol} run")]
    rows = []
    if RLS_SUBJECTS[0] not in subjects:
        rows.append(ClaimRow(claim, run.protocol, run.name, RLS_SUBJECTS[0], "–", chapter, NOT_TESTABLE,
                             f"the chapter's RLS (`{RLS_SUBJECTS[0]}`) is not in the {run.protocol} run; the rows "
                             "below are lsbench's other RLS and do not decide the claim"))
    for s in subjects:
        measured, verdict, why = _beats_all(run, s, others)
        if s != RLS_SUBJECTS[0]:
            why = f"{why}; `{s}` is not the chapter's RLS ({_SUBJECT_NOTES[s]})"
        rows.append(ClaimRow(claim, run.protocol, run.name, s, measured, chapter, verdict, why))
    return rows


_SUBJECT_NOTES = {"rls": "lsbench's variant, started from the sample's box",
                  "rls-untrained": "the RLS cell with its initial weights, not trained"}


def claim_rls_beats_classic(run: RunView, published: Published | None) -> list[ClaimRow]:
    """RLS against every classic method the run holds (``cv``, ``skimage-cv``, ``drlse``, ``li``, ``lic``, ``l2s``)."""
    rls = _rls_entry(published)
    chapter = (f"RLS best on GT1 and GT2, its F-measure {_num(_pub(rls, 'fm_gt1'))}; "
               f"{_chapter_fm(published, CLASSIC_METHODS)} (F % GT1 / GT2)")
    return _claim_rls_beats(run, "rls-beats-classic", lambda r: _present(r, CLASSIC_METHODS), chapter)


def claim_rls_beats_fconnet(run: RunView, published: Published | None) -> list[ClaimRow]:
    """RLS against ``fconnet``."""
    rls, fc = _rls_entry(published), _published_entry(published, 2, ("fconnet",))
    chapter = (f"RLS best; F-measure RLS {_num(_pub(rls, 'fm_gt1'))}, F-ConNet {_num(_pub(fc, 'fm_gt1'))}")
    return _claim_rls_beats(run, "rls-beats-fconnet", lambda r: _present(r, ("fconnet",)), chapter)


def claim_inhomogeneity(run: RunView, published: Published | None) -> list[ClaimRow]:
    """``li``, ``lic`` and ``l2s`` each against ``cv`` on the images of the ``inhomogeneous`` family."""
    claim = "inhomogeneity-beats-cv"
    chapter = (f"no per-family numbers; over all of Table 2: "
               f"{_chapter_fm(published, ('cv', *INHOMOGENEITY_METHODS))} (F % GT1 / GT2)")
    families = run.family_sizes()
    methods = _present(run, INHOMOGENEITY_METHODS)
    if INHOMOGENEOUS_FAMILY not in families:
        why = (f"the dataset {run.dataset} has no '{INHOMOGENEOUS_FAMILY}' scene family"
               f" (families: {', '.join(sorted(families)) or 'none recorded'})")
        return [ClaimRow(claim, run.protocol, run.name, "–", "–", chapter, NOT_TESTABLE, why)]
    if "cv" not in run.methods or not methods:
        why = f"`cv` and at least one of {_names(INHOMOGENEITY_METHODS)} must be in the {run.protocol} run"
        return [ClaimRow(claim, run.protocol, run.name, "–", "–", chapter, NOT_TESTABLE, why)]
    diffs = [run.difference(m, "cv", INHOMOGENEOUS_FAMILY) for m in methods]
    measured = f"{families[INHOMOGENEOUS_FAMILY]} images: " + "; ".join(d.text() for d in diffs)
    missing = [m for m in INHOMOGENEITY_METHODS if m not in methods]
    won = [d.a for d in diffs if d.beats]
    not_won = [d for d in diffs if not d.beats]
    if missing:
        verdict, why = NOT_TESTABLE, f"{_names(missing)} not in the run"
    elif not not_won:
        verdict, why = HOLDS, "each one above `cv`, every interval above zero"
    else:
        verdict = DOES_NOT_HOLD
        lost = [d.a for d in not_won if d.loses]
        tied = [d.a for d in not_won if not d.loses]
        parts = ([f"{_names(won)} beat `cv`"] if won else [])
        parts += ([f"{_names(lost)} below `cv`"] if lost else [])
        parts += ([f"{_names(tied)} not distinguishable from `cv`"] if tied else [])
        why = "; ".join(parts)
    return [ClaimRow(claim, run.protocol, run.name, ", ".join(methods), measured, chapter, verdict, why)]


def claim_crls_beats_mnc(run: RunView, published: Published | None, scores: dict[str, Any]) -> list[ClaimRow]:
    """``crls`` against ``crls-fcmask`` (MNC's plain FC mask stage on the same features) at mAPr@0.5 and @0.7."""
    claim = "crls-beats-mnc"
    chapter = _chapter_crls(published)
    if "crls" not in scores or "crls-fcmask" not in scores:
        missing = [m for m in ("crls", "crls-fcmask") if m not in scores]
        return [ClaimRow(claim, "", run.name, "crls vs crls-fcmask", "–", chapter, NOT_TESTABLE,
                         f"{_names(missing)} not in the instance run")]

    def at(m: str, t: float) -> float:
        return 100 * scores[m].mapr["mnc"].mean_ap[t]

    def coco(m: str) -> float:
        return 100 * scores[m].coco.stats["AP"]

    shown = [m for m in ("crls", "crls-fcmask", "maskrcnn") if m in scores]
    measured = f"{run.dataset}, mAPr@0.5 / @0.7 / COCO AP: " + "; ".join(
        f"`{m}` {at(m, 0.5):.1f} / {at(m, 0.7):.1f} / {coco(m):.1f}" for m in shown)
    d5, d7 = at("crls", 0.5) - at("crls-fcmask", 0.5), at("crls", 0.7) - at("crls-fcmask", 0.7)
    verdict = HOLDS if d5 > 0 and d7 > 0 else DOES_NOT_HOLD
    why = (f"`crls` - `crls-fcmask`: {d5:+.1f} points at IoU 0.5, {d7:+.1f} at 0.7 (AP of the whole set: no "
           "interval); the RLS mask stage " + ("helps at both" if verdict == HOLDS else "does not help at both"))
    return [ClaimRow(claim, "", run.name, "crls vs crls-fcmask", measured, chapter, verdict, why)]


def _chapter_crls(published: Published | None) -> str:
    if published is None:
        return "published numbers not found"
    parts = []
    for e in published.for_table(3):
        if e.method == "crls" or e.label.startswith("MNC"):
            parts.append(f"{e.label} {_num(e.value('mapr50'), 1)} / {_num(e.value('mapr70'), 1)}")
    t4 = [f"{e.label} {_num(e.value('ap'), 1)} / {_num(e.value('ap50'), 1)}" for e in published.for_table(4)]
    text = "VOC 2012 val mAPr@0.5 / @0.7: " + "; ".join(parts)
    return text + (f"; COCO test-dev AP / AP50: {'; '.join(t4)}" if t4 else "")


def claim_rls_time(run: RunView, published: Published | None) -> list[ClaimRow]:
    """Mean batch-1 seconds per image of each RLS subject against the chapter's."""
    claim = "rls-time"
    chapter_s = _pub(_rls_entry(published), "seconds")
    cv = _published_entry(published, 2, ("cv",))
    chapter = f"{_num(chapter_s, 3)} s per image (64 × 64 input; hardware not stated); CV {_num(_pub(cv, 'seconds'), 1)} s"
    subjects = _present(run, RLS_SUBJECTS)
    if not subjects:
        return [ClaimRow(claim, run.protocol, run.name, "–", "–", chapter, NOT_TESTABLE,
                         f"no RLS in the {run.protocol} run")]
    rows = []
    for s in subjects:
        secs, batched = run.seconds(s), run.batched_seconds(s)
        measured = f"`{s}` {secs:.4g} s per image at batch 1"
        if not math.isnan(batched):
            measured += f", {batched:.4g} s per image at batch {_batch(run, s)}"
        if "cv" in run.methods:
            measured += f"; `cv` {run.seconds('cv'):.4g} s"
        if math.isnan(chapter_s) or math.isnan(secs):
            verdict, why = NOT_TESTABLE, "no published or no measured time"
        else:
            verdict = HOLDS if secs <= chapter_s else DOES_NOT_HOLD
            why = (f"batch-1 time {'within' if verdict == HOLDS else 'above'} {chapter_s:g} s on {run.machine()} "
                   "(the chapter's hardware is not stated)")
        rows.append(ClaimRow(claim, run.protocol, run.name, s, measured, chapter, verdict, why))
    return rows


def _batch(run: RunView, method: str) -> str:
    return str(((run.config.get("throughput") or {}).get(method) or {}).get("batch_size", "?"))


def claim_crls_time(run: RunView, published: Published | None) -> list[ClaimRow]:
    """``crls``'s batch-1 seconds per image; comparable only with the chapter's backbone on VOC."""
    claim = "crls-time"
    chapter_s = _pub(_published_entry(published, 3, ("crls",)), "seconds")
    chapter = f"{_num(chapter_s, 2)} s per image (VGG-16, PASCAL VOC images, the authors' GPU)"
    if "crls" not in run.methods:
        return [ClaimRow(claim, "", run.name, "crls", "–", chapter, NOT_TESTABLE, "`crls` not in the instance run")]
    secs = run.seconds("crls")
    backbone = str(((run.config.get("methods") or {}).get("crls") or {}).get("backbone", "?"))
    rows = run.per_sample[run.per_sample["method"] == "crls"]
    size = f"{int(rows['height'].median())} × {int(rows['width'].median())}" if "height" in rows and len(rows) else "?"
    measured = f"`crls` {secs:.4g} s per image at batch 1 ({backbone} backbone, {run.dataset} images of {size} px)"
    if "maskrcnn" in run.methods:
        measured += f"; `maskrcnn` {run.seconds('maskrcnn'):.4g} s"
    if backbone != CRLS_TIMED_BACKBONE or run.dataset not in CRLS_TIMED_DATASETS:
        verdict = NOT_TESTABLE
        why = (f"the chapter timed VGG-16 on PASCAL VOC images; this run used the {backbone} backbone on "
               f"{run.dataset}, so the times measure different work")
    elif math.isnan(chapter_s) or math.isnan(secs):
        verdict, why = NOT_TESTABLE, "no published or no measured time"
    else:
        verdict = HOLDS if secs <= chapter_s else DOES_NOT_HOLD
        why = f"batch-1 time {'within' if verdict == HOLDS else 'above'} {chapter_s:g} s on {run.machine()}"
    return [ClaimRow(claim, "", run.name, "crls", measured, chapter, verdict, why)]


def _instance_scores(run: RunView, methods: Sequence[str]) -> dict[str, Any]:
    from lsbench.reports.tables import instance_scores_from_run

    wanted = _present(run, methods)
    if not wanted:
        return {}
    return instance_scores_from_run(run.path, run.per_sample[run.per_sample["method"].isin(wanted)])


def evaluate_claims(run_dirs: Sequence[str | Path], published: Published | None = None) -> list[ClaimRow]:
    """Every claim of :data:`CLAIMS`, once per single-object run (protocol) or instance run, in claim order.

    A claim no run can speak to (no single-object run, no instance run) gets one row
    :data:`NOT_TESTABLE` saying so.
    """
    if published is None:
        published = load_published()
    runs = [RunView.load(p) for p in run_dirs]
    single = [r for r in runs if not r.instance]
    instance = [r for r in runs if r.instance]
    by_claim: dict[str, list[ClaimRow]] = {c: [] for c in CLAIMS}
    for run in single:
        by_claim["rls-beats-classic"] += claim_rls_beats_classic(run, published)
        by_claim["rls-beats-fconnet"] += claim_rls_beats_fconnet(run, published)
        by_claim["inhomogeneity-beats-cv"] += claim_inhomogeneity(run, published)
        by_claim["rls-time"] += claim_rls_time(run, published)
    for run in instance:
        scores = _instance_scores(run, ("crls", "crls-fcmask", "maskrcnn"))
        by_claim["crls-beats-mnc"] += claim_crls_beats_mnc(run, published, scores)
        by_claim["crls-time"] += claim_crls_time(run, published)
    out: list[ClaimRow] = []
    for claim, rows in by_claim.items():
        if not rows:
            what = "instance" if claim.startswith("crls") else "single-object"
            rows = [ClaimRow(claim, "", "", "–", "–", "–", NOT_TESTABLE, f"no {what} run in the reference")]
        out += rows
    return out


# -- rendering -----------------------------------------------------------------------------------------
DEFINITIONS = [
    "**RLS** is `rls-chapter`, the chapter's RLS (its phi_0 and weight initialisation, trained with the same "
    "budget); `rls` (lsbench's variant, started from the sample's box) and `rls-untrained` (initial weights) "
    "get rows of their own and never decide the chapter's claim.",
    f"**A beats B**: A's mean per-image F-measure is higher and the {100 * BOOTSTRAP_CONFIDENCE:.0f} % percentile "
    f"bootstrap interval of the mean paired difference A − B (images both scored, {BOOTSTRAP_RESAMPLES} "
    f"resamples, seed {BOOTSTRAP_SEED}) lies above zero; an interval containing zero does not hold "
    "(not distinguishable). Numbers are F-measures in %.",
    "**Instance claims**: mAPr under MNC's AP definition (`mnc`, Table 3's) at IoU 0.5 and 0.7, and COCO mask AP; "
    "`crls-fcmask` is CRLS with MNC's plain FC mask stage on the same features (the MNC-style baseline). AP is a "
    "score of the whole set, so it has no paired interval: beats = higher at both thresholds.",
    "**Time claims**: mean wall seconds per image at batch 1 (Table 2/3's time), on the machine the run names; "
    "the chapter's hardware is not stated.",
    "**Protocols**: `box` = methods may use the sample's initial region (the ground-truth box grown by 8 %); "
    "`blind` = no input derived from the ground truth.",
]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def claims_markdown(rows: Sequence[ClaimRow], runs: Sequence[dict[str, Any]] = (), header: Sequence[str] = ()) -> str:
    """``claims.md``: definitions, the runs the numbers come from, one table row per :class:`ClaimRow`."""
    lines = ["# The chapter's claims, tested", "",
             "Generated from the run directories listed below and `baselines/published.toml` by "
             "`lsbench.reports.claims` (never edited by hand).", ""]
    lines += [*header, ""] if header else []
    if runs:
        lines += ["Runs:", ""]
        lines += [f"- [`{r['folder']}`]({r['folder']}/{'index.html' if r.get('page', True) else ''}): "
                  f"{r['description']}" for r in runs]
        lines.append("")
    lines += ["Definitions:", ""] + [f"- {d}" for d in DEFINITIONS] + [""]
    lines += ["| Claim | Protocol | Subject | Measured here | Chapter | Verdict | Why |",
              "|---|---|---|---|---|---|---|"]
    last = None
    for r in rows:
        claim = f"{r.statement} ({CLAIMS[r.claim][1]})" if r.claim != last else "″"
        last = r.claim
        subject = r.subject if r.subject in ("–", "") or "`" in r.subject else f"`{r.subject}`"
        lines.append("| " + " | ".join(_cell(x) for x in (claim, r.protocol or "–", subject, r.measured, r.chapter,
                                                           f"**{r.verdict}**", r.why)) + " |")
    return "\n".join(lines) + "\n"


def _md_inline_to_html(text: str) -> str:
    """Escape ``text`` and turn its Markdown ``code`` and **bold** spans into HTML."""
    out = _html.escape(text)
    parts = out.split("`")
    out = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = out.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def claims_html(rows: Sequence[ClaimRow]) -> str:
    """The claims as an HTML section (``<section id="claims">``) for a report page."""
    head = ["Claim", "Protocol", "Subject", "Measured here", "Chapter", "Verdict", "Why"]
    out = ['<section id="claims">', "<h2>The chapter's claims, tested</h2>", '<ul class="notes">']
    out += [f"<li>{_md_inline_to_html(d)}</li>" for d in DEFINITIONS]
    out += ["</ul>", '<div class="table-wrap"><table class="lsbench">', "<thead><tr>"]
    out += [f"<th>{h}</th>" for h in head]
    out += ["</tr></thead>", "<tbody>"]
    for r in rows:
        cells = [f"{r.statement} ({CLAIMS[r.claim][1]})", r.protocol or "–", r.subject, r.measured, r.chapter,
                 f"**{r.verdict}**", r.why]
        out.append(f'<tr data-claim="{_html.escape(r.claim)}" data-verdict="{_html.escape(r.verdict)}">'
                   + "".join(f"<td>{_md_inline_to_html(c)}</td>" for c in cells) + "</tr>")
    out += ["</tbody></table></div>", "</section>"]
    return "\n".join(out)

"""Named initialisation protocols (box | blind): what each method receives, what is recorded, what is refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lsbench.cli import main
from lsbench.errors import RequestError
from lsbench.harness.runner import MethodRequest, _plan, resume_benchmark, run_benchmark
from lsbench.levelset.init import box_mask
from lsbench.protocols import (
    INIT_LABEL,
    POLARITY_LABEL,
    GroundTruthInput,
    apply_protocol,
    blind_preset,
    resolve_protocol,
)
from lsbench.registry import METHODS
from lsbench.reports.tables import margins_over, table2_margins
from lsbench.segmenter import BaselineSegmenter, ClassicSegmenter, SkimageChanVese
from lsbench.types import Sample
from tests.test_bad_inputs import ListDataset

SIZE = 24


def _scene(sample_id: str = "s") -> Sample:
    """A bright square in the middle; the sample's initial region lies over the background in a corner,
    so the region rule and the border rule pick opposite phases as the object."""
    img = np.full((SIZE, SIZE), 0.2, np.float32)
    img[8:16, 8:16] = 0.9
    corner = np.zeros((SIZE, SIZE), bool)
    corner[1:7, 1:7] = True
    return Sample(sample_id, img, mask=img > 0.5, init=corner)


# -- the declarations -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", METHODS.names())
def test_every_parameter_that_reads_the_sample_region_is_declared(name):
    """A method whose init or polarity defaults to the sample's initial region declares it, so that blind
    replaces or refuses it; and every declared parameter is one the method has."""
    entry = METHODS.get(name)
    defaults = entry.defaults()
    declared = {gt.param for gt in entry.ground_truth}
    for param in ("init", "polarity", "rls_init"):
        if defaults.get(param) == "sample":
            assert param in declared, f"{name}: {param}='sample' reads the initial region but is not declared"
    assert declared - {None} <= set(defaults), f"{name} declares parameters it does not have"
    for gt in entry.ground_truth:
        assert isinstance(gt, GroundTruthInput) and gt.label
        assert gt.blind is not None or gt.why, f"{name}: an input refused under blind must say why"


#: method -> (what it is built with under box, the inputs it receives; the same under blind)
EXPECTED = {
    "cv": ({"init": "checkerboard", "polarity": "sample"}, [POLARITY_LABEL],
           {"init": "checkerboard", "polarity": "border"}, []),
    "skimage-cv": ({"init": "checkerboard", "polarity": "sample"}, [POLARITY_LABEL],
                   {"init": "checkerboard", "polarity": "border"}, []),
    "drlse": ({"init": "sample"}, [INIT_LABEL], {"init": "box"}, []),
    "li": ({"init": "sample"}, [INIT_LABEL], {"init": "box"}, []),
    "lic": ({"init": "sample"}, [INIT_LABEL], {"init": "box"}, []),
    "l2s": ({"init": "sample", "polarity": "phi"}, [INIT_LABEL], {"init": "box", "polarity": "phi"}, []),
    "otsu": ({"polarity": "sample"}, [POLARITY_LABEL], {"polarity": "border"}, []),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_what_each_method_receives_under_box_and_blind(name):
    sample = _scene()
    data = ListDataset([sample])
    for protocol, (params, inputs) in (("box", EXPECTED[name][:2]), ("blind", EXPECTED[name][2:])):
        plan = _plan([MethodRequest(name)], data, limit=None, metric=None, warmup=False, figure_samples=0,
                     trace_samples=0, protocol=protocol)
        (_, seg, resolved), = plan.built
        assert plan.protocol == protocol and plan.ground_truth_inputs == {name: inputs}
        assert {k: resolved[k] for k in params} == params
        assert plan.specs[0].params == {k: v for k, v in params.items() if v != METHODS.get(name).defaults()[k]}
        if isinstance(seg, ClassicSegmenter):  # what the adapter hands the function for this sample
            init = seg._init_for(sample)
            if params["init"] == "sample":
                assert init is sample.init
            else:
                assert init == params["init"] and seg.fallback_init == params["init"]
            assert seg.polarity == params.get("polarity", "phi")
        elif isinstance(seg, (BaselineSegmenter, SkimageChanVese)):
            assert (seg.params if isinstance(seg, BaselineSegmenter) else {"polarity": seg.polarity}
                    )["polarity"] == params["polarity"]


def test_blind_replacements_are_what_a_sample_without_a_region_gets():
    """The blind init of the contour methods is the region they fall back to (a centred box): one fact."""
    for name in ("drlse", "li", "lic", "l2s"):
        seg = METHODS.build(name)
        assert seg.fallback_init == apply_protocol(METHODS.get(name), {}, "blind").params["init"] == "box"
    assert METHODS.build("cv").fallback_init == "checkerboard"


def test_learned_and_box_baseline_under_blind():
    for name in ("rls", "rls-conv"):
        with pytest.raises(ValueError, match=rf"method '{name}' cannot run under protocol blind: init='sample'.*"
                                             rf"-p {name}\.init=disks"):
            apply_protocol(METHODS.get(name), {}, "blind")
        changed = apply_protocol(METHODS.get(name), {"init": "disks"}, "blind")  # another model: allowed
        assert changed.params == {"init": "disks"} and changed.inputs == []
        assert apply_protocol(METHODS.get(name), {}, "box").inputs == [INIT_LABEL]
    assert apply_protocol(METHODS.get("fconnet"), {}, "blind").inputs == []
    with pytest.raises(ValueError, match="method 'box' cannot run under protocol blind: its output is"):
        apply_protocol(METHODS.get("box"), {}, "blind")
    assert apply_protocol(METHODS.get("box"), {}, "box").inputs == ["initial region as the mask"]


def test_explicit_ground_truth_parameter_under_blind_is_refused_but_a_preset_is_mapped():
    with pytest.raises(ValueError, match=r"method 'drlse': init='sample' gives it a ground-truth-derived input.*"
                                         r"\(blind uses init='box'\)"):
        apply_protocol(METHODS.get("drlse"), {"init": "sample"}, "blind")
    # box leaves an explicit choice alone, and a choice that reads nothing is no input
    assert apply_protocol(METHODS.get("drlse"), {"init": "circle"}, "box").inputs == []
    assert apply_protocol(METHODS.get("cv"), {"init": "sample"}, "box").inputs == [INIT_LABEL, POLARITY_LABEL]
    # the tuned presets set init/polarity = "sample" (baselines/presets): blind maps them, keeps the rest
    assert blind_preset(METHODS.get("l2s"), {"init": "sample", "polarity": "sample", "nu": 0.1}) == {
        "init": "box", "polarity": "border", "nu": 0.1}
    assert blind_preset(METHODS.get("rls"), {"init": "sample"}) == {"init": "sample"}  # left for the refusal


def test_resolve_protocol():
    assert resolve_protocol(None, "binary") == "box" and resolve_protocol(None, "instance") == "blind"
    with pytest.raises(ValueError, match="protocol must be one of box, blind; got 'open'"):
        resolve_protocol("open", "binary")
    with pytest.raises(ValueError, match="instance runs are always 'blind'"):
        resolve_protocol("box", "instance")


def test_registry_refuses_a_parameter_declared_twice(monkeypatch):
    METHODS.names()
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
    twice = (GroundTruthInput("a", "init", blind="box"), GroundTruthInput("b", "init", blind="box"))
    with pytest.raises(ValueError, match="declares a parameter twice"):
        METHODS.add("twice", lambda init="sample": None, ground_truth=twice)


# -- the effect, through the harness ------------------------------------------------------------------------
def test_protocol_changes_the_phase_each_method_returns():
    """The corner region lies over background: under box the region rule calls the background the object
    (F = 0), under blind the border rule finds the square (F = 1), for the threshold and the level sets."""
    data = ListDataset([_scene()])
    requests = [MethodRequest("otsu"), MethodRequest("cv"), MethodRequest("skimage-cv"),
                MethodRequest("l2s", {"init": "checkerboard", "polarity": "sample"})]
    f = {}
    for protocol in ("box", "blind"):
        if protocol == "blind":  # an explicit polarity="sample" is refused under blind: ask for border
            requests[-1] = MethodRequest("l2s", {"init": "checkerboard", "polarity": "border"})
        res = run_benchmark(requests, data, progress=False, warmup=False, trace_samples=0, protocol=protocol)
        f[protocol] = res.per_sample.set_index("method")["f_measure"].to_dict()
    assert all(v == 0.0 for v in f["box"].values()), f  # the background is disjoint from the square
    assert all(v == 1.0 for v in f["blind"].values()), f


def test_contour_methods_start_from_the_centred_box_under_blind():
    """A recording function in place of drlse's: under blind it is handed the centred box, under box the
    sample's region."""
    seen = []

    def record(image, *, init, **kw):
        seen.append(init)
        from lsbench.types import LevelSetResult
        phi = np.where(box_mask(image.shape), 1.0, -1.0)
        return LevelSetResult(mask=phi > 0, phi=phi, energies=[], n_iter=1, converged=True)

    sample = _scene()
    for protocol, expected in (("box", sample.init), ("blind", "box")):
        params = apply_protocol(METHODS.get("drlse"), {}, protocol).params
        seg = ClassicSegmenter("drlse", record, {**METHODS.get("drlse").defaults(), **params}, fallback_init="box")
        seen.clear()
        seg(sample)
        if protocol == "box":
            assert seen[-1] is sample.init
        else:
            assert isinstance(seen[-1], str) and seen[-1] == expected


# -- what is recorded -----------------------------------------------------------------------------------
def test_config_summary_and_tables_record_the_protocol(data_root, tmp_path):
    from lsbench.datasets import load

    ds = load("synthetic", root=data_root, split="test")
    fast = {"cv": {"max_iter": 20}, "drlse": {"max_iter": 2}}
    for protocol, methods in (("box", ["otsu", "box", "cv", "drlse"]), ("blind", ["otsu", "cv", "drlse"])):
        run_benchmark([MethodRequest(m, fast.get(m, {})) for m in methods], ds, out=tmp_path, run_id=protocol,
                      limit=2, progress=False, warmup=False, trace_samples=0, protocol=protocol)
        run = tmp_path / protocol
        cfg = json.loads((run / "config.json").read_text())
        assert cfg["protocol"] == protocol
        summary = pd.read_csv(run / "summary.csv")
        assert list(summary.columns[:5]) == ["method", "dataset", "split", "protocol", "metric"]
        assert set(summary["protocol"]) == {protocol}
        for name in ("table2.md", "table2_margins.md"):  # every caption, the sections' too
            titles = [line for line in (run / name).read_text().splitlines() if line.startswith("#")]
            assert titles and all(t.endswith(f"synthetic v2 / test, protocol {protocol})") for t in titles), titles
        table = pd.read_csv(run / "table2.csv")
        measured = table[table["Method"].isin(methods)]  # the other rows are published-only (no measurement)
        assert list(measured["Method"]) == methods
        inputs = dict(zip(measured["Method"], measured["measured here: Ground-truth inputs"], strict=True))
        margins = pd.read_csv(run / "table2_margins.csv")
        assert "otsu" not in set(margins["Method"]) and "cv" in set(margins["Method"])
        if protocol == "box":
            assert cfg["ground_truth_inputs"] == {"otsu": [POLARITY_LABEL], "box": ["initial region as the mask"],
                                                  "cv": [POLARITY_LABEL], "drlse": [INIT_LABEL]}
            assert cfg["methods"]["cv"]["polarity"] == "sample" and cfg["methods"]["drlse"]["init"] == "sample"
            assert inputs["drlse"] == INIT_LABEL and inputs["box"] == "initial region as the mask"
        else:
            assert cfg["ground_truth_inputs"] == {"otsu": [], "cv": [], "drlse": []}
            assert (cfg["methods"]["cv"]["polarity"], cfg["methods"]["otsu"]["polarity"],
                    cfg["methods"]["drlse"]["init"]) == ("border", "border", "box")
            assert inputs == {"otsu": "none", "cv": "none", "drlse": "none"}
        # lsbench report rebuilds the same tables, captions included, from the run directory alone
        written = {p.name: p.read_text() for p in sorted(run.glob("table*.*"))}
        assert {"table2.md", "table2_margins.md", "table2.csv", "table2.tex"} <= set(written)
        for name in written:
            (run / name).unlink()
        res = CliRunner().invoke(main, ["report", str(run), "--no-figures", "--no-progress"])
        assert res.exit_code == 0, res.output
        assert {p.name: p.read_text() for p in sorted(run.glob("table*.*"))} == written


def test_resume_keeps_the_protocol(tmp_path):
    data = ListDataset([_scene(f"s{i}") for i in range(4)])
    seen = []

    def stop_after_two(row):
        seen.append(row)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_benchmark([MethodRequest("otsu"), MethodRequest("cv", {"max_iter": 50})], data, out=tmp_path,
                      run_id="r", progress=False, on_record=stop_after_two, protocol="blind", trace_samples=0)
    assert json.loads((tmp_path / "r.partial" / "config.json").read_text())["protocol"] == "blind"
    res = CliRunner().invoke(main, ["run", "--resume", str(tmp_path / "r.partial"), "--protocol", "box"])
    assert res.exit_code == 2 and "drop --protocol" in res.output
    res = resume_benchmark(tmp_path / "r", dataset=data, progress=False)
    assert res.config["protocol"] == "blind" and res.config["ground_truth_inputs"] == {"otsu": [], "cv": []}
    assert res.config["methods"]["cv"]["polarity"] == "border"
    assert set(pd.read_csv(tmp_path / "r" / "summary.csv")["protocol"]) == {"blind"}
    assert (res.per_sample["f_measure"] == 1.0).all()  # every sample ran blind (border rule)


# -- refusals -------------------------------------------------------------------------------------------
def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error:")]


@pytest.mark.parametrize(("args", "needle"), [
    (["-m", "otsu,box", "--protocol", "blind"], "method 'box' cannot run under protocol blind: its output is the "
                                                "sample's initial region itself"),
    (["-m", "rls", "--protocol", "blind"], "method 'rls' cannot run under protocol blind: init='sample' gives it a "
                                           "ground-truth-derived input"),
    (["-m", "cv", "--protocol", "open"], "Invalid value for '--protocol': 'open' is not one of 'box', 'blind'"),
    (["-m", "cv", "-p", "cv.polarity=sample", "--protocol", "blind"], "method 'cv': polarity='sample' gives it a "
                                                                      "ground-truth-derived input"),
    (["-d", "shapes", "-m", "crls", "--protocol", "box"], "protocol 'box' does not apply to an instance dataset"),
])
def test_cli_refusals_exit_2_with_one_line_before_any_work(tmp_path, args, needle):
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["run", *args, "--root", str(tmp_path / "no-data"), "--out", str(out),
                                    "--limit", "1", "--no-progress"])
    assert res.exit_code == 2, res.output
    errors = _error_lines(res.output)
    assert len(errors) == 1 and needle in errors[0], res.output
    assert not out.exists() and not (tmp_path / "no-data").exists()  # no data loaded, nothing written


def test_refusal_comes_before_any_method_is_built(monkeypatch):
    """fconnet listed before box: a build may train, so the protocol is checked for every method first."""
    METHODS.names()
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
    built = []
    METHODS.add("counted", lambda: built.append(1) or (lambda s: None), kind="binary")
    with pytest.raises(ValueError, match="method 'box' cannot run under protocol blind") as err:
        run_benchmark([MethodRequest("counted"), MethodRequest("box")], ListDataset([_scene()]), progress=False,
                      protocol="blind")
    assert isinstance(err.value, RequestError) and built == []


def test_preset_under_blind_is_mapped_and_recorded(data_root, tmp_path):
    """--preset tuned sets polarity = 'sample' for l2s and cv (synthetic table); under blind it becomes the
    border rule while the preset's other values stay, init='checkerboard' included (it reads nothing)."""
    res = CliRunner().invoke(main, ["run", "-m", "cv,l2s", "--preset", "tuned", "--protocol", "blind",
                                    "-p", "cv.max_iter=5", "-p", "l2s.max_iter=5", "--root", str(data_root),
                                    "--out", str(tmp_path), "--run-id", "p", "--limit", "1", "--no-progress",
                                    "--no-figures", "--executor", "local"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "p" / "config.json").read_text())
    assert cfg["methods"]["l2s"]["init"] == "checkerboard" and cfg["methods"]["l2s"]["polarity"] == "border"
    assert cfg["methods"]["cv"]["polarity"] == "border"
    assert cfg["methods"]["l2s"]["nu"] == 0.1  # from the preset's synthetic table (baselines/presets/l2s.toml)
    assert cfg["ground_truth_inputs"] == {"cv": [], "l2s": []}


# -- margins over otsu ----------------------------------------------------------------------------------------
def _hand_made() -> pd.DataFrame:
    rows = [  # method, sample, family, F, error
        ("otsu", "a1", "bias", 0.50, ""), ("otsu", "a2", "bias", 0.70, ""), ("otsu", "b1", "cells", 0.90, ""),
        ("otsu", "b2", "cells", 0.80, "RuntimeError: x"),
        ("cv", "a1", "bias", 0.80, ""), ("cv", "a2", "bias", 0.60, ""), ("cv", "b1", "cells", 0.85, ""),
        ("cv", "b2", "cells", 0.95, ""),  # otsu failed on b2: not paired
        ("li", "a1", "bias", 0.90, ""), ("li", "a2", "bias", 0.0, "ValueError: y"), ("li", "b1", "cells", 0.91, ""),
        ("li", "b2", "cells", 0.99, ""),
    ]
    return pd.DataFrame([{"method": m, "dataset": "synthetic", "split": "test", "sample_id": s, "group": g,
                          "seconds": 0.1, "error": e, "f_measure": f} for m, s, g, f, e in rows])


def test_margins_over_otsu_on_a_hand_made_table():
    m = margins_over(_hand_made())
    assert list(m.index) == ["cv", "li"] and list(m.columns) == ["bias", "cells", "all", "n"]
    # cv: bias (80-50, 60-70) -> +30, -10: mean +10; cells (85-90) -> -5; all: (30 - 10 - 5) / 3 = 5
    assert m.loc["cv", "bias"] == pytest.approx(10.0) and m.loc["cv", "cells"] == pytest.approx(-5.0)
    assert m.loc["cv", "all"] == pytest.approx(5.0) and m.loc["cv", "n"] == 3
    # li: a2 failed, b2 unpaired: bias 90-50 = 40, cells 91-90 = 1, all 20.5
    assert (m.loc["li", "bias"], m.loc["li", "cells"], m.loc["li", "all"], m.loc["li", "n"]) == (
        pytest.approx(40.0), pytest.approx(1.0), pytest.approx(20.5), 2)
    table = table2_margins(_hand_made(), {"protocol": "blind", "dataset": {"version": 2}})
    from lsbench.reports.render import to_csv, to_markdown

    md = to_markdown(table)
    assert md.splitlines()[0] == ("# Table 2 — margin over `otsu` by scene family (FM (GT), F points; synthetic v2 / "
                                  "test, protocol blind)")
    assert "| `cv` | +10.0 | -5.0 | +5.0 | 3 |" in md and "| `li` | +40.0 | +1.0 | +20.5 | 2 |" in md
    csv = pd.read_csv(__import__("io").StringIO(to_csv(table)))
    assert csv.iloc[1, 0] == "li" and csv.iloc[1, 1:3].tolist() == pytest.approx([40.0, 1.0])


def test_no_margins_without_otsu_or_without_a_paired_image():
    ps = _hand_made()
    assert table2_margins(ps[ps["method"] != "otsu"]) is None
    only_failed = ps[(ps["method"] != "otsu") | (ps["error"] != "")]
    assert table2_margins(only_failed) is None
    assert math.isnan(margins_over(only_failed).loc["cv", "all"])


def test_report_of_a_run_without_a_protocol_says_so():
    from lsbench.reports.tables import run_label

    assert run_label(_hand_made(), {}) == "synthetic / test, protocol not recorded"


# -- box on a dataset whose samples do not all carry an initial region (the folder dataset) ---------------------
def _folder(tmp_path, inits: str):
    """The fixture folder (five images with masks) with initial regions for all, some (two deleted) or none."""
    from lsbench.datasets import fixtures

    root = tmp_path / f"folder-{inits}"
    fixtures.write_folder(root, size=(24, 28), inits=inits != "none")
    if inits == "some":
        for path in sorted((root / "inits").iterdir())[:2]:
            path.unlink()
    return root


def test_folder_regions_are_counted_without_loading(tmp_path):
    from lsbench.datasets import load
    from lsbench.datasets.base import Subset

    ds = load("folder", root=_folder(tmp_path, "some"))
    regions = ds.initial_regions()
    assert regions == [(tmp_path / "folder-some" / "inits" / f"{i}.png").exists() for i in ds.ids()]
    assert sum(regions) == 3 and [s.init is not None for s in ds] == regions
    assert Subset(ds, [4, 0]).initial_regions() == [regions[4], regions[0]]
    assert "folder-some/inits/<stem>.png" in ds.initial_regions_hint()
    assert load("folder", root=_folder(tmp_path, "all")).initial_regions() == [True] * 5


@pytest.mark.parametrize("name", ["box", "rls"])
def test_box_refuses_a_method_that_needs_every_region_on_a_folder_without_them(tmp_path, name):
    out = tmp_path / "out"
    for inits, missing in (("none", 5), ("some", 2)):
        res = CliRunner().invoke(main, ["run", "-d", "folder", "--root", str(_folder(tmp_path, inits)), "-m",
                                        f"cv,{name}", "--out", str(out), "--no-progress"])
        assert res.exit_code == 2, res.output
        (error,) = _error_lines(res.output)
        assert (f"method '{name}' cannot run under protocol box here: it needs every sample's initial region"
                in error and f"{missing} of 5 samples have none" in error
                and f"folder-{inits}/inits/<stem>.png" in error), error
        assert not out.exists()


def test_box_records_the_regions_a_folder_gave(tmp_path):
    """Without DIR/inits nothing derived from a region is received (recorded 'none', and the methods run as
    under blind); with some, the share is recorded; with all, the plain label."""
    from lsbench.datasets import load

    requests = [MethodRequest("otsu"), MethodRequest("drlse", {"max_iter": 2}), MethodRequest("cv", {"max_iter": 5})]
    got = {}
    for inits in ("none", "some", "all"):
        ds = load("folder", root=_folder(tmp_path, inits))
        res = run_benchmark(requests, ds, out=tmp_path / "runs", run_id=inits, progress=False, warmup=False,
                            trace_samples=0, figure_samples=0, executor="local")
        assert res.config["protocol"] == "box" and not res.per_sample["error"].fillna("").astype(bool).any()
        got[inits] = res.config["ground_truth_inputs"]
        if inits == "none":  # the same masks as under blind: the fallbacks are the blind replacements
            blind = run_benchmark(requests, ds, progress=False, warmup=False, trace_samples=0, figure_samples=0,
                                  executor="local", protocol="blind")
            for method in ("otsu", "drlse", "cv"):
                a = res.per_sample.set_index(["method", "sample_id"])["f_measure"]
                b = blind.per_sample.set_index(["method", "sample_id"])["f_measure"]
                assert a.loc[method].to_dict() == b.loc[method].to_dict(), method
            table = pd.read_csv(tmp_path / "runs" / inits / "table2.csv")
            measured = table[table["Method"].isin(["otsu", "drlse", "cv"])]
            assert set(measured["measured here: Ground-truth inputs"]) == {"none"}
    assert got["none"] == {"otsu": [], "drlse": [], "cv": []}
    assert got["some"] == {"otsu": [f"{POLARITY_LABEL} on 3 of 5 samples"], "drlse": [f"{INIT_LABEL} on 3 of 5 samples"],
                           "cv": [f"{POLARITY_LABEL} on 3 of 5 samples"]}
    assert got["all"] == {"otsu": [POLARITY_LABEL], "drlse": [INIT_LABEL], "cv": [POLARITY_LABEL]}


def test_every_section_of_table2_names_the_protocol():
    """The per-family and throughput sections carry the run's label as the table does."""
    from lsbench.reports.render import to_markdown
    from lsbench.reports.tables import table2

    config = {"protocol": "blind", "dataset": {"version": 2}, "throughput": {"cv": None},
              "ground_truth_inputs": {"otsu": [], "cv": [], "li": []}}
    md = to_markdown(table2(_hand_made(), config))
    titles = [line for line in md.splitlines() if line.startswith("#")]
    assert len(titles) == 3 and all(t.endswith("(synthetic v2 / test, protocol blind)") or
                                    t.endswith("; synthetic v2 / test, protocol blind)") for t in titles), titles
    assert any("Batched throughput" in t for t in titles) and any("by scene family" in t for t in titles)

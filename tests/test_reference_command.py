"""`make reference` / `lsbench reference` (lsbench.reference): the plan and its expected durations, the
dirty-tree refusal, resuming an interrupted reference, and the swap into place that never leaves a
half-written reports/reference/. Tiny: a few synthetic images, classic methods and baselines, no training."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import lsbench.harness.runner as runner_module
import lsbench.reference as reference
from lsbench.checkpoint_commands import expected_duration
from lsbench.cli import main
from lsbench.durations import evaluation_seconds, load_durations, training_seconds
from lsbench.reference import (
    REFERENCE_RUNS,
    DirtyTreeError,
    RunSpec,
    SourceState,
    check_source,
    plan_reference,
    run_reference,
    source_state,
)
from lsbench.registry import METHODS

CLEAN = SourceState("c" * 40)
#: measured durations the plan tests scale (not the checkout's file, so that they can be checked by hand)
DURATIONS = {
    "overhead": {"run_seconds": 10},
    "training": {"rls": {"seconds": 100.0, "epochs": 10, "images": 50},
                 "fconnet": {"seconds": 30.0, "epochs": 30, "images": 360},
                 "rls-conv": {"like": "rls"}},
    "evaluation": {"cv": {"seconds_per_image": 0.5}, "otsu": {"seconds_per_image": 0.25},
                   "rls": {"seconds_per_image": 1.0}},
}


# -- durations: one place ---------------------------------------------------------------------------------
def test_durations_scale_by_epochs_and_images_and_say_when_borrowed():
    assert training_seconds("rls", 10, 50, DURATIONS) == (100.0, "measured")
    assert training_seconds("rls", 3, 200, DURATIONS) == (pytest.approx(120.0), "measured")  # 0.2 s per epoch-image
    assert training_seconds("rls-conv", 5, 50, DURATIONS) == (50.0, "as rls, not measured")
    seconds, note = training_seconds("maskrcnn", 7, 10, DURATIONS)
    assert math.isnan(seconds) and note == "not measured"
    assert evaluation_seconds("cv", 360, DURATIONS) == (180.0, "measured")


def test_the_training_advice_reads_the_same_file_as_the_plan(tmp_path, monkeypatch):
    path = tmp_path / "durations.toml"
    path.write_text('[training.rls]\nseconds = 3600\nepochs = 10\nimages = 360\n')
    monkeypatch.setenv("LSBENCH_DURATIONS", str(path))
    assert load_durations()["training"]["rls"]["seconds"] == 3600
    assert expected_duration("rls", {"epochs": 20}, 360).startswith("about 2.0 h ")
    assert expected_duration("fconnet", {}, 360) == "duration not measured"  # nothing else holds a number
    import lsbench.checkpoint_commands as cc

    assert not hasattr(cc, "MEASURED_TRAINING")


def test_a_missing_or_broken_durations_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.toml"):
        load_durations(tmp_path / "nowhere.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[training\n")
    with pytest.raises(ValueError, match="bad.toml is not valid TOML"):
        load_durations(bad)


def test_every_learned_method_of_the_reference_has_a_measured_or_borrowed_training_duration():
    durations = load_durations()
    learned = {m for r in REFERENCE_RUNS for m in r.methods if m in METHODS and "weights" in METHODS.get(m).defaults()}
    assert learned >= {"rls", "rls-conv", "fconnet", "crls", "maskrcnn"}
    for m in sorted(learned):
        seconds, _ = training_seconds(m, METHODS.get(m).defaults()["epochs"], 100, durations)
        assert seconds > 0, m


# -- the plan as data ------------------------------------------------------------------------------------------
def test_the_reference_runs_are_registered_and_name_each_folder_once():
    folders = [r.folder for r in REFERENCE_RUNS]
    assert len(set(folders)) == len(folders)
    unregistered = [m for r in REFERENCE_RUNS for m in r.methods if m not in METHODS]
    assert not unregistered, f"make reference would refuse: {unregistered} are not registered"
    table2 = next(r for r in REFERENCE_RUNS if r.dataset == "synthetic" and r.protocol == "box")
    assert {"cv", "otsu", "box", "rls"} <= set(table2.methods)
    shapes = next(r for r in REFERENCE_RUNS if r.dataset == "shapes")
    assert {"crls", "maskrcnn", "crls-fcmask"} <= set(shapes.methods)


@pytest.fixture
def fake_cache(tmp_path, monkeypatch):
    """cache_entry without loading training sets: ``<tmp>/ckpt/<method>-<epochs>.pt`` with 50 images."""
    folder = tmp_path / "ckpt"
    folder.mkdir()
    calls = []

    def entry(method, params):
        calls.append((method, dict(params)))
        epochs = {**METHODS.get(method).defaults(), **params}["epochs"]
        return folder / f"{method}-{epochs}.pt", 50

    monkeypatch.setattr(reference, "cache_entry", entry)
    return folder, calls


def test_the_plan_lists_runs_missing_checkpoints_and_expected_durations(tmp_path, data_root, fake_cache):
    folder, _ = fake_cache
    (folder / "fconnet-30.pt").write_bytes(b"cached")  # fconnet's checkpoint is in the cache
    specs = [RunSpec("a", "synthetic", "test", ("cv", "otsu", "rls", "fconnet"), "box"),
             RunSpec("b", "synthetic", "test", ("otsu", "rls"), "box")]
    plan = plan_reference(specs, out=tmp_path / "ref", root=data_root, limit=4, source=CLEAN,
                          params={"rls": {"epochs": 2}}, durations=DURATIONS)
    assert [r.spec.folder for r in plan.runs] == ["a", "b"] and not plan.errors
    assert [[m.name for m in r.methods] for r in plan.runs] == [["cv", "otsu", "rls", "fconnet"], ["otsu", "rls"]]
    assert all(r.n_images == 4 for r in plan.runs)
    trainings = plan.trainings()  # rls once (both runs share its checkpoint), fconnet cached
    assert [(m.name, m.checkpoint) for m in trainings] == [("rls", folder / "rls-2.pt")]
    assert trainings[0].train_seconds == pytest.approx(100 / (10 * 50) * 2 * 50)  # -p rls.epochs=2: 20 s
    a = plan.runs[0]
    assert [m.eval_seconds for m in a.methods[:3]] == [2.0, 1.0, 4.0]  # 4 images x seconds per image
    assert a.methods[3].cached and math.isnan(a.methods[3].eval_seconds)  # fconnet: no measured evaluation
    assert plan.unmeasured() == ["a: fconnet"]
    assert plan.total_seconds() == pytest.approx(20 + (2 + 1 + 4 + 10) + (1 + 4 + 10))
    text = "\n".join(plan.lines())
    assert "training 1 missing checkpoint(s) first" in text and str(folder / "rls-2.pt") in text
    assert "expected total: about 52 s" in text and "not counted, no measured duration: a: fconnet" in text
    assert "fconnet: about ? (not measured); checkpoint cached" in text


def test_the_plan_refuses_what_it_cannot_run(tmp_path, data_root, fake_cache, monkeypatch):
    with pytest.raises(ValueError, match="--methods nope: not in the reference runs"):
        plan_reference([RunSpec("a", "synthetic", "test", ("cv",))], out=tmp_path, root=data_root, methods=["nope"],
                       source=CLEAN, durations=DURATIONS)
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        plan_reference([RunSpec("a", "synthetic", "test", ("cv",))], out=tmp_path, root=data_root, limit=0,
                       source=CLEAN, durations=DURATIONS)
    plan = plan_reference([RunSpec("a", "synthetic", "test", ("cv", "not-a-method"))], out=tmp_path, root=data_root,
                          source=CLEAN, durations=DURATIONS)
    assert plan.errors == ["a: method(s) not-a-method are not registered in this lsbench (choose the others with "
                           "--methods)"]
    monkeypatch.setattr(reference, "protocols_supported", lambda: False)
    plan = plan_reference([RunSpec("a", "synthetic", "test", ("cv",), "blind")], out=tmp_path, root=data_root,
                          source=CLEAN, durations=DURATIONS)
    assert "cannot run protocol 'blind'" in plan.errors[0] and plan.runs[0].methods == []


# -- the source: a dirty tree is refused ---------------------------------------------------------------------
def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    path.mkdir()
    _git(path, "init", "-q")
    _git(path, "config", "user.email", "t@example.org")
    _git(path, "config", "user.name", "t")
    (path / "tracked.py").write_text("x = 1\n")
    _git(path, "add", "tracked.py")
    _git(path, "commit", "-qm", "one")
    return path


def test_a_clean_checkout_names_its_commit_and_untracked_files_do_not_count(repo):
    (repo / "untracked.txt").write_text("scratch")
    state = source_state(repo)
    assert state.commit == _git(repo, "rev-parse", "HEAD") and not state.dirty
    check_source(state, allow_dirty=False)


def test_a_dirty_checkout_is_refused_with_one_line_naming_the_file(repo):
    (repo / "tracked.py").write_text("x = 2\n")
    state = source_state(repo)
    assert state.dirty_files == ("tracked.py",) and len(state.diff_sha256) == 64
    with pytest.raises(DirtyTreeError) as info:
        check_source(state, allow_dirty=False)
    assert "\n" not in str(info.value) and "uncommitted changes to tracked files: tracked.py" in str(info.value)
    check_source(state, allow_dirty=True)
    (repo / "tracked.py").write_text("x = 3\n")
    assert source_state(repo).diff_sha256 != state.diff_sha256  # the recorded hash names the diff


def test_not_a_checkout_is_refused(tmp_path):
    state = source_state(tmp_path)
    assert state.commit is None
    with pytest.raises(DirtyTreeError, match="outside a git checkout"):
        check_source(state, allow_dirty=False)


def test_the_command_refuses_a_dirty_tree_before_any_work(repo, tmp_path, monkeypatch):
    (repo / "tracked.py").write_text("x = 2\n")
    monkeypatch.setattr("lsbench.harness.environment.checkout_dir", lambda: repo)
    planned = []
    monkeypatch.setattr(reference, "plan_reference", lambda *a, **k: planned.append(1))
    out = tmp_path / "reports" / "reference"
    res = CliRunner().invoke(main, ["reference", "--out", str(out), "--no-progress"])
    assert res.exit_code != 0
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "refusing to run on a tree with uncommitted changes" in lines[0], res.output
    assert "tracked.py" in lines[0] and not planned and not (tmp_path / "reports").exists()


# -- running: scratch, resume, swap ---------------------------------------------------------------------------
SPEC = RunSpec("synthetic-test-box", "synthetic", "test", ("otsu", "cv"), "box")
N = 4


def _reference(out: Path, data_root: Path, lines: list[str], specs=(SPEC,), **kwargs):
    return run_reference(list(specs), out=out, root=data_root, limit=N, allow_dirty=True, progress=False,
                         figures=False, say=lines.append, **kwargs)


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture
def old_reference(tmp_path):
    """A previous reports/reference/: the box run (with a marker file) and a folder of an older layout."""
    out = tmp_path / "reports" / "reference"
    (out / "synthetic-test-box").mkdir(parents=True)
    (out / "synthetic-test-box" / "old-marker.txt").write_text("previous reference")
    (out / "synthetic-test").mkdir()
    (out / "synthetic-test" / "table2.md").write_text("old layout")
    (out / "claims.md").write_text("old claims")
    return out


def test_interrupted_reference_resumes_and_swaps_in_only_when_complete(tmp_path, data_root, old_reference,
                                                                      monkeypatch):
    out = old_reference
    before = _tree(out)
    real_run = runner_module.run_benchmark
    seen: list[dict] = []

    def interrupted(*args, **kwargs):
        def stop_after_three(row):
            seen.append(row)
            if len(seen) == 3:
                raise KeyboardInterrupt

        return real_run(*args, on_record=stop_after_three, **kwargs)

    monkeypatch.setattr(runner_module, "run_benchmark", interrupted)
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        _reference(out, data_root, lines)
    assert _tree(out) == before  # the previous reference is untouched
    assert not (out.parent / ".reference-new").exists()
    work = next((out.parent / ".reference-work").iterdir())
    assert (work / "synthetic-test-box.partial").is_dir()

    monkeypatch.setattr(runner_module, "run_benchmark", real_run)
    plan = reference.plan_reference([SPEC], out=out, root=data_root, limit=N, durations=load_durations())
    assert plan.runs[0].status == "partial" and "(interrupted: resumed)" in "\n".join(plan.lines())
    lines.clear()
    _reference(out, data_root, lines)
    assert any("resuming the interrupted run" in line for line in lines), lines
    run = out / "synthetic-test-box"
    config = json.loads((run / "config.json").read_text())
    assert config["resumed"] == 1 and config["sessions"][-1]["units_run"] == 2 * N - 3  # continued, not restarted
    per_sample = pd.read_csv(run / "per_sample.csv")
    assert len(per_sample) == 2 * N and sorted(set(per_sample["method"])) == ["cv", "otsu"]
    assert not (run / "old-marker.txt").exists() and not (out / "synthetic-test").exists()  # replaced as a whole
    assert {"claims.md", "index.html", "reference.json"} <= {p.name for p in out.iterdir()}
    assert 'href="claims.md"' in (out / "index.html").read_text()
    assert not (out.parent / ".reference-work").exists() and not (out.parent / ".reference-new").exists()
    manifest = json.loads((out / "reference.json").read_text())
    assert manifest["runs"][0]["status"] == "partial" and "commit" in manifest["source"]


def test_a_failure_after_the_runs_leaves_the_old_reference_and_the_next_start_reuses_the_finished_runs(
        tmp_path, data_root, old_reference, monkeypatch):
    out = old_reference
    before = _tree(out)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(reference, "write_claims", broken)
    lines: list[str] = []
    with pytest.raises(OSError, match="disk full"):
        _reference(out, data_root, lines)
    assert _tree(out) == before
    monkeypatch.undo()

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished run was run again")

    monkeypatch.setattr(runner_module, "run_benchmark", must_not_run)
    monkeypatch.setattr(runner_module, "resume_benchmark", must_not_run)
    lines.clear()
    plan = _reference(out, data_root, lines)
    assert plan.runs[0].status == "finished" and any("reused" in line for line in lines)
    assert plan.total_seconds() == 0.0  # nothing left but the pages
    assert len(pd.read_csv(out / "synthetic-test-box" / "per_sample.csv")) == 2 * N
    assert (out / "claims.md").read_text() != "old claims"


def test_another_request_starts_the_run_afresh(tmp_path, data_root, monkeypatch):
    out = tmp_path / "reports" / "reference"
    otsu_only = RunSpec(SPEC.folder, "synthetic", "test", ("otsu",), "box")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(reference, "write_claims", broken)
    lines: list[str] = []
    with pytest.raises(OSError):
        _reference(out, data_root, lines, specs=[otsu_only])  # leaves a finished otsu-only run in the scratch
    monkeypatch.undo()
    assert reference.plan_reference([otsu_only], out=out, root=data_root, limit=N).runs[0].status == "finished"
    assert reference.plan_reference([SPEC], out=out, root=data_root, limit=N).runs[0].status == "new"
    lines.clear()
    _reference(out, data_root, lines)
    assert any("discarding" in line for line in lines), lines
    assert set(pd.read_csv(out / SPEC.folder / "per_sample.csv")["method"]) == {"otsu", "cv"}


def test_a_subset_of_runs_keeps_the_other_reference_runs(tmp_path, data_root, monkeypatch):
    other = RunSpec("synthetic-test-other", "synthetic", "test", ("otsu",), "box")
    monkeypatch.setattr(reference, "REFERENCE_RUNS", (SPEC, other))
    out = tmp_path / "reports" / "reference"
    lines: list[str] = []
    _reference(out, data_root, lines, specs=[SPEC, other])
    kept = _tree(out / other.folder)
    (out / "stray").mkdir()
    (out / "stray" / "per_sample.csv").write_text("not a reference run")
    lines.clear()
    _reference(out, data_root, lines, specs=[SPEC], methods=["otsu"])
    assert any("keeping synthetic-test-other" in line for line in lines)
    assert _tree(out / other.folder) == kept and not (out / "stray").exists()
    claims = (out / "claims.md").read_text()
    assert "synthetic-test-other" in claims and "synthetic-test-box" in claims


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, data_root):
    out = tmp_path / "reports" / "reference"
    lines: list[str] = []
    plan = _reference(out, data_root, lines, dry_run=True)
    assert lines[0].startswith("lsbench reference: 1 run(s) from ")
    assert any(line.startswith("  expected total: about ") for line in lines)
    assert plan.runs[0].n_images == N and not (tmp_path / "reports").exists()


@pytest.mark.parametrize(("method", "params"), [("rls", {"epochs": 2}), ("rls-conv", {"kernel_size": 3})])
def test_the_plan_names_the_checkpoint_the_run_looks_up(method, params, data_root, monkeypatch):
    """cache_entry (what the plan trains) and the factory (what the run reads) agree on the cache file."""
    pytest.importorskip("torch")
    import lsbench.learned.weights as weights

    built = {**params, "train_root": str(data_root)}
    planned, n_images = reference.cache_entry(method, built)
    looked_up = []
    real = weights.cached_checkpoint_path
    monkeypatch.setattr(weights, "cached_checkpoint_path", lambda *a: looked_up.append(real(*a)) or looked_up[-1])
    with pytest.raises(weights.MissingCheckpointError):
        METHODS.get(method).factory(**built)
    assert looked_up == [planned] and n_images == 360
    assert reference.cache_entry(method, {**built, "epochs": 3})[0] != planned  # the key follows the parameters


def test_the_blind_run_leaves_out_what_reads_the_ground_truth(tmp_path, data_root, fake_cache):
    spec = RunSpec("blind", "synthetic", "test", ("cv", "otsu", "box", "rls", "rls-untrained", "rls-chapter"), "blind")
    plan = plan_reference([spec], out=tmp_path / "ref", root=data_root, limit=4, source=CLEAN, durations=DURATIONS)
    run = plan.runs[0]
    assert [m.name for m in run.methods] == ["cv", "otsu", "rls-untrained", "rls-chapter"] and not plan.errors
    assert [name for name, _ in run.skipped] == ["box", "rls"]
    assert run.methods[2].built.get("init") == "disks"  # the untrained prior starts from the disk lattice
    assert all("cannot run under protocol blind" in why for _, why in run.skipped)
    cv = run.methods[0]
    assert cv.params == {} and cv.built.get("polarity") == "border"  # the run applies blind itself
    box = plan_reference([RunSpec("box", "synthetic", "test", spec.methods, "box")], out=tmp_path / "ref",
                         root=data_root, limit=4, source=CLEAN, durations=DURATIONS).runs[0]
    assert not box.skipped

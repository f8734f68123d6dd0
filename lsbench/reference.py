"""The committed reference report: Tables 2-4, figures, HTML and the chapter's claims, by one command.

``make reference`` runs ``lsbench reference``, which calls :func:`run_reference`:

1. **Source check.** It refuses to run on a checkout whose tracked files differ from the commit
   (naming them), so every committed report names a real commit; ``allow_dirty=True``
   (``--allow-dirty``) runs anyway, records the sha256 of ``git diff HEAD`` in
   ``reference.json``, ``claims.md`` and ``index.html``, and every table says "(dirty)".
2. **Plan** (:func:`plan_reference`), printed before any work: for every run of
   :data:`REFERENCE_RUNS` (one per dataset and protocol) the methods that honour its protocol,
   whether each learned method's checkpoint is in the cache or must be trained, and how long each
   training and each run should take (:mod:`lsbench.durations`, scaled from
   ``baselines/durations.toml``, measured on this repository's 2-core CPU), with the total.
3. **Training**, explicitly (:func:`lsbench.training.train_method`, with its progress bars), of
   every learned method whose checkpoint is not in the cache, each once; the runs then find it
   there (they never train themselves: ``train_missing`` stays off).
4. **Runs** (:func:`lsbench.harness.runner.run_benchmark`, one image at a time on the local
   executor unless told otherwise, figures and ``index.html`` on) into a scratch folder
   ``<out parent>/.<out name>-work/<commit>/``. A run interrupted there is resumed
   (:func:`~lsbench.harness.runner.resume_benchmark`: the samples already scored are kept) and a
   finished one reused when ``lsbench reference`` is started again on the same commit (and the
   same diff) with the same request (methods, parameters, ``limit``); another request starts
   that run afresh.
5. **Claims** (:mod:`lsbench.reports.claims`) from the finished run directories: ``claims.md``,
   and ``index.html`` (the claims, then links to every run's page), and ``reference.json`` (the
   source state, the runs, what was trained, estimated and measured wall time).
6. **Into place**: the new tree is assembled beside ``out`` and swapped in with two renames, so
   ``reports/reference/`` is never half-written. Run folders of :data:`REFERENCE_RUNS` already in
   ``out`` that were not re-run (a subset chosen with ``runs=``) are carried over and the claims
   read them too; any other folder in ``out`` is dropped.

What the reference runs is data, in one place: :data:`REFERENCE_RUNS` (one :class:`RunSpec` per
dataset and protocol) over :data:`TABLE2_METHODS` and :data:`INSTANCE_METHODS`. Adding a method
or a protocol's run is a one-line change there; a method a run's protocol refuses is left out of
that run, and the plan says why.

The result stores (``records.jsonl``) stay in the run folders, out of git (``.gitignore``).

Examples
--------
>>> [(r.folder, r.dataset, r.protocol) for r in REFERENCE_RUNS]
[('synthetic-test-box', 'synthetic', 'box'), ('synthetic-test-blind', 'synthetic', 'blind'), ('shapes-test', 'shapes', None)]
>>> "otsu" in TABLE2_METHODS and "crls-fcmask" in INSTANCE_METHODS
True
>>> [r.folder for r in select_runs(["shapes-test"])]
['shapes-test']
"""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsbench.atomic import atomic_write_text
from lsbench.durations import (
    evaluation_seconds,
    format_duration,
    load_durations,
    overhead_seconds,
    training_seconds,
)
from lsbench.registry import METHODS

__all__ = ["INSTANCE_METHODS", "REFERENCE_RUNS", "TABLE2_METHODS", "DirtyTreeError", "MethodPlan", "PlannedRun",
           "ReferencePlan", "RunSpec", "SourceState", "cache_entry", "check_source", "plan_reference", "protocol_params",
           "run_reference", "select_runs", "source_state", "write_claims"]

MANIFEST_FILE = "reference.json"
CLAIMS_FILE = "claims.md"
INDEX_FILE = "index.html"


@dataclass(frozen=True)
class RunSpec:
    """One run of the reference: a dataset split, the methods asked for, and (single-object) the protocol.

    ``folder`` names the run directory under ``reports/reference/`` (one per dataset and
    protocol); ``protocol`` ``None`` runs without naming one (the instance runs).
    """

    folder: str
    dataset: str
    split: str
    methods: tuple[str, ...]
    protocol: str | None = None
    dataset_params: Mapping[str, Any] = field(default_factory=dict)


# -- THE reference: what `make reference` runs. Add a method to a tuple, or a run (another dataset or
# -- protocol) to REFERENCE_RUNS, here and nowhere else; a method a run's protocol refuses is left
# -- out of that run (the plan says why).
#: Table 2's methods and baselines, in table order
TABLE2_METHODS = ("cv", "skimage-cv", "drlse", "li", "lic", "l2s", "otsu", "box", "rls-untrained", "rls", "rls-conv",
                  "fconnet", "rls-chapter")
#: Tables 3 and 4: CRLS, Mask R-CNN, the MNC-style ablation, the parameter-matched and end-to-end CRLS
INSTANCE_METHODS = ("crls", "maskrcnn", "crls-fcmask", "crls-lite", "crls-e2e")
#: one entry per dataset and protocol, in report order
REFERENCE_RUNS = (
    RunSpec("synthetic-test-box", "synthetic", "test", TABLE2_METHODS, "box"),
    RunSpec("synthetic-test-blind", "synthetic", "test", TABLE2_METHODS, "blind"),
    RunSpec("shapes-test", "shapes", "test", INSTANCE_METHODS),
)


class DirtyTreeError(ValueError):
    """The checkout has uncommitted changes to tracked files (or is not a git checkout)."""


# -- protocols: the one place that asks lsbench which method honours which protocol --------------------
def protocols_supported() -> bool:
    """True when :func:`~lsbench.harness.runner.run_benchmark` takes a ``protocol``."""
    from lsbench.harness.runner import run_benchmark

    return "protocol" in inspect.signature(run_benchmark).parameters


def protocol_params(method: str, protocol: str | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters ``method`` is built with under ``protocol`` (``params`` with the protocol's
    replacements); a ``ValueError`` saying why when the method cannot honour it.

    ``None`` and ``box`` keep ``params`` (``box``: every method may use the sample's initial region,
    lsbench's behaviour before protocols were named); any other protocol needs
    :func:`lsbench.protocols.apply_protocol`, which reads the registration.

    Examples
    --------
    >>> protocol_params("cv", "box", {"mu": 0.2})
    {'mu': 0.2}
    """
    if protocol is None:
        return dict(params)
    try:
        from lsbench.protocols import apply_protocol
    except ImportError:
        if protocol == "box":
            return dict(params)
        raise ValueError(f"this lsbench has no protocol {protocol!r} (no lsbench.protocols)") from None
    return dict(apply_protocol(METHODS.get(method), params, protocol).params)


# -- the source: commit and uncommitted changes -----------------------------------------------------------
@dataclass(frozen=True)
class SourceState:
    """The commit the reference runs from and any uncommitted changes to tracked files."""

    commit: str | None
    dirty_files: tuple[str, ...] = ()
    diff_sha256: str = ""

    @property
    def dirty(self) -> bool:
        return bool(self.dirty_files)

    @property
    def key(self) -> str:
        """Scratch-folder name: the commit, plus the diff's hash when dirty."""
        base = (self.commit or "no-commit")[:12]
        return f"{base}-dirty-{self.diff_sha256[:12]}" if self.dirty else base

    def describe(self) -> str:
        if self.commit is None:
            return "not a git checkout"
        text = f"commit {self.commit[:10]}"
        if self.dirty:
            text += (f" with uncommitted changes to {len(self.dirty_files)} tracked file(s) "
                     f"(git diff HEAD sha256 {self.diff_sha256[:16]}; reports marked dirty)")
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"commit": self.commit, "dirty": self.dirty, "dirty_files": list(self.dirty_files),
                "diff_sha256": self.diff_sha256 or None}


def source_state(checkout: str | os.PathLike[str] | None = None) -> SourceState:
    """The commit and uncommitted tracked changes of ``checkout`` (default: the checkout lsbench runs from)."""
    from lsbench.harness.environment import git_commit, uncommitted_changes

    git = git_commit(checkout)
    changes = uncommitted_changes(checkout)
    if git is None or changes is None:
        return SourceState(None)
    files, digest = changes
    return SourceState(git["commit"], tuple(files), digest)


def check_source(state: SourceState, allow_dirty: bool) -> None:
    """Raise :class:`DirtyTreeError` unless the checkout is clean, or ``allow_dirty``.

    Examples
    --------
    >>> check_source(SourceState("0123456789abcdef"), allow_dirty=False)
    >>> check_source(SourceState("0123456789abcdef", ("lsbench/cli.py",), "ab" * 32), allow_dirty=False)
    Traceback (most recent call last):
    ...
    lsbench.reference.DirtyTreeError: refusing to run on a tree with uncommitted changes to tracked files: lsbench/cli.py; commit them first so that the report names a real commit (or pass --allow-dirty, which records the diff's hash and marks every report dirty)
    >>> SourceState("0123456789abcdef", ("a.py",), "ab" * 32).key
    '0123456789ab-dirty-abababababab'
    """
    if allow_dirty:
        return
    if state.commit is None:
        raise DirtyTreeError("refusing to write the reference report outside a git checkout: it could not name the "
                             "commit it comes from (pass --allow-dirty to run anyway)")
    if state.dirty:
        shown = ", ".join(state.dirty_files[:10]) + (" ..." if len(state.dirty_files) > 10 else "")
        raise DirtyTreeError(f"refusing to run on a tree with uncommitted changes to tracked files: {shown}; commit "
                             "them first so that the report names a real commit (or pass --allow-dirty, which records "
                             "the diff's hash and marks every report dirty)")


# -- learned methods: where the run will look for their weights -------------------------------------------
def is_learned(method: str) -> bool:
    return "learned" in METHODS.get(method).tags


def cache_entry(method: str, params: Mapping[str, Any]) -> tuple[Path, int]:
    """``(checkpoint path, training images)``: the cache entry the factory of ``method`` looks up for
    ``params`` (its overrides of the registered defaults), as :func:`lsbench.learned.weights.resolve_weights`
    computes it. Loads the training set (building a generated one if it is not on disk)."""
    from lsbench.learned.weights import cached_checkpoint_path

    entry = METHODS.get(method)
    values = {**entry.defaults(), **params}
    if entry.kind == "instance":
        from lsbench.crls.segmenter import configs_from_params as detector_configs
        from lsbench.crls.segmenter import training_data

        train_set, _ = training_data(values["train_dataset"], values["train_split"], values["train_root"],
                                     values.get("train_dataset_params"))
        config, train_config = detector_configs(method, values, train_set)
        return cached_checkpoint_path(method, config, train_config.as_dict(), train_set.fingerprint()), len(train_set)
    from lsbench.datasets import load
    from lsbench.learned.segmenter import configs_from_params

    config, train_config = configs_from_params(method, values)
    data = load(values.get("train_dataset") or "synthetic", root=values.get("train_root"),
                split=values.get("train_split") or "train")
    return cached_checkpoint_path(method, config, train_config.as_dict(), data.fingerprint()), len(data)


def method_params(method: str, spec: RunSpec, root: str | os.PathLike[str] | None,
                  overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters the reference gives ``method`` in ``spec``'s run: ``overrides`` (``-p``), and, as
    ``lsbench run`` does, the training data of the learned methods: ``--root`` for all, the run's
    dataset for the instance methods."""
    entry = METHODS.get(method)
    defaults = entry.defaults()
    params = dict(overrides)
    if root is not None and "train_root" in defaults:
        params.setdefault("train_root", str(root))
    if entry.kind == "instance" and "train_dataset" in defaults:
        params.setdefault("train_dataset", spec.dataset)
        if spec.dataset_params:
            params.setdefault("train_dataset_params", dict(spec.dataset_params))
    return params


# -- the plan --------------------------------------------------------------------------------------------
@dataclass
class MethodPlan:
    """One method of one run: its parameters, estimated evaluation time, and (learned) its checkpoint."""

    name: str
    #: what the run asks for (``-p`` and the training data); the run applies the protocol itself
    params: dict[str, Any]
    eval_seconds: float
    eval_note: str
    #: the parameters the method is built with under the run's protocol (the checkpoint's key)
    built: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None
    cached: bool = True
    train_seconds: float = 0.0
    train_note: str = ""
    train_images: int = 0


@dataclass
class PlannedRun:
    """One run of the plan: the methods it runs, those its protocol refuses (with why), its images,
    and whether it is ``new``, ``partial`` (interrupted: resumed) or ``finished`` (on this commit: reused)."""

    spec: RunSpec
    methods: list[MethodPlan]
    skipped: list[tuple[str, str]]
    n_images: int
    status: str = "new"

    def estimate(self, overhead: float = 0.0) -> float:
        """Expected seconds of the run's samples plus ``overhead`` (0 when finished; unmeasured methods count 0)."""
        if self.status == "finished":
            return 0.0
        return _nansum(m.eval_seconds for m in self.methods) + overhead


def _nansum(values: Any) -> float:
    return float(sum(v for v in values if not math.isnan(v)))


@dataclass
class ReferencePlan:
    """What :func:`run_reference` will do, and how long it should take."""

    runs: list[PlannedRun]
    out: Path
    work: Path
    source: SourceState
    overhead: float
    errors: list[str] = field(default_factory=list)

    def trainings(self) -> list[MethodPlan]:
        """Each missing checkpoint once (the first run that needs it)."""
        seen: dict[Path, MethodPlan] = {}
        for run in self.runs:
            for m in run.methods:
                if m.checkpoint is not None and not m.cached and m.checkpoint not in seen:
                    seen[m.checkpoint] = m
        return list(seen.values())

    def unmeasured(self) -> list[str]:
        """The trainings and evaluations the estimate leaves out (no measured duration), as ``what: method``."""
        out = [f"training {m.name}" for m in self.trainings() if math.isnan(m.train_seconds)]
        out += [f"{r.spec.folder}: {m.name}" for r in self.runs if r.status != "finished"
                for m in r.methods if math.isnan(m.eval_seconds)]
        return out

    def total_seconds(self) -> float:
        """Expected seconds of the whole reference: missing trainings, then every run not finished."""
        train = _nansum(m.train_seconds for m in self.trainings())
        return train + sum(r.estimate(self.overhead) for r in self.runs)

    def lines(self) -> list[str]:
        """The plan in words (what ``lsbench reference`` prints first)."""
        out = [f"lsbench reference: {len(self.runs)} run(s) from {self.source.describe()}",
               f"  writes {self.out}/ (runs first in {self.work}/, moved into place when all are complete)"]
        trainings = self.trainings()
        if trainings:
            out.append(f"  training {len(trainings)} missing checkpoint(s) first:")
            for m in trainings:
                note = "" if m.train_note == "measured" else f" ({m.train_note})"
                out.append(f"    {m.name}: about {format_duration(m.train_seconds)}{note} on {m.train_images} "
                           f"training images -> {m.checkpoint}")
        for run in self.runs:
            proto = f", protocol {run.spec.protocol}" if run.spec.protocol else ""
            state = {"finished": " (finished on this commit: reused)", "partial": " (interrupted: resumed)"}.get(
                run.status, "")
            out.append(f"  {run.spec.folder}: {run.spec.dataset}/{run.spec.split}, {run.n_images} images{proto}; "
                       f"about {format_duration(run.estimate(self.overhead))}{state}")
            for m in run.methods:
                weights = ""
                if m.checkpoint is not None:
                    weights = "; checkpoint cached" if m.cached else "; trained first (above)"
                note = "" if m.eval_note == "measured" else f" ({m.eval_note})"
                out.append(f"    {m.name}: about {format_duration(m.eval_seconds)}{note}{weights}")
            for name, why in run.skipped:
                out.append(f"    {name}: not run ({why})")
        unmeasured = self.unmeasured()
        left_out = f"; not counted, no measured duration: {', '.join(unmeasured)}" if unmeasured else ""
        out.append(f"  expected total: about {format_duration(self.total_seconds())} on an idle 2-core CPU "
                   f"(scaled from baselines/durations.toml; a busy machine takes longer){left_out}")
        out += [f"  error: {e}" for e in self.errors]
        return out


def _work_dir(out: Path, source: SourceState) -> Path:
    return out.parent / f".{out.name}-work" / source.key


def _request(run: PlannedRun, root: str | os.PathLike[str] | None, limit: int | None) -> dict[str, Any]:
    """What a run asks for; a scratch run is reused or resumed only when it asked for the same."""
    spec = run.spec
    return json.loads(json.dumps({"dataset": spec.dataset, "split": spec.split, "protocol": spec.protocol,
                                  "dataset_params": dict(spec.dataset_params), "root": root, "limit": limit,
                                  "methods": [[m.name, m.params] for m in run.methods]}, default=str))


def _request_file(work: Path, folder: str) -> Path:
    return work / f"{folder}.request.json"


def _same_request(work: Path, folder: str, request: Mapping[str, Any]) -> bool:
    try:
        return json.loads(_request_file(work, folder).read_text()) == request
    except (OSError, json.JSONDecodeError):
        return False


def _finished(path: Path, source: SourceState) -> bool:
    """A finished run directory made from the same commit (and the same diff when dirty)."""
    from lsbench.rundir import CONFIG_FILE, PER_SAMPLE_FILE

    if not (path / PER_SAMPLE_FILE).is_file() or not (path / CONFIG_FILE).is_file():
        return False
    try:
        git = json.loads((path / CONFIG_FILE).read_text()).get("git") or {}
    except (OSError, json.JSONDecodeError):
        return False
    return git.get("commit") == source.commit and bool(git.get("dirty")) == source.dirty


def plan_reference(runs: Sequence[RunSpec] = REFERENCE_RUNS, *, out: str | os.PathLike[str] = "reports/reference",
                   root: str | os.PathLike[str] | None = None, limit: int | None = None,
                   methods: Sequence[str] | None = None, params: Mapping[str, Mapping[str, Any]] | None = None,
                   source: SourceState | None = None, durations: Mapping[str, Any] | None = None) -> ReferencePlan:
    """Work out what :func:`run_reference` will do: methods per run, missing checkpoints, estimates.

    Parameters
    ----------
    runs : sequence of RunSpec
        Default :data:`REFERENCE_RUNS`.
    out : path
        The reference folder (default ``reports/reference``).
    root : path, optional
        Folder holding the datasets (as ``lsbench run --root``); the learned methods train on it too.
    limit : int, optional
        Only the first ``limit`` images of each run (a smoke test; the report says so in its n).
    methods : sequence of str, optional
        Only these methods (of those each run lists).
    params : mapping, optional
        ``{method: {name: value}}`` overrides of registered defaults (``-p METHOD.NAME=VALUE``).
    source, durations
        The checkout's state (default :func:`source_state`) and measured durations
        (default :func:`load_durations`).

    Returns
    -------
    ReferencePlan
        ``errors`` lists what stops the reference (an unregistered method, a protocol this lsbench
        cannot run); nothing has been trained or run.
    """
    from lsbench.datasets import load
    from lsbench.harness.runner import PARTIAL_SUFFIX

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    if not runs:
        raise ValueError("runs is empty; choose from: " + ", ".join(r.folder for r in REFERENCE_RUNS))
    folders = [r.folder for r in runs]
    if len(set(folders)) != len(folders):
        raise ValueError(f"runs name a folder twice: {', '.join(folders)}")
    out = Path(out)
    source = source if source is not None else source_state()
    durations = durations if durations is not None else load_durations()
    params = {k: dict(v) for k, v in (params or {}).items()}
    wanted = list(methods) if methods is not None else None
    errors: list[str] = []
    if wanted is not None:
        listed = {m for r in runs for m in r.methods}
        unknown = [m for m in wanted if m not in listed]
        if unknown:
            raise ValueError(f"--methods {', '.join(unknown)}: not in the reference runs; they list "
                             + ", ".join(dict.fromkeys(m for r in runs for m in r.methods)))
    unknown_params = [m for m in params if wanted is not None and m not in wanted]
    if unknown_params:
        raise ValueError(f"--param names method(s) not run: {', '.join(unknown_params)}")
    overhead = overhead_seconds(durations)
    work = _work_dir(out, source)
    planned: list[PlannedRun] = []
    checkpoints: dict[tuple[str, str], tuple[Path, int]] = {}
    for spec in runs:
        names = [m for m in spec.methods if wanted is None or m in wanted]
        missing = [m for m in names if m not in METHODS]
        if missing:
            errors.append(f"{spec.folder}: method(s) {', '.join(missing)} are not registered in this lsbench "
                          "(choose the others with --methods)")
        names = [m for m in names if m in METHODS]
        if spec.protocol not in (None, "box") and not protocols_supported():
            errors.append(f"{spec.folder}: this lsbench cannot run protocol {spec.protocol!r} (run_benchmark takes no "
                          "protocol); leave the run out with --runs")
            names = []
        data = load(spec.dataset, root=root, split=spec.split, **dict(spec.dataset_params))
        n = min(len(data), limit) if limit else len(data)
        plans, skipped = [], []
        for m in names:
            p = method_params(m, spec, root, params.get(m, {}))
            try:
                built = protocol_params(m, spec.protocol, p)
            except ValueError as exc:
                skipped.append((m, str(exc)))
                continue
            secs, note = evaluation_seconds(m, n, durations)
            mp = MethodPlan(m, p, secs, note, built=built)
            if is_learned(m) and "weights" in METHODS.get(m).defaults() and not built.get("weights"):
                key = (m, json.dumps(built, sort_keys=True, default=str))
                if key not in checkpoints:
                    checkpoints[key] = cache_entry(m, built)
                mp.checkpoint, mp.train_images = checkpoints[key]
                mp.cached = mp.checkpoint.is_file()
                if not mp.cached:
                    epochs = {**METHODS.get(m).defaults(), **built}.get("epochs")
                    mp.train_seconds, mp.train_note = training_seconds(m, epochs, mp.train_images, durations)
            plans.append(mp)
        run = PlannedRun(spec, plans, skipped, n)
        if _same_request(work, spec.folder, _request(run, root, limit)):
            if _finished(work / spec.folder, source):
                run.status = "finished"
            elif (work / f"{spec.folder}{PARTIAL_SUFFIX}").is_dir():
                run.status = "partial"
        planned.append(run)
    return ReferencePlan(planned, out, work, source, overhead, errors)


# -- running ---------------------------------------------------------------------------------------------
def _say_default(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _train(m: MethodPlan, spec: RunSpec, root: str | os.PathLike[str] | None, progress: bool,
           say: Callable[[str], None]) -> float:
    """Train the missing checkpoint of ``m`` into the cache entry the run will look up; wall seconds."""
    from lsbench.crls.segmenter import state_path_for
    from lsbench.training import SOURCE_PARAMS, train_method

    entry = METHODS.get(m.name)
    defaults = entry.defaults()
    built = m.built
    trainable = {k: v for k, v in built.items() if k not in SOURCE_PARAMS and k in defaults}
    instance = entry.kind == "instance"
    if m.checkpoint is None:
        raise ValueError(f"{m.name} has no cache entry to train")
    started = time.perf_counter()
    result = train_method(m.name, dataset=built.get("train_dataset"),
                          split=built.get("train_split") or defaults.get("train_split") or "train",
                          root=built.get("train_root"), params=trainable,
                          dataset_params=built.get("train_dataset_params") if instance else None,
                          resume=instance and state_path_for(m.checkpoint).is_file(), progress=progress, log=say)
    if Path(result.path) != m.checkpoint:
        raise RuntimeError(f"training {m.name} wrote {result.path}, not the cache entry the run looks up "
                           f"({m.checkpoint}): the reference's parameters and the factory's disagree")
    return time.perf_counter() - started


def _run_one(run: PlannedRun, work: Path, *, root: str | os.PathLike[str] | None, limit: int | None, executor: str,
             workers: int | None, progress: bool, throughput: bool, figures: bool, command: str,
             say: Callable[[str], None]) -> Path:
    """Run (or resume) one reference run in ``work``; return its finished directory."""
    from lsbench.datasets import load
    from lsbench.harness.runner import (
        PARTIAL_SUFFIX,
        MethodRequest,
        resume_benchmark,
        run_benchmark,
    )

    spec = run.spec
    target = work / spec.folder
    partial = work / f"{spec.folder}{PARTIAL_SUFFIX}"
    if run.status == "finished":
        say(f"{spec.folder}: finished on this commit, reused ({target})")
        return target
    options: dict[str, Any] = {"executor": executor, "workers": workers, "progress": progress, "command": command,
                               "figures": figures, "html": figures, "throughput": throughput}
    data = load(spec.dataset, root=root, split=spec.split, **dict(spec.dataset_params))
    if run.status == "partial":
        say(f"{spec.folder}: resuming the interrupted run in {partial}")
        resume_benchmark(partial, dataset=data, **options)
        return target
    for stale in (target, partial):  # scratch from another request or a failed attempt on this commit
        if stale.exists():
            say(f"{spec.folder}: discarding {stale} (another request, or not finished)")
            shutil.rmtree(stale)
    requests = [MethodRequest(m.name, dict(m.params)) for m in run.methods]
    if spec.protocol is not None and protocols_supported():
        options["protocol"] = spec.protocol
    say(f"{spec.folder}: {', '.join(m.name for m in run.methods)} on {data.name}/{data.split} "
        f"({run.n_images} images)")
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_text(_request_file(work, spec.folder), json.dumps(_request(run, root, limit)) + "\n")
    result = run_benchmark(requests, data, out=work, run_id=spec.folder, limit=limit, **options)
    if result.run_dir != target:
        raise RuntimeError(f"{spec.folder}: the run was written to {result.run_dir}, not {target}")
    return target


def _run_description(path: Path) -> str:
    from lsbench.reports.claims import RunView

    view = RunView.load(path)
    git = view.config.get("git") or {}
    commit = f"commit {str(git.get('commit', '?'))[:10]}{' (dirty)' if git.get('dirty') else ''}"
    proto = f"protocol `{view.protocol}`, " if view.protocol else ""
    n = view.per_sample.groupby("method")["sample_id"].nunique().max() if len(view.per_sample) else 0
    return (f"{view.dataset}/{view.config.get('dataset', {}).get('split', '?')}, {proto}{n} images, "
            f"methods {', '.join(view.methods)}; {commit}; {view.machine()}")


def write_claims(out_dir: str | os.PathLike[str], run_dirs: Sequence[str | os.PathLike[str]] | None = None, *,
                 source: SourceState | None = None, manifest: Mapping[str, Any] | None = None) -> list[Path]:
    """Write ``claims.md`` and ``index.html`` (claims, then links to every run) into ``out_dir``.

    ``run_dirs`` default: every finished run directory directly under ``out_dir``. Returns the
    paths written. Nothing is run: the numbers come from the run directories.
    """
    from lsbench.reports.claims import claims_markdown, evaluate_claims

    out_dir = Path(out_dir)
    if run_dirs is None:
        run_dirs = sorted(p for p in out_dir.iterdir() if (p / "per_sample.csv").is_file())
    run_dirs = [Path(p) for p in run_dirs]
    if not run_dirs:
        raise FileNotFoundError(f"{out_dir} holds no finished run directory (a folder with per_sample.csv)")
    rows = evaluate_claims(run_dirs)
    runs = [{"folder": p.name, "description": _run_description(p),
             "tables": [f"table{n}.md" for n in (2, 3, 4) if (p / f"table{n}.md").is_file()],
             "page": (p / INDEX_FILE).is_file()} for p in run_dirs]
    header = [f"Source: {source.describe()}."] if source is not None else []
    if source is not None and source.dirty:
        header.append("DIRTY: these reports were written from uncommitted changes: " + ", ".join(source.dirty_files))
    written = [atomic_write_text(out_dir / CLAIMS_FILE, claims_markdown(rows, runs, header))]
    written.append(atomic_write_text(out_dir / INDEX_FILE, _index_html(rows, runs, header, manifest)))
    return written


def _index_html(rows: Sequence[Any], runs: Sequence[Mapping[str, str]], header: Sequence[str],
                manifest: Mapping[str, Any] | None) -> str:
    import html

    from lsbench.reports.claims import claims_html
    from lsbench.reports.html import _CSS

    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             "<title>lsbench reference report</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
             "<h1>lsbench reference report</h1>"]
    parts += [f"<p>{e(h)}</p>" for h in header]
    if manifest:
        parts.append(f"<p>Regenerated by <code>{e(str(manifest.get('command', '')))}</code> on "
                     f"{e(str(manifest.get('created', '')))}; wall time {e(format_duration(manifest.get('wall_seconds', math.nan)))}.</p>")
    ran = f'; what ran: <a href="{MANIFEST_FILE}">{MANIFEST_FILE}</a>' if manifest else ""
    parts.append(f'<p>The chapter\'s claims, tested: below, and as Markdown in <a href="{CLAIMS_FILE}">{CLAIMS_FILE}'
                 f"</a>{ran}.</p>")
    parts.append("<h2>Runs</h2><ul>")
    for r in runs:
        folder = e(r["folder"])
        tables = "".join(f' <a href="{folder}/{t}">{t}</a>' for t in r.get("tables", ()))
        name = f'<a href="{folder}/index.html"><code>{folder}</code></a>' if r.get("page") else f"<code>{folder}</code>"
        parts.append(f'<li>{name}: {e(r["description"])}'
                     + (f" (tables:{tables})" if tables else "") + "</li>")
    parts.append("</ul>")
    parts.append(claims_html(rows))
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def run_reference(runs: Sequence[RunSpec] = REFERENCE_RUNS, *, out: str | os.PathLike[str] = "reports/reference",
                  root: str | os.PathLike[str] | None = None, limit: int | None = None,
                  methods: Sequence[str] | None = None, params: Mapping[str, Mapping[str, Any]] | None = None,
                  allow_dirty: bool = False, dry_run: bool = False, executor: str = "local",
                  workers: int | None = None, progress: bool = True, throughput: bool = False,
                  figures: bool = True, command: str | None = None,
                  say: Callable[[str], None] | None = None) -> ReferencePlan:
    """Regenerate the reference report into ``out`` (module docstring); return the plan it followed.

    Parameters
    ----------
    runs, out, root, limit, methods, params
        As for :func:`plan_reference`.
    allow_dirty : bool
        Run on a checkout with uncommitted changes to tracked files, recording the diff's hash.
    dry_run : bool
        Print the plan and stop (nothing trained, run or written).
    executor, workers
        Where the samples run (default ``local``: one image at a time, so no two timed calls
        compete for the cores).
    progress : bool
        Progress bars (training and runs).
    throughput : bool
        Also measure each method's batched throughput (``lsbench run --throughput``; longer).
    figures : bool
        Draw each run's figures and its ``index.html`` (default; ``False`` for a quick smoke test:
        tables and claims only).
    command : str, optional
        The command line recorded in every ``config.json`` and in ``reference.json``.
    say : callable, optional
        Receives the plan and progress lines (default: stderr).

    Raises
    ------
    DirtyTreeError
        Uncommitted changes to tracked files, or not a git checkout (without ``allow_dirty``).
    ValueError
        The plan has errors (an unregistered method, a protocol this lsbench cannot run).
    """
    say = say or _say_default
    source = source_state()
    check_source(source, allow_dirty)
    plan = plan_reference(runs, out=out, root=root, limit=limit, methods=methods, params=params, source=source)
    for line in plan.lines():
        say(line)
    if plan.errors:
        raise ValueError("the reference cannot run: " + "; ".join(plan.errors))
    if dry_run:
        return plan
    command = command or "lsbench reference"
    started = time.perf_counter()
    plan.work.mkdir(parents=True, exist_ok=True)
    trained = []
    trainings = plan.trainings()
    for k, m in enumerate(trainings, 1):
        spec = next(r.spec for r in plan.runs if m in r.methods)
        say(f"[train {k}/{len(trainings)}] {m.name}: expected about {format_duration(m.train_seconds)}")
        seconds = _train(m, spec, root, progress, say)
        say(f"[train {k}/{len(trainings)}] {m.name}: trained in {format_duration(seconds)}")
        trained.append({"method": m.name, "checkpoint": str(m.checkpoint), "seconds": round(seconds, 1),
                        "expected_seconds": round(m.train_seconds, 1)})
    finished = []
    for k, run in enumerate(plan.runs, 1):
        say(f"[run {k}/{len(plan.runs)}] {run.spec.folder}: expected about "
            f"{format_duration(run.estimate(plan.overhead))}")
        t0 = time.perf_counter()
        finished.append(_run_one(run, plan.work, root=root, limit=limit, executor=executor, workers=workers,
                                 progress=progress, throughput=throughput, figures=figures, command=command,
                                 say=say))
        say(f"[run {k}/{len(plan.runs)}] {run.spec.folder}: done in {format_duration(time.perf_counter() - t0)}")
    _assemble(plan, finished, trained, command, started, say)
    return plan


def _assemble(plan: ReferencePlan, finished: Sequence[Path], trained: list[dict[str, Any]], command: str,
              started: float, say: Callable[[str], None]) -> None:
    """Write the claims beside the finished runs, then build the new reference tree beside ``out`` and swap
    it in with two renames: ``out`` is never half-written, and until the swap the scratch folder keeps
    every finished run (a failure here leaves them to be reused)."""
    out = plan.out
    names = {p.name for p in finished}
    known = [r.folder for r in REFERENCE_RUNS]
    carried = sorted(p for p in out.iterdir() if p.is_dir() and p.name not in names and p.name in known
                     and (p / "per_sample.csv").is_file()) if out.is_dir() else []
    for p in carried:
        say(f"keeping {p.name} from the previous reference (not re-run)")
    order = known + [r.spec.folder for r in plan.runs]
    run_dirs = sorted([*carried, *finished], key=lambda p: (order.index(p.name) if p.name in order else len(order),
                                                             p.name))
    manifest = {"created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "command": command,
                "source": plan.source.as_dict(),
                "runs": [{"folder": r.spec.folder, "dataset": r.spec.dataset, "split": r.spec.split,
                          "protocol": r.spec.protocol, "methods": [m.name for m in r.methods],
                          "skipped": [{"method": m, "why": w} for m, w in r.skipped], "status": r.status}
                         for r in plan.runs],
                "carried_over": [p.name for p in carried], "trained": trained,
                "expected_seconds": round(plan.total_seconds(), 1),
                "wall_seconds": round(time.perf_counter() - started, 1)}
    pages = write_claims(plan.work, run_dirs, source=plan.source, manifest=manifest)
    pages.append(atomic_write_text(plan.work / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n"))

    new = out.parent / f".{out.name}-new"
    old = out.parent / f".{out.name}-old"
    for stale in (new, old):
        if stale.exists():
            shutil.rmtree(stale)
    new.mkdir(parents=True)
    for p in carried:
        shutil.copytree(p, new / p.name)
    for p in [*finished, *pages]:  # the scratch folder is beside out, on the same file system: renames
        p.rename(new / p.name)
    if out.exists():
        out.rename(old)
    new.rename(out)
    if old.exists():
        shutil.rmtree(old)
    shutil.rmtree(plan.work, ignore_errors=True)
    if plan.work.parent.is_dir() and not any(plan.work.parent.iterdir()):
        plan.work.parent.rmdir()
    say(f"reference report: {out / INDEX_FILE} (claims: {out / CLAIMS_FILE}); wall time "
        f"{format_duration(manifest['wall_seconds'])}, expected {format_duration(plan.total_seconds())}")


def select_runs(folders: Sequence[str] | None) -> list[RunSpec]:
    """The runs of :data:`REFERENCE_RUNS` named in ``folders`` (all when None)."""
    if folders is None:
        return list(REFERENCE_RUNS)
    known = {r.folder: r for r in REFERENCE_RUNS}
    unknown = [f for f in folders if f not in known]
    if unknown:
        raise ValueError(f"--runs {', '.join(unknown)}: unknown; choose from {', '.join(known)}")
    return [known[f] for f in folders]

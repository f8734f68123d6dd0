"""The ``lsbench`` command line: run, train, tune, report, list, datasets.

Every expected failure ends in a one-line ``Error: ...`` on stderr and a non-zero exit status,
never a traceback; set ``LSBENCH_DEBUG=1`` to see tracebacks. The status says which kind
(:mod:`lsbench.errors`):

* **2**, click's usage error: a bad option or argument value, refused before any work (an unknown
  method, dataset, metric or preset name, bad ``-p`` / ``--grid`` / ``--dataset-param`` /
  ``--weights`` syntax or value, a parameter given twice, a bad run id or executor option);
* **1**: the work failed (a sample failed, damaged or missing data, a bad preset or checkpoint
  file, an unwritable folder, a download that broke).
"""

from __future__ import annotations

import functools
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lsbench.errors import RequestError, refusing
from lsbench.optional import MissingDependencyError
from lsbench.protocols import PROTOCOLS
from lsbench.registry import DATASETS, METHODS, METRICS

EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, LookupError, OSError,
                                                     FloatingPointError, MissingDependencyError)


def _friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected exceptions into click's: a refused request (:class:`lsbench.errors.RequestError`)
    into ``click.UsageError`` (exit 2), any other into ``click.ClickException`` (exit 1); no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except EXPECTED_ERRORS as exc:
            if os.environ.get("LSBENCH_DEBUG"):
                raise
            msg = str(exc) or type(exc).__name__
            if isinstance(exc, KeyError) and msg.startswith("'") and msg.endswith("'"):
                msg = msg[1:-1]
            if isinstance(exc, RequestError):
                raise click.UsageError(msg, ctx=click.get_current_context(silent=True)) from None
            raise click.ClickException(msg) from None

    return wrapper


def _checked_run_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--run-id``, refused when options are parsed unless a plain folder name."""
    from lsbench.harness.runner import check_run_id

    try:
        return None if value is None else check_run_id(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="lsbench")
def main() -> None:
    """lsbench: classic variational level sets vs recurrent level-set networks."""


# -- run ---------------------------------------------------------------------------------------------
@main.command()
@click.option("--methods", "-m", "methods", default="cv", show_default=True,
              help="Comma-separated method names (see `lsbench list methods`).")
@click.option("--dataset", "-d", default="synthetic", show_default=True, help="Registered dataset name.")
@click.option("--split", "-s", default=None,
              help="Dataset split (default: the dataset's evaluation split: test, or val for voc2012/sbd/coco2014).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding the datasets (default: $LSBENCH_DATA, the checkout's datasets/, "
                   "or ~/.cache/lsbench/datasets); for --dataset folder, the folder of your images itself.")
@click.option("--limit", type=int, default=None,
              help="Only N samples, spread evenly over the scene families (seeded; the split's order when the "
                   "dataset has no families).")
@click.option("--limit-first", "limit_first", type=int, default=None, metavar="N",
              help="Only the first N samples of the split, in its order.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="Parent folder of the run directory (made when the run starts).")
@click.option("--run-id", default=None, callback=_checked_run_id,
              help="Name of the run directory (default: timestamp-dataset-split); a plain folder name.")
@click.option("--param", "-p", "params", multiple=True, metavar="METHOD.NAME=VALUE",
              help="Override a method parameter, e.g. -p cv.mu=0.1 (repeatable).")
@click.option("--dataset-param", "dataset_params", multiple=True, metavar="NAME=VALUE",
              help="Dataset option, e.g. --dataset-param families=vessel (repeatable).")
@click.option("--preset", type=click.Choice(["default", "tuned"]), default=None,
              help="Start from baselines/presets/<method>.toml: its [defaults], or (tuned) those plus "
                   "the dataset's train-tuned overrides; -p wins over both. Default: registered defaults.")
@click.option("--protocol", type=click.Choice(PROTOCOLS), default=None,
              help="What the methods may receive that derives from the ground truth (docs/protocols.md): box "
                   "(the default) lets each method use the sample's initial region (the ground-truth box grown by "
                   "8 %) as its start or to orient its phases; blind gives none, starts the classic methods from "
                   "their own default and refuses methods that need the box. Instance runs are always blind.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--figures/--no-figures", default=True, show_default=True,
              help="Draw the figures into the run directory (lsbench report can draw them later).")
@click.option("--html", is_flag=True, help="Also write the one-page index.html report.")
@click.option("--throughput", is_flag=True,
              help="Also measure the batch-64 throughput (images/s) of the methods with a native predict_batch "
                   "(learned methods), after the per-sample runs; minutes for the detectors.")
@click.option("--weights", "weights", multiple=True, metavar="[METHOD=]PATH",
              help="Checkpoint of a learned method (rls, rls-conv, fconnet, crls, maskrcnn), e.g. --weights rls=rls.pt; "
                   "METHOD= may be left out when one listed method takes weights (repeatable).")
@click.option("--train-missing", is_flag=True,
              help="Train (with a progress bar, and cache) a learned method that has neither --weights nor a cached "
                   "checkpoint; without it such a run stops before any sample, naming the `lsbench train` command.")
@click.option("--executor", type=click.Choice(["local", "process", "dask"]), default="process", show_default=True,
              help="Where samples run: this process (local), a pool of child processes (process), or a Dask "
                   "cluster (dask).")
@click.option("--workers", type=int, default=None,
              help="process: child processes; dask without --scheduler: LocalCluster workers "
                   "(default: the number of logical cores).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Address of a running Dask scheduler (implies --executor dask).")
@click.option("--timeout-per-sample", "timeout_per_sample", type=float, default=None, metavar="SECONDS",
              help="Record a sample as failed when its method runs longer (process and dask executors).")
@click.option("--retries", type=int, default=2, show_default=True,
              help="Times a sample is re-run after its worker process died, before it counts as failed.")
@click.option("--resume", "resume", type=click.Path(path_type=Path), default=None, metavar="RUN_DIR",
              help="Finish an interrupted run (its <run-id>.partial directory): only samples without a "
                   "stored result are run; methods, dataset and limit come from the run's config.json.")
@_friendly
def run(methods: str, dataset: str, split: str | None, root: Path | None, limit: int | None, limit_first: int | None,
        out: Path,
        run_id: str | None, params: tuple[str, ...], dataset_params: tuple[str, ...], preset: str | None,
        protocol: str | None, no_progress: bool, figures: bool, html: bool, throughput: bool, weights: tuple[str, ...],
        train_missing: bool, executor: str,
        workers: int | None, scheduler: str | None, timeout_per_sample: float | None, retries: int,
        resume: Path | None) -> None:
    """Run methods on a dataset split and write a run directory.

    It holds per_sample.csv, summary.csv, config.json, the tables (table<N>.md/.csv/.tex), the
    saved predictions, the result store records.jsonl, and with --figures (the default) the
    figures under figures/. While it runs, the run lives in OUT/<run-id>.partial/; an interrupted
    run is finished with --resume OUT/<run-id>.partial.
    """
    from lsbench.datasets import load
    from lsbench.harness.runner import (
        MethodRequest,
        check_output_dir,
        find_partial_run,
        resume_benchmark,
        run_benchmark,
    )
    from lsbench.params import parse_method_list, parse_param_assignments
    from lsbench.presets import load_preset_with_source
    from lsbench.protocols import apply_protocol, blind_preset, resolve_protocol

    executing = _executor_options(executor, workers, scheduler, timeout_per_sample, retries)
    if resume is not None:
        ctx = click.get_current_context()
        fixed = [f"--{n.replace('_', '-')}" for n in ("methods", "dataset", "split", "root", "limit", "limit_first",
                                                      "out", "run_id", "params", "dataset_params", "preset",
                                                      "protocol", "weights", "train_missing")
                 if _given(ctx, n)]
        if fixed:
            raise click.UsageError(f"--resume takes the methods, dataset, limit and protocol from the run's config.json; "
                                   f"drop {', '.join(fixed)}")
        try:
            find_partial_run(resume)
        except (FileNotFoundError, ValueError) as exc:  # no run in progress there: a bad --resume value
            raise click.UsageError(str(exc)) from None
        result = resume_benchmark(resume, progress=not no_progress, command=shlex.join(["lsbench", *sys.argv[1:]]),
                                  figures=figures, html=html, throughput=throughput, **executing)
        return _print_run(result, html)

    with refusing():
        names = parse_method_list(methods)
        overrides = parse_param_assignments(params, names)
    sources: dict[str, dict[str, Any] | None] = dict.fromkeys(names)
    if preset is not None:  # a bad preset file is damaged data (exit 1), the preset name a choice
        for n in names:
            preset_params, sources[n] = load_preset_with_source(n, dataset=dataset, which=preset)
            if protocol == "blind":  # a preset tuned under box keeps its values, less the ground-truth inputs
                preset_params = blind_preset(METHODS.get(n), preset_params)
            overrides[n] = {**preset_params, **overrides[n]}
    with refusing():
        _apply_weights_option(weights, names, overrides)
        run_protocol = resolve_protocol(protocol, DATASETS.get(dataset).kind or "binary")
        for n in names:  # a method the protocol refuses is refused before any data is loaded (run_benchmark rechecks)
            apply_protocol(METHODS.get(n), overrides[n], run_protocol)
        ds_kwargs = _parse_dataset_params(dataset, dataset_params)
    if train_missing:
        for n in names:
            if "train_missing" in METHODS.get(n).defaults():
                overrides[n]["train_missing"] = True
    # learned methods train (when they must) on the same dataset root; the root of --dataset folder is
    # the folder of your own images, not a folder of datasets
    if root is not None and dataset != "folder":
        for n in names:
            if "train_root" in METHODS.get(n).defaults():
                overrides[n].setdefault("train_root", str(root))
    if limit is not None and limit_first is not None:
        raise click.UsageError("give --limit N (spread over the scene families) or --limit-first N, not both")
    for option, value in (("--limit", limit), ("--limit-first", limit_first)):
        if value is not None and value <= 0:
            raise click.BadParameter(f"must be a positive integer, got {value}", param_hint=option)
    _default_training_data(names, overrides, dataset, root, ds_kwargs)
    check_output_dir(out, create=False)  # fail before loading data or building methods; made when the run starts
    with refusing():  # a bad split or dataset option; damaged data is a DatasetError (exit 1)
        data = load(dataset, root=root, split=split, **ds_kwargs)
    requests = [MethodRequest(n, overrides[n], preset=sources[n]) for n in names]
    result = run_benchmark(requests, data, out=out, run_id=run_id, limit=limit if limit_first is None else limit_first,
                           limit_mode="spread" if limit_first is None else "first", progress=not no_progress,
                           command=shlex.join(["lsbench", *sys.argv[1:]]), figures=figures, html=html,
                           throughput=throughput, on_start=_announce_partial, protocol=protocol, **executing)
    return _print_run(result, html)


def _given(ctx: click.Context, name: str) -> bool:
    """True when option ``name`` was set on the command line (or by environment), not defaulted."""
    source = ctx.get_parameter_source(name)
    return source is not None and source not in (click.core.ParameterSource.DEFAULT,
                                                 click.core.ParameterSource.DEFAULT_MAP)


def _executor_options(executor: str, workers: int | None, scheduler: str | None, timeout_per_sample: float | None,
                      retries: int) -> dict[str, Any]:
    """Check the executor options (before any data is loaded or method built); return them as keywords."""
    from lsbench.harness.executors import make_executor

    if scheduler is not None:
        if _given(click.get_current_context(), "executor") and executor != "dask":
            raise click.BadParameter(f"--scheduler needs --executor dask, not {executor!r}", param_hint="--scheduler")
        executor = "dask"
    if workers is not None and workers <= 0:
        raise click.BadParameter(f"must be a positive integer, got {workers}", param_hint="--workers")
    if retries < 0:
        raise click.BadParameter(f"must be 0 or more, got {retries}", param_hint="--retries")
    if timeout_per_sample is not None and not 0 < timeout_per_sample < float("inf"):
        raise click.BadParameter(f"must be a positive number of seconds, got {timeout_per_sample}",
                                 param_hint="--timeout-per-sample")
    options = {"executor": executor, "workers": workers, "scheduler": scheduler,
               "timeout_per_sample": timeout_per_sample, "retries": retries}
    with refusing():
        make_executor(executor, workers=workers, scheduler=scheduler, timeout=timeout_per_sample, retries=retries)
    return options


def _announce_partial(partial: Path) -> None:
    click.echo(f"Run in progress: {partial} (if interrupted: lsbench run --resume {partial})", err=True)


def _print_run(result: Any, html: bool) -> None:
    """Print the tables and figure paths of a finished run; exit 1 when any sample failed."""
    assert result.run_dir is not None
    for name in ("table2.md", "table2_margins.md", "table3.md", "table4.md"):
        table = result.run_dir / name
        if table.is_file():
            click.echo(table.read_text())
    for name in ("fig7_grid.png", "fig8_instances.png"):
        fig = result.run_dir / "figures" / name
        if fig.is_file():
            click.echo(f"{'Figure 7' if name.startswith('fig7') else 'Figures 8-9'}-style figure: {fig}")
    if html:
        click.echo(f"One-page report: {result.run_dir / 'index.html'}")
    n_failed = int((result.per_sample["error"].astype(str).str.len() > 0).sum())
    click.echo(f"Run directory: {result.run_dir}")
    if n_failed:
        click.echo(f"Error: {n_failed} sample(s) failed; see the 'error' column of "
                   f"{result.run_dir / 'per_sample.csv'}", err=True)
        sys.exit(1)


# -- tune ----------------------------------------------------------------------------------------------
@main.command("tune")
@click.argument("method")
@click.option("--dataset", "-d", default="synthetic", show_default=True, help="Registered dataset name.")
@click.option("--split", "-s", default="train", show_default=True, help="Split to tune on (never test).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding the datasets.")
@click.option("--grid", "-g", "grid", multiple=True, metavar="NAME=V1,V2,...",
              help="Values to try for one parameter (repeatable; the full product is run).")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="A parameter held fixed during the search (and written with the winner).")
@click.option("--stride", type=int, default=1, show_default=True, help="Use every N-th sample of the split.")
@click.option("--write/--no-write", default=False, show_default=True,
              help="Write the winner into METHOD.toml [datasets.DATASET] of the presets folder ($LSBENCH_PRESETS, "
                   "else the checkout's baselines/presets/); without it nothing is written.")
@click.option("--executor", type=click.Choice(["local", "process"]), default="process", show_default=True,
              help="How each combination's samples run: in this process, or in child processes.")
@click.option("--workers", type=int, default=None,
              help="process: child processes (default: the CPU count).")
@_friendly
def tune_cmd(method: str, dataset: str, split: str, root: Path | None, grid: tuple[str, ...],
             params: tuple[str, ...], stride: int, write: bool, executor: str, workers: int | None) -> None:
    """Grid-search METHOD's parameters on a training split and print the winner.

    Nothing is written unless --write is given: then the winner becomes METHOD's tuned preset for
    the dataset, in the presets folder ($LSBENCH_PRESETS, else the checkout's baselines/presets/).
    """
    import datetime as _dt

    from lsbench.datasets import load
    from lsbench.params import parse_assignments
    from lsbench.presets import write_tuned
    from lsbench.tuning import FORBIDDEN_SPLITS, parse_grid, tune

    with refusing():
        entry = METHODS.get(method)
    if split in FORBIDDEN_SPLITS:
        raise click.BadParameter(f"refusing to tune on {split!r}: presets must be chosen on training data",
                                 param_hint="--split")
    executing = _executor_options(executor, workers, None, None, 2)
    with refusing():  # the options; then a bad split or dataset (damaged data is a DatasetError, exit 1)
        grid_values = parse_grid(grid, method)
        fixed = parse_assignments(params, entry.defaults(), "--param", owner=f"method {method!r}")
        data = load(dataset, root=root, split=split)
    result = tune(method, data, grid_values, fixed=fixed, stride=stride,
                  progress=lambda line: click.echo(line, err=True), executor=executing["executor"],
                  workers=executing["workers"])
    click.echo(result.table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    chosen = {**fixed, **result.best}
    shown = ", ".join(f"{k}={v!r}" for k, v in chosen.items())
    click.echo(f"best on {dataset}/{split} ({result.n_samples} samples): {shown}; "
               f"mean F = {100 * result.best_score:.2f} %")
    if write:
        command = shlex.join(["lsbench", "tune", method, "--dataset", dataset, "--split", split,
                              "--stride", str(stride), *[a for g in grid for a in ("--grid", g)],
                              *[a for p in params for a in ("-p", p)]])
        comment = [f"tuned by: {command}",
                   f"on {dataset}/{split}, stride {stride} (n = {result.n_samples} samples), "
                   f"{len(result.table)} combinations: mean F = {100 * result.best_score:.2f} % "
                   f"({_dt.date.today().isoformat()})"]
        path = write_tuned(method, dataset, chosen, comment)
        click.echo(f"wrote {path} [datasets.{dataset}]")
    else:
        from lsbench.presets import presets_dir

        click.echo(f"not written: add --write to store it as the tuned preset in {presets_dir() / (method + '.toml')} "
                   f"[datasets.{dataset}] (or set $LSBENCH_PRESETS to write into another folder)", err=True)


def _apply_weights_option(weights: tuple[str, ...], names: list[str], overrides: dict[str, dict[str, Any]]) -> None:
    """``--weights [METHOD=]PATH`` -> ``overrides[METHOD]["weights"] = PATH``."""
    from lsbench.params import split_assignment

    takers = [n for n in names if "weights" in METHODS.get(n).defaults()]
    given: dict[str, str] = {}
    for raw in weights:
        if "=" in raw:
            method, path = split_assignment(raw, "--weights", form="[METHOD=]PATH")
        elif len(takers) == 1:
            method, path = takers[0], raw
        else:
            raise ValueError(f"--weights {raw!r}: say which method it is for (METHOD=PATH); methods taking weights "
                             f"in --methods: {', '.join(takers) or 'none'}")
        if method not in takers:
            raise ValueError(f"--weights {raw!r}: {method!r} is not a method in --methods that takes weights "
                             f"(those are: {', '.join(takers) or 'none'})")
        if method in given:
            raise ValueError(f"--weights {raw!r}: {method}'s weights are already given by --weights {given[method]!r}; "
                             "give them once")
        given[method] = raw
        if Path(path).expanduser().is_dir():
            raise click.BadParameter(f"{raw!r}: checkpoint {path} is a directory, not a checkpoint file",
                                     param_hint="--weights")
        if not Path(path).expanduser().is_file():
            raise click.BadParameter(f"{raw!r}: checkpoint {path} does not exist", param_hint="--weights")
        overrides[method]["weights"] = path


def _parse_dataset_params(dataset: str, dataset_params: tuple[str, ...]) -> dict[str, Any]:
    """``--dataset-param NAME=VALUE`` options as keywords of the dataset's factory."""
    from lsbench.params import parse_assignments

    return parse_assignments(dataset_params, DATASETS.get(dataset).defaults(), "--dataset-param",
                             owner=f"dataset {dataset!r}", what="option", exclude=("root", "split"))


def _default_training_data(names: list[str], overrides: dict[str, dict[str, Any]], dataset: str,
                           root: Path | None, dataset_params: dict[str, Any]) -> None:
    """Instance methods that train on demand (crls, maskrcnn) train on the run's dataset unless told otherwise.

    Their ``train_dataset`` becomes ``--dataset`` (with ``--root`` and ``--dataset-param``), so
    ``lsbench run --methods crls --dataset sbd`` trains on (or checks its checkpoint against)
    SBD's training split and classes.
    """
    for n in names:
        entry = METHODS.get(n)
        if entry.kind != "instance" or "train_dataset" not in entry.defaults():
            continue
        if "train_dataset" not in overrides[n]:
            overrides[n]["train_dataset"] = dataset
            if root is not None and "train_root" not in overrides[n]:
                overrides[n]["train_root"] = str(root)
            if dataset_params and "train_dataset_params" not in overrides[n]:
                overrides[n]["train_dataset_params"] = dict(dataset_params)


# -- train (learned methods) -----------------------------------------------------------------------
@main.command()
@click.argument("method")
@click.option("--dataset", "-d", default=None,
              help="Registered dataset to train on (default: the method's, synthetic for rls/rls-conv/fconnet, "
                   "shapes for crls/maskrcnn).")
@click.option("--split", "-s", default="train", show_default=True, help="Dataset split to train on.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding the datasets (as for `lsbench run`).")
@click.option("--epochs", type=int, default=None, help="Passes over the data (default: the method's).")
@click.option("--seed", type=int, default=None, help="Seed of weights, validation scenes and shuffling.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Checkpoint file to write (default: the cache entry that `lsbench run` looks up).")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="Any other parameter of the method, e.g. -p lr=0.0005 -p steps=3 (repeatable).")
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N (default: the method's, auto).")
@click.option("--backbone", default=None,
              help="crls/maskrcnn: small (CPU default), vgg16 (the chapter's) or any torchvision classifier, "
                   "e.g. resnet18.")
@click.option("--backbone-weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="crls/maskrcnn: a local state dict (e.g. torchvision's vgg16-397923af.pth) the backbone "
                   "starts from; nothing is downloaded. Default: from scratch.")
@click.option("--dataset-param", "dataset_params", multiple=True, metavar="NAME=VALUE",
              help="crls/maskrcnn: dataset option, e.g. --dataset-param train_images=500 for a smaller shapes "
                   "set (repeatable).")
@click.option("--resume", is_flag=True,
              help="crls/maskrcnn: continue an interrupted training of the same settings from its state file "
                   "(<checkpoint>.state); without it an old state file is overwritten.")
@click.option("--nproc", type=int, default=1, show_default=True,
              help="rls/rls-conv/fconnet: train data-parallel on N processes (DDP: gloo on the CPU, one GPU per process on CUDA); "
                   "the batch size stays the global one.")
@click.option("--cv", "cv", type=int, default=None, metavar="K",
              help="rls/rls-chapter/rls-conv/fconnet: instead of training one model, score the recipe by "
                   "leave-scenes-out K-fold cross-validation on the training split (K models; 2 <= K <= the number "
                   "of scenes, 10 on synthetic). Writes a JSON summary, no checkpoint.")
@click.option("--cv-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --cv: the JSON summary to write (default: a file under $LSBENCH_CACHE/cv/).")
@click.option("--cv-seed", type=int, default=0, show_default=True,
              help="With --cv: seed of how the scenes are dealt into folds (the recipe's --seed is separate).")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@_friendly
def train(method: str, dataset: str | None, split: str, root: Path | None, epochs: int | None, seed: int | None,
          out: Path | None, params: tuple[str, ...], device: str | None, backbone: str | None,
          backbone_weights: Path | None, dataset_params: tuple[str, ...], resume: bool, nproc: int,
          cv: int | None, cv_out: Path | None, cv_seed: int, no_progress: bool) -> None:
    """Train METHOD (rls, rls-chapter, rls-conv, fconnet, crls or maskrcnn) and write a checkpoint, or
    cross-validate its recipe (--cv K)."""
    from lsbench.params import parse_assignments
    from lsbench.training import default_training_dataset, train_method, trainable_params

    try:
        trainable = trainable_params(method)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="METHOD") from None
    if backbone_weights is not None and not backbone_weights.expanduser().is_file():
        raise click.BadParameter(f"{backbone_weights} does not exist", param_hint="--backbone-weights")
    with refusing():
        values = parse_assignments(params, trainable, "--param", owner=method, what="trainable parameter")
        values.update({k: v for k, v in (("epochs", epochs), ("seed", seed), ("device", device)) if v is not None})
        dataset = dataset or default_training_dataset(method)
        DATASETS.get(dataset)
        ds_kwargs = _parse_dataset_params(dataset, dataset_params) if dataset_params else None
    if cv is not None or cv_out is not None:
        with refusing():
            _check_cv_options(cv=cv, cv_out=cv_out, out=out, nproc=nproc, resume=resume, backbone=backbone,
                              backbone_weights=backbone_weights, dataset_params=dataset_params)
        _cross_validate(method, cv, dataset=dataset, split=split, root=root, params=values, cv_seed=cv_seed,
                        out=cv_out, progress=not no_progress)
        return
    result = train_method(method, dataset=dataset, split=split, root=root, params=values, backbone=backbone,
                          backbone_weights=backbone_weights, dataset_params=ds_kwargs, out=out, nproc=nproc,
                          resume=resume, progress=not no_progress, log=lambda line: click.echo(line, err=True))
    _print_trained(result)


def _check_cv_options(*, cv: int | None, cv_out: Path | None, out: Path | None, nproc: int, resume: bool,
                      backbone: str | None, backbone_weights: Path | None, dataset_params: tuple[str, ...]) -> None:
    """``--cv`` trains K throw-away models: the options that concern one checkpoint do not apply."""
    if cv is None:
        raise ValueError("--cv-out needs --cv K")
    for flag, given in (("--out", out is not None), ("--nproc", nproc != 1), ("--resume", resume),
                        ("--backbone", backbone is not None), ("--backbone-weights", backbone_weights is not None),
                        ("--dataset-param", bool(dataset_params))):
        if given:
            raise ValueError(f"{flag} does not apply with --cv (it writes no checkpoint; the summary goes to --cv-out)")


def _cross_validate(method: str, k: int, *, dataset: str, split: str, root: Path | None, params: dict[str, Any],
                    cv_seed: int, out: Path | None, progress: bool) -> None:
    """``lsbench train METHOD --cv K``: per-fold scores, their mean and spread, and the summary file."""
    from lsbench.training import cross_validate_method

    result = cross_validate_method(method, k, dataset=dataset, split=split, root=root, params=params,
                                   cv_seed=cv_seed, out=out, progress=progress,
                                   log=lambda line: click.echo(line, err=True))
    summary = result.summary
    click.echo(f"{method}: leave-scenes-out {summary['k']}-fold validation F-measure "
               f"{100 * result.mean:.2f}% ± {100 * result.std:.2f}% (mean ± std over folds; "
               f"{summary['dataset']['name']}/{summary['dataset']['split']}, cv seed {summary['cv_seed']})")
    for fold in summary["folds"]:
        click.echo(f"  fold {fold['fold']}: {100 * fold['f_measure']:6.2f}%  held out: {', '.join(fold['val_scenes'])}")
    click.echo(f"summary: {result.path} (no checkpoint was written; `lsbench train {method}` with the same "
               "parameters trains the model `lsbench run` uses)")


def _print_trained(result: Any) -> None:
    """The checkpoint ``lsbench train`` wrote, its training time and validation score, and how to use it."""
    ckpt, val, method, target = result.checkpoint, result.checkpoint["val_metrics"], result.method, result.path
    instance = METHODS.get(method).kind == "instance"
    click.echo(f"checkpoint: {target}")
    if instance:
        click.echo(f"training time: {ckpt['train_seconds']:.1f} s wall, {ckpt['cpu_seconds']:.1f} s CPU")
        if val.get("mAPr@0.5") is not None:
            click.echo(f"validation mAPr@0.5: {100 * val['mAPr@0.5']:.2f}%, mAPr@0.7: {100 * val['mAPr@0.7']:.2f}% "
                       f"(epoch {val['epoch']}, {val['n_images']} images)")
    else:
        click.echo(f"training time: {ckpt['train_seconds']:.1f} s; held-out scenes: "
                   f"{', '.join(ckpt['data']['val_groups']) or 'none'}")
        if val.get("f_measure") is not None:
            click.echo(f"validation F-measure: {100 * val['f_measure']:.2f}% (epoch {val['epoch']}), "
                       f"loss {val['loss']:.4f}")
    from lsbench.checkpoint_commands import run_command

    command = run_command(method, result.params, None if result.cached else target)
    where = "from the cache" if result.cached else "from this file"
    click.echo(f"run it ({where}, no training) with: {command}")


# -- report ------------------------------------------------------------------------------------------
@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--table", "tables", type=click.Choice(["2", "3", "4"]), multiple=True,
              help="Only this table (repeatable); default: every table the run can fill.")
@click.option("--figures/--no-figures", default=True, show_default=True,
              help="Also redraw the figures (figures/*.png and *.pdf).")
@click.option("--html", is_flag=True, help="Also write a self-contained index.html (tables and figures embedded).")
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
@_friendly
def report(run_dir: Path, tables: tuple[str, ...], figures: bool, html: bool, no_progress: bool) -> None:
    """Rebuild the tables, figures and (--html) one-page report of RUN_DIR from its files.

    No method is re-run: Table 2 comes from per_sample.csv, Tables 3 and 4 from the saved
    predictions (predictions/*.json against ground_truth.json), the figures from samples.npz,
    masks/*.npz and traces.csv. Each table is written as table<N>.md, .csv and .tex (with otsu in the
    run, Table 2 also as table2_margins: each method's margin over otsu per scene family).
    """
    from lsbench.reports.build import build_report

    rep = build_report(run_dir, tables=list(tables) or None, figures=figures, html=html, progress=not no_progress)
    click.echo(rep.markdown())
    for p in rep.written:
        click.echo(f"wrote {p}", err=True)


# -- reference: every table, figure and the claims, by one command ------------------------------------
@main.command("reference")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports/reference"),
              show_default=True, help="The reference folder (replaced as a whole once every run is complete).")
@click.option("--runs", "runs", default=None, metavar="FOLDER,...",
              help="Only these runs (default: all, as lsbench.reference.REFERENCE_RUNS lists them; the plan names "
                   "them); the other reference run folders already in --out are kept.")
@click.option("--methods", "-m", "methods", default=None, help="Only these methods (of those the runs list).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding the datasets (as for `lsbench run`); the learned methods train on it too.")
@click.option("--limit", type=int, default=None, help="Only the first N images of each run (a smoke test).")
@click.option("--param", "-p", "params", multiple=True, metavar="METHOD.NAME=VALUE",
              help="Override a method parameter, e.g. -p rls.epochs=1 (repeatable; the reports record it).")
@click.option("--allow-dirty", is_flag=True,
              help="Run on a checkout with uncommitted changes to tracked files; records the diff's sha256 and "
                   "marks every report dirty.")
@click.option("--dry-run", is_flag=True, help="Print the plan (runs, missing checkpoints, expected time) and stop.")
@click.option("--claims-only", is_flag=True,
              help="Rebuild claims.md and index.html from the run folders in --out; nothing is run.")
@click.option("--executor", type=click.Choice(["local", "process"]), default="local", show_default=True,
              help="Where samples run: local (one image at a time: honest times) or process.")
@click.option("--workers", type=int, default=None, help="process: child processes.")
@click.option("--throughput", is_flag=True,
              help="Also measure each method's batched throughput (as lsbench run --throughput; takes longer).")
@click.option("--no-figures", is_flag=True, help="Skip the figures and the runs' HTML pages (a quick smoke test; the reference draws them).")
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
@_friendly
def reference_cmd(out: Path, runs: str | None, methods: str | None, root: Path | None, limit: int | None,
                  params: tuple[str, ...], allow_dirty: bool, dry_run: bool, claims_only: bool, executor: str,
                  workers: int | None, throughput: bool, no_figures: bool, no_progress: bool) -> None:
    """Regenerate the reference report: Table 2 under each protocol, Tables 3-4, figures, claims.md.

    Says first what it will do and how long it should take (missing checkpoints are trained
    first), refuses a checkout with uncommitted changes unless --allow-dirty, writes each run in
    a scratch folder (an interrupted reference resumes there on the same commit) and moves the
    complete set into --out (docs/reports-format.md#the-reference-report).
    """
    from lsbench.params import parse_method_list, parse_param_assignments
    from lsbench.reference import run_reference, select_runs, write_claims

    if claims_only:
        for path in write_claims(out):
            click.echo(f"wrote {path}")
        return
    if limit is not None and limit <= 0:
        raise click.BadParameter(f"must be a positive integer, got {limit}", param_hint="--limit")
    if workers is not None and workers <= 0:
        raise click.BadParameter(f"must be a positive integer, got {workers}", param_hint="--workers")
    with refusing():
        specs = select_runs([f.strip() for f in runs.split(",") if f.strip()] if runs is not None else None)
        wanted = parse_method_list(methods) if methods is not None else None
        listed = list(dict.fromkeys(m for s in specs for m in s.methods if m in METHODS))
        overrides = {k: v for k, v in parse_param_assignments(params, wanted or listed).items() if v}
    run_reference(specs, out=out, root=root, limit=limit, methods=wanted, params=overrides, allow_dirty=allow_dirty,
                  dry_run=dry_run, executor=executor, workers=workers, progress=not no_progress,
                  throughput=throughput, figures=not no_figures, command=shlex.join(["lsbench", *sys.argv[1:]]),
                  say=lambda line: click.echo(line, err=True))


# -- segment and export: masks as PNG files ------------------------------------------------------------
@main.command("segment")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--method", "-m", default="cv", show_default=True,
              help="A registered single-object method (see `lsbench list methods`).")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="A parameter of the method, e.g. -p mu=0.1 (repeatable; `lsbench list methods -v`).")
@click.option("--init", "init", type=click.Path(path_type=Path), default=None, metavar="FILE|DIR",
              help="Initial region: a PNG (nonzero = region) for every image, or a folder of <image stem>.png; "
                   "default: none (see docs/cli.md).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for <stem>.png (0/255) and <stem>-overlay.png.")
@click.option("--overlay/--no-overlay", default=True, show_default=True,
              help="Also write each image with the mask's contour drawn.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@_friendly
def segment_cmd(images: tuple[Path, ...], method: str, params: tuple[str, ...], init: Path | None, out: Path,
                overlay: bool, no_progress: bool) -> None:
    """Segment IMAGE files (PNG, JPEG, TIFF) with a registered method and write their masks as PNG.

    The same path as `lsbench run --dataset folder` and `lsbench.segment`: the registered method
    with its defaults and phase rule, the image read as the folder dataset reads it.
    """
    from lsbench.api import segment_files
    from lsbench.params import parse_assignments

    values = parse_assignments(params, METHODS.get(method).defaults(), "--param", owner=f"method {method!r}")

    def bar(paths: Any) -> Any:
        from tqdm.auto import tqdm

        return tqdm(paths, desc=f"lsbench segment ({method})", unit="img", file=sys.stderr, dynamic_ncols=True,
                    disable=no_progress)

    results = segment_files(images, out, method, params=values, init=init, overlay=overlay, progress=bar)
    failed = [r for r in results if r.error]
    for r in failed:
        click.echo(f"Error: {r.image}: {r.error}", err=True)
    click.echo(f"wrote {len(results) - len(failed)} mask(s){' and overlays' if overlay else ''} to {out}")
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(results)} image(s) failed")


@main.command("export")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--png", "png", required=True, type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Folder to write DIR/<method>/<sample id>.png (0/255) into.")
@click.option("--methods", "-m", "methods", default=None, help="Comma-separated methods (default: every method of the run).")
@_friendly
def export_cmd(run_dir: Path, png: Path, methods: str | None) -> None:
    """Write the predicted masks of a finished single-object run as PNG files, one folder per method."""
    from lsbench.export import export_run
    from lsbench.params import parse_method_list

    for done in export_run(run_dir, png, parse_method_list(methods) if methods else None):
        note = f" ({len(done.failed)} sample(s) failed, no mask)" if done.failed else ""
        click.echo(f"{done.method}: {done.written} mask(s) in {done.folder}{note}")


# -- list ----------------------------------------------------------------------------------------------
@main.command("list")
@click.argument("what", type=click.Choice(["methods", "datasets", "metrics"]))
@click.option("--verbose", "-v", is_flag=True, help="Also show each entry's parameters and defaults.")
@_friendly
def list_cmd(what: str, verbose: bool) -> None:
    """List registered methods, datasets or metrics."""
    registry = {"methods": METHODS, "datasets": DATASETS, "metrics": METRICS}[what]
    for name in registry.names():
        entry = registry.get(name)
        kind = f" [{entry.kind}]" if entry.kind else ""
        click.echo(f"{name:<14}{kind:<11} {entry.summary}")
        if verbose:
            try:
                defaults = entry.defaults()
            except MissingDependencyError as exc:  # cv-torch ... without torch: say what to install
                click.echo(f"{'':16}({exc})")
                continue
            for k, v in defaults.items():
                click.echo(f"{'':16}{k} = {v!r}")
            for gt in getattr(entry, "ground_truth", ()):  # what --protocol box gives it and blind replaces
                where = f"{gt.param}={gt.reads[0]!r}" if gt.param else "always"
                blind = f"blind: {gt.param}={gt.blind!r}" if gt.blind is not None else "refused under blind"
                click.echo(f"{'':16}ground-truth input: {gt.label} ({where}; {blind})")
    for name, err in registry.plugin_errors.items():
        click.echo(f"warning: plugin {name!r} failed to load: {err}", err=True)


# -- datasets -----------------------------------------------------------------------------------------
@main.group()
def datasets() -> None:
    """List, describe, verify, build and fetch datasets."""


_root_option = click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
                            help="Folder holding the datasets (default: $LSBENCH_DATA, the checkout's "
                                 "datasets/, or ~/.cache/lsbench/datasets).")


def _generator_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options of the generated sets: --seed for synthetic and shapes, the split sizes for shapes."""
    for opt in reversed([
        click.option("--seed", type=int, default=2019, show_default=True, help="Generator seed (synthetic, shapes)."),
        click.option("--train-images", type=int, default=None, help="shapes: training images (default 2000)."),
        click.option("--val-images", type=int, default=None, help="shapes: validation images (default 200)."),
        click.option("--test-images", type=int, default=None, help="shapes: test images (default 500)."),
    ]):
        fn = opt(fn)
    return fn


def _generator_params(name: str, seed: int, train_images: int | None, val_images: int | None,
                      test_images: int | None) -> dict[str, Any]:
    sizes = {"train_images": train_images, "val_images": val_images, "test_images": test_images}
    given = {k: v for k, v in sizes.items() if v is not None}
    if given and name != "shapes":
        raise click.BadParameter(f"only the shapes set takes split sizes, not {name!r}",
                                 param_hint="--" + next(iter(given)).replace("_", "-"))
    return {"seed": seed, **given} if name in ("synthetic", "shapes") else {}


def _print_report(report: Any, ok_message: str) -> None:
    for w in report.warnings:
        click.echo(f"warning: {report.directory}: {w}", err=True)
    for n in report.notes:
        click.echo(f"  {n}")
    if report.problems:
        for p in report.problems:
            click.echo(f"{report.directory}: {p}", err=True)
        raise click.ClickException(f"{report.name}: {len(report.problems)} problem(s) found")
    click.echo(ok_message)


@datasets.command("list")
@_root_option
@_friendly
def datasets_list(root: Path | None) -> None:
    """Registered datasets, their kind, and whether they are present under --root."""
    from lsbench.datasets import manage

    for name in DATASETS.names():
        entry = DATASETS.get(name)
        where = manage.status(name, root) if name in manage.MODULES else "plugin"
        click.echo(f"{name:<11} [{entry.kind}]  {where}")
        click.echo(f"{'':11} {entry.summary}")


@datasets.command("info")
@click.argument("name")
@_root_option
@_generator_options
@_friendly
def datasets_info(name: str, root: Path | None, seed: int, train_images: int | None, val_images: int | None,
                  test_images: int | None) -> None:
    """Describe a dataset: location, splits and sizes, categories."""
    from lsbench.datasets import manage

    params = _generator_params(name, seed, train_images, val_images, test_images)
    with refusing():  # an unknown name or option (damaged data is a DatasetError, exit 1)
        lines = manage.describe(name, root, **params)
    for line in lines:
        click.echo(line)


@datasets.command("verify")
@click.argument("name")
@_root_option
@_generator_options
@click.option("--regenerate", is_flag=True, help="Generated sets: also regenerate from the seed and compare bit for bit.")
@click.option("--rehash", is_flag=True, help="Real sets: rewrite the sha256 manifest after a deliberate change.")
@_friendly
def datasets_verify(name: str, root: Path | None, seed: int, train_images: int | None, val_images: int | None,
                    test_images: int | None, regenerate: bool, rehash: bool) -> None:
    """Check a dataset on disk; exit 1 listing every problem with its file.

    Structural checks (counts, image/mask sizes and modes, label ranges, split ids present), the
    md5 of the official archives when present, and the sha256 manifest (written on first ingest,
    re-checked afterwards).
    """
    from lsbench.datasets import manage

    params = _generator_params(name, seed, train_images, val_images, test_images)
    with refusing():  # an unknown name or option; the problems found are listed in the report (exit 1)
        report = manage.verify(name, root, rehash=rehash, regenerate=regenerate, **params)
    _print_report(report, f"{name}: OK ({report.directory}{', regenerated bit-identically' if regenerate else ''})")


@datasets.command("build")
@click.argument("name")
@_root_option
@_generator_options
@click.option("--force", is_flag=True, help="Rebuild even if the set exists.")
@_friendly
def datasets_build(name: str, root: Path | None, seed: int, train_images: int | None, val_images: int | None,
                   test_images: int | None, force: bool) -> None:
    """Generate a dataset that lsbench builds itself (synthetic, shapes)."""
    from lsbench.datasets import manage

    params = _generator_params(name, seed, train_images, val_images, test_images)
    with refusing():  # an unknown or not generated name, a bad option
        path = manage.build(name, root, force=force, **params)
    click.echo(f"{name}: {path}")


def _checked_timeout(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """``--timeout`` of ``datasets fetch``, refused when options are parsed unless positive and finite."""
    from lsbench.datasets.fetch import check_timeout

    try:
        return check_timeout(value)
    except ValueError:
        raise click.BadParameter(f"must be a positive, finite number of seconds, got {value}") from None


@datasets.command("fetch")
@click.argument("name")
@_root_option
@click.option("--mirror", default=None, metavar="URL",
              help="Download <URL>/<archive name> instead of the official host (a local mirror).")
@click.option("--remove-archives", is_flag=True, help="Delete each archive after unpacking it.")
@click.option("--timeout", type=float, default=60.0, show_default=True, callback=_checked_timeout,
              help="Seconds each download may take in all (connecting included); a positive number.")
@_friendly
def datasets_fetch(name: str, root: Path | None, mirror: str | None, remove_archives: bool, timeout: float) -> None:
    """Download a real dataset's official archives, check their md5, unpack and verify them.

    Needs network access to the dataset's hosts (or --mirror); nothing else in lsbench downloads.
    """
    from lsbench.datasets import manage

    with refusing():  # an unknown or generated name, a mirror that is not http(s); a broken download is 1
        report = manage.fetch(name, root, mirror=mirror, keep_archives=not remove_archives, timeout=timeout)
    _print_report(report, f"{name}: fetched and verified ({report.directory})")


if __name__ == "__main__":  # pragma: no cover
    main()

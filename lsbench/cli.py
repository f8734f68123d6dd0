"""The ``lsbench`` command line: run, train, report, list, datasets.

Every expected failure (unknown names, bad parameters, damaged data, unwritable paths) ends in a
one-line ``Error: ...`` on stderr and a non-zero exit status, never a traceback; set
``LSBENCH_DEBUG=1`` to see tracebacks.
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

from lsbench.registry import DATASETS, METHODS, METRICS

EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, LookupError, OSError,
                                                     FloatingPointError)


def _friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected exceptions into ``click.ClickException`` (exit 1, no traceback)."""

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
            raise click.ClickException(msg) from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="lsbench")
def main() -> None:
    """lsbench: classic variational level sets vs recurrent level-set networks."""


# -- run ---------------------------------------------------------------------------------------------
@main.command()
@click.option("--methods", "-m", "methods", default="cv", show_default=True,
              help="Comma-separated method names (see `lsbench list methods`).")
@click.option("--dataset", "-d", default="synthetic", show_default=True, help="Registered dataset name.")
@click.option("--split", "-s", default="test", show_default=True, help="Dataset split.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding the datasets (default: $LSBENCH_DATA, the checkout's datasets/, "
                   "or ~/.cache/lsbench/datasets).")
@click.option("--limit", type=int, default=None, help="Only the first N samples.")
@click.option("--out", "out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="Parent folder of the run directory.")
@click.option("--run-id", default=None, help="Name of the run directory (default: timestamp-dataset-split).")
@click.option("--param", "-p", "params", multiple=True, metavar="METHOD.NAME=VALUE",
              help="Override a method parameter, e.g. -p cv.mu=0.1 (repeatable).")
@click.option("--dataset-param", "dataset_params", multiple=True, metavar="NAME=VALUE",
              help="Dataset option, e.g. --dataset-param families=vessel (repeatable).")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--weights", "weights", multiple=True, metavar="[METHOD=]PATH",
              help="Checkpoint of a learned method (rls, rls-conv, fconnet), e.g. --weights rls=rls.pt; "
                   "METHOD= may be left out when one listed method takes weights (repeatable).")
@_friendly
def run(methods: str, dataset: str, split: str, root: Path | None, limit: int | None, out: Path,
        run_id: str | None, params: tuple[str, ...], dataset_params: tuple[str, ...], no_progress: bool,
        weights: tuple[str, ...]) -> None:
    """Run methods on a dataset split; write per_sample.csv, summary.csv, config.json, table2.md."""
    from lsbench.datasets import load
    from lsbench.harness.runner import MethodRequest, check_output_dir, run_benchmark
    from lsbench.params import parse_method_list, parse_param_assignments, parse_value

    names = parse_method_list(methods)
    overrides = parse_param_assignments(params, names)
    _apply_weights_option(weights, names, overrides)
    if root is not None:  # learned methods train (when they must) on the same dataset root
        for n in names:
            if "train_root" in METHODS.get(n).defaults():
                overrides[n].setdefault("train_root", str(root))
    DATASETS.get(dataset)
    ds_entry = DATASETS.get(dataset)
    ds_defaults = ds_entry.defaults()
    ds_kwargs: dict[str, Any] = {}
    for raw in dataset_params:
        if "=" not in raw:
            raise click.BadParameter(f"{raw!r}: expected NAME=VALUE", param_hint="--dataset-param")
        k, v = raw.split("=", 1)
        if k not in ds_defaults or k in ("root", "split"):
            raise click.BadParameter(f"dataset {dataset!r} has no option {k!r}; valid: "
                                     f"{', '.join(sorted(set(ds_defaults) - {'root', 'split'}))}",
                                     param_hint="--dataset-param")
        ds_kwargs[k] = parse_value(v, ds_defaults[k], f"--dataset-param {raw!r}")
    if limit is not None and limit <= 0:
        raise click.BadParameter(f"must be a positive integer, got {limit}", param_hint="--limit")
    check_output_dir(out)  # fail before loading data or building methods
    data = load(dataset, root=root, split=split, **ds_kwargs)
    requests = [MethodRequest(n, overrides[n]) for n in names]
    result = run_benchmark(requests, data, out=out, run_id=run_id, limit=limit,
                           progress=not no_progress, command=shlex.join(["lsbench", *sys.argv[1:]]))
    assert result.run_dir is not None
    table = result.run_dir / "table2.md"
    if table.is_file():
        click.echo(table.read_text())
    n_failed = int((result.per_sample["error"].astype(str).str.len() > 0).sum())
    click.echo(f"Run directory: {result.run_dir}")
    if n_failed:
        click.echo(f"Error: {n_failed} sample(s) failed; see the 'error' column of "
                   f"{result.run_dir / 'per_sample.csv'}", err=True)
        sys.exit(1)


def _apply_weights_option(weights: tuple[str, ...], names: list[str], overrides: dict[str, dict[str, Any]]) -> None:
    """``--weights [METHOD=]PATH`` -> ``overrides[METHOD]["weights"] = PATH``."""
    takers = [n for n in names if "weights" in METHODS.get(n).defaults()]
    for raw in weights:
        method, sep, path = raw.partition("=")
        if not sep:
            if len(takers) != 1:
                raise click.BadParameter(
                    f"{raw!r}: say which method it is for (METHOD=PATH); methods taking weights in --methods: "
                    f"{', '.join(takers) or 'none'}", param_hint="--weights")
            method, path = takers[0], raw
        if method not in takers:
            raise click.BadParameter(f"{raw!r}: {method!r} is not a method in --methods that takes weights "
                                     f"(those are: {', '.join(takers) or 'none'})", param_hint="--weights")
        if not Path(path).expanduser().is_file():
            raise click.BadParameter(f"{raw!r}: checkpoint {path} does not exist", param_hint="--weights")
        overrides[method]["weights"] = path


# -- train (learned methods) -----------------------------------------------------------------------
@main.command()
@click.argument("method")
@click.option("--dataset", "-d", default="synthetic", show_default=True, help="Registered dataset to train on.")
@click.option("--split", "-s", default="train", show_default=True, help="Dataset split to train on.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding the datasets (as for `lsbench run`).")
@click.option("--epochs", type=int, default=None, help="Passes over the data (default: the method's).")
@click.option("--seed", type=int, default=None, help="Seed of weights, validation scenes and shuffling.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Checkpoint file to write (default: the cache entry that `lsbench run` looks up).")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="Any other parameter of the method, e.g. -p lr=0.0005 -p steps=3 (repeatable).")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@_friendly
def train(method: str, dataset: str, split: str, root: Path | None, epochs: int | None, seed: int | None,
          out: Path | None, params: tuple[str, ...], no_progress: bool) -> None:
    """Train METHOD (rls, rls-conv or fconnet) and write a checkpoint."""
    from lsbench.params import parse_value

    learned = [n for n in METHODS.names() if "learned" in METHODS.get(n).tags]
    if method not in learned:
        raise click.BadParameter(f"{method!r} is not a learned method; choose from: {', '.join(learned)}",
                                 param_hint="METHOD")
    DATASETS.get(dataset)
    defaults = METHODS.get(method).defaults()
    values = dict(defaults)
    for raw in params:
        name, sep, value = raw.partition("=")
        name = name.strip()
        if not sep or not name:
            raise click.BadParameter(f"{raw!r}: expected NAME=VALUE", param_hint="--param")
        if name not in defaults or name in ("weights", "train_dataset", "train_split", "train_root"):
            valid = sorted(set(defaults) - {"weights", "train_dataset", "train_split", "train_root"})
            raise click.BadParameter(f"{method} has no trainable parameter {name!r}; valid: {', '.join(valid)}",
                                     param_hint="--param")
        values[name] = parse_value(value, defaults[name], f"--param {raw!r}")
    if epochs is not None:
        values["epochs"] = epochs
    if seed is not None:
        values["seed"] = seed
    values.update(train_dataset=dataset, train_split=split, train_root=None if root is None else str(root),
                  weights=None)
    if out is not None and out.exists() and out.is_dir():
        raise click.BadParameter(f"{out} is a directory; give a checkpoint file name", param_hint="--out")

    from lsbench.datasets import load
    from lsbench.learned.segmenter import configs_from_params, resolve_device, train_and_save
    from lsbench.learned.weights import cached_checkpoint_path

    config, train_config = configs_from_params(method, values)
    device = resolve_device(values["device"])
    data = load(dataset, root=root, split=split)
    target = out if out is not None else cached_checkpoint_path(method, config, train_config.as_dict(),
                                                                data.fingerprint())
    click.echo(f"training {method} on {data.name}/{data.split} ({len(data)} images) for {train_config.epochs} "
               f"epochs on {device}", err=True)
    _, ckpt = train_and_save(method, config, train_config, data, target, device=device, progress=not no_progress)
    val = ckpt["val_metrics"]
    click.echo(f"checkpoint: {target}")
    click.echo(f"training time: {ckpt['train_seconds']:.1f} s; held-out scenes: "
               f"{', '.join(ckpt['data']['val_groups']) or 'none'}")
    if val.get("f_measure") is not None:
        click.echo(f"validation F-measure: {100 * val['f_measure']:.2f}% (epoch {val['epoch']}), "
                   f"loss {val['loss']:.4f}")
    if out is None:
        click.echo(f"`lsbench run --methods {method}` with the same parameters uses it from the cache")
    else:
        click.echo(f"use it with: lsbench run --methods {method} --weights {method}={target}")


# -- report ------------------------------------------------------------------------------------------
@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--table", type=click.Choice(["2"]), default=None, help="Only this table.")
@_friendly
def report(run_dir: Path, table: str | None) -> None:
    """Rebuild the tables of RUN_DIR from its CSV files (no method is re-run)."""
    from lsbench.reports.tables import load_run, table2_markdown, write_tables

    per_sample, config = load_run(run_dir)
    written = write_tables(run_dir, per_sample, config)
    if not written:
        raise click.ClickException(f"{run_dir}: no table can be filled from this run's metrics")
    click.echo(table2_markdown(per_sample, config))
    for p in written:
        click.echo(f"wrote {p}", err=True)


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
            for k, v in entry.defaults().items():
                click.echo(f"{'':16}{k} = {v!r}")
    for name, err in registry.plugin_errors.items():
        click.echo(f"warning: plugin {name!r} failed to load: {err}", err=True)


# -- datasets -----------------------------------------------------------------------------------------
@main.group()
def datasets() -> None:
    """Build, verify and describe datasets."""


_root_option = click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
                            help="Folder holding the datasets.")


def _only_synthetic(name: str, action: str) -> None:
    DATASETS.get(name)
    if name != "synthetic":
        raise click.ClickException(f"`datasets {action}` supports: synthetic (got {name!r})")


@datasets.command("build")
@click.argument("name")
@_root_option
@click.option("--seed", type=int, default=2019, show_default=True)
@click.option("--force", is_flag=True, help="Rebuild even if the set exists.")
@_friendly
def datasets_build(name: str, root: Path | None, seed: int, force: bool) -> None:
    """Generate a dataset that lsbench builds itself (synthetic)."""
    from lsbench.datasets.synthetic import build_synthetic

    _only_synthetic(name, "build")
    path = build_synthetic(root, seed=seed, force=force)
    click.echo(f"{name}: {path}")


@datasets.command("verify")
@click.argument("name")
@_root_option
@click.option("--seed", type=int, default=2019, show_default=True)
@click.option("--regenerate", is_flag=True, help="Also regenerate from the seed and compare bit for bit.")
@_friendly
def datasets_verify(name: str, root: Path | None, seed: int, regenerate: bool) -> None:
    """Check a dataset on disk against its manifest; exit 1 listing every problem."""
    from lsbench.datasets.synthetic import dataset_dir, verify_synthetic

    _only_synthetic(name, "verify")
    problems = verify_synthetic(root, seed=seed, regenerate=regenerate)
    where = dataset_dir(root, seed)
    if problems:
        for p in problems:
            click.echo(f"{where}: {p}", err=True)
        raise click.ClickException(f"{name}: {len(problems)} problem(s) found")
    click.echo(f"{name}: OK ({where}{', regenerated bit-identically' if regenerate else ''})")


@datasets.command("info")
@click.argument("name")
@_root_option
@_friendly
def datasets_info(name: str, root: Path | None) -> None:
    """Describe a dataset: splits, sizes, families."""
    from lsbench.datasets import load

    entry = DATASETS.get(name)
    click.echo(f"{name}: {entry.summary}")
    for split in ("train", "test"):
        ds = load(name, root=root, split=split)
        groups: dict[str, int] = {}
        for item in getattr(ds, "_items", []):
            groups[item.get("family", "")] = groups.get(item.get("family", ""), 0) + 1
        click.echo(f"  {split}: {len(ds)} samples at {ds.root}" + (f"  {groups}" if groups else ""))


if __name__ == "__main__":  # pragma: no cover
    main()

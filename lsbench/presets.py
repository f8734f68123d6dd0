"""Parameter presets kept as data: ``baselines/presets/<method>.toml``.

A preset file has a ``[defaults]`` table (the method's reference defaults, which equal its
registered defaults, except the parameters that choose how a method runs rather than what it
computes, :data:`RUN_PARAMS`, which presets leave alone) and per-dataset overrides chosen by a documented tuning run on that
dataset's **train** split (``[datasets.<name>]``, with the tuning command in a comment above it)::

    [defaults]
    sigma = 3.0
    nu = 0.001

    [datasets.synthetic]
    # lsbench tune li --dataset synthetic --split train --grid sigma=3,6 ...
    sigma = 6.0

``lsbench run --preset default`` applies ``[defaults]``; ``--preset tuned`` applies
``[defaults]`` then the run's dataset table. Explicit ``-p METHOD.NAME=VALUE`` always wins. A
method without a preset file (or a dataset without a table) simply keeps its defaults.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from lsbench.registry import METHODS

__all__ = ["PRESET_CHOICES", "RUN_PARAMS", "load_preset", "preset_path", "presets_dir", "read_preset_file",
           "write_tuned"]

PRESET_CHOICES = ("default", "tuned")

#: parameters that choose how a method runs, not what it computes (the classic methods' backend and
#: cv's batch_size): not part of a preset, so that a ``*-torch`` method can share its base's file
RUN_PARAMS = ("backend", "batch_size")


def presets_dir() -> Path:
    """``$LSBENCH_PRESETS`` if set, else this checkout's ``baselines/presets``."""
    env = os.environ.get("LSBENCH_PRESETS")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1] / "baselines" / "presets"


#: a method named ``<base>-torch`` (a batched PyTorch backend) shares ``<base>.toml`` unless it has its own
TORCH_SUFFIX = "-torch"


def preset_path(method: str) -> Path:
    """``<presets>/<method>.toml``; for ``<base>-torch`` without its own file, ``<base>.toml`` (the
    same algorithm with the same parameters, so the NumPy method's tuned values apply)."""
    own = presets_dir() / f"{method}.toml"
    if not own.is_file() and method.endswith(TORCH_SUFFIX):
        base = presets_dir() / f"{method[: -len(TORCH_SUFFIX)]}.toml"
        if base.is_file():
            return base
    return own


def read_preset_file(method: str) -> dict[str, Any] | None:
    """The parsed preset file of ``method`` (None when there is none), checked against the registry.

    Raises ``ValueError`` naming the file for a malformed file, an unknown table or a parameter
    the method does not have.
    """
    path = preset_path(method)
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - {"defaults", "datasets"}
    if unknown:
        raise ValueError(f"{path}: unknown table(s) {sorted(unknown)}; expected [defaults] and [datasets.<name>]")
    valid = set(METHODS.get(method).defaults())
    tables = {"defaults": data.get("defaults", {})}
    tables.update({f"datasets.{k}": v for k, v in data.get("datasets", {}).items()})
    for where, table in tables.items():
        if not isinstance(table, dict):
            raise ValueError(f"{path}: [{where}] must be a table")
        bad = sorted(set(table) - valid)
        if bad:
            raise ValueError(f"{path}: [{where}] sets {', '.join(bad)}, which method {method!r} does not have; "
                             f"valid parameters: {', '.join(sorted(valid))}")
    return data


def load_preset(method: str, *, dataset: str, which: str) -> dict[str, Any]:
    """Parameters of ``method`` under preset ``which`` ("default" or "tuned") for ``dataset``."""
    if which not in PRESET_CHOICES:
        raise ValueError(f"preset must be one of {', '.join(PRESET_CHOICES)}; got {which!r}")
    data = read_preset_file(method)
    if data is None:
        return {}
    params = dict(data.get("defaults", {}))
    if which == "tuned":
        params.update(data.get("datasets", {}).get(dataset, {}))
    return params


def write_tuned(method: str, dataset: str, params: dict[str, Any], comment: list[str]) -> Path:
    """Set ``[datasets.<dataset>]`` of ``method``'s preset file to ``params`` (comments kept).

    The file is created with a ``[defaults]`` table of the registered defaults if missing; the
    dataset table is replaced as a whole, headed by ``comment`` lines (the tuning command and
    its score). A ``None`` value is left out (TOML has no null), so it loads as the registered
    default, which must then be ``None`` too. Written atomically.
    """
    import tomlkit

    path = presets_dir() / f"{method}.toml"  # a method's own file, even where it reads its base's
    if path.is_file():
        doc = tomlkit.parse(path.read_text())
    else:
        doc = tomlkit.document()
        doc.add(tomlkit.comment(f"Parameter presets of {method!r} (see lsbench/presets.py)."))
        defaults = tomlkit.table()
        for k, v in METHODS.get(method).defaults().items():
            if isinstance(v, (bool, int, float, str)) and k not in RUN_PARAMS:
                defaults[k] = v
        doc["defaults"] = defaults
    if "datasets" not in doc:
        doc["datasets"] = tomlkit.table(is_super_table=True)
    table = tomlkit.table()
    for line in comment:
        table.add(tomlkit.comment(line))
    for k, v in params.items():
        if v is None:  # TOML has no null: left out, the key loads as its registered default (None)
            if k in doc.get("defaults", {}):
                raise ValueError(f"{path}: cannot store {k} = None for {dataset!r}: [defaults] sets {k}, and "
                                 "TOML has no null to override it with")
            continue
        table[k] = v
    datasets = doc["datasets"]
    if dataset in datasets:
        del datasets[dataset]
    datasets[dataset] = table
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(re.sub(r"\n{3,}", "\n\n", tomlkit.dumps(doc)))  # rewrites must not pile up blank lines
    os.replace(tmp, path)
    read_preset_file(method)  # what was written must load
    return path

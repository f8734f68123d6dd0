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
method without a preset file (or a dataset without a table) simply keeps its defaults; a presets
folder that does not exist, or a preset path that is not a file, is an error naming the path.
``lsbench run`` records each method's preset (file and sha256) in the run's ``config.json``.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from lsbench.atomic import atomic_write_text
from lsbench.registry import METHODS

__all__ = ["PRESET_CHOICES", "RUN_PARAMS", "load_preset", "load_preset_with_source", "preset_path",
           "presets_dir", "read_preset_file", "write_tuned"]

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
    if not own.exists() and method.endswith(TORCH_SUFFIX):
        base = presets_dir() / f"{method[: -len(TORCH_SUFFIX)]}.toml"
        if base.exists():
            return base
    return own


def _read_preset(method: str) -> tuple[dict[str, Any], Path, bytes] | None:
    """``(parsed file, path, its bytes)`` of ``method``'s preset, checked; None when there is none."""
    folder = presets_dir()
    if not folder.is_dir():
        where = "$LSBENCH_PRESETS" if os.environ.get("LSBENCH_PRESETS") else "the checkout's presets folder"
        raise ValueError(f"preset folder {folder} ({where}) does not exist or is not a folder")
    path = preset_path(method)
    if not path.exists():
        return None
    if not path.is_file():
        raise ValueError(f"{path}: is a folder (or another non-file), not a preset file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start}); TOML files are UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - {"defaults", "datasets"}
    if unknown:
        raise ValueError(f"{path}: unknown table(s) {sorted(unknown)}; expected [defaults] and [datasets.<name>]")
    registered = METHODS.get(method).defaults()
    valid = set(registered)
    tables = {"defaults": data.get("defaults", {})}
    tables.update({f"datasets.{k}": v for k, v in data.get("datasets", {}).items()})
    for where, table in tables.items():
        if not isinstance(table, dict):
            raise ValueError(f"{path}: [{where}] must be a table")
        bad = sorted(set(table) - valid)
        if bad:
            raise ValueError(f"{path}: [{where}] sets {', '.join(bad)}, which method {method!r} does not have; "
                             f"valid parameters: {', '.join(sorted(valid))}")
        for key, value in table.items():
            _check_type(path, where, key, value, registered[key])
    return data, path, raw


def _check_type(path: Path, where: str, key: str, value: Any, default: Any) -> None:
    """A ``ValueError`` naming the file when a preset value is not of its parameter's type (that of
    the registered default; ``None`` defaults take anything)."""
    if default is None:
        return
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "a string"
    else:
        return
    if not ok:
        raise ValueError(f"{path}: [{where}] {key} = {value!r} is not {kind} (the type of {key}'s default "
                         f"{default!r})")


def read_preset_file(method: str) -> dict[str, Any] | None:
    """The parsed preset file of ``method`` (None when there is none), checked against the registry.

    Raises ``ValueError`` naming the file for a missing presets folder, a preset path that is not
    a file, an unreadable or non-UTF-8 file, malformed TOML, an unknown table, a parameter the
    method does not have or a value of the wrong type.
    """
    found = _read_preset(method)
    return None if found is None else found[0]


def load_preset(method: str, *, dataset: str, which: str) -> dict[str, Any]:
    """Parameters of ``method`` under preset ``which`` ("default" or "tuned") for ``dataset``."""
    return load_preset_with_source(method, dataset=dataset, which=which)[0]


def load_preset_with_source(method: str, *, dataset: str, which: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(parameters, source)``: :func:`load_preset` and where they come from, for ``config.json``.

    ``source`` holds ``preset`` (``which``), ``file`` (the preset file, or None when the method
    has none and keeps its registered defaults), ``sha256`` of the bytes that were parsed, and
    ``table`` (``"datasets.<dataset>"`` when a tuned table was applied, else ``"defaults"``).
    """
    if which not in PRESET_CHOICES:
        raise ValueError(f"preset must be one of {', '.join(PRESET_CHOICES)}; got {which!r}")
    found = _read_preset(method)
    if found is None:
        return {}, {"preset": which, "file": None, "sha256": None, "table": None}
    data, path, raw = found
    params = dict(data.get("defaults", {}))
    table = "defaults"
    if which == "tuned" and dataset in data.get("datasets", {}):
        params.update(data["datasets"][dataset])
        table = f"datasets.{dataset}"
    return params, {"preset": which, "file": str(path), "sha256": hashlib.sha256(raw).hexdigest(), "table": table}


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
    try:
        atomic_write_text(path, re.sub(r"\n{3,}", "\n\n", tomlkit.dumps(doc)))  # rewrites must not pile up blank lines
    except OSError as exc:  # e.g. a full disk: the bare "[Errno 28]" would not say which file
        raise OSError(exc.errno, f"{path}: cannot be written ({exc.strerror or exc})") from None
    read_preset_file(method)  # what was written must load
    return path

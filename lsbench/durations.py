"""Expected durations, scaled from the measured ones in ``baselines/durations.toml``.

The one place lsbench reads how long training or running a method takes: the error of a learned
method without weights (:func:`lsbench.checkpoint_commands.expected_duration`) and the plan of
``lsbench reference`` (:mod:`lsbench.reference`) both call :func:`training_seconds`;
:func:`evaluation_seconds` serves the plan. Every number in the file was measured on this
repository's 2-core CPU and names its source; an entry ``like = "<method>"`` borrows another
method's measurement (the estimate then says so). A busy machine, another CPU or a GPU changes
every number: these are estimates.

Examples
--------
>>> durations = {"training": {"a": {"seconds": 100, "epochs": 10, "images": 50}, "b": {"like": "a"}},
...              "evaluation": {"a": {"seconds_per_image": 0.5}}}
>>> training_seconds("a", 20, 50, durations)
(200.0, 'measured')
>>> training_seconds("b", 5, 100, durations)
(100.0, 'as a, not measured')
>>> training_seconds("c", 5, 100, durations)
(nan, 'not measured')
>>> evaluation_seconds("a", 360, durations)
(180.0, 'measured')
>>> format_duration(95), format_duration(3 * 3600 + 600), format_duration(float("nan"))
('2 min', '3.2 h', '?')
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["DURATIONS_PATH", "evaluation_seconds", "format_duration", "load_durations", "overhead_seconds",
           "training_seconds"]

#: the checkout's measured durations ($LSBENCH_DURATIONS overrides it)
DURATIONS_PATH = Path(__file__).resolve().parents[1] / "baselines" / "durations.toml"


def load_durations(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The measured durations: ``path``, else ``$LSBENCH_DURATIONS``, else :data:`DURATIONS_PATH`.

    The default file missing (an installed copy without the checkout's ``baselines/``) gives
    ``{}``, and every estimate then says "not measured"; a ``path`` that does not exist or a file
    that is not TOML is an error naming it.
    """
    given = path if path is not None else os.environ.get("LSBENCH_DURATIONS") or None
    p = Path(given) if given is not None else DURATIONS_PATH
    if not p.is_file():
        if given is not None:
            raise FileNotFoundError(f"durations file {p} does not exist")
        return {}
    try:
        return tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{p} is not valid TOML: {exc}") from None


def _measured(durations: Mapping[str, Any], section: str, method: str) -> tuple[dict[str, Any] | None, str]:
    """The measured entry of ``method`` in ``section`` (following ``like``) and how it was obtained."""
    table = durations.get(section) or {}
    entry = table.get(method)
    if entry is None:
        return None, "not measured"
    if "like" in entry:
        borrowed = table.get(entry["like"])
        return (dict(borrowed) if borrowed is not None else None), f"as {entry['like']}, not measured"
    return dict(entry), "measured"


def training_seconds(method: str, epochs: Any, n_images: int,
                     durations: Mapping[str, Any] | None = None) -> tuple[float, str]:
    """Expected wall seconds of training ``method`` for ``epochs`` epochs on ``n_images`` images.

    Scaled linearly (by epochs x images) from the measured training at the registered defaults
    (``[training.<method>]``: ``seconds``, ``epochs``, ``images``). Returns ``(seconds, note)``,
    the note ``"measured"``, ``"as <other>, not measured"`` or ``"not measured"`` (seconds NaN).
    """
    durations = load_durations() if durations is None else durations
    entry, note = _measured(durations, "training", method)
    if entry is None or not epochs:
        return math.nan, "not measured"
    per = float(entry["seconds"]) / (float(entry["epochs"]) * float(entry["images"]))
    return per * float(epochs) * float(n_images), note


def evaluation_seconds(method: str, n_images: int, durations: Mapping[str, Any] | None = None) -> tuple[float, str]:
    """Expected wall seconds of running ``method`` on ``n_images`` images one at a time (``(nan,
    "not measured")`` when the file has no ``[evaluation.<method>]``)."""
    durations = load_durations() if durations is None else durations
    entry, note = _measured(durations, "evaluation", method)
    if entry is None:
        return math.nan, "not measured"
    return float(entry["seconds_per_image"]) * float(n_images), note


def overhead_seconds(durations: Mapping[str, Any] | None = None) -> float:
    """What a run adds besides its samples (figures, traces, tables): ``[overhead] run_seconds``."""
    durations = load_durations() if durations is None else durations
    return float((durations.get("overhead") or {}).get("run_seconds", 0.0))


def format_duration(seconds: float | None) -> str:
    """Seconds in words: ``40 s``, ``12 min``, ``3.2 h`` (``?`` when unknown)."""
    if seconds is None or math.isnan(seconds):
        return "?"
    if seconds < 90:
        return f"{max(1, round(seconds)):.0f} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60):.0f} min"
    return f"{seconds / 3600:.1f} h"

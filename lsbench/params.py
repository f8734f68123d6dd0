"""Parsing ``--param method.name=value`` assignments against the registered defaults."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from typing import Any

from lsbench.registry import METHODS

__all__ = ["parse_method_list", "parse_param_assignments", "parse_value"]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_method_list(text: str) -> list[str]:
    """``"cv,drlse, rls"`` -> ``["cv", "drlse", "rls"]``; unknown names raise, listing valid ones."""
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    if not names:
        raise ValueError("--methods is empty; valid methods: " + ", ".join(METHODS.names()))
    seen: set[str] = set()
    for n in names:
        METHODS.get(n)  # raises UnknownNameError with the valid names
        if n in seen:
            raise ValueError(f"--methods lists {n!r} twice")
        seen.add(n)
    return names


def parse_value(raw: str, default: Any, where: str) -> Any:
    """Convert ``raw`` to the type of ``default`` (bool, int, float, str; None -> a Python literal)."""
    text = raw.strip()
    if isinstance(default, bool):
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"{where}: expected true/false, got {raw!r}")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{where}: expected an integer, got {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{where}: expected a number, got {raw!r}") from None
    if isinstance(default, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_param_assignments(assignments: Iterable[str], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Parse ``["cv.mu=0.1", "cv.max_iter=200"]`` into ``{"cv": {"mu": 0.1, "max_iter": 200}}``.

    Each assignment must name one of ``methods`` and one of that method's parameters; the value
    is converted to the type of the parameter's default.
    """
    out: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for raw in assignments:
        if "=" not in raw or "." not in raw.split("=", 1)[0]:
            raise ValueError(f"--param {raw!r}: expected METHOD.NAME=VALUE, e.g. cv.mu=0.1")
        key, value = raw.split("=", 1)
        method, name = key.strip().split(".", 1)
        if method not in out:
            raise ValueError(f"--param {raw!r}: method {method!r} is not in --methods ({', '.join(methods)})")
        entry = METHODS.get(method)
        defaults = entry.defaults()
        if name not in defaults and not entry.accepts_any_keyword():
            raise ValueError(f"--param {raw!r}: method {method!r} has no parameter {name!r}; "
                             f"valid parameters: {', '.join(sorted(defaults))}")
        out[method][name] = parse_value(value, defaults.get(name), f"--param {raw!r}")
    return out

"""Parsing ``NAME=VALUE`` options against registered defaults: the one parser of every such option.

``--param`` of ``lsbench run`` (``METHOD.NAME=VALUE``), ``tune`` and ``train`` (``NAME=VALUE``),
``--grid`` (``NAME=V1,V2,...``), ``--dataset-param`` and ``--weights`` (``[METHOD=]PATH``) all
split with :func:`split_assignment`, check the name with :func:`check_name` and convert the value
to the type of the registered default with :func:`parse_value`, so every one of them fails the
same way: ``OPTION 'RAW': what is wrong; valid ...``.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from lsbench.registry import METHODS

__all__ = ["check_name", "parse_assignments", "parse_method_list", "parse_param_assignments", "parse_value",
           "split_assignment"]

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


def split_assignment(raw: str, option: str, *, form: str = "NAME=VALUE", example: str = "") -> tuple[str, str]:
    """Split ``raw`` at its first ``=`` into ``(name, value)`` (the name stripped, the value as given).

    Raises ``ValueError`` ``"OPTION 'RAW': expected FORM[, e.g. EXAMPLE]"`` when there is no
    ``=`` or no name before it.

    Examples
    --------
    >>> split_assignment("mu = 0.1", "--param")
    ('mu', ' 0.1')
    >>> split_assignment("mu", "--param")
    Traceback (most recent call last):
    ...
    ValueError: --param 'mu': expected NAME=VALUE
    """
    name, sep, value = str(raw).partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"{option} {raw!r}: expected {form}" + (f", e.g. {example}" if example else ""))
    return name, value


def check_name(raw: str, option: str, name: str, valid: Collection[str], *, owner: str,
               what: str = "parameter") -> None:
    """Raise ``ValueError`` ``"OPTION 'RAW': OWNER has no WHAT 'NAME'; valid WHATs: ..."`` unless ``name in valid``."""
    if name not in valid:
        raise ValueError(f"{option} {raw!r}: {owner} has no {what} {name!r}; valid {what}s: "
                         f"{', '.join(sorted(valid)) or 'none'}")


def parse_assignments(assignments: Iterable[str], defaults: Mapping[str, Any], option: str, *, owner: str,
                      what: str = "parameter", exclude: Collection[str] = ()) -> dict[str, Any]:
    """Parse ``["NAME=VALUE", ...]`` into ``{NAME: value}``, each value of its default's type.

    A name must be a key of ``defaults`` and not in ``exclude``, and be given once.

    Examples
    --------
    >>> parse_assignments(["mu=0.5", "max_iter=20"], {"mu": 0.25, "max_iter": 200}, "-p", owner="cv")
    {'mu': 0.5, 'max_iter': 20}
    >>> parse_assignments(["nu=1"], {"mu": 0.25}, "-p", owner="method 'cv'")
    Traceback (most recent call last):
    ...
    ValueError: -p 'nu=1': method 'cv' has no parameter 'nu'; valid parameters: mu
    >>> parse_assignments(["mu=0.5", "mu=1"], {"mu": 0.25}, "-p", owner="cv")
    Traceback (most recent call last):
    ...
    ValueError: -p 'mu=1': mu is already set by -p 'mu=0.5'; give it once
    """
    valid = set(defaults) - set(exclude)
    out: dict[str, Any] = {}
    given: dict[str, str] = {}
    for raw in assignments:
        name, value = split_assignment(raw, option)
        check_name(raw, option, name, valid, owner=owner, what=what)
        _check_once(raw, option, name, given)
        out[name] = parse_value(value, defaults[name], f"{option} {raw!r}")
    return out


def _check_once(raw: str, option: str, name: str, given: dict[str, str]) -> None:
    """Raise ``ValueError`` when ``name`` was already set by an earlier assignment (kept in ``given``)."""
    if name in given:
        raise ValueError(f"{option} {raw!r}: {name} is already set by {option} {given[name]!r}; give it once")
    given[name] = raw


def parse_param_assignments(assignments: Iterable[str], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Parse ``["cv.mu=0.1", "cv.max_iter=200"]`` into ``{"cv": {"mu": 0.1, "max_iter": 200}}``.

    Each assignment must name one of ``methods`` and one of that method's parameters, each
    parameter once; the value is converted to the type of the parameter's default.
    """
    out: dict[str, dict[str, Any]] = {m: {} for m in methods}
    given: dict[str, str] = {}
    for raw in assignments:
        key, value = split_assignment(raw, "--param", form="METHOD.NAME=VALUE", example="cv.mu=0.1")
        method, dot, name = (part.strip() for part in key.partition("."))
        if not (method and dot and name):
            raise ValueError(f"--param {raw!r}: expected METHOD.NAME=VALUE, e.g. cv.mu=0.1")
        if method not in out:
            raise ValueError(f"--param {raw!r}: method {method!r} is not in --methods ({', '.join(methods)})")
        entry = METHODS.get(method)
        defaults = entry.defaults()
        if not entry.accepts_any_keyword():
            check_name(raw, "--param", name, defaults, owner=f"method {method!r}")
        _check_once(raw, "--param", f"{method}.{name}", given)
        out[method][name] = parse_value(value, defaults.get(name), f"--param {raw!r}")
    return out

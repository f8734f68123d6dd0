"""Name -> factory registries for methods, datasets and metrics.

Modelled on torchvision's ``models/_api.py`` (``register_model`` / ``list_models`` /
``get_model``). Three rules make the registries safe to use from the CLI:

* **lazy**: a registry imports its built-in module (``lsbench.methods``, ...) on first use, and
  the built-in modules import heavy libraries (torch) only inside factories, so
  ``lsbench run --methods cv`` never imports torch;
* **loud duplicates**: registering a name twice raises ``ValueError``;
* **isolated plugins**: third-party methods come from the entry-point group
  ``lsbench.methods``; a plugin that fails to load is reported (``plugin_errors``) but never
  breaks the CLI (the click-plugins rule).
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

__all__ = ["DATASETS", "METHODS", "METRICS", "Entry", "Registry", "UnknownNameError"]


class UnknownNameError(KeyError, ValueError):
    """Raised for a name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


@dataclass(frozen=True)
class Entry:
    """One registered factory and what we know about it."""

    name: str
    factory: Callable[..., Any]
    kind: str = ""
    summary: str = ""
    source: str = "lsbench"
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: methods: the inputs derived from the ground truth that the method can receive, and how the
    #: ``blind`` protocol replaces them (:class:`lsbench.protocols.GroundTruthInput`); empty: none
    ground_truth: tuple[Any, ...] = field(default_factory=tuple)

    def defaults(self) -> dict[str, Any]:
        """Keyword parameters of the factory with their default values."""
        out: dict[str, Any] = {}
        for p in inspect.signature(self.factory).parameters.values():
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            out[p.name] = None if p.default is inspect.Parameter.empty else p.default
        return out

    def accepts_any_keyword(self) -> bool:
        return any(
            p.kind is p.VAR_KEYWORD for p in inspect.signature(self.factory).parameters.values()
        )


class Registry:
    """A registry of named factories.

    Parameters
    ----------
    what : str
        What is registered, used in error messages ("method", "dataset", "metric").
    builtin_modules : iterable of str
        Modules imported on first use; they register the built-in entries.
    entry_point_group : str, optional
        Entry-point group scanned for third-party entries on first use.
    """

    def __init__(
        self,
        what: str,
        builtin_modules: Iterable[str] = (),
        entry_point_group: str | None = None,
    ) -> None:
        self.what = what
        self._builtin_modules = tuple(builtin_modules)
        self._group = entry_point_group
        self._entries: dict[str, Entry] = {}
        self._loaded = False
        self._loading = False
        self.plugin_errors: dict[str, str] = {}

    # -- registration -------------------------------------------------------------------------
    def register(
        self,
        name: str | None = None,
        *,
        kind: str = "",
        summary: str = "",
        source: str = "lsbench",
        tags: Iterable[str] = (),
        ground_truth: Iterable[Any] = (),
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``@METHODS.register("cv", kind="binary")`` on a factory function."""

        def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
            self.add(name or factory.__name__, factory, kind=kind, summary=summary,
                     source=source, tags=tags, ground_truth=ground_truth)
            return factory

        return decorator

    def add(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        kind: str = "",
        summary: str = "",
        source: str = "lsbench",
        tags: Iterable[str] = (),
        ground_truth: Iterable[Any] = (),
    ) -> Entry:
        """Register ``factory`` under ``name``; ``ground_truth`` declares a method's ground-truth-derived
        inputs (:class:`lsbench.protocols.GroundTruthInput`, read by :func:`lsbench.protocols.apply_protocol`)."""
        if not isinstance(name, str) or not name or name != name.strip() or "," in name:
            raise ValueError(f"invalid {self.what} name {name!r}: use a non-empty word without commas")
        if not callable(factory):
            raise TypeError(f"{self.what} {name!r}: factory must be callable, got {type(factory).__name__}")
        if name in self._entries:
            raise ValueError(
                f"{self.what} {name!r} is already registered "
                f"(by {self._entries[name].source}); choose another name"
            )
        if not summary and factory.__doc__:
            summary = factory.__doc__.strip().splitlines()[0]
        ground_truth = tuple(ground_truth)
        declared = [gt.param for gt in ground_truth if getattr(gt, "param", None) is not None]
        if len(set(declared)) != len(declared):
            raise ValueError(f"{self.what} {name!r}: ground_truth declares a parameter twice: {declared}")
        entry = Entry(name, factory, kind, summary, source, tuple(tags), ground_truth)
        self._entries[name] = entry
        return entry

    # -- lookup -------------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._loaded or self._loading:
            return
        self._loading = True
        try:
            for module in self._builtin_modules:
                importlib.import_module(module)
            if self._group:
                self._load_entry_points()
        finally:
            self._loading = False
            self._loaded = True

    def _load_entry_points(self) -> None:
        try:
            eps = metadata.entry_points(group=self._group)
        except Exception as exc:  # pragma: no cover - broken metadata
            self.plugin_errors["<entry points>"] = repr(exc)
            return
        for ep in eps:
            if ep.name in self._entries:
                self.plugin_errors[ep.name] = (
                    f"plugin {ep.value!r} tried to register {self.what} {ep.name!r}, "
                    "which is already registered; ignored"
                )
                continue
            try:
                obj = ep.load()
                source = f"plugin {ep.dist.name if ep.dist else ep.value}"
                if callable(obj) and not inspect.ismodule(obj):
                    self.add(ep.name, obj, source=source,
                             kind=getattr(obj, "lsbench_kind", "binary"),
                             ground_truth=getattr(obj, "lsbench_ground_truth", ()))
                # a module is expected to have registered itself on import
            except Exception as exc:  # a broken plugin must not break lsbench
                self.plugin_errors[ep.name] = f"{type(exc).__name__}: {exc}"
                warnings.warn(
                    f"lsbench: {self.what} plugin {ep.name!r} ({ep.value}) failed to load: {exc}",
                    RuntimeWarning,
                    stacklevel=2,
                )

    def names(self, kind: str | None = None) -> list[str]:
        """Registered names, sorted; optionally only those of one ``kind``."""
        self._ensure_loaded()
        return sorted(n for n, e in self._entries.items() if kind is None or e.kind == kind)

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._entries

    def get(self, name: str) -> Entry:
        """The entry for ``name``; ``UnknownNameError`` lists the valid names."""
        self._ensure_loaded()
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(self.names()) or "(none registered)"
            raise UnknownNameError(f"unknown {self.what} {name!r}; valid {self.what}s: {valid}") from None

    def build(self, name: str, **params: Any) -> Any:
        """Call the factory of ``name`` with ``params`` after checking the parameter names."""
        entry = self.get(name)
        check_params(entry, params, self.what)
        return entry.factory(**params)


def check_params(entry: Entry, params: dict[str, Any], what: str = "method") -> None:
    """Raise ``ValueError`` naming any parameter the factory of ``entry`` does not take."""
    if entry.accepts_any_keyword():
        return
    valid = entry.defaults()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"{what} {entry.name!r} has no parameter(s) {', '.join(map(repr, unknown))}; "
            f"valid parameters: {', '.join(sorted(valid)) or '(none)'}"
        )


METHODS = Registry("method", builtin_modules=("lsbench.methods",), entry_point_group="lsbench.methods")
DATASETS = Registry("dataset", builtin_modules=("lsbench.datasets.catalog",))
METRICS = Registry("metric", builtin_modules=("lsbench.metrics.catalog",))

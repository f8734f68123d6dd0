"""Progress on stderr for every step of a command that can take more than a moment.

A command announces each of its stages with :func:`stage`: a tqdm bar on stderr named
``lsbench <stage>`` that counts the stage's steps (figure samples loaded, figures drawn, methods
measured, ...) and shows the current one. With ``enabled=False`` (``--no-progress``) it prints
nothing and costs nothing.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["Stage", "count", "stage"]


class Stage:
    """The handle :func:`stage` yields: :meth:`step` marks one step done (``what`` names the next one)."""

    def __init__(self, bar: Any | None) -> None:
        self._bar = bar

    def show(self, what: str) -> None:
        """Name the step now running (shown after the bar)."""
        if self._bar is not None:
            self._bar.set_postfix_str(what, refresh=True)

    def step(self, what: str = "") -> None:
        """One step done; ``what`` (optional) names it."""
        if self._bar is not None:
            if what:
                self._bar.set_postfix_str(what, refresh=False)
            self._bar.update(1)


@contextlib.contextmanager
def stage(name: str, total: int, *, enabled: bool, unit: str = "step") -> Iterator[Stage]:
    """A progress bar ``lsbench <name>`` over ``total`` steps on stderr, closed when the block ends.

    Nothing is shown when ``enabled`` is False or ``total`` is 0.

    Examples
    --------
    >>> from lsbench.progress import stage
    >>> with stage("figures", 2, enabled=False) as s:
    ...     s.step("fig7_grid")
    ...     s.step("convergence")
    """
    if not enabled or total <= 0:
        yield Stage(None)
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=f"lsbench {name}", unit=unit, file=sys.stderr, dynamic_ncols=True)
    try:
        yield Stage(bar)
    finally:
        bar.close()


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, the noun in the plural unless ``n`` is 1 (for messages: "1 epoch", "10 epochs").

    Examples
    --------
    >>> from lsbench.progress import count
    >>> count(1, "epoch"), count(10, "epoch"), count(2, "process", "processes")
    ('1 epoch', '10 epochs', '2 processes')
    """
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"

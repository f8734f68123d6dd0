"""Two kinds of failure, told apart by the command line's exit status.

*A refused request* (:class:`RequestError`): a name, option or parameter value that is not valid
(an unknown method, dataset or metric, ``-p cv.mu=-1``, ``--grid mu=``, ``--split bogus``), found
before any work is done. ``lsbench`` exits 2 for it, click's convention for a usage error.
*Everything else* (a sample that failed, damaged or missing data on disk, an unwritable folder, a
diverged scheme) exits 1.

A library function validates at its top with plain ``ValueError`` / ``TypeError`` /
``LookupError``, as before; the code that turns a request into work (the CLI's option parsing,
:func:`lsbench.harness.runner.run_benchmark`'s planning, :func:`lsbench.tuning.tune`'s check of
every combination, :func:`lsbench.training.train_method`'s option checks) runs those checks
inside :func:`refusing`, which re-raises them as :class:`RequestError` s of the same type and
message, so ``except ValueError`` keeps working. A ``ValueError`` that reports damaged data on disk
(:class:`lsbench.datasets.DatasetError`, the checkpoint errors, a bad preset file) is a
:class:`DataError` and is never turned into a refused request.

Examples
--------
>>> try:
...     with refusing():
...         int("ten")
... except ValueError as exc:
...     print(type(exc).__name__, isinstance(exc, RequestError), exc)
ValueError True invalid literal for int() with base 10: 'ten'
>>> class Damaged(DataError, ValueError):
...     pass
>>> try:
...     with refusing():
...         raise Damaged("images/a.png: sha256 mismatch")
... except ValueError as exc:
...     print(isinstance(exc, RequestError))
False
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

__all__ = ["DataError", "RequestError", "as_data_error", "refusing"]

#: the exceptions a validator raises for a bad value (``UnknownNameError`` is a ``LookupError`` too)
VALUE_ERRORS = (ValueError, TypeError, LookupError)


class RequestError(Exception):
    """Mixed into a validator's exception: the request was refused before any work (exit status 2)."""


class DataError(Exception):
    """Mixed into a ``ValueError`` that reports damaged or missing data on disk (exit status 1), so
    that :func:`refusing` leaves it alone."""


@functools.cache
def _marked_class(kind: type[Exception], cls: type[BaseException]) -> type[BaseException]:
    return type(cls.__name__, (kind, cls), {"__module__": cls.__module__, "__doc__": kind.__doc__})


def _marked(exc: BaseException, kind: type[Exception]) -> BaseException:
    """``exc`` as an instance of a subclass of ``kind`` and of its own class, with the same arguments."""
    try:
        new = _marked_class(kind, type(exc))(*exc.args)
        new.__dict__.update(exc.__dict__)
    except Exception:  # a class whose constructor does not take its own args back (json.JSONDecodeError)
        base = next((b for b in VALUE_ERRORS if isinstance(exc, b)), Exception)
        new = _marked_class(kind, base)(str(exc))
    return new.with_traceback(exc.__traceback__)


def as_data_error(exc: BaseException) -> BaseException:
    """``exc`` (same type and message) marked as a :class:`DataError`: ``raise as_data_error(exc)``."""
    return exc if isinstance(exc, DataError) else _marked(exc, DataError)


@contextlib.contextmanager
def refusing() -> Iterator[None]:
    """Re-raise a ``ValueError``, ``TypeError`` or ``LookupError`` of the block as a :class:`RequestError`
    (same type and message); a :class:`DataError` and every other exception pass unchanged."""
    try:
        yield
    except VALUE_ERRORS as exc:
        if isinstance(exc, (RequestError, DataError)):
            raise
        raise _marked(exc, RequestError) from exc.__cause__

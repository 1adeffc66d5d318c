"""The loader's promise, in one place: whatever a file holds, reading it raises only ``LoadError``.

Example:
    >>> guarded_read("scan.nii", lambda: 1 / 0)
    Traceback (most recent call last):
    ...
    lesionviewer.io.errors.CorruptFileError: scan.nii: could not be read (ZeroDivisionError: division by zero)
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, TypeVar

from lesionviewer.io.errors import CorruptFileError, LoadError

T = TypeVar("T")


def guarded_read(path: str | Path, read: Callable[[], T]) -> T:
    """``read()``, with every failure but a ``LoadError`` turned into one that names ``path``.

    Example:
        >>> guarded_read("a.dcm", lambda: "read")
        'read'
    """
    try:
        return read()
    except LoadError:
        raise
    except MemoryError:
        raise LoadError(path, "not enough memory to load this image") from None
    except Exception as exc:  # the promise: never a bare traceback from bad data
        raise CorruptFileError(path, f"could not be read ({type(exc).__name__}: {exc})") from None

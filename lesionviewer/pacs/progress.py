"""Progress and cancel hooks shared by every transfer.

``progress(done, total)`` counts instances (``total`` is 0 while unknown); ``cancel`` is a callable
returning True or a ``threading.Event``.

Example:
    >>> import threading
    >>> e = threading.Event(); e.set(); is_cancelled(e), is_cancelled(None), is_cancelled(lambda: False)
    (True, False, False)
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Union

Progress = Callable[[int, int], Any]
Cancel = Union[Callable[[], bool], threading.Event, None]


def is_cancelled(cancel: Cancel) -> bool:
    """True when the caller asked to stop.

    Example:
        >>> is_cancelled(lambda: True)
        True
    """
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def report(progress: Progress | None, done: int, total: int) -> None:
    """Call ``progress`` when there is one.

    Example:
        >>> report(lambda d, t: print(d, t), 3, 10)
        3 10
    """
    if progress is not None:
        progress(done, total)

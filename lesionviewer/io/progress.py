"""Progress and cancel hooks for long loads, so a GUI can show a bar and stop a load midway.

``progress`` is any ``callable(done, total)``; ``cancel`` is a ``callable() -> bool`` or anything
with ``is_set()`` (a ``threading.Event``). Reports are throttled (about 100 per load, plus the
last) because a GUI redrawing per slice slows loading down.

Example:
    >>> seen = []
    >>> tracker = LoadProgress(lambda d, t: seen.append((d, t)), None, total=1000)
    >>> for _ in range(1000):
    ...     tracker.advance()
    >>> len(seen) <= 101, seen[-1]
    (True, (1000, 1000))
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from lesionviewer.io.errors import LoadCancelled

ProgressCallback = Callable[[int, int], Any]


def cancel_requested(cancel: Any) -> bool:
    """True when ``cancel`` (None, a callable or an Event-like object) asks to stop.

    Example:
        >>> import threading
        >>> event = threading.Event(); event.set()
        >>> cancel_requested(None), cancel_requested(event), cancel_requested(lambda: False)
        (False, True, False)
    """
    if cancel is None:
        return False
    is_set = getattr(cancel, "is_set", None)
    if callable(is_set):
        return bool(is_set())
    return bool(cancel())


class LoadProgress:
    """Counts units of work, reports them throttled, and raises ``LoadCancelled`` when asked to stop.

    Thread-safe: decoding threads call ``advance`` concurrently.

    Example:
        >>> LoadProgress(None, lambda: True, total=3, source="scan/").check_cancel()
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.LoadCancelled: scan/: loading was cancelled
    """

    def __init__(self, progress: ProgressCallback | None, cancel: Any, total: int = 0, source: str = ""):
        self.progress = progress
        self.cancel = cancel
        self.total = max(int(total), 0)
        self.done = 0
        self.source = source
        self._lock = threading.Lock()
        self._next_report = 0

    def set_total(self, total: int) -> None:
        """Change the amount of work expected (e.g. once the headers tell how many slices there are).

        Example:
            >>> p = LoadProgress(None, None, total=10); p.set_total(4); p.total
            4
        """
        with self._lock:
            self.total = max(int(total), self.done)
            self._next_report = self.done

    def check_cancel(self) -> None:
        """Raise ``LoadCancelled`` if the caller asked to stop.

        Example:
            >>> LoadProgress(None, None).check_cancel() is None
            True
        """
        if cancel_requested(self.cancel):
            raise LoadCancelled(self.source or "load", "loading was cancelled")

    def advance(self, units: int = 1) -> None:
        """Count ``units`` of finished work, report if due, and stop here when cancelled.

        Example:
            >>> seen = []
            >>> p = LoadProgress(lambda d, t: seen.append(d), None, total=2); p.advance(); p.advance(); seen
            [1, 2]
        """
        with self._lock:
            self.done += units
            due = self.progress is not None and (self.done >= self._next_report or self.done >= self.total)
            if due:
                self._next_report = self.done + max(1, self.total // 100)
                done, total = self.done, max(self.total, self.done)
        if due and self.progress is not None:
            self.progress(done, total)
        self.check_cancel()

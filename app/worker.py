"""The one background-work helper of the GUI: loading, detection and risk all run through it.

A job runs a plain Python callable on Qt's thread pool. The callable receives a :class:`JobContext`
through which it reports progress, hands over partial results and checks for cancellation; the GUI
hears about it through Qt signals, which Qt delivers on the GUI thread. The callable itself never
touches a widget.

Example::

    job = run_in_background(lambda ctx: sum(range(10)), on_finished=print)   # 45, on the GUI thread
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, QThreadPool, Signal

#: Progress signals are throttled to this interval; flooding the GUI thread with updates is what
#: makes progress bars slow loading down (see the viewer conventions).
PROGRESS_INTERVAL_S = 0.05


class JobCancelled(Exception):
    """Raised inside a job (by :meth:`JobContext.raise_if_cancelled`) to stop it early."""


@dataclass
class JobFailure:
    """What the GUI shows when a job raised: the exception and its formatted traceback."""

    error: BaseException
    details: str


class JobSignals(QObject):
    """Signals of one job; connect to them before or right after starting it.

    ``finished`` carries the callable's return value, ``failed`` a :class:`JobFailure`; exactly one
    of ``finished``, ``failed`` or ``cancelled`` is emitted, then always ``done``.
    """

    progress = Signal(int, int)
    partial = Signal(object)
    message = Signal(str)
    finished = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    done = Signal()


class JobContext:
    """Handed to the job's callable: progress, partial results and the cancel flag.

    ``cancel_event`` is a ``threading.Event`` so that library functions that accept one
    (``Detector.detect(cancel=...)``) can be given it directly.
    """

    def __init__(self, signals: JobSignals, cancel_event: threading.Event):
        self._signals = signals
        self.cancel_event = cancel_event
        self._last_progress = 0.0

    def progress(self, done: int, total: int) -> None:
        """Report ``done`` of ``total`` steps (throttled, but the last step always goes through)."""
        now = time.monotonic()
        if done >= total or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self._signals.progress.emit(int(done), int(total))

    def partial(self, value: Any) -> None:
        """Hand a partial result (e.g. the findings of a few slices) to the GUI now."""
        self._signals.partial.emit(value)

    def message(self, text: str) -> None:
        """A short status line for the GUI (e.g. which device the model runs on)."""
        self._signals.message.emit(text)

    def is_cancelled(self) -> bool:
        """True once the GUI asked this job to stop."""
        return self.cancel_event.is_set()

    def raise_if_cancelled(self) -> None:
        """Stop the job here if it was cancelled (raises :class:`JobCancelled`)."""
        if self.cancel_event.is_set():
            raise JobCancelled()


class BackgroundJob:
    """One callable ``fn(context)`` run on the thread pool; see :func:`run_in_background`.

    A plain Python object (not a QRunnable): the pool runs its :meth:`run` method, and the job
    stays referenced until its last signal has reached the GUI thread, so neither Qt nor Python
    frees it while the other still uses it.
    """

    def __init__(self, fn: Callable[[JobContext], Any], name: str = "job"):
        self.fn = fn
        self.name = name
        self.signals = JobSignals()
        self._cancel_event = threading.Event()
        self._finished_event = threading.Event()
        self.context = JobContext(self.signals, self._cancel_event)

    def cancel(self) -> None:
        """Ask the job to stop; it stops at its next check of the cancel flag."""
        self._cancel_event.set()

    @property
    def is_cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancel_event.is_set()

    @property
    def is_running(self) -> bool:
        """True until the callable has returned or raised."""
        return not self._finished_event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the callable is over (for tests and shutdown); True if it is."""
        return self._finished_event.wait(timeout)

    def run(self) -> None:  # called on a pool thread
        try:
            result = self.fn(self.context)
        except JobCancelled:
            self.signals.cancelled.emit()
        except BaseException as error:  # noqa: BLE001 - every failure must reach the GUI as a message
            self.signals.failed.emit(JobFailure(error, traceback.format_exc()))
        else:
            if self._cancel_event.is_set():
                self.signals.cancelled.emit()
            else:
                self.signals.finished.emit(result)
        finally:
            self._finished_event.set()
            self.signals.done.emit()


_running: set[BackgroundJob] = set()
_running_lock = threading.Lock()


def _forget(job: BackgroundJob) -> None:
    with _running_lock:
        _running.discard(job)


def running_jobs() -> list[BackgroundJob]:
    """Jobs started and not yet over (the main window cancels them on close)."""
    with _running_lock:
        return list(_running)


def run_in_background(fn: Callable[[JobContext], Any], name: str = "job", *,
                      on_finished: Callable[[Any], None] | None = None,
                      on_failed: Callable[[JobFailure], None] | None = None,
                      on_progress: Callable[[int, int], None] | None = None,
                      on_partial: Callable[[Any], None] | None = None,
                      on_message: Callable[[str], None] | None = None,
                      on_cancelled: Callable[[], None] | None = None,
                      on_done: Callable[[], None] | None = None,
                      pool: QThreadPool | None = None) -> BackgroundJob:
    """Start ``fn(context)`` on the thread pool with the given callbacks and return the job.

    The callbacks are connected before the job starts, so even a job that ends at once is heard;
    they run on the GUI thread.
    """
    job = BackgroundJob(fn, name)
    for signal, callback in ((job.signals.finished, on_finished), (job.signals.failed, on_failed),
                             (job.signals.progress, on_progress), (job.signals.partial, on_partial),
                             (job.signals.message, on_message), (job.signals.cancelled, on_cancelled),
                             (job.signals.done, on_done)):
        if callback is not None:
            signal.connect(callback)
    # "done" is emitted last and queued like the others, so when it arrives every signal of the job
    # has been delivered and the job can be let go (on the GUI thread).
    job.signals.done.connect(lambda: _forget(job))
    with _running_lock:
        _running.add(job)
    (pool or QThreadPool.globalInstance()).start(job.run)
    return job

"""What the detection and risk runners share: a model loaded once, one background job at a time.

A runner keeps the model of ``(model_path, device)`` once its factory has built it (on the worker,
so the GUI never waits for torch), runs one job at a time through :mod:`lesionviewer_app.worker`,
and when started while a job is still running cancels that job and starts the new one as soon as
it has stopped (``will_restart`` tells a ``running_changed(False)`` that is not the end).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from lesionviewer_app.worker import BackgroundJob, JobContext, run_in_background


class ModelRunner(QObject):
    """Base of :class:`DetectionRunner` and :class:`RiskRunner`; subclasses define ``start``."""

    running_changed = Signal(bool)

    def __init__(self, factory: Callable[[str, str], Any], model_path: str | Path | None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.factory = factory
        self.model_path: str = str(model_path or "")
        self.device = "auto"
        #: the loaded model (None until a job has loaded it, and after a failed job)
        self.model: Any = None
        self._model_key: tuple[str, str] | None = None
        self.job: BackgroundJob | None = None
        self._pending: tuple | None = None

    @property
    def is_running(self) -> bool:
        """True while a job is working (or stopping after cancel)."""
        return self.job is not None and self.job.is_running

    @property
    def will_restart(self) -> bool:
        """True when a run waits for the stopping one (``running_changed(False)`` is then not the end)."""
        return self._pending is not None

    def set_model(self, path: str | Path, device: str | None = None) -> None:
        """Use another model file (and device) from the next run on."""
        self.model_path = str(path)
        if device is not None:
            self.device = device

    def load_model(self) -> Any:
        """The model for the current file and device (loaded once, then reused); called on the worker."""
        key = (self.model_path, self.device)
        if self.model is None or self._model_key != key:
            self.model = self.factory(self.model_path, self.device)
            self._model_key = key
        return self.model

    def forget_model(self) -> None:
        """Load the model afresh next time (after a failure)."""
        self.model, self._model_key = None, None

    def cancel(self) -> None:
        """Stop the running job (it stops at its next check of the cancel flag); drop a waiting one."""
        self._pending = None
        if self.job is not None:
            self.job.cancel()

    def queue_if_running(self, *args: Any) -> bool:
        """When a job runs: cancel it, keep ``args`` for ``start`` once it has stopped, and return True."""
        if not self.is_running:
            return False
        self._pending = args
        self.job.cancel()
        return True

    def launch(self, work: Callable[[JobContext], Any], name: str, **callbacks: Any) -> None:
        """Run ``work`` in the background with ``callbacks`` (see ``run_in_background``)."""
        self.job = run_in_background(work, name, on_done=self._job_done, **callbacks)
        self.running_changed.emit(True)

    def start(self, *args: Any) -> None:  # pragma: no cover - every runner defines its own
        raise NotImplementedError

    def _job_done(self) -> None:
        self.running_changed.emit(False)
        pending, self._pending = self._pending, None
        if pending is not None:
            self.start(*pending)

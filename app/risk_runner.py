"""Running the whole-study risk model from the GUI: load it once, predict in the background, cancel.

The model (``lesionviewer.risk.model.RiskModel``) does the work; this object runs ``predict`` in
the one background worker (:mod:`lesionviewer_app.worker`), turns its ``progress(fraction,
message)`` into signals, passes the worker's cancel flag as ``cancel`` and turns every failure into
one plain sentence for the risk panel (never a traceback). The main window decides when it runs
(after detection) and stores the result in the review session.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from lesionviewer.io import LoadCancelled
from lesionviewer_app.model_files import default_risk_model_path
from lesionviewer_app.model_runner import ModelRunner
from lesionviewer_app.worker import JobCancelled, JobContext, JobFailure

#: ``factory(path, device) -> model`` with the ``RiskModel`` shape (``card``, ``name``, ``predict``).
RiskModelFactory = Callable[[str, str], Any]

#: ``predict`` progress is passed on in steps of 1/PROGRESS_STEPS.
PROGRESS_STEPS = 1000


def library_risk_model_factory(path: str, device: str) -> Any:
    """``RiskModel.from_file(path, device)`` from the library, imported only when a model is needed."""
    from lesionviewer.risk.model import RiskModel  # torch is heavy: load it on first use

    if device == "auto":
        from lesionviewer.detection.device import pick_device

        device = str(pick_device("auto"))
    return RiskModel.from_file(path, device=device)


def model_name_and_card(model: Any) -> tuple[str, dict]:
    """(name, card as a dict) of a loaded risk model."""
    card = getattr(model, "card", None)
    if not isinstance(card, dict):
        card = card.to_dict() if hasattr(card, "to_dict") else {}
    name = getattr(model, "name", None) or card.get("name") or "risk model"
    return str(name), dict(card)


class RiskFailure(Exception):
    """A risk run that could not give a score; ``str()`` is the sentence the panel shows."""


class RiskRunner(ModelRunner):
    """One risk job at a time: ``start(volume)`` predicts, ``start(None)`` only loads the model (its card)."""

    #: (the volume, the RiskResult)
    result_ready = Signal(object, object)
    #: (model name, model card dict) once the model is loaded
    model_ready = Signal(str, object)
    #: (fraction 0..1, the model's message)
    progress = Signal(float, str)
    #: a plain sentence
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, factory: RiskModelFactory | None = None, parent: QObject | None = None):
        super().__init__(factory or library_risk_model_factory, default_risk_model_path(), parent)
        #: name and card of the last loaded model (None until one is loaded)
        self.name: str = ""
        self.card: dict | None = None
        self._message = ""

    @property
    def has_model(self) -> bool:
        """Whether there is a model to run (a file chosen or shipped, or a factory given by a test)."""
        return self.factory is not library_risk_model_factory or bool(self.model_path)

    def set_model(self, path: str | Path, device: str | None = None) -> None:
        """Use another model file (and device) from the next run on; forget the old model's card."""
        if str(path) != self.model_path:
            self.name, self.card = "", None
        super().set_model(path, device)

    def start(self, volume: Any) -> None:
        """Predict the risk of ``volume`` (None: only load the model); a running job is replaced."""
        if self.queue_if_running(volume):
            return
        self._message = ""
        file_name = Path(self.model_path).name or "(none)"

        def work(context: JobContext) -> Any:
            if not self.has_model:
                raise RiskFailure("No risk model: use Risk > Load risk model...")
            try:
                model = self.load_model()
            except Exception as error:  # noqa: BLE001 - a wrong file is a sentence, not a traceback
                raise RiskFailure(f"Cannot use the risk model {file_name}: {_plain(error)}") from error
            context.partial(("model",) + model_name_and_card(model))
            if volume is None:
                return None
            context.raise_if_cancelled()

            last_message = [""]

            def progress(fraction: float, message: str = "") -> None:
                if message and message != last_message[0]:
                    last_message[0] = message
                    context.message(str(message))
                context.progress(int(round(min(max(float(fraction), 0.0), 1.0) * PROGRESS_STEPS)), PROGRESS_STEPS)

            try:
                result = model.predict(volume, progress=progress, cancel=context.is_cancelled)
            except (LoadCancelled, JobCancelled):
                raise JobCancelled() from None
            except Exception as error:  # noqa: BLE001 - shown as a sentence
                raise RiskFailure(f"The risk could not be computed: {_plain(error)}") from error
            context.raise_if_cancelled()
            return ("result", volume, result)

        self.launch(work, "risk",
                    on_partial=self._partial, on_progress=self._progress, on_message=self._message_changed,
                    on_finished=self._finished, on_cancelled=self.cancelled.emit, on_failed=self._failed)

    def _partial(self, value: tuple) -> None:
        _, self.name, self.card = value
        self.model_ready.emit(self.name, self.card)

    def _progress(self, done: int, total: int) -> None:
        self.progress.emit(done / max(total, 1), self._message)

    def _message_changed(self, text: str) -> None:
        self._message = text

    def _finished(self, value: Any) -> None:
        if value is not None:
            self.result_ready.emit(value[1], value[2])

    def _failed(self, failure: JobFailure) -> None:
        self.forget_model()  # a model that failed is loaded afresh next time
        error = failure.error
        self.failed.emit(str(error) if isinstance(error, RiskFailure) else
                         f"The risk could not be computed: {_plain(error)}")


def _plain(error: BaseException) -> str:
    """The error in words: its message (the library's name the file), its type when it has none."""
    if isinstance(error, MemoryError):
        return "there is not enough memory"
    text = str(error).strip()
    return text if text else type(error).__name__

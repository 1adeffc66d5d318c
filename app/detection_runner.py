"""Running the detector from the GUI: which model, on which device, slices nearest the view first.

The engine (``lesionviewer.detection.Detector``) does the work; this object only decides the order
(:mod:`lesionviewer_app.slice_order`), calls ``detect`` once inside the one background worker with
``on_findings=`` so each slice's boxes and the progress arrive while the radiologist scrolls, and makes cancel
and re-run (same or another model) behave. Findings go to whoever listens to ``findings_ready``
(the main window hands them to the review session).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from lesionviewer_app.detection_estimate import remaining_seconds
from lesionviewer_app.model_files import default_detector_path
from lesionviewer_app.model_runner import ModelRunner
from lesionviewer_app.slice_order import nearest_first_order
from lesionviewer_app.worker import JobContext, JobFailure

DetectorFactory = Callable[[str, str], Any]


def default_model_path() -> Path | None:
    """The demo detector shipped in ``resources/`` (the first ``*.safetensors`` that is not a risk model), or None."""
    return default_detector_path()


def library_detector_factory(path: str, device: str) -> Any:
    """``Detector.from_file(path, device)`` from the engine, imported only when a model is needed."""
    from lesionviewer.detection import Detector  # torch is heavy: load it on first use

    return Detector.from_file(path, device=device)


def describe_detector(detector: Any) -> tuple[str, str]:
    """(model name, device) of a detector, for the status bar."""
    card = getattr(detector, "card", None)
    name = getattr(card, "name", None) or getattr(detector, "model_name", None) or getattr(detector, "name", "model")
    if isinstance(card, dict):
        name = card.get("name", name)
    device = getattr(detector, "device_description", None)
    if not device:
        device = str(getattr(detector, "device", "cpu"))
        try:  # the library's sentence ("Processor (CPU, ...). No GPU found: ...") where torch can say it
            from lesionviewer.detection.device import describe_device

            device = describe_device(device)
        except Exception:  # noqa: BLE001 - an unknown device name stays as given
            pass
    return str(name), str(device)


class DetectionRunner(ModelRunner):
    """Runs one detection job at a time over the current volume; emits its progress and findings."""

    #: (the volume, [the slice just finished], the findings on it)
    findings_ready = Signal(object, object, object)
    progress = Signal(int, int)
    #: (slices done, slices in this run, seconds left at the time per slice measured so far)
    estimate = Signal(int, int, float)
    #: "model on device" once the model is loaded
    model_ready = Signal(str, str)
    finished = Signal()
    cancelled = Signal()
    failed = Signal(object)

    def __init__(self, factory: DetectorFactory | None = None, parent: QObject | None = None):
        super().__init__(factory or library_detector_factory, default_model_path(), parent)
        #: read each slice once, even where the model's card asks for a mirrored second reading
        self.skip_mirrored_pass = False
        #: the clock the remaining time is measured with (tests give a fake one)
        self.clock: Callable[[], float] = time.monotonic

    @property
    def _detector(self) -> Any:
        """The loaded detector (the older name of :attr:`model`, kept for callers that reset it)."""
        return self.model

    @_detector.setter
    def _detector(self, value: Any) -> None:
        self.model = value

    def load_detector(self) -> Any:
        """The detector for the current model and device (loaded once, then reused).

        With :attr:`skip_mirrored_pass` it reads each slice once even where its card asks for a
        second, mirrored reading (``test_time_flip``: fewer false alarms, twice the time).
        """
        detector = self.load_model()
        if hasattr(detector, "flip"):
            card_says = bool(getattr(getattr(detector, "card", None), "test_time_flip", False))
            detector.flip = card_says and not self.skip_mirrored_pass
        return detector

    def start(self, volume: Any, center_slice: int, skip: set[int] | None = None) -> None:
        """Detect on every slice of ``volume`` (except ``skip``), nearest ``center_slice`` first.

        If a job is still running it is cancelled and this one starts when it has stopped.
        """
        if self.queue_if_running(volume, center_slice, skip):
            return
        order = [s for s in nearest_first_order(volume.num_slices, center_slice) if s not in (skip or set())]

        def work(context: JobContext) -> int:
            if not self.model_path and self.factory is library_detector_factory:
                raise FileNotFoundError(2, "No detection model: use Detection > Load model...", "(none)")
            detector = self.load_detector()
            name, device = describe_detector(detector)
            context.partial(("model", name, device))
            context.progress(0, len(order))
            started = self.clock()

            def report(done: int, total: int) -> None:
                # measured here, on the worker, where the slices are timed
                context.progress(done, total)
                left = remaining_seconds(self.clock() - started, done, total)
                if left is not None:
                    context.partial(("estimate", done, total, left))

            # The engine reports each slice as it finishes (``on_findings``) and checks ``cancel``
            # before each batch: one call, one context set-up, boxes on screen slice by slice.
            def slice_done(index: int, findings: list) -> None:
                context.partial(("findings", volume, [index], list(findings)))

            detector.detect(volume, slices=order, cancel=context.cancel_event, progress=report,
                            on_findings=slice_done)
            context.raise_if_cancelled()
            return len(order)

        self.launch(work, "detection",
                    on_partial=self._partial, on_progress=self.progress.emit,
                    on_finished=lambda _: self.finished.emit(), on_cancelled=self.cancelled.emit,
                    on_failed=self._failed)

    def _partial(self, value: tuple) -> None:
        if value[0] == "model":
            self.model_ready.emit(value[1], value[2])
        elif value[0] == "estimate":
            self.estimate.emit(value[1], value[2], value[3])
        else:
            self.findings_ready.emit(value[1], value[2], value[3])

    def _failed(self, failure: JobFailure) -> None:
        # a model that failed to load must be loaded afresh next time
        self.forget_model()
        self.failed.emit(failure)

"""Shared helpers of the GUI tests: small volumes, a slow fake detector, a window without dialogs.

(No tests here; the GUI test files import it.)
"""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from lesionviewer.detection.finding import Finding
from lesionviewer.io import Volume


def small_volume(num_slices: int = 12, size: int = 64, uid: str = "1.2.826.0.1.3680043.8.498.1") -> Volume:
    """A body-like ellipse with a bright 'lesion' blob; a distinct ramp per slice."""
    z, y, x = np.mgrid[0:num_slices, 0:size, 0:size]
    hu = np.full((num_slices, size, size), -1000, np.int16)
    body = ((y - size / 2) / (size * 0.4)) ** 2 + ((x - size / 2) / (size * 0.45)) ** 2 <= 1
    hu[body] = 40
    hu += (z * 3).astype(np.int16)  # every slice differs, so a test can tell which one is shown
    lesion = (z - num_slices // 2) ** 2 / 4 + (y - 20) ** 2 / 9 + (x - 40) ** 2 / 9 <= 1
    hu[lesion] = 120
    return Volume(hu, spacing=(2.5, 0.7, 0.7), origin=(-22.0, -22.0, -100.0),
                  meta={"SeriesInstanceUID": uid, "StudyInstanceUID": "1.2.3", "SeriesDescription": "Test CT",
                        "PatientName": "Doe^Jane", "PatientID": "P1", "WindowWidth": 350, "WindowCenter": 50})


class SlowFakeDetector:
    """The engine's ``Detector.detect`` contract, without a network; sleeps ``delay`` per slice.

    Like the engine it visits ``slices`` in the order given, ``batch_size`` at a time: ``cancel`` is
    checked before each batch, ``on_findings(slice, findings)`` is called once per slice and
    ``progress(done, total)`` after each batch. ``calls`` records each call's slices, ``batches``
    each batch visited. Finds one box per slice, with a score that grows towards the middle slice,
    so a threshold changes how many are visible.
    """

    def __init__(self, delay: float = 0.0, name: str = "fake-model", batch_size: int = 4):
        self.delay = delay
        self.batch_size = batch_size
        self.card = SimpleNamespace(name=name, version="7")
        self.device = "cpu"
        self.calls: list[list[int]] = []
        self.batches: list[list[int]] = []

    def spend(self, batch: list[int]) -> None:
        """The time a batch takes (``delay`` per slice); a subclass may use a fake clock instead."""
        if self.delay:
            time.sleep(self.delay * len(batch))

    def detect(self, volume, slices=None, progress=None, cancel=None, batch_size=None, on_findings=None):
        order = list(dict.fromkeys(range(volume.num_slices) if slices is None else slices))
        self.calls.append(order)
        size = batch_size or self.batch_size
        found = []
        middle = volume.num_slices // 2
        for start in range(0, len(order), size):
            if cancel is not None and (cancel.is_set() if isinstance(cancel, threading.Event) else cancel()):
                break
            batch = order[start:start + size]
            self.batches.append(batch)
            self.spend(batch)
            for index in batch:
                score = round(max(0.05, 0.95 - 0.1 * abs(index - middle)), 2)
                on_slice = [Finding.from_pixel_box(volume, index, (36, 16, 44, 24), score, self.card.name)]
                found.extend(on_slice)
                if on_findings is not None:
                    on_findings(index, on_slice)
            if progress is not None:
                progress(start + len(batch), len(order))
        return sorted(found, key=lambda f: (f.slice_index, -f.score))

    def visited(self) -> list[int]:
        """Every slice detected on so far, in visiting order."""
        return [index for batch in self.batches for index in batch]


class MessageRecorder:
    """Stands in for QMessageBox: records what would have been shown, never blocks."""

    Warning = Information = Question = 0
    Ok = Yes = 1
    No = 2
    Cancel = 4
    answer = 2  # "No" to "export before closing?"

    def __init__(self, *args, **kwargs):
        type(self).shown.append(("box", args[1] if len(args) > 1 else "", args[2] if len(args) > 2 else ""))

    shown: list = []

    def setDetailedText(self, text):  # noqa: N802 - Qt API
        pass

    def setModal(self, modal):  # noqa: N802 - Qt API
        pass

    def show(self):
        pass

    def exec(self):
        return self.Ok

    @classmethod
    def information(cls, parent, title, text, *args):
        cls.shown.append(("information", title, text))
        return cls.Ok

    @classmethod
    def question(cls, parent, title, text, *args):
        cls.shown.append(("question", title, text))
        return cls.answer


@pytest.fixture
def message_boxes(monkeypatch):
    """Every message box of the viewer recorded instead of shown."""
    from lesionviewer_app import main_window, messages

    recorder = type("Recorder", (MessageRecorder,), {"shown": []})
    monkeypatch.setattr(messages, "QMessageBox", recorder)
    monkeypatch.setattr(main_window, "QMessageBox", recorder)
    return recorder


def wait_for_jobs(qtbot, timeout_ms: int = 5000) -> None:
    """Let every background job end and its signals arrive."""
    from lesionviewer_app.worker import running_jobs

    qtbot.waitUntil(lambda: not running_jobs(), timeout=timeout_ms)
    qtbot.wait(20)


def wheel(view, steps: int = 1, modifiers=None) -> None:
    """Turn the mouse wheel over the middle of ``view`` (positive = towards the user, i.e. down)."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    centre = QPointF(view.viewport().rect().center())
    event = QWheelEvent(centre, QPointF(view.viewport().mapToGlobal(centre.toPoint())), QPoint(0, 0),
                        QPoint(0, -120 * steps), Qt.NoButton, modifiers or Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), event)


def drag(view, start, end, button=None, steps: int = 5) -> None:
    """Press, move in ``steps`` and release a mouse button over ``view`` (viewport pixels)."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    button = button or Qt.LeftButton
    viewport = view.viewport()

    def send(kind, point, buttons):
        point = QPointF(*point)
        global_point = QPointF(viewport.mapToGlobal(point.toPoint()))
        event = QMouseEvent(kind, point, global_point, button if kind != QEvent.MouseMove else Qt.NoButton,
                            buttons, Qt.NoModifier)
        QApplication.sendEvent(viewport, event)

    send(QEvent.MouseButtonPress, start, button)
    for i in range(1, steps + 1):
        time.sleep(0.012)  # pyqtgraph drops mouse moves closer than its rate limit (100 per second)
        t = i / steps
        send(QEvent.MouseMove, (start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t), button)
    send(QEvent.MouseButtonRelease, end, Qt.NoButton)


def click(view, point, button=None) -> None:
    """A click (press + release, no move) over ``view`` at viewport pixel ``point``."""
    drag(view, point, point, button, steps=0)


@pytest.fixture
def make_window(qtbot, tmp_path, message_boxes):
    """``make_window(volume=..., detector=..., settings=...)``: a shown main window with the study open."""
    from lesionviewer_app.main_window import MainWindow
    from lesionviewer_app.settings import ViewerSettings

    def make(volume=None, detector=None, settings=None, open_study=True, review_folder=None, risk_model=None):
        volume = volume if volume is not None else small_volume()
        detector = detector if detector is not None else SlowFakeDetector()
        settings = settings or ViewerSettings()
        window = MainWindow(settings, loader=lambda path, **_: volume,
                            detector_factory=lambda path, device: detector,
                            risk_model_factory=(lambda path, device: risk_model) if risk_model is not None else None,
                            review_folder=review_folder or tmp_path / "reviews")
        if risk_model is None:
            window.risk_runner.set_model("")  # no risk model (not the one in resources/) unless a test gives one
        window.resize(1200, 800)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        if open_study:
            window.open_path(tmp_path / "study.nii")
            qtbot.waitUntil(lambda: window.state.volume is not None, timeout=5000)
            wait_for_jobs(qtbot)
        window.detector = detector
        window.messages = message_boxes
        return window

    yield make
    from lesionviewer_app.worker import running_jobs

    for job in running_jobs():
        job.cancel()
        job.wait(2)

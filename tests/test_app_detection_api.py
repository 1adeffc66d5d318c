"""``MainWindow.run_detection`` on chosen slices, and on the CPU: the device said plainly and the time left."""
from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from lesionviewer.detection.device import NO_GPU_MESSAGE  # noqa: E402
from lesionviewer_app.detection_estimate import describe_remaining, remaining_seconds  # noqa: E402
from lesionviewer_app.settings import ViewerSettings  # noqa: E402
from test_app_fakes import SlowFakeDetector, make_window, message_boxes, wait_for_jobs  # noqa: E402,F401


@pytest.fixture(autouse=True)
def own_home(monkeypatch, tmp_path):
    """Settings and reviews of these tests stay in the test's folder."""
    monkeypatch.setenv("LESIONVIEWER_HOME", str(tmp_path / "home"))


def test_run_detection_on_given_slices_nearest_the_current_one_first(make_window, qtbot):
    window = make_window(settings=ViewerSettings(auto_detect=False))
    window.state.set_slice(6)
    assert window.run_detection([2, 3, 5, 9, 10]) is True
    qtbot.waitUntil(lambda: not window.is_detecting, timeout=5000)
    wait_for_jobs(qtbot)
    order = [s for call in window.detector.calls for s in call]
    assert sorted(order) == [2, 3, 5, 9, 10]
    assert [abs(s - 6) for s in order] == [1, 3, 3, 4, 4]  # nearest the shown slice (6) first
    assert sorted(window.bridge.session.processed_slices) == [2, 3, 5, 9, 10]
    assert window.run_detection() is True  # the whole study
    qtbot.waitUntil(lambda: not window.is_detecting, timeout=5000)
    wait_for_jobs(qtbot)
    assert sorted(window.bridge.session.processed_slices) == list(range(12))


def test_remaining_time_words():
    assert remaining_seconds(8.0, 4, 12) == 16.0
    assert remaining_seconds(3.0, 0, 12) is None
    assert [describe_remaining(s) for s in (None, 0.2, 16.0, 600.0, 3900.0)] == [
        "estimating...", "less than 1 s left", "about 16 s left", "about 10 min left", "about 1 h 5 min left"]


class ClockedCpuDetector(SlowFakeDetector):
    """Each slice 'takes' 2 s of a fake clock; says it runs on a processor without a GPU, as the engine does."""

    device_description = "Processor (CPU, 2 threads). " + NO_GPU_MESSAGE

    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def spend(self, batch):
        self.clock[0] += 2.0 * len(batch)


def test_on_the_cpu_the_status_bar_says_so_and_estimates_the_time_left(make_window, qtbot):
    clock = [100.0]
    detector = ClockedCpuDetector(clock)
    window = make_window(detector=detector, settings=ViewerSettings(auto_detect=False))
    window.runner.clock = lambda: clock[0]
    seen = []
    window.runner.model_ready.connect(lambda *_: seen.append(window.progress_label.text()))
    window.runner.estimate.connect(lambda *_: seen.append(window.progress_label.text()))
    window.run_detection()
    qtbot.waitUntil(lambda: not window.is_detecting, timeout=5000)
    wait_for_jobs(qtbot)
    # 12 slices, 4 per call, 2 s per slice: after 4 slices 8 s were spent, 8 slices (16 s) remain
    assert seen == ["Detecting 0/12 slices on the CPU - estimating...",
                    "Detecting 4/12 slices on the CPU - about 16 s left",
                    "Detecting 8/12 slices on the CPU - about 8 s left",
                    "Detecting 12/12 slices on the CPU - less than 1 s left"]
    assert window.device_note.isVisibleTo(window) and "CPU" in window.device_note.text()
    assert window.device_note.toolTip() == NO_GPU_MESSAGE
    assert window.model_label.text() == "Model: fake-model | Processor (CPU, 2 threads)"

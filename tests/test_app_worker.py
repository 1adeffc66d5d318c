"""The one background-work helper: results, errors, progress, cancel, and a GUI that stays responsive."""
from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QThread, QTimer  # noqa: E402

from lesionviewer.io import CorruptFileError  # noqa: E402
from lesionviewer_app.detection_runner import DetectionRunner, describe_detector  # noqa: E402
from lesionviewer_app.worker import JobCancelled, run_in_background  # noqa: E402
from test_app_fakes import SlowFakeDetector, small_volume, wait_for_jobs  # noqa: E402


def test_result_arrives_on_the_gui_thread(qtbot):
    got = []
    gui_thread = QThread.currentThread()
    job = run_in_background(lambda ctx: 6 * 7, on_finished=lambda r: got.append((r, QThread.currentThread() is gui_thread)))
    qtbot.waitUntil(lambda: bool(got), timeout=3000)
    assert got == [(42, True)]
    assert not job.is_running


def test_an_exception_in_the_job_is_reported_not_raised(qtbot):
    failures = []

    def broken(ctx):
        raise CorruptFileError("/data/x.dcm", "pixel data ends early")

    run_in_background(broken, on_failed=failures.append)
    qtbot.waitUntil(lambda: bool(failures), timeout=3000)
    assert isinstance(failures[0].error, CorruptFileError)
    assert "x.dcm" in str(failures[0].error) and "Traceback" in failures[0].details


def test_progress_is_throttled_but_the_last_step_always_arrives(qtbot):
    seen = []

    def many_steps(ctx):
        for i in range(1, 2001):
            ctx.progress(i, 2000)
        return "ok"

    run_in_background(many_steps, on_progress=lambda d, t: seen.append(d))
    wait_for_jobs(qtbot)
    assert seen[-1] == 2000
    assert len(seen) < 50  # 2000 updates would flood the GUI thread


def test_cancel_stops_a_job_and_reports_cancelled(qtbot):
    started = threading.Event()
    events = []

    def endless(ctx):
        started.set()
        while True:
            ctx.raise_if_cancelled()
            time.sleep(0.005)

    job = run_in_background(endless, on_cancelled=lambda: events.append("cancelled"),
                            on_finished=lambda r: events.append("finished"))
    assert started.wait(3)
    job.cancel()
    assert job.wait(1.0)
    qtbot.waitUntil(lambda: bool(events), timeout=2000)
    assert events == ["cancelled"]
    assert JobCancelled is not None


def test_gui_timer_keeps_firing_while_a_slow_detector_runs_and_cancel_is_prompt(qtbot):
    volume = small_volume(num_slices=40)
    detector = SlowFakeDetector(delay=0.05)  # 40 slices x 50 ms = 2 s of "model" time
    runner = DetectionRunner(factory=lambda path, device: detector)
    # Naming the device imports torch once per process (about a second of imports that hold the GIL);
    # that is start-up cost, not what this test measures, so it happens before the timer starts.
    describe_detector(detector)
    ticks = []
    timer = QTimer(interval=20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    runner.start(volume, center_slice=20)
    qtbot.waitUntil(lambda: len(detector.batches) >= 2, timeout=5000)
    qtbot.wait(400)
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) > 10
    assert max(gaps) < 0.1, f"the GUI thread stalled for {max(gaps) * 1000:.0f} ms"
    cancelled_at = time.monotonic()
    runner.cancel()
    assert runner.job.wait(1.0)
    assert time.monotonic() - cancelled_at < 0.5
    processed = len(detector.visited())
    assert processed < 40  # it really stopped early
    wait_for_jobs(qtbot)

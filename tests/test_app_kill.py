"""A viewer killed mid-review (SIGKILL: no chance to clean up) loses no decision."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from lesionviewer.review.session import ReviewSession  # noqa: E402
from test_app_fakes import small_volume  # noqa: E402

TESTS = Path(__file__).resolve().parent


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_every_decision_is_back_after_the_viewer_is_killed(tmp_path):
    reviews = tmp_path / "reviews"
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        sys.path.insert(0, {str(TESTS)!r})
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from test_app_fakes import SlowFakeDetector, small_volume
        from lesionviewer_app.main_window import MainWindow
        from lesionviewer_app.settings import ViewerSettings
        from lesionviewer_app.worker import running_jobs
        window = MainWindow(ViewerSettings(), loader=lambda p, **_: small_volume(),
                            detector_factory=lambda p, d: SlowFakeDetector(), review_folder={str(reviews)!r})
        window.show()
        window.open_path("study.nii")
        deadline = time.monotonic() + 20
        while (window.bridge.session is None or running_jobs()) and time.monotonic() < deadline:
            app.processEvents(); time.sleep(0.01)
        session = window.bridge.session
        ids = [f.id for f in session.findings()]
        for fid, status in zip(ids, ["accepted", "rejected", "accepted"]):
            window.panel.choose(fid)
            window.panel.set_status(__import__("lesionviewer.review.status", fromlist=["Status"]).Status(status))
        window.panel.choose(ids[3])
        window.panel.note_field.setText("check on follow-up")
        window.panel.note_field.editingFinished.emit()
        window.panel.slider.setValue(42)
        print("DECIDED", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert "DECIDED" in result.stdout, result.stderr[-2000:]
    assert result.returncode == -signal.SIGKILL
    session = ReviewSession.open(small_volume(), folder=reviews)
    ids = [f.id for f in session.findings()]
    assert [session.finding(i).status.value for i in ids[:4]] == ["accepted", "rejected", "accepted", "pending"]
    assert session.finding(ids[3]).note == "check on follow-up"
    assert session.threshold == 0.42
    assert not list(reviews.glob("*.tmp"))  # no half-written file left in the way

"""Settings (last folder, window presets, threshold, device) come back in a new window."""
from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from lesionviewer_app.main_window import MainWindow  # noqa: E402
from test_app_fakes import SlowFakeDetector, make_window, message_boxes, small_volume, wait_for_jobs  # noqa: E402,F401


@pytest.fixture(autouse=True)
def own_home(monkeypatch, tmp_path):
    """Settings and reviews of these tests stay in the test's folder."""
    monkeypatch.setenv("LESIONVIEWER_HOME", str(tmp_path / "home"))


def test_settings_come_back_in_a_new_window(qtbot, tmp_path, message_boxes):
    volume = small_volume()

    def new_window():
        window = MainWindow(loader=lambda path, **_: volume, detector_factory=lambda p, d: SlowFakeDetector(),
                            review_folder=tmp_path / "reviews")
        qtbot.addWidget(window)
        window.show()
        return window

    first = new_window()
    first.settings.auto_detect = False
    first.open_path(tmp_path / "studies" / "a.nii")
    qtbot.waitUntil(lambda: first.state.volume is not None, timeout=5000)
    wait_for_jobs(qtbot)
    first.set_device("cpu")
    first.panel.slider.setValue(35)
    first.state.set_window(1234, -321)
    first.save_window_preset("Lung")
    first.close()

    second = new_window()
    settings = second.settings
    assert settings.last_folder == str(tmp_path / "studies")
    assert settings.device == "cpu" and second.detection_device == "cpu"
    assert settings.threshold == 0.35
    assert settings.window_presets == {"Lung": [1234.0, -321.0]}
    assert any("Lung  1234/-321" in label for label in second.window_controls.preset_labels())
    # a study never reviewed before starts at the last threshold
    volume = small_volume(uid="1.2.826.0.1.3680043.8.498.2")
    second.open_path(tmp_path / "studies" / "b.nii")
    qtbot.waitUntil(lambda: second.state.volume is not None, timeout=5000)
    wait_for_jobs(qtbot)
    assert second.bridge.session.threshold == 0.35
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QKeyEvent

    second.handle_key(QKeyEvent(QEvent.KeyPress, Qt.Key_1, Qt.NoModifier, "1"))
    assert (second.state.width, second.state.level) == (1234.0, -321.0)

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


# ---------------------------------------------------------------- issue 14, item 11: options are for this run only


def test_command_line_options_apply_to_this_run_and_are_never_saved(tmp_path):
    from lesionviewer_app.main import build_parser, settings_for_this_run
    from lesionviewer_app.settings import ViewerSettings

    model = tmp_path / "m.safetensors"
    settings = ViewerSettings.load()
    settings_for_this_run(settings, build_parser().parse_args(
        ["--no-detect", "--no-risk", "--device", "cpu", "--model", str(model)]))
    assert (settings.auto_detect, settings.auto_risk, settings.device, settings.model_path) == (
        False, False, "cpu", str(model))
    settings.threshold = 0.7  # a change made in the window is saved as always
    settings.save()
    later = ViewerSettings.load()  # the next plain launch
    assert (later.auto_detect, later.auto_risk, later.device, later.model_path) == (True, True, "auto", "")
    assert later.threshold == 0.7


def test_a_menu_turns_detection_back_on_for_good(make_window, qtbot):
    from lesionviewer_app.main import build_parser, settings_for_this_run
    from lesionviewer_app.settings import ViewerSettings

    settings = ViewerSettings.load()
    settings_for_this_run(settings, build_parser().parse_args(["--no-detect"]))
    window = make_window(settings=settings)
    session = window.bridge.session
    assert not window.auto_detect_action.isChecked() and session.model_name == ""
    window.auto_detect_action.trigger()  # Detection > Detect when a study opens
    wait_for_jobs(qtbot)
    assert window.settings.auto_detect and session.findings()  # the open study is detected now
    assert ViewerSettings.load().auto_detect  # and the user's choice is saved


def test_faster_detection_skips_the_mirrored_reading_and_is_remembered(make_window, qtbot):
    from lesionviewer_app.settings import ViewerSettings

    detector = SlowFakeDetector()
    detector.card.test_time_flip = True  # the card asks for a mirrored second reading
    detector.flip = True
    window = make_window(detector=detector)
    assert not window.fast_detect_action.isChecked()
    assert window.runner.load_detector().flip is True
    window.fast_detect_action.trigger()  # Detection > Faster: read each slice once
    assert window.runner.load_detector().flip is False
    assert ViewerSettings.load().skip_mirrored_pass is True
    window.fast_detect_action.trigger()  # back to the card's choice
    assert window.runner.load_detector().flip is True
    assert ViewerSettings.load().skip_mirrored_pass is False


def test_a_model_whose_card_reads_once_is_never_made_to_read_twice(make_window):
    detector = SlowFakeDetector()  # its card says nothing of test_time_flip
    detector.flip = False
    window = make_window(detector=detector)
    assert window.runner.load_detector().flip is False


def test_the_faster_setting_comes_back_in_a_new_window(make_window):
    from lesionviewer_app.settings import ViewerSettings

    settings = ViewerSettings.load()
    settings.skip_mirrored_pass = True
    settings.save()
    window = make_window(settings=ViewerSettings.load(), open_study=False)
    assert window.fast_detect_action.isChecked() and window.runner.skip_mirrored_pass is True

"""The command line, opening real files through the library, errors as messages, series browser, settings."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

import lesionviewer  # noqa: E402
from lesionviewer.io import CorruptFileError, Volume  # noqa: E402
from lesionviewer.io.dicom_write import write_dicom_series  # noqa: E402
from lesionviewer_app import main as app_main  # noqa: E402
from lesionviewer_app.main_window import MainWindow  # noqa: E402
from lesionviewer_app.settings import ViewerSettings  # noqa: E402
from test_app_fakes import SlowFakeDetector, make_window, message_boxes, small_volume, wait_for_jobs  # noqa: E402,F401


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        app_main.main(["--version"])
    assert exit_info.value.code == 0
    assert lesionviewer.__version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        app_main.main(["--help"])
    assert "DICOM folder" in capsys.readouterr().out


def library_window(qtbot, tmp_path):
    window = MainWindow(ViewerSettings(auto_detect=False), review_folder=tmp_path / "reviews",
                        detector_factory=lambda p, d: SlowFakeDetector())
    qtbot.addWidget(window)
    window.show()
    return window


def test_a_load_error_is_a_message_naming_the_file(make_window, qtbot, tmp_path):
    window = make_window(open_study=False)

    def broken(path, **_):
        raise CorruptFileError(path, "pixel data ends early")

    window.loader = broken
    window.open_path(tmp_path / "bad.dcm")
    wait_for_jobs(qtbot)
    (kind, title, text), = window.messages.shown
    assert title == "Cannot open" and "bad.dcm" in text and "pixel data ends early" in text
    assert window.state.volume is None
    assert not window.progress_bar.isVisible()


def test_an_unexpected_error_in_a_worker_is_a_message_too(make_window, qtbot, tmp_path):
    window = make_window(open_study=False)
    window.loader = lambda path, **_: 1 / 0
    window.open_path(tmp_path / "x.nii")
    wait_for_jobs(qtbot)
    assert "Unexpected error (ZeroDivisionError)" in window.messages.shown[0][2]


def test_loader_warnings_are_shown_once_plainly(make_window):
    volume = small_volume()
    volume.warnings.append("2 slices are missing between z = -90 and -85 mm")
    window = make_window(volume=volume)
    notes = [text for kind, title, text in window.messages.shown if title == "About this study"]
    assert notes == ["2 slices are missing between z = -90 and -85 mm"]


def test_a_dicom_series_written_to_disk_opens_through_the_library(qtbot, tmp_path, message_boxes):
    original = small_volume(num_slices=6, size=48)
    write_dicom_series(original, tmp_path / "series", series_description="Chest 2.5mm")
    window = library_window(qtbot, tmp_path)
    window.open_path(tmp_path / "series")
    qtbot.waitUntil(lambda: window.state.volume is not None, timeout=10000)
    wait_for_jobs(qtbot)
    volume = window.state.volume
    assert volume.shape == (6, 48, 48)
    assert np.array_equal(volume.hu, original.hu)
    assert volume.spacing == pytest.approx(original.spacing)
    assert "Chest 2.5mm" in window.windowTitle()
    assert message_boxes.shown == []


def test_a_folder_with_two_series_asks_which_one(qtbot, tmp_path, monkeypatch, message_boxes):
    write_dicom_series(small_volume(num_slices=5, size=32), tmp_path / "study" / "a", series_description="Thin")
    write_dicom_series(small_volume(num_slices=3, size=32), tmp_path / "study" / "b", series_description="Thick")
    offered = []

    def choose_second(parent, series):
        offered.extend(s.series_description for s in series)
        return next(s for s in series if s.series_description == "Thick")

    from lesionviewer_app import series_browser

    monkeypatch.setattr(series_browser, "choose_series", choose_second)
    window = library_window(qtbot, tmp_path)
    window.open_path(tmp_path / "study")
    qtbot.waitUntil(lambda: window.state.volume is not None, timeout=10000)
    wait_for_jobs(qtbot)
    assert sorted(offered) == ["Thick", "Thin"]
    assert window.state.volume.num_slices == 3


def test_series_browser_lists_patient_study_series_with_a_thumbnail(qtbot, tmp_path):
    from lesionviewer.io import find_series
    from lesionviewer_app.series_browser import SeriesBrowser

    write_dicom_series(small_volume(num_slices=5, size=32), tmp_path / "a", series_description="Thin")
    write_dicom_series(small_volume(num_slices=3, size=32), tmp_path / "b", series_description="Thick")
    browser = SeriesBrowser(find_series(tmp_path))
    qtbot.addWidget(browser)
    patient = browser.tree.topLevelItem(0)
    assert browser.tree.topLevelItemCount() == 1 and patient.childCount() >= 1
    rows = [(item.text(0), item.text(1), item.text(3)) for item in browser._series_items()]
    assert ("Thin", "5", "2.5 x 0.7 x 0.7 mm") in rows and ("Thick", "3", "2.5 x 0.7 x 0.7 mm") in rows
    qtbot.waitUntil(lambda: browser.thumbnail.pixmap() is not None and not browser.thumbnail.pixmap().isNull(),
                    timeout=5000)
    browser._accept_item(browser._series_items()[1])
    assert browser.chosen.series_description == rows[1][0]


def test_dropping_a_file_opens_it(make_window, qtbot, tmp_path):
    window = make_window(open_study=False)
    opened = []
    window.loader = lambda path, **_: (opened.append(path), small_volume())[1]
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(tmp_path / "dropped.nii.gz"))])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.state.volume is not None, timeout=5000)
    wait_for_jobs(qtbot)
    assert opened[0].name == "dropped.nii.gz"
    assert window.settings.recent_files[0].endswith("dropped.nii.gz")


def test_settings_survive_a_restart_and_a_damaged_file_gives_defaults(make_window, qtbot):
    window = make_window()
    window.set_device("cpu")
    window.panel.slider.setValue(35)
    qtbot.wait(600)  # the threshold is written once the slider rests
    saved = ViewerSettings.load()
    assert saved.device == "cpu" and saved.threshold == 0.35
    assert saved.recent_files and saved.recent_files[0].endswith("study.nii")
    ViewerSettings.path().write_text("{ broken", encoding="utf-8")
    assert ViewerSettings.load() == ViewerSettings()
    ViewerSettings.path().write_text(json.dumps({"threshold": 7, "device": "quantum", "recent_files": [1, "a"]}))
    odd = ViewerSettings.load()
    assert (odd.threshold, odd.device, odd.recent_files) == (1.0, "auto", ["a"])


def test_main_without_a_path_opens_nothing_when_there_is_no_sample(monkeypatch):
    monkeypatch.setattr(app_main, "sample_study_path", lambda: None)
    assert app_main.sample_study_path() is None
    assert app_main.build_parser().parse_args([]).path is None


def test_the_sample_study_comes_from_the_library(monkeypatch, tmp_path):
    import lesionviewer.sample

    monkeypatch.setattr(lesionviewer.sample, "sample_study_path", lambda: tmp_path / "series")
    assert app_main.sample_study_path() == tmp_path / "series"


def test_a_sample_that_cannot_be_made_is_reported_and_the_viewer_opens_empty(monkeypatch, capsys):
    import lesionviewer.sample

    def broken():
        raise OSError("disk full")

    monkeypatch.setattr(lesionviewer.sample, "sample_study_path", broken)
    assert app_main.sample_study_path() is None
    assert "disk full" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["0", "-3", "middle"])
def test_a_slice_number_counts_from_one(text, capsys):
    with pytest.raises(SystemExit) as exit_info:
        app_main.build_parser().parse_args(["study", "--slice", text])
    assert exit_info.value.code == 2
    assert "a slice number counts from 1" in capsys.readouterr().err
    assert app_main.build_parser().parse_args(["study", "--slice", "7"]).slice == 7


def open_at(make_window, qtbot, tmp_path, number, preset=None):
    window = make_window(open_study=False)
    app_main.open_next_study_at(window, number, preset)
    window.open_path(tmp_path / "study.nii")
    qtbot.waitUntil(lambda: window.state.volume is not None, timeout=5000)
    return window


def test_the_study_opens_at_the_asked_slice_and_detection_starts_there(make_window, qtbot, tmp_path):
    window = open_at(make_window, qtbot, tmp_path, 3)
    assert window.state.slice_index == 2
    wait_for_jobs(qtbot)
    assert window.detector.visited()[0] == 2
    window.open_path(tmp_path / "again.nii")  # only the first study: later ones open at their middle
    qtbot.waitUntil(lambda: window.state.slice_index == 6, timeout=5000)


def test_a_slice_beyond_the_series_opens_its_last_slice(make_window, qtbot, tmp_path):
    assert open_at(make_window, qtbot, tmp_path, 500).state.slice_index == 11


def test_the_study_opens_in_the_asked_window_and_the_next_in_its_own(make_window, qtbot, tmp_path):
    lung = app_main.build_parser().parse_args(["study", "--window", "LUNG"]).window
    window = open_at(make_window, qtbot, tmp_path, None, lung)
    assert (window.state.width, window.state.level) == (1500.0, -600.0)
    assert window.state.slice_index == 6  # no slice asked: the middle
    own = (window.state.default_window[0], window.state.default_window[1])
    assert own != (1500.0, -600.0)
    window.open_path(tmp_path / "again.nii")
    qtbot.waitUntil(lambda: (window.state.width, window.state.level) == own, timeout=5000)


def test_an_unknown_window_preset_is_refused_with_the_known_names(capsys):
    with pytest.raises(SystemExit) as exit_info:
        app_main.build_parser().parse_args(["study", "--window", "abdomen"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "no window preset named 'abdomen'" in err and "Lung, Soft tissue, Liver" in err

"""Loading shows the middle slice first, decoded alone, while the rest of the series decodes."""
from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from lesionviewer.io import find_series, write_dicom_series  # noqa: E402
from lesionviewer_app.main_window import MainWindow  # noqa: E402
from lesionviewer_app.settings import ViewerSettings  # noqa: E402
from test_app_fakes import SlowFakeDetector, make_window, message_boxes, small_volume, wait_for_jobs  # noqa: E402,F401


@pytest.fixture(autouse=True)
def own_home(monkeypatch, tmp_path):
    """Settings and reviews of these tests stay in the test's folder."""
    monkeypatch.setenv("LESIONVIEWER_HOME", str(tmp_path / "home"))


def test_the_middle_slice_is_on_screen_before_the_series_has_decoded(qtbot, tmp_path, message_boxes):
    original = small_volume(num_slices=7, size=32)
    write_dicom_series(original, tmp_path / "ct", series_description="Chest")
    (series,) = find_series(tmp_path / "ct")
    release = threading.Event()
    full_load = series.load

    def slow_load(progress=None, cancel=None):
        assert release.wait(10), "the test never let the load finish"
        return full_load(progress=progress, cancel=cancel)

    series.load = slow_load
    window = MainWindow(ViewerSettings(auto_detect=False), series_finder=lambda folder, **_: [series],
                        review_folder=tmp_path / "reviews", detector_factory=lambda p, d: SlowFakeDetector())
    qtbot.addWidget(window)
    window.show()
    window.open_path(tmp_path / "ct")
    qtbot.waitUntil(lambda: window.axial.preview_lines is not None, timeout=5000)

    assert window.state.volume is None and window.load_job.is_running  # the rest is still decoding
    lines = window.axial.preview_lines["top-left"]
    assert lines[0] == "Chest" and lines[1].startswith("Slice 4/7")
    shown = window.axial.image_item.image
    assert shown.shape == (32, 32)
    # the preview is slice 3 (of 0..6), windowed with the header window (350/50): brighter where HU is higher
    middle = original.hu[3]
    assert shown[16, 16] > shown[0, 0] and (middle[16, 16] > middle[0, 0])
    assert window.axial.image_item.mapRectToParent(window.axial.image_item.boundingRect()).width() == \
        pytest.approx(32 * 0.7)  # in mm: the series' pixel spacing

    release.set()
    qtbot.waitUntil(lambda: window.state.volume is not None, timeout=10000)
    wait_for_jobs(qtbot)
    assert window.axial.preview_lines is None
    assert window.state.slice_index == 3  # the study opens on the slice the preview showed
    assert np.array_equal(window.state.volume.hu, original.hu)


def test_a_cancelled_load_takes_its_preview_away(qtbot, tmp_path, message_boxes):
    write_dicom_series(small_volume(num_slices=5, size=24), tmp_path / "ct")
    (series,) = find_series(tmp_path / "ct")
    release = threading.Event()

    def never(progress=None, cancel=None):
        while not cancel.is_set():
            release.wait(0.01)
        from lesionviewer.io import LoadCancelled
        raise LoadCancelled(tmp_path / "ct", "loading was cancelled")

    series.load = never
    window = MainWindow(ViewerSettings(auto_detect=False), series_finder=lambda folder, **_: [series],
                        review_folder=tmp_path / "reviews")
    qtbot.addWidget(window)
    window.open_path(tmp_path / "ct")
    qtbot.waitUntil(lambda: window.axial.preview_lines is not None, timeout=5000)
    window.cancel_work()
    wait_for_jobs(qtbot)
    assert window.axial.preview_lines is None and window.axial.image_item.image is None
    assert message_boxes.shown == []

"""File > Export DICOM SR: written through the library, or its reason shown as a message."""
from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from lesionviewer.io import write_dicom_series  # noqa: E402
from lesionviewer.review.status import Status  # noqa: E402
from lesionviewer_app.main_window import MainWindow  # noqa: E402
from lesionviewer_app.settings import ViewerSettings  # noqa: E402
from test_app_fakes import SlowFakeDetector, make_window, message_boxes, small_volume, wait_for_jobs  # noqa: E402,F401


@pytest.fixture(autouse=True)
def own_home(monkeypatch, tmp_path):
    """Settings and reviews of these tests stay in the test's folder."""
    monkeypatch.setenv("LESIONVIEWER_HOME", str(tmp_path / "home"))


def test_export_dicom_sr_of_a_dicom_series_and_a_clear_message_without_uids(qtbot, tmp_path, message_boxes):
    pydicom = pytest.importorskip("pydicom")
    pytest.importorskip("highdicom")
    write_dicom_series(small_volume(num_slices=4, size=24), tmp_path / "ct", series_description="SR test")
    window = MainWindow(ViewerSettings(auto_detect=False), review_folder=tmp_path / "reviews",
                        detector_factory=lambda p, d: SlowFakeDetector())
    qtbot.addWidget(window)
    window.open_path(tmp_path / "ct")
    qtbot.waitUntil(lambda: window.state.volume is not None, timeout=10000)
    wait_for_jobs(qtbot)
    window.run_detection([1, 2])
    qtbot.waitUntil(lambda: not window.is_detecting, timeout=5000)
    wait_for_jobs(qtbot)
    session = window.bridge.session
    first = session.findings()[0]
    session.set_status(first.id, Status.ACCEPTED)

    out = tmp_path / "report.dcm"
    assert window.export_sr(out) is True
    sr = pydicom.dcmread(out)
    assert sr.Modality == "SR" and sr.StudyInstanceUID == window.state.volume.meta["StudyInstanceUID"]
    assert message_boxes.shown == []

    # the same study without SOP Instance UIDs in its files: the library's reason, shown as a message
    for path in window.state.volume.meta["source_files"]:
        ds = pydicom.dcmread(path)
        del ds.SOPInstanceUID
        ds.save_as(path)
    assert window.export_sr(tmp_path / "nouid.dcm") is False
    ((kind, title, text),) = message_boxes.shown
    assert title == "Cannot export a DICOM SR" and "has no SOPInstanceUID" in text
    assert not (tmp_path / "nouid.dcm").exists()


def test_a_volume_not_from_dicom_gets_a_message_not_an_sr(make_window, tmp_path):
    window = make_window(settings=ViewerSettings(auto_detect=False))
    assert window.export_sr(tmp_path / "x.dcm") is False
    ((kind, title, text),) = window.messages.shown
    assert title == "Cannot export a DICOM SR" and "needs a study loaded from DICOM files" in text

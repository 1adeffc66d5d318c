"""File > Open from PACS and Findings > Send to PACS, offscreen, against the real Orthanc (DICOMweb,
basic authentication): search, retrieve with progress, open, accept a finding, send the SR, read it back."""
from __future__ import annotations

import pydicom
import pytest

pytest.importorskip("pytestqt")

from lesionviewer.io import write_dicom_series  # noqa: E402
from lesionviewer.pacs import PacsCache, PacsServer, StudyQuery, connect  # noqa: E402
from lesionviewer.pacs.credentials import CredentialStore  # noqa: E402
from lesionviewer.pacs.sr_send import csv_in_sr  # noqa: E402
from lesionviewer.pacs.server_list import load_servers, save_servers, servers_path  # noqa: E402
from lesionviewer.review.status import Status  # noqa: E402
from test_app_fakes import SlowFakeDetector, message_boxes, small_volume, wait_for_jobs  # noqa: E402,F401
from test_pacs_client import shared_orthanc  # noqa: E402


@pytest.fixture(scope="session")
def orthanc(request, tmp_path_factory):
    return shared_orthanc(request, tmp_path_factory)


def test_open_from_pacs_then_send_the_sr_back(qtbot, orthanc, tmp_path, monkeypatch, message_boxes):
    import highdicom as hd

    from lesionviewer_app import pacs_credentials
    from lesionviewer_app.main_window import MainWindow
    from lesionviewer_app.settings import ViewerSettings

    monkeypatch.setenv("LESIONVIEWER_HOME", str(tmp_path / "home"))
    files = write_dicom_series(small_volume(num_slices=4, size=32, uid="1.2.826.0.1.3680043.8.498.77"),
                               tmp_path / "ct", patient_id="GUI-PACS", series_description="gui pacs test")
    orthanc.upload(files)
    save_servers([PacsServer("elsewhere", kind="dimse", ae_title="NOBODY", host="127.0.0.1", port=104)])
    store = CredentialStore(use_keyring=False)
    monkeypatch.setattr(pacs_credentials, "STORE", store)
    asked = []
    monkeypatch.setattr(pacs_credentials.QInputDialog, "getText",
                        staticmethod(lambda *a, **k: (asked.append(a[1]) or orthanc.password, True)))

    window = MainWindow(ViewerSettings(auto_detect=False), review_folder=tmp_path / "reviews",
                        detector_factory=lambda p, d: SlowFakeDetector())
    qtbot.addWidget(window)
    assert window.open_pacs_action.text() == "Open from PACS..."
    from lesionviewer_app.pacs_menu import open_from_pacs

    dialog = open_from_pacs(window, cache=PacsCache(tmp_path / "cache"))
    # the server is added through the form (and saved, without its password)
    from lesionviewer_app.pacs_server_editor import ServerEditor

    editor = ServerEditor(dialog)
    editor.name.setText("test-orthanc")
    editor.url.setText(orthanc.dicomweb_url)
    editor.auth.setCurrentText("basic")
    editor.username.setText(orthanc.user)
    server = editor.to_server()
    dialog.add_server(server)
    assert dialog.server == server and [s.name for s in load_servers()] == ["elsewhere", "test-orthanc"]
    assert orthanc.password not in servers_path().read_text()
    dialog.patient_id.setText("GUI-PACS")
    dialog.modality.setCurrentText("CT")
    dialog.search_button.click()
    qtbot.waitUntil(lambda: dialog.study_table.rowCount() == 1, timeout=10000)
    assert asked == ["PACS test-orthanc"]  # asked once, then remembered for the session
    assert dialog.study_table.item(0, 0).text() == "GUI-PACS"
    dialog.study_table.selectRow(0)
    qtbot.waitUntil(lambda: dialog.series_table.rowCount() == 1 and dialog.retrieve_button.isEnabled(), timeout=10000)
    dialog.retrieve_button.click()
    qtbot.waitUntil(lambda: dialog.open_button.isEnabled(), timeout=20000)
    assert dialog.progress.maximum() == 4
    dialog.open_button.click()
    qtbot.waitUntil(lambda: window.state.volume is not None, timeout=10000)
    wait_for_jobs(qtbot)
    assert window.state.volume.num_slices == 4 and window.pacs_source == server

    window.run_detection([1, 2])
    qtbot.waitUntil(lambda: not window.is_detecting, timeout=10000)
    wait_for_jobs(qtbot)
    session = window.bridge.session
    accepted = session.findings()[0]
    session.set_status(accepted.id, Status.ACCEPTED)
    window.send_pacs_action.trigger()
    qtbot.waitUntil(lambda: any(title == "Send to PACS" for _, title, _ in message_boxes.shown), timeout=20000)
    wait_for_jobs(qtbot)
    ((_, _, text),) = [m for m in message_boxes.shown if m[1] == "Send to PACS"]
    assert "stored on test-orthanc" in text and asked == ["PACS test-orthanc"]

    client = connect(server, orthanc.password)
    (study,) = client.find_studies(StudyQuery(patient_id="GUI-PACS"))
    (sr_series,) = [s for s in client.find_series(study.study_uid) if s.modality == "SR"]
    folder = client.retrieve_series(study.study_uid, sr_series.series_uid, PacsCache(tmp_path / "cache2"))
    (sr_file,) = folder.glob("*.dcm")
    (group,) = hd.sr.srread(sr_file).content.get_planar_roi_measurement_groups()
    table = csv_in_sr(sr_file).splitlines()  # the CSV inside: a header and the accepted finding
    findings = [row for row in table if row.startswith("finding,")]
    assert table[0].startswith("row_type,") and len(findings) == 1 and ",accepted," in findings[0]
    (score,) = [m.value for m in group.get_measurements() if m.name.value == "score"]
    assert float(score) == pytest.approx(accepted.finding.score, abs=1e-6)
    source = pydicom.dcmread(window.state.volume.meta["source_files"][accepted.finding.slice_index],
                             stop_before_pixels=True)
    assert group.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID

"""Detection in the window, the confidence slider, the findings table, decisions, autosave and export."""
from __future__ import annotations

import csv

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF, Qt  # noqa: E402

from lesionviewer.review.session import ReviewSession  # noqa: E402
from lesionviewer.review.status import Status  # noqa: E402
from test_app_fakes import (SlowFakeDetector, drag, make_window, message_boxes, small_volume,  # noqa: E402,F401
                            wait_for_jobs)


def test_opening_runs_the_detector_nearest_the_shown_slice_first(make_window):
    window = make_window()
    detector = window.detector
    assert len(detector.calls) == 1  # one call for the study, as the engine wants it
    assert detector.batches[0] == [6, 7, 5, 8]  # the shown slice, then its neighbours, outward
    session = window.bridge.session
    assert sorted(session.processed_slices) == list(range(12))
    assert session.model_name == "fake-model"
    assert "fake-model" in window.model_label.text()


def test_each_slice_reaches_the_review_as_soon_as_the_detector_reports_it(qtbot):
    from lesionviewer_app.detection_runner import DetectionRunner

    detector = SlowFakeDetector(batch_size=5)
    runner = DetectionRunner(factory=lambda path, device: detector)
    runner.set_model("fake.safetensors")
    arrived = []
    runner.findings_ready.connect(lambda volume, slices, found: arrived.append(
        (slices, [f.slice_index for f in found])))
    runner.start(small_volume(num_slices=7), center_slice=3)
    qtbot.waitUntil(lambda: len(arrived) == 7, timeout=5000)
    wait_for_jobs(qtbot)
    assert detector.calls == [[3, 4, 2, 5, 1, 6, 0]]  # one call, batches of 5 inside it
    # one signal per slice, in visiting order, not one per batch
    assert arrived == [([s], [s]) for s in (3, 4, 2, 5, 1, 6, 0)]


def test_slider_filters_the_boxes_live_and_counts_them(make_window):
    window = make_window()
    panel = window.panel
    panel.slider.setValue(50)
    assert panel.threshold_label.text().startswith("9 of 12")
    assert panel.table.rowCount() == 9
    panel.slider.setValue(80)
    assert window.bridge.session.threshold == 0.8
    assert panel.table.rowCount() == 3  # 0.95 on slice 6 and 0.85 on slices 5 and 7
    window.state.set_slice(4)  # a 0.75 finding: hidden at 0.8
    assert window.axial.boxes.boxes == []
    panel.slider.setValue(70)
    assert len(window.axial.boxes.boxes) == 1
    assert window.axial.boxes.boxes[0].label == "0.75"


def test_clicking_a_row_jumps_to_the_finding(make_window, qtbot):
    window = make_window()
    table = window.panel.table
    row = next(r for r in range(table.rowCount()) if table.item(r, 1).text() == "10")  # slice 10 (index 9)
    rect = table.visualItemRect(table.item(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.LeftButton, pos=rect.center())
    assert window.state.slice_index == 9
    assert window.state.cursor[1:] == (20, 40)  # the box centre
    assert window.axial.boxes.boxes[0].selected


def test_keys_step_through_findings_and_decide(make_window, qtbot):
    window = make_window()
    session = window.bridge.session
    window.state.set_slice(0)
    qtbot.keyClick(window.axial, Qt.Key_N)
    assert window.state.slice_index == 2  # the first visible finding (slices 2..10 score >= 0.5)
    first = window.panel.current_id
    qtbot.keyClick(window.axial, Qt.Key_A)
    assert session.finding(first).status.value == "accepted"
    qtbot.keyClick(window.axial, Qt.Key_N)
    second = window.panel.current_id
    assert window.state.slice_index == 3
    qtbot.keyClick(window.axial, Qt.Key_X)
    assert session.finding(second).status.value == "rejected"
    qtbot.keyClick(window.axial, Qt.Key_P)
    assert window.panel.current_id == first
    statuses = [window.panel.table.item(r, 6).text() for r in range(2)]
    assert statuses == ["accepted", "rejected"]


def test_a_note_is_kept_in_the_session(make_window, qtbot):
    window = make_window()
    window.panel.choose(window.bridge.session.findings()[0].id)
    fid = window.panel.current_id
    window.panel.note_field.setText("calcified, likely benign")
    window.panel.note_field.editingFinished.emit()
    assert window.bridge.session.finding(fid).note == "calcified, likely benign"


def test_decisions_autosave_and_come_back_when_the_series_is_reopened(make_window, tmp_path):
    reviews = tmp_path / "shared_reviews"
    window = make_window(review_folder=reviews)
    session = window.bridge.session
    fid = session.findings()[0].id
    window.panel.choose(fid)
    window.panel.set_status(Status.REJECTED)
    window.panel.slider.setValue(30)
    # straight from disk, as a process restarted after a kill would see it
    on_disk = ReviewSession.open(small_volume(), folder=reviews)
    assert on_disk.finding(fid).status.value == "rejected"
    assert on_disk.threshold == 0.3
    # and a new window on the same series restores it without running the detector again
    again = make_window(review_folder=reviews, detector=SlowFakeDetector())
    assert again.bridge.session.finding(fid).status.value == "rejected"
    assert again.panel.slider.value() == 30
    assert again.detector.calls == []


def test_a_cancelled_run_resumes_only_the_missing_slices(make_window, tmp_path, qtbot):
    reviews = tmp_path / "r"
    slow = SlowFakeDetector(delay=0.05)
    window = make_window(review_folder=reviews, detector=slow, open_study=False)
    window.open_path(tmp_path / "study.nii")
    qtbot.waitUntil(lambda: len(slow.batches) >= 2, timeout=5000)
    window.cancel_button.click()
    wait_for_jobs(qtbot)
    done = set(window.bridge.session.processed_slices)
    assert 0 < len(done) < 12
    again = make_window(review_folder=reviews, detector=SlowFakeDetector())
    redone = {s for call in again.detector.calls for s in call}
    assert redone == set(range(12)) - done


def test_rerun_with_another_model_replaces_pending_keeps_decided(make_window, qtbot):
    window = make_window()
    session = window.bridge.session
    kept = session.findings()[0].id
    session.set_status(kept, "accepted")
    window.runner.factory = lambda path, device: SlowFakeDetector(name="second-model")
    window.runner._detector = None
    window.run_detection()
    wait_for_jobs(qtbot)
    assert session.model_name == "second-model"
    assert session.finding(kept).status.value == "accepted"
    assert len(session.findings()) == 12  # one per slice: the accepted one is not duplicated


def test_export_writes_the_library_csv(make_window, tmp_path):
    window = make_window()
    session = window.bridge.session
    session.set_status(session.findings()[0].id, "accepted")
    assert session.dirty_since_export
    target = tmp_path / "out" / "findings.csv"
    target.parent.mkdir()
    assert window.export_csv(target)
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert len(rows) >= 9
    assert not session.dirty_since_export
    assert "Doe^Jane" not in target.read_text(encoding="utf-8")  # no patient name unless ticked


def test_closing_with_unexported_decisions_asks_first(make_window):
    window = make_window()
    session = window.bridge.session
    session.set_status(session.findings()[0].id, "rejected")
    window.messages.answer = window.messages.Cancel
    window.close()
    assert window.isVisible()  # "Cancel" keeps the window open
    assert any(kind == "question" for kind, *_ in window.messages.shown)
    window.messages.answer = window.messages.No
    window.close()
    assert not window.isVisible()


def test_ruler_and_recist_measurements_are_kept_in_the_session(make_window):
    window = make_window()
    view = window.axial

    def to_view(x, y):
        p = view.mapFromScene(view.image_item.mapToScene(QPointF(x, y)))
        return (p.x(), p.y())

    window.set_tool("ruler")
    width_before = window.state.width
    drag(view, to_view(10, 10), to_view(30, 10))
    assert window.state.width == width_before  # the drag measured, it did not window
    (ruler,) = window.bridge.session.measurements()
    assert ruler.kind == "ruler" and ruler.lengths_mm[0] == pytest.approx(20 * 0.7, abs=0.3)
    window.set_tool("recist")
    drag(view, to_view(10, 40), to_view(30, 40))
    assert len(window.bridge.session.measurements()) == 1  # waiting for the short axis
    drag(view, to_view(20, 35), to_view(20, 45))
    recist = window.bridge.session.measurements()[1]
    assert recist.kind == "recist"
    assert recist.lengths_mm[0] == pytest.approx(14.0, abs=0.3)
    assert recist.lengths_mm[1] == pytest.approx(7.0, abs=0.3)
    assert window.panel.measurements.count() == 2
    assert len(window.tools.overlay.segments) == 3  # drawn on the slice


def test_a_study_reopened_after_the_model_file_changed_is_detected_again_keeping_decisions_and_notes(
        make_window, tmp_path, qtbot):
    from lesionviewer_app.main_window_detection import MODEL_CHANGED_MESSAGE

    reviews = tmp_path / "r"

    def window_with_model_file(fingerprint, detector):
        window = make_window(review_folder=reviews, detector=detector, open_study=False)
        window._current_model_fingerprint = lambda: fingerprint  # as read from the model file on disk
        window.shown_messages = []
        window.statusBar().messageChanged.connect(window.shown_messages.append)
        window.open_path(tmp_path / "study.nii")
        qtbot.waitUntil(lambda: window.state.volume is not None, timeout=5000)
        wait_for_jobs(qtbot)
        return window

    first = window_with_model_file("sha256:old", SlowFakeDetector())
    session = first.bridge.session
    assert session.model_fingerprint == "sha256:old"
    accepted, noted, plain = (f.id for f in session.findings()[:3])
    session.set_status(accepted, "accepted")
    session.set_note(noted, "compare with the 2019 study")
    session.flush()

    same = window_with_model_file("sha256:old", SlowFakeDetector())
    assert same.detector.calls == []  # the same file: nothing to redo

    newer = SlowFakeDetector()
    changed = window_with_model_file("sha256:new", newer)
    assert newer.calls == [[6, 7, 5, 8, 4, 9, 3, 10, 2, 11, 1, 0]]  # the whole study again
    assert MODEL_CHANGED_MESSAGE in changed.shown_messages
    assert MODEL_CHANGED_MESSAGE not in same.shown_messages
    again = changed.bridge.session
    assert again.model_fingerprint == "sha256:new"
    assert again.finding(accepted).status.value == "accepted"
    assert again.finding(noted).note == "compare with the 2019 study"
    with pytest.raises(KeyError):
        again.finding(plain)  # a pending finding without a note is replaced by the new run's
    assert len(again.findings()) == 12  # one per slice: the kept two are not found twice

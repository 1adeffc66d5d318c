"""The review session's rules (lesionviewer.review.session), each from an independent expectation.

What a radiologist relies on: a decision is saved before anyone hears of it; a re-run replaces only
what nobody decided; a saved review that cannot be used is kept aside, never overwritten; nothing
the radiologist did is lost when the disk says no. The numbers (IoU of hand-drawn boxes, slice
ranges) are worked by hand next to each assertion.
"""
from __future__ import annotations

import json
import os
import re
import time

import numpy as np
import pytest

from lesionviewer.detection.finding import Finding
from lesionviewer.io import Volume
from lesionviewer.review import ChangeKind, Measurement, ReviewSession, Status
from lesionviewer.review import session as session_module


def volume(n=10, uid="1.2.840.99.1", study="1.2.840.99", description="CT chest"):
    return Volume(np.zeros((n, 16, 16), np.int16), (2.0, 0.5, 0.5),
                  meta={"SeriesInstanceUID": uid, "StudyInstanceUID": study, "SeriesDescription": description})


def finding(z, box=(0, 0, 10, 10), score=0.8):
    return Finding(z, box, score, "m")


def ruler(z=0, length=5.0):
    return Measurement("ruler", z, ((0.0, 0.0), (length, 0.0)), (length,))


class Events(list):
    def kinds(self):
        return [e.kind for e in self]


def watched(s):
    events = Events()
    s.subscribe(events.append)
    return events


def saved(s):
    return json.loads(s.path.read_text(encoding="utf-8"))


@pytest.fixture
def clock(monkeypatch):
    """A settable monotonic clock for the save throttle (the session reads time.monotonic)."""
    now = [1000.0]
    monkeypatch.setattr(session_module.time, "monotonic", lambda: now[0])
    return now


# --- construction ---

@pytest.mark.parametrize("key", ["", "a/b", "../x", "1.2 3"])
def test_a_key_that_is_not_a_safe_file_name_is_refused(key):
    with pytest.raises(ValueError, match=re.escape(f"{key!r} is not a valid series key")):
        ReviewSession(key)


def test_a_new_session_starts_empty_at_threshold_one_half():
    s = ReviewSession("k.1", series_uid="u", study_uid="st", series_description="d", num_slices=3)
    assert (s.key, s.series_uid, s.study_uid, s.series_description, s.num_slices) == ("k.1", "u", "st", "d", 3)
    assert (s.threshold, s.model_name, s.model_version, s.processed_slices) == (0.5, "", "", frozenset())
    assert (s.dirty_since_export, s.last_export, s.risk, s.path) == (False, None, None, None)
    assert (s.warnings, s.autosave_error, s.findings(), s.measurements()) == ([], None, [], [])


# --- opening ---

def test_open_without_a_file_starts_fresh_and_saves_there_on_the_first_change(tmp_path):
    s = ReviewSession.open("7.7", folder=tmp_path)
    assert s.path == tmp_path / "7.7.json" and not s.path.exists() and s.warnings == []
    s.set_threshold(0.3)
    assert saved(s)["threshold"] == 0.3


def test_open_restores_everything_saved(tmp_path):
    s = ReviewSession.open(volume(), folder=tmp_path)
    s.begin_run("net", "3")
    (a, b) = s.add_findings([finding(2), finding(4, score=0.3)], slices=[2, 3, 4])
    s.set_status(a, "accepted")
    s.set_note(b, "vessel")
    m = s.add_measurement(ruler(1))
    s.set_threshold(0.25)
    s.flush()
    again = ReviewSession.open(volume(), folder=tmp_path)
    assert [(f.id, f.status, f.note) for f in again.findings()] == [(a, Status.ACCEPTED, ""), (b, Status.PENDING, "vessel")]
    assert [x.id for x in again.measurements()] == [m]
    assert (again.threshold, again.model_name, again.model_version) == (0.25, "net", "3")
    assert again.processed_slices == frozenset({2, 3, 4}) and again.dirty_since_export
    assert again.add_findings([finding(6)]) == ["F3"]  # ids go on from the saved ones


def test_open_fills_only_what_the_saved_review_leaves_empty(tmp_path):
    first = ReviewSession.open(volume(), folder=tmp_path)
    first.series_description = "named by the radiologist"
    first.save()
    again = ReviewSession.open(volume(description="CT chest 1 mm"), folder=tmp_path)
    assert again.series_description == "named by the radiologist"
    assert (again.series_uid, again.study_uid) == ("1.2.840.99.1", "1.2.840.99")


def test_a_series_whose_slice_count_changed_is_warned_about(tmp_path):
    vol = volume(n=10)
    s = ReviewSession.open(vol, folder=tmp_path)
    s.num_slices = 12  # as if the review had been made when the series had 12 slices
    s.save()
    again = ReviewSession.open(vol, folder=tmp_path)
    assert again.warnings == ["This series now has 10 slices but the saved review was made on 12; "
                              "findings may not sit on the right slices."]
    assert again.num_slices == 10
    again.set_threshold(0.3)  # the next save records the new count: no warning after it
    assert ReviewSession.open(vol, folder=tmp_path).warnings == []
    same = ReviewSession("5.2", num_slices=10)
    same._adopt_volume(volume(n=10))
    assert same.warnings == []


def test_a_corrupt_review_is_kept_aside_and_a_new_one_autosaves(tmp_path):
    (tmp_path / "3.3.json").write_text("{ not json", encoding="utf-8")
    s = ReviewSession.open("3.3", folder=tmp_path)
    kept = [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(kept) == 1 and kept[0].startswith("3.3.json.corrupt-")
    assert (tmp_path / kept[0]).read_text(encoding="utf-8") == "{ not json"
    assert len(s.warnings) == 1
    assert s.warnings[0].startswith(f"The saved review could not be used: review file {tmp_path / '3.3.json'}: ")
    assert s.warnings[0].endswith(f"; it was kept as {kept[0]}. A new review was started.")
    assert s.path == tmp_path / "3.3.json"
    s.set_threshold(0.4)
    assert saved(s)["threshold"] == 0.4


def test_a_review_from_a_newer_version_is_kept_as_unsupported(tmp_path):
    (tmp_path / "3.4.json").write_text(json.dumps({"format_version": 999, "series_key": "3.4"}), encoding="utf-8")
    s = ReviewSession.open("3.4", folder=tmp_path)
    assert [p.name.split("-")[0] for p in tmp_path.iterdir() if p.name != "3.4.json"] == ["3.4.json.unsupported"]
    assert "written by a newer LesionViewer" in s.warnings[0] and "kept as 3.4.json.unsupported-" in s.warnings[0]


def test_a_review_saved_for_another_series_is_not_adopted(tmp_path):
    other = ReviewSession("8.8", path=tmp_path / "8.9.json")
    other.add_findings([finding(0)])
    other.save()
    s = ReviewSession.open("8.9", folder=tmp_path)
    assert s.findings() == []
    assert "belongs to series '8.8', not '8.9'" in s.warnings[0]
    assert any(p.name.startswith("8.9.json.corrupt-") for p in tmp_path.iterdir())


def test_a_bad_review_that_cannot_be_moved_turns_autosave_off_to_protect_it(tmp_path, monkeypatch):
    (tmp_path / "4.4.json").write_text("junk", encoding="utf-8")

    def refuse(path, label):
        raise PermissionError("read-only folder")

    monkeypatch.setattr(session_module, "set_aside", refuse)
    s = ReviewSession.open("4.4", folder=tmp_path)
    assert s.path is None  # never overwrite the file we could not keep
    assert s.warnings[0].endswith("it could not be set aside (read-only folder); autosave is off to protect it. "
                                  "A new review was started.")
    s.set_threshold(0.2)
    assert (tmp_path / "4.4.json").read_text(encoding="utf-8") == "junk"


def test_without_a_user_data_folder_the_review_lives_in_memory_and_says_so(monkeypatch):
    def no_folder(key, folder=None):
        raise PermissionError("home is read-only")

    monkeypatch.setattr(session_module, "review_path", no_folder)
    s = ReviewSession.open(volume(n=4))
    assert s.path is None and s.num_slices == 4 and s.series_uid == "1.2.840.99.1"
    assert s.warnings == ["Reviews cannot be saved (home is read-only); this review will be lost on closing."]
    s.set_threshold(0.7)  # works in memory
    assert s.threshold == 0.7


def test_stale_temporaries_of_a_killed_save_are_removed_on_opening(tmp_path):
    stale = tmp_path / ".2.2.json.abc.tmp"
    stale.write_text("half", encoding="utf-8")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    ReviewSession.open("2.2", folder=tmp_path)
    assert not stale.exists()


# --- saving ---

def test_save_without_a_file_is_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"^this review session has no file \(create it with ReviewSession.open\)$"):
        ReviewSession("1.1").save()


def test_every_radiologist_change_is_on_disk_before_observers_hear_of_it(tmp_path):
    s = ReviewSession.open("1.3", folder=tmp_path)
    (fid,) = s.add_findings([finding(0)])
    seen_on_disk = []
    s.subscribe(lambda e: seen_on_disk.append((e.kind, saved(s))))
    s.set_status(fid, "rejected")
    s.set_note(fid, "rib")
    mid = s.add_measurement(ruler())
    s.set_threshold(0.9)
    s.remove_measurement(mid)
    kinds = [k for k, _ in seen_on_disk]
    assert kinds == [ChangeKind.STATUS, ChangeKind.NOTE, ChangeKind.MEASUREMENTS, ChangeKind.THRESHOLD,
                     ChangeKind.MEASUREMENTS]
    assert seen_on_disk[0][1]["findings"][0]["status"] == "rejected"
    assert seen_on_disk[1][1]["findings"][0]["note"] == "rib"
    assert len(seen_on_disk[2][1]["measurements"]) == 1
    assert seen_on_disk[3][1]["threshold"] == 0.9
    assert seen_on_disk[4][1]["measurements"] == []


def test_detector_output_saves_at_most_once_a_second_and_flush_writes_the_rest(tmp_path, clock):
    s = ReviewSession.open("1.4", folder=tmp_path)
    s.add_findings([finding(0)], slices=[0])          # the first save: nothing saved before
    assert saved(s)["processed_slices"] == [0]
    clock[0] += 0.5
    s.add_findings([finding(1)], slices=[1])          # half a second later: held back
    assert saved(s)["processed_slices"] == [0]
    clock[0] += 0.49
    s.add_findings([], slices=[2])                    # 0.99 s after the save: still held back
    assert saved(s)["processed_slices"] == [0]
    clock[0] += 0.01
    s.add_findings([], slices=[3])                    # exactly one second: saved, with the held-back ones
    assert saved(s)["processed_slices"] == [0, 1, 2, 3]
    s.add_findings([], slices=[4])
    s.flush()
    assert saved(s)["processed_slices"] == [0, 1, 2, 3, 4]


def test_a_decision_takes_held_back_detector_output_with_it(tmp_path, clock):
    s = ReviewSession.open("1.5", folder=tmp_path)
    (a,) = s.add_findings([finding(0)], slices=[0])
    s.add_findings([finding(5)], slices=[5])  # held back
    s.set_status(a, "accepted")
    assert saved(s)["processed_slices"] == [0, 5] and len(saved(s)["findings"]) == 2


def test_flush_with_nothing_held_back_writes_nothing(tmp_path):
    s = ReviewSession.open("1.6", folder=tmp_path)
    s.flush()
    assert not s.path.exists()


def test_a_failed_save_keeps_the_change_says_why_and_the_next_save_writes_it(tmp_path, monkeypatch):
    s = ReviewSession.open("1.7", folder=tmp_path)
    events = watched(s)

    def full_disk(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(session_module, "atomic_write_text", full_disk)
    s.set_threshold(0.6)
    assert s.threshold == 0.6
    assert s.autosave_error == f"could not save the review to {tmp_path / '1.7.json'}: [Errno 28] No space left on device"
    assert events.kinds() == [ChangeKind.THRESHOLD, ChangeKind.SAVE_FAILED]
    monkeypatch.undo()
    s.flush()  # the held change is written now
    assert saved(s)["threshold"] == 0.6 and s.autosave_error is None


def test_flush_that_fails_again_says_so_again(tmp_path, monkeypatch):
    s = ReviewSession.open("1.8", folder=tmp_path)
    events = watched(s)
    monkeypatch.setattr(session_module, "atomic_write_text", lambda p, t: (_ for _ in ()).throw(OSError("gone")))
    s.set_threshold(0.6)
    s.flush()
    assert events.kinds() == [ChangeKind.THRESHOLD, ChangeKind.SAVE_FAILED, ChangeKind.SAVE_FAILED]


def test_a_session_without_a_file_never_reports_a_failed_save():
    s = ReviewSession("1.9")
    events = watched(s)
    s.add_findings([finding(0)])
    s.flush()
    assert events.kinds() == [ChangeKind.FINDINGS] and s.autosave_error is None


# --- slices ---

def test_slices_outside_the_series_are_refused_with_its_range():
    s = ReviewSession("2.1", num_slices=5)
    with pytest.raises(ValueError, match=re.escape("slice 5 is outside this series (0..4)")):
        s.add_findings([], slices=[5])
    with pytest.raises(ValueError, match=re.escape("slice -1 is outside this series (0..4)")):
        s.add_findings([], slices=[-1])
    with pytest.raises(ValueError, match=re.escape("slice 7 is outside this series (0..4)")):
        s.add_findings([finding(7)])
    with pytest.raises(ValueError, match=re.escape("slice 5 is outside this series (0..4)")):
        s.add_measurement(ruler(5))
    assert s.add_findings([finding(4)], slices=[0, 4]) == ["F1"]  # both ends are inside
    assert s.processed_slices == frozenset({0, 4})


def test_without_a_slice_count_any_slice_from_zero_up_is_taken():
    s = ReviewSession("2.2")
    assert s.add_findings([finding(900)]) == ["F1"]
    with pytest.raises(ValueError, match=re.escape("slice -2 is outside this series (0..0)")):
        s.add_findings([], slices=[-2])
    with pytest.raises(ValueError, match=re.escape("the number of slices is unknown (open the session with a Volume)")):
        s.unprocessed_slices()


def test_unprocessed_slices_are_the_rest_in_order():
    s = ReviewSession("2.3", num_slices=6)
    s.add_findings([finding(4)], slices=[1, 3])
    assert s.unprocessed_slices() == [0, 2, 5]


# --- runs and findings ---

def test_a_new_run_records_the_model_as_text_and_drops_only_pending_findings():
    s = ReviewSession("3.1")
    events = watched(s)
    a, b, c = s.add_findings([finding(0), finding(1), finding(2)])
    s.set_status(a, "accepted")
    s.set_status(b, "rejected")
    s.begin_run("net", 4)
    assert (s.model_name, s.model_version) == ("net", "4")
    assert [f.id for f in s.findings()] == [a, b] and s.processed_slices == frozenset()
    assert events[-1].kind == ChangeKind.MODEL and events[-1].ids == (c,)


def test_a_new_run_may_keep_pending_findings_until_their_slices_are_done():
    s = ReviewSession("3.2")
    a, b = s.add_findings([finding(0), finding(1)])
    s.begin_run("net", keep_pending=True)
    assert [f.id for f in s.findings()] == [a, b] and s.processed_slices == frozenset()
    assert s.add_findings([], slices=[0]) == []
    assert [f.id for f in s.findings()] == [b]


def test_findings_get_ids_by_slice_then_by_falling_score_and_carry_the_run_version():
    s = ReviewSession("3.3")
    s.begin_run("net", "v1")
    ids = s.add_findings([finding(5, score=0.2), finding(2, score=0.6, box=(20, 20, 30, 30)),
                          finding(2, score=0.9)])
    assert ids == ["F1", "F2", "F3"]
    assert [(f.id, f.slice_index, f.score) for f in (s.finding(i) for i in ids)] == [
        ("F1", 2, 0.9), ("F2", 2, 0.6), ("F3", 5, 0.2)]
    assert {s.finding(i).model_version for i in ids} == {"v1"}
    (other,) = s.add_findings([finding(6)], model_version="v2")
    assert s.finding(other).model_version == "v2"


def test_a_batch_covers_its_findings_slices_even_when_slices_leaves_them_out():
    s = ReviewSession("3.4")
    (old,) = s.add_findings([finding(3)])
    s.add_findings([finding(3, box=(40, 40, 50, 50))], slices=[1])
    assert old not in [f.id for f in s.findings()]  # slice 3 was covered by the new finding on it
    assert s.processed_slices == frozenset({1, 3})


def test_slices_listed_twice_or_unsorted_are_reported_once_in_order():
    s = ReviewSession("3.5")
    events = watched(s)
    s.add_findings([finding(2)], slices=[4, 2, 4, 0])
    assert events[0].kind == ChangeKind.FINDINGS and events[0].ids == ("F1",) and events[0].slices == (0, 2, 4)


def test_a_rerun_finding_overlapping_a_decided_one_by_half_is_the_same_lesion():
    # decided box 0..10 x 0..10 (area 100); new 0..10 x 0..5: overlap 50, union 100, IoU exactly 0.5
    s = ReviewSession("3.6")
    (decided,) = s.add_findings([finding(1)])
    s.set_status(decided, "rejected")
    assert s.add_findings([finding(1, box=(0, 0, 10, 5))], slices=[1]) == []
    # new 0..10 x 0..4.9: overlap 49, union 100, IoU 0.49: another lesion
    assert s.add_findings([finding(1, box=(0, 0, 10, 4.9))], slices=[1]) == ["F2"]
    # the same box on another slice is another lesion too
    assert s.add_findings([finding(2)], slices=[2]) == ["F3"]


def test_decided_findings_outside_the_batch_do_not_block_it():
    s = ReviewSession("3.7")
    (decided,) = s.add_findings([finding(1)])
    s.set_status(decided, "accepted")
    # the batch covers slice 2 only: the accepted finding on slice 1 is no duplicate of it
    assert s.add_findings([finding(2)], slices=[2]) == ["F2"]


@pytest.mark.parametrize("bad, error, message", [
    ("not a finding", TypeError, "add_findings takes Finding objects, got str"),
    (Finding(0, (0, 0, 1, 1), float("nan"), "m"), ValueError, "finding on slice 0 has a non-finite score nan"),
    (Finding(0, (0, 0, 1, 1), float("inf"), "m"), ValueError, "finding on slice 0 has a non-finite score inf"),
])
def test_a_bad_finding_is_refused_and_nothing_of_the_batch_is_kept(bad, error, message):
    s = ReviewSession("3.8")
    with pytest.raises(error, match=re.escape(message)):
        s.add_findings([finding(0), bad])
    assert s.findings() == [] and s.processed_slices == frozenset()


# --- decisions, notes, measurements, threshold ---

def test_a_decision_is_the_radiologists_work_and_repeating_it_changes_nothing():
    s = ReviewSession("4.1")
    (fid,) = s.add_findings([finding(3)])
    events = watched(s)
    s.set_status(fid, Status.ACCEPTED)
    s.set_status(fid, "accepted")
    assert [(e.kind, e.ids, e.slices) for e in events] == [(ChangeKind.STATUS, (fid,), (3,))]
    assert s.dirty_since_export
    with pytest.raises(KeyError):
        s.set_status("F99", "accepted")


def test_notes_on_findings_and_measurements_and_an_unchanged_note_is_no_change():
    s = ReviewSession("4.2")
    (fid,) = s.add_findings([finding(2)])
    mid = s.add_measurement(ruler(4))
    s.mark_exported("x.csv")
    events = watched(s)
    s.set_note(mid, "RECIST target 1")
    s.set_note(mid, "RECIST target 1")
    s.set_note(fid, "cyst")
    s.set_note(fid, "cyst")
    assert [(e.kind, e.ids, e.slices) for e in events] == [(ChangeKind.NOTE, (mid,), (4,)), (ChangeKind.NOTE, (fid,), (2,))]
    assert s.measurements()[0].note == "RECIST target 1" and s.finding(fid).note == "cyst"
    assert s.dirty_since_export
    with pytest.raises(TypeError, match="a note is text, got int"):
        s.set_note(fid, 5)


def test_a_note_change_is_re_encoded_in_the_saved_file(tmp_path):
    s = ReviewSession.open("4.3", folder=tmp_path)
    (fid,) = s.add_findings([finding(2)])
    s.set_note(fid, "first")
    s.set_note(fid, "second")
    s.set_status(fid, "rejected")
    s.set_status(fid, "pending")
    (row,) = saved(s)["findings"]
    assert (row["note"], row["status"]) == ("second", "pending")


def test_measurements_get_new_ids_and_removing_an_unknown_one_names_it():
    s = ReviewSession("4.4")
    events = watched(s)
    assert [s.add_measurement(ruler(1)), s.add_measurement(ruler(2))] == ["M1", "M2"]
    s.remove_measurement("M1")
    assert s.add_measurement(ruler(3)) == "M3"  # never reused
    assert [m.id for m in s.measurements()] == ["M2", "M3"]
    assert [(e.kind, e.ids, e.slices) for e in events] == [
        (ChangeKind.MEASUREMENTS, ("M1",), (1,)), (ChangeKind.MEASUREMENTS, ("M2",), (2,)),
        (ChangeKind.MEASUREMENTS, ("M1",), (1,)), (ChangeKind.MEASUREMENTS, ("M3",), (3,))]
    with pytest.raises(KeyError, match="no measurement M9 in this review"):
        s.remove_measurement("M9")


def test_the_threshold_takes_both_ends_refuses_beyond_and_ignores_the_same_value():
    s = ReviewSession("4.5")
    events = watched(s)
    s.set_threshold(0)
    s.set_threshold(1)
    s.set_threshold("1.0")
    assert s.threshold == 1.0 and events.kinds() == [ChangeKind.THRESHOLD, ChangeKind.THRESHOLD]
    for bad in (-0.01, 1.01, float("nan")):
        with pytest.raises(ValueError, match="the confidence threshold must be between 0 and 1"):
            s.set_threshold(bad)
    assert not s.dirty_since_export  # the slider is not the radiologist's findings


# --- export and risk ---

def test_an_export_is_recorded_with_its_path_and_utc_time_and_clears_dirty(tmp_path):
    s = ReviewSession.open("5.5", folder=tmp_path)
    s.add_measurement(ruler())
    events = watched(s)
    before = time.gmtime()
    s.mark_exported(tmp_path / "out.csv")
    record = s.last_export
    assert record["path"] == str(tmp_path / "out.csv")
    stamp = time.strptime(record["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(time.mktime(stamp) - time.mktime(before)) <= 2
    assert not s.dirty_since_export and events.kinds() == [ChangeKind.EXPORTED]
    assert saved(s)["last_export"] == record and saved(s)["dirty_since_export"] is False
    record["path"] = "changed"
    assert s.last_export["path"] == str(tmp_path / "out.csv")  # a copy, not the session's own


def test_a_risk_score_is_kept_copied_and_cleared_without_making_the_review_dirty(tmp_path):
    s = ReviewSession.open("5.6", folder=tmp_path)
    events = watched(s)
    s.set_risk({"probability": 0.3, "model_name": "risk"}, model_version="1")
    s.set_risk({"probability": 0.3, "model_name": "risk"}, model_version="1")  # the same: no change
    assert events.kinds() == [ChangeKind.RISK]
    assert saved(s)["risk"]["probability"] == 0.3
    s.risk["probability"] = 0.9
    assert s.risk["probability"] == 0.3
    s.set_risk(None)
    assert s.risk is None and saved(s)["risk"] is None and not s.dirty_since_export
    assert events.kinds() == [ChangeKind.RISK, ChangeKind.RISK]


# --- found by mutation testing (issue 18): each fails on the mutant named ---

def test_a_review_saved_under_the_bare_series_uid_is_adopted_when_the_series_opens(tmp_path):
    # an earlier version saved reviews as <SeriesInstanceUID>.json; opening the volume moves it to its key
    vol = volume(n=10)
    old = {"format_version": 1, "series_key": "1.2.840.99.1", "num_slices": 10, "threshold": 0.35}
    (tmp_path / "1.2.840.99.1.json").write_text(json.dumps(old), encoding="utf-8")
    s = ReviewSession.open(vol, folder=tmp_path)
    assert s.threshold == 0.35 and s.key != "1.2.840.99.1" and s.warnings == []
    assert (tmp_path / f"1.2.840.99.1.json.moved-to-{s.key}").is_file()
    # opening by key alone never adopts anything (there is no volume to check the file against)
    (tmp_path / "5.5.5.json").write_text(json.dumps({**old, "series_key": "5.5.5"}), encoding="utf-8")
    assert ReviewSession.open("5.5.5", folder=tmp_path).threshold == 0.35  # its own file, read as it is
    assert sorted(p.name for p in tmp_path.iterdir() if "moved" in p.name) == [f"1.2.840.99.1.json.moved-to-{s.key}"]


def test_a_save_clears_what_was_held_back_so_flush_writes_nothing_more(tmp_path, monkeypatch):
    s = ReviewSession.open("6.1", folder=tmp_path)
    writes = []
    real = session_module.atomic_write_text
    monkeypatch.setattr(session_module, "atomic_write_text", lambda p, t: (writes.append(p), real(p, t)))
    s.set_threshold(0.3)
    s.flush()
    assert len(writes) == 1


def test_a_new_run_without_a_version_records_an_empty_version():
    s = ReviewSession("6.2")
    s.begin_run("net", "7")
    s.begin_run("other")
    assert (s.model_name, s.model_version) == ("other", "")


def test_unprocessed_slices_without_a_count_says_exactly_why():
    with pytest.raises(ValueError, match=r"^the number of slices is unknown \(open the session with a Volume\)$"):
        ReviewSession("6.3").unprocessed_slices()


def test_every_kind_of_the_radiologists_work_makes_the_review_dirty_on_its_own():
    s = ReviewSession("6.4")
    (fid,) = s.add_findings([finding(1)])
    mid = s.add_measurement(ruler(2))
    changes = [lambda: s.set_note(mid, "target"), lambda: s.set_note(fid, "cyst"), lambda: s.remove_measurement(mid),
               lambda: s.set_status(fid, "accepted"), lambda: s.add_measurement(ruler(3))]
    for change in changes:
        s.mark_exported("x.csv")
        change()
        assert s.dirty_since_export


def test_the_export_time_is_utc_whatever_the_local_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # UTC+9 all year, no summer time
    time.tzset()
    try:
        s = ReviewSession("6.5")
        before = time.time()
        s.mark_exported("x.csv")
        stamp = s.last_export["time"]
        utc = [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(before + d)) for d in (0, 1, 2)]
        assert stamp in utc  # a local (Tokyo) stamp would be 9 hours off
    finally:
        monkeypatch.undo()
        time.tzset()

"""ReviewSession: findings with decisions, the re-run rule, threshold, navigation, measurements, events."""
from __future__ import annotations

import numpy as np
import pytest

from lesionviewer.detection.finding import Finding
from lesionviewer.io import Volume
from lesionviewer.review import ChangeKind, Measurement, ReviewSession, Status, series_key


@pytest.fixture
def volume():
    return Volume(
        np.zeros((20, 64, 64), np.int16),
        spacing=(2.5, 0.7, 0.7),
        origin=(-22.4, -22.4, -100.0),
        meta={"SeriesInstanceUID": "1.2.826.0.1.5", "StudyInstanceUID": "1.2.826.0.1", "SeriesDescription": "CT abd"},
    )


def box(volume, z, x, y, size=10, score=0.8, model="mp3d63"):
    return Finding.from_pixel_box(volume, z, (x, y, x + size, y + size), score, model)


def test_open_fills_series_fields_from_the_volume(volume):
    s = ReviewSession.open(volume)
    assert (s.key, s.series_uid, s.study_uid, s.series_description, s.num_slices) == (
        series_key(volume), "1.2.826.0.1.5", "1.2.826.0.1", "CT abd", 20)
    assert s.key.startswith("1.2.826.0.1.5-")  # the UID and a hash of the content
    assert s.warnings == [] and s.findings() == [] and s.threshold == 0.5


def test_ids_are_stable_and_never_reused(volume):
    s = ReviewSession.open(volume)
    ids = s.add_findings([box(volume, 3, 5, 5), box(volume, 3, 30, 30, score=0.9)], slices=[3])
    assert sorted(ids) == ["F1", "F2"]
    again = s.add_findings([box(volume, 3, 5, 5)], slices=[3])  # pending ones replaced: new id
    assert again == ["F3"]
    s.flush()
    reopened = ReviewSession.open(volume)
    assert reopened.add_findings([box(volume, 4, 5, 5)]) == ["F4"]


def test_rerun_replaces_pending_keeps_decided_and_drops_duplicates_of_decided(volume):
    s = ReviewSession.open(volume)
    a, b, c = s.add_findings([box(volume, 5, 0, 0), box(volume, 5, 40, 40), box(volume, 6, 20, 20)], slices=[5, 6])
    by_slice = {s.finding(i).finding.box_px[0]: i for i in (a, b)}
    accepted, rejected = by_slice[0.0], by_slice[40.0]
    s.set_status(accepted, "accepted")
    s.set_status(rejected, Status.REJECTED)
    s.set_note(rejected, "vessel")
    # Re-run covering slice 5 only: the same two boxes (slightly moved) plus a new one.
    new = s.add_findings([box(volume, 5, 1, 0), box(volume, 5, 41, 41), box(volume, 5, 20, 40, score=0.7)], slices=[5])
    assert len(new) == 1 and s.finding(new[0]).finding.box_px[:2] == (20.0, 40.0)
    statuses = {rf.id: (rf.status.value, rf.note) for rf in s.findings()}
    assert statuses[accepted] == ("accepted", "") and statuses[rejected] == ("rejected", "vessel")
    assert c in statuses  # slice 6 was not covered: its pending finding stays
    # Covering slice 6 with nothing found removes its pending finding.
    s.add_findings([], slices=[6])
    assert c not in {rf.id for rf in s.findings()}
    assert sorted(s.processed_slices) == [5, 6]


def test_begin_run_drops_pending_and_resets_processed(volume):
    s = ReviewSession.open(volume)
    a, b = s.add_findings([box(volume, 1, 0, 0), box(volume, 2, 0, 0)], slices=range(20))
    s.set_status(b, "rejected")
    s.begin_run("mp3d63_ctm", "2.0")
    assert [rf.id for rf in s.findings()] == [b]
    assert s.unprocessed_slices() == list(range(20))
    assert (s.model_name, s.model_version) == ("mp3d63_ctm", "2.0")
    (fid,) = s.add_findings([box(volume, 9, 0, 0)], slices=[9])
    assert s.finding(fid).model_version == "2.0"


def test_begin_run_keep_pending(volume):
    s = ReviewSession.open(volume)
    (a,) = s.add_findings([box(volume, 1, 0, 0)], slices=[1])
    s.begin_run("m", "1", keep_pending=True)
    assert [rf.id for rf in s.findings()] == [a] and s.processed_slices == frozenset()


def test_a_pending_finding_with_a_note_survives_a_rerun_and_a_new_run(volume, tmp_path):
    s = ReviewSession.open(volume, folder=tmp_path)
    noted, plain = s.add_findings([box(volume, 3, 0, 0), box(volume, 3, 40, 40)], slices=[3])
    s.set_note(noted, "ask for the prior study")
    # the same two boxes again, slightly moved: the noted one is not duplicated, the plain one is replaced
    (new,) = s.add_findings([box(volume, 3, 1, 0), box(volume, 3, 41, 40)], slices=[3])
    assert {rf.id for rf in s.findings()} == {noted, new}
    assert s.finding(noted).status.value == "pending" and s.finding(noted).note == "ask for the prior study"
    s.set_note(new, "   ")  # only blanks: not a note worth keeping
    s.begin_run("another-model", "2", model_fingerprint="sha256:0123456789abcdef")
    assert [rf.id for rf in s.findings()] == [noted]
    s.flush()
    reopened = ReviewSession.open(volume, folder=tmp_path)
    assert reopened.model_fingerprint == "sha256:0123456789abcdef"
    assert reopened.finding(noted).note == "ask for the prior study"


def test_a_review_written_before_fingerprints_were_kept_reads_as_unknown(volume):
    data = ReviewSession.open(volume).to_dict()
    del data["model_fingerprint"]
    assert ReviewSession.from_dict(data).model_fingerprint == ""


def test_threshold_visibility_and_count(volume):
    s = ReviewSession.open(volume)
    ids = s.add_findings([box(volume, 1, 0, 0, score=0.95), box(volume, 2, 0, 0, score=0.55),
                          box(volume, 3, 0, 0, score=0.2)])
    assert s.count_above(0.5) == 2 and s.count_above(0.0) == 3 and s.count_above(0.96) == 0
    s.set_threshold(0.6)
    assert [rf.slice_index for rf in s.visible_findings()] == [1]
    low = [i for i in ids if s.finding(i).score == 0.2][0]
    s.set_status(low, "accepted")  # an accepted finding stays visible below the threshold
    assert [rf.slice_index for rf in s.visible_findings()] == [1, 3]
    assert s.count_above() == 1  # but the count is the score count the slider shows
    assert [rf.slice_index for rf in s.findings_on_slice(2)] == []
    assert len(s.findings_on_slice(2, visible_only=False)) == 1


@pytest.mark.parametrize("bad", [-0.01, 1.5, float("nan")])
def test_threshold_out_of_range_is_refused(volume, bad):
    s = ReviewSession.open(volume)
    with pytest.raises(ValueError, match="between 0 and 1"):
        s.set_threshold(bad)
    assert s.threshold == 0.5


def test_next_and_previous_finding(volume):
    s = ReviewSession.open(volume)
    s.add_findings([box(volume, 2, 0, 0, score=0.9), box(volume, 2, 30, 30, score=0.7),
                    box(volume, 10, 0, 0, score=0.8), box(volume, 15, 0, 0, score=0.1)])
    order = [(rf.slice_index, rf.score) for rf in s.visible_findings()]
    assert order == [(2, 0.9), (2, 0.7), (10, 0.8)]  # the 0.1 one is hidden at 0.5
    first = s.next_finding(0)
    second = s.next_finding(first.slice_index, first.id)
    third = s.next_finding(second.slice_index, second.id)
    assert [(f.slice_index, f.score) for f in (first, second, third)] == order
    assert s.next_finding(10, third.id) == first  # wraps
    assert s.next_finding(10, third.id, wrap=False) is None
    assert s.next_finding(2) == third  # no current one: first on a later slice
    assert s.previous_finding(10) == second
    assert s.previous_finding(2, first.id) == third  # wraps backwards
    assert s.previous_finding(0, wrap=False) is None
    assert ReviewSession("1.2").next_finding(0) is None


def test_measurements_ruler_and_recist(volume):
    s = ReviewSession.open(volume)
    ruler = Measurement.ruler(volume, 4, (10, 10), (13, 14))
    assert ruler.long_axis_mm == pytest.approx(5 * 0.7) and ruler.short_axis_mm is None
    assert ruler.z_mm == pytest.approx(-100 + 4 * 2.5)
    recist = Measurement.recist(volume, 4, ((20, 20), (20, 25)), ((10, 22), (40, 22)))  # drawn the wrong way round
    assert (recist.long_axis_mm, recist.short_axis_mm) == (pytest.approx(21.0), pytest.approx(3.5))
    assert recist.points[:2] == ((10.0, 22.0), (40.0, 22.0))
    m1, m2 = s.add_measurement(ruler), s.add_measurement(recist)
    assert (m1, m2) == ("M1", "M2")
    assert [m.id for m in s.measurements_on_slice(4)] == ["M1", "M2"]
    s.set_note(m2, "target lesion 1")
    s.remove_measurement(m1)
    restored = ReviewSession.open(volume)
    assert [(m.id, m.kind, m.note) for m in restored.measurements()] == [("M2", "recist", "target lesion 1")]
    assert restored.add_measurement(ruler) == "M3"
    with pytest.raises(KeyError, match="M1"):
        restored.remove_measurement("M1")


def test_bad_measurements_and_findings_are_refused(volume):
    s = ReviewSession.open(volume)
    with pytest.raises(ValueError, match="2 points"):
        Measurement("ruler", 0, ((0, 0),), (1.0,))
    with pytest.raises(ValueError, match="kind"):
        Measurement("circle", 0, ((0, 0), (1, 1)), (1.0,))
    with pytest.raises(ValueError, match="slice 20"):
        s.add_measurement(Measurement.ruler(volume, 20, (0, 0), (1, 1)))
    with pytest.raises(ValueError, match="slice 25"):
        s.add_findings([Finding(25, (0, 0, 1, 1), 0.5, "m")])
    with pytest.raises(ValueError, match="non-finite"):
        s.add_findings([Finding(1, (0, 0, 1, 1), float("nan"), "m")])
    with pytest.raises(TypeError):
        s.add_findings([{"slice_index": 1}])
    with pytest.raises(KeyError, match="F99"):
        s.set_status("F99", "accepted")
    assert s.findings() == [] and s.measurements() == []


def test_events_follow_every_change_and_unsubscribe_stops_them(volume):
    s = ReviewSession.open(volume)
    events = []
    stop = s.subscribe(events.append)
    s.begin_run("m", "1")
    (fid,) = s.add_findings([box(volume, 7, 0, 0)], slices=[6, 7])
    s.set_status(fid, "accepted")
    s.set_status(fid, "accepted")  # no change: no event
    s.set_note(fid, "x")
    mid = s.add_measurement(Measurement.ruler(volume, 3, (0, 0), (1, 1)))
    s.remove_measurement(mid)
    s.set_threshold(0.3)
    kinds = [e.kind for e in events]
    assert kinds == [ChangeKind.MODEL, ChangeKind.FINDINGS, ChangeKind.STATUS, ChangeKind.NOTE,
                     ChangeKind.MEASUREMENTS, ChangeKind.MEASUREMENTS, ChangeKind.THRESHOLD]
    assert events[1].ids == (fid,) and events[1].slices == (6, 7)
    assert events[2].ids == (fid,) and events[2].slices == (7,)
    stop()
    s.set_threshold(0.4)
    assert len(events) == 7


def test_an_observer_that_raises_does_not_break_the_session_or_others(volume):
    s = ReviewSession.open(volume)
    got = []
    s.subscribe(lambda e: (_ for _ in ()).throw(RuntimeError("view bug")))
    s.subscribe(got.append)
    (fid,) = s.add_findings([box(volume, 1, 0, 0)])
    s.set_status(fid, "rejected")
    assert len(got) == 2 and ReviewSession.open(volume).finding(fid).status is Status.REJECTED


def test_observers_see_the_state_already_saved(volume):
    s = ReviewSession.open(volume)
    (fid,) = s.add_findings([box(volume, 1, 0, 0)])
    seen = []
    s.subscribe(lambda e: seen.append(ReviewSession.open(volume).finding(fid).status.value))
    s.set_status(fid, "accepted")
    assert seen == ["accepted"]


def test_dirty_since_export_tracks_the_radiologists_work_only(volume):
    s = ReviewSession.open(volume)
    (fid,) = s.add_findings([box(volume, 1, 0, 0)])
    s.set_threshold(0.2)
    assert not s.dirty_since_export  # detector output and slider moves are not export work
    s.set_status(fid, "accepted")
    assert s.dirty_since_export and ReviewSession.open(volume).dirty_since_export
    s.mark_exported("/tmp/somewhere.csv")
    assert not s.dirty_since_export and not ReviewSession.open(volume).dirty_since_export
    assert ReviewSession.open(volume).last_export["path"] == "/tmp/somewhere.csv"


def test_series_key_without_uid_depends_on_pixels_and_geometry_not_on_files():
    hu = np.arange(4 * 8 * 8, dtype=np.int16).reshape(4, 8, 8)
    a = Volume(hu, (2, 1, 1), meta={"source_files": ["/a/1.dcm"]})
    b = Volume(hu.copy(), (2, 1, 1), meta={"source_files": ["/moved/1.dcm"]})
    c = Volume(hu, (3, 1, 1))
    d = Volume(hu + 1, (2, 1, 1))
    assert series_key(a) == series_key(b)
    assert len({series_key(a), series_key(c), series_key(d)}) == 3
    assert series_key(a).startswith("vol-")


@pytest.mark.parametrize("uid", ["../../etc/passwd", "1.2/3", "1.2.3 ", "", "x" * 70, "1." + "2" * 70])
def test_series_key_never_trusts_a_malformed_uid_as_a_file_name(uid):
    v = Volume(np.zeros((2, 4, 4), np.int16), (1, 1, 1), meta={"SeriesInstanceUID": uid})
    key = series_key(v)
    assert key.startswith("vol-") or key.startswith(uid.strip() + "-")
    assert "/" not in key and ".." not in key


def test_open_refuses_an_unsafe_key():
    with pytest.raises(ValueError, match="not a valid series key"):
        ReviewSession.open("../../x")

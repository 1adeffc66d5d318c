"""Autosave: every change on disk at once, surviving SIGKILL and failed writes; bad files set aside."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lesionviewer.detection.finding import Finding
from lesionviewer.io import Volume
import lesionviewer.review.session as session_module
from lesionviewer.review import ChangeKind, Measurement, ReviewSession, Status
from lesionviewer.review.review_file import review_path
from lesionviewer.review.series_key import series_key

UID = "1.2.826.0.1.3680043.99"


def _volume(num_slices: int = 12) -> Volume:
    return Volume(np.zeros((num_slices, 32, 32), np.int16), (2.0, 0.8, 0.8), meta={"SeriesInstanceUID": UID})


KEY = series_key(_volume())  # the review key: the UID and a hash of the content (issue 14, item 3)

# A reviewer in another process: it decides one finding after another and reports each decision
# only after set_status/set_note returned. argv: number of decisions before it SIGKILLs itself (0: never).
REVIEWER = r"""
import os, signal, sys, time
from lesionviewer.detection.finding import Finding
from lesionviewer.review import ReviewSession
kill_after = int(sys.argv[1])
s = ReviewSession.open(sys.argv[2])
boxes = [(i % 7 * 9.0, i % 5 * 11.0, i % 7 * 9.0 + 8, i % 5 * 11.0 + 8) for i in range(240)]
ids = s.add_findings([Finding(i % 30, boxes[i], 0.3 + (i % 70) / 100, "m") for i in range(240)])
print("ready", flush=True)
for n, fid in enumerate(ids):
    status = "accepted" if n % 2 else "rejected"
    s.set_status(fid, status)
    s.set_note(fid, f"decision {n} \u00e9")
    print(fid, status, flush=True)
    if n + 1 == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
time.sleep(60)
"""


def run_reviewer(kill_after: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", REVIEWER, str(kill_after), KEY],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )


def test_every_decision_made_before_a_sigkill_is_there_on_reopening():
    proc = run_reviewer(kill_after=25)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    decided = [line.split() for line in out.splitlines()[1:]]
    assert len(decided) == 25
    session = ReviewSession.open(KEY)
    assert session.warnings == []
    for n, (fid, status) in enumerate(decided):
        rf = session.finding(fid)
        assert (rf.status.value, rf.note) == (status, f"decision {n} \u00e9")
    assert sum(rf.status is Status.PENDING for rf in session.findings()) == 240 - 25
    assert session.dirty_since_export


def test_a_kill_from_outside_at_an_arbitrary_moment_loses_no_acknowledged_decision():
    proc = run_reviewer(kill_after=0)
    assert proc.stdout.readline().strip() == "ready"
    acknowledged = []
    while len(acknowledged) < 40:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        acknowledged.append(line.split())
    proc.send_signal(signal.SIGKILL)  # while it is deciding and writing, with no warning
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    session = ReviewSession.open(KEY)
    assert session.warnings == []  # the file is never torn
    for fid, status in acknowledged:
        assert session.finding(fid).status.value == status


@pytest.fixture
def volume():
    return _volume()


def test_a_failed_write_keeps_the_previous_state_readable_and_is_reported(volume, monkeypatch):
    s = ReviewSession.open(volume)
    a, b = s.add_findings([Finding(1, (0, 0, 5, 5), 0.9, "m"), Finding(2, (0, 0, 5, 5), 0.8, "m")])
    s.set_status(a, "accepted")
    before = review_path(KEY).read_bytes()
    events = []
    s.subscribe(events.append)

    def crash(fd):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", crash)  # the write dies after the data, before the rename
        s.set_status(b, "rejected")
    assert [e.kind for e in events] == [ChangeKind.STATUS, ChangeKind.SAVE_FAILED]
    assert "No space left" in s.autosave_error
    assert review_path(KEY).read_bytes() == before
    assert ReviewSession.open(KEY).finding(b).status is Status.PENDING
    assert ReviewSession.open(KEY).finding(a).status is Status.ACCEPTED
    assert not list(review_path(KEY).parent.glob("*.tmp"))
    s.set_note(a, "ok")  # the next successful save carries the change that failed
    assert s.autosave_error is None
    reopened = ReviewSession.open(KEY)
    assert (reopened.finding(b).status, reopened.finding(a).note) == (Status.REJECTED, "ok")


def test_stale_temporaries_from_a_killed_write_are_ignored_and_cleaned(volume):
    s = ReviewSession.open(volume)
    (a,) = s.add_findings([Finding(1, (0, 0, 5, 5), 0.9, "m")])
    s.set_status(a, "accepted")
    stale = review_path(KEY).parent / f".{KEY}.json.k1ll3d.tmp"
    stale.write_text('{"format_version": 1, "series_key": "')
    old = time.time() - 3600
    os.utime(stale, (old, old))
    reopened = ReviewSession.open(volume)
    assert reopened.finding(a).status is Status.ACCEPTED and reopened.warnings == []
    assert not stale.exists()


def test_an_unwritable_review_file_never_raises(volume):
    review_path(KEY).mkdir(parents=True)  # a folder where the file should be: every write fails
    s = ReviewSession(KEY, path=review_path(KEY))
    (a,) = s.add_findings([Finding(1, (0, 0, 5, 5), 0.9, "m")])
    s.set_status(a, "accepted")
    assert s.finding(a).status is Status.ACCEPTED and "could not save" in s.autosave_error


GOOD = {"format_version": 1, "series_key": KEY, "findings": [], "measurements": []}


@pytest.mark.parametrize(
    "content, label",
    [
        (b'{"format_version": 1, "series_key": "1.2', "corrupt"),  # truncated
        (b"\x00\xff\xfe garbage", "corrupt"),
        (b"[1, 2, 3]", "corrupt"),
        (b"", "corrupt"),
        (json.dumps({**GOOD, "format_version": "1"}).encode(), "corrupt"),
        (json.dumps({**GOOD, "findings": "abc"}).encode(), "corrupt"),
        (json.dumps({**GOOD, "findings": [{"id": "F1", "status": "maybe", "finding": {}}]}).encode(), "corrupt"),
        (json.dumps({**GOOD, "threshold": 7}).encode(), "corrupt"),
        (json.dumps({**GOOD, "series_key": "9.9"}).encode(), "corrupt"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "series_key"}).encode(), "corrupt"),
        (json.dumps({**GOOD, "format_version": 99}).encode(), "unsupported"),
    ],
)
def test_a_bad_review_file_is_set_aside_and_a_fresh_review_starts(volume, content, label):
    path = review_path(KEY)
    path.write_bytes(content)
    s = ReviewSession.open(volume)
    assert s.findings() == [] and len(s.warnings) == 1
    kept = list(path.parent.glob(f"{KEY}.json.{label}-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == content
    assert kept[0].name in s.warnings[0] and str(path) in s.warnings[0]
    (a,) = s.add_findings([Finding(1, (0, 0, 5, 5), 0.9, "m")])  # the new review saves beside it
    assert ReviewSession.open(volume).finding(a).score == 0.9
    assert kept[0].read_bytes() == content


def test_everything_round_trips_through_the_file(volume):
    s = ReviewSession.open(volume)
    s.begin_run("mp3d63", "1.4")
    ids = s.add_findings([Finding.from_pixel_box(volume, z, (3, 4, 13, 10), 0.1 * z, "mp3d63") for z in range(1, 9)],
                         slices=range(10))
    s.set_status(ids[0], "accepted")
    s.set_note(ids[1], 'quote " comma , newline \n and =formula')
    s.add_measurement(Measurement.recist(volume, 3, ((1, 1), (9, 9)), ((1, 9), (9, 1))))
    s.set_threshold(0.35)
    r = ReviewSession.open(volume)
    assert r.to_dict() == s.to_dict()
    assert r.findings() == s.findings() and r.measurements() == s.measurements()
    assert (r.threshold, r.model_name, r.model_version) == (0.35, "mp3d63", "1.4")
    assert r.unprocessed_slices() == [10, 11]


def test_reopening_with_a_different_slice_count_warns(volume):
    s = ReviewSession.open(volume)
    s.add_findings([Finding(1, (0, 0, 5, 5), 0.9, "m")])
    shorter = _volume(11)
    # same UID, other content: its own review (issue 14, item 3); the saved one opened with it warns
    assert ReviewSession.open(shorter).findings() == []
    r = ReviewSession.open(KEY)
    r._adopt_volume(shorter)
    assert len(r.findings()) == 1 and "11 slices" in r.warnings[0] and "12" in r.warnings[0]


def _finding_dict(**changes):
    base = Finding(1, (0.0, 0.0, 5.0, 5.0), 0.9, "m").to_dict()
    return {"id": "F1", "status": "pending", "note": "", "finding": {**base, **changes}}


@pytest.mark.parametrize(
    "finding",
    [
        _finding_dict(box_px=["a", 0, 5, 5]),
        _finding_dict(box_px=[0, 0, 5]),
        _finding_dict(score=None),
        _finding_dict(slice_index=-1),
        _finding_dict(slice_index=1.5),
        _finding_dict(unknown_field=1),
        _finding_dict(model_name=3),
    ],
)
def test_findings_with_bad_values_in_the_file_are_caught_on_opening(volume, finding):
    review_path(KEY).write_text(json.dumps({**GOOD, "findings": [finding]}))
    s = ReviewSession.open(volume)
    assert s.findings() == [] and "could not be used" in s.warnings[0]


def test_deeply_nested_json_is_a_clear_warning_not_a_crash(volume):
    review_path(KEY).write_text("[" * 100_000 + "]" * 100_000)
    s = ReviewSession.open(volume)
    assert s.findings() == [] and "could not be used" in s.warnings[0]


def test_detector_output_saves_are_throttled_but_never_lost_by_a_decision_or_flush(volume, monkeypatch):
    monkeypatch.setattr(session_module, "FINDINGS_SAVE_INTERVAL_S", 3600.0)  # no timing luck involved
    s = ReviewSession.open(volume)
    s.add_findings([Finding(1, (0, 0, 5, 5), 0.9, "m")], slices=[1])  # first save: immediate
    s.add_findings([Finding(2, (0, 0, 5, 5), 0.9, "m")], slices=[2])  # within a second: held back
    on_disk = ReviewSession.open(KEY)
    assert on_disk.processed_slices == {1} and len(on_disk.findings()) == 1  # marks travel with findings
    s.set_threshold(0.4)  # any other change writes everything
    assert ReviewSession.open(KEY).processed_slices == {1, 2}
    s.add_findings([], slices=[3])
    assert ReviewSession.open(KEY).processed_slices == {1, 2}
    s.flush()
    assert ReviewSession.open(KEY).processed_slices == {1, 2, 3}
    s.flush()  # nothing pending: no write
    assert ReviewSession.open(KEY).to_dict() == s.to_dict()


def test_a_failed_flush_is_reported(volume, monkeypatch):
    monkeypatch.setattr(session_module, "FINDINGS_SAVE_INTERVAL_S", 3600.0)
    s = ReviewSession.open(volume)
    s.add_findings([], slices=[1])
    s.add_findings([], slices=[2])
    events = []
    s.subscribe(events.append)
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(5, "I/O error")))
        s.flush()
    assert [e.kind for e in events] == [ChangeKind.SAVE_FAILED] and "I/O error" in s.autosave_error
    s.flush()
    assert s.autosave_error is None and ReviewSession.open(KEY).processed_slices == {1, 2}


def test_no_user_data_folder_means_a_warning_not_a_crash(volume, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("LESIONVIEWER_HOME", str(blocker / "home"))  # cannot be created under a file
    s = ReviewSession.open(volume)
    assert s.path is None and "cannot be saved" in s.warnings[0] and s.num_slices == 12
    (a,) = s.add_findings([Finding(1, (0, 0, 5, 5), 0.9, "m")])
    s.set_status(a, "accepted")  # works in memory
    assert s.finding(a).status is Status.ACCEPTED

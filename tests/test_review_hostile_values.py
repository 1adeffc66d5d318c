"""Issue 14, items 2 and 9: no value stops the autosave, and no review file makes opening raise."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from lesionviewer.detection.finding import Finding
from lesionviewer.io import Volume
from lesionviewer.review import Measurement, ReviewSession, Status, export_csv
from lesionviewer.review.review_file import review_path
from lesionviewer.review.series_key import series_key

UID = "1.2.826.0.1.3680043.14"
NAN = float("nan")


def _volume() -> Volume:
    return Volume(np.zeros((12, 32, 32), np.int16), (2.0, 0.8, 0.8), meta={"SeriesInstanceUID": UID})


KEY = series_key(_volume())  # the review key: the UID and a hash of the content (issue 14, item 3)


@pytest.fixture
def volume():
    return _volume()


def unknown_geometry_finding(slice_index: int, score: float) -> Finding:
    """What Finding.from_pixel_box gives on a series whose PixelSpacing read as "nan"."""
    return Finding(slice_index, (2.0, 3.0, 9.0, 8.0), score, "m", box_mm=(NAN,) * 4, center_mm=(NAN, NAN, 4.0),
                   z_mm=4.0, width_mm=NAN, height_mm=NAN, long_axis_mm=NAN, short_axis_mm=NAN)


def test_findings_with_unknown_millimetres_never_stop_the_autosave(volume):
    s = ReviewSession.open(volume)
    a, b = s.add_findings([unknown_geometry_finding(2, 0.9), unknown_geometry_finding(5, 0.8)])
    s.set_status(a, "accepted")
    s.set_note(b, "decided after the NaN")
    s.set_status(b, "rejected")
    assert s.autosave_error is None
    reopened = ReviewSession.open(volume)
    assert reopened.warnings == []
    assert (reopened.finding(a).status, reopened.finding(b).status) == (Status.ACCEPTED, Status.REJECTED)
    assert reopened.finding(b).note == "decided after the NaN"
    assert math.isnan(reopened.finding(a).finding.width_mm) and reopened.finding(a).finding.z_mm == 4.0
    assert '"width_mm": null' in review_path(KEY).read_text(encoding="utf-8")


def test_a_nan_measurement_is_refused_with_a_reason_and_saving_goes_on(volume):
    s = ReviewSession.open(volume)
    (a,) = s.add_findings([Finding(1, (0, 0, 5, 5), 0.9, "m")])
    with pytest.raises(ValueError, match="finite, non-negative lengths"):
        s.add_measurement(Measurement("ruler", 1, ((0, 0), (3, 4)), (NAN,)))
    with pytest.raises(ValueError, match="finite, non-negative lengths"):
        Measurement("recist", 1, ((0, 0), (3, 4), (1, 1), (2, 2)), (5.0, -1.0))
    with pytest.raises(ValueError, match="finite pixel positions"):
        Measurement("ruler", 1, ((0, 0), (math.inf, 4)), (5.0,))
    unknown_position = Measurement("ruler", 1, ((0, 0), (3, 4)), (5.0,), z_mm=NAN, center_mm=(NAN, NAN, NAN))
    mid = s.add_measurement(unknown_position)
    s.set_status(a, "accepted")
    assert s.autosave_error is None
    reopened = ReviewSession.open(volume)
    assert reopened.finding(a).status is Status.ACCEPTED
    (m,) = reopened.measurements()
    assert m.id == mid and m.lengths_mm == (5.0,) and math.isnan(m.z_mm)


def test_an_export_to_a_folder_whose_name_is_not_utf8_keeps_the_autosave_going(volume, tmp_path):
    s = ReviewSession.open(volume)
    (a,) = s.add_findings([Finding(1, (0, 0, 5, 5), 0.9, "m")])
    out = tmp_path / os.fsdecode(b"r\xe9sultats") / "findings.csv"  # Latin-1 bytes: not UTF-8
    export_csv(s, out)
    assert out.exists()
    s.set_status(a, "accepted")
    assert s.autosave_error is None
    reopened = ReviewSession.open(volume)
    assert reopened.finding(a).status is Status.ACCEPTED
    assert reopened.last_export["path"] == str(out)  # the very same name, escaped in the file only


@pytest.mark.parametrize(
    "text",
    [
        '{"format_version": 1, "series_key": "%s", "threshold": Infinity}' % KEY,
        '{"format_version": 1, "series_key": "%s", "threshold": NaN}' % KEY,
        '{"format_version": 1, "series_key": "%s", "threshold": -Infinity}' % KEY,
        '{"format_version": 1, "series_key": "%s", "num_slices": 1e400}' % KEY,
        '{"format_version": 1, "series_key": "%s", "threshold": 1e400}' % KEY,
        '{"format_version": 1, "series_key": "%s", "num_slices": %s}' % (KEY, "9" * 5000),
        '{"format_version": %s, "series_key": "%s"}' % ("1" * 5000, KEY),
        '{"format_version": 1, "series_key": "%s", "next_finding_number": %s}' % (KEY, "7" * 5000),
        '{"format_version": 1, "series_key": "%s", "processed_slices": [1e400]}' % KEY,
        '{"format_version": 1, "series_key": "%s", "measurements": [{"kind": "ruler", "slice_index": 0, '
        '"points": [[0, 0], [1, 0]], "lengths_mm": [NaN]}]}' % KEY,
    ],
)
def test_opening_never_raises_on_hostile_numbers_and_sets_the_file_aside(volume, text):
    path = review_path(KEY)
    path.write_text(text, encoding="utf-8")
    s = ReviewSession.open(volume)
    assert s.findings() == [] and len(s.warnings) == 1 and "could not be used" in s.warnings[0]
    kept = list(path.parent.glob(f"{KEY}.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text(encoding="utf-8") == text
    (a,) = s.add_findings([Finding(1, (0, 0, 5, 5), 0.9, "m")])
    s.set_status(a, "accepted")
    assert ReviewSession.open(volume).finding(a).status is Status.ACCEPTED


def test_the_file_written_is_strict_json_that_any_reader_accepts(volume, tmp_path):
    s = ReviewSession.open(volume)
    s.add_findings([unknown_geometry_finding(3, 0.7)])
    s.mark_exported(str(tmp_path / os.fsdecode(b"\xff\xfe")))
    text = review_path(KEY).read_bytes().decode("utf-8")  # valid UTF-8

    def refuse(name):
        raise AssertionError(f"{name} in the review file")

    data = json.loads(text, parse_constant=refuse)
    assert data["findings"][0]["finding"]["box_mm"] == [None] * 4

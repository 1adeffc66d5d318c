"""DICOM SR (TID 1500) export: boxes as closed polylines on the right source image, measurements, decisions."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest

from lesionviewer.detection.finding import Finding
from lesionviewer.io import Volume, load_volume, write_dicom_series
from lesionviewer.review import Measurement, ReviewSession
from lesionviewer.review.sr_export import export_sr

hd = pytest.importorskip("highdicom")


@pytest.fixture
def dicom_volume(tmp_path):
    folder = tmp_path / "ct"
    write_dicom_series(Volume(np.full((5, 24, 24), -1000, np.int16), (2.0, 0.6, 0.6), origin=(-7, -7, -50)),
                       folder, patient_name="Doe^Jane", patient_id="PID7")
    return load_volume(folder)


def groups(path):
    report = hd.sr.srread(path).content
    return report.get_planar_roi_measurement_groups(), report.get_image_measurement_groups()


def test_accepted_findings_and_measurements_by_default(dicom_volume, tmp_path):
    vol = dicom_volume
    s = ReviewSession.open(vol)
    s.begin_run("mp3d63", "1.2")
    a, b, c = s.add_findings([Finding.from_pixel_box(vol, 2, (3, 4, 12, 9), 0.9, "mp3d63"),
                              Finding.from_pixel_box(vol, 3, (1, 1, 5, 5), 0.8, "mp3d63"),
                              Finding.from_pixel_box(vol, 4, (1, 1, 5, 5), 0.7, "mp3d63")])
    s.set_status(a, "accepted")
    s.set_status(b, "rejected")
    s.add_measurement(Measurement.recist(vol, 1, ((2, 2), (12, 2)), ((7, 0), (7, 5))))
    s.add_measurement(Measurement.ruler(vol, 3, (-4, 2), (6, 2)))  # dragged past the image edge
    out = tmp_path / "report.dcm"
    assert export_sr(s, vol, out, observer_name="Reader^Rita") == 3
    assert not s.dirty_since_export
    planar, linear = groups(out)
    assert [g.tracking_identifier for g in planar] == [a]
    box = planar[0]
    assert box.roi.graphic_type.value == "POLYLINE"
    assert box.roi.value.tolist() == [[3, 4], [12, 4], [12, 9], [3, 9], [3, 4]]
    slice2 = pydicom.dcmread(vol.meta["source_files"][2], stop_before_pixels=True)
    assert box.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == slice2.SOPInstanceUID
    values = {m.name.meaning: round(m.value, 3) for m in box.get_measurements()}
    assert values == {"Long axis": 5.4, "Short axis": 3.0, "Detection score": 0.9}
    decisions = [(q.name.meaning, q.value.meaning) for q in box.get_qualitative_evaluations()]
    assert decisions == [("Reader decision", "Accepted")]
    by_id = {g.tracking_identifier: g for g in linear}
    assert {k: [(m.name.meaning, round(m.value, 2)) for m in g.get_measurements()] for k, g in by_id.items()} == {
        "M1": [("Long axis", 6.0), ("Short axis", 3.0)], "M2": [("Length", 6.0)]}
    ds = pydicom.dcmread(out)
    assert ds.preamble == b"\0" * 128 and ds.Modality == "SR"
    assert ds.StudyInstanceUID == slice2.StudyInstanceUID and ds.SeriesInstanceUID != slice2.SeriesInstanceUID
    assert str(ds.PatientID) == "PID7"
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR


def test_selection_all_records_every_decision_and_tracking_uids_are_stable(dicom_volume, tmp_path):
    vol = dicom_volume
    s = ReviewSession.open(vol)
    a, b = s.add_findings([Finding.from_pixel_box(vol, 0, (1, 1, 6, 6), 0.9, "m"),
                           Finding.from_pixel_box(vol, 1, (1, 1, 6, 6), 0.2, "m")])
    s.set_status(b, "rejected")
    assert export_sr(s, vol, tmp_path / "1.dcm", selection="all", include_measurements=False) == 2
    export_sr(s, vol, tmp_path / "2.dcm", selection="all")
    first, _ = groups(tmp_path / "1.dcm")
    second, _ = groups(tmp_path / "2.dcm")
    assert {g.tracking_identifier: g.get_qualitative_evaluations()[0].value.meaning for g in first} == {
        a: "Pending", b: "Rejected"}
    assert [g.tracking_uid for g in first] == [g.tracking_uid for g in second]


def test_nothing_to_report_is_a_clear_error(dicom_volume, tmp_path):
    s = ReviewSession.open(dicom_volume)
    s.add_findings([Finding.from_pixel_box(dicom_volume, 0, (1, 1, 6, 6), 0.9, "m")])  # pending only
    with pytest.raises(ValueError, match="no accepted findings and no measurements"):
        export_sr(s, dicom_volume, tmp_path / "e.dcm")
    assert not (tmp_path / "e.dcm").exists()


def test_non_dicom_or_missing_slices_are_clear_errors(dicom_volume, tmp_path):
    plain = Volume(np.zeros((2, 8, 8), np.int16), (1, 1, 1), meta={"format": "nifti"})
    with pytest.raises(ValueError, match="loaded from DICOM files; this one came from nifti"):
        export_sr(ReviewSession("1.2"), plain, tmp_path / "x.dcm")
    vol = dicom_volume
    vol.meta["source_files"][3] = None
    s = ReviewSession.open(vol)
    (fid,) = s.add_findings([Finding.from_pixel_box(vol, 3, (1, 1, 6, 6), 0.9, "m")])
    s.set_status(fid, "accepted")
    with pytest.raises(ValueError, match="slice 3 has no DICOM file"):
        export_sr(s, vol, tmp_path / "y.dcm")
    assert not (tmp_path / "y.dcm").exists() and s.dirty_since_export

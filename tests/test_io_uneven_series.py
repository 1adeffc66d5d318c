"""A series whose slice step changes inside one SeriesInstanceUID: one volume, exact positions, split on request.

The real case behind these tests: a GE head CT, 28 instances of one series, 4.22 mm then 7.38 mm
apart, gantry tilted by 18.5 degrees.
"""
from __future__ import annotations

import math

import numpy as np
import pydicom
import pytest

from corpus.bad_dicom import edit_dicom, small_volume, write_valid_series
from lesionviewer.detection.engine import slice_positions_of
from lesionviewer.imaging.context import context_stack
from lesionviewer.io import SeriesInfo, Volume, find_series, load_volume, write_dicom_series
from lesionviewer.io.series_info import distinct_labels

TILT = 18.5
THIN, THICK = 4.22, 7.38


def write_ge_head(folder, thin: int = 13, thick: int = 14) -> list[tuple[float, float, float]]:
    """28 files of one series: ``thin`` steps of 4.22 mm then ``thick`` of 7.38 mm, tilted; the file positions."""
    files = write_valid_series(folder, thin + thick + 1)
    t = math.radians(TILT)
    z, positions = 0.0, []
    for k, f in enumerate(files):
        position = (-10.0, -20.0, z)
        edit_dicom(f, ImageOrientationPatient=[1, 0, 0, 0, math.cos(t), -math.sin(t)],
                   ImagePositionPatient=list(position), GantryDetectorTilt=str(TILT), SeriesNumber=2,
                   SeriesDescription=None)
        positions.append(position)
        z += (THIN if k < thin else THICK) / math.cos(t)
    return positions


def test_uneven_series_is_one_volume_and_every_slice_keeps_its_file_position(tmp_path):
    positions = write_ge_head(tmp_path)
    vol = load_volume(tmp_path)
    assert vol.num_slices == 28
    for k, position in enumerate(positions):
        assert vol.index_to_patient(k, 0, 0) == pytest.approx(position, abs=1e-4), k
        assert vol.patient_to_index(position) == pytest.approx([k, 0, 0], abs=1e-6)
    warning = next(w for w in vol.warnings if "uneven slice spacing" in w)
    assert "4.22 mm (13 times)" in warning and "7.38 mm (14 times)" in warning


def test_a_finding_on_an_uneven_series_is_placed_at_its_slice(tmp_path):
    from lesionviewer.detection.finding import Finding

    positions = write_ge_head(tmp_path)
    vol = load_volume(tmp_path)
    finding = Finding.from_pixel_box(vol, 13, (0, 0, 2, 2), 0.9, "m")
    # the pixel-frame corner (0, 0) is half a pixel before voxel [13, 0, 0]
    corner = np.asarray(positions[13]) - 0.4 * np.asarray(vol.direction[:, 0]) - 0.4 * np.asarray(vol.direction[:, 1])
    assert finding.box_mm[0] == pytest.approx(corner[0], abs=1e-3)
    assert finding.z_mm == pytest.approx(vol.index_to_patient(13, 0, 0)[2], abs=0.5)


def test_detection_context_uses_the_true_positions(tmp_path):
    origins = [[0.0, 0.0, z] for z in (0, 2, 4, 6, 11, 16, 21)]
    hu = np.stack([np.full((4, 4), z, np.int16) for z in (0, 2, 4, 6, 11, 16, 21)])  # value = position
    write_dicom_series(Volume(hu, (3.5, 1, 1), slice_origins=origins), tmp_path, signed=True)
    vol = load_volume(tmp_path)
    positions = slice_positions_of(vol)
    assert positions == pytest.approx([0, 2, 4, 6, 11, 16, 21])
    stack = context_stack(vol.hu, positions, center_index=3, num_slices=3, interval_mm=4.0)
    assert stack[:, 0, 0].tolist() == pytest.approx([2.0, 6.0, 10.0])


def test_split_happens_only_on_request_and_the_parts_differ(tmp_path):
    write_ge_head(tmp_path)
    [whole] = find_series(tmp_path)
    assert whole.num_slices == 28 and "uneven 4.22 to 7.38 mm" in whole.label
    parts = find_series(tmp_path, split_uneven=True)
    assert [p.num_slices for p in parts] == [14, 14]
    assert len({p.label for p in parts}) == 2
    assert "part 1 of 2" in parts[0].label and "4.22 mm" in parts[0].label
    assert "part 2 of 2" in parts[1].label and "7.38 mm" in parts[1].label
    first, second = (p.load() for p in parts)
    assert first.meta["SeriesDescription"] != second.meta["SeriesDescription"]
    # the volume's step is along the sheared stacking direction: the normal step over cos(tilt)
    shear = math.cos(math.radians(TILT))
    assert first.spacing[0] == pytest.approx(THIN / shear, abs=0.01)
    assert second.spacing[0] == pytest.approx(THICK / shear, abs=0.01)


def two_image_types_of_one_uid(folder):
    uid, study = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    a = write_dicom_series(small_volume(3), folder, series_uid=uid, study_uid=study, file_prefix="a",
                           series_description="")
    vol = small_volume(3)
    vol.origin = (-10.0, -20.0, 0.0)
    b = write_dicom_series(vol, folder, series_uid=uid, study_uid=study, file_prefix="b", series_description="")
    for f in a:
        edit_dicom(f, ImageType=["ORIGINAL", "PRIMARY", "AXIAL"], SeriesNumber=2)
    for f in b:
        edit_dicom(f, ImageType=["DERIVED", "SECONDARY", "AXIAL"], SeriesNumber=2)


def test_parts_of_one_uid_that_cannot_be_one_volume_say_why(tmp_path):
    two_image_types_of_one_uid(tmp_path)
    parts = find_series(tmp_path)
    assert len(parts) == 2
    labels = [p.label for p in parts]
    assert labels[0] != labels[1]
    assert all("of one series: image type" in label for label in labels)
    volumes = [p.load() for p in parts]
    assert volumes[0].meta["SeriesDescription"] != volumes[1].meta["SeriesDescription"]


def test_cli_rows_of_two_parts_are_distinguishable(tmp_path):
    from lesionviewer.detection.cli import find_jobs, finding_row
    from lesionviewer.detection.finding import Finding

    two_image_types_of_one_uid(tmp_path)
    jobs = find_jobs([tmp_path], report=print)
    rows = []
    for job in jobs:
        vol = job.load()
        rows.append(finding_row(Finding.from_pixel_box(vol, 0, (0, 0, 4, 4), 0.9, "m"), job, vol, "1"))
    assert len(rows) == 2
    assert rows[0] != rows[1]
    assert rows[0]["series_description"] != rows[1]["series_description"]


def test_identical_labels_always_get_a_reason():
    a = SeriesInfo(series_uid="1.2", num_slices=3, files=["x/1.dcm"])
    b = SeriesInfo(series_uid="1.2", num_slices=3, files=["x/1.dcm"])
    labels = distinct_labels([a, b])
    assert labels[0] != labels[1] and all("same label as another series" in label for label in labels)

"""Every loader fills Volume.identity; the review key and the viewer read the series' identity there."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from lesionviewer.io import Volume, find_series, load_volume, write_dicom_series
from lesionviewer.io.series_identity import SeriesIdentity
from lesionviewer.review.series_key import series_key


def _volume(n=4):
    return Volume(np.arange(n * 8 * 8, dtype=np.int16).reshape(n, 8, 8), (2.5, 0.7, 0.7), origin=(-10, -20, 30))


def test_a_dicom_series_gives_its_uids_patient_description_and_every_slice_position(tmp_path):
    write_dicom_series(_volume(), tmp_path, series_description="Chest", patient_name="DOE^J", patient_id="p7",
                       series_uid="1.2.3.4", study_uid="1.2.3")
    volume = load_volume(tmp_path)
    identity = volume.identity
    assert (identity.series_uid, identity.study_uid, identity.description) == ("1.2.3.4", "1.2.3", "Chest")
    assert (identity.patient_name, identity.patient_id, identity.modality) == ("DOE^J", "p7", "CT")
    assert identity.frame_of_reference_uid
    assert identity.positions == tuple((-10.0, -20.0, 30.0 + 2.5 * k) for k in range(4))
    with pytest.raises(AttributeError):
        identity.series_uid = "9"  # frozen


def test_the_series_found_in_a_folder_loads_with_the_same_identity_as_the_folder(tmp_path):
    write_dicom_series(_volume(), tmp_path, series_uid="1.2.3.5")
    (series,) = find_series(tmp_path)
    assert series.load().identity == load_volume(tmp_path).identity


def test_an_image_file_has_an_empty_identity_and_a_key_from_its_content(tmp_path):
    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 4, 4), np.int16)), str(path))
    volume = load_volume(path)
    assert volume.identity == SeriesIdentity()
    assert series_key(volume).startswith("vol-")


def test_a_volume_built_with_uids_in_meta_reads_them_into_its_identity():
    volume = Volume(np.zeros((2, 2, 2), np.int16), (1, 1, 1), meta={"series_uid": "1.9", "PatientName": "X "})
    assert volume.identity.series_uid == "1.9" and volume.identity.patient_name == "X"


def test_pixel_points_take_z_y_x_like_every_other_conversion():
    volume = _volume()
    assert volume.pixel_point_to_patient(2, 3.5, 1.5).tolist() == pytest.approx(volume.index_to_patient(2, 3, 1))
    old = volume.pixel_to_patient(2, 1.5, 3.5)  # the deprecated (z, x, y) order
    assert old.tolist() == pytest.approx(volume.index_to_patient(2, 3, 1))

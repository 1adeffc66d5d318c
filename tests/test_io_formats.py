"""NIfTI, NRRD and MetaImage through SimpleITK: values and geometry arrive in our (z, y, x) conventions."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from corpus.bad_dicom import small_volume
from lesionviewer.io import (
    CorruptFileError,
    ImplausibleImageError,
    UnsupportedFormatError,
    find_series,
    load_volume,
    write_dicom_series,
)

SUFFIXES = [".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd"]


def _oblique_image(dtype=np.int16) -> sitk.Image:
    hu = small_volume(5, 12).hu.astype(dtype)
    hu[2, 3, 4] = -1000
    image = sitk.GetImageFromArray(hu)
    image.SetSpacing((0.75, 0.5, 2.5))  # x, y, z
    image.SetOrigin((10.0, -20.0, 30.0))
    angle = np.radians(10)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    image.SetDirection(rot.ravel().tolist())
    return image


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_keeps_values_and_geometry(tmp_path, suffix):
    image = _oblique_image()
    path = tmp_path / f"ct{suffix}"
    sitk.WriteImage(image, str(path))
    vol = load_volume(path)
    assert np.array_equal(vol.hu, sitk.GetArrayFromImage(image))
    assert int(vol.hu[2, 3, 4]) == -1000  # (z, y, x) indexing
    assert vol.spacing == pytest.approx((2.5, 0.5, 0.75))
    assert vol.origin == pytest.approx((10.0, -20.0, 30.0), abs=1e-4)
    assert vol.direction.ravel() == pytest.approx(image.GetDirection(), abs=1e-5)
    for z, y, x in [(0, 0, 0), (4, 11, 11), (1.5, 2.25, 7.0)]:
        expected = image.TransformContinuousIndexToPhysicalPoint((x, y, z))
        assert vol.index_to_patient(z, y, x) == pytest.approx(expected, abs=1e-4)


def test_float_nifti_is_rounded_to_int16(tmp_path):
    image = sitk.GetImageFromArray(np.array([[[-1000.4, 39.6, 70000.0]]], np.float32))
    path = tmp_path / "float.nii.gz"
    sitk.WriteImage(image, str(path))
    vol = load_volume(path)
    assert vol.hu.dtype == np.int16
    assert vol.hu.ravel().tolist() == [-1000, 40, 32767]


def test_2d_image_is_one_slice(tmp_path):
    path = tmp_path / "slice.mha"
    sitk.WriteImage(sitk.GetImageFromArray(np.full((6, 7), 12, np.int16)), str(path))
    vol = load_volume(path)
    assert vol.shape == (1, 6, 7) and int(vol.hu.max()) == 12


def test_dicom_and_nifti_of_the_same_volume_agree(tmp_path):
    write_dicom_series(small_volume(4), tmp_path / "dicom")
    from_dicom = load_volume(tmp_path / "dicom")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path / "dicom")))
    sitk.WriteImage(reader.Execute(), str(tmp_path / "same.nii.gz"))
    from_nifti = load_volume(tmp_path / "same.nii.gz")
    assert np.array_equal(from_dicom.hu, from_nifti.hu)
    assert from_dicom.spacing == pytest.approx(from_nifti.spacing)
    # NIfTI stores RAS; SimpleITK hands it back in LPS like DICOM
    assert from_dicom.origin == pytest.approx(from_nifti.origin, abs=1e-4)


def test_folder_with_one_image_file_loads_it(tmp_path):
    sitk.WriteImage(_oblique_image(), str(tmp_path / "only.nrrd"))
    assert load_volume(tmp_path).shape == (5, 12, 12)


def test_find_series_lists_image_files(tmp_path):
    sitk.WriteImage(_oblique_image(), str(tmp_path / "a.nii.gz"))
    [info] = find_series(tmp_path)
    assert info.format == "itk" and info.num_slices == 5 and info.image_size == (12, 12)
    assert info.spacing == pytest.approx((2.5, 0.5, 0.75))
    assert info.load().shape == (5, 12, 12)


def test_vector_image_is_unsupported(tmp_path):
    path = tmp_path / "rgb.mha"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 3, 4, 3), np.uint8), isVector=True), str(path))
    with pytest.raises(UnsupportedFormatError, match="rgb.mha"):
        load_volume(path)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_truncated_image_is_corrupt(tmp_path, suffix):
    # ITK silently fills a truncated NIfTI with zeros; the loader must not
    path = tmp_path / f"cut{suffix}"
    sitk.WriteImage(_oblique_image(), str(path))
    data_file = max(tmp_path.iterdir(), key=lambda p: p.stat().st_size)
    data_file.write_bytes(data_file.read_bytes()[:-200])
    with pytest.raises(CorruptFileError, match="cut"):
        load_volume(path)


def test_garbage_with_an_image_suffix_is_corrupt(tmp_path):
    path = tmp_path / "fake.nrrd"
    path.write_text("hello")
    with pytest.raises(CorruptFileError, match="fake.nrrd"):
        load_volume(path)


def test_absurd_metaimage_header_is_refused(tmp_path):
    path = tmp_path / "huge.mhd"
    (tmp_path / "huge.raw").write_bytes(bytes(16))
    path.write_text(
        "ObjectType = Image\nNDims = 3\nDimSize = 65535 65535 10000\nElementType = MET_SHORT\n"
        "ElementSpacing = 1 1 1\nElementDataFile = huge.raw\n"
    )
    with pytest.raises(ImplausibleImageError, match="huge.mhd"):
        load_volume(path)

"""DICOM loading: real series and compressed slices, grouping, sorting, geometry, warnings."""
from __future__ import annotations

import dataclasses
import errno
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, RLELossless

from corpus.bad_dicom import edit_dicom, small_volume, write_valid_series
from lesionviewer.io import (
    CorruptFileError,
    InconsistentSeriesError,
    Volume,
    dicom_pixels,
    find_series,
    load_volume,
    write_dicom_series,
)
from lesionviewer.io.dicom_header import read_frame_headers, read_slice_header
from lesionviewer.io.dicom_pixels import (
    _decode_with_pydicom,
    _first_line,
    _syntax_name,
    decode_slice_into,
    stored_to_hu,
)
from lesionviewer.io.errors import ImplausibleImageError, LoadError, UnsupportedFormatError
from lesionviewer.io.slice_header import SliceHeader

ABDOMEN = "ct_abdomen_totalseg"
SINGLES = "ct_compressed_singles"
SINGLE_FILES = [
    "693_J2KR.dcm",
    "693_UNCR.dcm",
    "CT1_JLSN.dcm",
    "D_CLUNIE_CT1_RLE_FRAGS.dcm",
    "IM-0001-0001-0001.dcm",
    "J2K_pixelrep_mismatch.dcm",
]


@pytest.fixture(scope="module")
def abdomen(shared_data) -> Volume:
    return load_volume(shared_data / ABDOMEN)


# --- the real abdomen series (JPEG 2000, empty UIDs, 2 mm step but 3 mm thickness) ---------------


def test_abdomen_is_one_series_of_20_slices(shared_data):
    series = find_series(shared_data / ABDOMEN)
    assert len(series) == 1
    [info] = series
    assert info.num_slices == 20 and len(info.files) == 20
    assert info.series_uid == "" and info.series_description == "CT Body 3.0"
    assert info.spacing == pytest.approx((2.0, 0.9765625, 0.9765625))
    assert info.image_size == (512, 512) and info.modality == "CT"


def test_abdomen_geometry(abdomen):
    assert abdomen.shape == (20, 512, 512) and abdomen.hu.dtype == np.int16
    # spacing from the positions (2 mm), not SliceThickness (3 mm)
    assert abdomen.spacing == pytest.approx((2.0, 0.9765625, 0.9765625))
    assert abdomen.meta["slice_thickness"] == 3.0
    # slice 0 is the lowest z (-804.5); z rises by 2 mm per slice
    assert abdomen.origin == pytest.approx((-249.51171875, -437.51171875, -804.5))
    assert np.allclose(abdomen.direction, np.eye(3))
    assert np.allclose(np.diff(abdomen.meta["slice_positions_mm"]), 2.0)
    assert abdomen.meta["slice_positions_mm"][-1] == pytest.approx(-766.5)
    # z decreases with InstanceNumber in this series, so the instance numbers run backwards
    assert abdomen.meta["instance_numbers"] == list(range(286, 266, -1))
    assert abdomen.warnings == []


def test_abdomen_every_slice_matches_its_file_position(abdomen):
    for k, path in enumerate(abdomen.meta["source_files"]):
        ipp = [float(v) for v in pydicom.dcmread(path, stop_before_pixels=True).ImagePositionPatient]
        assert abdomen.index_to_patient(k, 0, 0) == pytest.approx(ipp)


def test_abdomen_hounsfield_units_are_plausible(abdomen):
    hu = abdomen.hu
    assert -1000 - 30 <= np.median(hu[:, 60:100, 60:100]) <= -1000 + 30  # air in front of the patient
    assert 50 <= np.median(hu[:, 230:270, 130:170]) <= 150  # liver, with contrast
    assert np.median(hu[10, 320:340, 230:250]) > 100  # vertebral body
    assert hu.min() >= -1024 and hu.max() < 3100


def test_abdomen_agrees_with_simpleitk(abdomen, shared_data):
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(shared_data / ABDOMEN)))
    image = reader.Execute()
    assert np.array_equal(abdomen.hu, sitk.GetArrayViewFromImage(image))
    assert abdomen.spacing == pytest.approx(image.GetSpacing()[::-1])
    assert abdomen.origin == pytest.approx(image.GetOrigin())
    assert abdomen.direction.ravel() == pytest.approx(image.GetDirection())


def test_abdomen_meta(abdomen):
    meta = abdomen.meta
    assert meta["SeriesDescription"] == "CT Body 3.0" and meta["Modality"] == "CT"
    assert meta["PatientName"] == "" and meta["SeriesInstanceUID"] == ""
    assert (meta["window_center"], meta["window_width"]) == (40.0, 300.0)
    assert meta["transfer_syntax"] == ["1.2.840.10008.1.2.4.90"]
    assert len(meta["source_files"]) == 20 and meta["missing_slices"] == []


def test_abdomen_file_order_does_not_matter(shared_data, tmp_path):
    files = sorted((shared_data / ABDOMEN).glob("CT.*"))
    for i, f in enumerate(reversed(files)):  # names now sort opposite to z
        (tmp_path / f"{i:02d}").symlink_to(f)
    vol = load_volume(tmp_path)
    assert vol.origin[2] == pytest.approx(-804.5)
    assert np.allclose(np.diff(vol.meta["slice_positions_mm"]), 2.0)


# --- single compressed slices --------------------------------------------------------------------


@pytest.mark.parametrize("name", SINGLE_FILES)
def test_every_single_slice_decodes_to_the_same_values_as_pydicom(shared_data, name):
    path = shared_data / SINGLES / name
    vol = load_volume(path)
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert vol.shape == (1, 512, 512)
    assert np.array_equal(vol.hu[0], expected)
    assert vol.spacing[1:] == pytest.approx([float(v) for v in ds.PixelSpacing])
    # real CT: mostly between air and bone, nothing wrapped around
    assert -3100 <= vol.hu.min() and vol.hu.max() <= 4000
    assert (vol.hu > -200).mean() > 0.1


def test_j2k_lossless_equals_uncompressed(shared_data):
    j2k = load_volume(shared_data / SINGLES / "693_J2KR.dcm")
    raw = load_volume(shared_data / SINGLES / "693_UNCR.dcm")
    assert np.array_equal(j2k.hu, raw.hu)
    assert raw.hu.min() == -3024 and raw.hu.max() == 1468  # stored -2000..2492, intercept -1024


def test_j2k_signedness_mismatch_and_gantry_tilt(shared_data):
    vol = load_volume(shared_data / SINGLES / "J2K_pixelrep_mismatch.dcm")
    # unsigned codestream in a signed header: the padding is -2000, not a wrapped 63536
    assert vol.hu.min() == -2000 and vol.hu.max() < 2000
    assert any("tilted by 22.0 degrees" in w for w in vol.warnings)
    # the oblique orientation goes into the direction matrix
    assert vol.direction[:, 1] == pytest.approx([0.0, 0.9272, -0.3746], abs=1e-4)


def test_uncompressed_fast_path_matches_pydicom(shared_data):
    header = read_slice_header(shared_data / SINGLES / "693_UNCR.dcm")
    assert header.pixel_offset is not None and header.bits_stored == 14
    fast = np.empty((512, 512), np.int16)
    decode_slice_into(header, fast)
    slow = np.empty((512, 512), np.int16)
    stored_to_hu(_decode_with_pydicom(header), header.rescale_slope, header.rescale_intercept, slow)
    assert np.array_equal(fast, slow)


def test_compressed_singles_are_separate_series(shared_data):
    series = find_series(shared_data / SINGLES)
    assert sum(len(s.files) for s in series) == 6
    # 693_J2KR and 693_UNCR are the same image of the same series: one series at one position
    pair = [s for s in series if any(f.endswith("693_UNCR.dcm") for f in s.files)]
    assert len(pair) == 1 and len(pair[0].files) == 2


# --- written series: round trips, sorting and geometry --------------------------------------------


@pytest.mark.parametrize("signed,implicit_vr", [(False, False), (True, False), (False, True)])
def test_round_trip_of_written_series(tmp_path, signed, implicit_vr):
    original = small_volume(5)
    write_dicom_series(original, tmp_path, signed=signed, implicit_vr=implicit_vr)
    vol = load_volume(tmp_path)
    assert np.array_equal(vol.hu, original.hu)
    assert vol.spacing == pytest.approx(original.spacing)
    assert vol.origin == pytest.approx(original.origin)


def test_deflated_files_go_through_pydicom(tmp_path):
    original = small_volume(2)
    for f in write_dicom_series(original, tmp_path):
        ds = pydicom.dcmread(f)
        ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
        ds.save_as(f, enforce_file_format=True)
    vol = load_volume(tmp_path)
    assert np.array_equal(vol.hu, original.hu)
    assert vol.meta["transfer_syntax"] == [pydicom.uid.DeflatedExplicitVRLittleEndian]


def test_files_without_preamble_or_file_meta_load(tmp_path):
    # old scanners wrote bare implicit-VR datasets: no 128-byte preamble, no 'DICM', no group 0002
    files = write_valid_series(tmp_path, 3, implicit_vr=True)
    for f in files:
        ds = pydicom.dcmread(f)
        ds.preamble = None
        del ds.file_meta
        pydicom.dcmwrite(f, ds, implicit_vr=True, little_endian=True)
        assert f.read_bytes()[128:132] != b"DICM"
    vol = load_volume(tmp_path)
    assert vol.hu[:, 0, 0].tolist() == [0, 10, 20]
    assert vol.meta["transfer_syntax"] == ["1.2.840.10008.1.2"]


def test_dicomdir_loads_its_folder(tmp_path):
    write_valid_series(tmp_path, 3)
    (tmp_path / "DICOMDIR").write_bytes(b"")
    assert load_volume(tmp_path / "DICOMDIR").num_slices == 3


def test_slices_are_sorted_by_position_not_file_name(tmp_path):
    files = write_valid_series(tmp_path, 6)
    for i, f in enumerate(files):  # file names and instance numbers now run opposite to z
        edit_dicom(f, InstanceNumber=len(files) - i)
        f.rename(tmp_path / f"img{len(files) - i:02d}.dcm")
    vol = load_volume(tmp_path)
    assert vol.hu[:, 0, 0].tolist() == [0, 10, 20, 30, 40, 50]


def test_geometry_agrees_with_simpleitk_for_an_oblique_series(tmp_path):
    angle = np.radians(20)
    rot = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    original = Volume(small_volume(4).hu, spacing=(3.0, 0.5, 0.75), origin=(5.0, -7.0, 11.0), direction=rot)
    write_dicom_series(original, tmp_path)
    vol = load_volume(tmp_path)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path)))
    image = reader.Execute()
    assert np.array_equal(vol.hu, sitk.GetArrayFromImage(image))
    assert vol.spacing == pytest.approx(image.GetSpacing()[::-1])
    assert vol.origin == pytest.approx(image.GetOrigin())
    assert vol.direction.ravel() == pytest.approx(image.GetDirection(), abs=1e-5)
    for index in [(0, 0, 0), (3, 15, 2), (1.5, 4.0, 9.0)]:
        z, y, x = index
        assert vol.index_to_patient(z, y, x) == pytest.approx(image.TransformContinuousIndexToPhysicalPoint((x, y, z)))


def test_single_file_loads_as_one_slice(tmp_path):
    files = write_valid_series(tmp_path, 3)
    vol = load_volume(files[1])
    assert vol.shape == (1, 16, 16) and int(vol.hu[0, 0, 0]) == 10
    assert vol.origin == pytest.approx((-10.0, -20.0, -28.0))


# --- grouping ------------------------------------------------------------------------------------


def test_empty_or_missing_series_uid_falls_back_to_one_series(tmp_path):
    files = write_valid_series(tmp_path, 5)
    for i, f in enumerate(files):
        edit_dicom(f, SeriesInstanceUID="" if i % 2 else None)
    [info] = find_series(tmp_path)
    assert info.num_slices == 5
    assert load_volume(tmp_path).shape == (5, 16, 16)


def test_two_series_in_one_folder(tmp_path):
    write_valid_series(tmp_path, 4, series_description="big", file_prefix="a")
    write_valid_series(tmp_path, 2, series_description="small", file_prefix="b")
    assert sorted(s.num_slices for s in find_series(tmp_path)) == [2, 4]
    vol = load_volume(tmp_path)
    assert vol.num_slices == 4 and vol.meta["SeriesDescription"] == "big"
    assert any("holds 2 series" in w for w in vol.warnings)


def test_localizer_is_dropped_and_orientation_splits(tmp_path):
    files = write_valid_series(tmp_path, 4)
    scout = edit_dicom(files[0], tmp_path / "scout.dcm", ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"],
                       SOPInstanceUID=pydicom.uid.generate_uid())
    assert scout.exists()
    sagittal = edit_dicom(files[1], tmp_path / "sag.dcm", ImageOrientationPatient=[0, 1, 0, 0, 0, -1],
                          SOPInstanceUID=pydicom.uid.generate_uid())
    assert sagittal.exists()
    series = find_series(tmp_path)
    assert sorted(s.num_slices for s in series) == [1, 4]
    assert all(str(scout) not in s.files for s in series)


def test_orientation_rounding_noise_keeps_one_series(tmp_path):
    files = write_valid_series(tmp_path, 4)
    edit_dicom(files[1], ImageOrientationPatient=["0.99999", "0.00001", "0", "-0.00001", "0.99999", "0.0004"])
    assert [s.num_slices for s in find_series(tmp_path)] == [4]


def test_series_info_load_decodes_that_series(tmp_path):
    write_valid_series(tmp_path / "x", 3, series_description="x")
    write_valid_series(tmp_path / "y", 2, series_description="y")
    by_name = {s.series_description: s for s in find_series(tmp_path)}
    assert by_name["y"].load().shape == (2, 16, 16)


# --- defects and their warnings --------------------------------------------------------------------


def test_missing_slice_is_blank_and_distances_stay_true(tmp_path):
    files = write_valid_series(tmp_path, 8)
    files[3].unlink()
    files[5].unlink()
    vol = load_volume(tmp_path)
    assert vol.num_slices == 8 and vol.spacing[0] == pytest.approx(2.0)
    assert vol.meta["missing_slices"] == [3, 5]
    assert (vol.hu[3] == -1024).all() and int(vol.hu[4, 0, 0]) == 40
    assert any("2 slices are missing" in w for w in vol.warnings)


def test_uneven_spacing_is_reported(tmp_path):
    files = write_valid_series(tmp_path, 6)
    edit_dicom(files[5], ImagePositionPatient=[-10, -20, -30 + 4 * 2.0 + 3.1])  # last step 3.1 mm, not 2
    vol = load_volume(tmp_path)
    assert vol.num_slices == 6 and vol.spacing[0] == pytest.approx(2.0 + 1.1 / 5)
    assert any("uneven slice spacing" in w and "3.1 mm" in w for w in vol.warnings)
    assert vol.meta["slice_positions_mm"][-1] == pytest.approx(-30 + 11.1)


def test_duplicate_positions_are_reported(tmp_path):
    files = write_valid_series(tmp_path, 4)
    edit_dicom(files[2], tmp_path / "copy.dcm", SOPInstanceUID=pydicom.uid.generate_uid())
    vol = load_volume(tmp_path)
    assert vol.num_slices == 4
    assert any("repeats the position" in w for w in vol.warnings)


def test_gantry_tilt_is_detected_and_positions_stay_exact(tmp_path):
    files = write_valid_series(tmp_path, 5)
    shear = np.tan(np.radians(15))
    for k, f in enumerate(files):
        edit_dicom(f, ImagePositionPatient=[-10, -20 + k * 2.0 * shear, -30 + k * 2.0])
    vol = load_volume(tmp_path)
    assert any("tilted by 15.0 degrees" in w for w in vol.warnings)
    for k in range(5):
        assert vol.index_to_patient(k, 0, 0) == pytest.approx([-10, -20 + k * 2.0 * shear, -30 + k * 2.0])


def test_header_tilt_with_straight_positions_is_reported_as_corrected(tmp_path):
    for f in write_valid_series(tmp_path, 3):
        edit_dicom(f, GantryDetectorTilt="12")
    vol = load_volume(tmp_path)
    assert any("records a gantry tilt of 12.0 degrees" in w and "stacked straight" in w for w in vol.warnings)
    assert not any("sheared" in w for w in vol.warnings)


def test_one_undecodable_slice_of_many_is_blank_with_a_warning(tmp_path):
    files = write_valid_series(tmp_path, 12)
    for f in files:
        ds = pydicom.dcmread(f)
        ds.compress(pydicom.uid.RLELossless)
        ds.save_as(f, enforce_file_format=True)
    ds = pydicom.dcmread(files[4])
    ds.PixelData = pydicom.encaps.encapsulate([b"\x01\x00\x00\x00" + bytes(60)])  # an RLE header with no segment
    ds.save_as(files[4], enforce_file_format=True)
    vol = load_volume(tmp_path)
    assert vol.num_slices == 12 and vol.meta["failed_slices"] == [4]
    assert (vol.hu[4] == -1024).all() and int(vol.hu[5, 0, 0]) == 50
    assert any("1 slice could not be decoded" in w and files[4].name in w for w in vol.warnings)


def test_mixed_sizes_load_the_majority(tmp_path):
    uid = pydicom.uid.generate_uid()
    write_dicom_series(small_volume(5, 16), tmp_path, series_uid=uid, file_prefix="big")
    small = small_volume(2, 8)
    small.origin = (-10.0, -20.0, -20.0)
    write_dicom_series(small, tmp_path, series_uid=uid, file_prefix="small")
    vol = load_volume(tmp_path)
    assert vol.shape == (5, 16, 16)
    assert any("mixes image sizes" in w and "5 of 16 x 16" in w for w in vol.warnings)


def test_mixed_sizes_without_majority_refuse(tmp_path):
    uid = pydicom.uid.generate_uid()
    write_dicom_series(small_volume(2, 16), tmp_path, series_uid=uid, file_prefix="big")
    small = small_volume(2, 8)
    small.origin = (-10.0, -20.0, -26.0)
    write_dicom_series(small, tmp_path, series_uid=uid, file_prefix="small")
    with pytest.raises(InconsistentSeriesError, match="2 of 16 x 16, 2 of 8 x 8"):
        load_volume(tmp_path)


def test_no_positions_falls_back_to_instance_number(tmp_path):
    files = write_valid_series(tmp_path, 3)
    for i, f in enumerate(files):
        edit_dicom(f, ImagePositionPatient=None, InstanceNumber=3 - i)
    vol = load_volume(tmp_path)
    assert vol.hu[:, 0, 0].tolist() == [20, 10, 0]
    assert any("no slice positions" in w for w in vol.warnings)


def test_unsigned_high_bits_are_masked_and_signed_values_extended(tmp_path):
    [f] = write_valid_series(tmp_path, 1)
    ds = pydicom.dcmread(f)
    stored = np.frombuffer(ds.PixelData, "<u2").copy()
    stored |= 0xF000  # garbage above BitsStored = 12 (an overlay, say)
    ds.PixelData = stored.tobytes()
    ds.save_as(f, enforce_file_format=True)
    assert int(load_volume(f).hu[0, 0, 3]) == 3
    shutil.rmtree(tmp_path)
    tmp_path.mkdir()
    [f] = write_dicom_series(Volume(np.full((1, 2, 2), -5, np.int16), (1, 1, 1)), tmp_path, signed=True)
    edit_dicom(f, BitsStored=12, HighBit=11)
    ds = pydicom.dcmread(f)
    ds.PixelData = (np.frombuffer(ds.PixelData, "<i2") & 0x0FFF).astype("<u2").tobytes()  # 12-bit two's complement
    ds.save_as(f, enforce_file_format=True)
    assert load_volume(f).hu.ravel().tolist() == [-5, -5, -5, -5]


def test_rescale_slope_is_applied_per_slice(tmp_path):
    files = write_valid_series(tmp_path, 2)
    edit_dicom(files[1], RescaleSlope="2.5", RescaleIntercept="-1000")
    vol = load_volume(tmp_path)
    stored = 10 + 1024  # slice 1, column 0 was written as HU 10 + 1024
    assert int(vol.hu[1, 0, 0]) == round(stored * 2.5 - 1000)
    assert int(vol.hu[0, 0, 0]) == 0


def test_files_outside_the_folder_are_not_read(tmp_path):
    write_valid_series(tmp_path / "a", 2)
    write_valid_series(tmp_path / "b", 3)
    assert load_volume(tmp_path / "a").num_slices == 2


def test_paths_in_meta_are_strings(tmp_path):
    write_valid_series(tmp_path, 2)
    vol = load_volume(tmp_path)
    assert all(isinstance(p, str) and Path(p).parent == tmp_path for p in vol.meta["source_files"])


# --- multi-frame (enhanced CT) -----------------------------------------------------------------------


def _enhanced_file(tmp_path, volume, reverse=False, compress=None) -> Path:
    from lesionviewer.io.multiframe import multiframe_dataset

    ds = multiframe_dataset(volume)
    if reverse:  # frames stored top to bottom: positions, not frame order, decide z
        stored = np.frombuffer(ds.PixelData, "<u2").reshape(volume.hu.shape)[::-1]
        ds.PixelData = np.ascontiguousarray(stored).tobytes()
        ds.PerFrameFunctionalGroupsSequence = pydicom.Sequence(list(ds.PerFrameFunctionalGroupsSequence)[::-1])
    if compress:
        ds.compress(compress)
    path = tmp_path / "enhanced.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("compress", [None, pydicom.uid.RLELossless])
def test_enhanced_ct_multiframe_loads_like_a_series(tmp_path, compress):
    original = small_volume(5)
    path = _enhanced_file(tmp_path, original, reverse=True, compress=compress)
    vol = load_volume(path)
    assert np.array_equal(vol.hu, original.hu)
    assert vol.spacing == pytest.approx(original.spacing)
    assert vol.origin == pytest.approx(original.origin)
    assert vol.meta["source_frames"] == [4, 3, 2, 1, 0]
    [info] = find_series(tmp_path)
    assert info.num_slices == 5 and info.files == [str(path)]


def test_enhanced_ct_localizer_frames_are_dropped(tmp_path):
    from lesionviewer.io.multiframe import multiframe_dataset

    ds = multiframe_dataset(small_volume(3))
    frame_type = pydicom.Dataset()
    frame_type.FrameType = ["ORIGINAL", "PRIMARY", "LOCALIZER", "NONE"]
    ds.PerFrameFunctionalGroupsSequence[0].CTImageFrameTypeSequence = pydicom.Sequence([frame_type])
    path = tmp_path / "with_scout.dcm"
    ds.save_as(path, enforce_file_format=True)
    vol = load_volume(path)
    assert vol.num_slices == 2 and vol.hu[:, 0, 0].tolist() == [10, 20]


def test_frame_count_disagreeing_with_functional_groups_is_corrupt(tmp_path):
    from lesionviewer.io.multiframe import multiframe_dataset

    ds = multiframe_dataset(small_volume(3))
    ds.PerFrameFunctionalGroupsSequence = pydicom.Sequence(list(ds.PerFrameFunctionalGroupsSequence)[:2])
    path = tmp_path / "bad_frames.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(CorruptFileError, match="declares 3 frames but describes 2"):
        load_volume(path)


def test_legacy_multiframe_uses_the_frame_step(tmp_path):
    from lesionviewer.io.multiframe import multiframe_dataset

    ds = multiframe_dataset(small_volume(3))
    del ds.PerFrameFunctionalGroupsSequence
    del ds.SharedFunctionalGroupsSequence
    ds.ImagePositionPatient = ["-10", "-20", "-30"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = ["0.8", "0.8"]
    ds.SpacingBetweenSlices = "2.0"
    ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
    path = tmp_path / "legacy.dcm"
    ds.save_as(path, enforce_file_format=True)
    vol = load_volume(path)
    assert vol.hu[:, 0, 0].tolist() == [0, 10, 20]
    assert vol.spacing == pytest.approx((2.0, 0.8, 0.8)) and vol.origin == pytest.approx((-10, -20, -30))


# stored values and the HU they must give with RescaleSlope 2.4, RescaleIntercept -1000, worked by hand
# (HU = stored * slope + intercept, then the nearest whole HU; none of these lands on a .5 tie):
#   1 -> -997.6 -> -998;  2 -> -995.2 -> -995;  3 -> -992.8 -> -993;  7 -> -983.2 -> -983;
#   1001 -> 1402.4 -> 1402;  1002 -> 1404.8 -> 1405
# Truncation would give -997, -995, -992, -983, 1402, 1404; flooring -998, -996, -993, -984, 1402, 1404.
_FRACTIONAL_STORED = [1, 2, 3, 7, 1001, 1002]
_FRACTIONAL_HU = [-998, -995, -993, -983, 1402, 1405]


def _series_with_fractional_rescale(folder: Path, syntax=None) -> Path:
    [f] = write_dicom_series(Volume(np.zeros((1, 1, len(_FRACTIONAL_STORED)), np.int16), (1, 1, 1)), folder)
    ds = pydicom.dcmread(f)
    ds.PixelData = np.array(_FRACTIONAL_STORED, "<u2").tobytes()
    ds.RescaleSlope, ds.RescaleIntercept = "2.4", "-1000"
    if syntax is not None:
        ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(f, enforce_file_format=True)
    return f


@pytest.mark.parametrize("syntax", [None, pydicom.uid.DeflatedExplicitVRLittleEndian], ids=["fast-path", "pydicom"])
def test_fractional_rescale_rounds_to_the_nearest_hu(tmp_path, syntax):
    f = _series_with_fractional_rescale(tmp_path, syntax)
    assert load_volume(f).hu.ravel().tolist() == _FRACTIONAL_HU


def test_stored_to_hu_rounds_negative_and_positive_fractions_to_nearest():
    out = np.empty(len(_FRACTIONAL_STORED), np.int16)
    stored_to_hu(np.array(_FRACTIONAL_STORED, np.uint16), 2.4, -1000.0, out)
    assert out.tolist() == _FRACTIONAL_HU
    # the case: stored 1, slope 2.5, intercept -1000 is -997.5; nearest-even and half-away both give -998
    stored_to_hu(np.array([1], np.uint16), 2.5, -1000.0, out[:1])
    assert int(out[0]) == -998


# --- found by mutation testing (docs/testing.md) ---------------------------------------------------


def test_decode_into_refuses_a_wrong_dtype_as_well_as_a_wrong_shape(tmp_path):
    [f] = write_dicom_series(Volume(np.zeros((1, 2, 3), np.int16), (1, 1, 1)), tmp_path)
    header = read_slice_header(f)
    for out in (np.empty((2, 3), np.int32), np.empty((3, 2), np.int16)):
        with pytest.raises(ValueError, match=r"^out must be int16 of shape \(2, 3\)"):
            decode_slice_into(header, out)


def test_unsigned_values_above_32767_are_read_unsigned(tmp_path):
    # PixelRepresentation 0, 16 bits stored: stored 40000 with intercept -32768 is 40000 - 32768 = 7232 HU
    # (read as signed it would be -25536 - 32768, clipped to -32768)
    [f] = write_dicom_series(Volume(np.zeros((1, 1, 2), np.int16), (1, 1, 1)), tmp_path)
    edit_dicom(f, BitsStored=16, HighBit=15, RescaleIntercept="-32768")
    ds = pydicom.dcmread(f)
    ds.PixelData = np.array([40000, 32768], "<u2").tobytes()
    ds.save_as(f, enforce_file_format=True)
    assert load_volume(f).hu.ravel().tolist() == [7232, 0]

# decode_slice_into called directly (issue 18): the loader checks most headers before a slice is decoded,
# so the decoder's own errors, its multi-frame branch and its shape check are reached here with
# hand-built files and headers. Every error must name the file (``path``) and say what is wrong; transfer
# syntax names are the DICOM standard's (PS3.6 Annex A).


def _one_slice(folder, values) -> str:
    values = np.asarray(values, np.int16)
    [f] = write_dicom_series(Volume(values[None], (1, 1, 1)), folder)
    return str(f)


# --- errors of the fast (uncompressed) path --------------------------------------------------------


def test_a_file_grown_past_the_size_limit_is_named_a_dicom_file(tmp_path, monkeypatch):
    path = _one_slice(tmp_path, [[1, 2, 3], [4, 5, 6]])
    real = dicom_pixels.regular_file_size
    monkeypatch.setattr(dicom_pixels, "regular_file_size", lambda p, **kw: real(p, **{**kw, "limit": 10}))
    with pytest.raises(ImplausibleImageError) as caught:
        decode_slice_into(read_slice_header(path), np.empty((2, 3), np.int16))
    assert caught.value.path == path
    assert "the DICOM file is" in caught.value.reason and "a DICOM file can plausibly be" in caught.value.reason


@pytest.mark.parametrize("error, shown", [
    (OSError(errno.EIO, "Input/output error"), "Input/output error"),  # the system's words, not "[Errno 5] ..."
    (OSError("the disk went away"), "the disk went away"),  # no strerror: the message itself
])
def test_a_read_error_names_the_file_and_the_systems_reason(tmp_path, monkeypatch, error, shown):
    path = _one_slice(tmp_path, [[1, 2]])
    header = read_slice_header(path)

    def failing_open(*args, **kwargs):
        raise error

    monkeypatch.setattr(dicom_pixels, "open", failing_open, raising=False)
    with pytest.raises(LoadError) as caught:
        decode_slice_into(header, np.empty((1, 2), np.int16))
    assert caught.value.path == path
    assert caught.value.reason == f"could not be read ({shown})"


def test_pixel_data_cut_short_says_how_many_bytes_were_there(tmp_path):
    # 2 x 2 pixels of 16 bits need 8 bytes; the file is 10 bytes and the data starts at byte 7: 3 are there
    path = tmp_path / "short.dcm"
    path.write_bytes(bytes(10))
    header = SliceHeader(str(path), ExplicitVRLittleEndian, 2, 2, pixel_offset=7, pixel_length=8)
    with pytest.raises(CorruptFileError) as caught:
        decode_slice_into(header, np.empty((2, 2), np.int16))
    assert caught.value.path == str(path)
    assert "needs 8 bytes but only 3 could be read" in caught.value.reason


# --- errors of the pydicom path --------------------------------------------------------------------


@pytest.mark.parametrize("syntax, named", [
    ("1.2.826.0.1.3680043.9999.1", "'1.2.826.0.1.3680043.9999.1'"),  # not a transfer syntax: its UID
    ("1.2.840.10008.1.2.4.100", "'MPEG2 Main Profile / Main Level' (1.2.840.10008.1.2.4.100)"),  # no decoder here
])
def test_a_syntax_that_cannot_be_decoded_is_named_as_the_standard_names_it(syntax, named):
    header = SliceHeader("scan/x.dcm", syntax, 2, 2)
    with pytest.raises(UnsupportedFormatError) as caught:
        decode_slice_into(header, np.empty((2, 2), np.int16))
    assert caught.value.path == "scan/x.dcm"
    assert named in caught.value.reason


def test_syntax_names_quote_the_standards_name_and_the_uid_or_only_an_unnamed_uid():
    assert _syntax_name(UID("1.2.840.10008.1.2.5")) == "'RLE Lossless' (1.2.840.10008.1.2.5)"
    assert _syntax_name(UID("1.2.3.4")) == "'1.2.3.4'"


class _Unreadable:
    """Stands in for a dataset whose pixel data raises ``error`` when decoded."""

    def __init__(self, error: BaseException):
        self.error = error

    @property
    def pixel_array(self):
        raise self.error


class _Panic(BaseException):
    """Like pyo3's PanicException (pylibjpeg-rle): not an Exception."""


@pytest.mark.parametrize("syntax, error, kind, words", [
    # a compressed syntax whose decoder fails: the data is corrupt
    (RLELossless, NotImplementedError("bad segment\n  in frame 0\n"), CorruptFileError,
     "the 'RLE Lossless' (1.2.840.10008.1.2.5) pixel data could not be decoded (bad segment in frame 0)"),
    # a native syntax pydicom cannot handle: the format is not supported
    (ExplicitVRBigEndian, RuntimeError("no handler"), UnsupportedFormatError,
     "the transfer syntax 'Explicit VR Big Endian' (1.2.840.10008.1.2.2) is not supported (no handler)"),
    (RLELossless, _Panic("index out of range"), CorruptFileError,
     "the pixel data could not be decoded (index out of range)"),
])
def test_decoder_failures_become_typed_errors_naming_the_file(monkeypatch, syntax, error, kind, words):
    monkeypatch.setattr(dicom_pixels, "read_dataset", lambda path, **kw: _Unreadable(error))
    with pytest.raises(kind) as caught:
        decode_slice_into(SliceHeader("scan/a.dcm", syntax, 2, 2), np.empty((2, 2), np.int16))
    assert caught.value.path == "scan/a.dcm"
    assert caught.value.reason == words


def test_a_load_error_from_reading_passes_through_unchanged(monkeypatch):
    raised = CorruptFileError("scan/a.dcm", "the file is truncated")

    def read(path, **kwargs):
        raise raised

    monkeypatch.setattr(dicom_pixels, "read_dataset", read)
    with pytest.raises(CorruptFileError) as caught:
        decode_slice_into(SliceHeader("scan/a.dcm", RLELossless, 2, 2), np.empty((2, 2), np.int16))
    assert caught.value is raised


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_while_decoding_is_not_turned_into_a_load_error(monkeypatch, interrupt):
    monkeypatch.setattr(dicom_pixels, "read_dataset", lambda path, **kw: _Unreadable(interrupt()))
    with pytest.raises(interrupt):
        decode_slice_into(SliceHeader("scan/a.dcm", RLELossless, 2, 2), np.empty((2, 2), np.int16))


def test_each_frame_of_a_two_frame_compressed_file_decodes_alone(tmp_path):
    from lesionviewer.io.multiframe import multiframe_dataset

    ds = multiframe_dataset(small_volume(2, 4))  # slice k holds k * 10 + the column index
    ds.compress(RLELossless)
    path = tmp_path / "two_frames.dcm"
    ds.save_as(path, enforce_file_format=True)
    headers = read_frame_headers(path)
    assert [h.number_of_frames for h in headers] == [2, 2]
    for header, first in zip(headers, (0, 10)):
        out = np.empty((4, 4), np.int16)
        decode_slice_into(header, out)
        assert out.tolist() == [[first, first + 1, first + 2, first + 3]] * 4


def test_a_decoded_image_of_another_size_than_the_header_declares_is_corrupt(tmp_path):
    path = _one_slice(tmp_path, [[1, 2, 3], [4, 5, 6]])
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless)
    ds.save_as(path, enforce_file_format=True)
    header = dataclasses.replace(read_slice_header(path), rows=3, columns=2)  # the same 6 pixels, 2-D
    with pytest.raises(CorruptFileError) as caught:
        decode_slice_into(header, np.empty((3, 2), np.int16))
    assert caught.value.path == path
    assert "(2, 3)" in caught.value.reason and "3 x 2" in caught.value.reason


# --- helpers -----------------------------------------------------------------------------------------


def test_first_line_joins_the_lines_of_a_message():
    assert _first_line(ValueError("  decoding failed:\n\n   plugin a: no\n  plugin b: no  ")) == \
        "decoding failed: plugin a: no plugin b: no"
    assert _first_line(ValueError("   \n ")) == "ValueError"  # nothing to say: the exception's type


def test_first_line_keeps_240_characters_and_shortens_longer_messages_to_240():
    assert _first_line(ValueError("x" * 240)) == "x" * 240
    shortened = _first_line(ValueError("y" * 241))
    assert shortened == "y" * 237 + "..." and len(shortened) == 240


# --- stored_to_hu's shortcuts, worked by hand ------------------------------------------------------


def test_slope_two_with_a_whole_intercept_is_still_multiplied():
    out = np.empty(2, np.int16)
    stored_to_hu(np.array([100, 1000], np.uint16), 2.0, -1024.0, out)  # 200 - 1024, 2000 - 1024
    assert out.tolist() == [-824, 976]


def test_unsigned_data_with_no_rescale_is_clipped_not_wrapped():
    out = np.empty(2, np.int16)
    stored_to_hu(np.array([40000, 5], np.uint16), 1.0, 0.0, out)  # 40000 > 32767, the int16 maximum
    assert out.tolist() == [32767, 5]


def test_signed_data_with_an_intercept_of_one_is_shifted():
    out = np.empty(2, np.int16)
    stored_to_hu(np.array([-5, 7], np.int16), 1.0, 1.0, out)
    assert out.tolist() == [-4, 8]


def test_results_below_the_int16_minimum_are_clipped():
    out = np.empty(2, np.int16)
    stored_to_hu(np.array([-32000, 0], np.int16), 1.0, -1024.0, out)  # -33024 < -32768, the int16 minimum
    assert out.tolist() == [-32768, -1024]
    stored_to_hu(np.array([0, 10], np.uint16), 2.5, -40000.0, out)  # float path: -40000, -39975
    assert out.tolist() == [-32768, -32768]

"""Phantom writers: DICOM series, the DeepLesion layout (checked against the real DL_info table), ground-truth JSON."""
from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from PIL import Image

from lesionviewer.phantom import (
    DL_INFO_COLUMNS,
    PhantomConfig,
    generate_dataset,
    generate_patient,
    read_ground_truth,
    write_dicom_series,
    write_ground_truth,
)

CFG = PhantomConfig.preset("small").with_(num_slices=10, lesions_per_patient=(2, 3))


@pytest.fixture(scope="module")
def case():
    return generate_patient(21, CFG)


@pytest.fixture(scope="module")
def dicom_folder(case, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dicom")
    write_dicom_series(case, folder, patient_index=3)
    return folder


@pytest.fixture(scope="module")
def deeplesion_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("deeplesion")
    generate_dataset(root, 4, layout="deeplesion", seed=5, config=CFG)
    return root


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- DICOM -------------------------------------------------------------------------------


def test_dicom_files_have_zeroed_preamble_and_dicm_magic(dicom_folder):
    files = sorted(dicom_folder.glob("*.dcm"))
    assert len(files) == CFG.num_slices
    for f in files:
        head = f.read_bytes()[:132]
        assert head[:128] == b"\x00" * 128
        assert head[128:] == b"DICM"


def test_dicom_tags_uids_and_patient(dicom_folder, case):
    datasets = [pydicom.dcmread(f) for f in sorted(dicom_folder.glob("*.dcm"))]
    sop = {str(ds.SOPInstanceUID) for ds in datasets}
    assert len(sop) == len(datasets)
    assert len({str(ds.SeriesInstanceUID) for ds in datasets}) == 1
    for ds in datasets:
        assert ds.SOPClassUID == pydicom.uid.CTImageStorage
        for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.FrameOfReferenceUID):
            assert uid.is_valid
        assert str(ds.PatientName) == "PHANTOM^000003" and ds.PatientID == "PHANTOM-000003"
        assert float(ds.RescaleSlope) == 1.0 and float(ds.RescaleIntercept) == -1024.0
        assert float(ds.SliceThickness) == pytest.approx(case.volume.spacing[0])
        assert [float(v) for v in ds.PixelSpacing] == pytest.approx(list(case.volume.spacing[1:]))
        assert ds.WindowCenter is not None and ds.WindowWidth is not None
    k = 4
    assert np.array_equal(datasets[k].pixel_array.astype(np.int32) - 1024, case.volume.hu[k])
    assert [float(v) for v in datasets[k].ImagePositionPatient] == pytest.approx(case.volume.index_to_patient(k, 0, 0).tolist(), abs=1e-6)


def test_simpleitk_reads_the_same_geometry_and_hu(dicom_folder, case):
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(dicom_folder)))
    image = reader.Execute()
    assert np.array_equal(sitk.GetArrayFromImage(image), case.volume.hu)
    assert image.GetSpacing() == pytest.approx(case.volume.spacing[::-1])
    assert image.GetOrigin() == pytest.approx(case.volume.origin, abs=1e-6)
    assert np.reshape(image.GetDirection(), (3, 3)) == pytest.approx(case.volume.direction)


def test_load_volume_round_trip(dicom_folder, case):
    io = pytest.importorskip("lesionviewer.io")
    if not hasattr(io, "load_volume"):
        pytest.skip("lesionviewer.io.load_volume not available yet")
    vol = io.load_volume(dicom_folder)
    assert np.array_equal(vol.hu, case.volume.hu)
    assert vol.spacing == pytest.approx(case.volume.spacing)
    assert vol.origin == pytest.approx(case.volume.origin, abs=1e-6)
    assert vol.direction == pytest.approx(case.volume.direction)


# --- determinism --------------------------------------------------------------------------


def test_same_seed_gives_the_same_bytes_in_both_layouts(tmp_path):
    cfg = CFG.with_(num_slices=4)
    for layout in ("deeplesion", "dicom"):
        a, b = tmp_path / f"{layout}_a", tmp_path / f"{layout}_b"
        generate_dataset(a, 2, layout=layout, seed=9, config=cfg)
        generate_dataset(b, 2, layout=layout, seed=9, config=cfg)
        da, db = _digests(a), _digests(b)
        assert da == db and len(da) >= 2 * 4 + 2
    c = tmp_path / "other_seed"
    generate_dataset(c, 2, layout="dicom", seed=10, config=cfg)
    assert _digests(c) != _digests(tmp_path / "dicom_a")


# --- DeepLesion layout --------------------------------------------------------------------

# What each DL_info field looks like in the real file (checked against the real table below).
NUM = r"-?\d+(\.\d+)?(e-?\d+)?"
FIELD_PATTERNS = {
    "File_name": r"\d{6}_\d{2}_\d{2}_\d{3}\.png",
    "Patient_index": r"[1-9]\d*",
    "Study_index": r"[1-9]\d*",
    "Series_ID": r"[1-9]\d*",
    "Key_slice_index": r"[1-9]\d*",
    "Measurement_coordinates": rf"{NUM}(, {NUM}){{7}}",
    "Bounding_boxes": rf"{NUM}(, {NUM}){{3}}",
    "Lesion_diameters_Pixel_": rf"{NUM}, {NUM}",
    "Normalized_lesion_location": rf"{NUM}, {NUM}, {NUM}",
    "Coarse_lesion_type": r"-1|[1-8]",
    "Possibly_noisy": r"[01]",
    "Slice_range": r"[1-9]\d*, [1-9]\d*",
    "Spacing_mm_px_": rf"{NUM}, {NUM}, {NUM}",
    "Image_size": r"\d+, \d+",
    "DICOM_windows": rf"{NUM}, {NUM}",
    "Patient_gender": r"[MF]",
    "Patient_age": r"\d{1,3}",
    "Train_Val_Test": r"[123]",
}


def _significant_digits(text: str) -> int:
    mantissa = text.split("e")[0].lstrip("-").replace(".", "").lstrip("0")
    return len(mantissa)


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, list(reader)


def test_dl_info_matches_the_real_table_field_by_field(deeplesion_root, shared_data):
    real_header, real_rows = _rows(shared_data / "deeplesion" / "DL_info_test.csv")
    header, rows = _rows(deeplesion_root / "DL_info.csv")
    assert tuple(header) == tuple(real_header) == DL_INFO_COLUMNS
    assert rows and all(len(r) == 18 for r in rows)
    for column, pattern in FIELD_PATTERNS.items():
        i = header.index(column)
        bad_real = [r[i] for r in real_rows if not re.fullmatch(pattern, r[i])]
        assert not bad_real, f"the format check of {column} does not fit the real file: {bad_real[:3]}"
        bad = [r[i] for r in rows if not re.fullmatch(pattern, r[i])]
        assert not bad, f"{column}: {bad[:3]} unlike the real file"
    # numbers carry at most 6 significant digits, as in the real file (C's %g)
    for column in ("Measurement_coordinates", "Bounding_boxes", "Lesion_diameters_Pixel_", "Normalized_lesion_location", "Spacing_mm_px_"):
        i = header.index(column)
        real_max = max(_significant_digits(v) for r in real_rows for v in r[i].split(", "))
        ours = max(_significant_digits(v) for r in rows for v in r[i].split(", "))
        assert ours <= real_max == 6
    # quoting exactly where the real file quotes: the comma lists
    real_text = (shared_data / "deeplesion" / "DL_info_test.csv").read_text().splitlines()[1]
    text = (deeplesion_root / "DL_info.csv").read_text().splitlines()[1]
    assert [m.start() for m in re.finditer('"', real_text)].__len__() == [m.start() for m in re.finditer('"', text)].__len__() == 16
    assert (deeplesion_root / "DL_info.csv").read_bytes().count(b"\r") == 0


def test_dl_info_rows_agree_with_the_images_and_the_truth(deeplesion_root):
    header, rows = _rows(deeplesion_root / "DL_info.csv")
    col = {c: i for i, c in enumerate(header)}
    splits_by_patient: dict[str, set[str]] = {}
    for r in rows:
        folder = "_".join(r[col["File_name"]].split("_")[:3])
        key = int(r[col["Key_slice_index"]])
        assert r[col["File_name"]].endswith(f"_{key:03d}.png")
        png = deeplesion_root / "Images_png" / folder / f"{key:03d}.png"
        assert png.is_file()
        lo, hi = (int(v) for v in r[col["Slice_range"]].split(", "))
        assert (lo, hi) == (1, CFG.num_slices) and lo <= key <= hi
        coords = [float(v) for v in r[col["Measurement_coordinates"]].split(", ")]
        box = [float(v) for v in r[col["Bounding_boxes"]].split(", ")]
        xs, ys = coords[0::2], coords[1::2]
        # DeepLesion's box is the RECIST extent grown by 5 pixels
        assert box == pytest.approx([min(xs) - 5, min(ys) - 5, max(xs) + 5, max(ys) + 5], abs=2e-3)
        long_px, short_px = (float(v) for v in r[col["Lesion_diameters_Pixel_"]].split(", "))
        assert long_px == pytest.approx(np.hypot(coords[2] - coords[0], coords[3] - coords[1]), rel=1e-4)
        assert short_px == pytest.approx(np.hypot(coords[6] - coords[4], coords[7] - coords[5]), rel=1e-4)
        splits_by_patient.setdefault(r[col["Patient_index"]], set()).add(r[col["Train_Val_Test"]])
        truth = read_ground_truth(deeplesion_root / "ground_truth" / f"{folder}.json")
        match = [l for l in truth["lesions"] if l["key_slice"] == key - 1 and l["slices"][key - 1 - l["slice_range"][0]]["recist_box"] == pytest.approx([v - 1 for v in box], abs=2e-3)]
        assert len(match) == 1, "each row is one lesion of the ground truth, +1 for MATLAB's 1-based pixels"
    assert all(len(s) == 1 for s in splits_by_patient.values()), "the split is assigned by patient"


def test_pngs_are_16_bit_hu_plus_32768_and_load_back(deeplesion_root):
    folder = deeplesion_root / "Images_png" / "000002_01_01"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"{k:03d}.png" for k in range(1, CFG.num_slices + 1)]
    image = Image.open(folder / "001.png")
    assert image.mode == "I;16" and image.size == (CFG.matrix, CFG.matrix)
    truth = read_ground_truth(deeplesion_root / "ground_truth" / "000002_01_01.json")
    case = generate_patient((5, 2), CFG)
    hu = np.stack([np.asarray(Image.open(folder / n)).astype(np.int32) - 32768 for n in names])
    assert np.array_equal(hu, case.volume.hu)
    assert truth["volume"]["shape"] == list(case.volume.shape)
    io = pytest.importorskip("lesionviewer.io")
    if hasattr(io, "load_deeplesion_series"):
        vol = io.load_deeplesion_series(folder, dl_info=deeplesion_root / "DL_info.csv")
        assert np.array_equal(vol.hu, case.volume.hu)
        assert vol.spacing == pytest.approx(case.volume.spacing, rel=1e-5)


def test_io_reads_the_generated_table_like_the_real_one(deeplesion_root, shared_data):
    io = pytest.importorskip("lesionviewer.io")
    if not hasattr(io, "read_dl_info"):
        pytest.skip("lesionviewer.io.read_dl_info not available yet")
    real = io.read_dl_info(shared_data / "deeplesion" / "DL_info_test.csv")
    ours = io.read_dl_info(deeplesion_root / "DL_info.csv")
    assert len(real) == 4927 and ours
    assert {type(getattr(ours[0], f)) for f in ("bounding_box", "spacing_mm", "image_size")} == {type(getattr(real[0], f)) for f in ("bounding_box", "spacing_mm", "image_size")}
    assert {r.split for r in ours} <= {1, 2, 3} and {r.lesion_type for r in ours} <= set(range(1, 9))


def test_ground_truth_json_round_trip(case, tmp_path):
    path = write_ground_truth(case, tmp_path / "t.json", patient_index=4)
    truth = read_ground_truth(path)
    assert truth["patient"]["index"] == 4
    assert len(truth["lesions"]) == len(case.lesions)
    for lesion, data in zip(case.lesions, truth["lesions"]):
        assert data["key_slice"] == lesion.key_slice
        assert [s["slice"] for s in data["slices"]] == sorted(lesion.slices)
        key = data["slices"][lesion.key_slice - data["slice_range"][0]]
        assert key["box"] == pytest.approx(list(lesion.key.box), abs=1e-4)
        assert key["long_mm"] == pytest.approx(lesion.key.long_px * case.volume.spacing[1], abs=1e-3)
    assert truth["volume"]["spacing_zyx_mm"] == pytest.approx(list(case.volume.spacing))


def test_not_a_truth_file_is_a_clear_error(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("[1, 2]")
    with pytest.raises(ValueError, match="x.json is not a phantom ground-truth file"):
        read_ground_truth(p)


def test_uids_differ_between_patients_and_overlapping_slices_load(tmp_path):
    cfg = CFG.with_(num_slices=4, slice_intervals_mm=(2.0,), slice_interval_weights=(1.0,), thickness_over_interval=1.5)
    generate_dataset(tmp_path, 2, layout="dicom", seed=3, config=cfg)
    first = [pydicom.dcmread(f) for f in sorted((tmp_path / "PHANTOM-000001").glob("*.dcm"))]
    second = pydicom.dcmread(next((tmp_path / "PHANTOM-000002").glob("*.dcm")))
    assert first[0].StudyInstanceUID != second.StudyInstanceUID
    assert first[0].SeriesInstanceUID != second.SeriesInstanceUID
    assert {str(d.SOPInstanceUID) for d in first}.isdisjoint({str(second.SOPInstanceUID)})
    assert float(first[0].SliceThickness) == 3.0 and float(first[0].SpacingBetweenSlices) == 2.0
    io = pytest.importorskip("lesionviewer.io")
    vol = io.load_volume(tmp_path / "PHANTOM-000001")
    assert vol.spacing[0] == pytest.approx(2.0, abs=1e-6)

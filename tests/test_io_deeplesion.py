"""DeepLesion: the DL_info.csv parser on the real tables, and PNG series folders as volumes."""
from __future__ import annotations

import io
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionviewer.io import (
    CorruptFileError,
    EmptyInputError,
    DeepLesionRecord,
    UnsupportedFormatError,
    find_series,
    load_deeplesion_series,
    load_volume,
    read_dl_info,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from lesionviewer.io.deeplesion_info import DL_INFO_COLUMNS, parse_dl_info, records_by_series
from lesionviewer.io.deeplesion_png import find_dl_info

HEADER = ",".join(DL_INFO_COLUMNS)


def _row(name="000099_01_01_012.png", patient=99, study=1, series=1, key=12, spacing="0.7, 0.7, 2.5",
         age="45", gender="M", split=1, lesion_type=-1):
    return (
        f'{name},{patient},{study},{series},{key},"100, 100, 120, 120, 105, 115, 115, 105",'
        f'"95, 95, 125, 125","28.28, 14.14","0.5, 0.4, 0.3",{lesion_type},0,"10, 14",'
        f'"{spacing}","512, 512","-175, 275",{gender},{age},{split}'
    )


@pytest.fixture(scope="module")
def deeplesion(shared_data) -> Path:
    return shared_data / "deeplesion"


@pytest.fixture(scope="module")
def test_split(deeplesion) -> list[DeepLesionRecord]:
    return read_dl_info(deeplesion / "DL_info_test.csv")


# --- DL_info.csv -----------------------------------------------------------------------------------


def test_test_split_matches_the_documented_counts(test_split):
    assert len(test_split) == 4927
    assert len({r.patient_index for r in test_split}) == 665
    assert len({r.file_name for r in test_split}) == 4831
    assert Counter(r.lesion_type for r in test_split) == {1: 108, 2: 1173, 3: 864, 4: 700, 5: 1100, 6: 234, 7: 339, 8: 409}
    assert sum(r.possibly_noisy for r in test_split) == 15
    assert [r.image_size for r in test_split if r.image_size != (512, 512)] == [(768, 768)]
    assert {r.split_name for r in test_split} == {"test"}


def test_val_split_matches_the_documented_counts(deeplesion):
    rows = read_dl_info(deeplesion / "DL_info_val.csv")
    assert len(rows) == 4889 and len({r.patient_index for r in rows}) == 703
    assert sum(r.possibly_noisy for r in rows) == 2 and {r.split for r in rows} == {2}


def test_first_test_row_is_parsed_into_every_field(test_split):
    rec = test_split[0]
    assert rec.file_name == "000001_01_01_109.png"
    assert (rec.patient_index, rec.study_index, rec.series_id, rec.key_slice_index) == (1, 1, 1, 109)
    # The file's one-based values minus 1 (zero-based, as the peers read them).
    assert rec.measurement_coordinates == pytest.approx(
        (232.537, 94.0204, 233.057, 105.977, 230.169, 100.605, 235.252, 100.143))
    assert rec.bounding_box == pytest.approx((225.169, 89.0204, 240.252, 110.977))
    assert rec.lesion_diameters_px == (11.9677, 5.10387)
    assert rec.normalized_location == (0.44666, 0.283794, 0.434454)
    assert (rec.lesion_type, rec.lesion_type_name, rec.possibly_noisy) == (3, "mediastinum", False)
    assert rec.slice_range == (103, 115)
    assert rec.spacing_mm == (0.488281, 0.488281, 5.0) and rec.slice_interval_mm == 5.0
    assert rec.image_size == (512, 512) and rec.dicom_window == (-175.0, 275.0)
    assert (rec.gender, rec.age, rec.split) == ("F", 62.0, 3)
    assert rec.series_key == "000001_01_01" and rec.png_path == "000001_01_01/109.png"
    assert rec.long_diameter_mm == pytest.approx(11.9677 * 0.488281)


def test_every_row_is_geometrically_consistent(test_split):
    for rec in test_split:
        x1, y1, x2, y2 = rec.bounding_box
        assert x1 < x2 and y1 < y2
        assert rec.slice_range[0] <= rec.key_slice_index <= rec.slice_range[1]
        assert rec.lesion_diameters_px[0] >= rec.lesion_diameters_px[1] > 0
        # the RECIST long axis has the long diameter's length
        lx1, ly1, lx2, ly2 = rec.measurement_coordinates[:4]
        assert math.hypot(lx2 - lx1, ly2 - ly1) == pytest.approx(rec.lesion_diameters_px[0], rel=1e-3, abs=1e-2)
        assert rec.file_name == f"{rec.series_key}_{rec.key_slice_index:03d}.png"


def test_partial_table_has_unlabelled_training_rows(deeplesion):
    rows = read_dl_info(deeplesion / "partial_DL_info_patients_089-100" / "DL_info.csv")
    assert len(rows) == 158
    assert Counter(r.split_name for r in rows) == {"train": 105, "val": 18, "test": 35}
    assert {r.lesion_type_name for r in rows if r.split == 1} == {"unknown"}


def test_missing_age_is_nan_and_gender_may_be_empty():
    text = "\n".join([HEADER, _row(age="NaN"), _row(age="", gender="")]) + "\n"
    rows = parse_dl_info(io.StringIO(text))
    assert all(math.isnan(r.age) for r in rows)
    assert rows[1].gender == ""


def test_malformed_row_names_line_and_column(tmp_path):
    path = tmp_path / "DL_info.csv"
    path.write_text("\n".join([HEADER, _row(), _row().replace('"95, 95, 125, 125"', '"95, 95, 125"')]) + "\n")
    with pytest.raises(CorruptFileError, match=r"DL_info.csv: line 3, column Bounding_boxes: .*3 numbers, expected 4"):
        read_dl_info(path)


@settings(max_examples=60, deadline=1000, derandomize=True)
@given(edits=st.lists(st.tuples(st.integers(0, 10_000), st.characters()), min_size=1, max_size=6))
def test_damaged_tables_give_only_corrupt_file_errors(edits):
    text = list("\n".join([HEADER, _row(), _row(age="NaN")]) + "\n")
    for position, char in edits:
        text[position % len(text)] = char
    try:
        rows = parse_dl_info(io.StringIO("".join(text)))
    except CorruptFileError as exc:
        assert str(exc).startswith("DL_info.csv: ")
        return
    assert all(isinstance(r, DeepLesionRecord) for r in rows)


def test_a_table_without_the_columns_is_refused(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(CorruptFileError, match="missing columns"):
        read_dl_info(path)


def test_records_group_by_series(test_split):
    grouped = records_by_series(test_split)
    assert sum(len(v) for v in grouped.values()) == len(test_split)
    assert all(r.series_key == key for key, rows in grouped.items() for r in rows)


# --- PNG series -----------------------------------------------------------------------------------


def test_every_real_key_slice_loads_with_its_table_spacing(deeplesion):
    tables = {}
    for name in ("DL_info_val.csv", "DL_info_test.csv"):
        for rec in read_dl_info(deeplesion / name):
            tables[rec.png_path] = rec
    pngs = sorted((deeplesion / "Images_png").glob("*/*.png"))
    assert len(pngs) == 24
    for png in pngs:
        rec = tables[f"{png.parent.name}/{png.name}"]
        vol = load_volume(png)
        assert vol.shape == (1, 512, 512)
        assert vol.spacing == pytest.approx((rec.slice_interval_mm, rec.spacing_mm[1], rec.spacing_mm[0]))
        assert int(np.median(vol.hu[0, :8, :8])) in (-1024, -2048)  # background outside the body
        x1, y1, x2, y2 = (int(round(v)) for v in rec.bounding_box)
        assert -200 < np.median(vol.hu[0, y1:y2, x1:x2]) < 300  # soft-tissue lesion where the box says
        assert any(r.key_slice_index == int(png.stem) for r in vol.meta["deeplesion_records"])


def test_single_png_series_folder(deeplesion):
    vol = load_volume(deeplesion / "Images_png" / "000016_02_01")
    assert vol.shape == (1, 512, 512)
    assert vol.meta["slice_indices"] == [253]
    assert vol.meta["dl_info"].endswith("DL_info_test.csv")
    assert vol.meta["window_center"] == pytest.approx(50.0) and vol.meta["window_width"] == pytest.approx(450.0)


def _write_series(folder: Path, indices, size=(8, 10)) -> np.ndarray:
    folder.mkdir(parents=True)
    hu = np.arange(len(indices) * size[0] * size[1], dtype=np.int32).reshape(len(indices), *size) - 1000
    for k, i in enumerate(indices):
        Image.fromarray((hu[k] + 32768).astype(np.uint16)).save(folder / f"{i:03d}.png")
    return hu


def test_generated_multi_png_folder_uses_the_table_next_to_images_png(tmp_path):
    hu = _write_series(tmp_path / "Images_png" / "000099_01_01", [10, 11, 12, 13, 14])
    (tmp_path / "DL_info.csv").write_text(HEADER + "\n" + _row() + "\n")
    vol = load_volume(tmp_path / "Images_png" / "000099_01_01")
    assert np.array_equal(vol.hu, hu)
    assert vol.spacing == pytest.approx((2.5, 0.7, 0.7))
    assert vol.origin == pytest.approx((0.0, 0.0, 25.0))
    assert vol.meta["slice_indices"] == [10, 11, 12, 13, 14]
    assert [r.key_slice_index for r in vol.meta["deeplesion_records"]] == [12]
    assert vol.warnings == []


def test_spacing_given_by_the_caller_wins(tmp_path):
    _write_series(tmp_path / "000099_01_01", [1, 2])
    vol = load_deeplesion_series(tmp_path / "000099_01_01", spacing=(5.0, 0.8, 0.8))
    assert vol.spacing == (5.0, 0.8, 0.8)


def test_unknown_spacing_is_a_warning(tmp_path):
    _write_series(tmp_path / "000099_01_01", [1, 2])
    vol = load_volume(tmp_path / "000099_01_01")
    assert vol.spacing == (1.0, 1.0, 1.0)
    assert any("spacing" in w and "unknown" in w for w in vol.warnings)


def test_absent_png_slices_are_not_invented_and_keep_true_positions(tmp_path):
    hu = _write_series(tmp_path / "000099_01_01", [10, 11, 14])
    vol = load_deeplesion_series(tmp_path / "000099_01_01", spacing=(2.0, 1.0, 1.0))
    # only the three real slices: no blank -1024 slice ever reaches the viewer or the detector
    assert vol.num_slices == 3 and np.array_equal(vol.hu, hu)
    assert vol.meta["slice_indices"] == [10, 11, 14] and vol.meta["absent_slice_numbers"] == [12, 13]
    assert vol.meta["slice_positions_mm"] == [20.0, 22.0, 28.0]
    assert [vol.index_to_patient(k, 0, 0)[2] for k in range(3)] == pytest.approx([20.0, 22.0, 28.0])
    assert any("2 slices are absent" in w and "12-13" in w and "real neighbours" in w for w in vol.warnings)


def test_the_detector_context_of_a_gappy_series_uses_real_neighbours_only(tmp_path):
    from lesionviewer.detection.engine import slice_positions_of
    from lesionviewer.imaging.context import context_stack

    folder = tmp_path / "000099_01_01"
    folder.mkdir()
    for number in (10, 11, 14, 15):  # each slice holds its own number, in HU
        Image.fromarray(np.full((4, 4), 32768 + number, np.uint16)).save(folder / f"{number:03d}.png")
    vol = load_deeplesion_series(folder, spacing=(2.0, 1.0, 1.0))
    stack = context_stack(vol.hu, slice_positions_of(vol), center_index=1, num_slices=3, interval_mm=2.0)
    # the neighbour above slice 11 (slice 12, absent) is interpolated between 11 and 14, not -1024
    assert stack[:, 0, 0].tolist() == pytest.approx([10.0, 11.0, 12.0])
    assert stack.min() >= 10


def test_flat_layout_files_can_be_opened(tmp_path):
    folder = tmp_path / "Key_slices_png"
    folder.mkdir()
    for number in (109, 110, 111):
        Image.fromarray(np.full((6, 8), 32768 + number, np.uint16)).save(folder / f"000099_01_01_{number}.png")
    Image.fromarray(np.full((6, 8), 32768, np.uint16)).save(folder / "000098_02_01_050.png")
    (tmp_path / "DL_info.csv").write_text(HEADER + "\n" + _row(name="000099_01_01_110.png", key=110) + "\n")
    vol = load_volume(folder)
    assert vol.num_slices == 3 and vol.meta["slice_indices"] == [109, 110, 111]
    assert vol.meta["series_key"] == "000099_01_01" and vol.spacing == pytest.approx((2.5, 0.7, 0.7))
    assert [r.key_slice_index for r in vol.meta["deeplesion_records"]] == [110]
    assert any("000098_02_01" in w for w in vol.warnings)
    one = load_volume(folder / "000099_01_01_110.png")
    assert one.num_slices == 1 and int(one.hu[0, 0, 0]) == 110
    listed = {s.series_uid: s for s in find_series(folder)}
    assert sorted(listed) == ["000098_02_01", "000099_01_01"] and listed["000099_01_01"].num_slices == 3
    assert listed["000099_01_01"].load().meta["slice_indices"] == [109, 110, 111]


def test_png_series_total_size_is_capped_before_decoding(tmp_path, monkeypatch):
    import tracemalloc

    from lesionviewer.io import deeplesion_png
    from lesionviewer.io.errors import ImplausibleImageError

    folder = tmp_path / "000099_01_01"
    folder.mkdir()
    Image.fromarray(np.zeros((512, 512), np.uint16)).save(folder / "001.png")
    for k in range(2, 41):  # 40 hard links to one slice, as in the hostile-input trial
        (folder / f"{k:03d}.png").hardlink_to(folder / "001.png")
    monkeypatch.setattr(deeplesion_png, "MAX_SERIES_BYTES", 10 * 512 * 512 * 2)  # 10 slices' worth
    tracemalloc.start()
    try:
        with pytest.raises(ImplausibleImageError, match="refused before decoding"):
            load_volume(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


def test_find_dl_info_prefers_the_table_listing_the_series(deeplesion):
    assert find_dl_info(deeplesion / "Images_png" / "000053_06_01").name == "DL_info_test.csv"
    val_series = next(r.series_key for r in read_dl_info(deeplesion / "DL_info_val.csv")
                      if (deeplesion / "Images_png" / r.series_key).is_dir())
    assert find_dl_info(deeplesion / "Images_png" / val_series).name == "DL_info_val.csv"


def test_eight_bit_png_is_not_a_deeplesion_slice(tmp_path):
    folder = tmp_path / "000099_01_01"
    folder.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / "001.png")
    with pytest.raises(UnsupportedFormatError, match="001.png"):
        load_volume(folder)


def test_broken_png_is_corrupt(tmp_path):
    folder = tmp_path / "000099_01_01"
    folder.mkdir()
    (folder / "001.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(30))
    with pytest.raises(CorruptFileError, match="001.png"):
        load_volume(folder)


def test_find_series_lists_png_folders(deeplesion):
    series = find_series(deeplesion / "Images_png")
    folders = [p for p in (deeplesion / "Images_png").iterdir() if p.is_dir()]
    assert len(series) == len(folders) == 19 and all(s.format == "deeplesion" for s in series)
    assert sum(s.num_slices for s in series) == 24
    by_key = {s.series_uid: s for s in series}
    assert by_key["000016_02_01"].spacing == pytest.approx((1.0, 0.82, 0.82))
    assert by_key["000016_02_01"].image_size == (512, 512)


def test_opening_the_dataset_root_points_to_the_series_folders(deeplesion):
    with pytest.raises(EmptyInputError, match="19 DeepLesion PNG series in its sub-folders"):
        load_volume(deeplesion / "Images_png")

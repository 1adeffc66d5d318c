"""Grouping DICOM headers into series (lesionviewer.io.dicom_series), from hand-built headers.

The rules come from DICOM and from what a reader expects of a series list: files belong together by
SeriesInstanceUID (PS3.3 C.7.3.1); a blank UID falls back to folder + FrameOfReferenceUID +
SeriesNumber + SeriesDescription; one UID holding several ImageType values or orientations is shown
as numbered parts; localizers (ImageType value 3 LOCALIZER, also SCOUT/TOPOGRAM) are not CT volumes.
Folder scans read headers only; here ``read_frame_headers`` is replaced by a table of hand-built
headers so each test states exactly what every file holds.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from lesionviewer.io import dicom_series
from lesionviewer.io.dicom_series import (
    ORIENTATION_TOLERANCE,
    describe_series,
    group_into_series,
    list_entries,
    scan_dicom_folder,
    skipped_note,
)
from lesionviewer.io.errors import CorruptFileError, NotDicomError
from lesionviewer.io.progress import LoadCancelled, LoadProgress
from lesionviewer.io.slice_header import EXPLICIT_LITTLE, SliceHeader

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)


def slice_(path, z, *, uid="1.2.3", orientation=AXIAL, rows=4, columns=4, image_type=("ORIGINAL", "PRIMARY", "AXIAL"),
           **kw):
    return SliceHeader(str(path), EXPLICIT_LITTLE, rows, columns, position=(0.0, 0.0, float(z)),
                       orientation=orientation, pixel_spacing=(0.5, 0.5), series_uid=uid, image_type=image_type,
                       **kw)


# --- list_entries ---

def test_files_are_listed_depth_first_in_name_order_and_hidden_entries_are_left_out(tmp_path):
    for name in ("b/2", "b/1", "a", "c/x", ".git/config", "b/.hidden", "d/.e/f"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    files, skipped = list_entries(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["a", "b/1", "b/2", "c/x"]
    assert skipped == []


def test_a_broken_link_is_reported_not_listed(tmp_path):
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    (tmp_path / "real").write_text("x")
    files, skipped = list_entries(tmp_path)
    assert [p.name for p in files] == ["real"]
    assert skipped == [f"{tmp_path / 'gone'} (a broken link or unreadable entry)"]


def test_a_link_to_a_pipe_says_where_it_points_and_a_pipe_itself_does_not(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "link").symlink_to(tmp_path / "pipe")
    files, skipped = list_entries(tmp_path)
    assert files == []
    assert skipped == [f"{tmp_path / 'link'} (a named pipe via a link to {os.path.realpath(tmp_path / 'pipe')})",
                       f"{tmp_path / 'pipe'} (a named pipe)"]


def test_a_link_to_a_folder_is_neither_entered_nor_reported(tmp_path):
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "f").write_text("x")
    (tmp_path / "loop").symlink_to(tmp_path)  # followed, this would list the tree again (and again)
    files, skipped = list_entries(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["inner/f"]
    assert skipped == []


# --- the notes ---

@pytest.mark.parametrize("count, expected", [
    (1, "1 entry in the folder is not a regular file and was not read: p0"),
    (2, "2 entries in the folder are not a regular file and were not read: p0; p1"),
    (3, "3 entries in the folder are not a regular file and were not read: p0; p1; p2"),
    (4, "4 entries in the folder are not a regular file and were not read: p0; p1; p2; and 1 more"),
    (5, "5 entries in the folder are not a regular file and were not read: p0; p1; p2; and 2 more"),
])
def test_the_skipped_note_names_three_and_counts_the_rest(count, expected):
    assert skipped_note([f"p{i}" for i in range(count)]) == expected


# --- scanning a folder (headers from a table) ---

@pytest.fixture
def header_table(monkeypatch):
    """Replace the header reader by a table: file name -> headers, or an exception to raise."""
    table: dict[str, object] = {}

    def read(path):
        found = table.get(Path(path).name)
        if isinstance(found, Exception):
            raise found
        if found is None:
            raise AssertionError(f"the scan opened {path}, which it should have skipped")
        return found

    monkeypatch.setattr(dicom_series, "read_frame_headers", read)
    return table


def test_a_scan_groups_the_files_and_counts_every_file_it_met(tmp_path, header_table):
    for z in range(3):
        (tmp_path / f"{z}.dcm").write_bytes(b"x")
        header_table[f"{z}.dcm"] = [slice_(tmp_path / f"{z}.dcm", 2.0 * z)]
    for name in ("DICOMDIR", "notes.TXT", "Thumbs.db", "mask.nii.gz"):  # never opened (the table would fail)
        (tmp_path / name).write_bytes(b"x")
    scan = scan_dicom_folder(tmp_path)
    assert scan.num_files == 7
    assert [s.num_slices for s in scan.series] == [3]
    assert sorted(Path(p).name for p in scan.not_dicom) == ["DICOMDIR", "Thumbs.db", "mask.nii.gz", "notes.TXT"]
    assert scan.errors == [] and scan.skipped == []
    assert scan.series[0].problems == []
    assert scan.folder == str(tmp_path)


def test_files_that_are_not_dicom_and_files_that_fail_are_kept_apart(tmp_path, header_table):
    for name in ("a.dcm", "b.dcm", "photo", "broken1", "broken2"):
        (tmp_path / name).write_bytes(b"x")
    header_table["a.dcm"] = [slice_(tmp_path / "a.dcm", 0.0)]
    header_table["b.dcm"] = [slice_(tmp_path / "b.dcm", 1.0)]
    header_table["photo"] = NotDicomError(tmp_path / "photo", "not a DICOM file")
    header_table["broken1"] = CorruptFileError(tmp_path / "broken1", "truncated header")
    header_table["broken2"] = CorruptFileError(tmp_path / "broken2", "truncated header")
    scan = scan_dicom_folder(tmp_path)
    assert scan.not_dicom == [str(tmp_path / "photo")]
    assert [e.path for e in scan.errors] == [str(tmp_path / "broken1"), str(tmp_path / "broken2")]
    # every series of the folder carries the warning, with the files' own messages
    assert scan.series[0].problems == [
        f"2 files in the folder could not be read and were left out: {tmp_path / 'broken1'}: truncated header; "
        f"{tmp_path / 'broken2'}: truncated header"]


@pytest.mark.parametrize("failed, tail", [(3, "bad0: r; bad1: r; bad2: r"), (4, "bad0: r; bad1: r; bad2: r; and 1 more")])
def test_three_failed_files_are_all_named_and_a_fourth_is_counted(tmp_path, header_table, failed, tail):
    (tmp_path / "a.dcm").write_bytes(b"x")
    header_table["a.dcm"] = [slice_(tmp_path / "a.dcm", 0.0)]
    for k in range(failed):
        (tmp_path / f"bad{k}").write_bytes(b"x")
        header_table[f"bad{k}"] = CorruptFileError(f"bad{k}", "r")
    assert scan_dicom_folder(tmp_path).series[0].problems == [
        f"{failed} files in the folder could not be read and were left out: {tail}"]


def test_one_failed_file_is_singular_and_a_fifth_is_counted_not_named(tmp_path, header_table):
    (tmp_path / "a.dcm").write_bytes(b"x")
    header_table["a.dcm"] = [slice_(tmp_path / "a.dcm", 0.0)]
    (tmp_path / "bad0").write_bytes(b"x")
    header_table["bad0"] = CorruptFileError("bad0", "r")
    assert scan_dicom_folder(tmp_path).series[0].problems == [
        "1 file in the folder could not be read and was left out: bad0: r"]
    for k in range(1, 5):
        (tmp_path / f"bad{k}").write_bytes(b"x")
        header_table[f"bad{k}"] = CorruptFileError(f"bad{k}", "r")
    assert scan_dicom_folder(tmp_path).series[0].problems == [
        "5 files in the folder could not be read and were left out: bad0: r; bad1: r; bad2: r; and 2 more"]


def test_a_pipe_in_the_folder_is_reported_on_every_series_after_the_failures(tmp_path, header_table):
    (tmp_path / "a.dcm").write_bytes(b"x")
    (tmp_path / "bad").write_bytes(b"x")
    os.mkfifo(tmp_path / "pipe")
    header_table["a.dcm"] = [slice_(tmp_path / "a.dcm", 0.0, uid="1"), slice_(tmp_path / "a.dcm", 0.0, uid="2")]
    header_table["bad"] = CorruptFileError("bad", "r")
    scan = scan_dicom_folder(tmp_path)
    assert scan.num_files == 2  # the pipe is not a file
    assert scan.skipped == [f"{tmp_path / 'pipe'} (a named pipe)"]
    expected = ["1 file in the folder could not be read and was left out: bad: r",
                f"1 entry in the folder is not a regular file and was not read: {tmp_path / 'pipe'} (a named pipe)"]
    assert [s.problems for s in scan.series] == [expected, expected]
    scan.series[0].problems.append("x")  # the two series do not share one list
    assert scan.series[1].problems == expected


def test_the_scan_reports_progress_per_file_and_stops_when_cancelled(tmp_path, header_table):
    for z in range(4):
        (tmp_path / f"{z}.dcm").write_bytes(b"x")
        header_table[f"{z}.dcm"] = [slice_(tmp_path / f"{z}.dcm", z)]
    seen = []
    scan_dicom_folder(tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    with pytest.raises(LoadCancelled) as cancelled:
        scan_dicom_folder(tmp_path, cancel=lambda: True)
    assert cancelled.value.path == str(tmp_path)  # the message names the folder being scanned


def test_a_shared_tracker_is_told_the_load_that_follows(tmp_path, header_table):
    for z in range(3):
        (tmp_path / f"{z}.dcm").write_bytes(b"x")
        header_table[f"{z}.dcm"] = [slice_(tmp_path / f"{z}.dcm", z)]
    tracker = LoadProgress(None, None, total=0)
    tracker.advance(5)  # work done before the scan
    scan_dicom_folder(tmp_path, tracker=tracker)
    # 5 done before + 3 files scanned now, of 5 + 2 x 3 (each file scanned, then about one slice decoded)
    assert (tracker.done, tracker.total) == (8, 11)


# --- grouping ---

def test_series_split_by_uid_and_localizers_are_dropped():
    hs = [slice_(f"d/a{z}", z, uid="1.1") for z in range(3)] + [slice_(f"d/b{z}", z, uid="1.2") for z in range(2)]
    hs += [slice_("d/scout", 0, uid="1.1", image_type=("ORIGINAL", "PRIMARY", "localizer")),
           slice_("d/topo", 0, uid="1.3", image_type=("ORIGINAL", "PRIMARY", "TOPOGRAM"))]
    series = group_into_series(hs)
    assert [(s.series_uid, s.num_slices) for s in series] == [("1.1", 3), ("1.2", 2)]
    assert all(s.note == "" for s in series)


def test_without_a_uid_files_group_by_folder_frame_of_reference_number_and_description():
    def blank(path, z, **kw):
        return slice_(path, z, uid="", frame_of_reference_uid=kw.pop("frame", "9"), series_number=kw.pop("number", 2),
                      series_description=kw.pop("description", "Abd"), **kw)
    hs = [blank(f"one/{z}", z) for z in range(3)]
    hs += [blank(f"two/{z}", z) for z in range(2)]               # another folder
    hs += [blank(f"one/f{z}", z + 10, frame="8") for z in range(2)]  # another frame of reference
    hs += [blank(f"one/n{z}", z + 20, number=3) for z in range(2)]   # another series number
    hs += [blank(f"one/d{z}", z + 30, description="Lung") for z in range(2)]  # another description
    series = group_into_series(hs)
    assert sorted((s.folder, s.num_slices, s.series_number, s.series_description) for s in series) == [
        ("one", 2, 2, "Abd"), ("one", 2, 2, "Lung"), ("one", 2, 3, "Abd"), ("one", 3, 2, "Abd"), ("two", 2, 2, "Abd")]


def test_one_uid_with_two_image_types_becomes_two_numbered_parts_case_blind():
    hs = [slice_(f"d/o{z}", z, image_type=("ORIGINAL", "PRIMARY", "AXIAL")) for z in range(3)]
    hs += [slice_(f"d/O{z}", z + 3, image_type=("original", "primary", "axial")) for z in range(1)]
    hs += [slice_(f"d/r{z}", z, image_type=("DERIVED", "SECONDARY")) for z in range(2)]
    series = group_into_series(hs)
    assert [(s.num_slices, s.note) for s in series] == [
        (4, "part 1 of 2 of one series: image type ORIGINAL\\PRIMARY\\AXIAL"),
        (2, "part 2 of 2 of one series: image type DERIVED\\SECONDARY")]


def test_a_part_without_image_type_says_none():
    hs = [slice_("d/a", 0, image_type=()), slice_("d/b", 0, image_type=("DERIVED",))]
    assert [s.note for s in group_into_series(hs)] == [
        "part 1 of 2 of one series: image type none", "part 2 of 2 of one series: image type DERIVED"]


def test_one_uid_in_two_orientations_becomes_two_parts_named_by_their_cosines():
    coronal = [SliceHeader(f"d/c{y}", EXPLICIT_LITTLE, 4, 4, position=(0.0, float(y), 0.0), orientation=CORONAL,
                           series_uid="1.2.3", image_type=("ORIGINAL", "PRIMARY", "AXIAL")) for y in range(2)]
    series = group_into_series([slice_(f"d/a{z}", z) for z in range(3)] + coronal)
    assert [(s.num_slices, s.note) for s in series] == [
        (3, "part 1 of 2 of one series: orientation (1, 0, 0, 0, 1, 0)"),
        (2, "part 2 of 2 of one series: orientation (1, 0, 0, 0, 0, -1)")]


def test_orientation_and_image_type_both_named_when_both_differ():
    hs = [slice_("d/a", 0), slice_("d/b", 0, orientation=CORONAL), slice_("d/c", 0, image_type=("DERIVED",))]
    notes = [s.note for s in group_into_series(hs)]
    assert notes == ["part 1 of 3 of one series: orientation (1, 0, 0, 0, 1, 0), image type ORIGINAL\\PRIMARY\\AXIAL",
                     "part 2 of 3 of one series: orientation (1, 0, 0, 0, 0, -1), image type ORIGINAL\\PRIMARY\\AXIAL",
                     "part 3 of 3 of one series: orientation (1, 0, 0, 0, 1, 0), image type DERIVED"]


def test_orientation_rounding_noise_up_to_the_tolerance_is_one_orientation():
    assert ORIENTATION_TOLERANCE == pytest.approx(1e-3)
    # components written to 4 decimals by one scanner, to 6 by another: within 1e-3 per component
    at_tolerance = (1.0, 0.0, 0.0, 0.0, 0.9995, -0.0005)
    just_over = (1.0, 0.0, 0.0, 0.0, 1.0, 0.00125)
    hs = [slice_("d/a", 0), slice_("d/b", 1, orientation=at_tolerance), slice_("d/c", 2, orientation=just_over)]
    series = group_into_series(hs)
    assert [s.num_slices for s in series] == [2, 1]
    assert series[1].note == "part 2 of 2 of one series: orientation (1, 0, 0, 0, 1, 0.00125)"


def test_a_difference_of_exactly_the_tolerance_is_still_one_orientation():
    # 0.001 - 0.0 is exactly the tolerance (the same double): "closer than or equal" keeps them together
    hs = [slice_("d/a", 0), slice_("d/b", 1, orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.001))]
    assert [s.num_slices for s in group_into_series(hs)] == [2]


def test_a_slice_without_orientation_is_its_own_part_and_says_unknown():
    hs = [slice_("d/a", 0), slice_("d/b", 1), SliceHeader("d/x", EXPLICIT_LITTLE, 4, 4, series_uid="1.2.3",
                                                             image_type=("ORIGINAL", "PRIMARY", "AXIAL"))]
    series = group_into_series(hs)
    assert [(s.num_slices, s.note) for s in series] == [
        (2, "part 1 of 2 of one series: orientation (1, 0, 0, 0, 1, 0)"),
        (1, "part 2 of 2 of one series: orientation unknown")]
    # two slices that both lack orientation belong together
    two = [SliceHeader(f"d/{k}", EXPLICIT_LITTLE, 4, 4, series_uid="5") for k in range(2)]
    assert [s.num_slices for s in group_into_series(two)] == [2]


def test_series_are_listed_by_patient_date_folder_number_and_description():
    def one(uid, **kw):
        return slice_(f"{kw.pop('folder', 'f')}/{uid}", 0, uid=uid, **kw)
    hs = [one("6", patient_id="B"),
          one("5", patient_id="A", study_date="20200102"),
          one("4", patient_id="A", study_date="20200101", folder="g"),
          one("3", patient_id="A", study_date="20200101", series_number=7),
          one("2", patient_id="A", study_date="20200101", series_number=2, series_description="b"),
          one("1", patient_id="A", study_date="20200101", series_number=2, series_description="a"),
          one("0", patient_id="A", study_date="20200101")]  # no number: counted as 0
    assert [s.series_uid for s in group_into_series(hs)] == ["0", "1", "2", "3", "4", "5", "6"]
    # a series without a number comes before number 1, whatever the descriptions say
    hs = [one("n1", series_number=1, series_description="a"), one("none", series_description="z")]
    assert [s.series_uid for s in group_into_series(hs)] == ["none", "n1"]


# --- describe_series ---

def test_a_series_is_described_from_its_first_image_and_its_arranged_geometry():
    hs = [slice_(f"d/{n}", z, patient_name="Doe^J", patient_id="P1", study_uid="1.9", study_description="CT abd",
                 study_date="20240101", series_description="Portal", series_number=4, modality="CT")
          for n, z in (("c", 4.0), ("a", 0.0), ("b", 2.0))]
    info = describe_series(hs)
    assert (info.patient_name, info.patient_id, info.study_uid, info.study_description, info.study_date,
            info.series_uid, info.series_description, info.series_number, info.modality) == (
        "Doe^J", "P1", "1.9", "CT abd", "20240101", "1.2.3", "Portal", 4, "CT")
    assert info.num_slices == 3 and info.image_size == (4, 4) and info.orientation == AXIAL
    assert info.spacing == (2.0, 0.5, 0.5) and info.spacing_range is None
    assert info.files == ["d/a", "d/b", "d/c"]  # in z order, not file order
    assert info.folder == "d" and info.format == "dicom"
    assert [h.path for h in info.headers] == ["d/c", "d/a", "d/b"]


def test_uneven_steps_give_the_smallest_and_largest_step():
    hs = [slice_(f"d/{z}", z) for z in (0.0, 2.0, 5.0, 7.0)]
    info = describe_series(hs)
    assert info.spacing_range == (2.0, 3.0)
    assert "uneven 2 to 3 mm" in info.label


def test_odd_sized_and_duplicate_images_are_listed_after_the_slices_but_not_counted():
    hs = [slice_(f"d/{z}", z) for z in range(3)]
    hs.insert(0, slice_("d/small", 1.5, rows=2, columns=2))  # first in the input, but not of the main size
    info = describe_series(hs)
    assert info.num_slices == 3
    assert info.image_size == (4, 4)  # from the first image of the main size
    assert info.files == ["d/0", "d/1", "d/2", "d/small"]


def test_two_files_at_one_position_count_as_one_slice_and_both_are_listed():
    hs = [slice_(f"e/{k}", 0.0) for k in range(2)] + [slice_("e/2", 1.0)]
    info = describe_series(hs)
    assert info.num_slices == 2
    assert info.files == ["e/0", "e/2", "e/1"]  # the repeat after the slices in z order


def test_a_series_the_loader_cannot_arrange_is_still_listed_with_unknown_spacing(monkeypatch):
    import lesionviewer.io.slice_stack as slice_stack

    def refuse(headers):
        raise ValueError("no geometry")

    monkeypatch.setattr(slice_stack, "arrange_slices", refuse)
    hs = [slice_("e/b", 1.0), slice_("e/a", 0.0), slice_("e/s", 0.0, rows=2, columns=2)]
    info = describe_series(hs)
    # the error comes again, clearly, when the series is loaded; the list shows it in file order
    assert info.spacing is None and info.spacing_range is None
    assert info.num_slices == 2
    assert info.files == ["e/b", "e/a", "e/s"]


def test_the_folder_of_a_series_spread_over_folders_is_their_common_parent():
    hs = [slice_("s/x/0", 0), slice_("s/y/1", 1)]
    assert describe_series(hs).folder == "s"

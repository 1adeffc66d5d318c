"""The lesionviewer-phantom command."""
from __future__ import annotations

import hashlib
from pathlib import Path

from lesionviewer.phantom.cli import main


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generates_a_deeplesion_tree_with_a_progress_bar(tmp_path, capsys):
    out = tmp_path / "dl"
    assert main([str(out), "-n", "2", "--slices", "5", "-j", "1", "--seed", "3"]) == 0
    captured = capsys.readouterr()
    assert "wrote 2 patients" in captured.out
    assert "phantoms" in captured.err and "2/2" in captured.err  # tqdm writes to stderr
    assert (out / "DL_info.csv").is_file()
    assert sorted(p.name for p in (out / "Images_png").iterdir()) == ["000001_01_01", "000002_01_01"]
    assert len(list((out / "ground_truth").glob("*.json"))) == 2


def test_dicom_layout_and_explicit_sizes(tmp_path):
    out = tmp_path / "dcm"
    assert main([str(out), "-n", "1", "--layout", "dicom", "--matrix", "96", "--slices", "3", "--interval", "3", "--lesions", "1", "1", "--phase", "arterial", "--first-patient", "7", "--no-progress", "-j", "1"]) == 0
    assert len(list((out / "PHANTOM-000007").glob("*.dcm"))) == 3
    import pydicom

    ds = pydicom.dcmread(next((out / "PHANTOM-000007").glob("*.dcm")))
    assert (ds.Rows, ds.Columns, float(ds.SliceThickness)) == (96, 96, 3.0)


def test_two_workers_write_the_same_bytes_as_one(tmp_path):
    args = ["-n", "2", "--slices", "4", "--seed", "1", "--no-progress"]
    assert main([str(tmp_path / "one"), *args, "-j", "1"]) == 0
    assert main([str(tmp_path / "two"), *args, "-j", "2"]) == 0
    assert _digests(tmp_path / "one") == _digests(tmp_path / "two")


def test_bad_arguments_exit_with_2_and_a_message(tmp_path, capsys):
    assert main([str(tmp_path), "--matrix", "8", "--no-progress"]) == 2
    assert "matrix must be between" in capsys.readouterr().err
    assert main([str(tmp_path), "-n", "0", "--no-progress"]) == 2
    assert main([str(tmp_path), "--layout", "nifti"]) == 2


def test_unwritable_output_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main([str(blocker / "sub"), "-n", "1", "--slices", "2", "--no-progress", "-j", "1"]) == 1
    assert "cannot write" in capsys.readouterr().err


def _box_widths(dl_info: Path) -> list[float]:
    import csv

    with open(dl_info, newline="") as f:
        boxes = [[float(v) for v in row["Bounding_boxes"].split(",")] for row in csv.DictReader(f)]
    return [x2 - x1 for x1, _, x2, _ in boxes]


def test_box_padding_flag_sets_the_pixels_around_each_recist_extent(tmp_path):
    args = ["-n", "2", "--slices", "8", "--seed", "2", "--lesions", "2", "2", "--no-progress", "-j", "1"]
    assert main([str(tmp_path / "p5"), *args]) == 0  # the default: DeepLesion's 5 pixels
    assert main([str(tmp_path / "p1"), *args, "--box-padding", "1.5"]) == 0
    wide, tight = _box_widths(tmp_path / "p5" / "DL_info.csv"), _box_widths(tmp_path / "p1" / "DL_info.csv")
    assert len(wide) == len(tight) > 0
    # same images and lesions; each box is 2 x (5 - 1.5) = 7 pixels narrower (unless clipped at the border)
    assert sum(abs((w - t) - 7.0) < 1e-3 for w, t in zip(wide, tight)) >= len(wide) - 1
    assert main([str(tmp_path / "bad"), *args, "--box-padding", "-1"]) == 2

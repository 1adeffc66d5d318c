"""The demo-data options of the phantom generator: complete key slices, box padding, lesion contrast."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from lesionviewer.phantom.cli import main
from lesionviewer.phantom.config import PhantomConfig
from lesionviewer.phantom.deeplesion_writer import annotated_cross_sections, dl_info_rows
from lesionviewer.phantom.generator import generate_patient


def _case_with_a_crossing_lesion(config: PhantomConfig):
    """The first seed whose patient has a lesion crossing another lesion's key slice at >= 5 mm."""
    for seed in range(60):
        case = generate_patient(seed, config)
        keys = {les.key_slice for les in case.lesions}
        pixel = min(case.volume.spacing[1:])
        for les in case.lesions:
            if any(k != les.key_slice and k in les.slices and les.slices[k].long_px * pixel >= 5.0 for k in keys):
                return case
    raise AssertionError("no phantom among 60 seeds has crossing lesions")


def test_annotate_all_marks_every_visible_lesion_on_annotated_slices():
    base = PhantomConfig.preset("small")
    case = _case_with_a_crossing_lesion(base)
    default_rows = dl_info_rows(case, 1, 1)
    assert len(default_rows) == len(case.lesions)  # DeepLesion's rule: one row per lesion

    complete = generate_patient(case.seed, base.with_(annotate_all_visible=True))
    items = annotated_cross_sections(complete)
    assert len(items) > len(complete.lesions)
    keys = {les.key_slice for les in complete.lesions}
    pixel = min(complete.volume.spacing[1:])
    for les in complete.lesions:  # every cross-section of >= 5 mm on an annotated slice has its row
        for k in keys:
            m = les.slices.get(k)
            wanted = m is not None and (k == les.key_slice or m.long_px * pixel >= 5.0)
            assert any(s == k and l is les for s, l, _ in items) == wanted
    # the extra rows name the slice they are on and measure the lesion there
    rows = dl_info_rows(complete, 1, 1)
    for (k, les, m), row in zip(items, rows):
        assert row["Key_slice_index"] == str(k + 1)
        assert row["Lesion_diameters_Pixel_"].split(", ")[0] == f"{m.long_px:.6g}"


def test_lesion_contrast_scales_the_lesion_difference_only():
    base = PhantomConfig.preset("small").with_(noise_std_hu=(0.0, 0.0))
    plain, strong = generate_patient(5, base), generate_patient(5, base.with_(lesion_contrast=3.0))
    les = plain.lesions[0]
    k = les.key_slice
    core = np.zeros(plain.volume.hu.shape[1:], bool)
    x1, y1, x2, y2 = (int(round(v)) for v in les.slices[k].box)
    core[y1:y2 + 1, x1:x2 + 1] = True
    diff = strong.volume.hu[k] - plain.volume.hu[k]
    assert np.abs(diff[core]).max() > 20.0          # the lesion changed
    far = np.ones_like(core)
    far[max(0, y1 - 12):y2 + 13, max(0, x1 - 12):x2 + 13] = False
    other = np.zeros_like(core)
    for other_lesion in plain.lesions:
        if k in other_lesion.slices:
            ox1, oy1, ox2, oy2 = (int(round(v)) for v in other_lesion.slices[k].box)
            other[max(0, oy1 - 12):oy2 + 13, max(0, ox1 - 12):ox2 + 13] = True
    assert np.abs(diff[far & ~other]).max() < 1e-3   # anatomy away from lesions is untouched


def test_cli_flags_reach_the_table(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["-n", "3", "--size", "small", "--seed", "0", "--no-progress", "-j", "1"]
    assert main([str(out), *args, "--annotate-all", "--box-padding", "2", "--lesion-contrast", "4"]) == 0
    rows = list(csv.DictReader(open(out / "DL_info.csv", newline="")))
    box = [float(v) for v in rows[0]["Bounding_boxes"].split(", ")]
    ends = [float(v) for v in rows[0]["Measurement_coordinates"].split(", ")]
    xs, ys = ends[0::2], ends[1::2]
    assert box[0] == pytest.approx(min(xs) - 2, abs=1e-3) and box[3] == pytest.approx(max(ys) + 2, abs=1e-3)
    assert main([str(tmp_path / "bad"), *args, "--lesion-contrast", "50"]) != 0
    assert "--lesion-contrast must be within 0.5-10" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "DL_info.csv").exists()


def test_only_split_writes_the_held_out_patients_exactly_as_the_whole_dataset(tmp_path):
    args = ["-n", "20", "--slices", "4", "--seed", "2", "--no-progress", "-j", "1"]
    assert main([str(tmp_path / "all"), *args]) == 0
    assert main([str(tmp_path / "test"), *args, "--only-split", "test"]) == 0
    full = list(csv.DictReader(open(tmp_path / "all" / "DL_info.csv", newline="")))
    held_out = list(csv.DictReader(open(tmp_path / "test" / "DL_info.csv", newline="")))
    assert held_out == [row for row in full if row["Train_Val_Test"] == "3"]
    names = sorted(p.name for p in (tmp_path / "test" / "Images_png").iterdir())
    assert len(names) == 3  # 15 % of 20 patients
    for name in names:
        for png in (tmp_path / "test" / "Images_png" / name).iterdir():
            assert png.read_bytes() == (tmp_path / "all" / "Images_png" / name / png.name).read_bytes()

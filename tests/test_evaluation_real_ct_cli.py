"""``lesionviewer-train evaluate-real`` and the false-alarm counts (lesion-free series, organ labels) on tiny cases."""
from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from lesionviewer.detection.finding import Finding
from lesionviewer.evaluation.real_ct_negatives import evaluate_organ_check, findings_on_labels, findings_per_slice
from lesionviewer.io import Volume, write_dicom_series
from lesionviewer.training.cli import EXIT_DATA, EXIT_OK, EXIT_USAGE, main


class Fixed:
    """A detector that returns the same findings for every volume."""

    def __init__(self, findings):
        self.findings = findings

    def detect(self, volume, slices=None, **_):
        return list(self.findings)


@pytest.fixture
def ct_and_labels(tmp_path):
    """A 2-slice CT (DICOM) and its labels (NIfTI) stored with rows flipped: aorta (52) at rows 4-7, columns 8-11."""
    ct = Volume(np.zeros((2, 16, 16), np.int16), (2.0, 1.0, 1.0), origin=(0.0, 0.0, 10.0))
    write_dicom_series(ct, tmp_path / "ct")
    labels = np.zeros((2, 16, 16), np.uint8)
    labels[:, 4:8, 8:12] = 52
    labels[1, 12:14, 0:2] = 98  # a rib
    image = sitk.GetImageFromArray(labels[:, ::-1, :].copy())  # rows flipped ...
    image.SetSpacing((1.0, 1.0, 2.0))
    image.SetOrigin((0.0, 15.0, 10.0))  # ... and the geometry says so
    image.SetDirection((1, 0, 0, 0, -1, 0, 0, 0, 1))
    sitk.WriteImage(image, str(tmp_path / "labels.nii.gz"))
    return tmp_path / "ct", tmp_path / "labels.nii.gz"


def test_findings_per_slice_counts_at_the_threshold():
    found = [Finding(0, (0, 0, 2, 2), 0.9, "m"), Finding(0, (4, 4, 6, 6), 0.5, "m"), Finding(2, (0, 0, 2, 2), 0.49, "m")]
    r = findings_per_slice(Fixed(found), Volume(np.zeros((4, 8, 8), np.int16), (1, 1, 1)))
    assert (r["num_findings"], r["findings_per_slice"], r["max_on_one_slice"], r["slices_with_findings"]) == (2, 0.5, 2, 1)
    assert findings_per_slice(Fixed(found), Volume(np.zeros((4, 8, 8), np.int16), (1, 1, 1)), 0.4)["num_findings"] == 3


def test_organ_check_looks_labels_up_by_patient_position(ct_and_labels):
    ct, labels = ct_and_labels
    found = [Finding(0, (8, 4, 12, 8), 0.9, "m"),    # centre (10, 6): aorta
             Finding(1, (0, 12, 2, 14), 0.8, "m"),   # centre (1, 13) on slice 1: rib
             Finding(1, (0, 0, 2, 2), 0.7, "m"),     # background
             Finding(0, (8, 4, 12, 8), 0.3, "m")]    # below the threshold
    r = evaluate_organ_check(Fixed(found), ct, labels)
    assert {k: r[k] for k in ("humerus", "rib", "aorta", "other label", "no label", "total")} == \
        {"humerus": 0, "rib": 1, "aorta": 1, "other label": 0, "no label": 1, "total": 3}
    assert r["num_slices"] == 2 and r["findings_per_slice"] == 1.5


def test_organ_check_refuses_labels_of_another_place(ct_and_labels, tmp_path):
    ct, _ = ct_and_labels
    far = sitk.GetImageFromArray(np.zeros((2, 16, 16), np.uint8))
    far.SetOrigin((500.0, 500.0, 500.0))
    sitk.WriteImage(far, str(tmp_path / "far.nii.gz"))
    with pytest.raises(ValueError, match="does not cover the centre"):
        evaluate_organ_check(Fixed([]), ct, tmp_path / "far.nii.gz")


@pytest.fixture
def tiny_model(tmp_path):
    from lesionviewer.detection.factory import build_detector
    from lesionviewer.detection.model_file import save_model

    torch.manual_seed(0)
    net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
    path = tmp_path / "tiny.safetensors"
    save_model(path, net, {"name": "tiny", "slice_interval_mm": 2.5, "input_min_size": 64, "input_max_size": 64})
    return path


def test_cli_on_a_tiny_case_prints_a_table_and_writes_json(tiny_model, ct_and_labels, tmp_path, capsys):
    ct, labels = ct_and_labels
    out = tmp_path / "result.json"
    code = main(["evaluate-real", "--model", str(tiny_model), "--lesion-free", str(ct), "--organs", str(ct), str(labels),
                 "--threshold", "0.0", "--out", str(out)])
    assert code == EXIT_OK
    printed = capsys.readouterr().out
    assert "lesion-free" in printed and "box mostly on: humerus" in printed and f"wrote {out}" in printed
    result = json.loads(out.read_text())
    assert result["model_name"] == "tiny" and result["threshold"] == 0.0
    free = result["lesion_free"][0]
    assert free["num_slices"] == 2 and free["num_findings"] == result["organs"]["total"]
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically, nothing left beside it


@pytest.mark.parametrize("extra, code, message", [
    ([], EXIT_USAGE, "nothing to evaluate"),
    (["--lesion-free", "x.nii.gz", "--threshold", "1.5"], EXIT_USAGE, "--threshold must be between 0 and 1"),
    (["--lidc", "/no/such/lidc"], EXIT_DATA, "/no/such/lidc"),
])
def test_cli_exit_codes(tiny_model, capsys, extra, code, message):
    assert main(["evaluate-real", "--model", str(tiny_model), *extra]) == code
    assert message in capsys.readouterr().err


def test_cli_ensemble_of_a_model_with_itself_counts_what_the_model_alone_counts(tiny_model, ct_and_labels, tmp_path):
    # two identical members pair every box with itself: same boxes, same (mean) scores
    ct, labels = ct_and_labels
    counts = []
    for models in ([tiny_model], [tiny_model, tiny_model]):
        out = tmp_path / f"r{len(models)}.json"
        args = [a for m in models for a in ("--model", str(m))]
        assert main(["evaluate-real", *args, "--lesion-free", str(ct), "--threshold", "0.0", "--out", str(out)]) == EXIT_OK
        result = json.loads(out.read_text())
        counts.append(result["lesion_free"][0]["num_findings"])
    assert result["model"] == [str(tiny_model)] * 2 and result["model_name"] == "tiny + tiny"
    assert counts[0] == counts[1] > 0


@pytest.mark.parametrize("times, extra, message", [
    (5, [], "--model given 5 times"),
    (2, ["--record-in-card"], "--record-in-card needs one --model"),
    (3, ["--record-in-card"], "--record-in-card needs one --model"),
])
def test_cli_refuses_more_than_four_models_and_recording_an_ensemble(tiny_model, capsys, times, extra, message):
    args = [a for _ in range(times) for a in ("--model", str(tiny_model))]
    assert main(["evaluate-real", *args, "--lesion-free", "x.nii.gz", *extra]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_cli_missing_model_is_a_data_error(tmp_path, capsys):
    assert main(["evaluate-real", "--model", str(tmp_path / "none.safetensors"), "--lesion-free", "x"]) == EXIT_DATA
    assert "none.safetensors: no such file" in capsys.readouterr().err


# --- which structure a box is on: the commonest labelled pixel inside it, not the pixel at its centre ---

def _labels(*cells, shape=(1, 20, 20)) -> Volume:
    grid = np.zeros(shape, np.int16)
    for rows, columns, label in cells:
        grid[0, rows, columns] = label
    return Volume(grid, (1.0, 1.0, 1.0))


def test_a_box_around_a_whole_arm_counts_on_its_bone_though_its_centre_is_muscle():
    from lesionviewer.evaluation.real_ct_negatives import box_label, label_under

    ct = Volume(np.zeros((1, 20, 20), np.int16), (1.0, 1.0, 1.0))
    # the humerus (69) is a ring of 12 x 12 = 144 pixels minus its 8 x 8 marrow inside a 20 x 20 box
    ring = _labels((slice(4, 16), slice(4, 16), 69))
    ring.hu[0, 6:14, 6:14] = 0
    arm = Finding(0, (0, 0, 20, 20), 0.9, "m")
    assert label_under(arm, ct, ring) == 0          # the old rule: the centre pixel (10, 10) is marrow
    assert box_label(arm, ct, ring) == 69            # 80 of 400 pixels labelled (20 %), all humerus
    r = findings_on_labels([arm], ct, ring)
    assert (r["humerus"], r["no label"]) == (1, 0)


def test_the_commonest_label_in_the_box_wins_and_a_sliver_does_not_count():
    from lesionviewer.evaluation.real_ct_negatives import MIN_LABELLED_SHARE, box_label

    ct = Volume(np.zeros((1, 20, 20), np.int16), (1.0, 1.0, 1.0))
    box = Finding(0, (0, 0, 10, 10), 0.9, "m")  # 100 pixels
    liver_and_rib = _labels((slice(0, 10), slice(0, 6), 5), (slice(0, 10), slice(6, 8), 98))
    assert box_label(box, ct, liver_and_rib) == 5  # 60 liver pixels against 20 rib pixels
    assert MIN_LABELLED_SHARE == 0.05
    four = _labels((slice(0, 4), slice(0, 1), 98))   # 4 of 100 pixels: below 5 %
    five = _labels((slice(0, 5), slice(0, 1), 98))   # 5 of 100: counts
    assert (box_label(box, ct, four), box_label(box, ct, five)) == (0, 98)


def test_only_pixels_whose_centre_is_inside_the_box_are_read():
    from lesionviewer.evaluation.real_ct_negatives import box_label

    ct = Volume(np.zeros((1, 20, 20), np.int16), (1.0, 1.0, 1.0))
    # the box (2.6, 2.6)-(5.4, 5.4) holds the centres of pixels 3 and 4 in each direction (3.5 and 4.5):
    # 4 pixels, one of them aorta; the rib column 2 (centre 2.5) is outside it
    labels = _labels((slice(0, 20), slice(2, 3), 98), (slice(3, 4), slice(3, 4), 52))
    assert box_label(Finding(0, (2.6, 2.6, 5.4, 5.4), 0.9, "m"), ct, labels) == 52
    # from x = 2.4 the rib column's centres (rows 3 and 4) are inside: 2 rib pixels against 1 aorta
    assert box_label(Finding(0, (2.4, 2.6, 5.4, 5.4), 0.9, "m"), ct, labels) == 98

"""lesionviewer-detect end to end: a tiny model file, a DICOM study and a NIfTI study written here, a broken one."""
from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from lesionviewer.detection.cli import CSV_COLUMNS, main
from lesionviewer.detection.factory import build_detector
from lesionviewer.detection.finding import Finding
from lesionviewer.detection.model_file import save_model
from lesionviewer.io import Volume, load_volume, write_dicom_series

INJECTION = "=HYPERLINK(\"http://example.invalid\",\"click\")"


def tiny_model_file(folder, name, **card):
    """A tiny random mp3d_small model file (seeded) with the card fields given."""
    torch.manual_seed(0)
    net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32,
                         representation_size=64, rpn_post_nms_top_n_test=50)
    path = folder / f"{name}.safetensors"
    save_model(path, net, {"name": name, "slice_interval_mm": 2.0, "input_min_size": 64, "input_max_size": 128,
                           **card})
    return path


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return tiny_model_file(tmp_path_factory.mktemp("model"), "tiny-cli", version="0.3")


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    root = tmp_path_factory.mktemp("studies")
    rng = np.random.default_rng(1)
    dicom = Volume(rng.integers(-1000, 400, (4, 48, 48)).astype(np.int16), spacing=(2.5, 0.7, 0.7),
                   origin=(-16.8, -16.8, 100.0))
    write_dicom_series(dicom, root / "all" / "patient1", series_description=INJECTION)
    image = sitk.GetImageFromArray(rng.integers(-1000, 400, (3, 40, 56)).astype(np.int16))
    image.SetSpacing((0.8, 0.8, 3.0))
    sitk.WriteImage(image, str(root / "all" / "patient2.nii.gz"))
    (root / "broken").mkdir()
    (root / "broken" / "slice1.dcm").write_bytes(b"this is not DICOM at all" * 10)
    return root


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == CSV_COLUMNS
        return list(reader)


def test_detects_on_every_study_and_skips_the_unreadable_one(model_file, studies, tmp_path, capsys):
    out = tmp_path / "findings.csv"
    status = main([str(studies / "all"), str(studies / "broken"), "--model", str(model_file),
                   "--out", str(out), "--threshold", "0.2", "--device", "cpu", "--quiet"])
    printed = capsys.readouterr().out
    assert status == 0
    assert sum(line.startswith("skipped") and "broken" in line for line in printed.splitlines()) == 1
    rows = read_rows(out)
    by_path = {}
    for row in rows:
        by_path.setdefault(row["series_path"], []).append(row)
    assert set(by_path) == {str(studies / "all" / "patient1"), str(studies / "all" / "patient2.nii.gz")}
    assert all(float(r["score"]) >= 0.2 and r["model_name"] == "tiny-cli" and r["model_version"] == "0.3" for r in rows)

    volume = load_volume(studies / "all" / "patient1")
    for row in by_path[str(studies / "all" / "patient1")]:
        assert row["study_uid"] == volume.meta["StudyInstanceUID"]
        assert row["series_uid"] == volume.meta["SeriesInstanceUID"]
        assert row["series_description"] == "'" + INJECTION  # inert in a spreadsheet
        index = int(row["slice_index"])
        assert 0 <= index < 4
        x1, y1, x2, y2 = (float(row[k]) for k in ("x1_px", "y1_px", "x2_px", "y2_px"))
        assert 0 <= x1 <= x2 <= 48 and 0 <= y1 <= y2 <= 48
        # The millimetre columns are the Finding's, for the box as written (3 decimals).
        finding = Finding.from_pixel_box(volume, index, (x1, y1, x2, y2), float(row["score"]), "tiny-cli")
        for column, value in (("center_x_mm", finding.center_mm[0]), ("center_y_mm", finding.center_mm[1]),
                              ("center_z_mm", finding.center_mm[2]), ("x1_mm", finding.box_mm[0]),
                              ("y2_mm", finding.box_mm[3])):
            assert float(row[column]) == pytest.approx(value, abs=2e-3), column
        assert float(row["z_mm"]) == pytest.approx(100.0 + 2.5 * index, abs=1e-3)
        assert float(row["width_mm"]) == pytest.approx((x2 - x1) * 0.7, abs=2e-3)
        assert float(row["long_axis_mm"]) >= float(row["short_axis_mm"])
    assert len(by_path[str(studies / "all" / "patient2.nii.gz")]) > 0


def test_threshold_filters_rows(model_file, studies, tmp_path):
    low, high = tmp_path / "low.csv", tmp_path / "high.csv"
    common = ["--model", str(model_file), "--device", "cpu", "--quiet", str(studies / "all" / "patient2.nii.gz")]
    assert main(common + ["--out", str(low), "--threshold", "0.05"]) == 0
    assert main(common + ["--out", str(high), "--threshold", "0.99"]) == 0
    assert len(read_rows(high)) < len(read_rows(low))
    assert all(float(r["score"]) >= 0.99 for r in read_rows(high))


def test_nothing_readable_exits_non_zero_and_writes_nothing(model_file, studies, tmp_path, capsys):
    out = tmp_path / "none.csv"
    status = main([str(studies / "broken"), str(tmp_path / "absent"), "--model", str(model_file),
                   "--out", str(out), "--device", "cpu", "--quiet"])
    assert status == 1
    assert not out.exists()
    assert "no series could be processed" in capsys.readouterr().out


def test_a_bad_model_file_is_one_clear_line(studies, tmp_path, capsys):
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"PK\x03\x04 not really")
    status = main([str(studies / "all"), "--model", str(fake), "--out", str(tmp_path / "f.csv")])
    assert status == 2
    assert "PyTorch checkpoint" in capsys.readouterr().out


def test_bad_arguments_are_refused_by_the_parser(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["x", "--model", "m", "--out", "o", "--threshold", "1.5"])
    assert exit_info.value.code == 2


def test_runs_as_a_module_with_help():
    out = subprocess.run([sys.executable, "-m", "lesionviewer.detection.cli", "--help"],
                         capture_output=True, text=True, check=True)
    assert "--model" in out.stdout and "--batch-size" in out.stdout


def test_a_series_whose_detection_fails_is_skipped_and_the_rest_written(model_file, studies, tmp_path,
                                                                         capsys, monkeypatch):
    from lesionviewer.detection.engine import Detector

    original = Detector.detect

    def out_of_memory_on_the_nifti(self, volume, *args, **kwargs):
        if volume.num_slices == 3:
            raise RuntimeError("CUDA out of memory (simulated)")
        return original(self, volume, *args, **kwargs)

    monkeypatch.setattr(Detector, "detect", out_of_memory_on_the_nifti)
    out = tmp_path / "partial.csv"
    status = main([str(studies / "all"), "--model", str(model_file), "--out", str(out), "--device", "cpu",
                   "--quiet", "--threshold", "0.05"])
    assert status == 0
    assert "detection failed (RuntimeError: CUDA out of memory (simulated))" in capsys.readouterr().out
    assert {r["series_path"] for r in read_rows(out)} == {str(studies / "all" / "patient1")}


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_an_absent_gpu_requested_is_one_clear_line(model_file, studies, tmp_path, capsys):
    status = main([str(studies / "all"), "--model", str(model_file), "--out", str(tmp_path / "f.csv"),
                   "--device", "cuda", "--quiet"])
    assert status == 2
    assert "no CUDA GPU is available" in capsys.readouterr().out
    assert not (tmp_path / "f.csv").exists()


# ---------------------------------------------------------------- issue 14, items 1 and 14: nothing finished is lost


def test_a_path_that_is_not_utf8_keeps_every_row_with_its_bytes_escaped(model_file, studies, tmp_path, capsys):
    import os

    root = tmp_path / "studies"
    latin1 = root / os.fsdecode(b"caf\xe9")  # a folder name in Latin-1, not valid UTF-8
    volume = load_volume(studies / "all" / "patient1")
    write_dicom_series(volume, latin1)
    write_dicom_series(volume, root / "plain")
    out = tmp_path / "findings.csv"
    status = main([str(root), "--model", str(model_file), "--out", str(out), "--device", "cpu", "--quiet",
                   "--threshold", "0.0"])
    printed = capsys.readouterr().out
    assert status == 0
    paths = {row["series_path"] for row in read_rows(out)}
    assert paths == {str(root / "plain"), str(root) + "/caf\\xe9"}
    assert "not valid UTF-8" in printed


def test_out_naming_a_folder_fails_before_the_model_is_even_loaded(studies, tmp_path, capsys, monkeypatch):
    from lesionviewer.detection.engine import Detector

    def no_work(*args, **kwargs):
        raise AssertionError("the model was loaded although --out cannot be written")

    monkeypatch.setattr(Detector, "from_file", no_work)
    status = main([str(studies / "all"), "--out", str(tmp_path), "--device", "cpu", "--quiet"])
    assert status == 2
    assert "is a folder" in capsys.readouterr().out
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main([str(studies / "all"), "--out", str(blocker / "f.csv"), "--quiet"]) == 2


def test_rows_of_finished_series_survive_a_crash_in_a_later_one(model_file, studies, tmp_path, monkeypatch):
    from lesionviewer.detection.engine import Detector

    original = Detector.detect
    calls = []

    def crash_on_the_second(self, volume, *args, **kwargs):
        calls.append(volume.num_slices)
        if len(calls) == 2:
            raise MemoryError("simulated: the machine ran out of memory")
        return original(self, volume, *args, **kwargs)

    monkeypatch.setattr(Detector, "detect", crash_on_the_second)
    out = tmp_path / "partial.csv"
    with pytest.raises(MemoryError):
        main([str(studies / "all"), "--model", str(model_file), "--out", str(out), "--device", "cpu", "--quiet",
              "--threshold", "0.0"])
    rows = read_rows(out)
    assert rows and len({r["series_path"] for r in rows}) == 1


def test_without_model_the_viewers_default_detector_is_used(studies, tmp_path, capsys, monkeypatch):
    from lesionviewer.detection.default_model import default_detector_file
    from lesionviewer.detection.engine import Detector
    from lesionviewer.detection.model_file import ModelFileError

    chosen = []

    def record(path, **kwargs):
        chosen.append(path)
        raise ModelFileError(path, "stop here (test)")

    monkeypatch.setattr(Detector, "from_file", record)
    assert main([str(studies / "all"), "--out", str(tmp_path / "f.csv"), "--quiet"]) == 2
    assert chosen == [str(default_detector_file())]
    assert "default detector" in capsys.readouterr().out
    pytest.importorskip("PySide6")
    from lesionviewer_app.detection_runner import default_model_path

    assert default_model_path() == default_detector_file()


def test_slice_number_counts_from_one_as_the_viewer_shows(model_file, studies, tmp_path):
    out = tmp_path / "f.csv"
    assert main([str(studies / "all" / "patient2.nii.gz"), "--model", str(model_file), "--out", str(out),
                 "--device", "cpu", "--quiet", "--threshold", "0.0"]) == 0
    rows = read_rows(out)
    assert rows and all(int(r["slice_number"]) == int(r["slice_index"]) + 1 for r in rows)
    assert {int(r["slice_number"]) for r in rows} <= {1, 2, 3}


def test_a_non_finite_millimetre_value_is_an_empty_cell():
    from lesionviewer.detection.cli import SeriesJob, finding_row

    volume = Volume(np.zeros((2, 8, 8), np.int16), (5.0, 1.0, 1.0))
    finding = Finding(1, (0, 0, 4, 2), 0.7, "m", center_mm=(float("nan"), 1.0, 5.0), width_mm=float("inf"))
    row = finding_row(finding, SeriesJob("s", lambda: volume), volume, "1")
    assert row["center_x_mm"] == "" and row["width_mm"] == "" and row["center_y_mm"] == 1.0


@pytest.fixture(scope="module")
def flipping_model_file(tmp_path_factory):
    return tiny_model_file(tmp_path_factory.mktemp("model"), "tiny-flip", test_time_flip=True)


@pytest.mark.parametrize("option, expected", [([], True), (["--flip", "off"], False), (["--flip", "on"], True)])
def test_flip_follows_the_card_unless_told(flipping_model_file, studies, tmp_path, capsys, monkeypatch, option,
                                           expected):
    from lesionviewer.detection.engine import Detector

    made = []
    real = Detector.from_file.__func__

    def record(cls, path, **kwargs):
        made.append(real(cls, path, **kwargs))
        return made[-1]

    monkeypatch.setattr(Detector, "from_file", classmethod(record))
    out = tmp_path / "f.csv"
    assert main([str(studies / "all" / "patient2.nii.gz"), "--model", str(flipping_model_file), "--out", str(out),
                 "--quiet", *option]) == 0
    assert [d.flip for d in made] == [expected]
    said = capsys.readouterr().out
    assert ("every slice also read mirrored" in said) is expected


def test_flip_on_for_a_model_whose_card_says_nothing(model_file, studies, tmp_path, capsys):
    assert main([str(studies / "all" / "patient2.nii.gz"), "--model", str(model_file), "--out",
                 str(tmp_path / "f.csv"), "--quiet", "--flip", "on"]) == 0
    assert "every slice also read mirrored" in capsys.readouterr().out
    assert main([str(studies / "all" / "patient2.nii.gz"), "--model", str(model_file), "--out",
                 str(tmp_path / "g.csv"), "--quiet"]) == 0
    assert "mirrored" not in capsys.readouterr().out

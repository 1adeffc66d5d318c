"""``--self-test`` in the development install: the real window, a small sample, the real detection path."""
from __future__ import annotations

import sys

import pytest

pytest.importorskip("pytestqt")

from lesionviewer.phantom import PhantomConfig  # noqa: E402
from lesionviewer.sample import sample_study_path  # noqa: E402
from lesionviewer_app import messages  # noqa: E402
from lesionviewer_app.self_test import check_decoders, run_self_test  # noqa: E402

SMALL = PhantomConfig.preset("small").with_(num_slices=8, lesions_per_patient=(2, 3))


def test_self_test_passes_and_says_plainly_when_it_uses_random_weights(qapp, capsys, monkeypatch, tmp_path):
    import lesionviewer_app.detection_runner as runner_module

    monkeypatch.setattr(runner_module, "default_model_path", lambda: None)  # as before demo weights ship
    study = sample_study_path(seed=2, config=SMALL, cache_dir=tmp_path)
    saved_show_error = messages.show_error

    assert run_self_test(["--study", str(study), "--slices", "2", "--timeout", "120"]) == 0

    out = capsys.readouterr().out
    for check in ("qt", "vtk", "decoders", "resources", "window", "study", "detection"):
        assert f"  ok    {check}" in out, out
    assert "WARN  model      no demo weights" in out and "RANDOM weights" in out
    assert "8 x 128 x 128" in out
    assert "2 slices [" in out  # detection ran on exactly the slices asked for
    assert out.rstrip().splitlines()[-1].startswith("self-test passed with 1 warning(s) in ")
    assert messages.show_error is saved_show_error  # the dialog stand-ins are removed afterwards


def test_unreadable_study_fails_with_a_clear_message(qapp, capsys, tmp_path):
    missing = tmp_path / "no_such_study"
    assert run_self_test(["--study", str(missing), "--timeout", "60"]) == 1
    out = capsys.readouterr().out
    fail_line = next(line for line in out.splitlines() if line.startswith("  FAIL  study"))
    assert "no_such_study" in fail_line and "Cannot open" in fail_line
    assert "detection" not in out  # nothing runs on a study that did not open
    assert out.rstrip().splitlines()[-1].startswith("self-test FAILED in ")


def test_a_missing_decoder_plugin_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "jpeg_ls", None)  # as if the bundler had left pyjpegls out
    with pytest.raises(Exception, match="decoder modules missing: jpeg_ls"):
        check_decoders()


def test_a_run_past_its_time_limit_ends_with_status_1(tmp_path):
    import os
    import subprocess

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LESIONVIEWER_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "lesionviewer_app.self_test", "--timeout", "0.3"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "self-test FAILED: no result within 0.3 s (stuck at: " in result.stdout


def test_lossless_jpeg_of_the_self_test_decodes_exactly_with_pydicom():
    import numpy as np
    from pydicom import uid
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder

    from lesionviewer_app.self_test import lossless_jpeg

    pixels = np.random.default_rng(0).integers(0, 4096, (33, 27)).astype(np.uint16)  # every jump size
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = uid.JPEGLosslessSV1
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = encapsulate([lossless_jpeg(pixels)])
    ds["PixelData"].VR = "OB"
    decoded, _ = get_decoder(uid.JPEGLosslessSV1).as_array(ds, decoding_plugin="pylibjpeg")
    assert np.array_equal(decoded, pixels)

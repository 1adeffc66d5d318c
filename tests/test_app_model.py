"""The viewer with the real engine: a tiny randomly initialised model file, its card, a bad file, load cancel."""
from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("pytestqt")

from lesionviewer.io.errors import LoadCancelled  # noqa: E402
from test_app_fakes import make_window, message_boxes, small_volume, wait_for_jobs  # noqa: E402,F401


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory):
    from lesionviewer.detection.factory import build_detector
    from lesionviewer.detection.model_file import save_model

    net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    save_model(path, net, {"name": "tiny-random", "slice_interval_mm": 2.5, "input_min_size": 64,
                           "input_max_size": 64, "description": "random weights for a GUI test"})
    return path


def test_load_model_shows_its_card_and_the_real_engine_runs_in_the_window(make_window, qtbot, tiny_model_file):
    from lesionviewer_app.detection_runner import library_detector_factory

    window = make_window(open_study=False)
    window.runner.factory = library_detector_factory
    assert window.use_model(str(tiny_model_file))
    title, text = window.messages.shown[-1][1:]
    assert title == "Model card: tiny.safetensors" and "tiny-random" in text and "random weights" in text
    assert window.settings.model_path == str(tiny_model_file)
    window.set_device("cpu")
    window.open_path("study.nii")
    qtbot.waitUntil(lambda: window.state.volume is not None, timeout=10000)
    wait_for_jobs(qtbot, timeout_ms=60000)
    session = window.bridge.session
    assert sorted(session.processed_slices) == list(range(12))  # every slice went through the engine
    assert session.model_name == "tiny-random"
    assert "tiny-random" in window.model_label.text()
    assert [kind for kind, *_ in window.messages.shown if kind == "box"] == []  # no error box


def test_an_ensemble_file_runs_both_members_in_the_window(make_window, qtbot, tiny_model_file, tmp_path):
    from lesionviewer.detection.ensemble import EnsembleDetector
    from lesionviewer.detection.ensemble_file import save_ensemble
    from lesionviewer_app.detection_runner import library_detector_factory

    pair = tmp_path / "pair.safetensors"
    save_ensemble(pair, [tiny_model_file, tiny_model_file], "tiny pair", "two random members")
    window = make_window(open_study=False)
    window.runner.factory = library_detector_factory
    assert window.use_model(str(pair))
    text = window.messages.shown[-1][2]
    assert "tiny pair" in text and "ensemble of 2 detectors, each slice read by every one: tiny-random, tiny-random" in text
    assert "input_min_size: 64" in text and "random weights for a GUI test" not in text  # members named, not dumped
    window.set_device("cpu")
    window.open_path("study.nii")
    qtbot.waitUntil(lambda: window.state.volume is not None, timeout=10000)
    wait_for_jobs(qtbot, timeout_ms=60000)
    session = window.bridge.session
    assert sorted(session.processed_slices) == list(range(12))
    assert session.model_name == "tiny pair"
    assert isinstance(window.runner.load_detector(), EnsembleDetector)
    label = window.model_label.text()
    assert label.startswith("Model: tiny pair | ") and label.endswith("Two detectors read every slice (an ensemble)")
    assert "  " not in label and ". ." not in label
    assert [kind for kind, *_ in window.messages.shown if kind == "box"] == []


def test_a_file_that_is_not_a_model_is_refused_with_a_message(make_window, tmp_path):
    window = make_window(open_study=False)
    bad = tmp_path / "holiday.safetensors"
    bad.write_bytes(b"\x00" * 64)
    before = window.runner.model_path
    assert not window.use_model(str(bad))
    kind, title, text = window.messages.shown[-1]
    assert title == "Cannot use this model" and "holiday.safetensors" in text
    assert window.runner.model_path == before


def test_cancelling_a_load_shows_no_error_and_keeps_the_window_usable(make_window, qtbot, tmp_path):
    window = make_window(open_study=False)
    started = threading.Event()

    def slow_loader(path, *, progress=None, cancel=None):
        started.set()
        for i in range(500):
            if cancel is not None and cancel.is_set():
                raise LoadCancelled(path, "cancelled")
            progress(i, 500)
            time.sleep(0.01)
        return small_volume()

    window.loader = slow_loader
    window.open_path(tmp_path / "big.nii")
    assert started.wait(5)
    qtbot.waitUntil(lambda: window.progress_bar.maximum() == 500, timeout=3000)  # real progress shown
    window.cancel_button.click()
    wait_for_jobs(qtbot)
    assert window.state.volume is None
    assert window.messages.shown == []
    assert not window.cancel_button.isVisible()

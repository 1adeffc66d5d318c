"""Progress and cancel hooks of load_volume / find_series, for the GUI's background loading."""
from __future__ import annotations

import threading

import pytest

from corpus.bad_dicom import write_valid_series
from lesionviewer.io import LoadCancelled, LoadError, find_series, load_volume


def test_progress_reaches_the_total_and_never_goes_back(tmp_path):
    write_valid_series(tmp_path, 30)
    seen = []
    vol = load_volume(tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert vol.num_slices == 30
    dones = [d for d, _ in seen]
    assert dones == sorted(dones)
    assert seen[-1][0] == seen[-1][1] == 60  # 30 headers read + 30 slices decoded
    assert all(d <= t for d, t in seen)


def test_cancel_event_stops_the_load(tmp_path):
    write_valid_series(tmp_path, 30)
    event = threading.Event()

    def progress(done, total):
        if done >= 35:  # in the middle of decoding
            event.set()

    with pytest.raises(LoadCancelled, match="cancelled") as caught:
        load_volume(tmp_path, progress=progress, cancel=event)
    assert caught.value.path == str(tmp_path)
    assert isinstance(caught.value, LoadError)


def test_cancel_callable_stops_a_scan(tmp_path):
    write_valid_series(tmp_path, 10)
    with pytest.raises(LoadCancelled):
        find_series(tmp_path, cancel=lambda: True)


def test_series_load_reports_slices(tmp_path):
    write_valid_series(tmp_path, 12)
    [info] = find_series(tmp_path)
    seen = []
    info.load(progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (12, 12)


def test_deeplesion_folder_reports_and_cancels(tmp_path):
    import numpy as np
    from PIL import Image

    folder = tmp_path / "000099_01_01"
    folder.mkdir()
    for k in range(1, 6):
        Image.fromarray(np.full((4, 4), 32768, np.uint16)).save(folder / f"{k:03d}.png")
    seen = []
    load_volume(folder, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (5, 5)
    with pytest.raises(LoadCancelled):
        load_volume(folder, cancel=lambda: True)

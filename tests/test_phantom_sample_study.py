"""The viewer's sample study: written once to the cache, complete or not at all, readable by the loader."""
from __future__ import annotations

import numpy as np

import lesionviewer.phantom as phantom
from lesionviewer.phantom.ground_truth import read_ground_truth
from lesionviewer.phantom.sample_study import SAMPLE_CONFIG, sample_study_path

SMALL = SAMPLE_CONFIG.with_(matrix=64, num_slices=8)


def test_written_once_then_reused(tmp_path):
    series = sample_study_path(tmp_path, SMALL)
    files = sorted(series.glob("*.dcm"))
    assert len(files) == 8
    stamp = files[0].stat().st_mtime_ns
    assert sample_study_path(tmp_path, SMALL) == series
    assert files[0].stat().st_mtime_ns == stamp
    assert not list((tmp_path / "sample_study").glob(".writing-*")), "no half-written folder is left behind"


def test_sample_has_lesions_and_loads(tmp_path):
    from lesionviewer.io import load_volume

    series = sample_study_path(tmp_path, SMALL)
    truth = read_ground_truth(series.parent / "ground_truth.json")
    assert len(truth["lesions"]) >= 2
    vol = load_volume(series)
    assert vol.shape == (8, 64, 64)
    assert np.allclose(vol.spacing, truth["volume"]["spacing_zyx_mm"], rtol=1e-6)


def test_default_location_is_the_user_cache(isolated_user_folders, monkeypatch):
    calls = []
    monkeypatch.setattr("lesionviewer.phantom.sample_study.generate_patient", lambda seed, cfg: calls.append(seed) or phantom.generate_patient(seed, SMALL))
    series = phantom.sample_study_path()
    assert str(series).startswith(str(isolated_user_folders)) and calls == [3]
    assert callable(getattr(phantom, "sample_study_path"))  # the viewer looks it up by this name


def test_the_real_sample_shows_several_kinds_of_lesion():
    from lesionviewer.phantom.sample_study import SAMPLE_SEED

    case = phantom.generate_patient(SAMPLE_SEED, SAMPLE_CONFIG)
    kinds = {lesion.type_code for lesion in case.lesions}
    assert len(case.lesions) >= 4 and {4, 5} <= kinds and len(kinds) >= 3

"""Risk preprocessing: lung mask on a chest phantom, fixed-size crop, resumable folder step."""
from __future__ import annotations

import numpy as np
import pytest

from lesionviewer.io.volume import Volume
from lesionviewer.risk.lung_mask import coarse_lung_mask
from lesionviewer.risk.phantom_cohort import generate_chest_case, read_labels, write_phantom_cohort
from lesionviewer.risk.preprocess import PreprocessSettings, crop_around, preprocess_volume, read_npz, resample_isotropic
from lesionviewer.risk.preprocess_folder import REPORT_NAME, preprocess_folder

SETTINGS = PreprocessSettings(voxel_mm=6.0, crop_shape=(40, 48, 48))


@pytest.fixture(scope="module")
def chest():
    return generate_chest_case(5, positive=True, matrix=64)


def test_lung_mask_finds_both_lungs_on_a_phantom(chest):
    vol = resample_isotropic(chest.volume.hu, chest.volume.spacing, 6.0)
    lungs = coarse_lung_mask(vol, (6.0, 6.0, 6.0))
    assert lungs.found
    # Adult lungs: a few litres; the phantom's are 3-9 l.
    assert 2000 < lungs.volume_ml < 10000
    mid = vol.shape[2] // 2
    left, right = lungs.mask[:, :, :mid].sum(), lungs.mask[:, :, mid:].sum()
    assert left > 0.25 * lungs.mask.sum() and right > 0.25 * lungs.mask.sum()
    # Nothing of the outside air: the mask stays inside the body outline.
    assert not lungs.mask[:, :, 0].any() and not lungs.mask[:, 0, :].any()


def test_no_lungs_centres_on_the_volume():
    lungs = coarse_lung_mask(np.full((6, 10, 10), 40, np.int16), (2.0, 2.0, 2.0))
    assert not lungs.found and lungs.centre_index == (2.5, 4.5, 4.5)


def test_crop_has_the_fixed_size_and_pads_with_air(chest):
    crop, meta = preprocess_volume(chest.volume, SETTINGS, source="phantom")
    assert crop.shape == (40, 48, 48) and crop.dtype == np.int16
    assert meta["lungs_found"] and meta["crop_shape"] == [40, 48, 48]
    assert (crop < -400).mean() > 0.2  # lungs (and padding) are in the crop
    small, start = crop_around(np.zeros((2, 2, 2), np.int16), (0.5, 0.5, 0.5), (4, 4, 4))
    assert start == [-1, -1, -1] and (small == -1024).sum() == 64 - 8


def test_resampling_to_isotropic_voxels():
    out = resample_isotropic(np.zeros((10, 20, 20), np.int16), (3.0, 0.75, 0.75), 1.5)
    assert out.shape == (20, 10, 10)


def test_preprocess_folder_is_resumable_and_reports_broken_studies(tmp_path):
    studies = tmp_path / "studies"
    write_phantom_cohort(studies, 2, seed=3, matrix=48, dicom=True)
    (studies / "broken").mkdir()
    (studies / "broken" / "IM1.dcm").write_bytes(b"\x00" * 200)
    out = tmp_path / "npz"
    first = preprocess_folder(studies, out, SETTINGS, progress_bar=False)
    assert sorted(first.done) == ["risk03000", "risk03001"]
    assert list(first.failed) == ["broken"] and "broken" not in first.done
    hu, meta = read_npz(out / "risk03000.npz")
    assert hu.shape == SETTINGS.crop_shape and meta["patient_id"] == "RISK03000"
    second = preprocess_folder(studies, out, SETTINGS, progress_bar=False)
    assert second.done == [] and sorted(second.already_done) == ["risk03000", "risk03001"]
    assert "broken" in (out / REPORT_NAME).read_text()
    labels = read_labels(studies / "labels.csv")
    assert [r["label"] for r in labels] == [l for _, l in __import__(
        "lesionviewer.risk.phantom_cohort", fromlist=["cohort_labels"]).cohort_labels(2, 3)]


def test_unreadable_npz_names_the_file(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"nope")
    with pytest.raises(ValueError, match="x.npz"):
        read_npz(bad)

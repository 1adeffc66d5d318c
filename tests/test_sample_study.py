"""The sample study: made once, the same bytes every time, reused, and made again when damaged."""
from __future__ import annotations

import hashlib
import json
import multiprocessing
from pathlib import Path

import pytest

from lesionviewer.io import load_volume
from lesionviewer.phantom import PhantomConfig, read_ground_truth
from lesionviewer.sample import (MANIFEST_NAME, SAMPLE_CONFIG, sample_ground_truth_path, sample_problem,
                                 sample_study_path)

SMALL = PhantomConfig.preset("small").with_(num_slices=6, lesions_per_patient=(2, 3))


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.parent.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(folder.parent).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def shipped_sample(tmp_path_factory) -> Path:
    return sample_study_path(cache_dir=tmp_path_factory.mktemp("cache"))


def test_shipped_sample_is_a_realistic_ct_with_several_lesions(shipped_sample):
    volume = load_volume(shipped_sample)
    assert volume.shape == (SAMPLE_CONFIG.num_slices, 512, 512)
    assert volume.spacing[0] == pytest.approx(2.5)
    assert 0.6 <= volume.spacing[1] <= 1.0  # a real CT slice: 512 pixels over a 30-50 cm field of view
    assert -1024 <= volume.hu.min() and volume.hu.max() > 300  # air and bone are there
    truth = read_ground_truth(sample_ground_truth_path(shipped_sample))
    sizes = sorted(max(s["long_mm"] for s in lesion["slices"]) for lesion in truth["lesions"])
    assert len(sizes) >= 4
    assert sizes[0] < 12 < 25 < sizes[-1]  # subtle and obvious ones


def test_same_seed_gives_the_same_bytes_in_another_cache(tmp_path):
    first = sample_study_path(seed=5, config=SMALL, cache_dir=tmp_path / "a")
    second = sample_study_path(seed=5, config=SMALL, cache_dir=tmp_path / "b")
    assert first != second
    assert _digest(first) == _digest(second)
    assert _digest(first) != _digest(sample_study_path(seed=6, config=SMALL, cache_dir=tmp_path / "c"))


def test_second_call_reuses_the_cached_sample(tmp_path):
    folder = sample_study_path(seed=5, config=SMALL, cache_dir=tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in folder.parent.rglob("*") if p.is_file()}
    assert sample_study_path(seed=5, config=SMALL, cache_dir=tmp_path) == folder
    assert {p: p.stat().st_mtime_ns for p in folder.parent.rglob("*") if p.is_file()} == stamps
    assert [p.name for p in tmp_path.iterdir()] == [folder.parent.name]  # no temporary folders left


@pytest.mark.parametrize("damage", ["truncate", "delete", "manifest"])
def test_damaged_cache_is_detected_and_made_again(tmp_path, damage):
    folder = sample_study_path(seed=5, config=SMALL, cache_dir=tmp_path)
    good = _digest(folder)
    victim = sorted(folder.glob("*.dcm"))[2]
    if damage == "truncate":
        victim.write_bytes(victim.read_bytes()[:1000])
    elif damage == "delete":
        victim.unlink()
    else:
        (folder.parent / MANIFEST_NAME).write_text("{")
    assert sample_problem(folder.parent) is not None
    again = sample_study_path(seed=5, config=SMALL, cache_dir=tmp_path)
    assert again == folder
    assert sample_problem(folder.parent) is None
    assert _digest(again) == good
    assert load_volume(again).shape == (6, 128, 128)


def test_half_written_sample_is_never_used(tmp_path):
    """A folder left by a process killed mid-write has no valid manifest, so it is made again."""
    folder = sample_study_path(seed=5, config=SMALL, cache_dir=tmp_path)
    manifest = json.loads((folder.parent / MANIFEST_NAME).read_text())
    (folder.parent / MANIFEST_NAME).unlink()
    assert sample_problem(folder.parent).startswith("no manifest")
    sample_study_path(seed=5, config=SMALL, cache_dir=tmp_path)
    assert json.loads((folder.parent / MANIFEST_NAME).read_text())["files"] == manifest["files"]


def _make(cache: str) -> str:
    return str(sample_study_path(seed=7, config=SMALL, cache_dir=cache))


def test_concurrent_first_uses_agree(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_make, [str(tmp_path)] * 2)
    assert results[0] == results[1]
    assert sample_problem(Path(results[0]).parent) is None
    assert [p.name for p in tmp_path.iterdir()] == [Path(results[0]).parent.name]

"""The review key identifies a series' content, never its SeriesInstanceUID alone (issue 14, item 3)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pydicom

from corpus.bad_dicom import small_volume
from lesionviewer.detection.finding import Finding
from lesionviewer.io import Volume, find_series, load_volume, write_dicom_series
from lesionviewer.review import ReviewSession, series_key
from lesionviewer.review.series_key import legacy_series_key


def two_contents_one_uid(tmp_path):
    """Two different slice stacks written with the same SeriesInstanceUID (and study) in two folders."""
    uid, study = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    write_dicom_series(small_volume(4), tmp_path / "first", series_uid=uid, study_uid=study)
    other = small_volume(4)
    other.origin = (-10.0, -20.0, 40.0)
    write_dicom_series(other, tmp_path / "second", series_uid=uid, study_uid=study)
    return load_volume(tmp_path / "first"), load_volume(tmp_path / "second")


def test_two_contents_sharing_a_uid_never_share_a_review(tmp_path):
    first, second = two_contents_one_uid(tmp_path)
    assert first.meta["SeriesInstanceUID"] == second.meta["SeriesInstanceUID"]
    assert series_key(first) != series_key(second)
    reviews = tmp_path / "reviews"
    session = ReviewSession.open(first, folder=reviews)
    (fid,) = session.add_findings([Finding.from_pixel_box(first, 1, (2, 2, 8, 8), 0.9, "m")])
    session.set_status(fid, "accepted")
    session.save()
    assert ReviewSession.open(second, folder=reviews).findings() == []
    assert len(ReviewSession.open(first, folder=reviews).findings()) == 1


def test_another_patients_study_with_the_same_uid_and_geometry_gets_its_own_key(tmp_path):
    uid = pydicom.uid.generate_uid()
    write_dicom_series(small_volume(3), tmp_path / "a", series_uid=uid, patient_id="P1")
    write_dicom_series(small_volume(3), tmp_path / "b", series_uid=uid, patient_id="P2")
    assert series_key(load_volume(tmp_path / "a")) != series_key(load_volume(tmp_path / "b"))


def test_the_parts_of_a_split_series_have_their_own_keys(tmp_path):
    origins = [[0.0, 0.0, z] for z in (0, 2, 4, 6, 11, 16, 21)]
    write_dicom_series(Volume(np.zeros((7, 8, 8), np.int16), (3.5, 1, 1), slice_origins=origins), tmp_path)
    parts = find_series(tmp_path, split_uneven=True)
    keys = {series_key(part.load()) for part in parts}
    assert len(parts) == 2 and len(keys) == 2
    assert series_key(find_series(tmp_path)[0].load()) not in keys


def test_the_same_files_moved_elsewhere_keep_their_key(tmp_path):
    write_dicom_series(small_volume(4), tmp_path / "here")
    shutil.copytree(tmp_path / "here", tmp_path / "moved" / "there")
    key = series_key(load_volume(tmp_path / "here"))
    assert key == series_key(load_volume(tmp_path / "moved" / "there"))
    assert key.startswith(load_volume(tmp_path / "here").meta["SeriesInstanceUID"] + "-")


def legacy_review(folder, volume, num_slices, study_uid):
    """A review file as earlier versions saved it: named and keyed by the bare SeriesInstanceUID."""
    uid = legacy_series_key(volume)
    old = ReviewSession.open(uid, folder=folder)
    (fid,) = old.add_findings([Finding.from_pixel_box(volume, 1, (2, 2, 8, 8), 0.9, "m")])
    old.set_note(fid, "from the old version")
    old.save()
    path = folder / f"{uid}.json"
    data = json.loads(path.read_text())
    data.update(num_slices=num_slices, study_uid=study_uid)
    path.write_text(json.dumps(data))
    return path


def test_a_review_saved_under_the_bare_uid_is_still_found_once(tmp_path):
    first, second = two_contents_one_uid(tmp_path)
    reviews = tmp_path / "reviews"
    old = legacy_review(reviews, first, first.num_slices, first.meta["StudyInstanceUID"])
    session = ReviewSession.open(first, folder=reviews)
    assert [f.note for f in session.findings()] == ["from the old version"]
    assert not old.exists() and list(reviews.glob("*.moved-to-*"))
    # the other content sharing the UID does not take the same old review
    assert ReviewSession.open(second, folder=reviews).findings() == []


def test_an_old_review_of_another_study_or_size_is_not_adopted(tmp_path):
    first, _ = two_contents_one_uid(tmp_path)
    reviews = tmp_path / "reviews"
    old = legacy_review(reviews, first, first.num_slices + 3, first.meta["StudyInstanceUID"])
    assert ReviewSession.open(first, folder=reviews).findings() == []
    old.unlink()
    old = legacy_review(reviews, first, first.num_slices, "1.2.3.4.5")
    assert ReviewSession.open(first, folder=reviews).findings() == []
    assert old.exists()

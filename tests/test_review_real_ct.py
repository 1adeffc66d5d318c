"""The review layer on a real CT series (20 JPEG 2000 slices whose UIDs are empty: the hash key is used)."""
from __future__ import annotations

import csv

import pytest

from lesionviewer.detection.finding import Finding
from lesionviewer.io import load_volume
from lesionviewer.review import Measurement, ReviewSession, export_csv, series_key


@pytest.fixture(scope="module")
def real_ct(shared_data):
    return load_volume(shared_data / "ct_abdomen_totalseg")


def test_a_series_without_uids_gets_a_stable_hash_key_and_its_review_comes_back(real_ct, tmp_path):
    key = series_key(real_ct)
    assert key.startswith("vol-") and series_key(real_ct) == key
    s = ReviewSession.open(real_ct)
    assert (s.key, s.num_slices, s.series_description) == (key, 20, "CT Body 3.0")
    (fid,) = s.add_findings([Finding.from_pixel_box(real_ct, 10, (300, 200, 340, 230), 0.77, "mp3d63")])
    s.set_status(fid, "accepted")
    s.add_measurement(Measurement.recist(real_ct, 10, ((300, 215), (340, 215)), ((320, 200), (320, 230))))
    again = ReviewSession.open(real_ct)
    assert again.finding(fid).status.value == "accepted"
    m = again.measurements()[0]
    assert (round(m.long_axis_mm, 3), round(m.short_axis_mm, 3)) == (39.062, 29.297)  # 0.9765625 mm pixels
    out = tmp_path / "real.csv"
    assert export_csv(again, out) == 2
    with open(out, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["series_instance_uid"] == "" and rows[0]["series_description"] == "CT Body 3.0"
    assert float(rows[0]["z_mm"]) == pytest.approx(real_ct.index_to_patient(10, 0, 0)[2], abs=0.01)


def test_sr_export_explains_that_images_without_uids_cannot_be_referenced(real_ct, tmp_path):
    pytest.importorskip("highdicom")
    from lesionviewer.review.sr_export import export_sr

    s = ReviewSession.open(real_ct)
    s.add_measurement(Measurement.ruler(real_ct, 3, (10, 10), (50, 10)))
    with pytest.raises(ValueError, match="has no (StudyInstanceUID|SOPInstanceUID).*export CSV instead"):
        export_sr(s, real_ct, tmp_path / "x.dcm")

"""Seeded, patient-level train/validation split and the .list files."""
from __future__ import annotations

import pytest

from lesionviewer.risk.lists import make_lists, read_list, split_by_patient


def _rows():
    # 40 patients, some with two or three studies; every 4th patient has a positive study
    rows = []
    for p in range(40):
        for s in range(1 + p % 3):
            rows.append({"study": f"p{p}s{s}", "patient_id": f"P{p}", "label": int(p % 4 == 0 and s == 0)})
    return rows


def test_no_patient_on_both_sides_and_seeded():
    train, val = split_by_patient(_rows(), 0.25, seed=3)
    assert not {r["patient_id"] for r in train} & {r["patient_id"] for r in val}
    assert len(train) + len(val) == len(_rows())
    assert len({r["patient_id"] for r in val}) == 10
    assert sum(r["label"] for r in val) == 2  # round(10 positive patients * 0.25), stratified
    assert split_by_patient(_rows(), 0.25, seed=3) == (train, val)
    assert split_by_patient(_rows(), 0.25, seed=4) != (train, val)


def test_list_files_round_trip(tmp_path):
    npz = tmp_path / "npz"
    npz.mkdir()
    lines = ["study,patient_id,label"]
    for r in _rows():
        (npz / f"{r['study']}.npz").write_bytes(b"")
        lines.append(f"{r['study']},{r['patient_id']},{r['label']}")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    train_list, val_list = make_lists(tmp_path / "labels.csv", npz, tmp_path, 0.2, seed=0)
    pairs = read_list(train_list) + read_list(val_list)
    assert len(pairs) == len(_rows()) and all(p.parent == npz for p, _ in pairs)
    assert sum(l for _, l in pairs) == 10


def test_bad_list_line_names_the_file(tmp_path):
    path = tmp_path / "x.list"
    path.write_text("a.npz 2\n")
    with pytest.raises(ValueError, match="x.list:1"):
        read_list(path)

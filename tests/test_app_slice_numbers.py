"""Issue 14, item 14: the viewer and both CSVs number slices the same way (slice_number counts from 1)."""
from __future__ import annotations

import csv

import pytest

pytest.importorskip("pytestqt")

from test_app_fakes import make_window, message_boxes, wait_for_jobs  # noqa: E402,F401


def test_the_findings_table_shows_the_csvs_slice_number(make_window, qtbot, tmp_path):
    window = make_window()
    wait_for_jobs(qtbot)
    table = window.panel.table
    shown = {table.item(row, 0).text(): table.item(row, 1).text() for row in range(table.rowCount())}
    assert shown
    out = tmp_path / "export.csv"
    assert window.export_csv(out)
    with open(out, encoding="utf-8-sig", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["row_type"] == "finding"]
    assert rows
    for row in rows:
        assert shown[row["id"]] == row["slice_number"] == str(int(row["slice_index"]) + 1)
    assert "slice_number" in table.horizontalHeaderItem(1).toolTip()
